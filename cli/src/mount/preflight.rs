//! Checks made before anything is dialled, each failure worded so that the
//! person reading it knows what to do: the mount point (missing, not a
//! directory, already a mount point, a dead FUSE mount, not writable by a
//! user) and FUSE itself (/dev/fuse, fusermount3).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// The kernel's FUSE device.
pub const DEV_FUSE: &str = "/dev/fuse";

/// Check the mount point; its absolute, canonical path.
pub fn mount_point(path: &Path, unprivileged: bool) -> Result<PathBuf, String> {
    let shown = path.display();
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "mount point {shown} does not exist (create it: mkdir -p {shown})"
            ))
        }
        Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => {
            return Err(format!(
                "mount point {shown} is a FUSE mount whose process is gone ({e}): \
                 unmount it first with `fusermount3 -u {shown}` (as root: `umount -l {shown}`)"
            ))
        }
        Err(e) => return Err(format!("mount point {shown}: {e}")),
    };
    if !meta.is_dir() {
        return Err(format!("mount point {shown} is not a directory"));
    }
    let abs = std::fs::canonicalize(path).map_err(|e| format!("mount point {shown}: {e}"))?;
    if let Some(m) = ninep_fuse::mountinfo::mounted_at(&ninep_fuse::mountinfo::now(), &abs) {
        return Err(format!(
            "mount point {shown} is busy: {} ({}) is already mounted there; \
             unmount it first (umount {shown}, or fusermount3 -u {shown})",
            m.source, m.fstype
        ));
    }
    if unprivileged {
        writable_by_user(&abs, &meta)?;
    }
    Ok(abs)
}

/// fusermount3 mounts for a user only on a directory the user may write
/// to (and, in a sticky directory, owns); say so before it refuses.
fn writable_by_user(path: &Path, meta: &std::fs::Metadata) -> Result<(), String> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|e| e.to_string())?;
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    let writable = unsafe { libc::access(c.as_ptr(), libc::W_OK) } == 0;
    // SAFETY: getuid(2) cannot fail and touches no memory.
    let uid = unsafe { libc::getuid() };
    let sticky_not_ours = meta.mode() & libc::S_ISVTX != 0 && meta.uid() != uid;
    if writable && !sticky_not_ours {
        return Ok(());
    }
    Err(format!(
        "mount point {} is not yours to mount on (uid {uid}): fusermount3 lets a user \
         mount only on a directory they can write to{}",
        path.display(),
        if sticky_not_ours { " and own" } else { "" },
    ))
}

/// Check that FUSE can be used: /dev/fuse, and for a user fusermount3.
pub fn fuse_available(unprivileged: bool) -> Result<(), String> {
    fuse_device(Path::new(DEV_FUSE), unprivileged)
}

fn fuse_device(dev: &Path, unprivileged: bool) -> Result<(), String> {
    let d = dev.display();
    match std::fs::metadata(dev) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(format!(
                "{d} is missing, so FUSE cannot be used here: load the module \
                 (modprobe fuse) or, in a container, pass the device in (--device {d})"
            ))
        }
        Err(e) => return Err(format!("{d}: {e}")),
        Ok(m) if !m.file_type().is_char_device() => {
            return Err(format!("{d} is not a character device"))
        }
        Ok(_) => {}
    }
    if unprivileged {
        find_on_path("fusermount3").ok_or_else(|| {
            "fusermount3 is not installed (not on PATH nor in /usr/bin, /bin, ...): \
             a user who is not root mounts through it (install fuse3: apt-get install fuse3)"
                .to_string()
        })?;
        // fusermount3 is set-uid root but opens /dev/fuse as the caller.
        return user_may_open(dev).map_err(|mode| {
            format!(
                "{d} is not open to you (mode {mode:o}): fusermount3 opens it as \
                 the calling user; distributions make it 0666 (as root: chmod 0666 {d})"
            )
        });
    }
    match std::fs::File::options().read(true).write(true).open(dev) {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("{d} cannot be opened: {e}")),
    }
}

/// Whether the real uid may read and write `path`; else its mode bits.
fn user_may_open(path: &Path) -> Result<(), u32> {
    let c = CString::new(path.as_os_str().as_bytes()).map_err(|_| 0u32)?;
    // SAFETY: `c` is a NUL-terminated path that lives across the call.
    if unsafe { libc::access(c.as_ptr(), libc::R_OK | libc::W_OK) } == 0 {
        return Ok(());
    }
    Err(std::fs::metadata(path).map_or(0, |m| m.mode() & 0o7777))
}

/// The first executable `name` in `$PATH`.
/// The directories every Linux system keeps its programs in.
const STANDARD_DIRS: &[&str] = &[
    "/usr/local/sbin",
    "/usr/local/bin",
    "/usr/sbin",
    "/usr/bin",
    "/sbin",
    "/bin",
];

/// `path` (a PATH value, maybe empty) with the standard directories it
/// lacks appended: mount(8) runs a helper with no PATH at all (an fstab
/// `user` mount), and fusermount3 must still be found.
pub fn with_standard_dirs(path: Option<&std::ffi::OsStr>) -> std::ffi::OsString {
    let mut dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(p).collect())
        .unwrap_or_default();
    dirs.retain(|d| !d.as_os_str().is_empty());
    for d in STANDARD_DIRS {
        if !dirs.iter().any(|have| have == Path::new(d)) {
            dirs.push(PathBuf::from(d));
        }
    }
    std::env::join_paths(dirs).unwrap_or_else(|_| STANDARD_DIRS.join(":").into())
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| {
            p.metadata()
                .is_ok_and(|m| m.is_file() && m.mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_dirs_are_searched_even_without_path() {
        let none = with_standard_dirs(None);
        assert_eq!(
            none,
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
        let mine = with_standard_dirs(Some("/opt/x:/usr/bin".as_ref()));
        assert_eq!(
            mine,
            "/opt/x:/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin"
        );
        assert_eq!(with_standard_dirs(Some("".as_ref())), none);
    }

    #[test]
    fn mount_point_errors_say_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let missing = dir.join("missing");
        let e = mount_point(&missing, false).unwrap_err();
        assert!(
            e.contains("does not exist") && e.contains("mkdir -p"),
            "{e}"
        );
        let file = dir.join("file");
        std::fs::write(&file, "x").unwrap();
        let e = mount_point(&file, false).unwrap_err();
        assert!(e.ends_with("is not a directory"), "{e}");
        let e = mount_point(Path::new("/proc"), false).unwrap_err();
        assert!(e.contains("is busy: proc (proc)"), "{e}");
        let ok = mount_point(&dir.join("."), false).unwrap();
        assert_eq!(ok, std::fs::canonicalize(dir).unwrap());
    }

    #[test]
    fn fuse_device_errors_say_what_to_do() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        let e = fuse_device(&dir.join("fuse"), false).unwrap_err();
        assert!(
            e.contains("is missing") && e.contains("modprobe fuse"),
            "{e}"
        );
        std::fs::write(dir.join("fuse"), "").unwrap();
        let e = fuse_device(&dir.join("fuse"), true).unwrap_err();
        assert!(e.ends_with("is not a character device"), "{e}");
    }
}
