//! A server that refuses fid numbers from 1024 up (as nfs-ganesha answers
//! ERANGE), through a real mount: the mount learns the limit at the first
//! refusal, lets go of the fids cached inodes keep, least recently used
//! first, and sends the refused request again, so that copying a tree of
//! 5,000 files in and comparing it back sees no error at all.
//!
//! The server is diod behind a relay that answers ERANGE to every request
//! binding a fid numbered 1024 or more.

use crate::mount_support::relayed::Relayed;
use crate::mount_support::{blocking, sh};
use crate::one_at_a_time;
use ninep_client::wire::{msg_type, Rlerror};
use ninep_fuse::CacheMode;
use ninep_tests::peer::frame;
use ninep_tests::servers::temp_dir;
use ninep_tests::tamper::Act;

/// The first fid number the server refuses.
const FID_LIMIT: u32 = 1024;
const ERANGE: u32 = 34;

/// The fid a request binds, if it binds one (Tattach's fid; Twalk's and
/// Txattrwalk's newfid), from its raw frame.
fn new_fid(ty: u8, frame: &[u8]) -> Option<u32> {
    let at = match ty {
        msg_type::TATTACH => 7,
        msg_type::TWALK | msg_type::TXATTRWALK => 11,
        _ => return None,
    };
    let b = frame.get(at..at + 4)?;
    Some(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_with_a_fid_limit_takes_a_5000_file_copy() {
    let _serial = one_at_a_time().await;
    let r = Relayed::start_with(&[], CacheMode::Loose).await;
    r.tamper
        .set(|req, _reply| match new_fid(req.ty, &req.frame) {
            Some(fid) if fid >= FID_LIMIT => {
                Act::Send(frame(ninep_client::Tag(req.tag), Rlerror { ecode: ERANGE }))
            }
            _ => Act::Pass,
        });
    let src = temp_dir().expect("source");
    let tree = src.path().join("tree");
    for d in 0..50 {
        let dir = tree.join(format!("d{d:02}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            std::fs::write(dir.join(format!("f{f:03}")), format!("{d} {f}\n")).unwrap();
        }
    }
    let (from, to) = (tree.clone(), r.path("tree"));
    let (cp, diff) = blocking(move || {
        let cp = sh(&format!("cp -a '{}' '{}'", from.display(), to.display()));
        let diff = sh(&format!("diff -r '{}' '{}'", from.display(), to.display()));
        (cp, diff)
    })
    .await;
    let text = |o: &std::process::Output| {
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    assert!(cp.status.success(), "cp -a: {}", text(&cp));
    assert!(diff.status.success(), "diff -r: {}", text(&diff));
    let s = r.m.stats();
    assert!(
        s.fids_in_use <= FID_LIMIT as usize,
        "{} fids held past the server's limit",
        s.fids_in_use
    );
    assert!(
        s.inodes > FID_LIMIT as usize,
        "the copy never came near the limit: {s:?}"
    );
}
