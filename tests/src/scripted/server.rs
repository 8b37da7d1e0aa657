//! [`ScriptedServer`]: the handle a test holds. It owns a thread running
//! a current-thread tokio runtime with the accept loop and one task per
//! connection; dropping the handle stops the loop and drops the runtime,
//! which closes every socket and aborts every task.

use std::io;
use std::net::SocketAddr;
use std::sync::{mpsc as std_mpsc, Arc};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{oneshot, watch};

use super::behaviour::FlushBehaviour;
use super::conn;
use super::log::{Log, LogEntry};
use super::tree::Tree;
use super::{Config, Endpoint};

/// State shared by the handle and every connection.
#[derive(Debug)]
pub(crate) struct ServerState {
    pub(crate) config: Config,
    pub(crate) tree: Tree,
    pub(crate) log: Log,
    /// Reads of `/block/N` waiting right now.
    pub(crate) blocked: watch::Sender<usize>,
    /// Per `/block/N` file: bumped to release the reads waiting on it.
    pub(crate) releases: Vec<watch::Sender<u64>>,
}

impl ServerState {
    pub(crate) fn release_all(&self) {
        for r in &self.releases {
            r.send_modify(|g| *g += 1);
        }
    }
}

/// A running scripted server. Dropping it shuts the server down.
#[derive(Debug)]
pub struct ScriptedServer {
    shared: Arc<ServerState>,
    endpoint: Endpoint,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl ScriptedServer {
    /// Start on 127.0.0.1, a free port, with `flush` and the other
    /// defaults of [`Config::new`]. Panics if that fails.
    pub fn start(flush: FlushBehaviour) -> ScriptedServer {
        ScriptedServer::start_with(Config::new(flush))
            .unwrap_or_else(|e| panic!("scripted server ({flush}) failed to start: {e}"))
    }

    /// Start with `config`; returns once the server is listening.
    pub fn start_with(config: Config) -> io::Result<ScriptedServer> {
        let shared = Arc::new(ServerState {
            tree: Tree::new(config.block_files, config.clock_ahead),
            log: Log::new(config.echo_log),
            blocked: watch::Sender::new(0),
            releases: (0..config.block_files)
                .map(|_| watch::Sender::new(0))
                .collect(),
            config,
        });
        let (ready_tx, ready_rx) = std_mpsc::channel();
        let (stop, stop_rx) = oneshot::channel();
        let sh = shared.clone();
        let thread = thread::Builder::new()
            .name("ninep-scripted".into())
            .spawn(move || run(sh, ready_tx, stop_rx))?;
        let endpoint = match ready_rx.recv() {
            Ok(r) => r?,
            Err(_) => return Err(io::Error::other("server thread died while starting")),
        };
        Ok(ScriptedServer {
            shared,
            endpoint,
            stop: Some(stop),
            thread: Some(thread),
        })
    }

    /// Where the server is listening (with the port it was given).
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The TCP address. Panics for a server on a Unix socket.
    pub fn addr(&self) -> SocketAddr {
        match &self.endpoint {
            Endpoint::Tcp(a) => *a,
            Endpoint::Unix(p) => panic!("server listens on unix:{}", p.display()),
        }
    }

    /// The answer to Tflush this server gives.
    pub fn behaviour(&self) -> FlushBehaviour {
        self.shared.config.flush
    }

    /// Release every read waiting on any `/block/N` file now (later reads
    /// block again).
    pub fn release_all(&self) {
        self.shared.release_all();
    }

    /// Release the reads waiting on `/block/n` now. Panics if there is
    /// no such file.
    pub fn release(&self, n: usize) {
        self.shared.releases[n].send_modify(|g| *g += 1);
    }

    /// How many reads are waiting right now. A read cancelled by a flush
    /// no longer waits; one a behaviour lets keep going still does.
    pub fn blocked_reads(&self) -> usize {
        *self.shared.blocked.borrow()
    }

    /// Wait until exactly `n` reads are waiting; false on timeout.
    pub async fn wait_blocked(&self, n: usize, timeout: Duration) -> bool {
        let mut rx = self.shared.blocked.subscribe();
        let ok = tokio::time::timeout(timeout, rx.wait_for(|&b| b == n)).await;
        matches!(ok, Ok(Ok(_)))
    }

    /// [`ScriptedServer::wait_blocked`] for a test that may block its
    /// thread (no async runtime needed).
    pub fn wait_blocked_sync(&self, n: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.blocked_reads() != n {
            if Instant::now() >= deadline {
                return false;
            }
            thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Every message received and sent so far, in order.
    pub fn log(&self) -> Vec<LogEntry> {
        self.shared.log.snapshot()
    }

    /// Forget the log so far.
    pub fn clear_log(&self) {
        self.shared.log.clear()
    }

    /// The log as text, one message a line, for a failing test's message.
    pub fn dump_log(&self) -> String {
        self.shared.log.dump()
    }
}

impl Drop for ScriptedServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        if let Endpoint::Unix(path) = &self.endpoint {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The server thread: bind, report, accept until told to stop.
fn run(
    shared: Arc<ServerState>,
    ready: std_mpsc::Sender<io::Result<Endpoint>>,
    stop: oneshot::Receiver<()>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return drop(ready.send(Err(e))),
    };
    rt.block_on(async move {
        let listener = match Listener::bind(&shared.config.listen) {
            Ok(l) => l,
            Err(e) => return drop(ready.send(Err(e))),
        };
        let _ = ready.send(listener.local());
        accept_loop(listener, shared, stop).await;
    });
    // Dropping `rt` here aborts the connections and closes their sockets.
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener, Endpoint),
}

impl Listener {
    fn bind(at: &Endpoint) -> io::Result<Listener> {
        Ok(match at {
            Endpoint::Tcp(a) => {
                let std = std::net::TcpListener::bind(a)?;
                std.set_nonblocking(true)?;
                Listener::Tcp(TcpListener::from_std(std)?)
            }
            Endpoint::Unix(p) => Listener::Unix(UnixListener::bind(p)?, at.clone()),
        })
    }

    fn local(&self) -> io::Result<Endpoint> {
        match self {
            Listener::Tcp(l) => l.local_addr().map(Endpoint::Tcp),
            Listener::Unix(_, at) => Ok(at.clone()),
        }
    }
}

async fn accept_loop(
    listener: Listener,
    shared: Arc<ServerState>,
    mut stop: oneshot::Receiver<()>,
) {
    let mut next_id = 0;
    loop {
        let accepted = tokio::select! {
            _ = &mut stop => return,
            a = accept(&listener, &shared, next_id + 1) => a,
        };
        match accepted {
            Ok(()) => next_id += 1,
            // Out of file descriptors and the like: wait, then go on.
            Err(_) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

/// Accept one connection and spawn the task that serves it.
async fn accept(listener: &Listener, shared: &Arc<ServerState>, id: u64) -> io::Result<()> {
    let shared = shared.clone();
    match listener {
        Listener::Tcp(l) => {
            let (s, _) = l.accept().await?;
            // Replies are small and latency is what tests measure.
            s.set_nodelay(true)?;
            tokio::spawn(conn::serve(s, shared, id));
        }
        Listener::Unix(l, _) => {
            let (s, _) = l.accept().await?;
            tokio::spawn(conn::serve(s, shared, id));
        }
    }
    Ok(())
}
