//! `ninep-mount -o reconnect` as a user runs it: diod is killed and
//! started again on the same port; the mount process stays, the tree and a
//! file held open across the restart work again, `ninep-mount stats`
//! counts the reconnect, and SIGTERM still unmounts cleanly. (Without
//! `-o reconnect` the mount answers EIO until unmounted: see
//! `cli.rs`.) And `-o keepalive=`: a path to the server that goes
//! silent without closing is found and taken as lost.

use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::mount_support::*;

/// `ninep-mount stats MOUNTPOINT --json`, parsed.
fn stats_json(mnt: &Path) -> Value {
    let out = ninep_mount(&["stats", mnt.to_str().unwrap(), "--json"]);
    assert!(out.status.success(), "stats: {}", text(&out));
    serde_json::from_slice(&out.stdout).expect("stats --json")
}

#[test]
fn a_mount_with_reconnect_outlives_a_diod_restart() {
    let mut s = Setup::new();
    let mnt = s.mnt();
    let _guard = Guard(mnt.clone());
    let (mut child, log) = mount_foreground(&s, &["-f", "-o", "reconnect=20"]);
    let mut kept = fs::File::open(mnt.join("hello.txt")).unwrap();
    let mut first = String::new();
    kept.read_to_string(&mut first).unwrap();
    assert_eq!(stats_json(&mnt)["reconnects"], 0);
    let pid = child.id();
    let sockets = || {
        let watched = level_triggered_watches(pid);
        watched
            .into_iter()
            .filter(|t| t.starts_with("socket:["))
            .collect::<Vec<_>>()
    };
    let before = sockets();
    assert_eq!(
        before.len(),
        1,
        "busy polling watches the socket: {before:?}"
    );

    s.diod.restart().expect("restart diod");

    // The first use after the restart may race with the redial: reads
    // wait for it, so this must simply work.
    assert_eq!(
        fs::read_to_string(mnt.join("hello.txt")).unwrap(),
        "hello from diod\n"
    );
    kept.seek(SeekFrom::Start(0)).unwrap();
    let mut again = String::new();
    kept.read_to_string(&mut again).unwrap();
    assert_eq!(again, first, "a file open across the restart");
    use_mount(&s);
    assert!(
        child.try_wait().unwrap().is_none(),
        "the mount process ended: {}",
        fs::read_to_string(log.path()).unwrap()
    );
    assert_eq!(stats_json(&mnt)["reconnects"], 1);
    let after = sockets();
    assert_eq!(after.len(), 1, "the new socket alone: {after:?}");
    assert_ne!(after, before, "the lost socket left the set");
    drop(kept);

    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child);
    let logged = fs::read_to_string(log.path()).unwrap();
    assert!(status.success(), "{status}: {logged}");
    assert!(!is_mounted(&mnt));
    assert!(logged.contains("reconnected to"), "{logged}");
}

/// A TCP relay to `upstream` whose connections can go silent: after
/// [`Relay::stall`], every connection made before it stops forwarding in
/// both directions but stays open (a partition, or a middlebox that lost
/// its state); connections made later pass as usual. Its threads live as
/// long as the test process.
struct Relay {
    addr: String,
    /// Connections numbered below this are stalled.
    stall_below: Arc<AtomicU64>,
    next: Arc<AtomicU64>,
}

impl Relay {
    fn start(upstream: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let stall_below = Arc::new(AtomicU64::new(0));
        let next = Arc::new(AtomicU64::new(0));
        let (stall, count) = (stall_below.clone(), next.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(down) = conn else { return };
                let Ok(up) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let id = count.fetch_add(1, Ordering::SeqCst);
                for (from, to) in [
                    (down.try_clone().unwrap(), up.try_clone().unwrap()),
                    (up, down),
                ] {
                    let stall = stall.clone();
                    std::thread::spawn(move || pipe(from, to, id, &stall));
                }
            }
        });
        Relay {
            addr,
            stall_below,
            next,
        }
    }

    /// Silence every connection made so far.
    fn stall(&self) {
        self.stall_below
            .store(self.next.load(Ordering::SeqCst), Ordering::SeqCst);
    }
}

/// Copy `from` to `to` until either closes, holding everything (and
/// keeping both open) once connection `id` is stalled.
fn pipe(mut from: TcpStream, mut to: TcpStream, id: u64, stall: &AtomicU64) {
    use std::io::Write;
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0u8; 64 << 10];
    loop {
        if id < stall.load(Ordering::SeqCst) {
            // Silent for good, but open (dropped with the process).
            std::mem::forget((from, to));
            return;
        }
        match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                if id < stall.load(Ordering::SeqCst) {
                    std::mem::forget((from, to));
                    return;
                }
                if to.write_all(&buf[..n]).is_err() {
                    return;
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return,
        }
    }
}

/// Mount `s`'s export through `relay` in the foreground with `opts`.
fn mount_via(
    s: &Setup,
    relay: &Relay,
    opts: &str,
) -> (std::process::Child, tempfile::NamedTempFile) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(BIN)
        .args([
            &relay.addr,
            s.mnt().to_str().unwrap(),
            "-f",
            "-o",
            &s.aname(),
        ])
        .args(["-o", opts])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    assert!(
        wait_for(BOUND, || is_mounted(&s.mnt())),
        "not mounted: {}",
        fs::read_to_string(log.path()).unwrap()
    );
    (child, log)
}

/// A stat of a name never looked up, which needs the server: how it ended
/// and how long it took (killed, as `None`, if it is still running after
/// `bound`).
fn stat_within(path: &Path, bound: Duration) -> (Option<std::process::Output>, Duration) {
    let t0 = Instant::now();
    let mut child = Command::new("stat")
        .arg(path)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let done = wait_for(bound, || child.try_wait().unwrap().is_some());
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return (None, t0.elapsed());
    }
    (Some(child.wait_with_output().unwrap()), t0.elapsed())
}

/// The path to the server goes silent without closing: with
/// `keepalive=1`, a stat waiting for it fails with EIO within a few
/// seconds (without keepalive it would wait forever), `stats` says the
/// connection is lost; with `reconnect` as well, the mount dials again and
/// serves as before.
#[test]
fn keepalive_finds_a_silent_path_to_the_server() {
    for reconnect in [false, true] {
        let s = Setup::new();
        let mnt = s.mnt();
        let _guard = Guard(mnt.clone());
        fs::create_dir(s.export().join("d")).unwrap();
        fs::write(s.export().join("d/f"), "f\n").unwrap();
        let relay = Relay::start(s.addr());
        let opts = if reconnect {
            "keepalive=1,reconnect=20"
        } else {
            "keepalive=1"
        };
        let (mut child, log) = mount_via(&s, &relay, opts);
        assert_eq!(
            fs::read_to_string(mnt.join("hello.txt")).unwrap(),
            "hello from diod\n"
        );
        relay.stall();
        let (out, took) = stat_within(&mnt.join("d/f"), Duration::from_secs(8));
        let logged = || fs::read_to_string(log.path()).unwrap();
        let out = out
            .unwrap_or_else(|| panic!("{opts}: stat still waiting after {took:?}: {}", logged()));
        assert!(
            logged().contains("did not answer a keepalive request within 1s"),
            "{opts}: {}",
            logged()
        );
        if reconnect {
            // Sent again on the new connection: it simply works.
            assert!(out.status.success(), "{opts}: {}", text(&out));
            assert_eq!(fs::read_to_string(mnt.join("d/f")).unwrap(), "f\n");
            assert!(stats_json(&mnt)["reconnects"].as_u64().unwrap() >= 1);
            assert!(stats_json(&mnt)["disconnected_since"].is_null());
        } else {
            let err = String::from_utf8_lossy(&out.stderr);
            assert!(err.contains("Input/output error"), "{opts}: {}", text(&out));
            assert!(stats_json(&mnt)["disconnected_since"].is_u64(), "{opts}");
        }
        signal(&child, libc::SIGTERM);
        let status = wait_exit(&mut child);
        assert_eq!(
            status.success(),
            reconnect,
            "{opts}: {status}: {}",
            logged()
        );
        assert!(!is_mounted(&mnt));
    }
}

/// The system log socket for a test, where this machine has none: bound
/// at /dev/log while it lives, removed on drop.
struct FakeSyslog {
    sock: std::os::unix::net::UnixDatagram,
}

const DEV_LOG: &str = "/dev/log";

impl FakeSyslog {
    /// `None` if this machine has a system log of its own there.
    fn bind() -> Option<FakeSyslog> {
        if Path::new(DEV_LOG).exists() {
            return None;
        }
        let sock = std::os::unix::net::UnixDatagram::bind(DEV_LOG).unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        Some(FakeSyslog { sock })
    }

    /// Every datagram received so far.
    fn drain(&self, into: &mut String) {
        let mut buf = [0u8; 8192];
        while let Ok(n) = self.sock.recv(&mut buf) {
            into.push_str(&String::from_utf8_lossy(&buf[..n]));
            into.push('\n');
        }
    }
}

impl Drop for FakeSyslog {
    fn drop(&mut self) {
        let _ = fs::remove_file(DEV_LOG);
    }
}

/// A background mount's log is not lost with its terminal: its reconnect
/// line reaches the system log (/dev/log) and `-o logfile=`.
#[test]
fn a_background_mounts_log_reaches_the_system_log_and_the_logfile() {
    let syslog = FakeSyslog::bind();
    if syslog.is_none() {
        println!("{DEV_LOG} is this machine's own logger: checking the log file only");
    }
    let mut s = Setup::new();
    let mnt = s.mnt();
    let _guard = Guard(mnt.clone());
    let logfile = s.dir.path().join("mount.log");
    let opts = format!("reconnect=20,logfile={}", logfile.display());
    let out = ninep_mount(&[
        &s.addr(),
        mnt.to_str().unwrap(),
        "-o",
        &s.aname(),
        "-o",
        &opts,
    ]);
    assert!(out.status.success(), "{}", text(&out));
    s.diod.restart().expect("restart diod");
    assert_eq!(
        fs::read_to_string(mnt.join("hello.txt")).unwrap(),
        "hello from diod\n"
    );
    let mut system = String::new();
    let logged = wait_for(BOUND, || {
        if let Some(l) = &syslog {
            l.drain(&mut system);
        }
        let file = fs::read_to_string(&logfile).unwrap_or_default();
        file.contains("reconnected to") && (syslog.is_none() || system.contains("reconnected to"))
    });
    let file = fs::read_to_string(&logfile).unwrap_or_default();
    assert!(logged, "log file:\n{file}\nsystem log:\n{system}");
    // The file has every line from the start, with times.
    assert!(file.contains("negotiated 9P2000.L"), "{file}");
    assert!(file.lines().all(|l| l.starts_with("20")), "{file}");
    if syslog.is_some() {
        assert!(system.contains("ninep-mount["), "{system}");
        assert!(
            !system.contains("negotiated"),
            "logged there before detaching: {system}"
        );
    }
    let daemons = serving(&mnt);
    let out = while_busy(|| run(Command::new("umount").arg(&mnt)));
    assert!(out.status.success(), "{}", text(&out));
    assert!(wait_for(BOUND, || daemons.iter().all(|&p| !alive(p))));
}
