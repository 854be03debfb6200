//! Shared helpers for the integration tests: a sandbox with its own config,
//! repository, catalog and key, and the real `lifeboat` binary run in a
//! separate process.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

/// A temp directory holding an app tree, a config file and all lifeboat state.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
    pub app: PathBuf,
    pub config: PathBuf,
    pub repo: PathBuf,
    pub catalog: PathBuf,
    pub key: PathBuf,
}

impl Sandbox {
    /// A sandbox whose filesystem source is `app/{uploads,logs}` and whose
    /// configuration source is `app/config.py` + `app/.env`.
    pub fn new() -> Sandbox {
        Self::with_extra_config("")
    }

    pub fn with_extra_config(extra: &str) -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        let app = root.join("app");
        fs::create_dir_all(app.join("uploads")).unwrap();
        fs::create_dir_all(app.join("logs")).unwrap();
        let sb = Sandbox {
            app: app.clone(),
            config: root.join("lifeboat.toml"),
            repo: root.join("repo"),
            catalog: root.join("state/catalog.db"),
            key: root.join("keys/lifeboat.key"),
            dir,
        };
        sb.write_config(extra);
        sb
    }

    pub fn write_config(&self, extra: &str) {
        let text = format!(
            r#"[repository]
path = "{repo}"
[catalog]
path = "{catalog}"
[encryption]
key_file = "{key}"
[sources.filesystem]
paths = ["{app}/uploads", "{app}/logs"]
[sources.configuration]
files = ["{app}/config.py"]
env_files = ["{app}/.env"]
{extra}
"#,
            repo = self.repo.display(),
            catalog = self.catalog.display(),
            key = self.key.display(),
            app = self.app.display(),
        );
        fs::write(&self.config, text).unwrap();
    }

    /// The real binary with this sandbox's config, a clean environment for
    /// the variables lifeboat reads, and the sandbox as working directory.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        c.arg("--config")
            .arg(&self.config)
            .current_dir(self.dir.path());
        for v in [
            "LIFEBOAT_CONFIG",
            "LIFEBOAT_REPOSITORY",
            "LIFEBOAT_CATALOG",
            "LIFEBOAT_KEY_FILE",
            "LIFEBOAT_ENCRYPT",
            "LIFEBOAT_COMPRESSION_LEVEL",
            "BACKUP_COMPRESSION",
            "RUST_LOG",
        ] {
            c.env_remove(v);
        }
        c
    }

    /// Run with these args; returns the output whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Run and require exit code 0; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "lifeboat {args:?} failed with {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Run with `--json` and parse stdout.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = vec!["--json"];
        a.extend_from_slice(args);
        let out = self.ok(&a);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Run, require failure with `code`, return stderr.
    pub fn fails(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        assert_eq!(
            out.status.code(),
            Some(code),
            "lifeboat {args:?}: expected exit {code}\nstdout:\n{}\nstderr:\n{stderr}",
            String::from_utf8_lossy(&out.stdout)
        );
        stderr
    }

    pub fn generate_key(&self) {
        self.ok(&["key", "generate"]);
    }

    /// Take a backup and return its JSON report.
    pub fn backup(&self, t: &str, extra: &[&str]) -> serde_json::Value {
        let mut a = vec!["backup", "--type", t];
        a.extend_from_slice(extra);
        self.json(&a)
    }

    /// Files under the repository (recursively), excluding the audit log.
    pub fn repo_files(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk(&self.repo, &mut |p| {
            if !p.starts_with(self.repo.join("audit")) {
                out.push(p.to_path_buf())
            }
        });
        out.sort();
        out
    }

    /// Where a restore under `target` puts the absolute path `p`.
    pub fn under(target: &Path, p: &Path) -> PathBuf {
        target.join(p.strip_prefix("/").unwrap())
    }
}

/// Call `f` for every regular file and symlink under `dir`.
pub fn walk(dir: &Path, f: &mut dyn FnMut(&Path)) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let ft = e.file_type().unwrap();
        if ft.is_dir() {
            walk(&p, f);
        } else {
            f(&p);
        }
    }
}

/// Relative path (as bytes, hex-escaped when not UTF-8) -> a description of
/// the entry (kind, mode, content hash or link target). Two trees with equal
/// maps are equal byte for byte.
pub fn checksum_tree(root: &Path) -> BTreeMap<String, String> {
    use std::os::unix::fs::PermissionsExt;
    let mut map = BTreeMap::new();
    fn rec(root: &Path, dir: &Path, map: &mut BTreeMap<String, String>) {
        for e in fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let rel = p.strip_prefix(root).unwrap();
            let key = String::from_utf8(rel.as_os_str().as_bytes().to_vec())
                .unwrap_or_else(|_| format!("hex:{}", hex::encode(rel.as_os_str().as_bytes())));
            let meta = fs::symlink_metadata(&p).unwrap();
            let mode = meta.permissions().mode() & 0o7777;
            if meta.file_type().is_symlink() {
                map.insert(
                    key,
                    format!("link -> {}", fs::read_link(&p).unwrap().display()),
                );
            } else if meta.is_dir() {
                map.insert(key, format!("dir {mode:o}"));
                rec(root, &p, map);
            } else {
                map.insert(key, format!("file {mode:o} {}", sha256_file(&p)));
            }
        }
    }
    rec(root, root, &mut map);
    map
}

pub fn sha256_file(p: &Path) -> String {
    let mut f = fs::File::open(p).unwrap();
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    hex::encode(h.finalize())
}

/// Deterministic pseudo-random bytes.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// Fill the sandbox app with a small but varied tree.
pub fn populate(app: &Path) {
    use std::os::unix::fs::symlink;
    let up = app.join("uploads");
    fs::create_dir_all(up.join("avatars")).unwrap();
    fs::create_dir_all(up.join("docs/empty")).unwrap();
    for i in 0..30 {
        fs::write(
            up.join(format!("avatars/u{i}.json")),
            format!("{{\"user\":{i}}}\n").repeat(i + 1),
        )
        .unwrap();
    }
    fs::write(up.join("docs/photo.png"), noise(300_000, 7)).unwrap();
    fs::write(
        up.join("docs/report.txt"),
        "quarterly report\n".repeat(5000),
    )
    .unwrap();
    symlink("photo.png", up.join("docs/latest.png")).unwrap();
    fs::write(app.join("logs/panel.log"), "GET /api 200\n".repeat(20_000)).unwrap();
    fs::write(app.join("config.py"), "DEBUG = False\n").unwrap();
    fs::write(app.join(".env"), "PANEL_SECRET_KEY=s3cr3t-value\n").unwrap();
}

// ---- helpers added for the integration suites ----

/// Text of stdout + stderr, for message assertions.
pub fn all_text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// `id` of a backup report / list row.
pub fn id_of(v: &serde_json::Value) -> String {
    v["id"].as_str().expect("id").to_string()
}

/// Payload path of a backup report / list row.
pub fn file_of(v: &serde_json::Value) -> PathBuf {
    PathBuf::from(v["file"].as_str().expect("file"))
}

/// The manifest sidecar of a payload.
pub fn manifest_of(payload: &Path) -> PathBuf {
    PathBuf::from(format!("{}.manifest.json", payload.display()))
}

pub fn read_json(p: &Path) -> serde_json::Value {
    serde_json::from_slice(&fs::read(p).unwrap()).unwrap()
}

pub fn write_json(p: &Path, v: &serde_json::Value) {
    fs::write(p, serde_json::to_vec_pretty(v).unwrap()).unwrap();
}

pub fn sha256_bytes(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// Flip one bit of the byte at `pos`.
pub fn flip_byte(p: &Path, pos: usize) {
    let mut b = fs::read(p).unwrap();
    b[pos] ^= 0x01;
    fs::write(p, b).unwrap();
}

/// True when `dir` does not exist or holds no regular file or symlink.
pub fn no_files_under(dir: &Path) -> bool {
    let mut n = 0;
    walk(dir, &mut |_| n += 1);
    n == 0
}

/// Files in the repository whose name looks like an artifact, a manifest,
/// an index or a partial write (anything but the audit log).
pub fn artifact_like_files(sb: &Sandbox) -> Vec<PathBuf> {
    sb.repo_files()
        .into_iter()
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            n.contains("backup") || n.contains(".partial") || n.contains(".tar")
        })
        .collect()
}

/// `.partial` files anywhere in the repository.
pub fn partial_files(sb: &Sandbox) -> Vec<PathBuf> {
    sb.repo_files()
        .into_iter()
        .filter(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .contains(".partial")
        })
        .collect()
}

impl Sandbox {
    /// Run, require failure with `code`, return stdout + stderr (some verbs,
    /// like `verify`, report problems on stdout).
    pub fn fails_all(&self, args: &[&str], code: i32) -> String {
        let out = self.run(args);
        let text = all_text(&out);
        assert_eq!(
            out.status.code(),
            Some(code),
            "lifeboat {args:?}: expected exit {code}\n{text}"
        );
        text
    }
}

// ---- helpers for the job and recovery suites ----

/// Write `mb` MiB of incompressible random data under `dir` as files of
/// 4 MiB each (so progress moves and safe points come often).
/// Configuration that makes a backup of a [`big_tree`] last seconds in a
/// debug build, so another process can act while it runs. Since segment
/// encryption moved to ring, 48 MiB at the default level take 0.2 s; a
/// high zstd level is real work, not a test hook.
pub const SLOW_COMPRESSION: &str = "[compression]\nalgorithm = \"zstd\"\nlevel = 16\n";

pub fn big_tree(dir: &Path, mb: usize) {
    use std::io::Read as _;
    fs::create_dir_all(dir).unwrap();
    let mut rnd = fs::File::open("/dev/urandom").unwrap();
    let chunk = 4 << 20;
    let mut left = mb << 20;
    let mut i = 0;
    while left > 0 {
        let n = left.min(chunk);
        let mut buf = vec![0u8; n];
        rnd.read_exact(&mut buf).unwrap();
        fs::write(dir.join(format!("blob{i:03}.bin")), buf).unwrap();
        left -= n;
        i += 1;
    }
}

/// Poll `f` every 100 ms until it returns `Some`, or panic after `secs`.
pub fn wait_for<T>(secs: u64, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {secs}s waiting for {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

/// Wait for a child process with a generous "did not hang" bound; kills it
/// and panics on timeout. Returns the exit status and stdout + stderr.
pub fn wait_child(
    mut child: std::process::Child,
    secs: u64,
    what: &str,
) -> (std::process::ExitStatus, String) {
    use std::io::Read as _;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    // Drain the pipes on threads so a chatty child cannot block.
    let mut out = child.stdout.take();
    let mut err = child.stderr.take();
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(o) = out.as_mut() {
            let _ = o.read_to_string(&mut s);
        }
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        if let Some(e) = err.as_mut() {
            let _ = e.read_to_string(&mut s);
        }
        s
    });
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {secs}s");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let text = format!("{}\n{}", t_out.join().unwrap(), t_err.join().unwrap());
    (status, text)
}

impl Sandbox {
    /// Start lifeboat with these args in the background, output piped.
    pub fn spawn(&self, args: &[&str]) -> std::process::Child {
        self.cmd()
            .args(args)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `status --json`: the recent jobs.
    pub fn jobs(&self) -> Vec<serde_json::Value> {
        self.json(&["status"]).as_array().expect("job list").clone()
    }

    /// One job with its log (`status ID --json`).
    pub fn job(&self, id: i64) -> serde_json::Value {
        self.json(&["status", &id.to_string()])
    }

    /// The first running job of `kind`, once it appears.
    pub fn wait_running(&self, kind: &str, secs: u64) -> serde_json::Value {
        wait_for(secs, &format!("a running {kind} job"), || {
            self.jobs()
                .into_iter()
                .find(|j| j["kind"] == kind && j["state"] == "running")
        })
    }
}

/// The PostgreSQL test server's URL with another database name.
pub fn pg_url_for(db: &str) -> String {
    let u = std::env::var("LIFEBOAT_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_string());
    let no_query = u.split('?').next().unwrap();
    let (scheme, rest) = no_query.split_once("://").unwrap();
    let base = match rest.find('/') {
        Some(i) => &rest[..i],
        None => rest,
    };
    format!("{scheme}://{base}/{db}")
}

/// A small tmpfs mounted for a disk-full test; unmounted when dropped,
/// however the test ends.
pub struct SmallDisk(pub PathBuf);

impl SmallDisk {
    /// Mount a `size` tmpfs (e.g. "2m") at `dir`; None when this process
    /// may not mount (not root), so the caller can skip and say why.
    pub fn mount(dir: &Path, size: &str) -> Option<SmallDisk> {
        fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| SmallDisk(dir.to_path_buf()))
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}
