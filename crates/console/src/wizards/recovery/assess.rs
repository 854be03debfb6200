//! The assessment: the health snapshot (evaluated off the UI thread) and
//! which configured types have a good backup.

use std::sync::mpsc::{self, Receiver};

use crate::wizards::widgets::duration;
use crate::wizards::WizardContext;
use lifeboat_engine::catalog::Catalog;
use lifeboat_engine::health::HealthReport;

/// The newest good backup of each configured type, from the catalog.
pub(super) fn coverage(ctx: &WizardContext) -> Vec<String> {
    let types = ctx.config.configured_types();
    if types.is_empty() {
        return vec!["nothing is configured to back up".into()];
    }
    let path = &ctx.config.catalog.path;
    if !path.exists() {
        return vec![format!(
            "the catalog {} is gone: the plan reads the repository's manifests directly (`lifeboat catalog rebuild` brings the catalog back)",
            path.display()
        )];
    }
    let cat = match Catalog::open_existing_light(path) {
        Ok(c) => c,
        Err(e) => {
            return vec![format!(
                "cannot read the catalog: {}",
                e.display_with_hint()
            )]
        }
    };
    types
        .into_iter()
        .map(|t| match cat.list_backups(Some(t)) {
            Ok(rows) => match rows.iter().find(|b| b.is_good() && !b.is_safety_copy()) {
                Some(b) => format!(
                    "{t}: newest good backup {} ({} ago)",
                    b.id,
                    duration((ctx.now - b.created_at).num_seconds())
                ),
                None => format!("{t}: MISSING - no good backup in the catalog"),
            },
            Err(e) => format!("{t}: cannot read the catalog: {}", e.message),
        })
        .collect()
}

/// Evaluate health on a thread with its own catalog connection.
pub(super) fn spawn_health(ctx: &WizardContext) -> Receiver<HealthReport> {
    let (tx, rx) = mpsc::channel();
    let config = ctx.config.clone();
    std::thread::spawn(move || {
        let now = lifeboat_engine::clock::now();
        let path = &config.catalog.path;
        // Never create a catalog here: after a disaster its absence is news.
        let opened = if path.exists() {
            Catalog::open(path)
        } else {
            Err(lifeboat_engine::error::Error::not_found(format!(
                "there is no catalog at {}",
                path.display()
            ))
            .hint("`lifeboat catalog rebuild` rebuilds it from the repository"))
        };
        let report = match opened {
            Ok(cat) => lifeboat_engine::health::evaluate(&config, &cat, now),
            Err(e) => HealthReport::new(
                now,
                vec![lifeboat_engine::health::Check {
                    id: "catalog".into(),
                    title: "Catalog".into(),
                    status: lifeboat_engine::health::Status::Critical,
                    value: e.message.clone(),
                    threshold: "readable".into(),
                    advice: e.hint.clone().unwrap_or_default(),
                }],
            ),
        };
        let _ = tx.send(report);
    });
    rx
}
