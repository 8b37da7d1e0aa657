//! Files still open after their last name was removed. POSIX keeps them
//! alive for their open descriptors, and fstat(2) on one must answer (with
//! a link count of 0). The kernel asks for their attributes by inode, and
//! a server that keeps paths in its fids (diod stats the path) no longer
//! finds them by any fid. So when a name of an open file is removed
//! through the mount, its attributes are fetched first (one round trip,
//! only then), and kept here, with the size writes through the mount make
//! it grow to, until its last handle is released.
//!
//! Bounded by the open handles: an entry lives only while one is open on
//! its inode.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::ino::Ino;
use ninep_client::wire::Rgetattr;

/// The attributes of open files whose every name is gone, by inode.
#[derive(Debug, Default)]
pub(crate) struct Orphans {
    by_ino: Mutex<HashMap<Ino, Rgetattr>>,
    /// How many there are: every write and release asks, and there are
    /// almost never any, so the answer comes without the lock.
    count: AtomicUsize,
}

impl Orphans {
    fn lock(&self) -> MutexGuard<'_, HashMap<Ino, Rgetattr>> {
        self.by_ino.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn none(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }

    /// Whether `ino` is such a file.
    pub(crate) fn holds(&self, ino: Ino) -> bool {
        !self.none() && self.lock().contains_key(&ino)
    }

    /// Inode `ino` (whose attributes were `a` just before) lost its last
    /// name while open.
    pub(crate) fn adopt(&self, ino: Ino, mut a: Rgetattr) {
        a.nlink = 0;
        let mut t = self.lock();
        t.insert(ino, a);
        self.count.store(t.len(), Ordering::Relaxed);
    }

    /// The last attributes of `ino`, if it is such a file.
    pub(crate) fn get(&self, ino: Ino) -> Option<Rgetattr> {
        if self.none() {
            return None;
        }
        self.lock().get(&ino).cloned()
    }

    /// Bytes up to `end` were written to `ino` through the mount.
    pub(crate) fn wrote(&self, ino: Ino, end: u64) {
        if self.none() {
            return;
        }
        let mut t = self.lock();
        if let Some(a) = t.get_mut(&ino) {
            a.size = a.size.max(end);
        }
    }

    /// The last handle on `ino` was released.
    pub(crate) fn closed(&self, ino: Ino) {
        let mut t = self.lock();
        t.remove(&ino);
        self.count.store(t.len(), Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_orphan_has_no_links_grows_with_writes_and_goes_at_close() {
        let o = Orphans::default();
        let a = Rgetattr {
            size: 10,
            ..crate::attr::sample(0o100644, 0, 0)
        };
        o.adopt(Ino::from_kernel(7), a);
        o.wrote(Ino::from_kernel(7), 4);
        o.wrote(Ino::from_kernel(8), 100);
        let got = o.get(Ino::from_kernel(7)).unwrap();
        assert_eq!((got.nlink, got.size), (0, 10));
        o.wrote(Ino::from_kernel(7), 25);
        assert_eq!(o.get(Ino::from_kernel(7)).unwrap().size, 25);
        assert!(o.get(Ino::from_kernel(8)).is_none());
        assert!(o.holds(Ino::from_kernel(7)) && !o.holds(Ino::from_kernel(8)));
        o.closed(Ino::from_kernel(7));
        assert!(o.get(Ino::from_kernel(7)).is_none() && !o.holds(Ino::from_kernel(7)));
    }
}
