//! What each step of the restore wizard shows: the timeline of points,
//! the target choice, the preview, the confirmation and the outcome.

use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};

use super::{RestoreWizard, Step};
use crate::wizards::widgets::{bold, duration, row, size, text};
use lifeboat_engine::archive::manifest::{BackupKind, BackupType};
use lifeboat_engine::catalog::BackupRecord;

impl RestoreWizard {
    pub(super) fn target_text(&self) -> String {
        match (self.in_place, self.chosen_type()) {
            (false, BackupType::Database) => format!("new database {}", self.new_target.value),
            (false, _) => format!("new directory {}", self.new_target.value),
            (true, BackupType::Database) => format!(
                "IN PLACE: replace the live database {}",
                self.in_place_name()
            ),
            (true, _) => "IN PLACE: the original paths, over the live files".into(),
        }
    }

    fn point_row(&self, b: &BackupRecord) -> String {
        let age = duration((self.now - b.created_at).num_seconds());
        let verified = match (&b.verified_at, &b.verify_result) {
            (Some(_), Some(r)) if r == "ok" => "verified ok".to_string(),
            (Some(_), Some(r)) => format!("verify FAILED ({r})"),
            _ => "not verified".into(),
        };
        let kind = match (b.kind, self.chain_len(b)) {
            (BackupKind::Full, _) => "full".to_string(),
            (_, Some(n)) => format!("incremental, chain of {n}"),
            (_, None) => "incremental, chain BROKEN".into(),
        };
        format!(
            "{}  {}  {age} ago  {}  {}  {kind}  {verified}{}",
            b.created_at
                .with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S"),
            b.id,
            size(b.size),
            b.status,
            b.name
                .as_deref()
                .map(|n| format!("  name {n}"))
                .unwrap_or_default()
        )
    }

    /// The line of the list's cursor (after the step's question), kept in
    /// sight when the list is longer than the screen.
    pub(super) fn focus(&self) -> Option<usize> {
        match self.step {
            Step::Type => Some(1 + self.type_cursor),
            Step::Point => Some(1 + self.point_cursor),
            _ => None,
        }
    }

    pub(super) fn body(&self) -> Vec<Line<'static>> {
        let mut v = Vec::new();
        match self.step {
            Step::Type => {
                v.push(bold("What should be restored?"));
                for (i, (t, n, hidden)) in self.types.iter().enumerate() {
                    let more = match hidden {
                        0 => String::new(),
                        h => format!("; {h} more cannot be restored"),
                    };
                    v.push(row(
                        i == self.type_cursor,
                        format!("{t}  ({n} backups{more})"),
                    ));
                }
            }
            Step::Point => {
                v.push(bold(format!(
                    "Choose a {} backup (newest first{}):",
                    self.chosen_type(),
                    if self.show_all {
                        ", all of them"
                    } else {
                        ", only those that can be restored"
                    }
                )));
                for (i, &b) in self.shown.iter().enumerate() {
                    v.push(row(
                        i == self.point_cursor,
                        self.point_row(&self.backups[b]),
                    ));
                }
                let hidden = self.hidden_summary();
                if !hidden.is_empty() {
                    v.push(text(""));
                    v.push(text(if self.show_all {
                        format!("Listed too: {hidden} (they cannot be restored; a hides them).")
                    } else {
                        format!("Not listed: {hidden} (they cannot be restored; a lists them).")
                    }));
                }
            }
            Step::Target => {
                let b = self.chosen().expect("chosen");
                v.push(bold(format!("Where should backup {} go?", b.id)));
                let what = if self.chosen_type() == BackupType::Database {
                    "a new database"
                } else {
                    "a new directory"
                };
                if self.in_place {
                    v.push(row(
                        false,
                        format!(
                            "( ) {what}: {} (nothing existing is touched)",
                            self.new_target.value
                        ),
                    ));
                } else {
                    // The value is edited in place, in the selected row.
                    let selected = Style::default().add_modifier(Modifier::REVERSED);
                    let mut spans = vec![Span::styled(format!("> (*) {what}: "), selected)];
                    spans.extend(self.new_target.inline(selected));
                    spans.push(Span::styled(" (nothing existing is touched)", selected));
                    v.push(Line::from(spans));
                }
                v.push(row(
                    self.in_place,
                    format!(
                        "({}) in place, over the live {} (a safety copy of what is replaced is taken first)",
                        mark(self.in_place),
                        if self.chosen_type() == BackupType::Database { "database" } else { "files" }
                    ),
                ));
                v.push(text(""));
                if !self.in_place {
                    v.push(text(if self.chosen_type() == BackupType::Database {
                        "Type to change the name (a new one: letters, digits, '_', '-' or '$'); Ctrl-U clears it."
                    } else {
                        "Type to change the path (absolute, outside the live files and the repository); Ctrl-U clears it."
                    }));
                }
                v.push(text(
                    "Enter runs a dry run that shows what would be created, replaced and deleted.",
                ));
            }
            Step::Preview => {
                v.push(bold(format!("Preview: {}", self.target_text())));
                if self.in_place {
                    v.push(text("These are exactly the things an in-place restore replaces. A safety copy of them is taken first, so the restore can be undone."));
                }
                if let Some(p) = &self.preview {
                    if p.finished() {
                        v.extend(p.outcome_lines(40));
                    } else {
                        v.extend(p.progress_lines(10));
                    }
                }
            }
            Step::Confirm => {
                let b = self.chosen().expect("chosen");
                v.push(bold(format!(
                    "Restore {} backup {} ({}) to {}",
                    b.backup_type,
                    b.id,
                    b.created_at
                        .with_timezone(&chrono::Local)
                        .format("%Y-%m-%d %H:%M:%S"),
                    self.target_text()
                )));
                v.push(text(format!(
                    "Command: lifeboat {}",
                    self.args(false).join(" ")
                )));
                if self.in_place {
                    v.push(text(
                        "This replaces live data. A safety copy is taken first.",
                    ));
                    v.extend(self.confirm.lines());
                } else {
                    v.push(text("Enter restores into the new place; Esc goes back."));
                }
            }
            Step::Run => {
                if let Some(r) = &self.run {
                    if r.finished() {
                        v.extend(r.outcome_lines(30));
                        v.push(text(""));
                        v.push(bold(if r.succeeded() {
                            format!("Restored to {}. Enter closes.", self.target_text())
                        } else {
                            "The restore failed; the lines above say why. Enter closes.".into()
                        }));
                    } else {
                        v.extend(r.progress_lines(8));
                    }
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

fn mark(on: bool) -> &'static str {
    if on {
        "*"
    } else {
        " "
    }
}
