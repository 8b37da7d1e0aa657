//! Directory listings over 9P2000(.u): the directory is read with Tread,
//! which returns whole stat records, and each stat becomes a dirent.
//!
//! A 9P2000 directory may only be read from offset 0 or from where the
//! previous read ended, so a readdir at another offset reads the listing
//! again from the start and skips to the entry asked for (a dirent's
//! offset is the index of the entry after it).

use super::convert;
use crate::error::Result;
use crate::file::File;
use crate::wire::{Dirent, Wire};

impl File {
    /// readdir_all: every entry of this (opened) directory.
    pub(crate) async fn readdir_all_by_read(&self) -> Result<Vec<Dirent>> {
        let stats = self.read_dir_stats().await?;
        Ok(stats
            .iter()
            .enumerate()
            .map(|(i, s)| convert::dirent_of(i, s))
            .collect())
    }

    /// readdir: the entries from index `offset` that fit in `count` bytes
    /// of Rreaddir (at least one, if any is left).
    pub(crate) async fn readdir_by_read(&self, offset: u64, count: u32) -> Result<Vec<Dirent>> {
        let all = self.readdir_all_by_read().await?;
        let mut used = 0;
        let skip = usize::try_from(offset).unwrap_or(usize::MAX);
        let mut out = Vec::new();
        for d in all.into_iter().skip(skip) {
            used += d.encoded_len();
            if used > count as usize && !out.is_empty() {
                break;
            }
            out.push(d);
        }
        Ok(out)
    }
}
