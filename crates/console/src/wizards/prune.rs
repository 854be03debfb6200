//! Prune from the console: the same preview as `lifeboat prune --dry-run`
//! (what goes, what stays, and why), then type-to-confirm, then the prune
//! job itself (`lifeboat prune --yes`, audited like any other).

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind};
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::Frame;

use super::input::Confirm;
use super::runner::ChildRun;
use super::widgets::{self, bold, nav, text, Nav, Scroll, SCROLL};
use super::{Wizard, WizardContext, WizardStatus};

const STEPS: [&str; 4] = ["Preview", "Confirm", "Prune", "Result"];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    Preview,
    Confirm,
    Run,
    Result,
}

pub struct PruneWizard {
    ctx: WizardContext,
    step: Step,
    preview: ChildRun,
    confirm: Confirm,
    run: Option<ChildRun>,
    scroll: Scroll,
}

impl PruneWizard {
    pub fn new(ctx: WizardContext) -> PruneWizard {
        let preview = ChildRun::lifeboat(&ctx, &["prune".into(), "--dry-run".into()]);
        PruneWizard {
            ctx,
            step: Step::Preview,
            preview,
            confirm: Confirm::new("prune"),
            run: None,
            scroll: Scroll::default(),
        }
    }

    /// Whether the preview found anything to delete.
    fn something_to_delete(&self) -> bool {
        self.preview.finished()
            && self.preview.succeeded()
            && self.preview.lines.iter().any(|l| l.starts_with("DELETE"))
    }

    fn body(&self) -> Vec<Line<'static>> {
        let mut v = Vec::new();
        match self.step {
            Step::Preview => {
                v.push(bold("What the retention policy lets go, and why"));
                v.push(text(format!(
                    "Policy: [retention] in {} (newest min_keep good backups and parents of kept incrementals always stay).",
                    self.ctx
                        .config_path
                        .as_ref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_else(|| "the built-in defaults".into())
                )));
                if !self.preview.finished() {
                    v.push(text("Planning (lifeboat prune --dry-run)..."));
                } else if !self.preview.succeeded() {
                    v.push(bold("The preview FAILED:"));
                    v.extend(self.preview.outcome_lines(50));
                } else {
                    v.extend(self.preview.tail(400));
                    v.push(text(""));
                    v.push(text(if self.something_to_delete() {
                        "Enter: confirm the deletion of the backups marked DELETE."
                    } else {
                        "Nothing to delete. Enter closes."
                    }));
                }
            }
            Step::Confirm => {
                v.push(bold("Delete the backups marked DELETE in the preview?"));
                v.push(text("Their files and catalog rows go; each deletion is audited. This cannot be undone."));
                v.extend(self.confirm.lines());
            }
            Step::Run | Step::Result => {
                let Some(r) = &self.run else { return v };
                if !r.finished() {
                    v.extend(r.progress_lines(12));
                } else {
                    v.push(bold(if r.succeeded() {
                        "Prune finished."
                    } else {
                        "Prune FAILED:"
                    }));
                    if let Ok(rep) = serde_json::from_str::<serde_json::Value>(&r.stdout) {
                        let deleted = rep["deleted"].as_array().map_or(0, Vec::len);
                        let freed = rep["bytes_freed"].as_u64().unwrap_or(0);
                        v.push(text(format!(
                            "Deleted {deleted} backup(s), freed {}.",
                            super::widgets::size(freed)
                        )));
                        for r in rep["refused"].as_array().into_iter().flatten() {
                            v.push(text(format!(
                                "  {} not pruned: {}",
                                r["type"].as_str().unwrap_or("?"),
                                r["reason"].as_str().unwrap_or("?")
                            )));
                        }
                    }
                    v.extend(r.outcome_lines(100));
                    v.push(text(""));
                    v.push(text("Enter closes."));
                }
            }
        }
        v
    }
}

impl Wizard for PruneWizard {
    fn title(&self) -> String {
        "Prune (retention)".into()
    }

    fn render(&self, frame: &mut Frame, area: Rect) {
        let page = widgets::Page {
            title: self.title(),
            steps: &STEPS,
            step: self.step as usize,
            from_top: false,
            body: self.body(),
            keys: self.keys(),
            focus: None,
        };
        widgets::draw_page(frame, area, &self.scroll, page);
    }

    fn handle_key(&mut self, key: KeyEvent) -> WizardStatus {
        if key.kind == KeyEventKind::Release {
            return WizardStatus::Open;
        }
        if self.step != Step::Confirm && self.scroll.handle(&key) {
            return WizardStatus::Open;
        }
        match self.step {
            Step::Preview => match key.code {
                KeyCode::Esc => return WizardStatus::Closed,
                KeyCode::Enter if self.something_to_delete() => self.step = Step::Confirm,
                KeyCode::Enter if self.preview.finished() => return WizardStatus::Closed,
                _ => {}
            },
            Step::Confirm => match key.code {
                KeyCode::Esc => self.step = Step::Preview,
                KeyCode::Enter => {
                    if self.confirm.submit() {
                        self.run = Some(ChildRun::queued(
                            &self.ctx,
                            lifeboat_engine::ops::queue::JobRequest::Prune { force: false },
                        ));
                        self.step = Step::Run;
                    }
                }
                _ => {
                    self.confirm.input.handle(&key);
                }
            },
            Step::Run => {
                if key.code == KeyCode::Char('x') {
                    if let Some(r) = &mut self.run {
                        r.interrupt();
                    }
                }
            }
            Step::Result => {
                if matches!(nav(&key), Nav::Next | Nav::Back) {
                    return WizardStatus::Closed;
                }
            }
        }
        WizardStatus::Open
    }

    fn tick(&mut self, _now: chrono::DateTime<chrono::Utc>) -> bool {
        let mut changed = self.preview.tick();
        if let Some(r) = self.run.as_mut() {
            changed |= r.tick();
        }
        if self.step == Step::Run && self.run.as_ref().is_some_and(|r| r.finished()) {
            self.step = Step::Result;
            return true;
        }
        changed
    }

    fn keys(&self) -> Vec<(&'static str, &'static str)> {
        match self.step {
            Step::Preview => vec![("Enter", "continue"), ("Esc", "close"), SCROLL],
            Step::Confirm => vec![("type", "prune"), ("Enter", "delete"), ("Esc", "back")],
            Step::Run => vec![("x", "cancel (stops at the next safe point)"), SCROLL],
            Step::Result => vec![("Enter/Esc", "close"), SCROLL],
        }
    }

    fn is_running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| !r.finished())
    }

    fn wants_text(&self) -> bool {
        self.step == Step::Confirm
    }
}
