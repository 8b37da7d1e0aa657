//! The 9P2000.L vocabulary on a 9P2000 or 9P2000.u connection.
//!
//! The mount (and `ninep-mount ls|cat|info`) speaks one vocabulary, the
//! 9P2000.L methods of [`File`]. On a connection that negotiated plain
//! 9P2000 or 9P2000.u, each of those methods comes here instead and is
//! carried out with the classic messages, so nothing above the client has
//! to know the dialect:
//!
//! | 9P2000.L            | 9P2000 / 9P2000.u                                    |
//! |---------------------|------------------------------------------------------|
//! | getattr             | Tstat, converted ([`convert::attr_of`])               |
//! | setattr             | Twstat with "don't touch" in every other field        |
//! | lopen, lcreate      | Topen, Tcreate (open flags -> omode, OTRUNC)          |
//! | mkdir, symlink, mknod, link | Tcreate of a clone with DMDIR, DMSYMLINK, DMDEVICE..., DMLINK (.u only but DMDIR) |
//! | readdir             | Tread of the directory: stat records -> dirents       |
//! | rename(at)          | Twstat of the name in the same directory; else EXDEV  |
//! | unlinkat            | Twalk + Tremove                                       |
//! | readlink            | the stat's extension (.u)                             |
//! | fsync               | Twstat of an all-"don't touch" stat (a sync request)  |
//! | statfs              | made up: 9P2000 has no such message                   |
//! | locks, xattrs       | ENOSYS: the server has none                           |
//!
//! Errors made here carry a Linux errno (and a text saying why); errors
//! from the server are passed on as they came, for the one errno map of
//! the mount to read.

mod attr;
pub(crate) mod convert;
mod dir;
pub mod ids;
mod names;
mod open;

use super::File;
use crate::error::{Error, RemoteError};
use crate::wire::Dialect;

/// Linux errnos of the refusals made here.
pub(crate) mod errno {
    pub const EPERM: u32 = 1;
    pub const EXDEV: u32 = 18;
    pub const ENOTDIR: u32 = 20;
    pub const EISDIR: u32 = 21;
    pub const EINVAL: u32 = 22;
    pub const ENOSYS: u32 = 38;
}

/// A refusal made here rather than by the server.
pub(crate) fn refuse(errno: u32, why: &str) -> Error {
    Error::Remote(RemoteError {
        errno: Some(errno),
        ename: Some(why.into()),
    })
}

impl File {
    /// True when the connection speaks 9P2000 or 9P2000.u: the 9P2000.L
    /// methods are then translated here.
    pub(crate) fn classic(&self) -> bool {
        self.client.dialect() != Dialect::L
    }

    /// True in 9P2000.u (numeric ids, symlinks, devices, errnos).
    pub(crate) fn unix(&self) -> bool {
        self.client.dialect() == Dialect::U
    }

    /// Locks and extended attributes do not exist in 9P2000(.u).
    pub(crate) fn no_such_message(&self, what: &str) -> Error {
        refuse(
            errno::ENOSYS,
            &format!("{what} does not exist in {}", self.client.dialect()),
        )
    }
}
