//! Where a backup is read from: the repository first; a copy target when
//! the repository lost the backup's files or holds a payload of the wrong
//! size. A target's copy is streamed (see `Artifact::open_file`), never
//! downloaded whole into the repository or a temporary file first, and is
//! checked exactly as a local one is: the manifest authenticated, every
//! stored byte hashed against it before anything reaches a restore target.

use std::path::Path;

use crate::archive::manifest::Manifest;
use crate::catalog::BackupRecord;
use crate::error::{Error, Result};
use crate::ops::fetch::rel;
use crate::ops::select::{check_against_row, Artifact, Remote};
use crate::ops::Engine;
use crate::storage::local;
use crate::storage::remote::Target;

/// The artifact of catalog row `rec`, from the repository or a target.
pub fn locate(engine: &Engine, rec: &BackupRecord) -> Result<Artifact> {
    match find(engine, rec)? {
        Some(a) => Ok(a),
        // Neither here nor anywhere: the repository's own error says what
        // is missing.
        None => Artifact::from_file(Path::new(&rec.file)),
    }
}

/// Like `locate`, but `None` when neither the repository nor a target
/// holds the backup's manifest.
pub fn find(engine: &Engine, rec: &BackupRecord) -> Result<Option<Artifact>> {
    let payload = Path::new(&rec.file);
    let manifest_path = payload.with_file_name(Manifest::file_name_for(
        &payload.file_name().unwrap_or_default().to_string_lossy(),
    ));
    let local_len = std::fs::metadata(payload).ok().map(|m| m.len());
    let local_whole = manifest_path.exists() && local_len == Some(rec.stored_size);
    let offsite_since = engine.catalog.offsite_only()?.get(&rec.id).copied();
    if !local_whole && offsite_since.is_none() && engine.config.targets.is_empty() {
        return from_repository(rec, &manifest_path);
    }
    if local_whole {
        return from_repository(rec, &manifest_path);
    }
    let holders: Vec<String> = engine
        .catalog
        .copies_of(&rec.id)?
        .into_iter()
        .filter(|c| c.state.counts())
        .map(|c| c.target)
        .collect();
    let mut tried = Vec::new();
    for name in holders {
        let Ok(cfg) = engine.config.target(&name) else {
            continue;
        };
        match Target::open(cfg).and_then(|t| from_target(rec, &manifest_path, t)) {
            Ok(a) => {
                let why = match local_len {
                    None => "the repository does not hold its payload".to_string(),
                    Some(n) if manifest_path.exists() => format!(
                        "its payload in the repository is {n} bytes, not the {} its manifest records",
                        rec.stored_size
                    ),
                    Some(_) => "the repository lost its manifest".to_string(),
                };
                crate::notice::say(
                    crate::notice::Level::Note,
                    &format!(
                        "reading backup {} from target '{name}': {why} (streamed, every byte checked against the manifest)",
                        rec.id
                    ),
                );
                return Ok(Some(a));
            }
            Err(e) => tried.push(format!("target '{name}': {}", e.message)),
        }
    }
    if let Some(since) = offsite_since {
        let why = if tried.is_empty() {
            "no configured target holds a copy of it that counts".to_string()
        } else {
            format!("no copy of it could be read: {}", tried.join("; "))
        };
        return Err(Error::not_found(format!(
            "backup {} lives on its targets only (prune removed it from the repository on {}), and {why}",
            rec.id,
            since.format("%Y-%m-%d")
        ))
        .hint("`lifeboat copies ID` shows which targets held it; a target taken out of the configuration must be put back to read it"));
    }
    if manifest_path.exists() || tried.is_empty() {
        // The repository's own copy, damaged or not, is what there is: its
        // checks say what is wrong with it.
        return from_repository(rec, &manifest_path);
    }
    Err(Error::not_found(format!(
        "backup {}'s files are missing from the repository, and no copy of it could be read: {}",
        rec.id,
        tried.join("; ")
    ))
    .hint("`lifeboat copies --check` shows what each target holds"))
}

/// The copy of `rec` on the target named `name`, whatever the repository
/// holds (`--from NAME`).
pub fn on_target(engine: &Engine, rec: &BackupRecord, name: &str) -> Result<Artifact> {
    let cfg = engine.config.target(name)?;
    let payload = Path::new(&rec.file);
    let manifest_path = payload.with_file_name(Manifest::file_name_for(
        &payload.file_name().unwrap_or_default().to_string_lossy(),
    ));
    Target::open(cfg)
        .and_then(|t| from_target(rec, &manifest_path, t))
        .map_err(|e| {
            Error::new(
                e.kind,
                format!(
                    "target '{name}' has no usable copy of backup {}: {}",
                    rec.id, e.message
                ),
            )
            .hint("`lifeboat copies ID` shows which targets hold it; leave out --from to read the repository's copy")
        })
}

/// A backup read from the repository failed its checks: when targets
/// hold copies of it, say which and how to read one instead.
pub fn point_at_copies(engine: &Engine, id: &str, e: Error) -> Error {
    if e.kind != crate::error::ErrorKind::Integrity {
        return e;
    }
    // Only when it was the repository's copy that was read.
    match engine.catalog.get_backup(id) {
        Ok(Some(rec)) if std::fs::metadata(&rec.file).is_ok_and(|m| m.len() == rec.stored_size) => {
        }
        _ => return e,
    }
    let holders: Vec<String> = match engine.catalog.copies_of(id) {
        Ok(c) => c
            .into_iter()
            .filter(|c| c.state.counts() && engine.config.target(&c.target).is_ok())
            .map(|c| c.target)
            .collect(),
        Err(_) => return e,
    };
    let Some(first) = holders.first() else {
        return e;
    };
    let hint = format!(
        "the repository's copy of backup {id} is damaged; target(s) {} hold a copy: add --from {first} to read it from there",
        holders.join(", ")
    );
    e.hint(hint)
}

fn from_repository(rec: &BackupRecord, manifest_path: &Path) -> Result<Option<Artifact>> {
    if !manifest_path.exists() {
        return Ok(None);
    }
    let a = Artifact::from_file(Path::new(&rec.file))?;
    check_against_row(rec, &a)?;
    Ok(Some(a))
}

/// The copy on `target`, if its manifest is the backup's and its payload
/// has the recorded size.
fn from_target(rec: &BackupRecord, manifest_path: &Path, target: Target) -> Result<Artifact> {
    let t = rec.backup_type;
    let key = rel(
        t,
        &manifest_path
            .file_name()
            .unwrap_or_default()
            .to_string_lossy(),
    );
    // Never more than a manifest can be read into memory, whatever the
    // object is by the time it is read.
    let mut bytes = Vec::new();
    {
        use std::io::Read;
        let reader = match target.reader(&key) {
            Ok(r) => r,
            Err(e) if e.kind == crate::error::ErrorKind::NotFound => {
                return Err(Error::not_found(format!(
                    "it holds no {key} (the copy is gone)"
                )))
            }
            Err(e) => return Err(e),
        };
        reader
            .take(local::MAX_MANIFEST + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| Error::new(crate::error::ErrorKind::Io, format!("reading {key}: {e}")))?;
    }
    if bytes.len() as u64 > local::MAX_MANIFEST {
        return Err(Error::integrity(format!(
            "{key} is larger than any manifest can be"
        )));
    }
    let shown = Path::new(&format!("{key} on target '{}'", target.name())).to_path_buf();
    let manifest = local::parse_manifest(&bytes, &shown)?;
    let mut remote = Remote::new(target);
    for s in std::iter::once(&manifest.payload).chain(manifest.index.as_ref()) {
        if let Some((_, etag)) = remote.head(&rel(t, &s.file))? {
            remote.pin(&s.file, etag);
        }
    }
    let a = Artifact {
        manifest,
        manifest_path: manifest_path.to_path_buf(),
        remote: Some(remote),
    };
    // The same agreement with the catalog a local manifest must show; the
    // manifest's MAC is checked by whoever opens its data key.
    check_against_row(rec, &a)?;
    let payload = &a.manifest.payload;
    match a.file_len(&payload.file)? {
        Some(n) if n == payload.stored_size => Ok(a),
        Some(n) => Err(Error::integrity(format!(
            "{} is {n} bytes, the manifest says {}",
            a.describe(&payload.file),
            payload.stored_size
        ))),
        None => Err(Error::not_found(format!(
            "it has the manifest but not {}",
            a.describe(&payload.file)
        ))),
    }
}
