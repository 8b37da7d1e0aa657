//! A pipelined 9P client on tokio, for 9P2000.L, 9P2000.u and 9P2000.
//!
//! # Layout
//! - [`wire`]: the codec, bytes <-> messages, pure and synchronous.
//! - [`ids`]: the `Tag` and `Fid` newtypes and their lifecycles.
//! - [`alloc`]: tag and fid allocators (oldest-released-first reuse).
//! - [`session`]: the sans-I/O protocol state: requests in flight, fid
//!   effects of replies, violations.
//! - [`error`]: errors split by who is at fault.
#![deny(missing_docs)]

pub mod alloc;
pub mod error;
pub mod ids;
pub mod session;
pub mod wire;

pub use error::{Error, RemoteError, Result};
pub use ids::{Fid, Tag, NOFID, NOTAG};
