//! Creates answered before the new file's attributes arrive
//! (`fuse/src/early.rs`): diod behind a relay that holds the Rgetattr of
//! the new file, mounted with `cache=loose`.
//!
//! What is asked: the `touch` that follows a create sends its Tsetattr
//! while that Tgetattr is still out (two round trips in a row, not three),
//! and the late answer never hides what happened meanwhile (a write).

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::mount_support::relayed::Relayed;
use crate::mount_support::{blocking, sh};
use ninep_client::wire::msg_type;
use ninep_fuse::CacheMode;
use ninep_tests::tamper::{Act, Request};

/// How long the relay holds each Rgetattr: far longer than anything else
/// the tests wait for, so the order of events is not a matter of speed.
const HOLD: Duration = Duration::from_secs(4);

/// When the relay saw the first server reply of type `ty`.
type Seen = Arc<Mutex<Vec<(u8, Instant)>>>;

fn first(seen: &Seen, ty: u8) -> Option<Instant> {
    let seen = seen.lock().expect("lock");
    seen.iter().find(|(t, _)| *t == ty).map(|(_, at)| *at)
}

/// Hold every Rgetattr for [`HOLD`]; note when each reply came.
fn hold_getattrs(r: &Relayed) -> Seen {
    let seen = Seen::default();
    let log = seen.clone();
    r.tamper.set(move |req: &Request, reply: &[u8]| {
        log.lock().expect("lock").push((reply[4], Instant::now()));
        if req.ty == msg_type::TGETATTR {
            Act::Later(HOLD)
        } else {
            Act::Pass
        }
    });
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_touch_sends_its_setattr_while_the_new_files_attributes_are_out() {
    let r = Relayed::start_with(&[], CacheMode::Loose).await;
    let seen = hold_getattrs(&r);
    let f = r.path("new");
    let meta = blocking(move || {
        sh(&format!("touch {}", f.display()));
        std::fs::metadata(f)
    })
    .await
    .expect("stat the new file");
    let got = first(&seen, msg_type::RGETATTR).expect("the new file's Tgetattr");
    let set = first(&seen, msg_type::RSETATTR).expect("the touch's Tsetattr");
    assert!(
        set < got + HOLD,
        "the Tsetattr was answered {:?} after the Tgetattr, which the relay held {HOLD:?}: \
         it waited for the attributes",
        set - got
    );
    // What the kernel got is the server's, not the prediction.
    let local = std::fs::metadata(r.m.local("new")).expect("on the server");
    assert_eq!(
        (meta.len(), meta.uid(), meta.mode()),
        (0, local.uid(), local.mode())
    );
    // Its times are the mount's clock's when the Tsetattr was sent (the
    // server's own "now" is not known until the TTL ends): the same second
    // here, not the moment the held attributes came.
    assert!(
        meta.mtime().abs_diff(local.mtime()) <= 1,
        "{} vs {}",
        meta.mtime(),
        local.mtime()
    );
    r.tamper.clear();
    r.m.unmount_clean().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_write_made_while_the_new_files_attributes_are_out_is_not_hidden() {
    let r = Relayed::start_with(&[], CacheMode::Loose).await;
    let seen = hold_getattrs(&r);
    let f = r.path("new");
    let size = blocking(move || {
        // The create's Tgetattr is answered (size 0) at once and held by
        // the relay; the write and the close are done long before it
        // reaches the mount.
        std::fs::write(&f, b"hello\n")?;
        std::fs::metadata(&f).map(|m| m.len())
    })
    .await
    .expect("write and stat");
    assert!(
        first(&seen, msg_type::RGETATTR).is_some(),
        "a Tgetattr was held"
    );
    assert_eq!(
        size, 6,
        "the held answer (size 0) must not be taken after the write"
    );
    r.tamper.clear();
    r.m.unmount_clean().await;
}
