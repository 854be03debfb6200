//! One backup's files back from a copy target into the repository, each
//! checked before it gets its name: the manifest parsed and (keyed
//! repositories) authenticated, every data file's SHA-256 and size those
//! the manifest records, payload and index before the manifest. What
//! `catalog rebuild --from` and `recover --from` do for every backup.
//! (Restore, verify and drill do not pull: they stream a lost backup
//! straight from a target, see `locate`.)

use std::io::{Read, Write};
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::archive::manifest::{BackupType, Manifest};
use crate::error::{Error, ErrorKind, Result};
use crate::ops::Progress;
use crate::storage::local::{self, Repository};
use crate::storage::remote::Target;
use crate::Cancel;

/// Where a target keeps the repository's audit log.
pub(crate) const AUDIT_KEY: &str = "audit/audit.jsonl";

/// The object key of a file of an artifact: the repository's layout.
pub(crate) fn rel(t: BackupType, file: &str) -> String {
    format!("{}/{file}", t.dir())
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn fetch_into(
    target: &Target,
    repo: &Repository,
    t: BackupType,
    key: &str,
    local_manifest: &Path,
    ring: Option<&crate::archive::keys::KeyRing>,
    progress: &dyn Progress,
    cancel: &Cancel,
) -> Result<(String, u64)> {
    // Never more than a manifest can be, read into memory.
    match target.size_of(key)? {
        Some(n) if n > local::MAX_MANIFEST => {
            return Err(Error::integrity(format!(
                "{key} on target '{}' is {n} bytes, far more than any manifest",
                target.name()
            ))
            .hint("it was planted or damaged: do not use it"))
        }
        _ => {}
    }
    let bytes = target.get_bytes(key)?;
    let manifest = local::parse_manifest(&bytes, local_manifest)?;
    if manifest.backup_type != t {
        return Err(Error::integrity(format!(
            "manifest {key} is of a {} backup but sits under {}/",
            manifest.backup_type,
            t.dir()
        )));
    }
    // Keyed: the MAC proves the manifest (and so the hashes below) is ours.
    crate::ops::open_data_key(ring, &manifest, local_manifest)?;
    let mut total = 0u64;
    let files: Vec<(String, u64, String)> = std::iter::once(&manifest.payload)
        .chain(manifest.index.as_ref())
        .map(|s| (s.file.clone(), s.stored_size, s.sha256.clone()))
        .collect();
    for (name, size, sha) in files {
        let dest = repo.type_dir(t).join(&name);
        if dest.exists() {
            let (have, len) = crate::archive::pipeline::hash_file(&dest)?;
            if have == sha && len == size {
                continue;
            }
            return Err(Error::refused(format!(
                "{} exists in the repository with other content than backup {} records",
                dest.display(),
                manifest.id
            ))
            .hint("move that file aside, then pull again"));
        }
        progress.phase(&format!("fetching {}", name));
        // The reader first: a missing object leaves no partial behind.
        let mut reader = target.reader(&rel(t, &name))?;
        let (mut file, partial) = repo.create_partial(t, &name)?;
        let result = hash_stream(&mut CancelRead(&mut reader, cancel), &mut file)
            .and_then(|r| file.sync_all().map(|_| r));
        let (got_sha, got_len) = match result {
            Ok(r) => {
                crate::crashpoint::hit("fetch.partial-written");
                r
            }
            Err(e) => {
                let _ = std::fs::remove_file(&partial);
                if cancel.is_cancelled() {
                    return Err(Error::cancelled("the pull was cancelled"));
                }
                return Err(Error::new(ErrorKind::Io, format!("fetching {key}: {e}")));
            }
        };
        if got_sha != sha || got_len != size {
            let _ = std::fs::remove_file(&partial);
            return Err(altered(
                target,
                &rel(t, &name),
                &format!("{got_len} bytes with SHA-256 {got_sha}, the manifest says {size} bytes with {sha}"),
            ));
        }
        if let Err(e) = repo.publish_exact(&partial, &dest) {
            let _ = std::fs::remove_file(&partial);
            return Err(e);
        }
        // A data file under its name without a manifest is no backup to
        // any reader; a pull run again finds it whole and keeps it.
        crate::crashpoint::hit("fetch.data-published");
        total += got_len;
    }
    // The commit point: from here on the repository holds the backup.
    local::write_atomic(local_manifest, &bytes)?;
    crate::crashpoint::hit("fetch.manifest-written");
    Ok((manifest.id, total))
}

/// Whether `target` holds a whole copy of the backup whose manifest the
/// repository has at `local_manifest`: the target's manifest is the same
/// byte for byte and its listing (`objects`) has every data file at the
/// size the manifest records. What a pull says of a backup it did not
/// need to fetch (one a killed pull committed, say): a copy by size, as
/// `copies --check` finds one, not one read back. Any doubt is a no.
pub(crate) fn holds_whole(
    target: &Target,
    objects: &[crate::storage::remote::Object],
    manifest_key: &str,
    local_manifest: &Path,
    manifest: &Manifest,
) -> bool {
    let t = manifest.backup_type;
    let sized = |key: &str, size: u64| objects.iter().any(|o| o.key == key && o.size == size);
    let files_there = std::iter::once(&manifest.payload)
        .chain(manifest.index.as_ref())
        .all(|s| sized(&rel(t, &s.file), s.stored_size));
    let Ok(ours) = std::fs::read(local_manifest) else {
        return false;
    };
    files_there
        && sized(manifest_key, ours.len() as u64)
        && target.get_bytes(manifest_key).is_ok_and(|b| b == ours)
}

/// A reader that stops with an error once cancelled.
pub(crate) struct CancelRead<'a>(&'a mut dyn Read, &'a Cancel);

impl Read for CancelRead<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.1.is_cancelled() {
            return Err(std::io::Error::other("cancelled"));
        }
        self.0.read(buf)
    }
}

pub(crate) fn altered(target: &Target, rel: &str, what: &str) -> Error {
    Error::integrity(format!(
        "the copy {rel} on target '{}' was altered: {what}",
        target.name()
    ))
    .hint("do not restore from this copy; send it again with `lifeboat copy ID --to TARGET`, and find out who changed it")
}

/// Copy `from` into `to`, returning the SHA-256 (hex) and length of what passed.
pub(crate) fn hash_stream(
    from: &mut dyn Read,
    to: &mut dyn Write,
) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..n]);
        to.write_all(&buf[..n])?;
        len += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), len))
}
