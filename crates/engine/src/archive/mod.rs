//! The archive layer: turns a plaintext byte stream into stored bytes and
//! back (compression -> encryption -> SHA-256), plus keys and manifests.
//!
//! Everything here is pure streaming over `Read`/`Write`: no temp files, no
//! whole-file buffers, no knowledge of repositories, catalogs or terminals.
//! The on-disk format is specified in docs/FORMAT.md.

pub mod compress;
pub mod crypto;
pub mod keys;
pub mod manifest;
pub mod pipeline;
