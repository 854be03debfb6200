//! Named crash points: the steps of the commit protocol (docs/FORMAT.md,
//! section 9) where a test can make the process die as `kill -9` would.
//!
//! `LIFEBOAT_CRASH_AT=backup.manifest-written` (a comma-separated list is
//! allowed) makes the process send itself SIGKILL when it reaches that
//! point: no destructor, no `Drop`, no flush runs, exactly what a power cut
//! or the OOM killer leaves. The tests in tests/crash.rs kill the real
//! binary at every name in [`POINTS`] and check what the next start finds.
//! Unset (production), a point costs one relaxed load of a cached flag.
//!
//! This is SQLite's test-VFS idea and restic's fault-injecting backends at
//! the granularity of our own protocol steps, instead of a `sleep` and a
//! hope.

use std::sync::OnceLock;

/// Every crash point, in the order a run reaches them. A test per name.
pub const POINTS: &[&str] = &[
    // backup (every type): see docs/FORMAT.md section 9
    "backup.sealed",
    "backup.payload-published",
    "backup.published",
    "backup.manifest-written",
    "backup.recorded",
    // restore of files (new directory, existing directory, in place)
    "restore.safety-copy-taken",
    "restore.writing",
    "restore.written",
    // restore of a database
    "db-restore.loading",
    // a plaintext dump in the restore scratch: the whole dump for
    // `--jobs` over a one-session payload, or a parallel payload's pg_dump
    // part for its post-data section
    "db-restore.spooled",
    "db-restore.loaded",
    "db-restore.swapped",
    // prune / delete
    "delete.manifest-removed",
    // key rotation
    "key-rotate.rewrapped-one",
    // catalog rebuild
    "rebuild.filled",
];

/// Steps that can be made to fail (an error, not a kill) with
/// `LIFEBOAT_FAIL_AT`, for the paths a crash cannot reach: what a step does
/// when its write fails (a full disk under the catalog, say).
pub const FAULTS: &[&str] = &["backup.record"];

fn armed() -> &'static [String] {
    static ARMED: OnceLock<Vec<String>> = OnceLock::new();
    ARMED.get_or_init(|| names("LIFEBOAT_CRASH_AT"))
}

/// An injected failure when `LIFEBOAT_FAIL_AT` names `step`.
pub fn fault(step: &str) -> crate::error::Result<()> {
    static FAULTY: OnceLock<Vec<String>> = OnceLock::new();
    debug_assert!(FAULTS.contains(&step), "unknown fault {step}");
    if FAULTY
        .get_or_init(|| names("LIFEBOAT_FAIL_AT"))
        .iter()
        .any(|p| p == step)
    {
        return Err(crate::error::Error::io(
            "cannot write (injected by LIFEBOAT_FAIL_AT)",
            std::path::Path::new(step),
            std::io::Error::from_raw_os_error(libc::ENOSPC),
        ));
    }
    Ok(())
}

fn names(var: &str) -> Vec<String> {
    std::env::var(var)
        .map(|v| {
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Wait here, once per process, when `LIFEBOAT_HOLD_AT` names `point`,
/// until `released()` says so (or two minutes pass). A test holds a run at a
/// known step to cancel or kill it there, instead of racing a fast machine:
/// `restore.writing` holds a restore after its first entry, and
/// `backup.sealed` a backup past its last safe point, until its job is
/// cancelled (or the process is killed). Unset, it costs one cached load.
pub fn hold(point: &str, released: impl Fn() -> bool) {
    static HOLDS: OnceLock<Vec<String>> = OnceLock::new();
    static HELD: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    debug_assert!(POINTS.contains(&point), "unknown hold point {point}");
    let holds = HOLDS.get_or_init(|| names("LIFEBOAT_HOLD_AT"));
    if holds.is_empty()
        || !holds.iter().any(|p| p == point)
        || HELD.swap(true, std::sync::atomic::Ordering::Relaxed)
    {
        return;
    }
    eprintln!("lifeboat: hold point {point} reached (LIFEBOAT_HOLD_AT): waiting");
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while !released() && std::time::Instant::now() < until {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Die here, as `kill -9` would, when `LIFEBOAT_CRASH_AT` names `point`.
pub fn hit(point: &str) {
    debug_assert!(POINTS.contains(&point), "unknown crash point {point}");
    let armed = armed();
    if armed.is_empty() || !armed.iter().any(|p| p == point) {
        return;
    }
    eprintln!("lifeboat: crash point {point} reached (LIFEBOAT_CRASH_AT): killing this process");
    // SAFETY: sending a signal to ourselves; SIGKILL cannot be caught, so
    // nothing after this line runs.
    unsafe {
        libc::kill(libc::getpid(), libc::SIGKILL);
    }
    std::process::abort();
}
