//! A request's bytes as its task owns them, and the read buffers that big
//! requests take with them.
//!
//! Why: the session reads every request into one buffer and copies each
//! out, so that the next read can start at once. For a WRITE of 1 MiB that
//! copy is a megabyte per request on our side, on top of the kernel's two
//! (into the read buffer, and the socket's). A request of
//! [`HANDED_OVER`] bytes or more takes the read buffer itself, and the
//! loop reads on into another one from a small free list; the buffer goes
//! back to the list when the request ends, so its pages stay mapped.
//! A WRITE's data then reaches the client as a slice of that buffer
//! ([`Msg::into_bytes`], [`bytes::Bytes::slice_ref`]): the socket's copy
//! is the only one left.

use std::ops::Deref;

use bytes::Bytes;
use std::sync::{Arc, Mutex};

/// Requests at least this long keep the buffer they were read into.
pub(crate) const HANDED_OVER: usize = 64 * 1024;

/// Read buffers kept for reuse: more in flight at once are allocated and
/// freed.
const KEPT: usize = 4;

/// Free read buffers of one size.
#[derive(Debug)]
pub(crate) struct Buffers {
    size: usize,
    free: Mutex<Vec<Vec<u8>>>,
}

impl Buffers {
    /// Buffers of `size` bytes.
    pub(crate) fn new(size: usize) -> Arc<Buffers> {
        Arc::new(Buffers {
            size,
            free: Mutex::new(Vec::new()),
        })
    }

    /// An empty buffer of the size: a kept one if any.
    pub(crate) fn take(&self) -> Vec<u8> {
        let kept = self.free.lock().unwrap_or_else(|e| e.into_inner()).pop();
        kept.unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    fn give(&self, mut buf: Vec<u8>) {
        let mut free = self.free.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < KEPT && buf.capacity() >= self.size {
            buf.clear();
            free.push(buf);
        }
    }

    /// Free buffers now.
    #[cfg(test)]
    fn kept(&self) -> usize {
        self.free.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

/// One request's bytes.
#[derive(Debug)]
pub(crate) struct Msg {
    bytes: Vec<u8>,
    /// Where the buffer goes back to when the request ends.
    home: Option<Arc<Buffers>>,
}

impl Msg {
    /// Bytes of the request's own.
    pub(crate) fn owned(bytes: Vec<u8>) -> Msg {
        Msg { bytes, home: None }
    }

    /// The request in `*buf` (read from the device): big, it takes the
    /// buffer, which is replaced by one of `buffers`; else a copy.
    pub(crate) fn from_read(buf: &mut Vec<u8>, buffers: &Arc<Buffers>) -> Msg {
        if buf.len() < HANDED_OVER {
            return Msg::owned(buf.clone());
        }
        Msg {
            bytes: std::mem::replace(buf, buffers.take()),
            home: Some(buffers.clone()),
        }
    }

    /// The bytes as shared ones: the buffer goes home when the last slice
    /// of it is dropped.
    pub(crate) fn into_bytes(mut self) -> Bytes {
        match self.home {
            Some(_) => Bytes::from_owner(self),
            None => Bytes::from(std::mem::take(&mut self.bytes)),
        }
    }
}

impl AsRef<[u8]> for Msg {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Deref for Msg {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        if let Some(home) = &self.home {
            home.give(std::mem::take(&mut self.bytes));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn big_requests_take_the_buffer_and_give_it_back() {
        let buffers = Buffers::new(1 << 20);
        let mut buf = buffers.take();
        buf.extend_from_slice(&[7u8; HANDED_OVER]);
        let at = buf.as_ptr();
        let msg = Msg::from_read(&mut buf, &buffers);
        assert_eq!(msg.as_ptr(), at, "no copy");
        assert!(
            buf.is_empty() && buf.capacity() >= 1 << 20,
            "a buffer to read on into"
        );
        let shared = msg.into_bytes();
        let data = shared.slice(10..20);
        drop(shared);
        assert_eq!(buffers.kept(), 0, "a slice still holds it");
        assert_eq!(data.as_ptr(), at.wrapping_add(10), "a slice, not a copy");
        drop(data);
        assert_eq!(buffers.kept(), 1);
        let again = buffers.take();
        assert_eq!(again.as_ptr(), at, "the same buffer again");
    }

    #[test]
    fn small_requests_are_copied_and_few_buffers_are_kept() {
        let buffers = Buffers::new(4096);
        let mut buf = buffers.take();
        buf.extend_from_slice(b"small");
        let msg = Msg::from_read(&mut buf, &buffers);
        assert_eq!(&*msg, b"small");
        assert_eq!(&buf[..], b"small", "the read buffer stays");
        drop(msg);
        assert_eq!(buffers.kept(), 0);
        let big: Vec<Msg> = (0..KEPT + 2)
            .map(|_| {
                let mut b = buffers.take();
                b.resize(HANDED_OVER, 1);
                Msg::from_read(&mut b, &buffers)
            })
            .collect();
        drop(big);
        assert_eq!(buffers.kept(), KEPT);
    }
}
