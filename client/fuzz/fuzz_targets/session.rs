//! The sans-I/O client session driven by a script and fed arbitrary server
//! bytes.
//!
//! Input layout: byte 0 picks the tag space (2..=33 tags) and byte 1 the
//! fid limit and the flush policy; the rest is a script of operations, each
//! an opcode byte and its operands. Operations start requests (Tread,
//! Twalk to a fresh fid, Tclunk of an owned fid, Tattach), cancel, probe
//! (the flush probe: 1-3 Tflush at once, maybe a self-flush) or abandon
//! one, advance the clock and call `on_timeout`, append raw bytes
//! to the server stream, or append a well-formed reply frame on a chosen
//! tag (so the fuzzer reaches the interesting tags quickly). Every frame is
//! cut by `decode_frame::<Rmessage>` and given to `Session::on_reply`; a
//! framing error ends the connection with `fail_all`, as the driver does.
//!
//! Invariants, for any input: no panic; `in_flight` never exceeds requests
//! started nor the tag space; a waiter is handed back (delivered, returned
//! by `abandon`, or by `fail_all`) at most once, and after `fail_all` every
//! waiter has been handed back; after `fail_all` nothing is in flight or
//! quarantined; `fids_in_use` never exceeds fids allocated and covers the
//! fids the client owns; a fid is never bound to a waiter twice, and the
//! session never clunks a fid the client owns; tags it sends on are inside
//! the tag space.
#![no_main]

use std::collections::{BTreeSet, HashSet};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use libfuzzer_sys::fuzz_target;
use ninep_client::alloc::{FidAllocator, TagAllocator};
use ninep_client::session::{Action, FlushPolicy, Session};
use ninep_client::wire::{
    decode_frame, encode_frame, Data, Dialect, Qid, Rattach, Rclunk, Rflush, Rlerror, Rmessage,
    Rread, Rwalk, Tattach, Tclunk, Tmessage, Tread, Twalk,
};
use ninep_client::{Fid, Tag, NOFID};

const MSIZE: u32 = 8192;

struct Script<'a>(&'a [u8]);

impl Script<'_> {
    fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    fn take(&mut self, n: usize) -> &[u8] {
        let n = n.min(self.0.len());
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        a
    }
}

struct Harness {
    s: Session<u64>,
    tag_space: u16,
    t0: Instant,
    now: Duration,
    /// Fids alloc_fid handed out, in all.
    fids_allocated: usize,
    /// Fids the client owns (bound by a delivered reply, or the root).
    owned: Vec<Fid>,
    /// Requests started by the script: (tag, id, waiter).
    pending: Vec<(Tag, u64, u64)>,
    next_waiter: u64,
    started: u64,
    handed_back: HashSet<u64>,
    buf: BytesMut,
    dead: bool,
}

impl Harness {
    fn hand_back(&mut self, w: u64, how: &str) {
        assert!(w < self.next_waiter, "{how}: unknown waiter {w}");
        assert!(self.handed_back.insert(w), "{how}: waiter {w} handed back twice");
    }

    fn apply(&mut self, actions: Vec<Action<u64>>) {
        for a in actions {
            match a {
                Action::Deliver {
                    waiter,
                    result,
                    bound,
                } => {
                    self.hand_back(waiter, "Deliver");
                    if let Some(fid) = bound {
                        assert!(result.is_ok(), "bound fid {fid:?} with an error result");
                        assert!(!self.owned.contains(&fid), "{fid:?} bound twice");
                        self.owned.push(fid);
                    }
                }
                Action::Send(tag, msg) => {
                    assert!(tag.0 < self.tag_space, "Send on {tag:?} outside the tag space");
                    match msg {
                        Tmessage::Tclunk(c) => {
                            assert!(!self.owned.contains(&c.fid), "session clunks owned {:?}", c.fid)
                        }
                        Tmessage::Tflush(f) => {
                            assert!(f.oldtag.0 < self.tag_space, "Tflush of {:?}", f.oldtag)
                        }
                        m => panic!("session sent {m:?}"),
                    }
                }
                Action::Violation(_) => {}
            }
        }
        self.check();
    }

    fn check(&self) {
        let st = self.s.stats();
        assert!(st.in_flight as u64 <= st.requests, "{st:?}");
        assert!(st.in_flight <= self.tag_space as usize, "{st:?}");
        assert!(st.quarantined <= self.tag_space as usize, "{st:?}");
        assert!(st.requests >= self.started, "{st:?}");
        assert!(st.fids_in_use <= self.fids_allocated, "{st:?} > {}", self.fids_allocated);
        assert!(st.fids_in_use >= self.owned.len(), "{st:?} < owned {:?}", self.owned);
    }

    fn start(&mut self, msg: Tmessage) -> bool {
        let w = self.next_waiter;
        match self.s.start(&msg, Some(w)) {
            Ok((tag, id)) => {
                assert!(tag.0 < self.tag_space, "start gave {tag:?}");
                self.next_waiter += 1;
                self.started += 1;
                if self.pending.len() >= 64 {
                    self.pending.remove(0);
                }
                self.pending.push((tag, id, w));
                self.check();
                true
            }
            Err(_) => false,
        }
    }

    fn fresh_fid(&mut self) -> Option<Fid> {
        let fid = self.s.alloc_fid().ok()?;
        self.fids_allocated += 1;
        Some(fid)
    }

    fn pick_owned(&self, b: u8) -> Option<Fid> {
        (!self.owned.is_empty()).then(|| self.owned[b as usize % self.owned.len()])
    }

    fn pick_pending(&self, b: u8) -> Option<(Tag, u64, u64)> {
        (!self.pending.is_empty()).then(|| self.pending[b as usize % self.pending.len()])
    }

    /// Decode every whole frame in the stream; framing lost = connection gone.
    fn drain(&mut self) {
        loop {
            match decode_frame::<Rmessage>(&mut self.buf, MSIZE, Dialect::L) {
                Ok(None) => return,
                Ok(Some((tag, reply))) => {
                    let actions = self.s.on_reply(tag, reply);
                    self.apply(actions);
                }
                Err(_) => {
                    self.fail_all();
                    return;
                }
            }
        }
    }

    fn fail_all(&mut self) {
        for w in self.s.fail_all() {
            self.hand_back(w, "fail_all");
        }
        let st = self.s.stats();
        assert_eq!(st.in_flight, 0, "after fail_all: {st:?}");
        assert_eq!(st.quarantined, 0, "after fail_all: {st:?}");
        assert_eq!(
            self.handed_back.len() as u64,
            self.next_waiter,
            "after fail_all, waiters never handed back: {:?}",
            (0..self.next_waiter)
                .filter(|w| !self.handed_back.contains(w))
                .collect::<BTreeSet<_>>()
        );
        self.check();
        self.dead = true;
    }
}

fn reply_for(kind: u8, arg: u8) -> Rmessage {
    let qid = Qid {
        ty: 0,
        version: 0,
        path: u64::from(arg),
    };
    match kind % 7 {
        0 => Rread {
            data: Data(Bytes::from(vec![arg; usize::from(arg % 16)])),
        }
        .into(),
        1 => Rwalk {
            wqid: vec![qid; usize::from(arg % 5)],
        }
        .into(),
        2 => Rclunk {}.into(),
        3 => Rflush {}.into(),
        4 => Rlerror {
            ecode: u32::from(arg),
        }
        .into(),
        5 => Rattach { qid }.into(),
        _ => Rflush {}.into(),
    }
}

fuzz_target!(|data: &[u8]| {
    let mut inp = Script(data);
    let (Some(a), Some(b)) = (inp.u8(), inp.u8()) else {
        return;
    };
    let tag_space = 2 + u16::from(a % 32);
    let policy = FlushPolicy {
        timeout: Duration::from_millis(100),
        max_flushes: 1 + u32::from(b % 3),
    };
    let fid_limit = 2 + u32::from((b / 3) % 16);
    let mut h = Harness {
        s: Session::with_allocators(
            policy,
            TagAllocator::with_size(tag_space),
            FidAllocator::with_limit(fid_limit),
        ),
        tag_space,
        t0: Instant::now(),
        now: Duration::ZERO,
        fids_allocated: 0,
        owned: Vec::new(),
        pending: Vec::new(),
        next_waiter: 0,
        started: 0,
        handed_back: HashSet::new(),
        buf: BytesMut::new(),
        dead: false,
    };
    // The root, as if attached already.
    let root = h.fresh_fid().expect("a root fid");
    h.owned.push(root);

    let mut ops = 0;
    while let Some(op) = inp.u8() {
        ops += 1;
        if h.dead || ops > 512 {
            break;
        }
        let x = inp.u8().unwrap_or(0);
        match op % 9 {
            0 => {
                if let Some(fid) = h.pick_owned(x) {
                    h.start(
                        Tread {
                            fid,
                            offset: 0,
                            count: 4096,
                        }
                        .into(),
                    );
                }
            }
            1 => {
                let Some(fid) = h.pick_owned(x) else { continue };
                let Some(newfid) = h.fresh_fid() else { continue };
                let names = usize::from(x >> 4) % 4;
                let msg = Twalk {
                    fid,
                    newfid,
                    wname: (0..names).map(|_| "n".into()).collect(),
                }
                .into();
                if !h.start(msg) {
                    h.s.release_unsent_fid(newfid);
                }
            }
            2 => {
                let Some(fid) = h.pick_owned(x) else { continue };
                if h.start(Tclunk { fid }.into()) {
                    h.owned.retain(|&f| f != fid);
                }
            }
            3 => {
                let Some(fid) = h.fresh_fid() else { continue };
                let msg = Tattach {
                    fid,
                    afid: NOFID,
                    uname: "u".into(),
                    aname: "".into(),
                    n_uname: Some(0),
                }
                .into();
                if !h.start(msg) {
                    h.s.release_unsent_fid(fid);
                }
            }
            4 => {
                if let Some((tag, id, _)) = h.pick_pending(x) {
                    let now = h.t0 + h.now;
                    let actions = match x & 0x80 {
                        0 => h.s.cancel(tag, id, now),
                        _ => h.s.probe(tag, id, 1 + u32::from(x % 3), x & 0x40 != 0, now),
                    };
                    h.apply(actions);
                }
            }
            5 => {
                if let Some((tag, id, w)) = h.pick_pending(x) {
                    if let Some(got) = h.s.abandon(tag, id) {
                        assert_eq!(got, w, "abandon of {tag:?}/{id} gave another waiter");
                        h.hand_back(got, "abandon");
                    }
                    h.check();
                }
            }
            6 => {
                h.now += Duration::from_millis(u64::from(x) * 5);
                let now = h.t0 + h.now;
                let actions = h.s.on_timeout(now);
                h.apply(actions);
                // A deadline still due after on_timeout would make the
                // driver's timer task spin (seed `flush-no-tag-left` was
                // such a case: no tag left for another Tflush).
                if let Some(d) = h.s.next_deadline() {
                    assert!(d > now, "next_deadline still due after on_timeout");
                }
            }
            7 => {
                let chunk = inp.take(usize::from(x));
                h.buf.extend_from_slice(chunk);
                h.drain();
            }
            _ => {
                // A well-formed reply on a pending tag (or a raw tag number).
                let kind = inp.u8().unwrap_or(0);
                let arg = inp.u8().unwrap_or(0);
                let tag = match h.pick_pending(x) {
                    Some((t, _, _)) if kind & 0x80 == 0 => t,
                    _ => Tag(u16::from(x) % (tag_space + 2)),
                };
                encode_frame(tag, &reply_for(kind, arg), &mut h.buf);
                h.drain();
            }
        }
    }
    if !h.dead {
        h.fail_all();
    }
});
