//! The cluster-wide objects a database needs besides itself: the roles that
//! own its objects or hold its privileges (with their attributes,
//! memberships and settings) and the tablespaces its relations live in.
//!
//! `pg_dump` writes `OWNER TO` and `GRANT` statements that name roles but
//! never creates them (that is `pg_dumpall --globals-only`), so a database
//! restored onto a fresh server would fail on them. lifeboat reads the roles
//! from the catalogs in the dump's own snapshot, as [`super::props`] does for
//! the database's properties, keeps them in the manifest and creates the
//! missing ones before loading. Reading the catalogs rather than replaying
//! pg_dumpall's SQL lets a restore create exactly the roles that are missing
//! and leave existing ones alone.
//!
//! Password hashes are secrets: the caller keeps them only encrypted (see
//! `crypto::seal_small`), never in the manifest's plain JSON.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::client::Pg;
use super::props::{quote_literal, set_clause};
use super::quote_ident;
use crate::error::Result;

/// Roles and tablespaces of the server a database was dumped from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Globals {
    /// The roles the database needs: owners of it and of its objects,
    /// grantees of their privileges, roles with settings in it, the members
    /// of those roles and the roles they are members of. Never the
    /// bootstrap superuser or the predefined `pg_*` roles, which every
    /// server has.
    pub roles: Vec<RoleDef>,
    /// Tablespaces (other than the defaults) the database's relations use.
    #[serde(default)]
    pub tablespaces: Vec<String>,
    /// How password hashes were kept: `encrypted` (in `secrets`), or
    /// `omitted` with the reason in `passwords_note`.
    pub passwords: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passwords_note: Option<String>,
    /// Role name -> password hash, as JSON, sealed with the artifact's data
    /// key (`crypto::seal_small`), base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secrets: Option<String>,
}

/// One role as `CREATE ROLE` needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleDef {
    pub name: String,
    pub superuser: bool,
    pub inherit: bool,
    pub create_role: bool,
    pub create_db: bool,
    pub login: bool,
    pub replication: bool,
    pub bypass_rls: bool,
    /// -1 means no limit.
    pub connection_limit: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `ALTER ROLE ... SET`, as `name=value`.
    #[serde(default)]
    pub settings: Vec<String>,
    /// Roles this role is a member of.
    #[serde(default)]
    pub member_of: Vec<Membership>,
}

/// Membership of a role in `role`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Membership {
    pub role: String,
    pub admin: bool,
    /// PostgreSQL 16+: the grant's INHERIT and SET options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inherit: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set: Option<bool>,
}

/// A row of `pg_auth_members` through `to_jsonb`, whose columns differ
/// between major versions (16 added `inherit_option` and `set_option`).
#[derive(Deserialize)]
struct MemberRow {
    admin_option: bool,
    #[serde(default)]
    inherit_option: Option<bool>,
    #[serde(default)]
    set_option: Option<bool>,
}

/// Roles left out of a backup: every server has them.
const SKIP_ROLES: &str = "r.oid <> 10 AND r.rolname !~ '^pg_'";

impl Pg {
    /// The server's roles and the connected database's tablespaces (see
    /// [`Globals`]), without password hashes: `passwords` is filled in by
    /// the caller, which knows whether it can keep them encrypted.
    pub fn globals(&self) -> Result<Globals> {
        let what = "read the server's roles";
        let mut roles: Vec<RoleDef> = Vec::new();
        for r in self.query(
            what,
            &format!(
                "SELECT r.rolname::text, r.rolsuper, r.rolinherit, r.rolcreaterole,
                        r.rolcreatedb, r.rolcanlogin, r.rolreplication, r.rolbypassrls,
                        r.rolconnlimit,
                        pg_catalog.to_char(r.rolvaliduntil AT TIME ZONE 'UTC',
                                           'YYYY-MM-DD HH24:MI:SS.US+00'),
                        pg_catalog.shobj_description(r.oid, 'pg_authid')
                   FROM pg_catalog.pg_roles r
                  WHERE {SKIP_ROLES}
                  ORDER BY 1"
            ),
            &[],
        )? {
            roles.push(RoleDef {
                name: r.get(0),
                superuser: r.get(1),
                inherit: r.get(2),
                create_role: r.get(3),
                create_db: r.get(4),
                login: r.get(5),
                replication: r.get(6),
                bypass_rls: r.get(7),
                connection_limit: r.get(8),
                valid_until: r
                    .get::<_, Option<String>>(9)
                    .filter(|v| !v.contains("infinity")),
                comment: r.get(10),
                settings: Vec::new(),
                member_of: Vec::new(),
            });
        }
        for r in self.query(
            what,
            "SELECT pg_catalog.pg_get_userbyid(s.setrole)::text, s.setconfig
               FROM pg_catalog.pg_db_role_setting s
              WHERE s.setdatabase = 0 AND s.setrole <> 0",
            &[],
        )? {
            let name: String = r.get(0);
            if let Some(role) = roles.iter_mut().find(|x| x.name == name) {
                role.settings = r.get::<_, Option<Vec<String>>>(1).unwrap_or_default();
            }
        }
        for r in self.query(
            what,
            "SELECT pg_catalog.pg_get_userbyid(m.member)::text,
                    pg_catalog.pg_get_userbyid(m.roleid)::text,
                    pg_catalog.to_jsonb(m)::text
               FROM pg_catalog.pg_auth_members m
              ORDER BY 1, 2",
            &[],
        )? {
            let member: String = r.get(0);
            let raw: String = r.get(2);
            let row: MemberRow = serde_json::from_str(&raw)
                .map_err(|e| crate::error::Error::external(format!("cannot {what}: {e}")))?;
            let Some(role) = roles.iter_mut().find(|x| x.name == member) else {
                continue;
            };
            let granted: String = r.get(1);
            // 16+ keeps one row per grantor: one membership is enough.
            if role.member_of.iter().any(|m| m.role == granted) {
                continue;
            }
            role.member_of.push(Membership {
                role: granted,
                admin: row.admin_option,
                inherit: row.inherit_option,
                set: row.set_option,
            });
        }
        // The roles the database needs (pg_shdepend records owners and
        // grantees of every object but those of the bootstrap superuser),
        // then their members and what they are members of.
        let mut keep: std::collections::BTreeSet<String> = self
            .query(
                what,
                "WITH d AS (SELECT oid, datdba FROM pg_catalog.pg_database
                             WHERE datname = pg_catalog.current_database())
                 SELECT pg_catalog.pg_get_userbyid(s.refobjid)::text
                   FROM pg_catalog.pg_shdepend s, d
                  WHERE s.refclassid = 'pg_catalog.pg_authid'::pg_catalog.regclass
                    AND (s.dbid = d.oid
                         OR (s.dbid = 0 AND s.classid = 'pg_catalog.pg_database'::pg_catalog.regclass
                             AND s.objid = d.oid))
                 UNION
                 SELECT pg_catalog.pg_get_userbyid(s.setrole)::text
                   FROM pg_catalog.pg_db_role_setting s, d
                  WHERE s.setdatabase = d.oid AND s.setrole <> 0
                 UNION
                 SELECT pg_catalog.pg_get_userbyid(d.datdba)::text FROM d",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        // Members first (who holds the privileges through a group), then
        // what all of those are members of (where privileges come from).
        for down in [true, false] {
            loop {
                let before = keep.len();
                for r in &roles {
                    for m in &r.member_of {
                        if down && keep.contains(&m.role) {
                            keep.insert(r.name.clone());
                        } else if !down && keep.contains(&r.name) {
                            keep.insert(m.role.clone());
                        }
                    }
                }
                if keep.len() == before {
                    break;
                }
            }
        }
        roles.retain(|r| keep.contains(&r.name));
        let tablespaces = self
            .query(
                "read the database's tablespaces",
                "SELECT DISTINCT t.spcname::text
                   FROM pg_catalog.pg_class c
                   JOIN pg_catalog.pg_tablespace t ON t.oid = c.reltablespace
                  WHERE t.spcname NOT IN ('pg_default', 'pg_global')
                  ORDER BY 1",
                &[],
            )?
            .iter()
            .map(|r| r.get(0))
            .collect();
        Ok(Globals {
            roles,
            tablespaces,
            passwords: "omitted".to_string(),
            passwords_note: None,
            secrets: None,
        })
    }

    /// Password hashes of the roles [`Pg::globals`] reads, or `None` when
    /// the connected role may not read them (only superusers read
    /// `pg_authid`). Asked first, so a refusal does not abort the dump's
    /// snapshot transaction.
    pub fn role_passwords(&self) -> Result<Option<BTreeMap<String, String>>> {
        let what = "read the roles' passwords";
        let allowed: bool = self
            .query(
                what,
                "SELECT pg_catalog.has_table_privilege('pg_catalog.pg_authid', 'SELECT')",
                &[],
            )?
            .first()
            .map(|r| r.get(0))
            .unwrap_or(false);
        if !allowed {
            return Ok(None);
        }
        let rows = self.query(
            what,
            &format!(
                "SELECT r.rolname::text, r.rolpassword FROM pg_catalog.pg_authid r
                  WHERE {SKIP_ROLES} AND r.rolpassword IS NOT NULL"
            ),
            &[],
        )?;
        Ok(Some(rows.iter().map(|r| (r.get(0), r.get(1))).collect()))
    }

    /// Tablespaces among `names` that this server does not have.
    pub fn missing_tablespaces(&self, names: &[String]) -> Result<Vec<String>> {
        self.missing_in("look up tablespaces", "pg_tablespace", "spcname", names)
    }

    /// Create the roles of `globals` missing on this server, with their
    /// attributes, comment, settings, password (from `passwords`) and the
    /// memberships that involve them. Existing roles are left as they are
    /// unless `update` is set, which gives them the recorded attributes,
    /// settings and memberships too.
    pub fn apply_globals(
        &self,
        globals: &Globals,
        passwords: &BTreeMap<String, String>,
        update: bool,
    ) -> Result<RolesApplied> {
        let mut names: Vec<String> = Vec::new();
        for r in &globals.roles {
            names.push(r.name.clone());
            names.extend(r.member_of.iter().map(|m| m.role.clone()));
        }
        names.sort();
        names.dedup();
        let missing = self.missing_roles(&names)?;
        let server = self.server_version()?.num;
        let (sql, applied) = globals_sql(globals, passwords, &missing, update, server);
        if !sql.is_empty() {
            // The batch holds password hashes: keep it out of the server's
            // log (log_statement = ddl/all, or the failing statement logged
            // with log_min_error_statement), as far as this role may
            // (superuser only; otherwise the server's settings stand).
            // Separate from the batch: a simple query is logged before
            // any statement in it runs.
            let quiet = self
                .run(
                    "keep the role statements out of the server log",
                    "SET log_statement = 'none'; SET log_min_error_statement = 'panic'; \
                     SET log_min_duration_statement = -1",
                )
                .is_ok();
            if !quiet {
                tracing::debug!(
                    "not a superuser: the server's log settings apply to the role statements"
                );
            }
            // One transaction: a half-created set of roles helps nobody.
            self.run(
                "create the backup's roles",
                &format!("BEGIN;\n{sql}COMMIT;\n"),
            )
            .inspect_err(|_| {
                let _ = self.run("roll back", "ROLLBACK");
            })?;
            if quiet {
                let _ = self.run(
                    "restore the log settings",
                    "RESET log_statement; RESET log_min_error_statement; RESET log_min_duration_statement",
                );
            }
        }
        Ok(applied)
    }
}

/// What [`Pg::apply_globals`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RolesApplied {
    pub created: Vec<String>,
    /// Existing roles given the recorded attributes (`--update-roles`).
    pub updated: Vec<String>,
    /// Memberships left out because the granted role exists nowhere.
    pub notes: Vec<String>,
}

/// The statements [`Pg::apply_globals`] runs and what they do. `missing`:
/// the roles named in `globals` that this server does not have.
fn globals_sql(
    globals: &Globals,
    passwords: &BTreeMap<String, String>,
    missing: &[String],
    update: bool,
    server: u32,
) -> (String, RolesApplied) {
    let mut sql = String::new();
    let mut created = Vec::new();
    let mut updated = Vec::new();
    let mut notes = Vec::new();
    let is_missing = |n: &str| missing.iter().any(|m| m == n);
    for r in &globals.roles {
        let name = quote_ident(&r.name);
        if is_missing(&r.name) {
            sql.push_str(&format!("CREATE ROLE {name};\n"));
            created.push(r.name.clone());
        } else if update {
            updated.push(r.name.clone());
        } else {
            continue;
        }
        let flag = |on: bool, word: &str| format!(" {}{word}", if on { "" } else { "NO" });
        let mut attrs = String::new();
        attrs.push_str(&flag(r.superuser, "SUPERUSER"));
        attrs.push_str(&flag(r.inherit, "INHERIT"));
        attrs.push_str(&flag(r.create_role, "CREATEROLE"));
        attrs.push_str(&flag(r.create_db, "CREATEDB"));
        attrs.push_str(&flag(r.login, "LOGIN"));
        attrs.push_str(&flag(r.replication, "REPLICATION"));
        attrs.push_str(&flag(r.bypass_rls, "BYPASSRLS"));
        attrs.push_str(&format!(" CONNECTION LIMIT {}", r.connection_limit));
        if let Some(v) = &r.valid_until {
            attrs.push_str(&format!(" VALID UNTIL {}", quote_literal(v)));
        }
        if let Some(p) = passwords.get(&r.name) {
            attrs.push_str(&format!(" PASSWORD {}", quote_literal(p)));
        }
        sql.push_str(&format!("ALTER ROLE {name} WITH{attrs};\n"));
        if let Some(c) = &r.comment {
            sql.push_str(&format!(
                "COMMENT ON ROLE {name} IS {};\n",
                quote_literal(c)
            ));
        }
        if update && !is_missing(&r.name) {
            sql.push_str(&format!("ALTER ROLE {name} RESET ALL;\n"));
        }
        for s in &r.settings {
            sql.push_str(&format!("ALTER ROLE {name} {};\n", set_clause(s)));
        }
    }
    // Memberships once every role exists. A membership is restored when
    // the restore created (or may update) one of its two ends, and its
    // other end exists: in the backup or on this server already.
    let touched = |n: &str| created.iter().chain(updated.iter()).any(|c| c == n);
    for r in &globals.roles {
        for m in &r.member_of {
            if !touched(&r.name) && !touched(&m.role) {
                continue;
            }
            if is_missing(&m.role) && !globals.roles.iter().any(|x| x.name == m.role) {
                notes.push(format!(
                    "role {} does not exist on this server: the membership of {} in it was not restored",
                    m.role, r.name
                ));
                continue;
            }
            let mut with = vec![format!("ADMIN {}", m.admin)];
            if server >= 160000 {
                if let Some(i) = m.inherit {
                    with.push(format!("INHERIT {i}"));
                }
                if let Some(s) = m.set {
                    with.push(format!("SET {s}"));
                }
            }
            let with = if server >= 160000 {
                format!(" WITH {}", with.join(", "))
            } else if m.admin {
                " WITH ADMIN OPTION".to_string()
            } else {
                String::new()
            };
            sql.push_str(&format!(
                "GRANT {} TO {}{with};\n",
                quote_ident(&m.role),
                quote_ident(&r.name)
            ));
        }
    }
    (
        sql,
        RolesApplied {
            created,
            updated,
            notes,
        },
    )
}

#[cfg(test)]
mod unit {
    use super::*;

    fn role(name: &str) -> RoleDef {
        RoleDef {
            name: name.into(),
            superuser: false,
            inherit: true,
            create_role: false,
            create_db: false,
            login: true,
            replication: false,
            bypass_rls: false,
            connection_limit: -1,
            valid_until: None,
            comment: None,
            settings: vec!["work_mem=8MB".into()],
            member_of: vec![Membership {
                role: "app_owner".into(),
                admin: false,
                inherit: Some(true),
                set: Some(true),
            }],
        }
    }

    #[test]
    fn only_missing_roles_are_created_and_existing_ones_left_alone() {
        let g = Globals {
            roles: vec![role("app_owner"), role("app_rw")],
            tablespaces: Vec::new(),
            passwords: "encrypted".into(),
            passwords_note: None,
            secrets: None,
        };
        let pw = BTreeMap::from([("app_rw".to_string(), "SCRAM-SHA-256$x".to_string())]);
        let (sql, a) = globals_sql(&g, &pw, &["app_rw".into()], false, 160000);
        assert_eq!(a.created, vec!["app_rw"]);
        assert!(a.updated.is_empty());
        assert!(sql.contains("CREATE ROLE \"app_rw\";"), "{sql}");
        assert!(!sql.contains("CREATE ROLE \"app_owner\""), "{sql}");
        assert!(!sql.contains("ALTER ROLE \"app_owner\""), "{sql}");
        assert!(sql.contains("PASSWORD 'SCRAM-SHA-256$x'"), "{sql}");
        assert!(
            sql.contains("ALTER ROLE \"app_rw\" SET \"work_mem\" TO '8MB';"),
            "{sql}"
        );
        assert!(
            sql.contains(
                "GRANT \"app_owner\" TO \"app_rw\" WITH ADMIN false, INHERIT true, SET true;"
            ),
            "{sql}"
        );
        let (sql, a) = globals_sql(&g, &pw, &[], false, 160000);
        assert!(sql.is_empty() && a == RolesApplied::default());
        let (sql, a) = globals_sql(&g, &pw, &[], true, 150000);
        assert_eq!(a.updated, vec!["app_owner", "app_rw"]);
        assert!(sql.contains("ALTER ROLE \"app_owner\" RESET ALL;"), "{sql}");
        assert!(sql.contains("GRANT \"app_owner\" TO \"app_rw\";"), "{sql}");
    }
}
