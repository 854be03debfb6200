//! What each step of the backup wizard shows.

use ratatui::text::Line;

use super::{name_problem, BackupWizard, Step};
use crate::wizards::widgets::{bold, row, text};
use lifeboat_engine::config::EncryptMode;

impl BackupWizard {
    pub(super) fn body(&self) -> Vec<Line<'static>> {
        let mut v = Vec::new();
        match self.step {
            Step::Types => {
                v.push(bold(
                    "What should be backed up? (Space ticks, Enter goes on)",
                ));
                if self.types.is_empty() {
                    v.push(text("  nothing is configured to back up"));
                }
                let mark = |c: bool| if c { "[x]" } else { "[ ]" };
                v.push(row(
                    self.cursor == 0,
                    format!("{} all configured types", mark(self.all)),
                ));
                for (i, t) in self.types.iter().enumerate() {
                    let mut s = format!("{} {t}", mark(self.all || self.checked[i]));
                    if let Err(e) = self.encryption_of(*t) {
                        s.push_str(&format!(
                            "  (refused: {})",
                            e.split(':').next().unwrap_or("")
                        ));
                    }
                    v.push(row(self.cursor == i + 1, s));
                }
            }
            Step::Name => {
                v.push(bold("Optional name (becomes part of the file name)"));
                v.push(self.name.line("Name:"));
                v.push(text(
                    "Leave it empty for no name. Letters, digits, - and _ only.",
                ));
                if let Some(p) = name_problem(&self.name.value) {
                    v.push(text(format!("Not valid: {p}")));
                }
            }
            Step::Mode => {
                v.push(bold("Filesystem backup: full or incremental?"));
                let inc = if self.ctx.config.backup.incremental {
                    format!(
                        "incremental when a good full exists (a new full every {} days)",
                        self.ctx.config.backup.full_every_days
                    )
                } else {
                    "as configured: incremental backups are off, every backup is full".into()
                };
                v.push(row(
                    !self.full,
                    format!("({}) {inc}", if self.full { " " } else { "*" }),
                ));
                v.push(row(
                    self.full,
                    format!("({}) full backup now", if self.full { "*" } else { " " }),
                ));
            }
            Step::Encryption => {
                let e = &self.ctx.config.encryption;
                v.push(bold("Encryption"));
                v.push(text(format!(
                    "  mode: {}",
                    match e.encrypt {
                        EncryptMode::Auto => "auto (encrypt when the key file exists)",
                        EncryptMode::Always => "always",
                        EncryptMode::Never => "never",
                    }
                )));
                v.push(text(format!(
                    "  key file: {} ({})",
                    e.key_file.display(),
                    if self.key_exists {
                        "present"
                    } else {
                        "MISSING"
                    }
                )));
                for t in self.selected() {
                    v.push(text(match self.encryption_of(t) {
                        Ok(true) => format!("  {t}: encrypted"),
                        Ok(false) => format!("  {t}: NOT encrypted"),
                        Err(e) => format!("  {t}: REFUSED - {e}"),
                    }));
                }
            }
            Step::Summary => {
                v.push(bold("About to run:"));
                for c in self.commands() {
                    v.push(text(format!("  {}", c.command_line())));
                }
                for t in self.selected() {
                    v.push(text(format!("  {t}: {}", self.targets_of(t))));
                }
                v.push(text(format!(
                    "  into repository {}",
                    self.ctx.config.repository.path.display()
                )));
                v.push(text("Enter starts the backup; Esc goes back."));
            }
            Step::Run => {
                for r in &self.runs {
                    if r.finished() {
                        v.extend(r.outcome_lines(8));
                    } else {
                        v.extend(r.progress_lines(6));
                    }
                }
                for q in self.queue.iter().rev() {
                    v.push(text(format!("  waiting: {}", q.command_line())));
                }
                if self.done() {
                    let ok = self.runs.iter().filter(|r| r.succeeded()).count();
                    v.push(text(""));
                    v.push(bold(format!(
                        "Done: {ok} of {} backup command(s) succeeded. Enter closes.",
                        self.runs.len()
                    )));
                }
            }
        }
        if let Some(m) = &self.message {
            v.push(text(""));
            v.push(text(format!("! {m}")));
        }
        v
    }
}
