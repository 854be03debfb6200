//! The raw bytes of a tar entry's PAX extended header, which the `tar`
//! crate does not hand out: it splits PAX data at newlines, so a value
//! holding one (a binary extended attribute) reads as broken records there.
//! The extractor reads through a [`PaxTap`], which keeps the few header
//! blocks between one entry's content and the next entry, and parses them
//! itself (`xattrs::parse_pax`).

use std::io::{self, Read};
use std::sync::{Arc, Mutex};

use super::xattrs::MAX_PAX;

/// The input of a tar reader, keeping the bytes from a given offset on
/// (the previous entry's end), so the extended header that precedes an
/// entry can be parsed from its raw bytes: the `tar` crate only hands out
/// its newline-split view. Content before that offset is passed through
/// without a copy; what is kept is bounded by [`MAX_PAX`] plus a few
/// headers (a read past that fails: the archive is refused).
pub struct PaxTap<R> {
    inner: R,
    shared: Arc<Mutex<TapState>>,
}

#[derive(Default)]
struct TapState {
    /// Stream offset of the next byte read.
    pos: u64,
    /// Stream offset of `buf[0]`.
    keep_from: u64,
    buf: Vec<u8>,
}

const TAP_MAX: usize = MAX_PAX + 8 * 512;

impl<R: Read> Read for PaxTap<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(out)?;
        let mut s = self.shared.lock().unwrap();
        let end = s.pos + n as u64;
        if end > s.keep_from {
            let skip = s.keep_from.saturating_sub(s.pos) as usize;
            if s.buf.len() + (n - skip) > TAP_MAX {
                // Between two entries there are only headers: more than
                // this is hostile, and the `tar` crate would read it all
                // into memory.
                s.buf = Vec::new();
                return Err(io::Error::other(format!(
                    "more than {} KiB of extended headers before one entry",
                    TAP_MAX >> 10
                )));
            }
            s.buf.extend_from_slice(&out[skip..n]);
        }
        s.pos = end;
        Ok(n)
    }
}

/// The extraction loop's handle on its [`PaxTap`].
#[derive(Clone)]
pub struct Tap(Arc<Mutex<TapState>>);

pub fn tap<R: Read>(inner: R) -> (PaxTap<R>, Tap) {
    let shared = Arc::new(Mutex::new(TapState::default()));
    (
        PaxTap {
            inner,
            shared: shared.clone(),
        },
        Tap(shared),
    )
}

impl Tap {
    /// Keep the bytes from stream offset `off` on (the end of the entry
    /// just returned: where the next entry's headers start).
    pub fn keep_from(&self, off: u64) {
        let mut s = self.0.lock().unwrap();
        s.buf.clear();
        s.keep_from = off;
    }

    /// The raw PAX data of the entry whose header is at stream offset
    /// `header_at`: the data of the last `x` member between the kept
    /// offset and it (the members there are the previous entry's padding,
    /// maybe GNU long-name members, the `x` member, then this header).
    pub fn pax_before(&self, header_at: u64) -> Result<Option<Vec<u8>>, String> {
        let s = self.0.lock().unwrap();
        let end = header_at
            .checked_sub(s.keep_from)
            .filter(|e| *e as usize <= s.buf.len())
            .ok_or("its extended header was not kept")? as usize;
        let mut at = 0usize;
        let mut found = None;
        while at + 512 <= end {
            let h = &s.buf[at..at + 512];
            if h.iter().all(|b| *b == 0) {
                at += 512;
                continue;
            }
            let header = tar::Header::from_byte_slice(h);
            let sum_ok = header.cksum().ok() == Some(cksum(h));
            let size = header
                .entry_size()
                .ok()
                .filter(|_| sum_ok)
                .ok_or("an unreadable header before it")?;
            let data_end = (at as u64 + 512).saturating_add(size);
            if data_end > end as u64 {
                return Err("a member that overruns it".into());
            }
            if header.entry_type() == tar::EntryType::XHeader {
                found = Some(s.buf[at + 512..data_end as usize].to_vec());
            }
            at = data_end.div_ceil(512) as usize * 512;
        }
        Ok(found)
    }
}

/// A header block's checksum as tar computes it (the field as spaces).
fn cksum(h: &[u8]) -> u32 {
    h.iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum()
}
