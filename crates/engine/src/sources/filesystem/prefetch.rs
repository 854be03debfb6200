//! Warm the kernel's caches ahead of the (necessarily sequential, ordered)
//! backup walk: inodes and dentries for the whole tree, and the content of
//! the files the backup is about to read.
//!
//! A cold `lstat` walk of 20,000 files costs about a second on one thread
//! and is latency-bound, not bandwidth-bound: four threads bring it down to
//! well under half. The walk that follows then finds everything in memory.
//! Reading content has the same shape: one small file after another costs a
//! device round trip each (a cold serial read of the benchmark tree takes
//! 4.6 s, eight parallel readers 1.7 s). Errors are ignored here: the real
//! walk and the real reads report them.

use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Sender};

struct Queue {
    dirs: Vec<PathBuf>,
    busy: usize,
}

/// Stat every entry under `roots` using `threads` threads; returns when done.
pub fn prefetch_metadata(roots: &[PathBuf], threads: usize, stop: &Arc<AtomicBool>) {
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
            let stop = Arc::clone(stop);
            std::thread::spawn(move || {
                let (lock, cv) = &*shared;
                loop {
                    let dir = {
                        let mut q = lock.lock().unwrap();
                        loop {
                            // The backup it warms up for has ended: stop.
                            if stop.load(Ordering::Relaxed) {
                                q.dirs.clear();
                            }
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
                            if stop.load(Ordering::Relaxed) {
                                break;
                            }
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

/// Asks the kernel to read files into the page cache before the backup
/// reads them (`posix_fadvise(WILLNEED)`), so many reads are in flight at
/// once instead of one. Nothing is copied into this process: the hint
/// starts the device reads and returns, and the backup's own reads find the
/// pages cached. Dropping it stops the thread.
pub(crate) struct ContentPrefetch {
    tx: Option<Sender<PathBuf>>,
    threads: Vec<JoinHandle<()>>,
}

impl ContentPrefetch {
    /// Start `threads` hinting threads with room for `depth` queued paths.
    pub fn new(threads: usize, depth: usize) -> ContentPrefetch {
        let (tx, rx) = bounded::<PathBuf>(depth);
        let threads = (0..threads.max(1))
            .filter_map(|_| {
                let rx = rx.clone();
                std::thread::Builder::new()
                    .name("lifeboat-prefetch".into())
                    .spawn(move || {
                        for path in rx {
                            advise_will_need(&path);
                        }
                    })
                    .ok()
            })
            .collect();
        ContentPrefetch {
            tx: Some(tx),
            threads,
        }
    }

    /// Queue `path` for reading ahead; waits only while the queue is full.
    pub fn hint(&self, path: PathBuf) {
        if let Some(tx) = &self.tx {
            let _ = tx.send(path);
        }
    }
}

impl Drop for ContentPrefetch {
    fn drop(&mut self) {
        self.tx = None;
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

fn advise_will_need(path: &std::path::Path) {
    // O_NONBLOCK: a FIFO swapped in since the walk must not hang us.
    if let Ok(f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        unsafe {
            libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_WILLNEED);
        }
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
        prefetch_metadata(
            &[dir.path().to_path_buf(), dir.path().join("missing")],
            4,
            &Arc::new(AtomicBool::new(false)),
        );
    }

    #[test]
    fn content_hints_ignore_missing_files_and_stop_on_drop() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), vec![1u8; 100_000]).unwrap();
        let p = ContentPrefetch::new(2, 4);
        for _ in 0..10 {
            p.hint(dir.path().join("f"));
            p.hint(dir.path().join("missing"));
        }
        drop(p);
    }
}
