//! The inode table: which server file each FUSE inode number stands for,
//! how many times the kernel has been told about it, and the fids walked
//! to it.
//!
//! - One inode per `qid.path`, so hard links and repeated lookups share an
//!   inode. Inode numbers are ours (the root is 1, then 2, 3, ...), never a
//!   `qid.path` itself: a server's `qid.path` may be 1 or repeat after a
//!   file is deleted. A number is given to one `qid.path` only, and to the
//!   same one again when the kernel has forgotten the inode and looks the
//!   file up anew ([`Table::gone`]): the number is also the file's
//!   `st_ino` (the kernel takes a lookup's attributes with their `ino`), which
//!   must not change under a program between two calls. With a TTL of
//!   zero the kernel drops an unused entry and forgets its inode at once,
//!   so `mv` across directories found the file "replaced while being
//!   copied" between its lstat and its open (tests/tests/mount/classic.rs,
//!   about one run in fifteen).
//! - Each inode keeps a parent inode and a name (updated on our renames and
//!   unlinks, and on every lookup), so a fid for another user can be walked
//!   lazily from the nearest ancestor that already has one, and `..` is
//!   answered from the table instead of walking `..` on the server (which
//!   escapes the export from its root on diod and unpfs).
//! - Fids are kept per uid (`access=user` attaches once per user; with
//!   `access=client` every uid is the mounter's). The root's fids are the
//!   attaches themselves.
//! - Lookup counts follow the FUSE rule: +1 for every entry given to the
//!   kernel (lookup, create, mkdir, link, readdirplus), -n on forget. An
//!   inode whose count reaches zero, and that no remembered child names as
//!   parent, is dropped with its fids (clunked as the last user lets go).
//! - A file removed or replaced through the mount is *detached*: it keeps
//!   its inode until the kernel forgets it, but a later file with the same
//!   `qid.path` (local file systems reuse inode numbers) gets a new one.
//!   Its `qid.path` stops leading to it *before* the request goes
//!   ([`Inodes::dying`]): the server may give the number to a new file as
//!   soon as it has removed this one, and a create racing with the removal
//!   must not land on this inode (the kernel would serve the new file from
//!   the old one's page cache: found by `scripts/load.sh --cache loose`).

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Arc, Mutex, MutexGuard};

use lru::LruCache;

use ninep_client::wire::Qid;
use ninep_client::File;

/// How deep a parent chain may be before it is taken for a loop.
const MAX_DEPTH: usize = 4096;
/// Forgotten inodes whose numbers are kept for their files (about 40
/// bytes each); an older one's file gets a new number if it comes back.
const GONE_KEPT: usize = 65536;

/// What a lookup found on the server.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found {
    /// The file's qid.
    pub qid: Qid,
    /// Its `S_IFMT` bits.
    pub fmt: u32,
    /// Its link count.
    pub nlink: u64,
}

/// How to get a fid for an inode: walk `names` from `base` (or from the
/// root attach when `base` is `None`) and check that it lands on `qid`.
pub(crate) struct Plan {
    pub base: Option<Arc<File>>,
    pub names: Vec<Box<[u8]>>,
    pub qid: Qid,
}

/// A file about to be removed or replaced on the server, no longer found
/// by its `qid.path` (see [`Inodes::dying`]).
#[derive(Debug)]
pub(crate) struct Dying {
    ino: Ino,
    path: u64,
}

mod table;
#[cfg(test)]
mod tests;

use crate::ino::Ino;
use table::{Link, Node, Table};

/// The inode table (see the module doc).
#[derive(Debug)]
pub(crate) struct Inodes {
    table: Mutex<Table>,
}

impl Inodes {
    /// A table holding only the root.
    pub(crate) fn new(root: Qid) -> Inodes {
        let mut t = Table {
            nodes: HashMap::new(),
            by_path: HashMap::new(),
            by_name: HashMap::new(),
            next_ino: Ino::ROOT.next(),
            gone: LruCache::new(NonZeroUsize::new(GONE_KEPT).expect("non-zero")),
            clock: 0,
        };
        let node = Node {
            qid: root,
            fmt: libc::S_IFDIR,
            links: Vec::new(),
            lookups: 1,
            children: 0,
            nlink: 2,
            fids: Vec::new(),
            used: 0,
        };
        t.nodes.insert(Ino::ROOT, node);
        t.by_path.insert(root.path, Ino::ROOT);
        Inodes {
            table: Mutex::new(t),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inodes known now (the root included).
    pub(crate) fn len(&self) -> usize {
        self.lock().nodes.len()
    }

    /// The qid of `ino`.
    pub(crate) fn qid(&self, ino: Ino) -> Option<Qid> {
        self.lock().nodes.get(&ino).map(|n| n.qid)
    }

    /// The directory `ino` was last seen in (the root is its own parent);
    /// `None` for an inode gone or with no name left.
    pub(crate) fn parent(&self, ino: Ino) -> Option<Ino> {
        if ino == Ino::ROOT {
            return Some(Ino::ROOT);
        }
        self.lock().nodes.get(&ino)?.links.last().map(|l| l.0)
    }

    /// The inode currently known by `qid_path`, if any.
    pub(crate) fn by_path(&self, qid_path: u64) -> Option<Ino> {
        self.lock().by_path.get(&qid_path).copied()
    }

    /// The inode number a file of `qid` has, or would get back if found
    /// now (the kernel forgot it while it still stood for that file).
    pub(crate) fn number_for(&self, qid: Qid) -> Option<Ino> {
        let t = self.lock();
        match t.by_path.get(&qid.path) {
            Some(ino) => t
                .nodes
                .get(ino)
                .filter(|n| n.qid.ty == qid.ty)
                .map(|_| *ino),
            None => match t.gone.peek(&qid.path) {
                Some(&(ino, ty, _)) if ty == qid.ty && !t.nodes.contains_key(&ino) => Some(ino),
                _ => None,
            },
        }
    }

    /// The inode known as `name` in `parent`, if any.
    pub(crate) fn child(&self, parent: Ino, name: &[u8]) -> Option<Ino> {
        self.lock().by_name.get(&(parent, name.into())).copied()
    }

    /// The fid of `ino` for `uid`, if one was walked.
    pub(crate) fn fid(&self, ino: Ino, uid: u32) -> Option<Arc<File>> {
        let mut t = self.lock();
        t.clock += 1;
        let now = t.clock;
        let node = t.nodes.get_mut(&ino)?;
        node.used = now;
        node.fid(uid)
    }

    /// Let go of up to `n` fids kept only to save walks: those of the
    /// inodes used longest ago that no request holds (the root's attaches
    /// stay). Their next use walks again. Returns how many went.
    pub(crate) fn shed(&self, n: usize) -> usize {
        let mut t = self.lock();
        let idle = |f: &Arc<File>| Arc::strong_count(f) == 1;
        let mut oldest: Vec<(u64, Ino)> = t
            .nodes
            .iter()
            .filter(|(&ino, node)| ino != Ino::ROOT && node.fids.iter().any(|(_, f)| idle(f)))
            .map(|(&ino, node)| (node.used, ino))
            .collect();
        oldest.sort_unstable();
        let mut dropped = Vec::new();
        for (_, ino) in oldest {
            if dropped.len() >= n {
                break;
            }
            if let Some(node) = t.nodes.get_mut(&ino) {
                let (busy, idle): (Vec<_>, Vec<_>) =
                    node.fids.drain(..).partition(|(_, f)| !idle(f));
                node.fids = busy;
                dropped.extend(idle);
            }
        }
        drop(t);
        let went = dropped.len();
        drop(dropped);
        went
    }

    /// Record `file` as the fid of `ino` for `uid`; if another was recorded
    /// meanwhile that one is kept. `None` when the inode is gone.
    pub(crate) fn set_fid(&self, ino: Ino, uid: u32, file: File) -> Option<Arc<File>> {
        let mut t = self.lock();
        let node = t.nodes.get_mut(&ino)?;
        if let Some(f) = node.fid(uid) {
            drop(t);
            drop(file);
            return Some(f);
        }
        let f = Arc::new(file);
        node.fids.push((uid, f.clone()));
        t.clock += 1;
        let now = t.clock;
        if let Some(node) = t.nodes.get_mut(&ino) {
            node.used = now;
        }
        Some(f)
    }

    /// Forget `stale` as the fid of `ino` for `uid` (the server no longer
    /// finds the file by it); a newer fid recorded meanwhile stays.
    pub(crate) fn drop_fid(&self, ino: Ino, uid: u32, stale: &Arc<File>) {
        let mut t = self.lock();
        let Some(node) = t.nodes.get_mut(&ino) else {
            return;
        };
        let i = node
            .fids
            .iter()
            .position(|(u, f)| *u == uid && Arc::ptr_eq(f, stale));
        let dropped = i.map(|i| node.fids.swap_remove(i));
        drop(t);
        drop(dropped);
    }

    /// Forget every fid `keep` rejects, the root's (attaches) included:
    /// after a reconnect, those of the lost connection. Later uses walk
    /// new ones by name from a new attach.
    pub(crate) fn retain_fids(&self, keep: impl Fn(&File) -> bool) {
        let mut dropped = Vec::new();
        let mut t = self.lock();
        for node in t.nodes.values_mut() {
            let (live, dead) = node.fids.drain(..).partition(|(_, f)| keep(f));
            node.fids = live;
            dropped.extend::<Vec<_>>(dead);
        }
        drop(t);
        drop(dropped);
    }

    /// Take the fid of `uid` for the file `name` in `parent` out of the
    /// table, to remove the file by it (Tremove clunks it), when that fid
    /// can name nothing else: the inode's only known name is this one and
    /// (but for a directory) it has a single link, and no request is
    /// using the fid. Returns it with the file's `S_IFMT` bits.
    pub(crate) fn take_sole_fid(&self, parent: Ino, name: &[u8], uid: u32) -> Option<(File, u32)> {
        let mut t = self.lock();
        let link: Link = (parent, name.into());
        let ino = *t.by_name.get(&link)?;
        let node = t.nodes.get_mut(&ino)?;
        let single = node.fmt == libc::S_IFDIR || node.nlink == 1;
        if !single || node.links != [link] {
            return None;
        }
        let fmt = node.fmt;
        let f = node.take_unshared(uid)?;
        drop(t);
        Some((f, fmt))
    }

    /// `name` in `parent` is about to be removed or replaced on the
    /// server: unless the file has other links (and so survives), its
    /// `qid.path` stops leading to its inode now, so that a new file given
    /// the same number meanwhile gets an inode of its own. Hand the result
    /// to [`Inodes::revive`] if the removal fails.
    pub(crate) fn dying(&self, parent: Ino, name: &[u8]) -> Option<Dying> {
        let mut t = self.lock();
        let link: Link = (parent, name.into());
        let ino = *t.by_name.get(&link)?;
        let node = t.nodes.get(&ino)?;
        if node.fmt != libc::S_IFDIR && node.nlink > 1 {
            return None;
        }
        let path = node.qid.path;
        if t.by_path.get(&path) != Some(&ino) {
            return None;
        }
        t.by_path.remove(&path);
        Some(Dying { ino, path })
    }

    /// The removal announced by [`Inodes::dying`] did not happen: the
    /// file is found by its `qid.path` again, unless another inode has
    /// taken the number meanwhile.
    pub(crate) fn revive(&self, d: Dying) {
        let mut t = self.lock();
        if t.nodes.contains_key(&d.ino) && !t.by_path.contains_key(&d.path) {
            t.by_path.insert(d.path, d.ino);
        }
    }

    /// Take the fid of `uid` for `ino` out of the table if no request is
    /// using it (never the root's: that is the attach, which only a new
    /// Tattach could replace); the next use walks a new one.
    pub(crate) fn take_fid(&self, ino: Ino, uid: u32) -> Option<File> {
        if ino == Ino::ROOT {
            return None;
        }
        self.lock().nodes.get_mut(&ino)?.take_unshared(uid)
    }

    /// The path of `ino` from the root by its last names, for logs: `/`
    /// for the root, `?/name` when the chain is broken.
    pub(crate) fn path(&self, ino: Ino) -> String {
        let t = self.lock();
        let mut names = Vec::new();
        let mut cur = ino;
        while cur != Ino::ROOT && names.len() < MAX_DEPTH {
            let Some((parent, name)) = t.nodes.get(&cur).and_then(|n| n.links.last()) else {
                names.push(b"?".to_vec().into_boxed_slice());
                break;
            };
            names.push(name.clone());
            cur = *parent;
        }
        let parts: Vec<String> = names
            .iter()
            .rev()
            .map(|n| String::from_utf8_lossy(n).into_owned())
            .collect();
        format!("/{}", parts.join("/"))
    }

    /// How to walk to `ino` for `uid` (see [`Plan`]); `None` when the inode
    /// or one of its ancestors is gone.
    pub(crate) fn plan(&self, ino: Ino, uid: u32) -> Option<Plan> {
        let t = self.lock();
        let qid = t.nodes.get(&ino)?.qid;
        let mut names = Vec::new();
        let mut cur = ino;
        let base = loop {
            let node = t.nodes.get(&cur)?;
            if let Some(f) = node.fid(uid) {
                break Some(f);
            }
            if cur == Ino::ROOT {
                break None;
            }
            if names.len() == MAX_DEPTH {
                return None;
            }
            let (parent, name) = node.links.last()?;
            names.push(name.clone());
            cur = *parent;
        };
        names.reverse();
        Some(Plan { base, names, qid })
    }

    /// Tell the table the kernel now knows `name` in `parent` as `found`:
    /// +1 lookup on its inode (new or not), which is returned. `fid`, just
    /// walked to it for a uid, replaces the one recorded for that uid: it
    /// is certainly current, an older one may not be (a server that keeps
    /// paths in fids loses them when a name of the file goes).
    pub(crate) fn lookup(
        &self,
        parent: Ino,
        name: &[u8],
        found: Found,
        fid: Option<(u32, File)>,
    ) -> Ino {
        let mut dropped = Vec::new();
        let mut t = self.lock();
        let ino = match t.by_path.get(&found.qid.path).copied() {
            Some(ino) if t.nodes[&ino].same_kind(&found) => ino,
            stale => {
                if let Some(old) = stale {
                    t.detach(old, &mut dropped);
                }
                t.insert(found)
            }
        };
        t.add_link(ino, (parent, name.into()), &mut dropped);
        let node = t.nodes.get_mut(&ino).expect("just found or made");
        node.lookups += 1;
        node.nlink = found.nlink;
        node.qid = found.qid;
        if let Some((uid, file)) = fid {
            if let Some(i) = node.fids.iter().position(|(u, _)| *u == uid) {
                dropped.push(node.fids.swap_remove(i).1);
            }
            node.fids.push((uid, Arc::new(file)));
        }
        drop(t);
        drop(dropped);
        ino
    }

    /// +1 lookup on a known inode (a lookup of `.` or `..`); false if gone.
    pub(crate) fn bump(&self, ino: Ino) -> bool {
        match self.lock().nodes.get_mut(&ino) {
            Some(n) => {
                n.lookups += 1;
                true
            }
            None => false,
        }
    }

    /// The kernel forgot `n` lookups of `ino`.
    pub(crate) fn forget(&self, ino: Ino, n: u64) {
        let mut dropped = Vec::new();
        let mut t = self.lock();
        if ino == Ino::ROOT {
            return;
        }
        if let Some(node) = t.nodes.get_mut(&ino) {
            node.lookups = node.lookups.saturating_sub(n);
            t.collect(ino, &mut dropped);
        }
        drop(t);
        drop(dropped);
    }

    /// Remember the link count last seen for `ino`.
    pub(crate) fn set_nlink(&self, ino: Ino, nlink: u64) {
        if let Some(n) = self.lock().nodes.get_mut(&ino) {
            n.nlink = nlink;
        }
    }

    /// `name` was removed from `parent` through the mount; returns the
    /// inode it named, which is detached if that was its last name.
    pub(crate) fn unlinked(&self, parent: Ino, name: &[u8]) -> Option<Ino> {
        let mut dropped = Vec::new();
        let mut t = self.lock();
        let ino = t.unlink(parent, name, &mut dropped);
        drop(t);
        drop(dropped);
        ino
    }

    /// `name` in `parent` was renamed to `new_name` in `new_parent`; what
    /// the target named before is unlinked. Returns the moved inode and the
    /// replaced one, if known.
    pub(crate) fn renamed(
        &self,
        parent: Ino,
        name: &[u8],
        new_parent: Ino,
        new_name: &[u8],
    ) -> (Option<Ino>, Option<Ino>) {
        let mut dropped = Vec::new();
        let mut t = self.lock();
        let replaced = t.unlink(new_parent, new_name, &mut dropped);
        let old: Link = (parent, name.into());
        let moved = t.by_name.get(&old).copied();
        if let Some(ino) = moved {
            t.add_link(ino, (new_parent, new_name.into()), &mut dropped);
            t.remove_link(ino, &old, &mut dropped);
            t.drop_fids_below(ino, &mut dropped);
        }
        drop(t);
        drop(dropped);
        (moved, replaced)
    }
}
