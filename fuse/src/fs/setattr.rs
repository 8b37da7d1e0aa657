//! setattr: chmod, chown, truncate and utimes as one Tsetattr.
//!
//! Times: `utimensat(UTIME_NOW)` must reach the server as "now" (the
//! `ATIME`/`MTIME` bit without `*_SET`): the server then uses its own clock
//! and, like the kernel, lets a writer who is not the owner do it. fuse3
//! 0.10 replaces FATTR_ATIME_NOW / FATTR_MTIME_NOW with the daemon's
//! `SystemTime::now()` before we see the request, so a time within
//! [`NOW_WINDOW`] of our clock is taken for "now". An explicit time that
//! close to the present (a `cp -p` of a file written a moment ago) is then
//! set to the server's clock instead, at most that far off.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fuse3::raw::prelude::*;
use fuse3::{SetAttr as FuseSetAttr, Timestamp};
use ninep_client::wire::setattr;
use ninep_client::SetAttr;

use super::Fs;
use crate::errno::Fail;

/// How close to our clock a time must be to count as `UTIME_NOW`.
const NOW_WINDOW: Duration = Duration::from_millis(50);

/// Whether `ts` is what fuse3 made of a `UTIME_NOW`.
fn is_now(ts: Timestamp) -> bool {
    let Ok(sec) = u64::try_from(ts.sec) else {
        return false;
    };
    let t = UNIX_EPOCH + Duration::new(sec, ts.nsec.min(999_999_999));
    SystemTime::now()
        .duration_since(t)
        .is_ok_and(|ago| ago <= NOW_WINDOW)
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
        if !is_now(t) {
            s.valid |= setattr::ATIME_SET;
            (s.atime_sec, s.atime_nsec) = (t.sec as u64, t.nsec.into());
        }
    }
    if let Some(t) = set.mtime {
        s.valid |= setattr::MTIME;
        if !is_now(t) {
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
        ino: u64,
        fh: Option<u64>,
        set: FuseSetAttr,
    ) -> Result<ReplyAttr, Fail> {
        let s = to_9p(&set);
        let s = &s;
        if s.valid != 0 {
            self.attrs.invalidate(&[ino]);
        }
        // A truncation holds off the prefetch's stores (see `prefetch.rs`).
        let _writer = match set.size {
            Some(_) => self.writer(ino, libc::O_TRUNC as u32).await,
            None => None,
        };
        // ftruncate(2) and friends go through the open fid: it still works
        // on a file unlinked since it was opened.
        let a = match fh.and_then(|fh| self.open_handle(fh)) {
            Some(h) => {
                if s.valid != 0 {
                    h.file().setattr(s).await?;
                }
                self.attrs_via(ino, h.file()).await?
            }
            None => {
                let uid = self.who(req);
                if s.valid != 0 {
                    self.with_fid(ino, uid, |f| async move { f.setattr(s).await })
                        .await?;
                }
                self.attrs(ino, uid).await?
            }
        };
        Ok(self.attr_reply(ino, &a))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn now_is_sent_without_the_set_bits_and_times_with_them() {
        let now: Timestamp = SystemTime::now().into();
        let set = FuseSetAttr {
            atime: Some(now),
            mtime: Some(Timestamp::new(1_234_567_890, 5)),
            mode: Some(0o100644),
            size: Some(7),
            ..Default::default()
        };
        let s = to_9p(&set);
        let want = setattr::ATIME | setattr::MTIME | setattr::MTIME_SET;
        assert_eq!(s.valid, want | setattr::MODE | setattr::SIZE);
        assert_eq!((s.mtime_sec, s.mtime_nsec), (1_234_567_890, 5));
        assert_eq!((s.mode, s.size), (0o644, 7));
        assert!(!is_now(Timestamp::new(-1, 0)));
    }
}
