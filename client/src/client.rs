//! [`Client`]: connect, negotiate the dialect and msize, attach.
//!
//! Version negotiation happens on the bare connection before the driver
//! starts: Tversion carries `NOTAG` and resets the session, so nothing else
//! may be in flight. We ask for each dialect of [`Config::dialects`] in
//! turn, falling back when the server refuses one (an error reply, or
//! "unknown"); a server that hangs up on a dialect is dialled again for the
//! next one.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{debug, warn};

use crate::conn::{ConnCore, Sink};
use crate::error::{Error, Result};
use crate::file::File;
use crate::ids::{Fid, NOFID, NOTAG};
use crate::poller::Poller;
use crate::pool::{BufPool, ReadPool};
use crate::session::{FlushPolicy, FlushProfile, ProbePicker, Session, Stats, Traffic};
use crate::transport::{Address, ReadHalf, WriteHalf};
use crate::wire::{
    decode_frame, encode_frame, Dialect, Rmessage, Tattach, Tmessage, Tversion, IOHDRSZ,
};

/// Our default msize: 1 MiB of payload plus the I/O header.
pub const DEFAULT_MSIZE: u32 = (1 << 20) + IOHDRSZ;
/// The largest msize we ever accept, whatever a server answers.
pub const MAX_MSIZE: u32 = 16 << 20;
/// Below this an msize cannot carry a useful message.
pub const MIN_MSIZE: u32 = 256;

/// How to connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The msize to ask for (capped at [`MAX_MSIZE`]).
    pub msize: u32,
    /// Dialects to try, most preferred first.
    pub dialects: Vec<Dialect>,
    /// Bound on connecting.
    pub connect_timeout: Duration,
    /// Bound on the wait for an answer to Tversion. A 9P server answers
    /// at once (an error if it does not speak the dialect); a peer silent
    /// for this long is taken for something else (an HTTP server waiting
    /// for its request line) rather than waited for.
    pub version_timeout: Duration,
    /// When to send another Tflush for a cancelled request, and when to
    /// stop waiting for the server to confirm.
    pub flush: FlushPolicy,
    /// The flush probe: flush one in this many requests without side
    /// effects (Tread, Tgetattr, Treaddir, Twalk to a new fid) on purpose,
    /// with one to three Tflush, to build the connection's flush profile
    /// ([`Client::flush_profile`]); the callers never notice. 0: off.
    pub flush_probe: u32,
    /// The most tags held back for a server that broke the flush rules
    /// (DESIGN.md, rule 8) before the connection asks to be replaced
    /// ([`Client::needs_replacing`]); it goes on serving meanwhile.
    pub quarantine_limit: usize,
    /// Start as if the server had broken the flush order already (DESIGN.md
    /// rule 7): keep each flushed request's tag until its own reply comes.
    /// For a connection that replaces one whose server did.
    pub distrust_flush_order: bool,
    /// TCP keepalive on the connection, probing after this long idle
    /// (see [`crate::transport::keepalive`]). `None`: off.
    pub keepalive: Option<Duration>,
    /// The watchdog: a request without a reply for this long is logged
    /// once (a warning with its tag and type) and counted in
    /// [`Stats::overdue_requests`](crate::session::Stats). `None`: off.
    pub watchdog: Option<Duration>,
    /// Add every socket dialled (each dialect's, each reconnect's) to
    /// this set, which a busy-polling runtime looks at before it sleeps
    /// (see [`crate::poller`]). `None`: none.
    pub poller: Option<Poller>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            msize: DEFAULT_MSIZE,
            dialects: vec![Dialect::L, Dialect::U, Dialect::Classic],
            connect_timeout: Duration::from_secs(10),
            version_timeout: Duration::from_secs(1),
            flush: FlushPolicy::default(),
            flush_probe: 0,
            quarantine_limit: 1024,
            distrust_flush_order: false,
            keepalive: None,
            watchdog: Some(Duration::from_secs(30)),
            poller: None,
        }
    }
}

/// A connection to a 9P server. Cheap to clone; the connection closes when
/// the last clone and the last [`File`] are dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    shared: Arc<ConnCore>,
    /// Buffers for write data (see [`crate::pool`]).
    pool: Arc<BufPool>,
    /// Windows for large reads (see [`crate::pool`]).
    windows: ReadPool,
    tasks: [tokio::task::JoinHandle<()>; 3],
}

impl Drop for Inner {
    fn drop(&mut self) {
        self.shared.shutdown();
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("dialect", &self.dialect())
            .field("msize", &self.msize())
            .finish()
    }
}

impl Client {
    /// Dial `addr` and negotiate.
    pub async fn connect(addr: &Address, cfg: &Config) -> Result<Client> {
        let dial = || async {
            let connecting = addr.connect_with(cfg.keepalive, cfg.poller.as_ref());
            match tokio::time::timeout(cfg.connect_timeout, connecting).await {
                Ok(Ok(halves)) => Ok(halves),
                Ok(Err(e)) => Err(Error::Disconnected(format!(
                    "cannot connect to {addr}: {e}"
                ))),
                Err(_) => Err(Error::Disconnected(format!(
                    "cannot connect to {addr}: timed out"
                ))),
            }
        };
        let mut conn = Some(dial().await?);
        let mut refusals = Vec::new();
        for &dialect in &cfg.dialects {
            let (mut r, mut w) = match conn.take() {
                Some(c) => c,
                None => dial().await?,
            };
            match version(&mut r, &mut w, cfg, dialect).await {
                Ok(Ok((msize, got))) => return Ok(Self::start(r, w, msize, got, cfg)),
                Ok(Err(refusal)) => {
                    refusals.push(format!("{dialect}: {refusal}"));
                    conn = Some((r, w));
                }
                // Another dialect will not make it one.
                Err(e @ Error::NotNinep(_)) => return Err(e),
                // The server hung up: dial again for the next dialect.
                Err(e) => refusals.push(format!("{dialect}: {e}")),
            }
        }
        Err(Error::Negotiation(format!(
            "{addr} accepted none of the dialects asked ({})",
            refusals.join("; ")
        )))
    }

    /// Negotiate over an already open stream (a socketpair in tests).
    pub async fn over(mut r: ReadHalf, mut w: WriteHalf, cfg: &Config) -> Result<Client> {
        let mut refusals = Vec::new();
        for &dialect in &cfg.dialects {
            match version(&mut r, &mut w, cfg, dialect).await? {
                Ok((msize, got)) => return Ok(Self::start(r, w, msize, got, cfg)),
                Err(refusal) => refusals.push(format!("{dialect}: {refusal}")),
            }
        }
        Err(Error::Negotiation(refusals.join("; ")))
    }

    fn start(r: ReadHalf, w: WriteHalf, msize: u32, dialect: Dialect, cfg: &Config) -> Client {
        debug!(%dialect, msize, "negotiated");
        let probe = (cfg.flush_probe > 0).then(|| ProbePicker::new(cfg.flush_probe, seed()));
        let mut session = Session::new(cfg.flush);
        if cfg.distrust_flush_order {
            session.distrust_flush_order();
        }
        let (shared, tasks) = ConnCore::spawn(r, w, msize, dialect, session, probe, cfg);
        Client {
            inner: Arc::new(Inner {
                shared,
                pool: Arc::default(),
                windows: ReadPool::default(),
                tasks,
            }),
        }
    }

    /// The dialect both sides speak.
    pub fn dialect(&self) -> Dialect {
        self.inner.shared.dialect
    }

    /// The negotiated msize.
    pub fn msize(&self) -> u32 {
        self.inner.shared.msize
    }

    /// The most data one Tread or Twrite can carry.
    pub fn max_io(&self) -> u32 {
        self.msize() - IOHDRSZ
    }

    /// Resolves, with the reason, once the connection is lost (the server
    /// hung up, a frame could not be parsed, a write failed). A mount
    /// waits on this to end itself instead of answering EIO forever.
    pub async fn closed(&self) -> String {
        self.inner.shared.closed().await
    }

    /// Close the connection from our side, gently: wait (at most `bound`)
    /// for the replies in flight, then close. Fids dropped meanwhile are
    /// not clunked one by one (closing releases them on the server). Use
    /// this, not a plain drop, when the server may still be answering
    /// (an unmount, a replaced session): some servers die when a reply
    /// meets a closed socket.
    pub async fn retire(&self, bound: Duration) {
        self.inner.shared.retire(bound).await
    }

    /// Whether the server has broken the flush order on this connection
    /// (or was distrusted from the start: [`Config::distrust_flush_order`]).
    pub fn order_violated(&self) -> bool {
        self.inner.shared.order_violated()
    }

    /// Resolves once this connection holds [`Config::quarantine_limit`]
    /// tags for a server that broke the flush rules: it should then be
    /// replaced by a new one (the only way to get every tag back, since no
    /// reply of the old connection can arrive on a new one). It goes on
    /// serving until it is retired.
    pub async fn needs_replacing(&self) {
        self.inner.shared.needs_replacing().await
    }

    /// Give the connection up from our side, as if it were lost: every
    /// request in flight fails, and [`Client::closed`] resolves with `why`
    /// (a mount whose keepalive request went unanswered).
    pub fn abandon(&self, why: impl Into<String>) {
        self.inner.shared.close(why.into());
    }

    /// Whether `other` is a clone of this client (the same connection):
    /// after a reconnect, a fid of the old connection must not be used.
    pub fn same_connection(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Whether the connection is lost already (see [`Client::closed`]).
    pub fn is_closed(&self) -> bool {
        use futures::FutureExt;
        self.closed().now_or_never().is_some()
    }

    /// Counters: requests, violations, fids in use.
    pub fn stats(&self) -> Stats {
        self.inner.shared.stats()
    }

    /// How the server has answered Tflush on this connection (the flush
    /// probe's and real cancels' alike).
    pub fn flush_profile(&self) -> FlushProfile {
        self.inner.shared.profile().0
    }

    /// Requests by type and file bytes moved on this connection.
    pub fn traffic(&self) -> Traffic {
        self.inner.shared.profile().1
    }

    /// Send any request and wait for its reply; an error reply becomes
    /// [`Error::Remote`]. Fids named in `msg` must be the caller's.
    pub async fn rpc(&self, msg: impl Into<Tmessage>) -> Result<Rmessage> {
        self.inner.shared.rpc(msg.into()).await
    }

    /// [`Client::rpc`] for a Tread whose data may be read straight into
    /// `sink` (the Rread then comes without it).
    pub(crate) async fn rpc_into(&self, msg: Tmessage, sink: Sink) -> Result<Rmessage> {
        self.inner.shared.rpc_into(msg, Some(sink)).await
    }

    /// `data` copied for Twrites (see [`crate::pool`]).
    pub(crate) fn copy_data(&self, data: &[u8]) -> Bytes {
        self.inner.pool.copy(data)
    }

    /// An empty buffer of at least `cap` bytes for a large read (see
    /// [`crate::pool`]).
    pub(crate) fn read_window(&self, cap: usize) -> BytesMut {
        self.inner.windows.window(cap)
    }

    /// `data`, a large read's whole window, to be reused once its other
    /// holders drop it.
    pub(crate) fn keep_window(&self, data: &Bytes) {
        self.inner.windows.keep(data)
    }

    /// A free fid. Near the cap, whoever keeps fids to save walks is asked
    /// to let some go ([`Client::on_fid_pressure`]); with none free, their
    /// clunks are waited for, a little.
    async fn alloc_fid(&self) -> Result<Fid> {
        let deadline = tokio::time::Instant::now() + FID_WAIT;
        loop {
            let (fid, near) = self.inner.shared.alloc_fid();
            if near {
                self.inner.shared.fid_pressure();
            }
            match fid {
                Err(Error::FidsExhausted) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(5)).await
                }
                r => return r,
            }
        }
    }

    /// Send a request that binds a new fid, built by `op` from the fid. A
    /// server that refuses the fid's number as too high (ERANGE, EMFILE,
    /// ENFILE: nfs-ganesha takes none from 1024 up) teaches the client its
    /// limit, with one warning, and gets the request again with a number
    /// below it.
    pub(crate) async fn with_new_fid<T, F, Fut>(&self, mut op: F) -> Result<T>
    where
        F: FnMut(Fid) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let mut tries = 0;
        loop {
            let fid = self.alloc_fid().await?;
            match op(fid).await {
                Err(e) if tries < 2 && refuses_fid(&e) && fid.0 > 0 => {
                    tries += 1;
                    // The session freed the fid with the error reply.
                    if self.inner.shared.cap_fids(fid.0) {
                        warn!(
                            "the server refused fid number {} ({e}): holding fewer fids \
                             from now on (-o maxfids= sets such a limit up front)",
                            fid.0
                        );
                    }
                    self.inner.shared.fid_pressure();
                }
                r => return r,
            }
        }
    }

    /// Hand out fid numbers below `limit` only (a mount's `maxfids`).
    pub fn cap_fids(&self, limit: u32) {
        self.inner.shared.cap_fids(limit);
    }

    /// The cap on fid numbers: set, or learned from the server.
    pub fn fid_cap(&self) -> u32 {
        self.inner.shared.fid_cap()
    }

    /// Call `hook` when the fids in use come near their cap: it should let
    /// go of fids kept only to save walks (dropping a [`File`] clunks it).
    pub fn on_fid_pressure(&self, hook: Arc<dyn Fn() + Send + Sync>) {
        self.inner.shared.on_fid_pressure(hook);
    }

    pub(crate) fn clunk_nowait(&self, fid: Fid) {
        self.inner.shared.clunk_nowait(fid)
    }

    /// Attach to the tree `aname` as `uname` / `n_uname` (the numeric uid,
    /// sent in 9P2000.u and .L only). Returns the root.
    pub async fn attach(&self, uname: &str, aname: &str, n_uname: u32) -> Result<File> {
        let n_uname = self.dialect().has_unix_extensions().then_some(n_uname);
        self.with_new_fid(|fid| async move {
            let msg = Tattach {
                fid,
                afid: NOFID,
                uname: uname.into(),
                aname: aname.into(),
                n_uname,
            };
            match self.rpc(msg).await? {
                Rmessage::Rattach(r) => Ok(File::new(self.clone(), fid, r.qid)),
                r => Err(unexpected(&r)),
            }
        })
        .await
    }
}

/// How long a fid is waited for when every one is in use.
const FID_WAIT: Duration = Duration::from_secs(2);

/// Whether `e` is a server's refusal of a fid number (a limit on fids).
fn refuses_fid(e: &Error) -> bool {
    const ENFILE: u32 = 23;
    const EMFILE: u32 = 24;
    const ERANGE: u32 = 34;
    matches!(e.errno(), Some(ENFILE | EMFILE | ERANGE))
}

/// A seed for the flush probe's choices: the clock is varied enough.
fn seed() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9_7f4a_7c15, |d| d.as_nanos() as u64)
}

pub(crate) fn unexpected(r: &Rmessage) -> Error {
    Error::Protocol(format!("unexpected {}", r.name()))
}

/// How a Tversion exchange failed before any reply.
enum Answer {
    /// The connection failed (or closed before a byte came back).
    Io(std::io::Error),
    /// The peer sent these bytes, which no 9P server would.
    Foreign(Vec<u8>),
}

/// Whether `buf`, the start of what the peer sent, can still become the
/// answer to a Tversion: a size from a header's 7 bytes up to `msize`,
/// then the type of Rversion, Rerror or Rlerror.
fn could_be_rversion(buf: &[u8], msize: u32) -> bool {
    const RLERROR: u8 = 7;
    const RVERSION: u8 = 101;
    const RERROR: u8 = 107;
    if buf.len() >= 4 {
        let size = u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]);
        if !(7..=msize).contains(&size) {
            return false;
        }
    }
    buf.get(4)
        .is_none_or(|t| [RVERSION, RERROR, RLERROR].contains(t))
}

/// What a peer that is not a 9P server sent, for a person: its first line
/// quoted when it is text (an SSH banner, an HTTP status line), else its
/// first bytes in hex.
fn describe_foreign(bytes: &[u8]) -> String {
    let line = bytes
        .split(|&b| b == b'\n' || b == b'\r')
        .next()
        .unwrap_or(&[]);
    let line = &line[..line.len().min(80)];
    let text = line.len() >= 3 && line.iter().all(|b| (0x20..0x7f).contains(b));
    if text {
        return format!(
            "it answered Tversion with {:?}",
            String::from_utf8_lossy(line)
        );
    }
    let hex: Vec<String> = bytes.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!(
        "it answered Tversion with {} bytes that are no 9P message ({}{})",
        bytes.len(),
        hex.join(" "),
        if bytes.len() > 16 { " ..." } else { "" }
    )
}

/// One Tversion exchange. The outer error is the connection's; the inner
/// one a refusal of this dialect.
async fn version(
    r: &mut ReadHalf,
    w: &mut WriteHalf,
    cfg: &Config,
    dialect: Dialect,
) -> Result<std::result::Result<(u32, Dialect), String>> {
    let ask = cfg.msize.clamp(MIN_MSIZE, MAX_MSIZE);
    let mut buf = BytesMut::new();
    let msg: Tmessage = Tversion {
        msize: ask,
        version: dialect.version_string().into(),
    }
    .into();
    encode_frame(NOTAG, &msg, &mut buf);
    let exchange = async {
        w.write_all(&buf).await.map_err(Answer::Io)?;
        buf.clear();
        loop {
            if !could_be_rversion(&buf, ask) {
                return Err(Answer::Foreign(buf.to_vec()));
            }
            // Any dialect decodes Rversion the same; Rerror needs the one asked.
            match decode_frame::<Rmessage>(&mut buf, ask, dialect) {
                Ok(Some(frame)) => return Ok(frame),
                Ok(None) => {}
                Err(_) => return Err(Answer::Foreign(buf.to_vec())),
            }
            // Room for a whole first line of whatever a foreign peer says.
            buf.reserve(256);
            match r.read_buf(&mut buf).await {
                Ok(0) if buf.is_empty() => {
                    return Err(Answer::Io(std::io::ErrorKind::UnexpectedEof.into()))
                }
                Ok(0) => return Err(Answer::Foreign(buf.to_vec())),
                Ok(_) => {}
                Err(e) => return Err(Answer::Io(e)),
            }
        }
    };
    let wait = cfg.version_timeout.min(cfg.connect_timeout);
    let (tag, reply) = match tokio::time::timeout(wait, exchange).await {
        Ok(Ok(frame)) => frame,
        Ok(Err(Answer::Io(e))) => return Err(Error::Disconnected(format!("during Tversion: {e}"))),
        Ok(Err(Answer::Foreign(bytes))) => return Err(Error::NotNinep(describe_foreign(&bytes))),
        Err(_) => {
            return Err(Error::NotNinep(format!(
                "no answer to Tversion within {wait:?} (a 9P server answers at once)"
            )))
        }
    };
    if tag != NOTAG {
        return Err(Error::Negotiation(format!(
            "Rversion on {tag:?}, not NOTAG"
        )));
    }
    let reply = match reply {
        Ok(r) => r,
        // A server of another dialect may send an error we cannot parse in
        // the one we asked for (a plain 9P2000 Rerror has no errno): that
        // is a refusal, and the frame was consumed, so the stream is sound.
        Err(e) => return Ok(Err(format!("undecodable answer: {e}"))),
    };
    match reply {
        Rmessage::Rversion(v) => {
            let got = Dialect::from_version_string(v.version.as_bytes());
            let Some(got) = got.filter(|d| cfg.dialects.contains(d)) else {
                return Ok(Err(format!("server answered {:?}", v.version)));
            };
            if v.msize < MIN_MSIZE {
                return Err(Error::Negotiation(format!(
                    "msize {} is too small",
                    v.msize
                )));
            }
            // Never trust a server's msize beyond what we asked.
            Ok(Ok((v.msize.min(ask), got)))
        }
        Rmessage::Rlerror(e) => Ok(Err(format!("refused with errno {}", e.ecode))),
        Rmessage::Rerror(e) => Ok(Err(format!("refused: {}", e.ename))),
        r => Err(unexpected(&r)),
    }
}
