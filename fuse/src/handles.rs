//! Open file and directory handles: the `fh` the kernel passes back on
//! every read, write, readdir and release.
//!
//! Each open gets a fid of its own (a walk-clone of the inode's fid, then
//! Tlopen or Tlcreate), because a 9P fid is opened once and its open mode
//! is fixed; the inode's own fid stays unopened so it can still be walked
//! from. Release removes the handle and clunks its fid once no request is
//! using it any more (each request holds an `Arc`).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use ninep_client::wire::Qid;
use ninep_client::File;

use crate::fs::plus::Prefetch;

/// An open regular file (or device, FIFO...).
#[derive(Debug)]
pub(crate) struct OpenFile {
    /// The opened fid.
    pub file: File,
    /// Set once a POSIX lock was taken through this handle, so that FUSE
    /// flush knows to release the owner's locks.
    pub locked: AtomicBool,
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
    /// The opened fid (Treaddir).
    pub file: File,
    /// Its inode.
    pub ino: u64,
    /// Whose fids to walk entries from in readdirplus.
    pub uid: u32,
    /// The listing, read whole at the first readdir from offset 0; readdir
    /// offsets are indices into it plus one.
    pub listing: tokio::sync::Mutex<Option<Arc<Vec<DirEntry>>>>,
    /// Attributes fetched ahead by readdirplus for the next call.
    pub prefetch: Mutex<Option<Prefetch>>,
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
