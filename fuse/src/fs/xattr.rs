//! Extended attributes: getxattr, listxattr, setxattr, removexattr onto
//! Txattrwalk (+ Tread) and Txattrcreate (+ Twrite, applied at clunk).
//!
//! The kernel asks for a value or list with a buffer size: 0 means "how
//! big is it?" (answered with the size), too small a buffer is `ERANGE`.
//! Removal is an xattrcreate of size 0, as in v9fs. With `cache=loose` an
//! attribute found missing stays missing for the TTL (`absent.rs`), unless
//! we set or remove one on the inode.

use crate::kernel::prelude::*;

use super::Fs;
use crate::errno::Fail;
use crate::ino::Ino;
use crate::names::no_nul;

/// The reply to a get or list of `value` with a buffer of `size` bytes.
pub(crate) fn sized(value: Vec<u8>, size: u32) -> Result<ReplyXAttr, Fail> {
    match size {
        0 => Ok(ReplyXAttr::Size(
            u32::try_from(value.len()).map_err(|_| Fail(libc::E2BIG))?,
        )),
        n if value.len() > n as usize => Err(Fail(libc::ERANGE)),
        _ => Ok(ReplyXAttr::Data(value.into())),
    }
}

impl Fs {
    pub(crate) async fn do_getxattr(
        &self,
        req: &Request,
        ino: Ino,
        name: &[u8],
        size: u32,
    ) -> Result<ReplyXAttr, Fail> {
        let name = no_nul(name)?;
        if self.cache.absent.missing(ino, name) {
            return Err(Fail(libc::ENODATA));
        }
        let value = self
            .with_fid(
                ino,
                self.who(req),
                |f| async move { f.xattr_get(name).await },
            )
            .await;
        if let Err(Fail(libc::ENODATA)) = value {
            self.cache.absent.note(ino, name);
        }
        sized(value?, size)
    }

    pub(crate) async fn do_listxattr(
        &self,
        req: &Request,
        ino: Ino,
        size: u32,
    ) -> Result<ReplyXAttr, Fail> {
        let names = self
            .with_fid(ino, self.who(req), |f| async move { f.xattr_list().await })
            .await?;
        let mut list = Vec::new();
        for n in names {
            list.extend_from_slice(n.as_bytes());
            list.push(0);
        }
        sized(list, size)
    }

    pub(crate) async fn do_setxattr(
        &self,
        req: &Request,
        ino: Ino,
        name: &[u8],
        value: &[u8],
        flags: u32,
    ) -> Result<(), Fail> {
        let name = no_nul(name)?;
        self.cache.xattrs_changed(ino);
        self.with_fid(ino, self.who(req), |f| async move {
            f.xattr_set(name, value, flags).await
        })
        .await
    }

    pub(crate) async fn do_removexattr(
        &self,
        req: &Request,
        ino: Ino,
        name: &[u8],
    ) -> Result<(), Fail> {
        let name = no_nul(name)?;
        self.cache.xattrs_changed(ino);
        self.with_fid(
            ino,
            self.who(req),
            |f| async move { f.xattr_remove(name).await },
        )
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_queries_and_small_buffers() {
        assert_eq!(sized(b"abc".to_vec(), 0), Ok(ReplyXAttr::Size(3)));
        assert_eq!(sized(b"abc".to_vec(), 2), Err(Fail(libc::ERANGE)));
        assert_eq!(
            sized(b"abc".to_vec(), 3),
            Ok(ReplyXAttr::Data(b"abc"[..].into()))
        );
    }
}
