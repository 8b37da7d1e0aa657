//! What the driver needs to read an Rread's data straight into the
//! caller's buffer (`conn::placed`): the waiter of a tag, and an Rread
//! handled without its data.

use std::time::Instant;

use bytes::Bytes;

use super::{Action, Entry, Session};
use crate::ids::Tag;
use crate::wire::{Data, Rread};

impl<W> Session<W> {
    /// The waiter of the request in flight on `tag`, while its caller
    /// still waits for the first answer (not once answered, abandoned or
    /// given an error by its flush chain).
    pub fn waiter(&self, tag: Tag) -> Option<&W> {
        match self.entries.get(&tag)? {
            Entry::Request(r) => r.waiter.as_ref(),
            _ => None,
        }
    }

    /// An Rread on `tag` whose `placed` bytes of data the driver read
    /// straight into the caller's own buffer (see `conn::placed`): handled
    /// as an Rread without data, and its bytes counted all the same.
    pub fn on_placed_read_at(&mut self, tag: Tag, placed: u32, now: Instant) -> Vec<Action<W>> {
        let empty = Rread {
            data: Data(Bytes::new()),
        };
        let out = self.on_reply_at(tag, Ok(empty.into()), now);
        self.traffic.bytes_read += u64::from(placed);
        out
    }
}
