//! Is an artifact what its manifest says? The manifest's authentication
//! (which also opens the data key) and the size and SHA-256 of every stored
//! stream: checked before anything of a backup reaches a restore target,
//! by restore, verify and the database paths alike.

use crate::archive::crypto::DataKey;
use crate::archive::keys::KeyRing;
use crate::archive::manifest::StreamInfo;
use crate::error::{Error, Result};
use crate::ops::open_data_key;
use crate::ops::select::Artifact;

/// Check the stored bytes of a stream against the manifest (size, SHA-256).
fn check_stream(artifact: &Artifact, info: &StreamInfo, what: &str) -> Result<()> {
    check_len(artifact, info, what)?;
    let mut reader = artifact.open_file(&info.file)?;
    let (sha, _) = crate::ops::fetch::hash_stream(&mut reader, &mut std::io::sink())
        .map_err(|e| artifact.read_error(&info.file, e))?;
    if sha != info.sha256 {
        return Err(Error::integrity(format!(
            "{what} {} of backup {} does not match its manifest (SHA-256 {} expected, {} found): the file was changed or corrupted",
            artifact.describe(&info.file),
            artifact.manifest.id,
            short(&info.sha256),
            short(&sha)
        ))
        .hint(damaged_hint(artifact)));
    }
    Ok(())
}

/// The stored length of a stream against the manifest.
fn check_len(artifact: &Artifact, info: &StreamInfo, what: &str) -> Result<()> {
    let len = artifact.file_len(&info.file)?.ok_or_else(|| {
        Error::not_found(format!(
            "{what} {} of backup {} does not exist",
            artifact.describe(&info.file),
            artifact.manifest.id
        ))
        .hint(damaged_hint(artifact))
    })?;
    if len != info.stored_size {
        return Err(Error::integrity(format!(
            "{what} {} of backup {} is {len} bytes but its manifest says {} (truncated or replaced)",
            artifact.describe(&info.file),
            artifact.manifest.id,
            info.stored_size
        ))
        .hint(damaged_hint(artifact)));
    }
    Ok(())
}

fn damaged_hint(artifact: &Artifact) -> &'static str {
    match artifact.remote {
        None => "this backup cannot be trusted; read it from a copy instead with --from TARGET (`lifeboat copies ID` shows which targets hold one), or use another backup (`lifeboat list`)",
        Some(_) => "this copy cannot be trusted; use another backup (`lifeboat list`) or another target's copy (`lifeboat copies ID`)",
    }
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
    check_len(artifact, &artifact.manifest.payload, "payload")?;
    if let Some(index) = &artifact.manifest.index {
        check_stream(artifact, index, "file index")?;
    }
    Ok(dk)
}
