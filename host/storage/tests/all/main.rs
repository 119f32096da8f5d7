//! Integration tests for stockade-storage: real SQLite files in temporary directories.

mod database;
mod events_append;
mod events_query;
mod events_retention;
mod events_verify;
mod harness;
mod projects;
mod resources;
mod users;
