//! A pipelined 9P client on tokio, for 9P2000.L, 9P2000.u and 9P2000.
//!
//! # Layout
//! - [`wire`]: the codec, bytes <-> messages, pure and synchronous.
//! - [`ids`]: the `Tag` and `Fid` newtypes and their lifecycles.
#![deny(missing_docs)]

pub mod ids;
pub mod wire;

pub use ids::{Fid, Tag, NOFID, NOTAG};
