//! The tokio driver: one reader task that hands replies out by tag, one
//! writer task that sends everything queued since its last write in one go,
//! and one timer task for flush deadlines.
//!
//! Callers never touch the socket. A request is registered in the
//! [`Session`] and encoded into the shared write buffer under one lock, then
//! the writer is woken; the reader gives each reply to the session and
//! carries out what it answers (wake a caller, send a Tclunk). When either
//! half fails, the connection is closed: every request in flight fails at
//! once with [`Error::Disconnected`], and every later one before it is sent.
//!
//! Cancelling: dropping a request's future sends a Tflush (its tag stays
//! reserved until the chain settles); a [`CancelToken`] in scope around a
//! request sends one more Tflush per `cancel()`, while the caller keeps
//! waiting for the real outcome (the victim's reply if it wins the race).
//!
//! The flush probe (`Config::flush_probe`): one in N requests without side
//! effects is flushed on purpose right after it is queued (the Tflush go
//! out in the same write); if the server cancels it, it is sent again,
//! unprobed, so the caller sees only the real reply.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, watch, Notify};
use tracing::{debug, trace, warn};

use crate::error::Error;
use crate::ids::{Fid, Tag};
use crate::session::{
    probe_eligible, watch_period, Action, FlushProfile, Overdue, ProbeChoice, ProbePicker, Session,
    Stats, Traffic,
};
use crate::transport::{ReadHalf, WriteHalf};
use crate::wire::{DecodeError, Dialect, Message, Rmessage, Tmessage};

mod placed;
mod reader;
mod writer;

pub(crate) use placed::Sink;
use writer::Outbox;

type Reply = Result<Rmessage, Error>;

/// Who waits for a reply: the caller's channel, and where an Rread's data
/// may go (see [`placed`]).
pub(crate) struct Waiter {
    tx: oneshot::Sender<Reply>,
    sink: Option<Sink>,
}

struct State {
    session: Session<Waiter>,
    out: Outbox,
    closed: Option<String>,
    /// The flush probe, when on.
    probe: Option<ProbePicker>,
}

/// What the reader, the writer, the timer and the callers share.
pub(crate) struct ConnCore {
    state: Mutex<State>,
    wake_writer: Notify,
    wake_timer: Notify,
    /// Why the connection closed, once it has.
    closed_tx: watch::Sender<Option<String>>,
    pub(crate) msize: u32,
    pub(crate) dialect: Dialect,
    /// The flush probe is on (its picker is in `State`).
    probing: bool,
    /// Callers waiting with a [`Sink`]: while there are any, the reader
    /// reads in small steps (see [`placed`]).
    sinks_out: AtomicUsize,
    /// The connection is being closed (see [`ConnCore::retire`]): fids let
    /// go of now are not clunked one by one.
    retiring: AtomicBool,
    /// Tags held for a rule-breaking server that call for a new connection.
    quarantine_limit: usize,
    /// Set once they are reached (see [`ConnCore::needs_replacing`]).
    replace_tx: watch::Sender<bool>,
    /// Lets go of cached fids when they come near their cap.
    shed: Mutex<Option<Arc<dyn Fn() + Send + Sync>>>,
}

tokio::task_local! {
    static CANCEL: CancelToken;
}

/// Cancels the requests made inside [`CancelToken::scope`]: each
/// [`CancelToken::cancel`] sends one more Tflush for the request in flight
/// (up to the flush policy's maximum), and the request's caller then gets
/// the real reply if it won the race, [`Error::Flushed`] if the Rflush came
/// first, or [`Error::FlushUnconfirmed`] when the server confirmed nothing
/// in time. This is how a FUSE interrupt reaches the 9P request serving it.
#[derive(Clone, Debug)]
pub struct CancelToken {
    tx: Arc<watch::Sender<u32>>,
}

impl Default for CancelToken {
    fn default() -> Self {
        CancelToken {
            tx: Arc::new(watch::channel(0).0),
        }
    }
}

impl CancelToken {
    /// A token nobody has cancelled yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Ask for cancellation (again).
    pub fn cancel(&self) {
        self.tx.send_modify(|n| *n += 1);
    }

    /// How many times `cancel` was called.
    pub fn cancels(&self) -> u32 {
        *self.tx.borrow()
    }

    /// Resolves once `cancel` has been called (at once if it was), for a
    /// wait that is not a request, such as one for a new connection.
    pub async fn cancelled(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|n| *n > 0).await;
    }

    /// The token governing the requests made here (inside a
    /// [`CancelToken::scope`]), if any: for a wait that is not a request
    /// made here, such as one for another task's reads.
    pub fn current() -> Option<CancelToken> {
        CANCEL.try_with(|t| t.clone()).ok()
    }

    /// Run `fut` with this token governing the requests it makes.
    pub async fn scope<F: std::future::Future>(&self, fut: F) -> F::Output {
        CANCEL.scope(self.clone(), fut).await
    }
}

impl ConnCore {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; carry on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Start driving a negotiated connection.
    pub(crate) fn spawn(
        r: ReadHalf,
        w: WriteHalf,
        msize: u32,
        dialect: Dialect,
        session: Session<Waiter>,
        probe: Option<ProbePicker>,
        cfg: &crate::client::Config,
    ) -> (Arc<ConnCore>, [tokio::task::JoinHandle<()>; 3]) {
        let watchdog = cfg.watchdog;
        let probing = probe.is_some();
        let shared = Arc::new(ConnCore {
            state: Mutex::new(State {
                session,
                out: Outbox::default(),
                closed: None,
                probe,
            }),
            wake_writer: Notify::new(),
            wake_timer: Notify::new(),
            closed_tx: watch::channel(None).0,
            msize,
            dialect,
            probing,
            sinks_out: AtomicUsize::new(0),
            retiring: AtomicBool::new(false),
            quarantine_limit: cfg.quarantine_limit,
            replace_tx: watch::channel(false).0,
            shed: Mutex::new(None),
        });
        let reader = tokio::spawn(reader::read_loop(shared.clone(), r));
        let writer = tokio::spawn(writer::write_loop(shared.clone(), w));
        let timer = tokio::spawn(timer_loop(shared.clone(), watchdog));
        (shared, [reader, writer, timer])
    }

    /// Counters of the session.
    pub(crate) fn stats(&self) -> Stats {
        self.lock().session.stats()
    }

    /// The session's flush profile and traffic counters.
    pub(crate) fn profile(&self) -> (FlushProfile, Traffic) {
        let st = self.lock();
        (st.session.flush_profile(), st.session.traffic())
    }

    /// Allocate a fid for a request about to be sent; and whether the fids
    /// in use come near their cap (time to shed some: see
    /// [`ConnCore::fid_pressure`]).
    pub(crate) fn alloc_fid(&self) -> (Result<Fid, Error>, bool) {
        let mut st = self.lock();
        let fid = st.session.alloc_fid();
        (fid, st.session.fids_near_cap())
    }

    /// Hand out fid numbers below `limit` only; true if that lowered the
    /// cap.
    pub(crate) fn cap_fids(&self, limit: u32) -> bool {
        let mut st = self.lock();
        let lowered = limit < st.session.fid_cap();
        st.session.cap_fids(limit);
        lowered
    }

    pub(crate) fn fid_cap(&self) -> u32 {
        self.lock().session.fid_cap()
    }

    /// Ask whoever keeps fids only to save walks (the mount's inode
    /// cache) to let some go: called without the state's lock, since
    /// dropping a fid clunks it.
    pub(crate) fn fid_pressure(&self) {
        let hook = self.shed.lock().unwrap_or_else(|e| e.into_inner()).clone();
        if let Some(shed) = hook {
            shed();
        }
    }

    /// Install the hook [`ConnCore::fid_pressure`] calls.
    pub(crate) fn on_fid_pressure(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        *self.shed.lock().unwrap_or_else(|e| e.into_inner()) = Some(hook);
    }

    /// Queue `msg`; `waiter` (if any) gets the reply. With `probe`, the
    /// flush probe may flush it at once: the answer says whether it did.
    fn submit(
        &self,
        msg: &Tmessage,
        waiter: Option<Waiter>,
        probe: bool,
    ) -> Result<(Tag, u64, bool), Error> {
        let len = crate::wire::HEADER_LEN + msg.body_len();
        if len > self.msize as usize {
            return Err(Error::Invalid(format!(
                "{} of {len} bytes exceeds msize {}",
                msg.name(),
                self.msize
            )));
        }
        let mut st = self.lock();
        if let Some(why) = &st.closed {
            return Err(Error::Disconnected(why.clone()));
        }
        let (tag, id) = st.session.start(msg, waiter)?;
        trace!(?tag, msg = msg.name(), "send");
        st.out.push(tag, msg);
        let choice = probe.then(|| probe_choice(&mut st, msg)).flatten();
        let Some(c) = choice else {
            drop(st);
            self.wake_writer.notify_one();
            return Ok((tag, id, false));
        };
        let now = Instant::now();
        let actions = st.session.probe(tag, id, c.flushes, c.self_flush, now);
        self.run(st, actions);
        self.wake_writer.notify_one();
        self.wake_timer.notify_one();
        Ok((tag, id, true))
    }

    /// Send `msg` and wait for its reply. A request the flush probe
    /// flushed and the server cancelled is sent again (once, unprobed),
    /// unless the caller cancelled it too.
    pub(crate) async fn rpc(self: &Arc<Self>, msg: Tmessage) -> Reply {
        self.rpc_into(msg, None).await
    }

    /// [`ConnCore::rpc`] for a Tread whose data may be placed in `sink`
    /// (then the Rread comes without it).
    pub(crate) async fn rpc_into(self: &Arc<Self>, msg: Tmessage, sink: Option<Sink>) -> Reply {
        let _out = sink.as_ref().map(|_| SinkOut::new(self));
        let again = (self.probing && probe_eligible(&msg)).then(|| msg.clone());
        let (result, probed, cancelled) = self.rpc_once(msg, &sink, again.is_some()).await;
        match (result, again) {
            (Err(Error::Flushed), Some(msg)) if probed && !cancelled => {
                trace!(
                    msg = msg.name(),
                    "flush probe: cancelled by the server, sent again"
                );
                self.rpc_once(msg, &sink, false).await.0
            }
            (result, _) => result,
        }
    }

    /// Send `msg` (letting the probe flush it if `probe`) and wait for its
    /// reply (see [`CancelToken`] and the module doc for what cancelling
    /// does). Also says whether the probe flushed it, and whether the
    /// caller cancelled it.
    async fn rpc_once(
        self: &Arc<Self>,
        msg: Tmessage,
        sink: &Option<Sink>,
        probe: bool,
    ) -> (Reply, bool, bool) {
        let (tx, rx) = oneshot::channel();
        let waiter = Waiter {
            tx,
            sink: sink.clone(),
        };
        let binds = binding_fid(&msg);
        let (tag, id, probed) = match self.submit(&msg, Some(waiter), probe) {
            Ok(sent) => sent,
            Err(e) => {
                // Never sent: a fid allocated for it is still ours to free.
                if let Some(b) = binds {
                    self.lock().session.release_unsent_fid(b.fid);
                }
                return (Err(e), false, false);
            }
        };
        let mut guard = InFlight {
            shared: self,
            tag,
            id,
            binds,
            rx: None,
        };
        let rx = guard.rx.insert(rx);
        let token = CANCEL.try_with(|t| t.clone()).ok();
        let mut cancelled = false;
        let result = match token {
            None => rx.await,
            Some(token) => {
                let mut seen = token.tx.subscribe();
                // Cancels made before this request started count too.
                if *seen.borrow_and_update() > 0 {
                    cancelled = true;
                    self.cancel(tag, id);
                }
                loop {
                    tokio::select! {
                        r = &mut *rx => break r,
                        changed = seen.changed() => match changed {
                            Ok(()) => {
                                cancelled = true;
                                self.cancel(tag, id);
                            }
                            // The token is gone; keep waiting.
                            Err(_) => break rx.await,
                        },
                    }
                }
            }
        };
        guard.rx = None;
        let reply = result.unwrap_or_else(|_| Err(Error::Disconnected("connection closed".into())));
        (reply, probed, cancelled)
    }

    /// Send one more Tflush for request `id` on `tag`, if the policy allows.
    fn cancel(&self, tag: Tag, id: u64) {
        let mut st = self.lock();
        let actions = st.session.cancel(tag, id, Instant::now());
        self.run(st, actions);
        self.wake_timer.notify_one();
    }

    /// Send Tclunk without waiting (from `Drop`); the fid is free again when
    /// the reply comes.
    pub(crate) fn clunk_nowait(&self, fid: Fid) {
        if self.retiring.load(Ordering::Relaxed) {
            return;
        }
        if let Err(e) = self.submit(&crate::wire::Tclunk { fid }.into(), None, false) {
            debug!(?fid, "clunk not sent: {e}");
        }
    }

    /// Carry out the session's actions: frames are queued under the lock
    /// already held, callers are woken after it is dropped.
    fn run(&self, mut st: MutexGuard<'_, State>, actions: Vec<Action<Waiter>>) {
        let mut wake = Vec::new();
        let mut wrote = false;
        for a in actions {
            match a {
                Action::Send(tag, msg) => {
                    if st.closed.is_none() {
                        trace!(?tag, msg = msg.name(), "send");
                        st.out.push(tag, &msg);
                        wrote = true;
                    }
                }
                Action::Deliver {
                    waiter,
                    result,
                    bound,
                } => wake.push((waiter, result, bound)),
                // The session warns once per rule broken; the rest is detail.
                Action::Violation(why) => debug!("protocol violation: {why}"),
            }
        }
        let replace = !*self.replace_tx.borrow()
            && st.closed.is_none()
            && st.session.quarantine_reached(self.quarantine_limit);
        drop(st);
        if replace {
            warn!(
                limit = self.quarantine_limit,
                "the server's broken flushes hold {} tags: this connection should be replaced",
                self.quarantine_limit
            );
            self.replace_tx.send_replace(true);
        }
        if wrote {
            self.wake_writer.notify_one();
        }
        for (waiter, result, bound) in wake {
            if waiter.tx.send(result).is_err() {
                // The caller left between our lookup and the send.
                if let Some(fid) = bound {
                    self.clunk_nowait(fid);
                }
            }
        }
    }

    fn dispatch(&self, tag: Tag, reply: Result<Rmessage, DecodeError>) {
        let mut st = self.lock();
        if st.closed.is_some() {
            // Replies still arriving after we closed (our own shutdown with
            // clunks in flight) answer nothing that is still tracked.
            return;
        }
        let actions = st.session.on_reply_at(tag, reply, Instant::now());
        self.run(st, actions);
    }

    /// The sink of the caller waiting on `tag`, if it has one.
    fn sink_of(&self, tag: Tag) -> Option<Sink> {
        let st = self.lock();
        st.session.waiter(tag)?.sink.clone()
    }

    /// An Rread on `tag` whose `n` bytes of data were placed in its sink.
    fn dispatch_placed(&self, tag: Tag, n: u32) {
        let mut st = self.lock();
        if st.closed.is_some() {
            return;
        }
        let actions = st.session.on_placed_read_at(tag, n, Instant::now());
        self.run(st, actions);
    }

    /// Whether callers wait with sinks (see [`placed::PEEK`]).
    fn placing(&self) -> bool {
        self.sinks_out.load(Ordering::Relaxed) > 0
    }

    /// Close the connection: fail everything in flight with `why`.
    pub(crate) fn close(&self, why: String) {
        let mut st = self.lock();
        if st.closed.is_some() {
            return;
        }
        debug!("connection closed: {why}");
        st.closed = Some(why.clone());
        let waiters = st.session.fail_all();
        drop(st);
        self.closed_tx.send_replace(Some(why.clone()));
        for w in waiters {
            let _ = w.tx.send(Err(Error::Disconnected(why.clone())));
        }
        self.wake_writer.notify_one();
        self.wake_timer.notify_one();
    }

    /// Resolves, with the reason, once the connection is closed.
    pub(crate) async fn closed(&self) -> String {
        let mut rx = self.closed_tx.subscribe();
        let why = match rx.wait_for(Option::is_some).await {
            Ok(why) => why.clone().unwrap_or_default(),
            Err(_) => "connection closed".into(),
        };
        why
    }

    pub(crate) fn order_violated(&self) -> bool {
        self.lock().session.order_violated()
    }

    /// Resolves once the quarantine limit is reached (never, if the
    /// connection closes first).
    pub(crate) async fn needs_replacing(&self) {
        let mut rx = self.replace_tx.subscribe();
        if rx.wait_for(|&r| r).await.is_err() {
            std::future::pending::<()>().await;
        }
    }

    /// Close from our side once every reply in flight has come, waiting
    /// at most `bound`: a server must not be left writing replies to a
    /// closed socket (diod dies of the SIGPIPE). Fids let go of meanwhile
    /// are not clunked: the end of the connection releases them all.
    pub(crate) async fn retire(&self, bound: std::time::Duration) {
        self.retiring.store(true, Ordering::Relaxed);
        let deadline = tokio::time::Instant::now() + bound;
        loop {
            let busy = {
                let st = self.lock();
                st.closed.is_none() && st.session.stats().in_flight > 0
            };
            if !busy || tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        self.close("closed by the client".into());
    }

    /// Close from our side (the client was dropped).
    pub(crate) fn shutdown(&self) {
        self.close("client shut down".into());
    }
}

/// Whether (and how) the flush probe flushes `msg`, just queued. A walk
/// is left alone once the server has answered a victim after its Rflush:
/// such a late reply could bind the new fid that the retry reuses.
fn probe_choice(st: &mut State, msg: &Tmessage) -> Option<ProbeChoice> {
    if !probe_eligible(msg) || !st.session.probing() {
        return None;
    }
    if matches!(msg, Tmessage::Twalk(_)) && st.session.order_violated() {
        return None;
    }
    st.probe.as_mut()?.pick()
}

/// A fid a request binds on success, which becomes ours to clunk if the
/// caller is gone when the reply arrives.
#[derive(Clone, Copy)]
struct Binds {
    fid: Fid,
    /// For Twalk: the names asked, which a binding Rwalk answers in full.
    walk_names: Option<usize>,
}

fn binding_fid(msg: &Tmessage) -> Option<Binds> {
    let (fid, walk_names) = match msg {
        Tmessage::Twalk(m) if m.newfid != m.fid => (m.newfid, Some(m.wname.len())),
        Tmessage::Tattach(m) => (m.fid, None),
        Tmessage::Tauth(m) => (m.afid, None),
        Tmessage::Txattrwalk(m) => (m.newfid, None),
        _ => return None,
    };
    Some(Binds { fid, walk_names })
}

impl Binds {
    /// Whether this successful reply actually bound the fid.
    fn bound_by(&self, reply: &Rmessage) -> bool {
        match reply {
            Rmessage::Rwalk(w) => Some(w.wqid.len()) == self.walk_names,
            Rmessage::Rattach(_) | Rmessage::Rauth(_) | Rmessage::Rxattrwalk(_) => true,
            _ => false,
        }
    }
}

/// Counts a caller waiting with a sink, for as long as it waits.
struct SinkOut<'a>(&'a ConnCore);

impl<'a> SinkOut<'a> {
    fn new(shared: &'a ConnCore) -> Self {
        shared.sinks_out.fetch_add(1, Ordering::Relaxed);
        SinkOut(shared)
    }
}

impl Drop for SinkOut<'_> {
    fn drop(&mut self) {
        self.0.sinks_out.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A request awaiting its reply; its `Drop` covers a caller that leaves:
/// the request is flushed and whatever its reply binds is clunked.
struct InFlight<'a> {
    shared: &'a Arc<ConnCore>,
    tag: Tag,
    id: u64,
    binds: Option<Binds>,
    rx: Option<oneshot::Receiver<Reply>>,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        rx.close();
        match rx.try_recv() {
            // The reply was delivered but never read: undo what it bound.
            Ok(Ok(reply)) => {
                if let Some(b) = self.binds.filter(|b| b.bound_by(&reply)) {
                    self.shared.clunk_nowait(b.fid);
                }
            }
            Ok(Err(_)) => {}
            // Not answered yet: flush it; the session keeps the tag.
            Err(_) => {
                let mut st = self.shared.lock();
                st.session.abandon(self.tag, self.id);
                let actions = st.session.cancel(self.tag, self.id, Instant::now());
                self.shared.run(st, actions);
                self.shared.wake_timer.notify_one();
            }
        }
    }
}

/// Sleeps until the session's next flush deadline (or until woken because
/// a new one was set), then lets the session act on it. With a `watchdog`
/// threshold it also wakes every quarter of it (at most every second) to
/// log, once each, the requests that have waited that long.
async fn timer_loop(shared: Arc<ConnCore>, watchdog: Option<Duration>) {
    let period = watchdog.map(watch_period);
    let mut next_watch = period.map(|p| Instant::now() + p);
    loop {
        let deadline = {
            let st = shared.lock();
            if st.closed.is_some() {
                return;
            }
            st.session.next_deadline()
        };
        let wake = match (deadline, next_watch) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match wake {
            Some(at) => {
                tokio::select! {
                    _ = tokio::time::sleep_until(at.into()) => {}
                    _ = shared.wake_timer.notified() => continue,
                }
            }
            None => {
                shared.wake_timer.notified().await;
                continue;
            }
        }
        let now = Instant::now();
        if let (Some(after), Some(p), Some(w)) = (watchdog, period, next_watch) {
            if now >= w {
                next_watch = Some(now + p);
                let overdue = shared.lock().session.watch(now, after);
                // A few lines each, and a count: thousands of requests held
                // by a stuck server must not flood the log.
                overdue.iter().take(OVERDUE_LINES).for_each(log_overdue);
                if overdue.len() > OVERDUE_LINES {
                    warn!(
                        "{} more 9P requests have had no reply for {after:?} or longer",
                        overdue.len() - OVERDUE_LINES
                    );
                }
            }
        }
        if deadline.is_some_and(|d| d <= now) {
            let mut st = shared.lock();
            let actions = st.session.on_timeout(now);
            shared.run(st, actions);
        }
    }
}

/// Overdue requests the watchdog names one by one in each look.
const OVERDUE_LINES: usize = 5;

/// The watchdog's one line about a request that waits too long.
fn log_overdue(o: &Overdue) {
    let cancelled = if o.flushed {
        " (cancelled: waiting for the server to settle its Tflush)"
    } else {
        ""
    };
    warn!(
        tag = o.tag.0,
        "9P request {} on tag {} has had no reply for {:.1} s{cancelled}",
        o.name,
        o.tag.0,
        o.waited.as_secs_f64()
    );
}
