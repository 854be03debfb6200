//! The CLI's [`Progress`]: an indicatif bar on a terminal, plain lines
//! otherwise (cron, pipes, CI logs), nothing with `--json`.

use std::cell::RefCell;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use lifeboat_engine::ops::Progress;

pub enum CliProgress {
    Bar(RefCell<Option<ProgressBar>>),
    Lines(RefCell<Option<Instant>>),
    Quiet,
}

impl CliProgress {
    pub fn new(json: bool) -> CliProgress {
        if json {
            CliProgress::Quiet
        } else if std::io::stderr().is_terminal() {
            CliProgress::Bar(RefCell::new(None))
        } else {
            CliProgress::Lines(RefCell::new(None))
        }
    }

    pub fn done(&self) {
        if let CliProgress::Bar(b) = self {
            if let Some(bar) = b.borrow_mut().take() {
                bar.finish_and_clear();
            }
        }
    }
}

impl Progress for CliProgress {
    fn phase(&self, name: &str) {
        match self {
            CliProgress::Bar(b) => {
                let mut b = b.borrow_mut();
                if let Some(bar) = b.as_ref() {
                    bar.set_message(name.to_string());
                } else {
                    let bar =
                        ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr_with_hz(8));
                    bar.set_style(
                        ProgressStyle::with_template("{spinner} {msg:30} {bytes:>10}/{total_bytes:10} {bytes_per_sec:>12} eta {eta}")
                            .unwrap(),
                    );
                    bar.enable_steady_tick(Duration::from_millis(250));
                    bar.set_message(name.to_string());
                    *b = Some(bar);
                }
            }
            CliProgress::Lines(_) => errln!("... {name}"),
            CliProgress::Quiet => {}
        }
    }
    fn total(&self, bytes: Option<u64>, _items: Option<u64>) {
        if let CliProgress::Bar(b) = self {
            if let (Some(bar), Some(t)) = (b.borrow().as_ref(), bytes) {
                bar.set_length(t);
            }
        }
    }
    fn advance(&self, bytes_done: u64, items_done: u64) {
        match self {
            CliProgress::Bar(b) => {
                if let Some(bar) = b.borrow().as_ref() {
                    bar.set_position(bytes_done);
                }
            }
            CliProgress::Lines(last) => {
                let now = Instant::now();
                let mut last = last.borrow_mut();
                if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(10)) {
                    *last = Some(now);
                    errln!(
                        "    {} read, {items_done} items",
                        humansize::format_size(bytes_done, humansize::BINARY)
                    );
                }
            }
            CliProgress::Quiet => {}
        }
    }
    fn note(&self, message: &str) {
        match self {
            CliProgress::Bar(b) => match b.borrow().as_ref() {
                Some(bar) => bar.println(format!("warning: {message}")),
                None => errln!("warning: {message}"),
            },
            CliProgress::Lines(_) => errln!("warning: {message}"),
            CliProgress::Quiet => {}
        }
    }
}

/// Plain lines tagged with the backup type, for `backup --all`, where
/// several backups report at once (bars would overwrite each other).
pub struct TaggedLines {
    tag: String,
    quiet: bool,
    last: std::sync::Mutex<Option<Instant>>,
}

impl TaggedLines {
    pub fn new(tag: &str, quiet: bool) -> TaggedLines {
        TaggedLines {
            tag: tag.to_string(),
            quiet,
            last: std::sync::Mutex::new(None),
        }
    }
}

impl Progress for TaggedLines {
    fn phase(&self, name: &str) {
        if !self.quiet {
            errln!("[{}] {name}", self.tag);
        }
    }
    fn total(&self, _bytes: Option<u64>, _items: Option<u64>) {}
    fn advance(&self, bytes_done: u64, _items_done: u64) {
        if self.quiet {
            return;
        }
        let now = Instant::now();
        let mut last = self.last.lock().unwrap();
        if last.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(5)) {
            *last = Some(now);
            errln!(
                "[{}]     {} read",
                self.tag,
                humansize::format_size(bytes_done, humansize::BINARY)
            );
        }
    }
    fn note(&self, message: &str) {
        if !self.quiet {
            errln!("[{}] warning: {message}", self.tag);
        }
    }
}
