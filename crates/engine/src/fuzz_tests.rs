//! Property-based fuzzing of every reader that takes bytes lifeboat did not
//! just write itself: the archive stream (decryption and decompression), the
//! manifest, the file index, the tar extraction and the config file.
//!
//! A nightly toolchain (and so cargo-fuzz) is not available here, so these
//! are `proptest` harnesses on stable: random bytes, and valid inputs with
//! random mutations and truncations. Each one asserts outcomes, not only
//! "no panic": bad input ends in a typed [`Error`] whose kind says what went
//! wrong (damaged data is `Integrity`, a hostile archive entry `Refused`, a
//! bad config `Usage`), readers never hand out more than the size they were
//! told to expect, an intact input still reads back exactly, and an
//! extraction never writes outside its destination.
//!
//! Each harness runs [`DEFAULT_CASES`] cases under `cargo test`;
//! `PROPTEST_CASES=N` runs N (proptest reads it), and `bench/fuzz_soak.sh`
//! runs each harness for minutes at a time and tallies what it finds.

use std::fs;
use std::io::{self, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use tar::{EntryType, Header};

use crate::archive::compress::Compressor;
use crate::archive::crypto::{DataKey, EncryptWriter, SEGMENT_SIZE};
use crate::archive::manifest::Compression;
use crate::archive::pipeline::{open_stream_from, stream_read_error};
use crate::config::Config;
use crate::error::{Error, ErrorKind};
use crate::sources::filesystem::{
    backup_tree, extract_with, verify_tree, Dest, EntryKind, ExtractOptions, IndexEntry,
    IndexReader, IndexWriter, WalkSpec,
};
use crate::storage::local::read_manifest;

/// Cases per harness in a plain `cargo test`: enough to catch a regression
/// quickly, few enough to keep the suite fast. The soak script runs more.
const DEFAULT_CASES: u32 = 64;

fn cases() -> ProptestConfig {
    let mut c = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = DEFAULT_CASES;
    }
    // Failures are kept as explicit regression tests instead of a
    // proptest-regressions file beside the source.
    c.failure_persistence = None;
    c
}

/// A temp directory for one case, inside one shared parent: thousands of
/// cases creating and removing directories straight in /tmp would keep
/// changing its mtime, which other tests back up and compare.
fn scratch() -> tempfile::TempDir {
    let parent = std::env::temp_dir().join("lifeboat-fuzz");
    fs::create_dir_all(&parent).unwrap();
    tempfile::tempdir_in(parent).unwrap()
}

const CODECS: [Compression; 4] = [
    Compression::None,
    Compression::Gzip,
    Compression::Zstd,
    Compression::Bzip2,
];

fn key() -> DataKey {
    DataKey([0x5a; 32])
}

/// A change to a valid input: flip bytes, cut it short, or add to its end.
#[derive(Debug, Clone)]
enum Mutation {
    /// XOR the byte at `pos % len` with a non-zero value.
    Flip(usize, u8),
    /// Keep the first `pos % len` bytes.
    Truncate(usize),
    Append(Vec<u8>),
    /// Overwrite from `pos % len` with these bytes.
    Splice(usize, Vec<u8>),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        4 => (any::<usize>(), 1u8..=255).prop_map(|(p, x)| Mutation::Flip(p, x)),
        2 => any::<usize>().prop_map(Mutation::Truncate),
        1 => vec(any::<u8>(), 1..64).prop_map(Mutation::Append),
        1 => (any::<usize>(), vec(any::<u8>(), 1..16)).prop_map(|(p, b)| Mutation::Splice(p, b)),
    ]
}

/// Apply `muts` to `data`; true when the bytes changed.
fn mutate(data: &mut Vec<u8>, muts: &[Mutation]) -> bool {
    let before = data.clone();
    for m in muts {
        match m {
            Mutation::Flip(p, x) if !data.is_empty() => {
                let i = p % data.len();
                data[i] ^= x;
            }
            Mutation::Truncate(p) if !data.is_empty() => data.truncate(p % data.len()),
            Mutation::Append(b) => data.extend_from_slice(b),
            Mutation::Splice(p, b) if !data.is_empty() => {
                let i = p % data.len();
                let end = (i + b.len()).min(data.len());
                data[i..end].copy_from_slice(&b[..end - i]);
            }
            _ => {}
        }
    }
    *data != before
}

// ------------------------------------------------------------ archive stream

/// Seal `plain` as the pipeline does: compress, then encrypt with `dk`.
fn seal(plain: &[u8], codec: Compression, dk: Option<&DataKey>, segment: u32) -> Vec<u8> {
    let level = codec.default_level();
    match dk {
        None => {
            let mut c = Compressor::new(Vec::new(), codec, level, 1).unwrap();
            c.write_all(plain).unwrap();
            c.finish().unwrap()
        }
        Some(dk) => {
            let enc = EncryptWriter::new(Vec::new(), dk, segment).unwrap();
            let mut c = Compressor::new(enc, codec, level, 1).unwrap();
            c.write_all(plain).unwrap();
            c.finish().unwrap().finish().unwrap()
        }
    }
}

/// Read a stored stream back through `open_stream_from` with `max` as the
/// manifest's size, in small reads, checking the bound as it goes.
fn read_stream(
    stored: Vec<u8>,
    codec: Compression,
    dk: Option<&DataKey>,
    max: u64,
) -> Result<Vec<u8>, Error> {
    let path = Path::new("/repo/fuzz/payload");
    let mut r = open_stream_from(Cursor::new(stored), codec, dk, Some(max))?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match r.read(&mut buf) {
            Ok(0) => return Ok(out),
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                assert!(
                    out.len() as u64 <= max,
                    "{codec}: reader produced {} bytes, more than the {max} allowed",
                    out.len()
                );
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(stream_read_error(path, e)),
        }
    }
}

/// Bad stored bytes must read as damaged data, with a hint, never as a
/// disk failure or anything else.
fn assert_damaged(e: &Error, what: &str) {
    assert_eq!(e.kind, ErrorKind::Integrity, "{what}: {}", e.message);
    assert!(e.hint.is_some(), "{what}: no hint in {:?}", e.message);
}

fn plaintext() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        vec(any::<u8>(), 0..20_000),
        // Compressible: codecs take their longer paths (matches, repeats).
        (vec(any::<u8>(), 1..40), 0usize..60_000).prop_map(|(unit, n)| unit
            .iter()
            .copied()
            .cycle()
            .take(n)
            .collect()),
    ]
}

proptest! {
    #![proptest_config(cases())]

    /// Random bytes as a stored stream, every codec, plain and encrypted.
    #[test]
    fn fuzz_stream_random_bytes(
        codec in select(&CODECS[..]),
        encrypted in any::<bool>(),
        stored in vec(any::<u8>(), 0..8192),
        max in 0u64..100_000,
    ) {
        let dk = encrypted.then(key);
        match read_stream(stored, codec, dk.as_ref(), max) {
            Ok(out) => {
                // Only an unauthenticated stream can decode at all.
                prop_assert!(!encrypted, "random bytes passed authentication");
                prop_assert!(out.len() as u64 <= max);
            }
            Err(e) => assert_damaged(&e, &format!("{codec} encrypted={encrypted}")),
        }
    }

    /// Valid streams, then mutated: intact ones read back exactly, damaged
    /// encrypted ones always fail, and nothing yields more than its size.
    #[test]
    fn fuzz_stream_mutated(
        codec in select(&CODECS[..]),
        encrypted in any::<bool>(),
        segment in select(vec![16u32, 1000, SEGMENT_SIZE]),
        plain in plaintext(),
        muts in vec(mutation(), 0..4),
    ) {
        let dk = encrypted.then(key);
        let mut stored = seal(&plain, codec, dk.as_ref(), segment);
        let changed = mutate(&mut stored, &muts);
        let max = plain.len() as u64;
        match read_stream(stored, codec, dk.as_ref(), max) {
            Ok(out) if !changed => prop_assert!(out == plain, "{codec}: intact stream read back differently"),
            Ok(out) => {
                prop_assert!(!encrypted, "{codec}: a changed encrypted stream authenticated");
                prop_assert!(out.len() as u64 <= max);
            }
            Err(e) => {
                prop_assert!(changed, "{codec}: intact stream failed: {}", e.message);
                assert_damaged(&e, &format!("{codec} encrypted={encrypted}"));
            }
        }
    }
}

// ------------------------------------------------------------------ manifest

/// A manifest as lifeboat writes one (built as JSON so that fields added
/// later with defaults do not break this harness).
fn manifest_json() -> Vec<u8> {
    let v = serde_json::json!({
        "format": crate::archive::manifest::MANIFEST_FORMAT,
        "id": "fs-20261126-050000",
        "type": "filesystem",
        "name": null,
        "kind": "incremental",
        "parent_id": "fs-20261125-050000",
        "created_at": "2026-11-26T05:00:00Z",
        "finished_at": "2026-11-26T05:01:00.123456789Z",
        "created_by": "lifeboat@host",
        "tool_version": "0.1.0",
        "source": {"paths": ["/srv/panel/uploads"]},
        "compression": "zstd",
        "compression_level": 3,
        "encrypted": false,
        "segment_size": null,
        "key": null,
        "payload": {"file": "fs_backup_20261126_050000.tar.zst", "size": 10,
                    "stored_size": 20, "sha256": "00".repeat(32)},
        "index": {"file": "fs_backup_20261126_050000.index.zst", "size": 3,
                  "stored_size": 4, "sha256": "11".repeat(32)},
        "files": {"files": 2, "dirs": 1, "symlinks": 0, "bytes": 10, "stored": 2, "unchanged": 1, "deleted": 0},
        "database": null,
        "warnings": ["café: changed while it was read"],
        "mac": null
    });
    serde_json::to_vec_pretty(&v).unwrap()
}

fn check_manifest(bytes: &[u8], intact: bool) -> Result<(), TestCaseError> {
    let tmp = scratch();
    let path = tmp.path().join("x.manifest.json");
    fs::write(&path, bytes).unwrap();
    match read_manifest(&path) {
        Ok(m) => {
            // Whatever parses must survive its own round trip.
            let again: crate::archive::manifest::Manifest =
                serde_json::from_slice(&m.to_json_pretty()).unwrap();
            prop_assert_eq!(again, m);
        }
        Err(e) => {
            prop_assert!(!intact, "intact manifest refused: {}", e.message);
            prop_assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.message);
            prop_assert!(
                e.message.contains(&path.display().to_string()),
                "{}",
                e.message
            );
            prop_assert!(e.hint.is_some());
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn fuzz_manifest_random_bytes(bytes in vec(any::<u8>(), 0..2048)) {
        check_manifest(&bytes, false)?;
    }

    #[test]
    fn fuzz_manifest_mutated(muts in vec(mutation(), 0..4)) {
        let mut bytes = manifest_json();
        let changed = mutate(&mut bytes, &muts);
        check_manifest(&bytes, !changed)?;
    }
}

// ---------------------------------------------------------------- file index

fn index_entry() -> impl Strategy<Value = IndexEntry> {
    let name = vec(select(vec!["a", "b", "c d", "é", "x\u{7f}"]), 1..4)
        .prop_map(|parts| parts.join("/").into_bytes());
    let raw_name = vec(any::<u8>(), 1..12).prop_filter("no slash", |b| !b.contains(&b'/'));
    (
        prop_oneof![3 => name, 1 => raw_name],
        select(vec![
            EntryKind::File,
            EntryKind::Dir,
            EntryKind::Symlink,
            EntryKind::Deleted,
        ]),
        any::<u32>(),
        any::<u64>(),
        any::<i64>(),
        proptest::option::of(vec(any::<u8>(), 0..20)),
        any::<bool>(),
    )
        .prop_map(|(path, kind, mode, size, mtime, link, stored)| IndexEntry {
            path,
            kind,
            mode,
            uid: mode.rotate_left(7),
            gid: mode.rotate_left(13),
            size,
            mtime_ns: mtime,
            ctime_ns: mtime.wrapping_add(1),
            ino: size.rotate_left(3),
            dev: 7,
            link_target: link,
            sha256: Some("ab".repeat(32)),
            xattr_sha256: None,
            stored,
            hard_link: None,
            nlink: 0,
            sparse: false,
            sparse_data: 0,
        })
}

/// Read a whole index; returns the entries and the error that ended it.
fn read_index(bytes: &[u8]) -> (Vec<IndexEntry>, Option<Error>) {
    let mut entries = Vec::new();
    let mut reader = IndexReader::new(bytes);
    for e in reader.by_ref() {
        match e {
            Ok(e) => entries.push(e),
            Err(e) => {
                // After an error the reader stops.
                return (entries, Some(e));
            }
        }
    }
    (entries, None)
}

fn assert_index_error(e: &Error) {
    assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.message);
    assert!(e.message.starts_with("file index line "), "{}", e.message);
    assert!(e.hint.is_some());
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn fuzz_index_random_bytes(bytes in vec(any::<u8>(), 0..4096)) {
        let lines = bytes.split(|b| *b == b'\n').count();
        let (entries, err) = read_index(&bytes);
        prop_assert!(entries.len() <= lines);
        if let Some(e) = err {
            assert_index_error(&e);
        }
    }

    /// A valid index (random entries in walk order), then mutated.
    #[test]
    fn fuzz_index_mutated(
        mut list in vec(index_entry(), 0..20),
        muts in vec(mutation(), 0..4),
    ) {
        list.sort_by(|a, b| crate::sources::filesystem::path_cmp(&a.path, &b.path));
        list.dedup_by(|a, b| a.path == b.path);
        let mut w = IndexWriter::new(Vec::new());
        for e in &list {
            w.write(e).unwrap();
        }
        let mut bytes = w.finish().unwrap();
        let changed = mutate(&mut bytes, &muts);
        let (entries, err) = read_index(&bytes);
        if !changed {
            prop_assert!(err.is_none(), "intact index refused: {:?}", err.map(|e| e.message));
            prop_assert_eq!(entries, list);
        } else {
            let lines = bytes.split(|b| *b == b'\n').count();
            prop_assert!(entries.len() <= lines);
            if let Some(e) = err {
                assert_index_error(&e);
            }
        }
    }
}

// ------------------------------------------------------------ tar extraction

/// A sandbox: the destination `box/dest`, and `outside`, which must stay
/// empty whatever the archive says.
struct Sandbox {
    _tmp: tempfile::TempDir,
    root: PathBuf,
    dest: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let tmp = scratch();
        let root = fs::canonicalize(tmp.path()).unwrap();
        let outside = root.join("outside");
        fs::create_dir(&outside).unwrap();
        fs::create_dir(root.join("box")).unwrap();
        Sandbox {
            dest: root.join("box/dest"),
            outside,
            root,
            _tmp: tmp,
        }
    }

    /// Nothing landed outside the destination: `outside` is empty and the
    /// sandbox holds only `box/dest` and `outside` (and the source tree
    /// when one was backed up there).
    fn assert_contained(&self) {
        let out: Vec<_> = fs::read_dir(&self.outside).unwrap().collect();
        assert!(out.is_empty(), "written outside the destination: {out:?}");
        for e in fs::read_dir(&self.root).unwrap() {
            let name = e.unwrap().file_name();
            assert!(
                ["box", "outside", "src"].contains(&name.to_str().unwrap_or("")),
                "written outside the destination: {name:?}"
            );
        }
        for e in fs::read_dir(self.root.join("box")).unwrap() {
            assert_eq!(
                e.unwrap().file_name(),
                "dest",
                "written beside the destination"
            );
        }
    }

    /// No temp file of the extraction is left behind.
    fn assert_no_temp_files(&self) {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for e in rd.flatten() {
                let p = e.path();
                if e.file_name().to_string_lossy().starts_with(".lifeboat-") {
                    found.push(p.clone());
                }
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    walk(&p, found);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.dest, &mut found);
        assert!(found.is_empty(), "temp files left: {found:?}");
    }
}

/// Errors an extraction may end with on hostile or damaged input.
fn assert_extract_error(e: &Error) {
    assert!(
        matches!(e.kind, ErrorKind::Refused | ErrorKind::Integrity),
        "unexpected {:?}: {}",
        e.kind,
        e.message
    );
    assert!(e.hint.is_some() || !e.message.is_empty());
}

/// One entry of a hand-made (possibly hostile) tar.
#[derive(Debug, Clone)]
struct RawEntry {
    name: Vec<u8>,
    type_byte: u8,
    mode: u32,
    link: Vec<u8>,
    data: Vec<u8>,
    /// Also write a PAX header with these records (key, value).
    pax: Vec<(String, Vec<u8>)>,
    /// The index lies about this entry's size or hash.
    index_lies: bool,
}

/// `@OUT` in a generated name or link target stands for the sandbox's
/// `outside` directory, known only once the sandbox exists.
fn resolve(bytes: &[u8], outside: &Path) -> Vec<u8> {
    let out = outside.as_os_str().as_encoded_bytes();
    let mut r = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i..].starts_with(b"@OUT") {
            r.extend_from_slice(out);
            i += 4;
        } else {
            r.push(bytes[i]);
            i += 1;
        }
    }
    r
}

fn raw_entry_strategy() -> impl Strategy<Value = RawEntry> {
    // Mostly names a backup could hold, so that entries get past the name
    // check and later ones can try to write through what earlier ones made
    // (`a` a symlink to outside, then `a/x`); then escapes spelled out; then
    // anything from the pieces.
    let plain = vec(select(vec!["a", "b", "x"]), 1..4).prop_map(|p| p.join("/").into_bytes());
    let escape = select(vec![
        "..",
        "../x",
        "../../outside/x",
        "a/../../x",
        "a/../../../outside/x",
        "@OUT/x",
        "/x",
        "/",
        "./a",
        "a//b",
        "a/./b",
        "a/",
        "a/..",
        "",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    let component = select(vec!["a", "b", "..", ".", "", "@OUT", "outside", "x"]);
    let pieces = (any::<bool>(), vec(component, 1..5)).prop_map(|(abs, parts)| {
        let n = parts.join("/");
        if abs {
            format!("/{n}").into_bytes()
        } else {
            n.into_bytes()
        }
    });
    let name = prop_oneof![5 => plain, 2 => escape, 2 => pieces];
    let link = select(vec![
        "a",
        "b/c",
        "../a",
        "../../outside",
        "../../../outside",
        "@OUT",
        "@OUT/x",
        "/",
        "a/../..",
        "",
        ".",
        "..",
    ])
    .prop_map(|s| s.as_bytes().to_vec());
    let type_byte = prop_oneof![
        6 => select(vec![b'0', b'5', b'2']),
        1 => select(vec![b'1', b'3', b'4', b'6', b'7', b'L', b'K', b'S', b'g', b'x']),
        1 => any::<u8>(),
    ];
    let pax_record = (
        select(vec![
            "path",
            "linkpath",
            "size",
            "uid",
            "gid",
            "mtime",
            "SCHILY.xattr.user.a",
            "SCHILY.xattr.trusted.b",
            "SCHILY.xattr.system.nfs4_acl",
            "SCHILY.acl.access",
        ]),
        select(vec![
            "a",
            "../x",
            "@OUT/p",
            "0",
            "1",
            "5",
            "99999999999",
            "-1",
            "1.5",
            "",
            "v\n20 path=@OUT/p\n",
            "\0\n",
        ]),
    )
        .prop_map(|(k, v)| (k.to_string(), v.as_bytes().to_vec()));
    (
        name,
        type_byte,
        select(vec![0o644u32, 0o755, 0o4755, 0o2755, 0o1777, 0o000]),
        link,
        vec(any::<u8>(), 0..600),
        vec(pax_record, 0..3),
        proptest::bool::weighted(0.1),
    )
        .prop_map(
            |(name, type_byte, mode, link, data, pax, index_lies)| RawEntry {
                name,
                type_byte,
                mode,
                link,
                data,
                pax,
                index_lies,
            },
        )
}

fn pax_record(out: &mut Vec<u8>, key: &str, value: &[u8]) {
    let body = key.len() + value.len() + 3;
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key.as_bytes());
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

fn block(tar: &mut Vec<u8>, h: &Header, data: &[u8]) {
    tar.extend_from_slice(h.as_bytes());
    tar.extend_from_slice(data);
    tar.resize(tar.len().div_ceil(512) * 512, 0);
}

/// Build the tar byte for byte (no sanitizing) and an index that agrees
/// with it, unless an entry asks the index to lie.
fn hostile_archive(entries: &[RawEntry], outside: &Path) -> (Vec<u8>, Vec<IndexEntry>) {
    use sha2::Digest;
    let mut tar = Vec::new();
    let mut index = Vec::new();
    for e in entries {
        let name = resolve(&e.name, outside);
        let link = resolve(&e.link, outside);
        let data: &[u8] = if e.type_byte == b'0' { &e.data } else { &[] };
        if !e.pax.is_empty() {
            let mut pax = Vec::new();
            for (k, v) in &e.pax {
                pax_record(&mut pax, k, &resolve(v, outside));
            }
            let mut ph = Header::new_ustar();
            ph.set_entry_type(EntryType::XHeader);
            ph.as_old_mut().name[..9].copy_from_slice(b"PaxHeader");
            ph.set_mode(0o644);
            ph.set_size(pax.len() as u64);
            ph.set_cksum();
            block(&mut tar, &ph, &pax);
        }
        let mut h = Header::new_gnu();
        let n = name.len().min(100);
        h.as_old_mut().name[..n].copy_from_slice(&name[..n]);
        let l = link.len().min(100);
        h.as_old_mut().linkname[..l].copy_from_slice(&link[..l]);
        h.set_entry_type(EntryType::new(e.type_byte));
        h.set_mode(e.mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_cksum();
        block(&mut tar, &h, data);

        let mut path = name.clone();
        while path.len() > 1 && path.last() == Some(&b'/') {
            path.pop();
        }
        let mut idx = IndexEntry::deleted(path);
        idx.kind = match e.type_byte {
            b'5' => EntryKind::Dir,
            b'2' => EntryKind::Symlink,
            b'6' => EntryKind::Fifo,
            _ => EntryKind::File,
        };
        idx.stored = true;
        idx.mode = e.mode;
        if idx.kind == EntryKind::File {
            idx.size = data.len() as u64 + u64::from(e.index_lies);
            idx.sha256 = Some(hex::encode(sha2::Sha256::digest(data)));
            // Every file is one inode with two names, so a hard-link
            // member naming an earlier file of the archive gets as far as
            // being linked.
            (idx.dev, idx.ino, idx.nlink) = (1, 1, 2);
        }
        if e.type_byte == b'1' {
            idx.hard_link = Some(link.clone());
            let earlier = index
                .iter()
                .rev()
                .find(|p: &&IndexEntry| p.path == link && p.kind == EntryKind::File);
            if let Some(p) = earlier {
                (idx.size, idx.sha256) = (p.size, p.sha256.clone());
            }
        }
        if idx.kind == EntryKind::Symlink {
            idx.link_target = Some(link);
        }
        // The index records the attributes the tar carries (a hostile
        // archive's index is as hostile as its tar).
        let xattrs: Vec<_> = e
            .pax
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("SCHILY.xattr.")?;
                Some((name.as_bytes().to_vec(), resolve(v, outside)))
            })
            .collect();
        idx.xattr_sha256 = crate::sources::filesystem::xattrs::digest(&xattrs);
        index.push(idx);
    }
    tar.extend_from_slice(&[0u8; 1024]);
    (tar, index)
}

fn run_extract(
    tar: &[u8],
    index: Vec<IndexEntry>,
    dest: &Path,
    fresh: bool,
) -> crate::error::Result<crate::sources::filesystem::ExtractOutcome> {
    let cancel = AtomicBool::new(false);
    let opts = ExtractOptions {
        fresh_target: fresh,
        ..ExtractOptions::default()
    };
    extract_with(
        tar,
        &mut index.into_iter().map(Ok),
        &Dest::Under(dest.to_path_buf()),
        &|_, _| {},
        &cancel,
        opts,
    )
}

/// A small real tree for `backup_tree`: files, directories and relative
/// symlinks that stay inside it.
#[derive(Debug, Clone)]
enum TreeItem {
    File(Vec<u8>),
    Dir,
    Link(&'static str),
}

fn tree_strategy() -> impl Strategy<Value = Vec<(String, TreeItem)>> {
    let name = vec(select(vec!["a", "b", "c d", "e"]), 1..4).prop_map(|p| p.join("/"));
    let item = prop_oneof![
        4 => vec(any::<u8>(), 0..3000).prop_map(TreeItem::File),
        1 => Just(TreeItem::Dir),
        1 => select(vec!["a", "b", "missing"]).prop_map(TreeItem::Link),
    ];
    vec((name, item), 1..10)
}

fn build_tree(src: &Path, items: &[(String, TreeItem)]) {
    fs::create_dir_all(src).unwrap();
    for (name, item) in items {
        let p = src.join(name);
        // Skip what the tree's shape does not allow (a file in the way).
        if fs::create_dir_all(p.parent().unwrap()).is_err() || fs::symlink_metadata(&p).is_ok() {
            continue;
        }
        match item {
            TreeItem::File(data) => fs::write(&p, data).unwrap(),
            TreeItem::Dir => fs::create_dir(&p).unwrap(),
            TreeItem::Link(t) => std::os::unix::fs::symlink(t, &p).unwrap(),
        }
    }
}

proptest! {
    #![proptest_config(cases())]

    /// Hand-made tars with hostile names, types, links and PAX records,
    /// their index agreeing: whatever is refused or accepted, nothing lands
    /// outside the destination and no temp file is left.
    #[test]
    fn fuzz_extract_hostile_tar(
        entries in vec(raw_entry_strategy(), 1..8),
        muts in vec(mutation(), 0..2),
        fresh in any::<bool>(),
    ) {
        let sb = Sandbox::new();
        let (mut tar, index) = hostile_archive(&entries, &sb.outside);
        mutate(&mut tar, &muts);
        if let Err(e) = run_extract(&tar, index, &sb.dest, fresh) {
            assert_extract_error(&e);
        }
        sb.assert_contained();
        sb.assert_no_temp_files();
    }

    /// Real backups of random trees, then the tar or the index damaged:
    /// intact ones restore and verify, damaged ones fail cleanly or restore
    /// only what the index vouches for.
    #[test]
    fn fuzz_extract_mutated_backup(
        tree in tree_strategy(),
        tar_muts in vec(mutation(), 0..3),
        index_muts in vec(mutation(), 0..2),
        fresh in any::<bool>(),
    ) {
        let sb = Sandbox::new();
        let src = sb.root.join("src");
        build_tree(&src, &tree);
        let cancel = AtomicBool::new(false);
        let spec = WalkSpec { roots: vec![src.clone()], ..Default::default() };
        let (_, mut tar, mut index) =
            backup_tree(&spec, None, Vec::new(), Vec::new(), &|_, _| {}, &cancel).unwrap();
        let changed = mutate(&mut tar, &tar_muts) | mutate(&mut index, &index_muts);
        let (entries, index_err) = read_index(&index);
        if let Some(e) = &index_err {
            prop_assert!(changed, "intact index refused: {}", e.message);
            assert_index_error(e);
        }
        let result = run_extract(&tar, entries.clone(), &sb.dest, fresh);
        sb.assert_contained();
        sb.assert_no_temp_files();
        match result {
            Ok(_) if index_err.is_none() => {
                // Whatever was accepted matches the index it was checked against.
                let check = verify_tree(&mut entries.into_iter().map(Ok), &Dest::Under(sb.dest.clone())).unwrap();
                prop_assert!(check.problems.is_empty(), "accepted but differs: {:?}", check.problems);
            }
            Ok(_) => {}
            Err(e) => {
                prop_assert!(changed, "intact backup failed to restore: {}", e.message);
                assert_extract_error(&e);
            }
        }
    }
}

// -------------------------------------------------------------------- config

/// Values an operator (or a damaged file) might put anywhere.
fn toml_value() -> impl Strategy<Value = String> {
    select(vec![
        "0",
        "1",
        "-1",
        "22",
        "4294967296",
        "9223372036854775807",
        "-9223372036854775808",
        "1e400",
        "nan",
        "inf",
        "1.5",
        "true",
        "\"\"",
        "\"zstd\"",
        "\"gzip\"",
        "\"none\"",
        "\"lz4\"",
        "\"auto\"",
        "\"/\"",
        "\"../..\"",
        "\"\\u0000\"",
        "\"0 2 * * *\"",
        "\"* * * * * * *\"",
        "\"1h\"",
        "\"0s\"",
        "\"-5m\"",
        "\"99999999999d\"",
        "\"Europe/Berlin\"",
        "\"Mars/Base\"",
        "[]",
        "[1, \"a\"]",
        "{}",
        "{ a = 1 }",
        "1979-05-27T07:32:00Z",
        "\"a@b\"",
        "\"@\"",
    ])
    .prop_map(str::to_string)
}

/// A config file line: mostly `key = value` with keys from the real file.
fn toml_line(keys: Vec<String>) -> impl Strategy<Value = String> {
    prop_oneof![
        6 => (select(keys), toml_value()).prop_map(|(k, v)| format!("{k} = {v}")),
        1 => select(vec![
            "[compression]", "[retention]", "[retention.database]", "[schedule]",
            "[schedule.all]", "[health]", "[health.rpo_minutes]", "[sources.filesystem]",
            "[[x]]", "[", "[a.b.c.d.e]", "a.b.c = 1",
        ])
        .prop_map(str::to_string),
        1 => vec(0x20u8..0x7f, 0..40).prop_map(|b| String::from_utf8(b).unwrap()),
    ]
}

const EXAMPLE: &str = include_str!("../../../config.example.toml");

/// Key names of the example config, so mutations hit real settings.
fn example_keys() -> Vec<String> {
    let mut keys: Vec<String> = EXAMPLE
        .lines()
        .filter_map(|l| l.trim_start_matches('#').trim().split_once('='))
        .map(|(k, _)| k.trim().to_string())
        .filter(|k| !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'))
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

fn check_config(text: &str, env: &[(&str, String)]) -> Result<(), TestCaseError> {
    let tmp = scratch();
    let path = tmp.path().join("lifeboat.toml");
    fs::write(&path, text).unwrap();
    let env = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
    match Config::load(Some(&path), &env, tmp.path()) {
        Ok(c) => {
            // A loaded config is complete: the level fits the algorithm.
            let (lo, hi) = c.compression.algorithm.level_range();
            prop_assert!(
                (lo..=hi).contains(&c.compression.level),
                "{:?}",
                c.compression
            );
        }
        Err(e) => {
            prop_assert_eq!(e.kind, ErrorKind::Usage, "{}", e.message);
            prop_assert!(!e.message.is_empty());
            prop_assert!(e.hint.is_some(), "no hint: {}", e.message);
        }
    }
    Ok(())
}

fn env_overrides() -> impl Strategy<Value = Vec<(&'static str, String)>> {
    let name = select(vec![
        "BACKUP_COMPRESSION",
        "LIFEBOAT_COMPRESSION_LEVEL",
        "LIFEBOAT_ENCRYPT",
        "MAX_BACKUP_AGE_HOURS",
        "LIFEBOAT_REPOSITORY",
    ]);
    let value = select(vec![
        "zstd", "gz", "none", "22", "0", "-1", "x", "", "true", "auto", "1",
    ])
    .prop_map(str::to_string);
    vec((name, value), 0..3)
}

proptest! {
    #![proptest_config(cases())]

    #[test]
    fn fuzz_config_random_text(
        text in vec(any::<char>(), 0..300).prop_map(String::from_iter),
        env in env_overrides(),
    ) {
        check_config(&text, &env)?;
    }

    /// The example config with lines replaced, added and removed.
    #[test]
    fn fuzz_config_mutated_example(
        edits in vec((any::<usize>(), toml_line(example_keys()), 0u8..3), 1..6),
        env in env_overrides(),
    ) {
        let mut lines: Vec<String> = EXAMPLE.lines().map(str::to_string).collect();
        for (pos, line, op) in edits {
            let i = pos % lines.len().max(1);
            match op {
                0 if !lines.is_empty() => lines[i] = line,
                1 => lines.insert(i.min(lines.len()), line),
                _ if !lines.is_empty() => { lines.remove(i); }
                _ => {}
            }
        }
        check_config(&lines.join("\n"), &env)?;
    }
}

#[test]
fn intact_example_config_loads() {
    // The positive control for the config harnesses.
    check_config(EXAMPLE, &[]).unwrap();
    let tmp = scratch();
    let path = tmp.path().join("lifeboat.toml");
    fs::write(&path, EXAMPLE).unwrap();
    Config::load(Some(&path), &|_| None, tmp.path()).unwrap();
}

#[test]
fn intact_manifest_sample_reads() {
    check_manifest(&manifest_json(), true).unwrap();
}

#[test]
fn oversized_manifest_is_refused_without_reading_it_whole() {
    let tmp = scratch();
    let path = tmp.path().join("big.manifest.json");
    // Sparse: 100 MiB that cost no disk.
    fs::File::create(&path).unwrap().set_len(100 << 20).unwrap();
    let e = read_manifest(&path).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.message);
    assert!(e.message.contains("larger than 64 MiB"), "{}", e.message);
}

#[test]
fn index_line_without_end_is_refused_at_its_cap() {
    // A damaged index that is one endless line: refused after a bounded
    // read, not buffered whole.
    let endless = io::BufReader::new(io::repeat(b'a').take(64 << 20));
    let mut r = IndexReader::new(endless);
    let e = r.next().unwrap().unwrap_err();
    assert_index_error(&e);
    assert!(e.message.contains("longer than 256 KiB"), "{}", e.message);
    assert!(r.next().is_none(), "the reader stops after the error");
}

/// Found by `fuzz_extract_hostile_tar`: a file `x`, then a directory `x/x`.
/// The file went to a writer thread while the loop created directory `x`
/// for `x/x`; the restore failed with "inspect x/x: Not a directory" (an
/// I/O error, as if the disk were at fault) or raced further.
#[test]
fn file_then_entry_beneath_it_is_refused() {
    for (second, kind) in [
        (b'5', EntryKind::Dir),
        (b'0', EntryKind::File),
        (b'2', EntryKind::Symlink),
    ] {
        let sb = Sandbox::new();
        let entry = |name: &str, type_byte: u8| RawEntry {
            name: name.as_bytes().to_vec(),
            type_byte,
            mode: 0o644,
            link: b"a".to_vec(),
            data: vec![b'd'; 300_000],
            pax: Vec::new(),
            index_lies: false,
        };
        let (tar, index) = hostile_archive(&[entry("x", b'0'), entry("x/x", second)], &sb.outside);
        assert_eq!(index[1].kind, kind);
        let e = run_extract(&tar, index, &sb.dest, false).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Refused, "{kind:?}: {}", e.message);
        assert!(
            e.message
                .contains("x is a file or symlink in this archive, not a directory"),
            "{kind:?}: {}",
            e.message
        );
        sb.assert_contained();
        sb.assert_no_temp_files();
    }
}

#[test]
fn entries_out_of_walk_order_are_refused() {
    let sb = Sandbox::new();
    let entry = |name: &str| RawEntry {
        name: name.as_bytes().to_vec(),
        type_byte: b'0',
        mode: 0o644,
        link: Vec::new(),
        data: b"d".to_vec(),
        pax: Vec::new(),
        index_lies: false,
    };
    let (tar, index) = hostile_archive(&[entry("b"), entry("a")], &sb.outside);
    let e = run_extract(&tar, index, &sb.dest, false).unwrap_err();
    assert_eq!(e.kind, ErrorKind::Integrity, "{}", e.message);
    assert!(
        e.message
            .contains("archive entry a comes after b, out of order"),
        "{}",
        e.message
    );
}
