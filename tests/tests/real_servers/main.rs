//! The client against real servers: one suite of cases, each run
//! against diod and unpfs, each server started by the test on a free
//! loopback port with its own temporary export. Results are checked on the
//! local disk with std::fs where the protocol alone would prove nothing.
//!
//! Every await is bounded (see `common::ok`), and after every case (except
//! the one that kills the server) the fids must come back to the root's.

mod attrs;
mod bench_rtt;
mod common;
mod files;
mod smoke;

use std::fs;
use std::sync::Arc;
use std::task::Poll;
use std::time::{Duration, Instant};

use attrs::*;
use common::*;
use files::*;
use futures::future::join_all;
use ninep_client::client::{DEFAULT_MSIZE, MAX_MSIZE};
use ninep_client::wire::getattr;
use ninep_client::{Client, Config, Dialect, Error};

/// Bound on a whole case, whatever its steps do.
const CASE_LIMIT: Duration = Duration::from_secs(90);

/// `against_both!(case)` makes `case::diod` and `case::unpfs`; with
/// `no_settle`, the fid check after the case is skipped (the connection is
/// gone by then).
macro_rules! against_both {
    ($case:ident) => {
        against_both!(@make $case, true);
    };
    ($case:ident, no_settle) => {
        against_both!(@make $case, false);
    };
    (@make $case:ident, $settle:expr) => {
        mod $case {
            use super::common::{Ctx, Kind};

            async fn run(kind: Kind) {
                let mut ctx = Ctx::start(kind).await;
                tokio::time::timeout(super::CASE_LIMIT, super::$case(&mut ctx))
                    .await
                    .expect("case timed out");
                if $settle {
                    ctx.finish().await;
                }
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn diod() {
                run(Kind::Diod).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn unpfs() {
                run(Kind::Unpfs).await
            }
        }
    };
}

against_both!(version_and_attach);
against_both!(walk);
against_both!(create_write_read);
against_both!(big_file_checksum);
against_both!(readdir_10k);
against_both!(mkdir_and_rename);
against_both!(symlink_and_readlink);
against_both!(hard_link);
against_both!(setattr_mode_size_times);
against_both!(getattr_matches_local);
against_both!(statfs);
against_both!(xattrs);
against_both!(locks);
against_both!(fsync);
against_both!(unlinkat);
against_both!(remove_and_clunk);
against_both!(concurrent_reads);
against_both!(killed_mid_request, no_settle);

async fn version_and_attach(ctx: &mut Ctx) {
    let c = &ctx.client;
    assert_eq!(c.dialect(), Dialect::L);
    let granted = match ctx.kind {
        Kind::Diod => 65536,
        // unpfs echoes any msize: we get what we asked, 1 MiB + 24.
        Kind::Unpfs => DEFAULT_MSIZE,
    };
    assert_eq!(c.msize(), granted);
    assert_eq!(c.max_io(), granted - 24);
    assert!(ctx.root.qid().is_dir());
    assert_eq!(ctx.root.qid().path, ino(&ctx.dir), "root qid is the export");

    // Ask small: both servers go down to it.
    let small = Config {
        msize: 8192,
        ..Config::default()
    };
    let c2 = ok("connect small", Client::connect(&ctx.addr(), &small)).await;
    assert_eq!(c2.msize(), 8192);
    // Ask more than we ever accept: we ask at most 16 MiB, and cap the echo.
    let huge = Config {
        msize: 64 << 20,
        ..Config::default()
    };
    let c3 = ok("connect huge", Client::connect(&ctx.addr(), &huge)).await;
    let want = match ctx.kind {
        Kind::Diod => 65536,
        Kind::Unpfs => MAX_MSIZE,
    };
    assert_eq!(c3.msize(), want);

    // A second attach on another connection reaches the same tree.
    let root2 = ok("attach again", c2.attach("root", &ctx.aname(), 0)).await;
    assert_eq!(root2.qid().path, ctx.root.qid().path);
    assert_eq!(c2.stats().fids_in_use, 1);
    match ctx.kind {
        // diod serves only its exports.
        Kind::Diod => {
            let e = err("attach elsewhere", c3.attach("root", "/not/exported", 0)).await;
            assert!(matches!(e, Error::Remote(_)), "{e:?}");
            settle(&c3, 0).await;
        }
        // unpfs ignores the aname (Ctx attached with a bogus one already).
        Kind::Unpfs => {
            let r = ok("attach anything", c3.attach("nobody", "", 0)).await;
            assert_eq!(r.qid().path, ctx.root.qid().path);
        }
    }
    drop(root2);
    settle(&c2, 0).await;
}

async fn concurrent_reads(ctx: &mut Ctx) {
    const FILES: usize = 64;
    // Sizes below diod's msize - 24, so that each read is one Tread and all
    // 64 are in flight together.
    let contents: Vec<Vec<u8>> = (0..FILES)
        .map(|i| pattern(1000 + i as u64, 100 + i * 937))
        .collect();
    for (i, data) in contents.iter().enumerate() {
        fs::write(ctx.local(&format!("c{i:02}")), data).unwrap();
    }
    let opens = (0..FILES).map(|i| {
        let (root, name) = (&ctx.root, format!("c{i:02}"));
        async move {
            let mut f = root.walk(&[name]).await?;
            f.lopen(O_RDONLY).await?;
            Ok::<_, Error>(f)
        }
    });
    let all = async {
        join_all(opens)
            .await
            .into_iter()
            .collect::<Result<Vec<_>, _>>()
    };
    let files = ok("open 64", all).await;
    let before = ctx.client.stats().requests;
    // Poll each read once: that sends its Tread. All 64 are sent before
    // any reply is waited for (a reply that beats its poll is kept).
    let mut reads: Vec<_> = files
        .iter()
        .map(|f| Box::pin(f.read(0, u32::MAX)))
        .collect();
    let mut first = Vec::new();
    for r in &mut reads {
        first.push(futures::poll!(r.as_mut()));
    }
    assert_eq!(ctx.client.stats().requests - before, FILES as u64);
    let rest = reads.into_iter().zip(first).map(|(r, p)| async move {
        match p {
            Poll::Ready(done) => done,
            Poll::Pending => r.await,
        }
    });
    let results = ok("read 64", async { Ok(join_all(rest).await) }).await;
    assert_eq!(ctx.client.stats().requests - before, FILES as u64);
    for (i, r) in results.into_iter().enumerate() {
        let got = r.unwrap_or_else(|e| panic!("read c{i:02}: {e:?}"));
        assert_eq!(got, contents[i], "c{i:02}");
    }
}

async fn killed_mid_request(ctx: &mut Ctx) {
    const TASKS: u64 = 64;
    const LEN: u64 = 8 << 20;
    fs::write(ctx.local("victim"), pattern(7, LEN as usize)).unwrap();
    let f = Arc::new(ctx.open("victim", O_RDONLY).await);
    let chunk = ctx.client.max_io();
    // Each task reads until the connection fails, and says when it did.
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let f = f.clone();
            tokio::spawn(async move {
                let mut off = t * chunk as u64 % LEN;
                loop {
                    match f.read(off, chunk).await {
                        Ok(_) => off = (off + TASKS * chunk as u64) % LEN,
                        Err(e) => return (e, Instant::now()),
                    }
                }
            })
        })
        .collect();
    let deadline = Instant::now() + STEP;
    while ctx.client.stats().in_flight < 8 {
        assert!(Instant::now() < deadline, "reads never got in flight");
        tokio::task::yield_now().await;
    }
    let pending = ctx.client.stats().in_flight;
    let killed_at = Instant::now();
    tokio::task::block_in_place(|| ctx.kill());

    for (i, task) in tasks.into_iter().enumerate() {
        let (e, at) = tokio::time::timeout(STEP, task)
            .await
            .unwrap_or_else(|_| panic!("task {i} still running after the kill"))
            .expect("task panicked");
        assert!(matches!(e, Error::Disconnected(_)), "task {i}: {e:?}");
        let late = at.duration_since(killed_at);
        assert!(
            late < Duration::from_secs(2),
            "task {i} failed {late:?} after the kill"
        );
    }
    assert_eq!(ctx.client.stats().in_flight, 0, "{pending} were in flight");

    // Later requests fail at once, and a failed walk leaks no fid.
    let fids = ctx.client.stats().fids_in_use;
    let t0 = Instant::now();
    let e = err("getattr after kill", ctx.root.getattr(getattr::BASIC)).await;
    assert!(matches!(e, Error::Disconnected(_)), "{e:?}");
    let e = err("walk after kill", ctx.root.walk(&["victim"])).await;
    assert!(matches!(e, Error::Disconnected(_)), "{e:?}");
    assert!(
        t0.elapsed() < Duration::from_millis(200),
        "{:?}",
        t0.elapsed()
    );
    assert_eq!(ctx.client.stats().fids_in_use, fids);
}

/// Peers that speak no 9P: a connection must fail, promptly, never hang.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_9p_behind_the_port() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    #[derive(Clone, Copy, Debug)]
    enum Peer {
        Closes,
        Silent,
        Http,
        Ssh,
        Binary,
    }
    // The default bounds: a peer that is no 9P server is told within 1 s.
    let cfg = Config::default();
    for peer in [
        Peer::Closes,
        Peer::Silent,
        Peer::Http,
        Peer::Ssh,
        Peer::Binary,
    ] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap().to_string().parse().unwrap();
        let server = tokio::spawn(async move {
            let mut held = Vec::new();
            loop {
                let (mut s, _) = listener.accept().await.unwrap();
                match peer {
                    Peer::Closes => drop(s),
                    Peer::Silent => held.push(s),
                    Peer::Http => {
                        let _ = s.read(&mut [0u8; 512]).await;
                        let _ = s.write_all(b"HTTP/1.1 400 Bad Request\r\n\r\n").await;
                        held.push(s);
                    }
                    // Speaks first, as SSH servers do.
                    Peer::Ssh => {
                        let _ = s.write_all(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n").await;
                        held.push(s);
                    }
                    // A well-sized frame of the wrong type (an Rread).
                    Peer::Binary => {
                        let _ = s.read(&mut [0u8; 512]).await;
                        let _ = s
                            .write_all(&[11, 0, 0, 0, 117, 0xff, 0xff, 0, 0, 0, 0])
                            .await;
                        held.push(s);
                    }
                }
            }
        });
        let t0 = Instant::now();
        let e = tokio::time::timeout(STEP, Client::connect(&addr, &cfg))
            .await
            .unwrap_or_else(|_| panic!("{peer:?}: connect hangs"))
            .expect_err("no 9P server there");
        // Closes: three dialects tried, each on a new connection; the
        // others fail at the first, within the 1 s Tversion bound.
        assert!(
            t0.elapsed() < Duration::from_millis(1500),
            "{peer:?}: {:?}",
            t0.elapsed()
        );
        let text = e.to_string();
        match peer {
            Peer::Closes => assert!(matches!(e, Error::Negotiation(_)), "{peer:?}: {e:?}"),
            Peer::Silent => assert!(text.contains("no answer to Tversion"), "{text}"),
            Peer::Http => assert!(text.contains("\"HTTP/1.1 400 Bad Request\""), "{text}"),
            Peer::Ssh => assert!(
                text.contains("\"SSH-2.0-OpenSSH_9.2p1 Debian-2\""),
                "{text}"
            ),
            Peer::Binary => assert!(text.contains("0b 00 00 00 75 ff ff"), "{text}"),
        }
        if !matches!(peer, Peer::Closes) {
            assert!(matches!(e, Error::NotNinep(_)), "{peer:?}: {e:?}");
            assert!(text.starts_with("not a 9P server: "), "{text}");
        }
        server.abort();
    }

    // Nothing listening at all.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let addr = port.to_string().parse().unwrap();
    let e = tokio::time::timeout(STEP, Client::connect(&addr, &cfg))
        .await
        .expect("connect to a closed port hangs")
        .expect_err("nothing listens");
    assert!(matches!(e, Error::Disconnected(_)), "{e:?}");
}
