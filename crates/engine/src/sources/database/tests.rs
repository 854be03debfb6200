//! Tests against the real PostgreSQL server (see [`super::testing`]); URL
//! parsing, redaction and tool lookup need no server.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

use super::testing::{test_server, unique_name, ScratchDb};
use super::*;
use crate::error::ErrorKind;

const SECRET_URL: &str = "postgres://panel:s3cret@db.internal:6543/panel?sslmode=disable";

fn connect(info: &ConnInfo) -> Pg {
    Pg::connect(info, Duration::from_secs(10)).expect("connect")
}

// ---- URL parsing and redaction (no server) ----

#[test]
fn parses_full_and_minimal_urls() {
    let info = ConnInfo::parse(SECRET_URL).unwrap();
    assert_eq!(
        (
            info.host.as_str(),
            info.port,
            info.user.as_str(),
            info.dbname.as_str()
        ),
        ("db.internal", 6543, "panel", "panel")
    );
    assert!(info.has_password());
    assert_eq!(info.describe(), "database panel on db.internal:6543");

    let info = ConnInfo::parse("postgresql://localhost").unwrap();
    assert_eq!(
        (
            info.host.as_str(),
            info.port,
            info.user.as_str(),
            info.dbname.as_str()
        ),
        ("localhost", 5432, "postgres", "postgres")
    );
    assert!(!info.has_password());

    let info = ConnInfo::parse("postgres://u%40x:p%3Aw@[::1]:5433/my%20db").unwrap();
    assert_eq!(info.user, "u@x");
    assert_eq!(info.password(), Some("p:w"));
    assert_eq!(info.host, "::1");
    assert_eq!(info.dbname, "my db");
    assert_eq!(info.describe(), "database my db on [::1]:5433");

    // An unencoded '@' in the password still parses.
    let info = ConnInfo::parse("postgres://u:a@b@h/d").unwrap();
    assert_eq!((info.password(), info.host.as_str()), (Some("a@b"), "h"));

    let other = info.with_db("scratch");
    assert_eq!(other.dbname, "scratch");
    assert_eq!(other.password(), Some("a@b"));
}

#[test]
fn malformed_urls_are_usage_errors_without_the_password() {
    for url in [
        "mysql://panel:s3cret@h/db",
        "postgres://panel:s3cret@h:notaport/db",
        "postgres://panel:s3cret@h:70000/db",
        "postgres://panel:s3cret@/db",
        "postgres://panel:s3cret@h/db?sslmode=require",
        "postgres://panel:s3cret@h/db?bogus=1",
        "postgres://panel:s3cret@h/db?password=s3cret",
        "postgres://panel:s3cret@h/d%zz",
        "postgres://panel:s3cret@[::1/db",
    ] {
        let err = ConnInfo::parse(url).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Usage, "{url}");
        let shown = format!("{}\n{err:?}", err.display_with_hint());
        assert!(shown.contains("invalid database URL"), "{shown}");
        assert!(
            !shown.contains("s3cret"),
            "password leaked for {url}: {shown}"
        );
        assert!(shown.contains("panel:***@"), "{shown}");
    }
    let err = ConnInfo::parse("postgres://panel:s3cret@h:notaport/db").unwrap_err();
    assert!(err.message.contains("\"notaport\""), "{}", err.message);
}

#[test]
fn password_never_in_debug_describe_or_env() {
    let info = ConnInfo::parse(SECRET_URL).unwrap();
    let debug = format!("{info:?} {:?}", info.with_db("x"));
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(!debug.contains("s3cret"), "{debug}");
    assert!(!info.describe().contains("s3cret"));
    assert_eq!(
        mask_url(SECRET_URL),
        "postgres://panel:***@db.internal:6543/panel?sslmode=disable"
    );

    let pass = PassFile::create(&info).unwrap().expect("a password file");
    let env = info.libpq_env(Some(&pass));
    let env_text = format!("{env:?} {pass:?}");
    assert!(!env_text.contains("s3cret"), "{env_text}");
    let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
    assert_eq!(get("PGHOST"), Some("db.internal"));
    assert_eq!(get("PGPORT"), Some("6543"));
    assert_eq!(get("PGUSER"), Some("panel"));
    assert_eq!(get("PGDATABASE"), Some("panel"));
    assert_eq!(get("PGCONNECT_TIMEOUT"), Some("10"));
    assert_eq!(get("PGPASSFILE"), Some(pass.path().to_str().unwrap()));
    assert!(get("PGPASSWORD").is_none());

    // A failed connect names the server but not the password.
    let unreachable = ConnInfo::parse("postgres://panel:s3cret@127.0.0.1:1/panel").unwrap();
    let err = Pg::connect(&unreachable, Duration::from_secs(2)).unwrap_err();
    let shown = format!("{}\n{err:?}", err.display_with_hint());
    assert!(!shown.contains("s3cret"), "{shown}");
}

#[test]
fn passfile_is_private_escaped_and_removed() {
    let info = ConnInfo::parse("postgres://pa%3Anel:se%3Ac%5Cret@h:5433/db").unwrap();
    let pass = PassFile::create(&info).unwrap().unwrap();
    let path = pass.path().to_path_buf();
    let dir = path.parent().unwrap().to_path_buf();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    assert_eq!(
        std::fs::read_to_string(&path).unwrap(),
        "*:5433:*:pa\\:nel:se\\:c\\\\ret\n"
    );
    drop(pass);
    assert!(!path.exists() && !dir.exists());

    let none = ConnInfo::parse("postgres://u@h/db").unwrap();
    assert!(PassFile::create(&none).unwrap().is_none());
    assert!(none.libpq_env(None).iter().all(|(k, _)| k != "PGPASSFILE"));
}

#[test]
fn quoting_identifiers() {
    assert_eq!(quote_ident("panel"), "\"panel\"");
    assert_eq!(quote_ident("My \"odd\" name"), "\"My \"\"odd\"\" name\"");
    assert_eq!(quote_qualified("app", "T"), "\"app\".\"T\"");
}

// ---- Connecting ----

#[test]
fn connects_and_reads_server_version() {
    let Some(admin) = test_server() else { return };
    let pg = connect(&admin);
    let v = pg.server_version().unwrap();
    let num = pg.query_one_i64("SHOW server_version_num").unwrap();
    assert_eq!(v.num as i64, num);
    assert!(v.major() >= 10, "{v:?}");
    assert!(v.text.starts_with(&format!("{}.", v.major())), "{v:?}");
    assert!(pg.database_size(&admin.dbname).unwrap() > 1_000_000);
}

#[test]
fn refused_port_fails_fast_and_names_the_server() {
    let info = ConnInfo::parse("postgres://postgres@127.0.0.1:1/panel").unwrap();
    let started = Instant::now();
    let err = Pg::connect(&info, Duration::from_secs(5)).unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(
        err.message,
        "cannot connect to database panel on 127.0.0.1:1: connection refused"
    );
    assert!(err
        .hint
        .as_deref()
        .unwrap()
        .contains("[sources.database] url"));
}

#[test]
fn silent_server_times_out_instead_of_hanging() {
    // Accepts the TCP connection (the kernel does, via the backlog) and
    // never answers the startup message.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let info = ConnInfo::parse(&format!("postgres://postgres@127.0.0.1:{port}/panel")).unwrap();
    let started = Instant::now();
    let err = Pg::connect(&info, Duration::from_secs(1)).unwrap_err();
    let took = started.elapsed();
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(took >= Duration::from_millis(900), "took {took:?}");
    assert_eq!(
        err.message,
        format!("cannot connect to database panel on 127.0.0.1:{port}: timed out after 1s")
    );
    drop(listener);
}

#[test]
fn missing_database_is_a_clear_not_found() {
    let Some(admin) = test_server() else { return };
    let name = unique_name("lb_missing");
    let err = Pg::connect(&admin.with_db(&name), Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(
        err.message,
        format!(
            "cannot connect to database {name} on {}: database \"{name}\" does not exist",
            admin.server()
        )
    );
    assert!(err.hint.unwrap().contains("database name"));

    let pg = connect(&admin);
    assert_eq!(
        pg.database_size(&name).unwrap_err().kind,
        ErrorKind::NotFound
    );
}

#[test]
fn unknown_role_is_an_authentication_error() {
    // Trust auth cannot reject a password, but it does reject a role that
    // does not exist, through the same authentication path.
    let Some(admin) = test_server() else { return };
    let mut info = admin.clone();
    info.user = unique_name("lb_nobody");
    let err = Pg::connect(&info, Duration::from_secs(5)).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err
        .message
        .starts_with(&format!("cannot connect to {}: ", info.describe())));
    assert!(err.message.contains(&info.user), "{}", err.message);
    assert!(err.hint.unwrap().contains("user and password"));
}

// ---- Introspection ----

const SCHEMA: &str = r#"
    CREATE SCHEMA app;
    CREATE TABLE public.users (id serial PRIMARY KEY, name text NOT NULL, meta jsonb);
    CREATE TABLE app."Order Items" (id bigint PRIMARY KEY, r text, "User" int REFERENCES public.users(id));
    CREATE TABLE app.empty (x int);
    INSERT INTO public.users (name, meta) SELECT 'user ' || g, jsonb_build_object('n', g) FROM generate_series(1, 50) g;
    INSERT INTO app."Order Items" SELECT g, 'item ' || g, 1 + g % 50 FROM generate_series(1, 200) g;
"#;

#[test]
fn table_stats_cover_schemas_and_quoted_names() {
    let Some(admin) = test_server() else { return };
    let scratch = ScratchDb::create(&admin);
    let pg = scratch.connect();
    pg.execute(SCHEMA).unwrap();

    let stats = pg.table_stats().unwrap();
    let summary: Vec<(&str, &str, u64)> = stats
        .iter()
        .map(|t| (t.schema.as_str(), t.name.as_str(), t.rows))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("app", "Order Items", 200),
            ("app", "empty", 0),
            ("public", "users", 50),
        ]
    );
    assert!(
        stats.iter().filter(|t| t.rows > 0).all(|t| t.bytes > 8192),
        "{stats:?}"
    );

    let json = serde_json::to_string(&stats).unwrap();
    let back: Vec<TableStat> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, stats);
}

#[test]
fn table_checksums_are_stable_and_see_changes() {
    let Some(admin) = test_server() else { return };
    let a = ScratchDb::create(&admin);
    let b = ScratchDb::create(&admin);
    let (pa, pb) = (a.connect(), b.connect());
    pa.execute(SCHEMA).unwrap();
    pb.execute(SCHEMA).unwrap();

    let first = pa.table_checksums().unwrap();
    assert_eq!(
        first.iter().map(|(t, _)| t.as_str()).collect::<Vec<_>>(),
        vec!["app.Order Items", "app.empty", "public.users"]
    );
    assert!(first.iter().all(|(_, sum)| sum.len() == 32));
    assert_eq!(pa.table_checksums().unwrap(), first);
    // Same rows inserted in another order: same checksums.
    pb.execute("DELETE FROM app.\"Order Items\"; INSERT INTO app.\"Order Items\" SELECT g, 'item ' || g, 1 + g % 50 FROM generate_series(200, 1, -1) g")
        .unwrap();
    assert_eq!(pb.table_checksums().unwrap(), first);

    assert_eq!(
        pa.execute("UPDATE app.\"Order Items\" SET r = 'changed' WHERE id = 7")
            .unwrap(),
        1
    );
    let after = pa.table_checksums().unwrap();
    assert_ne!(after[0].1, first[0].1);
    assert_eq!(after[1..], first[1..]);
}

// ---- Managing databases ----

#[test]
fn create_rename_drop_and_list() {
    let Some(admin) = test_server() else { return };
    let pg = connect(&admin);
    // The guard owns the final name, so a failing assertion still drops it.
    let guard = ScratchDb::create(&admin);
    let renamed = unique_name("lb_test_renamed");
    let final_guard = RenameGuard {
        admin: admin.clone(),
        name: renamed.clone(),
    };

    assert!(pg.database_exists(guard.name()).unwrap());
    assert!(pg
        .list_databases()
        .unwrap()
        .contains(&guard.name().to_string()));
    assert!(!pg
        .list_databases()
        .unwrap()
        .contains(&"template0".to_string()));

    let err = pg.create_database(guard.name(), None).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert!(err.message.contains("already exists"), "{}", err.message);

    pg.rename_database(guard.name(), &renamed).unwrap();
    assert!(!pg.database_exists(guard.name()).unwrap());
    assert!(pg.database_exists(&renamed).unwrap());

    pg.drop_database(&renamed).unwrap();
    assert!(!pg.database_exists(&renamed).unwrap());
    // Dropping what is gone is fine.
    pg.drop_database(&renamed).unwrap();
    drop(final_guard);

    // Owner and a name that needs quoting.
    let odd = format!("{} Mixed\"Case", unique_name("lb_test"));
    let _odd_guard = RenameGuard {
        admin: admin.clone(),
        name: odd.clone(),
    };
    pg.create_database(&odd, Some("postgres")).unwrap();
    assert!(pg.database_exists(&odd).unwrap());
    pg.drop_database(&odd).unwrap();
    assert!(!pg.database_exists(&odd).unwrap());
}

/// Drops a database by name on drop (for names a [`ScratchDb`] does not own).
struct RenameGuard {
    admin: ConnInfo,
    name: String,
}

impl Drop for RenameGuard {
    fn drop(&mut self) {
        if let Ok(pg) = Pg::connect(&self.admin, Duration::from_secs(10)) {
            let _ = pg.drop_database(&self.name);
        }
    }
}

#[test]
fn terminate_and_block_connections() {
    let Some(admin) = test_server() else { return };
    let scratch = ScratchDb::create(&admin);
    let pg = connect(&admin);
    let client = scratch.connect();
    assert_eq!(client.query_one_i64("SELECT 1").unwrap(), 1);
    assert_eq!(pg.connection_count(scratch.name()).unwrap(), 1);

    // Renaming under a connected client is refused...
    let err = pg
        .rename_database(scratch.name(), &unique_name("lb_test_x"))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused, "{}", err.message);

    // ...until the client is disconnected.
    assert_eq!(pg.terminate_connections(scratch.name()).unwrap(), 1);
    assert_eq!(pg.connection_count(scratch.name()).unwrap(), 0);
    let err = client.query_one_i64("SELECT 1").unwrap_err();
    let shown = err.display_with_hint();
    assert!(shown.contains("cannot run SQL on"), "{shown}");

    pg.set_allow_connections(scratch.name(), false).unwrap();
    let err = Pg::connect(&scratch.info(), Duration::from_secs(5)).unwrap_err();
    assert!(
        err.message
            .contains("is not currently accepting connections"),
        "{}",
        err.message
    );
    pg.set_allow_connections(scratch.name(), true).unwrap();
    assert_eq!(scratch.connect().query_one_i64("SELECT 2").unwrap(), 2);
}

// ---- Client tools ----

#[test]
fn finds_pg_dump_and_reports_missing_tools() {
    let dump = tool("pg_dump").unwrap();
    assert!(dump.path.is_file());
    assert!(dump.major >= 10, "{dump:?}");
    assert!(
        dump.version.starts_with("pg_dump (PostgreSQL) "),
        "{dump:?}"
    );
    assert!(dump.release().starts_with(&format!("{}.", dump.major)));

    let err = tool("pg_nonexistent").unwrap_err();
    assert_eq!(err.kind, ErrorKind::NotFound);
    assert_eq!(err.message, "pg_nonexistent was not found on PATH");
    assert!(err
        .hint
        .unwrap()
        .contains("apt-get install postgresql-client"));
}

#[test]
fn older_tool_than_server_is_refused() {
    let dir = std::env::temp_dir().join(unique_name("lb_fake_tool"));
    std::fs::create_dir(&dir).unwrap();
    let fake = dir.join("pg_dump");
    std::fs::write(&fake, "#!/bin/sh\necho 'pg_dump (PostgreSQL) 13.4'\n").unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
    let old = tool_at(&fake);
    std::fs::remove_dir_all(&dir).unwrap();
    let old = old.unwrap();
    assert_eq!((old.major, old.release()), (13, "13.4"));

    let server = ServerVersion {
        num: 150019,
        text: "15.19 (Debian 15.19-0+deb12u1)".into(),
    };
    let err = check_tool_version(&old, &server).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Refused);
    assert_eq!(
        err.message,
        "pg_dump 13.4 is older than the server (15.19); it cannot dump this database safely"
    );
    assert!(err.hint.unwrap().contains("PostgreSQL 15 client"));

    // Same major, older minor, and newer tools are fine.
    let same = Tool {
        version: "pg_dump (PostgreSQL) 15.2".into(),
        major: 15,
        ..old.clone()
    };
    check_tool_version(&same, &server).unwrap();

    // And the installed pg_dump suits the running server.
    let Some(admin) = test_server() else { return };
    let real = connect(&admin).server_version().unwrap();
    check_tool_version(&tool("pg_dump").unwrap(), &real).unwrap();
}

/// Row counts taken from the content digests' COPYs are the counts a
/// `count(*)` gives, also for an inheritance parent (whose digest reads
/// only its own rows) and a partitioned table (which has no digest).
#[test]
fn counts_from_the_digests_equal_a_count_of_every_table() {
    let Some(admin) = test_server() else { return };
    let scratch = ScratchDb::create(&admin);
    let pg = scratch.connect();
    pg.execute(SCHEMA).unwrap();
    pg.execute(
        "CREATE TABLE app.parent (id int);
         CREATE TABLE app.child () INHERITS (app.parent);
         INSERT INTO app.parent SELECT generate_series(1, 5);
         INSERT INTO app.child SELECT generate_series(1, 7);
         CREATE TABLE app.parted (id int) PARTITION BY RANGE (id);
         CREATE TABLE app.part1 PARTITION OF app.parted FOR VALUES FROM (0) TO (100);
         INSERT INTO app.parted SELECT generate_series(1, 9);",
    )
    .unwrap();
    let digests = pg.table_digests(&[]).unwrap();
    let counted: Vec<(&str, &str, u64)> = digests
        .iter()
        .map(|d| (d.schema.as_str(), d.name.as_str(), d.rows))
        .collect();
    assert!(counted.contains(&("app", "parent", 5)), "{counted:?}");
    let rows = |v: Vec<TableStat>| -> Vec<(String, String, u64)> {
        v.into_iter().map(|t| (t.schema, t.name, t.rows)).collect()
    };
    let scanned = rows(pg.table_stats_except(&[]).unwrap());
    assert!(
        scanned.contains(&("app".into(), "parent".into(), 12)),
        "{scanned:?}"
    );
    assert_eq!(
        rows(pg.table_stats_counted(&[], &counted).unwrap()),
        scanned
    );
}
