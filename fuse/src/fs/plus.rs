//! readdirplus: directory entries with their attributes, each entry (but
//! `.` and `..`) a lookup the kernel counts.
//!
//! The attributes are fetched ahead, [`DEPTH`] entries at a time, each by a
//! task of its own (walk + getattr, or just getattr through a fid the
//! inode already has), so the round trips overlap; an inode whose
//! attributes we hold costs none (`Fs::known_attrs`; with `cache=none`,
//! `AttrCache::repeat`). The session pulls entries
//! from our stream one by one until the kernel's buffer is full, and the
//! entry that did not fit is pulled and then dropped unseen; so an entry
//! only counts as a lookup once the next one is asked for (or the stream
//! ends), and on drop the last one given is taken back (-1 lookup) and its
//! fetch queued again. What was fetched ahead stays with the directory
//! handle for the next call, which normally continues where this one
//! stopped; a call at another offset starts afresh.
//!
//! An entry whose attributes cannot be had (removed meanwhile, or a
//! directory that can be read but not searched) is given without them
//! (node id 0), which the kernel shows without caching anything.

use std::collections::VecDeque;
use std::sync::Arc;

use crate::kernel::prelude::*;
use futures::stream::{self, BoxStream, StreamExt};
use ninep_client::File;

use super::dir::os_name;
use super::{found, Fs, ATTR_MASK};
use crate::attr::{file_attr, kind_of, kind_of_dtype};
use crate::errno::Fail;
use crate::handles::{DirEntry, Fetched, Lookahead, OpenDir};
use crate::ino::Ino;

/// Entries whose attributes are fetched ahead.
pub(crate) const DEPTH: usize = 16;

/// The state behind one readdirplus reply's stream.
struct Plus {
    fs: Fs,
    dir: Arc<OpenDir>,
    dir_fid: Arc<File>,
    listing: Arc<Vec<DirEntry>>,
    pos: usize,
    ahead: Lookahead,
    /// The last entry given: listing index and inode, not yet accepted.
    pending: Option<(usize, Ino)>,
}

impl Fs {
    pub(crate) async fn do_readdirplus(
        &self,
        _ino: Ino,
        fh: u64,
        offset: u64,
    ) -> Result<ReplyDirectoryPlus<BoxStream<'_, crate::kernel::Result<DirectoryEntryPlus>>>, Fail>
    {
        let dir = self.open_dir(fh)?;
        let listing = self.listing(&dir, offset).await?;
        let dir_fid = self.fid(dir.ino, dir.uid).await?;
        let pos = usize::try_from(offset).map_err(|_| Fail(libc::EINVAL))?;
        let kept = dir
            .lookahead
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        let first = pos.max(2);
        let ahead = match kept {
            Some(p) if p.next == first && offset != 0 => p,
            _ => Lookahead {
                next: first,
                queue: VecDeque::new(),
            },
        };
        let plus = Plus {
            fs: self.clone(),
            dir,
            dir_fid,
            listing,
            pos,
            ahead,
            pending: None,
        };
        let entries = stream::unfold(plus, |mut p| async move {
            let e = p.next_entry().await?;
            Some((Ok(e), p))
        });
        Ok(ReplyDirectoryPlus {
            entries: entries.boxed(),
        })
    }
}

impl Plus {
    async fn next_entry(&mut self) -> Option<DirectoryEntryPlus> {
        // Being asked again means the last entry went to the kernel.
        self.pending = None;
        let i = self.pos;
        let e = self.listing.get(i)?.clone();
        self.pos += 1;
        if i < 2 {
            return Some(self.dot(i, &e));
        }
        self.top_up();
        let task = self.ahead.queue.pop_front()?;
        self.ahead.next += 1;
        let fetched = task.await.ok().flatten();
        Some(match fetched {
            Some(f) => self.commit(i, &e, f),
            None => self.bare(i, &e),
        })
    }

    /// Keep [`DEPTH`] fetches in flight.
    fn top_up(&mut self) {
        while self.ahead.queue.len() < DEPTH {
            let i = self.ahead.next + self.ahead.queue.len();
            let Some(e) = self.listing.get(i) else {
                return;
            };
            let task = fetch(
                self.fs.clone(),
                self.dir_fid.clone(),
                self.dir.uid,
                e.clone(),
            );
            self.ahead.queue.push_back(tokio::spawn(task));
        }
    }

    /// Entry `i` with its attributes: +1 lookup (see the module doc).
    fn commit(&mut self, i: usize, e: &DirEntry, f: Fetched) -> DirectoryEntryPlus {
        let fs = &self.fs;
        let fid = f.file.map(|file| (self.dir.uid, file));
        let ino = fs.inodes.lookup(self.dir.ino, &e.name, found(&f.attr), fid);
        if f.new {
            fs.cache.attrs.put(ino, &f.attr);
        }
        self.pending = Some((i, ino));
        let ttl = fs.lifetime(ino, &f.attr);
        fs.tell(ino, &f.attr);
        DirectoryEntryPlus {
            inode: ino.get(),
            generation: 0,
            kind: kind_of(f.attr.mode),
            name: os_name(&e.name),
            offset: i as i64 + 1,
            attr: file_attr(ino, &f.attr, fs.overrides()),
            entry_ttl: ttl,
            attr_ttl: ttl,
        }
    }

    /// Entry `i` without attributes (node id 0: the kernel links nothing).
    fn bare(&self, i: usize, e: &DirEntry) -> DirectoryEntryPlus {
        let ino = self.fs.dirent_ino(&self.dir, i, e);
        let kind = kind_of_dtype(e.ty);
        DirectoryEntryPlus {
            inode: ino,
            generation: 0,
            kind,
            name: os_name(&e.name),
            offset: i as i64 + 1,
            attr: no_attr(kind),
            entry_ttl: Default::default(),
            attr_ttl: Default::default(),
        }
    }

    /// `.` or `..`: the kernel takes no lookup for them.
    fn dot(&self, i: usize, e: &DirEntry) -> DirectoryEntryPlus {
        self.bare(i, e)
    }
}

impl Drop for Plus {
    fn drop(&mut self) {
        if let Some((i, ino)) = self.pending.take() {
            // Pulled but not sent: not a lookup after all; fetch it again
            // for the call that will start there.
            self.fs.inodes.forget(ino, 1);
            let e = self.listing[i].clone();
            let task = fetch(self.fs.clone(), self.dir_fid.clone(), self.dir.uid, e);
            self.ahead.queue.push_front(tokio::spawn(task));
            self.ahead.next = i;
        }
        let kept = std::mem::take(&mut self.ahead);
        *self.dir.lookahead.lock().unwrap_or_else(|e| e.into_inner()) = Some(kept);
    }
}

/// Attributes for an entry whose attributes are not given.
pub(crate) fn no_attr(kind: FileType) -> FileAttr {
    let zero = Timestamp::new(0, 0);
    FileAttr {
        ino: 0,
        size: 0,
        blocks: 0,
        atime: zero,
        mtime: zero,
        ctime: zero,
        kind,
        perm: 0,
        nlink: 0,
        uid: 0,
        gid: 0,
        rdev: 0,
        blksize: 0,
    }
}

/// The attributes of entry `e` of the directory `dir_fid` for `uid`: those
/// we hold for the inode its qid already names (see `Fs::known_attrs`:
/// no round trip), else a Tgetattr through the inode's fid, else a walk
/// and a Tgetattr.
async fn fetch(fs: Fs, dir_fid: Arc<File>, uid: u32, e: DirEntry) -> Option<Fetched> {
    if let Some(attr) = fs.known_attrs(e.qid) {
        return Some(Fetched {
            attr,
            file: None,
            new: false,
        });
    }
    let ino = fs.inodes.by_path(e.qid.path);
    // cache=none: the attributes the kernel holds, given again for the
    // same file (see `AttrCache::repeat`).
    let repeat = ino.and_then(|ino| fs.cache.attrs.repeat(ino, fs.appends()));
    if let Some(attr) = repeat.filter(|a| a.qid == e.qid) {
        return Some(Fetched {
            attr,
            file: None,
            new: true,
        });
    }
    let known = ino.and_then(|ino| fs.inodes.fid(ino, uid));
    if let Some(f) = known {
        if let Ok(attr) = f.getattr(ATTR_MASK).await {
            if attr.qid.path == e.qid.path {
                return Some(Fetched {
                    attr,
                    file: None,
                    new: true,
                });
            }
        }
    }
    let file = dir_fid.walk(&[&*e.name]).await.ok()?;
    let attr = file.getattr(ATTR_MASK).await.ok()?;
    Some(Fetched {
        attr,
        file: Some(file),
        new: true,
    })
}
