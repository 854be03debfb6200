//! The Target step's checks. A new directory or a new database name the
//! operator typed is refused here, saying why and what to do instead,
//! before a dry run is started on it: a restore that mixes its files into
//! the live ones, or lands on the live database, is exactly what the "new
//! place" choice promises not to do.

use std::path::{Path, PathBuf};

use lifeboat_engine::ops::restore::canonical_target;

/// PostgreSQL's limit on a name, in bytes.
const MAX_DB_NAME: usize = 63;

/// Why `typed` cannot be the new directory of a restore, or None. `live`
/// are the paths the restored backup covers (its own and the configured
/// ones); `repository` is the repository's root. Paths are compared by the
/// name the restore itself will use (symlinks and `..` resolved).
pub fn directory_problem(typed: &str, live: &[PathBuf], repository: &Path) -> Option<String> {
    if typed.is_empty() {
        return Some(
            "type the directory to restore into: an absolute path such as /var/tmp/restore".into(),
        );
    }
    let path = Path::new(typed);
    if !path.is_absolute() {
        return Some(format!(
            "'{typed}' is not an absolute path: type one that starts with / (a relative path would depend on where the worker runs)"
        ));
    }
    let target = match canonical_target(path) {
        Ok(t) => t,
        Err(e) => {
            return Some(format!(
                "'{typed}' cannot be resolved: {}",
                e.display_with_hint()
            ))
        }
    };
    if target == Path::new("/") {
        return Some(
            "'/' puts every file back over the live one: that is a restore in place (choose it below; it takes a safety copy first), not a new directory"
                .into(),
        );
    }
    let resolved = |p: &Path| canonical_target(p).unwrap_or_else(|_| p.to_path_buf());
    if let Some(source) = live
        .iter()
        .map(|p| resolved(p))
        .find(|s| target.starts_with(s))
    {
        return Some(format!(
            "'{typed}' is inside the live source {}: the restored files would mix with the live ones; choose a directory outside it (or in place, which takes a safety copy first)",
            source.display()
        ));
    }
    let repository = resolved(repository);
    if target.starts_with(&repository) {
        return Some(format!(
            "'{typed}' is inside the repository {}: restored files would sit among the backups; choose a directory outside it",
            repository.display()
        ));
    }
    None
}

/// Why `name` cannot be the new database of a restore, or None. `live`
/// is the database the backup came from.
pub fn database_problem(name: &str, live: Option<&str>) -> Option<String> {
    if name.is_empty() {
        return Some("type the name of the new database".into());
    }
    if name.len() > MAX_DB_NAME {
        return Some(format!(
            "'{name}' is {} bytes long; PostgreSQL names are at most {MAX_DB_NAME}",
            name.len()
        ));
    }
    // The engine quotes every name, so PostgreSQL would take almost
    // anything; what is refused here is what an operator cannot then type
    // safely in psql or a shell (spaces, quotes, slashes, semicolons).
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_alphanumeric() || "_-$".contains(*c)))
    {
        return Some(format!(
            "'{name}' has {c:?} in it: a database name here is letters, digits, '_', '-' or '$'"
        ));
    }
    if live == Some(name) {
        return Some(format!(
            "'{name}' is the live database this backup came from: a new database needs a new name (in place replaces the live one, with a safety copy)"
        ));
    }
    if ["postgres", "template0", "template1"].contains(&name) {
        return Some(format!(
            "'{name}' is one of PostgreSQL's own databases: choose another name"
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directories_inside_the_live_source_or_relative_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let live = vec![root.join("app/uploads")];
        let repo = root.join("repo");
        let ok = root.join("restores/x").display().to_string();
        assert_eq!(directory_problem(&ok, &live, &repo), None);
        // Beside the source, and a parent of it: not inside.
        let beside = root.join("app/uploads-restored").display().to_string();
        assert_eq!(directory_problem(&beside, &live, &repo), None);
        assert_eq!(
            directory_problem(&root.join("app").display().to_string(), &live, &repo),
            None
        );
        let inside = root.join("app/uploads/restored").display().to_string();
        let p = directory_problem(&inside, &live, &repo).unwrap();
        assert!(p.contains("inside the live source"), "{p}");
        // However it is written.
        let dotted = format!("{}/app/logs/../uploads/r", root.display());
        assert!(directory_problem(&dotted, &live, &repo).is_some());
        let p = directory_problem("restores/x", &live, &repo).unwrap();
        assert!(p.contains("not an absolute path"), "{p}");
        let p = directory_problem("", &live, &repo).unwrap();
        assert!(p.contains("type the directory"), "{p}");
        let p = directory_problem("/", &live, &repo).unwrap();
        assert!(p.contains("in place"), "{p}");
        let p = directory_problem(&repo.join("r").display().to_string(), &live, &repo).unwrap();
        assert!(p.contains("inside the repository"), "{p}");
    }

    #[test]
    fn database_names_are_checked() {
        assert_eq!(database_problem("shop_restored_1", Some("shop")), None);
        // The wizard's own proposal from any live name must pass.
        for ok in ["_x9", "9lives", "shop-copy", "café_restored_1"] {
            assert_eq!(database_problem(ok, Some("shop")), None, "{ok:?}");
        }
        for bad in ["", "shop copy", "sh\"op", "a/b", "x;drop"] {
            assert!(database_problem(bad, Some("shop")).is_some(), "{bad:?}");
        }
        let p = database_problem("shop copy", None).unwrap();
        assert!(p.contains("' '"), "{p}");
        let p = database_problem(&"a".repeat(64), None).unwrap();
        assert!(p.contains("at most 63"), "{p}");
        let p = database_problem("shop", Some("shop")).unwrap();
        assert!(p.contains("is the live database"), "{p}");
        assert!(database_problem("template1", None).is_some());
    }
}
