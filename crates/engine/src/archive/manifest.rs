//! The manifest: the sidecar that makes an artifact self-describing.
//!
//! A repository is only as good as what can be understood from it after the
//! catalog is gone, so everything needed to restore, verify and rebuild the
//! catalog lives here: what the payload is, how it was compressed and
//! encrypted, its hash, its parent, and type-specific facts. When a master
//! key is configured the manifest carries an HMAC (keyed from the artifact's
//! data key) over everything except the key-wrapping fields, so key rotation
//! can re-wrap the data key without invalidating the MAC.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The value of `format` in every manifest this version writes.
pub const MANIFEST_FORMAT: &str = "lifeboat-manifest/1";
/// Suffix of the sidecar next to a payload.
pub const MANIFEST_SUFFIX: &str = ".manifest.json";

/// What a backup is of. Each type has its own directory in a repository.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupType {
    Database,
    Filesystem,
    Configuration,
    State,
}

impl BackupType {
    pub const ALL: [BackupType; 4] = [
        BackupType::Database,
        BackupType::Filesystem,
        BackupType::Configuration,
        BackupType::State,
    ];

    /// Directory of this type inside a repository.
    pub fn dir(self) -> &'static str {
        match self {
            BackupType::Database => "database",
            BackupType::Filesystem => "filesystem",
            BackupType::Configuration => "configuration",
            BackupType::State => "state",
        }
    }

    /// Prefix of artifact file names, as the seed scripts named them.
    pub fn file_prefix(self) -> &'static str {
        match self {
            BackupType::Database => "db_backup",
            BackupType::Filesystem => "fs_backup",
            BackupType::Configuration => "config_backup",
            BackupType::State => "state_backup",
        }
    }

    /// Short prefix used in backup ids.
    pub fn id_prefix(self) -> &'static str {
        match self {
            BackupType::Database => "db",
            BackupType::Filesystem => "fs",
            BackupType::Configuration => "cfg",
            BackupType::State => "st",
        }
    }

    pub fn as_str(self) -> &'static str {
        self.dir()
    }
}

impl fmt::Display for BackupType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BackupType {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "database" | "db" => Ok(BackupType::Database),
            "filesystem" | "fs" | "files" => Ok(BackupType::Filesystem),
            "configuration" | "config" | "cfg" => Ok(BackupType::Configuration),
            "state" => Ok(BackupType::State),
            other => Err(format!(
                "unknown backup type '{other}' (allowed: database, filesystem, configuration, state)"
            )),
        }
    }
}

/// Compression algorithm of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Compression {
    #[serde(rename = "none")]
    None,
    #[serde(rename = "gzip")]
    Gzip,
    #[serde(rename = "zstd")]
    Zstd,
    #[serde(rename = "bz2")]
    Bzip2,
}

impl Compression {
    /// File-name extension, including the dot; empty for `none`.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::None => "",
            Compression::Gzip => ".gz",
            Compression::Zstd => ".zst",
            Compression::Bzip2 => ".bz2",
        }
    }

    /// Level used when the configuration does not name one.
    pub fn default_level(self) -> i32 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 6,
            Compression::Zstd => 3,
            Compression::Bzip2 => 9,
        }
    }

    /// Allowed level range, inclusive.
    pub fn level_range(self) -> (i32, i32) {
        match self {
            Compression::None => (0, 0),
            Compression::Gzip => (1, 9),
            Compression::Zstd => (1, 19),
            Compression::Bzip2 => (1, 9),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Bzip2 => "bz2",
        }
    }
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "none" | "off" => Ok(Compression::None),
            "gzip" | "gz" => Ok(Compression::Gzip),
            "zstd" | "zst" => Ok(Compression::Zstd),
            "bz2" | "bzip2" => Ok(Compression::Bzip2),
            other => Err(format!(
                "unknown compression '{other}' (allowed: zstd, gzip, bz2, none)"
            )),
        }
    }
}

/// Full backups stand alone; incrementals need their parent chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    Full,
    Incremental,
}

/// A data key wrapped (AES-256-GCM) by a master key. Re-written by key rotation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WrappedKey {
    /// Id of the master key that wraps it.
    pub key_id: String,
    /// Base64 12-byte nonce of the wrapping.
    pub nonce: String,
    /// Base64 ciphertext+tag of the 32-byte data key.
    pub ciphertext: String,
}

/// One stored stream (the payload or the file index) and its integrity facts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamInfo {
    /// File name, relative to the manifest's directory.
    pub file: String,
    /// Bytes before compression and encryption.
    pub size: u64,
    /// Bytes as stored.
    pub stored_size: u64,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
}

/// Counts for filesystem and configuration artifacts.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileStats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    /// Bytes of regular file content in the tree (stored or not).
    pub bytes: u64,
    /// Entries whose content is in this artifact's payload.
    pub stored: u64,
    /// Entries unchanged since the parent (incrementals only).
    pub unchanged: u64,
    /// Entries deleted since the parent (incrementals only).
    pub deleted: u64,
}

/// The sidecar of one artifact.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format: String,
    pub id: String,
    #[serde(rename = "type")]
    pub backup_type: BackupType,
    pub name: Option<String>,
    pub kind: BackupKind,
    pub parent_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: DateTime<Utc>,
    /// `user@host` that made it.
    pub created_by: String,
    pub tool_version: String,
    /// What was backed up (paths, database name, ...), type-specific.
    pub source: serde_json::Value,
    pub compression: Compression,
    pub compression_level: i32,
    /// True when payload (and index) are encrypted with the data key.
    pub encrypted: bool,
    /// Segment size of the encrypted stream, when encrypted.
    pub segment_size: Option<u32>,
    /// The artifact's data key, present whenever a master key was configured
    /// (it also keys the manifest MAC of unencrypted artifacts).
    pub key: Option<WrappedKey>,
    pub payload: StreamInfo,
    /// File index sidecar (filesystem, configuration).
    pub index: Option<StreamInfo>,
    pub files: Option<FileStats>,
    /// Database facts (server version, per-table row counts), type-specific.
    pub database: Option<serde_json::Value>,
    /// Problems that did not stop the backup (unreadable or changing files).
    pub warnings: Vec<String>,
    /// Hex HMAC-SHA256 over [`Manifest::mac_input`], when keyed.
    pub mac: Option<String>,
}

impl Manifest {
    /// Canonical bytes covered by the MAC: the manifest as JSON with the MAC
    /// and the wrapping of the data key blanked (rotation rewrites those).
    pub fn mac_input(&self) -> Vec<u8> {
        let mut m = self.clone();
        m.mac = None;
        m.key = None;
        serde_json::to_vec(&m).expect("manifest serializes")
    }

    /// Manifest file name for a payload file name.
    pub fn file_name_for(payload_file: &str) -> String {
        format!("{payload_file}{MANIFEST_SUFFIX}")
    }

    pub fn to_json_pretty(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(self).expect("manifest serializes");
        v.push(b'\n');
        v
    }
}

#[cfg(test)]
impl Manifest {
    /// A small unkeyed filesystem manifest for tests of code that only
    /// reads a manifest's names and ids.
    pub(crate) fn sample(payload_file: &str) -> Manifest {
        let at = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 26, 2, 0, 0).unwrap();
        Manifest {
            format: MANIFEST_FORMAT.to_string(),
            id: "fs-20261126-020000-00000001".into(),
            backup_type: BackupType::Filesystem,
            name: None,
            kind: BackupKind::Full,
            parent_id: None,
            created_at: at,
            finished_at: at,
            created_by: "ops@panel".into(),
            tool_version: "0.1.0".into(),
            source: serde_json::json!({"paths": ["/srv/panel/uploads"]}),
            compression: Compression::Zstd,
            compression_level: 3,
            encrypted: false,
            segment_size: None,
            key: None,
            payload: StreamInfo {
                file: payload_file.into(),
                size: 10,
                stored_size: 10,
                sha256: "ab".repeat(32),
            },
            index: Some(StreamInfo {
                file: format!("{payload_file}.index"),
                size: 1,
                stored_size: 1,
                sha256: "cd".repeat(32),
            }),
            files: None,
            database: None,
            warnings: Vec::new(),
            mac: None,
        }
    }
}
