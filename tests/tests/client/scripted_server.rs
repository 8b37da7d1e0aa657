//! The scripted server driven with raw frames over TCP: the files it
//! serves, blocked reads and their release, and each Tflush behaviour doing
//! exactly what it says, reply by reply and in order.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ninep_client::wire::*;
use ninep_client::{Fid, Tag, NOTAG};
use ninep_tests::scripted::{
    Config, Dir, Endpoint, FlushBehaviour as B, RawConn, ScriptedServer, HELLO,
};

/// Bound on waiting for the server to reach a state.
const STEP: Duration = Duration::from_secs(2);
/// How long "no reply" is watched for.
const SILENCE: Duration = Duration::from_millis(100);
const ROOT: Fid = Fid(0);
const BLOCK0: Fid = Fid(1);

/// A server with `b`, a connection attached as `ROOT` and `/block/0`
/// opened as `BLOCK0`.
async fn setup(b: B) -> (ScriptedServer, RawConn) {
    setup_with(Config::new(b)).await
}

async fn setup_with(config: Config) -> (ScriptedServer, RawConn) {
    let server = ScriptedServer::start_with(config).unwrap();
    let mut c = RawConn::attached(server.endpoint(), ROOT).await.unwrap();
    c.open(ROOT, BLOCK0, "block/0").await;
    (server, c)
}

fn tread(fid: Fid) -> Tread {
    Tread {
        fid,
        offset: 0,
        count: 100,
    }
}

/// Send a read of `/block/0` on `tag` and wait until the server blocks in it.
async fn blocked_read(server: &ScriptedServer, c: &mut RawConn, tag: u16) {
    let before = server.blocked_reads();
    c.send(Tag(tag), tread(BLOCK0)).await;
    assert!(
        server.wait_blocked(before + 1, STEP).await,
        "read not blocked"
    );
}

async fn flush(c: &mut RawConn, tag: u16, oldtag: u16) {
    c.send(
        Tag(tag),
        Tflush {
            oldtag: Tag(oldtag),
        },
    )
    .await;
}

/// The next `n` replies as (tag, name).
async fn replies(c: &mut RawConn, n: usize) -> Vec<(u16, &'static str)> {
    let mut v = Vec::new();
    for _ in 0..n {
        let (tag, m) = c.expect().await;
        if let Rmessage::Rread(r) = &m {
            assert_eq!(&r.data.0[..], b"block 0\n");
        }
        v.push((tag.0, m.name()));
    }
    v
}

#[tokio::test]
async fn serves_version_attach_walk_read_write_readdir() {
    let server = ScriptedServer::start(B::Correct);
    let mut c = RawConn::connect(server.endpoint()).await.unwrap();
    let v = |version: &str| Tversion {
        msize: 1 << 20,
        version: version.into(),
    };
    match c.rpc(NOTAG, v("9P2000.u")).await {
        Rmessage::Rversion(r) => assert_eq!(r.version.as_bytes(), b"unknown"),
        r => panic!("{r:?}"),
    }
    match c.rpc(NOTAG, v("9P2000.L")).await {
        Rmessage::Rversion(r) => {
            assert_eq!((r.msize, r.version.as_bytes()), (65536, &b"9P2000.L"[..]))
        }
        r => panic!("{r:?}"),
    }
    let mut c = RawConn::attached(server.endpoint(), ROOT).await.unwrap();
    c.open(ROOT, Fid(1), "hello").await;
    let Rmessage::Rgetattr(a) = c
        .rpc(
            Tag(1),
            Tgetattr {
                fid: Fid(1),
                request_mask: getattr::ALL,
            },
        )
        .await
    else {
        panic!()
    };
    assert_eq!((a.size, a.mode & 0o170000), (HELLO.len() as u64, 0o100000));
    let Rmessage::Rread(r) = c.rpc(Tag(1), tread(Fid(1))).await else {
        panic!()
    };
    assert_eq!(&r.data.0[..], HELLO);
    let w = Twrite {
        fid: Fid(1),
        offset: 0,
        data: Data("HELLO".into()),
    };
    assert_eq!(
        c.rpc(Tag(1), w).await,
        Rmessage::Rwrite(Rwrite { count: 5 })
    );
    let Rmessage::Rread(r) = c.rpc(Tag(1), tread(Fid(1))).await else {
        panic!()
    };
    assert_eq!(&r.data.0[..], b"HELLO, world\n");

    c.open(ROOT, Fid(2), "block").await;
    let rd = Treaddir {
        fid: Fid(2),
        offset: 0,
        count: 4096,
    };
    let Rmessage::Rreaddir(d) = c.rpc(Tag(1), rd).await else {
        panic!()
    };
    let names: Vec<String> = parse_dirents(d.data.0)
        .unwrap()
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    assert_eq!(names, [".", "..", "0", "1", "2", "3", "4", "5", "6", "7"]);
    let Rmessage::Rstatfs(s) = c.rpc(Tag(1), Tstatfs { fid: ROOT }).await else {
        panic!()
    };
    assert_eq!(s.namelen, 255);
    assert_eq!(
        c.rpc(Tag(1), Tclunk { fid: Fid(2) }).await,
        Rmessage::Rclunk(Rclunk {})
    );
    let again = c.rpc(Tag(1), Tclunk { fid: Fid(2) }).await;
    assert_eq!(again, Rmessage::Rlerror(Rlerror { ecode: 9 }));
}

#[tokio::test]
async fn walk_errors_and_unsupported_messages() {
    let server = ScriptedServer::start(B::Correct);
    let mut c = RawConn::attached(server.endpoint(), ROOT).await.unwrap();
    let walk = |names: &[&str]| Twalk {
        fid: ROOT,
        newfid: Fid(5),
        wname: names.iter().map(|&n| n.into()).collect(),
    };
    assert_eq!(
        c.rpc(Tag(1), walk(&["nope"])).await,
        Rmessage::Rlerror(Rlerror { ecode: 2 })
    );
    // A partial walk: one qid, newfid left unbound.
    let Rmessage::Rwalk(w) = c.rpc(Tag(1), walk(&["hello", "x"])).await else {
        panic!()
    };
    assert_eq!(w.wqid.len(), 1);
    let g = Tgetattr {
        fid: Fid(5),
        request_mask: getattr::BASIC,
    };
    assert_eq!(
        c.rpc(Tag(1), g).await,
        Rmessage::Rlerror(Rlerror { ecode: 9 })
    );
    // Reading a fid that was walked but not opened.
    let Rmessage::Rwalk(_) = c.rpc(Tag(1), walk(&["block", "0"])).await else {
        panic!()
    };
    assert_eq!(
        c.rpc(Tag(1), tread(Fid(5))).await,
        Rmessage::Rlerror(Rlerror { ecode: 9 })
    );
    let mkdir = Tmkdir {
        dfid: ROOT,
        name: "d".into(),
        mode: 0o755,
        gid: 0,
    };
    assert_eq!(
        c.rpc(Tag(1), mkdir).await,
        Rmessage::Rlerror(Rlerror { ecode: 95 })
    );
    assert_eq!(server.blocked_reads(), 0);
}

#[tokio::test]
async fn blocked_reads_hold_up_nothing_and_release_one_by_one() {
    let (server, mut c) = setup(B::Correct).await;
    c.open(ROOT, Fid(2), "block/1").await;
    blocked_read(&server, &mut c, 1).await;
    c.send(Tag(2), tread(Fid(2))).await;
    assert!(server.wait_blocked(2, STEP).await);
    let g = Tgetattr {
        fid: ROOT,
        request_mask: getattr::BASIC,
    };
    assert_eq!(
        c.rpc(Tag(3), g).await.name(),
        "Rgetattr",
        "answered past two blocked reads"
    );
    server.release(1);
    let (tag, m) = c.expect().await;
    assert_eq!(tag, Tag(2));
    assert_eq!(
        m,
        Rmessage::Rread(Rread {
            data: Data("block 1\n".into())
        })
    );
    assert_eq!(server.blocked_reads(), 1);
    server.release_all();
    assert_eq!(replies(&mut c, 1).await, [(1, "Rread")]);
    assert!(server.wait_blocked(0, STEP).await);
}

#[tokio::test]
async fn read_timeout_and_release_file_answer_blocked_reads() {
    let mut cfg = Config::new(B::Correct);
    cfg.read_timeout = Some(Duration::from_millis(50));
    let (server, mut c) = setup_with(cfg).await;
    let t = Instant::now();
    c.send(Tag(1), tread(BLOCK0)).await;
    assert_eq!(replies(&mut c, 1).await, [(1, "Rread")]);
    assert!(t.elapsed() >= Duration::from_millis(50));
    drop(server);

    // A write to /release from another connection.
    let (server, mut c) = setup(B::Correct).await;
    blocked_read(&server, &mut c, 1).await;
    let mut other = RawConn::attached(server.endpoint(), ROOT).await.unwrap();
    let w = Twalk {
        fid: ROOT,
        newfid: Fid(1),
        wname: vec!["release".into()],
    };
    other.rpc(Tag(0), w).await;
    other
        .rpc(
            Tag(0),
            Tlopen {
                fid: Fid(1),
                flags: 1,
            },
        )
        .await;
    let w = Twrite {
        fid: Fid(1),
        offset: 0,
        data: Data("go".into()),
    };
    assert_eq!(
        other.rpc(Tag(0), w).await,
        Rmessage::Rwrite(Rwrite { count: 2 })
    );
    assert_eq!(replies(&mut c, 1).await, [(1, "Rread")]);
}

#[tokio::test]
async fn correct_cancels_the_victim_and_answers_every_flush_in_order() {
    let (server, mut c) = setup(B::Correct).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    assert_eq!(replies(&mut c, 1).await, [(2, "Rflush")]);
    assert_eq!(server.blocked_reads(), 0, "the victim is cancelled");
    server.release_all();
    c.expect_silence(SILENCE).await;

    // Several flushes for one victim, one of an unknown tag, a self-flush.
    blocked_read(&server, &mut c, 1).await;
    for (tag, old) in [(2, 1), (3, 1), (4, 1), (5, 77), (6, 6)] {
        flush(&mut c, tag, old).await;
    }
    let got = replies(&mut c, 5).await;
    assert_eq!(
        got,
        [
            (2, "Rflush"),
            (3, "Rflush"),
            (4, "Rflush"),
            (5, "Rflush"),
            (6, "Rflush")
        ]
    );
    server.release_all();
    c.expect_silence(SILENCE).await;

    // The log holds both directions, in order, with times.
    let log: Vec<_> = server
        .log()
        .into_iter()
        .filter(|e| e.tag == Tag(2))
        .collect();
    let seen: Vec<_> = log.iter().map(|e| (e.dir, e.name)).collect();
    assert_eq!(
        seen[..2],
        [(Dir::In, "Tflush"), (Dir::Out, "Rflush")],
        "{}",
        server.dump_log()
    );
    assert!(log[0].at <= log[1].at);
}

#[tokio::test]
async fn correct_answers_a_flush_of_a_flush_after_the_flush() {
    let (server, mut c) = setup(B::Correct).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    flush(&mut c, 3, 2).await;
    assert_eq!(replies(&mut c, 2).await, [(2, "Rflush"), (3, "Rflush")]);
    server.release_all();
    c.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn hold_sends_the_victim_reply_then_every_rflush() {
    let (server, mut c) = setup(B::Hold).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    flush(&mut c, 3, 1).await;
    flush(&mut c, 4, 3).await; // a flush of a held flush
    flush(&mut c, 5, 99).await; // unknown: at once
    assert_eq!(replies(&mut c, 1).await, [(5, "Rflush")]);
    c.expect_silence(SILENCE).await;
    assert_eq!(server.blocked_reads(), 1, "the victim keeps going");
    server.release_all();
    let got = replies(&mut c, 4).await;
    assert_eq!(
        got,
        [(1, "Rread"), (2, "Rflush"), (3, "Rflush"), (4, "Rflush")]
    );
}

#[tokio::test]
async fn last_only_answers_only_the_last_flush_after_a_quiet_period() {
    let (server, mut c) = setup(B::LastOnly).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    flush(&mut c, 3, 1).await;
    flush(&mut c, 4, 1).await;
    let sent = Instant::now();
    assert_eq!(replies(&mut c, 1).await, [(4, "Rflush")]);
    assert!(
        sent.elapsed() >= Duration::from_millis(45),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(server.blocked_reads(), 0, "the victim is cancelled");
    server.release_all();
    c.expect_silence(SILENCE).await;
    // A flush with no victim is answered at once.
    flush(&mut c, 5, 1).await;
    assert_eq!(replies(&mut c, 1).await, [(5, "Rflush")]);
}

#[tokio::test]
async fn first_only_answers_the_first_flush_and_loses_the_rest() {
    let (server, mut c) = setup(B::FirstOnly).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    flush(&mut c, 3, 1).await;
    flush(&mut c, 4, 1).await;
    assert_eq!(replies(&mut c, 1).await, [(2, "Rflush")]);
    assert_eq!(server.blocked_reads(), 0, "the victim is cancelled");
    c.expect_silence(SILENCE).await;
    // A new request on the victim's tag: a Tflush naming it now works.
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 5, 1).await;
    assert_eq!(replies(&mut c, 1).await, [(5, "Rflush")]);
}

#[tokio::test]
async fn out_of_order_answers_later_flushes_first_then_a_late_reply() {
    let (server, mut c) = setup(B::OutOfOrder).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    flush(&mut c, 3, 1).await;
    flush(&mut c, 4, 1).await;
    assert_eq!(replies(&mut c, 2).await, [(3, "Rflush"), (4, "Rflush")]);
    c.expect_silence(SILENCE).await;
    server.release_all();
    assert_eq!(replies(&mut c, 2).await, [(2, "Rflush"), (1, "Rread")]);
}

#[tokio::test]
async fn out_of_order_single_flush_still_gets_its_reply_after_rflush() {
    let (server, mut c) = setup(B::OutOfOrder).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    c.expect_silence(SILENCE).await;
    server.release_all();
    assert_eq!(replies(&mut c, 2).await, [(2, "Rflush"), (1, "Rread")]);
}

#[tokio::test]
async fn rlerror_refuses_flush_and_the_victim_replies() {
    let (server, mut c) = setup(B::Rlerror).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    let (tag, m) = c.expect().await;
    assert_eq!((tag, m), (Tag(2), Rmessage::Rlerror(Rlerror { ecode: 95 })));
    assert_eq!(server.blocked_reads(), 1);
    server.release_all();
    assert_eq!(replies(&mut c, 1).await, [(1, "Rread")]);
}

#[tokio::test]
async fn never_answers_no_flush_and_the_victim_replies() {
    let (server, mut c) = setup(B::Never).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    flush(&mut c, 3, 42).await;
    c.expect_silence(SILENCE).await;
    server.release_all();
    assert_eq!(replies(&mut c, 1).await, [(1, "Rread")]);
    c.expect_silence(SILENCE).await;
}

#[tokio::test]
async fn no_self_flush_ignores_only_a_self_flush() {
    let (server, mut c) = setup(B::NoSelfFlush).await;
    flush(&mut c, 7, 7).await;
    c.expect_silence(SILENCE).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    assert_eq!(replies(&mut c, 1).await, [(2, "Rflush")]);
    assert_eq!(server.blocked_reads(), 0);
}

#[tokio::test]
async fn leak_goes_mute_after_128_flushes() {
    let (server, mut c) = setup(B::LeakAfter(128)).await;
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    assert_eq!(replies(&mut c, 1).await, [(2, "Rflush")]);
    for tag in 3..130 {
        flush(&mut c, tag, 1000).await;
    }
    let got = replies(&mut c, 127).await;
    assert_eq!(
        got.last(),
        Some(&(129, "Rflush")),
        "the 128th flush is answered"
    );
    assert!(got.iter().all(|&(_, n)| n == "Rflush"));
    let g = Tgetattr {
        fid: ROOT,
        request_mask: getattr::BASIC,
    };
    c.send(Tag(200), g).await;
    c.expect_silence(Duration::from_millis(300)).await;
    let dropped = server
        .log()
        .into_iter()
        .any(|e| e.dir == Dir::Dropped && e.tag == Tag(200));
    assert!(dropped, "{}", server.dump_log());
}

#[tokio::test]
async fn listens_on_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("9p.sock");
    let mut cfg = Config::new(B::Hold);
    cfg.listen = Endpoint::Unix(path.clone());
    let (server, mut c) = setup_with(cfg).await;
    assert_eq!(
        server.endpoint().to_string(),
        format!("unix:{}", path.display())
    );
    blocked_read(&server, &mut c, 1).await;
    flush(&mut c, 2, 1).await;
    server.release(0);
    assert_eq!(replies(&mut c, 2).await, [(1, "Rread"), (2, "Rflush")]);
    drop(server);
    assert!(!path.exists(), "the socket file is removed");
}

/// Kills the server process (by its PID) when the test ends, pass or fail.
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_prints_its_address_and_serves() {
    let child = Command::new(env!("CARGO_BIN_EXE_ninep-scripted-server"))
        .args(["--listen", "127.0.0.1:0", "--flush", "rlerror"])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut child = Killed(child);
    let stdout = child.0.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        let _ = BufReader::new(stdout).read_line(&mut line);
        let _ = tx.send(line);
    });
    let line = rx
        .recv_timeout(Duration::from_secs(5))
        .expect("no address printed");
    let addr = line.trim().strip_prefix("listening on ").expect(&line);
    let served = async {
        let mut c = RawConn::attached(&addr.parse().unwrap(), ROOT)
            .await
            .unwrap();
        c.rpc(Tag(3), Tflush { oldtag: Tag(1) }).await
    };
    let reply = tokio::time::timeout(STEP, served).await.expect("no reply");
    assert_eq!(reply, Rmessage::Rlerror(Rlerror { ecode: 95 }));
}
