//! How the console scales: a real catalog with 100,000 backups (each with a
//! manifest of realistic size) and 10,000 jobs, then
//!
//! - time to first frame: open the catalog, load every list, render the
//!   Catalog screen into a 120x40 `TestBackend`;
//! - time to apply a filter: one keystroke in the `/` filter (recompute the
//!   view over all rows) and the frame that shows it, median of 15 runs.
//!
//! Run with `cargo bench --bench console`. The aims are 200 ms and 50 ms.

use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use lifeboat_console::{AppContext, Console};
use lifeboat_engine::catalog::Catalog;
use lifeboat_engine::config::Config;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const BACKUPS: usize = 100_000;
const JOBS: usize = 10_000;

fn fill(path: &std::path::Path) {
    drop(Catalog::open(path).expect("catalog"));
    let mut conn = rusqlite::Connection::open(path).expect("open");
    let tx = conn.transaction().expect("tx");
    let manifest = format!(
        "{{\"format\":\"lifeboat-manifest/1\",\"source\":{{\"paths\":[\"/srv/panel/uploads\",\"/srv/panel/logs\"]}},\"files\":{{\"files\":1200,\"dirs\":40,\"symlinks\":2,\"bytes\":123456789,\"stored\":1200,\"unchanged\":0,\"deleted\":0}},\"warnings\":[],\"pad\":\"{}\"}}",
        "x".repeat(900)
    );
    {
        let mut ins = tx
            .prepare(
                "INSERT INTO backups (id, type, name, kind, parent_id, created_at, finished_at, \
                 status, size, stored_size, encrypted, key_id, file, sha256, verified_at, \
                 verify_result, warnings, job_id, manifest_json) \
                 VALUES (?1, ?2, ?3, ?4, NULL, ?5, ?5, ?6, ?7, ?8, 1, 'k1', ?9, 'abc', NULL, ?10, 0, NULL, ?11)",
            )
            .expect("prepare");
        let types = ["database", "filesystem", "configuration"];
        let start = chrono::Utc::now() - chrono::Duration::hours(BACKUPS as i64);
        for i in 0..BACKUPS {
            let t = types[i % 3];
            let at = start + chrono::Duration::hours(i as i64);
            let ts = at.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
            let id = format!("{}-{}-{i:06x}", &t[..2], at.format("%Y%m%d-%H%M%S"));
            let name = (i % 10 == 0).then(|| format!("release-{i}"));
            let status = if i % 50 == 0 { "failed" } else { "succeeded" };
            let verify = (i % 4 == 0).then_some("ok");
            ins.execute(rusqlite::params![
                id,
                t,
                name,
                if i % 7 == 0 { "full" } else { "incremental" },
                ts,
                status,
                (i as i64) * 1000 + 5000,
                (i as i64) * 300 + 2000,
                format!("/var/backups/{t}/{id}.tar.zst"),
                verify,
                manifest,
            ])
            .expect("insert backup");
        }
        let mut ins = tx
            .prepare(
                "INSERT INTO jobs (kind, target, state, created_at, started_at, finished_at, \
                 updated_at, host, pid, bytes_done, bytes_total) \
                 VALUES (?1, ?2, 'succeeded', ?3, ?3, ?3, ?3, 'bench', 1, 1000, 1000)",
            )
            .expect("prepare jobs");
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
        for i in 0..JOBS {
            ins.execute(rusqlite::params![
                ["backup", "verify", "restore"][i % 3],
                "filesystem",
                now
            ])
            .expect("insert job");
        }
    }
    tx.commit().expect("commit");
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let catalog = dir.path().join("catalog.db");
    let t = Instant::now();
    fill(&catalog);
    let size = std::fs::metadata(&catalog).map(|m| m.len()).unwrap_or(0);
    println!(
        "catalog with {BACKUPS} backups and {JOBS} jobs: {} MB, filled in {:?}",
        size / 1_000_000,
        t.elapsed()
    );
    let toml = format!(
        "[repository]\npath = \"{d}/repo\"\n[catalog]\npath = \"{d}/catalog.db\"\n",
        d = dir.path().display()
    );
    let cfg = dir.path().join("lifeboat.toml");
    std::fs::write(&cfg, toml).expect("config");
    let config = Config::load(Some(&cfg), &|_| None, dir.path()).expect("config");
    let ctx = AppContext {
        config,
        config_path: Some(cfg),
        exe: "lifeboat".into(),
        no_color: false,
    };

    // Where the first frame's time goes.
    for _ in 0..2 {
        let t = Instant::now();
        let cat = Catalog::open_existing_light(&catalog).expect("open");
        let open = t.elapsed();
        let t = Instant::now();
        let (rows, _) = cat.backup_rows().expect("load");
        let load = t.elapsed();
        let t = Instant::now();
        let _ = cat.backups_fingerprint().expect("fingerprint");
        let fp = t.elapsed();
        let t = Instant::now();
        let jobs = lifeboat_console::data::load_jobs(&cat).expect("jobs");
        let jl = t.elapsed();
        let t = Instant::now();
        let view = lifeboat_console::data::backup_view(
            &rows,
            "",
            lifeboat_console::data::SortColumn::Created,
            true,
        );
        let sort = t.elapsed();
        println!(
            "breakdown: open {open:?}, load {} backups {load:?}, fingerprint query {fp:?}, load {} jobs {jl:?}, sort {} rows {sort:?}",
            rows.len(),
            jobs.len(),
            view.len()
        );
    }

    let mut first = Vec::new();
    let mut filter = Vec::new();
    for run in 0..5 {
        let t = Instant::now();
        let mut app = Console::new(ctx.clone());
        app.screen = lifeboat_console::Screen::Catalog;
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        term.draw(|f| app.render(f)).expect("draw");
        let took = t.elapsed();
        assert_eq!(app.backups.len(), BACKUPS);
        first.push(took);
        println!("run {run}: first frame {took:?}");
        app.settle(Duration::from_secs(120));

        let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
        app.handle_key(key(KeyCode::Char('/')));
        for (i, c) in "release-9".chars().enumerate() {
            let t = Instant::now();
            app.handle_key(key(KeyCode::Char(c)));
            term.draw(|f| app.render(f)).expect("draw");
            if i >= 6 {
                filter.push(t.elapsed());
            }
        }
        assert!(!app.backup_view.is_empty() && app.backup_view.len() < BACKUPS);
        // A full sort of 100k rows by another column.
        app.handle_key(key(KeyCode::Enter));
        app.handle_key(key(KeyCode::Esc));
        let t = Instant::now();
        app.handle_key(key(KeyCode::Char('s')));
        term.draw(|f| app.render(f)).expect("draw");
        println!("run {run}: re-sort of all rows {:?}", t.elapsed());
    }
    println!(
        "time to first frame (open + load {BACKUPS} backups, {JOBS} jobs + render 120x40): median {:?} (aim < 200 ms)",
        median(first)
    );
    println!(
        "time to apply a filter keystroke (+ render): median {:?} over {} runs (aim < 50 ms)",
        median(filter.clone()),
        filter.len()
    );
}
