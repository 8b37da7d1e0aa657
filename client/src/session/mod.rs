//! The protocol state of one connection, without any I/O: tags in flight,
//! flush chains, fid ownership, and what each reply means for them.
//!
//! The driver calls [`Session::start`] before it writes a request,
//! [`Session::on_reply`] for every frame it reads, [`Session::cancel`] when a
//! caller gives up, and [`Session::on_timeout`] when [`Session::next_deadline`]
//! passes. The session answers with what to send and whom to wake. Being a
//! plain struct, every ordering of events is testable without sockets or
//! timers.
//!
//! # A request and its flush chain (DESIGN.md, flush rules 1-7)
//! ```text
//!            start(T)                      cancel / timeout (bounded)
//!   free ───────────> in flight ─────────────> flushing: chain F1..Fn,
//!                        │                      every Fi = Tflush(oldtag = victim)
//!        R (reply)       │                         │            │
//!   <────────────────────┘        victim R first   │            │ Rflush(Fk):
//!   release tag, deliver        ┌──────────────────┘            │ F1..Fk answered,
//!                               ▼                               │ their tags freed
//!                  replied: R delivered, its fid                │
//!                  effects kept; tag still reserved             │ k == n, no R yet:
//!                               │ Rflush(Fn)                    ▼ request "never sent",
//!                               ▼                          caller gets Flushed
//!                         victim tag free  <──────────────────────┘
//!
//!   n == max flushes and the deadline passes: the caller gets
//!   FlushUnconfirmed at once; the victim's and flushes' tags stay
//!   quarantined until an Rflush for the chain comes (or the connection goes).
//! ```
//! A reply on a tag not in flight is counted and delivered to nobody. An
//! error reply to a Tflush is a server bug: counted, and the victim is still
//! in flight. Once a server has answered a victim after its chain's last
//! Rflush (an order violation), each flushed victim keeps its tag until its
//! own late reply, so that reply can never land on a reused tag.
//!
//! # Layout
//! - `flush`: flush chains: cancel, Rflush, error replies, timeouts.
//! - `fids`: what a request does to fids, applied when its fate is known.
//! - `probe`: the flush probe (requests flushed on purpose, self-flushes).
//! - `profile`: [`FlushProfile`], how the server answers Tflush, and the
//!   [`Rule`]s it can break (each warned about once).
//! - `counters`: [`Stats`] and [`Traffic`].
//! - `watchdog`: requests waiting too long for their reply ([`Overdue`]).

mod counters;
mod fids;
mod flush;
mod placed;
mod probe;
mod profile;
mod watchdog;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::alloc::{FidAllocator, TagAllocator};
use crate::error::{Error, RemoteError};
use crate::ids::{Fid, Tag};
use crate::wire::{DecodeError, Rmessage, Tmessage};

pub use counters::{Stats, Traffic};
use fids::{FidEffect, Settled};
use flush::Chain;
pub use probe::{probe_eligible, ProbeChoice, ProbePicker};
pub use profile::{FlushProfile, Latency, Rule, MAX_CHAIN_BUCKET};
pub use watchdog::{watch_period, Overdue};

/// When to flush again and when to give up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlushPolicy {
    /// How long to wait for an Rflush before sending another Tflush.
    pub timeout: Duration,
    /// Most Tflush sent for one victim.
    pub max_flushes: u32,
}

impl Default for FlushPolicy {
    fn default() -> Self {
        FlushPolicy {
            timeout: Duration::from_secs(1),
            max_flushes: 3,
        }
    }
}

/// One tag's occupant.
#[derive(Debug)]
enum Entry<W> {
    Request(Request<W>),
    /// A Tflush for the request on `victim` (its own tag for a
    /// self-flush), sent at `sent`.
    Flush {
        victim: Tag,
        sent: Option<Instant>,
    },
}

#[derive(Debug)]
struct Request<W> {
    /// Which use of the tag this is: a stale cancel or abandon must not
    /// touch a later request that reuses the tag.
    id: u64,
    ty: u8,
    name: &'static str,
    effect: FidEffect,
    /// `None` once the caller is gone or has been answered.
    waiter: Option<W>,
    chain: Option<Chain>,
    /// When the watchdog first saw it in flight, and whether it has been
    /// reported as overdue.
    seen: Option<Instant>,
    overdue: bool,
}

/// What a released tag last carried, to name late replies that land on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retired {
    Answered,
    /// A victim (a request named `name`) released by its chain's last
    /// Rflush before its own reply.
    Flushed {
        name: &'static str,
    },
    /// A Tflush for `victim` released (by its own or a later Rflush).
    Flush {
        victim: Tag,
    },
}

/// Something the driver must do.
#[derive(Debug)]
pub enum Action<W> {
    /// Wake `waiter` with `result`.
    Deliver {
        /// Who waits.
        waiter: W,
        /// The reply (an error reply turned into [`Error::Remote`]), or why
        /// there is none.
        result: Result<Rmessage, Error>,
        /// A fid that this successful reply bound for the waiter: if the
        /// waiter turns out to be gone, clunk it.
        bound: Option<Fid>,
    },
    /// Send this request, registered under `tag` (a Tflush, or a Tclunk
    /// of a fid that nobody owns any more).
    Send(Tag, Tmessage),
    /// A protocol violation to log; nothing else to do.
    Violation(String),
}

/// Protocol state of one connection; `W` is whatever the driver uses to
/// wake a caller (a oneshot sender; a plain number in tests).
#[derive(Debug)]
pub struct Session<W> {
    tags: TagAllocator,
    fids: FidAllocator,
    /// What each tag in use carries; a tag not here is free.
    entries: BTreeMap<Tag, Entry<W>>,
    retired: Vec<Option<Retired>>,
    /// Victims with a chain, for deadlines and the quarantine gauge.
    chains: Vec<Tag>,
    policy: FlushPolicy,
    /// The server answered a victim after its chain's last Rflush.
    order_violated: bool,
    /// Fids to clunk once a tag frees up.
    deferred_clunks: Vec<Fid>,
    stats: Stats,
    profile: FlushProfile,
    traffic: Traffic,
    /// The latest time passed in, for replies given without one.
    last_now: Option<Instant>,
    /// Self-flushes in flight with their deadline; `None` once overdue
    /// (their tag is then quarantined until an answer comes).
    self_flushes: Vec<(Tag, Option<Instant>)>,
    /// A self-flush went unanswered: send no more (each would hold a tag).
    self_flush_off: bool,
    /// A Tflush went unanswered: probe no more (each would hold tags).
    probes_off: bool,
}

impl<W> Session<W> {
    /// A fresh session with the full tag and fid spaces.
    pub fn new(policy: FlushPolicy) -> Self {
        Self::with_allocators(policy, TagAllocator::new(), FidAllocator::new())
    }

    /// A session with the given allocators (small ones test exhaustion).
    pub fn with_allocators(policy: FlushPolicy, tags: TagAllocator, fids: FidAllocator) -> Self {
        Session {
            tags,
            fids,
            entries: BTreeMap::new(),
            retired: vec![None; 1 << 16],
            chains: Vec::new(),
            policy,
            order_violated: false,
            deferred_clunks: Vec::new(),
            stats: Stats::default(),
            profile: FlushProfile::default(),
            traffic: Traffic::default(),
            last_now: None,
            self_flushes: Vec::new(),
            self_flush_off: false,
            probes_off: false,
        }
    }

    /// Counters and gauges.
    pub fn stats(&self) -> Stats {
        Stats {
            fids_in_use: self.fids.in_use(),
            quarantined: self.quarantined(),
            ..self.stats
        }
    }

    /// How the server has answered Tflush so far.
    pub fn flush_profile(&self) -> FlushProfile {
        self.profile.clone()
    }

    /// Requests by type and bytes moved.
    pub fn traffic(&self) -> Traffic {
        self.traffic.clone()
    }

    /// Behave as once the server has broken the flush ordering rules: a
    /// connection replacing one of a server that did (its rule breaking
    /// is not forgotten with the connection).
    pub fn distrust_flush_order(&mut self) {
        self.order_violated = true;
    }

    /// True once the server has broken the flush ordering rules.
    pub fn order_violated(&self) -> bool {
        self.order_violated
    }

    /// A fid for a Tattach, Twalk or Txattrwalk about to be sent.
    pub fn alloc_fid(&mut self) -> Result<Fid, Error> {
        self.fids.alloc().ok_or(Error::FidsExhausted)
    }

    /// Hand out fid numbers below `limit` only from now on (a server's
    /// limit, or the mount's `maxfids`).
    pub fn cap_fids(&mut self, limit: u32) {
        self.fids.cap(limit);
    }

    /// The cap on fid numbers.
    pub fn fid_cap(&self) -> u32 {
        self.fids.limit()
    }

    /// Whether the fids in use come near their cap.
    pub fn fids_near_cap(&self) -> bool {
        self.fids.near_cap()
    }

    /// Give back a fid that was allocated but never sent.
    pub fn release_unsent_fid(&mut self, fid: Fid) {
        self.fids.release(fid)
    }

    /// Register a request about to be written; returns its tag and an id
    /// naming this use of the tag (for [`Session::cancel`] and
    /// [`Session::abandon`]).
    pub fn start(&mut self, msg: &Tmessage, waiter: Option<W>) -> Result<(Tag, u64), Error> {
        let tag = self
            .tags
            .alloc()
            .ok_or(Error::TagsExhausted(self.stats.in_flight))?;
        Ok(self.register(tag, msg, waiter))
    }

    /// Put request `msg` in flight on `tag`.
    fn register(&mut self, tag: Tag, msg: &Tmessage, waiter: Option<W>) -> (Tag, u64) {
        let id = self.stats.requests;
        self.occupy(
            tag,
            Entry::Request(Request {
                id,
                ty: msg.ty(),
                name: msg.name(),
                effect: FidEffect::of(msg),
                waiter,
                chain: None,
                seen: None,
                overdue: false,
            }),
        );
        self.stats.requests += 1;
        self.stats.in_flight += 1;
        self.traffic.count_request(msg);
        (tag, id)
    }

    /// The caller of request `id` on `tag` stopped waiting. Its tag stays
    /// reserved until the reply (or the chain's last Rflush) comes, and a
    /// fid the reply binds will be handed back to be clunked.
    pub fn abandon(&mut self, tag: Tag, id: u64) -> Option<W> {
        self.request_mut(tag, id).and_then(|r| r.waiter.take())
    }

    /// A frame arrived with `tag`; `reply` is its decoded body. Latencies
    /// are measured to the latest time passed to the session.
    pub fn on_reply(&mut self, tag: Tag, reply: Result<Rmessage, DecodeError>) -> Vec<Action<W>> {
        let now = self.last_now;
        self.reply_at(tag, reply, now)
    }

    /// As [`Session::on_reply`], for a frame read at `now`.
    pub fn on_reply_at(
        &mut self,
        tag: Tag,
        reply: Result<Rmessage, DecodeError>,
        now: Instant,
    ) -> Vec<Action<W>> {
        self.tick(now);
        self.reply_at(tag, reply, Some(now))
    }

    /// Remember the latest time seen.
    fn tick(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
    }

    fn reply_at(
        &mut self,
        tag: Tag,
        reply: Result<Rmessage, DecodeError>,
        now: Option<Instant>,
    ) -> Vec<Action<W>> {
        let mut out = match self.entries.remove(&tag) {
            None => vec![self.stray(tag, &reply)],
            Some(Entry::Flush { victim, sent }) if victim == tag => {
                self.on_self_flush_reply(tag, sent, reply, now)
            }
            Some(Entry::Flush { victim, sent }) => {
                self.entries.insert(tag, Entry::Flush { victim, sent });
                self.on_flush_reply(tag, victim, reply, now)
            }
            Some(Entry::Request(req)) => self.on_request_reply(tag, req, reply),
        };
        // A reply may have freed a tag for a clunk that had to wait.
        while let Some(&fid) = self.deferred_clunks.last() {
            match self.clunk_now(fid) {
                Some(a) => {
                    self.deferred_clunks.pop();
                    out.push(a);
                }
                None => break,
            }
        }
        out
    }

    /// The connection is gone: every waiter, to be failed. Every tag is
    /// free again and the quarantine is over.
    pub fn fail_all(&mut self) -> Vec<W> {
        let mut out = Vec::new();
        for v in std::mem::take(&mut self.chains) {
            if let Some(c) = self.chain(v) {
                self.profile.chain_ended(c.sent);
            }
        }
        for (tag, e) in std::mem::take(&mut self.entries) {
            self.tags.release(tag);
            if let Entry::Request(r) = e {
                out.extend(r.waiter);
            }
        }
        self.self_flushes.clear();
        self.deferred_clunks.clear();
        self.stats.in_flight = 0;
        out
    }

    fn occupy(&mut self, tag: Tag, entry: Entry<W>) {
        self.retired[tag.0 as usize] = None;
        self.entries.insert(tag, entry);
    }

    /// Free `tag`, remembering what it carried.
    fn release(&mut self, tag: Tag, what: Retired) {
        self.entries.remove(&tag);
        self.retired[tag.0 as usize] = Some(what);
        self.tags.release(tag);
    }

    fn request_mut(&mut self, tag: Tag, id: u64) -> Option<&mut Request<W>> {
        match self.entries.get_mut(&tag)? {
            Entry::Request(r) if r.id == id => Some(r),
            _ => None,
        }
    }

    /// A reply on a free tag: count it and say what it most likely was.
    fn stray(&mut self, tag: Tag, reply: &Result<Rmessage, DecodeError>) -> Action<W> {
        self.stats.unknown_tag_replies += 1;
        let what = reply.as_ref().map_or("undecodable reply", |r| r.name());
        let late = match (self.retired[tag.0 as usize], reply) {
            (Some(Retired::Flush { victim }), Ok(Rmessage::Rflush(_))) => Some((
                Rule::RflushOutOfOrder,
                format!("a late Rflush (of a Tflush for {victim:?}), after a later Tflush's Rflush had answered it"),
            )),
            (Some(Retired::Flushed { name }), _) => Some((
                Rule::VictimReplyAfterLastRflush,
                format!("the reply of a flushed {name}, after its chain's last Rflush"),
            )),
            _ => None,
        };
        if let Some((rule, why)) = late {
            self.stats.order_violations += 1;
            self.order_violated = true;
            let why = format!("{what} on {tag:?}: {why}");
            self.profile.breach(rule, &why);
            return Action::Violation(why);
        }
        let why = format!("{what} on {tag:?}, which is not in flight");
        self.profile.breach(Rule::ReplyOnReleasedTag, &why);
        Action::Violation(why)
    }

    fn on_request_reply(
        &mut self,
        tag: Tag,
        mut req: Request<W>,
        reply: Result<Rmessage, DecodeError>,
    ) -> Vec<Action<W>> {
        let fits = reply.as_ref().map_or(true, |r| r.answers(req.ty));
        let rflush = matches!(reply, Ok(Rmessage::Rflush(_)));
        match req.chain.as_ref() {
            // Answered already; the tag only waits for its Rflush.
            Some(c) if c.replied => {
                self.stats.unknown_tag_replies += 1;
                let what = reply.as_ref().map_or("undecodable reply", |r| r.name());
                let why = format!("{what} on {tag:?}, whose {} was answered already", req.name);
                self.entries.insert(tag, Entry::Request(req));
                self.profile.breach(Rule::ReplyOnReleasedTag, &why);
                return vec![Action::Violation(why)];
            }
            // Its chain's last Rflush came first: this is the late reply the
            // tag was kept for (unless it is a stray Rflush).
            Some(c) if c.closed && !rflush => {
                self.stats.order_violations += 1;
                let settled = match &reply {
                    Ok(r) if fits => req.effect.answered(r),
                    _ => req.effect.unknown(),
                };
                let what = reply.as_ref().map_or("undecodable reply", |r| r.name());
                let why = format!(
                    "{what} to the {} on {tag:?}, after its flush chain's last Rflush",
                    req.name
                );
                self.profile.breach(Rule::VictimReplyAfterLastRflush, &why);
                let mut out = vec![Action::Violation(why)];
                self.drop_taken_chain(tag, &req);
                self.release(tag, Retired::Answered);
                out.extend(self.orphan_effects(settled));
                return out;
            }
            _ => {}
        }
        if let (Ok(r), false) = (&reply, fits) {
            self.stats.mismatched_replies += 1;
            let why = format!("{} on {tag:?} does not answer its {}", r.name(), req.name);
            self.profile.breach(Rule::TypeMismatch, &why);
            if rflush {
                // A stray Rflush says nothing about this request: keep it.
                self.entries.insert(tag, Entry::Request(req));
                return vec![Action::Violation(why)];
            }
            return self.close_request(tag, req, Err(Error::Protocol(why)), None);
        }
        self.stats.replies += 1;
        let (result, settled) = match reply {
            Err(e) => (Err(Error::Decode(e)), req.effect.unknown()),
            Ok(r) => {
                self.traffic.count_reply(&r);
                let s = req.effect.answered(&r);
                (check_reply(r, req.effect), s)
            }
        };
        let waiter = req.waiter.take();
        if let Some(chain) = req.chain.as_mut().filter(|c| !c.flushes.is_empty()) {
            // The victim won the race: its reply counts, its tag waits for
            // the last Rflush.
            chain.replied = true;
            // Give the server a full timeout from now to send the Rflush.
            if let Some(now) = self.last_now {
                chain.deadline = Some(now + self.policy.timeout);
                chain.replied_after = chain.first_sent.map(|t| now.saturating_duration_since(t));
            }
            self.stats.victims_won += 1;
            self.profile.victims_won += 1;
            self.stats.in_flight -= 1;
            self.entries.insert(tag, Entry::Request(req));
            return self.hand_over(waiter, result, settled);
        }
        self.stats.in_flight -= 1;
        self.drop_taken_chain(tag, &req);
        self.release(tag, Retired::Answered);
        self.hand_over(waiter, result, settled)
    }

    /// End a request that was in flight with `result`.
    fn close_request(
        &mut self,
        tag: Tag,
        mut req: Request<W>,
        result: Result<Rmessage, Error>,
        settled: Option<Settled>,
    ) -> Vec<Action<W>> {
        let settled = settled.unwrap_or_else(|| req.effect.unknown());
        let waiter = req.waiter.take();
        self.stats.in_flight -= 1;
        if req.chain.as_ref().is_some_and(|c| !c.flushes.is_empty()) {
            // Flushes still out: the tag stays reserved for their Rflush.
            if let Some(c) = req.chain.as_mut() {
                c.replied = true;
            }
            self.entries.insert(tag, Entry::Request(req));
        } else {
            self.drop_taken_chain(tag, &req);
            self.release(tag, Retired::Answered);
        }
        self.hand_over(waiter, result, settled)
    }

    /// Deliver `result` and apply the fid bookkeeping that goes with it.
    fn hand_over(
        &mut self,
        waiter: Option<W>,
        result: Result<Rmessage, Error>,
        settled: Settled,
    ) -> Vec<Action<W>> {
        let Some(waiter) = waiter else {
            return self.orphan_effects(settled);
        };
        // Only a successful reply gives the caller the fid it bound.
        let (bound, settled) = match result.is_ok() {
            true => (
                settled.bound,
                Settled {
                    bound: None,
                    ..settled
                },
            ),
            false => (
                None,
                Settled {
                    clunk: settled.clunk.or(settled.bound),
                    bound: None,
                    ..settled
                },
            ),
        };
        let mut out = self.orphan_effects(settled);
        out.push(Action::Deliver {
            waiter,
            result,
            bound,
        });
        out
    }

    /// Free what is free, clunk what nobody owns.
    fn orphan_effects(&mut self, s: Settled) -> Vec<Action<W>> {
        if let Some(fid) = s.free {
            self.fids.release(fid);
        }
        s.clunk
            .or(s.bound)
            .and_then(|fid| self.clunk_owed(fid))
            .into_iter()
            .collect()
    }

    /// Register a Tclunk of `fid` with no waiter; the fid is freed by its
    /// reply. `None` when not even the reserve has a tag.
    fn clunk_now(&mut self, fid: Fid) -> Option<Action<W>> {
        let msg: Tmessage = crate::wire::Tclunk { fid }.into();
        let tag = self.tags.alloc_any()?;
        self.register(tag, &msg, None);
        Some(Action::Send(tag, msg))
    }

    /// Clunk `fid` now, or as soon as a tag is free: a fid nobody owns is
    /// never forgotten (rule 4: side effects are kept, not leaked).
    fn clunk_owed(&mut self, fid: Fid) -> Option<Action<W>> {
        let a = self.clunk_now(fid);
        if a.is_none() {
            self.deferred_clunks.push(fid);
        }
        a
    }
}

/// Turn an error reply into [`Error::Remote`], and catch replies that are
/// well-formed but impossible for the request.
fn check_reply(r: Rmessage, effect: FidEffect) -> Result<Rmessage, Error> {
    match r {
        Rmessage::Rlerror(e) => Err(Error::Remote(RemoteError {
            errno: Some(e.ecode),
            ename: None,
        })),
        Rmessage::Rerror(e) => Err(Error::Remote(RemoteError {
            errno: e.errno,
            ename: Some(e.ename.to_str_lossy().into_owned()),
        })),
        Rmessage::Rwalk(w) => match effect {
            FidEffect::Walk { names, .. } if w.wqid.len() > names => Err(Error::Protocol(format!(
                "Rwalk with {} qids for {names} names",
                w.wqid.len()
            ))),
            _ => Ok(Rmessage::Rwalk(w)),
        },
        r => Ok(r),
    }
}

#[cfg(test)]
mod prop;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_flush;
#[cfg(test)]
mod tests_probe;
#[cfg(test)]
mod tests_profile;
