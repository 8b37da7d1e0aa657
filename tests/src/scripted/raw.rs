//! [`RawConn`]: frames in, frames out, nothing else. For tests that must
//! control every tag and the exact order of messages (the flush cases),
//! without the client library in the way. Every wait is bounded; a test
//! helper, it panics on anything unexpected.

use std::io;
use std::time::Duration;

use bytes::BytesMut;
use ninep_client::wire::*;
use ninep_client::{Dialect, Fid, Tag, NOFID, NOTAG};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use super::Endpoint;

/// How long [`RawConn::expect`] waits for a reply.
pub const REPLY_WAIT: Duration = Duration::from_secs(2);

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// A 9P2000.L connection driven frame by frame.
pub struct RawConn {
    io: Box<dyn Io>,
    buf: BytesMut,
    msize: u32,
}

impl std::fmt::Debug for RawConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RawConn")
            .field("buffered", &self.buf.len())
            .field("msize", &self.msize)
            .finish()
    }
}

impl RawConn {
    /// Connect, without sending anything.
    pub async fn connect(to: &Endpoint) -> io::Result<RawConn> {
        let io: Box<dyn Io> = match to {
            Endpoint::Tcp(a) => {
                let s = TcpStream::connect(a).await?;
                s.set_nodelay(true)?;
                Box::new(s)
            }
            Endpoint::Unix(p) => Box::new(UnixStream::connect(p).await?),
        };
        Ok(RawConn {
            io,
            buf: BytesMut::new(),
            msize: 1 << 20,
        })
    }

    /// Connect, negotiate 9P2000.L with msize 64 KiB and attach `root` to
    /// the tree's root.
    pub async fn attached(to: &Endpoint, root: Fid) -> io::Result<RawConn> {
        let mut c = RawConn::connect(to).await?;
        let v = Tversion {
            msize: 64 * 1024,
            version: "9P2000.L".into(),
        };
        match c.rpc(NOTAG, v).await {
            Rmessage::Rversion(r) => c.msize = r.msize,
            r => panic!("Tversion: {r:?}"),
        }
        let a = Tattach {
            fid: root,
            afid: NOFID,
            uname: "test".into(),
            aname: "".into(),
            n_uname: Some(0),
        };
        match c.rpc(Tag(0), a).await {
            Rmessage::Rattach(_) => Ok(c),
            r => panic!("Tattach: {r:?}"),
        }
    }

    /// Send one request.
    pub async fn send(&mut self, tag: Tag, msg: impl Into<Tmessage>) {
        let mut b = BytesMut::new();
        encode_frame(tag, &msg.into(), &mut b);
        self.io.write_all(&b).await.expect("send a frame");
    }

    /// The next reply, or `None` if none comes within `within`. Panics if
    /// the server closes the connection or sends an undecodable frame.
    pub async fn recv(&mut self, within: Duration) -> Option<(Tag, Rmessage)> {
        let read = async {
            loop {
                match decode_frame::<Rmessage>(&mut self.buf, self.msize, Dialect::L) {
                    Ok(Some((tag, Ok(m)))) => return (tag, m),
                    Ok(Some((tag, Err(e)))) => panic!("undecodable reply on {tag:?}: {e}"),
                    Err(e) => panic!("framing lost: {e}"),
                    Ok(None) => {}
                }
                match self.io.read_buf(&mut self.buf).await {
                    Ok(0) => panic!("server closed the connection"),
                    Ok(_) => {}
                    Err(e) => panic!("read: {e}"),
                }
            }
        };
        tokio::time::timeout(within, read).await.ok()
    }

    /// The next reply; panics if none comes within `REPLY_WAIT`.
    pub async fn expect(&mut self) -> (Tag, Rmessage) {
        match self.recv(REPLY_WAIT).await {
            Some(r) => r,
            None => panic!("no reply within {REPLY_WAIT:?}"),
        }
    }

    /// Panics if anything arrives within `window`.
    pub async fn expect_silence(&mut self, window: Duration) {
        if let Some((tag, m)) = self.recv(window).await {
            panic!("expected silence for {window:?}, got {m:?} on {tag:?}");
        }
    }

    /// Send a request and return its reply, which must come next.
    pub async fn rpc(&mut self, tag: Tag, msg: impl Into<Tmessage>) -> Rmessage {
        self.send(tag, msg).await;
        let (got, reply) = self.expect().await;
        assert_eq!(got, tag, "reply {reply:?} on another tag");
        reply
    }

    /// Walk `from` to `path` (names separated by `/`) as `newfid`, and open
    /// it read-only. Uses tag 0.
    pub async fn open(&mut self, from: Fid, newfid: Fid, path: &str) {
        let wname = path.split('/').filter(|s| !s.is_empty());
        let w = Twalk {
            fid: from,
            newfid,
            wname: wname.map(NineStr::from).collect(),
        };
        match self.rpc(Tag(0), w).await {
            Rmessage::Rwalk(_) => {}
            r => panic!("Twalk {path}: {r:?}"),
        }
        match self
            .rpc(
                Tag(0),
                Tlopen {
                    fid: newfid,
                    flags: 0,
                },
            )
            .await
        {
            Rmessage::Rlopen(_) => {}
            r => panic!("Tlopen {path}: {r:?}"),
        }
    }
}
