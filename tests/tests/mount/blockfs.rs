//! The blocking FUSE file system of `ninep_tests::blockfs`: reads through
//! the kernel wait at its gate, interrupts end them, dropping unmounts; and
//! served by diod, a Tread on a block file blocks the server, which is what
//! the flush tests need.
//!
//! Observed with diod 1.0.24 (Debian 12), see the last two tests:
//! - a Tread of `block0` blocks diod's worker in pread(2): no reply until
//!   the gate opens; the Rread comes under a millisecond after the release.
//! - a Tflush for that Tread is held: no Rflush (and no Rread) while the
//!   read waits (1 s here, 5 s in a manual run); diod does not interrupt its
//!   worker (blockfs sees no FUSE_INTERRUPT, the read stays at the gate).
//!   Once released, diod sends the Rread and then the Rflush (on the wire
//!   0.13 ms and 0.17 ms after the release), so the victim wins the race
//!   and its data is delivered.
//! - several Tflush for one blocked Tread (seen on the wire, three sent
//!   320 ms apart): none is answered while the read waits, other requests
//!   (Twalk) are served meanwhile, and after the release diod sends the
//!   Rread and then a single Rflush, for the *last* Tflush only; the
//!   earlier ones never get an Rflush.

use std::fs;
use std::io::{self, Read};
use std::os::unix::thread::JoinHandleExt;
use std::path::Path;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use crate::mount_support::install_usr1;
use ninep_client::{Address, Client, Config, File, FlushPolicy};
use ninep_tests::blockfs::{
    block_data, is_mounted, BlockFs, BLOCKS, BLOCK_SIZE, HELLO, LAZY_GRACE,
};
use ninep_tests::servers::{temp_dir, Diod};

/// Bound on anything that should finish now.
const STEP: Duration = Duration::from_secs(10);
/// How long a read must stay blocked to count as blocked.
const STILL_BLOCKED: Duration = Duration::from_millis(200);

/// A blockfs on a fresh temporary mount point.
fn mounted() -> BlockFs {
    BlockFs::mount_temp().expect("mount blockfs")
}

/// Reads `path` to the end on a new thread; the result comes on the channel.
fn read_in_thread(path: &Path) -> mpsc::Receiver<io::Result<Vec<u8>>> {
    let (tx, rx) = mpsc::channel();
    let path = path.to_owned();
    thread::spawn(move || {
        let _ = tx.send(fs::read(path));
    });
    rx
}

#[test]
fn hello_and_the_listing_are_served_at_once() {
    let blockfs = mounted();
    let root = blockfs.path();
    assert!(is_mounted(root));
    assert_eq!(fs::read(root.join("hello")).unwrap(), HELLO);
    let mut names: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    let mut want: Vec<String> = (0..BLOCKS).map(|n| format!("block{n}")).collect();
    want.push("hello".into());
    assert_eq!(names, want);
    let meta = fs::metadata(root.join("block7")).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.len(), BLOCK_SIZE);
    assert_eq!(fs::metadata(root.join(".")).unwrap().len(), 0);
    assert!(fs::metadata(root.join("missing")).is_err());
    assert!(fs::write(root.join("hello"), b"x").is_err(), "read-only");
    assert_eq!(blockfs.reads_started(), 0, "hello does not pass the gate");
}

#[test]
fn a_block_read_waits_until_released() {
    let blockfs = mounted();
    let block0 = blockfs.path().join("block0");
    let done = read_in_thread(&block0);
    assert!(
        blockfs.wait_for_waiting(1, STEP),
        "the read reached the gate"
    );
    assert!(done.recv_timeout(STILL_BLOCKED).is_err(), "still blocked");
    assert_eq!(blockfs.waiting(), 1);
    blockfs.release_waiting();
    assert_eq!(done.recv_timeout(STEP).unwrap().unwrap(), block_data(0));
    assert_eq!(blockfs.waiting(), 0);
    assert_eq!(blockfs.reads_started(), 1, "the read at EOF does not wait");

    // release_waiting let only that one go: the next read waits again...
    let again = read_in_thread(&block0);
    assert!(blockfs.wait_for_waiting(1, STEP));
    assert!(again.recv_timeout(STILL_BLOCKED).is_err());
    // ...until release_all, which also lets every later read through.
    blockfs.release_all();
    assert_eq!(again.recv_timeout(STEP).unwrap().unwrap(), block_data(0));
    assert_eq!(
        fs::read(blockfs.path().join("block3")).unwrap(),
        block_data(3)
    );
    assert_eq!(blockfs.reads_started(), 3);
    assert_eq!(blockfs.interrupted(), 0);
}

#[test]
fn concurrent_reads_are_separate_waiters() {
    let blockfs = mounted();
    let readers: Vec<_> = [0, 0, 5]
        .iter()
        .map(|n| read_in_thread(&blockfs.path().join(format!("block{n}"))))
        .collect();
    assert!(blockfs.wait_for_waiting(3, STEP), "{}", blockfs.waiting());
    blockfs.release_waiting();
    for (reader, n) in readers.iter().zip([0, 0, 5]) {
        assert_eq!(reader.recv_timeout(STEP).unwrap().unwrap(), block_data(n));
    }
}

#[test]
fn a_signal_interrupts_a_waiting_read_with_eintr() {
    install_usr1();
    let blockfs = mounted();
    let mut file = fs::File::open(blockfs.path().join("block1")).unwrap();
    let reader = thread::spawn(move || file.read(&mut [0u8; 64]));
    assert!(blockfs.wait_for_waiting(1, STEP));
    // SAFETY: the thread is alive (it waits at the gate) and not detached.
    let sent = unsafe { libc::pthread_kill(reader.as_pthread_t(), libc::SIGUSR1) };
    assert_eq!(sent, 0);
    let deadline = Instant::now() + STEP;
    while !reader.is_finished() {
        assert!(Instant::now() < deadline, "the interrupted read hangs");
        thread::sleep(Duration::from_millis(5));
    }
    let err = reader.join().unwrap().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::Interrupted, "{err}");
    assert_eq!(blockfs.interrupted(), 1);
    assert_eq!(blockfs.waiting(), 0);
}

#[test]
fn drop_unmounts_even_with_a_read_waiting() {
    let dir = temp_dir().unwrap();
    let blockfs = BlockFs::mount(dir.path()).unwrap();
    let root = blockfs.path().to_owned();
    let waiting = read_in_thread(&root.join("block2"));
    assert!(blockfs.wait_for_waiting(1, STEP));
    drop(blockfs);
    assert_eq!(waiting.recv_timeout(STEP).unwrap().unwrap(), block_data(2));
    assert!(!is_mounted(&root), "no mount left behind");
    assert!(
        fs::read_dir(&root).unwrap().next().is_none(),
        "the bare directory"
    );

    // An explicit unmount reports success, and the directory mounts again.
    let again = BlockFs::mount(&root).unwrap();
    assert_eq!(fs::read(root.join("hello")).unwrap(), HELLO);
    again.unmount().unwrap();
    assert!(!is_mounted(&root));
}

#[test]
fn drop_while_a_file_is_open_detaches_the_mount() {
    let blockfs = mounted();
    let root = blockfs.path().to_owned();
    let open = fs::File::open(root.join("hello")).unwrap();
    let started = Instant::now();
    let err = blockfs.unmount().unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::ResourceBusy, "{err}");
    assert!(started.elapsed() < LAZY_GRACE + STEP);
    assert!(!is_mounted(&root), "lazily unmounted all the same");
    // The detached file system still serves what is open.
    let mut text = Vec::new();
    (&open).read_to_end(&mut text).unwrap();
    assert_eq!(text, HELLO);
}

/// blockfs with diod exporting its mount point, and a client attached.
struct Served {
    client: Client,
    root: File,
    // Dropped in this order: diod (closing its files) before the mount.
    _diod: Diod,
    blockfs: BlockFs,
}

impl Served {
    fn start(runtime: &tokio::runtime::Runtime, flush: FlushPolicy) -> Served {
        let blockfs = mounted();
        let diod = Diod::start(&[blockfs.path()]).expect("start diod");
        let aname = diod.exports()[0].to_str().unwrap().to_owned();
        let addr: Address = diod.addr().to_string().parse().unwrap();
        let cfg = Config {
            flush,
            ..Config::default()
        };
        let (client, root) = runtime.block_on(async {
            let client = bounded("connect", Client::connect(&addr, &cfg)).await;
            let root = bounded("attach", client.attach("root", &aname, 0)).await;
            (client, root)
        });
        Served {
            client,
            root,
            _diod: diod,
            blockfs,
        }
    }

    async fn open(&self, name: &str) -> File {
        let mut file = bounded("walk", self.root.walk(&[name])).await;
        bounded("lopen", file.lopen(0)).await;
        file
    }
}

async fn bounded<T, E: std::fmt::Debug>(
    what: &str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> T {
    match tokio::time::timeout(STEP, fut).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => panic!("{what}: {e:?}"),
        Err(_) => panic!("{what}: no answer within {STEP:?}"),
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

/// Polls until `cond` holds; panics after [`STEP`].
async fn until(what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < STEP, "{what}: not within {STEP:?}");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    started.elapsed()
}

#[test]
fn diod_tread_blocks_until_released() {
    let rt = runtime();
    let served = Served::start(&rt, FlushPolicy::default());
    rt.block_on(async {
        let hello = served.open("hello").await;
        assert_eq!(bounded("read hello", hello.read(0, 100)).await, HELLO);
        let file = served.open("block0").await;
        let read = tokio::spawn(async move { file.read(0, BLOCK_SIZE as u32).await });
        until("the Tread reached the gate", || {
            served.blockfs.waiting() == 1
        })
        .await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !read.is_finished(),
            "the Tread is answered only after the release"
        );
        assert_eq!(served.blockfs.waiting(), 1);
        let released = Instant::now();
        served.blockfs.release_waiting();
        let data = bounded("Tread", async { read.await.unwrap() }).await;
        eprintln!("Rread {:?} after the release", released.elapsed());
        assert_eq!(data, block_data(0));
        assert_eq!(served.blockfs.reads_started(), 1);
    });
    drop(served);
}

#[test]
fn diod_holds_the_rflush_of_a_blocked_tread() {
    let rt = runtime();
    // One Tflush, and a long wait for its Rflush: see what diod does.
    let flush = FlushPolicy {
        timeout: Duration::from_secs(30),
        max_flushes: 1,
    };
    let served = Served::start(&rt, flush);
    rt.block_on(async {
        let file = served.open("block4").await;
        let cancelled = tokio::time::timeout(Duration::from_millis(300), file.read(0, 4096)).await;
        assert!(cancelled.is_err(), "the Tread blocks");
        // Dropping the read's future sent a Tflush.
        until("Tflush sent", || served.client.stats().flushes_sent == 1).await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let held = served.client.stats();
        assert_eq!(held.rflush_received, 0, "diod holds the Rflush: {held:?}");
        assert_eq!(
            served.blockfs.waiting(),
            1,
            "diod does not abandon its pread"
        );
        assert_eq!(served.blockfs.interrupted(), 0, "nor interrupt it");

        served.blockfs.release_waiting();
        let took = until("Rflush after the release", || {
            served.client.stats().rflush_received == 1
        })
        .await;
        eprintln!("Rflush {took:?} after the release");
        let s = served.client.stats();
        assert_eq!(s.victims_won, 1, "Rread came before the Rflush: {s:?}");
        assert_eq!((s.order_violations, s.flush_errors), (0, 0), "{s:?}");
        until("tags settle", || {
            let s = served.client.stats();
            s.in_flight == 0 && s.quarantined == 0
        })
        .await;
        // The connection goes on working; the gate is shut again.
        let hello = served.open("hello").await;
        assert_eq!(bounded("read hello", hello.read(0, 100)).await, HELLO);
        assert_eq!(served.blockfs.reads_started(), 1);
    });
    drop(served);
}
