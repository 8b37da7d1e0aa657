//! The control socket of a mount: a Unix socket, readable by its owner
//! only, where the mount answers each connection with its [`Report`] as
//! JSON and closes it. `ninep-mount stats` reads it.
//!
//! Where: one file per mount point, named after a hash of the canonical
//! mount point (a path can be longer than a socket address may be), in
//! - `/run/ninep-mount/` for root,
//! - `$XDG_RUNTIME_DIR/ninep-mount/` for other users, where that is set
//!   (it is the user's own, cleared at logout),
//! - `/tmp/ninep-mount-UID/` otherwise.
//!
//! The folder is made 0700 and must belong to the user: one found owned by
//! someone else, or open to others, is refused (in /tmp anybody could have
//! made it first). The socket is 0600, peers are checked by uid (the
//! user's, or root), and the file is removed when the mount ends.

use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::UnixListener;
use tracing::{debug, warn};

use crate::stats_report::Report;

/// Longest a `stats` command waits for a mount's answer.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);

/// The folder of the control sockets of user `uid`.
pub fn socket_dir(uid: u32) -> PathBuf {
    if uid == 0 {
        return PathBuf::from("/run/ninep-mount");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(d) if !d.is_empty() && Path::new(&d).is_dir() => Path::new(&d).join("ninep-mount"),
        _ => PathBuf::from(format!("/tmp/ninep-mount-{uid}")),
    }
}

/// The socket's file name for the canonical `mountpoint`: FNV-1a of its
/// bytes (stable across builds, unlike std's hasher).
pub fn socket_name(mountpoint: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in mountpoint.as_os_str().as_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}.sock")
}

/// The caller's effective uid.
pub fn euid() -> u32 {
    // SAFETY: geteuid(2) cannot fail and touches no memory.
    unsafe { libc::geteuid() }
}

/// Make `dir` (mode 0700) or check that it is ours and closed to others.
fn own_dir(dir: &Path, uid: u32) -> io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let m = std::fs::symlink_metadata(dir)?;
    if !m.is_dir() || m.uid() != uid || m.mode() & 0o077 != 0 {
        return Err(io::Error::other(format!(
            "{} is not a folder of uid {uid} closed to others (mode {:o}, owner {})",
            dir.display(),
            m.mode() & 0o7777,
            m.uid()
        )));
    }
    Ok(())
}

/// A mount's control socket; dropping it stops answering and removes the
/// file.
pub struct Control {
    path: PathBuf,
    task: tokio::task::JoinHandle<()>,
}

impl Control {
    /// Listen for `mountpoint` (canonical); each connection gets `report()`.
    pub fn start(
        mountpoint: &Path,
        report: impl Fn() -> Report + Send + 'static,
    ) -> io::Result<Control> {
        let uid = euid();
        let dir = socket_dir(uid);
        own_dir(&dir, uid)?;
        let path = dir.join(socket_name(mountpoint));
        // Left by a mount that died: no live mount can own this name, as
        // the mount point was free.
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path)?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
        let task = tokio::spawn(serve(listener, uid, report));
        debug!(socket = %path.display(), "control socket");
        Ok(Control { path, task })
    }
}

impl Drop for Control {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn serve(listener: UnixListener, uid: u32, report: impl Fn() -> Report) {
    loop {
        let mut stream = match listener.accept().await {
            Ok((s, _)) => s,
            Err(e) => {
                warn!("control socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let peer = stream.peer_cred().map(|c| c.uid());
        if !matches!(peer, Ok(p) if p == uid || p == 0) {
            debug!("control socket: refused peer {peer:?}");
            continue;
        }
        let json = match serde_json::to_vec(&report()) {
            Ok(j) => j,
            Err(e) => {
                warn!("control socket: {e}");
                continue;
            }
        };
        // One write of a few KiB: never blocks long; a peer that reads
        // nothing only loses its answer.
        tokio::spawn(async move {
            let write = async {
                stream.write_all(&json).await?;
                stream.shutdown().await
            };
            let _ = tokio::time::timeout(FETCH_TIMEOUT, write).await;
        });
    }
}

/// The report of the mount whose control socket is `path`.
pub fn fetch(path: &Path) -> io::Result<Report> {
    let mut s = std::os::unix::net::UnixStream::connect(path)?;
    s.set_read_timeout(Some(FETCH_TIMEOUT))?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf)?;
    serde_json::from_slice(&buf).map_err(|e| io::Error::other(format!("bad answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_stable_and_short() {
        let a = socket_name(Path::new("/mnt/9p"));
        assert_eq!(a, socket_name(Path::new("/mnt/9p")));
        assert_ne!(a, socket_name(Path::new("/mnt/9q")));
        assert_eq!(a.len(), 16 + ".sock".len());
        assert_eq!(socket_dir(0), Path::new("/run/ninep-mount"));
    }

    #[test]
    fn a_folder_open_to_others_is_refused() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path().join("ctl");
        own_dir(&d, euid()).unwrap();
        own_dir(&d, euid()).unwrap();
        assert_eq!(std::fs::metadata(&d).unwrap().mode() & 0o777, 0o700);
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o777)).unwrap();
        assert!(own_dir(&d, euid()).is_err());
        assert!(own_dir(t.path(), euid() + 1).is_err(), "someone else's");
    }
}
