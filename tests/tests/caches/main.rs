//! What the kernel's caches and the mount's own save, counted on real FUSE
//! mounts of diod: 9P requests per system call, Treads a prefetch spares,
//! listings and pages kept by the cache modes; and a copy that needs the
//! kernel to keep more inodes than the server has fids.
//!
//! These need the kernel's caches left alone: any test that settles drops
//! them (`drop_caches`, system-wide). So they live in a binary of their
//! own, away from the other mount tests, and run one at a time
//! ([`one_at_a_time`]).
//!
//! - `fid_limit`: a server that refuses fids from 1024 up.
//! - `modes`: the listing cache of `cache=loose`, close-to-open `cto`.
//! - `prefetch`: the random-read prefetch of `cache=loose`.
//! - `requests`: 9P requests per system call, in each cache mode.

#[path = "../mount_support/mod.rs"]
mod mount_support;

mod fid_limit;
mod modes;
mod prefetch;
mod requests;

/// Held by each test for its whole run (see the crate doc).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Wait for the other tests of this binary to finish.
async fn one_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}
