//! Connection details parsed from a `postgres://` URL, and the private
//! password file libpq tools read them from.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where a database is: parsed from a URL like
/// `postgres://user:pass@host:5432/dbname?sslmode=disable`.
///
/// The password is private and never printed: `Debug` redacts it and
/// [`ConnInfo::describe`] leaves it out.
#[derive(Clone, PartialEq, Eq)]
pub struct ConnInfo {
    pub host: String,
    pub port: u16,
    pub user: String,
    password: Option<String>,
    pub dbname: String,
}

impl fmt::Debug for ConnInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnInfo")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("dbname", &self.dbname)
            .finish()
    }
}

/// Query parameters we understand. TLS is not wired in yet, so only the
/// sslmodes that allow a plain connection are accepted.
const SSLMODES_PLAIN: &[&str] = &["disable", "allow", "prefer"];

impl ConnInfo {
    /// Parse `postgres://` or `postgresql://` URLs. User defaults to
    /// `postgres`, port to 5432 and the database to the user name (as libpq
    /// does). User, password and database may be percent-encoded.
    pub fn parse(url: &str) -> Result<ConnInfo> {
        let bad = |why: &str| {
            Error::usage(format!(
                "invalid database URL {}: {why}",
                mask_url(url)
            ))
            .hint("write it as postgres://USER:PASSWORD@HOST:PORT/DBNAME (percent-encode special characters in the password)")
        };
        let rest = url
            .strip_prefix("postgres://")
            .or_else(|| url.strip_prefix("postgresql://"))
            .ok_or_else(|| bad("it must start with postgres:// or postgresql://"))?;

        // The last '@' ends the user part, so an unencoded '@' in a password
        // still works.
        let (userinfo, rest) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (rest, query) = match rest.find('?') {
            Some(q) => (&rest[..q], Some(&rest[q + 1..])),
            None => (rest, None),
        };
        let (hostport, path) = match rest.find('/') {
            Some(s) => (&rest[..s], &rest[s + 1..]),
            None => (rest, ""),
        };

        let (user, password) = match userinfo {
            None => (String::new(), None),
            Some(ui) => match ui.find(':') {
                Some(c) => (
                    percent_decode(&ui[..c]).ok_or_else(|| bad("bad %-escape in the user name"))?,
                    Some(
                        percent_decode(&ui[c + 1..])
                            .ok_or_else(|| bad("bad %-escape in the password"))?,
                    ),
                ),
                None => (
                    percent_decode(ui).ok_or_else(|| bad("bad %-escape in the user name"))?,
                    None,
                ),
            },
        };

        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let end = v6
                .find(']')
                .ok_or_else(|| bad("unclosed '[' in the host"))?;
            let after = &v6[end + 1..];
            let port = match after.strip_prefix(':') {
                Some(p) => Some(p),
                None if after.is_empty() => None,
                None => return Err(bad("unexpected text after the IPv6 address")),
            };
            (v6[..end].to_string(), port)
        } else {
            match hostport.rfind(':') {
                Some(c) => (
                    percent_decode(&hostport[..c])
                        .ok_or_else(|| bad("bad %-escape in the host"))?,
                    Some(&hostport[c + 1..]),
                ),
                None => (
                    percent_decode(hostport).ok_or_else(|| bad("bad %-escape in the host"))?,
                    None,
                ),
            }
        };
        if host.is_empty() {
            return Err(bad("the host is missing"));
        }
        let port = match port {
            None | Some("") => 5432,
            Some(p) => match p.parse::<u16>() {
                Ok(n) if n > 0 => n,
                _ => return Err(bad(&format!("port {p:?} is not a number from 1 to 65535"))),
            },
        };

        let user = if user.is_empty() {
            "postgres".to_string()
        } else {
            user
        };
        let dbname =
            percent_decode(path).ok_or_else(|| bad("bad %-escape in the database name"))?;
        if dbname.contains('/') {
            return Err(bad("the database name contains '/'"));
        }
        let dbname = if dbname.is_empty() {
            user.clone()
        } else {
            dbname
        };

        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            match key {
                "sslmode" if SSLMODES_PLAIN.contains(&value) => {}
                "sslmode" => {
                    return Err(bad(&format!(
                        "sslmode={value} needs TLS, which lifeboat does not support yet; use sslmode=disable or prefer on a trusted network"
                    )))
                }
                // Harmless libpq parameters we accept and ignore.
                "application_name" | "connect_timeout" => {}
                other => return Err(bad(&format!("unknown parameter {other:?}"))),
            }
        }

        Ok(ConnInfo {
            host,
            port,
            user,
            password: password.filter(|p| !p.is_empty()),
            dbname,
        })
    }

    /// The same server and credentials, another database.
    pub fn with_db(&self, db: &str) -> ConnInfo {
        ConnInfo {
            dbname: db.to_string(),
            ..self.clone()
        }
    }

    /// How messages name this database: "database panel on 127.0.0.1:5432".
    pub fn describe(&self) -> String {
        format!("database {} on {}", self.dbname, self.server())
    }

    /// "127.0.0.1:5432" (IPv6 addresses in brackets).
    pub fn server(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    pub fn has_password(&self) -> bool {
        self.password.is_some()
    }

    /// The password, for the client connection only.
    pub(crate) fn password(&self) -> Option<&str> {
        self.password.as_deref()
    }

    /// Environment for libpq tools (pg_dump, pg_restore, psql): PGHOST,
    /// PGPORT, PGUSER, PGDATABASE, PGCONNECT_TIMEOUT=10 and, when a password
    /// is set, PGPASSFILE naming `passfile`. Never the password itself.
    pub fn libpq_env(&self, passfile: Option<&PassFile>) -> Vec<(String, String)> {
        let mut env = vec![
            ("PGHOST".to_string(), self.host.clone()),
            ("PGPORT".to_string(), self.port.to_string()),
            ("PGUSER".to_string(), self.user.clone()),
            ("PGDATABASE".to_string(), self.dbname.clone()),
            ("PGCONNECT_TIMEOUT".to_string(), "10".to_string()),
        ];
        if let (true, Some(pf)) = (self.has_password(), passfile) {
            env.push((
                "PGPASSFILE".to_string(),
                pf.path().to_string_lossy().into_owned(),
            ));
        }
        env
    }
}

/// A URL with its password replaced by `***`, safe to print: the one
/// masker the configuration uses too.
pub use crate::config::mask_database_url as mask_url;

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = s.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A temporary `.pgpass` holding one password, in a private (0700) temp
/// directory with mode 0600; removed on drop.
///
/// libpq tools read it through `PGPASSFILE`, so the password is never on a
/// command line (visible in `ps`) nor in the child's environment.
pub struct PassFile {
    dir: PathBuf,
    path: PathBuf,
}

impl fmt::Debug for PassFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassFile")
            .field("path", &self.path)
            .finish()
    }
}

impl PassFile {
    /// Write the password file; `None` when `info` has no password.
    pub fn create(info: &ConnInfo) -> Result<Option<PassFile>> {
        let Some(password) = info.password() else {
            return Ok(None);
        };
        let dir = std::env::temp_dir().join(format!(
            "lifeboat-pgpass-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::io("cannot create private directory", &dir, e))?;
        let pass = PassFile {
            path: dir.join("pgpass"),
            dir,
        };
        // Any host and database: the file exists for one server only, and a
        // wildcard host also matches Unix-socket connections. The same
        // credentials serve pg_dump on the source and pg_restore into a
        // scratch database.
        let line = format!(
            "*:{}:*:{}:{}\n",
            info.port,
            pgpass_escape(&info.user),
            pgpass_escape(password)
        );
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&pass.path)
            .map_err(|e| Error::io("cannot create password file", &pass.path, e))?;
        file.write_all(line.as_bytes())
            .and_then(|_| file.sync_all())
            .map_err(|e| Error::io("cannot write password file", &pass.path, e))?;
        Ok(Some(pass))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for PassFile {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        let _ = fs::remove_dir(&self.dir);
    }
}

/// `.pgpass` fields escape `:` and `\` with a backslash.
fn pgpass_escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace(':', "\\:")
}
