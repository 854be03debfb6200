//! The full-screen job log: one job's whole log, scrollable, searchable,
//! and following a running job the way `tail -f` (or k9s's log view) does.
//!
//! [`LogView`] is plain state like the rest of [`crate::app::App`]: what
//! is held, where the operator is in it, what is searched for. The lines
//! come in through [`crate::app::Effect::ReadFullLog`] and the refresh
//! that follows a catalog change (both in `effects`), which read only the
//! lines logged since the last read, so following a long-running job
//! costs one small query per change. What is held is capped at
//! [`LOG_CAP`] lines, the newest: a chatty job cannot make the console
//! grow without bound, and the screen says how many older lines it let go.
//!
//! The view keeps the scroll position in lines (the renderer wraps them
//! and records what it showed), so a key's decision (`input::log_keys`)
//! never needs the terminal's size.

use std::cell::Cell;
use std::collections::VecDeque;

use lifeboat_engine::catalog::{JobLogLine, JobLogTail};

/// The most lines the full-screen log holds (the newest are kept).
pub const LOG_CAP: usize = 10_000;

/// One job's log, full screen.
#[derive(Debug)]
pub struct LogView {
    pub job: i64,
    /// The newest lines read so far, oldest first (at most the cap).
    pub lines: VecDeque<JobLogLine>,
    /// Lines of this log that are not held: older than the newest
    /// [`LOG_CAP`].
    pub dropped: u64,
    /// The first read has come back (until then the view says "reading").
    pub loaded: bool,
    /// Why the last read failed, shown in place until one succeeds.
    pub error: Option<String>,
    /// Stick to the newest line as lines arrive.
    pub follow: bool,
    /// The first line shown while not following (an index into `lines`).
    pub top: usize,
    /// What `/` searches for (case-insensitive); empty: no search.
    pub query: String,
    /// Indices of the held lines that match `query`, ascending.
    pub matches: Vec<usize>,
    /// The match `n`/`N` moved to (an index into `lines`).
    pub current: Option<usize>,
    /// Where the screen was when `/` was pressed: the search, refined as
    /// it is typed, looks from there.
    search_origin: Option<usize>,
    /// What the last frame showed: its first line, how many lines it
    /// showed whole, and the first line that still fills the screen to the
    /// end (the bottom of the scroll range). Kept by the renderer.
    pub shown_top: Cell<usize>,
    pub page: Cell<usize>,
    pub max_top: Cell<usize>,
}

impl LogView {
    /// A view of job `job`'s log, following it when `follow` (a job that
    /// is still running).
    pub fn new(job: i64, follow: bool) -> LogView {
        LogView {
            job,
            lines: VecDeque::new(),
            dropped: 0,
            loaded: false,
            error: None,
            follow,
            top: 0,
            query: String::new(),
            matches: Vec::new(),
            current: None,
            search_origin: None,
            shown_top: Cell::new(0),
            page: Cell::new(1),
            max_top: Cell::new(0),
        }
    }

    /// The position of the newest line held (the next read asks for the
    /// lines after it).
    pub fn last_seq(&self) -> i64 {
        self.lines.back().map_or(0, |l| l.seq)
    }

    /// Add what a read brought, keeping at most `cap` lines (the oldest go
    /// first; the scroll position and the search stay on the same lines).
    pub fn append(&mut self, tail: JobLogTail, cap: usize) {
        self.loaded = true;
        self.error = None;
        self.dropped += tail.skipped;
        let first_new = self.lines.len();
        self.lines.extend(tail.lines);
        let q = folded(&self.query);
        if !q.is_empty() {
            for i in first_new..self.lines.len() {
                if line_matches(&self.lines[i], &q) {
                    self.matches.push(i);
                }
            }
        }
        let excess = self.lines.len().saturating_sub(cap);
        if excess > 0 {
            self.lines.drain(..excess);
            self.dropped += excess as u64;
            self.top = self.top.saturating_sub(excess);
            self.shown_top
                .set(self.shown_top.get().saturating_sub(excess));
            self.matches.retain(|&i| i >= excess);
            for i in &mut self.matches {
                *i -= excess;
            }
            self.current = self.current.and_then(|c| c.checked_sub(excess));
        }
    }

    /// Scroll towards the start by `n` lines; following stops (the
    /// operator is reading something).
    pub fn up(&mut self, n: usize) {
        self.unfollow();
        self.top = self.top.saturating_sub(n);
    }

    /// Scroll towards the end by `n` lines (not past the last screenful).
    pub fn down(&mut self, n: usize) {
        if self.follow {
            return;
        }
        self.top = (self.top + n).min(self.max_top.get());
    }

    /// The first line, not following.
    pub fn to_start(&mut self) {
        self.follow = false;
        self.top = 0;
    }

    /// The end, following again.
    pub fn to_end(&mut self) {
        self.follow = true;
    }

    /// `f`: follow or stop following (staying where the screen is).
    pub fn toggle_follow(&mut self) {
        if self.follow {
            self.unfollow();
        } else {
            self.follow = true;
        }
    }

    fn unfollow(&mut self) {
        if self.follow {
            self.follow = false;
            self.top = self.shown_top.get();
        }
    }

    /// `/`: a search starts from what the screen shows now.
    pub fn begin_search(&mut self) {
        self.search_origin = Some(if self.follow {
            self.shown_top.get()
        } else {
            self.top
        });
    }

    /// Search for `query` (the search line's text as it is typed): the
    /// matches are found again and the first one at or after where the
    /// search began becomes the current one. Returns whether anything
    /// matched.
    pub fn search(&mut self, query: &str) -> bool {
        self.query = query.to_string();
        let q = folded(query);
        self.matches = if q.is_empty() {
            Vec::new()
        } else {
            (0..self.lines.len())
                .filter(|&i| line_matches(&self.lines[i], &q))
                .collect()
        };
        self.current = None;
        if self.matches.is_empty() {
            return false;
        }
        let from = self.search_origin.unwrap_or(self.top);
        let i = self.matches.partition_point(|&m| m < from) % self.matches.len();
        self.show_match(self.matches[i]);
        true
    }

    /// `n` (`forward`) or `N`: the next or previous match, wrapping around.
    /// Returns false when nothing matches.
    pub fn next_match(&mut self, forward: bool) -> bool {
        let n = self.matches.len();
        if n == 0 {
            return false;
        }
        let at = match self.current {
            Some(c) if forward => self.matches.partition_point(|&m| m <= c) % n,
            Some(c) => (self.matches.partition_point(|&m| m < c) + n - 1) % n,
            None if forward => 0,
            None => n - 1,
        };
        self.show_match(self.matches[at]);
        true
    }

    /// Which of the matches is current, counted from 1 (for "3 of 17").
    pub fn match_number(&self) -> Option<usize> {
        let c = self.current?;
        self.matches.binary_search(&c).ok().map(|i| i + 1)
    }

    /// Make line `i` the current match and bring it into view (a third of
    /// a screen from the top when it has to move).
    fn show_match(&mut self, i: usize) {
        self.current = Some(i);
        self.unfollow();
        let page = self.page.get().max(1);
        if i < self.top || i >= self.top + page {
            self.top = i.saturating_sub(page / 3);
        }
    }
}

/// Lower-case by characters one to one, so a match found in the folded
/// text is at the same character positions in the original.
pub fn folded(s: &str) -> Vec<char> {
    s.chars()
        .map(|c| c.to_lowercase().next().unwrap_or(c))
        .collect()
}

fn line_matches(line: &JobLogLine, q: &[char]) -> bool {
    !match_ranges(&folded(&line.message), q).is_empty()
        || !match_ranges(&folded(&line.level), q).is_empty()
}

/// Where `q` occurs in `text` (both folded): character ranges, not
/// overlapping, in order.
pub fn match_ranges(text: &[char], q: &[char]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    if q.is_empty() || q.len() > text.len() {
        return out;
    }
    let mut i = 0;
    while i + q.len() <= text.len() {
        if text[i..i + q.len()] == *q {
            out.push((i, i + q.len()));
            i += q.len();
        } else {
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn tail(from: i64, n: i64, skipped: u64) -> JobLogTail {
        JobLogTail {
            lines: (from..from + n)
                .map(|seq| JobLogLine {
                    seq,
                    ts: Utc::now(),
                    level: "info".into(),
                    message: if seq % 10 == 0 {
                        format!("line {seq} Checkpoint")
                    } else {
                        format!("line {seq}")
                    },
                })
                .collect(),
            skipped,
        }
    }

    #[test]
    fn the_cap_keeps_the_newest_lines_and_counts_the_rest() {
        let mut v = LogView::new(1, false);
        v.append(tail(1, 30, 5), 25);
        assert_eq!(v.lines.len(), 25);
        assert_eq!(v.lines[0].seq, 6);
        assert_eq!(v.dropped, 5 + 5, "5 never read, 5 let go");
        assert_eq!(v.last_seq(), 30);
        // Reading on: the position stays on the same line.
        v.top = 10;
        let at = v.lines[10].seq;
        v.append(tail(31, 4, 0), 25);
        assert_eq!(v.lines.len(), 25);
        assert_eq!(v.lines[v.top].seq, at);
        assert_eq!(v.dropped, 14);
    }

    #[test]
    fn scrolling_up_stops_following_and_g_end_resumes() {
        let mut v = LogView::new(1, true);
        v.append(tail(1, 100, 0), LOG_CAP);
        // What the renderer recorded: lines 80-99 on screen.
        v.shown_top.set(80);
        v.page.set(20);
        v.max_top.set(80);
        v.down(5);
        assert!(v.follow, "already at the end");
        v.up(1);
        assert!(!v.follow);
        assert_eq!(v.top, 79, "from what the screen showed");
        v.down(50);
        assert_eq!(v.top, 80, "not past the last screenful");
        v.to_start();
        assert_eq!((v.top, v.follow), (0, false));
        v.to_end();
        assert!(v.follow);
        v.toggle_follow();
        assert_eq!((v.top, v.follow), (80, false));
        v.toggle_follow();
        assert!(v.follow);
    }

    #[test]
    fn search_finds_case_insensitively_and_n_wraps_around() {
        let mut v = LogView::new(1, false);
        v.append(tail(1, 45, 0), LOG_CAP);
        v.page.set(20);
        v.top = 15;
        assert!(v.search("checkpoint"));
        // Lines 10, 20, 30, 40 match (indices 9, 19, 29, 39).
        assert_eq!(v.matches, [9, 19, 29, 39]);
        assert_eq!(v.current, Some(19), "the first at or after the screen");
        assert_eq!(v.match_number(), Some(2));
        assert!(v.next_match(true));
        assert_eq!(v.current, Some(29));
        assert!(v.next_match(true));
        assert!(v.next_match(true));
        assert_eq!(v.current, Some(9), "wraps to the first");
        assert!(v.next_match(false));
        assert_eq!(v.current, Some(39), "and back to the last");
        assert!(v.top <= 39 && 39 < v.top + 20, "brought into view");
        // New lines are searched as they come.
        v.append(tail(46, 5, 0), LOG_CAP);
        assert_eq!(v.matches, [9, 19, 29, 39, 49]);
        assert!(!v.search("nothing like this"));
        assert!(!v.next_match(true));
        assert_eq!(
            match_ranges(&folded("aXa xa"), &folded("xA")),
            [(1, 3), (4, 6)]
        );
    }
}
