//! Mounting a FUSE file system and taking it down again.
//!
//! Two ways to mount, giving the same mount for the same [`MountOptions`]:
//!
//! - [`mount_fusermount`]: fusermount3 (setuid root, so it works for any
//!   user) opens `/dev/fuse`, mounts with it and hands the descriptor back
//!   to us. Root uses it too when it is installed, so that every mount is
//!   made one way.
//! - [`mount_direct`]: we open `/dev/fuse` and call mount(2) ourselves;
//!   root only (CAP_SYS_ADMIN).
//!
//! # fusermount3's protocol
//!
//! We make a pair of connected Unix stream sockets, and run
//! `fusermount3 -o OPTIONS -- MOUNTPOINT` with the number of one end in the
//! environment as `_FUSE_COMMFD` (that end must survive the exec). Once
//! mounted, fusermount3 sends the `/dev/fuse` descriptor over that socket
//! (SCM_RIGHTS, with one byte of data) and exits. When it cannot mount, it
//! says why on stderr and exits without sending: our end then reads the end
//! of the stream. With `auto_unmount` it would stay behind as a watchdog;
//! we never ask for that, and its option is refused here.
//!
//! # Options
//!
//! fusermount3 takes a fixed set of options: `fsname=` and `subtype=`
//! (where a backslash makes the next character literal, so a comma in a
//! name does not end the option), the kernel's own (`allow_other`,
//! `default_permissions`, `max_read=`), and the mount flags in
//! [`FLAG_OPTIONS`]; it fails on anything else, `allow_root` included
//! (fusermount3 3.14 says "unknown option 'allow_root'"). It always adds
//! `nosuid` and `nodev` unless told `suid` or `dev` (which only root may
//! say); [`mount_direct`] does the same, so both ways agree.

use std::ffi::CString;
use std::io::{self, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use rustix::io::{Errno, FdFlags};
use rustix::mount::{MountFlags, UnmountFlags};
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SocketFlags,
    SocketType,
};
use tracing::warn;

use super::dev;

/// The program that mounts for users (libfuse 3's).
const FUSERMOUNT: &str = "fusermount3";

/// The variable that tells fusermount3 which descriptor to send on.
const COMMFD_ENV: &str = "_FUSE_COMMFD";

/// The file type bits of a mode (`S_IFMT`).
const S_IFMT: u32 = 0o170_000;

/// The mount-flag options fusermount3 takes, each with the flag it sets
/// (`true`) or clears (`false`); [`mount_direct`] reads them the same way.
pub(crate) const FLAG_OPTIONS: [(&str, MountFlags, bool); 13] = [
    ("rw", MountFlags::RDONLY, false),
    ("ro", MountFlags::RDONLY, true),
    ("suid", MountFlags::NOSUID, false),
    ("nosuid", MountFlags::NOSUID, true),
    ("dev", MountFlags::NODEV, false),
    ("nodev", MountFlags::NODEV, true),
    ("exec", MountFlags::NOEXEC, false),
    ("noexec", MountFlags::NOEXEC, true),
    ("async", MountFlags::SYNCHRONOUS, false),
    ("sync", MountFlags::SYNCHRONOUS, true),
    ("atime", MountFlags::NOATIME, false),
    ("noatime", MountFlags::NOATIME, true),
    ("dirsync", MountFlags::DIRSYNC, true),
];

/// What to mount, for either way of mounting.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct MountOptions {
    /// The mount's source, as `/proc/mounts`, `findmnt` and `df` show it
    /// (none: the subtype stands in, as fusermount3 does).
    pub(crate) fsname: String,
    /// The type is `fuse.SUBTYPE` (none: plain `fuse`).
    pub(crate) subtype: String,
    /// Other users may use the mount.
    pub(crate) allow_other: bool,
    /// Root may use the mount too. The kernel knows only `allow_other`, so
    /// this mounts with `allow_other` and the session must refuse (EACCES)
    /// the requests of users other than the mounter and root, as libfuse
    /// does. With `allow_other` too, `allow_other` wins.
    pub(crate) allow_root: bool,
    /// Mount read-only (`ro`).
    pub(crate) read_only: bool,
    /// The kernel checks permissions by the mode bits.
    pub(crate) default_permissions: bool,
    /// The largest read the kernel asks for (`max_read=`), if limited.
    pub(crate) max_read: Option<u32>,
    /// Mount flags as fusermount3 spells them: `nosuid`, `nodev`, `noexec`,
    /// `sync`, `dirsync`, `noatime`, ... (see [`FLAG_OPTIONS`]); applied in
    /// order, after `read_only`.
    pub(crate) flags: Vec<String>,
}

/// The arguments of mount(2) for a FUSE mount (see
/// [`MountOptions::mount_args`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MountArgs {
    /// The source (the fsname).
    pub(crate) source: String,
    /// The file system type: `fuse.SUBTYPE`.
    pub(crate) fstype: String,
    /// The MS_* flags.
    pub(crate) flags: MountFlags,
    /// FUSE's own options: `fd=N,rootmode=...,user_id=U,group_id=G`, then
    /// `allow_other`, `default_permissions` and `max_read=` when asked for.
    pub(crate) data: String,
}

impl MountOptions {
    /// fusermount3's `-o` argument: `fsname=` and `subtype=` escaped (a
    /// backslash before each comma and each backslash), then the kernel's
    /// options, then the flags. Fails on a flag fusermount3 does not take.
    pub(crate) fn fusermount_arg(&self) -> io::Result<String> {
        self.check()?;
        let mut o = Vec::new();
        if !self.fsname.is_empty() {
            o.push(format!("fsname={}", escape(&self.fsname)));
        }
        if !self.subtype.is_empty() {
            o.push(format!("subtype={}", escape(&self.subtype)));
        }
        if self.read_only {
            o.push("ro".to_owned());
        }
        o.extend(self.kernel_options());
        o.extend(self.flags.iter().cloned());
        Ok(o.join(","))
    }

    /// mount(2)'s arguments for the device `fd`, a root whose file type is
    /// `rootmode` (`0o40000` for a directory), mounted by `uid` and `gid`.
    /// The flags start from `nosuid,nodev`, as fusermount3's do.
    pub(crate) fn mount_args(
        &self,
        fd: RawFd,
        rootmode: u32,
        uid: u32,
        gid: u32,
    ) -> io::Result<MountArgs> {
        self.check()?;
        let mut flags = MountFlags::NOSUID | MountFlags::NODEV;
        if self.read_only {
            flags |= MountFlags::RDONLY;
        }
        for name in &self.flags {
            if let Some((_, flag, on)) = FLAG_OPTIONS.iter().find(|(n, ..)| n == name) {
                flags.set(*flag, *on);
            }
        }
        let mut data = vec![format!(
            "fd={fd},rootmode={rootmode:o},user_id={uid},group_id={gid}"
        )];
        data.extend(self.kernel_options());
        let source = [self.fsname.as_str(), self.subtype.as_str()]
            .into_iter()
            .find(|s| !s.is_empty())
            .unwrap_or("fuse")
            .to_owned();
        let fstype = match self.subtype.as_str() {
            "" => "fuse".to_owned(),
            sub => format!("fuse.{sub}"),
        };
        Ok(MountArgs {
            source,
            fstype,
            flags,
            data: data.join(","),
        })
    }

    /// The options that go to the kernel as they are, both ways.
    fn kernel_options(&self) -> Vec<String> {
        let mut o = Vec::new();
        if self.allow_other || self.allow_root {
            o.push("allow_other".to_owned());
        }
        if self.default_permissions {
            o.push("default_permissions".to_owned());
        }
        if let Some(n) = self.max_read {
            o.push(format!("max_read={n}"));
        }
        o
    }

    /// Every flag is one fusermount3 takes, and no name holds a NUL.
    fn check(&self) -> io::Result<()> {
        let invalid = |what: String| Err(io::Error::new(io::ErrorKind::InvalidInput, what));
        for name in &self.flags {
            if !FLAG_OPTIONS.iter().any(|(n, ..)| n == name) {
                let known: Vec<&str> = FLAG_OPTIONS.iter().map(|(n, ..)| *n).collect();
                return invalid(format!(
                    "mount flag {name:?} unknown (fusermount3 takes {})",
                    known.join(", ")
                ));
            }
        }
        if self.fsname.contains('\0') || self.subtype.contains('\0') {
            return invalid("a NUL byte in fsname or subtype".to_owned());
        }
        Ok(())
    }
}

/// `s` for fusermount3's `fsname=` or `subtype=`: it drops each backslash
/// and keeps the character after it, a comma included.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c == ',' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Mount through fusermount3 (see the module doc) and return the session's
/// `/dev/fuse` descriptor (close-on-exec, blocking until
/// [`dev::Device::new`] takes it). Blocks until fusermount3 is done (run
/// it with `spawn_blocking` on a runtime). When fusermount3 fails, the
/// error is its stderr (`fusermount3: ...: Permission denied`).
pub(crate) fn mount_fusermount(mountpoint: &Path, opts: &MountOptions) -> io::Result<OwnedFd> {
    let arg = opts.fusermount_arg()?;
    let (ours, theirs) = rustix::net::socketpair(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC,
        None,
    )?;
    let theirs = above_stdio(theirs)?;
    let child = spawn_fusermount(&arg, mountpoint, &theirs)?;
    // fusermount3 holds the only other copy now: its exit ends our stream.
    drop(theirs);
    let received = receive_fd(&ours);
    let out = child.wait_with_output()?;
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stderr = stderr.trim();
    match received? {
        Some(fd) if out.status.success() => {
            // Warnings, such as an unsafe option ignored for a user.
            for line in stderr.lines() {
                warn!(mountpoint = %mountpoint.display(), "{line}");
            }
            Ok(fd)
        }
        _ => {
            let why = match stderr {
                "" => format!("{FUSERMOUNT} failed ({}) and said nothing", out.status),
                s => s.to_owned(),
            };
            Err(io::Error::other(format!(
                "mounting {} with {FUSERMOUNT} -o {arg}: {why}",
                mountpoint.display()
            )))
        }
    }
}

/// A copy of `fd` numbered 3 or above when it is 0, 1 or 2, which the
/// child's stdin, stdout and stderr replace.
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    Ok(rustix::io::fcntl_dupfd_cloexec(&fd, 3)?)
}

/// Start `fusermount3 -o ARG -- MOUNTPOINT` with `theirs` kept open across
/// the exec and named in `_FUSE_COMMFD`; its stderr is piped to us.
fn spawn_fusermount(arg: &str, mountpoint: &Path, theirs: &OwnedFd) -> io::Result<Child> {
    let raw = theirs.as_raw_fd();
    let mut cmd = Command::new(FUSERMOUNT);
    cmd.arg("-o")
        .arg(arg)
        .arg("--")
        .arg(mountpoint)
        .env(COMMFD_ENV, raw.to_string())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SAFETY: the hook runs in the child between fork and exec, where only
    // async-signal-safe work is allowed: `keep_across_exec` makes one
    // fcntl(2) system call and allocates nothing.
    unsafe {
        cmd.pre_exec(move || keep_across_exec(raw));
    }
    cmd.spawn().map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => io::Error::new(
            e.kind(),
            format!("{FUSERMOUNT} is not on the PATH (install fuse3)"),
        ),
        _ => io::Error::new(e.kind(), format!("running {FUSERMOUNT}: {e}")),
    })
}

/// Clear close-on-exec on `raw`, in the child before the exec.
fn keep_across_exec(raw: RawFd) -> io::Result<()> {
    // SAFETY: `raw` is open in the child: the parent holds it open across
    // the spawn (`theirs`), and fork copies the descriptor table. The
    // borrow does not outlive this call.
    let fd = unsafe { BorrowedFd::borrow_raw(raw) };
    Ok(rustix::io::fcntl_setfd(fd, FdFlags::empty())?)
}

/// The descriptor fusermount3 sends on `sock`, received close-on-exec;
/// `None` when it closed the socket without sending one.
fn receive_fd(sock: &OwnedFd) -> io::Result<Option<OwnedFd>> {
    let mut byte = [0u8; 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        let mut iov = [IoSliceMut::new(&mut byte)];
        match rustix::net::recvmsg(sock, &mut iov, &mut control, RecvFlags::CMSG_CLOEXEC) {
            Err(Errno::INTR) => continue,
            r => break r?,
        }
    };
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(io::Error::other(format!(
            "{FUSERMOUNT} sent more descriptors than one"
        )));
    }
    // Any other descriptor in the message is closed with the iterator.
    let fd = control.drain().find_map(|m| match m {
        RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
        _ => None,
    });
    Ok(fd)
}

/// Mount with mount(2) (root only) and return the session's `/dev/fuse`
/// descriptor (close-on-exec, blocking until [`dev::Device::new`] takes
/// it). The mount is owned by our real uid and gid, and the root's type is
/// the mount point's (a directory or a regular file).
pub(crate) fn mount_direct(mountpoint: &Path, opts: &MountOptions) -> io::Result<OwnedFd> {
    let rootmode = rustix::fs::stat(mountpoint)
        .map_err(|e| context(e.into(), "mount point", mountpoint))?
        .st_mode
        & S_IFMT;
    let fd = dev::open()?;
    let uid = rustix::process::getuid().as_raw();
    let gid = rustix::process::getgid().as_raw();
    let args = opts.mount_args(fd.as_raw_fd(), rootmode, uid, gid)?;
    let data = CString::new(args.data)?;
    rustix::mount::mount(
        args.source.as_str(),
        mountpoint,
        args.fstype.as_str(),
        args.flags,
        data.as_c_str(),
    )
    .map_err(|e| context(e.into(), "mount(2) on", mountpoint))?;
    Ok(fd)
}

/// Unmount `mountpoint`: with `fusermount3 -u` (`-z` when `lazy`) for a
/// mount a user made, or umount2(2) (MNT_DETACH when `lazy`), which needs
/// root. A lazy unmount detaches the mount even while it is busy; the
/// session ends when its last file is closed. umount2's errors keep their
/// errno (EBUSY: busy, EINVAL: not mounted); fusermount3's carry its
/// stderr.
pub(crate) fn unmount(mountpoint: &Path, via_fusermount: bool, lazy: bool) -> io::Result<()> {
    if !via_fusermount {
        let flags = match lazy {
            true => UnmountFlags::DETACH,
            false => UnmountFlags::empty(),
        };
        return Ok(rustix::mount::unmount(mountpoint, flags)?);
    }
    let mut cmd = Command::new(FUSERMOUNT);
    cmd.arg("-u");
    if lazy {
        cmd.arg("-z");
    }
    let out = cmd
        .arg("--")
        .arg(mountpoint)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        return Ok(());
    }
    Err(io::Error::other(format!(
        "{FUSERMOUNT} -u {}: {}",
        mountpoint.display(),
        String::from_utf8_lossy(&out.stderr).trim()
    )))
}

/// `e` with what it was about, its kind kept.
fn context(e: io::Error, what: &str, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{what} {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> MountOptions {
        MountOptions {
            fsname: "kernel-test".into(),
            subtype: "ninep".into(),
            ..MountOptions::default()
        }
    }

    #[test]
    fn fusermount_arg_names_the_mount_then_kernel_options_then_flags() {
        let mut o = options();
        assert_eq!(
            o.fusermount_arg().unwrap(),
            "fsname=kernel-test,subtype=ninep"
        );
        o.allow_other = true;
        o.read_only = true;
        o.default_permissions = true;
        o.max_read = Some(131_072);
        o.flags = vec!["nosuid".into(), "nodev".into(), "noatime".into()];
        assert_eq!(
            o.fusermount_arg().unwrap(),
            "fsname=kernel-test,subtype=ninep,ro,allow_other,default_permissions,\
             max_read=131072,nosuid,nodev,noatime"
        );
    }

    #[test]
    fn fsname_commas_and_backslashes_are_escaped_for_fusermount() {
        let o = MountOptions {
            fsname: r"host:564,aname=/a\b".into(),
            subtype: "ninep".into(),
            ..MountOptions::default()
        };
        assert_eq!(
            o.fusermount_arg().unwrap(),
            r"fsname=host:564\,aname=/a\\b,subtype=ninep"
        );
        // mount(2) takes the source apart from the options: as it is.
        let args = o.mount_args(5, 0o40000, 0, 0).unwrap();
        assert_eq!(args.source, r"host:564,aname=/a\b");
    }

    #[test]
    fn allow_root_is_allow_other_to_the_kernel() {
        let o = MountOptions {
            allow_root: true,
            ..options()
        };
        let arg = o.fusermount_arg().unwrap();
        assert!(arg.ends_with(",allow_other"), "{arg}");
        assert!(!arg.contains("allow_root"), "fusermount3 refuses it: {arg}");
        let both = MountOptions {
            allow_other: true,
            ..o
        };
        assert_eq!(both.fusermount_arg().unwrap(), arg);
    }

    #[test]
    fn unknown_flags_are_refused_before_anything_runs() {
        for bad in ["auto_unmount", "allow_root", "nosuid,nodev", "relatime", ""] {
            let o = MountOptions {
                flags: vec![bad.into()],
                ..options()
            };
            let e = o.fusermount_arg().unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad}");
            assert!(o.mount_args(3, 0o40000, 0, 0).is_err(), "{bad}");
        }
    }

    #[test]
    fn mount_args_are_what_fusermount3_would_pass() {
        let mut o = options();
        let a = o.mount_args(7, 0o40000, 1000, 100).unwrap();
        assert_eq!(a.source, "kernel-test");
        assert_eq!(a.fstype, "fuse.ninep");
        assert_eq!(a.flags, MountFlags::NOSUID | MountFlags::NODEV);
        assert_eq!(a.data, "fd=7,rootmode=40000,user_id=1000,group_id=100");

        o.allow_root = true;
        o.default_permissions = true;
        o.read_only = true;
        o.max_read = Some(65_536);
        o.flags = ["suid", "dev", "noexec", "sync", "dirsync", "noatime"]
            .map(String::from)
            .to_vec();
        let a = o.mount_args(12, 0o100000, 0, 0).unwrap();
        assert_eq!(
            a.data,
            "fd=12,rootmode=100000,user_id=0,group_id=0,allow_other,\
             default_permissions,max_read=65536"
        );
        assert_eq!(
            a.flags,
            MountFlags::RDONLY
                | MountFlags::NOEXEC
                | MountFlags::SYNCHRONOUS
                | MountFlags::DIRSYNC
                | MountFlags::NOATIME
        );
    }

    #[test]
    fn flags_apply_in_order_and_rw_undoes_read_only() {
        let o = MountOptions {
            read_only: true,
            flags: ["noexec", "exec", "rw"].map(String::from).to_vec(),
            ..options()
        };
        let a = o.mount_args(3, 0o40000, 0, 0).unwrap();
        assert_eq!(a.flags, MountFlags::NOSUID | MountFlags::NODEV);
    }

    #[test]
    fn without_names_the_source_and_type_fall_back_as_fusermount3_does() {
        let o = MountOptions::default();
        assert_eq!(o.fusermount_arg().unwrap(), "");
        let a = o.mount_args(3, 0o40000, 0, 0).unwrap();
        assert_eq!((a.source.as_str(), a.fstype.as_str()), ("fuse", "fuse"));
        let sub = MountOptions {
            subtype: "ninep".into(),
            ..o
        };
        let a = sub.mount_args(3, 0o40000, 0, 0).unwrap();
        assert_eq!(
            (a.source.as_str(), a.fstype.as_str()),
            ("ninep", "fuse.ninep")
        );
    }

    #[test]
    fn fusermount_failure_reports_its_stderr() {
        if Command::new(FUSERMOUNT).arg("-V").output().is_err() {
            eprintln!("SKIPPED fusermount_failure_reports_its_stderr: no {FUSERMOUNT}");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("missing/deeper");
        let e = mount_fusermount(&missing, &options()).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("fusermount3:"), "{msg}");
        assert!(msg.contains("No such file or directory"), "{msg}");
    }
}
