//! A 9P2000.L, 9P2000.u or 9P2000 server for tests: an in-memory tree whose `/block/N` reads
//! block until the test releases them, and a switchable answer to Tflush
//! ([`FlushBehaviour`]) that copies what real servers do, right or wrong.
//!
//! ```no_run
//! use ninep_tests::scripted::{FlushBehaviour, ScriptedServer};
//! let server = ScriptedServer::start(FlushBehaviour::Hold);
//! let addr = server.addr(); // 127.0.0.1:port, for the client under test
//! // ... start a read of /block/0 and flush it ...
//! assert!(server.wait_blocked_sync(1, std::time::Duration::from_secs(5)));
//! server.release_all();
//! println!("{}", server.dump_log());
//! ```
//!
//! The server runs on its own thread and tokio runtime, so it serves
//! tests that block their own thread (FUSE tests calling `read(2)`) as
//! well as async tests. Each connection is served by its own task;
//! requests are handled as they arrive and a blocked read holds up
//! nothing else. Served: Tversion (the dialect of [`Config::dialect`];
//! msize capped at [`Config::max_msize`]), Tattach (any aname), Twalk,
//! Tread, Twrite, Tclunk, Tflush; in 9P2000.L Tlopen, Tgetattr, Treaddir,
//! Tstatfs; in 9P2000 and 9P2000.u Topen, Tcreate, Tstat, Twstat,
//! Tremove and directory reads. Anything else gets Rlerror(EOPNOTSUPP)
//! (Rerror in the classic dialects). The tree is described in `tree.rs`:
//! `/hello`, `/release`, `/block/0..N`.
//!
//! The binary `ninep-scripted-server` serves the same over TCP or a Unix
//! socket for tests of the `ninep-mount` command.
//!
//! # Layout
//! - `behaviour`: [`FlushBehaviour`], what the server does with Tflush.
//! - `server`: [`ScriptedServer`], the handle: start, release, inspect, stop.
//! - `conn`: one connection: framing, fids, the requests answered at once.
//! - `classic`: the 9P2000 and 9P2000.u messages and errors.
//! - `flush`: blocked reads in flight and the Tflush behaviours.
//! - `tree`: the in-memory files and their attributes.
//! - `log`: [`LogEntry`], every message in and out with its time.
//! - `raw`: [`RawConn`], a frame-level client for tests of the server.

use std::fmt;
use std::net::{Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use ninep_client::Dialect;

mod behaviour;
mod classic;
mod conn;
mod flush;
mod log;
mod raw;
mod server;
mod tree;

pub use behaviour::{FlushBehaviour, LEAK_DEFAULT};
pub use log::{Dir, LogEntry};
pub use raw::RawConn;
pub use server::ScriptedServer;
pub use tree::HELLO;

/// Where the server listens (and, once started, where it is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A TCP address; port 0 picks a free port.
    Tcp(SocketAddr),
    /// A Unix socket path; the file must not exist yet, and is removed
    /// when the server stops.
    Unix(PathBuf),
}

impl fmt::Display for Endpoint {
    /// As the client's `Address` parses it: `ip:port` or `unix:/path`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::Tcp(a) => write!(f, "{a}"),
            Endpoint::Unix(p) => write!(f, "unix:{}", p.display()),
        }
    }
}

impl FromStr for Endpoint {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix:") {
            if path.is_empty() {
                return Err("unix: needs a socket path".into());
            }
            return Ok(Endpoint::Unix(path.into()));
        }
        let mut addrs = s
            .to_socket_addrs()
            .map_err(|e| format!("{s}: not host:port or unix:/path ({e})"))?;
        addrs
            .next()
            .map(Endpoint::Tcp)
            .ok_or_else(|| format!("{s}: no address"))
    }
}

/// How a [`ScriptedServer`] behaves.
#[derive(Debug, Clone)]
pub struct Config {
    /// The answer to Tflush.
    pub flush: FlushBehaviour,
    /// Where to listen; 127.0.0.1 on a free port by default.
    pub listen: Endpoint,
    /// The largest msize granted (the client's, if smaller).
    pub max_msize: u32,
    /// How many `/block/N` files there are.
    pub block_files: usize,
    /// A blocked read answers on its own after this long; `None`: only
    /// when released.
    pub read_timeout: Option<Duration>,
    /// `last-only`: how long no further Tflush for a victim must come
    /// before the last one is answered.
    pub last_only_quiet: Duration,
    /// Print each log entry to stderr as it happens.
    pub echo_log: bool,
    /// The dialect served: 9P2000.L (the default), 9P2000.u or 9P2000.
    /// A 9P2000 server answers "9P2000" to any "9P2000.*" Tversion, as
    /// Plan 9 does; the others answer only their own ("unknown" else).
    pub dialect: Dialect,
    /// How far ahead of this machine's clock the server's runs: the time
    /// it stamps on new files and sets for "now" (a Tsetattr of ATIME or
    /// MTIME without *_SET), so a test can tell its clock from ours.
    pub clock_ahead: Duration,
}

impl Config {
    /// The defaults, with this flush behaviour.
    pub fn new(flush: FlushBehaviour) -> Config {
        Config {
            flush,
            listen: Endpoint::Tcp(SocketAddr::from((Ipv4Addr::LOCALHOST, 0))),
            max_msize: 64 * 1024,
            block_files: 8,
            read_timeout: None,
            last_only_quiet: Duration::from_millis(50),
            echo_log: false,
            dialect: Dialect::L,
            clock_ahead: Duration::ZERO,
        }
    }
}

impl Default for Config {
    fn default() -> Config {
        Config::new(FlushBehaviour::Correct)
    }
}
