//! What the mount remembers of the server between requests, and, in one
//! place, what each change made through the mount makes it forget.
//!
//! The memory (all of it empty-handed with `cache=none`, whose lifetimes
//! are zero): attributes (`attr.rs`), directory listings (`dircache.rs`),
//! directories whose every name is known (`complete.rs`) and extended
//! attributes known absent (`absent.rs`). A handler that changed something
//! on the server says what happened (a name made, removed or renamed, a
//! file written, its mode changed, its extended attributes changed) and
//! [`Cache`] decides what is stale; a new operation states its events
//! here, and its cache duty is written down in one place.

use crate::absent::AbsentXattrs;
use crate::attr::AttrCache;
use crate::complete::KnownNames;
use crate::dircache::DirCache;

/// The mount's memory of the server (see the module doc).
#[derive(Debug)]
pub(crate) struct Cache {
    pub attrs: AttrCache,
    /// Directory listings.
    pub dirs: DirCache,
    /// Directories whose every name is known.
    pub known: KnownNames,
    /// Extended attributes known to be missing.
    pub absent: AbsentXattrs,
}

impl Cache {
    /// Memory kept for `ttl` (zero: nothing kept).
    pub(crate) fn new(ttl: std::time::Duration) -> Cache {
        Cache {
            attrs: AttrCache::new(ttl),
            dirs: DirCache::new(ttl),
            known: KnownNames::new(ttl),
            absent: AbsentXattrs::new(ttl),
        }
    }

    /// An attempt to make `name` in `parent` (create, mkdir, symlink,
    /// mknod, link): made, or failed (and then the name may exist after
    /// all, so what `parent` holds is no longer known).
    pub(crate) fn made(&self, parent: u64, name: &[u8], ok: bool) {
        if ok {
            self.known.added(parent, name);
            self.attrs.invalidate(&[parent]);
            self.dirs.invalidate(&[parent]);
        } else {
            self.known.forget(parent);
        }
    }

    /// `ino` changed: its data (a write, a truncation) or attributes.
    pub(crate) fn changed(&self, ino: u64) {
        self.attrs.invalidate(&[ino]);
    }

    /// `ino`'s mode or owner changed: an access ACL, file capabilities and
    /// the like may have come or gone with it.
    pub(crate) fn perms_changed(&self, ino: u64) {
        self.absent.changed(ino);
    }

    /// An extended attribute of `ino` was set or removed.
    pub(crate) fn xattrs_changed(&self, ino: u64) {
        self.attrs.invalidate(&[ino]);
        self.absent.changed(ino);
    }

    /// A change to `dir` failed on the server, which may have done part
    /// of it: what it holds is no longer known.
    pub(crate) fn unsure(&self, dir: u64) {
        self.known.forget(dir);
    }

    /// `name` was removed from `parent`; `victim` is the inode it named,
    /// if known and if that was its last name.
    pub(crate) fn removed(&self, parent: u64, name: &[u8], victim: Option<u64>) {
        self.known.removed(parent, name);
        self.attrs.invalidate(&[parent]);
        self.dirs.invalidate(&[parent]);
        if let Some(v) = victim {
            self.attrs.invalidate(&[v]);
            self.dirs.invalidate(&[v]);
            self.known.forget(v);
        }
    }

    /// `name` in `parent` was renamed to `new_name` in `new_parent`;
    /// `moved` is the inode moved and `replaced` the one the target named
    /// before, if known.
    pub(crate) fn renamed(
        &self,
        (parent, name): (u64, &[u8]),
        (new_parent, new_name): (u64, &[u8]),
        moved: Option<u64>,
        replaced: Option<u64>,
    ) {
        self.known.removed(parent, name);
        self.known.added(new_parent, new_name);
        if let Some(r) = replaced {
            self.known.forget(r);
        }
        let touched = [Some(parent), Some(new_parent), moved, replaced];
        let touched: Vec<u64> = touched.into_iter().flatten().collect();
        self.attrs.invalidate(&touched);
        // Both directories' listings changed; a replaced directory is
        // gone (the moved one's entries did not change, but dropping its
        // listing costs only a Treaddir).
        self.dirs.invalidate(&touched);
    }
}
