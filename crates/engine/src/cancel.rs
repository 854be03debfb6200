//! Cancellation as a value the face hands in. The CLI wires its SIGINT and
//! SIGTERM handlers to one (the console watches the same one to close); a
//! worker pool shares one with every job it runs; a test makes its own. Each job
//! then keeps its own flag (`Job::cancel_flag`), set from this one or from
//! a `lifeboat cancel` in the catalog, so one job can be cancelled without
//! the others.
//!
//! It is a shared flag (clones see the same signal), which is what lets a
//! job's heartbeat thread or a pool's tasks hold it without borrowing from
//! whoever made it. It dereferences to the `AtomicBool` the inner layers
//! (sources, archive writers) check at their safe points.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation signal: cheap to clone, every clone sees `cancel()`.
#[derive(Clone, Debug, Default)]
pub struct Cancel(Arc<AtomicBool>);

impl Cancel {
    /// A signal nobody has raised yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Raise the signal; every clone sees it from its next check on.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// The shared flag itself, for code that registers it elsewhere
    /// (`signal_hook::flag::register`).
    pub fn shared(&self) -> Arc<AtomicBool> {
        Arc::clone(&self.0)
    }
}

impl From<Arc<AtomicBool>> for Cancel {
    fn from(flag: Arc<AtomicBool>) -> Self {
        Cancel(flag)
    }
}

impl std::ops::Deref for Cancel {
    type Target = AtomicBool;
    fn deref(&self) -> &AtomicBool {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_the_signal_and_separate_signals_do_not() {
        let a = Cancel::new();
        let b = a.clone();
        let other = Cancel::new();
        assert!(!b.is_cancelled());
        a.cancel();
        assert!(b.is_cancelled());
        assert!(
            b.load(Ordering::Relaxed),
            "the flag the sources read is the same one"
        );
        assert!(!other.is_cancelled());
    }
}
