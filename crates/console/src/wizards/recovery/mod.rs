//! The disaster-recovery runbook as a wizard: assess, isolate the app,
//! choose the recovery point, execute, verify, resume, report.
//!
//! Each step is one thing an on-call operator does at 3 a.m., in order,
//! with the wizard keeping the timeline (when each step started and ended)
//! so the report at the end says how long the app was down against the
//! configured recovery-time objective (`[health] rto_minutes`) and how much
//! data each type lost against its own recovery-point objective
//! (`[health.rpo_minutes]`). The work itself is `lifeboat recover`: the plan
//! with `--dry-run --json`, run as a child, then for real, as queued work.
//!
//! The wizard's outage (app stopped to app started) is the RTO; `recover`
//! measures only its own run, the time to restore. Stopping the production
//! app is deliberate, so it takes a typed STOP (or a typed SKIP when the app
//! is already down). Whether the app is healthy afterwards is recorded in
//! the recovery's report and the audit log ([`record`]), and the verdict
//! never says "recovered" while it is not.
//!
//! The recovery point's backups come from the repository, or from a copy
//! target brought back into it first ([`source`]): on a bare machine that
//! has only the binary, the configuration and the key file, that is where
//! the wizard starts.

mod assess;
mod isolate;
mod record;
mod report;
mod source;
mod view;

use std::sync::mpsc::Receiver;

use chrono::{DateTime, Utc};
use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::Frame;

use crate::wizards::app::{AppCommand, AppHealth};
use crate::wizards::input::{Confirm, TextInput};
use crate::wizards::runner::ChildRun;
use crate::wizards::widgets::{self, nav, Nav, Scroll, BACK, NEXT, SCROLL};
use crate::wizards::{Underway, Wizard, WizardContext, WizardStatus};
use lifeboat_engine::archive::manifest::BackupType;
use lifeboat_engine::health::HealthReport;
use lifeboat_engine::ops::queue::JobRequest;
use report::RecoverReport;
use source::{Decision, Sources};

const STEPS: [&str; 7] = [
    "Assess",
    "Isolate",
    "Recovery point",
    "Execute",
    "Verify",
    "Resume",
    "Report",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Assess,
    Isolate,
    Point,
    Execute,
    Verify,
    Resume,
    Report,
}

/// One runbook step on the timeline.
struct Stamp {
    step: Step,
    started: DateTime<Utc>,
    ended: Option<DateTime<Utc>>,
}

pub struct RecoveryWizard {
    ctx: WizardContext,
    step: Step,
    timeline: Vec<Stamp>,
    health_rx: Option<Receiver<HealthReport>>,
    health: Option<HealthReport>,
    /// Per configured type: its newest good backup, or that there is none.
    coverage: Vec<String>,
    stop: AppCommand,
    /// Type STOP to run the stop command, SKIP to go on without it.
    stop_confirm: Confirm,
    /// Where the backups come from: the repository, or a target first.
    sources: Sources,
    at: TextInput,
    plan_at: Option<String>,
    plan_run: Option<ChildRun>,
    plan: Option<RecoverReport>,
    confirm: Confirm,
    exec: Option<ChildRun>,
    result: Option<RecoverReport>,
    app_health: AppHealth,
    /// The app's health was checked again after Resume started it.
    health_after_start: bool,
    /// Health checks started, and how many of them have been recorded (or
    /// found nothing to record): a finished check not yet recorded is
    /// recorded on the next tick.
    health_checks: u32,
    health_recorded: u32,
    /// The app's health and the backups' source, for the report and the
    /// audit log.
    records: record::Records,
    start: AppCommand,
    report_md: Option<String>,
    message: Option<String>,
    scroll: Scroll,
}

impl RecoveryWizard {
    pub fn new(ctx: WizardContext) -> RecoveryWizard {
        let app = ctx.config.app.clone();
        let sources = Sources::new(&ctx.config.targets, source::is_bare(&ctx.config));
        let mut w = RecoveryWizard {
            step: Step::Assess,
            timeline: Vec::new(),
            health_rx: None,
            health: None,
            coverage: assess::coverage(&ctx),
            stop: AppCommand::new("stop", "stop_command", &app.stop_command),
            stop_confirm: Confirm::new(isolate::STOP_WORD),
            sources,
            at: TextInput::default(),
            plan_at: None,
            plan_run: None,
            plan: None,
            confirm: Confirm::new("RECOVER"),
            exec: None,
            result: None,
            app_health: AppHealth::new(&app.health_command, &app.health_url),
            health_after_start: false,
            health_checks: 0,
            health_recorded: 0,
            records: record::Records::default(),
            start: AppCommand::new("start", "start_command", &app.start_command),
            report_md: None,
            message: None,
            scroll: Scroll::default(),
            ctx,
        };
        w.health_rx = Some(assess::spawn_health(&w.ctx));
        w.enter(Step::Assess);
        w
    }

    fn enter(&mut self, step: Step) {
        self.message = None;
        self.step = step;
        if !self.timeline.iter().any(|s| s.step == step) {
            self.timeline.push(Stamp {
                step,
                started: Utc::now(),
                ended: None,
            });
        }
        match step {
            Step::Verify if self.app_health.healthy().is_none() && !self.app_health.running() => {
                self.check_app_health()
            }
            Step::Report => self.load_report(),
            _ => {}
        }
    }

    /// The recovery-time objective, `[health] rto_minutes`, in seconds.
    fn rto_objective_secs(&self) -> i64 {
        i64::from(self.ctx.config.health.rto_minutes) * 60
    }

    /// A type's recovery-point objective, `[health.rpo_minutes]`, in
    /// seconds; None for a type without one.
    fn rpo_objective_secs(&self, backup_type: &str) -> Option<i64> {
        let t: BackupType = backup_type.parse().ok()?;
        let minutes = self.ctx.config.health.rpo_minutes.minutes(t)?;
        Some(i64::from(minutes) * 60)
    }

    /// Start the app's health checks (again); the answer is recorded once
    /// they finish (see `tick`).
    fn check_app_health(&mut self) {
        self.app_health.start();
        self.health_checks += 1;
    }

    fn leave(&mut self, next: Step) {
        let now = Utc::now();
        if let Some(s) = self.timeline.iter_mut().find(|s| s.step == self.step) {
            s.ended = Some(now);
        }
        self.enter(next);
    }

    fn repo_args(&self, dry_run: bool) -> Vec<String> {
        let mut a = vec![
            "recover".to_string(),
            "--dir".into(),
            self.ctx.config.repository.path.display().to_string(),
        ];
        let at = self.at.value.trim();
        if !at.is_empty() {
            a.extend(["--at".into(), at.to_string()]);
        }
        a.push(if dry_run { "--dry-run" } else { "--yes" }.into());
        a
    }

    /// The recovery to queue: what `repo_args(false)` says on a command line.
    fn recover_request(&self) -> Result<JobRequest, String> {
        let at = self.at.value.trim();
        let at = (!at.is_empty())
            .then(|| lifeboat_engine::ops::select::parse_time(at))
            .transpose()
            .map_err(|e| e.display_with_hint())?;
        Ok(JobRequest::Recover {
            dir: self.ctx.config.repository.path.clone(),
            at,
            yes: true,
            // The wizard stops, starts and checks the app itself, each a
            // step the operator sees and may take by hand.
            app: lifeboat_engine::ops::app::AppControl::Leave,
        })
    }

    fn load_report(&mut self) {
        self.report_md = self
            .result
            .as_ref()
            .and_then(|r| r.report_file.as_ref())
            .map(|f| {
                std::fs::read_to_string(f)
                    .unwrap_or_else(|e| format!("(cannot read the report {}: {e})", f.display()))
            });
    }

    fn next(&mut self) {
        self.message = None;
        match self.step {
            Step::Assess => self.leave(Step::Isolate),
            Step::Isolate if self.stop_needs_word() => self.isolate_enter(),
            Step::Isolate => {
                if self.stop.running() {
                    self.message = Some("the stop command is still running".into());
                } else {
                    self.leave(Step::Point);
                }
            }
            Step::Point => {
                if self.plan_run.as_ref().is_some_and(|p| !p.finished()) {
                    self.message = Some("the plan is still being worked out".into());
                    return;
                }
                if let Decision::Fetch(target) = self.sources.decide() {
                    // The plan comes once the target's backups are in.
                    (self.plan, self.plan_at, self.plan_run) = (None, None, None);
                    self.sources.start_fetch(&self.ctx, &target);
                    return;
                }
                let at = self.at.value.trim().to_string();
                if self.plan.is_some() && self.plan_at.as_deref() == Some(at.as_str()) {
                    self.leave(Step::Execute);
                    return;
                }
                self.start_plan();
            }
            Step::Execute => {
                if let Some(e) = &self.exec {
                    if e.finished() {
                        self.leave(Step::Verify);
                    }
                    return;
                }
                if self.confirm.submit() {
                    match self.recover_request() {
                        Ok(r) => self.exec = Some(ChildRun::queued(&self.ctx, r)),
                        Err(e) => self.message = Some(e),
                    }
                }
            }
            Step::Verify => {
                if self.app_health.running() {
                    self.message = Some("the health checks are still running".into());
                    return;
                }
                self.leave(Step::Resume);
            }
            Step::Resume => {
                if self.start.configured() && self.start.run.is_none() && !self.start.skipped {
                    self.start.start();
                } else if self.start.running() {
                    self.message = Some("the start command is still running".into());
                } else if self.app_health.running() {
                    self.message = Some("the health checks are still running".into());
                } else if !self.health_after_start && self.app_health.configured() {
                    // The app runs again only now: the check at Verify saw
                    // it stopped. The report's verdict is this answer.
                    self.health_after_start = true;
                    self.check_app_health();
                    self.message = Some(
                        "checking the app's health now that it is started; Enter again when it answers"
                            .into(),
                    );
                } else {
                    self.leave(Step::Report);
                }
            }
            Step::Report => {}
        }
    }

    /// Work out the plan for the time typed (`recover --dry-run`, which
    /// writes no job row).
    fn start_plan(&mut self) {
        self.plan = None;
        self.plan_at = Some(self.at.value.trim().to_string());
        let run = ChildRun::lifeboat_json(&self.ctx, &self.repo_args(true)).without_jobs();
        self.plan_run = Some(run);
    }

    fn back(&mut self) -> WizardStatus {
        if self.is_running() {
            self.message = Some("wait for the running command to finish (x cancels)".into());
            return WizardStatus::Open;
        }
        let to = match self.step {
            Step::Assess => return WizardStatus::Closed,
            Step::Isolate => Step::Assess,
            Step::Point => Step::Isolate,
            Step::Execute => Step::Point,
            Step::Verify => Step::Execute,
            Step::Resume => Step::Verify,
            Step::Report => return WizardStatus::Closed,
        };
        self.message = None;
        self.step = to;
        WizardStatus::Open
    }
}

impl Wizard for RecoveryWizard {
    fn title(&self) -> String {
        "Disaster recovery".into()
    }

    fn render(&self, frame: &mut Frame, area: Rect) {
        let page = widgets::Page {
            title: self.title(),
            steps: &STEPS,
            step: self.step as usize,
            from_top: self.step == Step::Report,
            body: self.body(),
            keys: self.keys(),
            focus: None,
        };
        widgets::draw_page(frame, area, &self.scroll, page);
    }

    fn handle_key(&mut self, key: KeyEvent) -> WizardStatus {
        if key.kind == crossterm::event::KeyEventKind::Release {
            return WizardStatus::Open;
        }
        if !self.wants_text() && self.scroll.handle(&key) {
            return WizardStatus::Open;
        }
        if self.is_running() {
            if key.code == KeyCode::Char('x') {
                if let Some(e) = self.exec.as_mut().filter(|e| !e.finished()) {
                    e.interrupt();
                }
                if let Some(f) = self.sources.fetch.as_mut().filter(|f| !f.run.finished()) {
                    f.run.interrupt();
                }
            }
            return WizardStatus::Open;
        }
        if self.wants_text() {
            match key.code {
                KeyCode::Esc => return self.back(),
                KeyCode::Enter => self.next(),
                // Letters are typed; the pages still scroll a long plan.
                KeyCode::PageUp | KeyCode::PageDown => {
                    self.scroll.handle(&key);
                }
                KeyCode::Up | KeyCode::Down if self.step == Step::Point => {
                    let to = if key.code == KeyCode::Up {
                        Nav::Up
                    } else {
                        Nav::Down
                    };
                    if self.sources.move_cursor(to) {
                        self.message = None;
                    }
                }
                _ => {
                    let input = match self.step {
                        Step::Point => &mut self.at,
                        Step::Isolate => &mut self.stop_confirm.input,
                        _ => &mut self.confirm.input,
                    };
                    input.handle(&key);
                }
            }
            return WizardStatus::Open;
        }
        match (self.step, key.code) {
            (Step::Isolate, KeyCode::Char('r')) if self.stop.ran() => self.stop.start(),
            (Step::Resume, KeyCode::Char('r')) if self.start.ran() => self.start.start(),
            (Step::Verify, KeyCode::Char('r')) => self.check_app_health(),
            (Step::Report, _) if matches!(nav(&key), Nav::Next | Nav::Back) => {
                return WizardStatus::Closed
            }
            _ => match nav(&key) {
                Nav::Back => return self.back(),
                Nav::Next => self.next(),
                _ => {}
            },
        }
        WizardStatus::Open
    }

    fn tick(&mut self, now: chrono::DateTime<chrono::Utc>) -> bool {
        let mut changed = false;
        if let Some(rx) = &self.health_rx {
            if let Ok(h) = rx.try_recv() {
                self.health = Some(h);
                self.health_rx = None;
                changed = true;
            }
        }
        changed |= self.stop.tick() | self.start.tick() | self.app_health.tick();
        if self.health_recorded != self.health_checks && !self.app_health.running() {
            // A check finished: its answer goes in the report and the audit
            // log (nothing to record when no check is configured).
            self.health_recorded = self.health_checks;
            if let Some(healthy) = self.app_health.healthy() {
                let report_file = self.result.as_ref().and_then(|r| r.report_file.clone());
                self.records
                    .push(healthy, self.app_health.summary(), now, report_file);
            }
        }
        let (recorded, finished) = self.records.tick(&self.ctx.config);
        changed |= recorded;
        if finished && self.step == Step::Report {
            // The report on screen gets the section just appended.
            self.load_report();
        }
        let (fetch_changed, fetched) = self.sources.tick(&self.ctx.config, now);
        changed |= fetch_changed;
        if fetched == Some(true) {
            // The catalog was rebuilt with the target's backups: read it
            // again, and plan over the recovered points.
            self.coverage = assess::coverage(&self.ctx);
            self.start_plan();
        }
        if let Some(p) = &mut self.plan_run {
            if p.tick() {
                changed = true;
                if p.finished() {
                    self.plan = serde_json::from_str(&p.stdout)
                        .ok()
                        .filter(|_| p.succeeded());
                }
            }
        }
        if let Some(e) = &mut self.exec {
            if e.tick() {
                changed = true;
                if e.finished() {
                    self.result = serde_json::from_str::<RecoverReport>(&e.stdout).ok();
                    if let Some(r) = &self.result {
                        // The recovery read the repository: its report
                        // says where the backups came from before that.
                        for f in &self.sources.fetched {
                            let file = r.report_file.clone();
                            self.records.push_source(f.source.clone(), f.at, file);
                        }
                    }
                }
            }
        }
        changed
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        if self.exec.as_ref().is_some_and(|e| !e.finished()) {
            return vec![("x", "cancel (stops at the next safe point)"), SCROLL];
        }
        if self.sources.fetching() {
            return vec![("x", "cancel the fetch"), ("wait", "fetching the backups")];
        }
        if self.is_running() {
            return vec![("wait", "a command is running")];
        }
        match self.step {
            Step::Assess => vec![NEXT, ("Esc", "close")],
            Step::Isolate if self.stop_needs_word() => self.isolate_keys(),
            Step::Resume if self.start.configured() && self.start.run.is_none() => {
                vec![("Enter", "run the start command"), BACK]
            }
            Step::Isolate | Step::Resume => vec![NEXT, ("r", "run again"), BACK],
            Step::Point => vec![
                ("↑/↓", "source"),
                ("type", "time"),
                (
                    "Enter",
                    match self.sources.decide() {
                        Decision::Fetch(_) => "fetch",
                        Decision::Plan => "plan / next",
                    },
                ),
                ("Esc", "back"),
            ],
            Step::Execute if self.exec.is_none() => {
                vec![("type", "RECOVER"), ("Enter", "recover"), ("Esc", "back")]
            }
            Step::Execute => vec![NEXT, BACK],
            Step::Verify => vec![NEXT, ("r", "check health again"), BACK],
            Step::Report => vec![("Enter/Esc", "close"), SCROLL],
        }
    }

    fn is_running(&self) -> bool {
        self.stop.running()
            || self.start.running()
            || self.app_health.running()
            || self.plan_run.as_ref().is_some_and(|p| !p.finished())
            || self.sources.fetching()
            || self.exec.as_ref().is_some_and(|e| !e.finished())
    }

    fn underway(&self) -> Vec<Underway> {
        let inside = |what: String| Underway {
            what,
            outlives_console: false,
        };
        let mut v = Vec::new();
        for c in [&self.stop, &self.start] {
            if c.running() {
                v.push(inside(format!(
                    "the app {} command `{}`",
                    c.verb, c.command
                )));
            }
        }
        if self.app_health.running() {
            v.push(inside("the app's health check".into()));
        }
        v.extend(
            self.plan_run
                .as_ref()
                .and_then(|p| p.underway("the recovery plan")),
        );
        v.extend(self.sources.fetch.as_ref().and_then(|f| {
            f.run.underway(&format!(
                "bringing the backups back from target '{}'",
                f.target
            ))
        }));
        v.extend(
            self.exec
                .as_ref()
                .and_then(|e| e.underway("the recovery job")),
        );
        if self.records.busy() {
            v.push(inside(
                "recording the app's health (or the backups' source) in the recovery report and the audit log".into(),
            ));
        }
        v
    }

    fn mid_way(&self) -> Option<String> {
        // Between Assess and Report the runbook holds the outage's timeline
        // (and maybe a stopped app): losing it loses the RTO and the resume.
        (!matches!(self.step, Step::Assess | Step::Report)).then(|| {
            format!(
                "the recovery runbook at step {}{}",
                STEPS[self.step as usize],
                if self.stop.ran() && !self.start.ran() {
                    " (the app it stopped is not started again)"
                } else {
                    ""
                }
            )
        })
    }

    fn wants_text(&self) -> bool {
        (self.step == Step::Point
            || (self.step == Step::Isolate && self.stop_needs_word())
            || (self.step == Step::Execute && self.exec.is_none()))
            && !self.is_running()
    }
}
