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
//!   `st_ino` (fuse3 answers a lookup with the attributes' `ino`), which
//!   must not change under a program between two calls. With a TTL of
//!   zero the kernel drops an unused entry and forgets its inode at once,
//!   so `mv` across directories found the file "replaced while being
//!   copied" between its lstat and its open (tests/tests/mount_classic.rs,
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

/// The FUSE root inode number.
pub(crate) const ROOT_INO: u64 = 1;
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
    ino: u64,
    path: u64,
}

/// A name of an inode: its directory's inode and the name in it.
type Link = (u64, Box<[u8]>);

#[derive(Debug)]
struct Node {
    qid: Qid,
    fmt: u32,
    /// The names known for it (several for hard links); the last one is
    /// the one last confirmed, which walks start from.
    links: Vec<Link>,
    lookups: u64,
    /// Links of other nodes that name this one as their directory: it
    /// stays while they do.
    children: u64,
    nlink: u64,
    fids: Vec<(u32, Arc<File>)>,
    /// When its fids were last used (the table's clock), for shedding
    /// fids least recently used first.
    used: u64,
}

#[derive(Debug)]
struct Table {
    nodes: HashMap<u64, Node>,
    by_path: HashMap<u64, u64>,
    by_name: HashMap<Link, u64>,
    next_ino: u64,
    /// The numbers of inodes the kernel forgot while they still stood for
    /// their `qid.path` (not removed or replaced through the mount), by
    /// `qid.path`, with the kind of file: the same file found again gets
    /// its number back.
    gone: LruCache<u64, (u64, u8, u32)>,
    /// Ticks with each use of a fid.
    clock: u64,
}

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
            next_ino: ROOT_INO + 1,
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
        t.nodes.insert(ROOT_INO, node);
        t.by_path.insert(root.path, ROOT_INO);
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
    pub(crate) fn qid(&self, ino: u64) -> Option<Qid> {
        self.lock().nodes.get(&ino).map(|n| n.qid)
    }

    /// The directory `ino` was last seen in (the root is its own parent);
    /// `None` for an inode gone or with no name left.
    pub(crate) fn parent(&self, ino: u64) -> Option<u64> {
        if ino == ROOT_INO {
            return Some(ROOT_INO);
        }
        self.lock().nodes.get(&ino)?.links.last().map(|l| l.0)
    }

    /// The inode currently known by `qid_path`, if any.
    pub(crate) fn by_path(&self, qid_path: u64) -> Option<u64> {
        self.lock().by_path.get(&qid_path).copied()
    }

    /// The inode known as `name` in `parent`, if any.
    pub(crate) fn child(&self, parent: u64, name: &[u8]) -> Option<u64> {
        self.lock().by_name.get(&(parent, name.into())).copied()
    }

    /// The fid of `ino` for `uid`, if one was walked.
    pub(crate) fn fid(&self, ino: u64, uid: u32) -> Option<Arc<File>> {
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
        let mut oldest: Vec<(u64, u64)> = t
            .nodes
            .iter()
            .filter(|(&ino, node)| ino != ROOT_INO && node.fids.iter().any(|(_, f)| idle(f)))
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
    pub(crate) fn set_fid(&self, ino: u64, uid: u32, file: File) -> Option<Arc<File>> {
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
    pub(crate) fn drop_fid(&self, ino: u64, uid: u32, stale: &Arc<File>) {
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
    pub(crate) fn take_sole_fid(&self, parent: u64, name: &[u8], uid: u32) -> Option<(File, u32)> {
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
    pub(crate) fn dying(&self, parent: u64, name: &[u8]) -> Option<Dying> {
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
    pub(crate) fn take_fid(&self, ino: u64, uid: u32) -> Option<File> {
        if ino == ROOT_INO {
            return None;
        }
        self.lock().nodes.get_mut(&ino)?.take_unshared(uid)
    }

    /// The path of `ino` from the root by its last names, for logs: `/`
    /// for the root, `?/name` when the chain is broken.
    pub(crate) fn path(&self, ino: u64) -> String {
        let t = self.lock();
        let mut names = Vec::new();
        let mut cur = ino;
        while cur != ROOT_INO && names.len() < MAX_DEPTH {
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
    pub(crate) fn plan(&self, ino: u64, uid: u32) -> Option<Plan> {
        let t = self.lock();
        let qid = t.nodes.get(&ino)?.qid;
        let mut names = Vec::new();
        let mut cur = ino;
        let base = loop {
            let node = t.nodes.get(&cur)?;
            if let Some(f) = node.fid(uid) {
                break Some(f);
            }
            if cur == ROOT_INO {
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
        parent: u64,
        name: &[u8],
        found: Found,
        fid: Option<(u32, File)>,
    ) -> u64 {
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
    pub(crate) fn bump(&self, ino: u64) -> bool {
        match self.lock().nodes.get_mut(&ino) {
            Some(n) => {
                n.lookups += 1;
                true
            }
            None => false,
        }
    }

    /// The kernel forgot `n` lookups of `ino`.
    pub(crate) fn forget(&self, ino: u64, n: u64) {
        let mut dropped = Vec::new();
        let mut t = self.lock();
        if ino == ROOT_INO {
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
    pub(crate) fn set_nlink(&self, ino: u64, nlink: u64) {
        if let Some(n) = self.lock().nodes.get_mut(&ino) {
            n.nlink = nlink;
        }
    }

    /// `name` was removed from `parent` through the mount; returns the
    /// inode it named, which is detached if that was its last name.
    pub(crate) fn unlinked(&self, parent: u64, name: &[u8]) -> Option<u64> {
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
        parent: u64,
        name: &[u8],
        new_parent: u64,
        new_name: &[u8],
    ) -> (Option<u64>, Option<u64>) {
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

impl Node {
    /// Remove the fid of `uid` if nothing else holds it (the table lock
    /// is held: no one can clone it meanwhile).
    fn take_unshared(&mut self, uid: u32) -> Option<File> {
        let i = self.fids.iter().position(|(u, _)| *u == uid)?;
        if Arc::strong_count(&self.fids[i].1) != 1 {
            return None;
        }
        Arc::into_inner(self.fids.swap_remove(i).1)
    }

    fn fid(&self, uid: u32) -> Option<Arc<File>> {
        self.fids
            .iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, f)| f.clone())
    }

    fn same_kind(&self, found: &Found) -> bool {
        self.qid.ty == found.qid.ty && self.fmt == found.fmt
    }
}

impl Table {
    /// A new node for `found`, with no name and no lookups yet: under the
    /// number its file had before the kernel forgot it, else a new one.
    fn insert(&mut self, found: Found) -> u64 {
        let again = match self.gone.pop(&found.qid.path) {
            Some((ino, ty, fmt)) if ty == found.qid.ty && fmt == found.fmt => Some(ino),
            _ => None,
        };
        let ino = again
            .filter(|ino| !self.nodes.contains_key(ino))
            .unwrap_or_else(|| {
                self.next_ino += 1;
                self.next_ino - 1
            });
        let node = Node {
            qid: found.qid,
            fmt: found.fmt,
            links: Vec::new(),
            lookups: 0,
            children: 0,
            nlink: found.nlink,
            fids: Vec::new(),
            used: self.clock,
        };
        self.nodes.insert(ino, node);
        self.by_path.insert(found.qid.path, ino);
        ino
    }

    /// Make `link` a name of `ino`, the one walks now start from; another
    /// inode it named loses it.
    fn add_link(&mut self, ino: u64, link: Link, dropped: &mut Vec<Arc<File>>) {
        if ino == ROOT_INO {
            return;
        }
        match self.by_name.get(&link).copied() {
            Some(other) if other != ino => self.remove_link(other, &link, dropped),
            _ => {}
        }
        let node = self.nodes.get_mut(&ino).expect("caller checked");
        if let Some(i) = node.links.iter().position(|l| *l == link) {
            let l = node.links.remove(i);
            node.links.push(l);
            return;
        }
        node.links.push(link.clone());
        if let Some(p) = self.nodes.get_mut(&link.0) {
            p.children += 1;
        }
        self.by_name.insert(link, ino);
    }

    /// `ino` is no longer known by `link`.
    fn remove_link(&mut self, ino: u64, link: &Link, dropped: &mut Vec<Arc<File>>) {
        let Some(node) = self.nodes.get_mut(&ino) else {
            return;
        };
        let before = node.links.len();
        node.links.retain(|l| l != link);
        if node.links.len() == before {
            return;
        }
        if self.by_name.get(link) == Some(&ino) {
            self.by_name.remove(link);
        }
        if let Some(p) = self.nodes.get_mut(&link.0) {
            p.children = p.children.saturating_sub(1);
        }
        self.collect(link.0, dropped);
    }

    /// The name `name` in `parent` is gone; returns the inode it named.
    fn unlink(&mut self, parent: u64, name: &[u8], dropped: &mut Vec<Arc<File>>) -> Option<u64> {
        let link: Link = (parent, name.into());
        let ino = self.by_name.get(&link).copied()?;
        self.remove_link(ino, &link, dropped);
        let node = self.nodes.get_mut(&ino)?;
        node.nlink = node.nlink.saturating_sub(1);
        let last = node.links.is_empty() && (node.nlink == 0 || node.fmt == libc::S_IFDIR);
        if last {
            self.detach(ino, dropped);
        }
        self.collect(ino, dropped);
        Some(ino)
    }

    /// Drop the fids of `top` and of every inode below it: after a rename
    /// a server that keeps paths in its fids (diod) has them pointing at
    /// the old name; they are walked again from the new one when needed.
    fn drop_fids_below(&mut self, top: u64, dropped: &mut Vec<Arc<File>>) {
        let below: Vec<u64> = match self.nodes.get(&top) {
            None => return,
            Some(n) if n.fmt != libc::S_IFDIR => vec![top],
            Some(_) => self
                .nodes
                .keys()
                .copied()
                .filter(|&ino| self.is_below(ino, top))
                .collect(),
        };
        for ino in below {
            if let Some(n) = self.nodes.get_mut(&ino) {
                dropped.extend(n.fids.drain(..).map(|(_, f)| f));
            }
        }
    }

    /// Whether `top` is `ino` or one of its ancestors (by last names).
    fn is_below(&self, mut ino: u64, top: u64) -> bool {
        for _ in 0..MAX_DEPTH {
            if ino == top {
                return true;
            }
            match self.nodes.get(&ino).and_then(|n| n.links.last()) {
                Some(l) => ino = l.0,
                None => return false,
            }
        }
        false
    }

    /// Later lookups of `ino`'s `qid.path` or names get a new inode.
    fn detach(&mut self, ino: u64, dropped: &mut Vec<Arc<File>>) {
        let Some(node) = self.nodes.get(&ino) else {
            return;
        };
        if self.by_path.get(&node.qid.path) == Some(&ino) {
            self.by_path.remove(&node.qid.path);
        }
        for link in node.links.clone() {
            self.remove_link(ino, &link, dropped);
        }
        self.collect(ino, dropped);
    }

    /// Drop `ino` if nothing holds it, then its directories if that frees
    /// them.
    fn collect(&mut self, ino: u64, dropped: &mut Vec<Arc<File>>) {
        if ino == ROOT_INO {
            return;
        }
        let Some(node) = self.nodes.get(&ino) else {
            return;
        };
        if node.lookups > 0 || node.children > 0 {
            return;
        }
        if self.by_path.get(&node.qid.path) == Some(&ino) {
            // Forgotten while it still stood for its file.
            self.by_path.remove(&node.qid.path);
            self.gone.put(node.qid.path, (ino, node.qid.ty, node.fmt));
        }
        let node = self.nodes.remove(&ino).expect("checked above");
        dropped.extend(node.fids.into_iter().map(|(_, f)| f));
        for link in node.links {
            if self.by_name.get(&link) == Some(&ino) {
                self.by_name.remove(&link);
            }
            if let Some(p) = self.nodes.get_mut(&link.0) {
                p.children = p.children.saturating_sub(1);
            }
            self.collect(link.0, dropped);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(path: u64, fmt: u32) -> Found {
        let ty = if fmt == libc::S_IFDIR { Qid::QTDIR } else { 0 };
        Found {
            qid: Qid {
                ty,
                version: 0,
                path,
            },
            fmt,
            nlink: 1,
        }
    }

    fn table() -> Inodes {
        Inodes::new(Qid {
            ty: Qid::QTDIR,
            version: 0,
            path: 1,
        })
    }

    #[test]
    fn a_file_being_removed_is_no_longer_found_by_its_qid_path() {
        let t = table();
        let x = t.lookup(ROOT_INO, b"x", found(7, libc::S_IFREG), None);
        let _dying = t.dying(ROOT_INO, b"x").expect("a file with one link");
        // The server removed x and gave 7 to a new file before we saw the
        // removal's reply.
        let y = t.lookup(ROOT_INO, b"y", found(7, libc::S_IFREG), None);
        assert_ne!(x, y);
        assert_eq!(t.unlinked(ROOT_INO, b"x"), Some(x));
        assert_eq!(t.by_path(7), Some(y));
        assert_eq!(t.child(ROOT_INO, b"y"), Some(y));
    }

    #[test]
    fn a_failed_removal_revives_and_linked_files_never_die() {
        let t = table();
        let x = t.lookup(ROOT_INO, b"x", found(7, libc::S_IFREG), None);
        let d = t.dying(ROOT_INO, b"x").expect("a file with one link");
        assert_eq!(t.by_path(7), None);
        t.revive(d);
        assert_eq!(t.by_path(7), Some(x));
        let linked = Found {
            nlink: 2,
            ..found(8, libc::S_IFREG)
        };
        let l = t.lookup(ROOT_INO, b"l", linked, None);
        assert!(t.dying(ROOT_INO, b"l").is_none(), "its other name keeps it");
        assert_eq!(t.by_path(8), Some(l));
        assert!(t.dying(ROOT_INO, b"nothing").is_none());
    }

    #[test]
    fn one_inode_per_qid_path_and_never_qid_path_itself() {
        let t = table();
        let a = t.lookup(ROOT_INO, b"a", found(1000, libc::S_IFREG), None);
        let again = t.lookup(ROOT_INO, b"a", found(1000, libc::S_IFREG), None);
        let link = t.lookup(ROOT_INO, b"b", found(1000, libc::S_IFREG), None);
        assert_eq!((a, again, link), (2, 2, 2));
        // qid.path 1 is the root's; a file with qid.path 2 is not inode 2.
        let c = t.lookup(ROOT_INO, b"c", found(2, libc::S_IFREG), None);
        assert_eq!(c, 3);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn forget_drops_at_zero_and_parents_stay_while_children_do() {
        let t = table();
        let d = t.lookup(ROOT_INO, b"d", found(10, libc::S_IFDIR), None);
        let f = t.lookup(d, b"f", found(11, libc::S_IFREG), None);
        t.lookup(d, b"f", found(11, libc::S_IFREG), None);
        t.forget(d, 1);
        assert_eq!(t.len(), 3, "d stays while f names it");
        t.forget(f, 1);
        assert_eq!(t.len(), 3);
        t.forget(f, 1);
        assert_eq!(t.len(), 1, "f gone, then d");
        assert!(t.by_path(10).is_none());
        t.forget(ROOT_INO, 5);
        assert_eq!(t.len(), 1, "the root is never forgotten");
    }

    #[test]
    fn a_forgotten_file_found_again_gets_its_number_back() {
        let t = table();
        let d = t.lookup(ROOT_INO, b"d", found(10, libc::S_IFDIR), None);
        let f = t.lookup(d, b"f", found(11, libc::S_IFREG), None);
        let g = t.lookup(d, b"g", found(12, libc::S_IFREG), None);
        t.forget(f, 1);
        t.forget(g, 1);
        t.forget(d, 1);
        assert_eq!(t.len(), 1, "all forgotten");
        // Found again, parent first: the same numbers (st_ino stays).
        let d2 = t.lookup(ROOT_INO, b"d", found(10, libc::S_IFDIR), None);
        let f2 = t.lookup(d2, b"f", found(11, libc::S_IFREG), None);
        assert_eq!((d2, f2), (d, f));
        // Its qid.path now a directory: another file, another number.
        let g2 = t.lookup(d2, b"g", found(12, libc::S_IFDIR), None);
        assert_ne!(g2, g);
        // Removed through the mount, then forgotten: a later file with
        // the same qid.path is another file.
        assert_eq!(t.unlinked(d2, b"f"), Some(f));
        t.forget(f, 1);
        let h = t.lookup(d2, b"h", found(11, libc::S_IFREG), None);
        assert_ne!(h, f);
        // Numbers are never shared: every one differs.
        let mut all = vec![d, f, g, g2, h];
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 5);
    }

    #[test]
    fn paths_for_logs_follow_the_last_names() {
        let t = table();
        let d = t.lookup(ROOT_INO, b"d", found(2, libc::S_IFDIR), None);
        let f = t.lookup(d, b"f", found(3, libc::S_IFREG), None);
        assert_eq!(t.path(ROOT_INO), "/");
        assert_eq!(t.path(f), "/d/f");
        assert_eq!(t.path(999), "/?");
    }

    #[test]
    fn plans_walk_from_the_nearest_ancestor_with_a_fid() {
        let t = table();
        let d = t.lookup(ROOT_INO, b"d", found(10, libc::S_IFDIR), None);
        let e = t.lookup(d, b"e", found(11, libc::S_IFDIR), None);
        let f = t.lookup(e, b"f", found(12, libc::S_IFREG), None);
        let p = t.plan(f, 7).unwrap();
        assert!(p.base.is_none());
        assert_eq!(
            p.names,
            vec![b"d"[..].into(), b"e"[..].into(), b"f"[..].into()]
        );
        assert_eq!(p.qid.path, 12);
        assert_eq!(t.parent(f), Some(e));
    }

    #[test]
    fn hard_links_keep_every_name() {
        let t = table();
        let mut two = found(40, libc::S_IFREG);
        two.nlink = 2;
        let a = t.lookup(ROOT_INO, b"h1", two, None);
        let b = t.lookup(ROOT_INO, b"h2", two, None);
        assert_eq!(a, b);
        assert_eq!(t.unlinked(ROOT_INO, b"h1"), Some(a));
        assert_eq!(t.child(ROOT_INO, b"h2"), Some(a));
        assert_eq!(t.by_path(40), Some(a), "other links remain");
        assert_eq!(t.plan(a, 0).unwrap().names, vec![b"h2"[..].into()]);
        assert_eq!(t.unlinked(ROOT_INO, b"h2"), Some(a));
        assert_eq!(t.by_path(40), None);
        assert_eq!(t.parent(a), None);
        t.forget(a, 2);
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn unlinked_files_are_detached_and_renames_move_names() {
        let t = table();
        let a = t.lookup(ROOT_INO, b"a", found(20, libc::S_IFREG), None);
        assert_eq!(t.unlinked(ROOT_INO, b"a"), Some(a));
        // The same qid.path again (inode number reused): a new inode.
        let b = t.lookup(ROOT_INO, b"b", found(20, libc::S_IFREG), None);
        assert_ne!(a, b);
        let d = t.lookup(ROOT_INO, b"d", found(30, libc::S_IFDIR), None);
        let (moved, replaced) = t.renamed(ROOT_INO, b"b", d, b"c");
        assert_eq!((moved, replaced), (Some(b), None));
        assert_eq!(t.child(d, b"c"), Some(b));
        assert_eq!(t.child(ROOT_INO, b"b"), None);
        assert_eq!(t.parent(b), Some(d));
        // A type change under the same qid.path is a new file too.
        let dir = t.lookup(d, b"c", found(20, libc::S_IFDIR), None);
        assert_ne!(dir, b);
    }
}
