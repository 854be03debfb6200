//! Overhead of the job machinery on a job that does nothing: create the
//! catalog row, start the heartbeat thread, finish, join. Run with
//! `cargo bench --bench job_overhead`; the aim is under 5 ms.

use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use lifeboat::config::Config;
use lifeboat::ops::jobs::Job;
use lifeboat::ops::{Engine, Silent};

static NEVER: AtomicBool = AtomicBool::new(false);

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = Config::load(None, &|_| None, dir.path()).expect("default config");
    let engine = Engine::open(config).expect("engine");
    let runs = 300;
    let mut times: Vec<Duration> = Vec::with_capacity(runs);
    for _ in 0..runs {
        let t = Instant::now();
        let job = Job::start(&engine, "noop", "bench", &Silent, &NEVER).expect("start");
        job.finish::<()>(&Ok(()), 0);
        drop(job);
        times.push(t.elapsed());
    }
    times.sort();
    let mean = times.iter().sum::<Duration>() / runs as u32;
    let p50 = times[runs / 2];
    let p95 = times[runs * 95 / 100];
    println!(
        "no-op job overhead over {runs} jobs: mean {mean:?}, median {p50:?}, p95 {p95:?}, max {:?}",
        times[runs - 1]
    );
}
