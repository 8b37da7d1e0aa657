//! aio9p's example servers (PyPI package `aio9p`, installed by
//! `scripts/test.sh`): in-memory 9P2000 (`aio9p.example.simple`) and
//! 9P2000.u (`aio9p.example.simple_u`) servers in Python, listening on
//! `./py9p.sock` in their working directory.
//!
//! [`Aio9p::start`] runs one in a fresh directory with its (debug) log in
//! a file there, returns once the socket accepts connections, and kills
//! the process (by its PID, through its [`Child`]) when dropped.
//!
//! What they do (aio9p 0.3.3), which tests must allow for:
//! - version: only their own dialect ("unknown" for any other);
//! - walk: no `..`; directories made by Tcreate get a file's qid type;
//! - Topen ignores OTRUNC, and a Twstat of the length or the name changes
//!   only the stat (a truncated file still reads its old bytes; a renamed
//!   file keeps its old directory entry);
//! - errors: `strerror` text plus the errno, also in plain 9P2000.

use std::io;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use crate::servers::{temp_dir, READY_TIMEOUT};

/// Which example server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Example {
    /// `aio9p.example.simple`: 9P2000.
    Plain,
    /// `aio9p.example.simple_u`: 9P2000.u.
    Unix,
}

impl Example {
    fn module(self) -> &'static str {
        match self {
            Example::Plain => "aio9p.example.simple",
            Example::Unix => "aio9p.example.simple_u",
        }
    }
}

/// A running aio9p example server, killed on drop.
#[derive(Debug)]
pub struct Aio9p {
    child: Child,
    dir: TempDir,
}

impl Aio9p {
    /// Start `example` (Python: `$AIO9P_PYTHON`, else `python3`). Blocks
    /// for up to [`READY_TIMEOUT`].
    pub fn start(example: Example) -> io::Result<Aio9p> {
        let python = std::env::var("AIO9P_PYTHON").unwrap_or_else(|_| "python3".into());
        let dir = temp_dir()?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let child = Command::new(&python)
            .args(["-m", example.module()])
            .current_dir(dir.path())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .map_err(|e| missing(&python, e))?;
        let mut server = Aio9p { child, dir };
        server.wait_ready()?;
        Ok(server)
    }

    /// The socket, as the client's `Address` parses it.
    pub fn address(&self) -> String {
        format!("unix:{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("py9p.sock")
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self) -> io::Result<()> {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                let why = format!("aio9p exited ({status}) before listening:\n{}", self.log());
                return Err(io::Error::other(why));
            }
            if ready(&self.socket()) {
                return Ok(());
            }
            if Instant::now() > deadline {
                let why = format!(
                    "aio9p did not listen within {READY_TIMEOUT:?}:\n{}",
                    self.log()
                );
                return Err(io::Error::new(io::ErrorKind::TimedOut, why));
            }
            thread::sleep(Duration::from_millis(20));
        }
    }
}

fn ready(socket: &Path) -> bool {
    socket.exists() && UnixStream::connect(socket).is_ok()
}

fn missing(python: &str, e: io::Error) -> io::Error {
    io::Error::new(
        e.kind(),
        format!(
            "cannot run {python} for aio9p ({e}); tests never skip: run \
             scripts/test.sh, which installs aio9p with pip, or set AIO9P_PYTHON"
        ),
    )
}

impl Drop for Aio9p {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
