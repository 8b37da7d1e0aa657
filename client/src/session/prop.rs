//! Property test: random interleavings of requests, cancels,
//! timeouts and server replies (out of order, duplicated, late, on unknown
//! tags, of the wrong type) keep the session's invariants:
//!
//! 1. no tag is handed out again while the flush rules still reserve it;
//! 2. every request completes exactly once (an abandoned one: never after
//!    it was abandoned);
//! 3. no fid leaks, on the client or on the server;
//! 4. a reply reaches only the request it answers.
//!
//! The test drives a [`Session<u32>`] (waiter = request number) with a tiny
//! tag space and fid space, and keeps a model of both sides:
//! - the client side as the rules of DESIGN.md say it must be: which tags
//!   are reserved, which flushes are outstanding. The session may hold a tag
//!   longer than this (after an order violation), never shorter.
//! - a server that holds every request and flush it was sent, answers them
//!   in any order, and remembers every frame it sent so it can send it again.
//!
//! A frame that a real client cannot tell from the real answer (a late reply
//! of the same type landing on a reused tag) is never sent: DESIGN.md rule 7
//! mitigates that case but cannot rule it out, so it is not an invariant.
//! Every other frame is fair game.
//!
//! Checked after every step, besides 1, 2 and 4 as they happen: every tag
//! the rules reserve is held by the session, and a tag held past the rules
//! only on a connection with an order violation; `stats().in_flight` is
//! what the rules say; `alloc_fid` never returns a fid the server still has
//! bound; `cancel` sends one Tflush exactly when the rules allow one;
//! `on_timeout` does nothing before `next_deadline`. At the end the server
//! answers everything (late answers too) and time passes every deadline:
//! every request not abandoned has completed, nothing is in flight or
//! quarantined, and the fids in use are exactly the ones the test owns,
//! which are exactly the ones bound on the server.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bytes::Bytes;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::*;
use crate::alloc::{FidAllocator, TagAllocator};
use crate::ids::{NOFID, NOTAG};
use crate::wire::*;

/// Tags `0..TAGS`: half for requests, half the flush reserve.
const TAGS: u16 = 32;
/// Fids `0..FIDS`, so numbers are reused within a case.
const FIDS: u32 = 12;

type Reply = Result<Rmessage, DecodeError>;
type Check = Result<(), TestCaseError>;

macro_rules! ensure {
    ($c:expr, $($fmt:tt)+) => {
        if !$c {
            return Err(TestCaseError::fail(format!($($fmt)+)));
        }
    };
}

/// Requests the test starts.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Read,
    Walk,
    Clunk,
    Attach,
}

/// How the server answers a request.
#[derive(Debug, Clone, Copy)]
enum How {
    Ok,
    /// Rwalk with fewer qids than names (other requests: as `Ok`).
    Partial,
    /// Rwalk with more qids than names (other requests: as `Ok`).
    TooMany,
    Error,
    /// A reply type that does not answer the request.
    Mismatch,
    Undecodable,
}

/// One step. `usize` fields pick among what exists, modulo its count.
#[derive(Debug, Clone)]
enum Op {
    Start(Kind, usize),
    /// Cancel a request (after dropping its future when `abandon`).
    Cancel {
        pick: usize,
        abandon: bool,
    },
    /// Drop a request's future without cancelling.
    Abandon(usize),
    /// Let this many milliseconds pass, then run the timeouts.
    Tick(u16),
    /// The server answers a request it holds.
    Answer(usize, How),
    /// The server answers a Tflush it holds (any of them, in any order).
    Rflush(usize),
    /// The server answers a Tflush with Rlerror.
    FlushError(usize),
    /// The server sends again a frame it sent before, or one it should never
    /// send (the answer of a flushed request, the Rflush of an earlier flush
    /// after a later one was answered).
    Late(usize),
    /// A frame on a tag nobody used, or on a free tag.
    Stray {
        tag: u16,
        what: u8,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![
        4 => Just(Kind::Read),
        3 => Just(Kind::Walk),
        2 => Just(Kind::Clunk),
        2 => Just(Kind::Attach),
    ];
    let how = prop_oneof![
        8 => Just(How::Ok),
        1 => Just(How::Partial),
        1 => Just(How::TooMany),
        2 => Just(How::Error),
        1 => Just(How::Mismatch),
        1 => Just(How::Undecodable),
    ];
    prop_oneof![
        25 => (kind, any::<usize>()).prop_map(|(k, p)| Op::Start(k, p)),
        12 => (any::<usize>(), any::<bool>())
            .prop_map(|(pick, abandon)| Op::Cancel { pick, abandon }),
        3 => any::<usize>().prop_map(Op::Abandon),
        8 => (0u16..1600).prop_map(Op::Tick),
        20 => (any::<usize>(), how).prop_map(|(p, h)| Op::Answer(p, h)),
        12 => any::<usize>().prop_map(Op::Rflush),
        3 => any::<usize>().prop_map(Op::FlushError),
        8 => any::<usize>().prop_map(Op::Late),
        4 => (any::<u16>(), any::<u8>()).prop_map(|(tag, what)| Op::Stray { tag, what }),
    ]
}

/// What a frame was meant for: the request or flush the server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Occ {
    Req(usize),
    Flush(usize),
}

/// Where the server stands with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Srv {
    Pending,
    Answered,
    /// Aborted by an Rflush: a correct server never answers it; its answer
    /// may only come as a late, order-violating frame.
    FlushedAway,
    /// Its answer could only land on a reused tag of the same type (drain).
    Dropped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MKind {
    Read,
    Walk {
        newfid: Fid,
        names: usize,
    },
    /// `generation` of `fid`'s binding on the server when the clunk was sent.
    Clunk {
        fid: Fid,
        generation: Option<u32>,
    },
    Attach {
        fid: Fid,
    },
}

#[derive(Debug)]
struct MReq {
    tag: Tag,
    /// The session's id (test-started requests only).
    id: u64,
    kind: MKind,
    ty: u8,
    waiter: bool,
    abandoned: bool,
    delivered: u32,
    // Client side, by the rules.
    /// The tag is reserved.
    live: bool,
    /// A frame other than an Rflush arrived on the tag while reserved.
    replied: bool,
    /// Flushes not answered yet, in the order sent.
    flushes: Vec<usize>,
    /// Every flush sent for it, in order.
    all_flushes: Vec<usize>,
    // Server side.
    srv: Srv,
    /// The late answer of a flushed-away request was sent.
    late_sent: bool,
}

#[derive(Debug)]
struct MFlush {
    tag: Tag,
    victim: usize,
    live: bool,
    /// The server answered it, or answered a later flush of the same victim.
    srv_done: bool,
}

#[derive(Debug, Clone)]
struct Frame {
    tag: Tag,
    reply: Reply,
    meant: Option<Occ>,
}

/// What produced a batch of actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ctx {
    Reply,
    Cancel(usize),
    Timeout,
}

/// The request number `no` shows in every reply meant for it: Rread length,
/// qid paths, errno `1000 + no`.
fn ident(no: usize) -> u32 {
    no as u32 + 1
}

fn qid(no: usize) -> Qid {
    Qid {
        ty: 0,
        version: 0,
        path: u64::from(ident(no)),
    }
}

fn rread(len: u32) -> Rmessage {
    Rread {
        data: Data(Bytes::from(vec![0u8; len as usize])),
    }
    .into()
}

struct Harness {
    s: Session<u32>,
    now: Instant,
    max_flushes: u32,
    reqs: Vec<MReq>,
    flushes: Vec<MFlush>,
    /// The latest request or flush sent on each tag.
    occupant: HashMap<u16, Occ>,
    /// Fids the test owns (bound by a reply it received, not yet clunked).
    owned: Vec<Fid>,
    /// Fids bound on the server, with the generation of the binding.
    bound: HashMap<Fid, u32>,
    generation: u32,
    /// Every frame the server sent, and the ones it should never send.
    pool: Vec<Frame>,
}

impl Harness {
    fn new() -> Self {
        let policy = FlushPolicy::default();
        Harness {
            s: Session::with_allocators(
                policy,
                TagAllocator::with_size(TAGS),
                FidAllocator::with_limit(FIDS),
            ),
            now: Instant::now(),
            max_flushes: policy.max_flushes,
            reqs: Vec::new(),
            flushes: Vec::new(),
            occupant: HashMap::new(),
            owned: Vec::new(),
            bound: HashMap::new(),
            generation: 0,
            pool: Vec::new(),
        }
    }

    fn is_live(&self, occ: Occ) -> bool {
        match occ {
            Occ::Req(r) => self.reqs[r].live,
            Occ::Flush(f) => self.flushes[f].live,
        }
    }

    /// The request or flush the rules say still reserves `tag`.
    fn live_occupant(&self, tag: Tag) -> Option<Occ> {
        self.occupant
            .get(&tag.0)
            .copied()
            .filter(|&o| self.is_live(o))
    }

    fn apply(&mut self, op: &Op) -> Check {
        match *op {
            Op::Start(kind, pick) => self.start(kind, pick)?,
            Op::Cancel { pick, abandon } => self.cancel(pick, abandon)?,
            Op::Abandon(pick) => {
                if let Some(r) = self.pick_waiter(pick) {
                    self.abandon(r)?;
                }
            }
            Op::Tick(ms) => self.tick(Duration::from_millis(u64::from(ms)))?,
            Op::Answer(pick, how) => self.answer(pick, how)?,
            Op::Rflush(pick) => {
                if let Some(f) = self.pick_flush(pick) {
                    self.rflush(f)?;
                }
            }
            Op::FlushError(pick) => {
                if let Some(f) = self.pick_flush(pick) {
                    let tag = self.flushes[f].tag;
                    if self.send(tag, Ok(Rlerror { ecode: 95 }.into()), Some(Occ::Flush(f)))? {
                        self.flushes[f].srv_done = true;
                    }
                }
            }
            Op::Late(pick) => {
                if !self.pool.is_empty() {
                    let fr = self.pool[pick % self.pool.len()].clone();
                    self.send(fr.tag, fr.reply, fr.meant)?;
                }
            }
            Op::Stray { tag, what } => self.stray(tag, what)?,
        }
        self.check_step()
    }

    // ---- client side ----

    fn alloc_fid(&mut self) -> Result<Option<Fid>, TestCaseError> {
        let f = match self.s.alloc_fid() {
            Ok(f) => f,
            Err(Error::FidsExhausted) => return Ok(None),
            Err(e) => return Err(TestCaseError::fail(format!("alloc_fid: {e}"))),
        };
        ensure!(
            !self.bound.contains_key(&f) && !self.owned.contains(&f),
            "alloc_fid handed out {f:?}, which the server still has bound"
        );
        let busy = self.reqs.iter().any(|r| {
            r.live
                && !r.replied
                && match r.kind {
                    MKind::Walk { newfid, .. } => newfid == f,
                    MKind::Clunk { fid, .. } | MKind::Attach { fid } => fid == f,
                    MKind::Read => false,
                }
        });
        ensure!(
            !busy,
            "alloc_fid handed out {f:?}, named by a request in flight"
        );
        Ok(Some(f))
    }

    fn start(&mut self, kind: Kind, pick: usize) -> Check {
        let no = self.reqs.len();
        let (msg, mk): (Tmessage, MKind) = match kind {
            Kind::Read => (
                Tread {
                    fid: self.owned.first().copied().unwrap_or(Fid(0)),
                    offset: 0,
                    count: ident(no),
                }
                .into(),
                MKind::Read,
            ),
            Kind::Walk => {
                let Some(newfid) = self.alloc_fid()? else {
                    return Ok(());
                };
                let fid = match self.owned.len() {
                    0 => NOFID,
                    n => self.owned[pick % n],
                };
                let names = 1 + pick % 2;
                let wname = ["a", "b"][..names].iter().map(|&n| n.into()).collect();
                (
                    Twalk { fid, newfid, wname }.into(),
                    MKind::Walk { newfid, names },
                )
            }
            Kind::Clunk => {
                if self.owned.is_empty() {
                    return Ok(());
                }
                let fid = self.owned.remove(pick % self.owned.len());
                let generation = self.bound.get(&fid).copied();
                (Tclunk { fid }.into(), MKind::Clunk { fid, generation })
            }
            Kind::Attach => {
                let Some(fid) = self.alloc_fid()? else {
                    return Ok(());
                };
                (
                    Tattach {
                        fid,
                        afid: NOFID,
                        uname: "u".into(),
                        aname: "".into(),
                        n_uname: None,
                    }
                    .into(),
                    MKind::Attach { fid },
                )
            }
        };
        match self.s.start(&msg, Some(no as u32)) {
            Ok((tag, id)) => self.register(tag, id, mk, msg.ty(), true),
            Err(Error::TagsExhausted(_)) => {
                match mk {
                    MKind::Walk { newfid: f, .. } | MKind::Attach { fid: f } => {
                        self.s.release_unsent_fid(f)
                    }
                    MKind::Clunk { fid, .. } => self.owned.push(fid),
                    MKind::Read => {}
                }
                Ok(())
            }
            Err(e) => Err(TestCaseError::fail(format!("start: {e}"))),
        }
    }

    /// A request the session registered under `tag`.
    fn register(&mut self, tag: Tag, id: u64, kind: MKind, ty: u8, waiter: bool) -> Check {
        ensure!(tag.0 < TAGS, "{tag:?} outside the tag space");
        ensure!(
            self.live_occupant(tag).is_none(),
            "{tag:?} reused while reserved by {:?}",
            self.live_occupant(tag)
        );
        self.occupant.insert(tag.0, Occ::Req(self.reqs.len()));
        self.reqs.push(MReq {
            tag,
            id,
            kind,
            ty,
            waiter,
            abandoned: false,
            delivered: 0,
            live: true,
            replied: false,
            flushes: Vec::new(),
            all_flushes: Vec::new(),
            srv: Srv::Pending,
            late_sent: false,
        });
        Ok(())
    }

    /// A test-started request: half the time one still in flight.
    fn pick_waiter(&self, pick: usize) -> Option<usize> {
        let all: Vec<usize> = (0..self.reqs.len())
            .filter(|&r| self.reqs[r].waiter)
            .collect();
        let live: Vec<usize> = all
            .iter()
            .copied()
            .filter(|&r| self.reqs[r].live && !self.reqs[r].replied)
            .collect();
        let from = if pick.is_multiple_of(2) && !live.is_empty() {
            live
        } else {
            all
        };
        (!from.is_empty()).then(|| from[(pick / 2) % from.len()])
    }

    fn abandon(&mut self, r: usize) -> Check {
        let (tag, id) = (self.reqs[r].tag, self.reqs[r].id);
        let got = self.s.abandon(tag, id);
        let waiting = self.reqs[r].delivered == 0 && !self.reqs[r].abandoned;
        ensure!(
            got == waiting.then_some(r as u32),
            "abandon of request {r} gave {got:?}, expected waiting={waiting}"
        );
        self.reqs[r].abandoned |= got.is_some();
        Ok(())
    }

    fn cancel(&mut self, pick: usize, abandon: bool) -> Check {
        let Some(r) = self.pick_waiter(pick) else {
            return Ok(());
        };
        if abandon {
            self.abandon(r)?;
        }
        let q = &self.reqs[r];
        let may_flush = q.live && !q.replied && q.flushes_sent() < self.max_flushes;
        let acts = self.s.cancel(q.tag, q.id, self.now);
        let sent = acts
            .iter()
            .filter(|a| matches!(a, Action::Send(_, Tmessage::Tflush(_))))
            .count();
        let out_of_tags = acts.iter().any(|a| matches!(a, Action::Violation(_)));
        ensure!(
            sent == usize::from(may_flush) || (may_flush && out_of_tags),
            "cancel of request {r} sent {sent} flushes (may flush: {may_flush}): {acts:?}"
        );
        self.actions(acts, Ctx::Cancel(r))
    }

    fn tick(&mut self, d: Duration) -> Check {
        self.now += d;
        let idle = self.s.next_deadline().is_none_or(|t| t > self.now);
        let acts = self.s.on_timeout(self.now);
        ensure!(
            !idle || acts.is_empty(),
            "on_timeout before the next deadline did {acts:?}"
        );
        self.actions(acts, Ctx::Timeout)
    }

    fn actions(&mut self, acts: Vec<Action<u32>>, ctx: Ctx) -> Check {
        for a in acts {
            match a {
                Action::Send(tag, Tmessage::Tflush(f)) => {
                    ensure!(ctx != Ctx::Reply, "a reply sent a Tflush");
                    let v = match self.occupant.get(&f.oldtag.0) {
                        Some(&Occ::Req(v)) => v,
                        o => {
                            return Err(TestCaseError::fail(format!(
                                "Tflush of {:?}, which carries {o:?}, not a request (rule 1)",
                                f.oldtag
                            )))
                        }
                    };
                    if let Ctx::Cancel(r) = ctx {
                        ensure!(r == v, "cancel of {r} flushed {v}");
                    }
                    let q = &self.reqs[v];
                    ensure!(
                        q.live && !q.replied,
                        "Tflush of request {v}, which is no longer in flight"
                    );
                    ensure!(
                        q.flushes_sent() < self.max_flushes,
                        "more than {} Tflush for request {v}",
                        self.max_flushes
                    );
                    ensure!(tag.0 < TAGS, "{tag:?} outside the tag space");
                    ensure!(
                        self.live_occupant(tag).is_none(),
                        "Tflush on {tag:?}, still reserved by {:?}",
                        self.live_occupant(tag)
                    );
                    let fi = self.flushes.len();
                    self.flushes.push(MFlush {
                        tag,
                        victim: v,
                        live: true,
                        srv_done: false,
                    });
                    self.occupant.insert(tag.0, Occ::Flush(fi));
                    self.reqs[v].flushes.push(fi);
                    self.reqs[v].all_flushes.push(fi);
                }
                Action::Send(tag, m @ Tmessage::Tclunk(_)) => {
                    let Tmessage::Tclunk(c) = &m else {
                        unreachable!()
                    };
                    let fid = c.fid;
                    ensure!(
                        !self.owned.contains(&fid),
                        "the session clunked {fid:?}, which the test owns"
                    );
                    let generation = self.bound.get(&fid).copied();
                    let kind = MKind::Clunk { fid, generation };
                    self.register(tag, u64::MAX, kind, m.ty(), false)?;
                }
                Action::Send(tag, m) => {
                    return Err(TestCaseError::fail(format!(
                        "unexpected send on {tag:?}: {m:?}"
                    )))
                }
                Action::Deliver {
                    waiter,
                    result,
                    bound,
                } => self.delivered(waiter, result, bound, ctx)?,
                Action::Violation(_) => {}
            }
        }
        Ok(())
    }

    /// Invariants 2 and 4 for one Deliver.
    fn delivered(
        &mut self,
        w: u32,
        result: Result<Rmessage, Error>,
        bound: Option<Fid>,
        ctx: Ctx,
    ) -> Check {
        let no = w as usize;
        ensure!(no < self.reqs.len(), "deliver to unknown waiter {w}");
        let q = &mut self.reqs[no];
        ensure!(q.waiter, "deliver to request {w}, which has no waiter");
        ensure!(
            !q.abandoned,
            "deliver to request {w} after it was abandoned"
        );
        ensure!(
            q.delivered == 0,
            "request {w} completed twice, now with {result:?}"
        );
        q.delivered += 1;
        let q = &self.reqs[no];
        match &result {
            Err(Error::FlushUnconfirmed) => {
                ensure!(ctx == Ctx::Timeout, "FlushUnconfirmed from {ctx:?}");
                ensure!(
                    q.flushes_sent() == self.max_flushes,
                    "request {w} given up after {} flushes",
                    q.flushes_sent()
                );
            }
            _ => ensure!(ctx == Ctx::Reply, "{result:?} delivered by {ctx:?}"),
        }
        match &result {
            Ok(m) => {
                ensure!(
                    !m.is_error() && m.answers(q.ty),
                    "request {w} (type {}) got {m:?}",
                    q.ty
                );
                let expect_bound = match (q.kind, m) {
                    (MKind::Read, Rmessage::Rread(d)) => {
                        ensure!(
                            d.data.0.len() == ident(no) as usize,
                            "request {w} got the Rread of another ({} bytes)",
                            d.data.0.len()
                        );
                        None
                    }
                    (MKind::Walk { newfid, names }, Rmessage::Rwalk(r)) => {
                        ensure!(r.wqid.len() <= names, "Rwalk with too many qids delivered");
                        ensure!(
                            r.wqid.iter().all(|q| q.path == u64::from(ident(no))),
                            "request {w} got the Rwalk of another"
                        );
                        (r.wqid.len() == names).then_some(newfid)
                    }
                    (MKind::Attach { fid }, Rmessage::Rattach(a)) => {
                        ensure!(
                            a.qid.path == u64::from(ident(no)),
                            "request {w} got the Rattach of another"
                        );
                        Some(fid)
                    }
                    (MKind::Clunk { .. }, Rmessage::Rclunk(_)) => None,
                    (k, m) => {
                        return Err(TestCaseError::fail(format!(
                            "request {w} ({k:?}) got {m:?}"
                        )))
                    }
                };
                ensure!(
                    bound == expect_bound,
                    "request {w} bound {bound:?}, expected {expect_bound:?}"
                );
                if let Some(f) = bound {
                    ensure!(
                        self.bound.contains_key(&f),
                        "{f:?} handed to request {w}, but the server did not bind it"
                    );
                    ensure!(!self.owned.contains(&f), "{f:?} handed out twice");
                    self.owned.push(f);
                }
            }
            Err(e) => {
                ensure!(bound.is_none(), "error {e:?} with a bound fid");
                match e {
                    Error::Flushed => {
                        ensure!(q.flushes_sent() > 0, "request {w} flushed without a Tflush")
                    }
                    Error::Remote(re) => ensure!(
                        re.errno == Some(1000 + w),
                        "request {w} got another's error {re:?}"
                    ),
                    Error::FlushUnconfirmed | Error::Protocol(_) | Error::Decode(_) => {}
                    e => return Err(TestCaseError::fail(format!("request {w} got {e:?}"))),
                }
            }
        }
        Ok(())
    }

    // ---- server side ----

    /// The server's answer to request `r`, as `how` says.
    fn answer_of(&self, r: usize, how: How) -> Reply {
        let q = &self.reqs[r];
        let qids = |n: usize| -> Reply {
            Ok(Rwalk {
                wqid: vec![qid(r); n],
            }
            .into())
        };
        Ok(match (how, q.kind) {
            (How::Error, _) => Rlerror {
                ecode: 1000 + r as u32,
            }
            .into(),
            (How::Undecodable, _) => return Err(DecodeError::TrailingBytes(3)),
            (How::Mismatch, MKind::Read) => Rclunk {}.into(),
            (How::Mismatch, _) => rread(ident(r)),
            (How::Partial, MKind::Walk { names, .. }) => return qids(names - 1),
            (How::TooMany, MKind::Walk { names, .. }) => return qids(names + 1),
            (_, MKind::Walk { names, .. }) => return qids(names),
            (_, MKind::Read) => rread(ident(r)),
            (_, MKind::Clunk { .. }) => Rclunk {}.into(),
            (_, MKind::Attach { .. }) => Rattach { qid: qid(r) }.into(),
        })
    }

    fn answer(&mut self, pick: usize, how: How) -> Check {
        let pending: Vec<usize> = (0..self.reqs.len())
            .filter(|&r| self.reqs[r].srv == Srv::Pending)
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        let r = pending[pick % pending.len()];
        let reply = self.answer_of(r, how);
        self.send(self.reqs[r].tag, reply, Some(Occ::Req(r)))?;
        Ok(())
    }

    fn pick_flush(&self, pick: usize) -> Option<usize> {
        let open: Vec<usize> = (0..self.flushes.len())
            .filter(|&f| !self.flushes[f].srv_done)
            .collect();
        (!open.is_empty()).then(|| open[pick % open.len()])
    }

    /// The server answers flush `f` with Rflush: the earlier flushes of its
    /// victim count as answered (their own Rflush would now be late), and a
    /// victim not answered yet is aborted.
    fn rflush(&mut self, f: usize) -> Check {
        let tag = self.flushes[f].tag;
        if !self.send(tag, Ok(Rflush {}.into()), Some(Occ::Flush(f)))? {
            return Ok(());
        }
        let v = self.flushes[f].victim;
        let all = self.reqs[v].all_flushes.clone();
        for &g in all.iter().take_while(|&&g| g != f) {
            if !self.flushes[g].srv_done {
                self.flushes[g].srv_done = true;
                self.pool.push(Frame {
                    tag: self.flushes[g].tag,
                    reply: Ok(Rflush {}.into()),
                    meant: Some(Occ::Flush(g)),
                });
            }
        }
        self.flushes[f].srv_done = true;
        if self.reqs[v].srv == Srv::Pending {
            self.reqs[v].srv = Srv::FlushedAway;
            let reply = self.answer_of(v, How::Ok);
            self.pool.push(Frame {
                tag: self.reqs[v].tag,
                reply,
                meant: Some(Occ::Req(v)),
            });
        }
        Ok(())
    }

    fn stray(&mut self, tag: u16, what: u8) -> Check {
        let tag = match what % 4 {
            0 => NOTAG,
            1 => Tag(TAGS + tag % 500),
            _ => Tag(tag % TAGS),
        };
        // No request has number 0 in its replies: ident() starts at 1.
        let reply: Reply = match (what / 4) % 7 {
            0 => Ok(rread(7777)),
            1 => Ok(Rwalk {
                wqid: vec![Qid::default()],
            }
            .into()),
            2 => Ok(Rattach {
                qid: Qid::default(),
            }
            .into()),
            3 => Ok(Rclunk {}.into()),
            4 => Ok(Rflush {}.into()),
            5 => Ok(Rlerror { ecode: 7777 }.into()),
            _ => Err(DecodeError::TrailingBytes(1)),
        };
        self.send(tag, reply, None)?;
        Ok(())
    }

    /// Whether a frame meant for `meant` may be sent on `tag`: anything but
    /// what no client can tell from the real answer of whoever holds the tag
    /// now (a reply of its type, an error, an Rflush on a Tflush).
    fn safe(&self, tag: Tag, reply: &Reply, meant: Option<Occ>) -> bool {
        let Some(&occ) = self.occupant.get(&tag.0) else {
            return true;
        };
        if Some(occ) == meant {
            return true;
        }
        let live = self.is_live(occ);
        if !live && !self.s.entries.contains_key(&tag) {
            return true;
        }
        match occ {
            Occ::Flush(_) => !matches!(reply, Ok(Rmessage::Rflush(_))),
            Occ::Req(r) if live && self.reqs[r].replied => true,
            Occ::Req(r) => match reply {
                Ok(Rmessage::Rflush(_)) | Err(_) => true,
                Ok(m) => !m.is_error() && !m.answers(self.reqs[r].ty),
            },
        }
    }

    /// The server sends `reply` on `tag` (if [`Harness::safe`]): update the
    /// server's fids and the rules' view of the tags, then feed the session.
    fn send(&mut self, tag: Tag, reply: Reply, meant: Option<Occ>) -> Result<bool, TestCaseError> {
        if !self.safe(tag, &reply, meant) {
            return Ok(false);
        }
        let is_rflush = matches!(reply, Ok(Rmessage::Rflush(_)));
        let occ = self.live_occupant(tag);

        // Server side: the first answer of a request does what it says.
        if let Some(Occ::Req(r)) = meant.filter(|_| !is_rflush) {
            let first = match self.reqs[r].srv {
                Srv::Pending => {
                    self.reqs[r].srv = Srv::Answered;
                    true
                }
                Srv::FlushedAway if !self.reqs[r].late_sent => {
                    self.reqs[r].late_sent = true;
                    true
                }
                _ => false,
            };
            if let (true, MKind::Clunk { fid, generation }) = (first, self.reqs[r].kind) {
                if generation.is_some() && self.bound.get(&fid).copied() == generation {
                    self.bound.remove(&fid);
                }
            }
            // A binding counts only when the client takes it as the answer.
            if occ == Some(Occ::Req(r)) && !self.reqs[r].replied {
                let fid = match (self.reqs[r].kind, &reply) {
                    (MKind::Walk { newfid, names }, Ok(Rmessage::Rwalk(w)))
                        if w.wqid.len() == names =>
                    {
                        Some(newfid)
                    }
                    (MKind::Attach { fid }, Ok(Rmessage::Rattach(_))) => Some(fid),
                    _ => None,
                };
                if let Some(fid) = fid {
                    self.generation += 1;
                    self.bound.insert(fid, self.generation);
                }
            }
        }

        // Client side, by the rules.
        match occ {
            None => {}
            Some(Occ::Req(r)) => {
                let q = &mut self.reqs[r];
                if !is_rflush && !q.replied {
                    q.replied = true;
                    q.live = !q.flushes.is_empty();
                }
            }
            Some(Occ::Flush(f)) => {
                let v = self.flushes[f].victim;
                let pos = self.reqs[v].flushes.iter().position(|&g| g == f);
                let Some(k) = pos else {
                    return Err(TestCaseError::fail(format!(
                        "model: live flush {f} not in its chain"
                    )));
                };
                let answered: Vec<usize> = if is_rflush {
                    self.reqs[v].flushes.drain(..=k).collect()
                } else {
                    vec![self.reqs[v].flushes.remove(k)]
                };
                for g in answered {
                    self.flushes[g].live = false;
                }
                let q = &mut self.reqs[v];
                if q.flushes.is_empty() && (is_rflush || q.replied) {
                    q.live = false;
                }
            }
        }

        let acts = self.s.on_reply(tag, reply.clone());
        self.pool.push(Frame { tag, reply, meant });
        self.actions(acts, Ctx::Reply)?;
        Ok(true)
    }

    // ---- invariants ----

    fn in_flight(&self) -> usize {
        self.reqs.iter().filter(|q| q.live && !q.replied).count()
    }

    fn check_step(&self) -> Check {
        let st = self.s.stats();
        ensure!(
            st.in_flight == self.in_flight(),
            "stats().in_flight = {}, the rules say {}",
            st.in_flight,
            self.in_flight()
        );
        for t in 0..TAGS {
            let held = self.s.entries.get(&Tag(t));
            match (self.live_occupant(Tag(t)), held) {
                (Some(Occ::Req(_)), Some(Entry::Request(_)))
                | (Some(Occ::Flush(_)), Some(Entry::Flush { .. })) => {}
                (Some(o), h) => {
                    let why = format!("tag {t} released early: reserved for {o:?}, held: {h:?}");
                    return Err(TestCaseError::fail(why));
                }
                (None, Some(h)) => ensure!(
                    self.s.order_violated(),
                    "tag {t} held ({h:?}) past the rules on a server with no order violation"
                ),
                (None, None) => {}
            }
        }
        ensure!(
            st.fids_in_use >= self.owned.len(),
            "{} fids in use, the test owns {}",
            st.fids_in_use,
            self.owned.len()
        );
        Ok(())
    }

    /// The server answers everything it holds, in order; late answers of
    /// aborted requests go to the tags still waiting for them; time passes
    /// every deadline. Then nothing may be left over.
    fn drain(&mut self) -> Check {
        for _ in 0..32 {
            let mut r = 0;
            while r < self.reqs.len() {
                if self.reqs[r].srv == Srv::Pending {
                    let reply = self.answer_of(r, How::Ok);
                    if !self.send(self.reqs[r].tag, reply, Some(Occ::Req(r)))? {
                        self.reqs[r].srv = Srv::Dropped;
                    }
                    self.check_step()?;
                }
                r += 1;
            }
            let mut f = 0;
            while f < self.flushes.len() {
                if !self.flushes[f].srv_done {
                    self.rflush(f)?;
                    self.flushes[f].srv_done = true;
                    self.check_step()?;
                }
                f += 1;
            }
            for r in 0..self.reqs.len() {
                let q = &self.reqs[r];
                if q.srv == Srv::FlushedAway
                    && !q.late_sent
                    && self.occupant.get(&q.tag.0) == Some(&Occ::Req(r))
                {
                    let reply = self.answer_of(r, How::Ok);
                    self.send(q.tag, reply, Some(Occ::Req(r)))?;
                    self.check_step()?;
                }
            }
            // A flush the client still waits on but the server counts as
            // answered (its Rflush, or a later one, was taken by the client
            // for something else): the server repeats the Rflush.
            for f in 0..self.flushes.len() {
                if self.flushes[f].live {
                    let tag = self.flushes[f].tag;
                    self.send(tag, Ok(Rflush {}.into()), Some(Occ::Flush(f)))?;
                    self.check_step()?;
                }
            }
            self.tick(Duration::from_secs(10))?;
            self.check_step()?;
            let busy = self.reqs.iter().any(|q| q.srv == Srv::Pending)
                || self.flushes.iter().any(|f| !f.srv_done)
                || self.s.next_deadline().is_some();
            if !busy {
                return self.check_end();
            }
        }
        Err(TestCaseError::fail("the drain does not settle"))
    }

    fn check_end(&self) -> Check {
        for (r, q) in self.reqs.iter().enumerate() {
            if q.waiter && !q.abandoned {
                ensure!(q.delivered == 1, "request {r} ({q:?}) never completed");
            }
        }
        let st = self.s.stats();
        ensure!(
            st.in_flight == 0,
            "{} requests still in flight",
            st.in_flight
        );
        ensure!(
            st.quarantined == 0,
            "{} tags still quarantined",
            st.quarantined
        );
        ensure!(self.s.entries.is_empty(), "tags still held after the drain");
        ensure!(
            st.fids_in_use == self.owned.len(),
            "{} fids in use, the test owns {:?}",
            st.fids_in_use,
            self.owned
        );
        let owned: BTreeSet<Fid> = self.owned.iter().copied().collect();
        let bound: BTreeSet<Fid> = self.bound.keys().copied().collect();
        ensure!(
            owned == bound,
            "the server holds {bound:?}, the test owns {owned:?}"
        );
        Ok(())
    }
}

impl MReq {
    fn flushes_sent(&self) -> u32 {
        self.all_flushes.len() as u32
    }
}

fn run(ops: &[Op]) -> Check {
    let mut h = Harness::new();
    for op in ops {
        h.apply(op)?;
    }
    h.drain()
}

proptest! {
    // 256 cases unless PROPTEST_CASES says otherwise.
    #![proptest_config(ProptestConfig {
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_interleavings_keep_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
        run(&ops)?;
    }
}
