//! lifeboat's engine: backup and disaster recovery for the Panel app,
//! without a face. The CLI (the `lifeboat` crate) and the console
//! (`lifeboat-console`) sit on this crate's public API; nothing here
//! depends on them, and it builds and tests on its own.
//!
//! Layers (dependencies point down): `ops` (use cases: backup, restore,
//! verify, jobs, daemon) -> the policies (`health`, `alerts`, `schedule`)
//! -> `sources` (PostgreSQL, files), `archive` (formats, compression,
//! encryption), `storage` (the repository on disk), `catalog` (SQLite: the
//! only module that speaks the catalog's SQL), `config`, `host`.
//! `.ci/module-cycles` checks that no two sibling modules, at any level,
//! import each other.

// Printing for the faces. `println!` panics when its reader has gone away
// (`lifeboat backup | head`, `2>&1 | head`); a verb that changes something
// must not die halfway for that, so what it prints goes through these,
// which drop the output instead. Defined before the modules so every module
// can use them.

/// `println!` to stdout that never panics.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}

/// `print!` to stdout that never panics.
#[macro_export]
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout(), $($arg)*);
    }};
}

/// `eprintln!` that never panics.
#[macro_export]
macro_rules! errln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

pub mod alerts;
pub mod archive;
pub mod cancel;
pub mod catalog;
pub use cancel::Cancel;
pub mod clock;
pub mod config;
pub mod crashpoint;
pub mod error;
#[cfg(test)]
mod fuzz_tests;
pub mod health;
pub mod host;
pub mod logging;
pub mod notice;
pub mod ops;
pub mod schedule;
pub mod sources;
pub mod storage;
pub mod units;
