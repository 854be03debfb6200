//! AES-256-GCM segmented streaming encryption (STREAM), data-key wrapping,
//! and the manifest MAC. Format: docs/FORMAT.md.
use std::io::{Read, Write};

use crate::archive::keys::{KeyRing, MasterKey};
use crate::archive::manifest::{Manifest, WrappedKey};
use crate::error::Result;

/// Plaintext bytes per encrypted segment.
pub const SEGMENT_SIZE: u32 = 64 * 1024;

/// A per-artifact random 256-bit key. Never written anywhere unwrapped.
#[derive(Clone)]
pub struct DataKey(pub(crate) [u8; 32]);

impl DataKey {
    pub fn random() -> DataKey {
        todo!("helper: archive")
    }
}

/// Wrap `dk` under `master`, binding it to `artifact_id` (used as AAD).
pub fn wrap_data_key(master: &MasterKey, dk: &DataKey, artifact_id: &str) -> WrappedKey {
    let _ = (master, dk, artifact_id);
    todo!("helper: archive")
}

/// Unwrap with the master key named in `wrapped` from `ring`.
pub fn unwrap_data_key(ring: &KeyRing, wrapped: &WrappedKey, artifact_id: &str) -> Result<DataKey> {
    let _ = (ring, wrapped, artifact_id);
    todo!("helper: archive")
}

/// Hex HMAC-SHA256 of `manifest.mac_input()` under a key derived from `dk`.
pub fn manifest_mac(dk: &DataKey, manifest: &Manifest) -> String {
    let _ = (dk, manifest);
    todo!("helper: archive")
}

/// Check `manifest.mac`; an Integrity error names the manifest id when it fails or is missing.
pub fn verify_manifest_mac(dk: &DataKey, manifest: &Manifest) -> Result<()> {
    let _ = (dk, manifest);
    todo!("helper: archive")
}

/// Encrypting writer: header, then segments. `finish` writes the last segment.
pub struct EncryptWriter<W: Write> {
    _inner: W,
}

impl<W: Write> EncryptWriter<W> {
    pub fn new(inner: W, dk: &DataKey, segment_size: u32) -> Result<Self> {
        let _ = (inner, dk, segment_size);
        todo!("helper: archive")
    }
    pub fn finish(self) -> Result<W> {
        todo!("helper: archive")
    }
}

impl<W: Write> Write for EncryptWriter<W> {
    fn write(&mut self, _buf: &[u8]) -> std::io::Result<usize> {
        todo!("helper: archive")
    }
    fn flush(&mut self) -> std::io::Result<()> {
        todo!("helper: archive")
    }
}

/// Decrypting reader: releases a segment's plaintext only after its tag
/// verifies; truncation, reordering and a missing last segment are errors.
pub struct DecryptReader<R: Read> {
    _inner: R,
}

impl<R: Read> DecryptReader<R> {
    pub fn new(inner: R, dk: &DataKey) -> Result<Self> {
        let _ = (inner, dk);
        todo!("helper: archive")
    }
}

impl<R: Read> Read for DecryptReader<R> {
    fn read(&mut self, _buf: &mut [u8]) -> std::io::Result<usize> {
        todo!("helper: archive")
    }
}
