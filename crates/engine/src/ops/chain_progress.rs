//! Progress of a restore (or a scratch restore) of an incremental chain as
//! one piece of work.
//!
//! Each link is extracted on its own, and each link's extraction counts
//! from zero. Reported as they are, with a total per link, the bar starts
//! again at every link and a finished drill read `37% 71 B of 193 B`. Here
//! the total is set once, for the whole chain, and each link's amounts are
//! counted on from what the links before it did.
//!
//! The bytes counted are those of the archive streams as they are read
//! (after decryption and decompression): every link's `payload.size` is
//! known from its manifest before anything is read, and a link's stream is
//! read whole whatever it holds, files a later link supersedes included.
//! The items are the archive's entries (`files.stored`): the extraction
//! counts one per entry, written or skipped.

use std::cell::Cell;
use std::io::Read;

use crate::ops::select::Artifact;
use crate::ops::Progress;

/// Passes a chain's progress on to `inner` as one job's: one total, and
/// amounts that only grow from the first link to the last.
pub(crate) struct ChainProgress<'a> {
    inner: &'a dyn Progress,
    /// (bytes, items) of the links already extracted.
    before: Cell<(u64, u64)>,
}

impl<'a> ChainProgress<'a> {
    /// Set the total of the whole chain on `inner`: the sum of its links.
    pub fn start(inner: &'a dyn Progress, links: &[Artifact]) -> ChainProgress<'a> {
        let (bytes, items) = chain_totals(links);
        inner.total(Some(bytes), items);
        ChainProgress {
            inner,
            before: Cell::new((0, 0)),
        }
    }

    /// `link` has been extracted: it is done whole, and the next link
    /// counts on from there.
    pub fn link_done(&self, link: &Artifact) {
        let (bytes, items) = self.before.get();
        let done = (
            bytes + link.manifest.payload.size,
            items + link.manifest.files.as_ref().map_or(0, |f| f.stored),
        );
        self.before.set(done);
        self.inner.advance(done.0, done.1);
    }
}

/// (stream bytes, entries) of every link together; no item total when a
/// link's manifest has no file counts.
fn chain_totals(links: &[Artifact]) -> (u64, Option<u64>) {
    let bytes = links.iter().map(|l| l.manifest.payload.size).sum();
    let items = links
        .iter()
        .map(|l| l.manifest.files.as_ref().map(|f| f.stored))
        .sum();
    (bytes, items)
}

impl Progress for ChainProgress<'_> {
    fn phase(&self, name: &str) {
        self.inner.phase(name)
    }
    /// The chain's total stands: a link does not replace it with its own.
    fn total(&self, _bytes: Option<u64>, _items: Option<u64>) {}
    fn advance(&self, bytes_done: u64, items_done: u64) {
        let (bytes, items) = self.before.get();
        self.inner.advance(bytes + bytes_done, items + items_done)
    }
    fn note(&self, message: &str) {
        self.inner.note(message)
    }
}

/// A reader that counts the bytes read through it: where in a link's
/// archive stream its extraction is.
pub(crate) struct Counted<'c, R> {
    pub inner: R,
    pub read: &'c Cell<u64>,
}

impl<R: Read> Read for Counted<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.set(self.read.get() + n as u64);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::manifest::FileStats;
    use std::cell::RefCell;

    /// What a job would record: the last total and every advance.
    #[derive(Default)]
    struct Recorded {
        total: Cell<(Option<u64>, Option<u64>)>,
        advances: RefCell<Vec<(u64, u64)>>,
    }

    impl Progress for Recorded {
        fn phase(&self, _: &str) {}
        fn total(&self, bytes: Option<u64>, items: Option<u64>) {
            self.total.set((bytes, items));
        }
        fn advance(&self, bytes: u64, items: u64) {
            self.advances.borrow_mut().push((bytes, items));
        }
        fn note(&self, _: &str) {}
    }

    fn link(size: u64, stored: Option<u64>) -> Artifact {
        let mut manifest = crate::archive::manifest::Manifest::sample("x.tar.zst");
        manifest.payload.size = size;
        manifest.files = stored.map(|stored| FileStats {
            stored,
            ..Default::default()
        });
        Artifact {
            manifest,
            manifest_path: "/repo/x.manifest.json".into(),
            remote: None,
        }
    }

    #[test]
    fn a_chain_has_one_total_and_counts_on_across_its_links() {
        let rec = Recorded::default();
        let links = [link(10_240, Some(11)), link(3_072, Some(2))];
        let chain = ChainProgress::start(&rec, &links);
        assert_eq!(rec.total.get(), (Some(13_312), Some(13)));
        // A link's own total is not the chain's.
        chain.total(Some(193), Some(11));
        assert_eq!(rec.total.get(), (Some(13_312), Some(13)));

        chain.advance(4_000, 5);
        chain.link_done(&links[0]);
        chain.advance(512, 1);
        chain.link_done(&links[1]);
        let seen = rec.advances.borrow().clone();
        assert_eq!(seen, [(4_000, 5), (10_240, 11), (10_752, 12), (13_312, 13)]);
        assert!(seen
            .windows(2)
            .all(|w| w[0].0 <= w[1].0 && w[0].1 <= w[1].1));
    }

    #[test]
    fn without_file_counts_a_chain_has_a_byte_total_only() {
        let rec = Recorded::default();
        ChainProgress::start(&rec, &[link(100, Some(3)), link(50, None)]);
        assert_eq!(rec.total.get(), (Some(150), None));
    }

    #[test]
    fn a_counted_reader_says_how_far_it_read() {
        let read = Cell::new(0);
        let mut r = Counted {
            inner: &b"hello, chain"[..],
            read: &read,
        };
        let mut buf = [0u8; 5];
        r.read_exact(&mut buf).unwrap();
        assert_eq!(read.get(), 5);
        std::io::copy(&mut r, &mut std::io::sink()).unwrap();
        assert_eq!(read.get(), 12);
    }
}
