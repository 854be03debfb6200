//! The status line's messages and their history.
//!
//! [`crate::app::App::say`] is how anything tells the operator something: it shows
//! in the status line (an info fades after a while, a warning or an
//! error stays until the next message) and is kept in the history, the
//! last [`HISTORY_CAP`], which `M` or `:messages` opens: newest first,
//! each whole, so an error the status line had to cut can be read to its
//! end. A message repeated in a row (a retry that keeps failing) is one
//! entry with a count.

use std::time::Instant;

use chrono::{DateTime, Utc};

/// How much a message matters: the status line and the history write
/// "warning:" or "error:" before it (colour only adds to the word).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// One status line message.
#[derive(Debug, Clone)]
pub struct Message {
    pub level: Level,
    pub text: String,
    pub at: Instant,
    /// When it was shown (the history lists it with this time).
    pub when: DateTime<Utc>,
    /// How many times in a row it was shown (a retry that keeps failing
    /// is one entry of the history, not two hundred).
    pub repeats: u32,
}

/// Status line messages kept for the history (`M`), the oldest go first.
pub const HISTORY_CAP: usize = 200;
