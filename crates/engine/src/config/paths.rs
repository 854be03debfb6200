//! Lexical path normalization and secret masking.

use std::path::{Component, Path, PathBuf};

/// `path` made absolute against `base` and normalized lexically (`.` and
/// `..` removed) without touching the filesystem, so paths that do not exist
/// yet (a new repository) resolve too. `~` is not expanded.
pub fn normalize(path: &Path, base: &Path) -> PathBuf {
    let joined = if path.is_absolute() {
        path.to_path_buf()
    } else {
        base.join(path)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::Prefix(_) | Component::RootDir => out.push(c.as_os_str()),
            Component::CurDir => {}
            Component::ParentDir => {
                // `..` at the root stays at the root, as the kernel does.
                out.pop();
            }
            Component::Normal(n) => out.push(n),
        }
    }
    if out.as_os_str().is_empty() {
        out.push("/");
    }
    out
}

/// A database URL with its password replaced by `***`: the user-info
/// password (`postgres://user:pw@host/db`) and any `password=` parameter
/// (URL query or libpq keyword form).
pub fn mask_database_url(url: &str) -> String {
    let mut s = url.to_string();
    if let Some(scheme_end) = s.find("://") {
        let auth_start = scheme_end + 3;
        let auth_end = s[auth_start..]
            .find(['/', '?', '#'])
            .map_or(s.len(), |i| auth_start + i);
        // A password with a raw '/', '?' or '#' in it ends the authority
        // early; the database client reads up to the last '@', and so
        // does the mask then.
        let at = s[auth_start..auth_end]
            .rfind('@')
            .or_else(|| s[auth_start..].rfind('@'));
        if let Some(at) = at {
            let userinfo = &s[auth_start..auth_start + at];
            if let Some(colon) = userinfo.find(':') {
                let pw_start = auth_start + colon + 1;
                let pw_end = auth_start + at;
                if pw_end > pw_start {
                    s.replace_range(pw_start..pw_end, "***");
                }
            }
        }
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = s.as_str();
    while let Some(i) = rest.to_ascii_lowercase().find("password=") {
        let head = i + "password=".len();
        out.push_str(&rest[..head]);
        let tail = &rest[head..];
        let end = tail
            .find(|c: char| c == '&' || c == '#' || c.is_whitespace())
            .unwrap_or(tail.len());
        if end > 0 {
            out.push_str("***");
        }
        rest = &tail[end..];
    }
    out.push_str(rest);
    out
}
