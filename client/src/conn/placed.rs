//! Rread data read from the socket straight into the caller's buffer.
//!
//! Why: a FUSE read of 1 MiB from a server granting 64 KiB messages is 16
//! Treads, and joining their replies (slices of the reader's buffer) into
//! the one buffer handed to the kernel cost about an eighth of the mount's
//! CPU time (perf, `dd bs=1M`), plus page faults on the reader's buffers
//! that the replies kept alive.
//!
//! A caller that reads into a buffer of its own hands it over with its
//! Tread as a [`Sink`]. When the reader finds the header of a well-formed
//! Rread whose caller still waits with a sink that has room for the data,
//! it copies the part of the data it has already read and reads the rest
//! from the socket into the sink; the Rread then goes through the session
//! without data, and the caller takes its buffer back from the sink. Any
//! other frame, also an Rread too big for its sink, takes the usual way
//! (and its checks). While sinks are out, the reader reads little at a time
//! into its own buffer ([`PEEK`]), so that the next data lands in place.

use std::sync::{Arc, Mutex};

use bytes::{Buf, BufMut, BytesMut};
use tokio::io::AsyncReadExt;

use super::ConnCore;
use crate::transport::ReadHalf;
use crate::wire::{peek_rread, RREAD_HEAD};

/// How much the reader reads into its own buffer at a time while sinks are
/// out: the next frame's header and a little more (a run of Rreads to
/// place is the case worth it; small replies in between still come several
/// to a read).
pub(super) const PEEK: usize = 1024;

/// Where the data of one Rread goes: the spare capacity of a buffer, up to
/// `room` bytes (what the Tread asked for).
#[derive(Clone, Debug)]
pub(crate) struct Sink {
    slot: Arc<Mutex<Option<BytesMut>>>,
    room: usize,
}

impl Sink {
    /// A sink for at most `room` bytes appended to `buf` (no more than its
    /// spare capacity: the reader must never make it grow).
    pub(crate) fn new(buf: BytesMut, room: usize) -> Sink {
        let room = room.min(buf.capacity() - buf.len());
        Sink {
            slot: Arc::new(Mutex::new(Some(buf))),
            room,
        }
    }

    /// The buffer, with whatever the reader placed in it; `None` only if
    /// the reader failed while it held it (the connection is closed then).
    pub(crate) fn take(&self) -> Option<BytesMut> {
        self.slot.lock().unwrap_or_else(|e| e.into_inner()).take()
    }

    fn put(&self, buf: BytesMut) {
        *self.slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(buf);
    }
}

/// If `buf` starts with an Rread whose caller waits with a sink that can
/// take its data, move the data there (reading the rest of it from `r`)
/// and hand the Rread on. `Ok(false)`: nothing placed, decode the frame as
/// usual. An error closes the connection.
pub(super) async fn place(
    shared: &ConnCore,
    r: &mut ReadHalf,
    buf: &mut BytesMut,
) -> Result<bool, String> {
    let Some((tag, count)) = peek_rread(buf, shared.msize) else {
        return Ok(false);
    };
    let count = count as usize;
    let Some(sink) = shared.sink_of(tag).filter(|s| count <= s.room) else {
        return Ok(false);
    };
    let Some(mut dest) = sink.take() else {
        return Ok(false);
    };
    buf.advance(RREAD_HEAD);
    let have = count.min(buf.len());
    dest.extend_from_slice(&buf[..have]);
    buf.advance(have);
    let end = dest.len() + (count - have);
    while dest.len() < end {
        let want = end - dest.len();
        match r.read_buf(&mut (&mut dest).limit(want)).await {
            Ok(0) => {
                return Err(format!(
                    "server closed the connection in the middle of an Rread ({want} bytes missing)"
                ))
            }
            Ok(_) => {}
            Err(e) => return Err(format!("read: {e}")),
        }
    }
    sink.put(dest);
    shared.dispatch_placed(tag, count as u32);
    Ok(true)
}
