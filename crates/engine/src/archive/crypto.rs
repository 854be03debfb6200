//! AES-256-GCM segmented streaming encryption (STREAM), data-key wrapping,
//! and the manifest MAC. Format: docs/FORMAT.md.
//!
//! One GCM call over a whole file would force the reader to buffer the file
//! before it may release a byte, so streams are cut into segments, each its
//! own GCM message, as age and Tink's streaming AEAD do. The nonce holds the
//! segment's position and a last-segment flag, and the header is every
//! segment's AAD: reordering, truncation, appended data and a changed header
//! all fail authentication, and plaintext is released one verified segment
//! at a time.
//!
//! Segments are sealed and opened with ring's AES-GCM (VAES/AVX2 or AES-NI
//! assembly, about 8 GB/s here, against about 1 GB/s for the `aes-gcm`
//! crate, whose GHASH was 7% of a backup's CPU). The construction is the
//! same AES-256-GCM; the small one-shot operations (key wrapping) keep
//! `aes-gcm`, and the tests check each side against the other.
use std::fmt;
use std::io::{self, Read, Write};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::rngs::OsRng;
use rand::RngCore;
use sha2::Sha256;

use crate::archive::keys::{KeyRing, MasterKey};
use crate::archive::manifest::{Manifest, WrappedKey};
use crate::error::{Error, ErrorKind, Result};

/// Plaintext bytes per encrypted segment.
pub const SEGMENT_SIZE: u32 = 64 * 1024;
/// First bytes of every encrypted stream.
pub const STREAM_MAGIC: &[u8; 8] = b"LBSTRM01";
/// Version byte of the stream header.
pub const STREAM_VERSION: u8 = 1;
/// Header length: magic, version, segment size, nonce prefix.
pub const HEADER_LEN: usize = 8 + 1 + 4 + 7;
/// Largest segment size a reader accepts (bounds memory on a corrupt header).
pub const MAX_SEGMENT_SIZE: u32 = 16 * 1024 * 1024;
const TAG_LEN: usize = 16;
const WRAP_AAD_PREFIX: &[u8] = b"lifeboat-wrap-v1\0";
const MAC_INFO: &[u8] = b"lifeboat manifest mac v1";

/// A per-artifact random 256-bit key. Never written anywhere unwrapped.
#[derive(Clone)]
pub struct DataKey(pub(crate) [u8; 32]);

impl DataKey {
    pub fn random() -> DataKey {
        let mut k = [0u8; 32];
        OsRng.fill_bytes(&mut k);
        DataKey(k)
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(<redacted>)")
    }
}

fn wrap_aad(artifact_id: &str, key_id: &str) -> Vec<u8> {
    let mut aad = WRAP_AAD_PREFIX.to_vec();
    aad.extend_from_slice(artifact_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(key_id.as_bytes());
    aad
}

/// Wrap `dk` under `master`, binding it to `artifact_id` (used as AAD).
pub fn wrap_data_key(master: &MasterKey, dk: &DataKey, artifact_id: &str) -> WrappedKey {
    let cipher = Aes256Gcm::new((&master.key).into());
    let mut nonce = [0u8; 12];
    OsRng.fill_bytes(&mut nonce);
    let aad = wrap_aad(artifact_id, &master.id);
    let ct = cipher
        .encrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &dk.0,
                aad: &aad,
            },
        )
        .expect("AES-GCM encryption of 32 bytes cannot fail");
    WrappedKey {
        key_id: master.id.clone(),
        nonce: B64.encode(nonce),
        ciphertext: B64.encode(ct),
    }
}

/// Unwrap with the master key named in `wrapped` from `ring`.
pub fn unwrap_data_key(ring: &KeyRing, wrapped: &WrappedKey, artifact_id: &str) -> Result<DataKey> {
    let path = ring.path.display();
    let id = &wrapped.key_id;
    let master = ring.get(id).ok_or_else(|| {
        Error::key(format!(
            "backup {artifact_id} was encrypted with key {id}, which is not in key file {path}"
        ))
        .hint(format!(
            "point [encryption] key_file in the config (or the LIFEBOAT_KEY_FILE environment \
             variable) at the key file, or an older copy of it, that holds key {id}; \
             keys removed from a key file cannot be recovered from anywhere else"
        ))
    })?;
    let bad = || {
        Error::key(format!(
            "key {id} of key file {path} does not open backup {artifact_id}: \
             wrong key file or tampered manifest"
        ))
        .hint("check that the key file is the one this repository was written with; if it is, the manifest was changed")
    };
    let nonce = B64.decode(&wrapped.nonce).map_err(|_| bad())?;
    let ct = B64.decode(&wrapped.ciphertext).map_err(|_| bad())?;
    if nonce.len() != 12 {
        return Err(bad());
    }
    let cipher = Aes256Gcm::new((&master.key).into());
    let aad = wrap_aad(artifact_id, id);
    let pt = cipher
        .decrypt(
            Nonce::from_slice(&nonce),
            Payload {
                msg: &ct,
                aad: &aad,
            },
        )
        .map_err(|_| bad())?;
    let key: [u8; 32] = pt.as_slice().try_into().map_err(|_| bad())?;
    Ok(DataKey(key))
}

fn mac_for(dk: &DataKey, manifest: &Manifest) -> Hmac<Sha256> {
    let hk = hkdf::Hkdf::<Sha256>::new(None, &dk.0);
    let mut mac_key = [0u8; 32];
    hk.expand(MAC_INFO, &mut mac_key)
        .expect("32 bytes is a valid HKDF-SHA256 output length");
    let mut mac =
        <Hmac<Sha256> as Mac>::new_from_slice(&mac_key).expect("HMAC accepts any key length");
    mac.update(&manifest.mac_input());
    mac
}

/// Hex HMAC-SHA256 of `manifest.mac_input()` under a key derived from `dk`.
pub fn manifest_mac(dk: &DataKey, manifest: &Manifest) -> String {
    hex::encode(mac_for(dk, manifest).finalize().into_bytes())
}

/// Check `manifest.mac`; an Integrity error names the manifest id when it fails or is missing.
pub fn verify_manifest_mac(dk: &DataKey, manifest: &Manifest) -> Result<()> {
    let changed = || {
        Error::integrity(format!(
            "manifest of backup {} does not match its MAC: it was changed since it was written",
            manifest.id
        ))
        .hint("do not trust this backup; restore from another one or from an offline copy of the repository")
    };
    let Some(mac_hex) = manifest.mac.as_deref() else {
        return Err(Error::integrity(format!(
            "manifest of backup {} has a wrapped key but no MAC: it was changed since it was written",
            manifest.id
        ))
        .hint("do not trust this backup; restore from another one or from an offline copy of the repository"));
    };
    let tag = hex::decode(mac_hex).map_err(|_| changed())?;
    mac_for(dk, manifest)
        .verify_slice(&tag)
        .map_err(|_| changed())
}

/// Encrypt a small secret kept inside a manifest (role password hashes):
/// one encrypted stream, like a payload's, with its own random nonce
/// prefix, base64-encoded. The manifest MAC covers the result too.
pub fn seal_small(dk: &DataKey, plain: &[u8]) -> String {
    let mut w = EncryptWriter::new(Vec::new(), dk, SEGMENT_SIZE).expect("valid segment size");
    w.write_all(plain).expect("writing to a Vec cannot fail");
    B64.encode(w.finish().expect("writing to a Vec cannot fail"))
}

/// The plaintext of [`seal_small`]; an integrity error when it was changed
/// or sealed under another key.
pub fn open_small(dk: &DataKey, sealed: &str) -> Result<Vec<u8>> {
    let raw = B64
        .decode(sealed)
        .map_err(|_| Error::integrity("an encrypted manifest field is not base64"))?;
    let mut r = DecryptReader::new(&raw[..], dk)?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| Error::integrity(format!("an encrypted manifest field does not open: {e}")))?;
    Ok(out)
}

/// An integrity failure inside a `Read`/`Write`: `InvalidData` wrapping an
/// Integrity [`Error`], so callers can recover the kind and hint.
pub(crate) fn integrity_io(message: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        Error::integrity(message).hint("the stored stream is damaged or not what the manifest describes; verify it and use another backup"),
    )
}

/// The AES-256-GCM key of a stream's segments.
fn segment_key(dk: &DataKey) -> ring::aead::LessSafeKey {
    ring::aead::LessSafeKey::new(
        ring::aead::UnboundKey::new(&ring::aead::AES_256_GCM, &dk.0)
            .expect("a 32-byte key is a valid AES-256 key"),
    )
}

fn segment_nonce(prefix: &[u8; 7], counter: u32, last: bool) -> [u8; 12] {
    let mut n = [0u8; 12];
    n[..7].copy_from_slice(prefix);
    n[7..11].copy_from_slice(&counter.to_be_bytes());
    n[11] = last as u8;
    n
}

/// Encrypting writer: header, then segments. `finish` writes the last segment.
pub struct EncryptWriter<W: Write> {
    inner: W,
    cipher: ring::aead::LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; 7],
    segment_size: usize,
    counter: u32,
    /// Plaintext of the current segment; encrypted in place when it is
    /// known not to be the last one (more data arrived after it filled).
    buf: Vec<u8>,
}

impl<W: Write> EncryptWriter<W> {
    pub fn new(mut inner: W, dk: &DataKey, segment_size: u32) -> Result<Self> {
        if segment_size == 0 || segment_size > MAX_SEGMENT_SIZE {
            return Err(Error::usage(format!(
                "segment size {segment_size} is out of range (1..={MAX_SEGMENT_SIZE})"
            )));
        }
        let mut prefix = [0u8; 7];
        OsRng.fill_bytes(&mut prefix);
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(STREAM_MAGIC);
        header[8] = STREAM_VERSION;
        header[9..13].copy_from_slice(&segment_size.to_be_bytes());
        header[13..20].copy_from_slice(&prefix);
        inner.write_all(&header).map_err(|e| {
            Error::new(ErrorKind::Io, format!("write encrypted stream header: {e}")).with_source(e)
        })?;
        Ok(EncryptWriter {
            inner,
            cipher: segment_key(dk),
            header,
            prefix,
            segment_size: segment_size as usize,
            counter: 0,
            buf: Vec::with_capacity(segment_size as usize + TAG_LEN),
        })
    }

    fn seal_segment(&mut self, last: bool) -> io::Result<()> {
        let nonce = segment_nonce(&self.prefix, self.counter, last);
        let tag = self
            .cipher
            .seal_in_place_separate_tag(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(&self.header),
                &mut self.buf,
            )
            .map_err(|_| io::Error::other("AES-GCM segment encryption failed"))?;
        self.buf.extend_from_slice(tag.as_ref());
        self.inner.write_all(&self.buf)?;
        self.buf.clear();
        if !last {
            self.counter = self.counter.checked_add(1).ok_or_else(|| {
                io::Error::other("encrypted stream too long: segment counter exhausted")
            })?;
        }
        Ok(())
    }

    /// Seal the last segment and return the inner writer (not flushed).
    pub fn finish_io(mut self) -> io::Result<W> {
        self.seal_segment(true)?;
        Ok(self.inner)
    }

    pub fn finish(self) -> Result<W> {
        self.finish_io().map_err(|e| {
            Error::new(ErrorKind::Io, format!("finish encrypted stream: {e}")).with_source(e)
        })
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // A full buffer is sealed as non-final only once more data arrives.
        if self.buf.len() == self.segment_size {
            self.seal_segment(false)?;
        }
        let n = buf.len().min(self.segment_size - self.buf.len());
        self.buf.extend_from_slice(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Decrypting reader: releases a segment's plaintext only after its tag
/// verifies; truncation, reordering and a missing last segment are errors.
pub struct DecryptReader<R: Read> {
    inner: R,
    cipher: ring::aead::LessSafeKey,
    header: [u8; HEADER_LEN],
    prefix: [u8; 7],
    segment_size: usize,
    counter: u32,
    /// Verified plaintext of the current segment, served from `pos`.
    buf: Vec<u8>,
    pos: usize,
    /// The current segment as read (ciphertext and tag): a failed open
    /// wipes `buf`, and the precise error needs the ciphertext again.
    raw: Vec<u8>,
    /// A byte read past a full segment to learn it was not the last.
    peeked: Option<u8>,
    done: bool,
    /// Set after an authentication failure: every later read repeats it.
    failed: Option<String>,
}

impl<R: Read> DecryptReader<R> {
    pub fn new(mut inner: R, dk: &DataKey) -> Result<Self> {
        let mut header = [0u8; HEADER_LEN];
        let got = read_full(&mut inner, &mut header).map_err(|e| {
            Error::new(ErrorKind::Io, format!("read encrypted stream header: {e}")).with_source(e)
        })?;
        let damaged = "the file is damaged or not a lifeboat encrypted stream; use another backup";
        if got < HEADER_LEN {
            return Err(Error::integrity(format!(
                "encrypted stream is truncated: {got} bytes, shorter than its {HEADER_LEN}-byte header"
            ))
            .hint(damaged));
        }
        if &header[..8] != STREAM_MAGIC {
            return Err(Error::integrity(
                "not a lifeboat encrypted stream: bad magic (expected LBSTRM01)",
            )
            .hint(damaged));
        }
        if header[8] != STREAM_VERSION {
            return Err(Error::integrity(format!(
                "unsupported encrypted stream version {} (this lifeboat reads version {STREAM_VERSION})",
                header[8]
            ))
            .hint("read it with the lifeboat version that wrote it, or check the file is not damaged"));
        }
        let segment_size = u32::from_be_bytes(header[9..13].try_into().expect("4 bytes"));
        if segment_size == 0 || segment_size > MAX_SEGMENT_SIZE {
            return Err(Error::integrity(format!(
                "encrypted stream header has an invalid segment size {segment_size}"
            ))
            .hint(damaged));
        }
        let prefix: [u8; 7] = header[13..20].try_into().expect("7 bytes");
        Ok(DecryptReader {
            inner,
            cipher: segment_key(dk),
            header,
            prefix,
            segment_size: segment_size as usize,
            counter: 0,
            buf: Vec::with_capacity(segment_size as usize + TAG_LEN),
            pos: 0,
            raw: Vec::with_capacity(segment_size as usize + TAG_LEN),
            peeked: None,
            done: false,
            failed: None,
        })
    }

    /// Authenticate and decrypt `self.raw` (ciphertext + tag) as segment
    /// `self.counter` into `buf`; on failure `buf` holds nothing usable.
    fn open(&mut self, last: bool) -> bool {
        let nonce = segment_nonce(&self.prefix, self.counter, last);
        let split = self.raw.len() - TAG_LEN;
        self.buf.clear();
        self.buf.extend_from_slice(&self.raw);
        let ok = self
            .cipher
            .open_in_place(
                ring::aead::Nonce::assume_unique_for_key(nonce),
                ring::aead::Aad::from(&self.header),
                &mut self.buf,
            )
            .is_ok();
        self.buf.truncate(if ok { split } else { 0 });
        ok
    }

    /// Read, authenticate and decrypt the next segment into `buf`.
    fn next_segment(&mut self) -> io::Result<()> {
        let full = self.segment_size + TAG_LEN;
        self.buf.clear();
        self.raw.clear();
        self.raw.resize(full, 0);
        self.pos = 0;
        let mut got = 0;
        if let Some(b) = self.peeked.take() {
            self.raw[0] = b;
            got = 1;
        }
        got += read_full(&mut self.inner, &mut self.raw[got..])?;
        // A short segment must be the last; after a full one, peek a byte.
        let mut last = got < full;
        if !last {
            let mut one = [0u8; 1];
            if read_full(&mut self.inner, &mut one)? == 0 {
                last = true;
            } else {
                self.peeked = Some(one[0]);
            }
        }
        self.raw.truncate(got);
        let i = self.counter;
        if got < TAG_LEN {
            return Err(integrity_io(if i == 0 && got == 0 {
                "encrypted stream is truncated: it has a header but no segments".to_string()
            } else {
                format!("encrypted stream is truncated: segment {i} is incomplete ({got} bytes)")
            }));
        }
        if self.open(last) {
            if last {
                self.done = true;
            } else {
                self.counter = i
                    .checked_add(1)
                    .ok_or_else(|| integrity_io("encrypted stream has too many segments".into()))?;
            }
            return Ok(());
        }
        // Failed: find a precise cause, then drop everything unverified.
        let message = if got == full && last && self.open(false) {
            format!(
                "encrypted stream is truncated: it ends after segment {i}, which is not the final segment"
            )
        } else if got == full && !last && self.open(true) {
            format!("encrypted stream has trailing data after its final segment {i}")
        } else if i == 0 {
            "authentication failed: wrong key or corrupted data".to_string()
        } else if last {
            format!(
                "segment {i} failed authentication: the encrypted stream is truncated, corrupted, or has data appended"
            )
        } else {
            format!(
                "segment {i} failed authentication: the encrypted stream is corrupted, or segments were reordered or duplicated"
            )
        };
        self.buf.clear();
        self.failed = Some(message.clone());
        Err(integrity_io(message))
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.buf.len() {
            if let Some(m) = &self.failed {
                return Err(integrity_io(m.clone()));
            }
            if self.done {
                return Ok(0);
            }
            self.next_segment()?;
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Serves verified plaintext in place, so a decompressor reading through
/// `BufRead` takes it without another copy.
impl<R: Read> io::BufRead for DecryptReader<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.pos == self.buf.len() {
            if let Some(m) = &self.failed {
                return Err(integrity_io(m.clone()));
            }
            if self.done {
                return Ok(&[]);
            }
            self.next_segment()?;
        }
        Ok(&self.buf[self.pos..])
    }
    fn consume(&mut self, amt: usize) {
        self.pos = (self.pos + amt).min(self.buf.len());
    }
}

/// Read until `buf` is full or EOF; returns bytes read.
fn read_full<R: Read>(r: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::manifest::{BackupKind, BackupType, Compression, StreamInfo};
    use crate::error::ErrorKind;

    const SEG: u32 = 1024;

    #[test]
    fn small_secrets_open_only_with_their_key_and_unchanged() {
        let dk = DataKey::random();
        let plain = br#"{"app":"SCRAM-SHA-256$4096:salt$stored:server"}"#;
        let sealed = seal_small(&dk, plain);
        assert!(!sealed.contains("SCRAM"));
        // Each sealing has its own nonce prefix: equal secrets do not show.
        assert_ne!(sealed, seal_small(&dk, plain));
        assert_eq!(open_small(&dk, &sealed).unwrap(), plain);
        let other = DataKey::random();
        assert_eq!(
            open_small(&other, &sealed).unwrap_err().kind,
            ErrorKind::Integrity
        );
        let mut raw = B64.decode(&sealed).unwrap();
        let last = raw.len() - 1;
        raw[last] ^= 1;
        assert_eq!(
            open_small(&dk, &B64.encode(raw)).unwrap_err().kind,
            ErrorKind::Integrity
        );
    }

    fn seal(dk: &DataKey, data: &[u8], seg: u32) -> Vec<u8> {
        let mut w = EncryptWriter::new(Vec::new(), dk, seg).unwrap();
        // Uneven writes exercise the buffering.
        for part in data.chunks(777) {
            w.write_all(part).unwrap();
        }
        w.finish().unwrap()
    }

    /// Read everything, returning what was released before any error.
    fn open(dk: &DataKey, stored: &[u8]) -> (Vec<u8>, Option<String>) {
        let mut r = match DecryptReader::new(io::Cursor::new(stored.to_vec()), dk) {
            Ok(r) => r,
            Err(e) => return (Vec::new(), Some(e.message)),
        };
        let mut out = Vec::new();
        let mut buf = [0u8; 500];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (out, None),
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) => {
                    assert_eq!(e.kind(), io::ErrorKind::InvalidData);
                    let inner = e.get_ref().unwrap().downcast_ref::<Error>().unwrap();
                    assert_eq!(inner.kind, ErrorKind::Integrity);
                    // The error repeats instead of turning into a clean EOF.
                    assert!(r.read(&mut buf).is_err());
                    return (out, Some(e.to_string()));
                }
            }
        }
    }

    fn random(n: usize) -> Vec<u8> {
        let mut v = vec![0u8; n];
        OsRng.fill_bytes(&mut v);
        v
    }

    fn seg_len() -> usize {
        SEG as usize + TAG_LEN
    }

    #[test]
    fn roundtrips_at_segment_edges() {
        let dk = DataKey::random();
        let s = SEG as usize;
        for n in [0, 1, s - 1, s, s + 1, 2 * s, 3 * s + 5] {
            let data = random(n);
            let stored = seal(&dk, &data, SEG);
            let segments = if n == 0 { 1 } else { n.div_ceil(s) };
            assert_eq!(stored.len(), HEADER_LEN + n + segments * TAG_LEN, "n={n}");
            assert_eq!(open(&dk, &stored), (data, None), "n={n}");
        }
        let big = random(5 * 1024 * 1024 + 3);
        let stored = seal(&dk, &big, SEGMENT_SIZE);
        assert_eq!(open(&dk, &stored), (big, None));
    }

    /// The segment format is plain AES-256-GCM: streams sealed here open
    /// with the independent `aes-gcm` crate segment by segment, and a stream
    /// sealed by it (as lifeboat did before ring) opens here.
    #[test]
    fn segments_match_the_aes_gcm_crate_both_ways() {
        let dk = DataKey::random();
        let data = random(3 * SEG as usize + 100);
        let stored = seal(&dk, &data, SEG);
        let header: [u8; HEADER_LEN] = stored[..HEADER_LEN].try_into().unwrap();
        let prefix: [u8; 7] = header[13..20].try_into().unwrap();
        let cipher = Aes256Gcm::new((&dk.0).into());
        let segments: Vec<&[u8]> = stored[HEADER_LEN..].chunks(seg_len()).collect();
        let mut plain = Vec::new();
        for (i, seg) in segments.iter().enumerate() {
            let nonce = segment_nonce(&prefix, i as u32, i + 1 == segments.len());
            let payload = Payload {
                msg: seg,
                aad: &header,
            };
            plain.extend(cipher.decrypt(Nonce::from_slice(&nonce), payload).unwrap());
        }
        assert_eq!(plain, data);

        let mut by_crate = header.to_vec();
        let pieces: Vec<&[u8]> = data.chunks(SEG as usize).collect();
        for (i, piece) in pieces.iter().enumerate() {
            let nonce = segment_nonce(&prefix, i as u32, i + 1 == pieces.len());
            let payload = Payload {
                msg: piece,
                aad: &header,
            };
            by_crate.extend(cipher.encrypt(Nonce::from_slice(&nonce), payload).unwrap());
        }
        assert_eq!(by_crate, stored);
        assert_eq!(open(&dk, &by_crate), (data, None));
    }

    #[test]
    fn header_layout() {
        let stored = seal(&DataKey::random(), b"x", SEG);
        assert_eq!(&stored[..8], b"LBSTRM01");
        assert_eq!(stored[8], 1);
        assert_eq!(&stored[9..13], &SEG.to_be_bytes());
    }

    #[test]
    fn wrong_key_releases_nothing() {
        let stored = seal(&DataKey::random(), &random(3000), SEG);
        let (out, err) = open(&DataKey::random(), &stored);
        assert!(out.is_empty());
        assert_eq!(
            err.unwrap(),
            "authentication failed: wrong key or corrupted data"
        );
    }

    #[test]
    fn truncation_is_detected() {
        let dk = DataKey::random();
        let data = random(3 * SEG as usize + 10);
        let stored = seal(&dk, &data, SEG);
        // At a segment boundary: only verified full segments are released.
        for k in 1..=3 {
            let cut = &stored[..HEADER_LEN + k * seg_len()];
            let (out, err) = open(&dk, cut);
            assert_eq!(
                out,
                data[..(k - 1) * SEG as usize],
                "released only verified segments"
            );
            let err = err.unwrap();
            assert!(
                err.contains("truncated") && err.contains("not the final segment"),
                "{err}"
            );
        }
        // Header only.
        let (out, err) = open(&dk, &stored[..HEADER_LEN]);
        assert!(out.is_empty());
        assert!(err.unwrap().contains("no segments"));
        // Mid-segment, and inside the header.
        let (out, err) = open(&dk, &stored[..HEADER_LEN + seg_len() + 100]);
        assert_eq!(out, data[..SEG as usize]);
        assert!(err.unwrap().contains("truncated, corrupted"));
        let (_, err) = open(&dk, &stored[..10]);
        assert!(err.unwrap().contains("truncated"));
    }

    #[test]
    fn flipped_bytes_are_detected() {
        let dk = DataKey::random();
        let data = random(2 * SEG as usize + 10);
        let stored = seal(&dk, &data, SEG);
        let tag_of_first = HEADER_LEN + seg_len() - 1;
        for pos in [
            0,
            8,
            10,
            15,
            HEADER_LEN,
            HEADER_LEN + 500,
            tag_of_first,
            stored.len() - 1,
        ] {
            let mut bad = stored.clone();
            bad[pos] ^= 0x01;
            let (out, err) = open(&dk, &bad);
            let err = err.unwrap_or_else(|| panic!("flip at {pos} not detected"));
            if pos >= HEADER_LEN + seg_len() {
                assert_eq!(out, data[..2 * SEG as usize], "flip at {pos}");
            } else {
                assert!(out.is_empty(), "flip at {pos} released data");
            }
            if pos < 8 {
                assert!(err.contains("bad magic"), "{err}");
            } else if pos == 8 {
                assert!(err.contains("version"), "{err}");
            }
        }
    }

    #[test]
    fn reordered_duplicated_and_trailing_are_detected() {
        let dk = DataKey::random();
        let data = random(3 * SEG as usize + 10);
        let stored = seal(&dk, &data, SEG);
        let seg = |i: usize| &stored[HEADER_LEN + i * seg_len()..HEADER_LEN + (i + 1) * seg_len()];
        let header = &stored[..HEADER_LEN];
        let tail = &stored[HEADER_LEN + 3 * seg_len()..];

        let swapped = [header, seg(1), seg(0), seg(2), tail].concat();
        let (out, err) = open(&dk, &swapped);
        assert!(out.is_empty());
        assert!(err.is_some());

        let swapped = [header, seg(0), seg(2), seg(1), tail].concat();
        let (out, err) = open(&dk, &swapped);
        assert_eq!(out, data[..SEG as usize]);
        assert!(err.unwrap().contains("reordered"));

        let duplicated = [header, seg(0), seg(1), seg(1), seg(2), tail].concat();
        let (out, err) = open(&dk, &duplicated);
        assert_eq!(out, data[..2 * SEG as usize]);
        assert!(err.unwrap().contains("segment 2 failed"));

        // Garbage after a short final segment.
        let trailing = [&stored[..], b"garbage"].concat();
        let (out, err) = open(&dk, &trailing);
        assert_eq!(out, data[..3 * SEG as usize]);
        assert!(err.is_some());

        // Garbage after a full final segment is named as such.
        let exact = random(2 * SEG as usize);
        let stored = seal(&dk, &exact, SEG);
        let mut trailing = stored.clone();
        trailing.extend_from_slice(&random(40));
        let (out, err) = open(&dk, &trailing);
        assert_eq!(out, exact[..SEG as usize]);
        assert!(err.unwrap().contains("trailing data"));
    }

    #[test]
    fn empty_stream_is_one_final_segment() {
        let dk = DataKey::random();
        let stored = seal(&dk, b"", SEG);
        assert_eq!(stored.len(), HEADER_LEN + TAG_LEN);
        assert_eq!(open(&dk, &stored), (Vec::new(), None));
        // Exactly one segment of data is one full final segment, with no
        // empty segment after it.
        let data = random(SEG as usize);
        let one = seal(&dk, &data, SEG);
        assert_eq!(one.len(), HEADER_LEN + seg_len());
        assert_eq!(open(&dk, &one), (data, None));
    }

    fn ring_with_key(dir: &std::path::Path) -> KeyRing {
        KeyRing::generate(&dir.join("k.toml")).unwrap()
    }

    #[test]
    fn wrap_unwrap() {
        let tmp = tempfile::tempdir().unwrap();
        let ring = ring_with_key(tmp.path());
        let dk = DataKey::random();
        let w = wrap_data_key(ring.active(), &dk, "db-20261126-050000");
        assert_eq!(w.key_id, ring.active().id);
        let back = unwrap_data_key(&ring, &w, "db-20261126-050000").unwrap();
        assert_eq!(back.0, dk.0);

        let err = unwrap_data_key(&ring, &w, "db-other").unwrap_err();
        assert_eq!(err.kind, ErrorKind::Key);
        assert!(
            err.message.contains("does not open backup db-other"),
            "{}",
            err.message
        );

        let other_dir = tempfile::tempdir().unwrap();
        let other = ring_with_key(other_dir.path());
        let err = unwrap_data_key(&other, &w, "db-20261126-050000").unwrap_err();
        assert!(
            err.message.contains("which is not in key file"),
            "{}",
            err.message
        );

        // Same id, different key bytes: wrong key file.
        let mut forged = w.clone();
        forged.key_id = other.active().id.clone();
        let err = unwrap_data_key(&other, &forged, "db-20261126-050000").unwrap_err();
        assert!(err.message.contains("wrong key file or tampered manifest"));
    }

    fn manifest() -> Manifest {
        let now = chrono::Utc::now();
        Manifest {
            format: crate::archive::manifest::MANIFEST_FORMAT.into(),
            id: "db-20261126-050000".into(),
            backup_type: BackupType::Database,
            name: None,
            kind: BackupKind::Full,
            parent_id: None,
            created_at: now,
            finished_at: now,
            created_by: "lifeboat@host".into(),
            tool_version: "0.1.0".into(),
            source: serde_json::json!({"database": "panel"}),
            compression: Compression::Zstd,
            compression_level: 3,
            encrypted: true,
            segment_size: Some(SEGMENT_SIZE),
            key: None,
            payload: StreamInfo {
                file: "db_backup_20261126_050000.sql.zst".into(),
                size: 10,
                stored_size: 20,
                sha256: "00".repeat(32),
            },
            index: None,
            files: None,
            database: None,
            warnings: vec![],
            mac: None,
        }
    }

    #[test]
    fn manifest_mac_detects_changes_and_survives_rewrap() {
        let tmp = tempfile::tempdir().unwrap();
        let mut ring = ring_with_key(tmp.path());
        let dk = DataKey::random();
        let mut m = manifest();
        m.key = Some(wrap_data_key(ring.active(), &dk, &m.id));
        m.mac = Some(manifest_mac(&dk, &m));
        verify_manifest_mac(&dk, &m).unwrap();

        // Rotation re-wraps the data key: the MAC still holds.
        ring.add_active();
        m.key = Some(wrap_data_key(ring.active(), &dk, &m.id));
        verify_manifest_mac(&dk, &m).unwrap();

        let mut changed = m.clone();
        changed.payload.sha256 = "11".repeat(32);
        let err = verify_manifest_mac(&dk, &changed).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Integrity);
        assert!(err.message.contains(&m.id) && err.message.contains("changed since"));

        let mut missing = m.clone();
        missing.mac = None;
        let err = verify_manifest_mac(&dk, &missing).unwrap_err();
        assert!(err.message.contains(&m.id) && err.message.contains("changed since"));

        assert!(verify_manifest_mac(&DataKey::random(), &m).is_err());
    }

    #[test]
    fn data_key_debug_redacts() {
        let dk = DataKey([7u8; 32]);
        assert_eq!(format!("{dk:?}"), "DataKey(<redacted>)");
    }
}
