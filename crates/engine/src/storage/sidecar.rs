//! The verification sidecar: `<payload>.verified.json` next to an artifact
//! records its last verification, so the evidence survives the loss of
//! the catalog (and health can read it without the use-case layer).

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use crate::error::Result;

/// The last verification of an artifact, kept next to it in the repository
/// so it survives the loss of the catalog.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Verification {
    pub at: DateTime<Utc>,
    pub deep: bool,
    /// Measured restore time of a deep database verification (RTO evidence).
    #[serde(default)]
    pub restore_seconds: Option<f64>,
    pub result: String,
}

fn sidecar_path(payload: &Path) -> PathBuf {
    PathBuf::from(format!("{}.verified.json", payload.display()))
}

pub fn write_sidecar(payload: &Path, v: &Verification) -> Result<()> {
    let mut bytes = serde_json::to_vec_pretty(v).expect("serializes");
    bytes.push(b'\n');
    super::local::write_atomic(&sidecar_path(payload), &bytes)
}

/// Read an artifact's verification sidecar, if any.
pub fn read_sidecar(payload: &Path) -> Option<Verification> {
    let bytes = std::fs::read(sidecar_path(payload)).ok()?;
    serde_json::from_slice(&bytes).ok()
}
