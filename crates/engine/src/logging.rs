//! Logs: a terse stderr layer for the person at the terminal (`--verbose`,
//! `RUST_LOG`), and a structured, timestamped file for later, at the path
//! the seed's troubleshooting guide uses (`logs/backup.log`, from
//! `[logging] file`), rotated by size.
//!
//! The file opens once the configuration is known ([`open_file`]); events
//! before that go to stderr only. Several lifeboat processes may append to
//! one file: each line is one `write` on an `O_APPEND` descriptor, so lines
//! do not interleave; rotation is best effort (a process that rotates while
//! another writes loses no line, the other keeps writing to the renamed
//! file until its next rotation check).

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::Config;

/// Target of events kept for the record only (the log file, and the job
/// log in the catalog, which [`crate::ops::jobs::Job`] writes beside):
/// what a face already tells the operator in its own words. The error a
/// job ends with is the example: `main` prints it (a worker, the daemon
/// and the console show it their way), and a second copy on stderr from
/// this layer was every failed command's error printed twice. The stderr
/// layer never prints this target, whatever `--verbose` or `RUST_LOG` say.
pub const RECORD_ONLY: &str = "lifeboat::record";

struct Rotating {
    path: PathBuf,
    max_bytes: u64,
    keep: u32,
    file: File,
    size: u64,
}

impl Rotating {
    fn open(path: &Path, max_bytes: u64, keep: u32) -> std::io::Result<Rotating> {
        if let Some(dir) = path.parent() {
            crate::storage::local::create_dir_all_private(dir)
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)?;
        let size = file.metadata()?.len();
        Ok(Rotating {
            path: path.to_path_buf(),
            max_bytes,
            keep,
            file,
            size,
        })
    }

    /// backup.log -> backup.log.1 -> ... -> backup.log.<keep> (dropped).
    fn rotate(&mut self) -> std::io::Result<()> {
        let name = |i: u32| PathBuf::from(format!("{}.{i}", self.path.display()));
        if self.keep == 0 {
            let _ = std::fs::remove_file(&self.path);
        } else {
            for i in (1..self.keep).rev() {
                let _ = std::fs::rename(name(i), name(i + 1));
            }
            let _ = std::fs::rename(&self.path, name(1));
        }
        *self = Rotating::open(&self.path.clone(), self.max_bytes, self.keep)?;
        Ok(())
    }

    fn write_line(&mut self, buf: &[u8]) -> std::io::Result<()> {
        if self.size > 0 && self.size + buf.len() as u64 > self.max_bytes {
            // Another process may have rotated already: look at the file.
            let on_disk = std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0);
            if on_disk + buf.len() as u64 > self.max_bytes {
                self.rotate()?;
            } else {
                *self = Rotating::open(&self.path.clone(), self.max_bytes, self.keep)?;
            }
        }
        self.file.write_all(buf)?;
        self.size += buf.len() as u64;
        Ok(())
    }
}

fn sink() -> &'static Mutex<Option<Rotating>> {
    static SINK: OnceLock<Mutex<Option<Rotating>>> = OnceLock::new();
    SINK.get_or_init(|| Mutex::new(None))
}

/// One formatted event, written as one line when dropped.
struct LineWriter(Vec<u8>);

impl Write for LineWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LineWriter {
    fn drop(&mut self) {
        if self.0.is_empty() {
            return;
        }
        if let Ok(mut guard) = sink().lock() {
            if let Some(f) = guard.as_mut() {
                let _ = f.write_line(&self.0);
            }
        }
    }
}

/// Install the stderr and file layers. `RUST_LOG` sets both filters; else
/// stderr shows warnings (`--verbose`: debug) and the file keeps info.
/// Events under [`RECORD_ONLY`] go to the file only.
pub fn init(verbose: bool) {
    let env = std::env::var("RUST_LOG").ok().filter(|s| !s.is_empty());
    let stderr_filter = match &env {
        Some(s) => EnvFilter::new(s),
        None => EnvFilter::new(if verbose {
            "lifeboat=debug"
        } else {
            "lifeboat=warn"
        }),
    }
    .add_directive(
        format!("{RECORD_ONLY}=off")
            .parse()
            .expect("a valid directive"),
    );
    // Notices (`crate::notice`) reach the operator through the face's
    // sink; the file keeps them too, under their own target.
    let file_filter = match &env {
        // The recorded errors (RECORD_ONLY) stay in the file whatever
        // RUST_LOG names.
        Some(s) => EnvFilter::new(s).add_directive(
            format!("{RECORD_ONLY}=info")
                .parse()
                .expect("a valid directive"),
        ),
        None => EnvFilter::new(if verbose {
            "lifeboat=debug,notice=info"
        } else {
            "lifeboat=info,notice=info"
        }),
    };
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_ansi(colour_on_stderr())
        .with_target(false)
        .without_time()
        .with_filter(stderr_filter);
    let file = tracing_subscriber::fmt::layer()
        .with_writer(|| LineWriter(Vec::with_capacity(256)))
        .with_ansi(false)
        .with_target(true)
        .with_filter(file_filter);
    let _ = tracing_subscriber::registry()
        .with(stderr)
        .with(file)
        .try_init();
}

/// Colour only for a person at a terminal: never into a pipe, a file or a
/// cron mail (escape codes there are noise), and never with `NO_COLOR` set
/// to a non-empty value (https://no-color.org).
fn colour_on_stderr() -> bool {
    use std::io::IsTerminal;
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// Start writing the log file named by the configuration. A file that
/// cannot be opened is said once on stderr; lifeboat goes on without it.
pub fn open_file(config: &Config) {
    let Some(path) = config
        .logging
        .file
        .as_ref()
        .filter(|p| !p.as_os_str().is_empty())
    else {
        return;
    };
    let mut guard = match sink().lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    };
    if guard.as_ref().is_some_and(|r| &r.path == path) {
        return;
    }
    let max = u64::from(config.logging.max_size_mb.max(1)) << 20;
    match Rotating::open(path, max, config.logging.keep) {
        Ok(r) => *guard = Some(r),
        Err(e) => {
            // The log's own lock is released first: the notice is logged too.
            drop(guard);
            crate::notice::say(
                crate::notice::Level::Warning,
                &format!(
                    "cannot write the log file {}: {e} (set [logging] file, or \"\" to turn it off)",
                    path.display()
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_by_size_and_keeps_n_files() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/backup.log");
        let mut r = Rotating::open(&path, 100, 2).unwrap();
        for i in 0..20 {
            r.write_line(format!("line {i:02} ........................\n").as_bytes())
                .unwrap();
        }
        let read = |p: PathBuf| std::fs::read_to_string(p).unwrap_or_default();
        let current = read(path.clone());
        assert!(current.contains("line 19"), "{current}");
        assert!(current.len() <= 100, "{}", current.len());
        let one = read(dir.path().join("logs/backup.log.1"));
        assert!(one.contains("line 17") || one.contains("line 16"), "{one}");
        assert!(dir.path().join("logs/backup.log.2").exists());
        assert!(!dir.path().join("logs/backup.log.3").exists(), "keep = 2");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
}
