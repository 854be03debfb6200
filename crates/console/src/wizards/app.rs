//! The Panel app's own commands as the recovery runbook uses them: stop
//! it (isolate), start it (resume), and ask whether it is healthy.
//!
//! When a command is not configured the step is not skipped: it tells the
//! operator what to do by hand and which config key would automate it.

use std::sync::mpsc::{self, Receiver};
use std::time::Duration;

use ratatui::text::Line;

use super::runner::ChildRun;
use super::widgets::text;

/// Timeout of the health URL check.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(10);

/// Stop or start the app: run the configured shell command, or show the
/// instruction when there is none.
pub struct AppCommand {
    /// "stop" or "start".
    pub verb: &'static str,
    /// The config key, for the instruction.
    pub key: &'static str,
    pub command: String,
    pub run: Option<ChildRun>,
    /// The operator went on without running the command, saying the app
    /// was already in the state it would have put it in.
    pub skipped: bool,
}

impl AppCommand {
    pub fn new(verb: &'static str, key: &'static str, command: &str) -> AppCommand {
        AppCommand {
            verb,
            key,
            command: command.trim().to_string(),
            run: None,
            skipped: false,
        }
    }

    pub fn configured(&self) -> bool {
        !self.command.is_empty()
    }

    /// Start the command (again).
    pub fn start(&mut self) {
        if self.configured() {
            self.skipped = false;
            self.run = Some(ChildRun::shell(&self.command));
        }
    }

    /// Go on without running the command: the app is already stopped (or
    /// started), the operator says.
    pub fn skip(&mut self) {
        self.skipped = true;
    }

    /// The app's state the command brings about: "stopped", "started".
    fn state(&self) -> &'static str {
        if self.verb == "stop" {
            "stopped"
        } else {
            "started"
        }
    }

    pub fn running(&self) -> bool {
        self.run.as_ref().is_some_and(|r| !r.finished())
    }

    /// Ran to the end (successfully or not).
    pub fn ran(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.finished())
    }

    pub fn tick(&mut self) -> bool {
        self.run.as_mut().is_some_and(|r| r.tick())
    }

    /// One word for the runbook's timeline.
    pub fn outcome(&self) -> String {
        match &self.run {
            None if self.skipped => format!(
                "skipped: `{}` was not run (the app was already {}, the operator said)",
                self.command,
                self.state()
            ),
            None if self.configured() => "not run".into(),
            None => format!("done by hand (no [app] {} configured)", self.key),
            Some(r) if r.succeeded() => format!("`{}` succeeded", self.command),
            Some(r) => format!("`{}` FAILED ({})", self.command, r.status_text()),
        }
    }

    pub fn lines(&self) -> Vec<Line<'static>> {
        let mut v = Vec::new();
        if !self.configured() {
            v.push(text(format!(
                "No {} command is configured ([app] {} in the config file).",
                self.verb, self.key
            )));
            v.push(text(format!(
                "{} the Panel app by hand now (for example `systemctl {} panel`), then press Enter.",
                capitalise(self.verb),
                self.verb
            )));
            return v;
        }
        v.push(text(format!(
            "{} command: {}",
            capitalise(self.verb),
            self.command
        )));
        match &self.run {
            None if self.skipped => v.push(text(format!(
                "Skipped: not run, the app is already {} (recorded in the report).",
                self.state()
            ))),
            None => v.push(text(format!("Enter runs it to {} the app.", self.verb))),
            Some(r) if !r.finished() => v.extend(r.progress_lines(8)),
            Some(r) => {
                v.extend(r.outcome_lines(10));
                if !r.succeeded() {
                    v.push(text(format!(
                        "The {} command failed. r runs it again; Enter goes on anyway (make sure the app is {} by hand).",
                        self.verb,
                        self.state()
                    )));
                }
            }
        }
        v
    }
}

fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}

/// The app's health after a recovery: the configured command (exit 0 is
/// healthy), the configured URL (2xx is healthy), or neither.
pub struct AppHealth {
    pub command: Option<ChildRun>,
    command_text: String,
    url: String,
    url_rx: Option<Receiver<Result<u16, String>>>,
    pub url_result: Option<Result<u16, String>>,
}

impl AppHealth {
    pub fn new(command: &str, url: &str) -> AppHealth {
        AppHealth {
            command: None,
            command_text: command.trim().to_string(),
            url: url.trim().to_string(),
            url_rx: None,
            url_result: None,
        }
    }

    /// Start every configured check (off the UI thread).
    pub fn start(&mut self) {
        if !self.command_text.is_empty() {
            self.command = Some(ChildRun::shell(&self.command_text));
        }
        if !self.url.is_empty() {
            let (tx, rx) = mpsc::channel();
            let url = self.url.clone();
            std::thread::spawn(move || {
                let _ = tx.send(lifeboat_engine::health::probe::http_status(
                    &url,
                    HEALTH_TIMEOUT,
                ));
            });
            self.url_rx = Some(rx);
            self.url_result = None;
        }
    }

    pub fn running(&self) -> bool {
        self.command.as_ref().is_some_and(|c| !c.finished()) || self.url_rx.is_some()
    }

    /// A health command or URL is configured.
    pub fn configured(&self) -> bool {
        !self.command_text.is_empty() || !self.url.is_empty()
    }

    pub fn tick(&mut self) -> bool {
        let mut changed = self.command.as_mut().is_some_and(|c| c.tick());
        if let Some(rx) = &self.url_rx {
            match rx.try_recv() {
                Ok(r) => {
                    self.url_result = Some(r);
                    self.url_rx = None;
                    changed = true;
                }
                Err(mpsc::TryRecvError::Empty) => {}
                Err(mpsc::TryRecvError::Disconnected) => {
                    self.url_result = Some(Err("the health check thread ended".into()));
                    self.url_rx = None;
                    changed = true;
                }
            }
        }
        changed
    }

    /// None while checks run or when nothing is configured.
    pub fn healthy(&self) -> Option<bool> {
        if self.running() || (self.command.is_none() && self.url_result.is_none()) {
            return None;
        }
        let cmd_ok = self.command.as_ref().is_none_or(|c| c.succeeded());
        let url_ok = match &self.url_result {
            None => true,
            Some(Ok(code)) => (200..300).contains(code),
            Some(Err(_)) => false,
        };
        Some(cmd_ok && url_ok)
    }

    /// What was checked and what it answered, in one line for the record:
    /// "`CMD` exit 1; GET URL answered 200".
    pub fn summary(&self) -> String {
        let mut parts = Vec::new();
        if let Some(c) = &self.command {
            parts.push(format!(
                "`{}` {}",
                self.command_text,
                if c.succeeded() {
                    "succeeded".to_string()
                } else {
                    c.status_text()
                }
            ));
        }
        match &self.url_result {
            Some(Ok(code)) => parts.push(format!("GET {} answered {code}", self.url)),
            Some(Err(e)) => parts.push(format!("GET {}: {e}", self.url)),
            None => {}
        }
        parts.join("; ")
    }

    pub fn lines(&self) -> Vec<Line<'static>> {
        let mut v = Vec::new();
        if self.command_text.is_empty() && self.url.is_empty() {
            v.push(text("No app health check is configured ([app] health_command or health_url): check the Panel app by hand."));
            return v;
        }
        if let Some(c) = &self.command {
            if c.finished() {
                v.extend(c.outcome_lines(6));
            } else {
                v.extend(c.progress_lines(6));
            }
        }
        if !self.url.is_empty() {
            v.push(text(match &self.url_result {
                None => format!("GET {}: waiting for an answer...", self.url),
                Some(Ok(c)) if (200..300).contains(c) => {
                    format!("OK: GET {} answered {c}", self.url)
                }
                Some(Ok(c)) => format!("FAILED: GET {} answered {c}", self.url),
                Some(Err(e)) => format!("FAILED: {e}"),
            }));
        }
        v
    }
}
