//! Helpers of the mount tests: a diod export with a mount point, bounded
//! runs and waits, mount table and process lookups, guards that undo a
//! mount or an install however a test ends, the unprivileged test user.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use ninep_tests::servers::{temp_dir, Diod};
use tempfile::TempDir;

pub const BIN: &str = env!("CARGO_BIN_EXE_ninep-mount");
/// Bound on any one command, mount or unmount.
pub const BOUND: Duration = Duration::from_secs(20);
/// The unprivileged user of the non-root test.
pub const TEST_USER: &str = "ninep-test-user";

/// A diod export with a mount point beside it, all in one temp dir.
pub struct Setup {
    pub dir: TempDir,
    pub diod: Diod,
}

impl Setup {
    pub fn new() -> Setup {
        let dir = temp_dir().unwrap();
        fs::create_dir(dir.path().join("export")).unwrap();
        fs::create_dir(dir.path().join("mnt")).unwrap();
        fs::write(dir.path().join("export/hello.txt"), "hello from diod\n").unwrap();
        let diod = Diod::start(&[&dir.path().join("export")]).expect("start diod");
        Setup { dir, diod }
    }

    pub fn addr(&self) -> String {
        self.diod.addr().to_string()
    }

    pub fn export(&self) -> &Path {
        &self.diod.exports()[0]
    }

    pub fn mnt(&self) -> PathBuf {
        fs::canonicalize(self.dir.path().join("mnt")).unwrap()
    }

    pub fn aname(&self) -> String {
        format!("aname={}", self.export().display())
    }
}

/// Unmounts (and kills what serves) a mount point when dropped.
pub struct Guard(pub PathBuf);

impl Drop for Guard {
    fn drop(&mut self) {
        let daemons = serving(&self.0);
        if is_mounted(&self.0) {
            let _ = run(Command::new("umount").arg(&self.0));
            if !wait_for(Duration::from_secs(5), || !is_mounted(&self.0)) {
                let _ = run(Command::new("umount").arg("-l").arg(&self.0));
            }
        }
        for pid in daemons {
            if !wait_for(Duration::from_secs(5), || !alive(pid)) {
                // SAFETY: kill(2) of a process this test started, by pid.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
    }
}

/// Run to completion, killed after [`BOUND`].
pub fn run(cmd: &mut Command) -> Output {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
    finish(child, BOUND)
}

/// Wait for `child` at most `bound`, then collect its output.
pub fn finish(mut child: Child, bound: Duration) -> Output {
    let deadline = Instant::now() + bound;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!("still running after {bound:?}: {}", text(&out));
        }
        sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

pub fn text(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn ninep_mount(args: &[&str]) -> Output {
    run(Command::new(BIN).args(args))
}

pub fn wait_for(bound: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + bound;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        sleep(Duration::from_millis(20));
    }
}

/// The mountinfo line of the mount at `path`, if any.
pub fn mount_line(path: &Path) -> Option<String> {
    let table = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let want = path.to_str().unwrap();
    table
        .lines()
        .find(|l| l.split(' ').nth(4) == Some(want))
        .map(str::to_owned)
}

pub fn is_mounted(path: &Path) -> bool {
    mount_line(path).is_some()
}

/// Pids of ninep-mount processes whose command line names `mountpoint`.
pub fn serving(mountpoint: &Path) -> Vec<i32> {
    let want = mountpoint.as_os_str().as_encoded_bytes();
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut args = cmd.split(|&b| b == 0);
            args.next().is_some_and(|a0| a0.ends_with(b"ninep-mount")) && args.any(|a| a == want)
        })
        .collect()
}

pub fn alive(pid: i32) -> bool {
    // A zombie has ended; only its parent has not looked yet.
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        !s.rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .starts_with('Z')
    })
}

pub fn signal(child: &Child, sig: i32) {
    // SAFETY: kill(2) of our own child, by pid, not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// What the epoll sets of process `pid` watch level-triggered for input
/// (events 0x19: IN, ERR, HUP), as /proc/PID/fd links: the busy-polling
/// set's sources. tokio's own epoll registers edge-triggered, and does
/// not count.
pub fn level_triggered_watches(pid: u32) -> Vec<String> {
    let proc = format!("/proc/{pid}");
    let link = |fd: &str| fs::read_link(format!("{proc}/fd/{fd}")).ok();
    let mut found = Vec::new();
    for e in fs::read_dir(format!("{proc}/fd")).unwrap().flatten() {
        let fd = e.file_name().into_string().unwrap();
        if link(&fd).is_none_or(|l| l.as_os_str() != "anon_inode:[eventpoll]") {
            continue;
        }
        let info = fs::read_to_string(format!("{proc}/fdinfo/{fd}")).unwrap_or_default();
        for line in info.lines() {
            // tfd: N events: HEX data: ...
            let words: Vec<&str> = line.split_whitespace().collect();
            if let ["tfd:", tfd, "events:", "19", ..] = words[..] {
                found.extend(link(tfd).map(|l| l.display().to_string()));
            }
        }
    }
    found
}

/// Mount in the foreground; returns once the mount is up.
pub fn mount_foreground(s: &Setup, extra: &[&str]) -> (Child, tempfile::NamedTempFile) {
    let log = tempfile::NamedTempFile::new().unwrap();
    let child = Command::new(BIN)
        .args([&s.addr(), s.mnt().to_str().unwrap(), "-o", &s.aname()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log.reopen().unwrap())
        .spawn()
        .unwrap();
    let up = wait_for(BOUND, || is_mounted(&s.mnt()));
    assert!(
        up,
        "not mounted: {}",
        fs::read_to_string(log.path()).unwrap()
    );
    (child, log)
}

pub fn wait_exit(child: &mut Child) -> ExitStatus {
    let mut status = None;
    let ended = wait_for(BOUND, || {
        status = child.try_wait().unwrap();
        status.is_some()
    });
    if !ended {
        let _ = child.kill();
        panic!("the mount process did not end within {BOUND:?}");
    }
    status.unwrap()
}

/// The mount works: a listing, a read, a write seen on the server.
pub fn use_mount(s: &Setup) {
    let mnt = s.mnt();
    let names: Vec<_> = fs::read_dir(&mnt)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(names.contains(&"hello.txt".to_string()), "{names:?}");
    assert_eq!(
        fs::read_to_string(mnt.join("hello.txt")).unwrap(),
        "hello from diod\n"
    );
    fs::write(mnt.join("new.txt"), "written through FUSE").unwrap();
    assert_eq!(
        fs::read_to_string(s.export().join("new.txt")).unwrap(),
        "written through FUSE"
    );
}

/// A symbolic link at `path` to this build while it lives; what was there
/// before (a link) comes back on drop. A real file there is left alone,
/// and the test fails saying so.
pub struct Linked {
    path: &'static str,
    before: Option<PathBuf>,
}

/// Where mount.fuse3 finds the binary for an fstab line of type
/// `fuse.ninep-mount`: mount(8) clears PATH.
pub const INSTALLED: &str = "/usr/local/bin/ninep-mount";

impl Linked {
    pub fn new(path: &'static str) -> Linked {
        let before = match fs::symlink_metadata(path) {
            Err(_) => None,
            Ok(m) if m.file_type().is_symlink() => Some(fs::read_link(path).unwrap()),
            Ok(_) => panic!("{path} is an installed file; not replacing it"),
        };
        let _ = fs::remove_file(path);
        std::os::unix::fs::symlink(BIN, path).unwrap();
        Linked { path, before }
    }
}

impl Drop for Linked {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.path);
        if let Some(old) = &self.before {
            let _ = std::os::unix::fs::symlink(old, self.path);
        }
    }
}

/// Create the test user if missing; its uid and gid.
pub fn test_user() -> (u32, u32) {
    let exists = Command::new("id")
        .arg(TEST_USER)
        .output()
        .unwrap()
        .status
        .success();
    if !exists {
        let out = run(Command::new("useradd").args(["-m", TEST_USER]));
        // Another test run may have created it meanwhile.
        let again = Command::new("id").arg(TEST_USER).output().unwrap();
        assert!(again.status.success(), "useradd: {}", text(&out));
    }
    let id = |flag| {
        let out = Command::new("id").args([flag, TEST_USER]).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
    };
    (id("-u"), id("-g"))
}

/// fusermount3 opens /dev/fuse as the calling user: distributions make it
/// 0666 (udev), a bare container may have it 0600.
pub fn open_dev_fuse_to_users() {
    let mode = fs::metadata("/dev/fuse").expect("/dev/fuse").mode();
    if mode & 0o006 != 0o006 {
        fs::set_permissions("/dev/fuse", fs::Permissions::from_mode(0o666)).unwrap();
    }
}

pub fn as_user(args: &[&str]) -> Output {
    run(Command::new("runuser")
        .args(["-u", TEST_USER, "--"])
        .args(args))
}

/// Run a mount expected to fail; its exit code and stderr.
pub fn failing(args: &[&str]) -> (i32, String) {
    let out = ninep_mount(args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    (out.status.code().expect("an exit code"), err)
}

/// An unmount from outside (`umount`, `fusermount3 -u`), run again while it
/// fails with "busy", for at most [`BOUND`]: a file just closed can keep
/// the mount busy for a moment, as when a child that another test thread
/// forks meanwhile holds a copy of its descriptor until it execs.
pub fn while_busy(mut unmount: impl FnMut() -> Output) -> Output {
    let deadline = Instant::now() + BOUND;
    loop {
        let out = unmount();
        let busy = String::from_utf8_lossy(&out.stderr).contains("busy");
        if out.status.success() || !busy || Instant::now() > deadline {
            return out;
        }
        sleep(Duration::from_millis(50));
    }
}
