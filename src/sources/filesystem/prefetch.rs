//! Warm the kernel's inode and dentry caches for a tree with several
//! threads, ahead of the (necessarily sequential, ordered) backup walk.
//!
//! A cold `lstat` walk of 20,000 files costs about a second on one thread
//! and is latency-bound, not bandwidth-bound: four threads bring it down to
//! well under half. The walk that follows then finds everything in memory.
//! Errors are ignored here: the real walk reports them.

use std::path::PathBuf;
use std::sync::{Arc, Condvar, Mutex};

struct Queue {
    dirs: Vec<PathBuf>,
    busy: usize,
}

/// Stat every entry under `roots` using `threads` threads; returns when done.
pub fn prefetch_metadata(roots: &[PathBuf], threads: usize) {
    let shared = Arc::new((
        Mutex::new(Queue {
            dirs: roots.to_vec(),
            busy: 0,
        }),
        Condvar::new(),
    ));
    let workers: Vec<_> = (0..threads.max(1))
        .map(|_| {
            let shared = Arc::clone(&shared);
            std::thread::spawn(move || {
                let (lock, cv) = &*shared;
                loop {
                    let dir = {
                        let mut q = lock.lock().unwrap();
                        loop {
                            if let Some(d) = q.dirs.pop() {
                                q.busy += 1;
                                break Some(d);
                            }
                            if q.busy == 0 {
                                break None;
                            }
                            q = cv.wait(q).unwrap();
                        }
                    };
                    let Some(dir) = dir else {
                        cv.notify_all();
                        return;
                    };
                    let mut found = Vec::new();
                    if let Ok(rd) = std::fs::read_dir(&dir) {
                        for e in rd.flatten() {
                            // DirEntry::file_type is free on most filesystems;
                            // the lstat is what warms the inode cache.
                            if let Ok(m) = std::fs::symlink_metadata(e.path()) {
                                if m.is_dir() {
                                    found.push(e.path());
                                }
                            }
                        }
                    }
                    let mut q = lock.lock().unwrap();
                    q.dirs.extend(found);
                    q.busy -= 1;
                    cv.notify_all();
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.join();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visits_a_tree_and_returns() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..20 {
            std::fs::create_dir_all(dir.path().join(format!("a{i}/b/c"))).unwrap();
            std::fs::write(dir.path().join(format!("a{i}/b/c/f")), b"x").unwrap();
        }
        prefetch_metadata(&[dir.path().to_path_buf(), dir.path().join("missing")], 4);
    }
}
