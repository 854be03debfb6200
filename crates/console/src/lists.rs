//! The lists' rows: which rows each table shows (its `/` filter) and
//! which one is selected. A table draws the rows of its view, a vector
//! of indices into the loaded rows, so a filter or a sort never copies a
//! row; a new view keeps the selection on the row it was on while that
//! row is still shown.

use crate::app::{App, Effect, Screen};
use crate::cells;
use crate::data;
use lifeboat_engine::catalog::{AuditRecord, JobRecord};
use lifeboat_engine::health::Check;

impl App {
    pub(crate) fn selected_backup_key(&self) -> Option<Box<str>> {
        self.backup_view
            .get(self.catalog_list.selected)
            .and_then(|&i| self.backups.get(i as usize))
            .map(|b| b.id.clone())
    }

    pub(crate) fn apply_backup_view(&mut self) {
        let selected = self.selected_backup_key();
        self.apply_backup_view_keeping(selected);
    }

    /// Recompute the view, keeping the selection on backup `selected_id`.
    pub(crate) fn apply_backup_view_keeping(&mut self, selected_id: Option<Box<str>>) {
        self.backup_view = data::backup_view(
            &self.backups,
            &self.catalog_filter,
            self.sort,
            self.descending,
        );
        self.catalog_list.selected = selected_id
            .and_then(|id| {
                self.backup_view
                    .iter()
                    .position(|&i| self.backups[i as usize].id == id)
            })
            .unwrap_or(0);
        self.dirty = true;
    }

    /// The job selected in the Jobs table.
    pub fn selected_job(&self) -> Option<&JobRecord> {
        self.jobs_view
            .get(self.jobs_list.selected)
            .and_then(|&i| self.jobs.get(i as usize))
    }

    /// The checks the Health table shows (those its filter keeps), as
    /// indices into the report's.
    pub fn health_view(&self) -> Vec<u32> {
        self.health.as_ref().map_or_else(Vec::new, |h| {
            cells::health_view(&h.checks, &self.health_filter)
        })
    }

    /// The check selected in the Health table.
    pub fn selected_check(&self) -> Option<&Check> {
        let checks = &self.health.as_ref()?.checks;
        self.health_view()
            .get(self.health_list.selected)
            .and_then(|&i| checks.get(i as usize))
    }

    /// The row selected in the Audit table.
    pub fn selected_audit(&self) -> Option<&AuditRecord> {
        self.audit_view
            .get(self.audit_list.selected)
            .and_then(|&i| self.audit.get(i as usize))
    }

    /// A fresh jobs list from the catalog, newest first, and the log to
    /// read for it. The selection stays on its job, except on the newest
    /// row: an operator there is watching the latest job, so a job that
    /// just started takes the selection and its log is shown. The log is
    /// read again either way (the selected job's may have grown).
    pub fn jobs_loaded(&mut self, jobs: Vec<JobRecord>) -> Effect {
        let follow_newest = self.jobs_list.selected == 0;
        let selected_id = self.selected_job().map(|j| j.id);
        self.jobs = jobs;
        self.apply_jobs_view_keeping(selected_id.filter(|_| !follow_newest));
        Effect::LoadJobLog { changed: true }
    }

    /// Recompute the Jobs table's rows (after a reload or a new filter),
    /// keeping the selection on job `keep` while it is shown, else at
    /// the same place (within the rows).
    pub(crate) fn apply_jobs_view_keeping(&mut self, keep: Option<i64>) {
        self.jobs_view = cells::jobs_view(&self.jobs, &self.jobs_filter, self.now);
        let jobs = &self.jobs;
        let kept = keep.and_then(|id| {
            self.jobs_view
                .iter()
                .position(|&i| jobs[i as usize].id == id)
        });
        self.jobs_list.selected = kept
            .unwrap_or(self.jobs_list.selected)
            .min(self.jobs_view.len().saturating_sub(1));
        self.dirty = true;
    }

    /// Recompute the Health table's rows, keeping the selection on check
    /// `keep` while it is shown, else at the same place.
    pub(crate) fn apply_health_view_keeping(&mut self, keep: Option<String>) {
        let view = self.health_view();
        let Some(report) = &self.health else {
            return;
        };
        let kept = keep.and_then(|id| {
            view.iter()
                .position(|&i| report.checks[i as usize].id == id)
        });
        self.health_list.selected = kept
            .unwrap_or(self.health_list.selected)
            .min(view.len().saturating_sub(1));
        self.dirty = true;
    }

    pub(crate) fn apply_audit_view(&mut self) {
        self.audit_view = cells::audit_view(&self.audit, &self.audit_filter);
        self.audit_list.selected = self
            .audit_list
            .selected
            .min(self.audit_view.len().saturating_sub(1));
        self.dirty = true;
    }

    /// The filter `/` edits on the current screen (none on the screens
    /// without a list).
    pub fn filter(&self) -> Option<&str> {
        Some(match self.screen {
            Screen::Catalog => &self.catalog_filter,
            Screen::Jobs => &self.jobs_filter,
            Screen::Health => &self.health_filter,
            Screen::Audit => &self.audit_filter,
            Screen::Dashboard | Screen::Storage => return None,
        })
    }

    /// Change the current screen's filter with `edit` and show the rows
    /// it keeps (the selection stays on its row while that is shown).
    pub(crate) fn edit_filter(&mut self, edit: impl FnOnce(&mut String)) {
        match self.screen {
            Screen::Catalog => {
                edit(&mut self.catalog_filter);
                self.apply_backup_view();
            }
            Screen::Jobs => {
                let keep = self.selected_job().map(|j| j.id);
                edit(&mut self.jobs_filter);
                self.apply_jobs_view_keeping(keep);
                self.effects.push(Effect::LoadJobLog { changed: false });
            }
            Screen::Health => {
                let keep = self.selected_check().map(|c| c.id.clone());
                edit(&mut self.health_filter);
                self.apply_health_view_keeping(keep);
            }
            Screen::Audit => {
                edit(&mut self.audit_filter);
                self.apply_audit_view();
            }
            Screen::Dashboard | Screen::Storage => {}
        }
    }

    /// The selected row of the current screen with every field whole
    /// (the row popup): its title and its fields.
    pub fn row_fields(&self) -> Option<(String, Vec<cells::Field>)> {
        Some(match self.screen {
            Screen::Catalog => {
                let b = self
                    .backup_view
                    .get(self.catalog_list.selected)
                    .and_then(|&i| self.backups.get(i as usize))?;
                (format!("Backup {}", b.id), cells::backup_fields(b))
            }
            Screen::Jobs => {
                let j = self.selected_job()?;
                (format!("Job {}", j.id), cells::job_fields(j, self.now))
            }
            Screen::Health => {
                let c = self.selected_check()?;
                (format!("Check: {}", c.title), cells::health_fields(c))
            }
            Screen::Audit => {
                let r = self.selected_audit()?;
                (format!("Audit row {}", r.seq), cells::audit_fields(r))
            }
            Screen::Dashboard | Screen::Storage => return None,
        })
    }
}
