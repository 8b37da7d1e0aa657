//! Extended attributes known to be missing, with the page cache.
//!
//! `ls -l` asks every file for two (`security.selinux` and
//! `system.posix_acl_access`), almost always missing: without this each is
//! a Txattrwalk that fails, two round trips per file listed. An answer of
//! ENODATA is kept for the TTL (`cache_timeout`; `acregmin` with
//! `cache=cto`), per inode. Only a change to the inode's
//! extended attributes, mode or owner drops it ([`AbsentXattrs::changed`]):
//! names made or removed in a directory do not touch its attributes.
//!
//! A file made through the mount inherits what is known of its directory
//! ([`AbsentXattrs::inherit`]), so the `ls -l` after a storm of creates asks
//! nothing: a new file has a SELinux label only where its directory has
//! one (the server labels every file or none), and an access ACL only
//! where its directory has a default ACL (which a new directory inherits
//! as its own default ACL too). Nothing else is inferred: a new file may
//! well get other attributes (an IMA hash, say). To learn them, a create
//! or mkdir in a directory not yet asked asks it for those two names along
//! with its own requests ([`AbsentXattrs::to_probe`]); a directory known
//! to lack both is not asked.

use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::ino::Ino;
use lru::LruCache;

/// How many inodes' missing names are kept.
const ENTRIES: usize = 32768;

/// A file's SELinux label.
pub(crate) const SELINUX: &[u8] = b"security.selinux";
/// A file's access ACL.
pub(crate) const ACL_ACCESS: &[u8] = b"system.posix_acl_access";
/// A directory's default ACL, which its new files inherit.
pub(crate) const ACL_DEFAULT: &[u8] = b"system.posix_acl_default";

/// Names an inode lacks, and since when.
#[derive(Debug)]
struct Known {
    at: Instant,
    names: Vec<&'static [u8]>,
    /// Other names, as the kernel asked for them.
    other: Vec<Box<[u8]>>,
}

impl Known {
    fn has(&self, name: &[u8]) -> bool {
        self.names.contains(&name) || self.other.iter().any(|n| **n == *name)
    }
}

/// The missing extended attributes (see the module doc); `ttl` zero
/// disables it.
#[derive(Debug)]
pub(crate) struct AbsentXattrs {
    ttl: Duration,
    lru: Mutex<LruCache<Ino, Known>>,
    /// Directories asked for [`SELINUX`] and [`ACL_DEFAULT`], and when.
    probed: Mutex<LruCache<Ino, Instant>>,
}

/// One of the names inheritance reasons about, as a `'static` slice.
fn well_known(name: &[u8]) -> Option<&'static [u8]> {
    [SELINUX, ACL_ACCESS, ACL_DEFAULT]
        .into_iter()
        .find(|n| *n == name)
}

impl AbsentXattrs {
    /// Knowledge that lives `ttl`.
    pub(crate) fn new(ttl: Duration) -> AbsentXattrs {
        let n = NonZeroUsize::new(ENTRIES).expect("non-zero");
        AbsentXattrs {
            ttl,
            lru: Mutex::new(LruCache::new(n)),
            probed: Mutex::new(LruCache::new(n)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, LruCache<Ino, Known>> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether `ino` was found to lack `name` less than a TTL ago.
    pub(crate) fn missing(&self, ino: Ino, name: &[u8]) -> bool {
        if self.ttl.is_zero() {
            return false;
        }
        let mut lru = self.lock();
        match lru.get(&ino) {
            Some(k) if k.at.elapsed() < self.ttl => k.has(name),
            Some(_) => {
                lru.pop(&ino);
                false
            }
            None => false,
        }
    }

    /// Remember that `ino` lacks `name` (the server said ENODATA).
    pub(crate) fn note(&self, ino: Ino, name: &[u8]) {
        if self.ttl.is_zero() {
            return;
        }
        let mut lru = self.lock();
        let k = match lru.get_mut(&ino) {
            Some(k) if k.at.elapsed() < self.ttl => k,
            _ => {
                let fresh = Known {
                    at: Instant::now(),
                    names: Vec::new(),
                    other: Vec::new(),
                };
                lru.put(ino, fresh);
                lru.get_mut(&ino).expect("just put")
            }
        };
        if k.has(name) {
            return;
        }
        match well_known(name) {
            Some(n) => k.names.push(n),
            None => k.other.push(name.into()),
        }
    }

    /// `child`, just made in `dir` (a directory itself if `is_dir`),
    /// lacks what the module doc says follows from what `dir` lacks; known
    /// since as long as that.
    pub(crate) fn inherit(&self, dir: Ino, child: Ino, is_dir: bool) {
        if self.ttl.is_zero() {
            return;
        }
        let mut lru = self.lock();
        let (at, names) = match lru.get(&dir) {
            Some(k) if k.at.elapsed() < self.ttl => {
                let mut names = Vec::new();
                if k.has(SELINUX) {
                    names.push(SELINUX);
                }
                if k.has(ACL_DEFAULT) {
                    names.push(ACL_ACCESS);
                    if is_dir {
                        names.push(ACL_DEFAULT);
                    }
                }
                (k.at, names)
            }
            _ => return,
        };
        let other = Vec::new();
        lru.put(child, Known { at, names, other });
    }

    /// The names to ask directory `dir` for, for its new files to inherit
    /// (see the module doc): none when it was asked less than a TTL ago,
    /// or is known to lack both (a directory made through the mount in
    /// one that lacks them: `git add` makes one for each first byte of
    /// its objects' names); else it counts as asked from now on.
    pub(crate) fn to_probe(&self, dir: Ino) -> &'static [&'static [u8]] {
        if self.ttl.is_zero() || (self.missing(dir, SELINUX) && self.missing(dir, ACL_DEFAULT)) {
            return &[];
        }
        let mut probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        if probed.get(&dir).is_some_and(|at| at.elapsed() < self.ttl) {
            return &[];
        }
        probed.put(dir, Instant::now());
        &[SELINUX, ACL_DEFAULT]
    }

    /// `ino`'s extended attributes, mode or owner changed: forget what it
    /// lacks (and let it be asked again).
    pub(crate) fn changed(&self, ino: Ino) {
        self.lock().pop(&ino);
        let mut probed = self.probed.lock().unwrap_or_else(|e| e.into_inner());
        probed.pop(&ino);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LONG: Duration = Duration::from_secs(60);

    #[test]
    fn kept_for_the_ttl_and_dropped_by_changes() {
        let off = AbsentXattrs::new(Duration::ZERO);
        off.note(Ino::from_kernel(1), b"user.a");
        assert!(!off.missing(Ino::from_kernel(1), b"user.a"));
        let on = AbsentXattrs::new(LONG);
        on.note(Ino::from_kernel(1), b"user.a");
        on.note(Ino::from_kernel(1), SELINUX);
        assert!(
            on.missing(Ino::from_kernel(1), b"user.a") && on.missing(Ino::from_kernel(1), SELINUX)
        );
        assert!(
            !on.missing(Ino::from_kernel(1), b"user.c")
                && !on.missing(Ino::from_kernel(2), b"user.a")
        );
        on.changed(Ino::from_kernel(1));
        assert!(!on.missing(Ino::from_kernel(1), b"user.a"));
    }

    #[test]
    fn a_new_file_inherits_only_what_follows() {
        let a = AbsentXattrs::new(LONG);
        a.inherit(Ino::from_kernel(1), Ino::from_kernel(2), false);
        assert!(
            !a.missing(Ino::from_kernel(2), SELINUX),
            "nothing known of the directory"
        );
        a.note(Ino::from_kernel(1), SELINUX);
        a.note(Ino::from_kernel(1), b"user.x");
        a.inherit(Ino::from_kernel(1), Ino::from_kernel(2), false);
        assert!(a.missing(Ino::from_kernel(2), SELINUX));
        assert!(
            !a.missing(Ino::from_kernel(2), ACL_ACCESS),
            "default ACL not known missing"
        );
        assert!(!a.missing(Ino::from_kernel(2), b"user.x"), "never inferred");
        a.note(Ino::from_kernel(1), ACL_DEFAULT);
        a.inherit(Ino::from_kernel(1), Ino::from_kernel(3), false);
        a.inherit(Ino::from_kernel(1), Ino::from_kernel(4), true);
        assert!(
            a.missing(Ino::from_kernel(3), ACL_ACCESS)
                && !a.missing(Ino::from_kernel(3), ACL_DEFAULT)
        );
        assert!(
            a.missing(Ino::from_kernel(4), ACL_ACCESS)
                && a.missing(Ino::from_kernel(4), ACL_DEFAULT)
        );
    }

    #[test]
    fn a_directory_is_probed_once_per_ttl_or_after_a_change() {
        let a = AbsentXattrs::new(LONG);
        assert_eq!(a.to_probe(Ino::from_kernel(1)), &[SELINUX, ACL_DEFAULT]);
        assert!(a.to_probe(Ino::from_kernel(1)).is_empty());
        a.changed(Ino::from_kernel(1));
        assert_eq!(a.to_probe(Ino::from_kernel(1)).len(), 2);
        assert!(AbsentXattrs::new(Duration::ZERO)
            .to_probe(Ino::from_kernel(1))
            .is_empty());
    }

    #[test]
    fn a_directory_known_to_lack_both_is_not_probed() {
        let a = AbsentXattrs::new(LONG);
        a.note(Ino::from_kernel(1), SELINUX);
        a.inherit(Ino::from_kernel(1), Ino::from_kernel(2), true);
        assert_eq!(
            a.to_probe(Ino::from_kernel(2)).len(),
            2,
            "its default ACL is not known"
        );
        a.note(Ino::from_kernel(1), ACL_DEFAULT);
        a.inherit(Ino::from_kernel(1), Ino::from_kernel(3), true);
        assert!(a.to_probe(Ino::from_kernel(3)).is_empty());
        a.changed(Ino::from_kernel(3));
        assert_eq!(a.to_probe(Ino::from_kernel(3)).len(), 2);
    }
}
