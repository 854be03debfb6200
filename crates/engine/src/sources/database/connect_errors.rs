//! Turning tokio-postgres connection failures into operator-readable
//! errors: what could not be reached, why in plain words, what to check.

use std::time::Duration;

use tokio_postgres::error::SqlState;

use super::conninfo::ConnInfo;
use crate::error::Error;

/// A message for a failed connect that names the server and says what to do.
pub(super) fn connect_error(
    info: &ConnInfo,
    timeout: Duration,
    e: &tokio_postgres::Error,
) -> Error {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            return Error::refused(format!(
                "cannot connect to {}: {}",
                info.describe(),
                db.message()
            ))
            .hint(format!(
                "check the user and password in [sources.database] url and that pg_hba.conf lets user {} connect from this host",
                info.user
            ));
        }
        if *code == SqlState::UNDEFINED_DATABASE {
            return Error::not_found(format!(
                "cannot connect to {}: {}",
                info.describe(),
                db.message()
            ))
            .hint(
                "check the database name in [sources.database] url (`psql -l` lists the databases)",
            );
        }
        if *code == SqlState::TOO_MANY_CONNECTIONS || *code == SqlState::CANNOT_CONNECT_NOW {
            return Error::external(format!(
                "cannot connect to {}: {}",
                info.describe(),
                db.message()
            ))
            .hint("the server is busy or starting up; try again shortly");
        }
        return Error::external(format!(
            "cannot connect to {}: {}",
            info.describe(),
            db.message()
        ));
    }
    if let Some(io) = io_cause(e) {
        use std::io::ErrorKind as K;
        let cause = match io.kind() {
            K::TimedOut => format!("timed out after {}", fmt_duration(timeout)),
            K::ConnectionRefused => "connection refused".to_string(),
            K::NotFound if info.host.starts_with('/') => {
                "no server socket in that directory".to_string()
            }
            _ => io.to_string(),
        };
        return unreachable(info, &cause);
    }
    let text = plain_cause(e);
    if text.contains("password missing") {
        return Error::refused(format!(
            "cannot connect to {}: password authentication failed for user {} (the server asks for a password and none is set)",
            info.describe(),
            info.user
        ))
        .hint("add the password to [sources.database] url (postgres://USER:PASSWORD@HOST/DB)");
    }
    if text.contains("timed out") {
        return unreachable(info, &format!("timed out after {}", fmt_duration(timeout)));
    }
    unreachable(info, &text)
}

pub(super) fn unreachable(info: &ConnInfo, cause: &str) -> Error {
    Error::external(format!("cannot connect to {}: {cause}", info.describe())).hint(
        "check the PostgreSQL server is running and reachable from here, and the host and port in [sources.database] url",
    )
}

/// The innermost I/O error behind a tokio-postgres error, if any.
fn io_cause(e: &tokio_postgres::Error) -> Option<&std::io::Error> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        cur = err.source();
    }
    None
}

/// tokio-postgres's text plus its source, without the "db error:" prefix.
pub(super) fn plain_cause(e: &tokio_postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(src) => format!("{e}: {src}"),
        None => e.to_string(),
    }
}

/// "5s", "1.5s", "300ms".
pub(super) fn fmt_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 && d.as_secs() > 0 {
        format!("{}s", d.as_secs())
    } else if d.as_secs() > 0 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}ms", d.as_millis())
    }
}
