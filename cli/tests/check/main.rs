//! `ninep-mount check` against the scripted server: no root, no real
//! server, so a plain `cargo test` runs it.
//!
//! - `scripted`: each flush behaviour of the scripted server in 9P2000.L.
//! - `classic`: the same in 9P2000 and 9P2000.u.

#[allow(dead_code)] // each test binary uses a part of it
#[path = "../common/mod.rs"]
mod common;

mod classic;
mod scripted;
