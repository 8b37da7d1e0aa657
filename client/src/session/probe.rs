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
    /// False once probing would only hold tags or tell nothing new: the
    /// server left a Tflush unanswered, or broke any flush rule (a
    /// flushed request of such a server may keep its tag for good).
    pub fn probing(&self) -> bool {
        !self.probes_off && self.profile.total_violations() == 0
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

/// Picks which requests the flush probe flushes (one in `every` of those
/// it is asked about), how many Tflush each gets (1 to 3, at random), and
/// which also get a self-flush (the first, then one in 16). A xorshift
/// generator: the choice needs no quality, only variety.
#[derive(Debug, Clone)]
pub struct ProbePicker {
    every: u64,
    seen: u64,
    picked: u64,
    rng: u64,
}

/// One pick of [`ProbePicker::pick`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProbeChoice {
    /// Tflush to send for the request.
    pub flushes: u32,
    /// Send a self-flush as well.
    pub self_flush: bool,
}

impl ProbePicker {
    /// One in `every` (at least 1), random counts drawn from `seed`.
    pub fn new(every: u32, seed: u64) -> Self {
        ProbePicker {
            every: u64::from(every.max(1)),
            seen: 0,
            picked: 0,
            // Xorshift must not start at zero.
            rng: seed | 1,
        }
    }

    /// Whether to probe the next eligible request, and how.
    pub fn pick(&mut self) -> Option<ProbeChoice> {
        self.seen += 1;
        if !self.seen.is_multiple_of(self.every) {
            return None;
        }
        let mut x = self.rng;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng = x;
        let choice = ProbeChoice {
            flushes: 1 + (x % 3) as u32,
            self_flush: self.picked.is_multiple_of(16),
        };
        self.picked += 1;
        Some(choice)
    }
}

/// True for the requests the flush probe may flush: those without side
/// effects on the server (a walk to a new fid binds only that fid, which
/// the session keeps track of).
pub fn probe_eligible(msg: &Tmessage) -> bool {
    match msg {
        Tmessage::Tread(_) | Tmessage::Tgetattr(_) | Tmessage::Treaddir(_) => true,
        Tmessage::Twalk(w) => w.newfid != w.fid,
        // Named one by one, so that a message added later is placed here on
        // purpose: only requests without side effects may be probed.
        Tmessage::Tstatfs(_)
        | Tmessage::Tlopen(_)
        | Tmessage::Tlcreate(_)
        | Tmessage::Tsymlink(_)
        | Tmessage::Tmknod(_)
        | Tmessage::Trename(_)
        | Tmessage::Treadlink(_)
        | Tmessage::Tsetattr(_)
        | Tmessage::Txattrwalk(_)
        | Tmessage::Txattrcreate(_)
        | Tmessage::Tfsync(_)
        | Tmessage::Tlock(_)
        | Tmessage::Tgetlock(_)
        | Tmessage::Tlink(_)
        | Tmessage::Tmkdir(_)
        | Tmessage::Trenameat(_)
        | Tmessage::Tunlinkat(_)
        | Tmessage::Tversion(_)
        | Tmessage::Tauth(_)
        | Tmessage::Tattach(_)
        | Tmessage::Tflush(_)
        | Tmessage::Topen(_)
        | Tmessage::Tcreate(_)
        | Tmessage::Twrite(_)
        | Tmessage::Tclunk(_)
        | Tmessage::Tremove(_)
        | Tmessage::Tstat(_)
        | Tmessage::Twstat(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_one_in_n_with_one_to_three_flushes() {
        let mut p = ProbePicker::new(3, 12345);
        let picks: Vec<_> = (0..300).map(|_| p.pick()).collect();
        assert_eq!(picks.iter().filter(|c| c.is_some()).count(), 100);
        let counts: Vec<u32> = picks.iter().flatten().map(|c| c.flushes).collect();
        for n in 1..=3 {
            assert!(counts.contains(&n), "{n} never drawn");
        }
        assert!(counts.iter().all(|n| (1..=3).contains(n)));
        let selfs = picks.iter().flatten().filter(|c| c.self_flush).count();
        assert_eq!(selfs, 7, "the first, then one in 16");
    }

    #[test]
    fn only_requests_without_side_effects_are_eligible() {
        use crate::ids::Fid;
        use crate::wire::{Tclunk, Twalk, Twrite};
        let walk = |newfid| -> Tmessage {
            Twalk {
                fid: Fid(1),
                newfid: Fid(newfid),
                wname: vec![],
            }
            .into()
        };
        assert!(probe_eligible(&walk(2)));
        assert!(!probe_eligible(&walk(1)), "a walk in place changes the fid");
        assert!(!probe_eligible(&Tclunk { fid: Fid(1) }.into()));
        let w: Tmessage = Twrite {
            fid: Fid(1),
            offset: 0,
            data: Default::default(),
        }
        .into();
        assert!(!probe_eligible(&w));
    }
}
