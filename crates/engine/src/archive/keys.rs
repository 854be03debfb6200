//! The key file: master keys that wrap per-artifact data keys.
//!
//! A small TOML file an operator can read, copy and print for the safe:
//! one `[[keys]]` table per master key, exactly one of them active (the one
//! new backups are wrapped with). Older keys stay so older backups remain
//! readable until rotation re-wraps them. The file is written atomically
//! with mode 0600, and key bytes never appear in `Debug` output or errors.
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use chrono::{DateTime, SecondsFormat, Utc};
use rand::rngs::OsRng;
use rand::RngCore;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

const FILE_COMMENT: &str = "# lifeboat key file: keep it secret, keep a copy offline. \
Losing it makes encrypted backups unreadable.\n";

/// One master key.
#[derive(Clone)]
pub struct MasterKey {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub active: bool,
    pub(crate) key: [u8; 32],
}

impl MasterKey {
    fn random(existing: &[MasterKey]) -> MasterKey {
        let now = Utc::now();
        loop {
            let mut tag = [0u8; 3];
            OsRng.fill_bytes(&mut tag);
            let id = format!("k-{}-{}", now.format("%Y%m%d"), hex::encode(tag));
            if existing.iter().any(|k| k.id == id) {
                continue;
            }
            let mut key = [0u8; 32];
            OsRng.fill_bytes(&mut key);
            return MasterKey {
                id,
                created_at: now,
                active: true,
                key,
            };
        }
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MasterKey")
            .field("id", &self.id)
            .field("created_at", &self.created_at)
            .field("active", &self.active)
            .field("key", &"<redacted>")
            .finish()
    }
}

/// All master keys of one key file; exactly one is active.
#[derive(Debug)]
pub struct KeyRing {
    pub path: PathBuf,
    keys: Vec<MasterKey>,
    warnings: Vec<String>,
    /// With a key file, every manifest must be authenticated; the operator
    /// may accept unauthenticated ones explicitly (`--allow-unauthenticated`).
    pub accept_unauthenticated: bool,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    keys: Vec<KeyEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    id: String,
    created_at: String,
    active: bool,
    key: String,
}

impl KeyRing {
    /// Load a key file. Missing file: a Key error with a hint to run
    /// `lifeboat key generate` or fix `[encryption] key_file`. Loose
    /// permissions: a warning.
    pub fn load(path: &Path) -> Result<KeyRing> {
        let shown = path.display();
        let meta = match fs::metadata(path) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(Error::key(format!("key file {shown} does not exist")).hint(
                    "create one with `lifeboat key generate`, or set [encryption] key_file (or LIFEBOAT_KEY_FILE) to the right path",
                ))
            }
            Err(e) => return Err(Error::io("read key file", path, e)),
        };
        let mut warnings = Vec::new();
        let mode = meta.permissions().mode() & 0o7777;
        if mode & 0o077 != 0 {
            warnings.push(format!(
                "key file {shown} has mode {mode:04o}; it should be 0600 (run chmod 600 {shown})"
            ));
        }
        let text = fs::read_to_string(path).map_err(|e| Error::io("read key file", path, e))?;
        let bad = |what: String| {
            Error::key(format!(
                "key file {shown} is not a valid lifeboat key file: {what}"
            ))
            .hint("restore the key file from your offline copy; do not edit key lines by hand")
        };
        // toml's messages quote the offending line, which may hold a key:
        // report only where the problem is.
        let parsed: KeyFile = toml::from_str(&text).map_err(|e| {
            let at = e
                .span()
                .map(|s| {
                    let line = text[..s.start.min(text.len())].matches('\n').count() + 1;
                    format!(" (line {line})")
                })
                .unwrap_or_default();
            bad(format!(
                "it is not TOML with [[keys]] tables of id, created_at, active, key{at}"
            ))
        })?;
        let mut keys: Vec<MasterKey> = Vec::with_capacity(parsed.keys.len());
        for entry in parsed.keys {
            let id = entry.id;
            if id.is_empty() {
                return Err(bad("a key has an empty id".into()));
            }
            if keys.iter().any(|k| k.id == id) {
                return Err(bad(format!("key id {id} appears twice")));
            }
            let created_at = DateTime::parse_from_rfc3339(&entry.created_at)
                .map_err(|_| {
                    bad(format!(
                        "key {id} has an invalid created_at (want RFC 3339)"
                    ))
                })?
                .with_timezone(&Utc);
            let bytes = B64
                .decode(entry.key.trim())
                .map_err(|_| bad(format!("key {id} is not valid base64")))?;
            let key: [u8; 32] = bytes.as_slice().try_into().map_err(|_| {
                bad(format!(
                    "key {id} is {} bytes long; a key is 32 bytes",
                    bytes.len()
                ))
            })?;
            keys.push(MasterKey {
                id,
                created_at,
                active: entry.active,
                key,
            });
        }
        match keys.iter().filter(|k| k.active).count() {
            1 => {}
            0 => {
                return Err(Error::key(format!("key file {shown} has no active key"))
                    .hint("mark exactly one key `active = true` (the newest one)"))
            }
            n => {
                return Err(Error::key(format!(
                    "key file {shown} has {n} active keys; exactly one must be active"
                ))
                .hint("set `active = false` on all but the newest key"))
            }
        }
        Ok(KeyRing {
            path: path.to_path_buf(),
            keys,
            warnings,
            accept_unauthenticated: false,
        })
    }

    /// Create a new key file with one active key (0600, parent dir 0700). Refuses to overwrite.
    pub fn generate(path: &Path) -> Result<KeyRing> {
        let refuse = || {
            Error::refused(format!(
                "key file {} already exists; refusing to overwrite it",
                path.display()
            ))
            .hint("backups wrapped with its keys need it: use it as is, add a key with rotation, or choose another path")
        };
        if fs::symlink_metadata(path).is_ok() {
            return Err(refuse());
        }
        if let Some(dir) = parent_dir(path) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(|e| Error::io("create key file directory", dir, e))?;
        }
        let ring = KeyRing {
            path: path.to_path_buf(),
            keys: vec![MasterKey::random(&[])],
            warnings: Vec::new(),
            accept_unauthenticated: false,
        };
        match ring.write_atomic(false) {
            Err(e) if e.kind == crate::error::ErrorKind::Refused => Err(refuse()),
            other => other.map(|()| ring),
        }
    }

    /// Add a new key and make it the only active one (in memory; call `save`).
    pub fn add_active(&mut self) -> &MasterKey {
        let key = MasterKey::random(&self.keys);
        for k in &mut self.keys {
            k.active = false;
        }
        self.keys.push(key);
        self.keys.last().expect("just pushed")
    }

    /// Remove a non-active key (in memory; call `save`).
    pub fn remove(&mut self, id: &str) -> Result<()> {
        let shown = self.path.display();
        let Some(i) = self.keys.iter().position(|k| k.id == id) else {
            return Err(
                Error::not_found(format!("key file {shown} has no key {id}"))
                    .hint("list the keys of the key file and use one of their ids"),
            );
        };
        if self.keys[i].active {
            return Err(Error::refused(format!(
                "key {id} is the active key of key file {shown}; refusing to remove it"
            ))
            .hint("add a new active key first (rotation), then remove this one"));
        }
        self.keys.remove(i);
        Ok(())
    }

    /// Write atomically with mode 0600.
    pub fn save(&self) -> Result<()> {
        self.write_atomic(true)
    }

    pub fn active(&self) -> &MasterKey {
        self.keys
            .iter()
            .find(|k| k.active)
            .expect("a key ring always has exactly one active key")
    }

    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }

    /// Warnings found while loading (loose permissions).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    fn to_toml(&self) -> String {
        let file = KeyFile {
            keys: self
                .keys
                .iter()
                .map(|k| KeyEntry {
                    id: k.id.clone(),
                    created_at: k.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
                    active: k.active,
                    key: B64.encode(k.key),
                })
                .collect(),
        };
        let body = toml::to_string(&file).expect("key file serializes");
        format!("{FILE_COMMENT}\n{body}")
    }

    /// Temp file (0600) in the same directory, fsync, then rename over the
    /// target (or, with `replace` false, link it so an existing file wins),
    /// then fsync the directory so the new name survives a crash.
    fn write_atomic(&self, replace: bool) -> Result<()> {
        let path = &self.path;
        let dir = parent_dir(path).unwrap_or(Path::new("."));
        let name = path
            .file_name()
            .ok_or_else(|| {
                Error::usage(format!("key file path {} has no file name", path.display()))
            })?
            .to_string_lossy();
        let mut tag = [0u8; 6];
        OsRng.fill_bytes(&mut tag);
        let tmp = dir.join(format!(".{name}.tmp-{}", hex::encode(tag)));
        let result = (|| {
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
                .map_err(|e| Error::io("create key file", &tmp, e))?;
            // Mode at creation is filtered by umask; 0600 is what we want regardless.
            f.set_permissions(fs::Permissions::from_mode(0o600))
                .map_err(|e| Error::io("set mode 0600 on key file", &tmp, e))?;
            f.write_all(self.to_toml().as_bytes())
                .and_then(|()| f.sync_all())
                .map_err(|e| Error::io("write key file", &tmp, e))?;
            drop(f);
            if replace {
                fs::rename(&tmp, path).map_err(|e| Error::io("replace key file", path, e))?;
            } else {
                match fs::hard_link(&tmp, path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                        return Err(Error::refused(format!(
                            "key file {} already exists",
                            path.display()
                        )))
                    }
                    // Filesystems without hard links: checked above that it does not exist.
                    Err(_) => {
                        fs::rename(&tmp, path).map_err(|e| Error::io("create key file", path, e))?
                    }
                }
                let _ = fs::remove_file(&tmp);
            }
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io("sync directory", dir, e))
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }
}

fn parent_dir(path: &Path) -> Option<&Path> {
    path.parent().filter(|p| !p.as_os_str().is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn generate_creates_private_file_and_refuses_to_overwrite() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("secrets/sub/lifeboat.key");
        let ring = KeyRing::generate(&path).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        assert_eq!(ring.keys().len(), 1);
        let id = ring.active().id.clone();
        assert!(
            id.starts_with("k-") && id.len() == "k-20261126-5f3a9c".len(),
            "{id}"
        );

        let text = fs::read_to_string(&path).unwrap();
        assert!(text.starts_with("# lifeboat key file"));
        assert!(text.contains("[[keys]]") && text.contains("active = true"));

        let loaded = KeyRing::load(&path).unwrap();
        assert!(loaded.warnings().is_empty());
        assert_eq!(loaded.active().id, id);
        assert_eq!(loaded.active().key, ring.active().key);

        let err = KeyRing::generate(&path).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Refused);
        assert!(err.message.contains("already exists"), "{}", err.message);
        assert_eq!(
            KeyRing::load(&path).unwrap().active().key,
            ring.active().key
        );
        // No temp files left behind.
        assert_eq!(fs::read_dir(path.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn loose_permissions_warn() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("k.toml");
        KeyRing::generate(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        let ring = KeyRing::load(&path).unwrap();
        let p = path.display();
        assert_eq!(
            ring.warnings(),
            [format!(
                "key file {p} has mode 0644; it should be 0600 (run chmod 600 {p})"
            )]
        );
    }

    #[test]
    fn missing_and_bad_files_are_key_errors() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("nope.key");
        let err = KeyRing::load(&path).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Key);
        assert!(err.message.contains("does not exist"));
        assert!(err.hint.unwrap().contains("lifeboat key generate"));

        let secret = B64.encode([9u8; 31]);
        let cases = [
            "not toml at all [[".to_string(),
            format!("[[keys]]\nid = \"a\"\ncreated_at = \"2026-11-26T05:00:00Z\"\nactive = true\nkey = \"{secret}\"\n"),
            "[[keys]]\nid = \"a\"\ncreated_at = \"2026-11-26T05:00:00Z\"\nactive = true\nkey = \"!!!\"\n".to_string(),
            "keys = []\n".to_string(),
        ];
        for text in cases {
            fs::write(&path, &text).unwrap();
            let err = KeyRing::load(&path).unwrap_err();
            assert_eq!(err.kind, crate::error::ErrorKind::Key, "{text}");
            assert!(err.message.contains(&path.display().to_string()));
            assert!(!err.display_with_hint().contains(&secret));
        }
        let k = B64.encode([1u8; 32]);
        fs::write(
            &path,
            format!("[[keys]]\nid = \"a\"\ncreated_at = \"2026-11-26T05:00:00Z\"\nactive = true\nkey = \"{k}\"\n[[keys]]\nid = \"b\"\ncreated_at = \"2026-11-26T05:00:00Z\"\nactive = true\nkey = \"{k}\"\n"),
        )
        .unwrap();
        assert!(KeyRing::load(&path)
            .unwrap_err()
            .message
            .contains("2 active keys"));
    }

    #[test]
    fn add_active_and_remove_rules() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("k.toml");
        let mut ring = KeyRing::generate(&path).unwrap();
        let old = ring.active().id.clone();
        let new = ring.add_active().id.clone();
        assert_ne!(old, new);
        assert_eq!(ring.active().id, new);
        assert!(!ring.get(&old).unwrap().active);

        let err = ring.remove(&new).unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::Refused);
        let err = ring.remove("k-00000000-000000").unwrap_err();
        assert_eq!(err.kind, crate::error::ErrorKind::NotFound);

        ring.save().unwrap();
        assert_eq!(mode(&path), 0o600);
        let mut loaded = KeyRing::load(&path).unwrap();
        assert_eq!(loaded.keys().len(), 2);
        loaded.remove(&old).unwrap();
        loaded.save().unwrap();
        let loaded = KeyRing::load(&path).unwrap();
        assert_eq!(loaded.keys().len(), 1);
        assert_eq!(loaded.active().id, new);
    }

    #[test]
    fn debug_redacts_key_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let ring = KeyRing::generate(&tmp.path().join("k.toml")).unwrap();
        let dbg = format!("{ring:?} {:?}", ring.active());
        assert!(dbg.contains("<redacted>"));
        assert!(!dbg.contains(&B64.encode(ring.active().key)));
        let bytes = format!("{:?}", ring.active().key);
        assert!(!dbg.contains(&bytes));
    }
}
