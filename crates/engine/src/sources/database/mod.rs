//! PostgreSQL source: where a database is, how to talk to it, and which
//! client tools can dump it.
//!
//! The dump itself is `pg_dump`'s job (its custom format is what `pg_restore`
//! reads, selectively and in parallel). Everything else — the connectivity
//! check, the server version, sizes for progress, per-table row counts for
//! the manifest, scratch databases for restores and drills — goes through
//! [`Pg`], a tokio-postgres client behind a small synchronous facade, because
//! the job engine is synchronous and a tool round trip per question would be
//! slow and would put more connection details on process environments.
//!
//! Passwords never appear in a message, a `Debug` dump or a command line:
//! [`ConnInfo`] keeps the password private and redacted, and libpq tools get
//! it through a private [`PassFile`] named by `PGPASSFILE`.

mod client;
mod connect_errors;
mod conninfo;
mod content;
mod props;
mod roles;
#[doc(hidden)]
pub mod testing;
mod tools;

#[cfg(test)]
mod tests;

pub use client::{CopyIn, Pg, ServerVersion, SplitTable, TableStat};
pub use conninfo::{mask_url, ConnInfo, PassFile};
pub use content::{
    compare_content, ContentFacts, LargeObjects, RowDigest, SequenceState, TableDigest, ROW_DIGEST,
};
pub use props::{quote_literal, DatabaseProps, DbGrant, RoleSettings};
pub use roles::{Globals, Membership, RoleDef, RolesApplied};
pub use tools::{check_tool_version, tool, tool_at, Tool};

/// Quote an identifier for SQL: wrapped in double quotes, inner double
/// quotes doubled, so any name (mixed case, spaces, quotes) is taken literally.
pub fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// A qualified `schema.name` with both parts quoted.
pub fn quote_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}
