//! Integration tests for stockade-secrets: real SQLite files in temporary directories.

mod harness;
mod nonces;
mod rotation;
mod rotation_crash;
mod sealed;
mod store;
mod tamper;
