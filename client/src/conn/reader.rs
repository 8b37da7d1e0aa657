//! The reader task: frames from the socket, each handed to the session by
//! tag (or its data placed in the caller's buffer: see [`super::placed`]).

use std::collections::VecDeque;
use std::sync::Arc;

use bytes::{BufMut, BytesMut};
use tokio::io::AsyncReadExt;

use super::placed::{self, PEEK};
use super::ConnCore;
use crate::transport::ReadHalf;
use crate::wire::{FrameDecoder, Rmessage, RREAD_HEAD};

/// Size of the reader's buffers (at least one whole frame: see
/// [`read_loop`]); it reads into a buffer while a quarter of it is free, so
/// one read takes several replies when many are queued.
const READ_CHUNK: usize = 256 << 10;
/// Bytes of read buffers kept for reuse once the replies sliced out of them
/// are dropped (see [`next_read_buffer`]); at least two buffers.
const SPARE_READ_BYTES: usize = 2 << 20;

pub(super) async fn read_loop(shared: Arc<ConnCore>, mut r: ReadHalf) {
    let decoder = FrameDecoder {
        msize: shared.msize,
        dialect: shared.dialect,
    };
    // A buffer holds a whole frame of the largest size, so that a frame
    // split over two reads is copied at most once, into the next buffer.
    let size = READ_CHUNK.max(shared.msize as usize);
    let mut buf = BytesMut::with_capacity(size);
    let keep = (SPARE_READ_BYTES / size).max(2);
    let mut spare = VecDeque::with_capacity(keep + 1);
    loop {
        loop {
            match placed::place(&shared, &mut r, &mut buf).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => return shared.close(e),
            }
            match decoder.decode::<Rmessage>(&mut buf) {
                Ok(Some((tag, reply))) => shared.dispatch(tag, reply),
                Ok(None) => break,
                Err(e) => return shared.close(format!("bad frame from server: {e}")),
            }
        }
        if buf.capacity() - buf.len() < size / 4 {
            next_read_buffer(&mut buf, &mut spare, size, keep);
        }
        // In small steps while sinks wait, but a frame that is not placed
        // (a reply without a sink) is read whole, not a PEEK at a time.
        let step = match shared.placing() {
            true => PEEK.max(rest_of_frame(&buf)),
            false => size,
        };
        match r.read_buf(&mut (&mut buf).limit(step)).await {
            Ok(0) if buf.is_empty() => return shared.close("server closed the connection".into()),
            Ok(0) => {
                return shared.close(format!(
                    "server closed the connection in the middle of a frame ({} bytes pending)",
                    buf.len()
                ))
            }
            Ok(_) => {}
            Err(e) => return shared.close(format!("read: {e}")),
        }
    }
}

/// The bytes still missing of the frame `buf` starts (its size field was
/// checked against msize by the decoder already); 0 while its first
/// [`RREAD_HEAD`] bytes are not all in (it may be an Rread to place).
fn rest_of_frame(buf: &[u8]) -> usize {
    match buf.get(..RREAD_HEAD) {
        Some(b) => {
            (u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize).saturating_sub(buf.len())
        }
        None => 0,
    }
}

/// Give the reader room for `size` more bytes, keeping what `buf` holds (the
/// start of a frame); `spare` holds up to `keep` earlier buffers.
///
/// Replies are sliced out of the read buffer without copying, so a buffer is
/// free again only once the callers have dropped their replies. Letting
/// `BytesMut::reserve` allocate afresh each time the buffer is still shared
/// costs a new allocation every few frames, which the allocator often
/// serves with pages it has just given back to the kernel: with 16 Treads
/// of 64 KiB in flight, up to a fifth of the client's CPU time went to page
/// faults and `brk`. So the reader keeps its last few buffers and reuses
/// one as soon as nothing points into it any more.
fn next_read_buffer(buf: &mut BytesMut, spare: &mut VecDeque<BytesMut>, size: usize, keep: usize) {
    if buf.try_reclaim(size) {
        return;
    }
    // The newest free one first: it is the likeliest still in the cache.
    let reclaimed = spare
        .iter_mut()
        .rposition(|s| s.try_reclaim(size))
        .and_then(|i| spare.remove(i));
    let mut next =
        reclaimed.unwrap_or_else(|| BytesMut::with_capacity(size.max(buf.len() + size / 4)));
    next.extend_from_slice(buf);
    let mut old = std::mem::replace(buf, next);
    old.clear();
    spare.push_back(old);
    if spare.len() > keep {
        spare.pop_front();
    }
}
