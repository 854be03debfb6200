//! The recovery drill: the same runbook as a real recovery, but into a
//! sandbox, by `lifeboat drill`. It never runs the app's stop or start
//! commands and never touches production, which is why it needs no
//! type-to-confirm: the worst a drill can do is fail, and a failed drill
//! is exactly what it is for (it says so, in place, with the child's
//! error).

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::input::TextInput;
use super::runner::ChildRun;
use super::widgets::{self, bold, nav, text, Nav, Scroll, SCROLL};
use super::{Wizard, WizardContext, WizardStatus};
use lifeboat_engine::ops::queue::JobRequest;
use std::path::PathBuf;

const STEPS: [&str; 3] = ["Plan", "Run", "Report"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Plan,
    Run,
    Report,
}

pub struct DrillWizard {
    ctx: WizardContext,
    step: Step,
    at: TextInput,
    run: Option<ChildRun>,
    scroll: Scroll,
}

impl DrillWizard {
    pub fn new(ctx: WizardContext) -> DrillWizard {
        DrillWizard {
            ctx,
            step: Step::Plan,
            at: TextInput::default(),
            run: None,
            scroll: Scroll::default(),
        }
    }

    fn args(&self) -> Vec<String> {
        let mut a = vec!["drill".to_string()];
        let at = self.at.value.trim();
        if !at.is_empty() {
            a.extend(["--at".into(), at.to_string()]);
        }
        a
    }

    fn body(&self) -> Vec<Line<'static>> {
        let mut v = Vec::new();
        match self.step {
            Step::Plan => {
                v.push(bold("Recovery drill"));
                v.push(text("Runs the recovery runbook into a sandbox: restores the chosen point of every type into scratch places, verifies them and reports the recovery time and data-loss window."));
                v.push(text(
                    "It never stops or starts the app and never touches production data.",
                ));
                v.push(text(format!(
                    "Repository: {}",
                    self.ctx.config.repository.path.display()
                )));
                v.push(
                    self.at
                        .line("Drill the point at (empty = newest; e.g. 2026-11-26 14:00):"),
                );
                v.push(text(format!(
                    "Enter runs: lifeboat {}",
                    self.args().join(" ")
                )));
            }
            Step::Run | Step::Report => {
                let Some(r) = &self.run else { return v };
                if !r.finished() {
                    v.extend(r.progress_lines(12));
                    return v;
                }
                if r.succeeded() {
                    v.push(bold("Drill passed."));
                } else {
                    v.push(bold(
                        "Drill FAILED: recovery is not proven until a drill passes.",
                    ));
                }
                v.extend(r.outcome_lines(20));
                // The report the drill saved, as the worker recorded where.
                let report = serde_json::from_str::<serde_json::Value>(&r.stdout)
                    .ok()
                    .and_then(|j| j["recovery"]["report_file"].as_str().map(PathBuf::from));
                if let Some(f) = report {
                    v.push(text(""));
                    v.push(bold(format!("Drill report ({})", f.display())));
                    match std::fs::read_to_string(&f) {
                        Ok(md) => v.extend(md.lines().map(|l| text(l.to_string()))),
                        Err(e) => v.push(text(format!("(cannot read it: {e})"))),
                    }
                }
                v.push(text(""));
                v.push(text("Enter closes; r runs the drill again."));
            }
        }
        v
    }

    /// Queue the drill and follow it; a time that cannot be read ends the
    /// run at once with the reason.
    fn start(&mut self) {
        let at = self.at.value.trim();
        let request = (!at.is_empty())
            .then(|| lifeboat_engine::ops::select::parse_time(at))
            .transpose()
            .map(|at| JobRequest::Drill { at, keep: false });
        self.run = Some(match request {
            Ok(r) => ChildRun::queued(&self.ctx, r),
            Err(e) => ChildRun::failed(
                format!("lifeboat {}", self.args().join(" ")),
                e.display_with_hint(),
            ),
        });
        self.step = Step::Run;
    }

    fn running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| !r.finished())
    }
}

impl Wizard for DrillWizard {
    fn title(&self) -> String {
        "Recovery drill".into()
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
        if self.step != Step::Plan && self.scroll.handle(&key) {
            return WizardStatus::Open;
        }
        match self.step {
            Step::Plan => match key.code {
                KeyCode::Esc => return WizardStatus::Closed,
                KeyCode::Enter => self.start(),
                _ => {
                    self.at.handle(&key);
                }
            },
            Step::Run => {
                if key.code == KeyCode::Char('x') {
                    if let Some(r) = &mut self.run {
                        r.interrupt();
                    }
                }
            }
            Step::Report => match (key.code, nav(&key)) {
                (KeyCode::Char('r'), _) => self.start(),
                (KeyCode::Char('b') | KeyCode::Left, _) => self.step = Step::Plan,
                (_, Nav::Next | Nav::Back) => return WizardStatus::Closed,
                _ => {}
            },
        }
        WizardStatus::Open
    }

    fn tick(&mut self, _now: chrono::DateTime<chrono::Utc>) -> bool {
        let changed = self.run.as_mut().is_some_and(|r| r.tick());
        if self.step == Step::Run && self.run.as_ref().is_some_and(|r| r.finished()) {
            self.step = Step::Report;
            return true;
        }
        changed
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        match self.step {
            Step::Plan => vec![
                ("type", "time"),
                ("Enter", "run the drill"),
                ("Esc", "close"),
            ],
            Step::Run => vec![("x", "cancel (stops at the next safe point)"), SCROLL],
            Step::Report => vec![
                ("Enter/Esc", "close"),
                ("r", "run again"),
                ("←/b", "back to the plan"),
                SCROLL,
            ],
        }
    }

    fn is_running(&self) -> bool {
        self.running()
    }

    fn wants_text(&self) -> bool {
        self.step == Step::Plan
    }
}
