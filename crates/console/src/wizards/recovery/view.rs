//! What each step of the recovery wizard shows: the plan, the live run,
//! the checks, and the closing report with the runbook's timeline and the
//! objectives.

use ratatui::text::Line;

use super::source::Decision;
use super::{RecoverReport, RecoveryWizard, Stamp, Step, STEPS};
use crate::wizards::widgets::{bold, duration, text};

fn met(ok: bool) -> &'static str {
    if ok {
        "MET"
    } else {
        "MISSED"
    }
}

impl RecoveryWizard {
    /// Each chosen type's data-loss window (its backup to the start of the
    /// recovery) against that type's own objective from
    /// `[health.rpo_minutes]`: a database an hour old may miss its
    /// objective while files a day old meet theirs.
    fn loss_lines(&self, r: &RecoverReport) -> Vec<Line<'static>> {
        let Some(start) = r.started_at else {
            // An older report without its start: the overall window
            // against the strictest objective of the chosen types.
            let Some(l) = r.data_loss_seconds else {
                return Vec::new();
            };
            let strictest = r
                .choices
                .iter()
                .filter_map(|c| self.rpo_objective_secs(&c.backup_type))
                .min();
            return vec![text(match strictest {
                Some(o) => format!(
                    "Data-loss window: {}; strictest objective of the chosen types {}: {}",
                    duration(l),
                    duration(o),
                    met(l <= o)
                ),
                None => format!("Data-loss window: {}", duration(l)),
            })];
        };
        let mut v = vec![text(
            "Data-loss window per type (changes after its chosen backup are lost), against [health.rpo_minutes]:",
        )];
        for c in &r.choices {
            let loss = (start - c.created_at).num_seconds().max(0);
            v.push(text(match self.rpo_objective_secs(&c.backup_type) {
                Some(o) => format!(
                    "  {:<13} {}; objective {}: {}",
                    c.backup_type,
                    duration(loss),
                    duration(o),
                    met(loss <= o)
                ),
                None => format!("  {:<13} {}; no objective", c.backup_type, duration(loss)),
            }));
        }
        v
    }

    fn plan_lines(&self, r: &RecoverReport) -> Vec<Line<'static>> {
        let mut v = vec![bold("Recovery set:")];
        for c in &r.choices {
            v.push(text(format!(
                "  {:<13} {}  created {}  chain {}",
                c.backup_type,
                c.id,
                c.created_at
                    .with_timezone(&chrono::Local)
                    .format("%Y-%m-%d %H:%M:%S"),
                c.chain.join(" -> ")
            )));
            for s in &c.skipped {
                v.push(text(format!("      passed over {s}")));
            }
        }
        for m in &r.missing {
            v.push(text(format!("  missing: {m}")));
        }
        if !r.overwrites.is_empty() {
            v.push(bold("It will overwrite, in production:"));
            v.extend(r.overwrites.iter().map(|o| text(format!("  {o}"))));
        }
        v.extend(self.loss_lines(r));
        v
    }

    pub(super) fn body(&self) -> Vec<Line<'static>> {
        let mut v = Vec::new();
        match self.step {
            Step::Assess => {
                v.push(bold("Where do we stand?"));
                match &self.health {
                    None => v.push(text("Health: evaluating...")),
                    Some(h) => {
                        v.push(text(format!(
                            "Health (evaluated {}): {}",
                            h.evaluated_at
                                .with_timezone(&chrono::Local)
                                .format("%H:%M:%S"),
                            h.verdict.as_str().to_uppercase()
                        )));
                        for c in &h.checks {
                            v.push(text(format!(
                                "  [{}] {}: {}{}",
                                c.status.as_str(),
                                c.title,
                                c.value,
                                if c.advice.is_empty() {
                                    String::new()
                                } else {
                                    format!(" - {}", c.advice)
                                }
                            )));
                        }
                        if h.checks.is_empty() {
                            v.push(text("  no checks reported"));
                        }
                    }
                }
                v.push(bold("Backups of the configured types:"));
                v.extend(self.coverage.iter().map(|c| text(format!("  {c}"))));
                v.push(text(""));
                v.push(text(
                    "Next: isolate the app so nothing writes while it is recovered.",
                ));
            }
            Step::Isolate => {
                v.push(bold("Isolate: stop the Panel app"));
                v.extend(self.isolate_lines());
            }
            Step::Point => {
                v.push(bold("Choose the recovery point"));
                v.extend(self.sources.lines());
                v.push(text(""));
                v.push(
                    self.at
                        .line("Recover to (empty = newest; e.g. 2026-11-26 14:00):"),
                );
                match (&self.plan_run, &self.plan) {
                    (_, Some(p)) => {
                        v.extend(self.plan_lines(p));
                        v.push(text("Enter goes on to execute this plan; edit the time and Enter to plan again."));
                    }
                    (Some(r), None) if r.finished() => {
                        v.extend(r.outcome_lines(10));
                        v.push(text("No usable plan: change the time, or fix what the lines above say, and press Enter."));
                    }
                    (Some(r), None) => v.extend(r.progress_lines(6)),
                    (None, None) if self.sources.fetching() => {}
                    (None, None) => v.push(text(match self.sources.decide() {
                        Decision::Fetch(t) => format!(
                            "Enter brings the backups back from target '{t}' into the repository (lifeboat catalog rebuild --from {t}), then works out the plan."
                        ),
                        Decision::Plan => "Enter works out the plan (lifeboat recover --dry-run): what would be restored and what would be lost.".into(),
                    })),
                }
            }
            Step::Execute => match &self.exec {
                None => {
                    v.push(bold(
                        "Execute: restore every type IN PLACE, over the live system",
                    ));
                    if let Some(p) = &self.plan {
                        v.extend(self.plan_lines(p));
                    }
                    v.push(text(format!(
                        "Command: lifeboat {}",
                        self.repo_args(false).join(" ")
                    )));
                    v.extend(self.confirm.lines());
                }
                Some(r) if !r.finished() => v.extend(r.progress_lines(8)),
                Some(r) => {
                    v.extend(r.outcome_lines(12));
                    if let Some(res) = &self.result {
                        v.push(bold(if res.ok {
                            "Recovery finished."
                        } else {
                            "Recovery FAILED or incomplete."
                        }));
                    }
                    v.push(text("Enter goes on to verify."));
                }
            },
            Step::Verify => {
                v.push(bold("Verify"));
                match &self.result {
                    Some(r) => {
                        v.push(text(format!(
                            "Recovery: {}",
                            if r.ok { "OK" } else { "FAILED" }
                        )));
                        for p in &r.timeline {
                            v.push(text(format!(
                                "  {}: {} ({:.1}s)",
                                p.name, p.outcome, p.seconds
                            )));
                        }
                        for n in &r.notes {
                            v.push(text(format!("  note: {n}")));
                        }
                    }
                    None => v.push(text(
                        "  recover gave no report (see the Execute step's output)",
                    )),
                }
                v.push(bold("App health:"));
                v.extend(self.app_health.lines());
                if self.app_health.healthy() == Some(false) {
                    v.push(text(
                        "The app is not healthy yet: r checks again; Enter goes on anyway.",
                    ));
                }
                for o in [&self.records.source_outcome, &self.records.outcome] {
                    v.extend(o.iter().map(|o| text(o.clone())));
                }
            }
            Step::Resume => {
                v.push(bold("Resume: start the Panel app"));
                v.extend(self.start.lines());
                if self.health_after_start {
                    v.push(bold("App health now that it runs:"));
                    v.extend(self.app_health.lines());
                }
            }
            Step::Report => v.extend(self.report_lines()),
        }
        if let Some(m) = &self.message {
            v.push(text(""));
            v.push(text(format!("! {m}")));
        }
        v
    }

    fn stamp(&self, step: Step) -> Option<&Stamp> {
        self.timeline.iter().find(|s| s.step == step)
    }

    /// The one-line verdict the report opens with. It says "recovered"
    /// only when the data came back, the app was started and its health
    /// check passed: restored data under an app that does not answer is
    /// not a recovery.
    fn verdict(&self) -> String {
        let restored = match &self.result {
            None => {
                return "NOT RECOVERED: lifeboat recover did not report (see the Execute step)"
                    .into()
            }
            Some(r) => r.ok,
        };
        if !restored {
            return "NOT RECOVERED: the restore FAILED or is incomplete (see the report below)"
                .into();
        }
        if self.start.ran() && self.start.run.as_ref().is_some_and(|r| !r.succeeded()) {
            return "Restored, but the app's start command FAILED: start the app by hand and check its health".into();
        }
        match self.app_health.healthy() {
            Some(true) => "RECOVERED: every type restored and verified, and the app is healthy".into(),
            Some(false) => {
                "Restored, but the app is NOT healthy: its health check failed (the recovery is not complete until it passes)".into()
            }
            None => "Restored; the app's health was not checked: check the Panel app by hand".into(),
        }
    }

    fn report_lines(&self) -> Vec<Line<'static>> {
        let mut v = vec![bold(format!("Verdict: {}", self.verdict())), text("")];
        v.push(bold("Runbook timeline"));
        for s in &self.timeline {
            let end = s.ended.map(|e| {
                e.with_timezone(&chrono::Local)
                    .format("%H:%M:%S")
                    .to_string()
            });
            v.push(text(format!(
                "  {:<15} {} - {}  {}",
                STEPS[s.step as usize],
                s.started.with_timezone(&chrono::Local).format("%H:%M:%S"),
                end.as_deref().unwrap_or("..."),
                s.ended
                    .map(|e| duration((e - s.started).num_seconds()))
                    .unwrap_or_default()
            )));
        }
        v.push(text(format!("  isolate: {}", self.stop.outcome())));
        v.push(text(format!("  resume: {}", self.start.outcome())));
        // The outage, the RTO, runs from stopping the app to starting it
        // again; recover's own run (the time to restore) is only part of it.
        let down = self.stamp(Step::Isolate).map(|s| s.started);
        let up = self.stamp(Step::Resume).and_then(|s| s.ended);
        if let (Some(d), Some(u)) = (down, up) {
            let secs = (u - d).num_seconds();
            let objective = self.rto_objective_secs();
            v.push(text(if self.stop.skipped {
                // The app went down before the wizard saw it.
                format!(
                    "Achieved RTO (isolation to app started; the app was already down, so the outage was longer): at least {}; objective {}: {}",
                    duration(secs),
                    duration(objective),
                    if secs > objective {
                        "MISSED".to_string()
                    } else {
                        format!(
                            "MET only if the app went down less than {} before isolation",
                            duration(objective - secs)
                        )
                    }
                )
            } else {
                format!(
                    "Achieved RTO (app stopped to app started): {}; objective {}: {}",
                    duration(secs),
                    duration(objective),
                    met(secs <= objective)
                )
            }));
        }
        match &self.result {
            Some(r) => {
                v.push(text(format!(
                    "lifeboat recover: {}; time to restore {:.1}s (part of the outage above)",
                    if r.ok {
                        "every type restored and verified"
                    } else {
                        "FAILED or incomplete"
                    },
                    r.recovery_seconds
                )));
                v.extend(self.loss_lines(r));
            }
            None => v.push(text(
                "lifeboat recover did not report (see the Execute step)",
            )),
        }
        for f in &self.sources.fetched {
            v.push(text(format!(
                "Backups brought back from {} before the recovery: {}",
                f.source.describe(),
                f.source.counts()
            )));
        }
        if let Some(o) = &self.records.source_outcome {
            v.push(text(format!("  {o}")));
        }
        v.push(text(match self.app_health.healthy() {
            Some(h) => format!(
                "App health after recovery: {} ({})",
                if h { "OK" } else { "FAILED" },
                self.app_health.summary()
            ),
            None => "App health after recovery: not checked".into(),
        }));
        if let Some(o) = &self.records.outcome {
            v.push(text(format!("  {o}")));
        }
        if let Some(md) = &self.report_md {
            if let Some(f) = self.result.as_ref().and_then(|r| r.report_file.as_ref()) {
                v.push(bold(format!("Recovery report ({})", f.display())));
            }
            v.extend(md.lines().map(|l| text(l.to_string())));
        }
        v.push(text(""));
        v.push(text("Enter closes."));
        v
    }
}
