//! `-o auto_unmount`: a small watcher process that unmounts the mount if
//! the mount's process dies without doing so (SIGKILL, a crash), as
//! fusermount3's `auto_unmount` does for libfuse programs. Without it, such
//! a mount stays behind, answering ENOTCONN, until someone unmounts it.
//!
//! The watcher is this program again (`ninep-mount unmount-when-gone`,
//! hidden), reading a pipe from the mount's process: when the pipe closes,
//! the mount's process has ended, and if the mount point is then a dead
//! FUSE mount (ENOTCONN), the watcher detaches it. A clean unmount leaves
//! it nothing to do. It leads its own process group and ignores the
//! terminal's signals (SIGINT, SIGHUP), so that Ctrl-C does not take it
//! down first.

use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use tracing::{info, warn};

/// The hidden subcommand's name.
pub const SUBCOMMAND: &str = "unmount-when-gone";

/// The running watcher; dropping it closes the pipe (the mount's process
/// is ending anyway).
#[derive(Debug)]
pub struct Watcher {
    _child: Child,
}

/// Start the watcher for the mount at `mountpoint`.
pub fn start(mountpoint: &Path, unprivileged: bool) -> io::Result<Watcher> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let mut cmd = Command::new(exe);
    cmd.arg(SUBCOMMAND).arg(mountpoint);
    if unprivileged {
        cmd.arg("--unprivileged");
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0);
    // The watcher must hold none of the mount's descriptors: a copy of
    // /dev/fuse would keep the dead mount alive instead of letting the
    // kernel abort it. Ours are close-on-exec; this also covers any a
    // library opens without.
    // SAFETY: the closure runs in the child between fork and exec and
    // makes one async-signal-safe system call, close_range(2), on
    // descriptors 3 and up (stdio is set up by then).
    unsafe {
        cmd.pre_exec(|| {
            if libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) == 0 {
                Ok(())
            } else {
                Err(io::Error::last_os_error())
            }
        })
    };
    let child = cmd.spawn()?;
    Ok(Watcher { _child: child })
}

/// The watcher's side: wait for the pipe on stdin to close, then detach
/// `mountpoint` if its process left it dead.
pub fn watch(mountpoint: &Path, unprivileged: bool) {
    for sig in [libc::SIGINT, libc::SIGHUP] {
        // SAFETY: setting a signal's disposition to SIG_IGN touches no
        // memory of ours.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    let mut sink = [0u8; 64];
    let mut stdin = io::stdin().lock();
    while !matches!(stdin.read(&mut sink), Ok(0) | Err(_)) {}
    if is_dead(mountpoint) {
        info!(
            "the mount's process is gone: unmounting {}",
            mountpoint.display()
        );
        super::session::detach(mountpoint, unprivileged);
    }
}

/// Whether `mountpoint` is a FUSE mount whose process has gone. Asked by
/// statfs, which the kernel always passes to the mount's process (a stat
/// may be answered from attributes the kernel still trusts, dead
/// connection or not). The pipe may close just before the process's
/// /dev/fuse does: a request caught in between ends with ECONNABORTED when
/// the kernel aborts the connection, the ones after with ENOTCONN.
fn is_dead(mountpoint: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(path) = std::ffi::CString::new(mountpoint.as_os_str().as_bytes()) else {
        return false;
    };
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: a NUL-terminated path and a buffer of statfs's size.
    if unsafe { libc::statfs(path.as_ptr(), st.as_mut_ptr()) } == 0 {
        return false;
    }
    let errno = io::Error::last_os_error().raw_os_error();
    matches!(errno, Some(libc::ENOTCONN | libc::ECONNABORTED))
}

/// The arguments of the hidden subcommand.
#[derive(Debug, clap::Args)]
pub struct WatchArgs {
    /// The mount point to watch.
    pub mountpoint: PathBuf,
    /// The mount was made through fusermount3.
    #[arg(long)]
    pub unprivileged: bool,
}

/// Run the hidden subcommand.
pub fn run(args: &WatchArgs) {
    watch(&args.mountpoint, args.unprivileged);
    if is_dead(&args.mountpoint) {
        warn!("{} is still a dead mount", args.mountpoint.display());
    }
}
