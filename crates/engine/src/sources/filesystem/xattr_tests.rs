//! Extended attributes, POSIX ACLs, file capabilities and setuid bits
//! through backup and restore, over real files (set with `lsetxattr`, no
//! tools needed).

use std::ffi::CString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use tar::{EntryType, Header};

use super::*;
use crate::error::ErrorKind;

fn c(b: &[u8]) -> CString {
    CString::new(b).unwrap()
}

fn setx(p: &Path, name: &str, value: &[u8]) -> std::io::Result<()> {
    let (pc, nc) = (c(p.as_os_str().as_bytes()), c(name.as_bytes()));
    let rc = unsafe {
        libc::lsetxattr(
            pc.as_ptr(),
            nc.as_ptr(),
            value.as_ptr() as *const libc::c_void,
            value.len(),
            0,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Every attribute of `p` (its own, not a symlink's target's), sorted;
/// read independently of the code under test.
fn all_xattrs(p: &Path) -> Vec<(String, Vec<u8>)> {
    let pc = c(p.as_os_str().as_bytes());
    let mut names = vec![0u8; 64 << 10];
    let n = unsafe { libc::llistxattr(pc.as_ptr(), names.as_mut_ptr() as *mut _, names.len()) };
    assert!(n >= 0, "llistxattr {}", p.display());
    let mut out = Vec::new();
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|n| !n.is_empty())
    {
        let nc = c(name);
        let mut v = vec![0u8; 64 << 10];
        let k =
            unsafe { libc::lgetxattr(pc.as_ptr(), nc.as_ptr(), v.as_mut_ptr() as *mut _, v.len()) };
        assert!(k >= 0, "lgetxattr {}", String::from_utf8_lossy(name));
        v.truncate(k as usize);
        out.push((String::from_utf8_lossy(name).into_owned(), v));
    }
    out.sort();
    out
}

/// These tests need a filesystem that holds user.*, trusted.* and ACL
/// attributes, and root (trusted.*, security.capability): fail loudly,
/// never pass without checking.
fn require_support(dir: &Path) {
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "these tests set trusted.* and security.capability attributes: run them as root"
    );
    let probe = dir.join("probe");
    fs::write(&probe, b"").unwrap();
    for name in ["user.probe", "trusted.probe"] {
        if let Err(e) = setx(&probe, name, b"1") {
            panic!(
                "{} cannot hold {name} attributes ({e}): run the tests with TMPDIR on ext4, xfs or tmpfs",
                dir.display()
            );
        }
    }
    fs::remove_file(&probe).unwrap();
}

/// A raw POSIX ACL (`posix_acl_xattr` v2): (tag, perm, id) entries.
fn acl(entries: &[(u16, u16, u32)]) -> Vec<u8> {
    let mut v = 2u32.to_le_bytes().to_vec();
    for (tag, perm, id) in entries {
        v.extend_from_slice(&tag.to_le_bytes());
        v.extend_from_slice(&perm.to_le_bytes());
        v.extend_from_slice(&id.to_le_bytes());
    }
    v
}
const USER_OBJ: u16 = 0x01;
const USER: u16 = 0x02;
const GROUP_OBJ: u16 = 0x04;
const MASK: u16 = 0x10;
const OTHER: u16 = 0x20;
const UNDEF: u32 = u32::MAX;

/// `security.capability` v2 granting cap_net_bind_service (10), effective.
fn cap_net_bind_service() -> Vec<u8> {
    let mut v = 0x0200_0001u32.to_le_bytes().to_vec();
    for word in [1u32 << 10, 0, 0, 0] {
        v.extend_from_slice(&word.to_le_bytes());
    }
    v
}

fn spec(root: &Path) -> WalkSpec {
    WalkSpec {
        roots: vec![root.to_path_buf()],
        ..Default::default()
    }
}

fn no_progress(_: u64, _: u64) {}

fn backup(root: &Path, parent: Option<&[u8]>) -> (BackupOutcome, Vec<u8>, Vec<u8>) {
    let cancel = AtomicBool::new(false);
    let mut reader = parent.map(IndexReader::new);
    let parent = reader.as_mut().map(|r| r as &mut dyn Iterator<Item = _>);
    let (out, tar, index) = backup_tree(
        &spec(root),
        parent,
        Vec::new(),
        Vec::new(),
        &no_progress,
        &cancel,
    )
    .unwrap();
    (out, tar, index)
}

fn restore_with(
    tar: &[u8],
    index: &[u8],
    dest: &Path,
    authenticated: bool,
) -> crate::error::Result<ExtractOutcome> {
    restore_opts(tar, index, dest, authenticated, false)
}

fn restore_opts(
    tar: &[u8],
    index: &[u8],
    dest: &Path,
    authenticated: bool,
    fresh_target: bool,
) -> crate::error::Result<ExtractOutcome> {
    let cancel = AtomicBool::new(false);
    extract_with(
        tar,
        &mut IndexReader::new(index),
        &Dest::Under(dest.to_path_buf()),
        &no_progress,
        &cancel,
        ExtractOptions {
            authenticated,
            fresh_target,
            ..Default::default()
        },
    )
}

fn under(dest: &Path, abs: &Path) -> std::path::PathBuf {
    dest.join(abs.strip_prefix("/").unwrap())
}

/// A tree whose entries carry every kind of attribute lifeboat keeps.
fn build(src: &Path) {
    fs::create_dir_all(src.join("dir")).unwrap();
    let f = src.join("file");
    fs::write(&f, b"content").unwrap();
    // Binary with NULs and newlines; one that looks like a PAX record.
    setx(&f, "user.binary", b"\0a\nb\0\n\xff").unwrap();
    setx(&f, "user.inject", b"x\n13 path=zz\n").unwrap();
    // ext4 keeps all of an inode's attributes in one 4 KiB block.
    let long: Vec<u8> = (0..3_000u32).map(|i| (i % 251) as u8).collect();
    setx(&f, "user.long", &long).unwrap();
    setx(&f, "trusted.t", b"trusted value").unwrap();
    let cap = src.join("cap");
    fs::write(&cap, b"#!/bin/sh\n").unwrap();
    fs::set_permissions(&cap, fs::Permissions::from_mode(0o755)).unwrap();
    setx(&cap, "security.capability", &cap_net_bind_service()).unwrap();
    // Named user 10 (0x0a, a newline in the raw value).
    let access = acl(&[
        (USER_OBJ, 6, UNDEF),
        (USER, 4, 10),
        (GROUP_OBJ, 4, UNDEF),
        (MASK, 4, UNDEF),
        (OTHER, 0, UNDEF),
    ]);
    let aclf = src.join("acl");
    fs::write(&aclf, b"acl").unwrap();
    setx(&aclf, "system.posix_acl_access", &access).unwrap();
    let d = src.join("dir");
    setx(&d, "system.posix_acl_access", &access).unwrap();
    let default = acl(&[
        (USER_OBJ, 7, UNDEF),
        (USER, 5, 1000),
        (GROUP_OBJ, 5, UNDEF),
        (MASK, 5, UNDEF),
        (OTHER, 5, UNDEF),
    ]);
    setx(&d, "system.posix_acl_default", &default).unwrap();
    setx(&d, "user.d", b"on a directory").unwrap();
    fs::write(d.join("inside"), b"x").unwrap();
    // A symlink's own trusted.* attribute (user.* cannot exist on one).
    symlink("file", src.join("link")).unwrap();
    setx(&src.join("link"), "trusted.l", b"on the link").unwrap();
}

fn assert_same_xattrs(src: &Path, dest: &Path, names: &[&str]) {
    for n in names {
        let (a, b) = (src.join(n), under(dest, &src.join(n)));
        let want = all_xattrs(&a);
        assert!(!want.is_empty(), "{n} has attributes in the source");
        assert_eq!(want, all_xattrs(&b), "attributes of {n}");
        let (ma, mb) = (
            fs::symlink_metadata(&a).unwrap(),
            fs::symlink_metadata(&b).unwrap(),
        );
        assert_eq!(ma.mode(), mb.mode(), "mode of {n}");
    }
}

#[test]
fn xattrs_acls_and_capabilities_round_trip_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    require_support(tmp.path());
    let src = tmp.path().join("src");
    build(&src);
    let (out, tar, index) = backup(&src, None);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let list: Vec<IndexEntry> = IndexReader::new(&index[..]).map(|e| e.unwrap()).collect();
    for n in ["file", "cap", "acl", "dir", "link"] {
        let e = list.iter().find(|e| show(&e.path).ends_with(n)).unwrap();
        assert!(
            e.xattr_sha256.is_some(),
            "{n} has an xattr digest in the index"
        );
    }
    // Files created under their own names, and under a temp name renamed.
    for (dest, fresh) in [("fresh", true), ("renamed", false)] {
        let dest = tmp.path().join(dest);
        let got = restore_opts(&tar, &index, &dest, true, fresh).unwrap();
        assert!(got.warnings.is_empty(), "{:?}", got.warnings);
        assert_same_xattrs(&src, &dest, &["file", "cap", "acl", "dir", "link"]);
        // The PAX record look-alike in a value did not rename anything.
        assert!(!under(&dest, &src).join("zz").exists());
        let check = verify_tree(
            &mut IndexReader::new(&index[..]),
            &Dest::Under(dest.clone()),
        )
        .unwrap();
        assert!(check.problems.is_empty(), "{:?}", check.problems);
        // verify notices an attribute that went missing.
        fs::remove_file(under(&dest, &src.join("acl"))).unwrap();
        fs::write(under(&dest, &src.join("acl")), b"acl").unwrap();
        let check = verify_tree(
            &mut IndexReader::new(&index[..]),
            &Dest::Under(dest.clone()),
        )
        .unwrap();
        assert!(
            check
                .problems
                .iter()
                .any(|p| p.contains("extended attributes")),
            "{:?}",
            check.problems
        );
    }
    // GNU tar reads them back (its own --xattrs records).
    let tar_path = tmp.path().join("t.tar");
    fs::write(&tar_path, &tar).unwrap();
    let listing = std::process::Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "-tvvf"])
        .arg(&tar_path)
        .output()
        .unwrap();
    assert!(listing.status.success(), "{listing:?}");
    let by_tar = tmp.path().join("by_tar");
    fs::create_dir(&by_tar).unwrap();
    let x = std::process::Command::new("tar")
        .args(["--xattrs", "--xattrs-include=*", "-xpf"])
        .arg(&tar_path)
        .arg("-C")
        .arg(&by_tar)
        .output()
        .unwrap();
    assert!(x.status.success(), "{x:?}");
    assert_same_xattrs(&src, &by_tar, &["file", "cap", "acl"]);
}

#[test]
fn an_xattr_only_change_is_picked_up_by_an_incremental() {
    let tmp = tempfile::tempdir().unwrap();
    require_support(tmp.path());
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let f = src.join("f");
    fs::write(&f, b"same content").unwrap();
    fs::write(src.join("g"), b"untouched").unwrap();
    setx(&f, "user.v", b"one").unwrap();
    let (_, full_tar, full_index) = backup(&src, None);
    setx(&f, "user.v", b"two").unwrap();
    setx(&f, "user.added", b"\0new\0").unwrap();
    let (out, inc_tar, inc_index) = backup(&src, Some(&full_index));
    assert_eq!(
        out.stats.stored, 1,
        "f alone is stored again: g and the directories are unchanged"
    );
    let dest = tmp.path().join("dest");
    restore_with(&full_tar, &full_index, &dest, true).unwrap();
    assert_eq!(
        all_xattrs(&under(&dest, &f)),
        vec![("user.v".to_string(), b"one".to_vec())]
    );
    restore_with(&inc_tar, &inc_index, &dest, true).unwrap();
    assert_eq!(all_xattrs(&f), all_xattrs(&under(&dest, &f)));
    assert_eq!(all_xattrs(&f).len(), 2);
}

#[test]
fn setuid_comes_back_only_from_an_authenticated_backup() {
    let tmp = tempfile::tempdir().unwrap();
    require_support(tmp.path());
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("shared")).unwrap();
    let f = src.join("suid");
    fs::write(&f, b"#!/bin/sh\n").unwrap();
    std::os::unix::fs::chown(&f, Some(0), Some(0)).unwrap();
    fs::set_permissions(&f, fs::Permissions::from_mode(0o4755)).unwrap();
    fs::set_permissions(src.join("shared"), fs::Permissions::from_mode(0o2775)).unwrap();
    let (out, tar, index) = backup(&src, None);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);

    let dest = tmp.path().join("keyed");
    let got = restore_with(&tar, &index, &dest, true).unwrap();
    assert!(got.warnings.is_empty(), "{:?}", got.warnings);
    let m = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(m(&under(&dest, &f)), 0o4755);
    assert_eq!(m(&under(&dest, &src.join("shared"))), 0o2775);
    let check = verify_tree(&mut IndexReader::new(&index[..]), &Dest::Under(dest)).unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);

    let dest = tmp.path().join("plain");
    let got = restore_with(&tar, &index, &dest, false).unwrap();
    assert_eq!(m(&under(&dest, &f)), 0o755);
    assert_eq!(m(&under(&dest, &src.join("shared"))), 0o775);
    assert_eq!(got.warnings.len(), 1, "{:?}", got.warnings);
    let (w, n) = got.warnings.iter().next().unwrap();
    assert!(w.contains("not authenticated"), "{w}");
    assert_eq!(*n, 2, "once per kind, with a count");
    let check = verify_tree(&mut IndexReader::new(&index[..]), &Dest::Under(dest)).unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

// PAX records as the backup writes them.
use super::tarball::pax_record;

fn block(out: &mut Vec<u8>, h: &Header, data: &[u8]) {
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
}

/// PAX records: (key, value).
type Records<'a> = Vec<(&'a [u8], &'a [u8])>;

/// A tar of one file `f` with these PAX records, and its index entry
/// (recording `index_xattrs`).
fn tar_with(records: &[(&[u8], &[u8])], index_xattrs: &[xattrs::Xattr]) -> (Vec<u8>, Vec<u8>) {
    let mut tar = Vec::new();
    let mut pax = Vec::new();
    for (k, v) in records {
        pax_record(&mut pax, k, v);
    }
    let mut ph = Header::new_ustar();
    ph.set_entry_type(EntryType::XHeader);
    ph.set_path("PaxHeaders.0/f").unwrap();
    ph.set_size(pax.len() as u64);
    ph.set_cksum();
    block(&mut tar, &ph, &pax);
    let mut h = Header::new_ustar();
    h.set_entry_type(EntryType::Regular);
    h.set_path("f").unwrap();
    h.set_mode(0o644);
    h.set_size(1);
    h.set_cksum();
    block(&mut tar, &h, b"x");
    tar.extend_from_slice(&[0u8; 1024]);
    let mut e = IndexEntry::deleted(b"f".to_vec());
    e.kind = EntryKind::File;
    e.mode = 0o644;
    e.size = 1;
    e.stored = true;
    use sha2::Digest;
    e.sha256 = Some(hex::encode(sha2::Sha256::digest(b"x")));
    e.xattr_sha256 = xattrs::digest(index_xattrs);
    let mut w = IndexWriter::new(Vec::new());
    w.write(&e).unwrap();
    (tar, w.finish().unwrap())
}

#[test]
fn hostile_xattr_records_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    require_support(tmp.path());
    let ok: Vec<xattrs::Xattr> = vec![(b"user.a".to_vec(), b"v\n1".to_vec())];
    // The well-formed one restores.
    let (tar, index) = tar_with(&[(b"SCHILY.xattr.user.a", b"v\n1")], &ok);
    let dest = tmp.path().join("ok");
    restore_with(&tar, &index, &dest, false).unwrap();
    assert_eq!(
        all_xattrs(&dest.join("f")),
        vec![("user.a".into(), b"v\n1".to_vec())]
    );

    let big = vec![b'x'; xattrs::MAX_VALUE + 1];
    let huge = vec![b'x'; 2 << 20];
    let cases: Vec<(Records<'_>, &str, ErrorKind)> = vec![
        (
            vec![(b"SCHILY.xattr.system.nfs4_acl", b"x")],
            "not in a namespace",
            ErrorKind::Refused,
        ),
        (
            vec![(b"SCHILY.xattr.user.big", &big)],
            "larger than Linux allows",
            ErrorKind::Refused,
        ),
        (
            vec![(b"SCHILY.acl.access", b"user::rw-")],
            "text ACL",
            ErrorKind::Refused,
        ),
        (
            vec![
                (b"SCHILY.xattr.user.a", b"1"),
                (b"SCHILY.xattr.user.a", b"2"),
            ],
            "given twice",
            ErrorKind::Refused,
        ),
        // GNU tar would read 2 bytes; the `tar` crate, stopping at the
        // value with a newline, 1.
        (
            vec![(b"SCHILY.xattr.user.a", b"v\n1"), (b"size", b"2")],
            "PAX size record disagrees",
            ErrorKind::Refused,
        ),
        // Not read into memory whole.
        (
            vec![(b"comment", &huge)],
            "extended headers before one entry",
            ErrorKind::Integrity,
        ),
        // Not what the index recorded: an attribute slipped in.
        (
            vec![
                (b"SCHILY.xattr.user.a", b"v\n1"),
                (b"SCHILY.xattr.trusted.b", b"1"),
            ],
            "do not match the file index",
            ErrorKind::Integrity,
        ),
    ];
    for (i, (records, why, kind)) in cases.into_iter().enumerate() {
        let (tar, index) = tar_with(&records, &ok);
        let dest = tmp.path().join(format!("bad{i}"));
        let err = restore_with(&tar, &index, &dest, true).unwrap_err();
        assert_eq!(err.kind, kind, "{}", err.message);
        assert!(err.message.contains(why), "{why}: {}", err.message);
        assert!(!dest.join("f").exists(), "{why}: nothing written");
    }
    // A total over the cap, each value within it.
    let v = vec![b'y'; 62 << 10];
    let names: Vec<Vec<u8>> = (0..17)
        .map(|i| format!("SCHILY.xattr.user.n{i:02}").into_bytes())
        .collect();
    let records: Vec<(&[u8], &[u8])> = names.iter().map(|n| (&n[..], &v[..])).collect();
    let (tar, index) = tar_with(&records, &ok);
    let err = restore_with(&tar, &index, &tmp.path().join("total"), true).unwrap_err();
    assert!(err.message.contains("over 1024 KiB"), "{}", err.message);
}

/// A ramfs, which holds no extended attributes; unmounted when dropped.
struct Ramfs(std::path::PathBuf);

impl Drop for Ramfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_target_without_xattrs_gets_the_files_and_one_warning_per_kind() {
    let tmp = tempfile::tempdir().unwrap();
    require_support(tmp.path());
    let src = tmp.path().join("src");
    build(&src);
    let (_, tar, index) = backup(&src, None);
    let mnt = tmp.path().join("ramfs");
    fs::create_dir(&mnt).unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "ramfs", "ramfs"])
        .arg(&mnt)
        .status()
        .unwrap();
    assert!(
        mounted.success(),
        "cannot mount a ramfs (no attributes) to restore into: this test needs root with CAP_SYS_ADMIN"
    );
    let _guard = Ramfs(mnt.clone());
    let got = restore_with(&tar, &index, &mnt, true).unwrap();
    assert_eq!(
        fs::read(under(&mnt, &src.join("file"))).unwrap(),
        b"content",
        "the files are restored without their attributes"
    );
    assert_eq!(
        fs::read(under(&mnt, &src.join("cap"))).unwrap(),
        b"#!/bin/sh\n"
    );
    let w = &got.warnings;
    let n = |k: &str| {
        w.iter()
            .find(|(m, _)| m.starts_with(k) && m.contains("does not support"))
            .map(|(_, n)| *n)
    };
    // file: user.binary, user.inject, user.long; dir: user.d.
    assert_eq!(n("user.* extended attribute"), Some(4), "{w:?}");
    // file: trusted.t; link: trusted.l.
    assert_eq!(n("trusted.* extended attribute"), Some(2), "{w:?}");
    assert_eq!(n("file capability"), Some(1), "{w:?}");
    assert!(w.keys().any(|m| m.starts_with("POSIX ACL")), "{w:?}");
    let lines = got.warning_lines();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("warning: user.*") && l.ends_with("(4 times)")),
        "{lines:?}"
    );
}

/// Found in review: restoring over an existing directory that has a
/// default ACL gave files an ACL they never had (a temp file created there
/// inherits it), an existing directory kept attributes the backup did not
/// have, and verification saw neither.
#[test]
fn a_restore_over_an_existing_tree_leaves_no_attribute_the_backup_lacks() {
    let tmp = tempfile::tempdir().unwrap();
    require_support(tmp.path());
    let src = tmp.path().join("src");
    fs::create_dir_all(src.join("d")).unwrap();
    fs::write(src.join("d/f"), b"no acl").unwrap();
    let (_, tar, index) = backup(&src, None);
    let dest = tmp.path().join("dest");
    let d = under(&dest, &src.join("d"));
    fs::create_dir_all(&d).unwrap();
    let default = acl(&[
        (USER_OBJ, 7, UNDEF),
        (USER, 7, 1234),
        (GROUP_OBJ, 5, UNDEF),
        (MASK, 7, UNDEF),
        (OTHER, 5, UNDEF),
    ]);
    setx(&d, "system.posix_acl_default", &default).unwrap();
    setx(&d, "user.stale", b"was here").unwrap();
    restore_with(&tar, &index, &dest, true).unwrap();
    assert_eq!(all_xattrs(&d.join("f")), vec![], "no inherited ACL");
    assert_eq!(all_xattrs(&d), vec![], "the directory's own are gone");
    let check = |dest: &Path| {
        verify_tree(
            &mut IndexReader::new(&index[..]),
            &Dest::Under(dest.to_path_buf()),
        )
        .unwrap()
        .problems
    };
    assert!(check(&dest).is_empty(), "{:?}", check(&dest));
    setx(&d.join("f"), "user.extra", b"added later").unwrap();
    let problems = check(&dest);
    assert!(
        problems.iter().any(|p| p.contains("extended attributes")),
        "{problems:?}"
    );
}
