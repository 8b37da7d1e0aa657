//! The `/dev/fuse` device of a session: requests come in by `read`,
//! replies and notifications go out by `writev`.
//!
//! The descriptor is non-blocking and registered with tokio's reactor
//! ([`AsyncFd`]), so a task waits for requests without holding a thread,
//! and a runtime that busy-polls its sources polls this one too. Only
//! reads wait: the kernel takes a write at once, whole or not at all.
//!
//! Each read returns exactly one request, into the caller's buffer, which
//! is reused from one request to the next. More tasks can read requests
//! at once through [`Device::clone_reader`]; each clone keeps its own list
//! of requests being processed, so a request must be answered on the
//! descriptor that read it.
//!
//! When the file system is unmounted, the kernel wakes the readers with an
//! error event only (EPOLLERR without EPOLLIN: a reader waiting for
//! readability alone would sleep on), so we wait for errors as well, and
//! the read then fails with ENODEV: the end of the session. (A connection
//! aborted through `/sys/fs/fuse/connections/N/abort` ends the same way,
//! or with ECONNABORTED if INIT agreed on FUSE_ABORT_ERROR.)

use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};

use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use rustix::ioctl::{Opcode, Setter};
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;

use super::abi::{self, FUSE_MIN_READ_BUFFER};

/// The device every FUSE session opens.
const DEVICE: &str = "/dev/fuse";

/// [`abi::FUSE_DEV_IOC_CLONE`], `_IOR(229, 0, uint32_t)`, in rustix's type.
/// The kernel reads the session's descriptor number from the `u32` the
/// argument points to ("read" in the numbering's sense only: nothing is
/// written back).
const IOC_CLONE: Opcode = rustix::ioctl::opcode::read::<u32>(229, 0);
const _: () = assert!(IOC_CLONE as u64 == abi::FUSE_DEV_IOC_CLONE as u64);

/// Readiness worth a read: a request is waiting, or the connection ended
/// (an error event; see the module doc).
const WAKE: Interest = Interest::READABLE.add(Interest::ERROR);

/// Open `/dev/fuse` for a new session (or a clone), close-on-exec and
/// blocking (as [`mount`](super::mount) wants it).
pub(crate) fn open() -> io::Result<OwnedFd> {
    rustix::fs::open(DEVICE, OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).map_err(|e| {
        let hint = match e {
            Errno::NOENT | Errno::NODEV => " (load the fuse module: modprobe fuse)",
            _ => "",
        };
        io::Error::new(
            io::Error::from(e).kind(),
            format!("opening {DEVICE}: {e}{hint}"),
        )
    })
}

/// A session's `/dev/fuse` descriptor (or a clone of it), registered with
/// the tokio reactor for reading.
pub(crate) struct Device {
    fd: AsyncFd<OwnedFd>,
}

impl Device {
    /// Take a session's descriptor (from a mount), make it non-blocking and
    /// register it with the current tokio runtime, which must have I/O
    /// enabled: an error outside a runtime (tokio panics when the runtime
    /// has no I/O driver).
    pub(crate) fn new(fd: OwnedFd) -> io::Result<Device> {
        if tokio::runtime::Handle::try_current().is_err() {
            return Err(io::Error::other(format!(
                "{DEVICE} can only be served within a tokio runtime"
            )));
        }
        let flags = rustix::fs::fcntl_getfl(&fd)?;
        rustix::fs::fcntl_setfl(&fd, flags | OFlags::NONBLOCK)?;
        // SAFETY: the `OwnedFd` moves into the `AsyncFd`, which owns it
        // until it is dropped: the descriptor stays open and the same, and
        // `as_raw_fd` always gives that one number (nothing here replaces
        // the `OwnedFd` through `get_mut`).
        let fd = unsafe { AsyncFd::register_with_interest(fd, WAKE) }?;
        Ok(Device { fd })
    }

    /// Read the next request into `buf`, replacing its contents: `Some(n)`
    /// with the request's `n` bytes in `buf[..n]`, or `None` once the file
    /// system is unmounted (ENODEV: the session is over). Other errors are
    /// the kernel's: `ConnectionAborted` after an abort with
    /// FUSE_ABORT_ERROR, `InvalidInput` (EINVAL) for a buffer too small.
    ///
    /// The caller sizes `buf` once, by its capacity: at least `max_write`
    /// plus 4096 bytes and at least [`FUSE_MIN_READ_BUFFER`]; it is never
    /// grown here (the kernel refuses a smaller read with EINVAL).
    /// Interrupted reads (EINTR) and requests interrupted before they could
    /// be read (ENOENT) are read past.
    pub(crate) async fn read(&self, buf: &mut Vec<u8>) -> io::Result<Option<usize>> {
        if buf.capacity() < FUSE_MIN_READ_BUFFER {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "a {DEVICE} read buffer of {} bytes (the kernel wants {} at least)",
                    buf.capacity(),
                    FUSE_MIN_READ_BUFFER
                ),
            ));
        }
        loop {
            let mut ready = self.fd.ready(WAKE).await?;
            // A WouldBlock clears the readiness (`Err` here): wait again.
            let Ok(read) = ready.try_io(|fd| read_once(fd.get_ref(), buf)) else {
                continue;
            };
            match read {
                Ok(0) => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        format!("{DEVICE} read nothing"),
                    ))
                }
                Ok(n) => return Ok(Some(n)),
                Err(e) => match Errno::from_io_error(&e) {
                    Some(Errno::INTR | Errno::NOENT) => continue,
                    Some(Errno::NODEV) => return Ok(None),
                    _ => return Err(e),
                },
            }
        }
    }

    /// Write one whole reply or notification, gathered from `parts` (at
    /// most 1024 of them, IOV_MAX), in one `writev`: the kernel takes it
    /// all or nothing, and never makes a write wait.
    ///
    /// Errors are the kernel's. `NotFound` (ENOENT) on a reply means the
    /// request is gone: it was interrupted and ended, or it was read on
    /// another descriptor (a reply must go to the descriptor that read its
    /// request, see [`Device::clone_reader`]); a session ignores it. On a
    /// notification, ENOENT means the kernel does not know the inode or
    /// entry. ENODEV: the file system was unmounted. EINVAL: the message is
    /// malformed (which the kernel may also punish by ending the session).
    pub(crate) fn write(&self, parts: &[IoSlice<'_>]) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        loop {
            match rustix::io::writev(self.fd.get_ref(), parts) {
                Err(Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
                Ok(n) if n == total => return Ok(()),
                Ok(n) => {
                    return Err(io::Error::other(format!(
                        "{DEVICE} took {n} bytes of a {total}-byte message"
                    )))
                }
            }
        }
    }

    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "a second reader is not used by the mount yet")
    )]
    /// Another descriptor on the same session (FUSE_DEV_IOC_CLONE), for a
    /// second task to read requests with. Requests are shared out between
    /// the readers, but each descriptor keeps the requests it read: their
    /// replies, and the answers to interrupts of them, must be written to
    /// that descriptor (elsewhere they fail with ENOENT). Notifications
    /// may go to any of them. Must be called within a tokio runtime, as
    /// [`Device::new`].
    pub(crate) fn clone_reader(&self) -> io::Result<Device> {
        let fd = open()?;
        let session = u32::try_from(self.as_raw_fd()).map_err(io::Error::other)?;
        // SAFETY: FUSE_DEV_IOC_CLONE takes a pointer to a u32, the number
        // of a descriptor of the session, which the kernel only reads; the
        // `Setter` holds that u32 and passes a pointer to it for the
        // duration of the call, and `fd` is a /dev/fuse descriptor.
        unsafe { rustix::ioctl::ioctl(&fd, Setter::<IOC_CLONE, u32>::new(session)) }.map_err(
            |e| {
                io::Error::new(
                    io::Error::from(e).kind(),
                    format!("cloning the {DEVICE} session descriptor: {e}"),
                )
            },
        )?;
        Device::new(fd)
    }
}

/// One read of one request into `buf`'s capacity.
fn read_once(fd: &OwnedFd, buf: &mut Vec<u8>) -> io::Result<usize> {
    buf.clear();
    Ok(rustix::io::read(fd, rustix::buffer::spare_capacity(buf))?)
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("fd", &self.as_raw_fd())
            .finish()
    }
}

impl AsFd for Device {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.get_ref().as_fd()
    }
}

impl AsRawFd for Device {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    //! These mount for real: they need `/dev/fuse`, and fusermount3 or
    //! root to mount with, and say SKIPPED otherwise. Each mount point is
    //! detached lazily when its test ends, even by a panic.

    use std::path::{Path, PathBuf};
    use std::process::Command;
    use std::time::Duration;

    use super::*;
    use crate::kernel::mount::{self, MountOptions};
    use crate::mountinfo;

    const FUSE_INIT: u32 = 26;
    const FUSE_GETATTR: u32 = 3;
    /// Sent for statx(2) until the file system answers it ENOSYS.
    const FUSE_STATX: u32 = 52;
    /// `fuse_in_header`: len, opcode, unique, nodeid, uid, gid, pid,
    /// total_extlen, padding.
    const IN_HEADER: usize = 40;
    /// `fuse_out_header`: len, error, unique.
    const OUT_HEADER: usize = 16;
    /// `fuse_init_out` as of protocol 7.36 and later.
    const INIT_OUT: usize = 64;
    /// The `max_write` our INIT replies grant.
    const MAX_WRITE: u32 = 131_072;
    /// How long any one step may take before the test fails.
    const PATIENCE: Duration = Duration::from_secs(3);

    /// What a kernel test needs besides `/dev/fuse`.
    #[derive(Clone, Copy, PartialEq)]
    enum Need {
        /// Nothing more.
        Device,
        /// fusermount3 (any user).
        Fusermount,
        /// Root, to call mount(2).
        Root,
    }

    /// Why this machine cannot run a kernel test, if it cannot.
    fn missing(need: Need) -> Option<&'static str> {
        if !Path::new(DEVICE).exists() {
            return Some("needs /dev/fuse");
        }
        match need {
            Need::Root if !rustix::process::getuid().is_root() => Some("needs root"),
            Need::Fusermount if Command::new("fusermount3").arg("-V").output().is_err() => {
                Some("needs fusermount3 (fuse3)")
            }
            _ => None,
        }
    }

    /// Return from the test, loudly, when it cannot run here.
    macro_rules! skip_unless {
        ($name:literal, $need:expr) => {
            if let Some(why) = missing($need) {
                eprintln!("SKIPPED {}: {why}", $name);
                return;
            }
        };
    }

    /// A fresh mount point, detached lazily when dropped (which never
    /// waits for the file system), whatever the test did.
    struct MountPoint {
        path: PathBuf,
        via_fusermount: bool,
        _dir: tempfile::TempDir,
    }

    impl MountPoint {
        fn new(via_fusermount: bool) -> MountPoint {
            let dir = tempfile::tempdir().unwrap();
            MountPoint {
                path: dir.path().canonicalize().unwrap(),
                via_fusermount,
                _dir: dir,
            }
        }
    }

    impl Drop for MountPoint {
        fn drop(&mut self) {
            // An error when the test unmounted already: fine.
            let _ = mount::unmount(&self.path, self.via_fusermount, true);
        }
    }

    fn options() -> MountOptions {
        MountOptions {
            fsname: "kernel-test".into(),
            subtype: "ninep".into(),
            ..MountOptions::default()
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn request_buffer() -> Vec<u8> {
        Vec::with_capacity(MAX_WRITE as usize + 4096)
    }

    fn is_cloexec(fd: impl AsFd) -> bool {
        let flags = rustix::io::fcntl_getfd(fd).unwrap();
        flags.contains(rustix::io::FdFlags::CLOEXEC)
    }

    fn u32_at(b: &[u8], at: usize) -> u32 {
        u32::from_ne_bytes(b[at..at + 4].try_into().unwrap())
    }

    fn u64_at(b: &[u8], at: usize) -> u64 {
        u64::from_ne_bytes(b[at..at + 8].try_into().unwrap())
    }

    /// A request's opcode, unique and nodeid, its length checked.
    fn header(request: &[u8]) -> (u32, u64, u64) {
        assert!(request.len() >= IN_HEADER, "{} bytes", request.len());
        assert_eq!(u32_at(request, 0) as usize, request.len(), "len");
        (u32_at(request, 4), u64_at(request, 8), u64_at(request, 16))
    }

    fn out_header(unique: u64, error: i32, body: usize) -> Vec<u8> {
        let mut b = Vec::with_capacity(OUT_HEADER);
        b.extend_from_slice(&((OUT_HEADER + body) as u32).to_ne_bytes());
        b.extend_from_slice(&error.to_ne_bytes());
        b.extend_from_slice(&unique.to_ne_bytes());
        b
    }

    /// A minimal `fuse_init_out`: protocol 7.31, no flags.
    fn init_out(max_readahead: u32) -> Vec<u8> {
        let mut b = Vec::with_capacity(INIT_OUT);
        // major, minor, max_readahead, flags
        for v in [7u32, 31, max_readahead, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        // max_background, congestion_threshold
        for v in [16u16, 12] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        // max_write, time_gran
        for v in [MAX_WRITE, 1] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        // max_pages, map_alignment
        for v in [0u16, 0] {
            b.extend_from_slice(&v.to_ne_bytes());
        }
        // flags2, then max_stack_depth, request_timeout and unused: zeros
        b.resize(INIT_OUT, 0);
        b
    }

    /// The next request's length (`None`: the session ended), in time.
    async fn next(dev: &Device, buf: &mut Vec<u8>) -> Option<usize> {
        tokio::time::timeout(PATIENCE, dev.read(buf))
            .await
            .expect("no request in time")
            .expect("reading /dev/fuse")
    }

    /// Read FUSE_INIT and check it by its bytes; its unique and the
    /// kernel's max_readahead.
    async fn read_init(dev: &Device, buf: &mut Vec<u8>) -> (u64, u32) {
        let n = next(dev, buf).await.expect("FUSE_INIT, not the end");
        assert_eq!(n, buf.len());
        let (opcode, unique, _) = header(buf);
        assert_eq!(opcode, FUSE_INIT);
        assert!(n >= IN_HEADER + 16, "fuse_init_in: {n} bytes");
        let (major, minor) = (u32_at(buf, IN_HEADER), u32_at(buf, IN_HEADER + 4));
        assert_eq!(major, 7);
        assert!(minor >= 31, "protocol 7.{minor}");
        (unique, u32_at(buf, IN_HEADER + 8))
    }

    /// The INIT reply, as two parts of one write.
    fn answer_init(dev: &Device, unique: u64, max_readahead: u32) -> io::Result<()> {
        let body = init_out(max_readahead);
        let head = out_header(unique, 0, body.len());
        dev.write(&[IoSlice::new(&head), IoSlice::new(&body)])
    }

    /// Prove the session runs: a stat of the root comes to `dev` (as
    /// FUSE_STATX or FUSE_GETATTR), and the EIO we answer comes back to
    /// the caller.
    async fn serve_a_stat(dev: &Device, buf: &mut Vec<u8>, path: &Path) {
        let p = path.to_owned();
        let stat = tokio::task::spawn_blocking(move || std::fs::metadata(p));
        let n = next(dev, buf).await.expect("FUSE_GETATTR, not the end");
        let (opcode, unique, nodeid) = header(&buf[..n]);
        assert!(
            [FUSE_GETATTR, FUSE_STATX].contains(&opcode),
            "the root's attributes, not opcode {opcode}"
        );
        assert_eq!(nodeid, 1, "the root");
        let eio = Errno::IO.raw_os_error();
        dev.write(&[IoSlice::new(&out_header(unique, -eio, 0))])
            .unwrap();
        let r = tokio::time::timeout(PATIENCE, stat).await.unwrap().unwrap();
        assert_eq!(r.unwrap_err().raw_os_error(), Some(eio));
    }

    fn assert_mounted(path: &Path) {
        let e = mountinfo::mounted_at(&mountinfo::now(), path).expect("mounted");
        assert_eq!(e.fstype, "fuse.ninep");
        assert_eq!(e.source, "kernel-test");
    }

    /// Unmount (not lazily) while every reader waits for a request, and
    /// see each woken with the end and the mount gone.
    async fn unmount_and_end(devs: &[&Device], path: &Path, fusermount: bool) {
        // Polled first, the reads find nothing and wait: the unmount then
        // wakes them with an error event only (see the module doc).
        let ends = futures::future::join_all(devs.iter().map(|dev| async move {
            let mut buf = request_buffer();
            next(dev, &mut buf).await
        }));
        let p = path.to_owned();
        let unmounting = async move {
            tokio::task::spawn_blocking(move || mount::unmount(&p, fusermount, false))
                .await
                .unwrap()
        };
        let (ends, unmounted) = tokio::join!(ends, unmounting);
        unmounted.unwrap();
        assert!(ends.iter().all(Option::is_none), "{ends:?}");
        assert_eq!(mountinfo::mounted_at(&mountinfo::now(), path), None);
    }

    #[test]
    fn fusermount_mount_serves_init_and_ends_on_unmount() {
        skip_unless!(
            "fusermount_mount_serves_init_and_ends_on_unmount",
            Need::Fusermount
        );
        let point = MountPoint::new(true);
        let fd = mount::mount_fusermount(&point.path, &options()).unwrap();
        assert!(is_cloexec(&fd), "the received descriptor is close-on-exec");
        runtime().block_on(async {
            let dev = Device::new(fd).unwrap();
            let mut buf = request_buffer();
            let (unique, readahead) = read_init(&dev, &mut buf).await;
            answer_init(&dev, unique, readahead).unwrap();
            assert_mounted(&point.path);
            serve_a_stat(&dev, &mut buf, &point.path).await;
            unmount_and_end(&[&dev], &point.path, true).await;
        });
    }

    #[test]
    fn direct_mount_serves_init_and_ends_on_unmount() {
        skip_unless!("direct_mount_serves_init_and_ends_on_unmount", Need::Root);
        let point = MountPoint::new(false);
        let fd = mount::mount_direct(&point.path, &options()).unwrap();
        assert!(is_cloexec(&fd));
        runtime().block_on(async {
            let dev = Device::new(fd).unwrap();
            let mut buf = request_buffer();
            let (unique, readahead) = read_init(&dev, &mut buf).await;
            answer_init(&dev, unique, readahead).unwrap();
            assert_mounted(&point.path);
            serve_a_stat(&dev, &mut buf, &point.path).await;
            unmount_and_end(&[&dev], &point.path, false).await;
        });
    }

    #[test]
    fn a_clone_reads_requests_and_only_it_can_answer_them() {
        skip_unless!(
            "a_clone_reads_requests_and_only_it_can_answer_them",
            Need::Root
        );
        let point = MountPoint::new(false);
        let fd = mount::mount_direct(&point.path, &options()).unwrap();
        runtime().block_on(async {
            let dev = Device::new(fd).unwrap();
            let clone = dev.clone_reader().unwrap();
            assert_ne!(clone.as_raw_fd(), dev.as_raw_fd());
            assert!(is_cloexec(&clone));
            let mut buf = request_buffer();
            let (unique, readahead) = read_init(&clone, &mut buf).await;
            let elsewhere = answer_init(&dev, unique, readahead).unwrap_err();
            assert_eq!(elsewhere.kind(), io::ErrorKind::NotFound, "{elsewhere}");
            answer_init(&clone, unique, readahead).unwrap();
            serve_a_stat(&clone, &mut buf, &point.path).await;
            unmount_and_end(&[&dev, &clone], &point.path, false).await;
        });
    }

    #[test]
    fn fusermount_keeps_commas_and_backslashes_in_fsname() {
        skip_unless!(
            "fusermount_keeps_commas_and_backslashes_in_fsname",
            Need::Fusermount
        );
        let point = MountPoint::new(true);
        let fsname = r"host:564,aname=/srv\x";
        let opts = MountOptions {
            fsname: fsname.into(),
            ..options()
        };
        let fd = mount::mount_fusermount(&point.path, &opts).unwrap();
        let e = mountinfo::mounted_at(&mountinfo::now(), &point.path).expect("mounted");
        assert_eq!(
            (e.source.as_str(), e.fstype.as_str()),
            (fsname, "fuse.ninep")
        );
        mount::unmount(&point.path, true, false).unwrap();
        drop(fd);
    }

    #[test]
    fn reads_want_a_buffer_the_kernel_takes() {
        skip_unless!("reads_want_a_buffer_the_kernel_takes", Need::Device);
        runtime().block_on(async {
            // A device of no session: only the buffer's size is checked.
            let dev = Device::new(open().unwrap()).unwrap();
            let mut small = Vec::with_capacity(FUSE_MIN_READ_BUFFER - 1);
            let e = dev.read(&mut small).await.unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
            assert!(dev.clone_reader().is_err(), "no session to clone");
        });
        assert!(Device::new(open().unwrap()).is_err(), "outside a runtime");
    }
}
