//! The protocol state of one connection, without any I/O: tags in flight,
//! fid ownership, and what each reply means for them.
//!
//! The driver calls [`Session::start`] before it writes a request and
//! [`Session::on_reply`] for every frame it reads; the session answers with
//! what to deliver to whom. Being a plain struct, every ordering of events
//! can be tested without sockets or timers.
//!
//! ```text
//!  start(T) ──> in flight(tag, T's fid effect, waiter)
//!                  │ reply R with R = T+1 or an error
//!                  ▼
//!           apply fid effect (bind / free), release tag, deliver to waiter
//!
//!  reply on a tag not in flight ──> violation, counted, delivered to nobody
//!  reply of the wrong type      ──> violation, the request fails with it
//!  waiter gone (abandoned)      ──> the reply is still applied: a fid it
//!                                   bound is handed back to be clunked
//! ```
//! Flush chains (issue 3) extend the in-flight entry: its tag stays reserved
//! after the victim's reply until the last Rflush.

use crate::alloc::{FidAllocator, TagAllocator};
use crate::error::{Error, RemoteError};
use crate::ids::{Fid, Tag};
use crate::wire::{DecodeError, Rmessage, Tmessage};

/// What a request does to fids, decided when it is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FidEffect {
    None,
    /// Tattach, Tauth, Txattrwalk: `fid` is bound on success, free on error.
    Binds(Fid),
    /// Twalk: `newfid` is bound only if every one of `names` was walked.
    Walk {
        newfid: Fid,
        names: usize,
    },
    /// Tclunk, Tremove: `fid` is free again once any reply comes.
    Frees(Fid),
}

impl FidEffect {
    fn of(msg: &Tmessage) -> Self {
        match msg {
            Tmessage::Tattach(m) => FidEffect::Binds(m.fid),
            Tmessage::Tauth(m) => FidEffect::Binds(m.afid),
            Tmessage::Txattrwalk(m) => FidEffect::Binds(m.newfid),
            Tmessage::Twalk(m) if m.newfid != m.fid => FidEffect::Walk {
                newfid: m.newfid,
                names: m.wname.len(),
            },
            Tmessage::Tclunk(m) => FidEffect::Frees(m.fid),
            Tmessage::Tremove(m) => FidEffect::Frees(m.fid),
            _ => FidEffect::None,
        }
    }
}

#[derive(Debug)]
struct Pending<W> {
    /// Which use of the tag this is: a stale `abandon` must not touch a
    /// later request that reuses the tag.
    id: u64,
    ty: u8,
    effect: FidEffect,
    /// `None` once the caller stopped waiting.
    waiter: Option<W>,
}

/// Counters a caller can read (see [`Session::stats`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests started.
    pub requests: u64,
    /// Replies that matched a request in flight.
    pub replies: u64,
    /// Replies on a tag that was not in flight (late, duplicate, unknown).
    pub unknown_tag_replies: u64,
    /// Replies whose type did not answer the request on their tag.
    pub mismatched_replies: u64,
    /// Requests in flight now.
    pub in_flight: usize,
    /// Fids allocated and not yet released.
    pub fids_in_use: usize,
}

/// What the driver must do after a reply.
#[derive(Debug)]
#[allow(clippy::large_enum_variant)] // built and consumed at once, never stored
pub enum Delivery<W> {
    /// Hand `result` to `waiter`.
    Deliver {
        /// Who waits.
        waiter: W,
        /// The reply, an error reply turned into [`Error::Remote`], or the
        /// decode/protocol error that replaced it.
        result: Result<Rmessage, Error>,
        /// A fid the server may hold that the failed request leaves to
        /// nobody (a Twalk answered with too many qids): clunk it.
        clunk: Option<Fid>,
        /// A fid this successful reply bound for the waiter: if the waiter
        /// turns out to be gone, clunk it.
        bound: Option<Fid>,
    },
    /// Nobody waits any more; if the reply bound a fid, clunk it.
    Orphan {
        /// A fid the server now holds that nobody owns.
        clunk: Option<Fid>,
    },
    /// The reply matched no request: counted and dropped.
    Violation(String),
}

/// Protocol state of one connection; `W` is whatever the driver uses to
/// wake a caller (a oneshot sender; a plain id in tests).
#[derive(Debug)]
pub struct Session<W> {
    tags: TagAllocator,
    fids: FidAllocator,
    in_flight: Vec<Option<Pending<W>>>,
    stats: Stats,
}

impl<W> Session<W> {
    /// A fresh session with the full tag and fid spaces.
    pub fn new() -> Self {
        Self::with_allocators(TagAllocator::new(), FidAllocator::new())
    }

    /// A session with the given allocators (small ones test exhaustion).
    pub fn with_allocators(tags: TagAllocator, fids: FidAllocator) -> Self {
        Session {
            tags,
            fids,
            in_flight: (0..=u16::MAX).map(|_| None).collect(),
            stats: Stats::default(),
        }
    }

    /// Counters and gauges.
    pub fn stats(&self) -> Stats {
        Stats {
            fids_in_use: self.fids.in_use(),
            ..self.stats
        }
    }

    /// A fid for a Tattach, Twalk or Txattrwalk about to be sent.
    pub fn alloc_fid(&mut self) -> Result<Fid, Error> {
        self.fids.alloc().ok_or(Error::FidsExhausted)
    }

    /// Give back a fid that was allocated but never sent.
    pub fn release_unsent_fid(&mut self, fid: Fid) {
        self.fids.release(fid)
    }

    /// Register a request about to be written; returns its tag and an id
    /// that names this use of the tag (for [`Session::abandon`]).
    pub fn start(&mut self, msg: &Tmessage, waiter: Option<W>) -> Result<(Tag, u64), Error> {
        let tag = self
            .tags
            .alloc()
            .ok_or(Error::TagsExhausted(self.stats.in_flight))?;
        let id = self.stats.requests;
        self.in_flight[tag.0 as usize] = Some(Pending {
            id,
            ty: msg.ty(),
            effect: FidEffect::of(msg),
            waiter,
        });
        self.stats.requests += 1;
        self.stats.in_flight += 1;
        Ok((tag, id))
    }

    /// The caller of `tag` stopped waiting (its future was dropped). The tag
    /// stays in flight until the reply comes, so it is never reused early.
    /// Does nothing if request `id` is no longer in flight.
    pub fn abandon(&mut self, tag: Tag, id: u64) -> Option<W> {
        self.in_flight
            .get_mut(tag.0 as usize)
            .and_then(Option::as_mut)
            .filter(|p| p.id == id)
            .and_then(|p| p.waiter.take())
    }

    /// A frame arrived with `tag`; `reply` is its decoded body.
    pub fn on_reply(&mut self, tag: Tag, reply: Result<Rmessage, DecodeError>) -> Delivery<W> {
        let slot = &mut self.in_flight[tag.0 as usize];
        let Some(pending) = slot.as_ref() else {
            self.stats.unknown_tag_replies += 1;
            let what = reply.as_ref().map_or("undecodable reply", |r| r.name());
            return Delivery::Violation(format!("{what} on {tag:?}, which is not in flight"));
        };
        if let Ok(r) = &reply {
            if !r.answers(pending.ty) {
                self.stats.mismatched_replies += 1;
                let msg = format!(
                    "{} on {tag:?} answers a request of type {}",
                    r.name(),
                    pending.ty
                );
                let pending = slot.take().expect("checked above");
                self.finish(tag);
                // Nothing is known about the fid: treat it as not bound.
                let clunk = self.settle_fid(pending.effect, false, None);
                return self.deliver(pending.waiter, Err(Error::Protocol(msg)), clunk);
            }
        }
        let pending = slot.take().expect("checked above");
        self.finish(tag);
        self.stats.replies += 1;
        let result = match reply {
            Err(e) => Err(Error::Decode(e)),
            Ok(r) => into_result(r),
        };
        let clunk = self.settle_fid(pending.effect, result.is_ok(), result.as_ref().ok());
        let result = match (result, pending.effect) {
            (Ok(Rmessage::Rwalk(w)), FidEffect::Walk { names, .. }) if w.wqid.len() > names => {
                Err(Error::Protocol(format!(
                    "Rwalk with {} qids for {names} names",
                    w.wqid.len()
                )))
            }
            (r, _) => r,
        };
        self.deliver(pending.waiter, result, clunk)
    }

    /// The connection is gone: every waiter, to be failed with `err`.
    pub fn fail_all(&mut self) -> Vec<W> {
        let mut out = Vec::new();
        for (i, slot) in self.in_flight.iter_mut().enumerate() {
            if let Some(p) = slot.take() {
                self.tags.release(Tag(i as u16));
                out.extend(p.waiter);
            }
        }
        self.stats.in_flight = 0;
        out
    }

    fn finish(&mut self, tag: Tag) {
        self.tags.release(tag);
        self.stats.in_flight -= 1;
    }

    fn deliver(
        &self,
        waiter: Option<W>,
        result: Result<Rmessage, Error>,
        clunk: Option<Fid>,
    ) -> Delivery<W> {
        match waiter {
            // On success the caller owns whatever fid the reply bound.
            Some(waiter) => {
                let (bound, clunk) = match result.is_ok() {
                    true => (clunk, None),
                    false => (None, clunk),
                };
                Delivery::Deliver {
                    waiter,
                    result,
                    clunk,
                    bound,
                }
            }
            None => Delivery::Orphan { clunk },
        }
    }

    /// Apply a reply's effect on fids. Returns a fid that is now bound on
    /// the server but owned by nobody, when the caller is gone or the
    /// reply was bogus, so the driver clunks it.
    fn settle_fid(&mut self, effect: FidEffect, ok: bool, reply: Option<&Rmessage>) -> Option<Fid> {
        match effect {
            FidEffect::None => None,
            FidEffect::Frees(fid) => {
                self.fids.release(fid);
                None
            }
            FidEffect::Binds(fid) if ok => Some(fid),
            FidEffect::Walk { newfid, names } => match reply {
                Some(Rmessage::Rwalk(w)) if w.wqid.len() == names => Some(newfid),
                // More qids than names: the server may or may not have
                // bound newfid; clunking it is harmless either way.
                Some(Rmessage::Rwalk(w)) if w.wqid.len() > names => Some(newfid),
                _ => {
                    self.fids.release(newfid);
                    None
                }
            },
            FidEffect::Binds(fid) => {
                self.fids.release(fid);
                None
            }
        }
    }
}

impl<W> Default for Session<W> {
    fn default() -> Self {
        Self::new()
    }
}

/// Turn an error reply into [`Error::Remote`].
fn into_result(r: Rmessage) -> Result<Rmessage, Error> {
    match r {
        Rmessage::Rlerror(e) => Err(Error::Remote(RemoteError {
            errno: Some(e.ecode),
            ename: None,
        })),
        Rmessage::Rerror(e) => Err(Error::Remote(RemoteError {
            errno: e.errno,
            ename: Some(e.ename.to_str_lossy().into_owned()),
        })),
        r => Ok(r),
    }
}

#[cfg(test)]
mod tests;
