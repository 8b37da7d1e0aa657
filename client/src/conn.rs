//! The tokio driver: one reader task that demultiplexes replies by tag, one
//! writer task that sends everything queued since its last write in one go.
//!
//! Callers never touch the socket. A request is registered in the
//! [`Session`] and encoded into the shared write buffer under one lock, then
//! the writer is woken; the reader hands each reply to the session and
//! wakes the caller it names. When either half fails, the connection is
//! closed: every request in flight fails at once with
//! [`Error::Disconnected`], and every later one fails before it is sent.

use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{oneshot, Notify};
use tracing::{debug, trace, warn};

use crate::error::Error;
use crate::ids::{Fid, Tag};
use crate::session::{Delivery, Session, Stats};
use crate::transport::{ReadHalf, WriteHalf};
use crate::wire::{encode_frame, DecodeError, Dialect, FrameDecoder, Rmessage, Tclunk, Tmessage};

type Waiter = oneshot::Sender<Result<Rmessage, Error>>;

/// The writer gives its buffer back only up to this size; a burst of big
/// writes should not pin megabytes for the life of the connection.
const KEEP_WRITE_BUFFER: usize = 4 << 20;
/// Bytes the reader asks the socket for at least, per read.
const READ_CHUNK: usize = 64 << 10;

struct State {
    session: Session<Waiter>,
    wbuf: BytesMut,
    closed: Option<String>,
}

/// What the reader, the writer and the callers share.
pub(crate) struct Shared {
    state: Mutex<State>,
    wake_writer: Notify,
    pub(crate) msize: u32,
    pub(crate) dialect: Dialect,
}

impl Shared {
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
    ) -> (Arc<Shared>, [tokio::task::JoinHandle<()>; 2]) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                session,
                wbuf: BytesMut::new(),
                closed: None,
            }),
            wake_writer: Notify::new(),
            msize,
            dialect,
        });
        let reader = tokio::spawn(read_loop(shared.clone(), r));
        let writer = tokio::spawn(write_loop(shared.clone(), w));
        (shared, [reader, writer])
    }

    /// Counters of the session.
    pub(crate) fn stats(&self) -> Stats {
        self.lock().session.stats()
    }

    /// Allocate a fid for a request about to be sent.
    pub(crate) fn alloc_fid(&self) -> Result<Fid, Error> {
        self.lock().session.alloc_fid()
    }

    /// Return a fid allocated for a request that was never sent.
    pub(crate) fn release_unsent_fid(&self, fid: Fid) {
        self.lock().session.release_unsent_fid(fid)
    }

    /// Queue `msg`; `waiter` (if any) gets the reply.
    fn submit(&self, msg: &Tmessage, waiter: Option<Waiter>) -> Result<(Tag, u64), Error> {
        let len = crate::wire::HEADER_LEN + crate::wire::Message::body_len(msg);
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
        encode_frame(tag, msg, &mut st.wbuf);
        drop(st);
        self.wake_writer.notify_one();
        Ok((tag, id))
    }

    /// Send `msg` and wait for its reply. Dropping the future leaves the
    /// tag in flight until the reply comes (and clunks a fid it bound).
    pub(crate) async fn rpc(self: &Arc<Self>, msg: Tmessage) -> Result<Rmessage, Error> {
        let (tx, rx) = oneshot::channel();
        let binds = binding_fid(&msg);
        let (tag, id) = match self.submit(&msg, Some(tx)) {
            Ok(sent) => sent,
            Err(e) => {
                // Never sent: a fid allocated for it is still ours to free.
                if let Some(b) = binds {
                    self.release_unsent_fid(b.fid);
                }
                return Err(e);
            }
        };
        let mut guard = Pending {
            shared: self,
            tag,
            id,
            binds,
            rx: Some(rx),
        };
        let rx = guard.rx.as_mut().expect("set above");
        let result = rx.await;
        guard.rx = None;
        result.unwrap_or_else(|_| Err(Error::Disconnected("connection closed".into())))
    }

    /// Send Tclunk without waiting (from `Drop`); the fid is free again when
    /// the reply comes.
    pub(crate) fn clunk_nowait(&self, fid: Fid) {
        if let Err(e) = self.submit(&Tclunk { fid }.into(), None) {
            debug!(?fid, "clunk not sent: {e}");
        }
    }

    fn dispatch(&self, tag: Tag, reply: Result<Rmessage, DecodeError>) {
        let mut st = self.lock();
        let delivery = st.session.on_reply(tag, reply);
        drop(st);
        match delivery {
            Delivery::Deliver {
                waiter,
                result,
                clunk,
                bound,
            } => {
                if let Some(fid) = clunk {
                    self.clunk_nowait(fid);
                }
                if waiter.send(result).is_err() {
                    // The caller left between our lookup and the send.
                    if let Some(fid) = bound {
                        self.clunk_nowait(fid);
                    }
                }
            }
            Delivery::Orphan { clunk } => {
                if let Some(fid) = clunk {
                    self.clunk_nowait(fid);
                }
            }
            Delivery::Violation(why) => warn!("protocol violation: {why}"),
        }
    }

    /// Close the connection: fail everything in flight with `why`.
    fn close(&self, why: String) {
        let mut st = self.lock();
        if st.closed.is_some() {
            return;
        }
        debug!("connection closed: {why}");
        st.closed = Some(why.clone());
        let waiters = st.session.fail_all();
        drop(st);
        for w in waiters {
            let _ = w.send(Err(Error::Disconnected(why.clone())));
        }
        self.wake_writer.notify_one();
    }

    /// Close from our side (the client was dropped).
    pub(crate) fn shutdown(&self) {
        self.close("client shut down".into());
    }
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

/// A request awaiting its reply; its `Drop` covers a caller that leaves.
struct Pending<'a> {
    shared: &'a Arc<Shared>,
    tag: Tag,
    id: u64,
    binds: Option<Binds>,
    rx: Option<oneshot::Receiver<Result<Rmessage, Error>>>,
}

impl Drop for Pending<'_> {
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
            // Not answered yet: the session keeps the tag until it is.
            Err(_) => {
                self.shared.lock().session.abandon(self.tag, self.id);
            }
        }
    }
}

async fn read_loop(shared: Arc<Shared>, mut r: ReadHalf) {
    let decoder = FrameDecoder {
        msize: shared.msize,
        dialect: shared.dialect,
    };
    let mut buf = BytesMut::with_capacity(READ_CHUNK);
    loop {
        loop {
            match decoder.decode::<Rmessage>(&mut buf) {
                Ok(Some((tag, reply))) => shared.dispatch(tag, reply),
                Ok(None) => break,
                Err(e) => return shared.close(format!("bad frame from server: {e}")),
            }
        }
        if buf.capacity() - buf.len() < READ_CHUNK / 4 {
            buf.reserve(READ_CHUNK);
        }
        match r.read_buf(&mut buf).await {
            Ok(0) if buf.is_empty() => return shared.close("server closed the connection".into()),
            Ok(0) => {
                return shared.close(format!(
                    "server closed the connection in the middle of a frame ({} bytes pending)",
                    buf.len()
                ))
            }
            Ok(_) => {}
            Err(e) => return shared.close(format!("read: {e}")),
        }
    }
}

async fn write_loop(shared: Arc<Shared>, mut w: WriteHalf) {
    let mut spare = BytesMut::new();
    loop {
        shared.wake_writer.notified().await;
        let buf = {
            let mut st = shared.lock();
            if st.closed.is_some() {
                break;
            }
            std::mem::replace(&mut st.wbuf, spare)
        };
        if !buf.is_empty() {
            if let Err(e) = w.write_all(&buf).await {
                return shared.close(format!("write: {e}"));
            }
        }
        spare = buf;
        spare.clear();
        if spare.capacity() > KEEP_WRITE_BUFFER {
            spare = BytesMut::new();
        }
    }
    let _ = w.shutdown().await;
}
