//! POSIX byte-range locks (fcntl F_GETLK / F_SETLK / F_SETLKW) onto
//! Tgetlock and Tlock on the open file's fid.
//!
//! A blocking lock is not sent as a blocking Tlock (which would hold a
//! server thread for as long as the lock is held elsewhere): we ask
//! without blocking and, on `BLOCKED`, ask again after a short backoff,
//! checking between tries whether the FUSE request was interrupted, so a
//! signal ends the wait with `EINTR` at once.
//!
//! FUSE also wants the locks of a lock owner dropped at each close (FUSE
//! flush), since the kernel keeps no record of them: a close by an owner
//! that took a lock through the handle sends an unlock of the whole file
//! then (a 9P lock belongs to the fid); other owners' closes send nothing
//! (see `LockOwners`).

use std::time::Duration;

use crate::kernel::prelude::*;
use ninep_client::wire::{lock, Rgetlock};
use ninep_client::LockSpec;

use super::Fs;
use crate::errno::Fail;
use crate::handles::OpenFile;

/// The client id sent with every lock.
const CLIENT_ID: &str = "ninep-mount";
/// First and longest pause between tries of a blocking lock.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(5), Duration::from_millis(100));
/// `OFFSET_MAX`: the end of a lock that runs to the end of the file.
const TO_EOF: u64 = i64::MAX as u64;

/// A lock over `start..=end` of type `ty` (F_RDLCK 0, F_WRLCK 1, F_UNLCK 2,
/// the same numbers as 9P's) for process `pid`.
pub(crate) fn spec(ty: u32, start: u64, end: u64, pid: u32) -> LockSpec {
    let length = if end >= TO_EOF || end < start {
        0
    } else {
        end - start + 1
    };
    LockSpec {
        ty: ty as u8,
        start,
        length,
        proc_id: pid,
        client_id: CLIENT_ID.into(),
    }
}

/// The FUSE answer to F_GETLK from an Rgetlock.
pub(crate) fn reply_lock(g: &Rgetlock, asked: &LockSpec) -> ReplyLock {
    if g.ty == lock::UNLCK {
        return ReplyLock {
            start: asked.start,
            end: asked.start,
            r#type: libc::F_UNLCK as u32,
            pid: 0,
        };
    }
    let end = match g.length {
        0 => TO_EOF,
        n => g.start.saturating_add(n - 1),
    };
    ReplyLock {
        start: g.start,
        end,
        r#type: u32::from(g.ty),
        pid: g.proc_id,
    }
}

impl Fs {
    pub(crate) async fn do_getlk(
        &self,
        fh: u64,
        start: u64,
        end: u64,
        ty: u32,
        pid: u32,
    ) -> Result<ReplyLock, Fail> {
        let h = self.handles.file(fh).ok_or(Fail(libc::EBADF))?;
        let asked = spec(ty, start, end, pid);
        let g = h.file.getlock(&asked).await?;
        Ok(reply_lock(&g, &asked))
    }

    /// F_SETLK (`block` false) or F_SETLKW for FUSE request `unique`.
    pub(crate) async fn do_setlk(
        &self,
        unique: u64,
        fh: u64,
        lock_owner: u64,
        l: LockSpec,
        block: bool,
    ) -> Result<(), Fail> {
        let h = self.handles.file(fh).ok_or(Fail(libc::EBADF))?;
        let mut pause = BACKOFF.0;
        loop {
            match h.file.lock(&l, 0).await? {
                lock::SUCCESS => {
                    if l.ty != lock::UNLCK {
                        h.lock_owners.add(lock_owner);
                    }
                    return Ok(());
                }
                lock::BLOCKED | lock::GRACE if block => {
                    if self.intr.cancelled(unique) {
                        return Err(Fail(libc::EINTR));
                    }
                    tokio::time::sleep(pause).await;
                    if self.intr.cancelled(unique) {
                        return Err(Fail(libc::EINTR));
                    }
                    pause = (pause * 2).min(BACKOFF.1);
                }
                lock::BLOCKED | lock::GRACE => return Err(Fail(libc::EAGAIN)),
                _ => return Err(Fail(libc::ENOLCK)),
            }
        }
    }

    /// Release every lock of the handle (FUSE flush of a lock owner).
    pub(crate) async fn unlock_owner(&self, h: &OpenFile) -> Result<(), Fail> {
        let l = spec(lock::UNLCK.into(), 0, TO_EOF, 0);
        match h.file.lock(&l, 0).await {
            Ok(_) => Ok(()),
            // A server without locks has none to release.
            Err(e) => match Fail::from(e) {
                f if super::unsupported(&f) => Ok(()),
                f => Err(f),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_to_the_end_have_length_zero() {
        assert_eq!(spec(1, 0, TO_EOF, 7).length, 0);
        assert_eq!(spec(1, 10, 19, 7).length, 10);
        assert_eq!(spec(0, 5, 5, 7).length, 1);
    }

    #[test]
    fn a_conflict_is_reported_with_its_range() {
        let asked = spec(1, 0, TO_EOF, 7);
        let g = Rgetlock {
            ty: lock::WRLCK,
            start: 100,
            length: 10,
            proc_id: 42,
            client_id: "x".into(),
        };
        let r = reply_lock(&g, &asked);
        assert_eq!((r.start, r.end, r.r#type, r.pid), (100, 109, 1, 42));
        let free = Rgetlock {
            ty: lock::UNLCK,
            ..g
        };
        assert_eq!(reply_lock(&free, &asked).r#type, libc::F_UNLCK as u32);
    }
}
