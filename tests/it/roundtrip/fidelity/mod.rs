//! The filesystem fidelity suite (issue 13): one tree holding every kind of
//! entry and metadata a real system tree has, backed up (a full and an
//! incremental, encrypted) and restored into a new directory, must come back
//! exactly: the way `diff -r` plus a `find -printf '%P %y %m %U %G %s %T@ %l'`
//! listing plus link counts, xattrs and `du` would compare it.
//!
//! Runs as root (CI does): odd owners, setuid programs, `trusted.*` xattrs
//! and file capabilities need it, and a test that quietly skipped them would
//! prove nothing.

use std::collections::BTreeMap;
use std::ffi::{CString, OsStr};
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt, PermissionsExt};
use std::path::Path;

use crate::common::*;

/// Every xattr of `p` (not following a symlink), name -> value.
pub fn xattrs(p: &Path) -> BTreeMap<String, Vec<u8>> {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut names = vec![0u8; 64 * 1024];
    // SAFETY: buffers we own, sizes passed with them.
    let n = unsafe { libc::llistxattr(c.as_ptr(), names.as_mut_ptr().cast(), names.len()) };
    assert!(n >= 0, "llistxattr {}", p.display());
    let mut out = BTreeMap::new();
    for name in names[..n as usize]
        .split(|b| *b == 0)
        .filter(|s| !s.is_empty())
    {
        let cn = CString::new(name).unwrap();
        let mut v = vec![0u8; 64 * 1024];
        let m = unsafe { libc::lgetxattr(c.as_ptr(), cn.as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert!(m >= 0, "lgetxattr {} {:?}", p.display(), cn);
        v.truncate(m as usize);
        out.insert(String::from_utf8_lossy(name).into_owned(), v);
    }
    out
}

pub fn set_xattr(p: &Path, name: &str, value: &[u8]) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let cn = CString::new(name).unwrap();
    // SAFETY: pointers to buffers we own.
    let r = unsafe {
        libc::lsetxattr(
            c.as_ptr(),
            cn.as_ptr(),
            value.as_ptr().cast(),
            value.len(),
            0,
        )
    };
    assert_eq!(
        r,
        0,
        "cannot set xattr {name} on {} ({}): the fidelity suite needs a filesystem with xattrs, ACLs and capabilities",
        p.display(),
        std::io::Error::last_os_error()
    );
}

fn lchown(p: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(gid)).unwrap();
}

/// A POSIX ACL as the kernel stores it in `system.posix_acl_*`: owner rw,
/// a named user (uid) r, group r, mask r, other r-or-nothing.
fn acl(named_uid: u32, other: u16) -> Vec<u8> {
    let e = |tag: u16, perm: u16, id: u32| {
        let mut v = tag.to_le_bytes().to_vec();
        v.extend(perm.to_le_bytes());
        v.extend(id.to_le_bytes());
        v
    };
    let mut v = 2u32.to_le_bytes().to_vec();
    v.extend(e(0x01, 6, u32::MAX));
    v.extend(e(0x02, 4, named_uid));
    v.extend(e(0x04, 4, u32::MAX));
    v.extend(e(0x10, 4, u32::MAX));
    v.extend(e(0x20, other, u32::MAX));
    v
}

/// `security.capability` v2: cap_net_bind_service (bit 10), permitted and
/// effective, as `setcap cap_net_bind_service+ep` writes it.
fn capability() -> Vec<u8> {
    let mut v = 0x0200_0001u32.to_le_bytes().to_vec(); // v2, effective
    v.extend((1u32 << 10).to_le_bytes()); // permitted[0]
    v.extend(0u32.to_le_bytes()); // inheritable[0]
    v.extend(0u32.to_le_bytes()); // permitted[1]
    v.extend(0u32.to_le_bytes()); // inheritable[1]
    v
}

fn mtime(p: &Path, secs: i64, nsec: i64) {
    let c = CString::new(p.as_os_str().as_bytes()).unwrap();
    let t = [
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        },
        libc::timespec {
            tv_sec: secs,
            tv_nsec: nsec,
        },
    ];
    // SAFETY: valid path and times.
    let r = unsafe {
        libc::utimensat(
            libc::AT_FDCWD,
            c.as_ptr(),
            t.as_ptr(),
            libc::AT_SYMLINK_NOFOLLOW,
        )
    };
    assert_eq!(r, 0, "utimensat {}", p.display());
}

/// Build the tree under `root` (which exists).
fn build(root: &Path) {
    // Odd names: not UTF-8, a newline, a leading dash, spaces, 255 bytes.
    let names = root.join("names");
    fs::create_dir(&names).unwrap();
    for n in [
        OsStr::from_bytes(b"caf\xe9"),
        OsStr::new("new\nline"),
        OsStr::new("-rf"),
        OsStr::new("  spaced  "),
    ] {
        fs::write(names.join(n), n.as_bytes()).unwrap();
    }
    fs::write(names.join("n".repeat(255)), b"long").unwrap();

    // Odd owners (ids no user has), modes, a sticky directory, setuid and
    // setgid programs owned by root and by someone else.
    let owners = root.join("owners");
    fs::create_dir(&owners).unwrap();
    fs::write(owners.join("nobody-knows"), b"x").unwrap();
    lchown(&owners.join("nobody-knows"), 12345, 54321);
    fs::write(owners.join("readonly"), b"r").unwrap();
    fs::set_permissions(owners.join("readonly"), fs::Permissions::from_mode(0o444)).unwrap();
    fs::create_dir(owners.join("sticky")).unwrap();
    fs::set_permissions(owners.join("sticky"), fs::Permissions::from_mode(0o1777)).unwrap();
    fs::copy("/usr/bin/true", owners.join("suid-root")).unwrap();
    fs::set_permissions(owners.join("suid-root"), fs::Permissions::from_mode(0o4755)).unwrap();
    fs::copy("/usr/bin/true", owners.join("sgid-other")).unwrap();
    lchown(&owners.join("sgid-other"), 0, 4242);
    fs::set_permissions(
        owners.join("sgid-other"),
        fs::Permissions::from_mode(0o2755),
    )
    .unwrap();
    fs::create_dir(owners.join("setgid-dir")).unwrap();
    lchown(&owners.join("setgid-dir"), 0, 4242);
    fs::set_permissions(
        owners.join("setgid-dir"),
        fs::Permissions::from_mode(0o2775),
    )
    .unwrap();
    std::os::unix::fs::symlink("nobody-knows", owners.join("owned-link")).unwrap();
    lchown(&owners.join("owned-link"), 23456, 65432);

    // Hard links: three names in one directory and one in another.
    let links = root.join("links");
    fs::create_dir_all(links.join("other")).unwrap();
    fs::write(links.join("a"), noise(300_000, 7)).unwrap();
    fs::hard_link(links.join("a"), links.join("b")).unwrap();
    fs::hard_link(links.join("a"), links.join("other/c")).unwrap();
    fs::write(links.join("pair-1"), b"pair").unwrap();
    fs::hard_link(links.join("pair-1"), links.join("pair-2")).unwrap();

    // xattrs (a binary value with NULs, a long one, trusted.*), a file
    // capability, an access ACL and a directory's default ACL.
    let attrs = root.join("attrs");
    fs::create_dir(&attrs).unwrap();
    fs::write(attrs.join("user"), b"u").unwrap();
    set_xattr(&attrs.join("user"), "user.binary", b"\0\x01\xffvalue\0");
    set_xattr(&attrs.join("user"), "user.long", &vec![b'L'; 3000]);
    set_xattr(&attrs.join("user"), "trusted.lifeboat", b"trusted");
    fs::copy("/usr/bin/true", attrs.join("cap")).unwrap();
    set_xattr(&attrs.join("cap"), "security.capability", &capability());
    fs::write(attrs.join("acl"), b"a").unwrap();
    set_xattr(
        &attrs.join("acl"),
        "system.posix_acl_access",
        &acl(65534, 0),
    );
    fs::create_dir(attrs.join("acl-dir")).unwrap();
    set_xattr(
        &attrs.join("acl-dir"),
        "system.posix_acl_default",
        &acl(65534, 4),
    );

    // Symlinks: absolute, dangling, climbing out.
    let syms = root.join("symlinks");
    fs::create_dir(&syms).unwrap();
    for (n, to) in [
        ("abs", "/usr/bin/env"),
        ("dangling", "/no/such/thing"),
        ("up", "../../.."),
    ] {
        std::os::unix::fs::symlink(to, syms.join(n)).unwrap();
    }

    // Sparse (64 MiB, three 4 KiB islands) and dense zeros (1 MiB written).
    let sparse = root.join("sparse");
    fs::create_dir(&sparse).unwrap();
    let f = fs::File::create(sparse.join("holes.img")).unwrap();
    f.set_len(64 << 20).unwrap();
    for off in [0u64, 32 << 20, (64 << 20) - 4096] {
        f.write_at(&noise(4096, off), off).unwrap();
    }
    drop(f);
    fs::write(sparse.join("zeros.bin"), vec![0u8; 1 << 20]).unwrap();

    // A FIFO, an empty file and an empty directory.
    let special = root.join("special");
    fs::create_dir_all(special.join("empty-dir")).unwrap();
    let fifo = CString::new(special.join("fifo").as_os_str().as_bytes()).unwrap();
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o640) }, 0);
    fs::write(special.join("empty"), b"").unwrap();

    // Nanosecond mtimes, set last (children first, so no write disturbs a
    // directory's time afterwards).
    let mut all = Vec::new();
    collect(root, &mut all);
    all.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    for (i, p) in all.iter().enumerate() {
        mtime(p, 1_600_000_000 + i as i64 * 3600, 123_456_789);
    }
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if fs::symlink_metadata(&p).unwrap().is_dir() {
            collect(&p, out);
        }
        out.push(p);
    }
}

/// One line per entry: path, kind, mode with setuid/setgid/sticky, owner,
/// group, size (not for directories), mtime in ns, link count (not for
/// directories), symlink target, content digest, whether the file is
/// sparse, and every xattr with its value.
fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut all = Vec::new();
    collect(root, &mut all);
    let mut out = BTreeMap::new();
    for p in all {
        let m = fs::symlink_metadata(&p).unwrap();
        let ft = m.file_type();
        use std::os::unix::fs::FileTypeExt;
        let kind = if ft.is_dir() {
            "d"
        } else if ft.is_symlink() {
            "l"
        } else if ft.is_fifo() {
            "p"
        } else {
            "f"
        };
        let mut line = format!(
            "{kind} {:o} {}:{} mtime={}.{:09}",
            m.mode() & 0o7777,
            m.uid(),
            m.gid(),
            m.mtime(),
            m.mtime_nsec()
        );
        if kind != "d" {
            line += &format!(" size={} nlink={}", m.len(), m.nlink());
        }
        match kind {
            "l" => line += &format!(" -> {:?}", fs::read_link(&p).unwrap()),
            "f" => {
                line += &format!(" sha256={}", sha256_file(&p));
                // Sparse: fewer blocks than the size needs. A dense file
                // of zeros must stay dense; a sparse one must stay sparse.
                line += &format!(" sparse={}", m.blocks() * 512 < m.len());
            }
            _ => {}
        }
        for (k, v) in xattrs(&p) {
            line += &format!(" {k}={}", hex(&v));
        }
        let rel = p.strip_prefix(root).unwrap();
        out.insert(format!("{:?}", rel), line);
    }
    out
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn assert_same(restored: &Path, original: &Path, what: &str) {
    let (a, b) = (describe(restored), describe(original));
    let mut diffs = Vec::new();
    for (k, v) in &b {
        match a.get(k) {
            Some(w) if w == v => {}
            Some(w) => diffs.push(format!("{k}\n   was: {v}\n  back: {w}")),
            None => diffs.push(format!("{k} missing (was: {v})")),
        }
    }
    for k in a.keys().filter(|k| !b.contains_key(*k)) {
        diffs.push(format!("{k} appeared"));
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} entries differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

/// The whole tree, a full and an incremental of changes to each kind,
/// restored into new directories: equal in every listed respect, and
/// `verify --deep` agrees.
#[test]
fn every_kind_of_entry_and_metadata_round_trips_exactly() {
    // SAFETY: a plain getter.
    assert_eq!(
        unsafe { libc::geteuid() },
        0,
        "the fidelity suite runs as root (odd owners, setuid, trusted.* xattrs, capabilities)"
    );
    let sb = Sandbox::new();
    let tree = sb.app.join("uploads/fidelity");
    fs::create_dir_all(&tree).unwrap();
    build(&tree);
    sb.generate_key();
    let full = id_of(&sb.backup("filesystem", &["--full"]));
    let t1 = sb.dir.path().join("restored-full");
    sb.ok(&["restore", "--id", &full, "--target", t1.to_str().unwrap()]);
    assert_same(&Sandbox::under(&t1, &tree), &tree, "full backup");
    sb.ok(&["verify", &full, "--deep"]);

    // Change one of each kind: an xattr only, a new hard link to an
    // unchanged file, a link group's content, a sparse island, an owner.
    let attrs = tree.join("attrs");
    set_xattr(&attrs.join("user"), "user.binary", b"changed");
    fs::hard_link(tree.join("links/a"), tree.join("links/d")).unwrap();
    fs::write(tree.join("links/pair-1"), b"pair changed").unwrap();
    let f = fs::OpenOptions::new()
        .write(true)
        .open(tree.join("sparse/holes.img"))
        .unwrap();
    f.write_at(b"island", 16 << 20).unwrap();
    drop(f);
    lchown(&tree.join("owners/readonly"), 777, 888);
    fs::remove_file(tree.join("special/empty")).unwrap();
    let inc = sb.backup("filesystem", &[]);
    assert_eq!(inc["kind"], "incremental", "{inc}");
    let inc = id_of(&inc);
    let t2 = sb.dir.path().join("restored-incremental");
    sb.ok(&["restore", "--id", &inc, "--target", t2.to_str().unwrap()]);
    assert_same(&Sandbox::under(&t2, &tree), &tree, "incremental chain");
    sb.ok(&["verify", &inc, "--deep"]);
}
