//! The catalog's schema, as an append-only list of migrations.
//!
//! `PRAGMA user_version` records how many of these have been applied. A
//! migration is never edited once released: change the schema by appending
//! a new one, so every catalog in the field walks the same path.

/// Migration `i` takes a catalog from `user_version` `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: backups, jobs, job log, audit log.
    r#"
CREATE TABLE backups (
    id            TEXT PRIMARY KEY NOT NULL,
    type          TEXT NOT NULL,
    name          TEXT,
    kind          TEXT NOT NULL,
    parent_id     TEXT,
    created_at    TEXT NOT NULL,
    finished_at   TEXT,
    status        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    stored_size   INTEGER NOT NULL,
    encrypted     INTEGER NOT NULL,
    key_id        TEXT,
    file          TEXT NOT NULL,
    sha256        TEXT,
    verified_at   TEXT,
    verify_result TEXT,
    warnings      INTEGER NOT NULL DEFAULT 0,
    -- No foreign key: backups rebuilt from manifests have no job, and a
    -- pruned job history must not take backup rows with it.
    job_id        INTEGER,
    manifest_json TEXT
);
CREATE INDEX backups_type_created ON backups(type, created_at);
CREATE INDEX backups_file ON backups(file);
CREATE INDEX backups_job ON backups(job_id);

CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    kind            TEXT NOT NULL,
    target          TEXT NOT NULL,
    state           TEXT NOT NULL,
    phase           TEXT,
    bytes_done      INTEGER NOT NULL DEFAULT 0,
    bytes_total     INTEGER,
    items_done      INTEGER NOT NULL DEFAULT 0,
    items_total     INTEGER,
    created_at      TEXT NOT NULL,
    started_at      TEXT,
    finished_at     TEXT,
    updated_at      TEXT NOT NULL,
    error           TEXT,
    host            TEXT NOT NULL,
    pid             INTEGER NOT NULL,
    partial_outputs TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX jobs_state ON jobs(state);

CREATE TABLE job_log (
    id      INTEGER PRIMARY KEY,
    job_id  INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    ts      TEXT NOT NULL,
    level   TEXT NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX job_log_job ON job_log(job_id, id);

CREATE TABLE audit (
    seq       INTEGER PRIMARY KEY,
    ts        TEXT NOT NULL,
    actor     TEXT NOT NULL,
    action    TEXT NOT NULL,
    target    TEXT NOT NULL,
    outcome   TEXT NOT NULL,
    detail    TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash      TEXT NOT NULL
);
"#,
    // 2: job control across processes: cancellation requests, parent jobs
    // (backup --all), and the resource a job holds.
    r#"
ALTER TABLE jobs ADD COLUMN cancel_requested INTEGER NOT NULL DEFAULT 0;
ALTER TABLE jobs ADD COLUMN parent_job INTEGER;
ALTER TABLE jobs ADD COLUMN resource TEXT;
CREATE INDEX jobs_parent ON jobs(parent_job);
"#,
    // 3 (health): the health checks and metrics ask "newest job of a kind"
    // and "newest verification" on every run; keep that an index lookup
    // with 100,000 rows.
    r#"
CREATE INDEX IF NOT EXISTS jobs_kind_created ON jobs(kind, created_at);
CREATE INDEX IF NOT EXISTS backups_verified ON backups(verified_at);
"#,
    // 4: scheduler slots: one row per schedule entry and slot time, so two
    // daemons on one catalog never run the same slot twice.
    r#"
CREATE TABLE schedule_slots (
    entry      TEXT NOT NULL,
    slot       TEXT NOT NULL,
    claimed_at TEXT NOT NULL,
    host       TEXT NOT NULL,
    pid        INTEGER NOT NULL,
    job_id     INTEGER,
    PRIMARY KEY (entry, slot)
);
"#,
    // 5: alert state: what was last sent for each condition, so alerts are
    // de-duplicated, repeated on an interval, retried after a failed
    // delivery, and resolved when the condition clears.
    r#"
CREATE TABLE alert_state (
    key         TEXT PRIMARY KEY NOT NULL,
    status      TEXT NOT NULL,
    title       TEXT NOT NULL,
    detail      TEXT NOT NULL,
    since       TEXT NOT NULL,
    sent_status TEXT,
    sent_at     TEXT,
    last_error  TEXT,
    updated_at  TEXT NOT NULL
);
"#,
    // 6: the job queue: a queued job carries its request (JSON: the verb and
    // its arguments) so that a worker in another process can run it.
    r#"
ALTER TABLE jobs ADD COLUMN request TEXT;
CREATE INDEX jobs_queued ON jobs(state, id) WHERE state = 'queued';
"#,
    // 7: what a job produced (JSON: the report its verb prints with
    // --json), so a face that did not run the job (the console that queued
    // it, `lifeboat status ID`) can show its outcome.
    r#"
ALTER TABLE jobs ADD COLUMN result TEXT;
"#,
    // 8: a covering index for the list every screen and `list` start from
    // (`Catalog::backup_rows`, `backups_fingerprint`): a scan of it reads
    // ~100 bytes a row instead of every row's manifest, so 100,000 backups
    // load in a fraction of the time (the table is ~1.6 KB a row).
    r#"
CREATE INDEX backups_listing ON backups(
    type, created_at, id, name, kind, status, size, stored_size, encrypted,
    verify_result, verified_at, finished_at
);
"#,
    // 9 (trends): a backup trend (the console's dashboard, the HTML
    // report) merges in the backup jobs that failed before writing a
    // backup row (a database that was down). Only failed jobs are in this
    // index, so finding the newest failed backups stays a short index walk
    // however many jobs the catalog holds. The trend's query repeats the
    // WHERE clause word for word (SQLite uses a partial index only then),
    // and the columns are those of jobs_kind_created, so the planner,
    // which takes a partial index for the smaller one, prefers this one.
    // It repeats 8's index (IF NOT EXISTS) for a catalog a development
    // build made with this migration numbered 8.
    r#"
CREATE INDEX IF NOT EXISTS jobs_backup_failures ON jobs(kind, created_at)
    WHERE state IN ('failed', 'interrupted');
CREATE INDEX IF NOT EXISTS backups_listing ON backups(
    type, created_at, id, name, kind, status, size, stored_size, encrypted,
    verify_result, verified_at, finished_at
);
"#,
    // 10 (offsite copies): where each backup's copies are. One row per
    // backup and target; the repository's own copy is the backups row.
    // `state`: 'copied' (every file uploaded, the manifest last, sizes
    // checked), 'verified' (read back and its SHA-256 matched), 'failed'
    // (the last attempt failed: `error` says why), 'missing' (a listing or
    // a read found it gone or altered: drift, never silently mended).
    r#"
CREATE TABLE copies (
    backup_id  TEXT NOT NULL,
    target     TEXT NOT NULL,
    state      TEXT NOT NULL,
    bytes      INTEGER NOT NULL DEFAULT 0,
    updated_at TEXT NOT NULL,
    verified_at TEXT,
    error      TEXT,
    PRIMARY KEY (backup_id, target)
);
CREATE INDEX copies_target ON copies(target, state);
-- The last listing of each target (`lifeboat copies --check`): what drift
-- is judged against, and what the Storage screen shows without a request.
CREATE TABLE remote_objects (
    target    TEXT NOT NULL,
    key       TEXT NOT NULL,
    size      INTEGER NOT NULL,
    modified  TEXT NOT NULL,
    listed_at TEXT NOT NULL,
    PRIMARY KEY (target, key)
);
"#,
    // Backups that prune removed from the repository while a target with a
    // longer `keep_days` keeps them: the row stays, its copies are where it
    // lives now (restore and verify read it from there).
    r#"
CREATE TABLE offsite_only (
    backup_id TEXT PRIMARY KEY,
    since     TEXT NOT NULL
);
"#,
];

/// The schema version this binary writes.
pub(crate) fn current_version() -> i64 {
    MIGRATIONS.len() as i64
}
