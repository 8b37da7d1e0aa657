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
//! With `cache=cto` a listing also records the directory's mtime before
//! it was read; past the TTL (up to `acdirmax`) the names are trusted again
//! once the directory's attributes show that mtime still
//! ([`KnownNames::to_confirm`], [`KnownNames::confirmed`]), as NFS keeps a
//! directory's entries while its mtime stands: one Tgetattr of the
//! directory instead of a walk per name. Our own changes to the directory
//! move its mtime on the server by an amount we do not learn, so they end
//! that (its names stay exact for the TTL all the same).
//!
//! Kept per uid: with `access=user` a lookup by someone else must still
//! reach the server, which may answer EACCES rather than ENOENT. Bounded:
//! [`BUDGET`] names in all (about 60 bytes each), the least recently used
//! directories dropped first; a directory with more names is not kept.

use std::collections::HashSet;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ino::Ino;
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
    /// The directory's mtime when listed, if known and unchanged by us.
    mtime: Option<(u64, u64)>,
}

#[derive(Debug)]
struct Inner {
    dirs: LruCache<Ino, Known>,
    /// Names in `dirs`, all together.
    total: usize,
    /// Bumped by every change (see [`KnownNames::generation`]).
    generation: u64,
}

/// The known-whole directories (see the module doc); `ttl` zero disables.
#[derive(Debug)]
pub(crate) struct KnownNames {
    ttl: Duration,
    /// How old names with an mtime may be and still be confirmed (zero:
    /// never).
    by_mtime: Duration,
    inner: Mutex<Inner>,
}

impl Inner {
    fn drop_dir(&mut self, dir: Ino) {
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
    /// Knowledge that lives `ttl`, or up to `by_mtime` when confirmed by
    /// the directory's mtime.
    pub(crate) fn new(ttl: Duration, by_mtime: Duration) -> KnownNames {
        KnownNames {
            ttl,
            by_mtime,
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

    /// Directory `dir` holds exactly `names`, as read by `uid` at `at`
    /// with the directory's `mtime` before the read (if known), the read
    /// begun at change count `generation` (not kept if anything changed
    /// since: the change may be missing from the listing).
    pub(crate) fn listed<'a>(
        &self,
        dir: Ino,
        (uid, mtime): (u32, Option<(u64, u64)>),
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
        let known = Known {
            at,
            uid,
            names,
            mtime,
        };
        inner.dirs.put(dir, known);
    }

    /// Directory `dir` was just made empty by `uid`.
    pub(crate) fn made_empty(&self, dir: Ino, uid: u32) {
        let now = Instant::now();
        self.listed(dir, (uid, None), self.generation(), now, [].into_iter());
    }

    /// The mtime that would confirm `uid`'s names of `dir` past their TTL
    /// (see the module doc), if any.
    pub(crate) fn to_confirm(&self, dir: Ino, uid: u32) -> Option<(u64, u64)> {
        // Every lookup asks: no lock when no mode confirms by mtime.
        if self.by_mtime.is_zero() {
            return None;
        }
        let mut inner = self.lock();
        let k = inner.dirs.get(&dir)?;
        let age = k.at.elapsed();
        if k.uid != uid || age < self.ttl || age >= self.by_mtime {
            return None;
        }
        k.mtime
    }

    /// `dir`'s mtime is `mtime` still: its names are trusted for another
    /// TTL. (Found different: [`KnownNames::forget`].)
    pub(crate) fn confirmed(&self, dir: Ino, mtime: (u64, u64)) {
        let mut inner = self.lock();
        if let Some(k) = inner.dirs.peek_mut(&dir) {
            if k.mtime == Some(mtime) {
                k.at = Instant::now();
            }
        }
    }

    /// Whether `name` is known not to be in `dir`, for `uid`.
    pub(crate) fn missing(&self, dir: Ino, name: &[u8], uid: u32) -> bool {
        self.knows(dir, name, uid) == Some(false)
    }

    /// Whether `name` is known to be in `dir`, for `uid`.
    pub(crate) fn present(&self, dir: Ino, name: &[u8], uid: u32) -> bool {
        self.knows(dir, name, uid) == Some(true)
    }

    /// Whether `name` is in `dir` as `uid` knows it (`None`: not known).
    fn knows(&self, dir: Ino, name: &[u8], uid: u32) -> Option<bool> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut inner = self.lock();
        let k = inner.dirs.get(&dir)?;
        let age = k.at.elapsed();
        if age >= self.ttl {
            // Kept while it may still be confirmed by its mtime.
            if k.mtime.is_none() || age >= self.by_mtime {
                inner.drop_dir(dir);
            }
            return None;
        }
        (k.uid == uid).then(|| k.names.contains(name))
    }

    /// `name` was made in `dir` (create, mkdir, link, rename onto it).
    pub(crate) fn added(&self, dir: Ino, name: &[u8]) {
        let mut inner = self.lock();
        inner.generation += 1;
        if inner.total >= BUDGET {
            inner.drop_dir(dir);
            return;
        }
        if let Some(k) = inner.dirs.peek_mut(&dir) {
            k.mtime = None;
            if k.names.insert(name.into()) {
                inner.total += 1;
            }
        }
    }

    /// `name` is gone from `dir` (unlink, rmdir, rename away).
    pub(crate) fn removed(&self, dir: Ino, name: &[u8]) {
        let mut inner = self.lock();
        inner.generation += 1;
        if let Some(k) = inner.dirs.peek_mut(&dir) {
            k.mtime = None;
            if k.names.remove(name) {
                inner.total -= 1;
            }
        }
    }

    /// Forget what is known of `dir` (removed, or found to differ).
    pub(crate) fn forget(&self, dir: Ino) {
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
        let c = KnownNames::new(LONG, Duration::ZERO);
        assert!(
            !c.missing(Ino::from_kernel(5), b"a", 0),
            "unknown directory"
        );
        c.made_empty(Ino::from_kernel(5), 0);
        assert!(c.missing(Ino::from_kernel(5), b"a", 0));
        assert!(
            !c.missing(Ino::from_kernel(5), b"a", 1000),
            "another uid asks the server"
        );
        assert!(!c.present(Ino::from_kernel(5), b"a", 0));
        c.added(Ino::from_kernel(5), b"a");
        assert!(
            !c.missing(Ino::from_kernel(5), b"a", 0) && c.missing(Ino::from_kernel(5), b"b", 0)
        );
        assert!(
            c.present(Ino::from_kernel(5), b"a", 0) && !c.present(Ino::from_kernel(5), b"b", 0)
        );
        assert!(
            !c.present(Ino::from_kernel(5), b"a", 1000),
            "another uid asks the server"
        );
        c.removed(Ino::from_kernel(5), b"a");
        assert!(
            c.missing(Ino::from_kernel(5), b"a", 0) && !c.present(Ino::from_kernel(5), b"a", 0)
        );
        c.added(Ino::from_kernel(5), b"a");
        c.forget(Ino::from_kernel(5));
        assert!(
            !c.missing(Ino::from_kernel(5), b"a", 0) && !c.present(Ino::from_kernel(5), b"a", 0)
        );
    }

    #[test]
    fn a_listing_counts_only_when_nothing_changed_while_it_was_read() {
        let c = KnownNames::new(LONG, Duration::ZERO);
        let g = c.generation();
        c.listed(
            Ino::from_kernel(7),
            (0, None),
            g,
            Instant::now(),
            names(&["x", "y"]),
        );
        assert!(
            !c.missing(Ino::from_kernel(7), b"x", 0) && c.missing(Ino::from_kernel(7), b"z", 0)
        );
        let g = c.generation();
        c.added(Ino::from_kernel(9), b"new");
        c.listed(
            Ino::from_kernel(8),
            (0, None),
            g,
            Instant::now(),
            names(&["x"]),
        );
        assert!(
            !c.missing(Ino::from_kernel(8), b"z", 0),
            "a change overtook the read"
        );
    }

    #[test]
    fn expires_and_is_off_without_a_ttl() {
        let off = KnownNames::new(Duration::ZERO, Duration::ZERO);
        off.made_empty(Ino::from_kernel(1), 0);
        assert!(!off.missing(Ino::from_kernel(1), b"a", 0));
        let c = KnownNames::new(LONG, Duration::ZERO);
        let old = Instant::now() - Duration::from_secs(61);
        c.listed(
            Ino::from_kernel(1),
            (0, None),
            c.generation(),
            old,
            names(&["x"]),
        );
        assert!(!c.missing(Ino::from_kernel(1), b"a", 0), "expired");
    }

    #[test]
    fn past_the_ttl_names_are_kept_for_their_mtime_to_confirm() {
        let c = KnownNames::new(Duration::from_secs(1), LONG);
        let old = Instant::now() - Duration::from_secs(2);
        c.listed(
            Ino::from_kernel(1),
            (0, Some((5, 6))),
            c.generation(),
            old,
            names(&["x"]),
        );
        c.listed(
            Ino::from_kernel(2),
            (0, None),
            c.generation(),
            old,
            names(&["x"]),
        );
        assert!(
            !c.missing(Ino::from_kernel(1), b"a", 0) && !c.present(Ino::from_kernel(1), b"x", 0),
            "past the TTL"
        );
        assert_eq!(
            c.to_confirm(Ino::from_kernel(2), 0),
            None,
            "no mtime: dropped"
        );
        assert_eq!(
            c.to_confirm(Ino::from_kernel(1), 1000),
            None,
            "another uid's"
        );
        assert_eq!(c.to_confirm(Ino::from_kernel(1), 0), Some((5, 6)));
        c.confirmed(Ino::from_kernel(1), (5, 7));
        assert!(
            !c.present(Ino::from_kernel(1), b"x", 0),
            "another mtime confirms nothing"
        );
        c.confirmed(Ino::from_kernel(1), (5, 6));
        assert!(c.present(Ino::from_kernel(1), b"x", 0) && c.missing(Ino::from_kernel(1), b"a", 0));
        assert_eq!(c.to_confirm(Ino::from_kernel(1), 0), None, "fresh again");
        // Our own change moves the mtime by an amount we do not learn.
        c.added(Ino::from_kernel(1), b"a");
        c.lock()
            .dirs
            .peek_mut(&Ino::from_kernel(1))
            .expect("kept")
            .at = old;
        assert_eq!(c.to_confirm(Ino::from_kernel(1), 0), None);
        // Not past acdirmax.
        let older = Instant::now() - Duration::from_secs(61);
        c.listed(
            Ino::from_kernel(3),
            (0, Some((5, 6))),
            c.generation(),
            older,
            names(&["x"]),
        );
        assert_eq!(c.to_confirm(Ino::from_kernel(3), 0), None);
    }

    #[test]
    fn the_budget_bounds_the_names_kept() {
        let c = KnownNames::new(LONG, Duration::ZERO);
        let many: Vec<String> = (0..BUDGET - 1).map(|i| format!("n{i}")).collect();
        let iter = many.iter().map(|s| s.as_bytes());
        c.listed(
            Ino::from_kernel(1),
            (0, None),
            c.generation(),
            Instant::now(),
            iter,
        );
        c.made_empty(Ino::from_kernel(2), 0);
        c.added(Ino::from_kernel(2), b"a");
        assert_eq!(c.lock().total, BUDGET);
        c.added(Ino::from_kernel(2), b"b");
        assert!(
            !c.missing(Ino::from_kernel(2), b"zz", 0),
            "over budget: dropped"
        );
        c.made_empty(Ino::from_kernel(3), 0);
        c.listed(
            Ino::from_kernel(3),
            (0, None),
            c.generation(),
            Instant::now(),
            names(&["p", "q"]),
        );
        assert!(c.missing(Ino::from_kernel(3), b"r", 0));
        assert!(
            !c.missing(Ino::from_kernel(1), b"zz", 0),
            "the oldest made room"
        );
        assert!(c.lock().total <= BUDGET);
    }
}
