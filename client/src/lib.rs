//! A pipelined 9P client on tokio, for 9P2000.L, 9P2000.u and 9P2000.
//!
//! ```no_run
//! # async fn demo() -> ninep_client::Result<()> {
//! use ninep_client::{Client, Config};
//! let client = Client::connect(&"127.0.0.1:564".parse().unwrap(), &Config::default()).await?;
//! let root = client.attach("root", "/srv/export", 0).await?;
//! let mut f = root.walk(&["hello.txt"]).await?;
//! f.lopen(0).await?;
//! let bytes = f.read_at(0, 1 << 20, 8).await?;
//! # Ok(()) }
//! ```
//!
//! # Layout
//! - [`wire`]: the codec, bytes <-> messages, pure and synchronous.
//! - [`ids`]: the `Tag` and `Fid` newtypes and their lifecycles.
//! - [`alloc`]: tag and fid allocators (oldest-released-first reuse).
//! - [`session`]: the sans-I/O protocol state: requests in flight, flush
//!   chains, the flush profile and probe, fid
//!   effects of replies, violations.
//! - `conn`: the tokio driver: one reader task (which reads Rread data
//!   straight into the caller's buffer when it can, `conn/placed`), one
//!   coalescing writer (vectored: large Twrite data is not copied), one
//!   flush timer; cancellation ([`CancelToken`], cancel on drop).
//! - `pool`: a few reused buffers for the data of large writes.
//! - [`client`]: connecting, version negotiation, attach.
//! - [`file`](mod@file): fid handles and the typed operations (xattrs and the plain
//!   9P2000 ones in submodules). On a 9P2000 or 9P2000.u connection the
//!   9P2000.L methods are carried out with the classic messages
//!   (`file/compat`), so callers speak one vocabulary whatever the dialect.
//! - [`transport`]: addresses (TCP, Unix socket).
//! - [`poller`]: an epoll set of the sockets (and whatever else is added)
//!   that a busy-polling runtime looks at before it sleeps.
//! - [`error`]: errors split by who is at fault.
#![deny(missing_docs)]

// The sans-I/O protocol state and its allocators: public only for the
// fuzz targets and the model tests; callers use the types re-exported
// below.
#[doc(hidden)]
pub mod alloc;
pub mod client;
mod conn;
pub mod error;
pub mod file;
pub mod ids;
pub mod poller;
mod pool;
#[doc(hidden)]
pub mod session;
pub mod transport;
pub mod wire;

pub use client::{Client, Config};
pub use conn::CancelToken;
pub use error::{Error, RemoteError, Result};
pub use file::{File, LockSpec, SetAttr};
pub use ids::{Fid, Tag, NOFID, NOTAG};
pub use poller::Poller;
pub use session::{
    watch_period, FlushPolicy, FlushProfile, Latency, Rule, Stats, Traffic, MAX_CHAIN_BUCKET,
};
pub use transport::Address;
pub use wire::Dialect;
