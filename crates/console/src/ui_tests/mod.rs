//! The console without a catalog: an [`App`] filled with made-up jobs,
//! checks and audit rows, keys and mouse events fed to its decisions and
//! frames drawn into ratatui's `TestBackend`. (tests/it/console.rs drives
//! the whole [`crate::Console`] over a real catalog.)

mod filters;
mod help_search;
mod mouse;
mod row_popup;
mod storage_copies;

use chrono::{DateTime, TimeZone, Utc};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::app::{App, AppContext, Effect};
use lifeboat_engine::catalog::{AuditEntry, AuditRecord, JobRecord, JobState};
use lifeboat_engine::config::Config;
use lifeboat_engine::health::{Check, HealthReport, Status};

/// The time every frame is drawn against.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 26, 12, 0, 0).unwrap()
}

/// A console with nothing loaded, drawing without colour at [`now`].
pub fn app() -> App {
    let mut app = App::new(AppContext {
        config: Config::default(),
        config_path: None,
        exe: "lifeboat".into(),
        no_color: true,
    });
    app.now = now();
    app.catalog_open = true;
    app
}

/// A finished job (`minutes` before [`now`], five minutes long).
pub fn job(id: i64, kind: &str, target: &str, state: JobState, minutes: i64) -> JobRecord {
    let start = now() - chrono::Duration::minutes(minutes);
    let end = start + chrono::Duration::minutes(5);
    JobRecord {
        id,
        kind: kind.into(),
        target: target.into(),
        state,
        phase: None,
        bytes_done: 0,
        bytes_total: None,
        items_done: 0,
        items_total: None,
        created_at: start,
        started_at: Some(start),
        finished_at: Some(end),
        updated_at: end,
        error: None,
        host: "db1".into(),
        pid: 4242,
        partial_outputs: Vec::new(),
        cancel_requested: false,
        parent_job: None,
        resource: None,
    }
}

/// Jobs 1-30 on the Jobs screen, newest first: every tenth a failed
/// restore of the database, the others filesystem backups, job 20 with
/// warnings.
pub fn with_jobs(app: &mut App) {
    let jobs = (1..=30)
        .rev()
        .map(|id| {
            let state = match id {
                20 => JobState::SucceededWithWarnings,
                _ if id % 10 == 0 => JobState::Failed,
                _ => JobState::Succeeded,
            };
            let (kind, target) = if id % 10 == 0 {
                ("restore", "database")
            } else {
                ("backup", "filesystem")
            };
            job(id, kind, target, state, (31 - id) * 60)
        })
        .collect();
    let _ = app.jobs_loaded(jobs);
}

pub fn check(id: &str, title: &str, status: Status, value: &str, threshold: &str) -> Check {
    Check {
        id: id.into(),
        title: title.into(),
        status,
        value: value.into(),
        threshold: threshold.into(),
        advice: format!("what to do about {title}"),
    }
}

/// A health report of five checks, one critical.
pub fn with_health(app: &mut App) {
    let checks = vec![
        check(
            "age-db",
            "Last database backup",
            Status::Ok,
            "2h ago",
            "at most 26h",
        ),
        check(
            "age-fs",
            "Last filesystem backup",
            Status::Ok,
            "3h ago",
            "at most 26h",
        ),
        check(
            "disk",
            "Repository disk",
            Status::Critical,
            "97% used",
            "below 90%",
        ),
        check(
            "key",
            "Key file",
            Status::Ok,
            "present, 0600",
            "readable by lifeboat only",
        ),
        check(
            "audit",
            "Audit log",
            Status::Warning,
            "not checked yet",
            "intact",
        ),
    ];
    let _ = app.on_result(crate::background::BgResult::Health(HealthReport::new(
        now(),
        checks,
    )));
}

/// An audit row.
pub fn audit(seq: i64, actor: &str, action: &str, target: &str, detail: &str) -> AuditRecord {
    AuditRecord {
        seq,
        entry: AuditEntry {
            ts: now() - chrono::Duration::minutes(100 - seq),
            actor: actor.into(),
            action: action.into(),
            target: target.into(),
            outcome: "ok".into(),
            detail: detail.into(),
        },
        prev_hash: String::new(),
        hash: String::new(),
    }
}

/// The frame at `w` x `h`, one line per row.
pub fn frame(app: &App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.render(f)).unwrap();
    let buf = t.backend().buffer();
    let mut s = String::new();
    for y in 0..h {
        for x in 0..w {
            s.push_str(buf.cell((x, y)).unwrap().symbol());
        }
        s.push('\n');
    }
    s
}

/// Press a key; what it decided.
pub fn press(app: &mut App, code: KeyCode) -> Vec<Effect> {
    app.update(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn key(app: &mut App, c: char) -> Vec<Effect> {
    press(app, KeyCode::Char(c))
}

pub fn typed(app: &mut App, s: &str) {
    for c in s.chars() {
        key(app, c);
    }
}

/// The row of `frame` holding `needle`.
pub fn row_with<'a>(frame: &'a str, needle: &str) -> &'a str {
    frame
        .lines()
        .find(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no row holds {needle:?}:\n{frame}"))
}
