//! Offsite copies and pulls under `kill -9` and against each other, with a
//! `kind = "local"` target (a directory): what is checked here does not
//! depend on the cloud store, so no emulator is needed.
//!
//! - a pull (`catalog rebuild --from`) killed at each of its named steps
//!   (`fetch.*`, docs/FORMAT.md section 9) leaves nothing the catalog or a
//!   rebuild counts as a backup or a copy unless it is whole, and the same
//!   command run again completes it;
//! - a `copies --check` killed while recording (`check.recording`) leaves
//!   the target's listing and the copies' states in agreement;
//! - copy and prune take the repository lock in turn: a copy frozen
//!   mid-send (hold point `copy.sending`) makes a prune wait and a delete
//!   refuse, and a copy started under a frozen prune (`prune.planned`)
//!   waits and then sends nothing the prune deleted.

use std::collections::BTreeSet;
use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};

use serde_json::Value;

use crate::common::*;

/// Prune keeps only the newest configuration backup once they are days old.
const PRUNE_OLDEST: &str = "[retention]\nmin_keep = 1\n[retention.configuration]\nkeep_days = 1\n";

fn local_target(dir: &Path) -> String {
    format!(
        "[[targets]]\nname = \"offsite\"\nkind = \"local\"\npath = \"{}\"\n",
        dir.display()
    )
}

/// A keyed sandbox whose copies go to the directory `offsite/` in it.
fn with_target(extra: &str) -> (Sandbox, PathBuf) {
    let sb = Sandbox::new();
    let dir = sb.dir.path().join("offsite");
    fs::create_dir(&dir).unwrap();
    sb.write_config(&format!("{}{extra}", local_target(&dir)));
    populate(&sb.app);
    sb.generate_key();
    (sb, dir)
}

/// Run `args` with the crash point armed; the process must die by SIGKILL.
fn killed_at(sb: &Sandbox, point: &str, args: &[&str]) {
    assert!(
        lifeboat_engine::crashpoint::POINTS.contains(&point),
        "{point} is not a crash point"
    );
    let out = sb
        .cmd()
        .env("LIFEBOAT_CRASH_AT", point)
        .args(args)
        .output()
        .unwrap();
    assert_eq!(
        out.status.signal(),
        Some(libc::SIGKILL),
        "lifeboat {args:?} was to die at {point}, but ended with {:?}\n{}",
        out.status,
        all_text(&out)
    );
}

/// Start `args` held at hold point `point` until the file `release`
/// exists; its stderr goes to a file (returned), where the hold announces
/// itself.
fn spawn_held(sb: &Sandbox, point: &str, release: &Path, args: &[&str]) -> (Child, PathBuf) {
    let err = sb.dir.path().join(format!("{point}.stderr"));
    let child = sb
        .cmd()
        .env("LIFEBOAT_HOLD_AT", point)
        .env("LIFEBOAT_HOLD_UNTIL", release)
        .env("LIFEBOAT_NOW", days_later(3))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&err).unwrap())
        .spawn()
        .unwrap();
    wait_for(120, &format!("{args:?} to hold at {point}"), || {
        fs::read_to_string(&err)
            .ok()
            .filter(|t| t.contains(&format!("hold point {point} reached")))
    });
    (child, err)
}

fn days_later(days: i64) -> String {
    (chrono::Utc::now() + chrono::Duration::days(days)).to_rfc3339()
}

/// Ids of the backups whose manifest is in the repository.
fn committed(sb: &Sandbox) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    walk(&sb.repo, &mut |p| {
        if p.to_string_lossy().ends_with(".manifest.json") {
            ids.insert(read_json(p)["id"].as_str().unwrap().to_string());
        }
    });
    ids
}

/// Ids of the rows `list` calls good (the next start settles first).
fn good_rows(sb: &Sandbox) -> BTreeSet<String> {
    sb.json(&["list"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| {
            matches!(
                r["status"].as_str(),
                Some("succeeded" | "succeeded_with_warnings")
            )
        })
        .map(id_of)
        .collect()
}

/// The object keys of a backup's files (payload, index, manifest), from
/// its manifest in `repo`.
fn keys_of(manifest: &Path) -> Vec<String> {
    let m = read_json(manifest);
    let t = manifest
        .parent()
        .unwrap()
        .file_name()
        .unwrap()
        .to_string_lossy();
    let mut keys = vec![
        format!("{t}/{}", m["payload"]["file"].as_str().unwrap()),
        format!("{t}/{}", manifest.file_name().unwrap().to_string_lossy()),
    ];
    if let Some(i) = m["index"]["file"].as_str() {
        keys.push(format!("{t}/{i}"));
    }
    keys
}

/// The copy of `id` on `offsite` as `copies --all` shows it.
fn copy_state(sb: &Sandbox, id: &str) -> String {
    // Exit 1 says a type is below its copy policy: still a report.
    let out = sb.run(&["--json", "copies", "--all"]);
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        all_text(&out)
    );
    let st: Value = serde_json::from_slice(&out.stdout).unwrap();
    let b = st["backups"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["id"] == id)
        .unwrap_or_else(|| panic!("backup {id} not in {st}"));
    b["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["target"] == "offsite")
        .map(|t| t["state"].as_str().unwrap().to_string())
        .unwrap_or_else(|| panic!("no copy of {id} on offsite: {b}"))
}

/// The files under a target directory, as object keys.
fn target_keys(dir: &Path) -> BTreeSet<String> {
    let mut keys = BTreeSet::new();
    walk(dir, &mut |p| {
        keys.insert(p.strip_prefix(dir).unwrap().to_string_lossy().into_owned());
    });
    keys
}

/// Files in the repository's type directories that no manifest claims.
fn unclaimed_files(sb: &Sandbox) -> Vec<PathBuf> {
    artifact_like_files(sb)
        .into_iter()
        .filter(|f| {
            let name = f.file_name().unwrap().to_string_lossy().into_owned();
            let owner = if name.ends_with(".manifest.json") || name.ends_with(".verified.json") {
                return false;
            } else if let Some(stem) = name.strip_suffix(".index") {
                manifest_of(&f.with_file_name(stem))
            } else {
                manifest_of(f)
            };
            !owner.exists()
        })
        .collect()
}

// ------------------------------------------------------------ pulls

const FETCH_POINTS: &[&str] = &[
    "fetch.partial-written",
    "fetch.data-published",
    "fetch.manifest-written",
];

#[test]
fn a_pull_killed_at_each_fetch_step_counts_no_half_backup_and_completes_when_run_again() {
    let (src, target) = with_target("");
    let fs_b = src.backup("filesystem", &[]);
    let cfg_b = src.backup("configuration", &[]);
    for b in [&fs_b, &cfg_b] {
        assert_eq!(b["copy_error"], Value::Null, "{b}");
    }
    let all: BTreeSet<String> = [id_of(&fs_b), id_of(&cfg_b)].into();
    let on_target = target_keys(&target);

    for point in FETCH_POINTS {
        // A bare machine: the configuration and the key file only.
        let sb = Sandbox::new();
        sb.write_config(&local_target(&target));
        fs::create_dir_all(sb.key.parent().unwrap()).unwrap();
        fs::copy(&src.key, &sb.key).unwrap();

        killed_at(&sb, point, &["catalog", "rebuild", "--from", "offsite"]);
        let manifests = committed(&sb);
        let commits = usize::from(*point == "fetch.manifest-written");
        assert_eq!(manifests.len(), commits, "{point}: {manifests:?}");
        // What the catalog and a rebuild count: committed backups only,
        // each whole (the next start also removes the dead pull's partial).
        sb.ok(&["catalog", "rebuild"]);
        assert_eq!(good_rows(&sb), manifests, "{point}");
        for id in &manifests {
            sb.ok(&["verify", id]);
        }
        assert_eq!(partial_files(&sb), Vec::<PathBuf>::new(), "{point}");
        // A published data file waits for its manifest: it is no backup,
        // and it is a file the target's copy names, byte for byte.
        let loose = unclaimed_files(&sb);
        if *point == "fetch.data-published" {
            assert_eq!(loose.len(), 1, "{point}: {loose:?}");
            let rel = loose[0].strip_prefix(&sb.repo).unwrap();
            assert_eq!(
                sha256_file(&loose[0]),
                sha256_file(&target.join(rel)),
                "{point}"
            );
        } else {
            assert_eq!(loose, Vec::<PathBuf>::new(), "{point}");
        }
        // The pull never changes the target.
        assert_eq!(target_keys(&target), on_target, "{point}");

        // Run again: it completes, and every copy is on record.
        let text = sb.ok(&["catalog", "rebuild", "--from", "offsite"]);
        assert!(text.contains("from target 'offsite'"), "{point}: {text}");
        assert_eq!(committed(&sb), all, "{point}");
        assert_eq!(good_rows(&sb), all, "{point}");
        for id in &all {
            sb.ok(&["verify", id]);
            let state = copy_state(&sb, id);
            assert!(
                state == "verified" || state == "copied",
                "{point}: the copy of {id} the pull came from is {state}"
            );
        }
        assert_eq!(partial_files(&sb), Vec::<PathBuf>::new(), "{point}");
        assert_eq!(unclaimed_files(&sb), Vec::<PathBuf>::new(), "{point}");
    }
}

// ------------------------------------------------------------ checks

/// The cached listing of `offsite` (keys and sizes) and when it was taken.
fn listing(sb: &Sandbox) -> (Vec<(String, u64)>, Option<chrono::DateTime<chrono::Utc>>) {
    let cat = lifeboat_engine::catalog::Catalog::open(&sb.catalog).unwrap();
    let (objects, at) = cat.listing("offsite").unwrap();
    (objects.into_iter().map(|o| (o.key, o.size)).collect(), at)
}

/// The listing and the copy's state agree: a copy counts exactly when
/// the listing holds all of its files.
fn assert_agree(sb: &Sandbox, id: &str, keys: &[String], when: &str) {
    let (objects, _) = listing(sb);
    let whole = keys.iter().all(|k| objects.iter().any(|(o, _)| o == k));
    let state = copy_state(sb, id);
    let counts = state == "copied" || state == "verified";
    assert_eq!(
        whole,
        counts,
        "{when}: the listing {} the copy's files but its state is {state}: {objects:?}",
        if whole { "holds" } else { "lacks" }
    );
}

#[test]
fn a_check_killed_while_recording_leaves_listing_and_copy_states_in_agreement() {
    let (sb, target) = with_target("");
    let b = sb.backup("configuration", &[]);
    assert_eq!(b["copy_error"], Value::Null, "{b}");
    let id = id_of(&b);
    let keys = keys_of(&manifest_of(&file_of(&b)));
    sb.ok(&["copies", "--check"]);
    let before = listing(&sb);
    assert!(before.1.is_some(), "the check kept a listing");
    assert_eq!(copy_state(&sb, &id), "copied");
    assert_agree(&sb, &id, &keys, "after a clean check");

    // Behind lifeboat's back, the copy's payload goes.
    fs::remove_file(target.join(&keys[0])).unwrap();
    killed_at(&sb, "check.recording", &["copies", "--check"]);
    // Nothing of the dead check was recorded: neither the new listing nor
    // the copy it found gone.
    assert_eq!(listing(&sb), before, "check.recording");
    assert_eq!(copy_state(&sb, &id), "copied", "check.recording");
    assert_agree(&sb, &id, &keys, "check.recording");

    // Run again: both recorded.
    let text = sb.fails_all(&["copies", "--check"], 1);
    assert!(text.contains("MISSING"), "{text}");
    let after = listing(&sb);
    assert!(after.1 > before.1, "a new listing was kept");
    assert!(!after.0.iter().any(|(k, _)| *k == keys[0]), "{after:?}");
    assert_eq!(copy_state(&sb, &id), "missing");
    assert_agree(&sb, &id, &keys, "check.recording (rerun)");
}

// ------------------------------------------------------------ copy against prune

/// Two configuration backups taken before any target was configured, then
/// the target added: nothing is on it yet. Returns the backups and the
/// target directory.
fn two_backups_then_a_target() -> (Sandbox, Vec<Value>, PathBuf) {
    let sb = Sandbox::with_extra_config(PRUNE_OLDEST);
    populate(&sb.app);
    sb.generate_key();
    let backups: Vec<Value> = (0..2)
        .map(|i| {
            fs::write(sb.app.join("config.py"), format!("VERSION = {i}\n")).unwrap();
            sb.backup("configuration", &[])
        })
        .collect();
    let dir = sb.dir.path().join("offsite");
    fs::create_dir(&dir).unwrap();
    sb.write_config(&format!("{}{PRUNE_OLDEST}", local_target(&dir)));
    (sb, backups, dir)
}

fn job_log(sb: &Sandbox, id: i64) -> Vec<String> {
    sb.job(id)["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap_or("").to_string())
        .collect()
}

/// The running job of `kind` once its log says it waits for the repository.
fn waiting_for_repository(sb: &Sandbox, kind: &str, holder: i64) -> i64 {
    wait_for(
        60,
        &format!("the {kind} to wait for the repository"),
        || {
            let j = sb
                .jobs()
                .into_iter()
                .find(|j| j["kind"] == kind && j["state"] == "running")?;
            let id = j["id"].as_i64().unwrap();
            job_log(sb, id)
                .iter()
                .any(|m| m.contains(&format!("waiting: repository is busy with job {holder} (")))
                .then_some(id)
        },
    )
}

fn exits_0(child: Child, what: &str, err: Option<&Path>) -> String {
    let (st, mut text) = wait_child(child, 180, what);
    if let Some(e) = err {
        text.push_str(&fs::read_to_string(e).unwrap_or_default());
    }
    assert_eq!(st.code(), Some(0), "{what}:\n{text}");
    text
}

#[test]
fn a_prune_waits_for_a_copy_mid_send_and_never_deletes_what_it_sends() {
    let (sb, backups, target) = two_backups_then_a_target();
    let (old, new) = (id_of(&backups[0]), id_of(&backups[1]));
    let release = sb.dir.path().join("release-copy");
    // The copy sends the oldest first; it is frozen before its first file.
    let (copy, copy_err) = spawn_held(&sb, "copy.sending", &release, &["copy"]);
    let copy_job = sb.wait_running("copy", 60)["id"].as_i64().unwrap();

    // A deletion does not wait behind the copy: it refuses, naming it.
    let config =
        lifeboat_engine::config::Config::load(Some(&sb.config), &|_| None, sb.dir.path()).unwrap();
    let engine = lifeboat_engine::ops::Engine::open(config).unwrap();
    let err = lifeboat_engine::ops::delete::delete(&engine, &old).unwrap_err();
    let text = err.display_with_hint();
    assert_eq!(
        err.kind,
        lifeboat_engine::error::ErrorKind::Refused,
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "deleting backup {old} was refused: the repository is in use by job {copy_job} (copy"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("lifeboat cancel {copy_job}")),
        "{text}"
    );
    drop(engine);

    // A prune that would delete the backup being sent waits for the copy.
    let prune = sb
        .cmd()
        .env("LIFEBOAT_NOW", days_later(3))
        .args(["prune", "--yes", "--force"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let prune_job = waiting_for_repository(&sb, "prune", copy_job);
    assert!(file_of(&backups[0]).exists(), "deleted under the copy");
    assert_eq!(good_rows(&sb), [old.clone(), new.clone()].into());

    fs::write(&release, "").unwrap();
    exits_0(copy, "the held copy", Some(&copy_err));
    exits_0(prune, "the waiting prune", None);
    assert!(
        job_log(&sb, copy_job)
            .iter()
            .any(|m| m.contains(&format!("{old}: copied on 'offsite'"))),
        "the copy sent the oldest whole"
    );
    assert!(job_log(&sb, prune_job)
        .iter()
        .any(|m| m.contains(&format!("deleted {old}"))));

    // Then the prune took the oldest away, here and on the target: what is
    // left on the target is the newest backup, whole, and nothing else.
    assert_eq!(good_rows(&sb), [new.clone()].into());
    let keys: BTreeSet<String> = keys_of(&manifest_of(&file_of(&backups[1])))
        .into_iter()
        .collect();
    let left: BTreeSet<String> = target_keys(&target)
        .into_iter()
        .filter(|k| !k.starts_with("audit/"))
        .collect();
    assert_eq!(left, keys);
    assert_eq!(copy_state(&sb, &new), "copied");
    let check = sb.json(&["copies", "--check"]);
    assert_eq!(
        check["check"][0]["unclaimed"],
        serde_json::json!([]),
        "{check}"
    );
    assert_eq!(
        check["check"][0]["missing"],
        serde_json::json!([]),
        "{check}"
    );
}

#[test]
fn a_copy_started_while_a_prune_holds_the_repository_waits_and_sends_nothing_pruned() {
    let (sb, backups, target) = two_backups_then_a_target();
    let (old, new) = (id_of(&backups[0]), id_of(&backups[1]));
    let release = sb.dir.path().join("release-prune");
    // The prune has planned (the oldest goes) and holds the lock.
    let (prune, prune_err) = spawn_held(
        &sb,
        "prune.planned",
        &release,
        &["prune", "--yes", "--force"],
    );
    let prune_job = sb.wait_running("prune", 60)["id"].as_i64().unwrap();

    // A copy of everything missing, started now, waits for it.
    let copy = sb.spawn(&["copy"]);
    let copy_job = waiting_for_repository(&sb, "copy", prune_job);
    assert_eq!(
        target_keys(&target),
        BTreeSet::new(),
        "sent under the prune"
    );

    fs::write(&release, "").unwrap();
    exits_0(prune, "the held prune", Some(&prune_err));
    exits_0(copy, "the waiting copy", None);
    // The copy planned after the prune: the pruned backup is not sent (nor
    // is its absence a failure), the newest is.
    assert_eq!(good_rows(&sb), [new.clone()].into());
    let log = job_log(&sb, copy_job);
    assert!(!log.iter().any(|m| m.contains(&old)), "{log:?}");
    let keys: BTreeSet<String> = keys_of(&manifest_of(&file_of(&backups[1])))
        .into_iter()
        .collect();
    let left: BTreeSet<String> = target_keys(&target)
        .into_iter()
        .filter(|k| !k.starts_with("audit/"))
        .collect();
    assert_eq!(left, keys);
    assert_eq!(copy_state(&sb, &new), "copied");
    let check = sb.json(&["copies", "--check"]);
    assert_eq!(
        check["check"][0]["unclaimed"],
        serde_json::json!([]),
        "{check}"
    );
}
