//! Integration tests of the registry: real HTTP on loopback, real SQLite, real components.

mod cli;
mod harness;
mod install;
mod mirror;
mod publish;
mod skopeo;
