//! Integration tests of the runtime against real guest components built from `tests/guests`
//! and `plugins/` by `stockade-test-artifacts`.

mod cache;
mod fs_plugin;
mod host;
mod limits;
mod sandbox;
