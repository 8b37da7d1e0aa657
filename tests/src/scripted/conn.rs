//! One client connection: a reader that decodes requests and handles each
//! at once, and a writer task that sends replies in the order they were
//! produced.
//!
//! Every request but a read of `/block/N` is answered before the next
//! frame is decoded. A blocked read runs as its own task (see `flush`), so
//! it holds up nothing else. All replies are produced with the connection
//! state locked and queued on one channel, so the order on the wire is the
//! order in which the server decided to send them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::BytesMut;
use ninep_client::wire::*;
use ninep_client::{Dialect, Fid, Tag};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::classic::{self, answer_version};
use super::flush::InFlight;
use super::log::{Dir, LogEntry};
use super::server::ServerState;
use super::tree::{errno, lock, slice_at, write_at, Kind, NodeId, Tree};

/// `V9FS_MAGIC`, the statfs type Linux servers report.
const V9FS_MAGIC: u32 = 0x0102_1997;
/// Most names one Twalk may carry.
const MAXWELEM: usize = 16;
/// open(2) access mode bits.
const O_ACCMODE: u32 = 3;

/// What a fid is bound to.
#[derive(Debug, Clone)]
pub(crate) struct FidState {
    pub(crate) node: NodeId,
    pub(crate) open: bool,
    /// A 9P2000 directory being read (see `classic.rs`).
    pub(crate) dir: Option<DirRead>,
}

impl FidState {
    fn new(node: NodeId) -> FidState {
        FidState {
            node,
            open: false,
            dir: None,
        }
    }

    /// Bound to `node` and open (Tcreate).
    pub(crate) fn opened(node: NodeId) -> FidState {
        FidState {
            open: true,
            ..FidState::new(node)
        }
    }
}

/// A directory read in progress: the encoded stats taken at offset 0,
/// the next one to send, and the offset the next read must ask for.
#[derive(Debug, Clone)]
pub(crate) struct DirRead {
    pub(crate) stats: Vec<bytes::Bytes>,
    pub(crate) next: usize,
    pub(crate) offset: u64,
}

/// Everything one connection knows; guarded by [`Conn::state`].
#[derive(Debug)]
pub(crate) struct State {
    /// Largest frame accepted and sent (negotiated by Tversion).
    msize: u32,
    /// The dialect negotiated (9P2000.L until a Tversion says otherwise).
    pub(crate) dialect: Dialect,
    pub(crate) fids: HashMap<Fid, FidState>,
    /// Blocked reads and held Tflushes.
    pub(crate) inflight: InFlight,
    /// Tflushes received on this connection, for `leak-N`.
    pub(crate) flushes_seen: u32,
    /// Once set, nothing more is written (`leak-N`).
    pub(crate) muted: bool,
}

/// One connection, shared by its reader and its blocked-read tasks.
#[derive(Debug)]
pub(crate) struct Conn {
    /// Connection number, for the log.
    pub(crate) id: u64,
    pub(crate) shared: Arc<ServerState>,
    state: Mutex<State>,
    out: mpsc::UnboundedSender<(Tag, Rmessage)>,
}

/// Serve one connection until the peer closes it or breaks framing.
pub(crate) async fn serve<S>(stream: S, shared: Arc<ServerState>, id: u64)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (mut rd, wr) = tokio::io::split(stream);
    let (out, rx) = mpsc::unbounded_channel();
    let state = State {
        msize: shared.config.max_msize,
        dialect: Dialect::L,
        fids: HashMap::new(),
        inflight: InFlight::default(),
        flushes_seen: 0,
        muted: false,
    };
    let conn = Arc::new(Conn {
        id,
        shared,
        state: Mutex::new(state),
        out,
    });
    tokio::spawn(write_loop(wr, rx, conn.shared.clone(), id));
    let mut buf = BytesMut::with_capacity(8192);
    loop {
        let decoder = {
            let st = conn.lock();
            FrameDecoder {
                msize: st.msize,
                dialect: st.dialect,
            }
        };
        match decoder.decode::<Tmessage>(&mut buf) {
            Ok(Some((tag, body))) => conn.handle(tag, body),
            Ok(None) => match rd.read_buf(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            },
            Err(e) => {
                conn.log(
                    Dir::In,
                    NOTAG_FOR_LOG,
                    "undecodable",
                    format!("framing lost: {e}"),
                );
                break;
            }
        }
    }
    // Stop the blocked reads: nobody is left to answer.
    conn.lock().inflight.abort_all();
}

/// The tag logged for a frame whose header could not be read.
const NOTAG_FOR_LOG: Tag = ninep_client::NOTAG;

/// Write replies in queue order; a batch queued together goes out in one
/// write. Each is logged just before it is handed to the socket.
async fn write_loop<W: AsyncWrite + Unpin>(
    mut wr: W,
    mut rx: mpsc::UnboundedReceiver<(Tag, Rmessage)>,
    shared: Arc<ServerState>,
    id: u64,
) {
    let mut buf = BytesMut::new();
    while let Some(first) = rx.recv().await {
        buf.clear();
        let mut next = Some(first);
        while let Some((tag, msg)) = next {
            let s = summary(msg.name(), &msg);
            shared
                .log
                .push(LogEntry::now(id, Dir::Out, tag, msg.name(), s));
            encode_frame(tag, &msg, &mut buf);
            next = rx.try_recv().ok();
        }
        if wr.write_all(&buf).await.is_err() || wr.flush().await.is_err() {
            return;
        }
    }
}

/// `Tread(Tread { .. })` -> `Tread { .. }`: the name once is enough.
fn summary(name: &str, msg: &impl std::fmt::Debug) -> String {
    let s = format!("{msg:?}");
    s.strip_prefix(name)
        .and_then(|r| r.strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .map_or(s.clone(), str::to_string)
}

impl Conn {
    pub(crate) fn lock(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub(crate) fn log(&self, dir: Dir, tag: Tag, name: &'static str, summary: String) {
        let entry = LogEntry::now(self.id, dir, tag, name, summary);
        self.shared.log.push(entry);
    }

    /// Queue a reply, unless the connection has gone mute. Called with the
    /// state locked, so the queue order is the decision order.
    /// An Rlerror becomes an Rerror in 9P2000 and 9P2000.u.
    pub(crate) fn emit(&self, st: &mut State, tag: Tag, msg: impl Into<Rmessage>) {
        let msg = match msg.into() {
            Rmessage::Rlerror(e) if st.dialect != Dialect::L => {
                classic::rerror(e.ecode, st.dialect).into()
            }
            m => m,
        };
        if st.muted {
            let s = summary(msg.name(), &msg);
            self.log(Dir::Dropped, tag, msg.name(), s);
            return;
        }
        // A closed channel means the writer is gone: the peer left.
        let _ = self.out.send((tag, msg));
    }

    /// Handle one decoded frame.
    fn handle(self: &Arc<Self>, tag: Tag, body: Result<Tmessage, DecodeError>) {
        let msg = match body {
            Ok(m) => m,
            Err(e) => {
                self.log(Dir::In, tag, "undecodable", e.to_string());
                let ecode = match e {
                    DecodeError::UnknownType(_) => errno::EOPNOTSUPP,
                    _ => errno::EINVAL,
                };
                let mut st = self.lock();
                return self.emit(&mut st, tag, Rlerror { ecode });
            }
        };
        self.log(Dir::In, tag, msg.name(), summary(msg.name(), &msg));
        let mut st = self.lock();
        if !matches!(msg, Tmessage::Tflush(_)) {
            st.inflight.reused(tag);
        }
        match msg {
            Tmessage::Tversion(v) => self.version(&mut st, tag, v),
            Tmessage::Tflush(f) => self.tflush(&mut st, tag, f.oldtag),
            Tmessage::Tread(r) => self.read(&mut st, tag, r),
            other => {
                let reply = self.simple(&mut st, other);
                let reply = reply.unwrap_or_else(|ecode| Rlerror { ecode }.into());
                self.emit(&mut st, tag, reply)
            }
        }
    }

    /// Tversion resets the session: every fid is forgotten and every
    /// request in flight is abandoned without a reply.
    fn version(&self, st: &mut State, tag: Tag, v: Tversion) {
        st.inflight.abort_all();
        st.fids.clear();
        let msize = v.msize.min(self.shared.config.max_msize);
        let version = match answer_version(self.shared.config.dialect, v.version.as_bytes()) {
            Some(d) => {
                st.msize = msize;
                st.dialect = d;
                d.version_string()
            }
            None => "unknown",
        };
        let reply = Rversion {
            msize,
            version: version.into(),
        };
        self.emit(st, tag, reply);
    }

    /// Tread: a `/block/N` file blocks in its own task, the rest answer now.
    fn read(self: &Arc<Self>, st: &mut State, tag: Tag, r: Tread) {
        let count = r.count.min(st.msize.saturating_sub(IOHDRSZ));
        let node = match opened(st, r.fid) {
            Ok(node) => node,
            Err(ecode) => return self.emit(st, tag, Rlerror { ecode }),
        };
        let tree = &self.shared.tree;
        let reply: Rmessage = match tree.kind(node) {
            Kind::Block(n) => return self.start_blocked_read(st, tag, n, r.offset, count),
            Kind::Dir(_) if st.dialect != Dialect::L => {
                match self.read_dir(st, r.fid, r.offset, count) {
                    Ok(data) => Rread { data: Data(data) }.into(),
                    Err(ecode) => Rlerror { ecode }.into(),
                }
            }
            Kind::Dir(_) => Rlerror {
                ecode: errno::EISDIR,
            }
            .into(),
            Kind::File(data) => Rread {
                data: Data(slice_at(&lock(&data), r.offset, count)),
            }
            .into(),
            Kind::Release => Rread {
                data: Data::default(),
            }
            .into(),
            Kind::Symlink(_) => Rlerror {
                ecode: errno::EINVAL,
            }
            .into(),
        };
        self.emit(st, tag, reply)
    }

    /// Every request that is answered at once, whatever the behaviour.
    fn simple(&self, st: &mut State, msg: Tmessage) -> Result<Rmessage, u32> {
        let tree = &self.shared.tree;
        Ok(match msg {
            Tmessage::Tattach(a) => {
                bind(st, a.fid, Tree::ROOT)?;
                Rattach {
                    qid: tree.qid(Tree::ROOT),
                }
                .into()
            }
            Tmessage::Twalk(w) => self.walk(st, w)?.into(),
            Tmessage::Tlopen(o) => self.lopen(st, o)?.into(),
            Tmessage::Twrite(w) => self.write(st, w)?.into(),
            Tmessage::Tclunk(c) => {
                st.fids.remove(&c.fid).ok_or(errno::EBADF)?;
                Rclunk {}.into()
            }
            Tmessage::Tgetattr(g) => tree.getattr(node_of(st, g.fid)?).into(),
            Tmessage::Tsetattr(s) => {
                tree.setattr(node_of(st, s.fid)?, &s)?;
                Rsetattr {}.into()
            }
            Tmessage::Treaddir(r) => {
                let count = r.count.min(st.msize.saturating_sub(IOHDRSZ));
                let data = tree.readdir(node_of(st, r.fid)?, r.offset, count)?;
                Rreaddir { data: Data(data) }.into()
            }
            Tmessage::Tstatfs(s) => {
                node_of(st, s.fid)?;
                statfs().into()
            }
            Tmessage::Topen(o) => self.open(st, o)?.into(),
            Tmessage::Tcreate(c) => self.create(st, c)?.into(),
            Tmessage::Tremove(r) => self.remove(st, r)?.into(),
            Tmessage::Twstat(w) => self.wstat(st, w)?.into(),
            Tmessage::Tstat(s) => {
                let stat = classic::stat(tree, node_of(st, s.fid)?, st.dialect);
                Rstat {
                    stat: WrappedStat(stat),
                }
                .into()
            }
            _ => return Err(errno::EOPNOTSUPP),
        })
    }

    /// Twalk: all names, or as many as exist (newfid then stays unbound),
    /// or an error if not even the first one does.
    fn walk(&self, st: &mut State, w: Twalk) -> Result<Rwalk, u32> {
        let mut node = node_of(st, w.fid)?;
        if w.newfid != w.fid && st.fids.contains_key(&w.newfid) {
            return Err(errno::EBADF);
        }
        if w.wname.len() > MAXWELEM {
            return Err(errno::EINVAL);
        }
        let mut wqid = Vec::with_capacity(w.wname.len());
        for name in &w.wname {
            match self.shared.tree.lookup(node, name.as_bytes()) {
                Ok(next) => node = next,
                Err(e) if wqid.is_empty() => return Err(e),
                Err(_) => break,
            }
            wqid.push(self.shared.tree.qid(node));
        }
        if wqid.len() == w.wname.len() {
            st.fids.insert(w.newfid, FidState::new(node));
        }
        Ok(Rwalk { wqid })
    }

    fn lopen(&self, st: &mut State, o: Tlopen) -> Result<Rlopen, u32> {
        let fid = st.fids.get_mut(&o.fid).ok_or(errno::EBADF)?;
        let writes = o.flags & O_ACCMODE != 0;
        match self.shared.tree.kind(fid.node) {
            Kind::Dir(_) if writes => return Err(errno::EISDIR),
            Kind::Block(_) if writes => return Err(errno::EACCES),
            _ => {}
        }
        fid.open = true;
        Ok(Rlopen {
            qid: self.shared.tree.qid(fid.node),
            iounit: 0,
        })
    }

    fn write(&self, st: &mut State, w: Twrite) -> Result<Rwrite, u32> {
        let count = match self.shared.tree.kind(opened(st, w.fid)?) {
            Kind::File(data) => write_at(&data, w.offset, &w.data.0)?,
            Kind::Release => {
                self.shared.release_all();
                w.data.0.len() as u32
            }
            Kind::Dir(_) => return Err(errno::EISDIR),
            Kind::Block(_) => return Err(errno::EACCES),
            Kind::Symlink(_) => return Err(errno::EINVAL),
        };
        Ok(Rwrite { count })
    }
}

fn bind(st: &mut State, fid: Fid, node: NodeId) -> Result<(), u32> {
    if st.fids.contains_key(&fid) {
        return Err(errno::EBADF);
    }
    st.fids.insert(fid, FidState::new(node));
    Ok(())
}

fn node_of(st: &State, fid: Fid) -> Result<NodeId, u32> {
    st.fids.get(&fid).map(|f| f.node).ok_or(errno::EBADF)
}

/// The node of a fid opened with Tlopen (reads and writes need one).
fn opened(st: &State, fid: Fid) -> Result<NodeId, u32> {
    match st.fids.get(&fid) {
        Some(f) if f.open => Ok(f.node),
        _ => Err(errno::EBADF),
    }
}

fn statfs() -> Rstatfs {
    Rstatfs {
        ty: V9FS_MAGIC,
        bsize: 4096,
        blocks: 1024,
        bfree: 512,
        bavail: 512,
        files: 64,
        ffree: 32,
        fsid: 0x5c_7e57,
        namelen: 255,
    }
}
