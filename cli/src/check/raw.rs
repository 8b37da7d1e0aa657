//! A raw 9P connection for the check: the caller chooses every tag, and
//! every message in either direction is logged with its time and size.
//!
//! The normal client would never send a flush of a flush or a self-flush,
//! and hides the wire; the check needs both, so it has its own small
//! driver on top of the same codec.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bytes::BytesMut;
use ninep_client::transport::{ReadHalf, WriteHalf};
use ninep_client::wire::*;
use ninep_client::{Address, Fid, Tag, NOFID, NOTAG};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Direction of a logged message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dir {
    /// Sent by us.
    Out,
    /// Received from the server.
    In,
}

/// One message on the wire.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Event {
    /// Milliseconds since the connection's case began.
    pub ms: f64,
    /// Direction.
    pub dir: Dir,
    /// The frame's tag.
    pub tag: u16,
    /// The message name (`Tflush`, `Rread`, ...), or `malformed`.
    pub msg: String,
    /// Fields worth showing (`oldtag 1`, `4096 bytes`, `errno 95`).
    pub detail: String,
    /// The frame's size field.
    pub size: u32,
}

/// A reply as received.
#[derive(Debug, Clone)]
pub struct Received {
    /// Its tag.
    pub tag: Tag,
    /// The body, or why it could not be decoded.
    pub msg: Result<Rmessage, DecodeError>,
    /// The frame's size field.
    pub size: u32,
}

enum Incoming {
    Frame(Box<Received>, Instant),
    Closed(String),
}

/// Where and as whom to attach.
#[derive(Debug, Clone)]
pub struct Target {
    /// Server address.
    pub addr: Address,
    /// Attach name.
    pub aname: String,
    /// User name.
    pub uname: String,
    /// Numeric uid.
    pub n_uname: u32,
    /// msize to ask for.
    pub msize: u32,
    /// Dialects to ask for, most preferred first (`-o version=`).
    pub dialects: Vec<Dialect>,
}

/// The root fid every case's connection attaches.
pub const ROOT: Fid = Fid(0);
/// Tags at or above this are for set-up traffic, below for the case's own.
const SETUP_TAG: u16 = 1000;

/// A connection whose every message is logged.
pub struct RawConn {
    w: WriteHalf,
    rx: mpsc::UnboundedReceiver<Incoming>,
    start: Instant,
    /// Every message so far.
    pub log: Vec<Event>,
    /// Negotiated msize.
    pub msize: u32,
    /// Negotiated dialect.
    pub dialect: Dialect,
    /// The dialect the reader decodes replies in.
    decoding: Arc<Mutex<Dialect>>,
    closed: Option<String>,
    next_setup: u16,
}

impl RawConn {
    /// Connect, negotiate a dialect of `t.dialects` and attach [`ROOT`].
    pub async fn open(t: &Target) -> Result<RawConn> {
        let (r, w) = tokio::time::timeout(Duration::from_secs(10), t.addr.connect())
            .await
            .map_err(|_| anyhow!("connecting to {} timed out", t.addr))?
            .with_context(|| format!("cannot connect to {}", t.addr))?;
        let (tx, rx) = mpsc::unbounded_channel();
        let decoding = Arc::new(Mutex::new(Dialect::L));
        let mut c = RawConn {
            w,
            rx,
            start: Instant::now(),
            log: Vec::new(),
            msize: t.msize,
            dialect: Dialect::L,
            decoding: decoding.clone(),
            closed: None,
            next_setup: SETUP_TAG,
        };
        tokio::spawn(read_frames(r, t.msize, decoding, tx));
        c.negotiate(t).await?;
        let attach = Tattach {
            fid: ROOT,
            afid: NOFID,
            uname: t.uname.as_str().into(),
            aname: t.aname.as_str().into(),
            n_uname: c.dialect.has_unix_extensions().then_some(t.n_uname),
        };
        c.setup(attach).await.context("attach refused")?;
        Ok(c)
    }

    /// Tversion for each dialect of `t.dialects` in turn, on this one
    /// connection (each Tversion starts the session afresh), until the
    /// server answers with one of them.
    async fn negotiate(&mut self, t: &Target) -> Result<()> {
        let mut answers = Vec::new();
        for &d in &t.dialects {
            self.set_dialect(d);
            let version = d.version_string().into();
            let msize = t.msize;
            self.send(NOTAG, Tversion { msize, version }).await?;
            match self.reply(NOTAG, Duration::from_secs(10)).await? {
                Rmessage::Rversion(v) => {
                    let got = Dialect::from_version_string(v.version.as_bytes());
                    if let Some(got) = got.filter(|g| t.dialects.contains(g)) {
                        self.set_dialect(got);
                        self.msize = v.msize.min(t.msize);
                        return Ok(());
                    }
                    answers.push(format!("{d}: {:?}", v.version));
                }
                r => answers.push(format!("{d}: {}", r.name())),
            }
        }
        bail!(
            "the server speaks none of the dialects asked ({})",
            answers.join("; ")
        )
    }

    fn set_dialect(&mut self, d: Dialect) {
        self.dialect = d;
        *self.decoding.lock().unwrap_or_else(|e| e.into_inner()) = d;
    }

    /// A request for `fid`'s attributes: Tgetattr, or Tstat in 9P2000(.u).
    pub fn attrs_request(&self, fid: Fid) -> Tmessage {
        match self.dialect {
            Dialect::L => Tgetattr {
                fid,
                request_mask: getattr::BASIC,
            }
            .into(),
            _ => Tstat { fid }.into(),
        }
    }

    /// Restart the clock and the log (after set-up).
    pub fn reset_log(&mut self) {
        self.start = Instant::now();
        self.log.clear();
    }

    /// Send `msg` on `tag`.
    pub async fn send(&mut self, tag: Tag, msg: impl Into<Tmessage>) -> Result<()> {
        let msg = msg.into();
        let mut buf = BytesMut::new();
        encode_frame(tag, &msg, &mut buf);
        self.log.push(Event {
            ms: ms(self.start.elapsed()),
            dir: Dir::Out,
            tag: tag.0,
            msg: msg.name().into(),
            detail: t_detail(&msg),
            size: buf.len() as u32,
        });
        self.w.write_all(&buf).await.context("send")?;
        Ok(())
    }

    /// The next reply within `wait`, or `None`.
    pub async fn recv(&mut self, wait: Duration) -> Option<Received> {
        if self.closed.is_some() {
            return None;
        }
        match tokio::time::timeout(wait, self.rx.recv()).await {
            Ok(Some(Incoming::Frame(r, at))) => {
                let r = *r;
                self.log.push(Event {
                    ms: ms(at.saturating_duration_since(self.start)),
                    dir: Dir::In,
                    tag: r.tag.0,
                    msg: r
                        .msg
                        .as_ref()
                        .map_or("malformed".into(), |m| m.name().into()),
                    detail: r_detail(&r.msg),
                    size: r.size,
                });
                Some(r)
            }
            Ok(Some(Incoming::Closed(why))) => {
                self.closed = Some(why);
                None
            }
            Ok(None) => None,
            Err(_) => None,
        }
    }

    /// Every reply that arrives within `wait`.
    pub async fn collect(&mut self, wait: Duration) -> Vec<Received> {
        let until = Instant::now() + wait;
        let mut out = Vec::new();
        while let Some(r) = self
            .recv(until.saturating_duration_since(Instant::now()))
            .await
        {
            out.push(r);
        }
        out
    }

    /// Wait for the reply on `tag`; other replies are logged and dropped.
    pub async fn reply(&mut self, tag: Tag, wait: Duration) -> Result<Rmessage> {
        let until = Instant::now() + wait;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            let Some(r) = self.recv(left).await else {
                match &self.closed {
                    Some(why) => bail!("connection closed: {why}"),
                    None => bail!("no reply on {tag:?} within {wait:?}"),
                }
            };
            if r.tag == tag {
                return r.msg.map_err(|e| anyhow!("malformed reply: {e}"));
            }
        }
    }

    /// A set-up request on a tag of its own, expecting success.
    pub async fn setup(&mut self, msg: impl Into<Tmessage>) -> Result<Rmessage> {
        let tag = Tag(self.next_setup);
        self.next_setup = self.next_setup.wrapping_add(1).max(SETUP_TAG);
        self.send(tag, msg).await?;
        match self.reply(tag, Duration::from_secs(10)).await? {
            Rmessage::Rlerror(e) => bail!("server error: errno {}", e.ecode),
            Rmessage::Rerror(e) => bail!("server error: {}", e.ename),
            r => Ok(r),
        }
    }

    /// Walk `path` from the root to `fid` and open it for reading.
    pub async fn open_file(&mut self, path: &str, fid: Fid) -> Result<()> {
        let wname: Vec<NineStr> = path
            .split('/')
            .filter(|c| !c.is_empty())
            .map(NineStr::from)
            .collect();
        let n = wname.len();
        match self
            .setup(Twalk {
                fid: ROOT,
                newfid: fid,
                wname,
            })
            .await?
        {
            Rmessage::Rwalk(w) if w.wqid.len() == n => {}
            r => bail!("cannot walk to {path}: {r:?}"),
        }
        let open: Tmessage = match self.dialect {
            Dialect::L => Tlopen { fid, flags: 0 }.into(),
            _ => Topen {
                fid,
                mode: omode::OREAD,
            }
            .into(),
        };
        self.setup(open)
            .await
            .with_context(|| format!("cannot open {path}"))?;
        Ok(())
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

fn t_detail(m: &Tmessage) -> String {
    match m {
        Tmessage::Tflush(f) => format!("oldtag {}", f.oldtag.0),
        Tmessage::Tread(r) => format!("fid {} count {}", r.fid.0, r.count),
        Tmessage::Twalk(w) => format!("fid {} newfid {}", w.fid.0, w.newfid.0),
        Tmessage::Tversion(v) => format!("{} msize {}", v.version, v.msize),
        _ => String::new(),
    }
}

fn r_detail(m: &Result<Rmessage, DecodeError>) -> String {
    match m {
        Ok(Rmessage::Rread(r)) => format!("{} bytes", r.data.0.len()),
        Ok(Rmessage::Rlerror(e)) => format!("errno {}", e.ecode),
        Ok(Rmessage::Rerror(e)) => format!("{:?}", e.ename),
        Ok(Rmessage::Rversion(v)) => format!("{} msize {}", v.version, v.msize),
        Err(e) => e.to_string(),
        _ => String::new(),
    }
}

/// True for an answer to [`RawConn::attrs_request`].
pub fn is_attrs(m: &Rmessage) -> bool {
    matches!(m, Rmessage::Rgetattr(_) | Rmessage::Rstat(_))
}

async fn read_frames(
    mut r: ReadHalf,
    msize: u32,
    dialect: Arc<Mutex<Dialect>>,
    tx: mpsc::UnboundedSender<Incoming>,
) {
    let mut buf = BytesMut::with_capacity(64 << 10);
    loop {
        loop {
            let size =
                (buf.len() >= 4).then(|| u32::from_le_bytes([buf[0], buf[1], buf[2], buf[3]]));
            let d = *dialect.lock().unwrap_or_else(|e| e.into_inner());
            match decode_frame::<Rmessage>(&mut buf, msize.max(1 << 16), d) {
                Ok(Some((tag, msg))) => {
                    let size = size.unwrap_or(0);
                    let rec = Received { tag, msg, size };
                    if tx
                        .send(Incoming::Frame(Box::new(rec), Instant::now()))
                        .is_err()
                    {
                        return;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    let _ = tx.send(Incoming::Closed(format!("bad frame: {e}")));
                    return;
                }
            }
        }
        match r.read_buf(&mut buf).await {
            Ok(0) => {
                let _ = tx.send(Incoming::Closed("server closed the connection".into()));
                return;
            }
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Incoming::Closed(format!("read: {e}")));
                return;
            }
        }
    }
}
