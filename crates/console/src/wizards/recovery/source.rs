//! Where the recovery point's backups come from: the repository as it is,
//! or a copy target (`[[targets]]`) whose backups are brought into the
//! repository first, as `lifeboat catalog rebuild --from NAME` does. The
//! plan and the recovery then read the repository either way, so a target
//! changes only what is in it.
//!
//! On a bare machine (no backup in the catalog or the repository, targets
//! configured) the first target is chosen for the operator and the step
//! says why: recovering from an empty repository cannot work.
//!
//! The fetch is a child process like the plan, `lifeboat catalog rebuild
//! --from NAME --json`; it writes no job row, so the run follows its output
//! only ([`ChildRun::without_jobs`]). When it fails, the step names the
//! target and the operator chooses again. When it succeeds, the wizard
//! reads the catalog again and works out the plan over the recovered
//! points, and what the target gave is kept for the recovery's report and
//! the audit log ([`lifeboat_engine::ops::recover::record_source`]).

use std::path::Path;

use chrono::{DateTime, Utc};
use ratatui::text::Line;
use serde::Deserialize;

use crate::wizards::runner::ChildRun;
use crate::wizards::widgets::{bold, row, step_cursor, text, Nav};
use crate::wizards::WizardContext;
use lifeboat_engine::archive::manifest::{BackupType, MANIFEST_SUFFIX};
use lifeboat_engine::catalog::Catalog;
use lifeboat_engine::config::{Config, TargetConfig};
use lifeboat_engine::ops::copies::PullReport;
use lifeboat_engine::ops::recover::RecoverySource;

/// One choice on the step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Source {
    /// The repository as it is.
    Repository,
    /// A `[[targets]]` entry, by name, with its kind and place for people.
    Target {
        name: String,
        kind: String,
        location: String,
    },
}

impl Source {
    fn target(t: &TargetConfig) -> Source {
        Source::Target {
            name: t.name.clone(),
            kind: t.kind.as_str().to_string(),
            location: t.location(),
        }
    }

    /// "target 'offsite' (s3, s3://panel-backups/lb/)", or the repository.
    pub fn describe(&self) -> String {
        match self {
            Source::Repository => "the local repository".into(),
            Source::Target {
                name,
                kind,
                location,
            } => format!("target '{name}' ({kind}, {location})"),
        }
    }
}

/// What Enter on the step does with the current choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Decision {
    /// Bring this target's backups into the repository first.
    Fetch(String),
    /// Work out the plan over the repository (as it is, or as a fetch
    /// from the chosen target left it).
    Plan,
}

/// The fetch running (or finished), for one target.
pub(super) struct Fetch {
    pub target: String,
    pub run: ChildRun,
}

/// A target whose backups are in the repository now: what it gave, and
/// when the fetch finished.
pub(super) struct Fetched {
    pub source: RecoverySource,
    pub at: DateTime<Utc>,
}

/// The step's source list, the fetch, and what fetches brought back.
pub(super) struct Sources {
    pub options: Vec<Source>,
    pub selected: usize,
    /// Why the selection was made for the operator (a bare machine).
    pub why: Option<String>,
    pub fetch: Option<Fetch>,
    /// Targets whose backups are in the repository now, and what each
    /// gave: recorded as the recovery's source once it has run.
    pub fetched: Vec<Fetched>,
    /// The newest fetch failed: what to say, naming the target.
    pub error: Option<String>,
}

/// The part of `catalog rebuild --from NAME --json` the wizard keeps.
#[derive(Deserialize)]
struct Rebuilt {
    pulled: PullReport,
}

impl Sources {
    /// The repository, then each target in configuration order; on a bare
    /// machine the first target is chosen, and `why` says so.
    pub fn new(targets: &[TargetConfig], bare: bool) -> Sources {
        let mut options = vec![Source::Repository];
        options.extend(targets.iter().map(Source::target));
        let first_target = options
            .iter()
            .position(|o| *o != Source::Repository)
            .filter(|_| bare);
        let why = first_target.map(|i| {
            format!(
                "No backup is in the catalog or the repository: this looks like a bare machine, so {} is chosen. Enter brings its backups back into the repository; another source can be chosen.",
                options[i].describe()
            )
        });
        Sources {
            selected: first_target.unwrap_or(0),
            options,
            why,
            fetch: None,
            fetched: Vec::new(),
            error: None,
        }
    }

    pub fn selected(&self) -> &Source {
        &self.options[self.selected]
    }

    /// Move the choice (not while a fetch runs). True when it moved.
    pub fn move_cursor(&mut self, nav: Nav) -> bool {
        !self.fetching() && step_cursor(&mut self.selected, self.options.len(), nav)
    }

    /// A target not yet fetched (or whose fetch failed) is fetched first;
    /// anything else is planned.
    pub fn decide(&self) -> Decision {
        match self.selected() {
            Source::Target { name, .. }
                if !self.fetched.iter().any(|f| &f.source.target == name) =>
            {
                Decision::Fetch(name.clone())
            }
            _ => Decision::Plan,
        }
    }

    pub fn fetching(&self) -> bool {
        self.fetch.as_ref().is_some_and(|f| !f.run.finished())
    }

    /// Decide the fetch of `target` (the next tick starts it).
    pub fn start_fetch(&mut self, ctx: &WizardContext, target: &str) {
        let args = ["catalog", "rebuild", "--from", target].map(String::from);
        self.error = None;
        self.fetch = Some(Fetch {
            target: target.to_string(),
            run: ChildRun::lifeboat_json(ctx, &args).without_jobs(),
        });
    }

    /// Follow the fetch. Some(succeeded) on the tick it finishes (and
    /// whether anything changed otherwise, in the second value).
    pub fn tick(&mut self, config: &Config, now: DateTime<Utc>) -> (bool, Option<bool>) {
        let Some(f) = &mut self.fetch else {
            return (false, None);
        };
        if !f.run.tick() {
            return (false, None);
        }
        if !f.run.finished() {
            return (true, None);
        }
        let (target, ok, stdout) = (f.target.clone(), f.run.succeeded(), f.run.stdout.clone());
        (
            true,
            Some(self.finished(config, &target, (ok, &stdout), now)),
        )
    }

    /// The fetch of `target` ended at `at` (`ok`: exit 0, `stdout` its
    /// JSON): keep what it gave, or say that it failed, naming the target.
    /// True when the repository now holds the target's backups.
    fn finished(
        &mut self,
        config: &Config,
        target: &str,
        (ok, stdout): (bool, &str),
        at: DateTime<Utc>,
    ) -> bool {
        let named = self
            .options
            .iter()
            .find(|o| matches!(o, Source::Target { name, .. } if name == target))
            .map_or_else(|| format!("target '{target}'"), Source::describe);
        let rebuilt = serde_json::from_str::<Rebuilt>(stdout);
        match (ok, rebuilt) {
            (true, Ok(r)) => {
                let source = RecoverySource::from_pull(config, &r.pulled);
                self.fetched.retain(|f| f.source.target != target);
                self.fetched.push(Fetched { source, at });
                self.error = None;
                true
            }
            (true, Err(e)) => {
                self.error = Some(format!(
                    "The backups were brought back from {named}, but its report could not be read ({e}): choose the local repository to plan over what is there now."
                ));
                false
            }
            (false, _) => {
                self.error = Some(format!(
                    "FAILED: could not bring the backups back from {named} (what it said is below)."
                ));
                false
            }
        }
    }

    /// The choice, then the fetch's progress or outcome.
    pub fn lines(&self) -> Vec<Line<'static>> {
        let mut v = vec![bold("Where the backups come from (↑/↓ to choose):")];
        for (i, o) in self.options.iter().enumerate() {
            let mut label = match o {
                Source::Repository => "local repository".to_string(),
                Source::Target {
                    name,
                    kind,
                    location,
                } => format!("{name}  ({kind}: {location})"),
            };
            if let Source::Target { name, .. } = o {
                if let Some(f) = self.fetched.iter().find(|f| &f.source.target == name) {
                    label.push_str(&format!("  - fetched: {}", f.source.counts()));
                }
            }
            v.push(row(i == self.selected, label));
        }
        if let Some(why) = &self.why {
            v.push(text(why.clone()));
        }
        match &self.fetch {
            Some(f) if !f.run.finished() => {
                v.push(text(format!(
                    "Bringing the backups back from target '{}' into the repository:",
                    f.target
                )));
                v.extend(f.run.progress_lines(6));
            }
            Some(f) => {
                if let Some(e) = &self.error {
                    v.push(bold(e.clone()));
                }
                v.extend(f.run.outcome_lines(8));
                if self.error.is_some() {
                    v.push(text(
                        "Choose another source (↑/↓) and press Enter, or fix the target and press Enter to try again.",
                    ));
                }
            }
            None => {}
        }
        v
    }
}

/// A bare machine: targets are configured, and neither the catalog nor
/// the repository holds a backup (a catalog that cannot be read counts as
/// none: the repository decides then).
pub(super) fn is_bare(config: &Config) -> bool {
    if config.targets.is_empty() {
        return false;
    }
    let path = &config.catalog.path;
    let in_catalog = path.exists()
        && Catalog::open_existing_light(path)
            .and_then(|c| c.list_backups(None))
            .is_ok_and(|rows| !rows.is_empty());
    !in_catalog && !has_manifests(&config.repository.path)
}

/// Any manifest under the repository's type directories.
fn has_manifests(repo: &Path) -> bool {
    BackupType::ALL.iter().any(|t| {
        std::fs::read_dir(repo.join(t.dir())).is_ok_and(|mut entries| {
            entries.any(|e| {
                e.is_ok_and(|e| e.file_name().to_string_lossy().ends_with(MANIFEST_SUFFIX))
            })
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use lifeboat_engine::config::TargetKind;

    fn targets() -> Vec<TargetConfig> {
        let t: Vec<TargetConfig> = serde_json::from_value(serde_json::json!([
            {"name": "usb", "kind": "local", "path": "/mnt/usb"},
            {"name": "offsite", "kind": "s3", "bucket": "panel-backups", "prefix": "lb/"},
        ]))
        .unwrap();
        assert_eq!(t[1].kind, TargetKind::S3);
        t
    }

    fn config() -> Config {
        Config {
            targets: targets(),
            ..Config::default()
        }
    }

    #[test]
    fn the_list_is_the_repository_then_each_target_by_name_and_kind() {
        let s = Sources::new(&targets(), false);
        assert_eq!(s.selected, 0, "the repository, on a machine with backups");
        assert!(s.why.is_none());
        let shown: Vec<String> = s.lines().iter().map(|l| l.to_string()).collect();
        assert_eq!(shown[1], "> local repository");
        assert_eq!(shown[2], "  usb  (local: /mnt/usb)");
        assert_eq!(shown[3], "  offsite  (s3: s3://panel-backups/lb/)");
        assert_eq!(s.decide(), Decision::Plan);
    }

    #[test]
    fn a_bare_machine_starts_on_the_first_target_and_says_why() {
        let s = Sources::new(&targets(), true);
        assert_eq!(s.selected(), &Source::target(&targets()[0]));
        let why = s.why.as_deref().unwrap();
        assert!(
            why.contains("bare machine") && why.contains("target 'usb' (local, /mnt/usb)"),
            "{why}"
        );
        assert_eq!(s.decide(), Decision::Fetch("usb".into()));
        // Nothing to choose but the repository: nothing is pre-selected.
        let s = Sources::new(&[], true);
        assert_eq!((s.selected, s.why.is_none()), (0, true));
    }

    #[test]
    fn the_cursor_moves_within_the_list() {
        let mut s = Sources::new(&targets(), false);
        assert!(!s.move_cursor(Nav::Up));
        assert!(s.move_cursor(Nav::Down) && s.move_cursor(Nav::Down));
        assert!(!s.move_cursor(Nav::Down));
        assert_eq!(s.decide(), Decision::Fetch("offsite".into()));
    }

    /// A fetched target is planned, not fetched again; a failure names
    /// the target and leaves it to be fetched again (or another chosen).
    #[test]
    fn a_fetch_keeps_what_the_target_gave_or_names_it_in_the_error() {
        let config = config();
        let mut s = Sources::new(&config.targets, true);
        assert!(!s.finished(&config, "usb", (false, ""), Utc::now()));
        let e = s.error.clone().unwrap();
        assert!(
            e.contains("FAILED") && e.contains("target 'usb' (local, /mnt/usb)"),
            "{e}"
        );
        assert_eq!(s.decide(), Decision::Fetch("usb".into()));

        let out = r#"{"catalog": "/c", "backups": 2,
            "pulled": {"target": "usb", "fetched": ["a", "b"], "present": [], "skipped": ["x: altered"], "bytes": 2048}}"#;
        assert!(s.finished(&config, "usb", (true, out), Utc::now()));
        assert!(s.error.is_none());
        assert_eq!(s.decide(), Decision::Plan);
        let f = &s.fetched[0].source;
        assert_eq!(
            (f.kind.as_str(), f.fetched, f.not_used.len()),
            ("local", 2, 1)
        );
        let shown = s.lines()[2].to_string();
        assert!(
            shown.contains("usb") && shown.contains("fetched: 2 fetched (2 KiB)"),
            "{shown}"
        );
        // Fetched again: one record per target.
        assert!(s.finished(&config, "usb", (true, out), Utc::now()));
        assert_eq!(s.fetched.len(), 1);

        // Exit 0 but no report: not taken as fetched.
        assert!(!s.finished(&config, "offsite", (true, "not json"), Utc::now()));
        assert!(s.error.as_deref().unwrap().contains("target 'offsite'"));
    }

    #[test]
    fn a_machine_with_backups_in_its_repository_is_not_bare() {
        let dir = tempfile::tempdir().unwrap();
        let mut config = config();
        config.repository.path = dir.path().join("repo");
        config.catalog.path = dir.path().join("catalog.db");
        assert!(is_bare(&config), "nothing anywhere");
        let db = config.repository.path.join(BackupType::Database.dir());
        std::fs::create_dir_all(&db).unwrap();
        std::fs::write(db.join("x.dump.zst"), b"").unwrap();
        assert!(is_bare(&config), "a payload without its manifest");
        std::fs::write(db.join(format!("x.dump.zst{MANIFEST_SUFFIX}")), b"{}").unwrap();
        assert!(!is_bare(&config));
        config.targets.clear();
        std::fs::remove_dir_all(&config.repository.path).unwrap();
        assert!(!is_bare(&config), "no target: nothing to offer");
    }
}
