//! Flush chains: cancelling a request with one or more Tflush, and what
//! each Rflush, error reply and timeout does to the victim and its tags.

use std::time::Instant;

use super::{Action, Entry, Retired, Session};
use crate::error::Error;
use crate::ids::Tag;
use crate::wire::DecodeError;
use crate::wire::{Rmessage, Tflush, Tmessage};

/// The flushes sent for one victim.
#[derive(Debug, Default)]
pub(super) struct Chain {
    /// Tflush tags not answered yet, in the order sent. An Rflush to one
    /// answers it and every earlier one (rule 2).
    pub flushes: Vec<Tag>,
    /// Tflush sent in all, answered or not (bounded by the policy).
    pub sent: u32,
    /// When to flush again, or give up.
    pub deadline: Option<Instant>,
    /// The victim's own reply (or its failure) was handed over; its tag
    /// waits for the last Rflush (rule 3).
    pub replied: bool,
    /// The last flush timed out: the caller was told, tags are quarantined.
    pub gave_up: bool,
    /// The chain's last Rflush came before the victim's reply on a server
    /// that has broken the order: the tag waits for that late reply.
    pub closed: bool,
}

impl<W> Session<W> {
    /// Cancel request `id` on `tag`: send a Tflush for it, unless it has
    /// been answered, or already had the policy's maximum of flushes (the
    /// deadline then decides). Each call may send one more.
    pub fn cancel(&mut self, tag: Tag, id: u64, now: Instant) -> Vec<Action<W>> {
        let max = self.policy.max_flushes;
        let Some(req) = self.request_mut(tag, id) else {
            return Vec::new();
        };
        let chain = req.chain.get_or_insert_with(Chain::default);
        if chain.replied || chain.gave_up || chain.closed || chain.sent >= max {
            return Vec::new();
        }
        self.send_flush(tag, now)
    }

    /// The earliest time [`Session::on_timeout`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.chains
            .iter()
            .filter_map(|&t| self.chain(t).and_then(|c| c.deadline))
            .min()
    }

    /// Flush again the victims whose Rflush is overdue, and give up on those
    /// that had every flush the policy allows.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action<W>> {
        let mut out = Vec::new();
        let max = self.policy.max_flushes;
        for victim in self.chains.clone() {
            let Some(Entry::Request(req)) = self.entries[victim.0 as usize].as_mut() else {
                continue;
            };
            let Some(chain) = req.chain.as_mut() else {
                continue;
            };
            if chain.deadline.is_none_or(|d| d > now) {
                continue;
            }
            if chain.replied || chain.closed {
                chain.deadline = None;
            } else if chain.sent < max {
                out.extend(self.send_flush(victim, now));
            } else {
                chain.gave_up = true;
                chain.deadline = None;
                self.stats.flushes_unconfirmed += 1;
                if let Some(waiter) = req.waiter.take() {
                    out.push(Action::Deliver {
                        waiter,
                        result: Err(Error::FlushUnconfirmed),
                        bound: None,
                    });
                }
            }
        }
        out
    }

    fn chain(&self, victim: Tag) -> Option<&super::flush::Chain> {
        match &self.entries[victim.0 as usize] {
            Some(Entry::Request(r)) => r.chain.as_ref(),
            _ => None,
        }
    }

    fn send_flush(&mut self, victim: Tag, now: Instant) -> Vec<Action<W>> {
        let Some(ftag) = self.tags.alloc_flush() else {
            // Try again after another timeout, when a reply may have freed
            // a tag; a deadline left in the past would spin the timer.
            let retry = now + self.policy.timeout;
            if let Some(Entry::Request(req)) = self.entries[victim.0 as usize].as_mut() {
                req.chain.get_or_insert_with(Chain::default).deadline = Some(retry);
            }
            if !self.chains.contains(&victim) {
                self.chains.push(victim);
            }
            return vec![Action::Violation("no tag left for a Tflush".into())];
        };
        self.occupy(ftag, Entry::Flush { victim });
        let timeout = self.policy.timeout;
        if let Some(Entry::Request(req)) = self.entries[victim.0 as usize].as_mut() {
            let chain = req.chain.get_or_insert_with(Chain::default);
            chain.flushes.push(ftag);
            chain.sent += 1;
            chain.deadline = Some(now + timeout);
        }
        if !self.chains.contains(&victim) {
            self.chains.push(victim);
        }
        self.stats.flushes_sent += 1;
        let msg: Tmessage = Tflush { oldtag: victim }.into();
        vec![Action::Send(ftag, msg)]
    }

    /// A reply on the tag of a Tflush for `victim`.
    pub(super) fn on_flush_reply(
        &mut self,
        ftag: Tag,
        victim: Tag,
        reply: Result<Rmessage, DecodeError>,
    ) -> Vec<Action<W>> {
        let rflush = matches!(reply, Ok(Rmessage::Rflush(_)));
        let Some(Entry::Request(req)) = self.entries[victim.0 as usize].as_mut() else {
            self.release(ftag, Retired::Flush);
            return vec![Action::Violation(format!(
                "{ftag:?} flushed a request that is gone"
            ))];
        };
        let Some(chain) = req.chain.as_mut() else {
            self.release(ftag, Retired::Flush);
            return Vec::new();
        };
        let Some(k) = chain.flushes.iter().position(|&t| t == ftag) else {
            self.release(ftag, Retired::Flush);
            return Vec::new();
        };
        if !rflush {
            // Rule 7: an error (or anything else) answers this Tflush only,
            // and the victim is still in flight.
            chain.flushes.remove(k);
            let done = chain.flushes.is_empty() && chain.replied;
            self.stats.flush_errors += 1;
            self.release(ftag, Retired::Flush);
            if done {
                self.finish_chain(victim, Retired::Answered);
            }
            let what = reply.as_ref().map_or("undecodable reply", |r| r.name());
            return vec![Action::Violation(format!(
                "{what} to the Tflush on {ftag:?}: the victim {victim:?} is still in flight"
            ))];
        }
        self.stats.rflush_received += 1;
        let answered: Vec<Tag> = chain.flushes.drain(..=k).collect();
        let last = chain.flushes.is_empty();
        let replied = chain.replied;
        for t in answered {
            self.release(t, Retired::Flush);
        }
        if !last {
            return Vec::new();
        }
        if replied {
            self.finish_chain(victim, Retired::Answered);
            return Vec::new();
        }
        self.victim_flushed(victim)
    }

    /// The chain's last Rflush came and the victim was not answered: the
    /// request is treated as never sent (rule 4).
    fn victim_flushed(&mut self, victim: Tag) -> Vec<Action<W>> {
        let keep = self.order_violated;
        let Some(Entry::Request(req)) = self.entries[victim.0 as usize].as_mut() else {
            return Vec::new();
        };
        let waiter = req.waiter.take();
        let mut settled = req.effect.not_done();
        self.stats.in_flight -= 1;
        if keep {
            // This server answers victims after their Rflush: hold the tag
            // for that late reply, so it cannot land on a reused tag, and
            // leave the fids as they are until it says what it did.
            settled = Default::default();
            if let Some(c) = req.chain.as_mut() {
                c.closed = true;
                c.deadline = None;
            }
        } else {
            self.finish_chain(victim, Retired::Flushed);
        }
        self.hand_over(waiter, Err(Error::Flushed), settled)
    }

    /// Release a victim's tag and forget its chain.
    fn finish_chain(&mut self, victim: Tag, what: Retired) {
        self.drop_chain(victim);
        self.release(victim, what);
    }

    pub(super) fn drop_chain(&mut self, victim: Tag) {
        self.chains.retain(|&t| t != victim);
    }

    /// Tags held only by unsettled chains.
    pub(super) fn quarantined(&self) -> usize {
        self.chains
            .iter()
            .filter_map(|&t| self.chain(t))
            .filter(|c| c.replied || c.gave_up || c.closed)
            .map(|c| 1 + c.flushes.len())
            .sum()
    }
}
