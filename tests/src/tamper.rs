//! A tampering proxy: a TCP relay between a client and a real 9P server
//! that lets a test rewrite the server's replies, to play a hostile or
//! broken server with everything else real.
//!
//! The relay reads the client's frames honestly (to know which request
//! each tag belongs to) and hands every reply frame, with the request it
//! answers, to the test's [`Rule`]. The rule says what the client gets
//! instead: the frame as it is (now, after a while, or once the test lets
//! it go), other raw bytes (any size field, any type, extra frames on
//! other tags), nothing, a closed connection, or silence from then on. Rules are swapped while the relay runs, so a test mounts
//! through a clean relay and turns hostile only for the step it checks.

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The request a reply answers: its raw frame (size, type, tag, body).
#[derive(Debug, Clone)]
pub struct Request {
    /// The request's message type (`msg_type::T*`).
    pub ty: u8,
    /// Its tag.
    pub tag: u16,
    /// The whole frame as the client sent it.
    pub frame: Vec<u8>,
}

/// What the client gets instead of a reply frame.
#[derive(Debug, Clone)]
pub enum Act {
    /// The reply as the server sent it.
    Pass,
    /// These raw bytes instead (several frames, a bad frame, a cut one).
    Send(Vec<u8>),
    /// Nothing: the reply is dropped.
    Drop,
    /// These bytes, then both connections are closed.
    SendAndClose(Vec<u8>),
    /// Nothing, now or ever again on this connection (the connection
    /// stays open: a server gone silent).
    Stall,
    /// The reply as the server sent it, after this long; later replies
    /// pass meanwhile (a slow request, not a slow connection).
    Later(std::time::Duration),
    /// The reply as the server sent it, once this gate holds `true` (or
    /// its sender is gone); later replies pass meanwhile. A request held
    /// for exactly as long as a test needs it held, not for a time.
    Until(tokio::sync::watch::Receiver<bool>),
}

/// Decides each reply's fate: `(request, reply frame) -> Act`.
pub type Rule = Box<dyn FnMut(&Request, &[u8]) -> Act + Send>;

/// The relay (see the module doc); dropping it stops every connection.
#[allow(missing_debug_implementations)] // its rule is a closure
pub struct Tamper {
    addr: SocketAddr,
    rule: Arc<Mutex<Rule>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    acceptor: JoinHandle<()>,
}

impl Tamper {
    /// A relay on a free loopback port to the server at `server`, passing
    /// everything until [`Tamper::set`] is called. Call inside a runtime.
    pub async fn start(server: SocketAddr) -> io::Result<Tamper> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let pass: Rule = Box::new(|_, _| Act::Pass);
        let rule = Arc::new(Mutex::new(pass));
        let tasks = Arc::new(Mutex::new(Vec::new()));
        let acceptor = tokio::spawn(accept(listener, server, rule.clone(), tasks.clone()));
        Ok(Tamper {
            addr,
            rule,
            tasks,
            acceptor,
        })
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// From now on every reply goes through `rule`.
    pub fn set(&self, rule: impl FnMut(&Request, &[u8]) -> Act + Send + 'static) {
        *lock(&self.rule) = Box::new(rule);
    }

    /// Back to passing everything.
    pub fn clear(&self) {
        self.set(|_, _| Act::Pass);
    }
}

impl Drop for Tamper {
    fn drop(&mut self) {
        self.acceptor.abort();
        for t in lock(&self.tasks).drain(..) {
            t.abort();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

type Pending = Arc<Mutex<HashMap<u16, Request>>>;

async fn accept(
    listener: TcpListener,
    server: SocketAddr,
    rule: Arc<Mutex<Rule>>,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
) {
    while let Ok((client, _)) = listener.accept().await {
        let Ok(upstream) = TcpStream::connect(server).await else {
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let (cr, cw) = client.into_split();
        let (sr, sw) = upstream.into_split();
        let pending: Pending = Arc::default();
        let up = tokio::spawn(requests(cr, sw, pending.clone()));
        let down = tokio::spawn(replies(sr, cw, pending, rule.clone(), up.abort_handle()));
        lock(&tasks).extend([up, down]);
    }
}

/// One whole frame from `r`, or None at a clean or broken end.
async fn read_frame(r: &mut OwnedReadHalf) -> Option<Vec<u8>> {
    let mut size = [0u8; 4];
    r.read_exact(&mut size).await.ok()?;
    let n = u32::from_le_bytes(size) as usize;
    if !(7..=(16 << 20)).contains(&n) {
        return None;
    }
    let mut frame = vec![0u8; n];
    frame[..4].copy_from_slice(&size);
    r.read_exact(&mut frame[4..]).await.ok()?;
    Some(frame)
}

/// Client to server: note each request under its tag, pass it on.
async fn requests(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, pending: Pending) {
    while let Some(frame) = read_frame(&mut from).await {
        let tag = u16::from_le_bytes([frame[5], frame[6]]);
        let req = Request {
            ty: frame[4],
            tag,
            frame: frame.clone(),
        };
        lock(&pending).insert(tag, req);
        if to.write_all(&frame).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

/// Server to client: each reply through the rule.
async fn replies(
    mut from: OwnedReadHalf,
    to: OwnedWriteHalf,
    pending: Pending,
    rule: Arc<Mutex<Rule>>,
    up: tokio::task::AbortHandle,
) {
    let to = Arc::new(tokio::sync::Mutex::new(to));
    while let Some(frame) = read_frame(&mut from).await {
        let tag = u16::from_le_bytes([frame[5], frame[6]]);
        let req = lock(&pending).remove(&tag).unwrap_or(Request {
            ty: 0,
            tag,
            frame: Vec::new(),
        });
        let act = (lock(&rule))(&req, &frame);
        let out = match act {
            Act::Pass => frame,
            Act::Send(bytes) => bytes,
            Act::Drop => continue,
            Act::SendAndClose(bytes) => {
                let _ = to.lock().await.write_all(&bytes).await;
                break;
            }
            Act::Later(after) => {
                let to = to.clone();
                tokio::spawn(async move {
                    tokio::time::sleep(after).await;
                    let _ = to.lock().await.write_all(&frame).await;
                });
                continue;
            }
            Act::Until(mut gate) => {
                let to = to.clone();
                tokio::spawn(async move {
                    let _ = gate.wait_for(|open| *open).await;
                    let _ = to.lock().await.write_all(&frame).await;
                });
                continue;
            }
            Act::Stall => {
                // Keep both sockets open and read nothing more.
                std::future::pending::<()>().await;
                return;
            }
        };
        if to.lock().await.write_all(&out).await.is_err() {
            break;
        }
    }
    up.abort();
    let _ = to.lock().await.shutdown().await;
}
