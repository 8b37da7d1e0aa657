//! The tree of a blockfs and its FUSE handlers: everything is answered
//! from constants, except block reads, which pass the [`Gate`] first.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::kernel::prelude::*;
use bytes::Bytes;
use futures::stream::{self, Stream};

use super::{block_data, Gate, BLOCKS, BLOCK_SIZE, HELLO};

/// Attribute and entry lifetime given to the kernel; nothing ever changes.
const TTL: Duration = Duration::from_secs(10);

/// The root's inode number (FUSE fixes it at 1).
pub(super) const ROOT_INO: u64 = 1;
const HELLO_INO: u64 = 2;
const FIRST_BLOCK_INO: u64 = 3;

/// The files of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Node {
    Root,
    Hello,
    Block(usize),
}

impl Node {
    fn from_ino(ino: u64) -> Option<Node> {
        match ino {
            ROOT_INO => Some(Node::Root),
            HELLO_INO => Some(Node::Hello),
            _ => {
                let n = usize::try_from(ino.checked_sub(FIRST_BLOCK_INO)?).ok()?;
                (n < BLOCKS).then_some(Node::Block(n))
            }
        }
    }

    fn ino(self) -> u64 {
        match self {
            Node::Root => ROOT_INO,
            Node::Hello => HELLO_INO,
            Node::Block(n) => FIRST_BLOCK_INO + n as u64,
        }
    }

    fn kind(self) -> FileType {
        match self {
            Node::Root => FileType::Directory,
            _ => FileType::RegularFile,
        }
    }

    /// The directory, in readdir order: name and node.
    fn listing() -> Vec<(String, Node)> {
        let fixed = [
            (".".to_owned(), Node::Root),
            ("..".to_owned(), Node::Root),
            ("hello".to_owned(), Node::Hello),
        ];
        let blocks = (0..BLOCKS).map(|n| (format!("block{n}"), Node::Block(n)));
        fixed.into_iter().chain(blocks).collect()
    }
}

fn errno(code: i32) -> Errno {
    code.into()
}

fn node(ino: u64) -> crate::kernel::Result<Node> {
    Node::from_ino(ino).ok_or_else(|| errno(libc::ENOENT))
}

/// The FUSE side: the tree above, answered from constants and the gate.
#[derive(Debug)]
pub(super) struct Ops {
    gate: Arc<Gate>,
    /// Every timestamp of the tree: the mount time.
    born: Timestamp,
    blocks: Vec<Bytes>,
}

impl Ops {
    pub(super) fn new(gate: Arc<Gate>) -> Ops {
        Ops {
            gate,
            born: SystemTime::now().into(),
            blocks: (0..BLOCKS).map(|n| Bytes::from(block_data(n))).collect(),
        }
    }

    fn attr(&self, node: Node) -> FileAttr {
        let (size, perm, nlink) = match node {
            Node::Root => (0, 0o555, 2),
            Node::Hello => (HELLO.len() as u64, 0o444, 1),
            Node::Block(_) => (BLOCK_SIZE, 0o444, 1),
        };
        FileAttr {
            ino: node.ino(),
            size,
            blocks: size.div_ceil(512),
            atime: self.born,
            mtime: self.born,
            ctime: self.born,
            kind: node.kind(),
            perm,
            nlink,
            uid: 0,
            gid: 0,
            rdev: 0,
            blksize: BLOCK_SIZE as u32,
        }
    }

    fn entry(&self, node: Node) -> ReplyEntry {
        ReplyEntry {
            ttl: TTL,
            attr: self.attr(node),
            generation: 0,
        }
    }

    /// The slice of `data` that a read of `size` bytes at `offset` gets.
    fn slice(data: &Bytes, offset: u64, size: u32) -> Bytes {
        let start = usize::try_from(offset).map_or(data.len(), |o| o.min(data.len()));
        let end = start.saturating_add(size as usize).min(data.len());
        data.slice(start..end)
    }
}

impl Filesystem for Ops {
    async fn init(&self, _req: Request) -> crate::kernel::Result<ReplyInit> {
        Ok(ReplyInit {
            max_write: 128 * 1024,
            max_background: 16,
            congestion_threshold: 12,
            direct_io_allow_mmap: false,
            over_io_uring: false,
        })
    }

    async fn destroy(&self, _req: Request) {}

    /// Children of the root by name; "." and ".." of any node too (the
    /// kernel asks for them when the mount is exported by file handle).
    async fn lookup(
        &self,
        _req: Request,
        parent: u64,
        name: &OsStr,
    ) -> crate::kernel::Result<ReplyEntry> {
        let parent = node(parent)?;
        match name.as_bytes() {
            b"." => return Ok(self.entry(parent)),
            b".." => return Ok(self.entry(Node::Root)),
            _ if parent != Node::Root => return Err(errno(libc::ENOTDIR)),
            _ => {}
        }
        Node::listing()
            .into_iter()
            .skip(2)
            .find(|(n, _)| n.as_bytes() == name.as_bytes())
            .map(|(_, child)| self.entry(child))
            .ok_or_else(|| errno(libc::ENOENT))
    }

    async fn getattr(
        &self,
        _req: Request,
        ino: u64,
        _fh: Option<u64>,
        _flags: u32,
    ) -> crate::kernel::Result<ReplyAttr> {
        Ok(ReplyAttr {
            ttl: TTL,
            attr: self.attr(node(ino)?),
        })
    }

    async fn open(&self, _req: Request, ino: u64, flags: u32) -> crate::kernel::Result<ReplyOpen> {
        if flags & libc::O_ACCMODE as u32 != libc::O_RDONLY as u32 {
            return Err(errno(libc::EROFS));
        }
        let flags = match node(ino)? {
            Node::Root => return Err(errno(libc::EISDIR)),
            Node::Hello => 0,
            Node::Block(_) => crate::kernel::abi::FOPEN_DIRECT_IO,
        };
        Ok(ReplyOpen { fh: 0, flags })
    }

    async fn read(
        &self,
        req: Request,
        ino: u64,
        _fh: u64,
        offset: u64,
        size: u32,
    ) -> crate::kernel::Result<ReplyData> {
        let data = match node(ino)? {
            Node::Root => return Err(errno(libc::EISDIR)),
            Node::Hello => return Ok(Self::slice(&Bytes::from_static(HELLO), offset, size).into()),
            Node::Block(n) => &self.blocks[n],
        };
        if offset < BLOCK_SIZE {
            self.gate.pass(req.unique).await?;
        }
        Ok(Self::slice(data, offset, size).into())
    }

    async fn release(
        &self,
        _req: Request,
        _ino: u64,
        _fh: u64,
        _flags: u32,
        _lock_owner: u64,
        _flush: bool,
    ) -> crate::kernel::Result<()> {
        Ok(())
    }

    async fn flush(
        &self,
        _req: Request,
        _ino: u64,
        _fh: u64,
        _owner: u64,
    ) -> crate::kernel::Result<()> {
        Ok(())
    }

    async fn statfs(&self, _req: Request, _ino: u64) -> crate::kernel::Result<ReplyStatFs> {
        Ok(ReplyStatFs {
            blocks: BLOCKS as u64 + 1,
            bfree: 0,
            bavail: 0,
            files: Node::listing().len() as u64 - 2,
            ffree: 0,
            bsize: BLOCK_SIZE as u32,
            namelen: 255,
            frsize: BLOCK_SIZE as u32,
        })
    }

    async fn access(&self, _req: Request, ino: u64, _mask: u32) -> crate::kernel::Result<()> {
        node(ino).map(drop)
    }

    async fn interrupt(&self, _req: Request, unique: u64) -> crate::kernel::Result<()> {
        self.gate.interrupt(unique);
        Ok(())
    }

    async fn opendir(
        &self,
        _req: Request,
        ino: u64,
        _flags: u32,
    ) -> crate::kernel::Result<ReplyOpen> {
        match node(ino)? {
            Node::Root => Ok(ReplyOpen { fh: 0, flags: 0 }),
            _ => Err(errno(libc::ENOTDIR)),
        }
    }

    async fn readdir<'a>(
        &'a self,
        _req: Request,
        parent: u64,
        _fh: u64,
        offset: i64,
    ) -> crate::kernel::Result<
        ReplyDirectory<impl Stream<Item = crate::kernel::Result<DirectoryEntry>> + Send + 'a>,
    > {
        let entries = dir_entries(parent, offset)?.map(|(offset, name, node)| {
            Ok(DirectoryEntry {
                inode: node.ino(),
                kind: node.kind(),
                name: name.into(),
                offset,
            })
        });
        Ok(ReplyDirectory {
            entries: stream::iter(entries.collect::<Vec<_>>()),
        })
    }

    async fn readdirplus<'a>(
        &'a self,
        _req: Request,
        parent: u64,
        _fh: u64,
        offset: u64,
        _lock_owner: u64,
    ) -> crate::kernel::Result<
        ReplyDirectoryPlus<
            impl Stream<Item = crate::kernel::Result<DirectoryEntryPlus>> + Send + 'a,
        >,
    > {
        let offset = i64::try_from(offset).map_err(|_| errno(libc::EINVAL))?;
        let entries = dir_entries(parent, offset)?.map(|(offset, name, node)| {
            Ok(DirectoryEntryPlus {
                inode: node.ino(),
                generation: 0,
                kind: node.kind(),
                name: name.into(),
                offset,
                attr: self.attr(node),
                entry_ttl: TTL,
                attr_ttl: TTL,
            })
        });
        Ok(ReplyDirectoryPlus {
            entries: stream::iter(entries.collect::<Vec<_>>()),
        })
    }

    async fn releasedir(
        &self,
        _req: Request,
        _ino: u64,
        _fh: u64,
        _flags: u32,
    ) -> crate::kernel::Result<()> {
        Ok(())
    }
}

/// The root's entries after readdir offset `offset`, each with the offset
/// of the entry after it (its index + 1).
fn dir_entries(
    parent: u64,
    offset: i64,
) -> crate::kernel::Result<impl Iterator<Item = (i64, String, Node)>> {
    if node(parent)? != Node::Root {
        return Err(errno(libc::ENOTDIR));
    }
    let skip = usize::try_from(offset).map_err(|_| errno(libc::EINVAL))?;
    Ok(Node::listing()
        .into_iter()
        .zip(1..)
        .skip(skip)
        .map(|((name, node), next)| (next, name, node)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inodes_round_trip() {
        for (_, node) in Node::listing() {
            assert_eq!(Node::from_ino(node.ino()), Some(node));
        }
        assert_eq!(Node::from_ino(0), None);
        assert_eq!(Node::from_ino(FIRST_BLOCK_INO + BLOCKS as u64), None);
    }

    #[test]
    fn readdir_offsets_resume_after_the_last_entry_seen() {
        let all: Vec<_> = dir_entries(ROOT_INO, 0).unwrap().collect();
        assert_eq!(all.len(), 3 + BLOCKS);
        assert_eq!(all[2].1, "hello");
        let rest: Vec<_> = dir_entries(ROOT_INO, all[3].0).unwrap().collect();
        assert_eq!(rest[0].1, "block1");
        assert_eq!(dir_entries(ROOT_INO, 100).unwrap().count(), 0);
        assert!(dir_entries(HELLO_INO, 0).is_err());
    }

    #[test]
    fn reads_are_cut_at_the_end() {
        let data = Bytes::from(block_data(1));
        assert_eq!(Ops::slice(&data, 0, 10)[..], block_data(1)[..10]);
        assert_eq!(Ops::slice(&data, BLOCK_SIZE - 1, 10).len(), 1);
        assert!(Ops::slice(&data, u64::MAX, u32::MAX).is_empty());
    }
}
