//! The operations console: `lifeboat` with no verb.
//!
//! One UI thread owns the [`App`] and blocks on a channel. An input thread
//! turns terminal events into messages; background threads (health,
//! storage, audit chain, deletions, child processes) send their results;
//! a timer probes the catalog with `PRAGMA data_version` every 500 ms (one
//! pragma, no table read) and reloads only what changed. A frame is drawn
//! only when something changed, or once a second while jobs run (elapsed
//! times and ETAs move), inside a synchronized update so a slow SSH link
//! never sees half a frame. Idle, the console costs two tiny wake-ups a
//! second.
//!
//! The wizards (restore, recovery, backup, drill, prune) live here too, in
//! [`wizards`]; both sit on the engine's public API only.

#[macro_use]
extern crate lifeboat_engine;

pub mod app;
pub mod background;
pub mod cells;
pub mod data;
pub mod effects;
pub mod fmt;
pub mod help;
mod input;
pub mod joblog;
pub mod keymap;
mod lists;
pub mod palette;
pub mod status;
mod terminal;
pub mod views;
pub mod wizards;

#[cfg(test)]
mod ui_tests;

use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{select, Receiver};
use crossterm::event::{Event, KeyEventKind};
use crossterm::execute;
use crossterm::terminal::{BeginSynchronizedUpdate, EndSynchronizedUpdate};

pub use app::{App, AppContext, Screen};
pub use effects::Console;

use lifeboat_engine::config::Config;
use lifeboat_engine::error::{Error, Result};

impl App {
    /// Draw the console into a frame of any backend.
    pub fn render(&self, frame: &mut ratatui::Frame) {
        views::render(self, frame);
    }
}

/// True when `NO_COLOR` asks for no colours (any non-empty value).
pub fn no_color_requested() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// True when `LIFEBOAT_MOUSE` asks for the mouse from the start (`1`,
/// `true`, `yes` or `on`). It is off by default, as in k9s: with it on,
/// the terminal no longer selects text with a plain drag.
pub fn mouse_requested() -> bool {
    std::env::var("LIFEBOAT_MOUSE")
        .is_ok_and(|v| matches!(v.to_lowercase().as_str(), "1" | "true" | "yes" | "on"))
}

/// Whether the console can draw here (stdout and stdin are terminals).
pub fn can_draw() -> bool {
    io::stdout().is_terminal() && io::stdin().is_terminal()
}

/// Run the console until the operator quits, or `stop` is set (SIGTERM or
/// SIGINT, through the CLI's signal handler; the terminal is restored either
/// way). Returns the exit code.
pub fn run(
    config: Config,
    config_path: Option<PathBuf>,
    stop: &lifeboat_engine::Cancel,
) -> Result<i32> {
    if !can_draw() {
        return Err(Error::usage(
            "the console needs a terminal, but stdin or stdout is not one",
        )
        .hint("run a verb instead (`lifeboat --help` lists them), or start lifeboat in a terminal"));
    }
    let exe = std::env::current_exe()
        .map_err(|e| Error::external(format!("cannot find the lifeboat binary: {e}")))?;
    let ctx = AppContext {
        config_path: config_path.or_else(|| config.source.clone()),
        config,
        exe,
        no_color: no_color_requested(),
    };
    let term_err = |e: io::Error| Error::external(format!("terminal: {e}"));
    let log = ctx
        .config
        .catalog
        .path
        .parent()
        .unwrap_or(std::path::Path::new("."))
        .join("console-logs")
        .join(format!("console-{}.log", std::process::id()));
    let (mut terminal, guard) = terminal::setup(&log).map_err(term_err)?;
    // Notices raised while the console opens (a catalog rebuilt from the
    // repository) wait for its status line.
    let early: std::sync::Arc<std::sync::Mutex<Vec<(bool, String)>>> = Default::default();
    let keep = std::sync::Arc::clone(&early);
    let before = lifeboat_engine::notice::set_sink(Some(std::sync::Arc::new(
        move |level, message: &str| {
            if let Ok(mut v) = keep.lock() {
                v.push((
                    level == lifeboat_engine::notice::Level::Warning,
                    message.to_string(),
                ));
            }
        },
    )));
    let mut app = Console::new(ctx);
    app.set_clipboard(Box::new(|seq| {
        use std::io::Write;
        let mut out = io::stdout();
        out.write_all(seq.as_bytes())?;
        out.flush()
    }));
    app.set_mouse_switch(Box::new(terminal::switch_mouse));
    if mouse_requested() {
        app.set_mouse(true);
    }
    lifeboat_engine::notice::set_sink(Some(app.notice_sink()));
    let early = std::mem::take(&mut *early.lock().unwrap_or_else(|p| p.into_inner()));
    for (warning, message) in early {
        app.notice(warning, message);
    }
    let result = event_loop(&mut terminal, &mut app, stop).map_err(term_err);
    lifeboat_engine::notice::set_sink(before);
    drop(guard);
    match std::fs::metadata(&log) {
        Ok(m) if m.len() > 0 => errln!(
            "messages printed while the console was open are in {}",
            log.display()
        ),
        _ => {
            let _ = std::fs::remove_file(&log);
        }
    }
    result?;
    if !app.children.is_empty() {
        outln!(
            "{} job(s) started from the console are still running; follow them with `lifeboat status --follow`",
            app.children.len()
        );
    }
    Ok(0)
}

/// The shortest time between two frames that only show background news
/// (progress, refreshed lists): about ten a second at most.
const FRAME_GAP: Duration = Duration::from_millis(100);
/// The shortest time between two frames after a key: a typed filter shows
/// each keystroke at once (a terminal's repeat rate is ~30 a second), yet
/// a key held down cannot make the console draw without pause.
const KEY_FRAME_GAP: Duration = Duration::from_millis(16);

fn input_thread() -> Receiver<Event> {
    let (tx, rx) = crossbeam_channel::unbounded();
    std::thread::spawn(move || {
        while let Ok(ev) = crossterm::event::read() {
            if tx.send(ev).is_err() {
                break;
            }
        }
    });
    rx
}

fn event_loop(
    terminal: &mut terminal::Term,
    app: &mut Console,
    stop: &AtomicBool,
) -> io::Result<()> {
    let input = input_thread();
    let results = app.results();
    let mut next_probe = Instant::now() + app::PROBE_EVERY;
    let mut last_draw = Instant::now() - Duration::from_secs(10);
    // A key was handled since the last frame: its frame is drawn sooner.
    let mut keyed = false;
    loop {
        let progress_due = app.has_active_jobs() && last_draw.elapsed() >= Duration::from_secs(1);
        let gap = if keyed { KEY_FRAME_GAP } else { FRAME_GAP };
        if app.dirty || progress_due {
            // Merge bursts of background news: at most ~10 frames a second.
            if last_draw.elapsed() >= gap {
                execute!(io::stdout(), BeginSynchronizedUpdate)?;
                terminal.draw(|f| app.render(f))?;
                execute!(io::stdout(), EndSynchronizedUpdate)?;
                app.dirty = false;
                keyed = false;
                last_draw = Instant::now();
                // The first frame is up: now the heavier checks may run.
                app.start_background();
            }
        }
        if app.quit || stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        let wait = if app.dirty {
            let gap = if keyed { KEY_FRAME_GAP } else { FRAME_GAP };
            gap.saturating_sub(last_draw.elapsed())
        } else {
            next_probe.saturating_duration_since(Instant::now())
        };
        select! {
            recv(input) -> ev => match ev {
                Ok(Event::Key(k)) if k.kind != KeyEventKind::Release => {
                    app.handle_key(k);
                    keyed = true;
                }
                Ok(Event::Mouse(m)) => {
                    app.handle_mouse(m);
                    keyed |= app.dirty;
                }
                Ok(Event::Resize(_, _)) => {
                    terminal.autoresize()?;
                    app.dirty = true;
                }
                Ok(_) => {}
                Err(_) => return Ok(()),
            },
            recv(results) -> r => {
                if let Ok(r) = r {
                    app.apply(r);
                }
            },
            default(wait) => {}
        }
        if Instant::now() >= next_probe {
            app.tick();
            next_probe = Instant::now() + app::PROBE_EVERY;
        }
    }
}
