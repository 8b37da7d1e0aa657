//! setattr: chmod, chown, truncate and utimes as one Tsetattr.
//!
//! Times: `utimensat(UTIME_NOW)` reaches the server as "now" (the
//! `ATIME`/`MTIME` bit without `*_SET`), as the kernel sends it
//! (FATTR_ATIME_NOW / FATTR_MTIME_NOW): the server then uses its own
//! clock and, like the kernel, lets a writer who is not the owner do it.
//!
//! With `cache=loose` on 9P2000.L, a setattr of times alone (`touch`,
//! `utimes`) is answered from the attributes we hold with those times
//! applied, not from a Tgetattr after the Tsetattr: a "now" and the new
//! ctime are then our clock's, not the server's, until the TTL ends. That
//! was a round trip in five of `touch` on a new file; the `touch` of a file
//! still settling after its create goes out at once (`early.rs`).

use std::time::{SystemTime, UNIX_EPOCH};

use crate::kernel::prelude::SetAttr as FuseSetAttr;
use crate::kernel::prelude::*;
use ninep_client::wire::{setattr, Rgetattr};
use ninep_client::SetAttr;

use super::Fs;
use crate::errno::Fail;
use crate::handles::Handle;
use crate::ino::Ino;

/// Whether Tsetattr `s` sets times and nothing else.
fn times_only(s: &SetAttr) -> bool {
    use setattr::{ATIME, ATIME_SET, CTIME, MTIME, MTIME_SET};
    s.valid != 0 && s.valid & !(ATIME | MTIME | ATIME_SET | MTIME_SET | CTIME) == 0
}

/// What `a` becomes by Tsetattr `s`, if `s` sets times and nothing else;
/// "now" (and ctime) is `now`.
pub(crate) fn times_applied(a: &Rgetattr, s: &SetAttr, now: SystemTime) -> Option<Rgetattr> {
    use setattr::{ATIME, ATIME_SET, MTIME, MTIME_SET};
    if !times_only(s) {
        return None;
    }
    let now = now.duration_since(UNIX_EPOCH).ok()?;
    let now = (now.as_secs(), u64::from(now.subsec_nanos()));
    let pick = |set: u32, given: (u64, u64)| if s.valid & set != 0 { given } else { now };
    let mut b = a.clone();
    if s.valid & ATIME != 0 {
        (b.atime_sec, b.atime_nsec) = pick(ATIME_SET, (s.atime_sec, s.atime_nsec));
    }
    if s.valid & MTIME != 0 {
        (b.mtime_sec, b.mtime_nsec) = pick(MTIME_SET, (s.mtime_sec, s.mtime_nsec));
    }
    (b.ctime_sec, b.ctime_nsec) = now;
    Some(b)
}

/// The Tsetattr for a FUSE setattr.
pub(crate) fn to_9p(set: &FuseSetAttr) -> SetAttr {
    let mut s = SetAttr::default();
    if let Some(mode) = set.mode {
        s.valid |= setattr::MODE;
        s.mode = mode & 0o7777;
    }
    if let Some(uid) = set.uid {
        s.valid |= setattr::UID;
        s.uid = uid;
    }
    if let Some(gid) = set.gid {
        s.valid |= setattr::GID;
        s.gid = gid;
    }
    if let Some(size) = set.size {
        s.valid |= setattr::SIZE;
        s.size = size;
    }
    if let Some(t) = set.atime {
        s.valid |= setattr::ATIME;
        if let SetTime::At(t) = t {
            s.valid |= setattr::ATIME_SET;
            (s.atime_sec, s.atime_nsec) = (t.sec as u64, t.nsec.into());
        }
    }
    if let Some(t) = set.mtime {
        s.valid |= setattr::MTIME;
        if let SetTime::At(t) = t {
            s.valid |= setattr::MTIME_SET;
            (s.mtime_sec, s.mtime_nsec) = (t.sec as u64, t.nsec.into());
        }
    }
    if set.ctime.is_some() {
        s.valid |= setattr::CTIME;
    }
    s
}

impl Fs {
    pub(crate) async fn do_setattr(
        &self,
        req: &Request,
        ino: Ino,
        fh: Option<u64>,
        set: FuseSetAttr,
    ) -> Result<ReplyAttr, Fail> {
        let s = to_9p(&set);
        let s = &s;
        let uid = self.who(req);
        // The `touch` of a file just created (`early.rs`).
        if let Some(open) = fh
            .is_none()
            .then(|| self.early.open_of(ino, uid))
            .flatten()
            .and_then(|fh| self.handles.file(fh))
        {
            if let Some(reply) = self.times_while_settling(ino, s, &open.file).await? {
                return Ok(reply);
            }
        }
        // Loose attributes held now, for a change of times alone (looked
        // up only then: every other setattr asks the server afterwards).
        let held = (times_only(s) && self.appends())
            .then(|| self.cache.attrs.get(ino))
            .flatten();
        if s.valid != 0 {
            self.cache.changed(ino);
        }
        // A chmod changes an access ACL; a chown drops file capabilities.
        if s.valid & (setattr::MODE | setattr::UID | setattr::GID) != 0 {
            self.cache.perms_changed(ino);
        }
        // A truncation holds off the prefetch's stores (see `prefetch.rs`).
        let _writer = match set.size {
            Some(_) => self.writer(ino, libc::O_TRUNC as u32).await,
            None => None,
        };
        // ftruncate(2) and friends go through the open fid: it still works
        // on a file unlinked since it was opened.
        let handle = fh.and_then(|fh| self.open_handle(fh));
        let handle = handle.as_ref().and_then(Handle::file);
        if s.valid != 0 {
            match handle {
                Some(f) => f.setattr(s).await?,
                None => {
                    self.with_fid(ino, uid, |f| async move { f.setattr(s).await })
                        .await?
                }
            }
        }
        if let Some(a) = held.and_then(|a| times_applied(&a, s, SystemTime::now())) {
            self.cache.attrs.put(ino, &a);
            return Ok(self.attr_reply(ino, &a));
        }
        let a = match handle {
            Some(f) => self.attrs_via(ino, f).await?,
            None => self.attrs(ino, uid).await?,
        };
        Ok(self.attr_reply(ino, &a))
    }
}

impl Fs {
    /// A setattr `s` of `ino`, a file still settling after its create
    /// (`early.rs`), through `open`, the create's open fid: if `s` sets
    /// times alone, its Tsetattr goes out at once, alongside the Tgetattr
    /// in the background, and the answer is those attributes with the
    /// times applied. `None` (nothing sent) for any other change: it waits
    /// for the attributes, then takes the usual way.
    async fn times_while_settling(
        &self,
        ino: Ino,
        s: &SetAttr,
        open: &ninep_client::File,
    ) -> Result<Option<ReplyAttr>, Fail> {
        if !times_only(s) {
            return Ok(None);
        }
        // "Now" is when the server is asked, not when its answer comes.
        let now = SystemTime::now();
        let (set, ()) = tokio::join!(open.setattr(s), self.early.settled(ino));
        set?;
        let a = match self.cache.attrs.get(ino) {
            Some(a) => a,
            None => self.attrs_via(ino, open).await?,
        };
        // `s` sets times alone: applying it cannot fail.
        let a = times_applied(&a, s, now).unwrap_or(a);
        self.cache.attrs.put(ino, &a);
        Ok(Some(self.attr_reply(ino, &a)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn now_is_sent_without_the_set_bits_and_times_with_them() {
        // A given time as close to our clock as can be is still a given
        // time: only the kernel's "now" leaves the time to the server.
        let recent = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
        let set = FuseSetAttr {
            atime: Some(SetTime::Now),
            mtime: Some(SetTime::At(Timestamp::new(1_234_567_890, 5))),
            mode: Some(0o100644),
            size: Some(7),
            ..Default::default()
        };
        let s = to_9p(&set);
        let want = setattr::ATIME | setattr::MTIME | setattr::MTIME_SET;
        assert_eq!(s.valid, want | setattr::MODE | setattr::SIZE);
        assert_eq!((s.mtime_sec, s.mtime_nsec), (1_234_567_890, 5));
        assert_eq!((s.mode, s.size), (0o644, 7));
        let just_now = Timestamp::new(recent.as_secs() as i64, recent.subsec_nanos());
        let set = FuseSetAttr {
            mtime: Some(SetTime::At(just_now)),
            ..Default::default()
        };
        assert_eq!(to_9p(&set).valid, setattr::MTIME | setattr::MTIME_SET);
    }

    #[test]
    fn times_alone_are_applied_to_the_held_attributes() {
        let a = Rgetattr {
            valid: 0x7ff,
            qid: Default::default(),
            mode: 0o100644,
            uid: 0,
            gid: 0,
            nlink: 1,
            rdev: 0,
            size: 9,
            blksize: 4096,
            blocks: 0,
            atime_sec: 1,
            atime_nsec: 0,
            mtime_sec: 2,
            mtime_nsec: 0,
            ctime_sec: 3,
            ctime_nsec: 0,
            btime_sec: 0,
            btime_nsec: 0,
            gen: 0,
            data_version: 0,
        };
        let now = UNIX_EPOCH + Duration::new(1000, 7);
        let mut s = SetAttr {
            valid: setattr::ATIME | setattr::MTIME | setattr::MTIME_SET,
            mtime_sec: 50,
            mtime_nsec: 5,
            ..SetAttr::default()
        };
        let b = times_applied(&a, &s, now).expect("times only");
        assert_eq!((b.atime_sec, b.atime_nsec), (1000, 7), "now");
        assert_eq!((b.mtime_sec, b.mtime_nsec), (50, 5), "given");
        assert_eq!((b.ctime_sec, b.size, b.mode), (1000, 9, 0o100644));
        s.valid |= setattr::SIZE;
        assert!(
            times_applied(&a, &s, now).is_none(),
            "a size: ask the server"
        );
        assert!(times_applied(&a, &SetAttr::default(), now).is_none());
    }
}
