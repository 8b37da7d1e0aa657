//! What the kernel holds of each file, so that an open can tell whether
//! the kernel's copy is still the server's: the attributes it was last
//! given (`cache=cto`), and the version of the file its page cache holds.
//!
//! An open that finds the file unchanged since its pages were read keeps
//! them (`FOPEN_KEEP_CACHE`); otherwise the kernel drops them at the open.
//! With `cache=cto` the open also asks the server for the attributes: if
//! they differ from the ones the kernel was given (another client wrote
//! the file), the kernel's size and times are stale too, and an open reply
//! cannot carry new ones. The open then fails once with ESTALE, which the
//! kernel's path walk answers by looking the name up again (a FUSE lookup
//! that brings the new attributes, or a new file under the name) and
//! opening again. A second ESTALE in a row is never given: the second open
//! goes ahead.
//!
//! Our own changes (a write, a truncation, a change of attributes) leave
//! the kernel's attributes marked stale by the kernel itself, which asks
//! for them again: after them nothing is known of the kernel's view, and
//! the next open keeps no pages but needs no second lookup.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};

use crate::ino::Ino;
use lru::LruCache;
use ninep_client::wire::Rgetattr;

/// Files tracked (about 100 bytes each); the views of the least recently
/// used are forgotten first, which costs their next open its page cache
/// (and with `cache=cto` a second lookup: the kernel's attributes are
/// then of unknown age).
const TRACKED: usize = 65536;

/// The parts of a file's attributes that change when its data does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Stamp {
    mtime: (u64, u64),
    size: u64,
    version: u32,
    data_version: u64,
}

impl Stamp {
    pub(crate) fn of(a: &Rgetattr) -> Stamp {
        Stamp {
            mtime: (a.mtime_sec, a.mtime_nsec),
            size: a.size,
            version: a.qid.version,
            data_version: a.data_version,
        }
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct View {
    /// The attributes last given to the kernel (`None`: unknown, or our
    /// own change made the kernel ask again by itself).
    told: Option<Stamp>,
    /// The version the page cache holds (`None`: unknown).
    pages: Option<Stamp>,
    /// The last open of it failed with ESTALE.
    refused: bool,
}

/// What an open should do with the kernel's copy of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenVerdict {
    /// Keep the cached pages.
    Keep,
    /// Drop the cached pages (the kernel does at an open without
    /// `FOPEN_KEEP_CACHE`).
    Drop,
    /// The kernel's attributes are stale: ESTALE, so that it looks again.
    Stale,
}

/// The views (see the module doc).
#[derive(Debug)]
pub(crate) struct KernelView {
    views: Mutex<LruCache<Ino, View>>,
}

impl Default for KernelView {
    fn default() -> Self {
        KernelView {
            views: Mutex::new(LruCache::new(NonZeroUsize::new(TRACKED).expect("non-zero"))),
        }
    }
}

impl KernelView {
    fn lock(&self) -> MutexGuard<'_, LruCache<Ino, View>> {
        self.views.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The kernel was given attributes `a` of `ino`.
    pub(crate) fn told(&self, ino: Ino, a: &Rgetattr) {
        let mut g = self.lock();
        let v = g.get_or_insert_mut(ino, View::default);
        v.told = Some(Stamp::of(a));
        v.refused = false;
    }

    /// We changed `ino`'s data or attributes.
    pub(crate) fn ours(&self, ino: Ino) {
        let mut g = self.lock();
        let v = g.get_or_insert_mut(ino, View::default);
        v.told = None;
        v.pages = None;
    }

    /// An open of `ino` found attributes `a` on the server; `check_told`:
    /// whether the kernel's attributes must match them (`cache=cto`).
    /// Records what the page cache holds from now on, unless the verdict
    /// is [`OpenVerdict::Stale`].
    pub(crate) fn open(&self, ino: Ino, a: &Rgetattr, check_told: bool) -> OpenVerdict {
        let now = Stamp::of(a);
        let mut g = self.lock();
        let known = g.contains(&ino);
        let v = g.get_or_insert_mut(ino, View::default);
        let stale = match v.told {
            Some(t) => t != now,
            None => !known,
        };
        if check_told && stale && !v.refused {
            v.refused = true;
            return OpenVerdict::Stale;
        }
        v.refused = false;
        let keep = v.pages == Some(now);
        v.pages = Some(now);
        match keep {
            true => OpenVerdict::Keep,
            false => OpenVerdict::Drop,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::attr::sample;

    fn file(size: u64, mtime: u64) -> Rgetattr {
        Rgetattr {
            size,
            mtime_sec: mtime,
            ..sample(0o100644, 0, 0)
        }
    }

    #[test]
    fn pages_are_kept_only_while_the_file_is_unchanged() {
        let v = KernelView::default();
        let a = file(10, 100);
        v.told(Ino::from_kernel(2), &a);
        assert_eq!(
            v.open(Ino::from_kernel(2), &a, true),
            OpenVerdict::Drop,
            "nothing cached yet"
        );
        assert_eq!(v.open(Ino::from_kernel(2), &a, true), OpenVerdict::Keep);
        v.ours(Ino::from_kernel(2));
        assert_eq!(
            v.open(Ino::from_kernel(2), &file(20, 101), true),
            OpenVerdict::Drop
        );
        assert_eq!(
            v.open(Ino::from_kernel(2), &file(20, 101), true),
            OpenVerdict::Keep
        );
    }

    #[test]
    fn a_change_by_someone_else_is_stale_once() {
        let v = KernelView::default();
        let old = file(10, 100);
        let new = file(30, 105);
        v.told(Ino::from_kernel(3), &old);
        assert_eq!(v.open(Ino::from_kernel(3), &old, true), OpenVerdict::Drop);
        assert_eq!(v.open(Ino::from_kernel(3), &new, true), OpenVerdict::Stale);
        // The second open in a row goes ahead, without the old pages.
        assert_eq!(v.open(Ino::from_kernel(3), &new, true), OpenVerdict::Drop);
        // A lookup in between gives the kernel the new attributes.
        let newer = file(40, 110);
        v.told(Ino::from_kernel(3), &new);
        assert_eq!(
            v.open(Ino::from_kernel(3), &newer, true),
            OpenVerdict::Stale
        );
        v.told(Ino::from_kernel(3), &newer);
        assert_eq!(v.open(Ino::from_kernel(3), &newer, true), OpenVerdict::Drop);
        // Without the check (cache=loose) a change only drops the pages.
        assert_eq!(v.open(Ino::from_kernel(3), &new, false), OpenVerdict::Drop);
    }

    #[test]
    fn a_file_of_unknown_view_is_looked_up_again_once() {
        let v = KernelView::default();
        assert_eq!(
            v.open(Ino::from_kernel(4), &file(1, 1), true),
            OpenVerdict::Stale
        );
        assert_eq!(
            v.open(Ino::from_kernel(4), &file(1, 1), true),
            OpenVerdict::Drop
        );
        assert_eq!(
            v.open(Ino::from_kernel(6), &file(1, 1), false),
            OpenVerdict::Drop
        );
        // After our own change nothing is known, but the kernel asks again
        // by itself: no second lookup.
        v.ours(Ino::from_kernel(5));
        assert_eq!(
            v.open(Ino::from_kernel(5), &file(1, 1), true),
            OpenVerdict::Drop
        );
    }
}
