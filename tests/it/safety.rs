//! Restores that would destroy data need consent and leave an undo; bad
//! environments (no key, missing or unreadable sources, full disk, kills,
//! concurrency) fail loudly and leave nothing that looks good.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::common::*;

fn tree(app: &Path) -> std::collections::BTreeMap<String, String> {
    checksum_tree(&app.join("uploads"))
        .into_iter()
        .chain(
            checksum_tree(&app.join("logs"))
                .into_iter()
                .map(|(k, v)| (format!("logs/{k}"), v)),
        )
        .collect()
}

fn restore_json(sb: &Sandbox, args: &[&str]) -> serde_json::Value {
    let mut a = vec!["restore"];
    a.extend_from_slice(args);
    sb.json(&a)
}

#[test]
fn in_place_without_yes_is_refused_and_changes_nothing() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let id = id_of(&sb.backup("filesystem", &[]));
    fs::write(
        sb.app.join("uploads/docs/report.txt"),
        "edited after the backup",
    )
    .unwrap();
    fs::remove_file(sb.app.join("uploads/avatars/u1.json")).unwrap();
    let before = tree(&sb.app);
    let err = sb.fails(&["restore", "--id", &id, "--in-place"], 1);
    assert!(err.contains("--yes") && err.contains("--dry-run"), "{err}");
    assert_eq!(tree(&sb.app), before);
}

/// A failed command says its error once on stderr. It used to come twice:
/// the job's error line from the log layer, then `main`'s `error:` line.
/// The job log in the catalog still records it.
#[test]
fn a_failed_command_prints_its_error_once() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let id = id_of(&sb.backup("filesystem", &[]));
    fs::write(sb.app.join("uploads/docs/report.txt"), "edited").unwrap();
    // Refused inside the restore's job, once it has started.
    let err = sb.fails(&["restore", "--id", &id, "--in-place"], 1);
    let refusal = "this restore would overwrite or delete";
    assert_eq!(err.matches(refusal).count(), 1, "{err}");
    assert_eq!(err.matches("look first with --dry-run").count(), 1, "{err}");
    assert!(err.contains(&format!("error: {refusal}")), "{err}");
    let job = sb
        .jobs()
        .into_iter()
        .find(|j| j["kind"] == "restore")
        .expect("the refused restore's job");
    assert_eq!(job["state"], "failed", "{job}");
    let detail = sb.job(job["id"].as_i64().unwrap());
    let logged =
        detail["log"].as_array().expect("log").iter().any(|l| {
            l["level"] == "error" && l["message"].as_str().unwrap_or("").contains(refusal)
        });
    assert!(logged, "the job log lacks the error: {detail}");

    // A backup that fails inside its job (no key for secrets).
    let err = sb.fails(&["backup", "--type", "configuration"], 1);
    let cause = "configuration backups hold secrets and are always encrypted";
    assert_eq!(err.matches(cause).count(), 1, "{err}");
    assert_eq!(err.matches("lifeboat key generate").count(), 1, "{err}");

    // And one that fails before any job starts.
    let err = sb.fails(&["verify", "no-such-backup"], 1);
    assert_eq!(
        err.matches("no backup with id no-such-backup").count(),
        1,
        "{err}"
    );
}

#[test]
fn in_place_with_yes_restores_and_the_safety_copy_undoes_it() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let at_backup = tree(&sb.app);
    let id = id_of(&sb.backup("filesystem", &[]));

    fs::write(
        sb.app.join("uploads/docs/report.txt"),
        "edited after the backup",
    )
    .unwrap();
    fs::write(sb.app.join("logs/panel.log"), "new log").unwrap();
    let report_edit = fs::read(sb.app.join("uploads/docs/report.txt")).unwrap();

    let r = restore_json(&sb, &["--id", &id, "--in-place", "--yes"]);
    assert_eq!(
        tree(&sb.app),
        at_backup,
        "in-place restore did not bring the backup back"
    );
    let safety = r["safety_copy"]
        .as_str()
        .unwrap_or_else(|| panic!("no safety copy named: {r}"))
        .to_string();
    // The human output names it too.
    fs::write(sb.app.join("uploads/docs/report.txt"), "edited again").unwrap();
    let text = sb.ok(&["restore", "--id", &id, "--in-place", "--yes"]);
    assert!(text.contains("safety copy"), "{text}");
    assert_eq!(tree(&sb.app), at_backup);

    // Undo the first restore with its safety copy.
    let list = sb.json(&["list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == safety.as_str()),
        "safety copy not listed"
    );
    sb.ok(&["restore", "--id", &safety, "--in-place", "--yes"]);
    assert_eq!(
        fs::read(sb.app.join("uploads/docs/report.txt")).unwrap(),
        report_edit
    );
    assert_eq!(fs::read(sb.app.join("logs/panel.log")).unwrap(), b"new log");
}

#[test]
fn overwriting_an_existing_target_needs_yes() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let id = id_of(&sb.backup("filesystem", &[]));
    let target = sb.dir.path().join("t");
    sb.ok(&["restore", "--id", &id, "--target", target.to_str().unwrap()]);
    let restored_report = Sandbox::under(&target, &sb.app.join("uploads/docs/report.txt"));
    fs::write(&restored_report, "local edit").unwrap();
    let before = checksum_tree(&target);
    let err = sb.fails(
        &["restore", "--id", &id, "--target", target.to_str().unwrap()],
        1,
    );
    assert!(err.contains("--yes"), "{err}");
    assert_eq!(checksum_tree(&target), before);
    sb.ok(&[
        "restore",
        "--id",
        &id,
        "--target",
        target.to_str().unwrap(),
        "--yes",
    ]);
    assert_eq!(
        fs::read(&restored_report).unwrap(),
        fs::read(sb.app.join("uploads/docs/report.txt")).unwrap()
    );
}

#[test]
fn configuration_backup_needs_a_key_and_round_trips_encrypted() {
    let sb = Sandbox::with_extra_config(
        "env_vars = [\"LIFEBOAT_TEST_SECRET\", \"LIFEBOAT_TEST_UNSET\"]\n",
    );
    populate(&sb.app);
    let err = sb.fails(&["backup", "--type", "configuration"], 1);
    assert!(err.contains("lifeboat key generate"), "{err}");
    assert!(
        artifact_like_files(&sb).is_empty(),
        "{:?}",
        artifact_like_files(&sb)
    );

    sb.generate_key();
    let out = sb
        .cmd()
        .env("LIFEBOAT_TEST_SECRET", "it's-secret")
        .env_remove("LIFEBOAT_TEST_UNSET")
        .args([
            "--json",
            "backup",
            "--type",
            "configuration",
            "--name",
            "pre-deploy",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", all_text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["encrypted"], true);
    let file = file_of(&r);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        name.starts_with("config_backup_") && name.ends_with(".enc") && name.contains("pre-deploy"),
        "{name}"
    );
    // The secret is not in the stored bytes.
    let stored = fs::read(&file).unwrap();
    assert!(
        !stored.windows(9).any(|w| w == b"s3cr3t-va"),
        "secret visible in the artifact"
    );

    let target = sb.dir.path().join("cfg");
    sb.ok(&[
        "restore",
        "--id",
        &id_of(&r),
        "--target",
        target.to_str().unwrap(),
    ]);
    for f in ["config.py", ".env"] {
        assert_eq!(
            fs::read(Sandbox::under(&target, &sb.app.join(f))).unwrap(),
            fs::read(sb.app.join(f)).unwrap(),
            "{f} differs"
        );
    }
    let env = fs::read_to_string(target.join(".lifeboat-config/environment.env")).unwrap();
    assert!(
        env.contains("LIFEBOAT_TEST_SECRET='it'\\''s-secret'"),
        "{env}"
    );
    assert!(env.contains("LIFEBOAT_TEST_UNSET was not set"), "{env}");
}

#[test]
fn loose_key_file_permissions_warn_but_work() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    assert_eq!(
        fs::metadata(&sb.key).unwrap().permissions().mode() & 0o777,
        0o600,
        "key generate writes 0600"
    );
    fs::set_permissions(&sb.key, fs::Permissions::from_mode(0o644)).unwrap();
    let out = sb.run(&["--json", "backup", "--type", "filesystem"]);
    assert!(out.status.success(), "{}", all_text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("chmod 600"), "{err}");
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["encrypted"], true);
}

#[test]
fn key_rotation_keeps_backups_restorable_and_old_key_removable() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let at_backup = tree(&sb.app);
    sb.generate_key();
    let id = id_of(&sb.backup("filesystem", &[]));
    let keys = sb.json(&["key", "list"]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 1);
    let old = keys[0]["id"].as_str().unwrap().to_string();
    // The only (active, in use) key cannot be removed.
    sb.fails(&["key", "remove", &old], 1);
    sb.ok(&["verify", &id]);

    sb.ok(&["key", "rotate"]);
    let keys = sb.json(&["key", "list"]);
    let keys = keys.as_array().unwrap();
    assert_eq!(keys.len(), 2, "{keys:?}");
    let new = keys.iter().find(|k| k["active"] == true).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_ne!(new, old);
    let t1 = sb.dir.path().join("after-rotate");
    sb.ok(&["restore", "--id", &id, "--target", t1.to_str().unwrap()]);
    assert_eq!(tree(&Sandbox::under(&t1, &sb.app)), at_backup);

    sb.ok(&["key", "remove", &old]);
    let keys = sb.json(&["key", "list"]);
    assert_eq!(keys.as_array().unwrap().len(), 1);
    // The active key cannot be removed even when... it wraps the backup.
    sb.fails(&["key", "remove", &new], 1);
    let t2 = sb.dir.path().join("after-remove");
    sb.ok(&["restore", "--id", &id, "--target", t2.to_str().unwrap()]);
    assert_eq!(tree(&Sandbox::under(&t2, &sb.app)), at_backup);
    sb.ok(&["verify", &id, "--deep"]);
}

#[test]
fn missing_source_path_fails_and_leaves_nothing() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let logs = sb.app.join("logs");
    fs::remove_dir_all(&logs).unwrap();
    let err = sb.fails(&["backup", "--type", "filesystem"], 1);
    assert!(
        err.contains(&logs.display().to_string()),
        "message should name {}: {err}",
        logs.display()
    );
    assert!(
        artifact_like_files(&sb).is_empty(),
        "{:?}",
        artifact_like_files(&sb)
    );
    let list = sb.json(&["list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| !r["status"].as_str().unwrap().starts_with("succeeded")),
        "{list}"
    );
}

fn chmod(p: &Path, mode: u32) {
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

#[test]
fn unreadable_source_file_is_a_warning_not_a_silent_success() {
    if Command::new("setpriv").arg("--version").output().is_err() {
        println!("SKIP: setpriv is not installed");
        return;
    }
    let sb = Sandbox::new();
    populate(&sb.app);
    let secret = sb.app.join("uploads/docs/private.txt");
    fs::write(&secret, "nobody may read this").unwrap();
    chmod(sb.dir.path(), 0o777);
    // Let nobody read the rest of the tree.
    Command::new("chmod")
        .arg("-R")
        .arg("a+rX")
        .arg(&sb.app)
        .status()
        .unwrap();
    chmod(&sb.app, 0o755);
    chmod(&secret, 0o000);
    let run_as_nobody = |args: &[&str]| {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_lifeboat"),
        ])
        .arg("--config")
        .arg(&sb.config)
        .args(args)
        .current_dir(sb.dir.path());
        for v in [
            "LIFEBOAT_CONFIG",
            "LIFEBOAT_REPOSITORY",
            "LIFEBOAT_CATALOG",
            "LIFEBOAT_KEY_FILE",
            "LIFEBOAT_ENCRYPT",
            "BACKUP_COMPRESSION",
        ] {
            c.env_remove(v);
        }
        c.output().unwrap()
    };
    // The config file must be readable by nobody too.
    chmod(&sb.config, 0o644);
    let out = run_as_nobody(&["--json", "backup", "--type", "filesystem"]);
    // Exit 3, restic's "some files could not be read": a script must be
    // able to tell this from a complete backup.
    assert_eq!(out.status.code(), Some(3), "{}", all_text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["status"], "succeeded_with_warnings", "{r}");
    let out = run_as_nobody(&["--json", "show", r["id"].as_str().unwrap()]);
    assert!(out.status.success(), "{}", all_text(&out));
    let show: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let warnings = show["manifest"]["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("private.txt")),
        "warnings should name the file: {warnings:?}"
    );
    assert_eq!(show["status"], "succeeded_with_warnings");
    chmod(&secret, 0o644);
}

#[test]
fn disk_full_fails_cleanly() {
    let mut sb = Sandbox::new();
    let mnt = sb.dir.path().join("smallfs");
    let Some(_guard) = SmallDisk::mount(&mnt, "2m") else {
        println!("SKIP: cannot mount a tmpfs (not root?)");
        return;
    };
    sb.repo = mnt.join("repo");
    sb.write_config("");
    fs::write(sb.app.join("uploads/big.bin"), noise(10 << 20, 5)).unwrap();
    fs::write(sb.app.join("uploads/small.txt"), "small").unwrap();
    let err = sb.fails(&["backup", "--type", "filesystem"], 1);
    assert!(err.to_lowercase().contains("no space left"), "{err}");
    assert!(
        artifact_like_files(&sb).is_empty(),
        "left behind: {:?}",
        artifact_like_files(&sb)
    );
    // The catalog (on the big disk) says failed.
    let list = sb.json(&["list"]);
    let rows = list.as_array().unwrap();
    assert!(rows.iter().all(|r| r["status"] != "succeeded"), "{list}");
    assert!(
        rows.iter().any(|r| r["status"] == "failed"),
        "no failed row: {list}"
    );
    // After making room, the next backup works.
    fs::remove_file(sb.app.join("uploads/big.bin")).unwrap();
    sb.backup("filesystem", &[]);
}

#[test]
fn two_backups_at_once_both_succeed() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let spawn = || {
        sb.cmd()
            .args(["--json", "backup", "--type", "filesystem"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let (a, b) = (spawn(), spawn());
    let (a, b) = (a.wait_with_output().unwrap(), b.wait_with_output().unwrap());
    assert!(a.status.success(), "{}", all_text(&a));
    assert!(b.status.success(), "{}", all_text(&b));
    let ra: serde_json::Value = serde_json::from_slice(&a.stdout).unwrap();
    let rb: serde_json::Value = serde_json::from_slice(&b.stdout).unwrap();
    assert_ne!(ra["id"], rb["id"]);
    assert_ne!(ra["file"], rb["file"]);
    assert!(file_of(&ra).is_file() && file_of(&rb).is_file());
    let list = sb.json(&["list"]);
    let rows = list.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{list}");
    assert!(rows.iter().all(|r| r["status"] == "succeeded"), "{list}");
    sb.ok(&["verify", &id_of(&ra)]);
    sb.ok(&["verify", &id_of(&rb)]);
}

#[test]
fn killed_backup_leaves_no_partial_files_and_is_marked_interrupted() {
    // zstd at level 19 on ~200 MB of incompressible data takes many seconds
    // even on a quiet machine, so the backup is still running when killed.
    let sb = Sandbox::with_extra_config("[compression]\nlevel = 19\n");
    populate(&sb.app);
    {
        use std::io::Read;
        let mut rnd = fs::File::open("/dev/urandom").unwrap();
        let mut buf = vec![0u8; 8 << 20];
        for i in 0..25 {
            rnd.read_exact(&mut buf).unwrap();
            fs::write(sb.app.join(format!("uploads/media{i}.bin")), &buf).unwrap();
        }
    }
    let mut child = sb
        .cmd()
        .args(["backup", "--type", "filesystem"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while partial_files(&sb).is_empty() && Instant::now() < deadline {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the backup finished before it could be killed"
    );
    assert!(
        !partial_files(&sb).is_empty(),
        "no partial file seen while running"
    );
    unsafe {
        libc::kill(child.id() as i32, libc::SIGKILL);
    }
    child.wait().unwrap();

    let status = sb.json(&["status"]);
    let jobs = status
        .as_array()
        .cloned()
        .unwrap_or_else(|| status["jobs"].as_array().cloned().unwrap_or_default());
    let backup_job = jobs
        .iter()
        .find(|j| j["kind"] == "backup")
        .unwrap_or_else(|| panic!("no backup job: {status}"));
    assert_eq!(backup_job["state"], "interrupted", "{backup_job}");
    assert!(partial_files(&sb).is_empty(), "{:?}", partial_files(&sb));
    assert!(
        artifact_like_files(&sb).is_empty(),
        "{:?}",
        artifact_like_files(&sb)
    );
    let list = sb.json(&["list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .all(|r| r["status"] != "succeeded"),
        "{list}"
    );
    // And the next backup works (at the default level, to keep it quick).
    sb.write_config("");
    let r = sb.backup("filesystem", &[]);
    assert_eq!(r["kind"], "full");
}

/// A restore whose target fills up. Into a new directory: the directory is
/// removed and the message says so. Into an existing directory (`--yes`):
/// the message says it may be partly restored and names the safety copy,
/// which gives back what was there. For an encrypted backup (authenticated
/// as it is read, files written under their own names) and a plain one
/// (verified first).
#[test]
fn restore_that_cannot_fit_is_refused_before_anything_is_written() {
    for encrypted in [true, false] {
        let sb = Sandbox::new();
        if encrypted {
            sb.generate_key();
        }
        populate(&sb.app);
        fs::write(sb.app.join("uploads/big.bin"), noise(6 << 20, 11)).unwrap();
        let id = id_of(&sb.backup("filesystem", &[]));
        let mnt = sb.dir.path().join("smallfs");
        let Some(_guard) = SmallDisk::mount(&mnt, "2m") else {
            println!("SKIP: cannot mount a tmpfs (not root?)");
            return;
        };
        let says_why = |err: &str| {
            assert!(
                err.contains("not enough space")
                    && err.contains("needs about 6.")
                    && err.contains("free")
                    && err.contains("--target DIR"),
                "the refusal says how much is needed, how much is free and where else to go: {err}"
            );
        };

        let target = mnt.join("new");
        let err = sb.fails(
            &["restore", "--id", &id, "--target", target.to_str().unwrap()],
            1,
        );
        says_why(&err);
        assert!(!target.exists(), "{err}");

        // An existing directory: refused before the safety copy, nothing
        // replaced, no `pre_restore` backup taken.
        let existing = mnt.join("existing");
        let mine = Sandbox::under(&existing, &sb.app.join("uploads/docs/report.txt"));
        fs::create_dir_all(mine.parent().unwrap()).unwrap();
        fs::write(&mine, "the operator's own copy\n").unwrap();
        let before = checksum_tree(&existing);
        let err = sb.fails(
            &[
                "restore",
                "--id",
                &id,
                "--target",
                existing.to_str().unwrap(),
                "--yes",
            ],
            1,
        );
        says_why(&err);
        assert_eq!(checksum_tree(&existing), before, "{err}");
        assert_eq!(sb.json(&["list"]).as_array().unwrap().len(), 1);
        // The dry run says so too, and still shows the plan.
        let plan = sb.ok(&[
            "restore",
            "--id",
            &id,
            "--target",
            existing.to_str().unwrap(),
            "--dry-run",
        ]);
        assert!(plan.contains("would be refused"), "{plan}");
    }
}

/// When the file system fills up anyway (here: it runs out of inodes,
/// which the space check does not count), a new directory is removed and
/// an existing one is reported partly restored, with its safety copy.
#[test]
fn restore_onto_a_full_disk_fails_cleanly() {
    for encrypted in [true, false] {
        let sb = Sandbox::new();
        if encrypted {
            sb.generate_key();
        }
        populate(&sb.app);
        fs::write(sb.app.join("uploads/big.bin"), noise(6 << 20, 11)).unwrap();
        let b = sb.backup("filesystem", &[]);
        assert_eq!(b["encrypted"], encrypted, "{b}");
        let id = id_of(&b);
        let mnt = sb.dir.path().join("smallfs");
        let Some(_guard) = SmallDisk::mount(&mnt, "64m,nr_inodes=24") else {
            println!("SKIP: cannot mount a tmpfs (not root?)");
            return;
        };

        let target = mnt.join("new");
        let err = sb.fails(
            &["restore", "--id", &id, "--target", target.to_str().unwrap()],
            1,
        );
        assert!(err.to_lowercase().contains("no space left"), "{err}");
        assert!(
            err.contains(&format!(
                "the new directory {} was removed",
                target.display()
            )),
            "{err}"
        );
        assert!(!target.exists(), "{err}");
        assert!(
            err.contains("the restored tree needs about") && err.contains("--target DIR"),
            "the hint says how much room and where else to go: {err}"
        );

        let existing = mnt.join("existing");
        let report = sb.app.join("uploads/docs/report.txt");
        let mine = Sandbox::under(&existing, &report);
        fs::create_dir_all(mine.parent().unwrap()).unwrap();
        fs::write(&mine, "the operator's own copy\n").unwrap();
        let err = sb.fails(
            &[
                "restore",
                "--id",
                &id,
                "--target",
                existing.to_str().unwrap(),
                "--yes",
            ],
            1,
        );
        assert!(err.to_lowercase().contains("no space left"), "{err}");
        assert!(err.contains("may be partly restored"), "{err}");
        let safety = err
            .split("are in safety copy ")
            .nth(1)
            .and_then(|s| s.split_whitespace().next())
            .unwrap_or_else(|| panic!("no safety copy named: {err}"))
            .to_string();
        let back = sb.dir.path().join("from-safety");
        sb.ok(&[
            "restore",
            "--id",
            &safety,
            "--target",
            back.to_str().unwrap(),
        ]);
        assert_eq!(
            fs::read_to_string(Sandbox::under(&back, &mine)).unwrap(),
            "the operator's own copy\n"
        );
    }
}

// ------------------------------------------------------------ exit codes

/// Run and return (exit code, stderr), whatever the code.
fn code_and_stderr(out: std::process::Output) -> (Option<i32>, String) {
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn a_backup_that_skipped_files_exits_3_and_says_which() {
    let sb = Sandbox::new();
    populate(&sb.app);
    // A socket is not backed up (a FIFO is, as GNU tar keeps it).
    let sock = sb.app.join("uploads/docs/sock");
    drop(std::os::unix::net::UnixListener::bind(&sock).unwrap());
    let out = sb.run(&["--json", "backup", "--type", "filesystem"]);
    assert_eq!(out.status.code(), Some(3), "{}", all_text(&out));
    let r: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["status"], "succeeded_with_warnings", "{r}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("skipped socket") && err.contains(&sock.display().to_string()),
        "the warning names the file: {err}"
    );
    // The backup itself is good, and following its job gives the same code.
    sb.ok(&["verify", &id_of(&r)]);
    let job = r["job_id"].as_i64().unwrap().to_string();
    let out = sb.run(&["status", "--follow", &job]);
    assert_eq!(out.status.code(), Some(3), "{}", all_text(&out));
    // Without the socket: 0 again.
    fs::remove_file(&sock).unwrap();
    let out = sb.run(&["backup", "--type", "filesystem"]);
    assert_eq!(out.status.code(), Some(0), "{}", all_text(&out));
}

#[test]
fn usage_and_configuration_errors_exit_2() {
    let sb = Sandbox::new();
    let err = sb.fails(&["backup", "--type", "nonsense"], 2);
    assert!(err.contains("nonsense"), "{err}");
    let err = sb.fails(&["restore"], 2);
    assert!(err.contains("--id"), "{err}");
    fs::write(&sb.config, "[repository\npath = 3\n").unwrap();
    let err = sb.fails(&["list"], 2);
    assert!(err.contains(&sb.config.display().to_string()), "{err}");
    let missing = sb.dir.path().join("no-such.toml");
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(["--config", missing.to_str().unwrap(), "list"])
        .output()
        .unwrap();
    let (code, err) = code_and_stderr(out);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("no-such.toml"), "{err}");
}

#[test]
fn a_damaged_backup_exits_4_and_an_ordinary_failure_1() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let b = sb.backup("filesystem", &[]);
    let id = id_of(&b);
    let err = sb.fails(&["restore", "--id", "no-such-backup"], 1);
    assert!(err.contains("no-such-backup"), "{err}");
    flip_byte(&file_of(&b), 100);
    let out = sb.run(&["verify", &id]);
    assert_eq!(out.status.code(), Some(4), "{}", all_text(&out));
    let target = sb.dir.path().join("t-damaged");
    let err = sb.fails(
        &["restore", "--id", &id, "--target", target.to_str().unwrap()],
        4,
    );
    assert!(err.contains(&id), "{err}");
    assert!(no_files_under(&target));
}

#[test]
fn a_missing_key_exits_5_and_stderr_has_no_colour_codes() {
    let sb = Sandbox::new();
    populate(&sb.app);
    // stderr is a pipe here, not a terminal: plain text only, even for a
    // log line (the backup's job logs its phases and its error).
    let out = sb
        .cmd()
        .env("LIFEBOAT_ENCRYPT", "true")
        .args(["backup", "--type", "filesystem"])
        .output()
        .unwrap();
    let (code, err) = code_and_stderr(out);
    assert_eq!(code, Some(5), "{err}");
    assert!(err.contains(&sb.key.display().to_string()), "{err}");
    assert!(err.contains("lifeboat key generate"), "{err}");
    assert!(
        !err.contains('\x1b'),
        "escape codes in captured stderr: {err:?}"
    );
}

#[test]
fn help_lists_the_exit_codes() {
    let sb = Sandbox::new();
    let help = sb.ok(&["--help"]);
    for line in [
        "Exit codes:",
        "0    ok",
        "2    usage or configuration error",
        "3    completed with warnings",
        "4    integrity",
        "5    key error",
    ] {
        assert!(help.contains(line), "--help lacks {line:?}:\n{help}");
    }
}

/// The code in a Markdown or TOML text: fenced blocks, and `spans`.
fn code_of(text: &str) -> Vec<&str> {
    let mut code = Vec::new();
    for (i, part) in text.split("```").enumerate() {
        if i % 2 == 1 {
            code.push(part);
        } else {
            code.extend(part.split('`').skip(1).step_by(2));
        }
    }
    code
}

/// The commands a piece of code runs: the verb (and subverb) after each
/// `lifeboat`, past global flags, and after a `|` on such a line (the
/// README's shorthand `lifeboat key rotate | key list`).
fn commands_in(code: &str) -> Vec<Vec<String>> {
    let word = |t: &str| {
        t.starts_with(|c: char| c.is_ascii_lowercase())
            && t.chars().all(|c| c.is_ascii_lowercase() || c == '-')
    };
    let mut found = Vec::new();
    for line in code.lines() {
        let tokens: Vec<&str> = line.split_whitespace().collect();
        let mut in_lifeboat = false;
        let mut i = 0;
        while i < tokens.len() {
            let starts = tokens[i] == "lifeboat" || (in_lifeboat && tokens[i] == "|");
            i += 1;
            if !starts {
                continue;
            }
            in_lifeboat = true;
            while i < tokens.len() && tokens[i].starts_with('-') {
                i += if tokens[i] == "--config" { 2 } else { 1 };
            }
            let mut cmd = Vec::new();
            while i < tokens.len() && cmd.len() < 2 && word(tokens[i]) {
                cmd.push(tokens[i].to_string());
                i += 1;
            }
            if !cmd.is_empty() {
                found.push(cmd);
            }
        }
    }
    found
}

/// Every `lifeboat VERB [SUBVERB]` that README.md and config.example.toml
/// show in code is one the binary accepts (`lifeboat VERB [SUBVERB] --help`
/// succeeds; clap refuses an unknown subcommand or a word a verb does not
/// take). Found in review: config.example.toml sent operators to
/// `lifeboat key init` and `lifeboat config show`, which do not exist.
#[test]
fn every_command_the_docs_cite_exists() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut cited = std::collections::BTreeSet::new();
    for doc in ["README.md", "config.example.toml"] {
        let text = fs::read_to_string(root.join(doc)).unwrap();
        for code in code_of(&text) {
            for cmd in commands_in(code) {
                cited.insert((doc, cmd.join(" ")));
            }
        }
    }
    // The extraction finds what the documents cite (else this test
    // checks nothing).
    for (doc, cmd) in [
        ("config.example.toml", "config"),
        ("config.example.toml", "key generate"),
        ("README.md", "key list"),
        ("README.md", "catalog rebuild"),
        ("README.md", "list"),
    ] {
        assert!(
            cited.contains(&(doc, cmd.to_string())),
            "`lifeboat {cmd}` not found in {doc}: {cited:?}"
        );
    }
    assert!(cited.len() >= 25, "{cited:?}");
    let unknown: Vec<String> = cited
        .iter()
        .filter(|(_, cmd)| {
            let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
                .args(cmd.split(' '))
                .arg("--help")
                .output()
                .unwrap();
            !out.status.success()
        })
        .map(|(doc, cmd)| format!("{doc}: `lifeboat {cmd}`"))
        .collect();
    assert!(unknown.is_empty(), "not lifeboat commands: {unknown:?}");
    // And the check can fail: what the example config used to cite.
    for cmd in [&["key", "init"][..], &["config", "show"][..]] {
        let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .args(cmd)
            .arg("--help")
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "lifeboat {cmd:?} --help");
    }
}

#[test]
fn config_prints_its_header_once() {
    let sb = Sandbox::new();
    let shown = sb.ok(&["config"]);
    let headers: Vec<&str> = shown
        .lines()
        .filter(|l| l.starts_with("# effective configuration"))
        .collect();
    assert_eq!(headers.len(), 1, "{shown}");
    assert!(
        headers[0].contains(&sb.config.display().to_string()),
        "{shown}"
    );
    assert!(shown.starts_with("# effective configuration"), "{shown}");
    assert!(shown.contains("[repository]"), "{shown}");
}

/// A sparse file needs the space of its data, not of its size (found in
/// review: a 1 GiB file with 8 KiB of data was refused on a small disk, so
/// its backup could not be restored there, nor drilled).
#[test]
fn a_sparse_file_restores_onto_a_disk_smaller_than_its_size() {
    use std::os::unix::fs::{FileExt, MetadataExt};
    let sb = Sandbox::new();
    let mnt = sb.dir.path().join("smallfs");
    let Some(_guard) = SmallDisk::mount(&mnt, "16m") else {
        panic!("cannot mount a tmpfs: this test runs as root");
    };
    let f = fs::File::create(sb.app.join("uploads/disk.img")).unwrap();
    f.set_len(1 << 30).unwrap();
    f.write_at(b"start", 0).unwrap();
    f.write_at(b"end", (1 << 30) - 3).unwrap();
    drop(f);
    let id = id_of(&sb.backup("filesystem", &[]));
    let target = mnt.join("restored");
    sb.ok(&["restore", "--id", &id, "--target", target.to_str().unwrap()]);
    let back = Sandbox::under(&target, &sb.app.join("uploads/disk.img"));
    let m = fs::metadata(&back).unwrap();
    assert_eq!(m.len(), 1 << 30);
    assert!(m.blocks() * 512 < 1 << 20, "{} blocks", m.blocks());
}
