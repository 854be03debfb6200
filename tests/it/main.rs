//! Every integration test in one binary: one link of the whole program
//! instead of one per file, which on a 2-core machine was most of the test
//! build. The modules share one process, so a test never sets a process-wide
//! environment variable or static; it passes what it needs to the child
//! processes it starts, and names what it creates (databases, roles, tmux
//! sockets, scratch directories) uniquely per test, not per process.

mod common;

mod alerts;
mod app;
mod catalog_audit;
mod console;
mod daemon;
mod database;
mod drill;
mod health;
mod jobs;
mod offsite;
mod offsite_cloud;
mod offsite_crash;
mod queue;
mod recover;
mod report;
mod retention;
mod roundtrip;
mod safety;
mod tamper;
mod wizards;
