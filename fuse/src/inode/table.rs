//! The inode table's storage: nodes by inode number, by `qid.path` and by
//! name, and the numbers of forgotten inodes; [`super::Inodes`] is its
//! locked front.

use std::collections::HashMap;
use std::sync::Arc;

use lru::LruCache;

use ninep_client::wire::Qid;
use ninep_client::File;

use super::{Found, MAX_DEPTH};
use crate::ino::Ino;

/// A name of an inode: its directory's inode and the name in it.
pub(super) type Link = (Ino, Box<[u8]>);

/// One inode: the file it stands for, its names, lookups and fids.
#[derive(Debug)]
pub(super) struct Node {
    pub(super) qid: Qid,
    pub(super) fmt: u32,
    /// The names known for it (several for hard links); the last one is
    /// the one last confirmed, which walks start from.
    pub(super) links: Vec<Link>,
    pub(super) lookups: u64,
    /// Links of other nodes that name this one as their directory: it
    /// stays while they do.
    pub(super) children: u64,
    pub(super) nlink: u64,
    pub(super) fids: Vec<(u32, Arc<File>)>,
    /// When its fids were last used (the table's clock), for shedding
    /// fids least recently used first.
    pub(super) used: u64,
}

/// Every inode, found by number, by `qid.path` and by name.
#[derive(Debug)]
pub(super) struct Table {
    pub(super) nodes: HashMap<Ino, Node>,
    pub(super) by_path: HashMap<u64, Ino>,
    pub(super) by_name: HashMap<Link, Ino>,
    pub(super) next_ino: Ino,
    /// The numbers of inodes the kernel forgot while they still stood for
    /// their `qid.path` (not removed or replaced through the mount), by
    /// `qid.path`, with the kind of file: the same file found again gets
    /// its number back.
    pub(super) gone: LruCache<u64, (Ino, u8, u32)>,
    /// Ticks with each use of a fid.
    pub(super) clock: u64,
}

impl Node {
    /// Remove the fid of `uid` if nothing else holds it (the table lock
    /// is held: no one can clone it meanwhile).
    pub(super) fn take_unshared(&mut self, uid: u32) -> Option<File> {
        let i = self.fids.iter().position(|(u, _)| *u == uid)?;
        if Arc::strong_count(&self.fids[i].1) != 1 {
            return None;
        }
        Arc::into_inner(self.fids.swap_remove(i).1)
    }

    pub(super) fn fid(&self, uid: u32) -> Option<Arc<File>> {
        self.fids
            .iter()
            .find(|(u, _)| *u == uid)
            .map(|(_, f)| f.clone())
    }

    pub(super) fn same_kind(&self, found: &Found) -> bool {
        self.qid.ty == found.qid.ty && self.fmt == found.fmt
    }
}

impl Table {
    /// A new node for `found`, with no name and no lookups yet: under the
    /// number its file had before the kernel forgot it, else a new one.
    pub(super) fn insert(&mut self, found: Found) -> Ino {
        let again = match self.gone.pop(&found.qid.path) {
            Some((ino, ty, fmt)) if ty == found.qid.ty && fmt == found.fmt => Some(ino),
            _ => None,
        };
        let ino = again
            .filter(|ino| !self.nodes.contains_key(ino))
            .unwrap_or_else(|| {
                let ino = self.next_ino;
                self.next_ino = ino.next();
                ino
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
    pub(super) fn add_link(&mut self, ino: Ino, link: Link, dropped: &mut Vec<Arc<File>>) {
        if ino == Ino::ROOT {
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
    pub(super) fn remove_link(&mut self, ino: Ino, link: &Link, dropped: &mut Vec<Arc<File>>) {
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
    pub(super) fn unlink(
        &mut self,
        parent: Ino,
        name: &[u8],
        dropped: &mut Vec<Arc<File>>,
    ) -> Option<Ino> {
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
    pub(super) fn drop_fids_below(&mut self, top: Ino, dropped: &mut Vec<Arc<File>>) {
        let below: Vec<Ino> = match self.nodes.get(&top) {
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
    pub(super) fn is_below(&self, mut ino: Ino, top: Ino) -> bool {
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
    pub(super) fn detach(&mut self, ino: Ino, dropped: &mut Vec<Arc<File>>) {
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
    pub(super) fn collect(&mut self, ino: Ino, dropped: &mut Vec<Arc<File>>) {
        if ino == Ino::ROOT {
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
