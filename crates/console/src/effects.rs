//! What a key press on the console's screens asks of the world outside
//! the console's state: start work, delete a backup, cancel a job. Key
//! handling (`App::update`) only decides and returns effects;
//! `App::run_effect` carries them out (the queue and a worker process, a
//! helper thread, a catalog write). So what a key does is testable without
//! starting anything: `update` a key, look at the effects. (A wizard's
//! last step starts its work through the same `background::launch`.)

use lifeboat_engine::ops::queue::JobRequest;

/// One thing to do outside the state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Queue this work and start a worker process for it
    /// (`background::launch`): it outlives the console.
    Launch(JobRequest),
    /// Delete this backup (audited), on a helper thread.
    Delete(String),
    /// Ask this job (and what it started) to stop at its next safe point.
    CancelJob(i64),
}
