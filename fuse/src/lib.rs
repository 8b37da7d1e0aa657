//! The FUSE side of ninep-mount: serves a 9P tree to the kernel through
//! its own FUSE session layer (`kernel`), mapping every FUSE request onto 9P2000.L (which the
//! client carries out with the classic messages on a 9P2000 or 9P2000.u
//! server) and every FUSE_INTERRUPT onto a Tflush of the 9P request that
//! serves it.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ninep_client::{Address, Client, Config};
//! use ninep_fuse::{mount, MountConfig};
//! let addr: Address = "127.0.0.1:564".parse().unwrap();
//! let client = Client::connect(&addr, &Config::default()).await.map_err(std::io::Error::other)?;
//! let mut cfg = MountConfig::default();
//! cfg.attach.aname = "/srv/export".into();
//! let mut m = mount(client, cfg, std::path::Path::new("/mnt")).await?;
//! m.wait().await?; // until `umount /mnt`
//! # Ok(()) }
//! ```
//!
//! # Choices
//! - `access=user` is the default: each calling uid attaches as itself, so
//!   the server (which knows its own users and permissions) decides, as
//!   with v9fs; `access=client` is one attach, with the kernel checking
//!   permissions from the mode bits (`default_permissions`).
//! - `cache=none` is the default: every read and stat reaches the server,
//!   and every read can be interrupted.
//! - access(2) without `default_permissions` is answered from the mode
//!   bits for the caller (see `fs/access.rs`).
//!
//! # Layout
//! - [`config`]: what a mount is asked to be (cache mode, access mode, ...).
//! - `mount`: [`mount`], [`Mount`] (wait, unmount, stats), [`MountStats`]
//!   and [`StatsSource`] (the counters, readable while mounted).
//! - `kernel`: the FUSE session layer: mounting, `/dev/fuse`, the
//!   protocol's messages, and the loop that serves a `kernel::Filesystem`.
//! - `fs`: the `kernel::Filesystem` of a mount, its shared state and helpers;
//!   `fs/entry` (lookup, getattr, readlink, statfs), `fs/setattr`,
//!   `fs/access`, `fs/create` (create, mkdir, mknod, symlink, link),
//!   `fs/remove` (unlink, rmdir, rename), `fs/file` (open, read, write,
//!   flush, release, fsync), `fs/dir` (opendir, readdir, releasedir),
//!   `fs/plus` (readdirplus), `fs/xattr`, `fs/lock`, `fs/trait_impl`.
//! - `inode`: the inode table: one inode per qid.path, lookup counts, fids
//!   per uid, parents and names.
//! - `handles`: open file and directory handles (`fh`).
//! - `attr`: Rgetattr -> FUSE attributes; the loose-mode attribute cache.
//! - `dircache`: the loose-mode lru of directory listings.
//! - `interrupt`: FUSE `unique` -> cancel token; EAGAIN, never ENOSYS.
//! - [`errno`]: the one map from 9P errors to errnos.
//! - `names`: which names may pass between the kernel and the server.
//! - `users`: user names for attaches, groups of a caller.
//! - `reconnect`: `-o reconnect` (the mount's connection, replaced when
//!   lost); `fs/restore` moves fids and open handles to the new one.
//! - `watchdog`: FUSE requests served too long, logged once with op and path.
#![deny(missing_docs)]

mod absent;
mod attr;
mod cache;
mod complete;
pub mod config;
mod conn;
mod dircache;
mod early;
pub mod errno;
mod fs;
mod handles;
mod ino;
mod inode;
mod interrupt;
mod keepalive;
pub(crate) mod kernel;
mod kernel_view;
mod mount;
pub mod mountinfo;
mod names;
mod negative;
mod orphans;
mod prefetch;
mod readahead;
mod reconnect;
mod stream;
mod users;
pub use users::user_name;
pub mod victimfs;
mod watchdog;

pub use config::{
    AcTimes, Access, Atime, AttachParams, CacheMode, KernelFlags, MountConfig, Reconnect,
    DEFAULT_PREFETCH,
};
pub use interrupt::InterruptStats;
pub use mount::{mount, umount, Mount, MountStats, StatsSource};
