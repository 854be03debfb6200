//! Is an artifact what its manifest says? The manifest's authentication
//! (which also opens the data key) and the size and SHA-256 of every stored
//! stream: checked before anything of a backup reaches a restore target,
//! by restore, verify and the database paths alike.

use crate::archive::crypto::DataKey;
use crate::archive::keys::KeyRing;
use crate::archive::manifest::StreamInfo;
use crate::archive::pipeline;
use crate::error::{Error, Result};
use crate::ops::open_data_key;
use crate::ops::select::Artifact;

/// Check the stored bytes of a stream against the manifest (size, SHA-256).
fn check_stream(artifact: &Artifact, info: &StreamInfo, what: &str) -> Result<()> {
    let path = artifact.dir().join(&info.file);
    let meta = std::fs::metadata(&path).map_err(|e| {
        Error::io(
            &format!("cannot read {what} of backup {}", artifact.manifest.id),
            &path,
            e,
        )
    })?;
    if meta.len() != info.stored_size {
        return Err(Error::integrity(format!(
            "{what} {} of backup {} is {} bytes but its manifest says {} (truncated or replaced)",
            path.display(),
            artifact.manifest.id,
            meta.len(),
            info.stored_size
        ))
        .hint("this backup cannot be trusted; use another one (`lifeboat list`)"));
    }
    let (sha, _) = pipeline::hash_file(&path)?;
    if sha != info.sha256 {
        return Err(Error::integrity(format!(
            "{what} {} of backup {} does not match its manifest (SHA-256 {} expected, {} found): the file was changed or corrupted",
            path.display(),
            artifact.manifest.id,
            short(&info.sha256),
            short(&sha)
        ))
        .hint("this backup cannot be trusted; use another one (`lifeboat list`)"));
    }
    Ok(())
}

fn short(h: &str) -> &str {
    &h[..h.len().min(12)]
}

/// Authenticate the manifest and hash every stored byte. Returns the data key.
/// Nothing is released to a target before this passes.
pub fn check_integrity(artifact: &Artifact, ring: Option<&KeyRing>) -> Result<Option<DataKey>> {
    let dk = open_data_key(ring, &artifact.manifest, &artifact.manifest_path)?;
    check_stream(artifact, &artifact.manifest.payload, "payload")?;
    if let Some(index) = &artifact.manifest.index {
        check_stream(artifact, index, "file index")?;
    }
    Ok(dk)
}

/// What can be checked without reading the payload: the manifest's
/// authentication, the payload's size, and the (small) file index's hash.
/// Used by restores that hash the payload while they decode it.
pub fn check_integrity_streaming(
    artifact: &Artifact,
    ring: Option<&KeyRing>,
) -> Result<Option<DataKey>> {
    let dk = open_data_key(ring, &artifact.manifest, &artifact.manifest_path)?;
    let path = artifact.payload_path();
    let len = std::fs::metadata(&path)
        .map_err(|e| {
            Error::io(
                &format!("cannot read payload of backup {}", artifact.manifest.id),
                &path,
                e,
            )
        })?
        .len();
    if len != artifact.manifest.payload.stored_size {
        return Err(Error::integrity(format!(
            "payload {} of backup {} is {len} bytes but its manifest says {} (truncated or replaced)",
            path.display(),
            artifact.manifest.id,
            artifact.manifest.payload.stored_size
        ))
        .hint("this backup cannot be trusted; use another one (`lifeboat list`)"));
    }
    if let Some(index) = &artifact.manifest.index {
        check_stream(artifact, index, "file index")?;
    }
    Ok(dk)
}
