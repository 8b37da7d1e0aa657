//! The harness of the `mount` and `caches` test binaries: a real FUSE
//! mount of a 9P server (diod on a fresh export, or the scripted server)
//! made in-process with `ninep_fuse::mount`, used through ordinary system
//! calls and tools.
//!
//! Everything that touches the mount runs on a blocking thread
//! ([`blocking`]), never on a runtime thread: the FUSE session is served by
//! this test's own runtime, and a syscall waiting on a runtime thread
//! could wait for itself. Every wait is bounded. A test that fails leaves
//! no mount behind: dropping a [`Mounted`] that was not unmounted aborts
//! the FUSE connection (`umount -f` aborts a FUSE connection, which fails
//! whatever still waits on it) and detaches the mount point.
#![allow(dead_code)]

use std::ffi::CString;
use std::future::Future;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ninep_client::{Address, Client, Config, FlushPolicy};
use ninep_fuse::{mount, CacheMode, Mount, MountConfig, MountStats, Reconnect, StatsSource};
use ninep_tests::blockfs::BlockFs;
use ninep_tests::scripted::{FlushBehaviour, ScriptedServer};
use ninep_tests::servers::{temp_dir, Diod, Unpfs};
use tempfile::TempDir;

pub mod relayed;

/// Bound on one step of a test.
pub const STEP: Duration = Duration::from_secs(30);
/// How long fids and inodes may take to come back after a close.
pub const SETTLE: Duration = Duration::from_secs(5);

/// Run `f` on a blocking thread, failing the test after [`STEP`].
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    within(STEP, tokio::task::spawn_blocking(f))
        .await
        .expect("blocking step panicked")
}

/// `fut`, or a test failure after `limit`.
pub async fn within<T>(limit: Duration, fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(limit, fut)
        .await
        .unwrap_or_else(|_| panic!("step did not finish within {limit:?}"))
}

/// `bash -c script` (call from a blocking thread); panics if it fails.
pub fn sh(script: &str) -> Output {
    let out = Command::new("bash")
        .args(["-c", script])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "`{script}` failed: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// What a test mounts.
pub struct Mounted {
    mount: Option<Mount>,
    /// The mount point.
    pub dir: PathBuf,
    /// The server's export, as the server sees it (compare with std::fs).
    pub export: PathBuf,
    _mount_point: TempDir,
    diod: Option<Diod>,
    unpfs: Option<Unpfs>,
    scripted: Option<Arc<ScriptedServer>>,
    // After the server that exports it.
    blockfs: Option<Arc<Mutex<BlockFs>>>,
    _export: Option<TempDir>,
}

/// A flush policy short enough that an interrupted syscall on a server
/// that holds its Rflush (diod) still ends within a second.
pub fn quick_flush() -> Config {
    Config {
        flush: FlushPolicy {
            timeout: Duration::from_millis(250),
            max_flushes: 2,
        },
        ..Config::default()
    }
}

/// A mount configuration for tests: attach as root to `aname`.
pub fn config(aname: &str, cache: CacheMode) -> MountConfig {
    let mut cfg = MountConfig::default();
    cfg.attach.aname = aname.into();
    cfg.cache = cache;
    cfg.fsname = "ninep-test".into();
    // Through io_uring where the kernel offers it (the test script's
    // second run turns that on), through /dev/fuse otherwise.
    cfg.uring = true;
    cfg
}

impl Mounted {
    /// diod on a fresh export, mounted with `cache`.
    pub async fn diod(cache: CacheMode) -> Mounted {
        Self::diod_with(|c| c.cache = cache).await
    }

    /// diod on a fresh export, mounted with a configuration `tweak`ed.
    pub async fn diod_with(tweak: impl FnOnce(&mut MountConfig)) -> Mounted {
        Self::diod_at(|cfg, _| tweak(cfg)).await
    }

    /// diod on a fresh export, mounted with `-o reconnect` (giving up
    /// after `give_up`) and a configuration `tweak`ed.
    pub async fn diod_reconnecting(
        give_up: Duration,
        tweak: impl FnOnce(&mut MountConfig),
    ) -> Mounted {
        Self::diod_at(|cfg, addr| {
            let spec = Reconnect::new(addr.parse().expect("address"), Config::default());
            cfg.reconnect = Some(Reconnect { give_up, ..spec });
            tweak(cfg);
        })
        .await
    }

    /// diod on a fresh export, mounted with a configuration `tweak`ed
    /// knowing diod's address.
    async fn diod_at(tweak: impl FnOnce(&mut MountConfig, &str)) -> Mounted {
        let export = temp_dir().expect("export dir");
        let path = export.path().to_path_buf();
        let diod = blocking(move || Diod::start(&[&path]))
            .await
            .expect("start diod");
        let exported = diod.exports()[0].clone();
        let mut cfg = config(exported.to_str().expect("utf-8 path"), CacheMode::None);
        tweak(&mut cfg, &diod.addr().to_string());
        let mut m = Self::mount_at(diod.addr().to_string(), cfg, Config::default()).await;
        m.export = exported;
        m.diod = Some(diod);
        m._export = Some(export);
        m
    }

    /// unpfs on a fresh export (it has Trenameat and Tunlinkat, but no
    /// Trename nor Tremove).
    pub async fn unpfs(cache: CacheMode) -> Mounted {
        let export = temp_dir().expect("export dir");
        let path = export.path().to_path_buf();
        let unpfs = blocking(move || Unpfs::start(&path))
            .await
            .expect("start unpfs");
        let exported = unpfs.export().to_path_buf();
        let cfg = config("/", cache);
        let mut m = Self::mount_at(unpfs.addr().to_string(), cfg, Config::default()).await;
        m.export = exported;
        m.unpfs = Some(unpfs);
        m._export = Some(export);
        m
    }

    /// The scripted server with `behaviour`, mounted with `cache` and the
    /// client configuration `client`.
    pub async fn scripted(behaviour: FlushBehaviour, cache: CacheMode, client: Config) -> Mounted {
        let server = ScriptedServer::start(behaviour);
        let cfg = config("/", cache);
        let mut m = Self::mount_at(server.addr().to_string(), cfg, client).await;
        m.scripted = Some(Arc::new(server));
        m
    }

    /// A blockfs exported by diod, mounted with `client`.
    pub async fn blockfs(client: Config) -> Mounted {
        let blockfs = blocking(BlockFs::mount_temp).await.expect("mount blockfs");
        let path = blockfs.path().to_path_buf();
        let diod = blocking(move || Diod::start(&[&path]))
            .await
            .expect("start diod");
        let aname = diod.exports()[0].clone();
        let cfg = config(aname.to_str().expect("utf-8"), CacheMode::None);
        let mut m = Self::mount_at(diod.addr().to_string(), cfg, client).await;
        m.export = aname;
        m.diod = Some(diod);
        m.blockfs = Some(Arc::new(Mutex::new(blockfs)));
        m
    }

    /// The scripted server.
    pub fn scripted_server(&self) -> Arc<ScriptedServer> {
        self.scripted.clone().expect("a scripted mount")
    }

    /// The blockfs behind diod (behind a mutex: it is not `Sync`).
    pub fn blockfs_fs(&self) -> Arc<Mutex<BlockFs>> {
        self.blockfs.clone().expect("a blockfs mount")
    }

    /// Mount the server at `addr` with `cfg` on a fresh mount point.
    pub async fn mount_at(addr: String, cfg: MountConfig, client: Config) -> Mounted {
        static TRACING: std::sync::Once = std::sync::Once::new();
        TRACING.call_once(|| {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
                .with_test_writer()
                .try_init();
        });
        let addr: Address = addr.parse().expect("address");
        let client = within(STEP, Client::connect(&addr, &client))
            .await
            .expect("connect");
        let mount_point = temp_dir().expect("mount point");
        let mount = within(STEP, mount(client, cfg, mount_point.path()))
            .await
            .expect("mount");
        let dir = mount.mountpoint().to_path_buf();
        let m = Mounted {
            mount: Some(mount),
            dir: dir.clone(),
            export: PathBuf::new(),
            _mount_point: mount_point,
            diod: None,
            unpfs: None,
            scripted: None,
            blockfs: None,
            _export: None,
        };
        // The first request waits for FUSE_INIT; the root must be ours.
        let probe = dir.clone();
        let dev = blocking(move || {
            std::fs::metadata(&probe).map(|m| {
                use std::os::unix::fs::MetadataExt;
                m.dev()
            })
        })
        .await
        .expect("stat the mount point");
        let below = std::fs::metadata(dir.parent().unwrap()).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_ne!(dev, below.dev(), "not mounted");
        m
    }

    /// A path inside the mount.
    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// The same path in the server's export.
    pub fn local(&self, rel: &str) -> PathBuf {
        self.export.join(rel)
    }

    /// The mount's counters.
    pub fn stats(&self) -> MountStats {
        self.mount.as_ref().expect("mounted").stats()
    }

    /// The mount's counters, to read from another thread.
    pub fn stats_source(&self) -> StatsSource {
        self.mount.as_ref().expect("mounted").stats_source()
    }

    /// 9P requests of type `ty` (e.g. "Twalk") the mount has sent.
    pub fn requests_of(&self, ty: &str) -> u64 {
        self.traffic().requests(ty)
    }

    /// Requests by type and bytes moved on the mount's connection.
    pub fn traffic(&self) -> ninep_client::Traffic {
        self.mount
            .as_ref()
            .expect("mounted")
            .stats_source()
            .traffic()
    }

    /// The flush profile of the mount's connection.
    pub fn flush_profile(&self) -> ninep_client::FlushProfile {
        self.mount.as_ref().expect("mounted").flush_profile()
    }

    /// The diod serving it.
    pub fn server(&mut self) -> &mut Diod {
        self.diod.as_mut().expect("a diod mount")
    }

    /// Drop the kernel's caches (dentries and inodes: FUSE forgets) and
    /// wait until the mount's fids and inodes come down to `fids` and
    /// `inodes` or below; returns the last stats.
    pub async fn settle_to(&self, fids: usize, inodes: usize) -> MountStats {
        let deadline = Instant::now() + SETTLE;
        loop {
            blocking(|| std::fs::write("/proc/sys/vm/drop_caches", "3"))
                .await
                .expect("drop_caches");
            let s = self.stats();
            if (s.fids_in_use <= fids && s.inodes <= inodes) || Instant::now() > deadline {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Wait for the session to end (after an unmount from outside).
    pub async fn wait(&mut self) -> std::io::Result<()> {
        self.mount.as_mut().expect("mounted").wait().await
    }

    /// Wait until only the root's fid and inode are left, with no open
    /// handle (nothing leaked), then unmount cleanly.
    pub async fn unmount_clean(self) {
        let s = self.settle_to(1, 1).await;
        assert_eq!(
            (s.fids_in_use, s.inodes, s.open_handles),
            (1, 1, 0),
            "{s:?}"
        );
        self.unmount().await;
    }

    /// Unmount cleanly (the test fails if that does not work).
    pub async fn unmount(mut self) {
        let mount = self.mount.take().expect("mounted");
        within(STEP, mount.unmount()).await.expect("unmount");
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        let Some(mount) = self.mount.take() else {
            return;
        };
        // A failed test: fail whatever still waits on the mount, then go.
        if let Ok(c) = CString::new(self.dir.as_os_str().as_bytes()) {
            // SAFETY: `c` is a valid NUL-terminated path for both calls.
            unsafe {
                libc::umount2(c.as_ptr(), libc::MNT_FORCE);
                libc::umount2(c.as_ptr(), libc::MNT_DETACH);
            }
        }
        drop(mount);
    }
}

/// The root of a path given as `&Path` (helper for `Command` arguments).
pub fn arg(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// This process's umask, read without setting it: umask(2) would change it
/// for a moment under every other test of the binary (and every server
/// they start).
pub fn umask() -> u32 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .expect("Umask in /proc/self/status");
    u32::from_str_radix(line.trim(), 8).expect("octal umask")
}

extern "C" fn on_usr1(_: libc::c_int) {}

/// The kernel thread id of the calling thread.
pub fn gettid() -> i32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() }
}

/// Wait (at most 10 s) until thread `tid` of this process sleeps in a FUSE
/// request, as its wait channel shows: the call is blocked in the mount
/// now, not merely not finished yet.
pub fn wait_blocked_in_fuse(tid: i32) {
    let wchan = format!("/proc/self/task/{tid}/wchan");
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut last = String::new();
    while Instant::now() < deadline {
        last = std::fs::read_to_string(&wchan).unwrap_or_default();
        if last.contains("fuse") || last.contains("request_wait_answer") {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("thread {tid} never blocked in a FUSE request (wchan {last:?})");
}

/// Wait (at most 10 s) until thread `tid` sleeps in a FUSE request and
/// the mount serves a request: the call has reached the mount, so a
/// signal now becomes a FUSE interrupt. Sleeping alone is not enough with
/// FUSE over io_uring: Linux (6.18) takes a request out of its queue
/// before it copies it into a ring entry, and a signal in between is
/// never sent as an interrupt (its /dev/fuse read checks for that, the
/// ring does not), so the call then waits as if never signalled.
pub fn wait_served(tid: i32, mount: &StatsSource) {
    wait_blocked_in_fuse(tid);
    let deadline = Instant::now() + Duration::from_secs(10);
    while mount.stats().requests_in_service == 0 {
        assert!(
            Instant::now() < deadline,
            "thread {tid} sleeps in a FUSE request the mount never served"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// SIGUSR1 gets a handler that does nothing, without SA_RESTART, so a
/// syscall it interrupts fails with EINTR (the process keeps running).
pub fn install_usr1() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction is valid; the handler is async-signal
        // safe (it does nothing) and lives for the whole program.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_usr1 as extern "C" fn(libc::c_int) as usize;
            sa.sa_flags = 0;
            libc::sigemptyset(&mut sa.sa_mask);
            assert_eq!(libc::sigaction(libc::SIGUSR1, &sa, std::ptr::null_mut()), 0);
        }
    });
}

/// What an interrupted read came to.
#[derive(Debug)]
pub struct Outcome {
    /// read(2)'s return value and errno.
    pub ret: isize,
    pub errno: i32,
    /// From the signal to the return.
    pub after_signal: Duration,
}

/// Read `file` on a thread of its own; once `blocked` says the read waits
/// on the server, send that thread SIGUSR1. Call from a blocking thread.
pub fn interrupted_read(file: &std::fs::File, blocked: impl Fn() -> bool) -> Outcome {
    install_usr1();
    let fd = std::os::fd::AsRawFd::as_raw_fd(file);
    let (tid_tx, tid_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        // SAFETY: pthread_self has no preconditions.
        tid_tx.send(unsafe { libc::pthread_self() }).unwrap();
        let mut buf = [0u8; 4096];
        // SAFETY: `buf` is valid for its length; `fd` outlives the call
        // (the caller holds the File until the thread is joined).
        let ret = unsafe { libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
        let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(0);
        (ret, errno, Instant::now())
    });
    let tid = tid_rx.recv().unwrap();
    assert!(blocked(), "the read never reached the server");
    let sent = Instant::now();
    // SAFETY: the thread is alive: it has not been joined.
    assert_eq!(unsafe { libc::pthread_kill(tid, libc::SIGUSR1) }, 0);
    let (ret, errno, done) = reader.join().unwrap();
    Outcome {
        ret,
        errno,
        after_signal: done.saturating_duration_since(sent),
    }
}
