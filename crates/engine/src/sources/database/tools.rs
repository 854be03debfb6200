//! Finding the PostgreSQL client tools (pg_dump, pg_restore, psql) and
//! checking they are new enough for the server.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::client::ServerVersion;
use crate::error::{Error, Result};

/// A client tool and the version it reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    pub path: PathBuf,
    /// 15 for 15.20; 9 for 9.6.24.
    pub major: u32,
    /// The tool's own `--version` line, e.g. "pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)".
    pub version: String,
}

impl Tool {
    /// The release number from the version line ("15.20"), or the whole line
    /// when it has none.
    pub fn release(&self) -> &str {
        release_of(&self.version).unwrap_or(&self.version)
    }

    /// The tool's name as the operator types it ("pg_dump").
    pub fn name(&self) -> String {
        self.path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.path.display().to_string())
    }
}

/// Find `tool` on PATH, or else the newest `/usr/lib/postgresql/*/bin/<tool>`
/// (Debian's layout when only the versioned directory exists), and ask it
/// its version.
pub fn tool(tool: &str) -> Result<Tool> {
    let path = find_on_path(tool)
        .or_else(|| newest_in_pg_lib(tool))
        .ok_or_else(|| {
            Error::not_found(format!("{tool} was not found on PATH")).hint(
                "install the PostgreSQL client (apt-get install postgresql-client) or put its bin directory on PATH",
            )
        })?;
    tool_at(&path)
}

/// Run `<path> --version` and parse what it says.
pub fn tool_at(path: &Path) -> Result<Tool> {
    let out = Command::new(path)
        .arg("--version")
        .output()
        .map_err(|e| Error::io("cannot run", path, e))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().next().unwrap_or("").trim().to_string();
    if !out.status.success() || line.is_empty() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        return Err(Error::external(format!(
            "{} --version failed ({}): {}",
            path.display(),
            out.status,
            stderr.trim()
        ))
        .hint("check the PostgreSQL client installation"));
    }
    let major = release_of(&line)
        .and_then(|r| r.split('.').next())
        .and_then(|m| m.parse::<u32>().ok())
        .ok_or_else(|| {
            Error::external(format!(
                "cannot read a version from {} --version: {line:?}",
                path.display()
            ))
        })?;
    Ok(Tool {
        path: path.to_path_buf(),
        major,
        version: line,
    })
}

/// Refuse a client tool whose major version is older than the server's:
/// pg_dump cannot safely dump a newer server.
pub fn check_tool_version(tool: &Tool, server: &ServerVersion) -> Result<()> {
    let tool_key = release_key(tool.release());
    let server_key = major_key(server.num);
    if tool_key < server_key {
        let server_release = server
            .text
            .split_whitespace()
            .next()
            .unwrap_or(&server.text)
            .to_string();
        return Err(Error::refused(format!(
            "{} {} is older than the server ({server_release}); it cannot dump this database safely",
            tool.name(),
            tool.release()
        ))
        .hint(format!(
            "install the PostgreSQL {} client (apt-get install postgresql-client-{}) or put its bin directory on PATH",
            server.major(),
            server.major()
        )));
    }
    Ok(())
}

/// The first whitespace-separated word that starts with a digit: "15.20" in
/// "pg_dump (PostgreSQL) 15.20 (Debian ...)".
fn release_of(line: &str) -> Option<&str> {
    line.split_whitespace()
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
}

/// Comparable major version: 1500 for 15.x, 906 for 9.6.x.
fn major_key(num: u32) -> u32 {
    if num >= 100000 {
        num / 10000 * 100
    } else {
        num / 100
    }
}

/// [`major_key`] from a release string ("15.20", "9.6.24", "16beta1").
fn release_key(release: &str) -> u32 {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .filter(|p| !p.is_empty())
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    if major >= 10 {
        major * 100
    } else {
        major * 100 + parts.next().unwrap_or(0)
    }
}

fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|p| is_executable(p))
}

fn newest_in_pg_lib(tool: &str) -> Option<PathBuf> {
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_string_lossy().to_string();
            let p = e.path().join("bin").join(tool);
            is_executable(&p).then(|| (release_key(&version), p))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, p)| p)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        .unwrap_or(false)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn version_keys_compare_majors() {
        assert_eq!(major_key(150019), 1500);
        assert_eq!(major_key(90624), 906);
        assert_eq!(release_key("15.20"), 1500);
        assert_eq!(release_key("9.6.24"), 906);
        assert_eq!(release_key("16beta1"), 1600);
        assert!(release_key("9.5.1") < major_key(90624));
        assert_eq!(
            release_of("pg_dump (PostgreSQL) 15.20 (Debian 15.20-0+deb12u1)"),
            Some("15.20")
        );
    }
}
