use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use super::*;

fn env_of(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k: &str| map.get(k).cloned()
}

fn no_env(_: &str) -> Option<String> {
    None
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(&p, text).unwrap();
    p
}

fn load_text(text: &str) -> (tempfile::TempDir, Result<Config>) {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "lifeboat.toml", text);
    let r = Config::load(Some(&p), &no_env, dir.path());
    (dir, r)
}

fn err_text(text: &str) -> String {
    let (dir, r) = load_text(text);
    let msg = r.expect_err("should fail").message;
    let file = dir.path().join("lifeboat.toml");
    assert!(
        msg.contains(&file.display().to_string()),
        "message should name the file: {msg}"
    );
    msg
}

fn env_err(pairs: &[(&str, &str)]) -> Error {
    let dir = tempfile::tempdir().unwrap();
    Config::load(None, &env_of(pairs), dir.path()).expect_err("should fail")
}

#[test]
fn no_file_gives_defaults_under_cwd() {
    let dir = tempfile::tempdir().unwrap();
    let c = Config::load(None, &no_env, dir.path()).unwrap();
    assert_eq!(c.source, None);
    assert_eq!(c.repository.path, dir.path().join("var/repository"));
    assert_eq!(c.catalog.path, dir.path().join("var/catalog.db"));
    assert_eq!(
        c.encryption.key_file,
        dir.path().join("var/keys/lifeboat.key")
    );
    assert_eq!(c.encryption.encrypt, EncryptMode::Auto);
    assert_eq!(c.compression.algorithm, Compression::Zstd);
    assert_eq!(c.compression.level, 3);
    assert_eq!(c.compression.threads, 2);
    assert_eq!(c.retention, RetentionConfig::default());
    assert_eq!(c.health.max_backup_age_hours, 25.0);
    assert_eq!(c.health.min_backup_success_rate, 0.95);
    assert!(!c.alerts.email.enabled);
    assert!(c.backup.incremental);
    assert_eq!(c.backup.full_every_days, 7);
    assert_eq!(c.sources.database.format, DumpFormat::Custom);
    assert!(!c.sources.configuration.allow_plaintext_secrets);
}

#[test]
fn explicit_file_is_used_and_relative_paths_follow_its_dir() {
    let dir = tempfile::tempdir().unwrap();
    let cfg_dir = dir.path().join("etc/lifeboat");
    let p = write(
        &cfg_dir,
        "my.toml",
        r#"
[repository]
path = "../repo"
[sources.filesystem]
paths = ["uploads", "/abs/logs", "./a/../static"]
[sources.configuration]
version_file = "VERSION"
git_dir = "."
"#,
    );
    let cwd = dir.path().join("elsewhere");
    let c = Config::load(Some(&p), &no_env, &cwd).unwrap();
    assert_eq!(c.source.as_deref(), Some(p.as_path()));
    assert_eq!(c.repository.path, dir.path().join("etc/repo"));
    // Not in the file: defaults, relative to the file's dir too.
    assert_eq!(c.catalog.path, cfg_dir.join("var/catalog.db"));
    assert_eq!(
        c.sources.filesystem.paths,
        vec![
            cfg_dir.join("uploads"),
            PathBuf::from("/abs/logs"),
            cfg_dir.join("static")
        ]
    );
    assert_eq!(
        c.sources.configuration.version_file,
        Some(cfg_dir.join("VERSION"))
    );
    assert_eq!(c.sources.configuration.git_dir, Some(cfg_dir.clone()));
}

#[test]
fn explicit_relative_to_cwd() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "conf/x.toml", "[retention]\nmin_keep = 5\n");
    let c = Config::load(Some(Path::new("conf/x.toml")), &no_env, dir.path()).unwrap();
    assert_eq!(c.retention.min_keep, 5);
    assert_eq!(c.source, Some(dir.path().join("conf/x.toml")));
}

#[test]
fn explicit_missing_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    // Even with a ./lifeboat.toml present, a named file must exist.
    write(dir.path(), "lifeboat.toml", "");
    let e = Config::load(Some(Path::new("nope.toml")), &no_env, dir.path()).unwrap_err();
    assert_eq!(e.kind, crate::error::ErrorKind::Usage);
    assert!(e.message.contains("nope.toml"), "{}", e.message);
    assert!(e.message.contains("does not exist"), "{}", e.message);
    assert!(e.message.contains("--config"), "{}", e.message);
}

#[test]
fn lifeboat_config_env() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "a/b.toml",
        "[health]\nmax_backup_age_hours = 48\n",
    );
    write(
        dir.path(),
        "lifeboat.toml",
        "[health]\nmax_backup_age_hours = 1\n",
    );
    let env = env_of(&[("LIFEBOAT_CONFIG", p.to_str().unwrap())]);
    let c = Config::load(None, &env, dir.path()).unwrap();
    assert_eq!(c.health.max_backup_age_hours, 48.0);
    assert_eq!(c.source, Some(p));
    // Explicit wins over the environment.
    let q = write(dir.path(), "q.toml", "[health]\nmax_backup_age_hours = 7\n");
    let c = Config::load(Some(&q), &env, dir.path()).unwrap();
    assert_eq!(c.health.max_backup_age_hours, 7.0);

    let env = env_of(&[("LIFEBOAT_CONFIG", "missing.toml")]);
    let e = Config::load(None, &env, dir.path()).unwrap_err();
    assert!(e.message.contains("LIFEBOAT_CONFIG"), "{}", e.message);
    assert!(e.message.contains("missing.toml"), "{}", e.message);
}

#[test]
fn local_lifeboat_toml_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(
        dir.path(),
        "lifeboat.toml",
        "[compression]\nalgorithm = \"gzip\"\n",
    );
    let c = Config::load(None, &no_env, dir.path()).unwrap();
    assert_eq!(c.source, Some(p));
    assert_eq!(c.compression.algorithm, Compression::Gzip);
    // Level follows the algorithm when not given.
    assert_eq!(c.compression.level, 6);
}

#[test]
fn env_overrides_each() {
    let dir = tempfile::tempdir().unwrap();
    let cwd = dir.path();
    let env = env_of(&[
        ("BACKUP_COMPRESSION", "gz"),
        ("MAX_BACKUP_AGE_HOURS", "49"),
        ("MIN_BACKUP_SUCCESS_RATE", "0.5"),
        ("BACKUP_EMAIL_ALERTS", "yes"),
        ("BACKUP_ALERT_EMAILS", "a@x.org, b@y.org,"),
        ("LIFEBOAT_REPOSITORY", "repo2"),
        ("LIFEBOAT_CATALOG", "/tmp/cat.db"),
        ("LIFEBOAT_KEY_FILE", "k/../key"),
        ("LIFEBOAT_COMPRESSION_LEVEL", "9"),
        ("LIFEBOAT_ENCRYPT", "false"),
        ("LIFEBOAT_DATABASE_URL", "postgres://panel:pw@db:5432/panel"),
    ]);
    // The file sits elsewhere: env paths are still relative to cwd.
    let other = tempfile::tempdir().unwrap();
    let p = write(other.path(), "c.toml", "[repository]\npath = \"r\"\n");
    let c = Config::load(Some(&p), &env, cwd).unwrap();
    assert_eq!(c.compression.algorithm, Compression::Gzip);
    assert_eq!(c.compression.level, 9);
    assert_eq!(c.health.max_backup_age_hours, 49.0);
    assert_eq!(c.health.min_backup_success_rate, 0.5);
    assert!(c.alerts.email.enabled);
    assert_eq!(c.alerts.email.recipients, vec!["a@x.org", "b@y.org"]);
    assert_eq!(c.repository.path, cwd.join("repo2"));
    assert_eq!(c.catalog.path, PathBuf::from("/tmp/cat.db"));
    assert_eq!(c.encryption.key_file, cwd.join("key"));
    assert_eq!(c.encryption.encrypt, EncryptMode::Never);
    assert_eq!(
        c.sources.database.url.as_deref(),
        Some("postgres://panel:pw@db:5432/panel")
    );
}

#[test]
fn env_compression_resets_level_to_new_default() {
    let dir = tempfile::tempdir().unwrap();
    let env = env_of(&[("BACKUP_COMPRESSION", "bz2")]);
    let c = Config::load(None, &env, dir.path()).unwrap();
    assert_eq!(c.compression.algorithm, Compression::Bzip2);
    assert_eq!(c.compression.level, 9);
    // A file level out of range for the env algorithm falls back to its default.
    let p = write(dir.path(), "c.toml", "[compression]\nlevel = 19\n");
    let env = env_of(&[("BACKUP_COMPRESSION", "gzip")]);
    let c = Config::load(Some(&p), &env, dir.path()).unwrap();
    assert_eq!(c.compression.level, 6);
    let env = env_of(&[("BACKUP_COMPRESSION", "none")]);
    let c = Config::load(None, &env, dir.path()).unwrap();
    assert_eq!(
        (c.compression.algorithm, c.compression.level),
        (Compression::None, 0)
    );
}

#[test]
fn env_encrypt_and_alerts_variants() {
    let dir = tempfile::tempdir().unwrap();
    for (v, want) in [
        ("auto", EncryptMode::Auto),
        ("true", EncryptMode::Always),
        ("0", EncryptMode::Never),
    ] {
        let c = Config::load(None, &env_of(&[("LIFEBOAT_ENCRYPT", v)]), dir.path()).unwrap();
        assert_eq!(c.encryption.encrypt, want, "{v}");
    }
    for (v, want) in [("1", true), ("no", false), ("TRUE", true), ("false", false)] {
        let c = Config::load(None, &env_of(&[("BACKUP_EMAIL_ALERTS", v)]), dir.path()).unwrap();
        assert_eq!(c.alerts.email.enabled, want, "{v}");
    }
    // Empty values count as unset.
    let c = Config::load(None, &env_of(&[("MAX_BACKUP_AGE_HOURS", "")]), dir.path()).unwrap();
    assert_eq!(c.health.max_backup_age_hours, 25.0);
}

/// An operator with a 30-minute recovery point sets 0.5; files and
/// environments written with whole hours keep working.
#[test]
fn max_backup_age_hours_takes_decimals_from_the_file_and_the_environment() {
    let (_dir, r) = load_text("[health]\nmax_backup_age_hours = 1.5\n");
    assert_eq!(r.unwrap().health.max_backup_age_hours, 1.5);
    let (_dir, r) = load_text("[health]\nmax_backup_age_hours = 48\n");
    assert_eq!(r.unwrap().health.max_backup_age_hours, 48.0);
    let dir = tempfile::tempdir().unwrap();
    for (v, want) in [("0.5", 0.5), (" 2 ", 2.0), ("36", 36.0), ("0.25", 0.25)] {
        let env = env_of(&[("MAX_BACKUP_AGE_HOURS", v)]);
        let c = Config::load(None, &env, dir.path()).unwrap();
        assert_eq!(c.health.max_backup_age_hours, want, "{v:?}");
    }
    // The environment wins over the file, decimals included.
    let p = write(
        dir.path(),
        "c.toml",
        "[health]\nmax_backup_age_hours = 24\n",
    );
    let env = env_of(&[("MAX_BACKUP_AGE_HOURS", "0.5")]);
    let c = Config::load(Some(&p), &env, dir.path()).unwrap();
    assert_eq!(c.health.max_backup_age_hours, 0.5);
    // `lifeboat config` shows whole hours as written before, and loads back.
    let d = c.dump_effective();
    assert!(d.contains("max_backup_age_hours = 0.5\n"), "{d}");
    let back = Config::from_toml_str(&d, "dump").unwrap();
    assert_eq!(back.health.max_backup_age_hours, 0.5);
    let d = Config::default().dump_effective();
    assert!(d.contains("max_backup_age_hours = 25\n"), "{d}");
}

#[test]
fn max_backup_age_hours_refuses_garbage_naming_what_it_accepts() {
    for v in [
        "abc", "-1", "-0.5", "0", "0.0", "1,5", "nan", "inf", "100001",
    ] {
        let e = env_err(&[("MAX_BACKUP_AGE_HOURS", v)]);
        assert_eq!(
            e.message,
            format!(
                "invalid MAX_BACKUP_AGE_HOURS from the environment: {v:?} (allowed: a number of hours above 0 and up to 100000; decimals allowed, e.g. 0.5 for 30 minutes)"
            )
        );
        assert_eq!(e.kind, crate::error::ErrorKind::Usage, "{v:?}");
        assert!(
            e.hint
                .as_deref()
                .unwrap_or("")
                .contains("MAX_BACKUP_AGE_HOURS"),
            "{e:?}"
        );
    }
    for v in ["-0.5", "0", "\"1.5\"", "nan", "true"] {
        let m = err_text(&format!("[health]\nmax_backup_age_hours = {v}\n"));
        assert!(
            m.contains("[health] max_backup_age_hours")
                && m.contains("decimals allowed, e.g. 0.5 for 30 minutes"),
            "{v}: {m}"
        );
    }
}

#[test]
fn env_bad_values() {
    let e = env_err(&[("MIN_BACKUP_SUCCESS_RATE", "2")]);
    assert_eq!(
        e.message,
        "invalid MIN_BACKUP_SUCCESS_RATE from the environment: \"2\" (allowed: a number from 0 to 1)"
    );
    let e = env_err(&[("BACKUP_EMAIL_ALERTS", "maybe")]);
    assert!(
        e.message.contains("BACKUP_EMAIL_ALERTS") && e.message.contains("\"maybe\""),
        "{}",
        e.message
    );
    assert!(
        e.message.contains("true, false, 1, 0, yes, no"),
        "{}",
        e.message
    );
    let e = env_err(&[("BACKUP_COMPRESSION", "lz4")]);
    assert!(
        e.message.contains("BACKUP_COMPRESSION") && e.message.contains("\"lz4\""),
        "{}",
        e.message
    );
    let e = env_err(&[("MAX_BACKUP_AGE_HOURS", "-1")]);
    assert!(
        e.message.contains("MAX_BACKUP_AGE_HOURS") && e.message.contains("\"-1\""),
        "{}",
        e.message
    );
    let e = env_err(&[("LIFEBOAT_COMPRESSION_LEVEL", "20")]);
    assert!(e.message.contains("from 1 to 19 for zstd"), "{}", e.message);
    let e = env_err(&[("LIFEBOAT_ENCRYPT", "sometimes")]);
    assert!(e.message.contains("LIFEBOAT_ENCRYPT"), "{}", e.message);
    let e = env_err(&[("BACKUP_ALERT_EMAILS", "ops, b@y.org")]);
    assert!(e.message.contains("BACKUP_ALERT_EMAILS"), "{}", e.message);
}

#[test]
fn file_bad_algorithm() {
    let (dir, r) = load_text("[compression]\nalgorithm = \"lz4\"\n");
    let file = dir.path().join("lifeboat.toml");
    assert_eq!(
        r.unwrap_err().message,
        format!(
            "invalid value for [compression] algorithm in {}: \"lz4\" (allowed: zstd, gzip, bz2, none)",
            file.display()
        )
    );
}

#[test]
fn file_bad_values_name_key_and_file() {
    let m = err_text("[compression]\nlevel = 22\n");
    assert!(
        m.contains("[compression] level") && m.contains("22") && m.contains("1 to 19 for zstd"),
        "{m}"
    );
    let m = err_text("[compression]\nalgorithm = \"gzip\"\nlevel = 12\n");
    assert!(
        m.contains("[compression] level") && m.contains("1 to 9 for gzip"),
        "{m}"
    );
    let m = err_text("[health]\nmin_backup_success_rate = 1.5\n");
    assert!(
        m.contains("[health] min_backup_success_rate") && m.contains("1.5") && m.contains("0 to 1"),
        "{m}"
    );
    let m = err_text("[health]\nmax_backup_age_hours = -5\n");
    assert!(
        m.contains("[health] max_backup_age_hours") && m.contains("-5"),
        "{m}"
    );
    let m = err_text("[encryption]\nencrypt = \"maybe\"\n");
    assert!(
        m.contains("[encryption] encrypt") && m.contains("\"auto\", true or false"),
        "{m}"
    );
    let m = err_text("[sources.database]\nformat = \"tar\"\n");
    assert!(
        m.contains("[sources.database] format") && m.contains("\"tar\""),
        "{m}"
    );
    let m = err_text("[alerts.email]\nenabled = \"yes\"\n");
    assert!(m.contains("[alerts.email] enabled"), "{m}");
    let m = err_text("[alerts]\nemail_enabled = true\n");
    assert!(m.contains("moved to [alerts.email] enabled"), "{m}");
    let m = err_text("[retention]\ndatabase_days = 0\n");
    assert!(m.contains("[retention] database_days"), "{m}");
}

#[test]
fn file_unknown_key() {
    let m = err_text("[compression]\nlevle = 3\n");
    assert!(m.contains("levle"), "{m}");
    let m = err_text("[compresion]\nlevel = 3\n");
    assert!(m.contains("compresion"), "{m}");
    let m = err_text("[encryption]\nallow_plaintext_secrets = true\n");
    assert!(m.contains("allow_plaintext_secrets"), "{m}");
}

#[test]
fn file_syntax_error() {
    let m = err_text("[compression\nalgorithm = \"zstd\"\n");
    assert!(m.contains("cannot parse config file"), "{m}");
    assert!(m.contains("line 1"), "{m}");
}

#[test]
fn wrong_type_is_reported() {
    let m = err_text("[sources.filesystem]\npaths = \"/srv\"\n");
    assert!(m.contains("paths") || m.contains("line 2"), "{m}");
}

#[test]
fn dump_masks_password() {
    let (_dir, r) = load_text(
        "[sources.database]\nurl = \"postgres://panel:s3cret@127.0.0.1:5432/panel?sslmode=require&password=other\"\n",
    );
    let c = r.unwrap();
    let d = c.dump_effective();
    assert!(!d.contains("s3cret") && !d.contains("other"), "{d}");
    assert!(
        d.contains("postgres://panel:***@127.0.0.1:5432/panel?sslmode=require&password=***"),
        "{d}"
    );
    // The dump is valid TOML that loads back to the same config.
    let back = Config::from_toml_str(&d, "dump").unwrap();
    let mut want = c.clone();
    want.source = None;
    want.sources.database.url = back.sources.database.url.clone();
    assert_eq!(back, want);
}

#[test]
fn dump_has_one_header_naming_its_source() {
    let (dir, r) = load_text("[jobs]\nworkers = 3\n");
    let d = r.unwrap().dump_effective();
    let headers: Vec<&str> = d
        .lines()
        .filter(|l| l.starts_with("# effective configuration"))
        .collect();
    let file = dir.path().join("lifeboat.toml");
    assert_eq!(
        headers,
        [format!(
            "# effective configuration (file: {})",
            file.display()
        )],
        "{d}"
    );
    assert!(d.starts_with("# effective configuration"), "{d}");
    let d = Config::load(None, &no_env, dir.path().join("none").as_path())
        .unwrap()
        .dump_effective();
    assert_eq!(
        d.lines()
            .filter(|l| l.starts_with("# effective configuration"))
            .count(),
        1,
        "{d}"
    );
    assert!(d.contains("built-in defaults"), "{d}");
}

#[test]
fn mask_forms() {
    assert_eq!(
        mask_database_url("postgres://panel@h/db"),
        "postgres://panel@h/db"
    );
    assert_eq!(
        mask_database_url("postgres://u:p@h/db"),
        "postgres://u:***@h/db"
    );
    assert_eq!(
        mask_database_url("host=h password=pw dbname=x"),
        "host=h password=*** dbname=x"
    );
    // A raw '#', '/' or '?' in the password: still masked.
    for url in [
        "postgres://u:pa#ss@db:5432/app",
        "postgres://u:p/w@db/app",
        "postgres://u:p?w@db:54x2/app",
    ] {
        let m = mask_database_url(url);
        assert!(
            !m.contains("pa#ss") && !m.contains("p/w") && !m.contains("p?w"),
            "{m}"
        );
        assert!(m.contains("@db"), "{m}");
    }
}

#[test]
fn retention_days_per_type() {
    let c = Config::default();
    assert_eq!(c.retention_days(BackupType::Database), 30);
    assert_eq!(c.retention_days(BackupType::Filesystem), 90);
    assert_eq!(c.retention_days(BackupType::Configuration), 365);
    assert_eq!(c.retention_days(BackupType::State), 30);
}

#[test]
fn normalize_lexically() {
    let b = Path::new("/a/b");
    assert_eq!(normalize(Path::new("../c/./d"), b), PathBuf::from("/a/c/d"));
    assert_eq!(normalize(Path::new("/x/../../y"), b), PathBuf::from("/y"));
    assert_eq!(normalize(Path::new("."), b), PathBuf::from("/a/b"));
}

#[test]
fn example_file_parses_and_matches_defaults() {
    let text = include_str!("../../../../config.example.toml");
    let c = Config::from_toml_str(text, "config.example.toml").unwrap();
    let d = Config::default();
    assert_eq!(c.repository, d.repository);
    assert_eq!(c.catalog, d.catalog);
    assert_eq!(c.encryption, d.encryption);
    assert_eq!(c.compression, d.compression);
    assert_eq!(c.retention, d.retention);
    assert_eq!(c.health, d.health);
    assert_eq!(c.alerts, d.alerts);
    assert_eq!(c.backup, d.backup);
    assert_eq!(c.schedule, d.schedule);
    // The target is the Panel guide's bucket, with the built-in settings.
    assert_eq!(c.targets.len(), 1);
    assert_eq!(c.targets[0].bucket.as_deref(), Some("panel-backups"));
    assert_eq!(c.targets[0].concurrency, 4);
    assert_eq!(c.targets[0].part_size_mb, 8);
    assert_eq!(
        c.required_copies(crate::archive::manifest::BackupType::Database),
        2
    );
    // Sources are the Panel example, not defaults, except where marked default.
    let s = &c.sources;
    assert_eq!(s.filesystem.paths.len(), 3);
    assert_eq!(s.filesystem.include, d.sources.filesystem.include);
    assert_eq!(
        s.configuration.env_vars,
        vec!["PANEL_SECRET_KEY", "DATABASE_URL"]
    );
    assert_eq!(
        s.configuration.version_file,
        Some(PathBuf::from("/srv/panel/VERSION"))
    );
    assert_eq!(
        s.configuration.allow_plaintext_secrets,
        d.sources.configuration.allow_plaintext_secrets
    );
    assert_eq!(s.database.databases, d.sources.database.databases);
    assert_eq!(s.database.format, d.sources.database.format);
    // Every key of the schema appears in the example (documented).
    let full: toml::Table = toml::from_str(&toml::to_string(&c).unwrap()).unwrap();
    let example: toml::Table = text.parse().unwrap();
    fn keys(t: &toml::Table, prefix: &str, out: &mut Vec<String>) {
        for (k, v) in t {
            let name = format!("{prefix}{k}");
            match v.as_table() {
                Some(sub) => keys(sub, &format!("{name}."), out),
                None => out.push(name),
            }
        }
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    keys(&full, "", &mut a);
    keys(&example, "", &mut b);
    a.sort();
    b.sort();
    assert_eq!(a, b);
}

#[test]
fn app_commands_parse_and_a_non_http_health_url_is_refused() {
    let c = Config::from_toml_str(
        "[app]\nstop_command = \"systemctl stop panel\"\nhealth_url = \"http://127.0.0.1:8000/health\"\n",
        "t.toml",
    )
    .unwrap();
    assert_eq!(c.app.stop_command, "systemctl stop panel");
    assert_eq!(c.app.start_command, "");
    assert_eq!(c.app.health_url, "http://127.0.0.1:8000/health");
    let e =
        Config::from_toml_str("[app]\nhealth_url = \"https://x/health\"\n", "t.toml").unwrap_err();
    assert!(
        e.message.contains("[app] health_url") && e.message.contains("https://x/health"),
        "{}",
        e.message
    );
    let e = Config::from_toml_str(
        "[app]\nhealth_url = \"http://admin:hunter2@127.0.0.1/health\"\n",
        "t.toml",
    )
    .unwrap_err();
    assert!(e.message.contains("carries credentials"), "{}", e.message);
    assert!(!e.display_with_hint().contains("hunter2"));
    let e = Config::from_toml_str("[app]\nstop = \"x\"\n", "t.toml").unwrap_err();
    assert!(e.message.contains("stop"), "{}", e.message);
}

#[test]
fn targets_are_checked_and_never_hold_credentials() {
    let base = "[[targets]]\nname = \"offsite\"\nkind = \"s3\"\nbucket = \"b\"\n";
    let c = Config::from_toml_str(base, "t.toml").unwrap();
    assert_eq!(
        c.copy_targets(crate::archive::manifest::BackupType::Filesystem)
            .len(),
        1
    );
    let bad = |extra: &str, want: &str| {
        let e = Config::from_toml_str(&format!("{base}{extra}"), "t.toml").unwrap_err();
        assert!(e.message.contains(want), "{extra}: {}", e.message);
    };
    bad(
        "[[targets]]\nname = \"offsite\"\nkind = \"local\"\npath = \"/x\"\n",
        "two targets are named 'offsite'",
    );
    bad(
        "[[targets]]\nname = \"g\"\nkind = \"gcs\"\n",
        "needs a bucket",
    );
    bad(
        "[[targets]]\nname = \"l\"\nkind = \"local\"\n",
        "needs a path",
    );
    bad(
        "[[targets]]\nname = \"bad name\"\nkind = \"local\"\npath = \"/x\"\n",
        "name 'bad name'",
    );
    bad(
        "[[targets]]\nname = \"local\"\nkind = \"local\"\npath = \"/x\"\n",
        "kept for the repository",
    );
    bad("[[targets]]\nname = \"e\"\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"http://u:p@h:9000\"\n", "holds credentials");
    bad(
        "[[targets]]\nname = \"e\"\nkind = \"s3\"\nbucket = \"b\"\nendpoint = \"ftp://h\"\n",
        "http:// or https://",
    );
    bad(
        "[[targets]]\nname = \"p\"\nkind = \"s3\"\nbucket = \"b\"\npart_size_mb = 1\n",
        "part_size_mb 1",
    );
    bad(
        "[copies.database]\ntargets = [\"nope\"]\n",
        "names target 'nope'",
    );
    bad("[copies.database]\nrequired = 3\n", "required = 3");
    bad("[[targets]]\nname = \"m\"\nkind = \"s3\"\nbucket = \"b\"\nconcurrency = 32\npart_size_mb = 64\n", "2048 MiB of memory");
    // A secret key is not a setting: refused as an unknown key.
    bad("secret_access_key = \"x\"\n", "unknown field");
}

#[test]
fn a_local_target_inside_the_repository_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("lifeboat.toml");
    std::fs::write(
        &file,
        "[repository]\npath = \"repo\"\n[[targets]]\nname = \"nas\"\nkind = \"local\"\npath = \"repo/copies\"\n",
    )
    .unwrap();
    let e = Config::load(Some(&file), &|_| None, dir.path()).unwrap_err();
    assert!(e.message.contains("no second copy"), "{}", e.message);
}
