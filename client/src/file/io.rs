//! Data: single Treads and Twrites, and the multi-message reads and writes
//! that keep several in flight.

use std::sync::atomic::{AtomicBool, Ordering};

use bytes::{Bytes, BytesMut};
use futures::stream::{self, StreamExt, TryStreamExt};

use super::{File, EIO};
use crate::client::unexpected;
use crate::conn::Sink;
use crate::error::{Error, RemoteError, Result};
use crate::wire::*;

/// Most bytes [`File::read_bytes_at`] allocates at once: a larger read is
/// gathered window by window (FUSE reads, at most 1 MiB, take one).
const READ_WINDOW: u64 = 16 << 20;

/// `data` as `(offset, bytes)` pieces of at most `chunk` bytes, starting at
/// `offset`: slices of `data`, without a copy.
pub(super) fn owned_chunks(offset: u64, data: Bytes, chunk: usize) -> Vec<(u64, Bytes)> {
    let chunk = chunk.max(1);
    (0..data.len())
        .step_by(chunk)
        .map(|at| {
            let end = (at + chunk).min(data.len());
            (offset + at as u64, data.slice(at..end))
        })
        .collect()
}

impl File {
    /// One Tread of at most [`File::io_size`] bytes.
    pub async fn read(&self, offset: u64, count: u32) -> Result<Bytes> {
        let count = count.min(self.io_size());
        let r = expect!(
            self.rpc(Tread {
                fid: self.fid,
                offset,
                count
            })
            .await?,
            Rread
        )?;
        if r.data.0.len() > count as usize {
            return Err(Error::Protocol(format!(
                "Rread of {} bytes for a Tread of {count}",
                r.data.0.len()
            )));
        }
        Ok(r.data.0)
    }

    /// One Twrite; `data` must fit in [`File::io_size`]. Returns bytes written.
    pub async fn write(&self, offset: u64, data: Bytes) -> Result<u32> {
        if data.len() > self.io_size() as usize {
            return Err(Error::Invalid(format!(
                "write of {} bytes exceeds iounit",
                data.len()
            )));
        }
        let n = data.len() as u32;
        let r = expect!(
            self.rpc(Twrite {
                fid: self.fid,
                offset,
                data: Data(data)
            })
            .await?,
            Rwrite
        )?;
        if r.count > n {
            return Err(Error::Protocol(format!(
                "Rwrite of {} for {n} bytes",
                r.count
            )));
        }
        Ok(r.count)
    }

    /// Read `len` bytes from `offset` with up to `depth` Treads in flight.
    /// Stops early at end of file (a short or empty read).
    pub async fn read_at(&self, offset: u64, len: u64, depth: usize) -> Result<Vec<u8>> {
        Ok(self.read_bytes_at(offset, len, depth).await?.into())
    }

    /// [`File::read_at`], the data as `Bytes`.
    ///
    /// The Treads already sent past a short one are awaited, not dropped:
    /// dropping them would cost a Tflush each (and a wait for its Rflush),
    /// where their replies, empty at end of file, are on their way anyway.
    /// A read that fits in one message is returned as the reply's own
    /// buffer, without a copy. A longer one is read into one buffer, each
    /// Tread's data straight into its place ([`File::read_into`] on
    /// adjacent pieces of it, joined again without a copy).
    pub async fn read_bytes_at(&self, offset: u64, len: u64, depth: usize) -> Result<Bytes> {
        let chunk = u64::from(self.io_size()).max(1);
        if len == 0 {
            return Ok(Bytes::new());
        }
        if len <= chunk {
            return self.read(offset, len as u32).await;
        }
        // Set at the first short read: no further Tread is started.
        let eof = AtomicBool::new(false);
        let eof = &eof;
        let mut window = BytesMut::new();
        let pieces = (0..len.div_ceil(chunk)).map(move |i| {
            let at = i * chunk;
            let want = chunk.min(len - at) as usize;
            if window.capacity() < want {
                window = self
                    .client
                    .read_window((len - at).min(READ_WINDOW) as usize);
            }
            let rest = window.split_off(want);
            (offset + at, std::mem::replace(&mut window, rest))
        });
        let mut reads = stream::iter(pieces.take_while(|_| !eof.load(Ordering::Relaxed)))
            .map(|(off, piece)| self.read_into(off, piece))
            .buffered(depth.max(1));
        let mut out = BytesMut::new();
        while let Some(piece) = reads.next().await {
            if eof.load(Ordering::Relaxed) {
                continue;
            }
            let piece = piece?;
            eof.store(piece.len() < piece.capacity(), Ordering::Relaxed);
            // Without a copy while the pieces are adjacent in one window.
            out.unsplit(piece);
        }
        let data = out.freeze();
        self.client.keep_window(&data);
        Ok(data)
    }

    /// One Tread of as many bytes as `buf` has spare capacity (at most
    /// [`File::io_size`]), appended to `buf`; returns `buf`. The data is
    /// read from the socket straight into `buf` when it can be (see
    /// `conn::placed`), so reading into adjacent pieces of one buffer
    /// (`BytesMut::split_off`) and joining them (`unsplit`) copies nothing.
    pub async fn read_into(&self, offset: u64, buf: BytesMut) -> Result<BytesMut> {
        let count = (buf.capacity() - buf.len()).min(self.io_size() as usize);
        if count == 0 {
            return Ok(buf);
        }
        let sink = Sink::new(buf, count);
        let msg = Tread {
            fid: self.fid,
            offset,
            count: count as u32,
        };
        let r = expect!(self.client.rpc_into(msg.into(), sink.clone()).await?, Rread)?;
        let mut buf = sink
            .take()
            .ok_or_else(|| Error::Disconnected("the reader failed in an Rread".into()))?;
        // Placed already, or here (when the reader did not place it).
        if r.data.0.len() > count {
            return Err(Error::Protocol(format!(
                "Rread of {} bytes for a Tread of {count}",
                r.data.0.len()
            )));
        }
        buf.extend_from_slice(&r.data.0);
        Ok(buf)
    }

    /// Write all of `data` at `offset` with up to `depth` Twrites in flight,
    /// each at most [`File::io_size`] bytes. A short write is an error
    /// (`EIO`): 9P servers write all or fail.
    ///
    /// `data` is copied once (into a reused buffer: see `pool`) before anything is sent, so
    /// the future borrows only `self` and stays `Send` wherever it is
    /// awaited (a stream closure over borrowed slices would not be).
    pub async fn write_at(&self, offset: u64, data: &[u8], depth: usize) -> Result<()> {
        self.write_bytes_at(offset, self.client.copy_data(data), depth)
            .await
    }

    /// [`File::write_at`] of bytes the caller shares: each Twrite is sent
    /// from a slice of them, with no copy of our own.
    pub async fn write_bytes_at(&self, offset: u64, data: Bytes, depth: usize) -> Result<()> {
        let chunks = owned_chunks(offset, data, self.io_size() as usize);
        stream::iter(chunks.into_iter().map(|(off, c)| self.write_exact(off, c)))
            .buffer_unordered(depth.max(1))
            .try_collect()
            .await
    }

    /// One Twrite that must write all of `data`.
    async fn write_exact(&self, off: u64, data: Bytes) -> Result<()> {
        let want = data.len() as u32;
        match self.write(off, data).await? {
            n if n == want => Ok(()),
            n => Err(Error::Remote(RemoteError {
                errno: Some(EIO),
                ename: Some(format!("short write: {n} of {want} bytes at {off}")),
            })),
        }
    }
}
