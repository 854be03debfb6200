//! The content digest the file index records (`h`).
//!
//! For an ordinary file it is the SHA-256 of its content, as `sha256sum`
//! prints it. For a file recorded as sparse (`sp`), it is the SHA-256 of the
//! concatenated SHA-256 digests of its logical content's 64 KiB blocks (the
//! last one may be shorter). The value depends only on the content, not on
//! where the holes lie, but a block of zeros (every block of a hole) has a
//! known digest: a 2 GiB file with 192 KiB of data hashes 192 KiB, not
//! 2 GiB (a second of SHA-256 on every backup, restore and verification).

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The block of the sparse form.
pub const BLOCK: usize = 64 << 10;

static ZEROS: [u8; BLOCK] = [0; BLOCK];

fn zero_block_digest() -> &'static [u8; 32] {
    static D: OnceLock<[u8; 32]> = OnceLock::new();
    D.get_or_init(|| Sha256::digest(ZEROS).into())
}

/// Streaming digest of one file's content; see the module documentation.
pub enum ContentHasher {
    Plain(Sha256),
    Blocks {
        outer: Sha256,
        block: Sha256,
        /// Bytes of the current block hashed so far.
        fill: usize,
    },
}

impl ContentHasher {
    pub fn new(sparse: bool) -> Self {
        if sparse {
            ContentHasher::Blocks {
                outer: Sha256::new(),
                block: Sha256::new(),
                fill: 0,
            }
        } else {
            ContentHasher::Plain(Sha256::new())
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        match self {
            ContentHasher::Plain(h) => h.update(data),
            ContentHasher::Blocks { outer, block, fill } => {
                while !data.is_empty() {
                    if *fill == 0 && data.len() >= BLOCK && is_zero(&data[..BLOCK]) {
                        outer.update(zero_block_digest());
                        data = &data[BLOCK..];
                        continue;
                    }
                    let k = (BLOCK - *fill).min(data.len());
                    block.update(&data[..k]);
                    *fill += k;
                    data = &data[k..];
                    if *fill == BLOCK {
                        outer.update(block.finalize_reset());
                        *fill = 0;
                    }
                }
            }
        }
    }

    /// `n` zero bytes: a hole.
    pub fn zeros(&mut self, mut n: u64) {
        while n > 0 {
            if let ContentHasher::Blocks { outer, fill: 0, .. } = self {
                if n >= BLOCK as u64 {
                    outer.update(zero_block_digest());
                    n -= BLOCK as u64;
                    continue;
                }
            }
            let k = n.min(BLOCK as u64) as usize;
            // Up to the end of the current block only, so the next full
            // block of zeros takes the shortcut above.
            let k = match self {
                ContentHasher::Blocks { fill, .. } => k.min(BLOCK - *fill),
                ContentHasher::Plain(_) => k,
            };
            self.update(&ZEROS[..k]);
            n -= k as u64;
        }
    }

    /// The digest in hex, as the index records it.
    pub fn finish(self) -> String {
        match self {
            ContentHasher::Plain(h) => hex::encode(h.finalize()),
            ContentHasher::Blocks {
                mut outer,
                block,
                fill,
            } => {
                if fill > 0 {
                    outer.update(block.finalize());
                }
                hex::encode(outer.finalize())
            }
        }
    }
}

/// True when every byte is zero (written to vectorise: no early exit).
fn is_zero(block: &[u8]) -> bool {
    block.iter().fold(0u8, |acc, b| acc | b) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn blocks_by_hand(content: &[u8]) -> String {
        let mut outer = Sha256::new();
        for b in content.chunks(BLOCK) {
            outer.update(Sha256::digest(b));
        }
        hex::encode(outer.finalize())
    }

    #[test]
    fn the_sparse_form_depends_on_content_not_on_how_it_is_fed() {
        let size = 5 * BLOCK + 1234;
        let mut content = vec![0u8; size];
        content[70_000..70_010].copy_from_slice(b"0123456789");
        content[size - 3..].copy_from_slice(b"end");
        let want = blocks_by_hand(&content);
        // Whole, in odd pieces, and as data plus holes.
        let mut a = ContentHasher::new(true);
        a.update(&content);
        assert_eq!(a.finish(), want);
        let mut b = ContentHasher::new(true);
        for piece in content.chunks(7777) {
            b.update(piece);
        }
        assert_eq!(b.finish(), want);
        let mut c = ContentHasher::new(true);
        c.zeros(70_000);
        c.update(b"0123456789");
        c.zeros((size - 3 - 70_010) as u64);
        c.update(b"end");
        assert_eq!(c.finish(), want);
        // The plain form is sha256sum's.
        let mut p = ContentHasher::new(false);
        p.zeros(70_000);
        p.update(&content[70_000..]);
        assert_eq!(p.finish(), hex::encode(Sha256::digest(&content)));
    }
}
