//! [`Ino`]: a FUSE inode number, kept apart by type from the other `u64`s
//! the mount handles (qid paths, offsets, sizes, file handles, request
//! uniques).

use std::fmt;

/// A FUSE inode number. Numbers are the mount's own (see the inode
/// table), never a server's `qid.path`; the kernel sends them back in
/// every request about the file, and [`Ino::from_kernel`] and
/// [`Ino::get`] are the only ways across that boundary.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct Ino(u64);

impl Ino {
    /// The mount's root.
    pub(crate) const ROOT: Ino = Ino(1);

    /// The number as a request from the kernel carries it.
    pub(crate) const fn from_kernel(n: u64) -> Ino {
        Ino(n)
    }

    /// The number as the kernel is given it (entries, attributes,
    /// notifications).
    pub(crate) const fn get(self) -> u64 {
        self.0
    }

    /// The number after this one (the inode table hands them out in
    /// order).
    pub(crate) const fn next(self) -> Ino {
        Ino(self.0 + 1)
    }
}

impl fmt::Debug for Ino {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ino {}", self.0)
    }
}

impl fmt::Display for Ino {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
