//! How the kernel's requests reach the mount: FUSE over io_uring where
//! the kernel offers it (the `fuse` module's `enable_uring` on), else
//! `/dev/fuse`; `-o nouring` keeps `/dev/fuse` either way.
//!
//! The other tests of this binary run on whichever the machine gives;
//! the test script runs them once more with `enable_uring` on, and sets
//! `NINEP_EXPECT_URING=1` then, so that a run meant for io_uring fails
//! here if its mounts quietly use `/dev/fuse`.

use std::fs;

use ninep_fuse::CacheMode;

use crate::mount_support::{blocking, Mounted};

/// Whether this kernel offers FUSE over io_uring to new mounts.
fn kernel_offers_uring() -> bool {
    fs::read_to_string("/sys/module/fuse/parameters/enable_uring").is_ok_and(|v| v.trim() == "Y")
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_come_through_io_uring_where_the_kernel_offers_it() {
    let offered = kernel_offers_uring();
    if std::env::var_os("NINEP_EXPECT_URING").is_some_and(|v| v == "1") {
        assert!(offered, "NINEP_EXPECT_URING=1, but enable_uring is off");
    }
    let m = Mounted::diod(CacheMode::None).await;
    let before = m.stats();
    assert_eq!(before.uring, offered, "{before:?}");
    let mnt = m.dir.clone();
    blocking(move || {
        for i in 0..20 {
            let p = mnt.join(format!("f{i}"));
            fs::write(&p, vec![i as u8; 70_000]).unwrap();
            assert_eq!(fs::read(&p).unwrap(), vec![i as u8; 70_000]);
        }
    })
    .await;
    let after = m.stats();
    match offered {
        // 20 creates, writes, opens and reads at the least.
        true => assert!(
            after.uring_requests >= before.uring_requests + 80,
            "{} then {}",
            before.uring_requests,
            after.uring_requests
        ),
        false => assert_eq!(after.uring_requests, 0),
    }
    m.unmount().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn nouring_keeps_dev_fuse() {
    let m = Mounted::diod_with(|c| c.uring = false).await;
    let mnt = m.dir.clone();
    blocking(move || {
        fs::write(mnt.join("a"), b"x").unwrap();
        assert_eq!(fs::read(mnt.join("a")).unwrap(), b"x");
    })
    .await;
    let s = m.stats();
    assert!(!s.uring, "{s:?}");
    assert_eq!(s.uring_requests, 0);
    m.unmount().await;
}
