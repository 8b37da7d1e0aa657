//! What went over a connection: requests by type and file bytes moved.

use crate::wire::{Rmessage, Tmessage};

/// Requests by type and bytes moved (see [`super::Session::traffic`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Traffic {
    /// Requests started, by message name (`Tread`, ...), in the order each
    /// type was first seen. Tflush sent by the session is not included.
    pub requests_by_type: Vec<(&'static str, u64)>,
    /// Bytes of file data received in Rread.
    pub bytes_read: u64,
    /// Bytes of file data the server said it wrote (Rwrite counts).
    pub bytes_written: u64,
}

impl Traffic {
    /// How many requests of type `name` were started.
    pub fn requests(&self, name: &str) -> u64 {
        self.requests_by_type
            .iter()
            .find(|(n, _)| *n == name)
            .map_or(0, |&(_, c)| c)
    }

    pub(super) fn count_request(&mut self, msg: &Tmessage) {
        let name = msg.name();
        // About thirty types at most: a linear search is the cheapest.
        match self.requests_by_type.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => self.requests_by_type.push((name, 1)),
        }
    }

    pub(super) fn count_reply(&mut self, r: &Rmessage) {
        match r {
            Rmessage::Rread(r) => self.bytes_read += r.data.0.len() as u64,
            Rmessage::Rwrite(w) => self.bytes_written += u64::from(w.count),
            _ => {}
        }
    }
}
