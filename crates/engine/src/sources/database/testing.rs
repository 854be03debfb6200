//! Helpers for tests that need a real PostgreSQL server: shared by this
//! module's unit tests and the integration tests, hence public but hidden.
//!
//! `LIFEBOAT_TEST_PG_URL` names the server (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached,
//! [`test_server`] prints one line saying the test was skipped and why,
//! unless `LIFEBOAT_REQUIRE_PG=1`, where it panics so CI cannot go green
//! without having run the PostgreSQL tests.

use std::time::Duration;

use super::{ConnInfo, Pg};

pub const DEFAULT_TEST_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The test server's admin connection details, or `None` (after printing
/// one "skipped: ..." line) when it is unreachable and not required.
pub fn test_server() -> Option<ConnInfo> {
    let url =
        std::env::var("LIFEBOAT_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_TEST_URL.to_string());
    let required = std::env::var("LIFEBOAT_REQUIRE_PG").is_ok_and(|v| v == "1");
    let info = match ConnInfo::parse(&url) {
        Ok(info) => info,
        // A malformed URL is a mistake in the test setup, never a skip.
        Err(e) => panic!("LIFEBOAT_TEST_PG_URL: {}", e.display_with_hint()),
    };
    match Pg::connect(&info, Duration::from_secs(5)) {
        Ok(_) => Some(info),
        Err(e) if required => panic!(
            "PostgreSQL is required (LIFEBOAT_REQUIRE_PG=1) but not reachable at {}: {}",
            super::mask_url(&url),
            e
        ),
        Err(e) => {
            eprintln!(
                "skipped: PostgreSQL not reachable at {} ({})",
                super::mask_url(&url),
                e
            );
            None
        }
    }
}

/// A uniquely named scratch database (`lb_test_<pid>_<random>`), dropped on
/// drop, also when the test panics.
pub struct ScratchDb {
    admin: ConnInfo,
    name: String,
}

impl ScratchDb {
    /// Create an empty database on the server `admin` points at.
    pub fn create(admin: &ConnInfo) -> ScratchDb {
        let name = unique_name("lb_test");
        let pg = Pg::connect(admin, Duration::from_secs(10)).expect("connect to the test server");
        pg.create_database(&name, None).unwrap_or_else(|e| {
            panic!("create scratch database {name}: {}", e.display_with_hint())
        });
        ScratchDb {
            admin: admin.clone(),
            name,
        }
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connection details for the scratch database itself.
    pub fn info(&self) -> ConnInfo {
        self.admin.with_db(&self.name)
    }

    /// A connection to the scratch database.
    pub fn connect(&self) -> Pg {
        Pg::connect(&self.info(), Duration::from_secs(10)).expect("connect to the scratch database")
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        let dropped = Pg::connect(&self.admin, Duration::from_secs(10))
            .and_then(|pg| pg.drop_database(&self.name));
        if let Err(e) = dropped {
            eprintln!(
                "warning: could not drop scratch database {}: {e}",
                self.name
            );
        }
    }
}

/// `<prefix>_<pid>_<random hex>`: unique across parallel tests and runs.
pub fn unique_name(prefix: &str) -> String {
    format!(
        "{prefix}_{}_{:08x}",
        std::process::id(),
        rand::random::<u32>()
    )
}
