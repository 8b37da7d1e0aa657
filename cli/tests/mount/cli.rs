//! The `ninep-mount` binary mounting diod exports for real: in the
//! background and the foreground, from an fstab line through mount.fuse3,
//! as a user who is not root; signals and outside unmounts ending it
//! cleanly; and each error a person can act on, with mount(8)'s exit codes.
//!
//! Every wait is bounded, and every mount is undone by a guard (umount,
//! then `umount -l`) however the test ends. Needs root, /dev/fuse, diod,
//! fuse3 (mount.fuse3, fusermount3) and util-linux.

use std::fs;
use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ninep_tests::servers::temp_dir;

use crate::mount_support::*;

// ------------------------------------------------------------------ tests

#[test]
fn background_mount_is_up_when_the_command_returns() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let out = ninep_mount(&[&s.addr(), s.mnt().to_str().unwrap(), "-o", &s.aname()]);
    assert!(out.status.success(), "{}", text(&out));
    let line = mount_line(&s.mnt()).expect("mounted when the command returns");
    assert!(line.contains(&s.addr()), "source is the address: {line}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("negotiated 9P2000.L, msize "), "{err}");
    use_mount(&s);
    let daemons = serving(&s.mnt());
    assert_eq!(daemons.len(), 1, "one daemon serves the mount");
    // umount from outside: the daemon ends by itself.
    let out = while_busy(|| run(Command::new("umount").arg(s.mnt())));
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        wait_for(BOUND, || !alive(daemons[0])),
        "daemon still running"
    );
    assert!(!is_mounted(&s.mnt()));
}

#[test]
fn background_daemon_unmounts_on_sigterm() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let out = ninep_mount(&[&s.addr(), s.mnt().to_str().unwrap(), "-o", &s.aname()]);
    assert!(out.status.success(), "{}", text(&out));
    let daemons = serving(&s.mnt());
    assert_eq!(daemons.len(), 1);
    // SAFETY: kill(2) of the daemon this test started, by pid.
    assert_eq!(unsafe { libc::kill(daemons[0], libc::SIGTERM) }, 0);
    assert!(
        wait_for(BOUND, || !alive(daemons[0])),
        "daemon still running"
    );
    assert!(!is_mounted(&s.mnt()), "SIGTERM left the mount behind");
}

#[test]
fn foreground_signals_unmount_cleanly() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    for (sig, name) in [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")] {
        let (mut child, log) = mount_foreground(&s, &["-f"]);
        use_mount(&s);
        signal(&child, sig);
        let status = wait_exit(&mut child);
        let log = fs::read_to_string(log.path()).unwrap();
        assert!(status.success(), "{name}: {status}: {log}");
        assert!(!is_mounted(&s.mnt()), "{name}: still mounted");
        assert!(log.contains(&format!("{name}: unmounting")), "{log}");
    }
}

#[test]
fn foreground_ends_when_unmounted_from_outside() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    for how in ["umount", "fusermount3"] {
        let (mut child, log) = mount_foreground(&s, &["-f"]);
        let cmd: &[&str] = if how == "fusermount3" {
            &[how, "-u"]
        } else {
            &[how]
        };
        let out = while_busy(|| run(Command::new(cmd[0]).args(&cmd[1..]).arg(s.mnt())));
        assert!(out.status.success(), "{how}: {}", text(&out));
        let status = wait_exit(&mut child);
        let log = fs::read_to_string(log.path()).unwrap();
        assert!(status.success(), "{how}: {status}: {log}");
        assert!(log.contains("was unmounted"), "{how}: {log}");
    }
}

#[test]
fn debug_traces_9p_messages() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let (mut child, log) = mount_foreground(&s, &["-d"]);
    let _ = fs::read_dir(s.mnt()).unwrap().count();
    signal(&child, libc::SIGINT);
    assert!(wait_exit(&mut child).success());
    let log = fs::read_to_string(log.path()).unwrap();
    // Tversion goes out before the tracing driver starts; its outcome is
    // logged.
    assert!(log.contains("negotiated 9P2000.L, msize"), "{log}");
    for msg in ["\"Tattach\"", "\"Twalk\"", "\"Treaddir\"", "\"Tclunk\""] {
        assert!(log.contains(msg), "{msg} not traced:\n{log}");
    }
}

#[test]
fn sigusr1_logs_the_counters() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let (mut child, log) = mount_foreground(&s, &["-f"]);
    let _ = fs::read_dir(s.mnt()).unwrap().count();
    signal(&child, libc::SIGUSR1);
    let logged = wait_for(Duration::from_secs(5), || {
        fs::read_to_string(log.path()).is_ok_and(|l| l.contains("stats:"))
    });
    signal(&child, libc::SIGINT);
    assert!(
        wait_exit(&mut child).success(),
        "SIGUSR1 must not end the mount"
    );
    let log = fs::read_to_string(log.path()).unwrap();
    assert!(logged, "{log}");
    for field in ["fids_in_use", "inodes", "quarantined", "flushes_sent"] {
        assert!(log.contains(field), "{field} missing:\n{log}");
    }
}

#[test]
fn small_msize_is_logged_with_a_warning() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let mnt = s.mnt();
    let out = ninep_mount(&[
        &s.addr(),
        mnt.to_str().unwrap(),
        "-o",
        &s.aname(),
        "-o",
        "msize=4096",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("negotiated 9P2000.L, msize 4096"), "{err}");
    assert!(err.contains("msize 4096 is 8 KiB or less"), "{err}");
    use_mount(&s);
}

#[test]
fn busy_poll_watches_the_mounts_sources_and_zero_turns_it_off() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    for (opt, on) in [("busy_poll=50", true), ("busy_poll=0", false)] {
        let (mut child, log) = mount_foreground(&s, &["-d", "-o", opt]);
        use_mount(&s);
        let watched = level_triggered_watches(child.id());
        let fuse = watched.iter().any(|t| t == "/dev/fuse");
        let socket = watched.iter().any(|t| t.starts_with("socket:["));
        assert_eq!(
            (fuse, socket),
            (on, on),
            "{opt}: the set watches {watched:?}"
        );
        signal(&child, libc::SIGTERM);
        let status = wait_exit(&mut child);
        let log = fs::read_to_string(log.path()).unwrap();
        assert!(status.success(), "{opt}: {status}: {log}");
        // The quiet way to lose it: the socket or the device not watched.
        assert!(!log.contains("not watched"), "{opt}: {log}");
        assert_eq!(log.contains("busy_poll on"), on, "{opt}: {log}");
    }
}

/// An idle mount's own memory (anonymous pages: heap and stacks, not the
/// binary) stays small. Each connection once held a 12 MiB table with a
/// slot for every one of the 65,535 tags, all of it touched at start.
#[test]
fn an_idle_mount_holds_little_memory() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let (mut child, log) = mount_foreground(&s, &["-f"]);
    use_mount(&s);
    let rollup = fs::read_to_string(format!("/proc/{}/smaps_rollup", child.id())).unwrap();
    let anon_kib: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Anonymous:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("no Anonymous line in {rollup}"));
    signal(&child, libc::SIGTERM);
    let status = wait_exit(&mut child);
    assert!(
        status.success(),
        "{status}: {}",
        fs::read_to_string(log.path()).unwrap()
    );
    assert!(
        anon_kib < 8 << 10,
        "{anon_kib} KiB of anonymous memory when idle"
    );
}

#[test]
fn read_only_option_reaches_the_mount() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let m = s.mnt();
    let out = ninep_mount(&[
        &s.addr(),
        m.to_str().unwrap(),
        "-o",
        &s.aname(),
        "-o",
        "rw,ro",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(mount_line(&m)
        .unwrap()
        .split(' ')
        .nth(5)
        .unwrap()
        .starts_with("ro"));
    assert_eq!(
        fs::read_to_string(m.join("hello.txt")).unwrap(),
        "hello from diod\n"
    );
    let err = fs::write(m.join("nope.txt"), "x").unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EROFS), "{err}");
}

/// The per-mount flags of a mountinfo line (its sixth field).
fn mount_flags(line: &str) -> Vec<String> {
    let field = line.split(' ').nth(5).unwrap_or_else(|| panic!("{line}"));
    field.split(',').map(str::to_owned).collect()
}

/// Root's mount lets other users in by default, and the kernel applies
/// nosuid, nodev, noexec and noatime: a set-uid-root copy of `id` on the
/// export gives a user euid 0 on a default mount and their own euid with
/// `nosuid`; with `noexec` it does not run at all; `noallow_other` shuts
/// other users out.
#[test]
fn kernel_flags_and_other_users_on_roots_mount() {
    let (uid, _) = test_user();
    let s = Setup::new();
    let _g = Guard(s.mnt());
    fs::set_permissions(s.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    let id = s.export().join("id");
    fs::copy("/usr/bin/id", &id).unwrap();
    fs::set_permissions(&id, fs::Permissions::from_mode(0o4755)).unwrap();
    let mnt = s.mnt();
    let m = mnt.to_str().unwrap();
    let run_id = || as_user(&[&format!("{m}/id"), "-u"]);
    let euid = |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let cases: [(&str, &[&str], &[&str]); 4] = [
        ("defaults", &[], &["nosuid", "nodev", "noexec", "noatime"]),
        ("nosuid", &["nosuid"], &["nodev", "noexec"]),
        ("noexec", &["noexec", "nodev", "noatime"], &["nosuid"]),
        ("noallow_other", &["noallow_other"], &["nosuid"]),
    ];
    for (what, want, unwanted) in cases {
        let opts = format!(
            "{},{}",
            s.aname(),
            if what == "defaults" { "rw" } else { what }
        );
        let opts = if what == "noexec" {
            format!("{opts},nodev,noatime")
        } else {
            opts
        };
        let out = ninep_mount(&[&s.addr(), m, "-o", &opts]);
        assert!(out.status.success(), "{what}: {}", text(&out));
        let line = mount_line(&mnt).unwrap();
        let flags = mount_flags(&line);
        for f in want
            .iter()
            .filter(|f| f.starts_with("no") && **f != "noallow_other")
        {
            assert!(
                flags.iter().any(|have| have == f),
                "{what}: {f} missing: {line}"
            );
        }
        for f in unwanted {
            assert!(
                !flags.iter().any(|have| have == f),
                "{what}: {f} set: {line}"
            );
        }
        let out = run_id();
        match what {
            "defaults" => assert_eq!(euid(&out), "0", "{what}: {}", text(&out)),
            "nosuid" => assert_eq!(euid(&out), uid.to_string(), "{what}: {}", text(&out)),
            _ => {
                assert!(!out.status.success(), "{what}: ran: {}", text(&out));
                let err = String::from_utf8_lossy(&out.stderr);
                assert!(err.contains("Permission denied"), "{what}: {err}");
            }
        }
        let daemons = serving(&mnt);
        let out = while_busy(|| run(Command::new("umount").arg(&mnt)));
        assert!(out.status.success(), "{what}: {}", text(&out));
        assert!(wait_for(BOUND, || daemons.iter().all(|&p| !alive(p))));
    }
    // A user cannot ask for what fusermount3 would not give them.
    let bin = s.dir.path().join("ninep-mount");
    fs::copy(BIN, &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let out = as_user(&[bin.to_str().unwrap(), &s.addr(), m, "-o", "suid"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need root"));
}

#[test]
fn fstab_line_mounts_through_mount_fuse3() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    // mount(8) clears PATH, so mount.fuse3's shell finds `ninep-mount` in
    // the default one: install this build as /usr/local/bin/ninep-mount.
    let _installed = Linked::new(INSTALLED);
    let fstab = s.dir.path().join("fstab");
    let line = format!(
        "{} {} fuse.ninep-mount defaults,_netdev,{} 0 0\n",
        s.addr(),
        s.mnt().display(),
        s.aname()
    );
    fs::write(&fstab, &line).unwrap();
    let out = run(Command::new("mount").arg("-T").arg(&fstab).arg(s.mnt()));
    assert!(out.status.success(), "{line}{}", text(&out));
    assert!(is_mounted(&s.mnt()));
    use_mount(&s);
    // `mount -a` sees it mounted and leaves it alone.
    let out = run(Command::new("mount").arg("-T").arg(&fstab).arg("-a"));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(serving(&s.mnt()).len(), 1, "mount -a mounted it again");
    let daemons = serving(&s.mnt());
    let out = while_busy(|| run(Command::new("umount").arg(s.mnt())));
    assert!(out.status.success(), "{}", text(&out));
    assert!(wait_for(BOUND, || daemons.iter().all(|&p| !alive(p))));

    // And `mount -t fuse.ninep-mount` with options on the command line.
    let out = run(Command::new("mount")
        .args(["-t", "fuse.ninep-mount", &s.addr()])
        .arg(s.mnt())
        .args(["-o", &s.aname()]));
    assert!(out.status.success(), "{}", text(&out));
    use_mount(&s);
    let out = while_busy(|| run(Command::new("umount").arg(s.mnt())));
    assert!(out.status.success(), "{}", text(&out));
}

/// mount(8)'s own way: `mount -t ninep HOST:PORT:/EXPORT MNT` and an fstab
/// line of type `ninep` run /sbin/mount.ninep; the mount shows as
/// `fuse.ninep` with the source as written, and `mount -a` leaves it be.
#[test]
fn mount_t_ninep_runs_the_mount_helper() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let _helper = Linked::new("/sbin/mount.ninep");
    let mnt = s.mnt();
    let source = format!("{}:{}", s.addr(), s.export().display());
    let out = run(Command::new("mount")
        .args(["-t", "ninep", &source])
        .arg(&mnt)
        .args(["-o", "nosuid,nodev"]));
    assert!(out.status.success(), "{}", text(&out));
    let line = mount_line(&mnt).expect("mounted");
    let fields: Vec<&str> = line.split(' ').collect();
    let sep = fields.iter().position(|f| *f == "-").unwrap();
    assert_eq!(fields[sep + 1], "fuse.ninep", "{line}");
    assert_eq!(fields[sep + 2], source, "{line}");
    let flags = mount_flags(&line);
    assert!(flags.iter().any(|f| f == "nosuid") && flags.iter().any(|f| f == "nodev"));
    use_mount(&s);
    let out = while_busy(|| run(Command::new("umount").arg(&mnt)));
    assert!(out.status.success(), "{}", text(&out));
    assert!(wait_for(BOUND, || !is_mounted(&mnt)));

    let fstab = s.dir.path().join("fstab");
    let entry = format!(
        "{source} {} ninep nosuid,nodev,_netdev 0 0\n",
        mnt.display()
    );
    fs::write(&fstab, &entry).unwrap();
    let out = run(Command::new("mount").arg("-T").arg(&fstab).arg(&mnt));
    assert!(out.status.success(), "{entry}{}", text(&out));
    use_mount(&s);
    let out = run(Command::new("mount").arg("-T").arg(&fstab).arg("-a"));
    assert!(out.status.success(), "mount -a: {}", text(&out));
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let here = mounts
        .lines()
        .filter(|l| l.split(' ').nth(4) == mnt.to_str())
        .count();
    assert_eq!(here, 1, "mount -a mounted it again:\n{mounts}");
    let out = while_busy(|| run(Command::new("umount").arg(&mnt)));
    assert!(out.status.success(), "{}", text(&out));
}

/// The one install command puts the binary, mount(8)'s helper, the man
/// page and the completions in place, all made from this build.
#[test]
fn install_puts_the_helper_man_page_and_completions_in_place() {
    let dir = temp_dir().unwrap();
    let root = dir.path();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/install.sh");
    let out = run(Command::new("bash")
        .arg(&script)
        .arg("--root")
        .arg(root)
        .args(["--binary", BIN]));
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        fs::read_link(root.join("sbin/mount.ninep")).unwrap(),
        Path::new("/usr/local/bin/ninep-mount")
    );
    let share = root.join("usr/local/share");
    let man = fs::read_to_string(share.join("man/man8/ninep-mount.8")).unwrap();
    for want in [
        ".TH ninep-mount 8",
        "aname=",
        "keepalive=",
        "mount \\-t ninep",
    ] {
        assert!(man.contains(want), "{want} missing from the man page");
    }
    for (file, want) in [
        ("bash-completion/completions/ninep-mount", "complete -F"),
        ("zsh/site-functions/_ninep-mount", "#compdef ninep-mount"),
        (
            "fish/vendor_completions.d/ninep-mount.fish",
            "complete -c ninep-mount",
        ),
    ] {
        let text = fs::read_to_string(share.join(file)).unwrap();
        assert!(text.contains(want), "{file}: {want} missing");
        assert!(text.contains("stats"), "{file}: no subcommands");
    }
}

/// In the foreground, a mount tells systemd (NOTIFY_SOCKET, as for a
/// unit of Type=notify) it is up only once it is mounted.
#[test]
fn the_foreground_mount_tells_systemd_when_it_is_up() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let sock_path = s.dir.path().join("notify");
    let sock = std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(BOUND)).unwrap();
    let mut child = Command::new(BIN)
        .args([&s.addr(), s.mnt().to_str().unwrap(), "-f", "-o", &s.aname()])
        .env("NOTIFY_SOCKET", &sock_path)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).expect("no word from the mount");
    let said = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(is_mounted(&s.mnt()), "READY=1 before the mount was up");
    assert!(said.lines().any(|l| l == "READY=1"), "{said:?}");
    use_mount(&s);
    signal(&child, libc::SIGTERM);
    assert!(wait_exit(&mut child).success());
}

/// `umask=` sets every file's permission bits as libfuse's and sshfs's do.
#[test]
fn umask_sets_every_files_permission_bits() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    fs::set_permissions(
        s.export().join("hello.txt"),
        fs::Permissions::from_mode(0o4666),
    )
    .unwrap();
    let (mut child, _log) = mount_foreground(&s, &["-f", "-o", "umask=027"]);
    let mode = |p: &Path| fs::metadata(p).unwrap().mode() & 0o7777;
    assert_eq!(mode(&s.mnt().join("hello.txt")), 0o750);
    assert_eq!(mode(&s.mnt()), 0o750);
    signal(&child, libc::SIGTERM);
    assert!(wait_exit(&mut child).success());
}

#[test]
fn a_user_who_is_not_root_mounts_uses_and_unmounts() {
    let (uid, gid) = test_user();
    open_dev_fuse_to_users();
    let s = Setup::new();
    let _g = Guard(s.mnt());
    // The user must reach the mount point, own it, and (access=user: the
    // server acts as the user) own the export; the binary must be theirs
    // to run, wherever the build put it.
    fs::set_permissions(s.dir.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for d in [s.mnt(), s.export().to_owned()] {
        std::os::unix::fs::chown(&d, Some(uid), Some(gid)).unwrap();
    }
    let bin = s.dir.path().join("ninep-mount");
    fs::copy(BIN, &bin).unwrap();
    fs::set_permissions(&bin, fs::Permissions::from_mode(0o755)).unwrap();
    let mnt = s.mnt();
    let m = mnt.to_str().unwrap();

    // Not on a directory that is not theirs: said before fusermount3 says it.
    let roots = s.dir.path().join("roots");
    fs::create_dir(&roots).unwrap();
    let r = roots.to_str().unwrap();
    let out = as_user(&[bin.to_str().unwrap(), &s.addr(), r, "-o", &s.aname()]);
    assert_eq!(out.status.code(), Some(32), "{}", text(&out));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is not yours to mount on"), "{err}");

    // As mount(8) runs it for an fstab `user` line: with no PATH at all.
    let out = as_user(&[
        "env",
        "-i",
        bin.to_str().unwrap(),
        &s.addr(),
        m,
        "-o",
        &s.aname(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(is_mounted(&mnt));
    let out = as_user(&["ls", m]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("hello.txt"),
        "{}",
        text(&out)
    );
    let out = as_user(&["cat", &format!("{m}/hello.txt")]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello from diod\n");
    let out = as_user(&["sh", "-c", &format!("echo mine > {m}/mine.txt")]);
    assert!(out.status.success(), "{}", text(&out));
    let made = s.export().join("mine.txt");
    assert_eq!(fs::read_to_string(&made).unwrap(), "mine\n");
    assert_eq!(
        fs::metadata(&made).unwrap().uid(),
        uid,
        "created as the user"
    );

    let daemons = serving(&mnt);
    let out = while_busy(|| as_user(&["fusermount3", "-u", m]));
    assert!(out.status.success(), "{}", text(&out));
    assert!(wait_for(BOUND, || daemons.iter().all(|&p| !alive(p))));
    assert!(!is_mounted(&mnt));
}

/// `cat` and `ls` read inside the export: a path that climbs with `..`
/// is refused before anything is sent (diod would walk above its export).
#[test]
fn cat_and_ls_refuse_to_climb_out_of_the_export() {
    let s = Setup::new();
    let out = ninep_mount(&["cat", &s.addr(), "hello.txt", "-o", &s.aname()]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "hello from diod\n",
        "{}",
        text(&out)
    );
    for (cmd, path) in [
        ("cat", "../export/hello.txt"),
        ("cat", "/../../etc/hostname"),
        ("ls", ".."),
    ] {
        let out = ninep_mount(&[cmd, &s.addr(), path, "-o", &s.aname()]);
        assert!(!out.status.success(), "{cmd} {path}: {}", text(&out));
        assert!(out.stdout.is_empty(), "{cmd} {path}: {}", text(&out));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("`..` is refused"), "{cmd} {path}: {err}");
    }
}

// ----------------------------------------------------------------- errors

#[test]
fn unreachable_server_is_named_with_the_reason() {
    let dir = temp_dir().unwrap();
    // A port that was free a moment ago: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let (code, err) = failing(&[&addr, dir.path().to_str().unwrap()]);
    assert_eq!(code, 32, "{err}");
    assert!(
        err.contains(&format!("server unreachable: cannot connect to {addr}")),
        "{err}"
    );
    assert!(err.contains("Connection refused"), "{err}");
    assert!(!is_mounted(dir.path()));
}

/// A peer on loopback for the mount-time faults: every connection gets
/// `greet` at once (an SSH banner, say), and with `rversion` the answer to
/// its Tversion; after that it says nothing more. Each Tattach it receives
/// is reported on the channel. Its thread lives as long as the test
/// process.
fn fake_peer(greet: &'static [u8], rversion: bool) -> (String, std::sync::mpsc::Receiver<()>) {
    use std::io::Write;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut c) = conn else { return };
            let tx = tx.clone();
            std::thread::spawn(move || {
                let _ = c.write_all(greet);
                loop {
                    let mut head = [0u8; 7];
                    if c.read_exact(&mut head).is_err() {
                        return;
                    }
                    let size = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
                    let mut body = vec![0u8; size.saturating_sub(7)];
                    if c.read_exact(&mut body).is_err() {
                        return;
                    }
                    match head[4] {
                        // Tversion: msize[4] version[s]; answered in kind.
                        100 if rversion => {
                            let mut r = vec![0, 0, 0, 0, 101, 0xff, 0xff];
                            r.extend_from_slice(&body[..4]);
                            r.extend_from_slice(&8u16.to_le_bytes());
                            r.extend_from_slice(b"9P2000.L");
                            let n = r.len() as u32;
                            r[..4].copy_from_slice(&n.to_le_bytes());
                            let _ = c.write_all(&r);
                        }
                        104 => {
                            let _ = tx.send(());
                        }
                        _ => {}
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// A server that answers Tversion and never Tattach: the mount fails
/// with status 32 once `timeout=` has passed, saying what it waited for.
#[test]
fn a_server_that_never_answers_tattach_fails_the_mount_in_time() {
    let (addr, attached) = fake_peer(b"", true);
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let t0 = Instant::now();
    let (code, err) = failing(&[&addr, s.mnt().to_str().unwrap(), "-o", "timeout=1"]);
    let took = t0.elapsed();
    assert_eq!(code, 32, "{err}");
    assert!(attached.try_recv().is_ok(), "no Tattach was sent: {err}");
    assert!(err.contains("did not answer Tattach within 1s"), "{err}");
    assert!(took < Duration::from_secs(5), "{took:?}: {err}");
    assert!(!is_mounted(&s.mnt()));
    assert!(serving(&s.mnt()).is_empty(), "a mount process was left");
}

/// Ctrl-C while a background mount waits for a stuck Tattach stops the
/// whole mount: the command says so and exits 32, and no process stays
/// behind to mount later.
#[test]
fn ctrl_c_during_a_slow_mount_stops_the_whole_mount() {
    let (addr, attached) = fake_peer(b"", true);
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let child = Command::new(BIN)
        .args([&addr, s.mnt().to_str().unwrap()])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    attached
        .recv_timeout(BOUND)
        .expect("the mount never sent its Tattach");
    let daemons = serving(&s.mnt());
    assert_eq!(daemons.len(), 2, "the command and its daemon: {daemons:?}");
    signal(&child, libc::SIGINT);
    let out = finish(child, Duration::from_secs(5));
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(32), "{}", text(&out));
    assert!(err.contains("SIGINT before the mount was up"), "{err}");
    assert!(
        wait_for(Duration::from_secs(5), || daemons
            .iter()
            .all(|&p| !alive(p))),
        "the daemon outlived the command"
    );
    assert!(!is_mounted(&s.mnt()));
}

/// Peers that are no 9P server are named as such within a second, with
/// what they said when it is text.
#[test]
fn a_peer_that_is_not_a_9p_server_is_named_within_a_second() {
    let dir = temp_dir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (greet, want) in [
        (
            &b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n"[..],
            "\"SSH-2.0-OpenSSH_9.2p1 Debian-2\"",
        ),
        (&b""[..], "no answer to Tversion within 1s"),
    ] {
        let (addr, _) = fake_peer(greet, false);
        let t0 = Instant::now();
        let (code, err) = failing(&[&addr, d]);
        let took = t0.elapsed();
        assert_eq!(code, 32, "{err}");
        assert!(err.contains(&format!("{addr} is not a 9P server")), "{err}");
        assert!(err.contains(want), "{err}");
        assert!(took < Duration::from_millis(1800), "{took:?}: {err}");
    }
}

#[test]
fn refused_dialect_is_named() {
    let s = Setup::new();
    let (code, err) = failing(&[
        &s.addr(),
        s.mnt().to_str().unwrap(),
        "-o",
        "version=9p2000.u",
    ]);
    assert_eq!(code, 32, "{err}");
    assert!(err.contains("dialect refused"), "{err}");
    assert!(err.contains("does not speak 9P2000.u"), "{err}");
}

#[test]
fn refused_attach_names_the_aname() {
    let s = Setup::new();
    let (code, err) = failing(&[
        &s.addr(),
        s.mnt().to_str().unwrap(),
        "-o",
        "aname=/not/exported",
    ]);
    assert_eq!(code, 32, "{err}");
    assert!(err.contains("attach refused"), "{err}");
    assert!(err.contains("aname \"/not/exported\""), "{err}");
    assert!(!is_mounted(&s.mnt()));
}

#[test]
fn bad_mount_points_are_refused() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let missing = s.dir.path().join("missing");
    let (code, err) = failing(&[&s.addr(), missing.to_str().unwrap(), "-o", &s.aname()]);
    assert_eq!(code, 32, "{err}");
    assert!(err.contains("does not exist"), "{err}");
    let file = s.export().join("hello.txt");
    let (code, err) = failing(&[&s.addr(), file.to_str().unwrap(), "-o", &s.aname()]);
    assert_eq!(code, 32, "{err}");
    assert!(err.contains("is not a directory"), "{err}");
    // Busy: mounted already.
    let out = ninep_mount(&[&s.addr(), s.mnt().to_str().unwrap(), "-o", &s.aname()]);
    assert!(out.status.success(), "{}", text(&out));
    let (code, err) = failing(&[&s.addr(), s.mnt().to_str().unwrap(), "-o", &s.aname()]);
    assert_eq!(code, 32, "{err}");
    assert!(
        err.contains("is busy") && err.contains("already mounted there"),
        "{err}"
    );
}

#[test]
fn a_dead_mount_is_named_as_such() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let (mut child, _log) = mount_foreground(&s, &["-f"]);
    signal(&child, libc::SIGKILL);
    wait_exit(&mut child);
    let (code, err) = failing(&[&s.addr(), s.mnt().to_str().unwrap(), "-o", &s.aname()]);
    assert_eq!(code, 32, "{err}");
    assert!(
        err.contains("is a FUSE mount whose process is gone"),
        "{err}"
    );
    assert!(err.contains("fusermount3 -u"), "{err}");
}

#[test]
fn usage_errors_exit_1() {
    let dir = temp_dir().unwrap();
    let d = dir.path().to_str().unwrap();
    for (args, want) in [
        (
            vec!["127.0.0.1:1", d, "-o", "frobnicate"],
            "unknown option \"frobnicate\"",
        ),
        (
            vec!["127.0.0.1:1", d, "-o", "cache=mmap"],
            "cache=none or cache=loose",
        ),
        (vec!["127.0.0.1:1"], "MOUNTPOINT"),
        (vec!["host:notaport", d], "bad port"),
        (vec!["127.0.0.1:1", d, "--bogus"], "--bogus"),
        (
            vec!["127.0.0.1:1", d, "-o", "allow_others"],
            "unknown option \"allow_others\" (did you mean \"allow_other\"?)",
        ),
        (
            vec!["127.0.0.1:1", d, "-o", "trans=virtio"],
            "trans=tcp or trans=unix",
        ),
    ] {
        let (code, err) = failing(&args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains(want), "{args:?}: {err}");
    }
    let out = ninep_mount(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for want in [
        "HOST[:PORT][:/ANAME] MOUNTPOINT",
        "aname=",
        "fuse.ninep-mount",
        "fusermount3 -u",
    ] {
        assert!(help.contains(want), "{want} missing from --help");
    }
}

#[test]
fn a_failed_daemon_reports_once_through_the_parent() {
    // The daemon's error reaches the terminal once, through the parent.
    let s = Setup::new();
    let mut child = Command::new(BIN)
        .args([&s.addr(), s.mnt().to_str().unwrap(), "-o", "aname=/nope"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(child.wait().unwrap().code(), Some(32));
    assert_eq!(err.matches("attach refused").count(), 1, "{err}");
}

// ------------------------------------------------------- the server dies

/// How a command ended, and how long after `since` it did.
struct Ended {
    out: std::process::Output,
    after: Duration,
}

/// Wait at most `bound` (from `since`) for `child`: `None` if it is still
/// running then (it is killed: no hung `ls` outlives the test).
fn ended_within(mut child: Child, since: Instant, bound: Duration) -> Option<Ended> {
    let done = wait_for(bound.saturating_sub(since.elapsed()), || {
        child.try_wait().unwrap().is_some()
    });
    let after = since.elapsed();
    if !done {
        let _ = child.kill();
        let _ = child.wait();
        return None;
    }
    let out = child.wait_with_output().unwrap();
    Some(Ended { out, after })
}

fn spawn_quiet(prog: &str, args: &[&Path]) -> Child {
    Command::new(prog)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

const EIO_TEXT: &str = "Input/output error";

/// Ended with an error within 2 s of the server's death: `want` names the
/// errors it may end with.
fn assert_failed_fast(what: &str, e: Option<Ended>, want: &[&str]) {
    let e = e.unwrap_or_else(|| panic!("{what}: still running 2 s after the server died"));
    let err = String::from_utf8_lossy(&e.out.stderr);
    assert!(
        !e.out.status.success(),
        "{what} succeeded: {}",
        text(&e.out)
    );
    assert!(
        want.iter().any(|w| err.contains(w)),
        "{what}: wanted one of {want:?} after {:?}: {}",
        e.after,
        text(&e.out)
    );
}

/// Kill diod under a mount: syscalls waiting for it and syscalls made
/// afterwards fail with EIO within 2 s (none hangs), writes included; the
/// mount stays in place (the directory under it must never take the
/// writes), `stats` says since when it is disconnected, and once
/// unmounted from outside the process ends with status 32 naming the lost
/// connection, with nothing written under the mount point.
///
/// A pending syscall is made deterministic by stopping diod (SIGSTOP)
/// first: `ls` and `stat` of names the mount has never looked up then wait
/// for a reply that never comes, until SIGKILL closes the connection.
#[test]
fn killing_the_server_fails_syscalls_until_unmounted() {
    become_subreaper();
    for foreground in [true, false] {
        let how = if foreground { "-f" } else { "background" };
        let mut s = Setup::new();
        let _g = Guard(s.mnt());
        let mnt = s.mnt();
        for d in ["pending", "held"] {
            fs::create_dir(s.export().join(d)).unwrap();
            fs::write(s.export().join(d).join("f"), "f\n").unwrap();
        }
        let (mut child, log) = if foreground {
            let (c, l) = mount_foreground(&s, &["-f"]);
            (Some(c), Some(l))
        } else {
            let out = ninep_mount(&[&s.addr(), mnt.to_str().unwrap(), "-o", &s.aname()]);
            assert!(out.status.success(), "{}", text(&out));
            (None, None)
        };
        let pids = serving(&mnt);
        assert_eq!(pids.len(), 1, "{how}: one process serves the mount");
        let pid = pids[0];
        // A shell whose cwd is inside the mount, for new syscalls that do
        // not go through the mount point's path.
        let mut held = Command::new("sh")
            .args(["-c", "read _ && ls . && stat -c %s f"])
            .current_dir(mnt.join("held"))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();

        // Pending: diod stopped, the lookups wait for it.
        // SAFETY: kill(2) of the diod this test started, by pid, not reaped.
        assert_eq!(unsafe { libc::kill(s.diod.pid() as i32, libc::SIGSTOP) }, 0);
        let pending_ls = spawn_quiet("ls", &[&mnt.join("pending")]);
        let pending_stat = spawn_quiet("stat", &[&mnt.join("pending/f")]);
        std::thread::sleep(Duration::from_millis(300));
        assert!(
            wait_for(BOUND, || {
                [pending_ls.id(), pending_stat.id()]
                    .iter()
                    .all(|&p| waiting_in_kernel(p as i32))
            }),
            "{how}: ls and stat are not waiting on the stopped server"
        );

        s.diod.kill();
        let killed = Instant::now();
        let pending = [
            (
                "pending ls",
                ended_within(pending_ls, killed, Duration::from_secs(2)),
            ),
            (
                "pending stat",
                ended_within(pending_stat, killed, Duration::from_secs(2)),
            ),
        ];
        for (what, e) in pending {
            assert_failed_fast(&format!("{how}: {what}"), e, &[EIO_TEXT]);
        }
        // New ones: by path, and inside the directory the shell holds.
        let new_ls = spawn_quiet("ls", &[&mnt.join("pending")]);
        let new_stat = spawn_quiet("stat", &[&mnt.join("hello.txt")]);
        use std::io::Write;
        held.stdin.take().unwrap().write_all(b"go\n").unwrap();
        let two = Duration::from_secs(2);
        assert_failed_fast(
            &format!("{how}: new ls"),
            ended_within(new_ls, killed, two),
            &[EIO_TEXT],
        );
        assert_failed_fast(
            &format!("{how}: new stat"),
            ended_within(new_stat, killed, two),
            &[EIO_TEXT],
        );
        assert_failed_fast(
            &format!("{how}: new ls in a held directory"),
            ended_within(held, killed, two),
            &[EIO_TEXT],
        );
        // Later writes, by path, fail too: whatever the moment, never
        // onto the local disk.
        std::thread::sleep(Duration::from_millis(500));
        for name in ["written.txt", "hello.txt"] {
            let path = mnt.join(name);
            let script = format!("echo lost > '{}'", path.display());
            let write = Command::new("sh")
                .args(["-c", &script])
                .stdin(Stdio::null())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let since = Instant::now();
            assert_failed_fast(
                &format!("{how}: write of {name}"),
                ended_within(write, since, two),
                &[EIO_TEXT],
            );
        }
        assert!(is_mounted(&mnt), "{how}: the mount was taken away");
        assert!(alive(pid), "{how}: the mount process ended by itself");
        let out = ninep_mount(&["stats", mnt.to_str().unwrap()]);
        let report = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "{how}: {}", text(&out));
        assert!(
            report.contains("connection      lost since "),
            "{how}: {report}"
        );

        // Unmounted from outside: the process ends, 32, nothing is left.
        let out = while_busy(|| run(Command::new("umount").arg(&mnt)));
        assert!(out.status.success(), "{how}: {}", text(&out));

        let bound = Duration::from_secs(5);
        let status = match child.as_mut() {
            Some(c) => {
                let mut st = None;
                let ended = wait_for(bound, || {
                    st = c.try_wait().unwrap();
                    st.is_some()
                });
                assert!(ended, "{how}: still running {bound:?} after the unmount");
                st.unwrap().code()
            }
            None => reap_within(pid, bound)
                .unwrap_or_else(|| panic!("{how}: still running {bound:?} after the unmount")),
        };
        if let Some(log) = log {
            let log = fs::read_to_string(log.path()).unwrap();
            assert_eq!(status, Some(32), "{how}: {log}");
            assert!(log.contains("lost the connection to the server"), "{log}");
            assert!(
                log.contains("fails with EIO until it is unmounted"),
                "{log}"
            );
        } else {
            assert_eq!(status, Some(32), "{how}");
        }
        assert!(!is_mounted(&mnt), "{how}: still mounted");
        let under: Vec<_> = fs::read_dir(&mnt).unwrap().collect();
        assert!(
            under.is_empty(),
            "{how}: written under the mount point: {under:?}"
        );
    }
}

/// Unmounting after reading thousands of files: the clunks the kernel's
/// forgets set off are answered before the connection closes, so diod
/// (which dies of SIGPIPE when it writes a reply to a closed socket) is
/// still alive and serves the next mount.
#[test]
fn unmount_after_many_files_leaves_diod_alive() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let tree = s.export().join("tree");
    for d in 0..50 {
        let dir = tree.join(format!("d{d}"));
        fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            fs::write(dir.join(format!("f{f}")), format!("{d} {f}\n")).unwrap();
        }
    }
    for round in 0..2 {
        let (mut child, log) = mount_foreground(&s, &["-f", "-o", "cache=loose"]);
        // One line out, whatever the pipe's size.
        let script = format!("grep -r ' ' '{}' | wc -l", s.mnt().join("tree").display());
        let out = run(Command::new("sh").args(["-c", &script]));
        let counted = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(counted, "5000", "round {round}: {}", text(&out));
        let out = while_busy(|| run(Command::new("umount").arg(s.mnt())));
        assert!(out.status.success(), "round {round}: {}", text(&out));
        let status = wait_exit(&mut child);
        let logged = fs::read_to_string(log.path()).unwrap();
        assert!(status.success(), "round {round}: {status}: {logged}");
        let pid = s.diod.pid() as i32;
        std::thread::sleep(Duration::from_millis(200));
        assert!(alive(pid), "round {round}: diod died after the unmount");
    }
}

/// `auto_unmount`: a mount whose process is killed (SIGKILL) is unmounted
/// by its watcher instead of staying behind as a dead mount; a clean
/// unmount leaves the watcher nothing to do, and it ends too.
#[test]
fn auto_unmount_takes_a_killed_mount_away() {
    let s = Setup::new();
    let _g = Guard(s.mnt());
    let watchers = || {
        let out = run(Command::new("pgrep").args(["-f", "unmount-when-gone"]));
        let mnt = s.mnt();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|p| p.trim().parse::<i32>().ok())
            .filter(|pid| {
                let cmd = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                cmd.split(|&b| b == 0)
                    .any(|a| a == mnt.as_os_str().as_encoded_bytes())
            })
            .collect::<Vec<_>>()
    };
    for kill in [true, false] {
        let (mut child, log) = mount_foreground(&s, &["-f", "-o", "auto_unmount"]);
        use_mount(&s);
        let w = watchers();
        assert_eq!(w.len(), 1, "one watcher: {w:?}");
        signal(&child, if kill { libc::SIGKILL } else { libc::SIGTERM });
        let status = wait_exit(&mut child);
        assert!(
            kill || status.success(),
            "{}",
            fs::read_to_string(log.path()).unwrap()
        );
        assert!(
            wait_for(Duration::from_secs(5), || !is_mounted(&s.mnt())),
            "kill={kill}: still mounted"
        );
        assert!(
            wait_for(Duration::from_secs(5), || w.iter().all(|&p| !alive(p))),
            "kill={kill}: the watcher stayed"
        );
        assert!(
            fs::read_dir(s.mnt()).is_ok(),
            "the mount point is usable again"
        );
    }
}

/// The background mount process forks and its parent exits: make this
/// process the one it is reparented to, so that its exit status can be
/// read. Other tests' daemons may end up here too: [`alive`] counts
/// zombies as ended.
fn become_subreaper() {
    // SAFETY: prctl(2) with integer arguments only.
    let r = unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    assert_eq!(r, 0, "{}", std::io::Error::last_os_error());
}

/// Reap `pid` (a child of this process), waiting at most `bound`: its exit
/// code (`None` inside if killed by a signal), or `None` if still running.
fn reap_within(pid: i32, bound: Duration) -> Option<Option<i32>> {
    let mut code = None;
    let ended = wait_for(bound, || {
        let mut status = 0;
        // SAFETY: `status` is ours to write; `pid` is a child of this
        // process (as subreaper), not yet reaped.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        assert!(r >= 0, "waitpid {pid}: {}", std::io::Error::last_os_error());
        if r == pid {
            code = Some(libc::WIFEXITED(status).then(|| libc::WEXITSTATUS(status)));
        }
        r == pid
    });
    ended.then(|| code.unwrap())
}

/// `pid` is asleep in a syscall (state S or D).
fn waiting_in_kernel(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        let state = s.rsplit(')').next().unwrap_or("").trim_start();
        state.starts_with('S') || state.starts_with('D')
    })
}
