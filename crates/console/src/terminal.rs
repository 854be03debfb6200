//! Terminal setup and teardown. Whatever way the console ends (quit,
//! Ctrl-C, an error, a panic), the terminal is given back in the state it
//! was found: cooked mode, main screen, cursor visible, mouse reporting
//! off if the console turned it on.

use std::io::{self, Stdout, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::io::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};

use crossterm::cursor::{Hide, Show};
use crossterm::execute;
use crossterm::terminal::{
    disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen,
};
use ratatui::backend::CrosstermBackend;
use ratatui::Terminal;

pub type Term = Terminal<CrosstermBackend<Stdout>>;

/// Restores the terminal when dropped.
pub struct Guard;

/// The real stderr while it points at the session log (-1: not redirected).
static SAVED_STDERR: AtomicI32 = AtomicI32::new(-1);

/// Send stderr to `log` (0600) while the console draws: a warning printed
/// by the engine or a library would otherwise land in the middle of a frame.
fn redirect_stderr(log: &Path) -> io::Result<()> {
    if let Some(dir) = log.parent() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(log)?;
    // SAFETY: plain descriptor duplication; `file` stays open until dup2 is done.
    unsafe {
        let saved = libc::dup(2);
        if saved < 0 {
            return Err(io::Error::last_os_error());
        }
        if libc::dup2(file.as_raw_fd(), 2) < 0 {
            libc::close(saved);
            return Err(io::Error::last_os_error());
        }
        SAVED_STDERR.store(saved, Ordering::SeqCst);
    }
    Ok(())
}

fn restore_stderr() {
    let saved = SAVED_STDERR.swap(-1, Ordering::SeqCst);
    if saved >= 0 {
        // SAFETY: `saved` is the descriptor dup'ed in redirect_stderr.
        unsafe {
            libc::dup2(saved, 2);
            libc::close(saved);
        }
    }
}

/// The console turned the terminal's mouse reporting on.
static MOUSE_ON: AtomicBool = AtomicBool::new(false);

/// Clicks and the wheel, reported in SGR form (xterm's modes 1000 and
/// 1006, which crossterm reads). Not crossterm's `EnableMouseCapture`:
/// that also asks for every motion of the mouse (mode 1003), a stream of
/// reports the console has no use for and that costs bytes over SSH.
const MOUSE_REPORTING_ON: &str = "\x1b[?1000h\x1b[?1006h";
/// Every mode `MOUSE_REPORTING_ON` (or crossterm) may have set, off.
const MOUSE_REPORTING_OFF: &str = "\x1b[?1006l\x1b[?1015l\x1b[?1003l\x1b[?1002l\x1b[?1000l";

/// Turn the terminal's mouse reporting on or off (the effect of `m`).
/// Marked on before it is asked for, so that [`restore`] turns it off
/// even after a write that failed half-way.
pub fn switch_mouse(on: bool) -> io::Result<()> {
    let mut out = io::stdout();
    if on {
        MOUSE_ON.store(true, Ordering::SeqCst);
        out.write_all(MOUSE_REPORTING_ON.as_bytes())?;
    } else {
        out.write_all(MOUSE_REPORTING_OFF.as_bytes())?;
    }
    out.flush()?;
    MOUSE_ON.store(on, Ordering::SeqCst);
    Ok(())
}

/// Put the terminal in raw mode on the alternate screen, send stderr to
/// `log`, and install a panic hook that restores both before the panic
/// message is printed.
pub fn setup(log: &Path) -> io::Result<(Term, Guard)> {
    redirect_stderr(log)?;
    enable_raw_mode()?;
    let guard = Guard;
    execute!(io::stdout(), EnterAlternateScreen, Hide)?;
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore();
        previous(info);
    }));
    let terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    Ok((terminal, guard))
}

/// Best effort: every step runs even if an earlier one fails.
pub fn restore() {
    restore_stderr();
    let _ = disable_raw_mode();
    let mut out = io::stdout();
    if MOUSE_ON.swap(false, Ordering::SeqCst) {
        let _ = out.write_all(MOUSE_REPORTING_OFF.as_bytes());
    }
    let _ = execute!(out, LeaveAlternateScreen, Show);
    let _ = out.flush();
}

impl Drop for Guard {
    fn drop(&mut self) {
        restore();
    }
}
