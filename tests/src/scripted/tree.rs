//! The in-memory tree the scripted server exports:
//!
//! ```text
//! /            directory
//! /hello       regular file, "hello, world\n", writable
//! /release     write anything: every blocked read is released
//! /block/      directory
//! /block/N     N = 0.., reads block until released (size 0: synthetic)
//! ```
//!
//! In 9P2000 and 9P2000.u files and directories can also be created,
//! removed, renamed (within their directory), truncated and chmod-ed.
//!
//! Node numbers are indices into one vector; a qid's path is the number
//! plus one, so no file has qid path 0.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use ninep_client::wire::{getattr, Dirent, Qid, Rgetattr, Tsetattr, Wire};

/// Index of a node in the tree.
pub(crate) type NodeId = usize;

/// What the content of `/hello` starts as.
pub const HELLO: &[u8] = b"hello, world\n";

/// Linux errnos the server answers with.
pub(crate) mod errno {
    pub const EPERM: u32 = 1;
    pub const ENOENT: u32 = 2;
    pub const EBADF: u32 = 9;
    pub const EACCES: u32 = 13;
    pub const EEXIST: u32 = 17;
    pub const ENOTDIR: u32 = 20;
    pub const EISDIR: u32 = 21;
    pub const EINVAL: u32 = 22;
    pub const ENOTEMPTY: u32 = 39;
    pub const EOPNOTSUPP: u32 = 95;
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;

/// What a node is. Cloning it is cheap: a file's bytes are shared.
#[derive(Debug, Clone)]
pub(crate) enum Kind {
    /// A directory and its entries, in listing order.
    Dir(Vec<NodeId>),
    /// A regular file held in memory.
    File(Arc<Mutex<Vec<u8>>>),
    /// `/block/N`: reads wait until released, then see `block N\n`.
    Block(usize),
    /// `/release`: a write releases every blocked read.
    Release,
    /// A symbolic link (made over 9P2000.u) and its target.
    Symlink(String),
}

/// One file. A removed node stays (fids may still name it) but is in no
/// directory.
#[derive(Debug, Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    pub(crate) parent: NodeId,
    pub(crate) kind: Kind,
    /// Permission bits (0o777).
    pub(crate) perm: u32,
    /// Seconds since the epoch.
    pub(crate) mtime: u64,
}

/// The whole tree; shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: Mutex<Vec<Node>>,
    /// The server's clock: this far ahead of the machine's.
    clock_ahead: u64,
}

impl Tree {
    /// The root.
    pub(crate) const ROOT: NodeId = 0;

    /// A tree with `block_files` files in `/block`.
    pub(crate) fn new(block_files: usize, clock_ahead: std::time::Duration) -> Tree {
        let t = Tree {
            nodes: Mutex::new(Vec::new()),
            clock_ahead: clock_ahead.as_secs(),
        };
        let root = t.add("", 0, Kind::Dir(Vec::new()), 0o755);
        t.add("hello", root, Kind::File(Default::default()), 0o644);
        if let Kind::File(data) = t.kind(1) {
            lock(&data).extend_from_slice(HELLO);
        }
        t.add("release", root, Kind::Release, 0o222);
        let block = t.add("block", root, Kind::Dir(Vec::new()), 0o755);
        for n in 0..block_files {
            t.add(&n.to_string(), block, Kind::Block(n), 0o444);
        }
        t
    }

    /// Add a node under `parent` (the root is its own parent).
    pub(crate) fn add(&self, name: &str, parent: NodeId, kind: Kind, perm: u32) -> NodeId {
        let mut nodes = lock(&self.nodes);
        let id = nodes.len();
        nodes.push(Node {
            name: name.into(),
            parent,
            kind,
            perm,
            mtime: self.now(),
        });
        if id != parent {
            if let Kind::Dir(entries) = &mut nodes[parent].kind {
                entries.push(id);
            }
        }
        id
    }

    /// A copy of node `id`.
    pub(crate) fn node(&self, id: NodeId) -> Node {
        lock(&self.nodes)[id].clone()
    }

    /// Change node `id` in place.
    pub(crate) fn update<T>(&self, id: NodeId, f: impl FnOnce(&mut Node) -> T) -> T {
        f(&mut lock(&self.nodes)[id])
    }

    /// What `id` is.
    pub(crate) fn kind(&self, id: NodeId) -> Kind {
        lock(&self.nodes)[id].kind.clone()
    }

    /// True for a directory.
    pub(crate) fn is_dir(&self, id: NodeId) -> bool {
        matches!(lock(&self.nodes)[id].kind, Kind::Dir(_))
    }

    /// The qid of `id`.
    pub(crate) fn qid(&self, id: NodeId) -> Qid {
        let ty = if self.is_dir(id) {
            Qid::QTDIR
        } else {
            Qid::QTFILE
        };
        Qid {
            ty,
            version: 0,
            path: id as u64 + 1,
        }
    }

    /// One step of a walk: a child's name, `.` or `..`.
    pub(crate) fn lookup(&self, dir: NodeId, name: &[u8]) -> Result<NodeId, u32> {
        let nodes = lock(&self.nodes);
        let Kind::Dir(entries) = &nodes[dir].kind else {
            return Err(errno::ENOTDIR);
        };
        match name {
            b"." => Ok(dir),
            b".." => Ok(nodes[dir].parent),
            _ => entries
                .iter()
                .copied()
                .find(|&c| nodes[c].name.as_bytes() == name)
                .ok_or(errno::ENOENT),
        }
    }

    /// The entries of directory `dir`, as (name, id).
    pub(crate) fn entries(&self, dir: NodeId) -> Result<Vec<(String, NodeId)>, u32> {
        let nodes = lock(&self.nodes);
        let Kind::Dir(entries) = &nodes[dir].kind else {
            return Err(errno::ENOTDIR);
        };
        Ok(entries
            .iter()
            .map(|&c| (nodes[c].name.clone(), c))
            .collect())
    }

    /// Size in bytes (0 for all but regular files).
    pub(crate) fn size(&self, id: NodeId) -> u64 {
        match self.kind(id) {
            Kind::File(data) => lock(&data).len() as u64,
            _ => 0,
        }
    }

    /// Take `id` out of its directory (it must be an empty directory or
    /// not a directory; the root stays).
    pub(crate) fn remove(&self, id: NodeId) -> Result<(), u32> {
        let mut nodes = lock(&self.nodes);
        if id == Self::ROOT {
            return Err(errno::EPERM);
        }
        if matches!(&nodes[id].kind, Kind::Dir(e) if !e.is_empty()) {
            return Err(errno::ENOTEMPTY);
        }
        let parent = nodes[id].parent;
        if let Kind::Dir(entries) = &mut nodes[parent].kind {
            entries.retain(|&c| c != id);
        }
        Ok(())
    }

    /// Rename `id` within its directory; an existing `name` is an error.
    pub(crate) fn rename(&self, id: NodeId, name: &str) -> Result<(), u32> {
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(errno::EINVAL);
        }
        let parent = self.node(id).parent;
        if self.node(id).name == name {
            return Ok(());
        }
        if id == Self::ROOT {
            return Err(errno::EPERM);
        }
        if self.lookup(parent, name.as_bytes()).is_ok() {
            return Err(errno::EEXIST);
        }
        self.update(id, |n| n.name = name.into());
        Ok(())
    }

    /// Seconds since the epoch by the server's clock.
    pub(crate) fn now(&self) -> u64 {
        now() + self.clock_ahead
    }

    /// Tsetattr of mode, size and times (the server's clock for a time
    /// without its *_SET bit; atime is kept as mtime, as `getattr` shows).
    pub(crate) fn setattr(&self, id: NodeId, s: &Tsetattr) -> Result<(), u32> {
        use ninep_client::wire::setattr::{MODE, MTIME, MTIME_SET, SIZE};
        if s.valid & SIZE != 0 {
            match self.kind(id) {
                Kind::File(data) => lock(&data).resize(s.size as usize, 0),
                _ => return Err(errno::EINVAL),
            }
        }
        let now = self.now();
        self.update(id, |n| {
            if s.valid & MODE != 0 {
                n.perm = s.mode & 0o777;
            }
            if s.valid & MTIME != 0 {
                n.mtime = match s.valid & MTIME_SET != 0 {
                    true => s.mtime_sec,
                    false => now,
                };
            }
        });
        Ok(())
    }

    /// Attributes of `id` (the `BASIC` set).
    pub(crate) fn getattr(&self, id: NodeId) -> Rgetattr {
        let n = self.node(id);
        let (fmt, nlink) = match &n.kind {
            Kind::Dir(e) => (S_IFDIR, 2 + e.len() as u64),
            Kind::Symlink(_) => (S_IFLNK, 1),
            _ => (S_IFREG, 1),
        };
        let size = self.size(id);
        Rgetattr {
            valid: getattr::BASIC,
            qid: self.qid(id),
            mode: fmt | n.perm,
            uid: 0,
            gid: 0,
            nlink,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
            atime_sec: n.mtime,
            atime_nsec: 0,
            mtime_sec: n.mtime,
            mtime_nsec: 0,
            ctime_sec: n.mtime,
            ctime_nsec: 0,
            btime_sec: 0,
            btime_nsec: 0,
            gen: 0,
            data_version: 0,
        }
    }

    /// Rreaddir data: `.`, `..`, then the entries; the entry at index i
    /// carries offset i + 1, and as many whole entries as fit in `count`.
    pub(crate) fn readdir(&self, dir: NodeId, offset: u64, count: u32) -> Result<Bytes, u32> {
        let entries = self.entries(dir)?;
        let parent = self.node(dir).parent;
        let named = [(".".to_string(), dir), ("..".to_string(), parent)]
            .into_iter()
            .chain(entries);
        let mut buf = BytesMut::new();
        for (i, (name, id)) in named.enumerate().skip(offset as usize) {
            let d = Dirent {
                qid: self.qid(id),
                offset: i as u64 + 1,
                ty: if self.is_dir(id) { DT_DIR } else { DT_REG },
                name: name.into(),
            };
            if buf.len() + d.encoded_len() > count as usize {
                break;
            }
            d.encode(&mut buf);
        }
        Ok(buf.freeze())
    }
}

/// Seconds since the epoch.
pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// At most `count` bytes of `data` from `offset`.
pub(crate) fn slice_at(data: &[u8], offset: u64, count: u32) -> Bytes {
    let start = (offset.min(data.len() as u64)) as usize;
    let end = data.len().min(start.saturating_add(count as usize));
    Bytes::copy_from_slice(&data[start..end])
}

/// Write `data` at `offset` into an in-memory file, growing it as needed.
pub(crate) fn write_at(file: &Mutex<Vec<u8>>, offset: u64, data: &[u8]) -> Result<u32, u32> {
    let start = usize::try_from(offset).map_err(|_| errno::EINVAL)?;
    let end = start.checked_add(data.len()).ok_or(errno::EINVAL)?;
    if end > 1 << 24 {
        return Err(errno::EINVAL);
    }
    let mut v = lock(file);
    if v.len() < end {
        v.resize(end, 0);
    }
    v[start..end].copy_from_slice(data);
    Ok(data.len() as u32)
}

/// Lock, ignoring poisoning: the contents stay usable after a panic.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ninep_client::wire::parse_dirents;

    #[test]
    fn walks_and_lists() {
        let t = Tree::new(3, std::time::Duration::ZERO);
        let block = t.lookup(Tree::ROOT, b"block").unwrap();
        let two = t.lookup(block, b"2").unwrap();
        assert!(matches!(t.kind(two), Kind::Block(2)));
        t.rename(two, "two").unwrap();
        assert_eq!(t.lookup(block, b"two"), Ok(two));
        assert_eq!(t.rename(two, "1"), Err(errno::EEXIST));
        t.remove(two).unwrap();
        assert_eq!(t.remove(block), Err(errno::ENOTEMPTY));
        assert_eq!(t.lookup(two, b"x"), Err(errno::ENOTDIR));
        assert_eq!(t.lookup(block, b"3"), Err(errno::ENOENT));
        assert_eq!(t.lookup(block, b".."), Ok(Tree::ROOT));
        let all = parse_dirents(t.readdir(block, 0, 4096).unwrap()).unwrap();
        let names: Vec<_> = all.iter().map(|d| d.name.to_string()).collect();
        assert_eq!(names, [".", "..", "0", "1"]);
        // Resume after the second entry; a count that fits one entry.
        let rest = parse_dirents(t.readdir(block, 2, 30).unwrap()).unwrap();
        assert_eq!(t.size(1), HELLO.len() as u64);
        assert_eq!(rest.len(), 1);
        assert_eq!((rest[0].name.to_string(), rest[0].offset), ("0".into(), 3));
    }

    #[test]
    fn files_read_and_write() {
        let f = Mutex::new(b"abc".to_vec());
        assert_eq!(write_at(&f, 5, b"xy"), Ok(2));
        assert_eq!(&*lock(&f), b"abc\0\0xy");
        assert_eq!(&slice_at(b"hello", 3, 10)[..], b"lo");
        assert!(slice_at(b"hello", 9, 10).is_empty());
    }
}
