//! The harness of the `real_servers` cases: start a real server on its own
//! temporary export and a free loopback port, connect and attach; bounded
//! awaits that turn a hang into a failure; helpers for the local disk.

use std::fmt::Debug;
use std::fs;
use std::future::Future;
use std::hash::{DefaultHasher, Hasher};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use ninep_client::{Address, Client, Config, Error, File, Result};
use ninep_tests::servers::{temp_dir, Diod, Unpfs};
use tempfile::TempDir;

/// Bound on one step of a test (one call, or a small batch of calls).
pub const STEP: Duration = Duration::from_secs(10);
/// Bound on a long step (64 MiB of I/O, 10,000 directory entries).
pub const LONG_STEP: Duration = Duration::from_secs(40);
/// How long fids released by `Drop` (an unawaited Tclunk) may take to come back.
pub const SETTLE: Duration = Duration::from_secs(2);

/// Linux open(2) flags as 9P2000.L carries them.
pub const O_RDONLY: u32 = 0;
pub const O_RDWR: u32 = 0o2;
pub const O_CREAT: u32 = 0o100;
pub const O_EXCL: u32 = 0o200;
pub const O_DIRECTORY: u32 = 0o200000;
/// Tunlinkat flag: remove a directory.
pub const AT_REMOVEDIR: u32 = 0x200;

/// Linux errnos the tests expect.
pub const ENOENT: u32 = 2;
pub const EEXIST: u32 = 17;
pub const ENOTEMPTY: u32 = 39;
pub const ENODATA: u32 = 61;
pub const EOPNOTSUPP: u32 = 95;

/// Which server a test runs against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Diod,
    Unpfs,
}

#[derive(Debug)]
enum Server {
    Diod(Diod),
    Unpfs(Unpfs),
}

/// One server with a fresh export, a client connected to it and the root
/// of the export attached. Fields drop in order: the root's clunk is queued
/// before the server dies and the export is removed last.
pub struct Ctx {
    pub kind: Kind,
    pub client: Client,
    pub root: File,
    /// The export as the server sees it (canonical): compare with std::fs.
    pub dir: PathBuf,
    server: Server,
    _export: TempDir,
}

impl Ctx {
    /// Start `kind` on a new temporary export, connect with the default
    /// config and attach as root.
    pub async fn start(kind: Kind) -> Ctx {
        let export = temp_dir().expect("temporary export");
        let path = export.path().to_path_buf();
        let server = tokio::task::spawn_blocking(move || match kind {
            Kind::Diod => Diod::start(&[&path]).map(Server::Diod),
            Kind::Unpfs => Unpfs::start(&path).map(Server::Unpfs),
        })
        .await
        .expect("launcher thread")
        .unwrap_or_else(|e| panic!("start {kind:?}: {e}"));
        let (dir, aname) = match &server {
            Server::Diod(d) => (d.exports()[0].clone(), d.exports()[0].clone()),
            // unpfs ignores the aname: send one that names nothing.
            Server::Unpfs(u) => (u.export().to_path_buf(), "/not/an/export".into()),
        };
        let addr = server_address(&server);
        let client = ok("connect", Client::connect(&addr, &Config::default())).await;
        let aname = aname.to_str().expect("UTF-8 export path");
        let root = ok("attach", client.attach("root", aname, 0)).await;
        Ctx {
            kind,
            client,
            root,
            dir,
            server,
            _export: export,
        }
    }

    /// The server's address.
    pub fn addr(&self) -> Address {
        server_address(&self.server)
    }

    /// The aname to attach the export with.
    pub fn aname(&self) -> String {
        self.dir.to_str().expect("UTF-8 export path").to_owned()
    }

    /// SIGKILL the server (and reap it).
    pub fn kill(&mut self) {
        match &mut self.server {
            Server::Diod(d) => d.kill(),
            Server::Unpfs(u) => u.kill(),
        }
    }

    /// A path in the export on the local disk.
    pub fn local(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// Walk from the root to `path` (names separated by `/`; "" clones).
    pub async fn walk(&self, path: &str) -> File {
        let names: Vec<&str> = path.split('/').filter(|n| !n.is_empty()).collect();
        ok(&format!("walk {path:?}"), self.root.walk(&names)).await
    }

    /// Walk to `path` and open it with `flags`.
    pub async fn open(&self, path: &str, flags: u32) -> File {
        let mut f = self.walk(path).await;
        ok(&format!("lopen {path:?}"), f.lopen(flags)).await;
        f
    }

    /// Make what was written through `f` visible on the local disk.
    ///
    /// diod answers Twrite after pwrite(2). unpfs answers before writing:
    /// its tokio `File::write` only hands the data to a blocking task, so a
    /// local read right after Rwrite can see old data (seen with 3 MiB).
    /// Its Tfsync waits for that task.
    pub async fn written(&self, f: &File) {
        if self.kind == Kind::Unpfs {
            ok("fsync", f.fsync(false)).await;
        }
    }

    /// After a case: every fid but the root's comes back, nothing in flight.
    pub async fn finish(self) {
        settle(&self.client, 1).await;
    }
}

fn server_address(server: &Server) -> Address {
    let sock = match server {
        Server::Diod(d) => d.addr(),
        Server::Unpfs(u) => u.addr(),
    };
    sock.to_string().parse().expect("server address")
}

/// Wait (up to [`SETTLE`]) until `want` fids are in use and nothing is in
/// flight: a dropped [`File`]'s Tclunk is sent without being awaited.
pub async fn settle(client: &Client, want: usize) {
    let deadline = Instant::now() + SETTLE;
    loop {
        let s = client.stats();
        if s.fids_in_use == want && s.in_flight == 0 {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fids did not settle within {SETTLE:?}: want {want} in use, have {s:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Await `fut` for at most [`STEP`]; panic (naming `what`) on error or hang.
pub async fn ok<T>(what: &str, fut: impl Future<Output = Result<T>>) -> T {
    ok_within(STEP, what, fut).await
}

/// [`ok`] with an explicit bound.
pub async fn ok_within<T>(limit: Duration, what: &str, fut: impl Future<Output = Result<T>>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: no answer within {limit:?}"),
    }
}

/// Await `fut` for at most [`STEP`] and return its error; panic if it
/// succeeds or hangs.
pub async fn err<T: Debug>(what: &str, fut: impl Future<Output = Result<T>>) -> Error {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => panic!("{what}: expected an error, got {v:?}"),
        Ok(Err(e)) => e,
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

/// Await `fut`, expect a remote error, return its errno.
pub async fn errno<T: Debug>(what: &str, fut: impl Future<Output = Result<T>>) -> u32 {
    match err(what, fut).await {
        Error::Remote(r) => r
            .errno
            .unwrap_or_else(|| panic!("{what}: remote error without errno: {r:?}")),
        e => panic!("{what}: expected a remote error, got {e:?}"),
    }
}

/// `len` deterministic pseudo-random bytes (xorshift64*), distinct per seed.
pub fn pattern(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = vec![0u8; len];
    for chunk in out.chunks_mut(8) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let word = x.wrapping_mul(0x2545_F491_4F6C_DD1D).to_le_bytes();
        chunk.copy_from_slice(&word[..chunk.len()]);
    }
    out
}

/// A 64-bit digest of `data` (SipHash with fixed keys: stable in a run).
pub fn digest(data: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    h.write(data);
    h.finish()
}

/// Metadata of a local path, not following a final symlink.
pub fn meta(path: &Path) -> fs::Metadata {
    fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The inode number of a local path (what servers put in `qid.path`).
pub fn ino(path: &Path) -> u64 {
    meta(path).ino()
}

/// This process's umask (servers started by the tests inherit it).
pub fn umask() -> u32 {
    let status = fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).expect("octal umask")
}
