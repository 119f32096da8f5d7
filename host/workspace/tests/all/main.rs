//! Workspace tests against the real Docker daemon under runsc (`.ci/dockerd.sh` starts it).
//! The daemon is found through `DOCKER_HOST`, else the private socket the script uses. With
//! `CI` set, a missing daemon fails every test; elsewhere they skip with a loud message.

mod egress;
mod egress_table;
mod hardening;
mod harness;
mod lifecycle;
mod runtime;
