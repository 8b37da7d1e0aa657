//! A tiny read-only FUSE file system whose reads block until the test
//! releases them: the victim that makes a real server's Tread hang, for
//! Tflush tests against diod and for FUSE-interrupt tests.
//!
//! ```text
//! <mount point>/          inode 1, r-xr-xr-x
//!     hello               inode 2, HELLO, readable at once
//!     block0 .. block7    inodes 3..=10, BLOCK_SIZE bytes of block_data(n);
//!                         a read at an offset below BLOCK_SIZE waits at the
//!                         gate, a read at or past the end returns 0 bytes
//! ```
//!
//! The gate: every read of a block file that starts while the gate is shut
//! is a *waiter* until [`BlockFs::release_waiting`] (wakes the waiters of
//! the moment; later reads wait again) or [`BlockFs::release_all`] (opens
//! the gate for good) lets it return its data, or a `FUSE_INTERRUPT` for
//! its request ends it with `EINTR` (counted by [`BlockFs::interrupted`]).
//!
//! Block files are opened with `FOPEN_DIRECT_IO`, so every `read(2)` or
//! `pread(2)` is exactly one `FUSE_READ` (no page cache, no readahead):
//! two concurrent readers of one file are two waiters, and the kernel can
//! interrupt each of them.
//!
//! # Serving it with diod
//! Mount first, then start diod with the mount point as an export of its
//! own (`Diod::start(&[blockfs.path()])`): diod does not cross mount points,
//! so exporting a parent directory shows an empty directory. Attach with the
//! mount point as aname. Declare the `Diod` after the `BlockFs` so that it
//! is dropped first.
//!
//! # Life cycle
//! [`BlockFs::mount`] (or [`BlockFs::mount_temp`], which also makes the
//! mount point and removes it after the unmount) runs the FUSE session on a
//! thread of its own with its own tokio runtime, so it works from sync and
//! async tests alike, and returns once the root answers a `stat`. Dropping
//! the [`BlockFs`] (or [`BlockFs::unmount`]) opens the gate, unmounts
//! (lazily if the mount is busy, so the mount point is gone from the
//! namespace either way) and waits a bounded time for the session thread.
//! Only a process killed outright can leave a stale mount (`umount -l DIR`
//! clears it).
//!
//! Mounting uses mount(2) directly, so it needs root (as in CI). The mount
//! is `allow_other` (so another uid, e.g. a server that switched to the
//! attaching user, may use it), read-only, and without
//! `default_permissions`: everything is readable by anyone.

use std::collections::{HashMap, VecDeque};
use std::ffi::CString;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex, MutexGuard};
use std::thread;
use std::time::Duration;

use crate::kernel::dev::Device;
use crate::kernel::mount::{mount_direct, MountOptions};
use crate::kernel::session::{Session, Users};
use crate::kernel::Errno;
use tempfile::TempDir;
use tokio::sync::oneshot;

use tree::{Ops, ROOT_INO};

mod tree;

/// Number of block files, `block0` .. `block7`.
pub const BLOCKS: usize = 8;
/// Size of each block file.
pub const BLOCK_SIZE: u64 = 4096;
/// The contents of `hello`.
pub const HELLO: &[u8] = b"hello from blockfs\n";
/// How long [`BlockFs::mount`] may take before it fails.
pub const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);
/// How long dropping a [`BlockFs`] waits for its session thread to end.
pub const UNMOUNT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long it waits after a lazy unmount (a server that is being killed
/// may still close its files in that time).
pub const LAZY_GRACE: Duration = Duration::from_secs(1);

/// The source field of the mount in `/proc/self/mountinfo`.
const FS_NAME: &str = "blockfs";
/// Interrupts for requests not (yet) waiting that are remembered, in case
/// the read registers after its interrupt was handled.
const EARLY_INTERRUPTS: usize = 64;

/// The bytes of `block<n>`: [`BLOCK_SIZE`] bytes that depend on `n` and on
/// the offset, so that a short, shifted or foreign read is noticed.
pub fn block_data(n: usize) -> Vec<u8> {
    (0..BLOCK_SIZE as usize)
        .map(|j| ((n * 37 + j) % 251) as u8)
        .collect()
}

/// Whether `/proc/self/mountinfo` lists a blockfs mounted at `dir`
/// (compared as given; pass the canonical path, e.g. [`BlockFs::path`]).
pub fn is_mounted(dir: &Path) -> bool {
    crate::mountinfo::entries(&crate::mountinfo::now()).any(|e| {
        e.point == dir
            && (e.fstype == "fuse" || e.fstype.starts_with("fuse."))
            && e.source == FS_NAME
    })
}

/// A mounted blockfs; unmounted when dropped.
#[derive(Debug)]
pub struct BlockFs {
    gate: Arc<Gate>,
    dir: PathBuf,
    /// Whether mount(2) succeeded (so Drop must unmount).
    mounted: bool,
    session: Option<thread::JoinHandle<()>>,
    /// Signalled (or disconnected) when the session thread ends.
    done: mpsc::Receiver<()>,
    /// The mount point made by [`BlockFs::mount_temp`]: a field, so that it
    /// is removed only after `drop` has unmounted.
    _mount_point: Option<TempDir>,
}

impl BlockFs {
    /// Mounts a blockfs on a new temporary directory, removed after the
    /// unmount when the [`BlockFs`] is dropped.
    pub fn mount_temp() -> io::Result<BlockFs> {
        let mount_point = tempfile::Builder::new()
            .prefix("ninep-victimfs-")
            .tempdir()?;
        let mut blockfs = BlockFs::mount(mount_point.path())?;
        blockfs._mount_point = Some(mount_point);
        Ok(blockfs)
    }

    /// Mounts a blockfs on `dir` (an existing, empty directory) and returns
    /// once the mount answers; fails after [`MOUNT_TIMEOUT`]. Needs root and
    /// `/dev/fuse`.
    pub fn mount(dir: &Path) -> io::Result<BlockFs> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(io::Error::new(
                io::ErrorKind::PermissionDenied,
                "blockfs mounts with mount(2) and needs root (CI runs as root)",
            ));
        }
        if !Path::new("/dev/fuse").exists() {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                "blockfs needs /dev/fuse (load the fuse module: modprobe fuse)",
            ));
        }
        let dir = fs::canonicalize(dir)?;
        let gate = Arc::new(Gate::default());
        let ops = Ops::new(gate.clone());
        let (ready_tx, ready_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let session = {
            let dir = dir.clone();
            thread::Builder::new()
                .name("blockfs".into())
                .spawn(move || serve(ops, &dir, ready_tx, done_tx))?
        };
        let mut blockfs = BlockFs {
            gate,
            dir,
            mounted: false,
            session: Some(session),
            done,
            _mount_point: None,
        };
        let ready = ready_rx
            .recv_timeout(MOUNT_TIMEOUT)
            .unwrap_or_else(|e| Err(io::Error::other(format!("blockfs session: {e}"))));
        blockfs.mounted = ready.is_ok();
        ready?;
        blockfs.wait_live()?;
        Ok(blockfs)
    }

    /// Stats the root from a helper thread (the first request waits for
    /// FUSE_INIT) and checks that it is our root and not the directory below.
    fn wait_live(&self) -> io::Result<()> {
        let (tx, rx) = mpsc::channel();
        let dir = self.dir.clone();
        thread::spawn(move || {
            let _ = tx.send(fs::metadata(&dir));
        });
        let root = rx
            .recv_timeout(MOUNT_TIMEOUT)
            .map_err(|_| timed_out("the blockfs root did not answer a stat"))??;
        let below = fs::metadata(self.dir.parent().unwrap_or(Path::new("/")))?;
        if root.ino() == ROOT_INO && root.dev() != below.dev() {
            Ok(())
        } else {
            Err(io::Error::other(format!(
                "{} is not the blockfs root after mounting",
                self.dir.display()
            )))
        }
    }

    /// The canonical mount point: export it and attach to it.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Wakes the reads waiting now; reads that start later wait again.
    pub fn release_waiting(&self) {
        self.gate.release_waiting();
    }

    /// Reads that start from now on let themselves through after `after`
    /// (`None`: only when released), like a slow device.
    pub fn release_after(&self, after: Option<Duration>) {
        self.gate.lock().release_after = after;
    }

    /// Wakes every waiting read and lets all later reads through at once.
    pub fn release_all(&self) {
        self.gate.release_all();
    }

    /// Reads waiting at the gate now.
    pub fn waiting(&self) -> usize {
        self.gate.lock().waiters.len()
    }

    /// Waits up to `timeout` until at least `n` reads wait at the gate;
    /// returns whether they do. Blocks the thread (use `spawn_blocking`, or
    /// poll [`BlockFs::waiting`], from async code).
    pub fn wait_for_waiting(&self, n: usize, timeout: Duration) -> bool {
        let state = self.gate.lock();
        let (state, _) = self
            .gate
            .changed
            .wait_timeout_while(state, timeout, |s| s.waiters.len() < n)
            .unwrap_or_else(|e| e.into_inner());
        state.waiters.len() >= n
    }

    /// Reads of a block file that reached the gate so far (whether they
    /// waited or not); reads of `hello` and at end of file are not counted.
    pub fn reads_started(&self) -> u64 {
        self.gate.reads_started.load(Ordering::SeqCst)
    }

    /// Waiting reads ended by a `FUSE_INTERRUPT` (answered with `EINTR`).
    pub fn interrupted(&self) -> u64 {
        self.gate.interrupted.load(Ordering::SeqCst)
    }

    /// Unmounts now, reporting what went wrong (Drop only logs it).
    pub fn unmount(mut self) -> io::Result<()> {
        self.shut_down()
    }

    /// Opens the gate, unmounts and joins the session thread, waiting at
    /// most [`UNMOUNT_TIMEOUT`] for it. A busy mount is detached lazily:
    /// the mount point is free at once, but the session serves the files
    /// still open until they are closed, so after [`LAZY_GRACE`] this gives
    /// up on the thread (which ends by itself later) with `ResourceBusy`.
    fn shut_down(&mut self) -> io::Result<()> {
        self.gate.release_all();
        let Some(session) = self.session.take() else {
            return Ok(());
        };
        let lazy = if self.mounted || is_mounted(&self.dir) {
            unmount(&self.dir)?
        } else {
            false
        };
        // The unmount (after a lazy one, the last close) aborts the
        // connection: /dev/fuse reads fail with ENODEV and the session ends.
        let bound = if lazy { LAZY_GRACE } else { UNMOUNT_TIMEOUT };
        match self.done.recv_timeout(bound) {
            Err(mpsc::RecvTimeoutError::Timeout) if lazy => Err(io::Error::new(
                io::ErrorKind::ResourceBusy,
                "unmounted lazily: files are still open, the session ends when they are closed",
            )),
            Err(mpsc::RecvTimeoutError::Timeout) => Err(timed_out(
                "the blockfs session did not end after unmounting",
            )),
            _ => session
                .join()
                .map_err(|_| io::Error::other("the blockfs session thread panicked")),
        }
    }
}

impl Drop for BlockFs {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            eprintln!("blockfs on {}: {e}", self.dir.display());
        }
    }
}

fn timed_out(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, what.to_owned())
}

/// umount2(dir); when busy, a lazy one, which detaches the mount point at
/// once and leaves the file system to the processes that still use it.
/// Returns whether it had to be lazy.
fn unmount(dir: &Path) -> io::Result<bool> {
    let c_dir = CString::new(dir.as_os_str().as_bytes())?;
    for flags in [0, libc::MNT_DETACH] {
        // SAFETY: c_dir is a valid NUL-terminated path for the whole call.
        if unsafe { libc::umount2(c_dir.as_ptr(), flags) } == 0 {
            return Ok(flags != 0);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EBUSY) if flags == 0 => continue,
            // Not a mount point (any more): already gone.
            Some(libc::EINVAL) if !is_mounted(dir) => return Ok(false),
            _ => return Err(err),
        }
    }
    unreachable!("the lazy unmount returns")
}

/// The session thread: mount, report, serve until the kernel ends the
/// connection, then signal `done` (also by being dropped on a panic).
fn serve(ops: Ops, dir: &Path, ready: mpsc::Sender<io::Result<()>>, _done: mpsc::Sender<()>) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            let _ = ready.send(Err(e));
            return;
        }
    };
    runtime.block_on(async {
        let options = MountOptions {
            fsname: FS_NAME.into(),
            subtype: String::new(),
            allow_other: true,
            allow_root: false,
            read_only: true,
            default_permissions: false,
            max_read: None,
            flags: Vec::new(),
        };
        let session = match mount_direct(dir, &options).and_then(Device::new) {
            Ok(dev) => Session::new(dev, Users::Any, Default::default()),
            Err(e) => {
                let _ = ready.send(Err(e));
                return;
            }
        };
        let _ = ready.send(Ok(()));
        if let Err(e) = session.serve(std::sync::Arc::new(ops)).await {
            eprintln!("blockfs session on {} ended: {e}", dir.display());
        }
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// How a waiting read ends.
#[derive(Debug)]
enum Wake {
    Release,
    Interrupt,
}

/// The gate, shared by the FUSE handlers and the test's [`BlockFs`].
#[derive(Debug, Default)]
struct Gate {
    state: Mutex<GateState>,
    /// Notified whenever the set of waiters changes.
    changed: Condvar,
    reads_started: AtomicU64,
    interrupted: AtomicU64,
}

#[derive(Debug, Default)]
struct GateState {
    /// Shut until `release_all`.
    open: bool,
    /// Waiting reads by FUSE request id (`unique`, never reused).
    waiters: HashMap<u64, oneshot::Sender<Wake>>,
    /// Interrupts that found no waiter, newest last.
    early_interrupts: VecDeque<u64>,
    /// A waiting read lets itself through after this long.
    release_after: Option<Duration>,
}

impl Gate {
    fn lock(&self) -> MutexGuard<'_, GateState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Lets the read with request id `unique` through once the gate allows:
    /// `Err(EINTR)` if it was interrupted instead.
    async fn pass(&self, unique: u64) -> crate::kernel::Result<()> {
        self.reads_started.fetch_add(1, Ordering::SeqCst);
        let woken = {
            let mut state = self.lock();
            if let Some(i) = state.early_interrupts.iter().position(|&u| u == unique) {
                state.early_interrupts.remove(i);
                return Err(self.count_interrupt());
            }
            if state.open {
                return Ok(());
            }
            let (tx, rx) = oneshot::channel();
            state.waiters.insert(unique, tx);
            self.changed.notify_all();
            (rx, state.release_after)
        };
        let (woken, after) = woken;
        let _leave = Leave { gate: self, unique };
        let woken = match after {
            Some(after) => match tokio::time::timeout(after, woken).await {
                Ok(w) => w,
                Err(_) => Ok(Wake::Release),
            },
            None => woken.await,
        };
        match woken {
            Ok(Wake::Interrupt) => Err(self.count_interrupt()),
            // A dropped sender means the session is ending: just answer.
            Ok(Wake::Release) | Err(_) => Ok(()),
        }
    }

    fn count_interrupt(&self) -> Errno {
        self.interrupted.fetch_add(1, Ordering::SeqCst);
        libc::EINTR.into()
    }

    fn interrupt(&self, unique: u64) {
        let mut state = self.lock();
        match state.waiters.remove(&unique) {
            Some(tx) => {
                let _ = tx.send(Wake::Interrupt);
                self.changed.notify_all();
            }
            // Not a waiting read: a read that has not reached the gate yet,
            // or any other request (all of which answer at once).
            None => {
                if state.early_interrupts.len() == EARLY_INTERRUPTS {
                    state.early_interrupts.pop_front();
                }
                state.early_interrupts.push_back(unique);
            }
        }
    }

    fn release_waiting(&self) {
        let mut state = self.lock();
        for (_, tx) in state.waiters.drain() {
            let _ = tx.send(Wake::Release);
        }
        self.changed.notify_all();
    }

    fn release_all(&self) {
        self.lock().open = true;
        self.release_waiting();
    }
}

/// Removes a waiter whose read ends or is dropped.
struct Leave<'a> {
    gate: &'a Gate,
    unique: u64,
}

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        if self.gate.lock().waiters.remove(&self.unique).is_some() {
            self.gate.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_early_interrupt_ends_the_read_at_the_gate() {
        let gate = Gate::default();
        gate.interrupt(7);
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let res = rt.block_on(gate.pass(7));
        assert_eq!(res.unwrap_err(), Errno::from(libc::EINTR));
        assert_eq!(gate.interrupted.load(Ordering::SeqCst), 1);
        assert!(gate.lock().early_interrupts.is_empty());
    }
}
