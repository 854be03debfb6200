//! Configuration: TOML file, environment overrides, built-in defaults.
//!
//! One [`Config`] is resolved once at start-up and handed down; nothing below
//! the faces reads the environment or the file again. Resolution order:
//!
//! 1. the file named by `--config FILE` (must exist), else `$LIFEBOAT_CONFIG`
//!    (must exist), else `./lifeboat.toml` if present, else built-in defaults;
//! 2. environment overrides (the seed scripts' `BACKUP_*` variables and
//!    `LIFEBOAT_*`), applied on top of the file;
//! 3. validation, then every path is made absolute.
//!
//! Relative paths in a file are relative to that file's directory (so a config
//! means the same thing whichever directory cron runs it from); without a
//! file, and for paths given in the environment, they are relative to the
//! working directory.
//!
//! Values are checked before serde sees them ([`check`]), so a bad value is
//! reported as "invalid value for [section] key in FILE: VALUE (allowed: ...)"
//! rather than as a serde type error. Serde still rejects unknown keys
//! (`deny_unknown_fields`) and wrong types, with toml's line and column.

mod check;
mod env;
mod paths;
mod targets;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::archive::manifest::{BackupType, Compression};
use crate::error::{Error, Result};

pub use paths::{mask_database_url, normalize};
pub use targets::{CopiesConfig, CopyPolicy, TargetConfig, TargetKind};

/// Name of the file picked up from the working directory.
pub const DEFAULT_FILE_NAME: &str = "lifeboat.toml";
/// Environment variable naming the config file.
pub const CONFIG_ENV: &str = "LIFEBOAT_CONFIG";

/// The effective configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub repository: RepositoryConfig,
    pub catalog: CatalogConfig,
    pub encryption: EncryptionConfig,
    pub compression: CompressionConfig,
    pub retention: RetentionConfig,
    pub health: HealthConfig,
    pub alerts: AlertsConfig,
    pub sources: SourcesConfig,
    pub backup: BackupConfig,
    pub metrics: MetricsConfig,
    pub schedule: ScheduleConfig,
    pub app: AppConfig,
    pub hooks: HooksConfig,
    pub jobs: JobsConfig,
    pub logging: LoggingConfig,
    /// Copy targets besides the repository (`[[targets]]`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub targets: Vec<TargetConfig>,
    /// Which targets each type is copied to, and how many copies it needs.
    pub copies: CopiesConfig,
    /// The file this was loaded from; `None` when built-in defaults were used.
    #[serde(skip)]
    pub source: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RepositoryConfig {
    /// Directory holding the artifacts.
    pub path: PathBuf,
}

impl Default for RepositoryConfig {
    fn default() -> Self {
        RepositoryConfig {
            path: PathBuf::from("./var/repository"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CatalogConfig {
    /// SQLite catalog file.
    pub path: PathBuf,
}

impl Default for CatalogConfig {
    fn default() -> Self {
        CatalogConfig {
            path: PathBuf::from("./var/catalog.db"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConfig {
    /// Master key file.
    pub key_file: PathBuf,
    /// Whether new artifacts are encrypted.
    pub encrypt: EncryptMode,
    /// Accept manifests without a MAC although a key file exists: the
    /// operator's `--allow-unauthenticated`, never a config key.
    #[serde(skip)]
    pub accept_unauthenticated: bool,
}

impl Default for EncryptionConfig {
    fn default() -> Self {
        EncryptionConfig {
            key_file: PathBuf::from("./var/keys/lifeboat.key"),
            encrypt: EncryptMode::Auto,
            accept_unauthenticated: false,
        }
    }
}

impl EncryptionConfig {
    /// Whether to encrypt, given whether the key file exists.
    pub fn should_encrypt(&self, key_exists: bool) -> bool {
        match self.encrypt {
            EncryptMode::Auto => key_exists,
            EncryptMode::Always => true,
            EncryptMode::Never => false,
        }
    }
}

/// `encrypt = "auto" | true | false` in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncryptMode {
    /// Encrypt when the key file exists.
    #[default]
    Auto,
    /// Always encrypt; a missing key is an error.
    Always,
    /// Never encrypt.
    Never,
}

impl EncryptMode {
    pub const ALLOWED: &'static str = "\"auto\", true or false";
}

impl FromStr for EncryptMode {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(EncryptMode::Auto),
            "true" | "1" | "yes" | "on" | "always" => Ok(EncryptMode::Always),
            "false" | "0" | "no" | "off" | "never" => Ok(EncryptMode::Never),
            _ => Err(format!("allowed: {}", EncryptMode::ALLOWED)),
        }
    }
}

impl Serialize for EncryptMode {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            EncryptMode::Auto => s.serialize_str("auto"),
            EncryptMode::Always => s.serialize_bool(true),
            EncryptMode::Never => s.serialize_bool(false),
        }
    }
}

impl<'de> Deserialize<'de> for EncryptMode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Bool(bool),
            Str(String),
        }
        match Repr::deserialize(d)? {
            Repr::Bool(true) => Ok(EncryptMode::Always),
            Repr::Bool(false) => Ok(EncryptMode::Never),
            Repr::Str(s) if s.eq_ignore_ascii_case("auto") => Ok(EncryptMode::Auto),
            Repr::Str(s) => Err(serde::de::Error::custom(format!(
                "invalid encrypt value {s:?} (allowed: {})",
                EncryptMode::ALLOWED
            ))),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionConfig {
    #[serde(deserialize_with = "de_compression")]
    pub algorithm: Compression,
    /// Always filled in after loading: the file's value, or the algorithm's default.
    pub level: i32,
    /// zstd worker threads (0 = compress on the calling thread).
    pub threads: u32,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        CompressionConfig {
            algorithm: Compression::Zstd,
            level: Compression::Zstd.default_level(),
            threads: 2,
        }
    }
}

fn de_compression<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Compression, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionConfig {
    pub database_days: u32,
    pub filesystem_days: u32,
    pub configuration_days: u32,
    pub state_days: u32,
    /// Newest good backups of each type kept whatever their age.
    pub min_keep: u32,
    /// `[retention.database]` etc.: per-type policy (overrides the flat keys).
    pub database: TypeRetention,
    pub filesystem: TypeRetention,
    pub configuration: TypeRetention,
    pub state: TypeRetention,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            database_days: 30,
            filesystem_days: 90,
            configuration_days: 365,
            state_days: 30,
            min_keep: 3,
            database: TypeRetention::default(),
            filesystem: TypeRetention::default(),
            configuration: TypeRetention::default(),
            state: TypeRetention::default(),
        }
    }
}

/// When backups run (`lifeboat daemon`, `lifeboat schedule`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ScheduleConfig {
    /// "UTC" or an IANA zone name; schedule times are in this zone.
    pub timezone: String,
    pub database: TypeSchedule,
    pub filesystem: TypeSchedule,
    pub configuration: TypeSchedule,
    pub state: TypeSchedule,
    /// `backup --all --full` (weekly and monthly full sets).
    pub all: TypeSchedule,
}

impl Default for ScheduleConfig {
    /// The seed's schedule: database every 6 hours plus a daily full at
    /// 02:00, filesystem and configuration daily, and a full set of every
    /// type weekly on Sunday and monthly on the 1st.
    fn default() -> Self {
        let s = |every: &str, full: &[&str]| TypeSchedule {
            cron: None,
            every: (!every.is_empty()).then(|| every.to_string()),
            full: full.iter().map(|f| f.to_string()).collect(),
        };
        ScheduleConfig {
            timezone: "UTC".to_string(),
            database: s("every 6h", &["daily 02:00"]),
            filesystem: s("daily 01:30", &[]),
            configuration: s("daily 01:00", &[]),
            state: s("daily 01:00", &[]),
            all: s("", &["weekly sun 03:00", "monthly 1 04:00"]),
        }
    }
}

impl ScheduleConfig {
    pub fn for_type(&self, t: BackupType) -> Option<&TypeSchedule> {
        Some(match t {
            BackupType::Database => &self.database,
            BackupType::Filesystem => &self.filesystem,
            BackupType::Configuration => &self.configuration,
            BackupType::State => &self.state,
        })
    }
}

/// One type's schedule: regular runs (`cron` or `every`) and full runs.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TypeSchedule {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub every: Option<String>,
    /// One expression or a list of them.
    #[serde(
        deserialize_with = "one_or_many",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub full: Vec<String>,
}

fn one_or_many<'de, D: Deserializer<'de>>(d: D) -> std::result::Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

/// One type's retention policy, restic-style: a backup is kept when any
/// rule keeps it. Unset rules do not keep anything.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TypeRetention {
    /// Keep everything younger than this (default: the flat `<type>_days`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_days: Option<u32>,
    /// Keep the newest N.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Keep the newest backup of each of the last N days that have one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_daily: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_weekly: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub keep_monthly: Option<u32>,
    /// Newest good backups kept whatever the policy says (default: `[retention] min_keep`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_keep: Option<u32>,
}

/// The effective policy for one type, every default applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    pub keep_days: u32,
    pub keep_last: u32,
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    pub min_keep: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HealthConfig {
    /// Warn when a type's newest good backup is older than this many hours
    /// (critical at twice that). Decimals are allowed: 0.5 is 30 minutes.
    #[serde(serialize_with = "whole_as_integer")]
    pub max_backup_age_hours: f64,
    /// 0..=1.
    pub min_backup_success_rate: f64,
    /// Days of backup jobs the success rate is computed over.
    pub success_window_days: u32,
    /// Recovery point objective per backup type, in minutes.
    pub rpo_minutes: RpoConfig,
    /// Recovery time objective: the longest acceptable full recovery.
    pub rto_minutes: u32,
    /// Warn when no backup was verified successfully for this long.
    pub max_verify_age_days: u32,
    /// Warn when no recovery drill succeeded for this long.
    pub max_drill_age_days: u32,
    /// Repository disk use (percent) that is a warning.
    pub disk_warn_percent: u32,
    /// Repository disk use (percent) that is critical.
    pub disk_critical_percent: u32,
}

impl Default for HealthConfig {
    fn default() -> Self {
        HealthConfig {
            max_backup_age_hours: 25.0,
            min_backup_success_rate: 0.95,
            success_window_days: 7,
            rpo_minutes: RpoConfig::default(),
            rto_minutes: 240,
            max_verify_age_days: 7,
            max_drill_age_days: 30,
            disk_warn_percent: 80,
            disk_critical_percent: 90,
        }
    }
}

/// A whole number as an integer (`25`, as config files have always written
/// it), anything else as a float (`0.5`), so `lifeboat config` shows what
/// the operator wrote.
fn whole_as_integer<S: Serializer>(v: &f64, s: S) -> std::result::Result<S::Ok, S::Error> {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        s.serialize_i64(*v as i64)
    } else {
        s.serialize_f64(*v)
    }
}

/// `[health.rpo_minutes]`: how much data (in minutes) each type may lose.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RpoConfig {
    pub database: u32,
    pub filesystem: u32,
    pub configuration: u32,
}

impl Default for RpoConfig {
    fn default() -> Self {
        RpoConfig {
            database: 60,
            filesystem: 1440,
            configuration: 1440,
        }
    }
}

impl RpoConfig {
    /// The objective for a type; `None` for types without one (state).
    pub fn minutes(&self, t: BackupType) -> Option<u32> {
        match t {
            BackupType::Database => Some(self.database),
            BackupType::Filesystem => Some(self.filesystem),
            BackupType::Configuration => Some(self.configuration),
            BackupType::State => None,
        }
    }
}

/// `[metrics]`: the Prometheus textfile.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MetricsConfig {
    /// Where to write it; unset means `<catalog dir>/metrics/lifeboat.prom`,
    /// an empty string turns metrics off.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub textfile: Option<PathBuf>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AlertsConfig {
    /// A condition that stays bad is repeated after this many minutes.
    pub repeat_minutes: u32,
    pub email: EmailAlerts,
    pub webhook: WebhookAlerts,
}

impl Default for AlertsConfig {
    fn default() -> Self {
        AlertsConfig {
            repeat_minutes: 240,
            email: EmailAlerts::default(),
            webhook: WebhookAlerts::default(),
        }
    }
}

/// `[alerts.email]`: SMTP delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EmailAlerts {
    pub enabled: bool,
    pub recipients: Vec<String>,
    /// `smtp://host:port` (plain or STARTTLS when offered) or
    /// `smtps://host:465`; user and password may be in the URL (masked in
    /// output) or the password in $LIFEBOAT_SMTP_PASSWORD.
    pub smtp_url: String,
    pub from: String,
    pub timeout_seconds: u32,
}

impl Default for EmailAlerts {
    fn default() -> Self {
        EmailAlerts {
            enabled: false,
            recipients: Vec::new(),
            smtp_url: "smtp://127.0.0.1:25".to_string(),
            from: "lifeboat@localhost".to_string(),
            timeout_seconds: 10,
        }
    }
}

/// `[alerts.webhook]`: JSON POST (generic fields plus Slack's `text`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebhookAlerts {
    /// Empty: no webhook.
    pub url: String,
    pub timeout_seconds: u32,
}

impl Default for WebhookAlerts {
    fn default() -> Self {
        WebhookAlerts {
            url: String::new(),
            timeout_seconds: 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourcesConfig {
    pub filesystem: FilesystemSource,
    pub configuration: ConfigurationSource,
    pub database: DatabaseSource,
}

/// The Panel app's uploads, logs and static assets.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FilesystemSource {
    pub paths: Vec<PathBuf>,
    /// Glob patterns; when non-empty only matching entries are backed up.
    pub include: Vec<String>,
    /// Glob patterns excluded.
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigurationSource {
    pub files: Vec<PathBuf>,
    /// `.env`-style files (treated as secrets).
    pub env_files: Vec<PathBuf>,
    /// Names of environment variables captured (values are secrets).
    pub env_vars: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version_file: Option<PathBuf>,
    /// Directory where `git describe` runs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub git_dir: Option<PathBuf>,
    /// Allow secrets in an unencrypted artifact.
    pub allow_plaintext_secrets: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSource {
    /// e.g. `postgres://panel@127.0.0.1:5432/panel`; may hold a password
    /// (masked by [`Config::dump_effective`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Databases to dump; empty means the one in `url`.
    pub databases: Vec<String>,
    pub format: DumpFormat,
    /// Sessions reading table data at once in a custom-format dump; 1 lets
    /// pg_dump read everything itself.
    pub jobs: u32,
    /// Tables with at least this many MiB of heap are read by lifeboat in
    /// page ranges, `jobs` at a time, under the dump's snapshot.
    pub split_table_mb: u64,
}

impl Default for DatabaseSource {
    fn default() -> Self {
        DatabaseSource {
            url: None,
            databases: Vec::new(),
            format: DumpFormat::Custom,
            jobs: 2,
            split_table_mb: 64,
        }
    }
}

/// pg_dump output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DumpFormat {
    /// `pg_dump -Fc`, restored with pg_restore.
    #[default]
    Custom,
    /// Plain SQL, restored with psql.
    Plain,
}

impl DumpFormat {
    pub fn as_str(self) -> &'static str {
        match self {
            DumpFormat::Custom => "custom",
            DumpFormat::Plain => "plain",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BackupConfig {
    /// Filesystem backups are incremental when a good full exists.
    pub incremental: bool,
    /// A new full is taken when the last full is this old.
    pub full_every_days: u32,
}

impl Default for BackupConfig {
    fn default() -> Self {
        BackupConfig {
            incremental: true,
            full_every_days: 7,
        }
    }
}

/// How to stop, start and check the Panel app: `restore --in-place` and
/// `recover` stop it first and start it after, then wait for it to be
/// healthy; the recovery wizard shows the same steps. Empty means "not
/// configured": the step is recorded as done by hand.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AppConfig {
    /// Shell command that stops the app (run with `sh -c`).
    pub stop_command: String,
    /// Shell command that starts the app again.
    pub start_command: String,
    /// Shell command that exits 0 when the app is healthy.
    pub health_command: String,
    /// `http://` or `https://` URL that answers 2xx when the app is healthy.
    pub health_url: String,
    /// How long the stop and start commands may run.
    pub command_timeout_seconds: u32,
    /// How long the app has to become healthy after it was started.
    pub health_timeout_seconds: u32,
}

impl Default for AppConfig {
    fn default() -> Self {
        AppConfig {
            stop_command: String::new(),
            start_command: String::new(),
            health_command: String::new(),
            health_url: String::new(),
            command_timeout_seconds: 300,
            health_timeout_seconds: 60,
        }
    }
}

/// A timeout of 0 would kill every command at once.
fn check_timeouts(config: &Config, origin: &str) -> Result<()> {
    let hooks = &config.hooks;
    let all = [
        (
            "[app] command_timeout_seconds",
            config.app.command_timeout_seconds,
        ),
        (
            "[app] health_timeout_seconds",
            config.app.health_timeout_seconds,
        ),
        (
            "[hooks.database] timeout_seconds",
            hooks.database.timeout_seconds,
        ),
        (
            "[hooks.filesystem] timeout_seconds",
            hooks.filesystem.timeout_seconds,
        ),
        (
            "[hooks.configuration] timeout_seconds",
            hooks.configuration.timeout_seconds,
        ),
        ("[hooks.state] timeout_seconds", hooks.state.timeout_seconds),
    ];
    match all.iter().find(|(_, v)| *v == 0) {
        Some((key, _)) => Err(Error::usage(format!(
            "invalid config file {origin}: {key} is 0 (a command would be killed at once)"
        ))
        .hint("give it the seconds the command may take, or leave it out for the default")),
        None => Ok(()),
    }
}

impl AppConfig {
    /// Whether lifeboat can do anything with the app at all.
    pub fn configured(&self) -> bool {
        [
            &self.stop_command,
            &self.start_command,
            &self.health_command,
            &self.health_url,
        ]
        .iter()
        .any(|c| !c.trim().is_empty())
    }
}

/// `[hooks.<type>]`: commands run before and after each backup of a type
/// (the Panel guide's maintenance mode: flush caches, pause writers). A
/// failing `before` fails the backup before anything is read; `after` runs
/// whatever the backup's outcome (it undoes what `before` did), and a
/// failing `after` fails the job, though a backup it followed stays good.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HooksConfig {
    pub database: Hook,
    pub filesystem: Hook,
    pub configuration: Hook,
    pub state: Hook,
}

impl HooksConfig {
    pub fn of(&self, t: BackupType) -> &Hook {
        match t {
            BackupType::Database => &self.database,
            BackupType::Filesystem => &self.filesystem,
            BackupType::Configuration => &self.configuration,
            BackupType::State => &self.state,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hook {
    /// Shell command run before the backup (`sh -c`).
    pub before: String,
    /// Shell command run after it, whatever its outcome.
    pub after: String,
    /// How long each may run before it is killed (and the job fails).
    pub timeout_seconds: u32,
}

impl Default for Hook {
    fn default() -> Self {
        Hook {
            before: String::new(),
            after: String::new(),
            timeout_seconds: 300,
        }
    }
}

/// `[logging]`: the log file (`logs/backup.log`, as the seed's
/// troubleshooting guide expects), rotated by size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoggingConfig {
    /// Empty string: no log file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub file: Option<PathBuf>,
    pub max_size_mb: u32,
    /// Rotated files kept (backup.log.1 ... backup.log.N).
    pub keep: u32,
}

impl Default for LoggingConfig {
    fn default() -> Self {
        LoggingConfig {
            file: Some(PathBuf::from("./logs/backup.log")),
            max_size_mb: 10,
            keep: 5,
        }
    }
}

/// The job queue's worker pool (`lifeboat worker`, the daemon).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// Jobs a worker pool runs at the same time (1..=64).
    pub workers: u32,
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig { workers: 2 }
    }
}

impl Config {
    /// Types with something configured, in the order a restore needs them.
    pub fn configured_types(&self) -> Vec<BackupType> {
        let s = &self.sources;
        let mut v = Vec::new();
        if !s.configuration.files.is_empty()
            || !s.configuration.env_files.is_empty()
            || !s.configuration.env_vars.is_empty()
        {
            v.push(BackupType::Configuration);
        }
        if s.database.url.is_some() {
            v.push(BackupType::Database);
        }
        if !s.filesystem.paths.is_empty() {
            v.push(BackupType::Filesystem);
        }
        v
    }

    /// Load with an explicit environment and working directory (testable).
    pub fn load(
        explicit: Option<&Path>,
        env: &dyn Fn(&str) -> Option<String>,
        cwd: &Path,
    ) -> Result<Config> {
        let cwd = normalize(cwd, Path::new("/"));
        let file = locate(explicit, env, &cwd)?;
        let mut config = match &file {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        let base = match &file {
            Some(path) => path
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| cwd.clone()),
            None => cwd.clone(),
        };
        config.resolve_paths(&base);
        env::apply(&mut config, env, &cwd)?;
        targets::check_paths(&config)?;
        config.source = file;
        Ok(config)
    }

    /// Load from the process environment and working directory.
    pub fn load_default_env(explicit: Option<&Path>) -> Result<Config> {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::io("read the current directory", Path::new("."), e))?;
        let env = |k: &str| std::env::var(k).ok();
        Config::load(explicit, &env, &cwd)
    }

    /// Parse one file (paths still relative; not resolved).
    fn from_file(path: &Path) -> Result<Config> {
        let text =
            std::fs::read_to_string(path).map_err(|e| Error::io("read config file", path, e))?;
        Config::from_toml_str(&text, &path.display().to_string())
    }

    /// Parse TOML text; `origin` names the file in error messages.
    pub(crate) fn from_toml_str(text: &str, origin: &str) -> Result<Config> {
        let table: toml::Table = text.parse().map_err(|e: toml::de::Error| {
            Error::usage(format!(
                "cannot parse config file {origin}: {}",
                e.to_string().trim_end()
            ))
            .hint("fix the TOML syntax at the line and column shown; see config.example.toml")
        })?;
        check::check_table(&table, origin)?;
        let mut config: Config = toml::from_str(text).map_err(|e| {
            Error::usage(format!(
                "invalid config file {origin}: {}",
                e.to_string().trim_end()
            ))
            .hint("check the key names and value types against config.example.toml")
        })?;
        targets::check(&config, origin)?;
        check_timeouts(&config, origin)?;
        let has_level = table
            .get("compression")
            .and_then(|c| c.as_table())
            .is_some_and(|c| c.contains_key("level"));
        if !has_level {
            config.compression.level = config.compression.algorithm.default_level();
        }
        Ok(config)
    }

    /// Make every path absolute against `base` (lexically).
    fn resolve_paths(&mut self, base: &Path) {
        let abs = |p: &mut PathBuf| *p = normalize(p, base);
        abs(&mut self.repository.path);
        abs(&mut self.catalog.path);
        abs(&mut self.encryption.key_file);
        if let Some(f) = self
            .logging
            .file
            .as_mut()
            .filter(|f| !f.as_os_str().is_empty())
        {
            abs(f);
        }
        self.sources.filesystem.paths.iter_mut().for_each(abs);
        let c = &mut self.sources.configuration;
        c.files.iter_mut().for_each(abs);
        c.env_files.iter_mut().for_each(abs);
        c.version_file.iter_mut().for_each(abs);
        c.git_dir.iter_mut().for_each(abs);
        self.targets
            .iter_mut()
            .filter_map(|t| t.path.as_mut())
            .for_each(abs);
        if let Some(t) = self
            .metrics
            .textfile
            .as_mut()
            .filter(|t| !t.as_os_str().is_empty())
        {
            abs(t);
        }
    }

    /// The metrics textfile, or `None` when metrics are turned off.
    pub fn metrics_textfile(&self) -> Option<PathBuf> {
        match &self.metrics.textfile {
            Some(p) if p.as_os_str().is_empty() => None,
            Some(p) => Some(p.clone()),
            None => Some(
                self.catalog
                    .path
                    .parent()
                    .unwrap_or(Path::new("."))
                    .join("metrics")
                    .join("lifeboat.prom"),
            ),
        }
    }

    /// Retention window, in days, for a backup type.
    pub fn retention_days(&self, backup_type: BackupType) -> u32 {
        self.retention_policy(backup_type).keep_days
    }

    /// The retention policy of a type: `[retention.<type>]` over the flat
    /// `[retention] <type>_days` and `min_keep`.
    pub fn retention_policy(&self, backup_type: BackupType) -> RetentionPolicy {
        let r = &self.retention;
        let (days, t) = match backup_type {
            BackupType::Database => (r.database_days, &r.database),
            BackupType::Filesystem => (r.filesystem_days, &r.filesystem),
            BackupType::Configuration => (r.configuration_days, &r.configuration),
            BackupType::State => (r.state_days, &r.state),
        };
        RetentionPolicy {
            keep_days: t.keep_days.unwrap_or(days),
            keep_last: t.keep_last.unwrap_or(0),
            keep_daily: t.keep_daily.unwrap_or(0),
            keep_weekly: t.keep_weekly.unwrap_or(0),
            keep_monthly: t.keep_monthly.unwrap_or(0),
            min_keep: t.min_keep.unwrap_or(r.min_keep),
        }
    }

    /// The effective configuration as TOML, for `lifeboat config`: one
    /// comment line saying where it came from, then the keys. Secrets (a
    /// password in the database URL) are replaced by `***`.
    pub fn dump_effective(&self) -> String {
        let mut shown = self.clone();
        if let Some(url) = &shown.sources.database.url {
            shown.sources.database.url = Some(mask_database_url(url));
        }
        shown.alerts.email.smtp_url = mask_database_url(&shown.alerts.email.smtp_url);
        shown.alerts.webhook.url = mask_url_secret(&shown.alerts.webhook.url);
        let header = match &self.source {
            Some(p) => format!("# effective configuration (file: {})\n", p.display()),
            None => "# effective configuration (built-in defaults, no file)\n".to_string(),
        };
        match toml::to_string_pretty(&shown) {
            Ok(body) => format!("{header}{body}"),
            Err(e) => format!("{header}# cannot render the configuration: {e}\n"),
        }
    }
}

/// Which file to read, if any, as an absolute path.
fn locate(
    explicit: Option<&Path>,
    env: &dyn Fn(&str) -> Option<String>,
    cwd: &Path,
) -> Result<Option<PathBuf>> {
    if let Some(p) = explicit {
        let path = normalize(p, cwd);
        return must_exist(path, "--config").map(Some);
    }
    if let Some(v) = env(CONFIG_ENV).filter(|v| !v.trim().is_empty()) {
        let path = normalize(Path::new(v.trim()), cwd);
        return must_exist(path, &format!("${CONFIG_ENV}")).map(Some);
    }
    let local = cwd.join(DEFAULT_FILE_NAME);
    Ok(local.is_file().then_some(local))
}

fn must_exist(path: PathBuf, from: &str) -> Result<PathBuf> {
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(path),
        Ok(_) => Err(Error::usage(format!(
            "config file {} (from {from}) is not a regular file",
            path.display()
        ))
        .hint("point it at a TOML file such as config.example.toml")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::usage(format!(
            "config file {} (from {from}) does not exist",
            path.display()
        ))
        .hint("check the path, or copy config.example.toml there; without it lifeboat uses ./lifeboat.toml or built-in defaults")),
        Err(e) => Err(Error::io("read config file", &path, e)),
    }
}

/// Webhook URLs carry their secret in the path (Slack: /services/T../B../XXX):
/// show scheme, host and the first path segment only.
pub fn mask_url_secret(url: &str) -> String {
    if url.is_empty() {
        return String::new();
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_string();
    };
    let host = rest.split('/').next().unwrap_or("");
    let host = host.rsplit('@').next().unwrap_or(host);
    let first = rest.split('/').nth(1).unwrap_or("");
    if first.is_empty() {
        format!("{scheme}://{host}/")
    } else {
        format!("{scheme}://{host}/{first}/***")
    }
}
