//! The file index: one JSON line per path, in [`path_cmp`] order.
//!
//! Keys are short because an index of a million files is read on every
//! incremental. Paths that are valid UTF-8 are written as text (`p`) so the
//! index stays greppable; anything else is base64 (`pb`).

use std::cmp::Ordering;
use std::io::{BufRead, Read, Write};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use serde::{Deserialize, Serialize};

use super::{path_cmp, show};
use crate::error::{Error, Result};

/// What a path is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// A named pipe (FIFO): no content, recreated with `mkfifo`.
    Fifo,
    /// Present in the parent backup, gone now; a restore removes it.
    Deleted,
}

impl EntryKind {
    fn code(self) -> &'static str {
        match self {
            EntryKind::File => "f",
            EntryKind::Dir => "d",
            EntryKind::Symlink => "l",
            EntryKind::Fifo => "p",
            EntryKind::Deleted => "x",
        }
    }
    fn from_code(c: &str) -> Option<Self> {
        Some(match c {
            "f" => EntryKind::File,
            "d" => EntryKind::Dir,
            "l" => EntryKind::Symlink,
            "p" => EntryKind::Fifo,
            "x" => EntryKind::Deleted,
            _ => return None,
        })
    }
}

/// One path of a filesystem backup, as recorded at backup time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexEntry {
    /// Archive path (absolute source path without the leading `/`), raw bytes.
    pub path: Vec<u8>,
    pub kind: EntryKind,
    /// Permission, sticky and setuid/setgid bits (`st_mode & 0o7777`).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Content length for files (what the tar stores), 0 otherwise.
    pub size: u64,
    pub mtime_ns: i64,
    pub ctime_ns: i64,
    pub ino: u64,
    pub dev: u64,
    pub link_target: Option<Vec<u8>>,
    /// Hex SHA-256 of the content, for files.
    pub sha256: Option<String>,
    /// Hex SHA-256 of the entry's extended attributes (ACLs and
    /// capabilities included; see `xattrs::digest`), None when it has none.
    pub xattr_sha256: Option<String>,
    /// True when this artifact's tar holds the entry; false for files
    /// unchanged since the parent and for deletions.
    pub stored: bool,
    /// For a file with more than one name: the path of the first name of
    /// its inode in walk order, when that is not this entry. A restore
    /// makes the two one inode again.
    pub hard_link: Option<Vec<u8>>,
    /// The file's link count at backup time when above 1, else 0.
    pub nlink: u64,
    /// The file had holes: the tar stores only its data regions, and a
    /// restore recreates the holes.
    pub sparse: bool,
    /// For a sparse file, the bytes of its data regions (what a restore
    /// writes; its space need), else 0.
    pub sparse_data: u64,
}

impl IndexEntry {
    /// A deletion marker for `path`.
    pub fn deleted(path: Vec<u8>) -> Self {
        IndexEntry {
            path,
            kind: EntryKind::Deleted,
            mode: 0,
            uid: 0,
            gid: 0,
            size: 0,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 0,
            dev: 0,
            link_target: None,
            sha256: None,
            xattr_sha256: None,
            stored: false,
            hard_link: None,
            nlink: 0,
            sparse: false,
            sparse_data: 0,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct Line {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    p: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pb: Option<String>,
    k: String,
    #[serde(default)]
    m: u32,
    #[serde(default)]
    u: u32,
    #[serde(default)]
    g: u32,
    #[serde(default)]
    s: u64,
    #[serde(default)]
    mt: i64,
    #[serde(default)]
    ct: i64,
    #[serde(default)]
    i: u64,
    #[serde(default)]
    dv: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lb: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    h: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    xh: Option<String>,
    #[serde(default)]
    st: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    hlb: Option<String>,
    #[serde(default, skip_serializing_if = "is_zero")]
    n: u64,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    sp: bool,
    #[serde(default, skip_serializing_if = "is_zero")]
    sd: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

fn split_bytes(b: &[u8]) -> (Option<String>, Option<String>) {
    match std::str::from_utf8(b) {
        Ok(s) => (Some(s.to_string()), None),
        Err(_) => (None, Some(B64.encode(b))),
    }
}

fn join_bytes(
    text: Option<String>,
    b64: Option<String>,
    what: &str,
) -> Result<Option<Vec<u8>>, String> {
    match (text, b64) {
        (Some(t), None) => Ok(Some(t.into_bytes())),
        (None, Some(b)) => B64
            .decode(b)
            .map(Some)
            .map_err(|e| format!("{what} is not valid base64: {e}")),
        (None, None) => Ok(None),
        (Some(_), Some(_)) => Err(format!("{what} is given both as text and as base64")),
    }
}

/// Writes index entries as JSON lines, refusing any that break the walk order.
pub struct IndexWriter<W: Write> {
    out: W,
    last: Option<Vec<u8>>,
    written: u64,
}

impl<W: Write> IndexWriter<W> {
    pub fn new(out: W) -> Self {
        IndexWriter {
            out,
            last: None,
            written: 0,
        }
    }

    /// Append one entry; it must sort strictly after the previous one.
    pub fn write(&mut self, e: &IndexEntry) -> Result<()> {
        if let Some(last) = &self.last {
            if path_cmp(last, &e.path) != Ordering::Less {
                return Err(Error::integrity(format!(
                    "file index out of order: {} after {} (internal error)",
                    show(&e.path),
                    show(last)
                )));
            }
        }
        let (p, pb) = split_bytes(&e.path);
        let (l, lb) = match &e.link_target {
            Some(t) => split_bytes(t),
            None => (None, None),
        };
        let (hl, hlb) = match &e.hard_link {
            Some(t) => split_bytes(t),
            None => (None, None),
        };
        let line = Line {
            p,
            pb,
            k: e.kind.code().to_string(),
            m: e.mode,
            u: e.uid,
            g: e.gid,
            s: e.size,
            mt: e.mtime_ns,
            ct: e.ctime_ns,
            i: e.ino,
            dv: e.dev,
            l,
            lb,
            h: e.sha256.clone(),
            xh: e.xattr_sha256.clone(),
            st: e.stored,
            hl,
            hlb,
            n: e.nlink,
            sp: e.sparse,
            sd: e.sparse_data,
        };
        let mut buf = serde_json::to_vec(&line).expect("index line serializes");
        buf.push(b'\n');
        self.out.write_all(&buf).map_err(|err| {
            Error::io("write file index to", std::path::Path::new("<stream>"), err)
        })?;
        self.last = Some(e.path.clone());
        self.written += 1;
        Ok(())
    }

    /// Number of entries written so far.
    pub fn count(&self) -> u64 {
        self.written
    }

    /// Flush and hand back the underlying writer.
    pub fn finish(mut self) -> Result<W> {
        self.out.flush().map_err(|err| {
            Error::io("write file index to", std::path::Path::new("<stream>"), err)
        })?;
        Ok(self.out)
    }
}

/// The longest index line read: a path and a link target (each at most
/// PATH_MAX = 4 KiB, a third more as base64) and the metadata fit many
/// times over.
const MAX_LINE: usize = 256 * 1024;

/// Reads index entries back, checking syntax and order line by line.
pub struct IndexReader<R: BufRead> {
    input: R,
    line_no: u64,
    last: Option<Vec<u8>>,
    buf: Vec<u8>,
    failed: bool,
}

impl<R: BufRead> IndexReader<R> {
    pub fn new(input: R) -> Self {
        IndexReader {
            input,
            line_no: 0,
            last: None,
            buf: Vec::new(),
            failed: false,
        }
    }

    fn bad(&mut self, why: impl std::fmt::Display) -> Error {
        self.failed = true;
        Error::integrity(format!(
            "file index line {} is damaged: {why}",
            self.line_no
        ))
        .hint("the backup's index is corrupt; verify the artifact or use another backup")
    }

    fn parse(&mut self) -> Result<IndexEntry> {
        let buf = std::mem::take(&mut self.buf);
        let parsed = std::str::from_utf8(&buf)
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str::<Line>(t.trim_end()).map_err(|e| e.to_string()));
        self.buf = buf;
        let line = parsed.map_err(|e| self.bad(e))?;
        let kind = EntryKind::from_code(&line.k)
            .ok_or_else(|| self.bad(format!("unknown kind {:?}", line.k)))?;
        let path = match join_bytes(line.p, line.pb, "path") {
            Ok(Some(p)) if !p.is_empty() => p,
            Ok(_) => return Err(self.bad("no path")),
            Err(e) => return Err(self.bad(e)),
        };
        let link_target = join_bytes(line.l, line.lb, "link target").map_err(|e| self.bad(e))?;
        let hard_link = join_bytes(line.hl, line.hlb, "hard link").map_err(|e| self.bad(e))?;
        if let Some(last) = &self.last {
            if path_cmp(last, &path) != Ordering::Less {
                let msg = format!("{} is out of order (after {})", show(&path), show(last));
                return Err(self.bad(msg));
            }
        }
        self.last = Some(path.clone());
        Ok(IndexEntry {
            path,
            kind,
            mode: line.m,
            uid: line.u,
            gid: line.g,
            size: line.s,
            mtime_ns: line.mt,
            ctime_ns: line.ct,
            ino: line.i,
            dev: line.dv,
            link_target,
            sha256: line.h,
            xattr_sha256: line.xh,
            stored: line.st,
            hard_link,
            nlink: line.n,
            sparse: line.sp,
            sparse_data: line.sd,
        })
    }
}

impl<R: BufRead> Iterator for IndexReader<R> {
    type Item = Result<IndexEntry>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        loop {
            self.buf.clear();
            self.line_no += 1;
            // Bounded: a damaged or hostile index without newlines must
            // not be read into memory whole.
            let mut line = (&mut self.input).take(MAX_LINE as u64 + 1);
            match line.read_until(b'\n', &mut self.buf) {
                Ok(0) => return None,
                Ok(n) if n > MAX_LINE => {
                    return Some(Err(self.bad(format!(
                        "the line is longer than {} KiB, more than any path, link target and metadata need",
                        MAX_LINE >> 10
                    ))));
                }
                Ok(_) => {
                    if self.buf.iter().all(|c| c.is_ascii_whitespace()) {
                        continue;
                    }
                    return Some(self.parse());
                }
                Err(e) => {
                    self.failed = true;
                    return Some(Err(Error::io(
                        "read file index from",
                        std::path::Path::new("<stream>"),
                        e,
                    )));
                }
            }
        }
    }
}
