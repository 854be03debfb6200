//! What a database is besides its contents: owner, encoding and locale,
//! privileges on the database itself, its comment and the settings made
//! with `ALTER DATABASE ... SET` and `ALTER ROLE ... IN DATABASE ... SET`.
//!
//! `pg_dump` writes these only with `--create`, as statements that name the
//! database, so a restore under another name (`--target-db`, or beside the
//! live database for `--in-place`) cannot use them. lifeboat reads them from
//! the catalogs when it dumps, keeps them in the manifest, creates the new
//! database with the same encoding and locale and applies the rest once the
//! data is in, the way `pg_dump --create` would have, under the new name.

use serde::{Deserialize, Serialize};

use super::client::Pg;
use super::quote_ident;
use crate::error::{Error, Result};

/// Database-level properties of one database, as recorded in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DatabaseProps {
    pub owner: String,
    /// `pg_encoding_to_char(encoding)`, e.g. `UTF8`, `LATIN1`, `SQL_ASCII`.
    pub encoding: String,
    pub lc_collate: String,
    pub lc_ctype: String,
    /// `c` (libc), `i` (ICU) or `b` (builtin, 17+).
    #[serde(default = "libc_provider")]
    pub locale_provider: String,
    /// The ICU (or builtin) locale, when the provider is not libc.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub locale: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub icu_rules: Option<String>,
    /// -1 means no limit.
    #[serde(default = "no_limit")]
    pub connection_limit: i32,
    /// Privileges on the database; `None` when they are the defaults
    /// (`datacl` NULL: the owner all, PUBLIC CONNECT and TEMPORARY).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<Vec<DbGrant>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// `ALTER DATABASE ... SET`, as `name=value` (pg_db_role_setting's form).
    #[serde(default)]
    pub settings: Vec<String>,
    /// `ALTER ROLE ... IN DATABASE ... SET`.
    #[serde(default)]
    pub role_settings: Vec<RoleSettings>,
}

fn libc_provider() -> String {
    "c".to_string()
}

fn no_limit() -> i32 {
    -1
}

/// Privileges one grantee holds on the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DbGrant {
    /// `None` is PUBLIC.
    pub grantee: Option<String>,
    /// `CONNECT`, `CREATE`, `TEMPORARY`.
    pub privileges: Vec<String>,
    /// Held WITH GRANT OPTION.
    #[serde(default)]
    pub grantable: Vec<String>,
}

/// Settings of one role in this database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSettings {
    pub role: String,
    pub settings: Vec<String>,
}

/// How the database was created, from `to_jsonb(pg_database)`, whose
/// columns differ between major versions (`daticulocale` became
/// `datlocale` in 17).
#[derive(Deserialize)]
struct DatabaseRow {
    datcollate: String,
    datctype: String,
    #[serde(default)]
    datlocprovider: Option<String>,
    #[serde(default)]
    daticulocale: Option<String>,
    #[serde(default)]
    datlocale: Option<String>,
    #[serde(default)]
    daticurules: Option<String>,
    #[serde(default)]
    datconnlimit: Option<i32>,
}

impl Pg {
    /// The connected database's properties (see [`DatabaseProps`]).
    pub fn database_props(&self) -> Result<DatabaseProps> {
        let what = "read the database's properties";
        let rows = self.query(
            what,
            "SELECT pg_catalog.pg_get_userbyid(d.datdba)::text,
                    pg_catalog.pg_encoding_to_char(d.encoding)::text,
                    pg_catalog.to_jsonb(d)::text,
                    pg_catalog.shobj_description(d.oid, 'pg_database'),
                    d.datacl IS NULL
               FROM pg_catalog.pg_database d
              WHERE d.datname = pg_catalog.current_database()",
            &[],
        )?;
        let row = rows
            .first()
            .ok_or_else(|| Error::external(format!("cannot {what}: no row")))?;
        let raw: String = row.get(2);
        let db: DatabaseRow = serde_json::from_str(&raw)
            .map_err(|e| Error::external(format!("cannot {what}: {e}")))?;
        let default_acl: bool = row.get(4);
        let acl = if default_acl {
            None
        } else {
            Some(self.database_grants()?)
        };
        let mut settings = Vec::new();
        let mut role_settings = Vec::new();
        for r in self.query(
            what,
            "SELECT pg_catalog.pg_get_userbyid(s.setrole)::text, s.setrole = 0, s.setconfig
               FROM pg_catalog.pg_db_role_setting s
               JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
              WHERE d.datname = pg_catalog.current_database()
              ORDER BY 2 DESC, 1",
            &[],
        )? {
            let config: Vec<String> = r.get::<_, Option<Vec<String>>>(2).unwrap_or_default();
            if r.get::<_, bool>(1) {
                settings = config;
            } else {
                role_settings.push(RoleSettings {
                    role: r.get(0),
                    settings: config,
                });
            }
        }
        let provider = db.datlocprovider.unwrap_or_else(libc_provider);
        Ok(DatabaseProps {
            owner: row.get(0),
            encoding: row.get(1),
            lc_collate: db.datcollate,
            lc_ctype: db.datctype,
            locale: if provider == "c" {
                None
            } else {
                db.datlocale.or(db.daticulocale)
            },
            locale_provider: provider,
            icu_rules: db.daticurules,
            connection_limit: db.datconnlimit.unwrap_or(-1),
            acl,
            comment: row.get(3),
            settings,
            role_settings,
        })
    }

    /// `datacl` of the connected database as grants, in its own order.
    fn database_grants(&self) -> Result<Vec<DbGrant>> {
        let rows = self.query(
            "read the database's privileges",
            "SELECT CASE WHEN a.grantee = 0 THEN NULL
                         ELSE pg_catalog.pg_get_userbyid(a.grantee)::text END,
                    a.privilege_type::text, a.is_grantable
               FROM pg_catalog.pg_database d,
                    LATERAL pg_catalog.aclexplode(d.datacl) WITH ORDINALITY a
              WHERE d.datname = pg_catalog.current_database()
              ORDER BY a.ordinality",
            &[],
        )?;
        let mut grants: Vec<DbGrant> = Vec::new();
        for r in rows {
            let grantee: Option<String> = r.get(0);
            let privilege: String = r.get(1);
            let i = match grants.iter().position(|g| g.grantee == grantee) {
                Some(i) => i,
                None => {
                    grants.push(DbGrant {
                        grantee,
                        privileges: Vec::new(),
                        grantable: Vec::new(),
                    });
                    grants.len() - 1
                }
            };
            if r.get::<_, bool>(2) {
                grants[i].grantable.push(privilege.clone());
            }
            grants[i].privileges.push(privilege);
        }
        Ok(grants)
    }

    /// Roles among `names` that do not exist on this server.
    pub fn missing_roles(&self, names: &[String]) -> Result<Vec<String>> {
        self.missing_in("look up roles", "pg_roles", "rolname", names)
    }

    /// Names among `names` with no row in the shared catalog `catalog`
    /// (a fixed name, never input) whose name column is `column`.
    pub(super) fn missing_in(
        &self,
        what: &str,
        catalog: &str,
        column: &str,
        names: &[String],
    ) -> Result<Vec<String>> {
        let rows = self.query(
            what,
            &format!(
                "SELECT n FROM pg_catalog.unnest($1::text[]) n
                  WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.{catalog} c WHERE c.{column} = n)"
            ),
            &[&names],
        )?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// `CREATE DATABASE name TEMPLATE template0` with the encoding and
    /// locale of `props`, owned by `owner` (default: the connected role).
    pub fn create_database_like(
        &self,
        name: &str,
        props: &DatabaseProps,
        owner: Option<&str>,
    ) -> Result<()> {
        let server = self.server_version()?.num;
        self.run(
            &format!("create database {name}"),
            &create_database_sql(name, props, owner, server),
        )
    }

    /// Give the database `name` the owner, privileges, comment, connection
    /// limit and settings of `props`. Statements that name a role missing
    /// on this server are left out; the returned notes say which.
    /// `keep_owner` leaves the owner as it is (`--no-owner`).
    pub fn apply_database_props(
        &self,
        name: &str,
        props: &DatabaseProps,
        keep_owner: bool,
    ) -> Result<Vec<String>> {
        let mut roles: Vec<String> = Vec::new();
        if !keep_owner {
            roles.push(props.owner.clone());
        }
        for g in props.acl.iter().flatten() {
            roles.extend(g.grantee.clone());
        }
        roles.extend(props.role_settings.iter().map(|r| r.role.clone()));
        let missing = self.missing_roles(&roles)?;
        let (sql, notes) = apply_sql(name, props, keep_owner, &missing);
        self.run(&format!("set the properties of database {name}"), &sql)?;
        Ok(notes)
    }
}

/// A string literal that reads the same whatever
/// `standard_conforming_strings` is.
pub fn quote_literal(s: &str) -> String {
    if s.contains('\\') {
        format!("E'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn create_database_sql(
    name: &str,
    props: &DatabaseProps,
    owner: Option<&str>,
    server: u32,
) -> String {
    let mut sql = format!(
        "CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}",
        quote_ident(name),
        quote_literal(&props.encoding),
        quote_literal(&props.lc_collate),
        quote_literal(&props.lc_ctype)
    );
    if server >= 150000 {
        match (props.locale_provider.as_str(), &props.locale) {
            ("i", Some(l)) => {
                sql.push_str(&format!(
                    " LOCALE_PROVIDER icu ICU_LOCALE {}",
                    quote_literal(l)
                ));
                if let Some(r) = &props.icu_rules {
                    sql.push_str(&format!(" ICU_RULES {}", quote_literal(r)));
                }
            }
            ("b", Some(l)) => sql.push_str(&format!(
                " LOCALE_PROVIDER builtin BUILTIN_LOCALE {}",
                quote_literal(l)
            )),
            _ => sql.push_str(" LOCALE_PROVIDER libc"),
        }
    }
    if let Some(owner) = owner {
        sql.push_str(&format!(" OWNER {}", quote_ident(owner)));
    }
    sql
}

/// Settings whose value is a list of separately quoted items, as pg_dump's
/// `variable_is_guc_list_quote` knows them: written back one literal per
/// item, or `search_path = app, public` would become one schema named
/// "app, public".
const LIST_QUOTE: [&str; 6] = [
    "local_preload_libraries",
    "search_path",
    "session_preload_libraries",
    "shared_preload_libraries",
    "temp_tablespaces",
    "unix_socket_directories",
];

/// Split a stored list setting (`"$user", public`) into its items, as
/// PostgreSQL's `SplitGUCList` does: commas separate, double quotes
/// protect (`""` is a quote), whitespace around items is dropped.
fn split_guc_list(value: &str) -> Vec<String> {
    if value.trim().is_empty() {
        return Vec::new();
    }
    let mut items = Vec::new();
    let mut cur = String::new();
    // Unquoted whitespace is kept only when more of the item follows it.
    let mut pending = String::new();
    let mut quoted = false;
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if quoted {
            if c == '"' && chars.peek() == Some(&'"') {
                chars.next();
                cur.push('"');
            } else if c == '"' {
                quoted = false;
            } else {
                cur.push(c);
            }
        } else if c == ',' {
            items.push(std::mem::take(&mut cur));
            pending.clear();
        } else if c.is_whitespace() {
            if !cur.is_empty() {
                pending.push(c);
            }
        } else {
            cur.push_str(&pending);
            pending.clear();
            if c == '"' {
                quoted = true;
            } else {
                cur.push(c);
            }
        }
    }
    items.push(cur);
    items
}

/// `SET name TO value` as pg_dump's `makeAlterConfigCommand` writes it.
pub(super) fn set_clause(config: &str) -> String {
    let (name, value) = config.split_once('=').unwrap_or((config, ""));
    let value = if LIST_QUOTE.contains(&name.to_ascii_lowercase().as_str()) {
        let items = split_guc_list(value);
        if items.is_empty() {
            "''".to_string()
        } else {
            items
                .iter()
                .map(|i| quote_literal(i))
                .collect::<Vec<_>>()
                .join(", ")
        }
    } else {
        quote_literal(value)
    };
    format!("SET {} TO {value}", quote_ident(name))
}

/// The statements [`Pg::apply_database_props`] runs, and its notes.
fn apply_sql(
    name: &str,
    props: &DatabaseProps,
    keep_owner: bool,
    missing: &[String],
) -> (String, Vec<String>) {
    let db = quote_ident(name);
    let mut sql = String::new();
    let mut notes = Vec::new();
    let gone = |role: &str| missing.iter().any(|m| m == role);
    let note_missing = |role: &str, what: &str, notes: &mut Vec<String>| {
        notes.push(format!(
            "role {role} does not exist on this server: {what} of database {name} was not restored"
        ));
    };
    if !keep_owner {
        if gone(&props.owner) {
            note_missing(&props.owner, "the owner", &mut notes);
        } else {
            sql.push_str(&format!(
                "ALTER DATABASE {db} OWNER TO {};\n",
                quote_ident(&props.owner)
            ));
        }
    }
    if props.connection_limit != -1 {
        sql.push_str(&format!(
            "ALTER DATABASE {db} CONNECTION LIMIT {};\n",
            props.connection_limit
        ));
    }
    if let Some(acl) = &props.acl {
        // From no privileges at all to exactly the recorded ones.
        sql.push_str(&format!("REVOKE ALL ON DATABASE {db} FROM PUBLIC;\n"));
        sql.push_str(&format!(
            "DO $lb$ BEGIN EXECUTE pg_catalog.format('REVOKE ALL ON DATABASE %I FROM %I', {}, (SELECT pg_catalog.pg_get_userbyid(datdba) FROM pg_catalog.pg_database WHERE datname = {})); END $lb$;\n",
            quote_literal(name),
            quote_literal(name)
        ));
        for g in acl {
            let to = match &g.grantee {
                None => "PUBLIC".to_string(),
                Some(r) if gone(r) => {
                    note_missing(r, "a grant", &mut notes);
                    continue;
                }
                Some(r) => quote_ident(r),
            };
            let plain: Vec<&str> = g
                .privileges
                .iter()
                .filter(|p| !g.grantable.contains(p))
                .map(String::as_str)
                .collect();
            if !plain.is_empty() {
                sql.push_str(&format!(
                    "GRANT {} ON DATABASE {db} TO {to};\n",
                    plain.join(", ")
                ));
            }
            if !g.grantable.is_empty() {
                sql.push_str(&format!(
                    "GRANT {} ON DATABASE {db} TO {to} WITH GRANT OPTION;\n",
                    g.grantable.join(", ")
                ));
            }
        }
    }
    if let Some(c) = &props.comment {
        sql.push_str(&format!(
            "COMMENT ON DATABASE {db} IS {};\n",
            quote_literal(c)
        ));
    }
    for s in &props.settings {
        sql.push_str(&format!("ALTER DATABASE {db} {};\n", set_clause(s)));
    }
    for r in &props.role_settings {
        if gone(&r.role) {
            note_missing(&r.role, "the settings of that role", &mut notes);
            continue;
        }
        for s in &r.settings {
            sql.push_str(&format!(
                "ALTER ROLE {} IN DATABASE {db} {};\n",
                quote_ident(&r.role),
                set_clause(s)
            ));
        }
    }
    (sql, notes)
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn list_settings_keep_their_items_apart() {
        assert_eq!(
            set_clause("search_path=app, public"),
            "SET \"search_path\" TO 'app', 'public'"
        );
        assert_eq!(
            set_clause("search_path=\"$user\", \"we,ird\"\"s\", public"),
            "SET \"search_path\" TO '$user', 'we,ird\"s', 'public'"
        );
        assert_eq!(set_clause("search_path="), "SET \"search_path\" TO ''");
        assert_eq!(set_clause("search_path=\"\""), "SET \"search_path\" TO ''");
        assert_eq!(
            set_clause("temp_tablespaces=\" a b \" , c d"),
            "SET \"temp_tablespaces\" TO ' a b ', 'c d'"
        );
        assert_eq!(
            set_clause("DateStyle=SQL, DMY"),
            "SET \"DateStyle\" TO 'SQL, DMY'"
        );
        assert_eq!(
            set_clause("app.note=it's a\\b"),
            "SET \"app.note\" TO E'it''s a\\\\b'"
        );
    }
}
