//! Test support for ninep-mount: launchers for real 9P servers and helpers
//! shared by the integration tests in `tests/`.
//!
//! # Layout
//! - [`blockfs`]: a FUSE file system whose reads block until released, the victim for flush and interrupt tests.
//! - [`peer`]: a scripted 9P peer over an in-memory pipe (exact bytes, misbehaviour on demand).
//! - [`servers`]: starts diod and unpfs on a free loopback port, kills them by PID on drop.
//! - [`tamper`]: a relay in front of a real server that rewrites its replies (hostile-server tests).
//! - [`scripted`]: an in-process 9P2000.L test server with blocking reads and switchable Tflush behaviours.
#![deny(missing_docs)]

pub mod aio9p;
/// The victim file system, from the mount's crate.
pub use ninep_fuse::victimfs as blockfs;
pub mod peer;
pub mod scripted;
pub mod servers;
pub mod tamper;
