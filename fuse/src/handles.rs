//! Open file and directory handles: the `fh` the kernel passes back on
//! every read, write, readdir and release.
//!
//! Each open gets a fid of its own (a walk-clone of the inode's fid, then
//! Tlopen or Tlcreate), because a 9P fid is opened once and its open mode
//! is fixed; the inode's own fid stays unopened so it can still be walked
//! from. Release removes the handle and clunks its fid once no request is
//! using it any more (each request holds an `Arc`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ninep_client::wire::Qid;
use ninep_client::File;

use crate::ino::Ino;
use crate::prefetch::Writer;
use crate::stream::Stream;
use ninep_client::wire::Rgetattr;
use std::collections::VecDeque;
use tokio::task::JoinHandle;

/// What an open file was opened as: after a reconnect it is walked to
/// and opened again from this.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Origin {
    /// Its inode.
    pub ino: Ino,
    /// Whose fids it was walked from.
    pub uid: u32,
    /// The Tlopen flags to open it again with: never `O_CREAT`, `O_EXCL`
    /// or `O_TRUNC` (see [`Origin::new`]).
    pub flags: u32,
}

impl Origin {
    /// The origin of a file opened (or created) with `flags`: opening it
    /// again must neither create nor truncate it.
    pub(crate) fn new(ino: Ino, uid: u32, flags: u32) -> Origin {
        let once = (libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC) as u32;
        Origin {
            ino,
            uid,
            flags: flags & !once,
        }
    }
}

/// An open regular file (or device, FIFO...).
/// Lock owners kept per handle: past this many, every flush releases
/// (as if each closing owner had locked).
const MAX_LOCK_OWNERS: usize = 32;

/// The lock owners (FUSE's `lock_owner`: one per process's descriptor
/// table) that took a POSIX lock through a handle. FUSE sends flush at
/// every close(2) of a descriptor of the file, with the closing owner:
/// also a child's, which inherited the descriptor and closes it at exec.
/// On 9P a lock belongs to the open fid, not to an owner, so an unlock at
/// such a close would drop the parent's lock; only the owners here get
/// one.
#[derive(Debug, Default)]
pub(crate) struct LockOwners(Mutex<(Vec<u64>, bool)>);

impl LockOwners {
    /// `owner` took a lock.
    pub(crate) fn add(&self, owner: u64) {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (owners, overflow) = &mut *g;
        if owners.contains(&owner) {
            return;
        }
        match owners.len() < MAX_LOCK_OWNERS {
            true => owners.push(owner),
            false => *overflow = true,
        }
    }

    /// Whether `owner`, now closing, may hold locks here (then it is
    /// forgotten: its locks go now).
    pub(crate) fn take(&self, owner: u64) -> bool {
        let mut g = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let (owners, overflow) = &mut *g;
        match owners.iter().position(|&o| o == owner) {
            Some(i) => {
                owners.swap_remove(i);
                true
            }
            None => *overflow,
        }
    }
}

#[derive(Debug)]
pub(crate) struct OpenFile {
    /// The opened fid.
    pub file: File,
    /// The lock owners that took a POSIX lock through this handle, so
    /// that FUSE flush releases the locks of those owners only.
    pub lock_owners: LockOwners,
    /// How to open it again after a reconnect.
    pub origin: Origin,
    /// What the handle means to the random-read prefetch (kept across a
    /// reconnect).
    pub reads: Arc<Reads>,
}

/// An open file as the random-read prefetch sees it (see `prefetch.rs`).
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Holds off the inode's stores while the handle can write it.
    pub _writer: Option<Writer>,
    /// Whether reads through the handle may prefetch (`cache=loose`, the
    /// page cache in use, prefetch on).
    pub prefetch: bool,
    /// The file's size when it was opened: no store reaches past it
    /// unless the attribute cache knows a fresher size.
    pub size: u64,
    /// Where the last read through the handle ended: a read that starts
    /// there is sequential, the kernel's readahead serves it.
    pub next: AtomicU64,
    /// The reads kept ahead of a sequential reader on a direct-I/O handle
    /// (`cache=none` with `direct_read_ahead_kb`).
    pub stream: Option<Stream>,
}

/// One entry of a directory listing as the kernel will see it.
#[derive(Debug, Clone)]
pub(crate) struct DirEntry {
    /// The name (checked: a valid component, or the listing's own `.`/`..`).
    pub name: Box<[u8]>,
    /// The qid the server gave (unused for `.` and `..`).
    pub qid: Qid,
    /// `DT_*` type from the server.
    pub ty: u8,
}

/// An open directory.
#[derive(Debug)]
pub(crate) struct OpenDir {
    /// The opened fid (Treaddir), opened at the first need of it: a
    /// listing served from the cache needs none.
    pub file: tokio::sync::OnceCell<File>,
    /// Its inode.
    pub ino: Ino,
    /// Whose fids to walk entries from in readdirplus.
    pub uid: u32,
    /// The listing, read whole at the first readdir from offset 0; readdir
    /// offsets are indices into it plus one.
    pub listing: tokio::sync::Mutex<Option<Arc<Vec<DirEntry>>>>,
    /// Attributes fetched ahead by readdirplus for the next call.
    pub lookahead: Mutex<Option<Lookahead>>,
}

/// What an `fh` stands for.
#[derive(Debug, Clone)]
pub(crate) enum Handle {
    File(Arc<OpenFile>),
    Dir(Arc<OpenDir>),
}

/// The table of open handles.
#[derive(Debug, Default)]
pub(crate) struct Handles {
    next: AtomicU64,
    map: Mutex<HashMap<u64, Handle>>,
}

impl Handles {
    fn lock(&self) -> MutexGuard<'_, HashMap<u64, Handle>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Register `h`; returns its `fh` (never 0, so a zero `fh` from the
    /// kernel is never ours).
    pub(crate) fn insert(&self, h: Handle) -> u64 {
        let fh = self.next.fetch_add(1, Ordering::Relaxed) + 1;
        self.lock().insert(fh, h);
        fh
    }

    /// The open file `fh`.
    pub(crate) fn file(&self, fh: u64) -> Option<Arc<OpenFile>> {
        match self.lock().get(&fh) {
            Some(Handle::File(f)) => Some(f.clone()),
            _ => None,
        }
    }

    /// The open directory `fh`.
    pub(crate) fn dir(&self, fh: u64) -> Option<Arc<OpenDir>> {
        match self.lock().get(&fh) {
            Some(Handle::Dir(d)) => Some(d.clone()),
            _ => None,
        }
    }

    /// Forget `fh`; the caller disposes of the handle.
    pub(crate) fn remove(&self, fh: u64) -> Option<Handle> {
        self.lock().remove(&fh)
    }

    /// A handle open on inode `ino`, if any: its fid still reaches a file
    /// whose every name is gone (fstat of an open, unlinked file).
    pub(crate) fn any_on(&self, ino: Ino) -> Option<Handle> {
        self.lock()
            .values()
            .find(|h| match h {
                Handle::File(f) => f.origin.ino == ino,
                Handle::Dir(d) => d.ino == ino,
            })
            .cloned()
    }

    /// Every handle with its `fh` (to reopen them after a reconnect).
    pub(crate) fn snapshot(&self) -> Vec<(u64, Handle)> {
        self.lock().iter().map(|(&fh, h)| (fh, h.clone())).collect()
    }

    /// Put `new` in place of `old` as `fh`, unless `fh` was released or
    /// replaced meanwhile (then `new` is handed back, to be dropped).
    pub(crate) fn replace(&self, fh: u64, old: &Handle, new: Handle) -> Option<Handle> {
        let mut map = self.lock();
        let same = match (map.get(&fh), old) {
            (Some(Handle::File(a)), Handle::File(b)) => Arc::ptr_eq(a, b),
            (Some(Handle::Dir(a)), Handle::Dir(b)) => Arc::ptr_eq(a, b),
            _ => false,
        };
        if !same {
            return Some(new);
        }
        let old = map.insert(fh, new);
        drop(map);
        drop(old);
        None
    }

    /// Handles open now.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Close everything (the session ended): the fids are clunked as the
    /// last users let go.
    pub(crate) fn clear(&self) {
        let all: Vec<_> = self.lock().drain().collect();
        drop(all);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_owner_that_locked_releases_and_past_the_bound_every_one_does() {
        let o = LockOwners::default();
        assert!(!o.take(1), "nobody locked");
        o.add(1);
        o.add(1);
        assert!(!o.take(2), "another owner's close");
        assert!(o.take(1));
        assert!(!o.take(1), "its locks went at its close");
        for owner in 0..MAX_LOCK_OWNERS as u64 {
            o.add(owner);
        }
        assert!(!o.take(1_000), "within the bound, others are told apart");
        o.add(1_000);
        assert!(o.take(2_000), "past the bound, every close releases");
    }

    #[test]
    fn reopening_never_creates_nor_truncates() {
        let all = libc::O_RDWR | libc::O_APPEND | libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC;
        let o = Origin::new(Ino::from_kernel(7), 1000, all as u32);
        assert_eq!(o.flags, (libc::O_RDWR | libc::O_APPEND) as u32);
        assert_eq!((o.ino, o.uid), (Ino::from_kernel(7), 1000));
    }
}

/// Attributes of one entry, and the fid walked to it if one was needed.
#[derive(Debug)]
pub(crate) struct Fetched {
    pub attr: Rgetattr,
    pub file: Option<File>,
    /// From the server just now (else from the cache, whose trust in them
    /// keeps running from when they were fetched).
    pub new: bool,
}

/// readdirplus's attributes fetched ahead for its next call (not the
/// random-read prefetch of `prefetch.rs`): `queue[k]` is for listing index
/// `next + k`.
#[derive(Debug, Default)]
pub(crate) struct Lookahead {
    pub next: usize,
    pub queue: VecDeque<JoinHandle<Option<Fetched>>>,
}
