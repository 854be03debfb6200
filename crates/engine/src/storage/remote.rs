//! Copy targets: object stores (S3 and S3-compatible, GCS, Azure) and
//! other directories, through the `object_store` crate, behind a blocking
//! API the rest of the engine (which is synchronous) can call.
//!
//! The repository's layout is kept: `<prefix><type>/<file>`, so a bucket
//! holds exactly what the repository holds, and `catalog rebuild --from`
//! can read it alone. The same commit rule as the repository: an
//! artifact's files go up payload first, its manifest last, so an object
//! set without its manifest is never counted as a copy.
//!
//! Credentials never come from the configuration: S3 reads
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`/`AWS_SESSION_TOKEN`, then the
//! shared credentials file (`~/.aws/credentials`, profile `AWS_PROFILE`),
//! then instance metadata; GCS reads `GOOGLE_APPLICATION_CREDENTIALS` or
//! `GOOGLE_SERVICE_ACCOUNT`; Azure reads `AZURE_STORAGE_ACCOUNT_KEY` and the
//! other `AZURE_*` variables. Error messages name the target and the
//! object, never a credential.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use object_store::path::Path as Key;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig,
    WriteMultipart,
};

use crate::config::{TargetConfig, TargetKind};
use crate::error::{Error, ErrorKind, Result};

/// One configured target, opened (cheap to clone: the store is shared).
#[derive(Clone)]
pub struct Target {
    pub config: TargetConfig,
    store: Arc<dyn ObjectStore>,
    rt: Arc<tokio::runtime::Runtime>,
}

/// An object as a listing shows it.
#[derive(Debug, Clone)]
pub struct Object {
    /// The key below the target's prefix, e.g. `database/db_backup_….dump.zst`.
    pub key: String,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Target({} {})", self.config.name, self.config.location())
    }
}

fn runtime() -> Result<Arc<tokio::runtime::Runtime>> {
    // One runtime for every target of the process: uploads run on its two
    // workers while the calling thread reads the next part from disk.
    static RT: std::sync::OnceLock<Arc<tokio::runtime::Runtime>> = std::sync::OnceLock::new();
    if let Some(rt) = RT.get() {
        return Ok(rt.clone());
    }
    // TLS through rustls with ring (the default provider of the process).
    let _ = rustls::crypto::ring::default_provider().install_default();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("lifeboat-remote")
        .enable_all()
        .build()
        .map_err(|e| Error::new(ErrorKind::Io, format!("cannot start the I/O runtime: {e}")))?;
    Ok(RT.get_or_init(|| Arc::new(rt)).clone())
}

impl Target {
    /// Open a target from its configuration (no request is made yet).
    pub fn open(config: &TargetConfig) -> Result<Target> {
        let rt = runtime()?;
        let store = build_store(config)?;
        Ok(Target {
            config: config.clone(),
            store,
            rt,
        })
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    fn key(&self, rel: &str) -> Key {
        let prefix = self.config.prefix.trim_matches('/');
        let rel = rel.trim_matches('/');
        if prefix.is_empty() || rel.is_empty() {
            Key::from(if rel.is_empty() { prefix } else { rel })
        } else {
            Key::from(format!("{prefix}/{rel}"))
        }
    }

    fn fail(&self, what: &str, rel: &str, e: object_store::Error) -> Error {
        remote_error(&self.config, what, rel, e)
    }

    /// Upload a local file to `rel`, streaming it in parts (`part_size_mb`,
    /// `concurrency` at a time: memory stays at their product), at most
    /// `bandwidth_limit_mb` MiB/s. `progress` gets the bytes sent so far.
    /// A failed or cancelled upload is aborted: no object appears.
    pub fn put_file(
        &self,
        rel: &str,
        local: &Path,
        progress: &dyn Fn(u64),
        cancel: &dyn Fn() -> bool,
    ) -> Result<u64> {
        let mut file =
            std::fs::File::open(local).map_err(|e| Error::io("cannot open", local, e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io("cannot read", local, e))?
            .len();
        let part = self.config.part_size_mb as usize * 1024 * 1024;
        let key = self.key(rel);
        if len as usize <= part {
            let mut buf = Vec::with_capacity(len as usize);
            file.read_to_end(&mut buf)
                .map_err(|e| Error::io("cannot read", local, e))?;
            self.throttle(Instant::now(), buf.len() as u64, cancel);
            let n = buf.len() as u64;
            self.rt
                .block_on(self.store.put(&key, PutPayload::from(buf)))
                .map_err(|e| self.fail("upload", rel, e))?;
            progress(n);
            return Ok(n);
        }
        let upload = self
            .rt
            .block_on(self.store.put_multipart(&key))
            .map_err(|e| self.fail("start the upload of", rel, e))?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, part);
        let sent = self.stream_parts(&mut writer, &mut file, local, rel, progress, cancel);
        match sent {
            Ok(n) => {
                self.rt
                    .block_on(writer.finish())
                    .map_err(|e| self.fail("finish the upload of", rel, e))?;
                Ok(n)
            }
            Err(e) => {
                // Parts already sent are dropped with the upload.
                let _ = self.rt.block_on(writer.abort());
                Err(e)
            }
        }
    }

    fn stream_parts(
        &self,
        writer: &mut WriteMultipart,
        file: &mut std::fs::File,
        local: &Path,
        rel: &str,
        progress: &dyn Fn(u64),
        cancel: &dyn Fn() -> bool,
    ) -> Result<u64> {
        // The writer starts each part's upload as a task of the runtime.
        let _in_runtime = self.rt.enter();
        let started = Instant::now();
        let part = self.config.part_size_mb as usize * 1024 * 1024;
        let mut sent = 0u64;
        loop {
            if cancel() {
                return Err(Error::cancelled(format!(
                    "the upload of {rel} to target '{}' was cancelled",
                    self.config.name
                )));
            }
            // One whole part, handed over without a copy.
            let mut buf = Vec::with_capacity(part);
            let n = (&mut *file)
                .take(part as u64)
                .read_to_end(&mut buf)
                .map_err(|e| Error::io("cannot read", local, e))?;
            if n == 0 {
                return Ok(sent);
            }
            self.rt
                .block_on(writer.wait_for_capacity(self.config.concurrency as usize))
                .map_err(|e| self.fail("upload", rel, e))?;
            writer.put(Bytes::from(buf));
            sent += n as u64;
            self.throttle(started, sent, cancel);
            progress(sent);
        }
    }

    /// Sleep as long as `sent` bytes since `started` run ahead of the
    /// limit, in short naps so that a cancel is seen at once.
    fn throttle(&self, started: Instant, sent: u64, cancel: &dyn Fn() -> bool) {
        let limit = self.config.bandwidth_limit_mb;
        if limit <= 0.0 {
            return;
        }
        let due = Duration::from_secs_f64(sent as f64 / (limit * 1024.0 * 1024.0));
        while let Some(wait) = due.checked_sub(started.elapsed()) {
            if cancel() || wait.is_zero() {
                return;
            }
            std::thread::sleep(wait.min(Duration::from_millis(100)));
        }
    }

    /// Upload small bytes (a manifest, a sidecar) in one request.
    pub fn put_bytes(&self, rel: &str, bytes: Vec<u8>) -> Result<()> {
        self.rt
            .block_on(self.store.put(&self.key(rel), PutPayload::from(bytes)))
            .map(|_| ())
            .map_err(|e| self.fail("upload", rel, e))
    }

    /// The object's size, or `None` when it does not exist.
    pub fn size_of(&self, rel: &str) -> Result<Option<u64>> {
        match self.rt.block_on(self.store.head(&self.key(rel))) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("look up", rel, e)),
        }
    }

    /// The whole of a small object.
    pub fn get_bytes(&self, rel: &str) -> Result<Vec<u8>> {
        let key = self.key(rel);
        self.rt
            .block_on(async {
                let r = self.store.get(&key).await?;
                r.bytes().await
            })
            .map(|b| b.to_vec())
            .map_err(|e| self.fail("download", rel, e))
    }

    /// The object's size and ETag (the version a later read can be
    /// pinned to), or `None` when it does not exist.
    pub fn head(&self, rel: &str) -> Result<Option<(u64, Option<String>)>> {
        match self.rt.block_on(self.store.head(&self.key(rel))) {
            Ok(meta) => Ok(Some((meta.size, meta.e_tag))),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.fail("look up", rel, e)),
        }
    }

    /// A reader over the object, streamed (never held whole in memory).
    pub fn reader(&self, rel: &str) -> Result<RemoteReader> {
        self.reader_pinned(rel, None)
    }

    /// A reader over the object as it was when its ETag was `etag`: if it
    /// was replaced since, the read fails instead of returning other bytes
    /// (what was checked is what is read).
    pub fn reader_pinned(&self, rel: &str, etag: Option<&str>) -> Result<RemoteReader> {
        let key = self.key(rel);
        let opts = object_store::GetOptions {
            if_match: etag.map(str::to_string),
            ..Default::default()
        };
        let stream = self
            .rt
            .block_on(async {
                self.store
                    .get_opts(&key, opts)
                    .await
                    .map(|r| r.into_stream())
            })
            .map_err(|e| match e {
                object_store::Error::Precondition { .. } => Error::integrity(format!(
                    "{rel} on target '{}' was replaced after it was checked: refusing to read other bytes than were verified",
                    self.config.name
                ))
                .hint("someone is writing to the target; find out who, then run the command again"),
                e => self.fail("download", rel, e),
            })?;
        Ok(RemoteReader {
            rt: self.rt.clone(),
            stream,
            current: Bytes::new(),
            failed: None,
            what: format!("{rel} on target '{}'", self.config.name),
        })
    }

    /// Every object below `rel_dir` (e.g. `database/`), keys relative to
    /// the target's prefix.
    pub fn list(&self, rel_dir: &str) -> Result<Vec<Object>> {
        let prefix = self.key(rel_dir);
        let base = self.config.prefix.trim_matches('/');
        self.rt
            .block_on(async {
                let mut out = Vec::new();
                let root = prefix.as_ref().is_empty();
                let mut s = self.store.list((!root).then_some(&prefix));
                while let Some(meta) = s.next().await {
                    let meta = meta?;
                    let full = meta.location.to_string();
                    let key = match base {
                        "" => full,
                        b => full
                            .strip_prefix(b)
                            .unwrap_or(&full)
                            .trim_start_matches('/')
                            .to_string(),
                    };
                    out.push(Object {
                        key,
                        size: meta.size,
                        modified: meta.last_modified,
                    });
                }
                Ok(out)
            })
            .map_err(|e| self.fail("list", rel_dir, e))
    }

    pub fn delete(&self, rel: &str) -> Result<()> {
        if self.config.append_only {
            return Err(Error::refused(format!(
                "target '{}' is append-only: lifeboat does not delete {rel} there",
                self.config.name
            ))
            .hint("let the bucket's retention rules expire it, or delete it from a host with delete rights"));
        }
        match self.rt.block_on(self.store.delete(&self.key(rel))) {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.fail("delete", rel, e)),
        }
    }
}

/// A blocking reader over an object's byte stream.
pub struct RemoteReader {
    rt: Arc<tokio::runtime::Runtime>,
    stream: BoxStream<'static, object_store::Result<Bytes>>,
    current: Bytes,
    /// A failed stream stays failed: a later read never looks like the end.
    failed: Option<String>,
    what: String,
}

impl Read for RemoteReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            if let Some(f) = &self.failed {
                return Err(std::io::Error::other(f.clone()));
            }
            match self.rt.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(b)) => self.current = b,
                Some(Err(e)) => {
                    self.failed = Some(format!("reading {} failed: {}", self.what, clean(&e)));
                }
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current = self.current.slice(n..);
        Ok(n)
    }
}

fn client_options(c: &TargetConfig) -> ClientOptions {
    let timeout = Duration::from_secs(c.timeout_seconds as u64);
    let mut headers = reqwest::header::HeaderMap::new();
    if c.append_only && c.kind == TargetKind::S3 {
        // Object Lock asks for this header beside the checksum itself.
        headers.insert(
            "x-amz-sdk-checksum-algorithm",
            reqwest::header::HeaderValue::from_static("SHA256"),
        );
    }
    ClientOptions::new()
        .with_default_headers(headers)
        .with_timeout(timeout)
        .with_connect_timeout((timeout / 10).max(Duration::from_secs(1)))
        .with_allow_http(
            c.endpoint
                .as_deref()
                .is_some_and(|e| e.starts_with("http://")),
        )
}

fn retry(c: &TargetConfig) -> RetryConfig {
    RetryConfig {
        backoff: BackoffConfig {
            init_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(15),
            base: 2.0,
        },
        max_retries: if c.retry_seconds == 0 { 0 } else { 10 },
        retry_timeout: Duration::from_secs(c.retry_seconds as u64),
    }
}

fn build_store(c: &TargetConfig) -> Result<Arc<dyn ObjectStore>> {
    let bucket = c.bucket.clone().unwrap_or_default();
    let built: object_store::Result<Arc<dyn ObjectStore>> = match c.kind {
        TargetKind::Local => {
            let path = c.path.as_deref().unwrap_or(Path::new("."));
            // Never created here: a missing mount must not turn into a
            // directory on the root disk that counts as an offsite copy.
            if !path.is_dir() {
                return Err(Error::not_found(format!(
                    "target '{}': directory {} does not exist (is its disk mounted?)",
                    c.name,
                    path.display()
                ))
                .hint("mount it, or create it once by hand (mode 0700)"));
            }
            object_store::local::LocalFileSystem::new_with_prefix(path)
                .map(|s| Arc::new(s.with_fsync(true)) as Arc<dyn ObjectStore>)
        }
        TargetKind::S3 => {
            let mut b = object_store::aws::AmazonS3Builder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client_options(c))
                .with_retry(retry(c));
            if let Some(r) = &c.region {
                b = b.with_region(r);
            }
            if let Some(e) = &c.endpoint {
                b = b.with_endpoint(e);
            }
            if c.append_only {
                // Object Lock refuses an upload without an integrity checksum.
                b = b.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
            }
            if std::env::var_os("AWS_ACCESS_KEY_ID").is_none() {
                if let Some((id, secret, token)) = shared_aws_credentials() {
                    b = b.with_access_key_id(id).with_secret_access_key(secret);
                    if let Some(t) = token {
                        b = b.with_token(t);
                    }
                }
            }
            b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        TargetKind::Gcs => {
            let mut b = object_store::gcp::GoogleCloudStorageBuilder::from_env()
                .with_bucket_name(bucket)
                .with_client_options(client_options(c))
                .with_retry(retry(c));
            if let Some(e) = &c.endpoint {
                b = b.with_config(object_store::gcp::GoogleConfigKey::BaseUrl, e);
            }
            b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
        TargetKind::Azure => {
            let mut b = object_store::azure::MicrosoftAzureBuilder::from_env()
                .with_container_name(bucket)
                .with_client_options(client_options(c))
                .with_retry(retry(c));
            if let Some(a) = &c.account {
                b = b.with_account(a);
            }
            if let Some(e) = &c.endpoint {
                b = b.with_endpoint(e.clone());
            }
            b.build().map(|s| Arc::new(s) as Arc<dyn ObjectStore>)
        }
    };
    built.map_err(|e| {
        Error::usage(format!(
            "target '{}' ({}) cannot be opened: {}",
            c.name,
            c.location(),
            clean(&e)
        ))
        .hint(credential_hint(c.kind))
    })
}

/// `~/.aws/credentials` (or `AWS_SHARED_CREDENTIALS_FILE`), profile
/// `AWS_PROFILE` or `default`: key id, secret and session token.
fn shared_aws_credentials() -> Option<(String, String, Option<String>)> {
    let file = std::env::var_os("AWS_SHARED_CREDENTIALS_FILE")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".aws/credentials")))?;
    let text = std::fs::read_to_string(file).ok()?;
    let profile = std::env::var("AWS_PROFILE").unwrap_or_else(|_| "default".into());
    parse_shared_credentials(&text, &profile)
}

fn parse_shared_credentials(text: &str, profile: &str) -> Option<(String, String, Option<String>)> {
    let (mut id, mut secret, mut token) = (None, None, None);
    let mut inside = false;
    for line in text.lines().map(str::trim) {
        if line.starts_with('[') && line.ends_with(']') {
            inside = line[1..line.len() - 1].trim() == profile;
            continue;
        }
        let Some((k, v)) = line.split_once('=').filter(|_| inside) else {
            continue;
        };
        let v = v.trim().to_string();
        match k.trim() {
            "aws_access_key_id" => id = Some(v),
            "aws_secret_access_key" => secret = Some(v),
            "aws_session_token" => token = Some(v),
            _ => {}
        }
    }
    Some((id?, secret?, token))
}

fn credential_hint(kind: TargetKind) -> &'static str {
    match kind {
        TargetKind::S3 => "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or ~/.aws/credentials, or an instance role) for the user lifeboat runs as",
        TargetKind::Gcs => "set GOOGLE_APPLICATION_CREDENTIALS to a service account file (or run on an instance with a service account)",
        TargetKind::Azure => "set AZURE_STORAGE_ACCOUNT_NAME and AZURE_STORAGE_ACCOUNT_KEY (or another AZURE_* credential)",
        TargetKind::Local => "check that the directory exists and lifeboat may write there",
    }
}

/// An object-store error in one line, without the request's details that
/// could hold a signature. A transport failure's own text is only "error
/// sending request": its innermost cause (timed out, connection refused)
/// is what the operator needs, so it is added.
fn clean(e: &object_store::Error) -> String {
    let mut s = e.to_string();
    let mut cause = std::error::Error::source(e);
    let mut innermost = None;
    while let Some(c) = cause {
        innermost = Some(c.to_string());
        cause = c.source();
    }
    if let Some(c) = innermost.filter(|c| !s.contains(c.as_str())) {
        s = format!("{s} ({c})");
    }
    redact(&s)
}

/// An error text without what could identify or carry a credential: an
/// XML error body is cut to its `<Code>` and `<Message>` (S3's
/// SignatureDoesNotMatch body echoes the access key id and the canonical
/// request, which holds the session token), a presigned URL's signature
/// is dropped, and anything shaped like an AWS access key id is masked.
fn redact(text: &str) -> String {
    let mut s = text
        .split("X-Amz-Signature")
        .next()
        .unwrap_or(text)
        .to_string();
    if let Some(start) = s.find("<?xml").or_else(|| s.find("<Error>")) {
        let body = &s[start..];
        let tag = |t: &str| {
            let open = format!("<{t}>");
            let from = body.find(&open)? + open.len();
            let to = body[from..].find(&format!("</{t}>"))? + from;
            Some(body[from..to].to_string())
        };
        let summary = match (tag("Code"), tag("Message")) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c,
            _ => "(error body withheld)".to_string(),
        };
        s = format!("{}{summary}", &s[..start]);
    }
    for marker in [
        "x-amz-security-token",
        "X-Amz-Security-Token",
        "AWSAccessKeyId",
    ] {
        if let Some(i) = s.find(marker) {
            s.truncate(i);
            s.push_str("(rest withheld)");
        }
    }
    let mut out = String::with_capacity(s.len());
    let bytes: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < bytes.len() {
        let rest: String = bytes[i..bytes.len().min(i + 20)].iter().collect();
        let key_like = rest.len() == 20
            && (rest.starts_with("AKIA") || rest.starts_with("ASIA"))
            && rest[4..]
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
        if key_like {
            out.push_str(&rest[..4]);
            out.push_str("****************");
            i += 20;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out.replace('\n', " ")
}

/// What went wrong, to which object on which target, and what to do.
fn remote_error(c: &TargetConfig, what: &str, rel: &str, e: object_store::Error) -> Error {
    let place = format!("{rel} on target '{}' ({})", c.name, c.location());
    let text = clean(&e);
    let lower = text.to_lowercase();
    // Matched on the store's error codes and status lines, never on bare
    // words or numbers: the text holds the URL (bucket, prefix, port).
    let no_bucket = [
        "nosuchbucket",
        "containernotfound",
        "specified bucket does not exist",
        "specified container does not exist",
    ]
    .iter()
    .any(|code| lower.contains(code));
    match &e {
        object_store::Error::NotFound { .. } if no_bucket => {
            Error::not_found(format!("cannot {what} {place}: the bucket does not exist ({text})"))
                .hint("create the bucket, or correct `bucket` in the target's [[targets]] entry")
        }
        object_store::Error::NotFound { .. } => {
            Error::not_found(format!("cannot {what} {place}: it does not exist"))
                .hint("run `lifeboat copies` to see which copies each target holds")
        }
        object_store::Error::PermissionDenied { .. } | object_store::Error::Unauthenticated { .. } => {
            Error::new(ErrorKind::Io, format!("cannot {what} {place}: access denied ({text})"))
                .hint(credential_hint(c.kind))
        }
        _ if no_bucket => {
            Error::not_found(format!("cannot {what} {place}: the bucket does not exist"))
                .hint("create the bucket, or correct `bucket` in the target's [[targets]] entry")
        }
        _ if lower.contains("invalidaccesskeyid")
            || lower.contains("signaturedoesnotmatch")
            || lower.contains("accessdenied")
            || lower.contains("403 forbidden") =>
        {
            Error::new(ErrorKind::Io, format!("cannot {what} {place}: access denied ({text})"))
                .hint(credential_hint(c.kind))
        }
        _ if ["quotaexceeded", "insufficientstorage", "no space left on device", "entitytoolarge", "(os error 28)"]
            .iter()
            .any(|code| lower.contains(code)) =>
        {
            Error::new(ErrorKind::Io, format!("cannot {what} {place}: the target is full or over quota ({text})"))
                .hint("free space or raise the quota on the target, then run `lifeboat copy` again")
        }
        _ => Error::new(ErrorKind::Io, format!("cannot {what} {place}: {text}")).hint(
            "check that the target is reachable (endpoint, network, TLS); transient failures were retried for the target's retry_seconds",
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_never_carry_credentials() {
        let body = "Generic S3 error: PUT http://h/b/k - 403 Forbidden: <?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message>The request signature we calculated does not match</Message><AWSAccessKeyId>ASIAABCDEFGHIJKLMNOP</AWSAccessKeyId><CanonicalRequest>PUT /b/k x-amz-security-token:FQoGZXIvYXdzEXAMPLETOKEN</CanonicalRequest></Error>";
        let r = redact(body);
        assert!(
            r.contains("SignatureDoesNotMatch: The request signature"),
            "{r}"
        );
        for secret in [
            "ASIAABCDEFGHIJKLMNOP",
            "FQoGZXIvYXdzEXAMPLETOKEN",
            "CanonicalRequest",
        ] {
            assert!(!r.contains(secret), "{r}");
        }
        let r = redact("failed for AKIAIOSFODNN7EXAMPLE at x-amz-security-token=abc");
        assert!(
            !r.contains("AKIAIOSFODNN7EXAMPLE") && !r.contains("abc"),
            "{r}"
        );
        assert!(r.contains("AKIA****************"), "{r}");
        // Bucket names are not codes: a bucket called noquota is not full.
        assert_eq!(
            redact("GET http://h/noquota-backups/x"),
            "GET http://h/noquota-backups/x"
        );
    }

    #[test]
    fn shared_credentials_file_profiles() {
        let text = "[default]\naws_access_key_id = A\naws_secret_access_key = B\n\n[ops]\naws_access_key_id=C\naws_secret_access_key=D\naws_session_token=E\n";
        assert_eq!(
            parse_shared_credentials(text, "default"),
            Some(("A".into(), "B".into(), None))
        );
        assert_eq!(
            parse_shared_credentials(text, "ops"),
            Some(("C".into(), "D".into(), Some("E".into())))
        );
        assert_eq!(parse_shared_credentials(text, "none"), None);
        assert_eq!(
            parse_shared_credentials("[default]\naws_access_key_id=A\n", "default"),
            None
        );
    }
}
