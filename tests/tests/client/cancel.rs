//! Cancelling requests through the driver: dropping a request's future and
//! a `CancelToken`, against a scripted peer whose reads never finish by
//! themselves and whose flush answers the test chooses.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ninep_client::wire::*;
use ninep_client::{CancelToken, Client, Config, Dialect, Error, File, FlushPolicy, Tag};
use ninep_tests::peer::*;

/// What the peer does with a Tflush.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum OnFlush {
    /// Rflush at once, the read is cancelled.
    Rflush,
    /// The read's reply first, then the Rflush.
    ReplyThenRflush,
    /// Nothing at all.
    Ignore,
}

/// A client whose peer holds every Tread until a Tflush names it.
async fn setup(on_flush: OnFlush, policy: FlushPolicy) -> (Client, File, Seen) {
    let cfg = Config {
        flush: policy,
        ..Config::default()
    };
    setup_with(on_flush, cfg).await
}

/// The same with a client configuration of the caller's.
async fn setup_with(on_flush: OnFlush, cfg: Config) -> (Client, File, Seen) {
    let held = Arc::new(Mutex::new(Vec::<Tag>::new()));
    let (pipe, seen) = peer(Dialect::L, move |tag, msg| match msg {
        Tmessage::Tread(_) => {
            held.lock().unwrap().push(tag);
            vec![]
        }
        Tmessage::Twalk(w) => vec![frame(
            tag,
            Rwalk {
                wqid: vec![Qid::default(); w.wname.len()],
            },
        )],
        Tmessage::Tflush(f) => match on_flush {
            OnFlush::Rflush => vec![frame(tag, Rflush {})],
            OnFlush::ReplyThenRflush => vec![
                frame(
                    f.oldtag,
                    Rread {
                        data: Data(bytes::Bytes::from_static(b"won")),
                    },
                ),
                frame(tag, Rflush {}),
            ],
            OnFlush::Ignore => vec![],
        },
        _ => basics(tag, msg, "9P2000.L").unwrap_or_default(),
    });
    let client = client_over(pipe, &cfg).await.unwrap();
    let root = client.attach("root", "", 0).await.unwrap();
    (client, root, seen)
}

/// The Tflush messages the peer saw so far: (flush tag, oldtag).
fn flushes(seen: &mut Seen) -> Vec<(Tag, Tag)> {
    std::iter::from_fn(|| seen.try_recv().ok())
        .filter_map(|(t, m)| match m {
            Tmessage::Tflush(f) => Some((t, f.oldtag)),
            _ => None,
        })
        .collect()
}

async fn settle() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}

#[tokio::test]
async fn dropping_a_request_flushes_it() {
    let (client, root, mut seen) = setup(OnFlush::Rflush, FlushPolicy::default()).await;
    let read = root.read(0, 10);
    assert!(tokio::time::timeout(Duration::from_millis(50), read)
        .await
        .is_err());
    settle().await;
    let f = flushes(&mut seen);
    assert_eq!(f.len(), 1, "one Tflush for the dropped read");
    let s = client.stats();
    assert_eq!((s.flushes_sent, s.rflush_received, s.in_flight), (1, 1, 0));
    assert_eq!(s.quarantined, 0);
}

#[tokio::test]
async fn cancel_token_gets_the_reply_that_won_the_race() {
    let (client, root, mut seen) = setup(OnFlush::ReplyThenRflush, FlushPolicy::default()).await;
    let token = CancelToken::new();
    let t2 = token.clone();
    let canceller = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(30)).await;
        t2.cancel();
    });
    let got = token.scope(root.read(0, 10)).await.unwrap();
    assert_eq!(&got[..], b"won");
    canceller.await.unwrap();
    settle().await;
    assert_eq!(flushes(&mut seen).len(), 1);
    assert_eq!(client.stats().victims_won, 1);
    assert_eq!(client.stats().quarantined, 0);
}

#[tokio::test]
async fn cancel_token_gets_flushed_when_the_rflush_comes_first() {
    let (_client, root, _seen) = setup(OnFlush::Rflush, FlushPolicy::default()).await;
    let token = CancelToken::new();
    token.cancel(); // cancelled before the request even starts
    let r = tokio::time::timeout(STEP, token.scope(root.read(0, 10)))
        .await
        .unwrap();
    assert!(matches!(r, Err(Error::Flushed)), "{r:?}");
}

#[tokio::test]
async fn unanswered_flushes_are_repeated_then_given_up_on() {
    let policy = FlushPolicy {
        timeout: Duration::from_millis(100),
        max_flushes: 3,
    };
    let (client, root, mut seen) = setup(OnFlush::Ignore, policy).await;
    let token = CancelToken::new();
    token.cancel();
    let t0 = Instant::now();
    let r = tokio::time::timeout(STEP, token.scope(root.read(0, 10)))
        .await
        .unwrap();
    let took = t0.elapsed();
    assert!(matches!(r, Err(Error::FlushUnconfirmed)), "{r:?}");
    // Three flushes, each given its timeout: about 300 ms, bounded.
    assert!(took >= Duration::from_millis(290), "{took:?}");
    assert!(took < Duration::from_secs(2), "{took:?}");
    settle().await;
    let f = flushes(&mut seen);
    assert_eq!(f.len(), 3);
    assert!(
        f.iter().all(|(_, old)| *old == f[0].1),
        "all name the victim"
    );
    let s = client.stats();
    assert_eq!(s.quarantined, 4, "victim and three flush tags held");
    assert_eq!(s.flushes_unconfirmed, 1);
    // The connection is still usable for other requests.
    let w = tokio::time::timeout(STEP, root.walk(&["x"])).await.unwrap();
    assert!(w.is_ok());
}

#[tokio::test]
async fn each_cancel_sends_another_flush() {
    let policy = FlushPolicy {
        timeout: Duration::from_secs(30),
        max_flushes: 3,
    };
    let (_client, root, mut seen) = setup(OnFlush::Ignore, policy).await;
    let token = CancelToken::new();
    let read = tokio::spawn({
        let token = token.clone();
        async move { token.scope(root.read(0, 10)).await }
    });
    for _ in 0..5 {
        settle().await;
        token.cancel();
    }
    settle().await;
    assert_eq!(flushes(&mut seen).len(), 3, "bounded by max_flushes");
    read.abort();
}

#[tokio::test]
async fn the_watchdog_reports_a_request_without_a_reply_once() {
    let cfg = Config {
        watchdog: Some(Duration::from_millis(100)),
        ..Config::default()
    };
    let (client, root, _seen) = setup_with(OnFlush::Rflush, cfg).await;
    let read = root.read(0, 10);
    tokio::pin!(read);
    // Answered requests (version, attach) were never overdue.
    assert_eq!(client.stats().overdue_requests, 0);
    let waited = tokio::time::timeout(Duration::from_millis(600), &mut read).await;
    assert!(waited.is_err(), "the peer holds reads");
    assert_eq!(client.stats().overdue_requests, 1);
    let more = tokio::time::timeout(Duration::from_millis(400), &mut read).await;
    assert!(more.is_err());
    assert_eq!(client.stats().overdue_requests, 1, "reported once");
}

#[tokio::test]
async fn without_a_watchdog_nothing_is_reported() {
    let cfg = Config {
        watchdog: None,
        ..Config::default()
    };
    let (client, root, _seen) = setup_with(OnFlush::Rflush, cfg).await;
    let read = root.read(0, 10);
    assert!(tokio::time::timeout(Duration::from_millis(300), read)
        .await
        .is_err());
    assert_eq!(client.stats().overdue_requests, 0);
}
