//! How the console scales: a real catalog with 100,000 backups (each with a
//! manifest of realistic size) and 10,000 jobs, then
//!
//! - time to first frame: open the catalog, load every list, render the
//!   Dashboard (the screen the console opens on) and the Catalog screen
//!   into a 120x40 `TestBackend`;
//! - keystroke to frame: filter keystrokes, moving the selection, switching
//!   screens and re-sorting, each handled and drawn (median and worst);
//! - idle CPU: the console's own loop (a tick every 500 ms, background
//!   results applied, a frame when something changed) left alone for
//!   `LIFEBOAT_BENCH_IDLE_SECS` (default 60) seconds, process CPU time
//!   from getrusage (the background check threads included); and what
//!   one round of the periodic checks costs, amortised over their
//!   backstops;
//! - memory: resident set after the lists are loaded, and its peak.
//!
//! Run with `cargo bench --bench console`. The aims (issue 15): first
//! frame < 150 ms, any keystroke to frame < 30 ms, idle CPU < 0.5% of one
//! core, RSS < 64 MiB.

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

    let key = |c| KeyEvent::new(c, KeyModifiers::NONE);
    let mut first_dash = Vec::new();
    let mut first_cat = Vec::new();
    let mut filter = Vec::new();
    let mut keys = Vec::new();
    for run in 0..5 {
        let t = Instant::now();
        let mut app = Console::new(ctx.clone());
        let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
        term.draw(|f| app.render(f)).expect("draw");
        let dash = t.elapsed();
        app.screen = lifeboat_console::Screen::Catalog;
        term.draw(|f| app.render(f)).expect("draw");
        let cat = t.elapsed();
        assert_eq!(app.backups.len(), BACKUPS);
        first_dash.push(dash);
        first_cat.push(cat);
        println!("run {run}: first frame: Dashboard {dash:?}, then Catalog {cat:?}");
        app.settle(Duration::from_secs(120));

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
        app.handle_key(key(KeyCode::Enter));
        app.handle_key(key(KeyCode::Esc));
        // Every other kind of key: move, page, switch screens, sort.
        for code in [
            KeyCode::Char('j'),
            KeyCode::Char('j'),
            KeyCode::PageDown,
            KeyCode::Char('G'),
            KeyCode::Char('g'),
            KeyCode::Char('3'),
            KeyCode::Char('j'),
            KeyCode::Char('4'),
            KeyCode::Char('1'),
            KeyCode::Char('2'),
            KeyCode::Char('s'),
            KeyCode::Char('S'),
        ] {
            let t = Instant::now();
            app.handle_key(key(code));
            term.draw(|f| app.render(f)).expect("draw");
            let took = t.elapsed();
            if code == KeyCode::Char('s') {
                println!("run {run}: re-sort of all rows {took:?}");
            }
            keys.push(took);
        }
    }
    println!(
        "time to first frame (open + load {BACKUPS} backups, {JOBS} jobs + render the Dashboard at 120x40): median {:?} (aim < 150 ms); with the Catalog screen drawn too: {:?}",
        median(first_dash),
        median(first_cat)
    );
    let worst_filter = *filter.iter().max().unwrap();
    println!(
        "filter keystroke to frame: median {:?}, worst {worst_filter:?} over {} keys (aim < 30 ms)",
        median(filter.clone()),
        filter.len()
    );
    let worst_key = *keys.iter().max().unwrap();
    println!(
        "other keys to frame (j, PgDn, G, g, 1-4, s, S): median {:?}, worst {worst_key:?} over {} keys (aim < 30 ms)",
        median(keys.clone()),
        keys.len()
    );

    // Idle: the console's own loop, nothing changing.
    let mut app = Console::new(ctx.clone());
    let mut term = Terminal::new(TestBackend::new(120, 40)).expect("terminal");
    term.draw(|f| app.render(f)).expect("draw");
    app.settle(Duration::from_secs(120));
    let rss = status_kib("VmRSS");
    let idle_secs: u64 = std::env::var("LIFEBOAT_BENCH_IDLE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let cpu0 = cpu_time();
    let wall = Instant::now();
    while wall.elapsed() < Duration::from_secs(idle_secs) {
        if app.tick() {
            term.draw(|f| app.render(f)).expect("draw");
            app.dirty = false;
        }
        app.pump(lifeboat_console::app::PROBE_EVERY);
    }
    let idle_cpu = cpu_time() - cpu0;
    let idle_pct = 100.0 * idle_cpu.as_secs_f64() / wall.elapsed().as_secs_f64();
    println!(
        "idle over {:?}: {idle_cpu:?} CPU = {idle_pct:.3}% of one core",
        wall.elapsed()
    );
    // One round of the checks (R), what the backstops cost when they come.
    let cpu0 = cpu_time();
    app.handle_key(key(KeyCode::Char('R')));
    app.tick();
    app.settle(Duration::from_secs(300));
    let round = cpu_time() - cpu0;
    let amortised = 100.0 * round.as_secs_f64() / 180.0;
    println!(
        "one round of health + storage + audit + restore-evidence checks: {round:?} CPU; \
         amortised over the 3-minute health backstop (storage's is 15): at most {amortised:.3}% of one core"
    );
    println!(
        "memory (this bench process, after five consoles came and went): RSS {} MiB with every list loaded, peak {} MiB",
        rss / 1024,
        status_kib("VmHWM") / 1024
    );
    drop(app);
    real_binary(dir.path(), idle_secs);
}

/// The same catalog through the real binary in a 120x40 tmux pane, as an
/// operator meets it: time from starting the process to the Dashboard's
/// text on screen, keys to their screen (each includes a tmux capture,
/// ~1-3 ms), idle CPU from /proc/PID/stat, and the process's RSS.
fn real_binary(dir: &std::path::Path, idle_secs: u64) {
    let tmux_ok = std::process::Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    if !tmux_ok {
        println!("real binary: skipped (tmux is not installed)");
        return;
    }
    // A server per run: a new session on a server still shutting down
    // after kill-server can fail.
    let socket = std::cell::RefCell::new(String::new());
    let tmux = |args: &[&str]| {
        std::process::Command::new("tmux")
            .arg("-L")
            .arg(&*socket.borrow())
            .args(args)
            .output()
            .expect("tmux")
    };
    let screen =
        || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", "b"]).stdout).into_owned();
    let wait_for = |what: &dyn Fn(&str) -> bool, limit: Duration| -> Option<Duration> {
        let t = Instant::now();
        while t.elapsed() < limit {
            if what(&screen()) {
                return Some(t.elapsed());
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        None
    };
    let cmd = format!(
        "exec '{}' --config '{}'",
        env!("CARGO_BIN_EXE_lifeboat"),
        dir.join("lifeboat.toml").display()
    );
    let mut firsts = Vec::new();
    for run in 0..3 {
        *socket.borrow_mut() = format!("lifeboat-bench-{}-{run}", std::process::id());
        let t = Instant::now();
        tmux(&[
            "new-session",
            "-d",
            "-s",
            "b",
            "-x",
            "120",
            "-y",
            "40",
            &cmd,
        ]);
        let shown = wait_for(&|s| s.contains("Running jobs"), Duration::from_secs(30));
        let took = t.elapsed();
        assert!(
            shown.is_some(),
            "the console never drew its dashboard:\n{}",
            screen()
        );
        println!("real binary run {run}: process start to Dashboard text {took:?}");
        firsts.push(took);
        if run < 2 {
            tmux(&["kill-server"]);
        }
    }
    let pid: u32 =
        String::from_utf8_lossy(&tmux(&["list-panes", "-t", "b", "-F", "#{pane_pid}"]).stdout)
            .trim()
            .parse()
            .expect("pane pid");
    // Keys: to the Catalog screen, then a filter typed key by key.
    let mut keys = Vec::new();
    let key = |k: &str, shows: &dyn Fn(&str) -> bool| -> Duration {
        tmux(&["send-keys", "-t", "b", k]);
        wait_for(shows, Duration::from_secs(10)).expect("the key's screen")
    };
    keys.push(key("2", &|s| s.contains("Catalog:")));
    keys.push(key("/", &|s| s.contains("filter")));
    let mut typed = String::from("/");
    for c in ["r", "e", "l", "e", "a", "s", "e"] {
        typed.push_str(c);
        let want = typed.clone();
        keys.push(key(c, &|s: &str| s.contains(&want)));
    }
    keys.push(key("Enter", &|s| !s.contains("filter /")));
    let worst = *keys.iter().max().unwrap();
    println!(
        "real binary: key to screen (2, /, then 'release' typed, Enter): median {:?}, worst {worst:?} over {} keys (each includes a tmux capture)",
        median(keys.clone()),
        keys.len()
    );
    // Let the first background checks finish, then leave it alone.
    std::thread::sleep(Duration::from_secs(5));
    let ticks = || -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let after = stat.rsplit(')').next().unwrap_or("");
        let f: Vec<&str> = after.split_whitespace().collect();
        f.get(11).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
            + f.get(12).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0)
    };
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let t0 = ticks();
    let wall = Instant::now();
    std::thread::sleep(Duration::from_secs(idle_secs));
    let cpu = (ticks() - t0) as f64 / hz;
    let secs = wall.elapsed().as_secs_f64();
    let kib = |key: &str| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .unwrap_or_default()
            .lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    println!(
        "real binary: first Dashboard text median {:?} (aim < 150 ms); idle {cpu:.2} s CPU over {secs:.0} s = {:.3}% of one core (aim < 0.5%); RSS {} MiB, peak {} MiB (aim < 64 MiB)",
        median(firsts),
        100.0 * cpu / secs,
        kib("VmRSS") / 1024,
        kib("VmHWM") / 1024
    );
    tmux(&["send-keys", "-t", "b", "q"]);
    tmux(&["kill-server"]);
}

/// This process's user + system CPU time, all threads.
fn cpu_time() -> Duration {
    // SAFETY: getrusage fills the struct we hand it.
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| Duration::new(t.tv_sec as u64, t.tv_usec as u32 * 1000);
    tv(u.ru_utime) + tv(u.ru_stime)
}

/// A `kB` line of /proc/self/status.
fn status_kib(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
