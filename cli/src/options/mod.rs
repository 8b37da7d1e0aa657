//! `-o` options, with the names v9fs and FUSE users know.
//!
//! One parser for every command: `info`, `ls`, `cat` and `check` use the 9P
//! part (`aname=`, `uname=`, `n_uname=`, `msize=`, `version=`), a mount uses
//! all of it. Later options win (`ro,rw` is read-write), as with mount(8).
//! mount(8)'s generic flags (`nosuid`, `nodev`, `noexec`, `sync`,
//! `dirsync`, the atime ones and their opposites) go to the kernel. The
//! options mount(8) itself uses (`defaults`, `_netdev`, `nofail`, `x-*`,
//! ...) are accepted and ignored; anything else unknown is an error,
//! never silently dropped.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use ninep_client::{Address, Config, Dialect, FlushPolicy};
use ninep_fuse::{
    AcTimes, Access, AttachParams, CacheMode, KernelFlags, MountConfig, DEFAULT_PREFETCH,
};

mod render;
mod table;
mod values;

pub(crate) use render::help;
use table::Takes;
use values::mode_name;

/// Options of mount(8) (and of fstab) that mount(8) itself has used by the
/// time it runs the helper; they mean nothing to the mount.
const IGNORED: &[&str] = &[
    "defaults", "_netdev", "auto", "noauto", "user", "nouser", "users", "nofail", "async",
];

/// The default flush timeout of the command (see [`Options::flush_timeout`]).
const MOUNT_FLUSH_TIMEOUT: Duration = Duration::from_millis(300);

/// How long the mount's thread looks for its next event before it sleeps
/// (`busy_poll=`): a little more than the gap between a file storm's
/// requests, far less than a server's round trip; 25 and 100 µs did worse
/// than 50 in the 10,000-file storm benchmark.
const DEFAULT_BUSY_POLL: Duration = Duration::from_micros(50);

/// How long a request made while mounting may take (`timeout=`).
const MOUNT_TIMEOUT: Duration = Duration::from_secs(10);

/// How long an idle connection waits before it asks the server whether it
/// is still there (`keepalive=`), and how long the answer may take.
const KEEPALIVE: Duration = Duration::from_secs(30);

/// How long `-o reconnect` keeps dialling a lost server by default.
pub(crate) const RECONNECT_GIVE_UP: Duration = Duration::from_secs(60);

/// `trans=`: how the server is reached (v9fs's names for the two it has
/// that a program can use).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Trans {
    /// TCP: the source is `HOST[:PORT]`.
    Tcp,
    /// A Unix socket: the source is its path.
    Unix,
}

/// What `-o` can set.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// Tree to attach to (diod: an export path).
    pub aname: String,
    /// User name sent in Tattach.
    pub uname: String,
    /// Numeric uid sent in Tattach (9P2000.u/.L `n_uname`).
    pub n_uname: u32,
    /// msize to ask for.
    pub msize: u32,
    /// Dialects to try, in order.
    pub dialects: Vec<Dialect>,
    /// `cache=`.
    pub cache: CacheMode,
    /// `acregmin=`, `acregmax=`, `acdirmin=`, `acdirmax=` (`actimeo=` sets
    /// all four): how long `cache=cto` trusts attributes and names.
    pub ac: AcTimes,
    /// The options given that only some cache modes take, for
    /// [`Options::check`].
    pub mode_only: Vec<&'static str>,
    /// `access=`.
    pub access: Access,
    /// `ro` (and `rw` to undo it).
    pub read_only: bool,
    /// `nosuid`, `nodev`, `noexec`, `sync`, `dirsync`, `noatime`, ...
    pub flags: KernelFlags,
    /// `allow_other` (`noallow_other` to undo it).
    pub allow_other: bool,
    /// `default_permissions`.
    pub default_permissions: bool,
    /// `no_default_permissions`: with `allow_other`, no kernel checks.
    pub server_checks_only: bool,
    /// `uid=`: show every file as owned by this uid.
    pub uid: Option<u32>,
    /// `gid=`: show every file as owned by this gid.
    pub gid: Option<u32>,
    /// `maxfids=N`: hold at most this many fids on the server.
    pub max_fids: Option<u32>,
    /// `umask=OCTAL`: show every file's permission bits as 0777 & !umask.
    pub umask: Option<u16>,
    /// `allow_root`: root too, besides the mounter.
    pub allow_root: bool,
    /// `flushtimeout=SECONDS`: wait this long for an Rflush before the next
    /// Tflush. Shorter than the library's 1 s: a person pressing Ctrl-C
    /// should get the prompt back within a second even from a server that
    /// holds its Rflush (diod does), so 0.3 s x 3 tries.
    pub flush_timeout: Duration,
    /// `flushretries=N`: at most this many Tflush for one request.
    pub flush_retries: u32,
    /// `flushprobe=N`: flush one in N requests without side effects on
    /// purpose, to profile the server's Tflush handling (0: off).
    pub flush_probe: u32,
    /// `watchdog=SECONDS`: log a request that has had no reply for this
    /// long, once (0: off).
    pub watchdog: Option<Duration>,
    /// `reconnect[=SECONDS]`: when the connection is lost, dial again
    /// (with backoff) for up to this long instead of ending the mount.
    /// `noreconnect` (the default): off.
    pub reconnect: Option<Duration>,
    /// `cache_timeout=SECONDS`: how long `cache=loose` trusts attributes,
    /// names and listings (sshfs's name for the same thing).
    pub cache_timeout: Duration,
    /// `prefetch=BYTES`: with `cache=loose`, a small random read fetches
    /// the aligned window of this size around it (one Tread at most) and
    /// puts the rest in the page cache (0: off).
    pub prefetch: u32,
    /// `read_ahead_kb=KB`: with `cache=loose`, the kernel's readahead for
    /// the mount (0: the kernel's default).
    pub read_ahead_kb: u32,
    /// `direct_read_ahead_kb=KB`: with `cache=none`, how far ahead of a
    /// sequential reader each open file reads (0: off).
    pub direct_read_ahead_kb: u32,
    /// `busy_poll=US`: before the mount's thread sleeps, it looks for its
    /// next event for this long (see `mount::runtime`; 0: off).
    pub busy_poll: Duration,
    /// `uring` (the default) / `nouring`: take requests through FUSE over
    /// io_uring when the kernel offers it.
    pub uring: bool,
    /// `timeout=SECONDS`: the bound on connecting and on each request
    /// made while mounting (Tattach, Tgetattr of the root).
    pub timeout: Duration,
    /// `keepalive=SECONDS`: after this long without a reply, ask the
    /// server something and take the connection as lost if the answer
    /// takes as long again; also TCP keepalive (0: off).
    pub keepalive: Option<Duration>,
    /// `trans=tcp|unix` (v9fs): how to read the source.
    pub trans: Option<Trans>,
    /// `port=N` (v9fs): the TCP port, whatever the source says.
    pub port: Option<u16>,
    /// `auto_unmount`: a watcher unmounts if the process dies.
    pub auto_unmount: bool,
    /// `logfile=PATH`: every log line, with its time, appended there too.
    pub logfile: Option<std::path::PathBuf>,
    /// `debug`: foreground, 9P messages traced (as `-d`).
    pub debug: bool,
}

impl Default for Options {
    fn default() -> Self {
        let cfg = Config::default();
        Options {
            aname: String::new(),
            uname: "root".into(),
            n_uname: 0,
            msize: cfg.msize,
            dialects: cfg.dialects,
            cache: CacheMode::default(),
            ac: AcTimes::default(),
            mode_only: Vec::new(),
            access: Access::default(),
            read_only: false,
            flags: KernelFlags::default(),
            allow_other: false,
            default_permissions: false,
            server_checks_only: false,
            uid: None,
            gid: None,
            max_fids: None,
            umask: None,
            allow_root: false,
            flush_timeout: MOUNT_FLUSH_TIMEOUT,
            flush_retries: cfg.flush.max_flushes,
            flush_probe: 0,
            watchdog: cfg.watchdog,
            reconnect: None,
            cache_timeout: MountConfig::default().ttl,
            prefetch: DEFAULT_PREFETCH,
            read_ahead_kb: MountConfig::default().read_ahead_kb,
            direct_read_ahead_kb: 0,
            busy_poll: DEFAULT_BUSY_POLL,
            uring: MountConfig::default().uring,
            timeout: MOUNT_TIMEOUT,
            keepalive: Some(KEEPALIVE),
            logfile: None,
            auto_unmount: false,
            trans: None,
            port: None,
            debug: false,
        }
    }
}

impl Options {
    /// The defaults for a caller: attach as that user (`uname` and `n_uname`
    /// are the caller's name and uid), so that a user who is not root is
    /// never root on the server unless asked with `-o uname=,n_uname=`.
    /// Root's mount lets every user in (`allow_other`, with the kernel
    /// checking the mode bits), as v9fs, NFS and bindfs mounts do; a
    /// user's mount is theirs alone and always `nosuid,nodev`, as
    /// fusermount3 makes it.
    pub fn for_user(name: String, uid: u32) -> Self {
        let root = uid == 0;
        Options {
            uname: name,
            n_uname: uid,
            allow_other: root,
            flags: KernelFlags {
                nosuid: !root,
                nodev: !root,
                ..KernelFlags::default()
            },
            ..Options::default()
        }
    }

    /// Apply one `-o` argument (comma-separated `key[=value]` items).
    pub fn apply(&mut self, arg: &str) -> Result<()> {
        for item in arg.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = match item.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (item, None),
            };
            self.apply_one(key, value)
                .with_context(|| format!("-o {item}"))?;
        }
        Ok(())
    }

    fn apply_one(&mut self, key: &str, value: Option<&str>) -> Result<()> {
        // mount(8) passes x-* (and comment=) options for other programs.
        if key.starts_with("x-") || key == "comment" || (value.is_none() && IGNORED.contains(&key))
        {
            return Ok(());
        }
        let Some((opt, known, takes)) = table::find(key) else {
            bail!("unknown option {key:?}{}", nearest(key));
        };
        match (takes, value) {
            (Takes::Value, None) => bail!("unknown option {key:?} (it needs a value: KEY=VALUE)"),
            (Takes::Flag, Some(_)) => bail!("option {key:?} takes no value"),
            _ => {}
        }
        if !opt.modes.is_empty() && value.is_some() && !self.mode_only.contains(&key) {
            self.mode_only.push(known);
        }
        (opt.set)(self, key, value)
    }

    /// Check what one option cannot tell alone: every option given is
    /// one the cache mode uses (one accepted and ignored would be a lie).
    pub fn check(&self) -> Result<()> {
        for key in &self.mode_only {
            let (opt, _, _) = table::find(key).expect("a known option");
            if !opt.modes.contains(&self.cache) {
                let names: Vec<String> = opt
                    .modes
                    .iter()
                    .map(|m| format!("cache={}", mode_name(*m)))
                    .collect();
                bail!(
                    "-o {key}= applies only with {}, not cache={}",
                    names.join(" or "),
                    mode_name(self.cache)
                );
            }
        }
        if self.ac.reg_min > self.ac.reg_max || self.ac.dir_min > self.ac.dir_max {
            bail!("acregmin must not exceed acregmax, nor acdirmin acdirmax");
        }
        Ok(())
    }

    /// The server's address from the command line's `source` with
    /// `trans=` and `port=`, and the aname the source names after the
    /// address, if any: `host:564:/export`, as NFS's `host:/export`.
    pub fn address(&self, source: &str) -> Result<(Address, Option<String>)> {
        if self.trans == Some(Trans::Unix) {
            if self.port.is_some() {
                bail!("port= is for trans=tcp, not a Unix socket");
            }
            let path = source.strip_prefix("unix:").unwrap_or(source);
            if path.is_empty() {
                bail!("trans=unix needs a socket path as the source");
            }
            return Ok((Address::Unix(path.into()), None));
        }
        let (addr, aname) = match source.find(":/") {
            Some(i) if !source.starts_with("unix:") => (&source[..i], Some(&source[i + 1..])),
            _ => (source, None),
        };
        let mut addr: Address = addr.parse().map_err(|e: String| anyhow::anyhow!(e))?;
        match (&mut addr, self.port) {
            (Address::Tcp { port, .. }, Some(p)) => *port = p,
            (Address::Unix(_), Some(_)) => bail!("port= is for TCP, not a Unix socket"),
            (Address::Unix(_), None) if self.trans == Some(Trans::Tcp) => {
                bail!("trans=tcp with a unix: source")
            }
            _ => {}
        }
        Ok((addr, aname.map(str::to_owned)))
    }

    /// The client configuration these options ask for.
    pub fn config(&self) -> Config {
        Config {
            msize: self.msize,
            dialects: self.dialects.clone(),
            flush: FlushPolicy {
                timeout: self.flush_timeout,
                max_flushes: self.flush_retries,
            },
            flush_probe: self.flush_probe,
            watchdog: self.watchdog,
            connect_timeout: self.timeout,
            keepalive: self.keepalive,
            ..Config::default()
        }
    }

    /// The mount configuration: `fsname` is what /proc/mounts shows as the
    /// source, `unprivileged` mounts through fusermount3.
    pub fn mount_config(&self, fsname: &str, unprivileged: bool) -> MountConfig {
        MountConfig {
            attach: AttachParams {
                aname: self.aname.clone(),
                uname: self.uname.clone(),
                n_uname: self.n_uname,
            },
            cache: self.cache,
            ac: self.ac,
            access: self.access,
            allow_other: self.allow_other,
            default_permissions: self.default_permissions,
            server_checks_only: self.server_checks_only,
            read_only: self.read_only,
            flags: self.flags,
            uid: self.uid,
            gid: self.gid,
            max_fids: self.max_fids,
            umask: self.umask,
            allow_root: self.allow_root,
            fsname: fsname.into(),
            unprivileged,
            watchdog: self.watchdog,
            ttl: self.cache_timeout,
            prefetch: self.prefetch,
            read_ahead_kb: self.read_ahead_kb,
            direct_read_ahead_kb: self.direct_read_ahead_kb,
            timeout: self.timeout,
            keepalive: self.keepalive,
            uring: self.uring,
            busy_poll: self.busy_poll,
            ..MountConfig::default()
        }
    }
}

/// What an unknown option was probably meant to be: the known option
/// nearest to it, if one is near enough.
fn nearest(key: &str) -> String {
    let best = table::names()
        .chain(IGNORED.iter().copied())
        .map(|k| (strsim::damerau_levenshtein(key, k), k))
        .min();
    match best {
        Some((d, k)) if d <= 2.max(key.len() / 4) && d < key.len() => {
            format!(" (did you mean {k:?}?)")
        }
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ninep_fuse::Atime;

    fn parsed(arg: &str) -> Options {
        let mut o = Options::default();
        o.apply(arg).unwrap_or_else(|e| panic!("{arg}: {e:#}"));
        o
    }

    fn error(arg: &str) -> String {
        let mut o = Options::default();
        format!("{:#}", o.apply(arg).expect_err(arg))
    }

    #[test]
    fn parses_v9fs_style_options() {
        let o = parsed("aname=/srv,uname=alice,n_uname=1000,msize=65560,version=9p2000.u");
        assert_eq!(o.aname, "/srv");
        assert_eq!(o.uname, "alice");
        assert_eq!(o.n_uname, 1000);
        assert_eq!(o.config().msize, 65560);
        assert_eq!(o.config().dialects, vec![Dialect::U]);
        assert_eq!(parsed("version=9P2000.L").dialects, vec![Dialect::L]);
        assert_eq!(parsed("version=9p2000").dialects, vec![Dialect::Classic]);
    }

    #[test]
    fn parses_mount_options() {
        let o = parsed("cache=loose,access=client,ro,allow_other,default_permissions");
        assert_eq!(o.cache, CacheMode::Loose);
        assert_eq!(o.access, Access::Client);
        assert!(o.read_only && o.allow_other && o.default_permissions);
        let o = parsed("uid=1000,gid=100,debug");
        assert_eq!((o.uid, o.gid, o.debug), (Some(1000), Some(100), true));
        let d = Options::default();
        assert_eq!((d.cache, d.access), (CacheMode::Cto, Access::User));
        assert!(!d.read_only && !d.allow_other && !d.debug);
    }

    #[test]
    fn attribute_times_as_nfs_names_them() {
        let secs = Duration::from_secs;
        let ac = |o: &str| parsed(o).mount_config("x", false).ac;
        let d = ac("cache=cto");
        assert_eq!(
            (d.reg_min, d.reg_max, d.dir_min, d.dir_max),
            (secs(1), secs(30), secs(1), secs(30))
        );
        let a = ac("acregmin=3,acregmax=60,acdirmin=5,acdirmax=90");
        assert_eq!(
            (a.reg_min, a.reg_max, a.dir_min, a.dir_max),
            (secs(3), secs(60), secs(5), secs(90))
        );
        let t = ac("actimeo=0");
        assert_eq!(
            (t.reg_min, t.reg_max, t.dir_min, t.dir_max),
            (secs(0), secs(0), secs(0), secs(0))
        );
        assert!(error("acregmin=1.5").contains("whole number of seconds"));
        assert!(error("acdirmax=4000").contains("out of range"));
        let checked = |o: &str| {
            let o = parsed(o);
            o.check().map_err(|e| format!("{e:#}"))
        };
        assert!(checked("acregmin=2").is_ok(), "cto is the default");
        assert!(checked("acregmin=40")
            .unwrap_err()
            .contains("must not exceed"));
        let e = checked("cache=loose,actimeo=3").unwrap_err();
        assert!(
            e.contains("actimeo= applies only with cache=cto, not cache=loose"),
            "{e}"
        );
        let e = checked("cache_timeout=5").unwrap_err();
        assert!(e.contains("only with cache=loose, not cache=cto"), "{e}");
        let e = checked("cache=none,prefetch=0").unwrap_err();
        assert!(e.contains("only with cache=cto or cache=loose"), "{e}");
        assert!(checked("cache=loose,cache_timeout=5,prefetch=0").is_ok());
    }

    #[test]
    fn flush_policy_from_options() {
        let d = Options::default().config().flush;
        assert_eq!((d.timeout, d.max_flushes), (Duration::from_millis(300), 3));
        let f = parsed("flushtimeout=0.25,flushretries=5").config().flush;
        assert_eq!((f.timeout, f.max_flushes), (Duration::from_millis(250), 5));
        for bad in ["flushtimeout=0", "flushtimeout=-1", "flushtimeout=nan"] {
            assert!(error(bad).contains("flushtimeout"), "{bad}");
        }
        assert!(error("flushretries=0").contains("from 1 to 100"));
        assert_eq!(Options::default().config().flush_probe, 0, "off by default");
        assert_eq!(parsed("flushprobe=10").config().flush_probe, 10);
        let secs = Duration::from_secs;
        assert_eq!(Options::default().config().watchdog, Some(secs(30)));
        let ttl = |o: &str| parsed(o).mount_config("x", false).ttl;
        assert_eq!(ttl("cache=loose"), secs(20));
        assert_eq!(ttl("cache_timeout=2.5"), Duration::from_millis(2500));
        assert!(error("cache_timeout=0").contains("out of range"));
        assert_eq!(parsed("watchdog=5").config().watchdog, Some(secs(5)));
        assert_eq!(parsed("watchdog=0").config().watchdog, None);
        assert!(error("watchdog=soon").contains("not a number"));
        assert!(error("flushprobe").contains("needs a value"));
        assert!(error("flushprobe=-1").contains("not a number"));
    }

    #[test]
    fn direct_read_ahead_is_off_by_default_and_only_for_cache_none() {
        let cfg = |o: &Options| o.mount_config("x", false).direct_read_ahead_kb;
        assert_eq!(cfg(&Options::default()), 0);
        assert_eq!(cfg(&parsed("cache=none,direct_read_ahead_kb=4096")), 4096);
        assert!(error("cache=none,direct_read_ahead_kb=16385").contains("out of range"));
        let checked = |o: &str| parsed(o).check().map_err(|e| format!("{e:#}"));
        let e = checked("cache=loose,direct_read_ahead_kb=1024").unwrap_err();
        assert!(e.contains("only with cache=none, not cache=loose"), "{e}");
        assert!(checked("cache=none,direct_read_ahead_kb=1024").is_ok());
    }

    #[test]
    fn prefetch_is_a_size_on_by_default_and_zero_turns_it_off() {
        let cfg = |o: &Options| o.mount_config("x", false).prefetch;
        assert_eq!(cfg(&Options::default()), 64 * 1024);
        assert_eq!(cfg(&parsed("prefetch=0")), 0);
        assert_eq!(cfg(&parsed("prefetch=131072")), 131072);
        assert!(error("prefetch=2000000").contains("out of range"));
        assert!(error("prefetch").contains("needs a value"));
        let ra = |o: &str| parsed(o).mount_config("x", false).read_ahead_kb;
        assert_eq!((ra("cache=loose"), ra("read_ahead_kb=0")), (4096, 0));
        assert!(error("read_ahead_kb=2000000").contains("out of range"));
        let bp = |o: &str| parsed(o).busy_poll;
        assert_eq!(bp(""), Duration::from_micros(50));
        assert_eq!(bp("busy_poll=0"), Duration::ZERO);
        assert_eq!(bp("busy_poll=120"), Duration::from_micros(120));
        assert!(error("busy_poll=10001").contains("out of range"));
        assert!(error("busy_poll").contains("needs a value"));
    }

    #[test]
    fn later_options_win() {
        assert!(!parsed("ro,rw").read_only);
        assert!(parsed("rw,ro").read_only);
        let mut o = Options::default();
        o.apply("aname=/a").unwrap();
        o.apply("aname=/b,cache=loose").unwrap();
        assert_eq!((o.aname.as_str(), o.cache), ("/b", CacheMode::Loose));
    }

    #[test]
    fn ignores_what_mount_uses_itself() {
        let all = "defaults,_netdev,rw,auto,noauto,user,nouser,users,nofail,async,\
                   x-systemd.automount,x-gvfs-hide,comment=x";
        assert_eq!(parsed(all), Options::default());
        // Empty items (a trailing comma) are nothing.
        assert_eq!(parsed("rw,,"), Options::default());
    }

    #[test]
    fn kernel_flags_reach_the_mount() {
        let f = |o: &str| parsed(o).mount_config("x", false).flags;
        assert_eq!(f(""), KernelFlags::default());
        let all = f("nosuid,nodev,noexec,sync,dirsync,noatime");
        assert!(all.nosuid && all.nodev && all.noexec && all.sync && all.dirsync);
        assert_eq!(all.atime, Atime::Never);
        assert_eq!(
            f("nosuid,suid,noexec,exec,nodev,dev"),
            KernelFlags::default()
        );
        assert_eq!(f("noatime,relatime").atime, Atime::Relative);
        assert_eq!(
            all.fusermount_options(true),
            ["nosuid", "nodev", "noexec", "sync", "dirsync", "noatime"]
        );
        let root = KernelFlags::default().fusermount_options(true);
        assert_eq!(root, ["suid", "dev", "exec"]);
        let user = Options::for_user("u".into(), 1000).flags;
        assert_eq!(user.fusermount_options(false), ["nosuid", "nodev", "exec"]);
    }

    #[test]
    fn roots_mount_lets_other_users_in_unless_told_not_to() {
        let root = Options::for_user("root".into(), 0);
        assert!(root.allow_other && !root.flags.nosuid && !root.flags.nodev);
        let mut o = root.clone();
        o.apply("noallow_other").unwrap();
        assert!(!o.allow_other);
        let user = Options::for_user("alice".into(), 1000);
        assert!(!user.allow_other && user.flags.nosuid && user.flags.nodev);
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        assert!(error("msize=big").contains("not a number"));
        assert!(error("msize=100").contains("at least 256"));
        assert!(error("version=9p1").contains("expected 9p2000.L"));
        assert!(error("cache=mmap").contains("cache=cto, cache=none or cache=loose"));
        assert!(error("access=any").contains("access=user or access=client"));
        assert!(error("uid=-1").contains("-o uid=-1"));
        assert!(error("aname").contains("needs a value"));
        assert!(error("ro=1").contains("option \"ro\" takes no value"));
        assert!(error("nonsense").contains("unknown option \"nonsense\""));
        assert!(!error("nonsense").contains("did you mean"));
        assert!(error("allow_others").contains("did you mean \"allow_other\"?"));
        assert!(error("cache_timout=3").contains("did you mean \"cache_timeout\"?"));
        assert!(error("nosiud").contains("did you mean \"nosuid\"?"));
        assert!(error("msise=8192").contains("did you mean \"msize\"?"));
    }

    #[test]
    fn mount_config_carries_everything() {
        let o = parsed("aname=/e,uname=bob,n_uname=7,cache=loose,access=client,ro,uid=5,gid=6");
        let m = o.mount_config("host:564", true);
        assert_eq!(m.attach.aname, "/e");
        assert_eq!((m.attach.uname.as_str(), m.attach.n_uname), ("bob", 7));
        assert_eq!((m.cache, m.access), (CacheMode::Loose, Access::Client));
        assert!(m.read_only && m.unprivileged && !m.allow_other);
        assert_eq!((m.uid, m.gid), (Some(5), Some(6)));
        assert_eq!(m.fsname, "host:564");
    }

    #[test]
    fn timeout_bounds_connecting_and_the_mounts_requests() {
        let d = Options::default();
        assert_eq!(d.config().connect_timeout, Duration::from_secs(10));
        assert_eq!(d.mount_config("x", false).timeout, Duration::from_secs(10));
        let o = parsed("timeout=2.5");
        assert_eq!(o.config().connect_timeout, Duration::from_millis(2500));
        assert_eq!(
            o.mount_config("x", false).timeout,
            Duration::from_millis(2500)
        );
        assert!(error("timeout=0").contains("out of range"));
        assert!(error("timeout").contains("needs a value"));
        let ka = |o: &str| {
            let o = parsed(o);
            assert_eq!(o.config().keepalive, o.mount_config("x", false).keepalive);
            o.config().keepalive
        };
        assert_eq!(ka(""), Some(Duration::from_secs(30)));
        assert_eq!(ka("keepalive=5"), Some(Duration::from_secs(5)));
        assert_eq!(ka("keepalive=0"), None);
        assert!(error("keepalive=-2").contains("keepalive"));
    }

    #[test]
    fn uring_and_busy_poll_reach_the_mount() {
        let m = |o: &str| parsed(o).mount_config("x", false);
        assert!(!m("").uring, "off unless asked for");
        assert!(!m("nouring").uring);
        assert!(m("uring").uring);
        assert!(!m("uring,nouring").uring, "the last one wins");
        assert_eq!(m("").busy_poll, DEFAULT_BUSY_POLL);
        assert_eq!(m("busy_poll=120").busy_poll, Duration::from_micros(120));
        assert_eq!(m("busy_poll=0").busy_poll, Duration::ZERO);
    }

    #[test]
    fn the_source_with_trans_and_port() {
        let addr = |o: &str, src: &str| parsed(o).address(src).map_err(|e| format!("{e:#}"));
        let tcp = |h: &str, p: u16| Address::Tcp {
            host: h.into(),
            port: p,
        };
        assert_eq!(addr("", "h").unwrap(), (tcp("h", 564), None));
        assert_eq!(addr("port=5640", "h").unwrap(), (tcp("h", 5640), None));
        assert_eq!(addr("port=7", "h:1").unwrap(), (tcp("h", 7), None));
        assert_eq!(
            addr("", "h:1:/srv/x").unwrap(),
            (tcp("h", 1), Some("/srv/x".into()))
        );
        assert_eq!(
            addr("", "h:/srv").unwrap(),
            (tcp("h", 564), Some("/srv".into()))
        );
        assert_eq!(
            addr("", "[::1]:9:/e").unwrap(),
            (tcp("::1", 9), Some("/e".into()))
        );
        let unix = Address::Unix("/run/9p.sock".into());
        assert_eq!(
            addr("trans=unix", "/run/9p.sock").unwrap(),
            (unix.clone(), None)
        );
        assert_eq!(addr("", "unix:/run/9p.sock").unwrap(), (unix, None));
        assert!(addr("trans=unix,port=1", "/s")
            .unwrap_err()
            .contains("port="));
        assert!(addr("port=1", "unix:/s").unwrap_err().contains("port="));
        assert!(addr("trans=tcp", "unix:/s")
            .unwrap_err()
            .contains("trans=tcp"));
        assert!(error("trans=virtio").contains("trans=tcp or trans=unix"));
        assert!(error("port=0").contains("not a port number"));
        assert!(error("port=70000").contains("not a port number"));
    }

    /// Each option in the table parses as the table spells it, and
    /// `--help` names it.
    #[test]
    fn every_option_in_the_table_parses_as_spelled() {
        let help = help();
        for opt in table::OPTIONS {
            for (k, takes) in opt.keys() {
                let mut o = Options::for_user("root".into(), 0);
                match takes {
                    Takes::Flag => o.apply(k).unwrap_or_else(|e| panic!("{k}: {e:#}")),
                    Takes::Value => assert!(error(k).contains("needs a value"), "{k}"),
                    Takes::Either => o.apply(k).unwrap_or_else(|e| panic!("{k}: {e:#}")),
                }
                if takes == Takes::Flag {
                    assert!(error(&format!("{k}=1")).contains("takes no value"), "{k}");
                }
                assert!(
                    help.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                        .any(|w| w == k),
                    "{k} missing from --help"
                );
            }
        }
        let names: Vec<_> = table::names().collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(names.len(), unique.len(), "an option in two rows");
    }

    /// The defaults the table writes in `--help` and the docs are the
    /// code's: setting them changes nothing.
    #[test]
    fn the_tables_defaults_are_the_codes() {
        let mut checked = 0;
        for opt in table::OPTIONS {
            let table::DefaultValue::Is(values, _) = opt.default else {
                continue;
            };
            let keys: Vec<_> = opt.keys().collect();
            let mut valued = keys.iter().filter(|(_, t)| *t != Takes::Flag);
            let mut o = Options::default();
            for v in values {
                let arg = match keys.iter().any(|(k, _)| k == v) {
                    true => v.to_string(),
                    false => format!("{}={v}", valued.next().expect("a key per value").0),
                };
                o.apply(&arg).unwrap_or_else(|e| panic!("{arg}: {e:#}"));
                checked += 1;
            }
            o.mode_only.clear();
            assert_eq!(o, Options::default(), "{}: default {values:?}", opt.spell);
        }
        assert!(checked > 15, "{checked}");
    }

    #[test]
    fn maxfids_caps_the_mounts_fids() {
        let m = |o: &str| parsed(o).mount_config("x", true).max_fids;
        assert_eq!(m(""), None);
        assert_eq!(m("maxfids=1000"), Some(1000));
        assert!(error("maxfids=3").contains("out of range"));
        assert!(error("maxfids").contains("needs a value"));
    }

    #[test]
    fn umask_and_allow_root() {
        let m = |o: &str| parsed(o).mount_config("x", true);
        assert_eq!(m("").umask, None);
        assert_eq!(m("umask=022").umask, Some(0o022));
        assert_eq!(m("umask=0").umask, Some(0));
        assert!(error("umask=8").contains("octal"));
        assert!(error("umask=1000").contains("octal"));
        assert!(!m("").allow_root && m("allow_root").allow_root);
    }

    #[test]
    fn reconnect_is_off_unless_asked() {
        assert_eq!(Options::default().reconnect, None);
        assert_eq!(parsed("reconnect").reconnect, Some(RECONNECT_GIVE_UP));
        assert_eq!(
            parsed("reconnect=5").reconnect,
            Some(Duration::from_secs(5))
        );
        assert_eq!(parsed("reconnect,noreconnect").reconnect, None);
        assert!(error("reconnect=never").contains("not a number of seconds"));
    }

    #[test]
    fn a_user_attaches_as_themselves_by_default() {
        let o = Options::for_user("alice".into(), 1000);
        assert_eq!((o.uname.as_str(), o.n_uname), ("alice", 1000));
        let m = o.mount_config("h", true).attach;
        assert_eq!((m.uname.as_str(), m.n_uname), ("alice", 1000));
    }
}
