//! The repository's file system: size and free space (statvfs).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Space on one file system, as an unprivileged writer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DiskSpace {
    pub total: u64,
    /// Bytes available to unprivileged users (`f_bavail`).
    pub free: u64,
    /// Bytes in use (`f_blocks - f_bfree`).
    pub used: u64,
}

impl DiskSpace {
    /// Percent of the file system in use, as `df` counts it: the blocks
    /// reserved for root count neither as used nor as available.
    pub fn used_percent(&self) -> f64 {
        let usable = self.used + self.free;
        if usable == 0 {
            return 0.0;
        }
        self.used as f64 * 100.0 / usable as f64
    }
}

/// The path itself if it exists, else its nearest existing ancestor (a
/// missing repository still lives on some disk, and that disk is what fills).
pub fn existing_ancestor(path: &Path) -> PathBuf {
    let mut p = path.to_path_buf();
    while !p.exists() {
        match p.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => p = parent.to_path_buf(),
            _ => return PathBuf::from("/"),
        }
    }
    p
}

/// statvfs of the file system holding `path` (or its nearest ancestor).
pub fn space(path: &Path) -> std::io::Result<DiskSpace> {
    let at = existing_ancestor(path);
    let c = CString::new(at.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs writes into a zeroed struct we own; c is NUL-terminated.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let frsize = if st.f_frsize > 0 {
        st.f_frsize
    } else {
        st.f_bsize
    };
    Ok(DiskSpace {
        total: (st.f_blocks as u64).saturating_mul(frsize as u64),
        free: (st.f_bavail as u64).saturating_mul(frsize as u64),
        used: (st.f_blocks as u64)
            .saturating_sub(st.f_bfree as u64)
            .saturating_mul(frsize as u64),
    })
}

/// The mount point holding `path`: the longest `/proc/self/mounts` entry
/// that is a prefix of it (for advice such as "free space on /srv").
pub fn mount_point(path: &Path) -> PathBuf {
    let at = existing_ancestor(path);
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    mounts
        .lines()
        .filter_map(|l| l.split_whitespace().nth(1))
        .map(|m| PathBuf::from(m.replace("\\040", " ")))
        .filter(|m| at.starts_with(m))
        .max_by_key(|m| m.as_os_str().len())
        .unwrap_or_else(|| PathBuf::from("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn space_of_a_missing_path_is_that_of_its_ancestor() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("a/b/c");
        assert_eq!(existing_ancestor(&missing), dir.path());
        let s = space(&missing).unwrap();
        assert!(s.total > 0 && s.free <= s.total, "{s:?}");
        assert!(mount_point(&missing).is_absolute());
    }

    #[test]
    fn used_percent_is_what_df_shows() {
        // 100 blocks reserved for root: neither used nor available.
        let d = DiskSpace {
            total: 1000,
            free: 150,
            used: 750,
        };
        assert!((d.used_percent() - 750.0 * 100.0 / 900.0).abs() < 1e-9);
        let empty = DiskSpace {
            total: 0,
            free: 0,
            used: 0,
        };
        assert_eq!(empty.used_percent(), 0.0);
    }
}
