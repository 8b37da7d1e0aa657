//! Pipelined writes (and the xattr writes built on them), from the
//! client's one-message `File::write`.
//!
//! fuse3 needs every handler's future to be `Send`. The futures of the
//! client's `File::write_at` and `File::xattr_set` are not, as rustc sees
//! them: their stream closure borrows each chunk of the caller's slice,
//! and rustc cannot prove the resulting future `Send` for every lifetime
//! (the "implementation of `FnOnce` is not general enough" error). Here
//! the chunks are copied into owned buffers first, which keeps the
//! futures free of such borrows.

use bytes::Bytes;
use futures::stream::{self, StreamExt, TryStreamExt};
use ninep_client::wire::{Rmessage, Txattrcreate};
use ninep_client::{Error, File, RemoteError, Result};

/// Write all of `data` at `offset`, up to `depth` Twrites in flight, each
/// at most the file's I/O size. A short write is an error (`EIO`): 9P
/// servers write all or fail.
pub(crate) async fn write_all(file: &File, offset: u64, data: &[u8], depth: usize) -> Result<()> {
    let chunk = (file.io_size() as usize).max(1);
    let parts: Vec<(u64, Bytes)> = data
        .chunks(chunk)
        .enumerate()
        .map(|(i, c)| (offset + (i * chunk) as u64, Bytes::copy_from_slice(c)))
        .collect();
    stream::iter(
        parts
            .into_iter()
            .map(|(off, buf)| write_one(file, off, buf)),
    )
    .buffer_unordered(depth.max(1))
    .try_collect()
    .await
}

async fn write_one(file: &File, off: u64, buf: Bytes) -> Result<()> {
    let want = buf.len() as u32;
    match file.write(off, buf).await? {
        n if n == want => Ok(()),
        n => Err(Error::Remote(RemoteError {
            errno: Some(libc::EIO as u32),
            ename: Some(format!("short write: {n} of {want} bytes at {off}")),
        })),
    }
}

/// Set extended attribute `name` of `file` to `value` (`flags`:
/// XATTR_CREATE 1, XATTR_REPLACE 2); an empty value with no flags removes
/// it. The server applies it when the attribute fid is clunked, so the
/// clunk's answer is the result.
pub(crate) async fn xattr_set(file: &File, name: &str, value: &[u8], flags: u32) -> Result<()> {
    let attr = file.walk::<&[u8]>(&[]).await?;
    let name = ninep_client::wire::NineStr::new(Bytes::copy_from_slice(name.as_bytes()))
        .ok_or_else(|| Error::Invalid("xattr name over 64 KiB".into()))?;
    let msg = Txattrcreate {
        fid: attr.fid(),
        name,
        attr_size: value.len() as u64,
        flags,
    };
    match file.client().rpc(msg).await? {
        Rmessage::Rxattrcreate(_) => {}
        r => return Err(Error::Protocol(format!("unexpected {}", r.name()))),
    }
    let written = write_all(&attr, 0, value, 1).await;
    let clunked = attr.clunk().await;
    written.and(clunked)
}
