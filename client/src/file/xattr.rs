//! Extended attributes (9P2000.L): Txattrwalk to read, Txattrcreate to
//! write; the value is set when the attribute fid is clunked.

use bytes::Bytes;

use super::{name, File};
use crate::client::unexpected;
use crate::error::Result;
use crate::wire::*;

impl File {
    /// The value of extended attribute `name` (9P2000.L).
    pub async fn xattr_get(&self, name_: impl AsRef<[u8]>) -> Result<Vec<u8>> {
        if self.classic() {
            return Err(self.no_such_message("Txattrwalk"));
        }
        let name = name(name_)?;
        let (newfid, size) = self
            .client
            .with_new_fid(|newfid| {
                let msg = Txattrwalk {
                    fid: self.fid,
                    newfid,
                    name: name.clone(),
                };
                async move { Ok((newfid, expect!(self.rpc(msg).await?, Rxattrwalk)?.size)) }
            })
            .await?;
        let attr = File::new(self.client.clone(), newfid, self.qid);
        let out = attr.read_at(0, size, 4).await;
        attr.clunk().await?;
        out
    }

    /// The names of all extended attributes (9P2000.L).
    pub async fn xattr_list(&self) -> Result<Vec<NineStr>> {
        let raw = self.xattr_get("").await?;
        Ok(raw
            .split(|&b| b == 0)
            .filter(|n| !n.is_empty())
            .map(|n| NineStr::new(Bytes::copy_from_slice(n)).unwrap_or_default())
            .collect())
    }

    /// Set extended attribute `name` (`flags`: XATTR_CREATE 1, XATTR_REPLACE
    /// 2). The server applies it when the attribute fid is clunked, so the
    /// clunk's answer is the result.
    pub async fn xattr_set(&self, name_: impl AsRef<[u8]>, value: &[u8], flags: u32) -> Result<()> {
        if self.classic() {
            return Err(self.no_such_message("Txattrcreate"));
        }
        let attr = self.walk::<&str>(&[]).await?;
        let msg = Txattrcreate {
            fid: attr.fid,
            name: name(name_)?,
            attr_size: value.len() as u64,
            flags,
        };
        if let Err(e) = self.rpc(msg).await.and_then(|r| expect!(r, Rxattrcreate)) {
            attr.clunk().await.ok();
            return Err(e);
        }
        let written = attr.write_at(0, value, 1).await;
        let clunked = attr.clunk().await;
        written.and(clunked)
    }

    /// Remove extended attribute `name`: an xattrcreate of size 0 (9P2000.L).
    pub async fn xattr_remove(&self, name_: impl AsRef<[u8]>) -> Result<()> {
        self.xattr_set(name_, &[], 0).await
    }
}
