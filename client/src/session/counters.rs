//! What a caller can count on a connection: [`Stats`] (requests, replies,
//! flushes, violations, gauges of what is held) and [`Traffic`] (requests
//! by type, file bytes moved).

use crate::wire::{Rmessage, Tmessage};

/// Counters a caller can read (see [`super::Session::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests started (flushes not included).
    pub requests: u64,
    /// Replies that matched a request in flight.
    pub replies: u64,
    /// Tflush messages sent.
    pub flushes_sent: u64,
    /// Rflush messages received that answered a flush in flight.
    pub rflush_received: u64,
    /// Victims whose own reply came before their chain's last Rflush.
    pub victims_won: u64,
    /// Chains given up on after the last flush timed out.
    pub flushes_unconfirmed: u64,
    /// Error replies to a Tflush (a server bug).
    pub flush_errors: u64,
    /// Replies on a tag that was not in flight (late, duplicate, unknown).
    pub unknown_tag_replies: u64,
    /// Replies whose type did not answer the request on their tag.
    pub mismatched_replies: u64,
    /// Victim replies or Rflushes that came after their chain was closed.
    pub order_violations: u64,
    /// Requests found waiting longer than the watchdog's threshold (each
    /// counted once; see [`super::Session::watch`]).
    pub overdue_requests: u64,
    /// Requests in flight now (flushes not included).
    pub in_flight: usize,
    /// Tags held only because a flush chain is not settled (victims that
    /// were answered or given up on, and their flushes).
    pub quarantined: usize,
    /// Fids allocated and not yet released.
    pub fids_in_use: usize,
}

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
