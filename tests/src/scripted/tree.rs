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
//! Node numbers are indices into one vector; a qid's path is the number
//! plus one, so no file has qid path 0.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::{Bytes, BytesMut};
use ninep_client::wire::{getattr, Dirent, Qid, Rgetattr, Wire};

/// Index of a node in the tree.
pub(crate) type NodeId = usize;

/// What the content of `/hello` starts as.
pub const HELLO: &[u8] = b"hello, world\n";

/// Linux errnos the server answers with.
pub(crate) mod errno {
    pub const ENOENT: u32 = 2;
    pub const EBADF: u32 = 9;
    pub const EACCES: u32 = 13;
    pub const ENOTDIR: u32 = 20;
    pub const EISDIR: u32 = 21;
    pub const EINVAL: u32 = 22;
    pub const EOPNOTSUPP: u32 = 95;
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const DT_DIR: u8 = 4;
const DT_REG: u8 = 8;

/// What a node is.
#[derive(Debug)]
pub(crate) enum Kind {
    /// A directory and its entries, in listing order.
    Dir(Vec<NodeId>),
    /// A regular file held in memory.
    File(Mutex<Vec<u8>>),
    /// `/block/N`: reads wait until released, then see `block N\n`.
    Block(usize),
    /// `/release`: a write releases every blocked read.
    Release,
}

#[derive(Debug)]
struct Node {
    name: &'static str,
    parent: NodeId,
    kind: Kind,
}

/// The whole tree; shared by every connection of one server.
#[derive(Debug)]
pub(crate) struct Tree {
    nodes: Vec<Node>,
    mtime: u64,
}

impl Tree {
    /// The root.
    pub(crate) const ROOT: NodeId = 0;

    /// A tree with `block_files` files in `/block`.
    pub(crate) fn new(block_files: usize) -> Tree {
        let mtime = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut t = Tree {
            nodes: Vec::new(),
            mtime,
        };
        let root = t.add("", 0, Kind::Dir(Vec::new()));
        t.add("hello", root, Kind::File(Mutex::new(HELLO.to_vec())));
        t.add("release", root, Kind::Release);
        let block = t.add("block", root, Kind::Dir(Vec::new()));
        for n in 0..block_files {
            // Names live as long as the server; leaking a few bytes per
            // server keeps `Node` free of lifetimes and allocation.
            let name: &'static str = Box::leak(n.to_string().into_boxed_str());
            t.add(name, block, Kind::Block(n));
        }
        t
    }

    fn add(&mut self, name: &'static str, parent: NodeId, kind: Kind) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node { name, parent, kind });
        if id != parent {
            if let Kind::Dir(entries) = &mut self.nodes[parent].kind {
                entries.push(id);
            }
        }
        id
    }

    /// What `id` is.
    pub(crate) fn kind(&self, id: NodeId) -> &Kind {
        &self.nodes[id].kind
    }

    /// True for a directory.
    pub(crate) fn is_dir(&self, id: NodeId) -> bool {
        matches!(self.kind(id), Kind::Dir(_))
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
        let Kind::Dir(entries) = self.kind(dir) else {
            return Err(errno::ENOTDIR);
        };
        match name {
            b"." => Ok(dir),
            b".." => Ok(self.nodes[dir].parent),
            _ => entries
                .iter()
                .copied()
                .find(|&c| self.nodes[c].name.as_bytes() == name)
                .ok_or(errno::ENOENT),
        }
    }

    /// Attributes of `id` (the `BASIC` set).
    pub(crate) fn getattr(&self, id: NodeId) -> Rgetattr {
        let (mode, nlink, size) = match self.kind(id) {
            Kind::Dir(e) => (S_IFDIR | 0o755, 2 + e.len() as u64, 0),
            Kind::File(data) => (S_IFREG | 0o644, 1, lock(data).len() as u64),
            Kind::Block(_) => (S_IFREG | 0o444, 1, 0),
            Kind::Release => (S_IFREG | 0o222, 1, 0),
        };
        Rgetattr {
            valid: getattr::BASIC,
            qid: self.qid(id),
            mode,
            uid: 0,
            gid: 0,
            nlink,
            rdev: 0,
            size,
            blksize: 4096,
            blocks: size.div_ceil(512),
            atime_sec: self.mtime,
            atime_nsec: 0,
            mtime_sec: self.mtime,
            mtime_nsec: 0,
            ctime_sec: self.mtime,
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
        let Kind::Dir(entries) = self.kind(dir) else {
            return Err(errno::ENOTDIR);
        };
        let named = [(".", dir), ("..", self.nodes[dir].parent)]
            .into_iter()
            .chain(entries.iter().map(|&c| (self.nodes[c].name, c)));
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
        let t = Tree::new(3);
        let block = t.lookup(Tree::ROOT, b"block").unwrap();
        let two = t.lookup(block, b"2").unwrap();
        assert!(matches!(t.kind(two), Kind::Block(2)));
        assert_eq!(t.lookup(two, b"x"), Err(errno::ENOTDIR));
        assert_eq!(t.lookup(block, b"3"), Err(errno::ENOENT));
        assert_eq!(t.lookup(block, b".."), Ok(Tree::ROOT));
        let all = parse_dirents(t.readdir(block, 0, 4096).unwrap()).unwrap();
        let names: Vec<_> = all.iter().map(|d| d.name.to_string()).collect();
        assert_eq!(names, [".", "..", "0", "1", "2"]);
        // Resume after the second entry; a count that fits one entry.
        let rest = parse_dirents(t.readdir(block, 2, 30).unwrap()).unwrap();
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
