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
    // a pull from a copy target (`catalog rebuild --from`, `recover
    // --from`, a restore whose files the repository lost): a data file
    // fetched and checked as a partial, published under its name, then
    // the manifest (the pull's commit point)
    "fetch.partial-written",
    "fetch.data-published",
    "fetch.manifest-written",
    // `copies --check`: inside the one catalog transaction that replaces
    // a target's listing and records what it found
    "check.recording",
    // hold points only: a copy about to send its first file, holding the
    // repository lock; a prune that has planned under the lock
    "copy.sending",
    "prune.planned",
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
/// until `released()` says so, or the file `LIFEBOAT_HOLD_UNTIL` names
/// exists (or two minutes pass). A test holds a run at a known step to
/// cancel or kill it there, or to start another process against it,
/// instead of racing a fast machine: `restore.writing` holds a restore
/// after its first entry, `backup.sealed` a backup past its last safe
/// point, `copy.sending` a copy holding the repository lock. Unset, it
/// costs one cached load.
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
    let release_file = std::env::var_os("LIFEBOAT_HOLD_UNTIL").map(std::path::PathBuf::from);
    let until = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let watch = release_file.as_deref().and_then(FileWatch::new);
    loop {
        if released()
            || release_file.as_deref().is_some_and(|f| f.exists())
            || std::time::Instant::now() >= until
        {
            break;
        }
        match &watch {
            // Wakes as soon as something is created in the file's
            // directory; `released()` is looked at every 100 ms.
            Some(w) => w.wait(100),
            None => std::thread::sleep(std::time::Duration::from_millis(20)),
        }
    }
    eprintln!("lifeboat: hold point {point} released");
}

/// An inotify watch on the directory of `LIFEBOAT_HOLD_UNTIL`'s file, so a
/// hold ends when the file appears rather than on the next poll.
struct FileWatch(libc::c_int);

impl FileWatch {
    fn new(file: &std::path::Path) -> Option<FileWatch> {
        use std::os::unix::ffi::OsStrExt;
        let dir = file.parent().filter(|d| !d.as_os_str().is_empty())?;
        let dir = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
        // SAFETY: plain syscalls on a descriptor this struct owns.
        unsafe {
            let fd = libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK);
            if fd < 0 {
                return None;
            }
            let mask = libc::IN_CREATE | libc::IN_MOVED_TO | libc::IN_CLOSE_WRITE;
            if libc::inotify_add_watch(fd, dir.as_ptr(), mask) < 0 {
                libc::close(fd);
                return None;
            }
            Some(FileWatch(fd))
        }
    }

    /// Wait up to `ms` for an event, and drain what came.
    fn wait(&self, ms: libc::c_int) {
        let mut pfd = libc::pollfd {
            fd: self.0,
            events: libc::POLLIN,
            revents: 0,
        };
        let mut buf = [0u8; 4096];
        // SAFETY: `pfd` and `buf` outlive the calls; the fd is ours.
        unsafe {
            if libc::poll(&mut pfd, 1, ms) > 0 {
                while libc::read(self.0, buf.as_mut_ptr().cast(), buf.len()) > 0 {}
            }
        }
    }
}

impl Drop for FileWatch {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this struct owns, once.
        unsafe {
            libc::close(self.0);
        }
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
