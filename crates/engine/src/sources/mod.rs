//! Sources turn a live thing into a byte stream and back.

pub mod database;
pub mod filesystem;
pub mod tar_member;
