//! Real 9P servers (diod, unpfs) started by tests on a free loopback port.
//!
//! Each launcher picks a free port on 127.0.0.1, starts the server in the
//! foreground with its stdout and stderr sent to a temporary log file, and
//! returns only once *that* process is listening and a TCP connection to the
//! port succeeds. The server is killed with SIGKILL (by PID, through its
//! [`Child`]) and reaped when the launcher is dropped or [`Diod::kill`] /
//! [`Unpfs::kill`] is called, so a failing test never leaves one behind.
//!
//! Tests never skip: a missing binary is an error whose message says how to
//! install it (`scripts/test.sh` installs everything the tests need).
//!
//! What the servers accept (see also `PEERS.md`):
//! - diod: 9P2000.L only; the attach name must be an export path (or a
//!   directory below one), written exactly as in [`Diod::exports`]. As root
//!   it needs no auth and no user database tweaks with `-n`: `n_uname` 0 with
//!   any uname attaches as root; with `n_uname` = `!0` it looks the uname up
//!   by name, and an unknown user gets Rlerror(EPERM).
//! - unpfs: 9P2000.L only; it ignores aname and uname and always serves its
//!   one export as the server's own user.
//!
//! [`Diod::start`] and [`Unpfs::start`] block for up to [`READY_TIMEOUT`];
//! call them before entering an async runtime, or via `spawn_blocking`.

use std::ffi::OsString;
use std::fs;
use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use tempfile::{NamedTempFile, TempDir};

/// How long a server may take to start listening before start fails.
pub const READY_TIMEOUT: Duration = Duration::from_secs(10);

/// How often the readiness check is repeated while a server starts.
const POLL_INTERVAL: Duration = Duration::from_millis(20);

/// How many times a start is retried when another process took the port
/// between our probe and the server's bind.
const PORT_ATTEMPTS: usize = 3;

/// How much of a server's log goes into a start-up error message.
const LOG_TAIL_BYTES: usize = 4096;

/// Finds a binary the tests need, or fails with a message saying how to
/// install it.
///
/// Looks at the environment variable `<NAME>_BIN` (upper case, `-` as `_`,
/// e.g. `DIOD_BIN`, `UNPFS_BIN`) first; if that is set it must name an
/// executable. Otherwise it tries the project's default install location
/// (`/opt/unpfs/bin/unpfs` for unpfs), then `PATH`, then `/usr/sbin` and
/// `/sbin` (diod lives in `/usr/sbin`, which a non-login `PATH` may lack).
///
/// Tests never skip because a server is missing, with `CI` set or not: they
/// fail with this error.
pub fn require(name: &str) -> io::Result<PathBuf> {
    let env_var = env_var_name(name);
    resolve(
        name,
        std::env::var_os(&env_var).map(|v| (env_var, v)),
        std::env::var_os("PATH"),
    )
}

/// `diod` -> `DIOD_BIN`, `fusermount3` -> `FUSERMOUNT3_BIN`.
fn env_var_name(name: &str) -> String {
    format!("{}_BIN", name.to_ascii_uppercase().replace('-', "_"))
}

/// The lookup behind [`require`], with the environment passed in so that it
/// can be tested without mutating the process environment.
fn resolve(
    name: &str,
    env_override: Option<(String, OsString)>,
    path: Option<OsString>,
) -> io::Result<PathBuf> {
    if let Some((var, value)) = env_override {
        let candidate = PathBuf::from(&value);
        return if is_executable(&candidate) {
            Ok(candidate)
        } else {
            Err(not_found(
                name,
                &format!("{var}={value:?} is not an executable file"),
            ))
        };
    }
    let defaults = default_locations(name).iter().map(PathBuf::from);
    let dirs = path.iter().flat_map(std::env::split_paths);
    let fallback = ["/usr/sbin", "/sbin"].iter().map(PathBuf::from);
    defaults
        .chain(dirs.chain(fallback).map(|dir| dir.join(name)))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| not_found(name, "not found in PATH, /usr/sbin or /sbin"))
}

/// Where the project's install script puts binaries that are not on `PATH`.
fn default_locations(name: &str) -> &'static [&'static str] {
    match name {
        "unpfs" => &["/opt/unpfs/bin/unpfs"],
        _ => &[],
    }
}

/// How to install each binary the tests use, for the error message.
fn install_hint(name: &str) -> &'static str {
    match name {
        "diod" => "apt-get install -y diod",
        "unpfs" => "cargo install unpfs --locked --root /opt/unpfs",
        "fusermount3" => "apt-get install -y fuse3",
        "setfattr" | "getfattr" => "apt-get install -y attr",
        _ => "see scripts/test.sh",
    }
}

fn not_found(name: &str, detail: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!(
            "test dependency `{name}` is missing ({detail}); tests never skip. \
             Run `scripts/test.sh` as root, which installs everything the tests \
             need (for this one: `{hint}`), or set {var} to its path",
            hint = install_hint(name),
            var = env_var_name(name),
        ),
    )
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A fresh temporary directory, removed when dropped; use it as an export.
///
/// Its path may go through a symlink; [`Diod::exports`] and
/// [`Unpfs::export`] give the canonical path the server was started with.
pub fn temp_dir() -> io::Result<TempDir> {
    tempfile::Builder::new().prefix("ninep-test-").tempdir()
}

/// A diod server exporting one or more directories, killed on drop.
///
/// Started as `diod -f -n -c /dev/null -l 127.0.0.1:PORT -e EXPORT... -L
/// stderr`: foreground, no auth, and no config file, so that a local
/// `/etc/diod.conf` cannot change what the tests see.
#[derive(Debug)]
pub struct Diod {
    server: Server,
    exports: Vec<PathBuf>,
}

impl Diod {
    /// Starts diod (`DIOD_BIN`, else `diod` found by [`require`]) exporting
    /// `exports`, each an existing directory, and waits until it listens.
    pub fn start(exports: &[&Path]) -> io::Result<Diod> {
        if exports.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "diod needs an export",
            ));
        }
        let exports = exports
            .iter()
            .map(|p| canonical_dir(p))
            .collect::<io::Result<Vec<_>>>()?;
        let bin = require("diod")?;
        let server = Server::start("diod", |port| diod_command(&bin, port, &exports))?;
        Ok(Diod { server, exports })
    }

    /// Kills the server (if it still runs) and starts it again on the same
    /// port with the same exports, as a restarted server would be: clients
    /// of the old one see their connection lost, and may dial again.
    pub fn restart(&mut self) -> io::Result<()> {
        self.kill();
        let bin = require("diod")?;
        let port = self.server.addr.port();
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            let cmd = diod_command(&bin, port, &self.exports);
            match Server::start_once("diod", port, cmd) {
                // The old connections may hold the port a moment.
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && Instant::now() < deadline => {
                    thread::sleep(POLL_INTERVAL * 5);
                }
                r => {
                    self.server = r?;
                    return Ok(());
                }
            }
        }
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.server.child.id()
    }

    /// The canonical export paths, in the order given; each is a valid aname.
    pub fn exports(&self) -> &[PathBuf] {
        &self.exports
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        self.server.log.path()
    }

    /// What the server has logged so far.
    pub fn log_contents(&self) -> String {
        self.server.log_contents()
    }

    /// Kills the server with SIGKILL and reaps it; calling it again is a
    /// no-op. Open connections see EOF or a reset, new ones are refused.
    pub fn kill(&mut self) {
        self.server.kill();
    }
}

/// `diod` serving `exports` on 127.0.0.1:`port` (see [`Diod`]).
fn diod_command(bin: &Path, port: u16, exports: &[PathBuf]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.args(["-f", "-n", "-c", "/dev/null", "-l"])
        .arg(format!("127.0.0.1:{port}"));
    for export in exports {
        cmd.arg("-e").arg(export);
    }
    cmd.args(["-L", "stderr"]);
    cmd
}

/// An unpfs server exporting one directory, killed on drop.
///
/// Started as `unpfs 'tcp!127.0.0.1!PORT' EXPORT`.
#[derive(Debug)]
pub struct Unpfs {
    server: Server,
    export: PathBuf,
}

impl Unpfs {
    /// Starts unpfs (`UNPFS_BIN`, else `/opt/unpfs/bin/unpfs`, else `unpfs`
    /// on `PATH`) exporting the existing directory `export`, and waits until
    /// it listens.
    pub fn start(export: &Path) -> io::Result<Unpfs> {
        let export = canonical_dir(export)?;
        let bin = require("unpfs")?;
        let server = Server::start("unpfs", |port| {
            let mut cmd = Command::new(&bin);
            cmd.arg(format!("tcp!127.0.0.1!{port}")).arg(&export);
            cmd
        })?;
        Ok(Unpfs { server, export })
    }

    /// The loopback address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.server.addr
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.server.child.id()
    }

    /// The canonical export path (unpfs ignores the aname anyway).
    pub fn export(&self) -> &Path {
        &self.export
    }

    /// The file that receives the server's stdout and stderr.
    pub fn log_path(&self) -> &Path {
        self.server.log.path()
    }

    /// What the server has logged so far.
    pub fn log_contents(&self) -> String {
        self.server.log_contents()
    }

    /// Kills the server with SIGKILL and reaps it; calling it again is a
    /// no-op. Open connections see EOF or a reset, new ones are refused.
    pub fn kill(&mut self) {
        self.server.kill();
    }
}

/// Servers need absolute paths (diod rejects others) and compare the aname
/// with them textually, so resolve symlinks once here.
fn canonical_dir(path: &Path) -> io::Result<PathBuf> {
    let canonical = fs::canonicalize(path)
        .map_err(|e| io::Error::new(e.kind(), format!("export {}: {e}", path.display())))?;
    if !canonical.is_dir() {
        let msg = format!("export {} is not a directory", path.display());
        return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
    }
    Ok(canonical)
}

/// A running server process: the part common to every launcher.
#[derive(Debug)]
struct Server {
    name: &'static str,
    child: Child,
    addr: SocketAddr,
    log: NamedTempFile,
    reaped: bool,
}

impl Server {
    /// Starts `command(port)` on a free port and waits until it listens,
    /// retrying on a fresh port if the server lost a race for its port.
    fn start(name: &'static str, command: impl Fn(u16) -> Command) -> io::Result<Server> {
        let mut attempt = 1;
        loop {
            let port = free_port()?;
            match Server::start_once(name, port, command(port)) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse && attempt < PORT_ATTEMPTS => {
                    attempt += 1;
                }
                result => return result,
            }
        }
    }

    fn start_once(name: &'static str, port: u16, mut command: Command) -> io::Result<Server> {
        let log = tempfile::Builder::new()
            .prefix(&format!("ninep-{name}-"))
            .suffix(".log")
            .tempfile()?;
        command
            .stdin(Stdio::null())
            .stdout(log.as_file().try_clone()?)
            .stderr(log.as_file().try_clone()?);
        let child = command.spawn().map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("cannot run {}: {e}", command.get_program().display()),
            )
        })?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let mut server = Server {
            name,
            child,
            addr,
            log,
            reaped: false,
        };
        server.wait_ready(READY_TIMEOUT)?;
        Ok(server)
    }

    /// Polls until the child itself listens on the port and accepts a TCP
    /// connection. Checking the owner of the listening socket matters: if
    /// another process grabbed the port, connecting alone would succeed.
    fn wait_ready(&mut self, timeout: Duration) -> io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.child.try_wait()? {
                self.reaped = true;
                return Err(self.exited_error(status));
            }
            if self.accepting() {
                return Ok(());
            }
            if Instant::now() >= deadline {
                self.kill();
                let msg = format!(
                    "{} did not listen on {} within {timeout:?}; its log:\n{}",
                    self.name,
                    self.addr,
                    self.log_tail()
                );
                return Err(io::Error::new(io::ErrorKind::TimedOut, msg));
            }
            thread::sleep(POLL_INTERVAL);
        }
    }

    fn accepting(&self) -> bool {
        listens_on(self.child.id(), self.addr.port())
            && TcpStream::connect_timeout(&self.addr, Duration::from_secs(1)).is_ok()
    }

    fn exited_error(&self, status: ExitStatus) -> io::Error {
        let log = self.log_tail();
        let kind = if log.contains("Address already in use") {
            io::ErrorKind::AddrInUse
        } else {
            io::ErrorKind::Other
        };
        let msg = format!(
            "{} exited during start-up ({status}); its log:\n{log}",
            self.name
        );
        io::Error::new(kind, msg)
    }

    fn log_contents(&self) -> String {
        let mut text = Vec::new();
        let read = fs::File::open(self.log.path()).and_then(|mut f| f.read_to_end(&mut text));
        match read {
            Ok(_) => String::from_utf8_lossy(&text).into_owned(),
            Err(e) => format!("<cannot read {}: {e}>", self.log.path().display()),
        }
    }

    /// The end of the log, for error messages.
    fn log_tail(&self) -> String {
        let text = self.log_contents();
        let mut start = text.len().saturating_sub(LOG_TAIL_BYTES);
        while !text.is_char_boundary(start) {
            start += 1;
        }
        text[start..].trim_end().to_owned()
    }

    fn kill(&mut self) {
        if self.reaped {
            return;
        }
        // SIGKILL by PID; the child is ours and not yet reaped, so the PID
        // cannot have been reused.
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.reaped = true;
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        if thread::panicking() {
            // Keep the log of a failed test for debugging.
            self.log.disable_cleanup(true);
            eprintln!("{} log kept at {}", self.name, self.log.path().display());
        }
    }
}

/// A port that was free a moment ago: bind port 0, read it, release it.
fn free_port() -> io::Result<u16> {
    Ok(TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()?
        .port())
}

/// Whether process `pid` holds a socket listening on TCP port `port`.
fn listens_on(pid: u32, port: u16) -> bool {
    let inodes = listening_inodes(port);
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        let link = fs::read_link(fd.path()).unwrap_or_default();
        let link = link.to_string_lossy();
        let inode = link
            .strip_prefix("socket:[")
            .and_then(|s| s.strip_suffix(']'));
        inode
            .and_then(|i| i.parse().ok())
            .is_some_and(|i: u64| inodes.contains(&i))
    })
}

/// Socket inodes in the LISTEN state (`0A`) on `port`, from `/proc/net/tcp`.
fn listening_inodes(port: u16) -> Vec<u64> {
    let table = fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    let local_suffix = format!(":{port:04X}");
    table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let listening = fields.get(1)?.ends_with(&local_suffix) && *fields.get(3)? == "0A";
            listening.then(|| fields.get(9)?.parse().ok())?
        })
        .collect()
}

#[cfg(test)]
mod tests;
