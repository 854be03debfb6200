//! Storage: where artifacts live. Today a local directory; object stores
//! later behind the same shape.
//!
//! The rules every target keeps: an artifact appears under its final name
//! only when it is complete and fsynced; the manifest is written last and is
//! the commit point; nothing is ever overwritten (a name collision picks a
//! new name); files are 0600 and directories 0700.

pub mod local;
pub mod remote;
pub mod sidecar;
