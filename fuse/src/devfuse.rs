//! Our own line to the kernel's FUSE connection, for FUSE_NOTIFY_STORE
//! (pushing file data into the page cache, see `prefetch.rs`).
//!
//! fuse3 0.10's `Notify::store` sends the notification header without the
//! data, which the kernel refuses (EINVAL), and fuse3 then takes the
//! connection for broken and ends the session. fuse3 keeps its
//! `/dev/fuse` descriptor to itself, so we find it: the descriptors open on
//! `/dev/fuse` are listed before and after the mount (mounts of this
//! process are serialized by [`MOUNTING`]), each new one is duplicated
//! (so its number can never be reused under us), and the one whose
//! FUSE_NOTIFY_RETRIEVE probe comes back through our own session as a
//! NOTIFY_REPLY with the probe's token is ours ([`NotifyLine`]). The probe names
//! the regular file of the first read that wants a store (the kernel
//! refuses a retrieve from a directory, so it cannot be done at mount
//! time). Another FUSE file system in the same process (a test's) sees at
//! most one stray reply.
//!
//! Notifications written to the descriptor are ours alone: an error from
//! the kernel (ENOENT for an inode it has forgotten) is returned, never
//! taken for a broken connection.

use std::collections::HashMap;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tracing::{debug, warn};

/// Held around each mount, so that the `/dev/fuse` descriptor that appears
/// during it is the mount's (see the module doc).
pub(crate) static MOUNTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `FUSE_NOTIFY_STORE` of `<linux/fuse.h>`.
const NOTIFY_STORE: i32 = 4;
/// `FUSE_NOTIFY_RETRIEVE` of `<linux/fuse.h>`.
const NOTIFY_RETRIEVE: i32 = 5;

/// A duplicate of a `/dev/fuse` descriptor.
#[derive(Debug)]
pub(crate) struct DevFuse {
    fd: OwnedFd,
}

impl DevFuse {
    /// Duplicate `fd` (close-on-exec).
    fn dup(fd: RawFd) -> io::Result<DevFuse> {
        // SAFETY: F_DUPFD_CLOEXEC only reads `fd`; a closed one fails.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
        if new < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: `new` was just returned by fcntl and is owned by no one.
        let fd = unsafe { OwnedFd::from_raw_fd(new) };
        Ok(DevFuse { fd })
    }

    /// Write one notification: `fuse_out_header` (length, code as the
    /// error, unique 0), then `parts`. Blocks while the kernel locks pages.
    fn notify(&self, code: i32, parts: &[&[u8]]) -> io::Result<()> {
        let len: usize = 16 + parts.iter().map(|p| p.len()).sum::<usize>();
        let len = u32::try_from(len).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        let mut head = [0u8; 16];
        head[..4].copy_from_slice(&len.to_ne_bytes());
        head[4..8].copy_from_slice(&code.to_ne_bytes());
        let mut iov = vec![iovec(&head)];
        iov.extend(parts.iter().map(|p| iovec(p)));
        // SAFETY: every iovec points into a slice alive for the whole call.
        let n = unsafe { libc::writev(self.fd.as_raw_fd(), iov.as_ptr(), iov.len() as i32) };
        match n {
            n if n < 0 => Err(io::Error::last_os_error()),
            n if n as usize != len as usize => Err(io::Error::from(io::ErrorKind::WriteZero)),
            _ => Ok(()),
        }
    }

    /// FUSE_NOTIFY_STORE: `data` becomes the page cache of inode `ino` at
    /// `offset` (the kernel grows its size if the data ends past it).
    pub(crate) fn store(&self, ino: u64, offset: u64, data: &[u8]) -> io::Result<()> {
        let size = u32::try_from(data.len()).map_err(|_| io::ErrorKind::InvalidInput)?;
        let mut out = [0u8; 24];
        out[..8].copy_from_slice(&ino.to_ne_bytes());
        out[8..16].copy_from_slice(&offset.to_ne_bytes());
        out[16..20].copy_from_slice(&size.to_ne_bytes());
        self.notify(NOTIFY_STORE, &[&out, data])
    }

    /// FUSE_NOTIFY_RETRIEVE of nothing from inode `ino`: the kernel
    /// answers with a NOTIFY_REPLY request whose unique is `token`, on the
    /// connection this descriptor belongs to.
    fn probe(&self, token: u64, ino: u64) -> io::Result<()> {
        let mut out = [0u8; 32];
        out[..8].copy_from_slice(&token.to_ne_bytes());
        out[8..16].copy_from_slice(&ino.to_ne_bytes());
        self.notify(NOTIFY_RETRIEVE, &[&out])
    }
}

fn iovec(b: &[u8]) -> libc::iovec {
    libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    }
}

/// The descriptors of this process open on `/dev/fuse` now.
pub(crate) fn open_fds() -> Vec<RawFd> {
    let Ok(dir) = std::fs::read_dir("/proc/self/fd") else {
        return Vec::new();
    };
    dir.flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str() == "/dev/fuse"))
        .filter_map(|e| e.file_name().to_str()?.parse().ok())
        .collect()
}

/// Duplicates of the descriptors in `after` that are not in `before`.
pub(crate) fn new_fds(before: &[RawFd], after: &[RawFd]) -> Vec<DevFuse> {
    after
        .iter()
        .filter(|fd| !before.contains(fd))
        .filter_map(|&fd| DevFuse::dup(fd).ok())
        .collect()
}

/// Our line to the kernel: the candidate descriptors until the probe,
/// then the one found (see the module doc).
#[derive(Debug, Default)]
pub(crate) struct NotifyLine {
    /// Descriptors to probe, taken by the first probe.
    candidates: Mutex<Option<Vec<DevFuse>>>,
    /// The session's descriptor, once found; dropped at the session's end.
    found: Mutex<Option<Arc<DevFuse>>>,
    /// Probes sent and not yet answered, by token.
    pending: Mutex<HashMap<u64, tokio::sync::oneshot::Sender<()>>>,
}

/// Tokens for probes: far above the kernel's own request numbers.
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(1 << 62);

/// How long a probe may take.
const PROBE_WAIT: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl NotifyLine {
    /// A line to find among `candidates` (the descriptors new since the
    /// mount began).
    pub(crate) fn set_candidates(&self, candidates: Vec<DevFuse>) {
        *lock(&self.candidates) = Some(candidates);
    }

    /// The session's descriptor, if found.
    pub(crate) fn get(&self) -> Option<Arc<DevFuse>> {
        lock(&self.found).clone()
    }

    /// Let go of the descriptor (the session ended: the kernel must see
    /// the device closed once fuse3 closed its own).
    pub(crate) fn close(&self) {
        drop(lock(&self.found).take());
        drop(lock(&self.candidates).take());
    }

    /// The session's descriptor, or `None` while it is looked for: the
    /// first call starts the probe, as FUSE_NOTIFY_RETRIEVE of nothing
    /// from `ino`, a regular file the kernel knows (it refuses a
    /// directory).
    pub(crate) fn get_or_probe(self: &Arc<Self>, ino: u64) -> Option<Arc<DevFuse>> {
        if let Some(dev) = self.get() {
            return Some(dev);
        }
        let candidates = lock(&self.candidates).take()?;
        let line = self.clone();
        tokio::spawn(async move {
            let n = candidates.len();
            match line.find(candidates, ino).await {
                Some(dev) => *lock(&line.found) = Some(Arc::new(dev)),
                None => warn!(
                    candidates = n,
                    "no line to the kernel's page cache: no prefetch"
                ),
            }
        });
        None
    }

    /// A NOTIFY_REPLY came with unique `token`: whether it was a probe.
    pub(crate) fn answered(&self, token: u64) -> bool {
        let tx = lock(&self.pending).remove(&token);
        tx.map(|tx| tx.send(())).is_some()
    }

    /// Which of `candidates` is this session's: each is probed, and the
    /// first whose answer arrives wins.
    async fn find(&self, candidates: Vec<DevFuse>, ino: u64) -> Option<DevFuse> {
        let mut waits = Vec::new();
        for dev in candidates {
            let token = NEXT_TOKEN.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = tokio::sync::oneshot::channel();
            lock(&self.pending).insert(token, tx);
            // The kernel may wait for its connection to be initialized.
            let sent = tokio::task::spawn_blocking(move || dev.probe(token, ino).map(|()| dev));
            waits.push(Box::pin(async move {
                match sent.await {
                    Ok(Ok(dev)) => rx.await.map(|()| dev).map_err(drop),
                    Ok(Err(e)) => {
                        debug!("probe refused: {e}");
                        Err(())
                    }
                    Err(_) => Err(()),
                }
            }));
        }
        let found = tokio::time::timeout(PROBE_WAIT, futures::future::select_ok(waits)).await;
        lock(&self.pending).clear();
        found.ok()?.ok().map(|(dev, _)| dev)
    }
}
