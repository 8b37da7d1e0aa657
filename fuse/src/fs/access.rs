//! access(2), asked only without `default_permissions`.
//!
//! 9P has no message for it, so the answer comes from the mode bits the
//! server reports, checked for the caller: owner, then group (the caller's
//! primary group and the supplementary groups of its process, read from
//! `/proc`), then others; root passes except for execute, which needs some
//! execute bit on a non-directory. This is an answer, not an enforcement:
//! with `access=user` the server still checks every real operation as the
//! caller, so a wrong "yes" only delays the error to the operation itself.
//! Answering from the mode keeps tools that ask first honest (`rm`
//! prompting for a write-protected file, `test -w`, shells looking up
//! commands).

use crate::kernel::prelude::*;

use super::Fs;
use crate::errno::Fail;
use crate::ino::Ino;
use crate::users::groups_of;

/// Who asks, for [`allowed`].
pub(crate) struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

/// Whether `caller` may access a file of `mode` owned by `uid`:`gid` as
/// `mask` (`R_OK`/`W_OK`/`X_OK` bits; `F_OK` is 0).
pub(crate) fn allowed(mode: u32, uid: u32, gid: u32, caller: &Caller, mask: u32) -> bool {
    let want = mask & 0o7;
    if caller.uid == 0 {
        let is_dir = mode & libc::S_IFMT == libc::S_IFDIR;
        return want & libc::X_OK as u32 == 0 || is_dir || mode & 0o111 != 0;
    }
    let bits = if caller.uid == uid {
        mode >> 6
    } else if caller.gid == gid || caller.groups.contains(&gid) {
        mode >> 3
    } else {
        mode
    } & 0o7;
    want & !bits == 0
}

impl Fs {
    pub(crate) async fn do_access(&self, req: &Request, ino: Ino, mask: u32) -> Result<(), Fail> {
        let a = self.attrs(ino, self.who(req)).await?;
        if mask & 0o7 == 0 {
            return Ok(());
        }
        let ov = self.overrides();
        let caller = Caller {
            uid: req.uid,
            gid: req.gid,
            groups: groups_of(req.pid),
        };
        let (uid, gid) = (ov.uid.unwrap_or(a.uid), ov.gid.unwrap_or(a.gid));
        match allowed(a.mode, uid, gid, &caller, mask) {
            true => Ok(()),
            false => Err(Fail(libc::EACCES)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: u32 = 4;
    const W: u32 = 2;
    const X: u32 = 1;

    fn who(uid: u32, gid: u32, groups: &[u32]) -> Caller {
        Caller {
            uid,
            gid,
            groups: groups.to_vec(),
        }
    }

    #[test]
    fn owner_group_other_in_that_order() {
        let file = libc::S_IFREG | 0o640;
        assert!(allowed(file, 10, 20, &who(10, 99, &[]), R | W));
        assert!(!allowed(file, 10, 20, &who(10, 99, &[]), X));
        assert!(allowed(file, 10, 20, &who(11, 20, &[]), R));
        assert!(!allowed(file, 10, 20, &who(11, 20, &[]), W));
        assert!(allowed(file, 10, 20, &who(11, 5, &[7, 20]), R));
        assert!(!allowed(file, 10, 20, &who(11, 5, &[7]), R));
        // The owner's bits apply to the owner even when others have more.
        assert!(!allowed(
            libc::S_IFREG | 0o047,
            10,
            20,
            &who(10, 20, &[]),
            R
        ));
    }

    #[test]
    fn root_needs_an_execute_bit_only_to_execute() {
        let root = who(0, 0, &[]);
        assert!(allowed(libc::S_IFREG, 1, 1, &root, R | W));
        assert!(!allowed(libc::S_IFREG | 0o600, 1, 1, &root, X));
        assert!(allowed(libc::S_IFREG | 0o001, 1, 1, &root, X));
        assert!(allowed(libc::S_IFDIR, 1, 1, &root, X));
    }
}
