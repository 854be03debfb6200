//! `lifeboat drill` with the real binary against a real sandbox: files,
//! configuration and a real PostgreSQL database are recovered into a
//! scratch directory and a scratch database, verified, and cleaned up,
//! while production stays exactly as it was.
//!
//! The database parts need PostgreSQL (see tests/database.rs): without a
//! reachable server they are skipped, unless `LIFEBOAT_REQUIRE_PG=1`.

use std::fs;
use std::path::Path;
use std::time::Duration;

use crate::common::*;
use lifeboat_engine::sources::database::testing::{test_server, unique_name};
use lifeboat_engine::sources::database::{ConnInfo, Pg};
use serde_json::Value;

fn connect(info: &ConnInfo) -> Pg {
    Pg::connect(info, Duration::from_secs(10)).expect("connect to the test server")
}

/// A production database with 250 orders; dropping it drops it and every
/// database derived from its name.
struct Db {
    admin: ConnInfo,
    name: String,
}

impl Db {
    fn create(admin: &ConnInfo) -> Db {
        let name = unique_name("lb_drill");
        connect(admin).create_database(&name, None).unwrap();
        let db = Db {
            admin: admin.clone(),
            name,
        };
        db.pg()
            .execute(
                "CREATE TABLE orders (id int PRIMARY KEY, item text); \
                 INSERT INTO orders SELECT g, 'item ' || g FROM generate_series(1, 250) g;",
            )
            .unwrap();
        db
    }
    fn pg(&self) -> Pg {
        connect(&self.admin.with_db(&self.name))
    }
    /// Databases on the server whose name starts with this one's + `_`.
    fn derived(&self) -> Vec<String> {
        let p = format!("{}_", self.name);
        connect(&self.admin)
            .list_databases()
            .unwrap()
            .into_iter()
            .filter(|n| n.starts_with(&p))
            .collect()
    }
    fn checksums(&self) -> Vec<(String, String)> {
        self.pg().table_checksums().unwrap()
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        let Ok(pg) = Pg::connect(&self.admin, Duration::from_secs(10)) else {
            return;
        };
        let mut names = vec![self.name.clone()];
        names.extend(self.derived());
        for n in names {
            let _ = pg.drop_database(&n);
        }
    }
}

fn db_sandbox(db: &Db, extra: &str) -> Sandbox {
    let sb = Sandbox::with_extra_config(&format!(
        // Hourly database backups, so the schedule can meet the 1-hour RPO
        // (the seed's 6-hour schedule cannot, and health says so).
        "{extra}[schedule.database]\nevery = \"hourly\"\n[sources.database]\nurl = \"{}\"\n",
        pg_url_for(&db.name)
    ));
    populate(&sb.app);
    sb
}

/// Everything production consists of, to compare before and after.
fn production(sb: &Sandbox) -> (Vec<u8>, Vec<u8>, String) {
    (
        fs::read(sb.app.join("config.py")).unwrap(),
        fs::read(sb.app.join(".env")).unwrap(),
        format!(
            "{:?}{:?}",
            checksum_tree(&sb.app.join("uploads")),
            checksum_tree(&sb.app.join("logs"))
        ),
    )
}

fn health(sb: &Sandbox) -> (i32, Value) {
    let out = sb.run(&["--json", "health"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("health --json: {e}\n{}", all_text(&out)));
    (out.status.code().unwrap(), v)
}

fn check<'a>(r: &'a Value, id: &str) -> &'a Value {
    r["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap_or_else(|| panic!("no check {id} in {r:#}"))
}

#[test]
fn drill_recovers_into_a_sandbox_and_leaves_production_alone() {
    let Some(admin) = test_server() else { return };
    let db = Db::create(&admin);
    let sb = db_sandbox(&db, "");
    sb.generate_key();
    let all = sb.json(&["backup", "--all"]);
    assert_eq!(all["ok"], true, "{all}");
    let before = production(&sb);
    let db_before = db.checksums();
    let repo_before = sb.repo_files();

    let out = sb.run(&["--json", "drill"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(r["ok"], true, "{r:#}");

    // Production untouched: files, configuration, database, repository.
    assert_eq!(production(&sb), before);
    assert_eq!(db.checksums(), db_before);
    assert_eq!(
        db.pg()
            .query_one_i64("SELECT count(*) FROM orders")
            .unwrap(),
        250
    );
    let new_repo_files: Vec<_> = sb
        .repo_files()
        .into_iter()
        .filter(|p| !repo_before.contains(p))
        .collect();
    assert!(
        new_repo_files.is_empty(),
        "the drill wrote backups: {new_repo_files:?}"
    );

    // It did restore a scratch database (and checked its rows), then dropped it.
    let scratch = r["scratch_databases"].as_array().unwrap();
    assert_eq!(scratch.len(), 1, "{r:#}");
    let scratch = scratch[0].as_str().unwrap();
    assert!(
        scratch.starts_with(&format!("{}_drill_", db.name)),
        "{scratch}"
    );
    assert!(db.derived().is_empty(), "left behind: {:?}", db.derived());
    let timeline = r["recovery"]["timeline"].as_array().unwrap();
    let db_phase = timeline
        .iter()
        .find(|p| p["name"] == "restore database")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert!(
        db_phase["outcome"]
            .as_str()
            .unwrap()
            .contains("250 rows match"),
        "{db_phase}"
    );
    // And compared their contents, not only their number.
    assert!(
        db_phase["outcome"]
            .as_str()
            .unwrap()
            .contains("the sequences, large objects and database properties match"),
        "{db_phase}"
    );
    let verify = timeline.iter().find(|p| p["name"] == "verify").unwrap();
    let verified = verify["outcome"].as_str().unwrap();
    assert!(
        verified.contains("restored file entries match") && verified.contains("configuration: all"),
        "{verify}"
    );
    // The sandbox is gone, and was under the catalog's directory.
    let sandbox = Path::new(r["sandbox"].as_str().unwrap());
    assert!(sandbox.starts_with(sb.catalog.parent().unwrap().join("drills")));
    assert!(!sandbox.exists());
    // Measured times.
    let rec = &r["recovery"];
    assert!(rec["recovery_seconds"].as_f64().unwrap() > 0.0);
    assert!(rec["data_loss_seconds"].as_i64().unwrap() >= 0);
    let types: Vec<&str> = rec["restore_seconds"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t[0].as_str().unwrap())
        .collect();
    for t in ["configuration", "database", "filesystem"] {
        assert!(types.contains(&t), "{rec:#}");
    }
    // The report next to the catalog.
    let md_path = Path::new(rec["report_file"].as_str().unwrap());
    assert_eq!(md_path.parent(), sb.catalog.parent());
    assert!(md_path
        .file_name()
        .unwrap()
        .to_string_lossy()
        .starts_with("drill-"));
    let md = fs::read_to_string(md_path).unwrap();
    assert!(md.contains("# Recovery drill report"), "{md}");
    assert!(
        md.contains("- Time to restore (this run, assessment to verification): "),
        "{md}"
    );
    assert!(md.contains("Data-loss window"), "{md}");
    assert!(
        md.contains(&format!("scratch database {scratch} dropped")),
        "{md}"
    );

    // A job of kind drill, succeeded, with its phases and measurements.
    let job = sb.job(r["job_id"].as_i64().unwrap());
    assert_eq!(job["kind"], "drill");
    assert_eq!(job["state"], "succeeded", "{job:#}");
    let log: Vec<&str> = job["log"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect();
    assert!(log.iter().any(|l| l.starts_with("phase: ")), "{log:?}");
    assert!(
        log.iter()
            .any(|l| l.starts_with("measured: total recovery")),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|l| l.starts_with("measured: restore database took")),
        "{log:?}"
    );

    // Health reads the drill: last drill and RTO are fine. With one
    // verification too, everything is: exit 0.
    let (_, h) = health(&sb);
    assert_eq!(check(&h, "drill_age")["status"], "ok", "{h:#}");
    let rto = check(&h, "rto");
    assert_eq!(rto["status"], "ok", "{rto}");
    let fs_id = sb.json(&["list", "--type", "filesystem"])[0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    sb.ok(&["verify", &fs_id]);
    let (code, h) = health(&sb);
    assert_eq!(code, 0, "{h:#}");
    assert_eq!(h["verdict"], "ok");
    assert_eq!(check(&h, "postgres")["status"], "ok");
}

#[test]
fn failed_drill_drops_its_scratch_database_and_is_recorded() {
    let Some(admin) = test_server() else { return };
    let db = Db::create(&admin);
    // No key: manifests are not authenticated, so one can be edited to
    // claim rows the dump does not have. The restore into the scratch
    // database then fails its row-count check, after the database exists.
    let sb = db_sandbox(&db, "allow_plaintext_secrets = true\n");
    let all = sb.json(&["backup", "--all"]);
    assert_eq!(all["ok"], true, "{all}");
    let dbb = all["types"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["type"] == "database")
        .unwrap()["backups"][0]
        .clone();
    let mpath = manifest_of(&file_of(&dbb));
    let mut m = read_json(&mpath);
    let tables = m["database"]["tables"].as_array_mut().unwrap();
    let orders = tables.iter_mut().find(|t| t["name"] == "orders").unwrap();
    orders["rows"] = serde_json::json!(251);
    write_json(&mpath, &m);
    let before = production(&sb);

    let out = sb.run(&["--json", "drill"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert_eq!(r["ok"], false);
    let notes = r["recovery"]["notes"].to_string();
    assert!(notes.contains("FAILED database"), "{notes}");
    assert!(notes.contains("251"), "says what did not match: {notes}");
    assert!(db.derived().is_empty(), "left behind: {:?}", db.derived());
    assert!(!Path::new(r["sandbox"].as_str().unwrap()).exists());
    assert_eq!(production(&sb), before);
    assert_eq!(
        db.pg()
            .query_one_i64("SELECT count(*) FROM orders")
            .unwrap(),
        250
    );
    let job = sb.job(r["job_id"].as_i64().unwrap());
    assert_eq!(job["kind"], "drill");
    assert_eq!(job["state"], "failed", "{job:#}");
    assert!(
        job["error"]
            .as_str()
            .unwrap()
            .contains("did not recover everything"),
        "{job:#}"
    );

    // Health says so, critically, and points at the job.
    let (code, h) = health(&sb);
    assert_eq!(code, 2, "{h:#}");
    let c = check(&h, "drill_age");
    assert_eq!(c["status"], "critical", "{c}");
    assert!(
        c["advice"]
            .as_str()
            .unwrap()
            .contains(&format!("lifeboat status {}", r["job_id"])),
        "{c}"
    );
}

#[test]
fn drill_of_files_with_keep_leaves_the_sandbox_for_inspection() {
    let sb = Sandbox::new();
    populate(&sb.app);
    sb.generate_key();
    sb.backup("filesystem", &[]);
    sb.backup("configuration", &[]);
    let before = production(&sb);
    let uploads = checksum_tree(&sb.app.join("uploads"));

    let out = sb.run(&["drill", "--keep"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("# Recovery drill report"), "{text}");
    assert!(text.contains("production was not touched"), "{text}");
    assert!(text.contains("kept (--keep)"), "{text}");
    assert_eq!(production(&sb), before);
    let drills = sb.catalog.parent().unwrap().join("drills");
    let sandbox = fs::read_dir(&drills)
        .unwrap()
        .next()
        .expect("a kept sandbox")
        .unwrap()
        .path();
    // The files are under the sandbox, byte for byte.
    let restored = Sandbox::under(&sandbox.join("filesystem"), &sb.app.join("uploads"));
    assert_eq!(checksum_tree(&restored), uploads);
    let env = Sandbox::under(&sandbox.join("configuration"), &sb.app.join(".env"));
    assert_eq!(fs::read(env).unwrap(), before.1);
}

#[test]
fn drill_without_backups_fails_clearly() {
    let sb = Sandbox::new();
    populate(&sb.app);
    let out = sb.run(&["drill"]);
    let text = all_text(&out);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("no backups"), "{text}");
    let jobs = sb.jobs();
    let drill = jobs.iter().find(|j| j["kind"] == "drill").unwrap();
    assert_eq!(drill["state"], "failed");
}

#[test]
fn drill_with_postgres_down_fails_without_hanging_and_says_why() {
    let sb = Sandbox::with_extra_config(
        "[sources.database]\nurl = \"postgres://panel:pw-not-shown@127.0.0.1:1/panel\"\n",
    );
    populate(&sb.app);
    sb.generate_key();
    sb.backup("filesystem", &[]);
    sb.backup("configuration", &[]);
    let before = production(&sb);
    let (status, text) = wait_child(
        sb.spawn(&["drill"]),
        120,
        "lifeboat drill with PostgreSQL down",
    );
    assert_eq!(status.code(), Some(1), "{text}");
    assert!(text.contains("Missing: database"), "{text}");
    assert!(text.contains("127.0.0.1:1"), "{text}");
    assert!(!text.contains("pw-not-shown"), "password leaked:\n{text}");
    assert_eq!(production(&sb), before);
    let drills = sb.catalog.parent().unwrap().join("drills");
    assert!(
        fs::read_dir(&drills).map_or(true, |mut d| d.next().is_none()),
        "sandbox left behind"
    );
}

#[test]
fn deep_verification_of_a_database_measures_the_rto() {
    let Some(admin) = test_server() else { return };
    let db = Db::create(&admin);
    let sb = db_sandbox(&db, "");
    sb.generate_key();
    let (_, h) = health(&sb);
    assert_eq!(check(&h, "rto")["value"], "never measured");
    let b = sb.backup("database", &[]);
    sb.ok(&["verify", "--deep", &id_of(&b)]);
    // The metrics written when the verify job ended already have it.
    let prom =
        fs::read_to_string(sb.catalog.parent().unwrap().join("metrics/lifeboat.prom")).unwrap();
    assert!(
        prom.contains("lifeboat_health_check_status{check=\"rto\"} 0\n"),
        "{prom}"
    );
    let (_, h) = health(&sb);
    let rto = check(&h, "rto");
    assert_eq!(rto["status"], "ok", "{rto}");
    assert!(
        rto["value"].as_str().unwrap().contains("verify --deep"),
        "{rto}"
    );
    assert!(db.derived().is_empty(), "{:?}", db.derived());
}
