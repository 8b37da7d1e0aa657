//! Attributes: a 9P2000.L Rgetattr as a FUSE `FileAttr` (with the `uid=`
//! and `gid=` overrides), and the attribute cache of `cache=loose`.
//!
//! The cache is an lru keyed by inode, so that the kernel's repeated
//! getattrs and lookups inside one TTL cost no round trip. Every change we
//! make through the mount invalidates the inodes it touches (the file, and
//! for namespace changes the directories), so our own writes are never
//! hidden; changes made on the server by others show after the TTL, which
//! is what `cache=loose` promises. With `cache=none` the cache is off, but
//! it keeps the attributes last given to the kernel ([`AttrCache::repeat`]):
//! the kernel asks again before it trusts attributes given with a TTL of
//! zero, so a lookup that only revalidates a name, and finds the same file
//! under it, can give them again instead of a Tgetattr.

use std::collections::HashMap;
use std::num::NonZeroUsize;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::kernel::prelude::{FileAttr, FileType, Timestamp};
use lru::LruCache;
use ninep_client::wire::Rgetattr;

use crate::config::AcTimes;
use crate::ino::Ino;

/// How many inodes' attributes the loose cache keeps: a directory of
/// 10,000 files fits (with 8,192 a `find -ls` of it after `ls -l` asked
/// for every file again). About 200 bytes each.
const CACHE_ENTRIES: usize = 32768;

/// Owner, group and permission bits shown instead of the server's
/// (`uid=`, `gid=`, `umask=`).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Overrides {
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    /// Every file's permission bits are `0777 & !umask` (as libfuse's and
    /// sshfs's `umask=`): set-uid, set-gid and sticky bits are dropped.
    pub umask: Option<u16>,
}

/// The FUSE file type of a mode.
pub(crate) fn kind_of(mode: u32) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::Directory,
        libc::S_IFLNK => FileType::Symlink,
        libc::S_IFIFO => FileType::NamedPipe,
        libc::S_IFCHR => FileType::CharDevice,
        libc::S_IFBLK => FileType::BlockDevice,
        libc::S_IFSOCK => FileType::Socket,
        _ => FileType::RegularFile,
    }
}

/// The FUSE file type of a `DT_*` directory entry type.
pub(crate) fn kind_of_dtype(ty: u8) -> FileType {
    kind_of(u32::from(ty) << 12)
}

/// The attributes the kernel gets for inode `ino`.
///
/// Values the kernel cannot hold are clamped: it takes a size or block
/// count over `i64::MAX` as a broken inode, answers EIO and keeps the
/// inode for good (it is never forgotten, so its fid would leak).
pub(crate) fn file_attr(ino: Ino, a: &Rgetattr, ov: Overrides) -> FileAttr {
    let ts = |sec: u64, nsec: u64| Timestamp::new(sec as i64, nsec.min(999_999_999) as u32);
    FileAttr {
        ino: ino.get(),
        size: a.size.min(i64::MAX as u64),
        blocks: a.blocks.min(i64::MAX as u64),
        atime: ts(a.atime_sec, a.atime_nsec),
        mtime: ts(a.mtime_sec, a.mtime_nsec),
        ctime: ts(a.ctime_sec, a.ctime_nsec),
        kind: kind_of(a.mode),
        perm: match ov.umask {
            Some(m) => 0o777 & !m,
            None => (a.mode & 0o7777) as u16,
        },
        nlink: a.nlink.min(u32::MAX as u64) as u32,
        uid: ov.uid.unwrap_or(a.uid),
        gid: ov.gid.unwrap_or(a.gid),
        rdev: rdev(a.rdev),
        blksize: match a.blksize {
            0 => 4096,
            n => n.min(1 << 20) as u32,
        },
    }
}

/// A Linux userland `dev_t` (as the server's stat gives it) in the
/// kernel's 32-bit encoding that FUSE carries: minor's low 8 bits, major's
/// 12 bits, then minor's high 12 bits.
pub(crate) fn rdev(dev: u64) -> u32 {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    ((minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12)) as u32
}

/// A kernel `dev_t` (as mknod gets it from FUSE) split into major, minor.
pub(crate) fn split_rdev(rdev: u32) -> (u32, u32) {
    let major = (rdev >> 8) & 0xfff;
    let minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    (major, minor)
}

/// How long attributes are trusted, by the kernel and by us.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Lifetime {
    /// Never (`cache=none`).
    Zero,
    /// For a fixed time (`cache=loose`'s `cache_timeout`).
    Fixed(Duration),
    /// By the file's age (`cache=cto`, see [`AcTimes`]).
    ByAge(AcTimes),
}

impl Lifetime {
    /// How long attributes `a`, fetched now, are trusted.
    pub(crate) fn of(&self, a: &Rgetattr) -> Duration {
        match self {
            Lifetime::Zero => Duration::ZERO,
            Lifetime::Fixed(d) => *d,
            Lifetime::ByAge(ac) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs());
                ac.lifetime(a.mode & libc::S_IFMT, a.mtime_sec, now)
            }
        }
    }

    /// Whether nothing is ever trusted.
    pub(crate) fn is_zero(&self) -> bool {
        matches!(self, Lifetime::Zero | Lifetime::Fixed(Duration::ZERO))
    }
}

/// Our clock's time now, as 9P's seconds and nanoseconds: the times of a
/// change we made, until the server's own come with a Tgetattr.
fn now_stamp() -> (u64, u64) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    (now.as_secs(), u64::from(now.subsec_nanos()))
}

/// The attribute cache (see the module doc); a zero lifetime disables it.
#[derive(Debug)]
pub(crate) struct AttrCache {
    life: Lifetime,
    inner: Mutex<Inner>,
}

#[derive(Debug)]
struct Inner {
    /// Each inode's attributes and the time they stop being trusted.
    lru: LruCache<Ino, (Instant, Rgetattr)>,
    /// Inodes whose attributes a background Tgetattr is fetching (a create
    /// answered early, `early.rs`), and whether anything put or dropped
    /// theirs since it was sent: then its answer may be older than what
    /// happened since (a write), and is not kept.
    settling: HashMap<Ino, bool>,
}

impl Inner {
    /// Note a change to `ino`'s entry for a background fetch in flight.
    fn touched(&mut self, ino: Ino) {
        if let Some(t) = self.settling.get_mut(&ino) {
            *t = true;
        }
    }
}

impl AttrCache {
    /// A cache whose entries live as `life` says.
    pub(crate) fn new(life: Lifetime) -> AttrCache {
        AttrCache {
            life,
            inner: Mutex::new(Inner {
                lru: LruCache::new(NonZeroUsize::new(CACHE_ENTRIES).expect("non-zero")),
                settling: HashMap::new(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The attributes of `ino`, if still trusted.
    pub(crate) fn get(&self, ino: Ino) -> Option<Rgetattr> {
        if self.life.is_zero() {
            return None;
        }
        let lru = &mut self.lock().lru;
        match lru.get(&ino) {
            Some((until, a)) if Instant::now() < *until => Some(a.clone()),
            Some(_) => {
                lru.pop(&ino);
                None
            }
            None => None,
        }
    }

    /// How much longer the attributes cached for `ino` are trusted, if
    /// any are.
    pub(crate) fn trusted_for(&self, ino: Ino) -> Option<Duration> {
        let until = self.lock().lru.peek(&ino).map(|(until, _)| *until)?;
        Some(until.saturating_duration_since(Instant::now()))
    }

    /// Remember `a` as the attributes of `ino`, fetched just now (with
    /// `cache=none` too: see [`AttrCache::repeat`]).
    pub(crate) fn put(&self, ino: Ino, a: &Rgetattr) {
        let until = Instant::now() + self.life.of(a);
        let mut g = self.lock();
        g.touched(ino);
        g.lru.put(ino, (until, a.clone()));
    }

    /// A background Tgetattr of `ino` is about to be sent: its answer is
    /// kept ([`AttrCache::settled`]) only if nothing puts or drops the
    /// inode's attributes meanwhile.
    pub(crate) fn settling(&self, ino: Ino) {
        self.lock().settling.insert(ino, false);
    }

    /// The background Tgetattr of `ino` answered `a` (or failed: `None`).
    /// Returns whether `a` was kept.
    pub(crate) fn settled(&self, ino: Ino, a: Option<&Rgetattr>) -> bool {
        let mut g = self.lock();
        let touched = g.settling.remove(&ino).unwrap_or(true);
        match a {
            Some(a) if !touched => {
                g.lru
                    .put(ino, (Instant::now() + self.life.of(a), a.clone()));
                true
            }
            _ => false,
        }
    }

    /// With `cache=none` only: the attributes last given to the kernel for
    /// `ino`, to give again in an entry for the same file (same qid). The
    /// kernel stores attributes given with a TTL of zero as expired at once
    /// (`attr_valid` 0 is time 0 to it), and fetches them afresh (FUSE
    /// getattr) before a stat, a permission check or an lseek to the end.
    /// One use skips that: an `O_APPEND` write starts at the size the
    /// kernel holds. A 9P2000.L server appends by itself (the open passed
    /// `O_APPEND` on); a 9P2000 or .u one would overwrite, so with
    /// `appends` false (those dialects) only directories and symlinks are
    /// repeated. Our own writes and truncations drop a file's entry
    /// ([`AttrCache::invalidate`]), so its next lookup fetches its size.
    pub(crate) fn repeat(&self, ino: Ino, appends: bool) -> Option<Rgetattr> {
        if !self.life.is_zero() {
            return None;
        }
        let a = self.lock().lru.get(&ino).map(|(_, a)| a.clone())?;
        let fmt = a.mode & libc::S_IFMT;
        (appends || fmt == libc::S_IFDIR || fmt == libc::S_IFLNK).then_some(a)
    }

    /// A name was made or removed in directory `ino` through the mount
    /// (not a directory: its link count stays): with the page cache, its
    /// cached attributes, if any, get the times of the change (our clock)
    /// instead of being dropped, so the getattr the kernel sends after each
    /// change costs no round trip (a `rm -rf` or `git add` changes one
    /// directory over and over). The server's own times replace them at
    /// the next Tgetattr. With `cache=none`, as [`AttrCache::invalidate`].
    pub(crate) fn dir_changed(&self, ino: Ino) {
        if self.life.is_zero() {
            return self.invalidate(&[ino]);
        }
        let mut g = self.lock();
        g.touched(ino);
        let Some((until, mut a)) = g.lru.pop(&ino) else {
            return;
        };
        if Instant::now() >= until {
            return;
        }
        (a.mtime_sec, a.mtime_nsec) = now_stamp();
        (a.ctime_sec, a.ctime_nsec) = (a.mtime_sec, a.mtime_nsec);
        let until = Instant::now() + self.life.of(&a);
        g.lru.put(ino, (until, a));
    }

    /// `ino` got one more name through the mount (a Tlink): its cached
    /// attributes, if trusted still, with one more link and the change
    /// time of now (our clock), trusted no longer than they were. The
    /// server's own replace them at the next Tgetattr.
    pub(crate) fn linked(&self, ino: Ino) -> Option<Rgetattr> {
        if self.life.is_zero() {
            return None;
        }
        let mut g = self.lock();
        g.touched(ino);
        let (until, a) = g.lru.get_mut(&ino)?;
        if Instant::now() >= *until {
            return None;
        }
        a.nlink += 1;
        (a.ctime_sec, a.ctime_nsec) = now_stamp();
        Some(a.clone())
    }

    /// Forget what is cached for each of `inos` (a change we made). With
    /// `cache=none` only files other than directories are forgotten (their
    /// size may have changed: see [`AttrCache::repeat`]); a directory's
    /// entry stays, so a storm of creates in it costs no Tgetattr of it.
    pub(crate) fn invalidate(&self, inos: &[Ino]) {
        let mut g = self.lock();
        for ino in inos {
            g.touched(*ino);
            let dir = |a: &Rgetattr| a.mode & libc::S_IFMT == libc::S_IFDIR;
            if self.life.is_zero() && g.lru.peek(ino).is_some_and(|(_, a)| dir(a)) {
                continue;
            }
            g.lru.pop(ino);
        }
    }
}

/// Attributes for unit tests: a file of `mode` owned by `uid`:`gid`.
#[cfg(test)]
pub(crate) fn sample(mode: u32, uid: u32, gid: u32) -> Rgetattr {
    Rgetattr {
        valid: 0x7ff,
        qid: Default::default(),
        mode,
        uid,
        gid,
        nlink: 1,
        rdev: 0,
        size: 0,
        blksize: 4096,
        blocks: 0,
        atime_sec: 1,
        atime_nsec: 2,
        mtime_sec: 3,
        mtime_nsec: 4,
        ctime_sec: 5,
        ctime_nsec: 6,
        btime_sec: 0,
        btime_nsec: 0,
        gen: 0,
        data_version: 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_numbers_reencode() {
        // makedev(8, 1) in glibc is 0x801; the kernel's encoding too.
        assert_eq!(rdev(0x801), 0x801);
        // makedev(259, 300): glibc puts minor's high bits at 12..
        let glibc = (300 & 0xff) | ((259 & 0xfff) << 8) | ((300u64 & !0xff) << 12);
        let k = rdev(glibc);
        assert_eq!(split_rdev(k), (259, 300));
        assert_eq!(split_rdev(0x801), (8, 1));
    }

    #[test]
    fn modes_map_to_kinds() {
        assert_eq!(kind_of(0o040755), FileType::Directory);
        assert_eq!(kind_of(0o100644), FileType::RegularFile);
        assert_eq!(kind_of(0o120777), FileType::Symlink);
        assert_eq!(kind_of_dtype(4), FileType::Directory);
        assert_eq!(kind_of_dtype(10), FileType::Symlink);
        assert_eq!(kind_of_dtype(0), FileType::RegularFile);
    }

    #[test]
    fn overrides_and_perm_bits() {
        let a = sample(0o104755, 5, 6);
        let f = file_attr(Ino::from_kernel(9), &a, Overrides::default());
        assert_eq!((f.ino, f.perm, f.uid, f.gid), (9, 0o4755, 5, 6));
        assert_eq!((f.mtime.sec, f.mtime.nsec), (3, 4));
        let ov = Overrides {
            uid: Some(1),
            gid: Some(2),
            umask: None,
        };
        let f = file_attr(Ino::from_kernel(9), &a, ov);
        assert_eq!((f.uid, f.gid, f.perm), (1, 2, 0o4755));
        let ov = Overrides {
            umask: Some(0o027),
            ..Overrides::default()
        };
        assert_eq!(file_attr(Ino::from_kernel(9), &a, ov).perm, 0o750);
    }

    #[test]
    fn a_link_adds_to_trusted_attributes_without_extending_their_trust() {
        let f = sample(0o100644, 0, 0);
        let c = AttrCache::new(Lifetime::Fixed(Duration::from_secs(60)));
        assert!(
            c.linked(Ino::from_kernel(5)).is_none(),
            "nothing cached: nothing made up"
        );
        c.put(Ino::from_kernel(5), &f);
        let left = c.trusted_for(Ino::from_kernel(5)).expect("cached");
        let a = c.linked(Ino::from_kernel(5)).expect("trusted");
        assert_eq!(
            (a.nlink, a.mtime_sec, a.size),
            (f.nlink + 1, f.mtime_sec, f.size)
        );
        assert!(a.ctime_sec > f.ctime_sec);
        assert_eq!(
            c.get(Ino::from_kernel(5)).map(|a| a.nlink),
            Some(f.nlink + 1)
        );
        assert!(c.trusted_for(Ino::from_kernel(5)).expect("cached") <= left);
        let none = AttrCache::new(Lifetime::Zero);
        none.put(Ino::from_kernel(5), &f);
        assert!(none.linked(Ino::from_kernel(5)).is_none());
    }

    #[test]
    fn a_directory_changed_through_the_mount_keeps_its_attributes_with_new_times() {
        let dir = sample(0o040755, 0, 0);
        let c = AttrCache::new(Lifetime::Fixed(Duration::from_secs(60)));
        c.put(Ino::from_kernel(5), &dir);
        c.dir_changed(Ino::from_kernel(5));
        let a = c.get(Ino::from_kernel(5)).expect("kept");
        assert!(a.mtime_sec > dir.mtime_sec && a.ctime_sec == a.mtime_sec);
        assert_eq!((a.nlink, a.mode, a.size), (dir.nlink, dir.mode, dir.size));
        c.dir_changed(Ino::from_kernel(6));
        assert!(
            c.get(Ino::from_kernel(6)).is_none(),
            "nothing cached: nothing made up"
        );
        // cache=none keeps the kernel's last attributes (for `repeat`) as
        // they were.
        let none = AttrCache::new(Lifetime::Zero);
        none.put(Ino::from_kernel(5), &dir);
        none.dir_changed(Ino::from_kernel(5));
        assert_eq!(
            none.repeat(Ino::from_kernel(5), true).map(|a| a.mtime_sec),
            Some(dir.mtime_sec)
        );
    }

    #[test]
    fn the_cache_expires_and_is_off_without_a_ttl() {
        let a = sample(0o100644, 0, 0);
        let off = AttrCache::new(Lifetime::Zero);
        off.put(Ino::from_kernel(1), &a);
        assert!(off.get(Ino::from_kernel(1)).is_none());
        let on = AttrCache::new(Lifetime::Fixed(Duration::from_secs(60)));
        on.put(Ino::from_kernel(1), &a);
        assert!(on.get(Ino::from_kernel(1)).is_some());
        on.invalidate(&[Ino::from_kernel(1)]);
        assert!(on.get(Ino::from_kernel(1)).is_none());
    }

    #[test]
    fn a_background_answer_is_kept_only_if_nothing_changed_the_inode_meanwhile() {
        let c = AttrCache::new(Lifetime::Fixed(Duration::from_secs(60)));
        let old = sample(0o100644, 0, 0);
        let new = sample(0o100600, 0, 0);
        c.settling(Ino::from_kernel(1));
        assert!(c.settled(Ino::from_kernel(1), Some(&old)));
        assert_eq!(c.get(Ino::from_kernel(1)).map(|a| a.mode), Some(0o100644));
        // A write dropped the entry while the Tgetattr was out.
        c.settling(Ino::from_kernel(2));
        c.invalidate(&[Ino::from_kernel(2)]);
        assert!(!c.settled(Ino::from_kernel(2), Some(&old)));
        assert!(c.get(Ino::from_kernel(2)).is_none());
        // A setattr's answer came first: it stays.
        c.settling(Ino::from_kernel(3));
        c.put(Ino::from_kernel(3), &new);
        assert!(!c.settled(Ino::from_kernel(3), Some(&old)));
        assert_eq!(c.get(Ino::from_kernel(3)).map(|a| a.mode), Some(0o100600));
        // A failed fetch ends the watch; later changes are plain ones.
        c.settling(Ino::from_kernel(4));
        assert!(!c.settled(Ino::from_kernel(4), None));
        assert!(
            !c.settled(Ino::from_kernel(4), Some(&old)),
            "no longer settling"
        );
        assert!(c.get(Ino::from_kernel(4)).is_none());
    }

    #[test]
    fn cache_none_repeats_what_the_kernel_holds_but_no_stale_file_size() {
        let none = AttrCache::new(Lifetime::Zero);
        let (dir, file) = (
            sample(libc::S_IFDIR | 0o755, 0, 0),
            sample(libc::S_IFREG, 0, 0),
        );
        none.put(Ino::from_kernel(2), &dir);
        none.put(Ino::from_kernel(3), &file);
        assert!(
            none.get(Ino::from_kernel(2)).is_none() && none.get(Ino::from_kernel(3)).is_none(),
            "never fresh"
        );
        assert!(
            none.repeat(Ino::from_kernel(2), false).is_some(),
            "a directory in any dialect"
        );
        assert!(
            none.repeat(Ino::from_kernel(3), false).is_none(),
            "a file's size in 9P2000"
        );
        assert!(
            none.repeat(Ino::from_kernel(3), true).is_some(),
            "a file in 9P2000.L"
        );
        // Our own changes: a file's size may have moved, a directory's
        // attributes matter to no kernel use without a getattr first.
        none.invalidate(&[Ino::from_kernel(2), Ino::from_kernel(3)]);
        assert!(none.repeat(Ino::from_kernel(2), true).is_some());
        assert!(none.repeat(Ino::from_kernel(3), true).is_none());
        let loose = AttrCache::new(Lifetime::Fixed(Duration::from_secs(60)));
        loose.put(Ino::from_kernel(2), &dir);
        assert!(
            loose.get(Ino::from_kernel(2)).is_some()
                && loose.repeat(Ino::from_kernel(2), true).is_none()
        );
        loose.invalidate(&[Ino::from_kernel(2)]);
        assert!(loose.get(Ino::from_kernel(2)).is_none());
    }
}
