//! What the mount remembers of the server between requests, and, in one
//! place, what each change made through the mount makes it forget.
//!
//! The memory (all of it empty-handed with `cache=none`, whose lifetimes
//! are zero): attributes (`attr.rs`), directory listings (`dircache.rs`),
//! directories whose every name is known (`complete.rs`), names a lookup
//! found missing (`negative.rs`) and extended attributes known absent
//! (`absent.rs`). How long each is trusted is the
//! cache mode's: `cache_timeout` for all of them with `cache=loose`; with
//! `cache=cto`, attributes by the file's age (`AcTimes`), and listings,
//! names and missing names for `acdirmin` (a directory changed by someone
//! else shows its new names after that long), missing extended attributes
//! for `acregmin`. A handler that changed something
//! on the server says what happened (a name made, removed or renamed, a
//! file written, its mode changed, its extended attributes changed) and
//! [`Cache`] decides what is stale; a new operation states its events
//! here, and its cache duty is written down in one place.

use std::time::Duration;

use crate::absent::AbsentXattrs;
use crate::attr::{AttrCache, Lifetime};
use crate::complete::KnownNames;
use crate::config::{CacheMode, MountConfig};
use crate::dircache::DirCache;
use crate::ino::Ino;
use crate::kernel_view::KernelView;
use crate::negative::Negatives;

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
    /// Names a lookup found missing (`negative.rs`).
    pub missing: Negatives,
    /// What the kernel holds of each file (`kernel_view.rs`).
    pub view: KernelView,
}

impl Cache {
    /// The memory `cfg`'s cache mode asks for.
    pub(crate) fn new(cfg: &MountConfig) -> Cache {
        let life = attr_lifetime(cfg);
        let names = names_lifetime(cfg);
        let by_mtime = match cfg.cache {
            CacheMode::Cto => cfg.ac.dir_max,
            _ => Duration::ZERO,
        };
        let xattrs = match cfg.cache {
            CacheMode::Cto => cfg.ac.reg_min,
            _ => names,
        };
        Cache {
            attrs: AttrCache::new(life),
            dirs: DirCache::new(names, by_mtime),
            known: KnownNames::new(names, by_mtime),
            missing: Negatives::new(names),
            absent: AbsentXattrs::new(xattrs),
            view: KernelView::default(),
        }
    }

    /// An attempt to make `name` in `parent` (create, mkdir, symlink,
    /// mknod, link; `dir`: a directory, which changes `parent`'s link
    /// count): made, or failed (and then the name may exist after all, so
    /// what `parent` holds is no longer known).
    pub(crate) fn made(&self, parent: Ino, name: &[u8], ok: bool, dir: bool) {
        if ok {
            self.known.added(parent, name);
            self.missing.made(parent, name);
            self.names_changed(parent, dir);
            self.dirs.invalidate(&[parent]);
        } else {
            self.unsure(parent);
        }
    }

    /// A name in `parent` came or went (`dir`: a directory's, which
    /// changes `parent`'s link count by a number not every server keeps).
    fn names_changed(&self, parent: Ino, dir: bool) {
        match dir {
            true => self.attrs.invalidate(&[parent]),
            false => self.attrs.dir_changed(parent),
        }
    }

    /// `ino` changed: its data (a write, a truncation) or attributes.
    pub(crate) fn changed(&self, ino: Ino) {
        self.attrs.invalidate(&[ino]);
        self.view.ours(ino);
    }

    /// `ino`'s mode or owner changed: an access ACL, file capabilities and
    /// the like may have come or gone with it.
    pub(crate) fn perms_changed(&self, ino: Ino) {
        self.absent.changed(ino);
    }

    /// An extended attribute of `ino` was set or removed.
    pub(crate) fn xattrs_changed(&self, ino: Ino) {
        self.attrs.invalidate(&[ino]);
        self.absent.changed(ino);
    }

    /// A change to `dir` failed on the server, which may have done part
    /// of it: what it holds is no longer known.
    pub(crate) fn unsure(&self, dir: Ino) {
        self.known.forget(dir);
        self.missing.forget(dir);
    }

    /// `name` was removed from `parent` (`dir`: a directory); `victim` is
    /// the inode it named, if known and if that was its last name.
    pub(crate) fn removed(&self, parent: Ino, name: &[u8], victim: Option<Ino>, dir: bool) {
        self.known.removed(parent, name);
        self.names_changed(parent, dir);
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
        (parent, name): (Ino, &[u8]),
        (new_parent, new_name): (Ino, &[u8]),
        moved: Option<Ino>,
        replaced: Option<Ino>,
    ) {
        self.known.removed(parent, name);
        self.known.added(new_parent, new_name);
        self.missing.made(new_parent, new_name);
        if let Some(r) = replaced {
            self.known.forget(r);
        }
        let touched = [Some(parent), Some(new_parent), moved, replaced];
        let touched: Vec<Ino> = touched.into_iter().flatten().collect();
        self.attrs.invalidate(&touched);
        // Both directories' listings changed; a replaced directory is
        // gone (the moved one's entries did not change, but dropping its
        // listing costs only a Treaddir).
        self.dirs.invalidate(&touched);
    }
}

/// How long attributes are trusted in `cfg`'s cache mode.
pub(crate) fn attr_lifetime(cfg: &MountConfig) -> Lifetime {
    match cfg.cache {
        CacheMode::None => Lifetime::Zero,
        CacheMode::Cto => Lifetime::ByAge(cfg.ac),
        CacheMode::Loose => Lifetime::Fixed(cfg.ttl),
    }
}

/// How long names (and missing names) and listings are trusted in
/// `cfg`'s cache mode: by the kernel (entries) and by us.
pub(crate) fn names_lifetime(cfg: &MountConfig) -> Duration {
    match cfg.cache {
        CacheMode::None => Duration::ZERO,
        CacheMode::Cto => cfg.ac.dir_min,
        CacheMode::Loose => cfg.ttl,
    }
}
