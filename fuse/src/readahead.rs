//! The kernel's readahead for a `cache=loose` mount (`-o read_ahead_kb=`).
//!
//! Why: a FUSE mount's readahead is the block layer's default of 128 KiB,
//! and FUSE's init reply can only lower it. Sequential reads through the
//! page cache then come to us as 128 KiB reads, two or three Treads on
//! diod, with little in flight: `dd bs=1M` read 580-670 MB/s where the
//! same mount with 1 MiB gave 840-860 and 4 MiB 890-910 (alternating runs,
//! same diod). Only root may raise it (a file of the mount's backing
//! device in sysfs); a mount by anyone else keeps the default, logged.
//! Reads that are not sequential are not affected (the kernel's readahead
//! grows only on sequential access, and fio-style random readers turn it
//! off with `POSIX_FADV_RANDOM`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use tracing::debug;

/// The readahead to set once the kernel has taken our FUSE init reply:
/// the kernel lowers the mount's readahead to what that reply says (we
/// echo the kernel's 128 KiB), so a value set before would be undone.
/// It is set at the first open of a file, which can only come after init.
#[derive(Debug, Default)]
pub(crate) struct DeferredReadahead {
    armed: AtomicBool,
    what: Mutex<Option<(PathBuf, u32)>>,
}

impl DeferredReadahead {
    /// Set `kb` for the mount at `mountpoint` at the first open.
    pub(crate) fn arm(&self, mountpoint: PathBuf, kb: u32) {
        *self.what.lock().unwrap_or_else(|e| e.into_inner()) = Some((mountpoint, kb));
        self.armed.store(true, Ordering::Release);
    }

    /// At an open: set the readahead if it is still to be set.
    pub(crate) fn fire(&self) {
        if !self.armed.swap(false, Ordering::AcqRel) {
            return;
        }
        let what = self.what.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some((mountpoint, kb)) = what {
            match set(&mountpoint, kb) {
                Ok(()) => debug!(kb, "readahead set"),
                Err(e) => debug!("readahead left at the kernel's default: {e}"),
            }
        }
    }
}

/// The `major:minor` device of the mount at `mountpoint`, from
/// `/proc/self/mountinfo` (a stat of it would be a FUSE request to
/// ourselves); the last mount there wins, as with stacked mounts.
pub(crate) fn device_of(mountinfo: &str, mountpoint: &Path) -> Option<String> {
    crate::mountinfo::mounted_at(mountinfo, mountpoint).map(|e| e.device)
}

/// Set the readahead of the mount at `mountpoint` to `kb` KiB.
pub(crate) fn set(mountpoint: &Path, kb: u32) -> io::Result<()> {
    let info = std::fs::read_to_string("/proc/self/mountinfo")?;
    let dev = device_of(&info, mountpoint)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "not in mountinfo"))?;
    std::fs::write(
        format!("/sys/class/bdi/{dev}/read_ahead_kb"),
        kb.to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_last_mount_on_a_path_with_escapes() {
        let info = "\
22 1 8:1 / / rw - ext4 /dev/sda1 rw
40 22 0:51 / /mnt/a\\040b rw,nosuid - fuse.ninep host:564 rw
41 22 0:52 / /mnt/c rw - fuse.ninep host:564 rw
42 40 0:53 / /mnt/a\\040b rw - fuse.ninep host:564 rw
";
        assert_eq!(
            device_of(info, Path::new("/mnt/a b")).as_deref(),
            Some("0:53")
        );
        assert_eq!(
            device_of(info, Path::new("/mnt/c")).as_deref(),
            Some("0:52")
        );
        assert_eq!(device_of(info, Path::new("/mnt/d")), None);
    }
}
