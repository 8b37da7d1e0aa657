//! The directory listing cache of the page cache modes: an lru of
//! complete listings keyed by directory inode, each stamped with the time
//! it was read from the server and, when known, the directory's mtime
//! then.
//!
//! Without it every `ls` is a round of Treaddirs, even when the kernel
//! keeps every entry and attribute of the directory for the TTL; with it a
//! directory listed again within the TTL (a shell completing names, `ls`
//! in a loop, `make` walking a tree) costs no Treaddir. What is kept is
//! what the server said (name, qid and type of each valid entry); `.` and
//! `..` are added at each use from the inode table, so a directory moved
//! elsewhere meanwhile still shows its current parent. The server's
//! offsets are not kept: a listing is only ever read whole, and the
//! kernel's readdir offsets are indices into it (see `fs/dir.rs`).
//!
//! Why it stays correct:
//! - Our own changes are never hidden: every change we make to a
//!   directory's names (create, mkdir, mknod, symlink, link, unlink,
//!   rmdir, rename in or out) drops its listing. A listing being read
//!   while such a change happens is not kept (a generation count, bumped
//!   by every invalidation, must be the same before and after the read),
//!   so a listing read just before a create cannot come back after it.
//! - Changes made on the server by others show once the listing is older
//!   than the TTL, which is what `cache=loose` promises (the kernel's
//!   entry and attribute TTLs are the same). With `cache=cto` the TTL is
//!   `acdirmin`, and a listing up to `acdirmax` old that carries the
//!   directory's mtime is served if the directory's mtime is still that
//!   (from its attributes, trusted by age, or one Tgetattr): a directory
//!   nobody changed is listed again for the price of a Tgetattr at most.
//!   The mtime is the one known *before* the listing was read, so a change
//!   made during the read shows as a different mtime later.
//! - Lookup counts stay exact: the cache holds names and qids only, never
//!   an inode reference. readdirplus still walks and stats each entry it
//!   returns, and counts +1 lookup for each entry the kernel takes, as
//!   without the cache; an entry that is gone on the server by then is
//!   given without attributes (node id 0), which the kernel links to
//!   nothing.
//! - Bounded: [`DIRS`] directories, and listings above [`MAX_ENTRIES`]
//!   entries are not kept (they would cost memory for one `ls`).
//! - With `cache=none` (TTL zero) nothing is kept or served.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use lru::LruCache;

use crate::handles::DirEntry;
use crate::ino::Ino;

/// How many directories' listings are kept: a source tree's (`git
/// status` lists every directory of it; a cycle through more than the lru
/// holds would miss every time).
pub(crate) const DIRS: usize = 4096;
/// Listings with more entries than this (`.` and `..` not counted) are
/// not kept.
pub(crate) const MAX_ENTRIES: usize = 10_000;

/// A listing as the server gave it (without `.` and `..`), when, and
/// the directory's mtime before it was read, if known.
#[derive(Debug)]
struct Cached {
    at: Instant,
    entries: Arc<[DirEntry]>,
    mtime: Option<(u64, u64)>,
}

/// What the cache has for a directory.
#[derive(Debug)]
pub(crate) enum Listing {
    /// Younger than the TTL: serve it.
    Fresh(Arc<[DirEntry]>),
    /// Older, but to be served if the directory's mtime is still this one.
    IfUnchanged((u64, u64), Arc<[DirEntry]>),
}

/// The listing cache (see the module doc); `ttl` zero disables it.
#[derive(Debug)]
pub(crate) struct DirCache {
    ttl: Duration,
    /// How old a listing with an mtime may be (zero: no such listings).
    by_mtime: Duration,
    lru: Mutex<LruCache<Ino, Cached>>,
    /// Bumped by every invalidation (see [`DirCache::generation`]).
    generation: AtomicU64,
    /// Listings read from the server (for tests and stats).
    read: AtomicU64,
    /// Listings served from the cache.
    hits: AtomicU64,
}

impl DirCache {
    /// A cache whose listings live `ttl`, or `by_mtime` while their
    /// directory's mtime stays the same.
    pub(crate) fn new(ttl: Duration, by_mtime: Duration) -> DirCache {
        DirCache {
            ttl,
            by_mtime,
            lru: Mutex::new(LruCache::new(NonZeroUsize::new(DIRS).expect("non-zero"))),
            generation: AtomicU64::new(0),
            read: AtomicU64::new(0),
            hits: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<Ino, Cached>> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The listing of directory `ino`, if read less than a TTL ago, or
    /// one to serve if the directory is unchanged (see the module doc).
    pub(crate) fn get(&self, ino: Ino) -> Option<Listing> {
        if self.ttl.is_zero() {
            return None;
        }
        let mut lru = self.lock();
        let c = lru.get(&ino)?;
        let age = c.at.elapsed();
        if age < self.ttl {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Some(Listing::Fresh(c.entries.clone()));
        }
        match c.mtime {
            Some(m) if age < self.by_mtime => Some(Listing::IfUnchanged(m, c.entries.clone())),
            _ => {
                lru.pop(&ino);
                None
            }
        }
    }

    /// The listing of `ino` was found current (its directory's mtime is
    /// `mtime` still): served, and fresh again for a TTL.
    pub(crate) fn confirmed(&self, ino: Ino, mtime: (u64, u64)) {
        if let Some(c) = self.lock().get_mut(&ino) {
            if c.mtime == Some(mtime) {
                c.at = Instant::now();
                self.hits.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// The listing of `ino` is out of date.
    pub(crate) fn stale(&self, ino: Ino) {
        self.lock().pop(&ino);
    }

    /// The invalidation count now: take it before reading a listing and
    /// pass it to [`DirCache::put`].
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Remember `entries` as the listing of `ino`, read at `at` and begun
    /// at invalidation count `generation` when the directory's mtime was
    /// `mtime` (if known); not kept if anything was invalidated since, or
    /// if it is too long.
    pub(crate) fn put(
        &self,
        ino: Ino,
        (generation, mtime): (u64, Option<(u64, u64)>),
        at: Instant,
        entries: Arc<[DirEntry]>,
    ) {
        self.read.fetch_add(1, Ordering::Relaxed);
        if self.ttl.is_zero() || entries.len() > MAX_ENTRIES {
            return;
        }
        let mut lru = self.lock();
        // Checked under the lock: invalidate bumps the count under it too.
        if self.generation.load(Ordering::Acquire) == generation {
            lru.put(ino, Cached { at, entries, mtime });
        }
    }

    /// Forget the listings of each of `inos` (a change we made in them).
    pub(crate) fn invalidate(&self, inos: &[Ino]) {
        if self.ttl.is_zero() {
            return;
        }
        let mut lru = self.lock();
        self.generation.fetch_add(1, Ordering::AcqRel);
        for ino in inos {
            lru.pop(ino);
        }
    }

    /// Listings read from the server, and listings served from the cache.
    pub(crate) fn counts(&self) -> (u64, u64) {
        (
            self.read.load(Ordering::Relaxed),
            self.hits.load(Ordering::Relaxed),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ninep_client::wire::Qid;

    fn entries(n: usize) -> Arc<[DirEntry]> {
        (0..n)
            .map(|i| DirEntry {
                name: format!("f{i}").into_bytes().into(),
                qid: Qid {
                    ty: 0,
                    version: 0,
                    path: i as u64,
                },
                ty: 8,
            })
            .collect()
    }

    fn fresh(l: Listing) -> Arc<[DirEntry]> {
        match l {
            Listing::Fresh(e) => e,
            other => panic!("not fresh: {other:?}"),
        }
    }

    #[test]
    fn older_listings_are_served_while_the_directory_is_unchanged() {
        let c = DirCache::new(Duration::from_secs(1), Duration::from_secs(30));
        let old = Instant::now() - Duration::from_secs(5);
        c.put(
            Ino::from_kernel(1),
            (c.generation(), Some((7, 8))),
            old,
            entries(2),
        );
        c.put(Ino::from_kernel(2), (c.generation(), None), old, entries(2));
        assert!(
            c.get(Ino::from_kernel(2)).is_none(),
            "no mtime: only the TTL"
        );
        match c.get(Ino::from_kernel(1)) {
            Some(Listing::IfUnchanged(m, e)) => assert_eq!((m, e.len()), ((7, 8), 2)),
            other => panic!("{other:?}"),
        }
        c.confirmed(Ino::from_kernel(1), (7, 8));
        assert_eq!(c.get(Ino::from_kernel(1)).map(|l| fresh(l).len()), Some(2));
        c.stale(Ino::from_kernel(1));
        assert!(c.get(Ino::from_kernel(1)).is_none());
        let too_old = Instant::now() - Duration::from_secs(31);
        c.put(
            Ino::from_kernel(3),
            (c.generation(), Some((7, 8))),
            too_old,
            entries(2),
        );
        assert!(c.get(Ino::from_kernel(3)).is_none());
    }

    #[test]
    fn off_without_a_ttl() {
        let c = DirCache::new(Duration::ZERO, Duration::ZERO);
        c.put(
            Ino::from_kernel(1),
            (c.generation(), None),
            Instant::now(),
            entries(3),
        );
        assert!(c.get(Ino::from_kernel(1)).is_none());
        assert_eq!(c.counts(), (1, 0));
    }

    #[test]
    fn kept_for_the_ttl_and_dropped_by_changes() {
        let c = DirCache::new(Duration::from_secs(60), Duration::ZERO);
        c.put(
            Ino::from_kernel(1),
            (c.generation(), None),
            Instant::now(),
            entries(3),
        );
        assert_eq!(c.get(Ino::from_kernel(1)).map(|l| fresh(l).len()), Some(3));
        c.invalidate(&[Ino::from_kernel(1)]);
        assert!(c.get(Ino::from_kernel(1)).is_none());
        let old = Instant::now() - Duration::from_secs(61);
        c.put(Ino::from_kernel(2), (c.generation(), None), old, entries(3));
        assert!(c.get(Ino::from_kernel(2)).is_none(), "expired");
    }

    #[test]
    fn a_read_overtaken_by_a_change_is_not_kept() {
        let c = DirCache::new(Duration::from_secs(60), Duration::ZERO);
        let g = c.generation();
        c.invalidate(&[Ino::from_kernel(1)]);
        c.put(Ino::from_kernel(1), (g, None), Instant::now(), entries(3));
        assert!(c.get(Ino::from_kernel(1)).is_none());
    }

    #[test]
    fn long_listings_are_not_kept_and_the_lru_is_bounded() {
        let c = DirCache::new(Duration::from_secs(60), Duration::ZERO);
        c.put(
            Ino::from_kernel(1),
            (c.generation(), None),
            Instant::now(),
            entries(MAX_ENTRIES + 1),
        );
        assert!(c.get(Ino::from_kernel(1)).is_none());
        for ino in 0..(DIRS as u64 + 10) {
            c.put(
                Ino::from_kernel(ino),
                (c.generation(), None),
                Instant::now(),
                entries(1),
            );
        }
        assert!(c.get(Ino::from_kernel(0)).is_none(), "evicted");
        assert!(c.get(Ino::from_kernel(DIRS as u64 + 9)).is_some());
    }
}
