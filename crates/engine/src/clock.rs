//! The engine's clock for decisions.
//!
//! Two kinds of "now" exist, and they are kept apart on purpose:
//!
//! - **Deciding** reads [`now`]: is a schedule slot due, which backups does
//!   retention keep, is the last full backup too old, is the newest backup
//!   stale (health). A face or a test moves
//!   this clock without waiting: the daemon, `prune` and `alerts run`
//!   take it as a value from here, and `LIFEBOAT_NOW` (RFC 3339) sets it
//!   for a whole process, which is how the integration tests run a week of
//!   schedules in a second.
//! - **Recording** reads the wall clock (`chrono::Utc::now()`): when a job
//!   started, a backup's `created_at`, a heartbeat, the stamp in a safety
//!   copy's name. Those must agree with other processes, with the lease
//!   that tells a live job from a dead one, and with file times; a test
//!   clock there would make a live job look dead. Choosing the "latest"
//!   backup is not a decision about time either: it is the newest there
//!   is, so a test clock set in the past must not hide newer backups.

use chrono::{DateTime, Utc};

/// The current time for decisions, or `LIFEBOAT_NOW` when set. An
/// unparsable value is ignored with a warning.
pub fn now() -> DateTime<Utc> {
    match std::env::var("LIFEBOAT_NOW") {
        Ok(s) if !s.is_empty() => match DateTime::parse_from_rfc3339(&s) {
            Ok(t) => t.with_timezone(&Utc),
            Err(e) => {
                crate::notice::say(
                    crate::notice::Level::Warning,
                    &format!("ignoring LIFEBOAT_NOW={s}: {e}"),
                );
                Utc::now()
            }
        },
        _ => Utc::now(),
    }
}
