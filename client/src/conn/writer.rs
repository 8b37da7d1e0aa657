//! The writer task and what it sends: an [`Outbox`] of frames, where the
//! data of a large Twrite is not copied in but kept as the caller's
//! `Bytes` and sent by a vectored write after the frame's head.
//!
//! Why: a FUSE write of 1 MiB is copied once into `Bytes` pieces for its
//! Twrites; copying each piece again into the write buffer cost about a
//! third of the mount's memmove time on `dd bs=1M` (perf).

use std::collections::VecDeque;
use std::io::IoSlice;
use std::sync::Arc;

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::AsyncWriteExt;

use super::ConnCore;
use crate::ids::Tag;
use crate::transport::WriteHalf;
use crate::wire::{encode_frame_split, Tmessage};

/// The writer gives its buffer back only up to this size; a burst of big
/// writes should not pin megabytes for the life of the connection.
const KEEP_WRITE_BUFFER: usize = 4 << 20;

/// Frames queued for the writer: their bytes in `buf`, except Twrite data
/// kept aside in `data`, each to be sent once `buf` has been sent up to
/// its offset. As a [`Buf`], it is the byte stream in order.
#[derive(Debug, Default)]
pub(super) struct Outbox {
    buf: BytesMut,
    /// How much of `buf` was sent.
    at: usize,
    /// Data to insert after `buf[..offset]`, by offset.
    data: VecDeque<(usize, Bytes)>,
    data_len: usize,
}

impl Outbox {
    /// Queue `msg` on `tag`.
    pub(super) fn push(&mut self, tag: Tag, msg: &Tmessage) {
        if let Some(d) = encode_frame_split(tag, msg, &mut self.buf) {
            self.data_len += d.len();
            self.data.push_back((self.buf.len(), d));
        }
    }

    fn is_empty(&self) -> bool {
        !self.has_remaining()
    }

    /// Empty again, keeping the buffer unless it grew too big.
    fn clear(&mut self) {
        self.buf.clear();
        self.at = 0;
        self.data.clear();
        self.data_len = 0;
        if self.buf.capacity() > KEEP_WRITE_BUFFER {
            self.buf = BytesMut::new();
        }
    }

    /// The end of the stretch of `buf` before the next data.
    fn stretch_end(&self) -> usize {
        self.data.front().map_or(self.buf.len(), |(k, _)| *k)
    }
}

impl Buf for Outbox {
    fn remaining(&self) -> usize {
        self.buf.len() - self.at + self.data_len
    }

    fn chunk(&self) -> &[u8] {
        match self.data.front() {
            Some((k, d)) if *k == self.at => d,
            _ => &self.buf[self.at..self.stretch_end()],
        }
    }

    fn advance(&mut self, mut n: usize) {
        while n > 0 {
            match self.data.front_mut() {
                Some((k, d)) if *k == self.at => {
                    let m = n.min(d.len());
                    d.advance(m);
                    self.data_len -= m;
                    n -= m;
                    if d.is_empty() {
                        self.data.pop_front();
                    }
                }
                _ => {
                    let m = n.min(self.stretch_end() - self.at);
                    if m == 0 {
                        // Past the end: nothing more to skip.
                        return;
                    }
                    self.at += m;
                    n -= m;
                }
            }
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [IoSlice<'a>]) -> usize {
        let mut at = self.at;
        let mut filled = 0;
        let mut data = self.data.iter().peekable();
        while filled < dst.len() {
            let piece: &[u8] = match data.peek() {
                Some((k, d)) if *k == at => {
                    data.next();
                    d
                }
                next => {
                    let end = next.map_or(self.buf.len(), |(k, _)| *k);
                    let s = &self.buf[at..end];
                    at = end;
                    s
                }
            };
            if piece.is_empty() {
                break;
            }
            dst[filled] = IoSlice::new(piece);
            filled += 1;
        }
        filled
    }
}

/// Sends whatever was queued since its last write, in one go.
pub(super) async fn write_loop(shared: Arc<ConnCore>, mut w: WriteHalf) {
    let mut spare = Outbox::default();
    loop {
        shared.wake_writer.notified().await;
        let mut out = {
            let mut st = shared.lock();
            if st.closed.is_some() {
                break;
            }
            std::mem::replace(&mut st.out, spare)
        };
        if !out.is_empty() {
            if let Err(e) = w.write_all_buf(&mut out).await {
                return shared.close(format!("write: {e}"));
            }
        }
        out.clear();
        spare = out;
    }
    let _ = w.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Fid;
    use crate::wire::{encode_frame, Data, Tclunk, Twrite, SPLIT_MIN};

    fn msgs() -> Vec<Tmessage> {
        let write = |len: usize| {
            Tmessage::from(Twrite {
                fid: Fid(1),
                offset: len as u64,
                data: Data((0..len).map(|i| i as u8).collect::<Vec<_>>().into()),
            })
        };
        let clunk = Tmessage::from(Tclunk { fid: Fid(2) });
        vec![
            write(SPLIT_MIN),
            write(SPLIT_MIN + 3),
            clunk.clone(),
            write(10),
            write(SPLIT_MIN * 2),
            clunk,
        ]
    }

    fn expected() -> Vec<u8> {
        let mut want = BytesMut::new();
        for (i, m) in msgs().iter().enumerate() {
            encode_frame(Tag(i as u16), m, &mut want);
        }
        want.to_vec()
    }

    fn outbox() -> Outbox {
        let mut out = Outbox::default();
        for (i, m) in msgs().iter().enumerate() {
            out.push(Tag(i as u16), m);
        }
        assert_eq!(out.data.len(), 3, "the three big Twrites keep their data");
        out
    }

    #[test]
    fn chunks_and_odd_advances_give_the_frames_in_order() {
        let mut out = outbox();
        let mut got = Vec::new();
        let mut step = 1;
        while out.has_remaining() {
            let n = out.chunk().len().min(step);
            got.extend_from_slice(&out.chunk()[..n]);
            out.advance(n);
            step = step * 3 % 997 + 1;
        }
        assert_eq!(got, expected());
    }

    #[test]
    fn vectored_chunks_give_the_frames_in_order() {
        for room in [1, 2, 64] {
            let mut out = outbox();
            let mut got = Vec::new();
            while out.has_remaining() {
                let mut slices = vec![IoSlice::new(&[]); room];
                let n = out.chunks_vectored(&mut slices);
                assert!(n > 0);
                // Take all but a few bytes, as a short write would.
                let mut all: Vec<u8> = slices[..n].iter().flat_map(|s| s.to_vec()).collect();
                all.truncate(all.len().saturating_sub(5).max(1));
                out.advance(all.len());
                got.extend_from_slice(&all);
            }
            assert_eq!(got, expected(), "{room} slices");
            out.clear();
            assert!(out.is_empty());
        }
    }
}
