//! The flush probe: flushing a request on purpose right after it is sent,
//! to see how the server answers Tflush under real use (the flush
//! profile), while the caller notices nothing. And self-flushes (a Tflush
//! naming its own tag), which answer nothing and test one more rule.
//!
//! A probed request's chain differs from a cancel's in two ways: a timeout
//! neither sends another Tflush nor fails the caller (who waits for the
//! victim's reply, as if nothing had happened), and when the Rflush wins,
//! the fids the request would have bound stay allocated, because the
//! driver sends the same request again. A real cancel of a probed request
//! turns its chain into an ordinary one.

use std::time::Instant;

use super::flush::Chain;
use super::{Action, Entry, Retired, Rule, Session};
use crate::ids::Tag;
use crate::wire::{DecodeError, Rmessage, Tflush, Tmessage};

impl<W> Session<W> {
    /// False once probing would only hold tags: the server left a Tflush
    /// unanswered.
    pub fn probing(&self) -> bool {
        !self.probes_off
    }

    /// Flush request `id` on `tag` on purpose with `flushes` Tflush (at
    /// least one, at most the policy's maximum), and also send a
    /// self-flush if `self_flush` (unless one went unanswered already).
    pub fn probe(
        &mut self,
        tag: Tag,
        id: u64,
        flushes: u32,
        self_flush: bool,
        now: Instant,
    ) -> Vec<Action<W>> {
        self.tick(now);
        let n = flushes.clamp(1, self.policy.max_flushes.max(1));
        let Some(req) = self.request_mut(tag, id) else {
            return Vec::new();
        };
        if req.chain.is_some() {
            return Vec::new();
        }
        req.chain = Some(Chain {
            probe: true,
            ..Chain::default()
        });
        self.profile.probes += 1;
        let mut out = Vec::new();
        for _ in 0..n {
            out.extend(self.send_flush(tag, now));
        }
        if self_flush && !self.self_flush_off {
            out.extend(self.send_self_flush(now));
        }
        out
    }

    fn send_self_flush(&mut self, now: Instant) -> Option<Action<W>> {
        let ftag = self.tags.alloc_flush()?;
        self.occupy(
            ftag,
            Entry::Flush {
                victim: ftag,
                sent: Some(now),
            },
        );
        self.self_flushes
            .push((ftag, Some(now + self.policy.timeout)));
        self.profile.self_flushes += 1;
        self.stats.flushes_sent += 1;
        let msg: Tmessage = Tflush { oldtag: ftag }.into();
        Some(Action::Send(ftag, msg))
    }

    /// A reply to the self-flush on `tag` (its entry already taken).
    pub(super) fn on_self_flush_reply(
        &mut self,
        tag: Tag,
        sent: Option<Instant>,
        reply: Result<Rmessage, DecodeError>,
        now: Option<Instant>,
    ) -> Vec<Action<W>> {
        self.self_flushes.retain(|&(t, _)| t != tag);
        self.release(tag, Retired::Flush { victim: tag });
        if let Ok(Rmessage::Rflush(_)) = reply {
            self.stats.rflush_received += 1;
            if let (Some(s), Some(now)) = (sent, now) {
                let d = now.saturating_duration_since(s);
                self.profile.rflush_latency.record(d);
            }
            return Vec::new();
        }
        self.stats.flush_errors += 1;
        let what = reply.as_ref().map_or("undecodable reply", |r| r.name());
        let why = format!("{what} to the self-flush on {tag:?} (Tflush oldtag {tag:?})");
        let rule = match &reply {
            Ok(r) if !r.is_error() => Rule::TypeMismatch,
            _ => Rule::ErrorReplyToTflush,
        };
        self.profile.breach(rule, &why);
        vec![Action::Violation(why)]
    }

    /// Self-flushes past their deadline: counted once, their tags held
    /// (quarantined) until an answer comes, and no more are sent.
    pub(super) fn self_flushes_overdue(&mut self, now: Instant) {
        let mut late = Vec::new();
        for (tag, deadline) in &mut self.self_flushes {
            if deadline.is_some_and(|d| d <= now) {
                *deadline = None;
                late.push(*tag);
            }
        }
        for tag in late {
            self.self_flush_off = true;
            let why = format!(
                "no Rflush for the self-flush on {tag:?} (Tflush oldtag {tag:?}) within {:?}",
                self.policy.timeout
            );
            self.profile.breach(Rule::UnansweredSelfFlush, &why);
        }
    }
}
