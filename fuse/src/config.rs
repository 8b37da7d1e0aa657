//! What a mount is asked to be: the options of `-o`, already parsed.

use std::time::Duration;

use ninep_client::{Address, Config, Poller};

/// How the kernel may cache what the server says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CacheMode {
    /// `cache=none`: direct I/O, attributes and entries not cached. Every
    /// read and stat reaches the server: always current, and every read
    /// can be interrupted.
    None,
    /// `cache=cto`: close-to-open consistency, as NFS gives it. Page
    /// cache; attributes and names trusted for a time that grows with the
    /// file's age ([`AcTimes`]); every open asks the server for the file's
    /// attributes and keeps its cached pages only if it has not changed.
    #[default]
    Cto,
    /// `cache=loose`: page cache, attribute and entry TTLs, lru caches of
    /// attributes and directory listings. Fast; changes made on the
    /// server by others show up only when the TTLs run out.
    Loose,
}

impl CacheMode {
    /// Whether files are read through the kernel's page cache.
    pub fn page_cache(self) -> bool {
        self != CacheMode::None
    }
}

/// How long `cache=cto` trusts attributes and names (NFS's `acregmin=`,
/// `acregmax=`, `acdirmin=`, `acdirmax=`): a tenth of the time since the
/// file last changed (its mtime), at least the minimum and at most the
/// maximum, for regular files and for directories apart. A file written a
/// second ago is asked about again after the minimum; a source file
/// untouched for days, after the maximum.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AcTimes {
    /// Regular files (and everything but directories): least.
    pub reg_min: Duration,
    /// Regular files: most.
    pub reg_max: Duration,
    /// Directories (their names, too): least.
    pub dir_min: Duration,
    /// Directories: most.
    pub dir_max: Duration,
}

impl Default for AcTimes {
    fn default() -> Self {
        AcTimes {
            reg_min: Duration::from_secs(1),
            reg_max: Duration::from_secs(30),
            dir_min: Duration::from_secs(1),
            dir_max: Duration::from_secs(30),
        }
    }
}

impl AcTimes {
    /// How long to trust something of kind `fmt` (`S_IFMT` bits) last
    /// changed at `mtime` (seconds since the epoch), seen at `now`.
    pub fn lifetime(&self, fmt: u32, mtime: u64, now: u64) -> Duration {
        let (min, max) = match fmt == libc::S_IFDIR {
            true => (self.dir_min, self.dir_max),
            false => (self.reg_min, self.reg_max),
        };
        let tenth = Duration::from_secs(now.saturating_sub(mtime) / 10);
        tenth.clamp(min, max.max(min))
    }
}

/// Who the server sees as the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Access {
    /// `access=user` (as v9fs): each calling uid gets its own attach with
    /// `n_uname` = uid, so the server creates files with the right owner
    /// and applies its own permission checks.
    #[default]
    User,
    /// `access=client`: one attach as `uname`; the kernel checks
    /// permissions (`default_permissions`), and owner and group are set on
    /// create to the caller's.
    Client,
}

/// When the kernel updates access times (mount(8)'s atime options).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Atime {
    /// `relatime` (the kernel's default, and `atime`'s meaning today).
    #[default]
    Relative,
    /// `noatime`.
    Never,
}

/// mount(8)'s generic flags, which the kernel enforces on the mount:
/// `nosuid`, `nodev`, `noexec`, `sync`, `dirsync` and the atime ones.
/// The defaults are the kernel's for a mount made by root (set-uid bits
/// and devices honoured, files executable); a user's mount always gets
/// `nosuid,nodev` from fusermount3.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct KernelFlags {
    /// Ignore set-uid and set-gid bits (`nosuid`).
    pub nosuid: bool,
    /// Do not open device files (`nodev`).
    pub nodev: bool,
    /// Do not execute files (`noexec`).
    pub noexec: bool,
    /// Writes are synchronous (`sync`).
    pub sync: bool,
    /// Directory changes are synchronous (`dirsync`).
    pub dirsync: bool,
    /// Access time updates.
    pub atime: Atime,
}

impl KernelFlags {
    /// The flags as fusermount3 options. Each of suid and dev is spelled
    /// out for root, because fusermount3 would otherwise add `nosuid,nodev`
    /// as it does for every user; for a user those two stay fusermount3's
    /// (it ignores `suid` and `dev` from users).
    pub fn fusermount_options(&self, root: bool) -> Vec<&'static str> {
        let mut o = Vec::new();
        let pick = |no: bool, yes: &'static str, not: &'static str| if no { not } else { yes };
        if root || self.nosuid {
            o.push(pick(self.nosuid, "suid", "nosuid"));
        }
        if root || self.nodev {
            o.push(pick(self.nodev, "dev", "nodev"));
        }
        o.push(pick(self.noexec, "exec", "noexec"));
        if self.sync {
            o.push("sync");
        }
        if self.dirsync {
            o.push("dirsync");
        }
        // fusermount3 knows no `relatime`: it is what the kernel does
        // unless told `noatime`.
        if self.atime == Atime::Never {
            o.push("noatime");
        }
        o
    }
}

/// The attach parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttachParams {
    /// Tree to attach (diod: an export path).
    pub aname: String,
    /// User name for `access=client` (and for the mount's own attach).
    pub uname: String,
    /// Numeric uid for `access=client` (and for the mount's own attach).
    pub n_uname: u32,
}

/// How to dial the server again: when the connection is lost (with
/// `-o reconnect`), and to replace a connection whose tags a server that
/// broke the flush rules holds (always, DESIGN.md rule 8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reconnect {
    /// Where to dial again.
    pub addr: Address,
    /// How to connect and negotiate (as the first time).
    pub client: Config,
    /// Give up after trying this long in a row: the mount then ends as
    /// without reconnect.
    pub give_up: Duration,
    /// Dial again when the connection is lost (`-o reconnect`). Off, a
    /// lost connection ends the mount (every request fails with EIO), and
    /// the address serves only to replace a connection.
    pub after_loss: bool,
}

impl Reconnect {
    /// Dial `addr` again with `client` when the connection is lost, for up
    /// to a minute.
    pub fn new(addr: Address, client: Config) -> Reconnect {
        Reconnect {
            addr,
            client,
            give_up: Duration::from_secs(60),
            after_loss: true,
        }
    }

    /// Only to replace a connection, never after a loss.
    pub fn replace_only(addr: Address, client: Config) -> Reconnect {
        Reconnect {
            give_up: Duration::from_secs(10),
            after_loss: false,
            ..Reconnect::new(addr, client)
        }
    }
}

/// Everything a mount needs besides the connection and the mount point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountConfig {
    /// How to attach.
    pub attach: AttachParams,
    /// Cache mode.
    pub cache: CacheMode,
    /// `cache=cto`: how long attributes and names are trusted.
    pub ac: AcTimes,
    /// Access mode.
    pub access: Access,
    /// Let users other than the mounter in (`allow_other`). Implies
    /// `default_permissions` (unless [`MountConfig::server_checks_only`]):
    /// a server may leave permission checks to its clients (diod does, for
    /// the users it switches to).
    pub allow_other: bool,
    /// `no_default_permissions`: with `allow_other`, leave every
    /// permission check to the server all the same (warned about).
    pub server_checks_only: bool,
    /// Let the kernel check permissions from the mode bits (always on with
    /// `allow_other`). Off, access(2) is answered from the mode bits and
    /// every other check is the server's.
    pub default_permissions: bool,
    /// Mount read-only (`ro`).
    pub read_only: bool,
    /// `nosuid`, `nodev`, `noexec`, `sync`, `dirsync`, atime.
    pub flags: KernelFlags,
    /// Show every file as owned by this uid (`uid=`), if set.
    pub uid: Option<u32>,
    /// Show every file as owned by this gid (`gid=`), if set.
    pub gid: Option<u32>,
    /// Hold at most this many fids (`-o maxfids=`): past it, the fids
    /// cached inodes keep are let go, least recently used first. A server
    /// that refuses more teaches its own, lower limit. `None`: the server's.
    pub max_fids: Option<u32>,
    /// Show every file's permission bits as `0777 & !umask` (`umask=`).
    pub umask: Option<u16>,
    /// Let root in too, besides the mounter (`allow_root`).
    pub allow_root: bool,
    /// The file system name shown in /proc/mounts (e.g. `host:564`).
    pub fsname: String,
    /// Attribute, entry and directory listing lifetime in `cache=loose`
    /// (`-o cache_timeout=`). 20 s by default, as sshfs's `cache_timeout`:
    /// with 1 s (FUSE's own default), anything that takes longer than a
    /// second (`ls -l` of a big directory, then `rm -r` of it) revalidated
    /// every name and attribute with the server.
    pub ttl: Duration,
    /// Mount through fusermount3 (not root).
    pub unprivileged: bool,
    /// How to dial again (see [`Reconnect`]; `None`: never, and a
    /// connection is never replaced).
    pub reconnect: Option<Reconnect>,
    /// Log a FUSE request served for this long, once, with its operation
    /// and path (`-o watchdog=`; `None`: off).
    pub watchdog: Option<Duration>,
    /// With the page cache (`cache=loose` or `cto`): on a small read that does not continue the
    /// handle's last one, read the aligned window of up to this many
    /// bytes around it (one Tread at most) and put the rest of it in the
    /// page cache (`-o prefetch=`; 0: off).
    pub prefetch: u32,
    /// The kernel's readahead for the mount in KiB, with the page cache
    /// (`-o read_ahead_kb=`; 0: the kernel's default; needs root).
    pub read_ahead_kb: u32,
    /// With `cache=none`: how far ahead of a sequential reader each open
    /// file reads, in KiB (`-o direct_read_ahead_kb=`; 0: off; see
    /// `stream.rs` for what it costs the mode's promise).
    pub direct_read_ahead_kb: u32,
    /// The bound on each request made while mounting (`-o timeout=`): a
    /// server that stops answering then fails the mount instead of
    /// holding it forever.
    pub timeout: Duration,
    /// Ask the server something after this long without a reply, and
    /// take the connection as lost if that is not answered within as long
    /// again (`-o keepalive=`; `None`: off; see `keepalive.rs`).
    pub keepalive: Option<Duration>,
    /// Take requests through FUSE over io_uring when the kernel offers it
    /// (Linux 6.14 on, with the `fuse` module's `enable_uring` on): `-o
    /// uring`. Off by default: where it was measured, a request that
    /// waits for the server took longer that way (see `kernel::uring`).
    pub uring: bool,
    /// With FUSE over io_uring: how long the ring's thread looks for its
    /// next request before it sleeps (`-o busy_poll=`, which also sets
    /// the runtime's; zero: it sleeps at once).
    pub busy_poll: Duration,
    /// The set a busy-polling runtime looks at before it sleeps
    /// ([`ninep_client::poller`]): the mount adds its `/dev/fuse` device
    /// to it. The connections' sockets are added by the client, through
    /// its own [`Config::poller`] (the same set, in
    /// [`Reconnect::client`] too). `None`: the runtime does not poll.
    pub poller: Option<Poller>,
}

/// The default [`MountConfig::prefetch`]: diod grants 64 KiB messages.
pub const DEFAULT_PREFETCH: u32 = 64 * 1024;

impl MountConfig {
    /// Whether users other than the mounter come in with only the server
    /// checking their permissions (`no_default_permissions` with
    /// `allow_other` or `allow_root`): then every open must reach the
    /// server, whose open is the check.
    pub fn server_checks_others(&self) -> bool {
        (self.allow_other || self.allow_root)
            && self.server_checks_only
            && !self.default_permissions
    }

    /// Whether a lost connection is dialled again (`-o reconnect`).
    pub fn reconnects(&self) -> bool {
        self.reconnect.as_ref().is_some_and(|r| r.after_loss)
    }
}

impl Default for MountConfig {
    fn default() -> Self {
        MountConfig {
            attach: AttachParams {
                aname: String::new(),
                uname: "root".into(),
                n_uname: 0,
            },
            cache: CacheMode::default(),
            ac: AcTimes::default(),
            access: Access::default(),
            allow_other: false,
            server_checks_only: false,
            default_permissions: false,
            read_only: false,
            flags: KernelFlags::default(),
            uid: None,
            gid: None,
            max_fids: None,
            umask: None,
            allow_root: false,
            fsname: "ninep".into(),
            ttl: Duration::from_secs(20),
            unprivileged: false,
            reconnect: None,
            watchdog: Some(Duration::from_secs(30)),
            prefetch: DEFAULT_PREFETCH,
            read_ahead_kb: 4096,
            direct_read_ahead_kb: 0,
            timeout: Duration::from_secs(10),
            keepalive: None,
            uring: false,
            busy_poll: Duration::from_micros(50),
            poller: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attribute_time_is_a_tenth_of_the_age_within_bounds() {
        let ac = AcTimes {
            dir_min: Duration::from_secs(2),
            dir_max: Duration::from_secs(20),
            ..AcTimes::default()
        };
        let secs = Duration::from_secs;
        let now = 1_000_000;
        // Just written, or in the future (a server's clock ahead): the least.
        assert_eq!(ac.lifetime(libc::S_IFREG, now, now), secs(1));
        assert_eq!(ac.lifetime(libc::S_IFREG, now + 50, now), secs(1));
        assert_eq!(ac.lifetime(libc::S_IFREG, now - 150, now), secs(15));
        assert_eq!(ac.lifetime(libc::S_IFREG, 0, now), secs(30));
        assert_eq!(ac.lifetime(libc::S_IFDIR, now - 10, now), secs(2));
        assert_eq!(ac.lifetime(libc::S_IFDIR, now - 150, now), secs(15));
        assert_eq!(ac.lifetime(libc::S_IFDIR, 0, now), secs(20));
        let zero = AcTimes {
            reg_min: Duration::ZERO,
            reg_max: Duration::ZERO,
            ..ac
        };
        assert_eq!(zero.lifetime(libc::S_IFREG, 0, now), Duration::ZERO);
    }
}
