//! The plain 9P2000 (and 9P2000.u) operations: open, create, stat, wstat,
//! and directory reads as packed stats.

use super::{name, File};
use crate::client::unexpected;
use crate::error::Result;
use crate::wire::*;

impl File {
    /// Open with a 9P2000 mode (`omode::*`).
    pub async fn open(&mut self, mode: u8) -> Result<Qid> {
        let r = expect!(
            self.rpc(Topen {
                fid: self.fid,
                mode
            })
            .await?,
            Ropen
        )?;
        self.iounit = r.iounit;
        Ok(r.qid)
    }

    /// Create and open `name` (9P2000/.u); this handle becomes the new file.
    /// `extension` is sent only in 9P2000.u.
    pub async fn create(
        &mut self,
        name_: impl AsRef<[u8]>,
        perm: u32,
        mode: u8,
        extension: impl AsRef<[u8]>,
    ) -> Result<Qid> {
        let ext = self
            .client
            .dialect()
            .has_unix_extensions()
            .then(|| name(extension))
            .transpose()?;
        let msg = Tcreate {
            fid: self.fid,
            name: name(name_)?,
            perm,
            mode,
            extension: ext,
        };
        let r = expect!(self.rpc(msg).await?, Rcreate)?;
        self.qid = r.qid;
        self.iounit = r.iounit;
        Ok(r.qid)
    }

    /// The 9P2000 stat.
    pub async fn stat(&self) -> Result<Stat> {
        Ok(expect!(self.rpc(Tstat { fid: self.fid }).await?, Rstat)?
            .stat
            .0)
    }

    /// Change the 9P2000 stat.
    pub async fn wstat(&self, stat: Stat) -> Result<()> {
        let msg = Twstat {
            fid: self.fid,
            stat: WrappedStat(stat),
        };
        expect!(self.rpc(msg).await?, Rwstat).map(drop)
    }

    /// Every stat of this (opened) 9P2000 directory, by repeated Tread.
    pub async fn read_dir_stats(&self) -> Result<Vec<Stat>> {
        let mut all = Vec::new();
        let mut offset = 0;
        loop {
            let data = self.read(offset, self.io_size()).await?;
            if data.is_empty() {
                return Ok(all);
            }
            offset += data.len() as u64;
            all.extend(parse_stats(data, self.client.dialect())?);
        }
    }
}
