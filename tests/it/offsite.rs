//! Offsite copies through the real binary: an S3 emulator (moto) per test,
//! started on a free port and killed when the test ends; a server that
//! never answers; a local target on a full disk; configuration mistakes.
//!
//! Without `moto_server` the S3 tests are skipped, unless
//! `LIFEBOAT_REQUIRE_S3=1` (then they fail). Credentials go to the child
//! processes only, never into this process's environment.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Output, Stdio};

use crate::common::*;
use lifeboat_engine::sources::database::testing::{test_server, unique_name};
use lifeboat_engine::sources::database::{ConnInfo, Pg};
use serde_json::Value;

/// Its name holds "bucket", as real names do: an error about one object
/// must not read as "the bucket does not exist".
const BUCKET: &str = "offsite-bucket";
/// The secret key every child gets: no output may ever show it.
const SECRET: &str = "sekrit-XYZ-5f1e";
/// A target's tuning for the tests that expect it to work.
pub(crate) const QUICK: &str = "timeout_seconds = 10\nretry_seconds = 5\n";

// ------------------------------------------------------------ the harness

/// One moto S3 emulator (in memory): its own port, killed on drop.
struct Moto {
    child: Child,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

impl Moto {
    /// A fresh emulator holding an empty `BUCKET`; None (the test is
    /// skipped) when moto is not installed.
    fn start() -> Option<Moto> {
        if !Moto::installed() {
            return None;
        }
        let m = Moto::on(free_port(), &[]);
        m.create_bucket(BUCKET);
        Some(m)
    }

    /// Whether moto is there; says why the test is skipped when not.
    fn installed() -> bool {
        let have = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !have {
            if std::env::var("LIFEBOAT_REQUIRE_S3").is_ok_and(|v| v == "1") {
                panic!("moto is required (LIFEBOAT_REQUIRE_S3=1): pip install 'moto[server]'");
            }
            println!("skipped: moto_server is not installed (pip install 'moto[server]')");
        }
        have
    }

    /// moto on `port` with these extra environment variables.
    fn on(port: u16, env: &[(&str, &str)]) -> Moto {
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_for(30, "moto to listen", || {
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        Moto { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// A request as the test's user: moto without auth takes the identity
    /// the Authorization header claims and checks no signature (an
    /// anonymous request may not replace an object). Status and body.
    fn http(&self, method: &str, path: &str, body: &[u8]) -> (u16, String) {
        self.http_with(method, path, &[], body)
    }

    /// [`Moto::http`] with extra request headers.
    fn http_with(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        let extra: String = headers
            .iter()
            .map(|(k, v)| format!("{k}: {v}\r\n"))
            .collect();
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=0\r\n{extra}Content-Type: application/octet-stream\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            self.port,
            body.len()
        );
        s.write_all(head.as_bytes()).unwrap();
        s.write_all(body).unwrap();
        let mut resp = Vec::new();
        s.read_to_end(&mut resp).unwrap();
        let text = String::from_utf8_lossy(&resp).into_owned();
        let code = text.split(' ').nth(1).and_then(|c| c.parse().ok());
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (code.unwrap_or(0), body.to_string())
    }

    fn create_bucket(&self, bucket: &str) {
        let (code, body) = self.http("PUT", &format!("/{bucket}"), b"");
        assert_eq!(code, 200, "create bucket {bucket}: {body}");
    }

    /// Replace (PUT) or remove (DELETE) an object behind lifeboat's back.
    fn change(&self, method: &str, key: &str, bytes: &[u8]) {
        let (code, body) = self.http(method, &format!("/{BUCKET}/{key}"), bytes);
        assert!(matches!(code, 200 | 204), "{method} {key}: {code} {body}");
    }

    /// Every object in `BUCKET`: key -> size.
    fn objects(&self) -> BTreeMap<String, u64> {
        let (code, body) = self.http("GET", &format!("/{BUCKET}?list-type=2"), b"");
        assert_eq!(code, 200, "{body}");
        let between =
            |s: &str, a: &str, b: &str| s.split(a).nth(1)?.split(b).next().map(String::from);
        body.split("<Contents>")
            .skip(1)
            .map(|c| {
                let key = between(c, "<Key>", "</Key>").expect("key");
                let size = between(c, "<Size>", "</Size>").expect("size");
                (key, size.parse().unwrap())
            })
            .collect()
    }
}

/// A `[[targets]]` entry named `offsite` (prefix `lb/`) at `endpoint`.
fn s3_target(endpoint: &str, bucket: &str, tuning: &str) -> String {
    format!(
        "[[targets]]\nname = \"offsite\"\nkind = \"s3\"\nbucket = \"{bucket}\"\nprefix = \"lb/\"\nregion = \"us-east-1\"\nendpoint = \"{endpoint}\"\n{tuning}"
    )
}

/// The binary with test credentials (and no other `AWS_*` of ours).
fn lb(sb: &Sandbox, args: &[&str]) -> Command {
    let mut c = sb.cmd();
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("AWS_") {
            c.env_remove(k);
        }
    }
    c.env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", SECRET)
        .args(args)
        .stdin(Stdio::null());
    c
}

/// Run; exit code and stdout + stderr, which never shows the secret.
fn run(sb: &Sandbox, args: &[&str]) -> (Option<i32>, String) {
    let out: Output = lb(sb, args).output().unwrap();
    let text = all_text(&out);
    assert!(
        !text.contains(SECRET),
        "lifeboat {args:?} shows the secret:\n{text}"
    );
    (out.status.code(), text)
}

fn expect(sb: &Sandbox, args: &[&str], code: i32) -> String {
    let (got, text) = run(sb, args);
    assert_eq!(got, Some(code), "lifeboat {args:?}:\n{text}");
    text
}

/// `--json ARGS`: exit code and the parsed stdout.
fn json_code(sb: &Sandbox, args: &[&str]) -> (i32, Value) {
    let out = lb(sb, &[&["--json"], args].concat()).output().unwrap();
    let text = all_text(&out);
    assert!(!text.contains(SECRET), "{text}");
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}:\n{text}"));
    (out.status.code().unwrap(), v)
}

fn json_ok(sb: &Sandbox, args: &[&str]) -> Value {
    let (code, v) = json_code(sb, args);
    assert_eq!(code, 0, "lifeboat {args:?}: {v}");
    v
}

fn spawn(sb: &Sandbox, args: &[&str]) -> Child {
    lb(sb, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The element of a JSON list whose `key` is `val`.
pub(crate) fn find<'a>(list: &'a Value, key: &str, val: &str) -> &'a Value {
    let items = list
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {list}"));
    let found = items.iter().find(|v| v[key] == val);
    found.unwrap_or_else(|| panic!("no {key} = {val} in {list}"))
}

/// The copy record of backup `id` on target `offsite` (`copies --all`).
fn copy_of(sb: &Sandbox, id: &str) -> Value {
    let (_, st) = json_code(sb, &["copies", "--all"]);
    find(
        &find(&st["backups"], "id", id)["targets"],
        "target",
        "offsite",
    )
    .clone()
}

fn state(sb: &Sandbox, id: &str) -> String {
    copy_of(sb, id)["state"].as_str().unwrap().to_string()
}

fn list_ids(sb: &Sandbox) -> Vec<String> {
    let list = json_ok(sb, &["list"]);
    let mut ids: Vec<String> = list.as_array().unwrap().iter().map(id_of).collect();
    ids.sort();
    ids
}

/// `backup --all` ids, type -> id.
pub(crate) fn all_ids(report: &Value) -> BTreeMap<String, String> {
    report["types"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["type"].as_str().unwrap().into(), id_of(&t["backups"][0])))
        .collect()
}

/// What the bucket must hold: every repository file under `lb/`, same size,
/// and the audit log.
fn assert_bucket_mirrors_repo(moto: &Moto, sb: &Sandbox) {
    assert_objects_mirror_repo(moto.objects(), sb);
}

/// `objects` (key -> size, from any store) are every repository file under
/// `lb/`, same size, and the audit log.
pub(crate) fn assert_objects_mirror_repo(objects: BTreeMap<String, u64>, sb: &Sandbox) {
    let mut want: BTreeMap<String, u64> = sb
        .repo_files()
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".publish.lock"))
        .map(|p| {
            let rel = p.strip_prefix(&sb.repo).unwrap().to_str().unwrap();
            (format!("lb/{rel}"), fs::metadata(p).unwrap().len())
        })
        .collect();
    assert!(want.keys().any(|k| k.ends_with(".manifest.json")));
    let audit = objects.get("lb/audit/audit.jsonl").copied();
    assert!(audit.is_some_and(|n| n > 0), "no audit log: {objects:?}");
    want.insert("lb/audit/audit.jsonl".into(), audit.unwrap());
    assert_eq!(objects, want);
}

/// Remove the repository and the catalog (its whole state directory).
pub(crate) fn lose_repo_and_catalog(sb: &Sandbox) {
    fs::remove_dir_all(&sb.repo).unwrap();
    fs::remove_dir_all(sb.catalog.parent().unwrap()).unwrap();
}

// ------------------------------------------------------------ round trip

#[test]
fn backups_are_copied_to_s3_counted_and_verified() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), BUCKET, QUICK));
    populate(&sb.app);
    sb.generate_key();

    let all = json_ok(&sb, &["backup", "--all"]);
    assert_eq!(all["ok"], true, "{all}");
    let ids = all_ids(&all);
    assert_eq!(
        ids.keys().collect::<Vec<_>>(),
        ["configuration", "filesystem"]
    );
    for t in all["types"].as_array().unwrap() {
        let b = &t["backups"][0];
        assert_eq!(b["copy_error"], Value::Null, "{b}");
        let c = &b["copies"].as_array().unwrap()[..];
        assert_eq!(c.len(), 1, "{b}");
        assert_eq!(c[0]["target"], "offsite");
        assert_eq!(c[0]["state"], "copied");
        assert_eq!(c[0]["already_there"], false);
        assert!(c[0]["bytes"].as_u64().unwrap() > 0, "{b}");
    }
    assert_bucket_mirrors_repo(&moto, &sb);

    // Each type's newest backup has its copy and meets the policy (the
    // repository and the bucket: 2 of 2), but not 3-2-1 (2 of 3 copies).
    let st = json_ok(&sb, &["copies"]);
    assert_eq!(st["targets"][0]["name"], "offsite");
    assert_eq!(st["targets"][0]["location"], format!("s3://{BUCKET}/lb/"));
    assert_eq!(st["targets"][0]["offsite"], true);
    for (t, id) in &ids {
        let v = find(&st["types"], "type", t);
        assert_eq!(v["newest"], id.as_str(), "{v}");
        assert_eq!((&v["copies"], &v["required"]), (&2.into(), &2.into()));
        assert_eq!((&v["media"], &v["offsite"]), (&2.into(), &1.into()));
        assert_eq!(v["meets_policy"], true);
        assert_eq!(v["meets_3_2_1"], false);
        assert_eq!(v["verdict"], "3-2-1 not met: 2 of 3 copies", "{v}");
        assert_eq!(state(&sb, id), "copied");
    }
    expect(&sb, &["copies"], 0);

    // --verify reads each copy back: nothing is sent again.
    let r = json_ok(&sb, &["copy", "--verify"]);
    assert_eq!(r["ok"], true);
    let copies = r["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 2, "{r}");
    for c in copies {
        assert_eq!(
            (&c["state"], &c["already_there"]),
            (&"verified".into(), &true.into())
        );
        assert_eq!(c["bytes"], 0);
    }
    for id in ids.values() {
        let c = copy_of(&sb, id);
        assert_eq!(c["state"], "verified");
        assert!(c["verified_at"].is_string(), "{c}");
    }
    assert_bucket_mirrors_repo(&moto, &sb);
}

// ------------------------------------------------------------ disaster recovery

/// A uniquely named database, dropped with the test (see tests/it/recover.rs).
struct Db {
    admin: ConnInfo,
    name: String,
}

fn connect(info: &ConnInfo) -> Pg {
    Pg::connect(info, std::time::Duration::from_secs(10)).unwrap()
}

impl Drop for Db {
    fn drop(&mut self) {
        let _ = connect(&self.admin).drop_database(&self.name);
    }
}

#[test]
fn the_bucket_alone_brings_back_catalog_files_and_database() {
    let Some(moto) = Moto::start() else { return };
    let Some(admin) = test_server() else { return };
    let db = Db {
        name: unique_name("lb_off"),
        admin,
    };
    connect(&db.admin).create_database(&db.name, None).unwrap();
    connect(&db.admin.with_db(&db.name))
        .execute(
            "CREATE TABLE orders (id int PRIMARY KEY, item text); \
             INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 321) g;",
        )
        .unwrap();
    let sb = Sandbox::with_extra_config(&format!(
        "[sources.database]\nurl = \"{}\"\n{}",
        pg_url_for(&db.name),
        s3_target(&moto.endpoint(), BUCKET, QUICK)
    ));
    populate(&sb.app);
    sb.generate_key();
    let app_before = checksum_tree(&sb.app);
    let all = json_ok(&sb, &["backup", "--all"]);
    assert_eq!(all["ok"], true, "{all}");
    let ids = all_ids(&all);
    assert_eq!(ids.len(), 3, "{all}");
    let listed = list_ids(&sb);
    assert_bucket_mirrors_repo(&moto, &sb);

    // The catalog alone, rebuilt from the bucket.
    lose_repo_and_catalog(&sb);
    let text = expect(&sb, &["catalog", "rebuild", "--from", "offsite"], 0);
    assert!(
        text.contains("from target 'offsite': fetched 3 backup(s)"),
        "{text}"
    );
    assert!(!text.contains("not used"), "{text}");
    assert_eq!(list_ids(&sb), listed);
    assert_bucket_mirrors_repo(&moto, &sb);

    // The database's files lost from the repository: restores stream it
    // from the bucket, plain and parallel (spooled), and pull nothing.
    let dump = sb.repo.join("database");
    for f in fs::read_dir(&dump).unwrap() {
        fs::remove_file(f.unwrap().path()).unwrap();
    }
    for jobs in ["1", "2"] {
        let copy = Db {
            name: format!("{}_from_bucket_{jobs}", db.name),
            admin: db.admin.clone(),
        };
        let text = expect(
            &sb,
            &[
                "restore",
                "--type",
                "database",
                "--id",
                &ids["database"],
                "--target-db",
                &copy.name,
                "--jobs",
                jobs,
            ],
            0,
        );
        assert!(text.contains("from target 'offsite'"), "{text}");
        assert_eq!(
            connect(&db.admin.with_db(&copy.name))
                .query_one_i64("SELECT count(*) FROM orders")
                .unwrap(),
            321
        );
    }
    assert_eq!(fs::read_dir(&dump).unwrap().count(), 0);

    // The disaster: repository, catalog, application and database gone.
    lose_repo_and_catalog(&sb);
    fs::remove_dir_all(&sb.app).unwrap();
    connect(&db.admin).drop_database(&db.name).unwrap();
    let (code, text) = run(&sb, &["recover", "--from", "offsite", "--yes"]);
    assert_eq!(code, Some(0), "{text}");
    assert!(text.contains("every type restored and verified"), "{text}");
    // The recovery's report says the backups came from the bucket.
    let report = fs::read_dir(sb.catalog.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("recovery-"))
        .expect("a recovery report");
    let md = fs::read_to_string(report).unwrap();
    assert!(
        md.contains(&format!(
            "## Source: target 'offsite' (s3, s3://{BUCKET}/lb/)"
        )) && md.contains(": 3 fetched ("),
        "{md}"
    );
    assert_eq!(checksum_tree(&sb.app), app_before);
    assert_eq!(
        connect(&db.admin.with_db(&db.name))
            .query_one_i64("SELECT count(*) FROM orders")
            .unwrap(),
        321
    );
    assert_eq!(list_ids(&sb), listed);
    // What came from the bucket was checked on the way: a verified copy.
    for id in ids.values() {
        assert_eq!(state(&sb, id), "verified", "{id}");
    }
    expect(&sb, &["copies"], 0);
}

// ------------------------------------------------------------ tampering

#[test]
fn a_copy_altered_in_the_bucket_is_found_and_never_pulled() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), BUCKET, QUICK));
    populate(&sb.app);
    sb.generate_key();
    let all = json_ok(&sb, &["backup", "--all"]);
    let ids = all_ids(&all);
    let (fs_id, conf_id) = (&ids["filesystem"], &ids["configuration"]);
    let fs_row = json_ok(&sb, &["show", fs_id]);
    let payload = file_of(&fs_row);
    let name = payload.file_name().unwrap().to_str().unwrap().to_string();

    // Same size, other bytes: only reading it back can tell.
    let mut bytes = fs::read(&payload).unwrap();
    for b in bytes.iter_mut().skip(100).step_by(997) {
        *b ^= 0x5a;
    }
    moto.change("PUT", &format!("lb/filesystem/{name}"), &bytes);

    let text = expect(&sb, &["copy", fs_id, "--verify"], 4);
    assert!(text.contains("altered"), "{text}");
    assert!(text.contains(&format!("filesystem/{name}")), "{text}");
    assert!(text.contains("target 'offsite'"), "{text}");
    let c = copy_of(&sb, fs_id);
    assert_eq!(c["state"], "missing", "{c}");
    assert!(c["error"].as_str().unwrap().contains("altered"), "{c}");
    // The type is below its policy now; the other type is not touched.
    let (code, st) = json_code(&sb, &["copies"]);
    assert_eq!(code, 1, "{st}");
    assert_eq!(
        find(&st["types"], "type", "filesystem")["meets_policy"],
        false
    );
    expect(&sb, &["copy", conf_id, "--verify"], 0);
    assert_eq!(state(&sb, conf_id), "verified");

    // Pulled back after a loss: the altered backup is refused, not imported.
    lose_repo_and_catalog(&sb);
    let text = expect(&sb, &["catalog", "rebuild", "--from", "offsite"], 0);
    assert!(
        text.contains("fetched 1 backup(s)"),
        "only the configuration backup: {text}"
    );
    let refused = text
        .lines()
        .find(|l| l.contains("not used:"))
        .unwrap_or_else(|| panic!("no 'not used' line:\n{text}"));
    assert!(
        refused.contains(&name) && refused.contains("altered"),
        "{text}"
    );
    assert_eq!(list_ids(&sb), vec![conf_id.clone()]);
    assert!(
        no_files_under(&sb.repo.join("filesystem")),
        "nothing of the altered backup is in the repository"
    );

    // An object gone from the bucket: that backup is not used either, and
    // the reason names the object, not the bucket.
    let conf = file_of(&json_ok(&sb, &["show", conf_id]));
    let conf = conf.file_name().unwrap().to_str().unwrap();
    moto.change("DELETE", &format!("lb/configuration/{conf}.index"), b"");
    lose_repo_and_catalog(&sb);
    let text = expect(&sb, &["catalog", "rebuild", "--from", "offsite"], 1);
    assert!(text.contains("holds no usable backup"), "{text}");
    let line = text
        .lines()
        .find(|l| l.contains("not used:") && l.contains(conf))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(
        line.contains(&format!("configuration/{conf}.index on target 'offsite'")),
        "{line}"
    );
    assert!(line.contains("it does not exist"), "{line}");
    assert!(!line.contains("bucket does not exist"), "{line}");
}

// ------------------------------------------------------------ failures

/// A backup whose copy fails: committed locally and listed, the command
/// says COPY FAILED and exits 1, `copies` shows the copy failed and exits
/// 1. Returns the command's text and the copy's recorded error.
fn backup_with_failed_copy(sb: &Sandbox) -> (String, String) {
    let text = expect(sb, &["backup", "--type", "configuration"], 1);
    assert!(text.contains("COPY FAILED"), "{text}");
    let list = json_ok(sb, &["list"]);
    assert_eq!(list.as_array().unwrap().len(), 1, "committed: {list}");
    assert_eq!(list[0]["status"], "succeeded", "{list}");
    let c = copy_of(sb, &id_of(&list[0]));
    assert_eq!(c["state"], "failed", "{c}");
    let copies = expect(sb, &["copies"], 1);
    assert!(copies.contains("offsite: failed"), "{copies}");
    // The job list says so too, without the secret.
    let jobs = json_ok(sb, &["status"]);
    let copy_job = find(&jobs, "kind", "copy");
    assert_eq!(copy_job["state"], "failed", "{copy_job}");
    let detail = json_ok(sb, &["status", &copy_job["id"].to_string()]);
    assert!(!detail.to_string().contains(SECRET));
    (text, c["error"].as_str().unwrap().to_string())
}

#[test]
fn a_missing_bucket_fails_the_copy_not_the_backup() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), "no-such-bucket", QUICK));
    populate(&sb.app);
    sb.generate_key();
    let (text, error) = backup_with_failed_copy(&sb);
    for t in [&text, &error] {
        assert!(t.contains("target 'offsite'"), "{t}");
        assert!(t.contains("the bucket does not exist"), "{t}");
        assert!(t.contains("s3://no-such-bucket/lb/"), "{t}");
    }
    assert!(moto.objects().is_empty(), "nothing went to the real bucket");
}

#[test]
fn wrong_credentials_say_access_denied_and_show_no_secret() {
    if !Moto::installed() {
        return;
    }
    // moto checks credentials from the first request on.
    let moto = Moto::on(free_port(), &[("INITIAL_NO_AUTH_ACTION_COUNT", "0")]);
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), BUCKET, QUICK));
    populate(&sb.app);
    sb.generate_key();
    let (text, error) = backup_with_failed_copy(&sb);
    for t in [&text, &error] {
        assert!(t.contains("target 'offsite'"), "{t}");
        assert!(t.contains("access denied"), "{t}");
        assert!(
            t.contains("AWS_ACCESS_KEY_ID"),
            "the hint says what to set: {t}"
        );
    }
}

#[test]
fn a_server_that_dies_mid_upload_fails_the_copy_and_a_later_copy_completes() {
    let Some(mut moto) = Moto::start() else {
        return;
    };
    // Parts of 5 MiB, one at a time, at 8 MiB/s: ~60 MiB take seconds.
    let tuning = "part_size_mb = 5\nconcurrency = 1\nbandwidth_limit_mb = 8\ntimeout_seconds = 3\nretry_seconds = 2\n";
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), BUCKET, tuning));
    populate(&sb.app);
    big_tree(&sb.app.join("uploads/big"), 60);
    sb.generate_key();

    let child = spawn(&sb, &["backup", "--type", "filesystem"]);
    let job = wait_for(180, "the copy job to be sending", || {
        sb.jobs().into_iter().find(|j| {
            j["kind"] == "copy"
                && j["state"] == "running"
                && j["bytes_done"].as_u64().is_some_and(|n| n > 0)
        })
    });
    assert!(
        job["bytes_done"].as_u64() < job["bytes_total"].as_u64(),
        "mid-upload: {job}"
    );
    moto.stop();
    let (status, text) = wait_child(child, 120, "the backup with a dead target");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("COPY FAILED"), "{text}");
    assert!(text.contains("target 'offsite'"), "{text}");
    assert!(!text.contains(SECRET));
    let ids = list_ids(&sb);
    assert_eq!(ids.len(), 1, "the backup is committed: {text}");
    let id = &ids[0];
    assert_eq!(state(&sb, id), "failed");
    let copy_job = sb.job(job["id"].as_i64().unwrap());
    assert_eq!(copy_job["state"], "failed", "{copy_job}");

    // The same endpoint comes back (empty, as after a failover).
    let moto = Moto::on(moto.port, &[]);
    moto.create_bucket(BUCKET);
    let r = json_ok(&sb, &["copy"]);
    let c = &r["copies"].as_array().unwrap()[..];
    assert_eq!(c.len(), 1, "{r}");
    assert_eq!(
        (&c[0]["backup_id"], &c[0]["state"]),
        (&id.as_str().into(), &"copied".into())
    );
    assert_eq!(c[0]["already_there"], false, "{r}");
    assert_bucket_mirrors_repo(&moto, &sb);
    let r = json_ok(&sb, &["copy", "--verify"]);
    assert_eq!(r["copies"][0]["state"], "verified", "{r}");
    assert_eq!(state(&sb, id), "verified");
    let (_, st) = json_code(&sb, &["copies"]);
    assert_eq!(st["types"][0]["type"], "filesystem", "{st}");
    assert_eq!(st["types"][0]["meets_policy"], true, "{st}");
}

#[test]
fn a_server_that_never_answers_fails_the_copy_in_bounded_time() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let b = sb.backup("configuration", &[]);
    // Accepts connections, reads nothing, answers nothing; on a port whose
    // digits hold "403", which must not make a timeout read as a 403.
    let hang = (40300..40400)
        .find_map(|p| TcpListener::bind(("127.0.0.1", p)).ok())
        .unwrap_or_else(|| TcpListener::bind("127.0.0.1:0").unwrap());
    let endpoint = format!("http://{}", hang.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in hang.incoming().flatten() {
            held.push(s);
        }
    });
    sb.write_config(&s3_target(
        &endpoint,
        BUCKET,
        "timeout_seconds = 2\nretry_seconds = 2\n",
    ));
    let child = spawn(&sb, &["copy"]);
    let (status, text) = wait_child(child, 60, "a copy to a server that never answers");
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("1 of 1 copies failed"), "{text}");
    assert!(text.contains("target 'offsite'"), "{text}");
    assert!(text.contains("operation timed out"), "{text}");
    assert!(
        text.contains("check that the target is reachable"),
        "{text}"
    );
    assert!(!text.contains("access denied"), "{text}");
    assert_eq!(state(&sb, &id_of(&b)), "failed");
}

#[test]
fn a_full_target_disk_fails_the_copy_and_says_so() {
    let sb = Sandbox::new();
    let disk = sb.dir.path().join("usb");
    let Some(_mounted) = SmallDisk::mount(&disk, "1m") else {
        println!("skipped: cannot mount a tmpfs here (needs root)");
        return;
    };
    sb.write_config(&format!(
        "[[targets]]\nname = \"offsite\"\nkind = \"local\"\npath = \"{}\"\n",
        disk.display()
    ));
    populate(&sb.app);
    big_tree(&sb.app.join("uploads/big"), 3);
    sb.generate_key();
    let text = expect(&sb, &["backup", "--type", "filesystem"], 1);
    assert!(text.contains("COPY FAILED"), "{text}");
    assert!(text.contains("target 'offsite'"), "{text}");
    assert!(text.contains("the target is full or over quota"), "{text}");
    let ids = list_ids(&sb);
    assert_eq!(ids.len(), 1);
    let c = copy_of(&sb, &ids[0]);
    assert_eq!(c["state"], "failed", "{c}");
    assert!(c["error"].as_str().unwrap().contains("full"), "{c}");
    let mut committed = 0;
    walk(&disk, &mut |p| {
        committed += p.to_string_lossy().ends_with(".manifest.json") as usize
    });
    assert_eq!(committed, 0, "no copy was committed on the full disk");
}

// ------------------------------------------------------------ configuration

#[test]
fn target_mistakes_are_configuration_errors_and_no_credential_is_shown() {
    let sb = Sandbox::new();
    let s3 = |more: &str| {
        format!("[[targets]]\nname = \"offsite\"\nkind = \"s3\"\nbucket = \"b-offsite\"\n{more}")
    };
    let no_bucket = "[[targets]]\nname = \"offsite\"\nkind = \"s3\"\n";
    let nope = "[copies.database]\ntargets = [\"nope\"]\n";
    let userinfo = "endpoint = \"https://admin:hunter2@s3.example.com\"\n";
    for (extra, says) in [
        (s3("") + &s3(""), "two targets are named 'offsite'"),
        (
            no_bucket.to_string(),
            "target 'offsite' (s3) needs a bucket",
        ),
        (
            s3("") + nope,
            "names target 'nope', which is not configured",
        ),
        (
            s3(userinfo),
            "target 'offsite': the endpoint holds credentials",
        ),
    ] {
        sb.write_config(&extra);
        let text = expect(&sb, &["config"], 2);
        assert!(text.contains(says), "{extra}\n---\n{text}");
        assert!(!text.contains("hunter2"), "{text}");
    }

    sb.write_config(&s3("endpoint = \"https://s3.example.com\"\n"));
    let out = lb(&sb, &["config"])
        .env("AWS_ACCESS_KEY_ID", "AKIDOFFSITE7731")
        .env("AWS_SESSION_TOKEN", "tok-offsite-9913")
        .output()
        .unwrap();
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    for shown in [
        "[[targets]]",
        "name = \"offsite\"",
        "bucket = \"b-offsite\"",
        "https://s3.example.com",
    ] {
        assert!(text.contains(shown), "{shown} missing:\n{text}");
    }
    for secret in [SECRET, "AKIDOFFSITE7731", "tok-offsite-9913"] {
        assert!(!text.contains(secret), "{secret} shown:\n{text}");
    }
}

// ------------------------------------------------------------ drift, prune, append-only

/// The object key of a file of a backup report on target `offsite` (`lb/`).
fn key_of(backup: &Value, suffix: &str) -> String {
    let file = file_of(backup);
    let name = file.file_name().unwrap().to_string_lossy().into_owned();
    format!("lb/configuration/{name}{suffix}")
}

fn configuration_backups(sb: &Sandbox, n: usize) -> Vec<Value> {
    (0..n)
        .map(|i| {
            std::fs::write(sb.app.join("config.py"), format!("VERSION = {i}\n")).unwrap();
            let b = json_ok(sb, &["backup", "--type", "configuration"]);
            assert_eq!(b["copy_error"], Value::Null, "{b}");
            b
        })
        .collect()
}

fn prune_later(sb: &Sandbox) -> String {
    let now = (chrono::Utc::now() + chrono::Duration::days(3)).to_rfc3339();
    let out = lb(sb, &["prune", "--yes", "--force"])
        .env("LIFEBOAT_NOW", now)
        .output()
        .unwrap();
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    text
}

const PRUNE_ALL_BUT_NEWEST: &str =
    "[retention]\nmin_keep = 1\n[retention.configuration]\nkeep_days = 1\n";

#[test]
fn drift_is_reported_never_mended_and_prune_takes_copies_along() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&format!(
        "{}{PRUNE_ALL_BUT_NEWEST}",
        s3_target(&moto.endpoint(), BUCKET, QUICK)
    ));
    populate(&sb.app);
    sb.generate_key();
    let b = configuration_backups(&sb, 3);
    let ids: Vec<String> = b.iter().map(id_of).collect();

    // A clean bucket: the listing matches the catalog.
    let (code, v) = json_code(&sb, &["copies", "--check"]);
    assert_eq!(code, 0, "{v}");
    let c = &v["check"][0];
    assert_eq!(c["target"], "offsite");
    assert!(c["objects"].as_u64().unwrap() >= 6, "{c}");
    assert!(c["missing"].as_array().unwrap().is_empty(), "{c}");
    assert!(c["unclaimed"].as_array().unwrap().is_empty(), "{c}");

    // Behind lifeboat's back: a stray object appears and the second
    // backup's manifest goes.
    moto.change("PUT", "lb/configuration/stray.bin", b"not ours");
    moto.change("DELETE", &key_of(&b[1], ".manifest.json"), b"");
    let text = expect(&sb, &["copies", "--check"], 1);
    assert!(text.contains("MISSING"), "{text}");
    assert!(text.contains(&ids[1]), "{text}");
    assert!(text.contains("DRIFT    configuration/stray.bin"), "{text}");
    assert_eq!(state(&sb, &ids[1]), "missing");
    assert_eq!(state(&sb, &ids[0]), "copied");
    // Reported, never removed.
    assert!(moto.objects().contains_key("lb/configuration/stray.bin"));

    // `copy` sends what is missing, and only that.
    let r = json_ok(&sb, &["copy"]);
    let sent: Vec<&str> = r["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["backup_id"].as_str().unwrap())
        .collect();
    assert_eq!(sent, [ids[1].as_str()], "{r}");
    assert_eq!(state(&sb, &ids[1]), "copied");

    // Prune deletes the two older backups here and on the target.
    let text = prune_later(&sb);
    assert!(text.contains("pruned 2 backups"), "{text}");
    let objects = moto.objects();
    for old in &b[..2] {
        for suffix in ["", ".index", ".manifest.json"] {
            assert!(!objects.contains_key(&key_of(old, suffix)), "{objects:?}");
        }
    }
    assert!(
        objects.contains_key(&key_of(&b[2], ".manifest.json")),
        "{objects:?}"
    );
    assert!(objects.contains_key("lb/configuration/stray.bin"));
    let st = json_ok(&sb, &["copies", "--all"]);
    assert_eq!(st["backups"].as_array().unwrap().len(), 1, "{st}");
}

#[test]
fn an_append_only_target_under_object_lock_keeps_its_copies() {
    let Some(moto) = Moto::start() else { return };
    // The documented setup: a bucket with Object Lock and a default
    // retention; the backup host's target is append_only.
    let (code, body) = moto.http_with(
        "PUT",
        &format!("/{BUCKET}"),
        &[("x-amz-bucket-object-lock-enabled", "true")],
        b"",
    );
    assert_eq!(code, 200, "{body}");
    let rule = br#"<ObjectLockConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><ObjectLockEnabled>Enabled</ObjectLockEnabled><Rule><DefaultRetention><Mode>COMPLIANCE</Mode><Days>1</Days></DefaultRetention></Rule></ObjectLockConfiguration>"#;
    let (code, body) = moto.http_with("PUT", &format!("/{BUCKET}?object-lock"), &[], rule);
    assert_eq!(code, 200, "{body}");
    let sb = Sandbox::with_extra_config(&format!(
        "{}append_only = true\n{PRUNE_ALL_BUT_NEWEST}",
        s3_target(&moto.endpoint(), BUCKET, QUICK)
    ));
    populate(&sb.app);
    sb.generate_key();
    let b = configuration_backups(&sb, 2);
    let old = key_of(&b[0], "");
    assert!(moto.objects().contains_key(&old));

    // The lock holds: a version cannot be deleted before its retention ends.
    let (_, versions) = moto.http("GET", &format!("/{BUCKET}?versions"), b"");
    let version = versions
        .split("<Version>")
        .find(|v| v.contains(&format!("<Key>{old}</Key>")))
        .and_then(|v| v.split("<VersionId>").nth(1))
        .and_then(|v| v.split("</VersionId>").next())
        .unwrap_or_else(|| panic!("no version of {old}: {versions}"));
    let (code, body) = moto.http(
        "DELETE",
        &format!("/{BUCKET}/{old}?versionId={version}"),
        b"",
    );
    assert_eq!(code, 403, "a locked version was deleted: {body}");

    // Prune leaves the target alone and says so; the check calls the old
    // copy retained, not drift.
    let text = prune_later(&sb);
    assert!(text.contains("pruned 1 backups"), "{text}");
    let (_, log) = run(&sb, &["status"]);
    assert!(!log.contains("was not deleted"), "{log}");
    assert!(moto.objects().contains_key(&old));
    let (code, v) = json_code(&sb, &["copies", "--check"]);
    assert_eq!(code, 0, "{v}");
    let retained = v["check"][0]["retained"].as_array().unwrap();
    assert!(
        retained
            .iter()
            .any(|k| k.as_str() == old.strip_prefix("lb/")),
        "{v}"
    );
}

#[test]
fn the_daemon_sends_the_copies_a_target_missed() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&format!(
        "{}[schedule]\ntimezone = \"UTC\"\n[schedule.filesystem]\nevery = \"\"\n[schedule.configuration]\nevery = \"\"\n[schedule.all]\nfull = []\n",
        s3_target(&moto.endpoint(), "late-bucket", QUICK)
    ));
    populate(&sb.app);
    sb.generate_key();
    // The bucket is not there yet: the backup stands, its copy failed.
    let (_, _) = backup_with_failed_copy(&sb);
    let id = list_ids(&sb).remove(0);
    moto.create_bucket("late-bucket");
    let text = expect(&sb, &["daemon", "--once"], 0);
    assert!(
        text.contains("1 copies the [copies] policy asks for are missing"),
        "{text}"
    );
    assert_eq!(state(&sb, &id), "copied");
    // Nothing missing: the next pass queues nothing.
    let text = expect(&sb, &["daemon", "--once"], 0);
    assert!(!text.contains("are missing"), "{text}");
    let jobs = json_ok(&sb, &["status"]);
    let copy_jobs = jobs
        .as_array()
        .unwrap()
        .iter()
        .filter(|j| j["kind"] == "copy")
        .count();
    assert_eq!(
        copy_jobs, 2,
        "the backup's own copy job and the daemon's: {jobs}"
    );
}

#[test]
fn a_backup_the_repository_lost_is_read_from_its_copy_never_pulled() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), BUCKET, QUICK));
    populate(&sb.app);
    sb.generate_key();
    let b = configuration_backups(&sb, 4);
    let (lost, damaged, altered) = (&b[0], &b[1], &b[2]);
    let config = sb.app.join("config.py");
    // The first is lost whole; the second's payload is cut short.
    std::fs::remove_file(file_of(lost)).unwrap();
    std::fs::remove_file(manifest_of(&file_of(lost))).unwrap();
    let cut = std::fs::read(file_of(damaged)).unwrap();
    std::fs::write(file_of(damaged), &cut[..cut.len() / 2]).unwrap();

    // Verify streams the copy from the bucket, checks every byte, and
    // records the verdict on the copy; nothing lands in the repository.
    let text = expect(&sb, &["verify", &id_of(lost)], 0);
    assert!(
        text.contains(&format!(
            "reading backup {} from target 'offsite': the repository does not hold its payload",
            id_of(lost)
        )),
        "{text}"
    );
    assert!(!file_of(lost).exists() && !manifest_of(&file_of(lost)).exists());
    assert_eq!(state(&sb, &id_of(lost)), "verified");
    assert!(partial_files(&sb).is_empty(), "{:?}", partial_files(&sb));

    // Restores read each from the bucket too: the lost one, and the
    // cut-short one in place of the local payload.
    for (i, b) in [lost, damaged].into_iter().enumerate() {
        let target = sb.dir.path().join(format!("restored-{i}"));
        let text = expect(
            &sb,
            &[
                "restore",
                "--id",
                &id_of(b),
                "--target",
                target.to_str().unwrap(),
            ],
            0,
        );
        assert!(text.contains("from target 'offsite'"), "{text}");
        let got = std::fs::read_to_string(Sandbox::under(&target, &config)).unwrap();
        assert_eq!(got, format!("VERSION = {i}\n"), "{text}");
    }
    assert!(!file_of(lost).exists());
    assert_eq!(
        std::fs::read(file_of(damaged)).unwrap().len(),
        cut.len() / 2
    );

    // A local payload damaged in place (same size) fails its restore, and
    // the error points at the copy; --from reads that copy instead.
    let newest = &b[3];
    flip_byte(&file_of(newest), 100);
    let target = sb.dir.path().join("restored-flipped");
    let restore = |from: &[&str], code| {
        let (id, dir) = (id_of(newest), target.display().to_string());
        let mut a = vec!["restore", "--id", &id, "--target", &dir];
        a.extend_from_slice(from);
        expect(&sb, &a, code)
    };
    let text = restore(&[], 4);
    assert!(
        text.contains("add --from offsite to read it from there"),
        "{text}"
    );
    restore(&["--from", "offsite"], 0);
    let got = std::fs::read_to_string(Sandbox::under(&target, &config)).unwrap();
    assert_eq!(got, "VERSION = 3\n");
    let text = expect(&sb, &["verify", &id_of(newest), "--from", "offsite"], 0);
    assert!(!text.contains("does not match"), "{text}");
    assert_eq!(state(&sb, &id_of(newest)), "verified");
    // A target that does not exist is said so, with the ones that do.
    let text = expect(&sb, &["verify", &id_of(newest), "--from", "nowhere"], 2);
    assert!(text.contains("no target named 'nowhere'"), "{text}");
    assert!(text.contains("configured targets: offsite"), "{text}");

    // A copy altered on the target is found by its hash, never restored
    // from, and no longer counts.
    std::fs::remove_file(file_of(altered)).unwrap();
    let key = key_of(altered, "");
    let size = moto.objects()[&key] as usize;
    moto.change("PUT", &key, &vec![b'x'; size]);
    let target = sb.dir.path().join("restored-altered");
    // Exit 4: an integrity failure.
    let text = expect(
        &sb,
        &[
            "restore",
            "--id",
            &id_of(altered),
            "--target",
            target.to_str().unwrap(),
        ],
        4,
    );
    assert!(text.contains("on target 'offsite'"), "{text}");
    assert!(no_files_under(&target) || !target.exists(), "{text}");
    let text = expect(&sb, &["verify", &id_of(altered)], 4);
    assert!(text.contains("does not match its manifest"), "{text}");
    assert_eq!(state(&sb, &id_of(altered)), "failed");
    // With no copy left that counts, the repository's own error says what is missing.
    let text = expect(&sb, &["verify", &id_of(altered)], 1);
    assert!(text.contains("does not exist"), "{text}");
}

#[test]
fn a_copy_found_altered_is_sent_again_not_counted_by_its_size() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), BUCKET, QUICK));
    populate(&sb.app);
    sb.generate_key();
    let b = configuration_backups(&sb, 1);
    let id = id_of(&b[0]);
    let key = key_of(&b[0], "");
    let good = std::fs::read(file_of(&b[0])).unwrap();
    moto.change("PUT", &key, &vec![b'x'; good.len()]);
    expect(&sb, &["copy", &id, "--verify"], 4);
    assert_eq!(state(&sb, &id), "missing");
    // The daemon's plain copy must not take the same-size object for the
    // copy: it is sent again, and then reads back whole.
    let r = json_ok(&sb, &["copy"]);
    let c = &r["copies"][0];
    assert_eq!(
        (&c["backup_id"], &c["already_there"]),
        (&id.as_str().into(), &false.into()),
        "{r}"
    );
    assert_eq!(state(&sb, &id), "copied");
    let r = json_ok(&sb, &["copy", &id, "--verify"]);
    assert_eq!(r["copies"][0]["state"], "verified", "{r}");
    // A check does not turn it back by size either.
    moto.change("PUT", &key, &vec![b'y'; good.len()]);
    expect(&sb, &["copy", &id, "--verify"], 4);
    let (_, v) = json_code(&sb, &["copies", "--check"]);
    assert!(v["check"][0]["found"].as_array().unwrap().is_empty(), "{v}");
    assert_eq!(state(&sb, &id), "missing");
}

#[test]
fn a_tampered_audit_log_in_the_bucket_is_kept_aside_not_imported() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), BUCKET, QUICK));
    populate(&sb.app);
    sb.generate_key();
    configuration_backups(&sb, 1);
    let log = std::fs::read_to_string(sb.repo.join("audit/audit.jsonl")).unwrap();
    assert!(log.contains("\"backup\""), "{log}");
    // Someone rewrites history in the bucket: a backup becomes a failure.
    let forged = log.replacen("\"succeeded\"", "\"failed\"", 1);
    assert_ne!(forged, log);
    moto.change("PUT", "lb/audit/audit.jsonl", forged.as_bytes());
    lose_repo_and_catalog(&sb);
    let text = expect(&sb, &["catalog", "rebuild", "--from", "offsite"], 0);
    assert!(text.contains("hash chain is broken"), "{text}");
    assert!(text.contains("not imported"), "{text}");
    assert!(
        !sb.repo.join("audit/audit.jsonl").exists() || {
            // What the rebuild wrote itself since is ours, not the forged log.
            !std::fs::read_to_string(sb.repo.join("audit/audit.jsonl"))
                .unwrap()
                .contains(&forged)
        }
    );
}

#[test]
fn copying_an_incremental_sends_its_parents_first() {
    let Some(moto) = Moto::start() else { return };
    let sb = Sandbox::with_extra_config(&s3_target(&moto.endpoint(), "chain-bucket", QUICK));
    populate(&sb.app);
    sb.generate_key();
    // The bucket is not there yet: both copies fail, the backups stand.
    let full = json_code(&sb, &["backup", "--type", "filesystem"]).1;
    std::fs::write(sb.app.join("uploads/new.txt"), "after the full").unwrap();
    let inc = json_code(&sb, &["backup", "--type", "filesystem"]).1;
    assert_eq!(inc["parent_id"], full["id"], "{inc}");
    moto.create_bucket("chain-bucket");
    let r = json_ok(&sb, &["copy", &id_of(&inc)]);
    let sent: Vec<&str> = r["copies"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["backup_id"].as_str().unwrap())
        .collect();
    assert_eq!(
        sent,
        [full["id"].as_str().unwrap(), inc["id"].as_str().unwrap()],
        "{r}"
    );
    assert_eq!(state(&sb, &id_of(&full)), "copied");
}
