//! The client against a scripted peer over an in-memory pipe: version
//! fallback, msize capping, and a server that breaks the protocol in the
//! ways a real one can (replies on unknown tags, wrong reply types,
//! malformed bodies, oversized or cut-off frames, too many walk qids).

use std::time::Duration;

use ninep_client::wire::*;
use ninep_client::{Client, Config, Dialect, Error, Tag, NOTAG};
use ninep_tests::peer::*;
use tokio::sync::mpsc;

#[tokio::test]
async fn falls_back_to_plain_9p2000_and_caps_msize() {
    // A Plan 9 style server: refuses .L with "unknown", .u with an Rerror
    // that has no errno (undecodable as .u), speaks 9P2000, and offers a
    // bigger msize than asked.
    let (pipe, mut seen) = peer(Dialect::Classic, |tag, msg| match msg {
        Tmessage::Tversion(v) if v.version.as_bytes() == b"9P2000.L" => vec![frame(
            tag,
            Rversion {
                msize: 8192,
                version: "unknown".into(),
            },
        )],
        Tmessage::Tversion(v) if v.version.as_bytes() == b"9P2000.u" => vec![frame(
            tag,
            Rerror {
                ename: "no .u here".into(),
                errno: None,
            },
        )],
        Tmessage::Tversion(_) => vec![frame(
            tag,
            Rversion {
                msize: 1 << 30,
                version: "9P2000".into(),
            },
        )],
        _ => basics(tag, msg, "9P2000").unwrap_or_default(),
    });
    let cfg = Config {
        msize: 32768,
        ..Config::default()
    };
    let client = client_over(pipe, &cfg).await.unwrap();
    assert_eq!(client.dialect(), Dialect::Classic);
    assert_eq!(client.msize(), 32768, "never above what we asked");
    let asked: Vec<_> = std::iter::from_fn(|| seen.try_recv().ok())
        .map(|(tag, m)| match m {
            Tmessage::Tversion(v) => (tag, v.version.to_string()),
            m => panic!("{m:?}"),
        })
        .collect();
    assert_eq!(
        asked,
        vec![
            (NOTAG, "9P2000.L".to_string()),
            (NOTAG, "9P2000.u".to_string()),
            (NOTAG, "9P2000".to_string())
        ]
    );
    // 9P2000 Tattach carries no n_uname.
    let _root = client.attach("glenda", "", 1000).await.unwrap();
    match seen.recv().await.unwrap().1 {
        Tmessage::Tattach(a) => assert_eq!(a.n_uname, None),
        m => panic!("{m:?}"),
    }
}

#[tokio::test]
async fn refusing_every_dialect_is_a_clear_error() {
    let (pipe, _seen) = peer(Dialect::L, |tag, _| vec![frame(tag, Rlerror { ecode: 5 })]);
    match client_over(pipe, &Config::default()).await {
        Err(Error::Negotiation(why)) => assert!(why.contains("errno 5"), "{why}"),
        r => panic!("{r:?}"),
    }
}

/// A 9P2000.L client over a peer that misbehaves on Tgetattr as `bad` says.
async fn misbehaving(
    bad: impl Fn(Tag) -> Vec<Vec<u8>> + Send + 'static,
) -> (
    Client,
    ninep_client::File,
    mpsc::UnboundedReceiver<(Tag, Tmessage)>,
) {
    let (pipe, seen) = peer(Dialect::L, move |tag, msg| match msg {
        Tmessage::Tgetattr(_) => bad(tag),
        Tmessage::Tstatfs(_) => vec![frame(tag, Rstatfs::default_reply())],
        _ => basics(tag, msg, "9P2000.L").unwrap_or_default(),
    });
    let client = client_over(pipe, &Config::default()).await.unwrap();
    let root = client.attach("root", "", 0).await.unwrap();
    (client, root, seen)
}

trait DefaultReply {
    fn default_reply() -> Self;
}

impl DefaultReply for Rstatfs {
    fn default_reply() -> Self {
        Rstatfs {
            ty: 1,
            bsize: 4096,
            blocks: 1,
            bfree: 1,
            bavail: 1,
            files: 1,
            ffree: 1,
            fsid: 1,
            namelen: 255,
        }
    }
}

#[tokio::test]
async fn reply_on_an_unknown_tag_is_counted_and_dropped() {
    let (client, root, _seen) = misbehaving(|tag| {
        vec![
            frame(Tag(tag.0 ^ 0x4000), Rclunk {}),
            frame(tag, Rlerror { ecode: 13 }),
        ]
    })
    .await;
    let e = root.getattr(getattr::ALL).await.unwrap_err();
    assert_eq!(
        e.errno(),
        Some(13),
        "the real reply still reaches the caller"
    );
    assert_eq!(client.stats().unknown_tag_replies, 1);
}

#[tokio::test]
async fn wrong_reply_type_fails_the_request_not_the_connection() {
    let (client, root, _seen) = misbehaving(|tag| vec![frame(tag, Rclunk {})]).await;
    match root.getattr(getattr::ALL).await {
        Err(Error::Protocol(why)) => assert!(why.contains("Rclunk"), "{why}"),
        r => panic!("{r:?}"),
    }
    assert_eq!(client.stats().mismatched_replies, 1);
    assert_eq!(root.statfs().await.unwrap().namelen, 255, "still usable");
}

#[tokio::test]
async fn malformed_body_fails_only_that_request() {
    // An Rgetattr cut short: a valid frame whose body is 3 bytes.
    let (_client, root, _seen) = misbehaving(|tag| {
        let mut f = vec![10, 0, 0, 0, msg_type::RGETATTR];
        f.extend_from_slice(&tag.0.to_le_bytes());
        f.extend_from_slice(&[1, 2, 3]);
        vec![f]
    })
    .await;
    assert!(matches!(
        root.getattr(getattr::ALL).await,
        Err(Error::Decode(DecodeError::Truncated { .. }))
    ));
    assert_eq!(root.statfs().await.unwrap().bsize, 4096);
}

#[tokio::test]
async fn oversized_frame_closes_the_connection_for_everyone() {
    let (_client, root, _seen) = misbehaving(|_| vec![vec![0xff, 0xff, 0xff, 0xff, 0]]).await;
    let e = tokio::time::timeout(STEP, root.getattr(getattr::ALL))
        .await
        .unwrap()
        .unwrap_err();
    match e {
        Error::Disconnected(why) => assert!(why.contains("exceeds msize"), "{why}"),
        e => panic!("{e:?}"),
    }
    assert!(matches!(root.statfs().await, Err(Error::Disconnected(_))));
}

#[tokio::test]
async fn frame_cut_off_then_closed_fails_pending_requests() {
    let (pipe, _seen) = peer(Dialect::L, |tag, msg| match msg {
        // Half a frame, then hang up.
        Tmessage::Tgetattr(_) => vec![vec![200, 0, 0, 0, msg_type::RGETATTR, tag.0 as u8], vec![]],
        _ => basics(tag, msg, "9P2000.L").unwrap_or_default(),
    });
    let client = client_over(pipe, &Config::default()).await.unwrap();
    let root = client.attach("root", "", 0).await.unwrap();
    let r = tokio::time::timeout(STEP, root.getattr(getattr::ALL))
        .await
        .expect("a cut-off frame must not leave the request waiting");
    match r {
        Err(Error::Disconnected(why)) => assert!(why.contains("middle of a frame"), "{why}"),
        r => panic!("{r:?}"),
    }
    assert!(matches!(
        client.attach("root", "", 0).await,
        Err(Error::Disconnected(_))
    ));
}

#[tokio::test]
async fn walk_with_too_many_qids_is_an_error_and_its_fid_is_clunked() {
    let (pipe, mut seen) = peer(Dialect::L, |tag, msg| match msg {
        Tmessage::Twalk(_) => vec![frame(
            tag,
            Rwalk {
                wqid: vec![Qid::default(); 3],
            },
        )],
        _ => basics(tag, msg, "9P2000.L").unwrap_or_default(),
    });
    let client = client_over(pipe, &Config::default()).await.unwrap();
    let root = client.attach("root", "", 0).await.unwrap();
    assert!(matches!(root.walk(&["a"]).await, Err(Error::Protocol(_))));
    let newfid = loop {
        match seen.recv().await.unwrap().1 {
            Tmessage::Twalk(w) => break w.newfid,
            _ => continue,
        }
    };
    let clunked = tokio::time::timeout(STEP, async {
        loop {
            if let Tmessage::Tclunk(c) = seen.recv().await.unwrap().1 {
                break c.fid;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(clunked, newfid);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(client.stats().fids_in_use, 1, "only the root is left");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_over_a_unix_socket() {
    use ninep_tests::scripted::{Config as ServerConfig, Endpoint, ScriptedServer};
    let dir = ninep_tests::servers::temp_dir().unwrap();
    let path = dir.path().join("9p.sock");
    let cfg = ServerConfig {
        listen: Endpoint::Unix(path.clone()),
        ..ServerConfig::default()
    };
    let server = tokio::task::spawn_blocking(move || ScriptedServer::start_with(cfg))
        .await
        .unwrap()
        .unwrap();
    let addr: ninep_client::Address = format!("unix:{}", path.display()).parse().unwrap();
    let client = Client::connect(&addr, &Config::default()).await.unwrap();
    assert_eq!(client.dialect(), Dialect::L);
    let root = client.attach("root", "", 0).await.unwrap();
    let mut f = root.walk(&["hello"]).await.unwrap();
    f.lopen(0).await.unwrap();
    let data = f.read_at(0, 1 << 10, 2).await.unwrap();
    assert_eq!(&data[..], ninep_tests::scripted::HELLO);
    drop(server);
}

#[tokio::test]
async fn closed_resolves_when_the_server_hangs_up() {
    let (pipe, _seen) = peer(Dialect::L, |tag, msg| match msg {
        Tmessage::Tgetattr(_) => vec![vec![]],
        _ => basics(tag, msg, "9P2000.L").unwrap_or_default(),
    });
    let client = client_over(pipe, &Config::default()).await.unwrap();
    let root = client.attach("root", "", 0).await.unwrap();
    let waiter = tokio::spawn({
        let client = client.clone();
        async move { client.closed().await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    assert!(!waiter.is_finished(), "still open");
    assert!(root.getattr(getattr::ALL).await.is_err());
    let why = tokio::time::timeout(STEP, waiter).await.unwrap().unwrap();
    assert!(why.contains("closed"), "{why}");
}

/// `Client::retire` lets the replies in flight come before it closes: a
/// peer that answers a Tattach only after 300 ms finds the connection
/// still open then, and the attach gets its reply. Retired with no time
/// to wait, the client closes at once, before that reply.
#[tokio::test]
async fn retire_waits_for_the_replies_in_flight() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    for bound in [Duration::from_secs(2), Duration::ZERO] {
        let (ours, mut theirs) = tokio::io::duplex(1 << 20);
        // What the peer found when the delayed reply was due: whether the
        // client had closed by then.
        let (closed_tx, mut closed_rx) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut buf = bytes::BytesMut::new();
            loop {
                while let Ok(Some((tag, Ok(msg)))) =
                    decode_frame::<Tmessage>(&mut buf, 1 << 24, Dialect::L)
                {
                    let out = match &msg {
                        Tmessage::Tattach(_) => {
                            tokio::time::sleep(Duration::from_millis(300)).await;
                            let mut probe = [0u8; 1];
                            let early = matches!(
                                tokio::time::timeout(
                                    Duration::from_millis(10),
                                    theirs.read(&mut probe)
                                )
                                .await,
                                Ok(Ok(0))
                            );
                            let _ = closed_tx.send(early);
                            frame(
                                tag,
                                Rattach {
                                    qid: Qid::default(),
                                },
                            )
                        }
                        m => basics(tag, m, "9P2000.L").unwrap_or_default().concat(),
                    };
                    if theirs.write_all(&out).await.is_err() {
                        return;
                    }
                }
                match theirs.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        });
        let client = client_over(ours, &Config::default()).await.unwrap();
        let attaching = {
            let c = client.clone();
            tokio::spawn(async move { c.attach("u", "", 0).await.map(drop) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(client.stats().in_flight, 1);
        client.retire(bound).await;
        let early = closed_rx.recv().await.expect("the peer saw the Tattach");
        let attached = attaching.await.unwrap();
        if bound.is_zero() {
            assert!(early, "closed before the reply was due");
            assert!(
                matches!(attached, Err(Error::Disconnected(_))),
                "{attached:?}"
            );
        } else {
            assert!(!early, "retire closed with a reply still due");
            assert!(attached.is_ok(), "{attached:?}");
        }
        assert!(client.is_closed(), "retire closes in the end");
    }
}
