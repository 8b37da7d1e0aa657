//! Mounting and unmounting: [`mount`] attaches, mounts the file system and
//! starts the FUSE session; [`Mount`] watches it, counts, and takes it down.
//!
//! The attach comes first, so a refused aname or user is a clear error and
//! nothing is mounted. The session runs as a task on the caller's tokio
//! runtime: the processes that use the mount must never be waited for on
//! that runtime's threads (a test doing `std::fs` calls from an async test
//! must use `spawn_blocking`), or the mount would wait for itself.
//!
//! Unmounting from our side is a plain umount(2) (or `fusermount3 -u`
//! when mounted without privileges), after which the kernel ends the
//! session; a busy mount point is then detached lazily and the session
//! ends when its last file is closed. Unmounting from outside (`umount`,
//! `fusermount3 -u`) ends the session the same way, which [`Mount::wait`]
//! reports. Dropping a [`Mount`] without unmounting detaches it lazily.

use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ninep_client::{Client, Error};
use ninep_client::{FlushProfile, Stats, Traffic};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::config::{KernelFlags, MountConfig};
use crate::errno::errno_of;
use crate::fs::{Fs, MountState, ATTR_MASK};
use crate::interrupt::InterruptStats;
use crate::keepalive;
use crate::kernel::dev::Device;
use crate::kernel::mount::{mount_direct, mount_fusermount, MountOptions};
use crate::kernel::session::{Session, Users};
use crate::reconnect::supervise;
use crate::watchdog;

/// How long the end of a mount waits for the replies still in flight.
const RETIRE: Duration = Duration::from_secs(2);

/// How long [`Mount::unmount`] waits for the session to end.
const SESSION_END: Duration = Duration::from_secs(5);

/// Counters of a mount, for tests and `-d` logging.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MountStats {
    /// Fids allocated on the connection and not yet clunked.
    pub fids_in_use: usize,
    /// Inodes the mount knows (the root included).
    pub inodes: usize,
    /// Open file and directory handles.
    pub open_handles: usize,
    /// FUSE requests being served now.
    pub requests_in_service: usize,
    /// Tags held back because a flush was never confirmed.
    pub quarantined_tags: usize,
    /// Tflush messages sent.
    pub flushes_sent: u64,
    /// FUSE interrupts.
    pub interrupts: InterruptStats,
    /// Directory listings read from the server (Treaddir rounds).
    pub listings_read: u64,
    /// Directory listings served from the `cache=loose` listing cache.
    pub listings_cached: u64,
    /// Connections made again after one was lost (`-o reconnect`).
    pub reconnects: u64,
    /// Connections replaced while they served, to free the tags a server
    /// that broke the flush rules held (DESIGN.md rule 8).
    pub replacements: u64,
    /// Since when no connection serves the mount: every request fails
    /// with EIO (or waits for `-o reconnect`) until it is unmounted.
    pub disconnected_since: Option<std::time::SystemTime>,
    /// Whether the prefetch found its line to the kernel's page cache
    /// (`cache=loose` or `cto` with `prefetch=` on).
    pub prefetch_ready: bool,
    /// Prefetched ranges the kernel took into its page cache.
    pub prefetch_stores: u64,
    /// Bytes read ahead for `cache=none` readers now (asked for or
    /// held, all handles).
    pub read_ahead_bytes: u64,
    /// Whether the kernel's requests come through FUSE over io_uring
    /// (else `/dev/fuse`).
    pub uring: bool,
    /// Requests that came through io_uring.
    pub uring_requests: u64,
    /// Every counter of the 9P session (the current connection's).
    pub client: Stats,
}

/// Reads a mount's counters from anywhere (a control socket's task, a
/// signal handler's loop) while [`Mount::wait`] holds the mount itself.
#[derive(Debug, Clone)]
pub struct StatsSource {
    shared: Arc<MountState>,
}

impl StatsSource {
    /// The mount's counters now.
    pub fn stats(&self) -> MountStats {
        let s = &self.shared;
        let client = s.conn.client().stats();
        let (listings_read, listings_cached) = s.cache.dirs.counts();
        MountStats {
            fids_in_use: client.fids_in_use,
            inodes: s.inodes.len(),
            open_handles: s.handles.len(),
            requests_in_service: s.intr.in_service(),
            quarantined_tags: client.quarantined,
            flushes_sent: client.flushes_sent,
            interrupts: s.intr.stats(),
            listings_read,
            listings_cached,
            reconnects: s.conn.reconnects(),
            replacements: s.conn.replacements(),
            disconnected_since: s.conn.lost_at(),
            prefetch_ready: s.notifier.get().is_some(),
            prefetch_stores: s.gate.stores(),
            read_ahead_bytes: s.held.now(),
            uring: s.transport.via_ring(),
            uring_requests: s.transport.ring_requests(),
            client,
        }
    }

    /// How the server has answered Tflush on the mount's connection.
    pub fn flush_profile(&self) -> FlushProfile {
        self.shared.conn.client().flush_profile()
    }

    /// Requests by type and file bytes moved on the mount's connection.
    pub fn traffic(&self) -> Traffic {
        self.shared.conn.client().traffic()
    }
}

/// A mounted 9P tree (see the module doc).
#[derive(Debug)]
pub struct Mount {
    /// The session's task: it ends when the file system is unmounted.
    handle: Option<JoinHandle<io::Result<()>>>,
    shared: Arc<MountState>,
    /// Watches the connection (and reconnects, with `-o reconnect`).
    supervisor: tokio::task::JoinHandle<()>,
    path: PathBuf,
    unprivileged: bool,
    ended: bool,
}

/// Attach with `cfg.attach`, then mount the tree on `mountpoint`.
pub async fn mount(client: Client, cfg: MountConfig, mountpoint: &Path) -> io::Result<Mount> {
    // On 9P2000 and 9P2000.u the client translates the 9P2000.L
    // methods used here (see ninep_client's `file/compat`).
    let a = &cfg.attach;
    let refused = |e: Error| {
        let kind = match errno_of(&e) {
            libc::EACCES | libc::EPERM => io::ErrorKind::PermissionDenied,
            libc::ENOENT => io::ErrorKind::NotFound,
            _ => io::ErrorKind::Other,
        };
        let who = format!("aname {:?} as {:?} (uid {})", a.aname, a.uname, a.n_uname);
        io::Error::new(kind, format!("attach to {who} refused: {e}"))
    };
    let bound = cfg.timeout;
    let late = |what: &str| {
        io::Error::new(
            io::ErrorKind::TimedOut,
            format!("the server did not answer {what} within {bound:?}"),
        )
    };
    let root = tokio::time::timeout(bound, client.attach(&a.uname, &a.aname, a.n_uname))
        .await
        .map_err(|_| late("Tattach"))?
        .map_err(refused)?;
    let attr = tokio::time::timeout(bound, root.getattr(ATTR_MASK))
        .await
        .map_err(|_| late("Tgetattr of the root"))?
        .map_err(refused)?;
    if attr.mode & libc::S_IFMT != libc::S_IFDIR {
        return Err(io::Error::new(
            io::ErrorKind::NotADirectory,
            format!("the root of aname {:?} is not a directory", a.aname),
        ));
    }
    let path = std::fs::canonicalize(mountpoint)?;
    let mut options = mount_options(&cfg);
    // Root too mounts through fusermount3 when it is installed, which
    // applies the kernel flags (nosuid, ...) as mount(8) would.
    let unprivileged = cfg.unprivileged || fusermount3_installed();
    if unprivileged {
        options.flags = cfg
            .flags
            .fusermount_options(!cfg.unprivileged)
            .into_iter()
            .map(String::from)
            .collect();
    } else if cfg.flags != KernelFlags::default() {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "nosuid, nodev, noexec, sync, dirsync and the atime options are set through \
             fusermount3, which is not installed (install fuse3)",
        ));
    }
    let reconnect = cfg.reconnect.clone();
    let shared = Arc::new(MountState::new(client.clone(), cfg, root, attr.qid));
    shared.adopt(&client, None);
    let fs = Fs(shared.clone());
    let supervisor = tokio::spawn(supervise(fs.clone(), reconnect));
    if let Some(after) = shared.cfg.watchdog {
        tokio::spawn(watchdog::watch(Arc::downgrade(&shared), after));
    }
    if let Some(every) = shared.cfg.keepalive {
        tokio::spawn(keepalive::watch(Arc::downgrade(&shared), every));
    }
    let at = path.clone();
    let fd = tokio::task::spawn_blocking(move || match unprivileged {
        true => mount_fusermount(&at, &options),
        false => mount_direct(&at, &options),
    })
    .await
    .map_err(io::Error::other)
    .and_then(|r| r)
    .inspect_err(|_| supervisor.abort())?;
    let users = match shared.cfg.allow_root && !shared.cfg.allow_other {
        true => Users::OwnerAndRoot(rustix::process::getuid().as_raw()),
        false => Users::Any,
    };
    let device = Device::new(fd)?;
    if let Some(Err(e)) = shared.cfg.poller.as_ref().map(|p| p.add(device.as_fd())) {
        warn!("busy_poll: /dev/fuse is not watched, the mount will sleep sooner: {e}");
    }
    let session =
        Session::new(device, users, shared.transport.clone()).ring_spin(shared.cfg.busy_poll);
    if shared.cfg.cache.page_cache() && shared.cfg.prefetch > 0 {
        // Set once: a second set cannot happen.
        let _ = shared.notifier.set(session.notifier());
    }
    let handle = tokio::spawn(session.serve(Arc::new(fs)));
    let ra = shared.cfg.read_ahead_kb;
    if shared.cfg.cache.page_cache() && ra > 0 {
        shared.readahead.arm(path.clone(), ra);
    }
    debug!(mountpoint = %path.display(), "mounted");
    Ok(Mount {
        handle: Some(handle),
        shared,
        supervisor,
        path,
        unprivileged,
        ended: false,
    })
}

/// The FUSE mount options. `allow_other` implies `default_permissions`:
/// once other users can reach the mount, the kernel must check the mode
/// bits, because a server cannot be trusted to: diod, running as root,
/// bypasses permission checks for the users it switches to (it leaves them
/// to the client, as v9fs does them in the kernel). A user who insists
/// (`no_default_permissions`) gets a warning.
fn mount_options(cfg: &MountConfig) -> MountOptions {
    MountOptions {
        fsname: cfg.fsname.clone(),
        // /proc/mounts, findmnt and df then say `fuse.ninep`.
        subtype: "ninep".into(),
        allow_other: cfg.allow_other,
        allow_root: cfg.allow_root && !cfg.allow_other,
        read_only: cfg.read_only,
        default_permissions: kernel_checks(cfg),
        max_read: None,
        flags: Vec::new(),
    }
}

/// Whether the kernel checks permissions (see [`mount_options`]).
fn kernel_checks(cfg: &MountConfig) -> bool {
    if cfg.default_permissions {
        return true;
    }
    if !cfg.allow_other && !cfg.allow_root {
        return false;
    }
    if cfg.server_checks_only {
        warn!(
            "allow_other without default_permissions (no_default_permissions): \
             only the server checks what other users may do (some servers, \
             such as diod running as root, leave that to their clients)"
        );
        return false;
    }
    info!("allow_other: the kernel checks permissions (default_permissions)");
    true
}

impl Mount {
    /// The mount point (canonical).
    pub fn mountpoint(&self) -> &Path {
        &self.path
    }

    /// The mount's counters now.
    pub fn stats(&self) -> MountStats {
        self.stats_source().stats()
    }

    /// How the server has answered Tflush on the mount's connection.
    pub fn flush_profile(&self) -> FlushProfile {
        self.stats_source().flush_profile()
    }

    /// A handle that reads the counters while the mount is waited on.
    pub fn stats_source(&self) -> StatsSource {
        StatsSource {
            shared: self.shared.clone(),
        }
    }

    /// Resolves when the session ends: the file system was unmounted (from
    /// outside, or by [`Mount::unmount`]) or the kernel connection failed;
    /// or with `ConnectionAborted` when the 9P connection is lost (the
    /// mount is still there then: unmount it). With `-o reconnect`, a lost
    /// connection ends the wait only once reconnecting was given up.
    pub async fn wait(&mut self) -> io::Result<()> {
        if self.ended {
            return Ok(());
        }
        let shared = self.shared.clone();
        tokio::select! {
            r = self.session_end() => r,
            // Every syscall would get EIO from now on: say so, and let the
            // caller unmount instead of serving a dead mount forever.
            () = shared.conn.dead() => Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                format!(
                    "lost the connection to the server: {}",
                    shared.conn.client().closed().await
                ),
            )),
        }
    }

    /// Resolves when the FUSE session ends, whatever the 9P connection
    /// does: after a lost connection, the kernel ends the session once no
    /// process is inside the (detached) mount any more.
    pub async fn session_end(&mut self) -> io::Result<()> {
        if self.ended {
            return Ok(());
        }
        let Some(handle) = self.handle.as_mut() else {
            return Ok(());
        };
        let r = handle.await.unwrap_or_else(|e| Err(io::Error::other(e)));
        self.ended = true;
        self.supervisor.abort();
        self.shared.handles.clear();
        // The last releases' clunks may still be answered: let them come
        // before the connection closes (see `Client::retire`).
        self.shared.conn.client().retire(RETIRE).await;
        r
    }

    /// Unmount and wait for the session to end. A busy mount is detached
    /// lazily: then the error is `ResourceBusy` if files stay open longer
    /// than a few seconds.
    pub async fn unmount(mut self) -> io::Result<()> {
        if !self.ended {
            let (path, unpriv) = (self.path.clone(), self.unprivileged);
            let busy = tokio::task::spawn_blocking(move || match umount(&path, unpriv, false) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    umount(&path, unpriv, true).map(|()| true)
                }
                r => r.map(|()| false),
            })
            .await
            .map_err(io::Error::other)??;
            match tokio::time::timeout(SESSION_END, self.session_end()).await {
                Ok(r) => r?,
                Err(_) if busy => {
                    return Err(io::Error::new(
                        io::ErrorKind::ResourceBusy,
                        "detached lazily: files are still open on the mount",
                    ))
                }
                Err(_) => return Err(io::Error::other("the FUSE session did not end")),
            }
        }
        Ok(())
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        self.supervisor.abort();
        if self.ended {
            return;
        }
        if let Err(e) = umount(&self.path, self.unprivileged, true) {
            if e.raw_os_error() != Some(libc::EINVAL) {
                warn!(mountpoint = %self.path.display(), "lazy unmount on drop: {e}");
            }
        }
    }
}

/// Whether `fusermount3` is on the PATH.
fn fusermount3_installed() -> bool {
    std::env::var_os("PATH")
        .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join("fusermount3").is_file()))
}

/// Unmount `path` now (`lazy`: detach even if busy): `fusermount3 -u` for
/// a mount made through it, umount2(2) otherwise.
pub fn umount(path: &Path, unprivileged: bool, lazy: bool) -> io::Result<()> {
    crate::kernel::mount::unmount(path, unprivileged, lazy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allow_other_brings_kernel_checks_unless_the_user_insists() {
        let mut cfg = MountConfig::default();
        assert!(!kernel_checks(&cfg), "only the mounter: the server checks");
        cfg.allow_root = true;
        assert!(kernel_checks(&cfg), "root comes in: the kernel checks");
        cfg.allow_root = false;
        cfg.allow_other = true;
        assert!(kernel_checks(&cfg));
        cfg.server_checks_only = true;
        assert!(!kernel_checks(&cfg), "insisted (and warned)");
        cfg.default_permissions = true;
        assert!(kernel_checks(&cfg), "asked for explicitly wins");
    }
}
