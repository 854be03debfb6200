//! Damaged, swapped, forged and hostile artifacts are refused before a
//! single byte reaches the restore target.

use std::fs;
use std::io::Write;
use std::path::PathBuf;

use crate::common::*;

/// A keyed sandbox with one encrypted filesystem backup. Returns (sb, report).
fn encrypted_backup() -> (Sandbox, serde_json::Value) {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let r = sb.backup("filesystem", &[]);
    assert_eq!(r["encrypted"], true, "{r}");
    assert!(file_of(&r).to_string_lossy().ends_with(".enc"));
    (sb, r)
}

/// Restore into a fresh dir must fail with exit 1; returns stderr. The
/// target must not hold any file afterwards.
/// A restore refused as damaged or tampered with (exit 4), nothing written.
fn restore_refused(sb: &Sandbox, id: &str) -> String {
    restore_refused_with(sb, id, 4)
}

/// A restore refused for its key (exit 5), nothing written.
fn restore_refused_for_key(sb: &Sandbox, id: &str) -> String {
    restore_refused_with(sb, id, 5)
}

fn restore_refused_with(sb: &Sandbox, id: &str, code: i32) -> String {
    let target = sb.dir.path().join(format!("restore-{}", rand_suffix()));
    let err = sb.fails(
        &["restore", "--id", id, "--target", target.to_str().unwrap()],
        code,
    );
    assert!(
        no_files_under(&target),
        "restore wrote files into {}",
        target.display()
    );
    err
}

fn rand_suffix() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

fn low(s: &str) -> String {
    s.to_lowercase()
}

#[test]
fn truncated_payload_is_detected_and_refused() {
    let (sb, r) = encrypted_backup();
    let id = id_of(&r);
    let f = file_of(&r);
    let len = fs::metadata(&f).unwrap().len();
    let file = fs::OpenOptions::new().write(true).open(&f).unwrap();
    file.set_len(len - 100).unwrap();
    drop(file);
    let err = sb.fails_all(&["verify", &id], 4);
    assert!(
        low(&err).contains("truncated") || low(&err).contains("does not match"),
        "{err}"
    );
    let err = restore_refused(&sb, &id);
    assert!(
        low(&err).contains("truncated") || low(&err).contains("does not match"),
        "{err}"
    );
}

#[test]
fn flipped_byte_in_ciphertext_is_refused() {
    let (sb, r) = encrypted_backup();
    let id = id_of(&r);
    let f = file_of(&r);
    let len = fs::metadata(&f).unwrap().len() as usize;
    flip_byte(&f, len / 2);
    let err = sb.fails_all(&["verify", &id], 4);
    assert!(
        err.contains("does not match") || low(&err).contains("sha-256"),
        "{err}"
    );
    restore_refused(&sb, &id);
    // verify FILE says the same.
    sb.fails_all(&["verify", f.to_str().unwrap()], 4);
}

#[test]
fn reordered_segments_are_refused() {
    let (sb, r) = encrypted_backup();
    let id = id_of(&r);
    let f = file_of(&r);
    let mut b = fs::read(&f).unwrap();
    // populate() holds 300 kB of noise: several 64 KiB segments.
    assert!(
        b.len() > 4 * 65_536,
        "payload too small for the test: {}",
        b.len()
    );
    let seg = 65_536 + 16;
    let (a, c) = (1000, 1000 + seg);
    let first: Vec<u8> = b[a..a + seg].to_vec();
    let second: Vec<u8> = b[c..c + seg].to_vec();
    b[a..a + seg].copy_from_slice(&second);
    b[c..c + seg].copy_from_slice(&first);
    fs::write(&f, b).unwrap();
    sb.fails_all(&["verify", &id], 4);
    restore_refused(&sb, &id);
}

#[test]
fn edited_manifest_fails_authentication() {
    let (sb, r) = encrypted_backup();
    let id = id_of(&r);
    let mp = manifest_of(&file_of(&r));
    let mut m = read_json(&mp);
    let n = m["files"]["files"].as_u64().unwrap();
    m["files"]["files"] = (n + 1).into();
    m["warnings"] = serde_json::json!(["all good, trust me"]);
    write_json(&mp, &m);
    let err = sb.fails_all(&["verify", &id], 4);
    assert!(
        low(&err).contains("authentication") || low(&err).contains("changed"),
        "{err}"
    );
    let err = restore_refused(&sb, &id);
    assert!(
        low(&err).contains("authentication") || low(&err).contains("changed"),
        "{err}"
    );
}

#[test]
fn wrong_key_names_the_key_id() {
    let (sb, r) = encrypted_backup();
    let id = id_of(&r);
    let key_id = read_json(&manifest_of(&file_of(&r)))["key"]["key_id"]
        .as_str()
        .unwrap()
        .to_string();
    let other = sb.dir.path().join("other/other.key");
    sb.ok(&["key", "generate", "--key-file", other.to_str().unwrap()]);
    // Point the config at the other key file.
    let t1 = sb.dir.path().join("t-wrong-key");
    let out = sb
        .cmd()
        .env("LIFEBOAT_KEY_FILE", &other)
        .args(["restore", "--id", &id, "--target", t1.to_str().unwrap()])
        .output()
        .unwrap();
    let err = all_text(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(
        err.contains(&key_id),
        "error should name key {key_id}: {err}"
    );
    assert!(no_files_under(&t1));
    // The hint names what exists: the config key and the environment
    // variable, not a --key-file flag restore does not have.
    assert!(
        err.contains("[encryption] key_file") && err.contains("LIFEBOAT_KEY_FILE"),
        "{err}"
    );
    assert!(!err.contains("--key-file"), "{err}");
    // Replacing the key file itself behaves the same.
    fs::copy(&other, &sb.key).unwrap();
    // A wrong key is the operator's to fix (5), not a damaged backup (4).
    let err = sb.fails_all(&["verify", &id], 5);
    assert!(err.contains(&key_id), "{err}");
    restore_refused_for_key(&sb, &id);
}

#[test]
fn missing_key_file_gives_a_clear_error() {
    let (sb, r) = encrypted_backup();
    let id = id_of(&r);
    fs::remove_file(&sb.key).unwrap();
    let err = restore_refused_for_key(&sb, &id);
    assert!(
        err.contains(&sb.key.display().to_string()),
        "names the key file: {err}"
    );
    assert!(
        err.contains("lifeboat key generate") || err.contains("key_file"),
        "{err}"
    );
    // A new backup with encryption needed: the hint to generate a key.
    let err = sb.fails(&["backup", "--type", "configuration"], 1);
    assert!(err.contains("lifeboat key generate"), "{err}");
}

#[test]
fn payload_from_another_backup_is_refused() {
    let (sb, r1) = encrypted_backup();
    fs::write(sb.app.join("uploads/extra.bin"), noise(70_000, 11)).unwrap();
    let r2 = sb.backup("filesystem", &["--full"]);
    let (f1, f2) = (file_of(&r1), file_of(&r2));
    let (b1, b2) = (fs::read(&f1).unwrap(), fs::read(&f2).unwrap());
    // Copy backup 2's payload over backup 1's.
    fs::write(&f1, &b2).unwrap();
    let err = sb.fails_all(&["verify", &id_of(&r1)], 4);
    assert!(
        err.contains("does not match") || low(&err).contains("truncated or replaced"),
        "{err}"
    );
    restore_refused(&sb, &id_of(&r1));
    // Swapped both ways.
    fs::write(&f2, &b1).unwrap();
    sb.fails_all(&["verify", &id_of(&r2)], 4);
    restore_refused(&sb, &id_of(&r2));
}

#[test]
fn unencrypted_flipped_compressed_byte_is_refused_before_writing() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let r = sb.backup("filesystem", &[]);
    assert_eq!(r["encrypted"], false);
    let f = file_of(&r);
    let len = fs::metadata(&f).unwrap().len() as usize;
    flip_byte(&f, len / 2);
    let err = sb.fails_all(&["verify", &id_of(&r)], 4);
    assert!(err.contains("SHA-256"), "{err}");
    let err = restore_refused(&sb, &id_of(&r));
    assert!(err.contains("SHA-256"), "{err}");
}

// ---------- hand-crafted hostile artifacts ----------

struct Entry {
    name: Vec<u8>,
    kind: u8, // b'0' file, b'2' symlink, b'5' dir
    data: Vec<u8>,
    link: Vec<u8>,
}

fn file(name: &[u8], data: &[u8]) -> Entry {
    Entry {
        name: name.to_vec(),
        kind: b'0',
        data: data.to_vec(),
        link: Vec::new(),
    }
}
fn symlink(name: &[u8], to: &[u8]) -> Entry {
    Entry {
        name: name.to_vec(),
        kind: b'2',
        data: Vec::new(),
        link: to.to_vec(),
    }
}

/// A raw ustar header with the name written verbatim (no sanitising).
fn header(e: &Entry, size: u64) -> [u8; 512] {
    let mut h = tar::Header::new_ustar();
    {
        let old = h.as_old_mut();
        old.name[..e.name.len()].copy_from_slice(&e.name);
        old.linkname[..e.link.len()].copy_from_slice(&e.link);
    }
    h.set_mode(if e.kind == b'5' { 0o755 } else { 0o644 });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(size);
    h.as_old_mut().linkflag = [e.kind];
    h.set_cksum();
    let mut out = [0u8; 512];
    out.copy_from_slice(h.as_bytes());
    out
}

fn tar_bytes(entries: &[Entry]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        out.extend_from_slice(&header(e, e.data.len() as u64));
        out.extend_from_slice(&e.data);
        let pad = (512 - e.data.len() % 512) % 512;
        out.resize(out.len() + pad, 0);
    }
    out.resize(out.len() + 1024, 0);
    out
}

fn index_line(e: &Entry, size: u64) -> String {
    let k = match e.kind {
        b'0' => "f",
        b'2' => "l",
        _ => "d",
    };
    let mut v = serde_json::json!({
        "p": String::from_utf8(e.name.clone()).unwrap(),
        "k": k, "m": if k == "d" { 0o755 } else { 0o644 }, "u": 0, "g": 0,
        "s": size, "mt": 1_700_000_000_000_000_000i64, "ct": 1_700_000_000_000_000_000i64,
        "i": 1, "dv": 1, "st": true,
    });
    if k == "l" {
        v["l"] = String::from_utf8(e.link.clone()).unwrap().into();
    }
    if k == "f" {
        v["h"] = sha256_bytes(&e.data).into();
    }
    format!("{v}\n")
}

fn zst(b: &[u8]) -> Vec<u8> {
    zstd::encode_all(b, 3).unwrap()
}

/// An unkeyed sandbox with one real unencrypted backup whose manifest is the
/// template for forged ones.
fn template() -> (Sandbox, serde_json::Value) {
    let sb = Sandbox::new();
    fs::write(sb.app.join("uploads/a.txt"), "a").unwrap();
    let r = sb.backup("filesystem", &[]);
    assert_eq!(r["encrypted"], false);
    let m = read_json(&manifest_of(&file_of(&r)));
    assert!(
        m["mac"].is_null() && m["key"].is_null(),
        "template must be unkeyed: {m}"
    );
    (sb, m)
}

/// Write payload + index + manifest into repo/filesystem; return payload path.
fn forge(
    sb: &Sandbox,
    tmpl: &serde_json::Value,
    name: &str,
    payload: &[u8],
    payload_size: u64,
    index: &str,
) -> PathBuf {
    let dir = sb.repo.join("filesystem");
    let pname = format!("fs_backup_20200101_000000_{name}.tar.zst");
    let iname = format!("{pname}.index");
    let p = dir.join(&pname);
    fs::write(&p, payload).unwrap();
    let idx = zst(index.as_bytes());
    fs::write(dir.join(&iname), &idx).unwrap();
    let mut m = tmpl.clone();
    m["id"] = format!("fs-20200101-000000-{name}").into();
    m["kind"] = "full".into();
    m["parent_id"] = serde_json::Value::Null;
    m["payload"] = serde_json::json!({
        "file": pname, "size": payload_size, "stored_size": payload.len(), "sha256": sha256_bytes(payload),
    });
    m["index"] = serde_json::json!({
        "file": iname, "size": index.len(), "stored_size": idx.len(), "sha256": sha256_bytes(&idx),
    });
    write_json(&manifest_of(&p), &m);
    p
}

fn hostile_restore(
    sb: &Sandbox,
    tmpl: &serde_json::Value,
    name: &str,
    entries: &[Entry],
    expect: &str,
) -> PathBuf {
    let tar = tar_bytes(entries);
    let index: String = entries
        .iter()
        .map(|e| index_line(e, e.data.len() as u64))
        .collect();
    let p = forge(sb, tmpl, name, &zst(&tar), tar.len() as u64, &index);
    let target = sb.dir.path().join(format!("t-{name}"));
    let err = sb.fails(
        &[
            "restore",
            "--file",
            p.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
        ],
        1,
    );
    assert!(err.contains(expect), "error should mention {expect}: {err}");
    target
}

fn unique(tag: &str) -> PathBuf {
    PathBuf::from(format!(
        "/tmp/lifeboat-evil-{tag}-{}-{}",
        std::process::id(),
        rand_suffix()
    ))
}

#[test]
fn dotdot_entry_is_refused() {
    let (sb, tmpl) = template();
    let target = hostile_restore(
        &sb,
        &tmpl,
        "dotdot",
        &[file(b"../evil-dotdot", b"pwned")],
        "evil-dotdot",
    );
    assert!(!sb.dir.path().join("evil-dotdot").exists());
    assert!(!target.parent().unwrap().join("evil-dotdot").exists());
    assert!(no_files_under(&target));
    // Deeper: a/../../evil
    let target = hostile_restore(
        &sb,
        &tmpl,
        "dotdot2",
        &[file(b"a/../../evil-dotdot2", b"pwned")],
        "evil-dotdot2",
    );
    assert!(!sb.dir.path().join("evil-dotdot2").exists());
    assert!(no_files_under(&target));
}

#[test]
fn absolute_entry_is_refused() {
    let (sb, tmpl) = template();
    let evil = unique("abs");
    let name = evil.to_str().unwrap().as_bytes().to_vec();
    let target = hostile_restore(
        &sb,
        &tmpl,
        "abs",
        &[file(&name, b"pwned")],
        evil.file_name().unwrap().to_str().unwrap(),
    );
    assert!(!evil.exists(), "{} was created", evil.display());
    assert!(no_files_under(&target));
}

#[test]
fn symlink_then_file_escape_is_refused() {
    let (sb, tmpl) = template();
    let outside = unique("dir");
    fs::create_dir_all(&outside).unwrap();
    struct Rm(PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(outside.clone());
    let abs = outside.to_str().unwrap().as_bytes().to_vec();
    let target = hostile_restore(
        &sb,
        &tmpl,
        "symabs",
        &[symlink(b"x/link", &abs), file(b"x/link/evil", b"pwned")],
        "x/link",
    );
    assert!(!outside.join("evil").exists(), "wrote through the symlink");
    assert!(no_files_under(&target));

    // The same with a relative target climbing out of the destination.
    let mut rel = b"../".repeat(10);
    rel.extend_from_slice(&abs[1..]);
    let target = hostile_restore(
        &sb,
        &tmpl,
        "symrel",
        &[symlink(b"x/link", &rel), file(b"x/link/evil", b"pwned")],
        "x/link",
    );
    assert!(!outside.join("evil").exists(), "wrote through the symlink");
    assert!(no_files_under(&target));
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "something was created in {}",
        outside.display()
    );
}

#[test]
fn decompression_bomb_is_bounded_by_the_manifest_size() {
    let (sb, tmpl) = template();
    const BIG: u64 = 200 << 20;
    let e = file(b"data/big", b"");
    // tar: header for a 200 MB file, 200 MB of zeros, end blocks; zstd-compressed.
    let mut enc = zstd::Encoder::new(Vec::new(), 1).unwrap();
    enc.write_all(&header(&e, BIG)).unwrap();
    std::io::copy(
        &mut std::io::Read::take(std::io::repeat(0), BIG + 1024),
        &mut enc,
    )
    .unwrap();
    let payload = enc.finish().unwrap();
    assert!(payload.len() < 1 << 20);
    let mut idx = serde_json::from_str::<serde_json::Value>(index_line(&e, BIG).trim()).unwrap();
    idx["h"] = serde_json::Value::Null;
    let index = format!(
        "{}\n",
        serde_json::to_string(&idx)
            .unwrap()
            .replace(",\"h\":null", "")
    );
    let p = forge(&sb, &tmpl, "bomb", &payload, 1000, &index);

    let err = sb.fails_all(&["verify", p.to_str().unwrap()], 4);
    assert!(err.contains("larger than its manifest"), "{err}");
    let target = sb.dir.path().join("t-bomb");
    let err = sb.fails(
        &[
            "restore",
            "--file",
            p.to_str().unwrap(),
            "--target",
            target.to_str().unwrap(),
        ],
        4,
    );
    assert!(err.contains("larger than its manifest"), "{err}");
    // The directory the restore created is gone again, and it says so.
    assert!(!target.exists(), "{err}");
    assert!(err.contains("was removed"), "{err}");
    // Nothing big was left anywhere in the sandbox.
    let mut total = 0u64;
    walk(sb.dir.path(), &mut |p| {
        total += fs::symlink_metadata(p).unwrap().len()
    });
    assert!(total < 20 << 20, "sandbox holds {total} bytes");
}

// ---- authentication of manifests in a keyed repository (issue 12, item 3) ----

/// Run and require failure (any non-zero code); stdout + stderr.
fn refused(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.run(args);
    assert!(
        !out.status.success(),
        "lifeboat {args:?} should have failed\n{}",
        all_text(&out)
    );
    all_text(&out)
}

/// A manifest stripped of its key and MAC (`encrypted: false`), carrying an
/// attacker's plain payload, is refused in a keyed repository: by verify,
/// verify --deep and an in-place restore, even after a catalog rebuild has
/// made the catalog agree with it. `--allow-unauthenticated` accepts it,
/// loudly.
#[test]
fn stripped_manifest_in_a_keyed_repository_is_refused() {
    let (sb, victim) = encrypted_backup();
    // The attacker's backup, made where no key exists.
    let evil = Sandbox::new();
    fs::write(evil.app.join("uploads/evil.txt"), "attacker content").unwrap();
    let r = evil.backup("filesystem", &[]);
    let em = read_json(&manifest_of(&file_of(&r)));
    let vp = file_of(&victim);
    let mut m = read_json(&manifest_of(&vp));
    let iname = m["index"]["file"].as_str().unwrap().to_string();
    fs::copy(file_of(&r), &vp).unwrap();
    let eidx = file_of(&r).with_file_name(em["index"]["file"].as_str().unwrap());
    fs::copy(eidx, vp.with_file_name(&iname)).unwrap();
    m["encrypted"] = false.into();
    m["segment_size"] = serde_json::Value::Null;
    m["key"] = serde_json::Value::Null;
    m["mac"] = serde_json::Value::Null;
    m["compression"] = em["compression"].clone();
    m["payload"]["size"] = em["payload"]["size"].clone();
    m["payload"]["stored_size"] = em["payload"]["stored_size"].clone();
    m["payload"]["sha256"] = em["payload"]["sha256"].clone();
    m["index"]["size"] = em["index"]["size"].clone();
    m["index"]["stored_size"] = em["index"]["stored_size"].clone();
    m["index"]["sha256"] = em["index"]["sha256"].clone();
    write_json(&manifest_of(&vp), &m);
    let id = id_of(&victim);

    // The catalog still knows the real backup: a disagreement.
    let err = refused(&sb, &["verify", &id]);
    assert!(low(&err).contains("disagree"), "{err}");

    // A rebuilt catalog agrees with the forgery; the missing MAC is refused.
    sb.ok(&["catalog", "rebuild"]);
    for args in [
        vec!["verify", id.as_str()],
        vec!["verify", "--deep", id.as_str()],
        vec!["restore", "--id", id.as_str(), "--in-place", "--yes"],
    ] {
        let err = refused(&sb, &args);
        assert!(low(&err).contains("not authenticated"), "{args:?}: {err}");
    }
    assert!(!sb.app.join("uploads/evil.txt").exists());
    // The operator may accept it explicitly, and is told what that means.
    let out = sb.run(&["verify", &id, "--allow-unauthenticated"]);
    assert!(out.status.success(), "{}", all_text(&out));
    assert!(all_text(&out).contains("--allow-unauthenticated"));
}

/// Backup A's payload, index and manifest copied over backup B's names:
/// asking for B never restores A.
#[test]
fn an_artifact_copied_over_another_backups_names_is_refused() {
    let (sb, a) = encrypted_backup();
    fs::write(sb.app.join("uploads/b-only.txt"), "only in b").unwrap();
    let b = sb.backup("filesystem", &["--full"]);
    let (pa, pb) = (file_of(&a), file_of(&b));
    let ma = read_json(&manifest_of(&pa));
    let mb = read_json(&manifest_of(&pb));
    fs::copy(&pa, &pb).unwrap();
    fs::copy(
        pa.with_file_name(ma["index"]["file"].as_str().unwrap()),
        pb.with_file_name(mb["index"]["file"].as_str().unwrap()),
    )
    .unwrap();
    fs::copy(manifest_of(&pa), manifest_of(&pb)).unwrap();
    let err = refused(&sb, &["verify", &id_of(&b)]);
    assert!(low(&err).contains("copied over"), "{err}");
    restore_refused(&sb, &id_of(&b));
    // Also after a rebuild, and by file.
    sb.ok(&["catalog", "rebuild"]);
    let err = refused(&sb, &["verify", pb.to_str().unwrap()]);
    assert!(low(&err).contains("copied over"), "{err}");
}

/// Without a key nothing is authenticated, but the catalog remembers what
/// each backup is: a swapped artifact with its names edited to fit is
/// reported as tampering.
#[test]
fn catalog_and_manifest_that_disagree_are_reported_as_tampering() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let a = sb.backup("filesystem", &[]);
    fs::write(sb.app.join("uploads/b-only.txt"), "only in b").unwrap();
    let b = sb.backup("filesystem", &["--full"]);
    let (pa, pb) = (file_of(&a), file_of(&b));
    let mut m = read_json(&manifest_of(&pa));
    let mb = read_json(&manifest_of(&pb));
    fs::copy(&pa, &pb).unwrap();
    fs::copy(
        pa.with_file_name(m["index"]["file"].as_str().unwrap()),
        pb.with_file_name(mb["index"]["file"].as_str().unwrap()),
    )
    .unwrap();
    m["id"] = mb["id"].clone();
    m["payload"]["file"] = mb["payload"]["file"].clone();
    m["index"]["file"] = mb["index"]["file"].clone();
    write_json(&manifest_of(&pb), &m);
    let bid = id_of(&b);
    for args in [
        vec!["verify", bid.as_str()],
        vec!["restore", "--type", "filesystem", "--dry-run"],
    ] {
        let err = refused(&sb, &args);
        assert!(low(&err).contains("disagree"), "{args:?}: {err}");
    }
}

/// A planted manifest whose payload lies outside the repository is refused
/// by `catalog rebuild`, and nothing outside the repository is ever deleted.
#[test]
fn a_manifest_pointing_outside_the_repository_is_refused_and_prune_deletes_nothing_outside() {
    let (sb, tmpl) = template();
    let outside = unique("outside");
    fs::write(&outside, "precious").unwrap();
    let rel = format!("../../../../../../../..{}", outside.display());
    for (tag, file) in [("rel", rel.as_str()), ("abs", outside.to_str().unwrap())] {
        let mut m = tmpl.clone();
        m["id"] = format!("fs-20200101-000000-{tag}").into();
        m["created_at"] = "2020-01-01T00:00:00Z".into();
        m["payload"]["file"] = file.into();
        m["payload"]["stored_size"] = 8.into();
        m["payload"]["sha256"] = sha256_bytes(b"precious").into();
        write_json(
            &sb.repo
                .join(format!("filesystem/planted-{tag}.tar.zst.manifest.json")),
            &m,
        );
    }
    let out = sb.json(&["catalog", "rebuild"]);
    let skipped = out["skipped"].to_string();
    assert!(skipped.contains("not a plain file name"), "{out}");
    assert_eq!(sb.json(&["list"]).as_array().unwrap().len(), 1);
    sb.write_config("[retention]\nmin_keep = 1\n[retention.filesystem]\nkeep_days = 1\n");
    let later = (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339();
    let _ = sb
        .cmd()
        .env("LIFEBOAT_NOW", later)
        .args(["prune", "--yes", "--force"])
        .output()
        .unwrap();
    assert_eq!(fs::read_to_string(&outside).unwrap(), "precious");
    fs::remove_file(&outside).unwrap();
}

/// Backups made before the key existed are not authenticated: after
/// `key generate` the next backup does not build on them (it is a full one
/// and says why), and they are used only with --allow-unauthenticated.
#[test]
fn backups_made_before_the_key_are_not_built_on_and_need_the_flag() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let old = sb.backup("filesystem", &[]);
    sb.generate_key();
    let out = sb.run(&["--json", "backup", "--type", "filesystem"]);
    assert!(out.status.success(), "{}", all_text(&out));
    let new: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(new["kind"], "full", "{new}");
    assert!(
        all_text(&out).contains("before the key file existed"),
        "{}",
        all_text(&out)
    );
    let err = refused(&sb, &["verify", &id_of(&old)]);
    assert!(low(&err).contains("not authenticated"), "{err}");
    let at = sb.json(&["show", &id_of(&old)])["created_at"]
        .as_str()
        .unwrap()
        .to_string();
    let plan = sb.run(&[
        "recover",
        "--dir",
        sb.repo.to_str().unwrap(),
        "--at",
        &at,
        "--dry-run",
        "--allow-unauthenticated",
    ]);
    assert!(
        all_text(&plan).contains(&id_of(&old)),
        "{}",
        all_text(&plan)
    );
}
