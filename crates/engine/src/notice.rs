//! What the engine has to tell the operator outside any report: a catalog
//! rebuilt because it was missing, a key file with loose permissions, a
//! log file that cannot be written. The engine does not print: it hands
//! each notice to the sink the face installed (the CLI writes it to
//! stderr, the console shows it in its status line, where stderr would
//! tear the screen). Without a sink, notices go to stderr. Every notice is
//! also logged.

use std::sync::{Arc, RwLock};

/// How much a notice matters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Something the operator should know (e.g. a catalog was rebuilt).
    Note,
    /// Something the operator should fix.
    Warning,
}

impl Level {
    pub fn as_str(self) -> &'static str {
        match self {
            Level::Note => "note",
            Level::Warning => "warning",
        }
    }
}

/// Where notices go.
pub type Sink = Arc<dyn Fn(Level, &str) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Install `sink` (None: back to stderr); returns the one it replaces, so
/// a face that takes over the terminal can give it back when it leaves.
pub fn set_sink(sink: Option<Sink>) -> Option<Sink> {
    let mut g = SINK.write().unwrap_or_else(|p| p.into_inner());
    std::mem::replace(&mut *g, sink)
}

/// Tell the operator.
pub fn say(level: Level, message: &str) {
    // Logged under its own target: the log file keeps it, the stderr log
    // layer does not print it a second time.
    match level {
        Level::Note => tracing::info!(target: "notice", "{message}"),
        Level::Warning => tracing::warn!(target: "notice", "{message}"),
    }
    let sink = SINK.read().unwrap_or_else(|p| p.into_inner()).clone();
    match sink {
        Some(f) => f(level, message),
        None => crate::errln!("{}: {message}", level.as_str()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn notices_go_to_the_installed_sink_and_back() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = Arc::clone(&got);
        let before = set_sink(Some(Arc::new(move |l, m| {
            g.lock().unwrap().push(format!("{}: {m}", l.as_str()))
        })));
        say(Level::Warning, "key file is group-readable");
        let mine = set_sink(before);
        assert!(mine.is_some());
        assert_eq!(
            got.lock().unwrap().as_slice(),
            ["warning: key file is group-readable"]
        );
    }
}
