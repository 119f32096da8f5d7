//! Integration tests of the runtime against real guest components built from `tests/guests`
//! and `plugins/` by `stockade-test-artifacts`.

// Test code: a failed unwrap is a failed test, with its location.
#![allow(clippy::unwrap_used)]

mod cache;
mod egress;
mod fs_plugin;
mod host;
mod limits;
mod sandbox;
mod secrets;
