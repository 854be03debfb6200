//! Overhead of the job machinery on a job that does nothing. Run with
//! `cargo bench --bench job_overhead`; the issue's aim is under 5 ms.
//!
//! 1. A direct job: create the catalog row, start the heartbeat thread,
//!    finish, join.
//! 2. A queued job: enqueue (a `queued` row with its request), claim it as a
//!    worker does (one write transaction), let the job take over the claimed
//!    row, finish, join.

use std::time::{Duration, Instant};

use lifeboat_engine::catalog::JobKind;
use lifeboat_engine::config::Config;
use lifeboat_engine::ops::jobs::Job;
use lifeboat_engine::ops::{worker, Engine, Silent};

use lifeboat_engine::Cancel;

const RUNS: usize = 300;

fn report(what: &str, mut times: Vec<Duration>) {
    times.sort();
    let n = times.len();
    let mean = times.iter().sum::<Duration>() / n as u32;
    println!(
        "{what} over {n} jobs: mean {mean:?}, median {:?}, p95 {:?}, max {:?}",
        times[n / 2],
        times[n * 95 / 100],
        times[n - 1]
    );
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::load(None, &|_| None, dir.path()).expect("default config");
    let engine = Engine::open(config).expect("engine");

    let mut direct = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let job = Job::start(
            &engine,
            JobKind::from("noop"),
            "bench",
            &Silent,
            &Cancel::new(),
        )
        .expect("start");
        job.finish::<()>(&Ok(()), 0);
        drop(job);
        direct.push(t.elapsed());
    }
    report("no-op job overhead", direct);

    let request = r#"{"verb":"noop"}"#;
    let mut queued = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let t = Instant::now();
        let id = engine
            .catalog
            .enqueue_job(&JobKind::from("noop"), "bench", &engine.host, request)
            .expect("enqueue");
        let (claimed, _) = worker::claim_next(&engine)
            .expect("claim")
            .expect("a queued job");
        assert_eq!(claimed, id);
        engine.claimed_job.set(Some(claimed));
        let job = Job::start(
            &engine,
            JobKind::from("noop"),
            "bench",
            &Silent,
            &Cancel::new(),
        )
        .expect("start");
        assert_eq!(job.id, id, "the job took over the claimed row");
        job.finish::<()>(&Ok(()), 0);
        drop(job);
        queued.push(t.elapsed());
    }
    report("no-op queued job (enqueue + claim + finish)", queued);
}
