//! The engine's error type.
//!
//! Every error an operator can see says three things: what failed, on which
//! object, and what to do next. Engine code builds them with the
//! constructors below; `main` maps them to exit codes.

use std::fmt;
use std::path::Path;

/// What kind of failure this is; the CLI maps kinds to exit codes and the
/// job engine decides from it whether a retry could help.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The operator asked for something impossible (bad flag, bad config value).
    Usage,
    /// Something on disk or in the network failed (I/O, permissions, disk full).
    Io,
    /// An artifact, manifest, key or catalog failed an integrity check.
    Integrity,
    /// A key is missing, wrong, or unusable.
    Key,
    /// The thing asked for does not exist (backup id, file, key).
    NotFound,
    /// The operation was refused to protect data (unsafe tar entry, would overwrite).
    Refused,
    /// The operation was cancelled by the operator.
    Cancelled,
    /// An external tool (pg_dump, git) failed.
    External,
}

/// An engine error: kind, a message naming the object and the cause, and a
/// hint telling the operator what to do next.
#[derive(Debug)]
pub struct Error {
    pub kind: ErrorKind,
    pub message: String,
    pub hint: Option<String>,
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    /// Attach the next step the operator should take.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn usage(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Usage, message)
    }
    pub fn integrity(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Integrity, message)
    }
    pub fn key(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Key, message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::NotFound, message)
    }
    pub fn refused(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, message)
    }
    pub fn cancelled(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Cancelled, message)
    }
    pub fn external(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::External, message)
    }

    /// An I/O error on a path, phrased for an operator ("disk full" rather
    /// than "os error 28") with a hint where one is obvious.
    pub fn io(action: &str, path: &Path, err: std::io::Error) -> Self {
        let (cause, hint) = describe_io(&err);
        let mut e = Error::new(
            ErrorKind::Io,
            format!("{action} {}: {cause}", path.display()),
        );
        if let Some(h) = hint {
            e.hint = Some(h.to_string());
        }
        e.source = Some(Box::new(err));
        e
    }

    /// True when the same operation might succeed if tried again later.
    pub fn is_retryable(&self) -> bool {
        matches!(self.kind, ErrorKind::Io | ErrorKind::External)
    }

    /// The text an operator reads: message, then the hint on its own line.
    pub fn display_with_hint(&self) -> String {
        match &self.hint {
            Some(h) => format!("{}\n  hint: {h}", self.message),
            None => self.message.clone(),
        }
    }
}

fn describe_io(err: &std::io::Error) -> (String, Option<&'static str>) {
    use std::io::ErrorKind as K;
    match err.raw_os_error() {
        Some(libc::ENOSPC) => return (
            "no space left on device".into(),
            Some("free space on that filesystem (or prune old backups with care) and run it again"),
        ),
        Some(libc::EDQUOT) => {
            return (
                "disk quota exceeded".into(),
                Some("raise the quota or free space, then run it again"),
            )
        }
        Some(libc::EFBIG) => {
            return (
                "file too large for this filesystem or process limit".into(),
                Some("check `ulimit -f` and the filesystem's limits"),
            )
        }
        Some(libc::EROFS) => {
            return (
                "filesystem is read-only".into(),
                Some("choose a writable location"),
            )
        }
        _ => {}
    }
    match err.kind() {
        K::NotFound => (
            "no such file or directory".into(),
            Some("check the path exists and is spelled right"),
        ),
        K::PermissionDenied => (
            "permission denied".into(),
            Some("check ownership and mode, or run as a user that can read/write it"),
        ),
        K::AlreadyExists => (
            "already exists".into(),
            Some("choose a new location, or remove the existing one first"),
        ),
        K::UnexpectedEof => (
            "file ends early (truncated)".into(),
            Some("the file is incomplete; use another backup"),
        ),
        _ => (err.to_string(), None),
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|e| e.as_ref() as &(dyn std::error::Error + 'static))
    }
}

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        Error::new(ErrorKind::Io, format!("catalog database error: {err}"))
            .hint(
                "if the catalog file is damaged, move it aside and run `lifeboat catalog rebuild`",
            )
            .with_source(err)
    }
}
