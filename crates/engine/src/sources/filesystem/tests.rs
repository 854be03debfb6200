//! Round trips over real temp trees, the system tar, incrementals and
//! hostile archives.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

use filetime::FileTime;
use tar::{EntryType, Header};

use super::*;
use crate::error::ErrorKind;

const MIB: u64 = 1 << 20;

fn long_dirs() -> PathBuf {
    (0..5).map(|i| format!("{i}{}", "d".repeat(59))).collect()
}

/// A tree with everything a backup must keep.
fn build_tree(src: &Path) {
    fs::create_dir_all(src.join("a/b")).unwrap();
    fs::write(src.join("a/b/c.txt"), b"hello").unwrap();
    fs::create_dir(src.join("a/empty")).unwrap();
    symlink("b/c.txt", src.join("a/link")).unwrap();
    let run = src.join("run.sh");
    fs::write(&run, b"#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(&run, fs::Permissions::from_mode(0o750)).unwrap();
    filetime::set_file_mtime(&run, FileTime::from_unix_time(978_307_200, 123_456_789)).unwrap();
    let long = src.join(long_dirs());
    fs::create_dir_all(&long).unwrap();
    fs::write(long.join("f".repeat(60)), b"long name").unwrap();
    fs::write(src.join(OsStr::from_bytes(b"caf\xe9.txt")), b"latin-1 name").unwrap();
    let sparse = fs::File::create(src.join("sparse.bin")).unwrap();
    sparse.set_len(20 * MIB).unwrap();
    use std::os::unix::fs::FileExt;
    sparse.write_at(b"middle", 10 * MIB).unwrap();
}

fn spec(root: &Path) -> WalkSpec {
    WalkSpec {
        roots: vec![root.to_path_buf()],
        ..Default::default()
    }
}

fn no_progress(_: u64, _: u64) {}

fn backup(spec: &WalkSpec, parent: Option<&[u8]>) -> (BackupOutcome, Vec<u8>, Vec<u8>) {
    let cancel = AtomicBool::new(false);
    let mut reader = parent.map(IndexReader::new);
    let parent = reader.as_mut().map(|r| r as &mut dyn Iterator<Item = _>);
    let (out, tar, index) =
        backup_tree(spec, parent, Vec::new(), Vec::new(), &no_progress, &cancel).unwrap();
    (out, tar, index)
}

fn entries(index: &[u8]) -> Vec<IndexEntry> {
    IndexReader::new(index)
        .collect::<crate::error::Result<_>>()
        .unwrap()
}

fn restore(tar: &[u8], index: &[u8], dest: &Path) -> crate::error::Result<ExtractOutcome> {
    let cancel = AtomicBool::new(false);
    extract(
        tar,
        &mut IndexReader::new(index),
        &Dest::Under(dest.to_path_buf()),
        &no_progress,
        &cancel,
    )
}

fn under(dest: &Path, abs: &Path) -> PathBuf {
    dest.join(abs.strip_prefix("/").unwrap())
}

/// Compare two trees: kinds, content, modes, file mtimes, link targets.
fn assert_same_tree(a: &Path, b: &Path) {
    let ma = fs::symlink_metadata(a).unwrap();
    let mb = fs::symlink_metadata(b).unwrap_or_else(|_| panic!("{} missing", b.display()));
    assert_eq!(ma.file_type(), mb.file_type(), "{}", b.display());
    assert_eq!(
        ma.mode() & 0o7777,
        mb.mode() & 0o7777,
        "mode of {}",
        b.display()
    );
    if ma.is_file() {
        assert_eq!(ma.len(), mb.len());
        assert_eq!(
            (ma.mtime(), ma.mtime_nsec()),
            (mb.mtime(), mb.mtime_nsec()),
            "mtime of {}",
            b.display()
        );
        assert!(
            fs::read(a).unwrap() == fs::read(b).unwrap(),
            "content of {}",
            b.display()
        );
    } else if ma.file_type().is_symlink() {
        assert_eq!(fs::read_link(a).unwrap(), fs::read_link(b).unwrap());
    } else {
        let mut na: Vec<_> = fs::read_dir(a)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        let mut nb: Vec<_> = fs::read_dir(b)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        na.sort();
        nb.sort();
        assert_eq!(na, nb, "names in {}", b.display());
        for n in na {
            assert_same_tree(&a.join(&n), &b.join(&n));
        }
    }
}

#[test]
fn path_cmp_is_walk_order() {
    use std::cmp::Ordering::*;
    assert_eq!(path_cmp(b"a", b"a/b"), Less);
    assert_eq!(path_cmp(b"a/b", b"a-b"), Less);
    assert_eq!(path_cmp(b"a/z/z", b"a-b"), Less);
    assert_eq!(path_cmp(b"b", b"a/z"), Greater);
    assert_eq!(path_cmp(b"a/b", b"a/b"), Equal);
}

#[test]
fn index_round_trips_and_reports_damage() {
    let mut e = IndexEntry::deleted(b"caf\xe9".to_vec());
    e.kind = EntryKind::Symlink;
    e.link_target = Some(b"\xff".to_vec());
    let mut w = IndexWriter::new(Vec::new());
    w.write(&IndexEntry::deleted(b"a".to_vec())).unwrap();
    w.write(&e).unwrap();
    assert!(
        w.write(&IndexEntry::deleted(b"a/b".to_vec())).is_err(),
        "out of order is refused"
    );
    let text = w.finish().unwrap();
    assert!(String::from_utf8_lossy(&text).contains("\"pb\":"));
    assert_eq!(entries(&text)[1], e);

    let damaged = [&text[..], b"{not json\n"].concat();
    let err = IndexReader::new(&damaged[..])
        .find_map(|r| r.err())
        .unwrap();
    assert_eq!(err.kind, ErrorKind::Integrity);
    assert!(err.message.contains("line 3"), "{}", err.message);
}

#[test]
fn full_backup_round_trips_through_extract_and_verify() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    let (out, tar, index) = backup(&spec(&src), None);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    assert_eq!(out.stats.files, 5);
    assert_eq!(out.stats.symlinks, 1);
    assert_eq!(
        out.stats.stored,
        out.stats.files + out.stats.dirs + out.stats.symlinks
    );
    assert_eq!(out.stats.bytes, 5 + 18 + 9 + 12 + 20 * MIB);
    // Ancestors of the root are in the index so their modes restore.
    let list = entries(&index);
    assert_eq!(list[0].path, archive_path(Path::new("/tmp")).to_vec());
    assert!(list.iter().any(|e| e.path == archive_path(&src)));

    let dest = tmp.path().join("dest");
    let got = restore(&tar, &index, &dest).unwrap();
    assert_eq!((got.files, got.symlinks), (5, 1));
    assert_same_tree(&src, &under(&dest, &src));
    let sparse = fs::metadata(under(&dest, &src).join("sparse.bin")).unwrap();
    assert_eq!(sparse.len(), 20 * MIB);
    assert!(
        sparse.blocks() * 512 < MIB,
        "sparse file took {} blocks",
        sparse.blocks()
    );

    let check = verify_tree(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_eq!(check.checked, list.len() as u64);

    // A restored tree that drifted is caught.
    fs::write(under(&dest, &src).join("a/b/c.txt"), b"HELLO").unwrap();
    let check = verify_tree(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
    assert!(check.problems[0].contains("c.txt"));
}

/// The last progress a backup reports, beside what [`scan_totals`] counted
/// before it: a job reads done == total at the end, never 11 of 10 items
/// (directories and symlinks are indexed, so they are counted), and an
/// incremental or a hard link's second name are done though not read.
#[test]
fn progress_ends_at_the_counted_totals() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    fs::write(src.join("a/one"), b"one inode, two names").unwrap();
    fs::hard_link(src.join("a/one"), src.join("a/two")).unwrap();
    let s = spec(&src);
    let run = |parent: Option<&[u8]>| {
        let last = std::cell::Cell::new((0u64, 0u64));
        let report = |bytes: u64, items: u64| {
            let (b, i) = last.get();
            assert!(bytes >= b && items >= i, "progress went back");
            last.set((bytes, items));
        };
        let mut reader = parent.map(IndexReader::new);
        let parent = reader.as_mut().map(|r| r as &mut dyn Iterator<Item = _>);
        let cancel = AtomicBool::new(false);
        let (out, _, index) =
            backup_tree(&s, parent, Vec::new(), Vec::new(), &report, &cancel).unwrap();
        (out, index, last.get())
    };
    let totals = scan_totals(&s, &AtomicBool::new(false)).unwrap();
    let (full, index, done) = run(None);
    assert!(full.stats.dirs > 0 && full.stats.symlinks > 0, "{full:?}");
    assert_eq!(done, totals, "{full:?}");
    assert_eq!(totals.1, full.stats.stored);

    // Most of it unchanged: nothing to read, but all of it done.
    fs::write(src.join("a/new.txt"), b"new").unwrap();
    let totals = scan_totals(&s, &AtomicBool::new(false)).unwrap();
    let (inc, _, done) = run(Some(&index));
    assert!(inc.stats.unchanged > 0, "{inc:?}");
    assert_eq!(done, totals, "{inc:?}");
}

#[test]
fn system_tar_reads_the_archive() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    let (_, tar, _) = backup(&spec(&src), None);
    let file = tmp.path().join("backup.tar");
    fs::write(&file, &tar).unwrap();
    let list = Command::new("tar").arg("-tf").arg(&file).output().unwrap();
    assert!(
        list.status.success(),
        "{}",
        String::from_utf8_lossy(&list.stderr)
    );
    let names = list.stdout;
    let long = archive_path(&src.join(long_dirs()).join("f".repeat(60)));
    assert!(long.len() > 300);
    assert!(
        names.windows(long.len()).any(|w| w == &long[..]),
        "long name listed"
    );

    let out = tmp.path().join("by-tar");
    fs::create_dir(&out).unwrap();
    let x = Command::new("tar")
        .arg("-xf")
        .arg(&file)
        .arg("-C")
        .arg(&out)
        .output()
        .unwrap();
    assert!(x.status.success(), "{}", String::from_utf8_lossy(&x.stderr));
    assert_same_tree(&src, &under(&out, &src));
}

#[test]
fn incremental_stores_only_changes_and_applies_over_the_full() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    let (_, full_tar, full_index) = backup(&spec(&src), None);

    fs::write(src.join("a/b/c.txt"), b"hello again").unwrap();
    fs::write(src.join("a/new.txt"), b"new").unwrap();
    fs::remove_file(src.join("run.sh")).unwrap();
    let (out, inc_tar, inc_index) = backup(&spec(&src), Some(&full_index));
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let list = entries(&inc_index);
    let stored_files: Vec<_> = list
        .iter()
        .filter(|e| e.kind == EntryKind::File && e.stored)
        .map(|e| show(&e.path))
        .collect();
    assert_eq!(stored_files.len(), 2, "{stored_files:?}");
    assert!(stored_files.iter().any(|p| p.ends_with("a/b/c.txt")));
    assert!(stored_files.iter().any(|p| p.ends_with("a/new.txt")));
    let unchanged_files = list
        .iter()
        .filter(|e| e.kind == EntryKind::File && !e.stored)
        .count();
    assert_eq!(unchanged_files, 3);
    assert_eq!(out.stats.deleted, 1);
    // Directories and symlinks are stored again only when they changed:
    // here `a` (new.txt) and the root (run.sh gone).
    let stored_nodes: Vec<_> = list
        .iter()
        .filter(|e| matches!(e.kind, EntryKind::Dir | EntryKind::Symlink) && e.stored)
        .map(|e| show(&e.path))
        .collect();
    assert_eq!(stored_nodes.len(), 2, "{stored_nodes:?}");
    assert_eq!(out.stats.stored, 2 + stored_nodes.len() as u64);
    assert_eq!(
        out.stats.unchanged,
        out.stats.files + out.stats.dirs + out.stats.symlinks - out.stats.stored
    );
    let gone = list.iter().find(|e| e.kind == EntryKind::Deleted).unwrap();
    assert!(show(&gone.path).ends_with("run.sh"));
    assert!(list
        .iter()
        .all(|e| e.kind == EntryKind::Deleted || e.kind != EntryKind::File || e.sha256.is_some()));
    // The full tar is small too now (the sparse file's holes are not
    // stored): the incremental holds two short files and the directories.
    assert!(
        inc_tar.len() < 32 << 10 && inc_tar.len() < full_tar.len(),
        "incremental holds no unchanged content"
    );

    let dest = tmp.path().join("dest");
    restore(&full_tar, &full_index, &dest).unwrap();
    let plan = plan_restore(
        &mut IndexReader::new(&inc_index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert_eq!(
        (plan.create, plan.overwrite, plan.delete),
        (1, 1, 1),
        "{plan:?}"
    );
    assert_eq!(plan.overwrite_paths().len(), 2);
    let got = restore(&inc_tar, &inc_index, &dest).unwrap();
    assert_eq!(got.deleted, 1);
    let check = verify_tree(
        &mut IndexReader::new(&inc_index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
    assert_same_tree(&src, &under(&dest, &src));
}

#[test]
fn plan_lists_overwrites_of_an_existing_tree() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    let (_, tar, index) = backup(&spec(&src), None);
    let fresh = plan_restore(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(tmp.path().join("none")),
    )
    .unwrap();
    assert_eq!(fresh.overwrite + fresh.delete, 0);
    assert_eq!(fresh.create, entries(&index).len() as u64);

    let dest = tmp.path().join("dest");
    restore(&tar, &index, &dest).unwrap();
    let c = under(&dest, &src).join("a/b/c.txt");
    fs::write(&c, b"changed").unwrap();
    let plan = plan_restore(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert_eq!((plan.create, plan.overwrite, plan.delete), (0, 1, 0));
    assert_eq!(plan.overwrite_paths(), &[c][..]);
}

#[test]
fn globs_filter_and_extras_land_in_order() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    fs::write(src.join("a/noise.log"), b"x").unwrap();
    let mut s = spec(&src);
    s.exclude = vec!["*.log".into(), "sparse.bin".into(), "a/empty".into()];
    s.extra = vec![ExtraEntry {
        path: archive_path(&src.join("a/LISTING")),
        data: b"generated".to_vec(),
        mode: 0o640,
    }];
    let (out, tar, index) = backup(&s, None);
    let names: Vec<_> = entries(&index).iter().map(|e| show(&e.path)).collect();
    assert!(!names
        .iter()
        .any(|n| n.ends_with(".log") || n.ends_with("sparse.bin") || n.ends_with("empty")));
    assert!(names.iter().any(|n| n.ends_with("a/LISTING")));
    assert_eq!(out.stats.files, 5);
    let dest = tmp.path().join("dest");
    restore(&tar, &index, &dest).unwrap();
    assert_eq!(
        fs::read(under(&dest, &src).join("a/LISTING")).unwrap(),
        b"generated"
    );

    let (bytes, entries) = scan_totals(&s, &AtomicBool::new(false)).unwrap();
    assert_eq!((bytes, entries), (out.stats.bytes, out.stats.stored));
    // The backup it counts for has ended: the count stops, with no total.
    let e = scan_totals(&s, &AtomicBool::new(true)).unwrap_err();
    assert_eq!(e.kind, crate::error::ErrorKind::Cancelled);
}

#[test]
fn missing_root_is_not_found_and_cancel_stops() {
    let tmp = tempfile::tempdir().unwrap();
    let cancel = AtomicBool::new(false);
    let gone = spec(&tmp.path().join("nope"));
    let err = backup_tree(&gone, None, Vec::new(), Vec::new(), &no_progress, &cancel).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert!(err.message.contains("does not exist") && err.hint.is_some());

    let src = tmp.path().join("src");
    build_tree(&src);
    let (_, tar, index) = backup(&spec(&src), None);
    let cancel = AtomicBool::new(true);
    let err = backup_tree(
        &spec(&src),
        None,
        Vec::new(),
        Vec::new(),
        &no_progress,
        &cancel,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
    let dest = Dest::Under(tmp.path().join("dest"));
    let err = extract(
        &tar[..],
        &mut IndexReader::new(&index[..]),
        &dest,
        &no_progress,
        &cancel,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Cancelled);
}

#[test]
fn changed_and_unreadable_files_are_warnings() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir(&src).unwrap();
    fs::write(src.join("ok"), b"ok").unwrap();
    let fifo = std::ffi::CString::new(src.join("pipe").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    // /proc files claim size 0 but have content: a file that grew.
    let mut s = spec(&src);
    s.roots.push("/proc/uptime".into());
    let (out, tar, index) = backup(&s, None);
    // The FIFO is backed up now (it was skipped with a warning).
    assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
    assert!(out
        .warnings
        .contains(&"file changed while it was read: /proc/uptime".to_string()));
    let files = entries(&index)
        .into_iter()
        .filter(|e| e.kind == EntryKind::File)
        .count();
    assert_eq!(files, 2);
    // The tar stays valid: it restores.
    restore(&tar, &index, &tmp.path().join("dest")).unwrap();
}

// ---- hostile archives ----

/// A raw tar entry with the name written byte for byte (no sanitizing).
fn raw_entry(tar: &mut Vec<u8>, name: &[u8], et: EntryType, mode: u32, link: &[u8], data: &[u8]) {
    let mut h = Header::new_gnu();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(et);
    h.set_mode(mode);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    h.set_cksum();
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

/// (name, kind, link target, content) of one index entry.
type Spec<'a> = (&'a [u8], EntryKind, &'a [u8], &'a [u8]);
/// (name, tar type, mode, link target) of one raw tar entry.
type Raw<'a> = (&'a [u8], EntryType, u32, &'a [u8]);

fn index_for(list: &[Spec<'_>]) -> Vec<u8> {
    let mut w = IndexWriter::new(Vec::new());
    for (name, kind, link, data) in list {
        let mut e = IndexEntry::deleted(name.to_vec());
        e.kind = *kind;
        e.stored = true;
        e.mode = 0o644;
        if *kind == EntryKind::File {
            use sha2::Digest;
            e.size = data.len() as u64;
            e.sha256 = Some(hex::encode(sha2::Sha256::digest(data)));
        }
        if *kind == EntryKind::Symlink {
            e.link_target = Some(link.to_vec());
        }
        w.write(&e).unwrap();
    }
    w.finish().unwrap()
}

fn hostile(entries: &[Raw<'_>], dest: &Path) -> crate::error::Error {
    hostile_at(
        entries,
        &Dest::Under(dest.to_path_buf()),
        ExtractOptions::default(),
    )
    .unwrap_err()
}

/// Extract raw entries (and an index that agrees with them) to `dest`.
fn hostile_at(
    entries: &[Raw<'_>],
    dest: &Dest,
    opts: ExtractOptions,
) -> crate::error::Result<ExtractOutcome> {
    let mut tar = Vec::new();
    let mut list = Vec::new();
    for (name, et, mode, link) in entries {
        let data: &[u8] = if *et == EntryType::Regular {
            b"evil"
        } else {
            b""
        };
        raw_entry(&mut tar, name, *et, *mode, link, data);
        let kind = match et {
            EntryType::Directory => EntryKind::Dir,
            EntryType::Symlink => EntryKind::Symlink,
            EntryType::Fifo => EntryKind::Fifo,
            _ => EntryKind::File,
        };
        list.push((*name, kind, *link, data));
    }
    tar.extend_from_slice(&[0u8; 1024]);
    let index = index_for(&list);
    let cancel = AtomicBool::new(false);
    let mut index = IndexReader::new(&index[..]);
    extract_with(&tar[..], &mut index, dest, &no_progress, &cancel, opts)
}

#[test]
fn hostile_entries_are_refused_and_nothing_lands_outside() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("box/dest");
    let cases: Vec<(&str, Vec<Raw<'_>>)> = vec![
        ("`..`", vec![(b"../evil", EntryType::Regular, 0o644, b"")]),
        (
            "absolute",
            vec![(b"/tmp/lifeboat-evil-abs", EntryType::Regular, 0o644, b"")],
        ),
        (
            "hard link to \"/etc/passwd\": an empty or absolute name",
            vec![(b"hard", EntryType::Link, 0o644, b"/etc/passwd")],
        ),
        (
            "hard link to \"../x\"",
            vec![(b"hard", EntryType::Link, 0o644, b"../x")],
        ),
        (
            "hard link to later, which this restore has not written before it",
            vec![
                (b"hard", EntryType::Link, 0o644, b"later"),
                (b"later", EntryType::Regular, 0o644, b""),
            ],
        ),
        (
            // A file of the destination the restore did not write.
            "hard link to pre, which this restore has not written before it",
            vec![(b"hard", EntryType::Link, 0o644, b"pre")],
        ),
        ("device", vec![(b"dev", EntryType::Char, 0o644, b"")]),
    ];
    fs::create_dir_all(&dest).unwrap();
    fs::write(dest.join("pre"), b"pre").unwrap();
    for (why, entries) in cases {
        let err = hostile(&entries, &dest);
        assert_eq!(err.kind, ErrorKind::Refused, "{why}: {}", err.message);
        assert!(err.message.contains(why), "{why}: {}", err.message);
        assert!(err.message.contains("refused"));
    }
    assert!(!tmp.path().join("box/evil").exists());
    assert!(!Path::new("/tmp/lifeboat-evil-abs").exists());
    assert!(!dest.join("link").exists() && !dest.join("hard").exists());
    // A setuid bit in the tar header alone does nothing: the mode restored
    // is the index's (which records 0644 here).
    let suid = tmp.path().join("suid");
    hostile_at(
        &[(b"suid", EntryType::Regular, 0o4755, b"")],
        &Dest::Under(suid.clone()),
        ExtractOptions {
            authenticated: true,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!(
        fs::metadata(suid.join("suid")).unwrap().mode() & 0o7777,
        0o644
    );

    // A symlink already in the destination is never written through.
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    symlink(&outside, dest.join("link")).unwrap();
    let err = hostile(&[(b"link/evil", EntryType::Regular, 0o644, b"")], &dest);
    assert_eq!(err.kind, ErrorKind::Refused, "{}", err.message);
    assert!(err.message.contains("symlink"), "{}", err.message);
    assert!(
        fs::read_dir(&outside).unwrap().next().is_none(),
        "nothing written outside"
    );
}

fn readlink(p: &Path) -> Vec<u8> {
    fs::read_link(p).unwrap().as_os_str().as_bytes().to_vec()
}

/// A symlink's target is data: absolute, climbing out and dangling ones
/// restore verbatim into any directory. What keeps the restore inside is
/// that nothing is written through a link, the archive's own or one found
/// there; a directory entry replaces a link found in its place.
#[test]
fn symlinks_restore_verbatim_and_are_never_written_through() {
    let tmp = tempfile::tempdir().unwrap();
    let outside = tmp.path().join("outside");
    fs::create_dir(&outside).unwrap();
    let abs = outside.as_os_str().as_bytes();
    let nothing_outside = || fs::read_dir(&outside).unwrap().next().is_none();

    let dest = tmp.path().join("box/dest");
    let links: [(&[u8], &[u8]); 4] = [
        (b"abs", abs),
        (b"bin", b"/usr/bin/env"),
        (b"dangling", b"nowhere/at/all"),
        (b"up", b"../../../.."),
    ];
    let raws: Vec<Raw<'_>> = links
        .iter()
        .map(|(n, l)| (*n, EntryType::Symlink, 0o777, *l))
        .collect();
    let dest_ = Dest::Under(dest.clone());
    let out = hostile_at(&raws, &dest_, ExtractOptions::default()).unwrap();
    assert_eq!(out.symlinks, 4);
    for (name, link) in links {
        let p = dest.join(OsStr::from_bytes(name));
        assert_eq!(readlink(&p), link, "{}", p.display());
    }
    let specs: Vec<Spec<'_>> = links
        .iter()
        .map(|(n, l)| (*n, EntryKind::Symlink, *l, &b""[..]))
        .collect();
    let index = index_for(&specs);
    let check = verify_tree(&mut IndexReader::new(&index[..]), &dest_).unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);

    // A link, then an entry below it: refused, whether the link points out
    // absolutely or by climbing.
    let mut climb = b"../".repeat(8);
    climb.extend_from_slice(&abs[1..]);
    for (i, to) in [abs, &climb[..], &b"../../outside"[..]]
        .into_iter()
        .enumerate()
    {
        let dest = tmp.path().join(format!("box/d{i}"));
        for below in [&b"x/evil"[..], &b"x/sub/evil"[..]] {
            let err = hostile(
                &[
                    (b"x", EntryType::Symlink, 0o777, to),
                    (below, EntryType::Regular, 0o644, b""),
                ],
                &dest,
            );
            assert_eq!(err.kind, ErrorKind::Refused, "{}", err.message);
            // Refused by the walk-order check (an entry beneath a file or
            // symlink of this archive), before `place` would refuse it too.
            assert!(
                err.message.contains("x is a symlink")
                    || err.message.contains("x is a file or symlink"),
                "{}",
                err.message
            );
            assert!(nothing_outside(), "wrote through x -> {}", show(to));
        }
    }

    // A link found in the destination that the archive says is a directory
    // is replaced by the directory, and nothing goes through it.
    let dest = tmp.path().join("box/replace");
    fs::create_dir_all(&dest).unwrap();
    symlink(&outside, dest.join("a")).unwrap();
    hostile_at(
        &[
            (b"a", EntryType::Directory, 0o755, b""),
            (b"a/f", EntryType::Regular, 0o644, b""),
        ],
        &Dest::Under(dest.clone()),
        ExtractOptions::default(),
    )
    .unwrap();
    assert!(fs::symlink_metadata(dest.join("a")).unwrap().is_dir());
    assert_eq!(fs::read(dest.join("a/f")).unwrap(), b"evil");
    assert!(nothing_outside());
}

/// In place, the host's own symlinked directories are followed (a backup
/// records `/var/run -> /run` as the directory), but a symlink the restore
/// itself made never is, in the same archive or an earlier link of a chain.
#[test]
fn in_place_never_follows_a_symlink_the_restore_made() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fs::canonicalize(tmp.path()).unwrap();
    let outside = root.join("outside");
    fs::create_dir(&outside).unwrap();
    let nothing_outside = || fs::read_dir(&outside).unwrap().next().is_none();
    let arc = |rel: &str| archive_path(&root.join(rel));
    let (a, a_evil) = (arc("box/a"), arc("box/a/evil"));
    let abs = outside.as_os_str().as_bytes();

    // One archive: the link, then a file below it.
    let err = hostile_at(
        &[
            (&a, EntryType::Symlink, 0o777, abs),
            (&a_evil, EntryType::Regular, 0o644, b""),
        ],
        &Dest::InPlace,
        ExtractOptions::default(),
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{}", err.message);
    assert!(nothing_outside(), "wrote through the archive's own link");
    assert_eq!(readlink(&root.join("box/a")), abs);

    // A chain: the first link makes it, the second writes below it.
    fs::remove_file(root.join("box/a")).unwrap();
    let made = std::cell::RefCell::new(std::collections::HashSet::new());
    let opts = ExtractOptions {
        links_made: Some(&made),
        ..Default::default()
    };
    hostile_at(
        &[(&a, EntryType::Symlink, 0o777, abs)],
        &Dest::InPlace,
        opts,
    )
    .unwrap();
    let err = hostile_at(
        &[(&a_evil, EntryType::Regular, 0o644, b"")],
        &Dest::InPlace,
        opts,
    )
    .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{}", err.message);
    assert!(nothing_outside(), "wrote through an earlier link's symlink");
    // ... and when the later link says it became a directory, it is one.
    let (a_dir, a_f) = (arc("box/a"), arc("box/a/f"));
    hostile_at(
        &[
            (&a_dir, EntryType::Directory, 0o755, b""),
            (&a_f, EntryType::Regular, 0o644, b""),
        ],
        &Dest::InPlace,
        opts,
    )
    .unwrap();
    assert!(fs::symlink_metadata(root.join("box/a")).unwrap().is_dir());
    assert!(nothing_outside());

    // The host's own link to a directory is followed.
    symlink(&outside, root.join("box/host")).unwrap();
    let host_f = arc("box/host/f");
    hostile_at(
        &[(&host_f, EntryType::Regular, 0o644, b"")],
        &Dest::InPlace,
        ExtractOptions::default(),
    )
    .unwrap();
    assert_eq!(fs::read(outside.join("f")).unwrap(), b"evil");
}

#[test]
fn archive_and_index_must_agree() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    let mut tar = Vec::new();
    raw_entry(&mut tar, b"a.txt", EntryType::Regular, 0o644, b"", b"data");
    tar.extend_from_slice(&[0u8; 1024]);

    let err = restore(&tar, b"", &dest).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Integrity);
    assert!(
        err.message.contains("not in the manifest's file index"),
        "{}",
        err.message
    );

    let wrong = index_for(&[(b"a.txt", EntryKind::File, b"", b"DATA")]);
    let err = restore(&tar, &wrong, &dest).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Integrity, "{}", err.message);
    assert!(
        fs::read_dir(&dest).unwrap().next().is_none(),
        "no file or temp file left"
    );

    let shorter = index_for(&[(b"a.txt", EntryKind::File, b"", b"da")]);
    assert_eq!(
        restore(&tar, &shorter, &dest).unwrap_err().kind,
        ErrorKind::Refused
    );

    let more = index_for(&[
        (b"a.txt", EntryKind::File, b"", b"data"),
        (b"b.txt", EntryKind::File, b"", b"x"),
    ]);
    let err = restore(&tar, &more, &dest).unwrap_err();
    assert!(err.message.contains("ends before"), "{}", err.message);
}

#[test]
fn in_place_restore_puts_the_tree_back() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    let (_, tar, index) = backup(&spec(&src), None);
    let keep = tmp.path().join("copy");
    fs::create_dir(&keep).unwrap();
    assert!(Command::new("cp")
        .arg("-a")
        .arg(&src)
        .arg(&keep)
        .status()
        .unwrap()
        .success());
    fs::write(src.join("a/b/c.txt"), b"damaged").unwrap();
    fs::remove_dir_all(src.join("a/empty")).unwrap();

    let plan = plan_restore(&mut IndexReader::new(&index[..]), &Dest::InPlace).unwrap();
    assert_eq!(
        (plan.create, plan.overwrite, plan.delete),
        (1, 1, 0),
        "{plan:?}"
    );
    assert_eq!(plan.overwrite_paths(), &[src.join("a/b/c.txt")][..]);
    let cancel = AtomicBool::new(false);
    extract(
        &tar[..],
        &mut IndexReader::new(&index[..]),
        &Dest::InPlace,
        &no_progress,
        &cancel,
    )
    .unwrap();
    assert_same_tree(&keep.join("src"), &src);
    let check = verify_tree(&mut IndexReader::new(&index[..]), &Dest::InPlace).unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

/// Content that does not match its SHA-256 in the index fails the restore
/// with that error, and the file is never moved into place, whether it is
/// small (handed over whole) or large (handed over in pieces), first or
/// last in the archive.
#[test]
fn content_not_matching_its_index_hash_is_refused_and_not_placed() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a-small.txt"), b"small and honest").unwrap();
    fs::write(src.join("b-large.bin"), vec![7u8; 3 * MIB as usize + 5]).unwrap();
    fs::write(src.join("c-after.txt"), b"written after").unwrap();
    let (_, tar, index) = backup(&spec(&src), None);
    for victim in ["a-small.txt", "b-large.bin", "c-after.txt"] {
        // Same size, different content: only the hash can tell.
        let mut forged = entries(&index);
        for e in forged.iter_mut() {
            if e.path.ends_with(victim.as_bytes()) {
                e.sha256 = Some("0".repeat(64));
            }
        }
        let mut w = IndexWriter::new(Vec::new());
        for e in &forged {
            w.write(e).unwrap();
        }
        let forged = w.finish().unwrap();
        let dest = tmp.path().join(format!("dest-{victim}"));
        let err = restore(&tar, &forged, &dest).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Integrity, "{}", err.message);
        assert!(
            err.message.ends_with(&format!(
                "{victim} does not match its SHA-256 in the file index"
            )),
            "{}",
            err.message
        );
        let placed = under(&dest, &src);
        assert!(!placed.join(victim).exists(), "{victim} was put in place");
        // No temp files are left behind either.
        let leftovers: Vec<_> = fs::read_dir(&placed)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".lifeboat-"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

/// Reading ahead is only a hint to the kernel: the archive and index come
/// out byte for byte the same with and without it, full and incremental.
#[test]
fn read_ahead_does_not_change_what_is_written() {
    // A backup stores the source's ancestor directories too, with their
    // mtimes: under /tmp, where parallel tests create and remove their
    // directories, two backups a moment apart differ in /tmp's entry. No
    // other test writes directly into /var/tmp.
    let tmp = tempfile::Builder::new()
        .prefix("lifeboat-read-ahead-")
        .tempdir_in("/var/tmp")
        .unwrap();
    let src = tmp.path().join("src");
    build_tree(&src);
    for i in 0..300 {
        fs::write(src.join(format!("f{i:03}")), format!("file {i}").repeat(i)).unwrap();
    }
    let cancel = AtomicBool::new(false);
    let run = |parent: Option<&[u8]>, opts: BackupOptions| {
        let mut reader = parent.map(IndexReader::new);
        let parent = reader.as_mut().map(|r| r as &mut dyn Iterator<Item = _>);
        let (out, tar, index) = backup_tree_with(
            &spec(&src),
            parent,
            Vec::new(),
            Vec::new(),
            &no_progress,
            &cancel,
            opts,
        )
        .unwrap();
        (out, tar, index)
    };
    let off = BackupOptions {
        no_read_ahead: true,
        ..Default::default()
    };
    let full = run(None, BackupOptions::default());
    assert_eq!(full, run(None, off));
    fs::write(src.join("f007"), b"changed").unwrap();
    let since = BackupOptions {
        read_ahead_since: Some(0),
        ..Default::default()
    };
    let incr = run(Some(&full.2), since);
    assert_eq!(incr, run(Some(&full.2), off));
    let unchanged_files = entries(&incr.2)
        .iter()
        .filter(|e| e.kind == EntryKind::File && !e.stored)
        .count() as u64;
    assert_eq!(unchanged_files, full.0.stats.files - 1);
}

// ---- hard links, FIFOs, sparse files ----

/// (type, name, link name, content size) of every member of a tar; a
/// sparse member by its real name.
fn members(tar: &[u8]) -> Vec<(EntryType, Vec<u8>, Vec<u8>, u64)> {
    let mut out = Vec::new();
    let mut a = tar::Archive::new(tar);
    for e in a.entries().unwrap() {
        let mut e = e.unwrap();
        let mut name = e.path_bytes().into_owned();
        if let Some(x) = e.pax_extensions().unwrap() {
            for r in x {
                let r = r.unwrap();
                if r.key_bytes() == b"GNU.sparse.name" {
                    name = r.value_bytes().to_vec();
                }
            }
        }
        let link = e
            .link_name_bytes()
            .map(|l| l.into_owned())
            .unwrap_or_default();
        out.push((e.header().entry_type(), name, link, e.size()));
    }
    out
}

fn ino(p: &Path) -> (u64, u64) {
    let m = fs::symlink_metadata(p).unwrap();
    (m.ino(), m.nlink())
}

/// Three names of one inode over two directories, and a pair.
fn linked_tree(src: &Path) -> Vec<u8> {
    fs::create_dir_all(src.join("a")).unwrap();
    fs::create_dir_all(src.join("b")).unwrap();
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    fs::write(src.join("a/one"), &data).unwrap();
    fs::hard_link(src.join("a/one"), src.join("a/two")).unwrap();
    fs::hard_link(src.join("a/one"), src.join("b/three")).unwrap();
    fs::write(src.join("b/p"), b"pair").unwrap();
    fs::hard_link(src.join("b/p"), src.join("b/q")).unwrap();
    data
}

#[test]
fn hard_links_are_stored_once_and_restored_as_one_inode() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let data = linked_tree(&src);
    let (out, tar, index) = backup(&spec(&src), None);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let one = archive_path(&src.join("a/one"));
    let ms = members(&tar);
    let links: Vec<_> = ms.iter().filter(|m| m.0 == EntryType::Link).collect();
    assert_eq!(links.len(), 3, "{ms:?}");
    assert!(links.iter().all(|m| m.3 == 0));
    assert_eq!(
        links.iter().filter(|m| m.2 == one).count(),
        2,
        "a/two and b/three name a/one"
    );
    assert!(
        tar.len() < data.len() + 100_000,
        "content stored once: {}",
        tar.len()
    );
    let list = entries(&index);
    let three = list
        .iter()
        .find(|e| e.path == archive_path(&src.join("b/three")))
        .unwrap();
    assert_eq!((three.hard_link.as_ref(), three.nlink), (Some(&one), 3));

    let dest = tmp.path().join("dest");
    restore(&tar, &index, &dest).unwrap();
    let r = under(&dest, &src);
    assert_eq!(ino(&r.join("a/one")).1, 3);
    assert_eq!(ino(&r.join("a/one")), ino(&r.join("a/two")));
    assert_eq!(ino(&r.join("a/one")), ino(&r.join("b/three")));
    assert_eq!(ino(&r.join("b/p")), ino(&r.join("b/q")));
    assert_eq!(fs::read(r.join("b/three")).unwrap(), data);
    let check = verify_tree(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);

    // The system tar sees the same links.
    let sys = tmp.path().join("sys");
    fs::create_dir_all(&sys).unwrap();
    let tar_file = tmp.path().join("t.tar");
    fs::write(&tar_file, &tar).unwrap();
    let st = Command::new("tar")
        .arg("-xf")
        .arg(&tar_file)
        .arg("-C")
        .arg(&sys)
        .status()
        .unwrap();
    assert!(st.success());
    let s = under(&sys, &src);
    assert_eq!(ino(&s.join("b/three")), ino(&s.join("a/one")));

    // A copy where a link was is a difference.
    fs::remove_file(r.join("b/three")).unwrap();
    fs::write(r.join("b/three"), &data).unwrap();
    let check = verify_tree(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert_eq!(check.problems.len(), 1, "{:?}", check.problems);
    assert!(
        check.problems[0].contains("is not a hard link of"),
        "{:?}",
        check.problems
    );
}

#[test]
fn incremental_whose_first_name_is_unchanged_stores_the_content_with_the_next() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let data = linked_tree(&src);
    let (_, tar, index) = backup(&spec(&src), None);
    // The parent saw a/two differently (as after a change it alone went
    // through): a/one is unchanged, a/two and b/three are stored.
    let two = archive_path(&src.join("a/two"));
    let three = archive_path(&src.join("b/three"));
    let mut w = IndexWriter::new(Vec::new());
    for mut e in entries(&index) {
        if e.path == two || e.path == three {
            e.ctime_ns -= 1;
        }
        w.write(&e).unwrap();
    }
    let parent = w.finish().unwrap();
    let (_, tar2, index2) = backup(&spec(&src), Some(&parent));
    let ms = members(&tar2);
    let files: Vec<_> = ms.iter().filter(|m| m.0 == EntryType::Regular).collect();
    assert_eq!(files.len(), 1, "{ms:?}");
    assert_eq!((&files[0].1, files[0].3), (&two, data.len() as u64));
    let three = ms
        .iter()
        .find(|m| m.1 == archive_path(&src.join("b/three")))
        .unwrap();
    assert_eq!((three.0, &three.2), (EntryType::Link, &two));

    // The chain: full, then the incremental over it.
    let dest = tmp.path().join("dest");
    restore(&tar, &index, &dest).unwrap();
    restore(&tar2, &index2, &dest).unwrap();
    let r = under(&dest, &src);
    assert_eq!(ino(&r.join("a/one")).1, 3, "no stray names of an old inode");
    assert_eq!(ino(&r.join("a/one")), ino(&r.join("a/two")));
    assert_eq!(ino(&r.join("a/one")), ino(&r.join("b/three")));
    let check = verify_tree(
        &mut IndexReader::new(&index2[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

#[test]
fn fifos_round_trip_and_sockets_are_skipped_with_a_warning() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let fifo = super::place::cstr(src.join("pipe").as_os_str().as_bytes()).unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    fs::set_permissions(src.join("pipe"), fs::Permissions::from_mode(0o640)).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(src.join("sock")).unwrap();
    let (out, tar, index) = backup(&spec(&src), None);
    assert!(
        out.warnings
            .iter()
            .any(|w| w.contains("skipped socket") && w.contains("sock")),
        "{:?}",
        out.warnings
    );
    assert!(members(&tar).iter().any(|m| m.0 == EntryType::Fifo));
    let dest = tmp.path().join("dest");
    restore(&tar, &index, &dest).unwrap();
    let m = fs::symlink_metadata(under(&dest, &src).join("pipe")).unwrap();
    use std::os::unix::fs::FileTypeExt;
    assert!(m.file_type().is_fifo());
    assert_eq!(m.permissions().mode() & 0o7777, 0o640);
    assert!(!under(&dest, &src).join("sock").exists());
    let check = verify_tree(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

#[test]
fn sparse_files_keep_their_holes_and_dense_zeros_stay_written() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    let f = fs::File::create(src.join("holes.img")).unwrap();
    f.set_len(64 * MIB).unwrap();
    f.write_at(&[1u8; 5000], 0).unwrap();
    f.write_at(b"middle", 32 * MIB).unwrap();
    f.write_at(b"end", 64 * MIB - 3).unwrap();
    drop(f);
    fs::write(src.join("zeros.bin"), vec![0u8; 4 * MIB as usize]).unwrap();
    let (_, tar, index) = backup(&spec(&src), None);
    // The 4 MiB of dense zeros, and a few KiB of the sparse file.
    assert!(
        tar.len() < (4 << 20) + 100_000,
        "{} bytes of tar",
        tar.len()
    );
    let list = entries(&index);
    let holes = list
        .iter()
        .find(|e| e.path.ends_with(b"holes.img"))
        .unwrap();
    let zeros = list
        .iter()
        .find(|e| e.path.ends_with(b"zeros.bin"))
        .unwrap();
    assert!(holes.sparse && !zeros.sparse);

    let dest = tmp.path().join("dest");
    restore(&tar, &index, &dest).unwrap();
    let r = under(&dest, &src);
    let m = fs::metadata(r.join("holes.img")).unwrap();
    assert_eq!(m.len(), 64 * MIB);
    assert!(m.blocks() * 512 < MIB, "{} blocks", m.blocks());
    let got = fs::File::open(r.join("holes.img")).unwrap();
    let mut buf = vec![0u8; 5001];
    got.read_exact_at(&mut buf, 0).unwrap();
    assert_eq!((&buf[..5000], buf[5000]), (&[1u8; 5000][..], 0));
    got.read_exact_at(&mut buf[..6], 32 * MIB).unwrap();
    assert_eq!(&buf[..6], b"middle");
    let m = fs::metadata(r.join("zeros.bin")).unwrap();
    assert!(
        m.blocks() * 512 >= m.len(),
        "dense zeros came back with holes"
    );
    let check = verify_tree(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);

    // A byte of a data region changed in the archive: the file's hash
    // (over its whole content, holes included) no longer matches.
    let mut bad = tar.clone();
    let at = bad.windows(6).position(|w| w == b"middle").unwrap();
    bad[at] = b'M';
    let err = restore(&bad, &index, &tmp.path().join("bad")).unwrap_err();
    assert!(
        err.message.contains("holes.img does not match its SHA-256"),
        "{}",
        err.message
    );
}

/// A tar of one PAX sparse member `f` (version `minor`) whose content is
/// `map` padded to a block, then `data`; and an index for it whose
/// content is `logical`.
fn sparse_tar(
    minor: &str,
    map: &str,
    data: &[u8],
    realsize: u64,
    logical: &[u8],
) -> (Vec<u8>, Vec<u8>) {
    let mut pax = Vec::new();
    for (k, v) in [
        ("GNU.sparse.major", "1".to_string()),
        ("GNU.sparse.minor", minor.to_string()),
        ("GNU.sparse.name", "f".to_string()),
        ("GNU.sparse.realsize", realsize.to_string()),
    ] {
        super::tarball::pax_record(&mut pax, k, v.as_bytes());
    }
    let mut tar = Vec::new();
    raw_entry(
        &mut tar,
        b"PaxHeaders/f",
        EntryType::XHeader,
        0o644,
        b"",
        &pax,
    );
    let mut body = map.as_bytes().to_vec();
    body.resize(body.len().div_ceil(512) * 512, 0);
    body.extend_from_slice(data);
    raw_entry(
        &mut tar,
        b"GNUSparseFile.0/f",
        EntryType::Regular,
        0o644,
        b"",
        &body,
    );
    tar.extend_from_slice(&[0u8; 1024]);
    let mut e = IndexEntry::deleted(b"f".to_vec());
    (e.kind, e.stored, e.mode, e.sparse) = (EntryKind::File, true, 0o644, true);
    e.size = realsize;
    let mut h = super::content_hash::ContentHasher::new(true);
    h.update(logical);
    e.sha256 = Some(h.finish());
    let mut w = IndexWriter::new(Vec::new());
    w.write(&e).unwrap();
    (tar, w.finish().unwrap())
}

#[test]
fn sparse_members_with_hostile_maps_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let (tar, index) = sparse_tar("0", "2\n0\n4\n8\n0\n", b"abcd", 8, b"abcd\0\0\0\0");
    let dest = tmp.path().join("good");
    restore(&tar, &index, &dest).unwrap();
    assert_eq!(fs::read(dest.join("f")).unwrap(), b"abcd\0\0\0\0");
    let cases = [
        (
            "1",
            "1\n0\n4\n",
            &b"abcd"[..],
            8,
            "format other than PAX 1.0",
        ),
        ("0", "2\n0\n4\n2\n4\n", b"abcdefgh", 8, "overlapping"),
        ("0", "1\n6\n4\n", b"abcd", 8, "past the file's end"),
        ("0", "1\n0\n4\n", b"abcdefgh", 8, "does not add up"),
        ("0", "1\n0\nx\n", b"abcd", 8, "not a number"),
        // Three regions promised, one given: the padding's NULs come
        // where a number should.
        ("0", "3\n0\n4\n", b"abcd", 8, "not a number"),
    ];
    for (i, (minor, map, data, size, why)) in cases.into_iter().enumerate() {
        let (tar, index) = sparse_tar(minor, map, data, size, b"");
        let dest = tmp.path().join(format!("bad{i}"));
        let err = restore(&tar, &index, &dest).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Refused, "{why}: {}", err.message);
        assert!(err.message.contains(why), "{why}: {}", err.message);
        assert!(!dest.join("f").exists(), "{why}");
    }
}

#[test]
fn in_place_restore_makes_broken_links_one_inode_again() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    let data = linked_tree(&src);
    let (_, tar, index) = backup(&spec(&src), None);
    // One name now a file of its own, one gone, one pair member replaced
    // by a symlink (never written through).
    fs::remove_file(src.join("b/three")).unwrap();
    fs::write(src.join("b/three"), b"damaged").unwrap();
    fs::remove_file(src.join("a/two")).unwrap();
    fs::remove_file(src.join("b/q")).unwrap();
    let outside = tmp.path().join("outside");
    fs::write(&outside, b"outside").unwrap();
    symlink(&outside, src.join("b/q")).unwrap();
    let cancel = AtomicBool::new(false);
    extract(
        &tar[..],
        &mut IndexReader::new(&index[..]),
        &Dest::InPlace,
        &no_progress,
        &cancel,
    )
    .unwrap();
    assert_eq!(ino(&src.join("a/one")).1, 3);
    assert_eq!(ino(&src.join("a/one")), ino(&src.join("a/two")));
    assert_eq!(ino(&src.join("a/one")), ino(&src.join("b/three")));
    assert_eq!(fs::read(src.join("b/three")).unwrap(), data);
    assert_eq!(ino(&src.join("b/p")), ino(&src.join("b/q")));
    assert_eq!(fs::read(&outside).unwrap(), b"outside");
    let check = verify_tree(&mut IndexReader::new(&index[..]), &Dest::InPlace).unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

/// Found in review: a link group whose first name has a newline (its link
/// members name it in a PAX `linkpath` the `tar` crate cannot split), and
/// a sparse file with a second name (its link member's index entry must
/// say the digest is in the sparse form, or verification fails).
#[test]
fn awkward_link_groups_restore_and_verify() {
    use std::os::unix::fs::FileExt;
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("a\nb"), b"newline name").unwrap();
    fs::hard_link(src.join("a\nb"), src.join("c")).unwrap();
    let f = fs::File::create(src.join("holes")).unwrap();
    f.set_len(8 << 20).unwrap();
    f.write_at(b"island", 4 << 20).unwrap();
    drop(f);
    fs::hard_link(src.join("holes"), src.join("holes2")).unwrap();
    let (out, tar, index) = backup(&spec(&src), None);
    assert!(out.warnings.is_empty(), "{:?}", out.warnings);
    let dest = tmp.path().join("dest");
    restore(&tar, &index, &dest).unwrap();
    let r = under(&dest, &src);
    assert_eq!(ino(&r.join("a\nb")), ino(&r.join("c")));
    assert_eq!(ino(&r.join("holes")), ino(&r.join("holes2")));
    assert_eq!(fs::read(r.join("c")).unwrap(), b"newline name");
    let check = verify_tree(
        &mut IndexReader::new(&index[..]),
        &Dest::Under(dest.clone()),
    )
    .unwrap();
    assert!(check.problems.is_empty(), "{:?}", check.problems);
}

/// Found in review: a sparse map that never ends (NULs, or digits with
/// no newline, for gigabytes) is refused at once, not read into memory.
#[test]
fn a_sparse_map_that_never_ends_is_refused_early() {
    let tmp = tempfile::tempdir().unwrap();
    let mut map = "9\n".to_string();
    map.push_str(&"\0".repeat(4096));
    let (tar, index) = sparse_tar("0", &map, b"", 8, b"\0\0\0\0\0\0\0\0");
    let err = restore(&tar, &index, &tmp.path().join("d")).unwrap_err();
    assert!(err.message.contains("not a number"), "{}", err.message);
}
