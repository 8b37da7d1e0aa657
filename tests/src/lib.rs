//! Test support for ninep-mount: launchers for real 9P servers and helpers
//! shared by the integration tests in `tests/`.
//!
//! # Layout
//! - [`servers`]: starts diod and unpfs on a free loopback port, kills them by PID on drop.
#![deny(missing_docs)]

pub mod servers;
