//! `[[targets]]` and `[copies]`: where copies of each backup go, besides
//! the repository (the primary copy), and how many each type needs.
//!
//! A target names a place and how to reach it, never a secret: object-store
//! credentials come from the environment, the standard credential files or
//! instance metadata (see [`crate::storage::remote`]).

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

use crate::archive::manifest::BackupType;
use crate::error::{Error, Result};

/// One copy target.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TargetConfig {
    /// How the operator names it: `lifeboat copies`, `recover --from NAME`.
    pub name: String,
    pub kind: TargetKind,
    /// Bucket (s3, gcs) or container (azure).
    #[serde(default, skip_serializing_if = "Option::is_none", alias = "container")]
    pub bucket: Option<String>,
    /// Key prefix inside the bucket, e.g. `lifeboat/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub prefix: String,
    /// s3: the region (default `us-east-1`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// S3-compatible stores and emulators: `http://127.0.0.1:9000`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// azure: the storage account (else `AZURE_STORAGE_ACCOUNT_NAME`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<String>,
    /// local: the directory (another disk, an NFS mount).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathBuf>,
    /// Whether the target counts as offsite for the 3-2-1 rule (default:
    /// object stores yes, local directories no).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offsite: Option<bool>,
    /// Parts uploaded at the same time (1..=32).
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// Size of one uploaded part in MiB (5..=512).
    #[serde(default = "default_part_size")]
    pub part_size_mb: u32,
    /// Upload bandwidth limit in MiB/s; 0 means none.
    #[serde(default)]
    pub bandwidth_limit_mb: f64,
    /// One request (a part, a listing) may take this long before it is
    /// retried; a connection attempt gets a tenth of it.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
    /// Transient failures (timeouts, 5xx, dropped connections) are retried
    /// with backoff for up to this long; other errors fail at once.
    #[serde(default = "default_retry")]
    pub retry_seconds: u32,
    /// The credentials here may write but not delete or overwrite (an S3
    /// bucket with Object Lock, a write-only policy): lifeboat never tries
    /// to delete on it (prune leaves its copies to the bucket's own
    /// retention, or to a host with delete rights), and S3 uploads carry a
    /// SHA-256 checksum, which Object Lock requires.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_only: bool,
    /// Keep copies here at least this many days, longer than the
    /// repository keeps its own (a small local disk, a long offsite
    /// history): prune then removes a backup from the repository alone
    /// and it lives on here, restorable straight from this target, until
    /// this target's own retention lets it go. Unset: copies go when the
    /// repository's do.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
}

fn default_concurrency() -> u32 {
    4
}
fn default_part_size() -> u32 {
    // Measured (bench/offsite_bench.sh): 8 MiB parts upload faster than
    // 16 against moto, with ~58 MiB peak RSS instead of ~98.
    8
}
fn default_timeout() -> u32 {
    120
}
fn default_retry() -> u32 {
    180
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TargetKind {
    Local,
    S3,
    Gcs,
    Azure,
}

impl TargetKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TargetKind::Local => "local",
            TargetKind::S3 => "s3",
            TargetKind::Gcs => "gcs",
            TargetKind::Azure => "azure",
        }
    }
}

impl TargetConfig {
    pub fn is_offsite(&self) -> bool {
        self.offsite.unwrap_or(self.kind != TargetKind::Local)
    }

    /// Where it is, for people: `s3://panel-backups/lifeboat/`.
    pub fn location(&self) -> String {
        match self.kind {
            TargetKind::Local => self
                .path
                .as_ref()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            k => {
                let scheme = match k {
                    TargetKind::S3 => "s3",
                    TargetKind::Gcs => "gs",
                    _ => "az",
                };
                format!(
                    "{scheme}://{}/{}",
                    self.bucket.as_deref().unwrap_or("?"),
                    self.prefix.trim_start_matches('/')
                )
            }
        }
    }
}

/// `[copies.<type>]`: which targets get a copy of each backup of the type,
/// and how many copies (the repository's included) it must have.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopyPolicy {
    /// Target names; absent means every target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub targets: Option<Vec<String>>,
    /// Copies required, the repository's included; absent means one per
    /// target plus the repository's.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CopiesConfig {
    pub database: CopyPolicy,
    pub filesystem: CopyPolicy,
    pub configuration: CopyPolicy,
    pub state: CopyPolicy,
}

impl CopiesConfig {
    pub fn policy(&self, t: BackupType) -> &CopyPolicy {
        match t {
            BackupType::Database => &self.database,
            BackupType::Filesystem => &self.filesystem,
            BackupType::Configuration => &self.configuration,
            BackupType::State => &self.state,
        }
    }
}

impl super::Config {
    /// The targets a backup of type `t` is copied to, in config order.
    pub fn copy_targets(&self, t: BackupType) -> Vec<&TargetConfig> {
        match &self.copies.policy(t).targets {
            None => self.targets.iter().collect(),
            Some(names) => self
                .targets
                .iter()
                .filter(|c| names.contains(&c.name))
                .collect(),
        }
    }

    /// Copies a backup of type `t` must have, the repository's included.
    pub fn required_copies(&self, t: BackupType) -> u32 {
        self.copies
            .policy(t)
            .required
            .unwrap_or(1 + self.copy_targets(t).len() as u32)
    }

    pub fn target(&self, name: &str) -> Result<&TargetConfig> {
        self.targets.iter().find(|t| t.name == name).ok_or_else(|| {
            let known: Vec<&str> = self.targets.iter().map(|t| t.name.as_str()).collect();
            Error::usage(format!("there is no target named '{name}'")).hint(if known.is_empty() {
                "add a [[targets]] entry to the configuration (see config.example.toml)".to_string()
            } else {
                format!("configured targets: {}", known.join(", "))
            })
        })
    }
}

/// Check what serde cannot: names, the settings each kind needs, ranges,
/// and policies that name targets that do not exist.
pub(crate) fn check(config: &super::Config, origin: &str) -> Result<()> {
    let bad = |what: String| {
        Error::usage(format!("invalid [[targets]] in {origin}: {what}"))
            .hint("see the [[targets]] section of config.example.toml")
    };
    let mut seen = std::collections::HashSet::new();
    for t in &config.targets {
        let name = &t.name;
        let name_ok = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !name_ok {
            return Err(bad(format!(
                "name '{name}' (use 1-64 letters, digits, '-' or '_')"
            )));
        }
        if name == "local" || name == "repository" {
            return Err(bad(format!(
                "name '{name}' is kept for the repository itself; pick another"
            )));
        }
        if !seen.insert(name.clone()) {
            return Err(bad(format!("two targets are named '{name}'")));
        }
        match t.kind {
            TargetKind::Local if t.path.is_none() => {
                return Err(bad(format!("target '{name}' (local) needs a path")))
            }
            TargetKind::S3 | TargetKind::Gcs | TargetKind::Azure
                if t.bucket.as_deref().unwrap_or("").is_empty() =>
            {
                return Err(bad(format!(
                    "target '{name}' ({}) needs a bucket",
                    t.kind.as_str()
                )))
            }
            _ => {}
        }
        if let Some(e) = &t.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(bad(format!(
                    "target '{name}': endpoint must start with http:// or https://"
                )));
            }
            if e.contains('@') {
                return Err(bad(format!(
                    "target '{name}': the endpoint holds credentials; put them in the environment (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY) instead"
                )));
            }
        }
        if t.concurrency as u64 * t.part_size_mb as u64 > 1024 {
            return Err(bad(format!(
                "target '{name}': concurrency x part_size_mb is {} MiB of memory (allowed: up to 1024)",
                t.concurrency as u64 * t.part_size_mb as u64
            )));
        }
        if !(1..=32).contains(&t.concurrency) {
            return Err(bad(format!(
                "target '{name}': concurrency {} (allowed: 1 to 32)",
                t.concurrency
            )));
        }
        if t.keep_days == Some(0) {
            return Err(bad(format!(
                "target '{name}': keep_days 0 (leave it out to keep copies as long as the repository keeps its own, or give the days a copy stays there)"
            )));
        }
        if !(5..=512).contains(&t.part_size_mb) {
            return Err(bad(format!(
                "target '{name}': part_size_mb {} (allowed: 5 to 512; S3 needs at least 5)",
                t.part_size_mb
            )));
        }
        if !(t.bandwidth_limit_mb.is_finite() && t.bandwidth_limit_mb >= 0.0) {
            return Err(bad(format!(
                "target '{name}': bandwidth_limit_mb {} (allowed: 0 for none, or MiB per second)",
                t.bandwidth_limit_mb
            )));
        }
        if t.timeout_seconds == 0 {
            return Err(bad(format!(
                "target '{name}': timeout_seconds must be above 0"
            )));
        }
    }
    for t in BackupType::ALL {
        let p = config.copies.policy(t);
        for n in p.targets.iter().flatten() {
            if !seen.contains(n) {
                return Err(Error::usage(format!(
                    "[copies.{t}] in {origin} names target '{n}', which is not configured"
                ))
                .hint("add it as a [[targets]] entry, or take it out of the list"));
            }
        }
        if let Some(r) = p.required {
            let most = 1 + config.copy_targets(t).len() as u32;
            if r == 0 || r > most {
                return Err(Error::usage(format!(
                    "[copies.{t}] required = {r} in {origin}, but {t} backups go to {most} place(s) (the repository and {} target(s))",
                    most - 1
                ))
                .hint("set required between 1 and that number"));
            }
        }
    }
    Ok(())
}

/// After paths are resolved: a local target must not be the repository,
/// inside it, or hold it (a copy there is no second copy).
pub(crate) fn check_paths(config: &super::Config) -> Result<()> {
    let repo = &config.repository.path;
    for t in &config.targets {
        if let Some(p) = &t.path {
            if p.starts_with(repo) || repo.starts_with(p) {
                return Err(Error::usage(format!(
                    "target '{}': path {} is the repository {} or holds it: a copy there is no second copy",
                    t.name,
                    p.display(),
                    repo.display()
                ))
                .hint("point the target at another disk or mount"));
            }
        }
    }
    Ok(())
}
