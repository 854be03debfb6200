//! The key file: master keys that wrap per-artifact data keys.
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::Result;

/// One master key.
pub struct MasterKey {
    pub id: String,
    pub created_at: DateTime<Utc>,
    pub active: bool,
    pub(crate) key: [u8; 32],
}

/// All master keys of one key file; exactly one is active.
pub struct KeyRing {
    pub path: PathBuf,
    keys: Vec<MasterKey>,
    warnings: Vec<String>,
}

impl KeyRing {
    /// Load a key file. Missing file: NotFound/Key error with a hint to run
    /// `lifeboat key generate --key-file PATH`. Loose permissions: a warning.
    pub fn load(path: &Path) -> Result<KeyRing> {
        let _ = path;
        todo!("helper: archive")
    }
    /// Create a new key file with one active key (0600, parent dir 0700). Refuses to overwrite.
    pub fn generate(path: &Path) -> Result<KeyRing> {
        let _ = path;
        todo!("helper: archive")
    }
    /// Add a new key and make it the only active one (in memory; call `save`).
    pub fn add_active(&mut self) -> &MasterKey {
        todo!("helper: archive")
    }
    /// Remove a non-active key (in memory; call `save`).
    pub fn remove(&mut self, id: &str) -> Result<()> {
        let _ = id;
        todo!("helper: archive")
    }
    /// Write atomically with mode 0600.
    pub fn save(&self) -> Result<()> {
        todo!("helper: archive")
    }
    pub fn active(&self) -> &MasterKey {
        todo!("helper: archive")
    }
    pub fn get(&self, id: &str) -> Option<&MasterKey> {
        let _ = id;
        todo!("helper: archive")
    }
    pub fn keys(&self) -> &[MasterKey] {
        &self.keys
    }
    /// Warnings found while loading (loose permissions).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }
}
