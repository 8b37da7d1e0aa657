//! Directories whose every name we know, in `cache=loose`: a lookup of a
//! name that is not among them is answered "no such file" without a Twalk.
//!
//! Why: every `open(O_CREAT)` of a new name starts with a FUSE lookup of
//! it, and each was a Twalk that failed, one round trip in five of a
//! `touch`. A directory becomes known whole when we make it (`mkdir`
//! through the mount: empty) or read its whole listing; from then on our
//! own creates, links, removals and renames in it keep the set of names
//! exact. The knowledge lasts the TTL from the moment it was learnt, the
//! same promise as the kernel's negative entries and the listing cache:
//! names made on the server by others show after the TTL.
//!
//! Kept per uid: with `access=user` a lookup by someone else must still
//! reach the server, which may answer EACCES rather than ENOENT. Bounded:
//! [`BUDGET`] names in all (about 60 bytes each), the least recently used
//! directories dropped first; a directory with more names is not kept.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

/// Names kept in all directories together.
pub(crate) const BUDGET: usize = 100_000;
/// Directories kept.
const DIRS: usize = 1024;

/// The names of one directory, since when, and for whom.
#[derive(Debug)]
struct Known {
    at: Instant,
    uid: u32,
    names: HashSet<Box<[u8]>>,
}

#[derive(Debug)]
struct Inner {
    dirs: LruCache<u64, Known>,
    /// Names in `dirs`, all together.
    total: usize,
    /// Bumped by every change (see [`KnownNames::generation`]).
    generation: u64,
}

/// The known-whole directories (see the module doc); `ttl` zero disables.
#[derive(Debug)]
pub(crate) struct KnownNames {
    ttl: Duration,
    inner: Mutex<Inner>,
}

impl Inner {
    fn drop_dir(&mut self, dir: u64) {
        if let Some(k) = self.dirs.pop(&dir) {
            self.total -= k.names.len();
        }
    }

    /// Make room for `more` names, oldest directories first.
    fn make_room(&mut self, more: usize) {
        while self.total + more > BUDGET {
            match self.dirs.pop_lru() {
                Some((_, k)) => self.total -= k.names.len(),
                None => break,
            }
        }
    }
}

impl KnownNames {
    /// Knowledge that lives `ttl`.
    pub(crate) fn new(ttl: Duration) -> KnownNames {
        KnownNames {
            ttl,
            inner: Mutex::new(Inner {
                dirs: LruCache::new(NonZeroUsize::new(DIRS).expect("non-zero")),
                total: 0,
                generation: 0,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The change count now: take it before reading a listing and pass it
    /// to [`KnownNames::listed`].
    pub(crate) fn generation(&self) -> u64 {
        self.lock().generation
    }

    /// Directory `dir` holds exactly `names`, as read by `uid` at `at`,
    /// the read begun at change count `generation` (not kept if anything
    /// changed since: the change may be missing from the listing).
    pub(crate) fn listed<'a>(
        &self,
        dir: u64,
        uid: u32,
        generation: u64,
        at: Instant,
        names: impl ExactSizeIterator<Item = &'a [u8]>,
    ) {
        if self.ttl.is_zero() || names.len() > BUDGET {
            return;
        }
        let mut inner = self.lock();
        if inner.generation != generation {
            return;
        }
        inner.drop_dir(dir);
        inner.make_room(names.len());
        let names: HashSet<Box<[u8]>> = names.map(Into::into).collect();
        inner.total += names.len();
        inner.dirs.put(dir, Known { at, uid, names });
    }

    /// Directory `dir` was just made empty by `uid`.
    pub(crate) fn made_empty(&self, dir: u64, uid: u32) {
        self.listed(dir, uid, self.generation(), Instant::now(), [].into_iter());
    }

    /// Whether `name` is known not to be in `dir`, for `uid`.
    pub(crate) fn missing(&self, dir: u64, name: &[u8], uid: u32) -> bool {
        self.knows(dir, name, uid) == Some(false)
    }

    /// Whether `name` is known to be in `dir`, for `uid`.
    pub(crate) fn present(&self, dir: u64, name: &[u8], uid: u32) -> bool {
        self.knows(dir, name, uid) == Some(true)
    }

    /// Whether `name` is in `dir` as `uid` knows it (`None`: not known).
    fn knows(&self, dir: u64, name: &[u8], uid: u32) -> Option<bool> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut inner = self.lock();
        let k = inner.dirs.get(&dir)?;
        if k.at.elapsed() >= self.ttl {
            inner.drop_dir(dir);
            return None;
        }
        (k.uid == uid).then(|| k.names.contains(name))
    }

    /// `name` was made in `dir` (create, mkdir, link, rename onto it).
    pub(crate) fn added(&self, dir: u64, name: &[u8]) {
        let mut inner = self.lock();
        inner.generation += 1;
        if inner.total >= BUDGET {
            inner.drop_dir(dir);
            return;
        }
        if let Some(k) = inner.dirs.peek_mut(&dir) {
            if k.names.insert(name.into()) {
                inner.total += 1;
            }
        }
    }

    /// `name` is gone from `dir` (unlink, rmdir, rename away).
    pub(crate) fn removed(&self, dir: u64, name: &[u8]) {
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some(k) = inner.dirs.peek_mut(&dir) {
            if k.names.remove(name) {
                inner.total -= 1;
            }
        }
    }

    /// Forget what is known of `dir` (removed, or found to differ).
    pub(crate) fn forget(&self, dir: u64) {
        let mut inner = self.lock();
        inner.generation += 1;
        inner.drop_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    fn names<'a>(v: &'a [&'static str]) -> impl ExactSizeIterator<Item = &'static [u8]> + 'a {
        v.iter().map(|s| s.as_bytes())
    }

    #[test]
    fn a_made_directory_is_known_empty_and_follows_our_changes() {
        let c = KnownNames::new(LONG);
        assert!(!c.missing(5, b"a", 0), "unknown directory");
        c.made_empty(5, 0);
        assert!(c.missing(5, b"a", 0));
        assert!(!c.missing(5, b"a", 1000), "another uid asks the server");
        assert!(!c.present(5, b"a", 0));
        c.added(5, b"a");
        assert!(!c.missing(5, b"a", 0) && c.missing(5, b"b", 0));
        assert!(c.present(5, b"a", 0) && !c.present(5, b"b", 0));
        assert!(!c.present(5, b"a", 1000), "another uid asks the server");
        c.removed(5, b"a");
        assert!(c.missing(5, b"a", 0) && !c.present(5, b"a", 0));
        c.added(5, b"a");
        c.forget(5);
        assert!(!c.missing(5, b"a", 0) && !c.present(5, b"a", 0));
    }

    #[test]
    fn a_listing_counts_only_when_nothing_changed_while_it_was_read() {
        let c = KnownNames::new(LONG);
        let g = c.generation();
        c.listed(7, 0, g, Instant::now(), names(&["x", "y"]));
        assert!(!c.missing(7, b"x", 0) && c.missing(7, b"z", 0));
        let g = c.generation();
        c.added(9, b"new");
        c.listed(8, 0, g, Instant::now(), names(&["x"]));
        assert!(!c.missing(8, b"z", 0), "a change overtook the read");
    }

    #[test]
    fn expires_and_is_off_without_a_ttl() {
        let off = KnownNames::new(Duration::ZERO);
        off.made_empty(1, 0);
        assert!(!off.missing(1, b"a", 0));
        let c = KnownNames::new(LONG);
        let old = Instant::now() - Duration::from_secs(61);
        c.listed(1, 0, c.generation(), old, names(&["x"]));
        assert!(!c.missing(1, b"a", 0), "expired");
    }

    #[test]
    fn the_budget_bounds_the_names_kept() {
        let c = KnownNames::new(LONG);
        let many: Vec<String> = (0..BUDGET - 1).map(|i| format!("n{i}")).collect();
        let iter = many.iter().map(|s| s.as_bytes());
        c.listed(1, 0, c.generation(), Instant::now(), iter);
        c.made_empty(2, 0);
        c.added(2, b"a");
        assert_eq!(c.lock().total, BUDGET);
        c.added(2, b"b");
        assert!(!c.missing(2, b"zz", 0), "over budget: dropped");
        c.made_empty(3, 0);
        c.listed(3, 0, c.generation(), Instant::now(), names(&["p", "q"]));
        assert!(c.missing(3, b"r", 0));
        assert!(!c.missing(1, b"zz", 0), "the oldest made room");
        assert!(c.lock().total <= BUDGET);
    }
}
