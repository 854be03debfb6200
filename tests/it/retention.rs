//! Retention and schedules through the real binary: prune previews, the
//! safety rules, real deletion of real artifacts, and `lifeboat schedule`.

use std::fs;

use crate::common::*;
use chrono::{Duration, Utc};

fn later(days: i64) -> String {
    (Utc::now() + Duration::days(days)).to_rfc3339()
}

fn prune(sb: &Sandbox, now: &str, args: &[&str]) -> std::process::Output {
    sb.cmd()
        .env("LIFEBOAT_NOW", now)
        .arg("prune")
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &std::process::Output) -> String {
    all_text(out)
}

#[test]
fn prune_previews_refuses_then_deletes_only_what_the_policy_lets_go() {
    let sb = Sandbox::with_extra_config(
        "[retention]\nmin_keep = 2\n[retention.filesystem]\nkeep_days = 1\n",
    );
    populate(&sb.app);
    let mut fulls = Vec::new();
    for i in 0..3 {
        fs::write(sb.app.join(format!("uploads/f{i}.txt")), format!("v{i}")).unwrap();
        fulls.push(sb.backup("filesystem", &["--full"]));
    }
    fs::write(sb.app.join("uploads/inc.txt"), "incremental").unwrap();
    let inc1 = sb.backup("filesystem", &[]);
    fs::write(sb.app.join("uploads/inc2.txt"), "incremental 2").unwrap();
    let inc2 = sb.backup("filesystem", &[]);
    assert_eq!(inc1["parent_id"].as_str(), Some(id_of(&fulls[2]).as_str()));
    let before_files = sb.repo_files();
    let now = later(3);

    // Dry run: the newest two (an incremental chain) and its full are kept,
    // the two older fulls would go, each with its reason.
    let out = prune(&sb, &now, &["--dry-run", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(t.contains("DELETE"), "{t}");
    assert!(t.contains("parent of kept incremental"), "{t}");
    assert!(t.contains("would delete 2 of 5 backups"), "{t}");
    assert_eq!(sb.repo_files(), before_files, "a dry run changes nothing");

    // Without --yes nothing is deleted and the exit code says so.
    let out = prune(&sb, &now, &["--force"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("lifeboat prune --yes"));
    assert_eq!(sb.repo_files(), before_files);

    // Three days without a backup is longer than the 1-day window: prune
    // will not apply the policy unless forced (backups stopped, or the
    // clock jumped).
    let out = prune(&sb, &now, &["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("not pruned"), "{}", text(&out));
    assert!(text(&out).contains("--force"), "{}", text(&out));
    assert_eq!(sb.repo_files(), before_files);

    // Forced: the two old fulls go, files and rows.
    let out = prune(&sb, &now, &["--yes", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("pruned 2 backups"), "{}", text(&out));
    for f in &fulls[..2] {
        let payload = file_of(f);
        assert!(!payload.exists(), "{} still there", payload.display());
        assert!(!manifest_of(&payload).exists());
    }
    let list = sb.json(&["list"]);
    let ids: Vec<String> = list.as_array().unwrap().iter().map(id_of).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    for kept in [&fulls[2], &inc1, &inc2] {
        assert!(ids.contains(&id_of(kept)));
        assert!(file_of(kept).exists());
    }
    // The kept chain still restores, the audit log records each deletion
    // and its chain verifies, and a rebuild does not bring them back.
    let target = sb.dir.path().join("restored");
    sb.ok(&[
        "restore",
        "--id",
        &id_of(&inc2),
        "--target",
        target.to_str().unwrap(),
    ]);
    let base = Sandbox::under(&target, &sb.app);
    assert_eq!(
        fs::read_to_string(base.join("uploads/inc2.txt")).unwrap(),
        "incremental 2"
    );
    assert_eq!(
        fs::read_to_string(base.join("uploads/f0.txt")).unwrap(),
        "v0"
    );
    let audit = sb.ok(&["audit", "list"]);
    assert_eq!(audit.matches("prune").count(), 2, "{audit}");
    sb.ok(&["audit", "verify"]);
    sb.ok(&["catalog", "rebuild"]);
    assert_eq!(sb.json(&["list"]).as_array().unwrap().len(), 3);
    // The prune ran as a job.
    let jobs = sb.json(&["status"]);
    assert!(jobs
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["kind"] == "prune" && j["state"] == "succeeded"));
}

#[test]
fn nothing_to_prune_when_every_backup_is_young() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.backup("filesystem", &["--full"]);
    let out = prune(&sb, &Utc::now().to_rfc3339(), &["--yes"]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("nothing to prune"), "{}", text(&out));
}

#[test]
fn a_retention_of_zero_days_is_a_config_error_naming_the_key() {
    let sb = Sandbox::with_extra_config("[retention.database]\nkeep_days = 0\n");
    let err = sb.fails(&["prune", "--dry-run"], 2);
    assert!(err.contains("[retention.database] keep_days"), "{err}");
    assert!(err.contains(sb.config.to_str().unwrap()), "{err}");
}

#[test]
fn schedule_shows_the_next_runs_in_the_configured_zone() {
    let sb = Sandbox::with_extra_config(
        "[schedule]\ntimezone = \"Europe/Berlin\"\n[schedule.filesystem]\nevery = \"daily 02:00\"\nfull = \"weekly sun 03:00\"\n",
    );
    let out = sb.ok(&["schedule"]);
    assert!(out.contains("time zone: Europe/Berlin"), "{out}");
    assert!(out.contains("weekly sun 03:00"), "{out}");
    assert!(out.contains("CET") || out.contains("CEST"), "{out}");
    let runs = sb.json(&["schedule", "--count", "12"]);
    let runs = runs.as_array().unwrap();
    assert_eq!(runs.len(), 12);
    let times: Vec<&str> = runs.iter().map(|r| r["at"].as_str().unwrap()).collect();
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "soonest first");
    assert!(runs
        .iter()
        .any(|r| r["target"] == "filesystem" && r["full"] == true));
}

#[test]
fn an_invalid_cron_expression_names_its_key() {
    let sb = Sandbox::with_extra_config("[schedule.filesystem]\ncron = \"0 2 * *\"\n");
    let err = sb.fails(&["schedule"], 2);
    assert!(err.contains("[schedule.filesystem] cron"), "{err}");
    assert!(err.contains("five-field"), "{err}");
}

// ---- what counts as good (issue 12, items 4 and 6) ----

/// Two newer backups whose verification FAILED do not use up `min_keep`:
/// the two older ones that verify are kept, "latest" and `recover` pick the
/// newest that verifies, and health does not call a failed one good.
#[test]
fn a_failed_verification_never_makes_an_older_good_backup_expendable() {
    let sb = Sandbox::with_extra_config(
        "[retention]\nmin_keep = 2\n[retention.filesystem]\nkeep_days = 1\n",
    );
    populate(&sb.app);
    sb.generate_key();
    let mut b = Vec::new();
    for i in 0..4 {
        fs::write(sb.app.join(format!("uploads/f{i}.txt")), format!("v{i}")).unwrap();
        b.push(sb.backup("filesystem", &["--full"]));
    }
    for r in &b[2..] {
        flip_byte(&file_of(r), 100);
        let out = sb.run(&["verify", &id_of(r)]);
        assert!(!out.status.success(), "{}", text(&out));
    }
    let plan = sb.json(&["restore", "--type", "filesystem", "--dry-run"]);
    assert_eq!(
        plan["id"], b[1]["id"],
        "latest skips failed backups: {plan}"
    );
    let rec = sb.run(&["recover", "--dir", sb.repo.to_str().unwrap(), "--dry-run"]);
    assert!(text(&rec).contains(&id_of(&b[1])), "{}", text(&rec));

    let out = prune(&sb, &later(3), &["--yes", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    let left: Vec<String> = sb
        .json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .map(id_of)
        .collect();
    for good in &b[..2] {
        assert!(
            left.contains(&id_of(good)),
            "{} was pruned: {}",
            id_of(good),
            text(&out)
        );
        sb.ok(&["verify", &id_of(good)]);
    }
}

/// A wrong key file is the operator's problem: the backup is not recorded
/// as failed, and the message says the backup was not checked.
#[test]
fn verify_with_a_wrong_key_file_records_nothing_against_the_backup() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let r = sb.backup("filesystem", &[]);
    let other = Sandbox::new();
    other.generate_key();
    fs::copy(&other.key, &sb.key).unwrap();
    let out = sb.run(&["verify", &id_of(&r)]);
    assert!(!out.status.success());
    assert!(text(&out).contains("not checked"), "{}", text(&out));
    let row = sb.json(&["show", &id_of(&r)]);
    let row = if row["backup"].is_object() {
        &row["backup"]
    } else {
        &row
    };
    assert!(row["verify_result"].is_null(), "{row}");
}

/// After an in-place restore, its safety copy is the newest filesystem
/// backup; "latest" still means the newest real backup.
#[test]
fn latest_is_never_a_safety_copy() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let full = sb.backup("filesystem", &[]);
    fs::write(sb.app.join("uploads/docs/report.txt"), "changed").unwrap();
    sb.ok(&["restore", "--id", &id_of(&full), "--in-place", "--yes"]);
    let list = sb.json(&["list"]);
    assert_eq!(list[0]["name"], "pre_restore", "{list}");
    let plan = sb.json(&["restore", "--type", "filesystem", "--dry-run"]);
    assert_eq!(plan["id"], full["id"], "{plan}");
}

/// An incremental whose full failed verification is not "latest": the
/// newest whole, verified chain is.
#[test]
fn latest_skips_an_incremental_whose_full_failed_verification() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let good = sb.backup("filesystem", &[]);
    let full = sb.backup("filesystem", &["--full"]);
    fs::write(sb.app.join("uploads/late.txt"), "late").unwrap();
    let inc = sb.backup("filesystem", &[]);
    assert_eq!(inc["parent_id"], full["id"], "{inc}");
    flip_byte(&file_of(&full), 100);
    assert!(!sb.run(&["verify", &id_of(&full)]).status.success());
    let plan = sb.json(&["restore", "--type", "filesystem", "--dry-run"]);
    assert_eq!(plan["id"], good["id"], "{plan}");
}

/// The rule "a full backup every `full_every_days`" reads the decision
/// clock: eight days on (`LIFEBOAT_NOW`), the next backup is a full one
/// and says why; before that it builds on the full.
#[test]
fn full_every_days_is_decided_on_the_engine_clock() {
    let sb = Sandbox::new();
    populate(&sb.app);
    assert_eq!(sb.backup("filesystem", &[])["kind"], "full");
    fs::write(sb.app.join("uploads/a.txt"), "changed").unwrap();
    assert_eq!(sb.backup("filesystem", &[])["kind"], "incremental");
    fs::write(sb.app.join("uploads/b.txt"), "changed again").unwrap();
    let out = sb
        .cmd()
        .env("LIFEBOAT_NOW", later(8))
        .args(["--json", "backup", "--type", "filesystem"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("days old (full_every_days = 7); taking a full backup"),
        "{}",
        text(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["kind"], "full", "{report}");
}

/// A target with a longer keep_days: prune lets the repository's copy go
/// and the backup lives on there (restorable straight from it) until the
/// target's own retention lets it go too.
#[test]
fn a_target_that_keeps_longer_keeps_what_the_repository_lets_go() {
    let vault = tempfile::tempdir().unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[retention]\nmin_keep = 1\n[retention.configuration]\nkeep_days = 1\n\
         [[targets]]\nname = \"vault\"\nkind = \"local\"\npath = \"{}\"\nkeep_days = 30\n",
        vault.path().display()
    ));
    populate(&sb.app);
    sb.generate_key();
    let config = sb.app.join("config.py");
    let b: Vec<_> = (0..3)
        .map(|i| {
            fs::write(&config, format!("VERSION = {i}\n")).unwrap();
            let b = sb.backup("configuration", &[]);
            assert_eq!(b["copy_error"], serde_json::Value::Null, "{b}");
            b
        })
        .collect();
    let in_vault = |b: &serde_json::Value| {
        let name = file_of(b)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        vault.path().join("configuration").join(name).exists()
    };

    // Three days on: the repository keeps only the newest; the vault keeps all.
    let out = prune(&sb, &later(3), &["--dry-run", "--force"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert_eq!(t.matches("OFFSITE").count(), 2, "{t}");
    assert!(t.contains("kept on target 'vault' (keep_days = 30)"), "{t}");
    assert!(
        t.contains("would delete 0 of 3 backups and leave 2 on their targets only"),
        "{t}"
    );
    // Behind the catalog's back, the vault lost the second one: prune
    // looks before it lets the repository's copy go, and keeps it here.
    let vault_payload = |b: &serde_json::Value| {
        let name = file_of(b)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .into_owned();
        vault.path().join("configuration").join(name)
    };
    fs::remove_file(vault_payload(&b[1])).unwrap();
    let out = prune(&sb, &later(3), &["--yes", "--force"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(!file_of(&b[0]).exists() && !manifest_of(&file_of(&b[0])).exists());
    assert!(in_vault(&b[0]));
    assert!(
        file_of(&b[1]).exists(),
        "kept here: the vault's copy is gone"
    );
    let state = |id: &str| {
        let out = sb.run(&["--json", "copies", id]);
        let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        c["backups"][0]["targets"][0]["state"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state(&id_of(&b[1])), "missing");
    // A copy sends it again; the next prune lets the repository's copy go.
    sb.ok(&["copy"]);
    let out = prune(&sb, &later(3), &["--yes", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    for old in &b[..2] {
        assert!(!file_of(old).exists() && !manifest_of(&file_of(old)).exists());
        assert!(in_vault(old));
    }
    assert!(file_of(&b[2]).exists());
    let list = sb.json(&["list"]);
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    let listed = sb.ok(&["list"]);
    assert_eq!(listed.matches("(on targets only)").count(), 2, "{listed}");
    // There is nothing here to send, and the vault's copy stays counted.
    let out = sb.run(&["copy", &id_of(&b[0])]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("lives on its targets only"),
        "{}",
        text(&out)
    );
    assert_eq!(state(&id_of(&b[0])), "copied");
    // (Exit 1: one copy of the two the policy asks for.)
    let out = sb.run(&["--json", "copies", &id_of(&b[0])]);
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["backups"][0]["in_repository"], false, "{c}");
    assert_eq!(c["backups"][0]["copies"], 1, "{c}");
    // It restores from the vault, and verifies there.
    let target = sb.dir.path().join("restored");
    let out = sb.run(&[
        "restore",
        "--id",
        &id_of(&b[0]),
        "--target",
        target.to_str().unwrap(),
    ]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    assert!(t.contains("from target 'vault'"), "{t}");
    assert_eq!(
        fs::read_to_string(Sandbox::under(&target, &config)).unwrap(),
        "VERSION = 0\n"
    );
    sb.ok(&["verify", &id_of(&b[0])]);
    // Nothing tries to copy what lives on the vault only.
    let r = sb.json(&["copy"]);
    assert_eq!(r["copies"].as_array().map_or(0, |c| c.len()), 0, "{r}");
    // A second prune changes nothing.
    let out = prune(&sb, &later(3), &["--yes", "--force"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(sb.json(&["list"]).as_array().unwrap().len(), 3);

    // Forty days on: past the vault's keep_days too; they go everywhere.
    let out = prune(&sb, &later(40), &["--yes", "--force"]);
    let t = text(&out);
    assert!(out.status.success(), "{t}");
    let list = sb.json(&["list"]);
    let ids: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [id_of(&b[2]).as_str()], "{t}");
    assert!(!in_vault(&b[0]) && !in_vault(&b[1]));
    assert!(in_vault(&b[2]));
    let audit = sb.ok(&["audit", "list"]);
    assert!(audit.contains("deleted from the repository"), "{audit}");
}
