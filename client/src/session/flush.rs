//! Flush chains: cancelling a request with one or more Tflush, and what
//! each Rflush, error reply and timeout does to the victim and its tags.

use std::time::Instant;

use super::{Action, Entry, FlushProfile, Retired, Rule, Session};
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
    /// Flushed on purpose by the flush probe: a timeout sends no more
    /// Tflush and never fails the caller, who waits for the real outcome.
    pub probe: bool,
    /// An Rflush of this chain came before the victim's reply.
    pub rflushed_early: bool,
    /// An unanswered Tflush of this chain was counted already.
    pub unanswered: bool,
    /// When the first Tflush was sent.
    pub first_sent: Option<Instant>,
    /// How long after the first Tflush the victim's reply came, if it won.
    pub replied_after: Option<std::time::Duration>,
}

impl<W> Session<W> {
    /// Cancel request `id` on `tag`: send a Tflush for it, unless it has
    /// been answered, or already had the policy's maximum of flushes (the
    /// deadline then decides). Each call may send one more.
    pub fn cancel(&mut self, tag: Tag, id: u64, now: Instant) -> Vec<Action<W>> {
        self.tick(now);
        let (max, timeout) = (self.policy.max_flushes, self.policy.timeout);
        let Some(req) = self.request_mut(tag, id) else {
            return Vec::new();
        };
        let chain = req.chain.get_or_insert_with(Chain::default);
        // A real cancel: from now on the usual rules, not the probe's.
        let was_probe = std::mem::replace(&mut chain.probe, false);
        if chain.replied || chain.gave_up || chain.closed {
            return Vec::new();
        }
        if chain.sent >= max {
            // A probe's timeout set no deadline; the caller must still be
            // told in time if the server confirms nothing.
            if was_probe && chain.deadline.is_none() {
                chain.deadline = Some(now + timeout);
            }
            return Vec::new();
        }
        self.send_flush(tag, now)
    }

    /// The earliest time [`Session::on_timeout`] has work to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let selfs = self.self_flushes.iter().filter_map(|&(_, d)| d);
        self.chains
            .iter()
            .filter_map(|&t| self.chain(t).and_then(|c| c.deadline))
            .chain(selfs)
            .min()
    }

    /// Flush again the victims whose Rflush is overdue, and give up on those
    /// that had every flush the policy allows.
    pub fn on_timeout(&mut self, now: Instant) -> Vec<Action<W>> {
        self.tick(now);
        self.self_flushes_overdue(now);
        let mut out = Vec::new();
        let max = self.policy.max_flushes;
        let mut half_answered = Vec::new();
        for victim in self.chains.clone() {
            let Some(Entry::Request(req)) = self.entries.get_mut(&victim) else {
                continue;
            };
            let Some(chain) = req.chain.as_mut() else {
                continue;
            };
            if chain.deadline.is_none_or(|d| d > now) {
                continue;
            }
            if chain.probe && chain.rflushed_early && !chain.replied && !chain.closed {
                // A probe whose victim the server ended (an Rflush came,
                // with no reply before it) but whose later Tflush it left
                // unanswered (QEMU 9pfs answers only the first): the
                // caller must not wait for that Rflush. The request is
                // sent again; the tags wait for a late answer.
                chain.deadline = None;
                half_answered.push(victim);
                let why = format!(
                    "no Rflush for {:?} (flushing {victim:?}, a {}) within {:?}, though an earlier Tflush of it was answered",
                    chain.flushes, req.name, self.policy.timeout
                );
                self.probes_off = true;
                self.profile.breach(Rule::UnansweredFlush, &why);
            } else if chain.replied || chain.closed || chain.probe {
                chain.deadline = None;
                // Unanswered once the victim is done; before that, a server
                // may hold the Rflush until the victim finishes (allowed).
                if chain.replied && !chain.flushes.is_empty() && !chain.unanswered {
                    chain.unanswered = true;
                    let why = format!(
                        "no Rflush for {:?} (flushing {victim:?}, a {}) within {:?}",
                        chain.flushes, req.name, self.policy.timeout
                    );
                    self.probes_off = true;
                    self.profile.breach(Rule::UnansweredFlush, &why);
                }
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
        for victim in half_answered {
            out.extend(self.victim_flushed_keeping(victim, true));
        }
        out
    }

    pub(super) fn chain(&self, victim: Tag) -> Option<&super::flush::Chain> {
        match self.entries.get(&victim) {
            Some(Entry::Request(r)) => r.chain.as_ref(),
            _ => None,
        }
    }

    pub(super) fn send_flush(&mut self, victim: Tag, now: Instant) -> Vec<Action<W>> {
        let Some(ftag) = self.tags.alloc_flush() else {
            // Try again after another timeout, when a reply may have freed
            // a tag; a deadline left in the past would spin the timer.
            let retry = now + self.policy.timeout;
            if let Some(Entry::Request(req)) = self.entries.get_mut(&victim) {
                req.chain.get_or_insert_with(Chain::default).deadline = Some(retry);
            }
            if !self.chains.contains(&victim) {
                self.chains.push(victim);
            }
            return vec![Action::Violation("no tag left for a Tflush".into())];
        };
        self.occupy(
            ftag,
            Entry::Flush {
                victim,
                sent: Some(now),
            },
        );
        let timeout = self.policy.timeout;
        if let Some(Entry::Request(req)) = self.entries.get_mut(&victim) {
            let chain = req.chain.get_or_insert_with(Chain::default);
            chain.flushes.push(ftag);
            chain.sent += 1;
            chain.first_sent.get_or_insert(now);
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
        now: Option<Instant>,
    ) -> Vec<Action<W>> {
        let rflush = matches!(reply, Ok(Rmessage::Rflush(_)));
        let Some(Entry::Request(req)) = self.entries.get_mut(&victim) else {
            self.release(ftag, Retired::Flush { victim });
            return vec![Action::Violation(format!(
                "{ftag:?} flushed a request that is gone"
            ))];
        };
        let name = req.name;
        let Some(chain) = req.chain.as_mut() else {
            self.release(ftag, Retired::Flush { victim });
            return Vec::new();
        };
        let Some(k) = chain.flushes.iter().position(|&t| t == ftag) else {
            self.release(ftag, Retired::Flush { victim });
            return Vec::new();
        };
        if !rflush {
            // Rule 7: an error (or anything else) answers this Tflush only,
            // and the victim is still in flight.
            chain.flushes.remove(k);
            let done = chain.flushes.is_empty() && chain.replied;
            self.stats.flush_errors += 1;
            self.release(ftag, Retired::Flush { victim });
            if done {
                self.finish_chain(victim, Retired::Answered);
            }
            let what = reply.as_ref().map_or("undecodable reply", |r| r.name());
            let why = format!(
                "{what} to the Tflush on {ftag:?}: the victim {victim:?} (a {name}) is still in flight"
            );
            self.profile.breach(flush_reply_rule(&reply), &why);
            return vec![Action::Violation(why)];
        }
        self.stats.rflush_received += 1;
        if !chain.replied {
            chain.rflushed_early = true;
        }
        let answered: Vec<Tag> = chain.flushes.drain(..=k).collect();
        let last = chain.flushes.is_empty();
        let replied = chain.replied;
        if answered.len() > 1 {
            self.profile.last_only += 1;
        }
        for t in answered {
            self.rflush_latency(t, now);
            self.release(t, Retired::Flush { victim });
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
        self.victim_flushed_keeping(victim, keep)
    }

    /// As [`Session::victim_flushed`]; with `keep`, the victim's tag (and
    /// the fids as they are) wait for a late reply.
    fn victim_flushed_keeping(&mut self, victim: Tag, keep: bool) -> Vec<Action<W>> {
        let Some(Entry::Request(req)) = self.entries.get_mut(&victim) else {
            return Vec::new();
        };
        let name = req.name;
        let waiter = req.waiter.take();
        let mut settled = req.effect.not_done();
        self.stats.in_flight -= 1;
        if req.chain.as_ref().is_some_and(|c| c.probe) {
            // The caller sends it again with the same fids: keep them.
            self.profile.probes_retried += 1;
            settled.free = None;
            if keep {
                // A late reply must not touch the fid the retry reuses.
                req.effect = super::fids::FidEffect::None;
            }
        }
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
            self.finish_chain(victim, Retired::Flushed { name });
        }
        self.hand_over(waiter, Err(Error::Flushed), settled)
    }

    /// Release a victim's tag and forget its chain.
    fn finish_chain(&mut self, victim: Tag, what: Retired) {
        if let Some(c) = self.chain(victim) {
            let timeout = self.policy.timeout;
            let at_work = c
                .replied_after
                .is_some_and(|d| FlushProfile::was_at_work(d, timeout));
            if c.replied && !c.rflushed_early && at_work {
                self.profile.held_until_victim += 1;
            }
        }
        self.drop_chain(victim);
        self.release(victim, what);
    }

    pub(super) fn drop_chain(&mut self, victim: Tag) {
        if let Some(c) = self.chain(victim) {
            let sent = c.sent;
            self.profile.chain_ended(sent);
        }
        self.chains.retain(|&t| t != victim);
    }

    /// As [`Session::drop_chain`], for a request taken out of its tag's
    /// entry while its reply is handled.
    pub(super) fn drop_taken_chain(&mut self, victim: Tag, req: &super::Request<W>) {
        if let Some(c) = &req.chain {
            self.profile.chain_ended(c.sent);
        }
        self.chains.retain(|&t| t != victim);
    }

    /// Record the latency of the Tflush on `ftag`, answered at `now`.
    fn rflush_latency(&mut self, ftag: Tag, now: Option<Instant>) {
        if let (Some(Entry::Flush { sent: Some(s), .. }), Some(now)) =
            (self.entries.get(&ftag), now)
        {
            let d = now.saturating_duration_since(*s);
            self.profile.rflush_latency.record(d);
        }
    }

    /// Whether the tags held by unsettled chains have reached `limit`
    /// (cheap while few chains are open, as on a well-behaved server).
    pub fn quarantine_reached(&self, limit: usize) -> bool {
        let most =
            self.chains.len() * (1 + self.policy.max_flushes as usize) + self.self_flushes.len();
        most >= limit && self.quarantined() >= limit
    }

    /// Tags held only by unsettled chains.
    pub(super) fn quarantined(&self) -> usize {
        self.chains
            .iter()
            .filter_map(|&t| self.chain(t))
            .filter(|c| c.replied || c.gave_up || c.closed)
            .map(|c| 1 + c.flushes.len())
            .sum::<usize>()
            + self.self_flushes.iter().filter(|s| s.1.is_none()).count()
    }
}

/// The rule an answer other than Rflush to a Tflush breaks.
fn flush_reply_rule(reply: &Result<Rmessage, DecodeError>) -> Rule {
    match reply {
        Ok(r) if !r.is_error() => Rule::TypeMismatch,
        _ => Rule::ErrorReplyToTflush,
    }
}
