//! lifeboat: backup and disaster recovery for the Panel app.
//!
//! Layers (dependencies point down only): `cli` -> `ops` -> `sources`,
//! `archive`, `repository`, `catalog`, `config`. See ../shared/DESIGN.md.

pub mod alerts;
pub mod archive;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod console;
pub mod error;
#[cfg(test)]
mod fuzz_tests;
pub mod health;
pub mod logging;
pub mod ops;
pub mod schedule;
pub mod sources;
pub mod storage;
pub mod units;
pub mod wizards;
