//! The `ninep-mount` binary against diod, for real (root, /dev/fuse,
//! diod, fuse3): mounts, `check` and `stats`.
//!
//! - `check_diod`: `ninep-mount check` against diod and unpfs.
//! - `cli`: background and foreground mounts, fstab, users, signals,
//!   outside unmounts and the errors a person can act on.
//! - `flushprobe`: `ninep-mount stats`, and `-o flushprobe=1` against
//!   what `check` says of the same server.
//! - `reconnect`: `-o reconnect` across a restart of diod; keepalive.

#[allow(dead_code)] // each test binary uses a part of it
#[path = "../common/mod.rs"]
mod common;
#[allow(dead_code)]
#[path = "../mount_support/mod.rs"]
mod mount_support;

mod check_diod;
mod cli;
mod flushprobe;
mod reconnect;
