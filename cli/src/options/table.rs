//! Every `-o` option, once: its spelling, default, cache modes, `--help`
//! line, docs/options.md row and what it sets.
//!
//! The parser ([`super::Options::apply`]), `--help` and the man page
//! ([`super::render::help`]) and the option tables of docs/options.md
//! ([`super::render::docs`]) all read this table, so an option is added
//! here and nowhere else. Tests check that each default written here is
//! what the code does, and that docs/options.md is what the table renders.

use anyhow::Result;
use ninep_fuse::{AcTimes, Atime, CacheMode};

use super::values::*;
use super::{Options, RECONNECT_GIVE_UP};

/// One row: one option, or a few that set the same thing (`ro, rw`).
pub(crate) struct Opt {
    /// The options as `--help` and the docs spell them, comma-separated:
    /// `KEY` is a flag, `KEY=VALUE` takes a value, `KEY[=VALUE]` either.
    pub spell: &'static str,
    /// The docs/options.md table it is a row of.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "docs/options.md is made by a test")
    )]
    pub section: Section,
    /// What a mount does without it.
    pub default: DefaultValue,
    /// The cache modes that use it (empty: all); given with another mode
    /// it is refused, never ignored.
    pub modes: &'static [CacheMode],
    /// Whether the README's "Options in brief" has it.
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "the README's table is made by a test")
    )]
    pub brief: bool,
    /// The `--help` text (wrapped when printed; also the README's).
    pub help: &'static str,
    /// The docs/options.md text (markdown).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "docs/options.md is made by a test")
    )]
    pub docs: &'static str,
    /// Sets it: the key as given and its value (`None` for a flag; the
    /// parser has checked the key takes what it was given).
    pub set: fn(&mut Options, &str, Option<&str>) -> Result<()>,
}

/// A row's default.
pub(crate) enum DefaultValue {
    /// The values of the row's options in order (a flag stands for
    /// itself: `rw`), which the code's defaults must equal, and a note.
    Is(&'static [&'static str], &'static str),
    /// Said in words: it depends on the caller or the server.
    Says(&'static str),
}

/// The tables of docs/options.md, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    Server,
    Caching,
    Permissions,
    Interrupts,
    Runtime,
}

#[cfg_attr(
    not(test),
    allow(dead_code, reason = "docs/options.md is made by a test")
)]
impl Section {
    pub const ALL: [Section; 5] = [
        Section::Server,
        Section::Caching,
        Section::Permissions,
        Section::Interrupts,
        Section::Runtime,
    ];

    /// The marker around its table in docs/options.md.
    pub fn marker(self) -> &'static str {
        match self {
            Section::Server => "server",
            Section::Caching => "caching",
            Section::Permissions => "permissions",
            Section::Interrupts => "interrupts",
            Section::Runtime => "runtime",
        }
    }
}

/// How an option is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Takes {
    Flag,
    Value,
    Either,
}

impl Opt {
    /// The row's options: name and what each takes.
    pub fn keys(&self) -> impl Iterator<Item = (&'static str, Takes)> {
        self.spell.split(", ").map(|part| {
            let end = part.find(['=', '[']).unwrap_or(part.len());
            let takes = match &part[end..] {
                "" => Takes::Flag,
                rest if rest.starts_with("[=") => Takes::Either,
                _ => Takes::Value,
            };
            (&part[..end], takes)
        })
    }
}

/// The value of an option the parser has checked takes one.
fn val(v: Option<&str>) -> &str {
    v.unwrap_or_default()
}

const CTO: &[CacheMode] = &[CacheMode::Cto];
const PAGE_CACHE: &[CacheMode] = &[CacheMode::Cto, CacheMode::Loose];

pub(crate) const OPTIONS: &[Opt] = &[
    // The server and the attach.
    Opt {
        spell: "aname=PATH",
        section: Section::Server,
        default: DefaultValue::Says("empty"),
        modes: &[],
        brief: true,
        help: "tree to attach to (diod: an exported directory); or after the address: HOST:564:/export",
        docs: "The tree to attach to. For diod, an exported directory spelled as in its `-e`. It may also be written after the address, as NFS's `host:/export`: `ninep-mount HOST:564:/export /mnt` (or `HOST:/export` for port 564). Giving two different anames is a usage error.",
        set: |o, _, v| {
            o.aname = val(v).into();
            Ok(())
        },
    },
    Opt {
        spell: "port=N",
        section: Section::Server,
        default: DefaultValue::Says("564"),
        modes: &[],
        brief: false,
        help: "the TCP port, as v9fs takes it; wins over a port in the source",
        docs: "The TCP port, as v9fs takes it; wins over a port in the source.",
        set: |o, _, v| {
            o.port = Some(port(val(v))?);
            Ok(())
        },
    },
    Opt {
        spell: "trans=tcp|unix",
        section: Section::Server,
        default: DefaultValue::Says("tcp"),
        modes: &[],
        brief: false,
        help: "as v9fs: unix reads the source as a Unix socket's path",
        docs: "As v9fs: `trans=unix` reads the source as a Unix socket path (`ninep-mount /run/9p.sock MNT -o trans=unix` is the same as `ninep-mount unix:/run/9p.sock MNT`). virtio, fd and rdma have no meaning for a FUSE mount and are refused.",
        set: |o, _, v| {
            o.trans = Some(parse_trans(val(v))?);
            Ok(())
        },
    },
    Opt {
        spell: "uname=NAME",
        section: Section::Server,
        default: DefaultValue::Says("the caller's user name"),
        modes: &[],
        brief: false,
        help: "user name in Tattach",
        docs: "User name sent in Tattach.",
        set: |o, _, v| {
            o.uname = val(v).into();
            Ok(())
        },
    },
    Opt {
        spell: "n_uname=N",
        section: Section::Server,
        default: DefaultValue::Says("the caller's uid"),
        modes: &[],
        brief: false,
        help: "numeric uid in Tattach",
        docs: "Numeric uid sent in Tattach (9P2000.u and 9P2000.L).",
        set: |o, _, v| {
            o.n_uname = number(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "msize=N",
        section: Section::Server,
        default: DefaultValue::Is(&["1048600"], "1 MiB + 24"),
        modes: &[],
        brief: false,
        help: "largest message to ask for",
        docs: "Largest message to ask for; the server may grant less (diod grants 64 KiB). At or below 8 KiB the mount warns that reads and writes will go in small pieces. At least 256.",
        set: |o, _, v| {
            o.msize = msize(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "version=9p2000.L|9p2000.u|9p2000",
        section: Section::Server,
        default: DefaultValue::Says("try .L, then .u, then 9P2000"),
        modes: &[],
        brief: true,
        help: "speak only this dialect (any case)",
        docs: "Speak only this dialect (any case). See [dialects.md](dialects.md) for what differs on the classic ones.",
        set: |o, _, v| {
            o.dialects = vec![parse_version(val(v))?];
            Ok(())
        },
    },
    Opt {
        spell: "timeout=SECONDS",
        section: Section::Server,
        default: DefaultValue::Is(&["10"], ""),
        modes: &[],
        brief: true,
        help: "bound on connecting and on each request made while mounting",
        docs: "Bound on connecting and on every request made while mounting (Tattach, then the root's Tgetattr). A server that never answers Tattach fails the mount with exit status 32: `the server at ADDR did not answer Tattach within 10s: it may be overloaded or stuck (-o timeout=SECONDS waits longer)`. Independently of it, a peer that does not answer Tversion within a second, or answers something that is not 9P, is named as not a 9P server.",
        set: |o, _, v| {
            o.timeout = seconds(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "keepalive=SECONDS",
        section: Section::Server,
        default: DefaultValue::Is(&["30"], "0: off"),
        modes: &[],
        brief: true,
        help: "after SECONDS without a reply, ask the server something; no answer within SECONDS more and the connection is lost (EIO, or reconnect); also TCP keepalive",
        docs: "After SECONDS with no reply on the connection, the mount sends a cheap request (a Tgetattr of the root). If that is not answered within SECONDS more, the connection is taken as lost: every request fails with EIO, or `reconnect` dials again. On TCP it also sets the socket's keepalive (SO_KEEPALIVE: probes after SECONDS idle, SECONDS/3 apart, three of them) and TCP_USER_TIMEOUT (2 x SECONDS of unacknowledged data ends the connection, where the kernel would otherwise retransmit for about 15 minutes). sshfs users know this as ServerAliveInterval. TCP keepalive finds a peer whose machine is gone; the request finds a server that still acknowledges packets but no longer answers.",
        set: |o, _, v| {
            o.keepalive = watchdog(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "maxfids=N",
        section: Section::Server,
        default: DefaultValue::Says("the server's: learned when it refuses one"),
        modes: &[],
        brief: false,
        help: "hold at most N fids on the server, letting go of those cached inodes keep, least recently used first",
        docs: "Hold at most N fids on the server (at least 16). Fid numbers are handed out lowest free first; near the cap, the fids that cached inodes keep only to save walks are let go, least recently used first (their next use walks again). A server that refuses a new fid (ERANGE or EMFILE, as nfs-ganesha does from fid 1024 on) teaches the mount its limit, with one warning, and the refused request is sent again below it, so no call fails for it.",
        set: |o, _, v| {
            o.max_fids = Some(max_fids(val(v))?);
            Ok(())
        },
    },
    Opt {
        spell: "reconnect[=SECONDS], noreconnect",
        section: Section::Server,
        default: DefaultValue::Is(&["noreconnect"], "reconnect alone: 60"),
        modes: &[],
        brief: true,
        help: "when the connection is lost, dial again (with backoff) for up to SECONDS instead of ending the mount; reads and lookups go on, a write caught by the loss fails with EIO",
        docs: "When the connection is lost, dial the server again for up to SECONDS instead of failing every request. See [Lost connections](#lost-connections).",
        set: |o, k, v| {
            o.reconnect = match (k, v) {
                ("noreconnect", _) => None,
                (_, None) => Some(RECONNECT_GIVE_UP),
                (_, Some(v)) => Some(seconds(v)?),
            };
            Ok(())
        },
    },
    // Caching.
    Opt {
        spell: "cache=cto|none|loose",
        section: Section::Caching,
        default: DefaultValue::Is(&["cto"], ""),
        modes: &[],
        brief: true,
        help: "cto: close-to-open, as NFS: each open checks the file with the server, attributes and names trusted for a while; none: always current, no page cache; loose: page cache and fixed TTLs, as sshfs",
        docs: "`cto`: close-to-open consistency, as NFS gives it (see [below](#close-to-open-cachecto)). `none`: every read and stat reaches the server, files are opened with direct I/O (no page cache), and every read can be interrupted. `loose`: the page cache is used, and attributes, names (also missing ones) and directory listings are trusted for `cache_timeout`, as sshfs does; an open does not ask the server. Changes made through the mount are seen at once in every mode.",
        set: |o, _, v| {
            o.cache = parse_cache(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "acregmin=S, acregmax=S",
        section: Section::Caching,
        default: DefaultValue::Is(&["1", "30"], ""),
        modes: CTO,
        brief: false,
        help: "with cache=cto: a file's attributes are trusted for a tenth of its age, at least / at most S",
        docs: "With `cache=cto`: a file's attributes (and the name that leads to it) are trusted for a tenth of the time since it last changed (its mtime), at least `acregmin` and at most `acregmax` whole seconds, as NFS's options of these names.",
        set: |o, k, v| {
            let s = ac_seconds(val(v))?;
            match k {
                "acregmin" => o.ac.reg_min = s,
                _ => o.ac.reg_max = s,
            }
            Ok(())
        },
    },
    Opt {
        spell: "acdirmin=S, acdirmax=S",
        section: Section::Caching,
        default: DefaultValue::Is(&["1", "30"], ""),
        modes: CTO,
        brief: false,
        help: "the same for directories; names and listings are trusted for acdirmin, then while the directory's mtime stands",
        docs: "With `cache=cto`: the same for directories' attributes; names, missing names and directory listings are trusted for `acdirmin`, then up to `acdirmax` while the directory's mtime stands.",
        set: |o, k, v| {
            let s = ac_seconds(val(v))?;
            match k {
                "acdirmin" => o.ac.dir_min = s,
                _ => o.ac.dir_max = s,
            }
            Ok(())
        },
    },
    Opt {
        spell: "actimeo=S",
        section: Section::Caching,
        default: DefaultValue::Says(""),
        modes: CTO,
        brief: false,
        help: "all four at once",
        docs: "With `cache=cto`: sets all four at once (`actimeo=0`: nothing is trusted; every stat asks the server, opens still keep unchanged pages).",
        set: |o, _, v| {
            let s = ac_seconds(val(v))?;
            o.ac = AcTimes {
                reg_min: s,
                reg_max: s,
                dir_min: s,
                dir_max: s,
            };
            Ok(())
        },
    },
    Opt {
        spell: "cache_timeout=SECONDS",
        section: Section::Caching,
        default: DefaultValue::Is(&["20"], ""),
        modes: &[CacheMode::Loose],
        brief: false,
        help: "with cache=loose: how long attributes, names and listings are trusted",
        docs: "With `cache=loose`: how long attributes, names and listings are trusted before asking the server again (as sshfs's option of that name). A change made behind the mount, on the server, shows after at most this long.",
        set: |o, _, v| {
            o.cache_timeout = seconds(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "prefetch=BYTES",
        section: Section::Caching,
        default: DefaultValue::Is(&["65536"], "0: off"),
        modes: PAGE_CACHE,
        brief: false,
        help: "cto, loose: a small random read fetches the aligned window of BYTES around it (one Tread at most) and puts the rest in the page cache",
        docs: "With `cache=cto` or `cache=loose`: a small read that does not continue the last read through its file handle (a random read, for which the kernel asks one page per miss) fetches the aligned window of BYTES around it in one Tread at most (cut to the server's message size: 60 KiB on diod), answers from it, and puts the rest of the window in the page cache (FUSE_NOTIFY_STORE), so the next reads in the window cost no round trip. Never while a handle that can write the file is open, never with data older than a write or truncation made through the mount. At most 1048576.",
        set: |o, _, v| {
            o.prefetch = prefetch(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "read_ahead_kb=KB",
        section: Section::Caching,
        default: DefaultValue::Is(&["4096"], "0: the kernel's 128"),
        modes: PAGE_CACHE,
        brief: false,
        help: "cto, loose: the kernel's readahead for the mount (root only)",
        docs: "With `cache=cto` or `cache=loose`: the kernel's readahead for the mount (`/sys/class/bdi/MAJOR:MINOR/read_ahead_kb`). A FUSE mount starts at 128 KiB, which sends sequential reads as 128 KiB requests with little in flight. Only root can set it; a user's mount keeps the kernel's value (logged).",
        set: |o, _, v| {
            o.read_ahead_kb = read_ahead(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "direct_read_ahead_kb=KB",
        section: Section::Caching,
        default: DefaultValue::Is(&["0"], "off"),
        modes: &[CacheMode::None],
        brief: false,
        help: "none: keep up to KB after a sequential reader's last read in flight, per open file",
        docs: "With `cache=none`: while a file is read sequentially (each read starting where the one before ended), the mount keeps the next KB after the last read in flight for that open file, in pieces of up to 1 MiB, so that the server works while the kernel hands the last read to the reader and the reader asks again. Behind a round trip of 1 ms, 4096 read twice as fast as without. It weakens the mode's promise that every read reaches the server: a read may get bytes the server sent up to one second before it was made. Never while a handle that can write the file is open through the mount; what was read ahead is dropped when one is opened, and when the reader jumps. At most 16384; all open files together keep at most 64 MiB ahead (`ninep-mount stats` shows how much).",
        set: |o, _, v| {
            o.direct_read_ahead_kb = direct_read_ahead(val(v))?;
            Ok(())
        },
    },
    // Permissions, owners and kernel flags.
    Opt {
        spell: "access=user|client",
        section: Section::Permissions,
        default: DefaultValue::Is(&["user"], ""),
        modes: &[],
        brief: true,
        help: "user: one attach per calling uid; client: one attach, the kernel checks permissions",
        docs: "`user`: each calling uid attaches as itself, so the server checks permissions and new files belong to the caller. `client`: one attach; the kernel checks permissions from the mode bits (use with `default_permissions`).",
        set: |o, _, v| {
            o.access = parse_access(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "ro, rw",
        section: Section::Permissions,
        default: DefaultValue::Is(&["rw"], ""),
        modes: &[],
        brief: true,
        help: "read-only, read-write",
        docs: "Read-only, read-write.",
        set: |o, k, _| {
            o.read_only = k == "ro";
            Ok(())
        },
    },
    Opt {
        spell: "allow_other, noallow_other",
        section: Section::Permissions,
        default: DefaultValue::Says("root's mount: on; a user's: off"),
        modes: &[],
        brief: true,
        help: "let other users in, with the kernel checking the mode bits (a user's mount needs user_allow_other in /etc/fuse.conf)",
        docs: "Let users other than the mounter in, with the kernel checking the mode bits (`default_permissions` is implied). A mount made by root lets other users in by default, as v9fs, NFS and bindfs mounts do; `noallow_other` makes it root's alone. A user's mount is theirs alone unless `allow_other`, which needs `user_allow_other` in /etc/fuse.conf.",
        set: |o, k, _| {
            o.allow_other = k == "allow_other";
            Ok(())
        },
    },
    Opt {
        spell: "allow_root",
        section: Section::Permissions,
        default: DefaultValue::Says("off"),
        modes: &[],
        brief: false,
        help: "let root in too (a user's mount; needs user_allow_other in /etc/fuse.conf)",
        docs: "Let root in too, besides the mounter (for a user's mount; needs `user_allow_other` in /etc/fuse.conf). Has no effect with `allow_other`.",
        set: |o, _, _| {
            o.allow_root = true;
            Ok(())
        },
    },
    Opt {
        spell: "default_permissions",
        section: Section::Permissions,
        default: DefaultValue::Says("off (on with allow_other or allow_root)"),
        modes: &[],
        brief: false,
        help: "let the kernel check permissions from the mode bits",
        docs: "Let the kernel check permissions from the mode bits.",
        set: |o, _, _| {
            o.default_permissions = true;
            Ok(())
        },
    },
    Opt {
        spell: "no_default_permissions",
        section: Section::Permissions,
        default: DefaultValue::Says("off"),
        modes: &[],
        brief: false,
        help: "with allow_other: leave every check to the server (warned about)",
        docs: "With `allow_other`: leave every permission check to the server all the same. Logged as a warning: some servers (diod running as root) leave permission checks to their clients.",
        set: |o, _, _| {
            o.server_checks_only = true;
            Ok(())
        },
    },
    Opt {
        spell: "uid=N, gid=N",
        section: Section::Permissions,
        default: DefaultValue::Says("the server's"),
        modes: &[],
        brief: true,
        help: "show every file as owned by this uid / gid",
        docs: "Show every file as owned by this uid / gid.",
        set: |o, k, v| {
            let n = Some(number(val(v))?);
            match k {
                "uid" => o.uid = n,
                _ => o.gid = n,
            }
            Ok(())
        },
    },
    Opt {
        spell: "umask=OCTAL",
        section: Section::Permissions,
        default: DefaultValue::Says("none"),
        modes: &[],
        brief: false,
        help: "show every file's permission bits as 0777 & ~OCTAL",
        docs: "Show every file's permission bits as `0777 & ~OCTAL` (as sshfs and libfuse do): `umask=022` shows 0755 everywhere.",
        set: |o, _, v| {
            o.umask = Some(umask(val(v))?);
            Ok(())
        },
    },
    Opt {
        spell: "nosuid, suid",
        section: Section::Permissions,
        default: DefaultValue::Says("root: suid; a user: always nosuid"),
        modes: &[],
        brief: true,
        help: "ignore (or honour) set-user-id and set-group-id bits",
        docs: "Ignore (or honour) set-user-id and set-group-id bits.",
        set: |o, k, _| {
            o.flags.nosuid = k == "nosuid";
            Ok(())
        },
    },
    Opt {
        spell: "nodev, dev",
        section: Section::Permissions,
        default: DefaultValue::Says("root: dev; a user: always nodev"),
        modes: &[],
        brief: false,
        help: "ignore (or allow) device files",
        docs: "Ignore (or allow) device files.",
        set: |o, k, _| {
            o.flags.nodev = k == "nodev";
            Ok(())
        },
    },
    Opt {
        spell: "noexec, exec",
        section: Section::Permissions,
        default: DefaultValue::Is(&["exec"], ""),
        modes: &[],
        brief: false,
        help: "refuse (or allow) executing files",
        docs: "Refuse (or allow) executing files.",
        set: |o, k, _| {
            o.flags.noexec = k == "noexec";
            Ok(())
        },
    },
    Opt {
        spell: "sync",
        section: Section::Permissions,
        default: DefaultValue::Says("off"),
        modes: &[],
        brief: false,
        help: "synchronous writes",
        docs: "Synchronous writes (the kernel's MS_SYNCHRONOUS).",
        set: |o, _, _| {
            o.flags.sync = true;
            Ok(())
        },
    },
    Opt {
        spell: "dirsync",
        section: Section::Permissions,
        default: DefaultValue::Says("off"),
        modes: &[],
        brief: false,
        help: "synchronous directory changes",
        docs: "Synchronous directory changes.",
        set: |o, _, _| {
            o.flags.dirsync = true;
            Ok(())
        },
    },
    Opt {
        spell: "noatime, relatime, atime",
        section: Section::Permissions,
        default: DefaultValue::Is(&["relatime"], ""),
        modes: &[],
        brief: false,
        help: "access time updates: never, or relatime (atime is taken as relatime)",
        docs: "Access time updates: never, or relatime. `atime` is taken as `relatime`.",
        set: |o, k, _| {
            o.flags.atime = match k {
                "noatime" => Atime::Never,
                _ => Atime::Relative,
            };
            Ok(())
        },
    },
    // Interrupts and the flush probe.
    Opt {
        spell: "flushtimeout=SECONDS",
        section: Section::Interrupts,
        default: DefaultValue::Is(&["0.3"], ""),
        modes: &[],
        brief: false,
        help: "wait this long for an Rflush before the next Tflush",
        docs: "How long to wait for an Rflush before sending another Tflush for the same interrupted request. Short, so that Ctrl-C gives the prompt back within a second even from a server that holds its Rflush.",
        set: |o, _, v| {
            o.flush_timeout = seconds(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "flushretries=N",
        section: Section::Interrupts,
        default: DefaultValue::Is(&["3"], ""),
        modes: &[],
        brief: false,
        help: "at most this many Tflush per interrupted request",
        docs: "At most this many Tflush for one interrupted request (1 to 100). After the last one times out, the caller gets EINTR and the tags stay quarantined until the server answers.",
        set: |o, _, v| {
            o.flush_retries = retries(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "flushprobe=N",
        section: Section::Interrupts,
        default: DefaultValue::Is(&["0"], "off"),
        modes: &[],
        brief: true,
        help: "flush one in N read-only requests on purpose to profile the server's Tflush handling (see `stats`)",
        docs: "Flush one in N read-only requests on purpose, to profile the server's Tflush handling while the mount is used; see [flush.md](flush.md). The callers never notice.",
        set: |o, _, v| {
            o.flush_probe = number(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "watchdog=SECONDS",
        section: Section::Interrupts,
        default: DefaultValue::Is(&["30"], "0: off"),
        modes: &[],
        brief: false,
        help: "log a request that has had no reply for this long, once",
        docs: "Log, once, a request that has waited this long for the server: the FUSE operation with the path it is about, and the 9P request behind it with its tag and type (counted in `stats`).",
        set: |o, _, v| {
            o.watchdog = watchdog(val(v))?;
            Ok(())
        },
    },
    // Runtime and logging.
    Opt {
        spell: "busy_poll=US",
        section: Section::Runtime,
        default: DefaultValue::Is(&["50"], "0: off, and one thread per core"),
        modes: &[],
        brief: false,
        help: "before the mount's thread sleeps, it looks for its next request or reply for up to US microseconds: saves a wakeup per request in a file storm, costs CPU only while requests come",
        docs: "Before the mount's thread goes to sleep, it keeps looking for its next request or reply for up to US microseconds (at most 10000). A file storm's next request then finds it awake, which saves a cross-core wakeup per request. It costs CPU only while requests keep coming, never on an idle mount; a timer that fires while it looks is seen up to US late. The mount then runs on one thread; `0` gives it one thread per core (tokio's default), which does more work under many busy processes at once (see [performance.md](performance.md)).",
        set: |o, _, v| {
            o.busy_poll = busy_poll(val(v))?;
            Ok(())
        },
    },
    Opt {
        spell: "uring, nouring",
        section: Section::Runtime,
        default: DefaultValue::Is(&["nouring"], ""),
        modes: &[],
        brief: false,
        help: "take requests through FUSE over io_uring where the kernel offers it (Linux 6.14 on, fuse.enable_uring=1), or always through /dev/fuse",
        docs: "Take the kernel's requests through FUSE over io_uring where the kernel offers it (Linux 6.14 on, with the `fuse` module's `enable_uring` parameter on: `echo 1 > /sys/module/fuse/parameters/enable_uring` as root), or always through `/dev/fuse` (`nouring`, the default). A thread of the mount then takes each request from a ring of the CPU it was made on and answers those it can from memory at once, which is faster; a request that waits for the server is answered by the mount's runtime, one more hand-over between threads, which is slower (see [performance.md](performance.md)). Where the kernel does not offer it, the two are the same. Interrupts (Ctrl-C) reach the server as with `/dev/fuse`, but for one gap in Linux (6.18): a signal that comes in the instant between the kernel taking a request off its queue and the mount's thread copying it in is not sent on, and the call waits for its answer as if not signalled (a fatal signal still ends the process). `ninep-mount stats` says which one a mount uses (its `kernel` line).",
        set: |o, k, _| {
            o.uring = k == "uring";
            Ok(())
        },
    },
    Opt {
        spell: "logfile=PATH",
        section: Section::Runtime,
        default: DefaultValue::Says("none"),
        modes: &[],
        brief: true,
        help: "append every log line there too, with its time (a background mount logs to the system log)",
        docs: "Append every log line there too, with its time. Opened before mounting: a path that cannot be written fails the mount (exit status 32).",
        set: |o, _, v| {
            o.logfile = Some(logfile(val(v))?);
            Ok(())
        },
    },
    Opt {
        spell: "auto_unmount",
        section: Section::Runtime,
        default: DefaultValue::Says("off"),
        modes: &[],
        brief: false,
        help: "unmount if the mount's process dies without doing so (SIGKILL, a crash)",
        docs: "A small watcher process (this program again, holding none of the mount's descriptors) unmounts the mount if its process dies without doing so (SIGKILL, a crash), as fusermount3's option of that name does for libfuse programs. Without it such a mount stays behind, answering ENOTCONN, until unmounted by hand.",
        set: |o, _, _| {
            o.auto_unmount = true;
            Ok(())
        },
    },
    Opt {
        spell: "debug",
        section: Section::Runtime,
        default: DefaultValue::Says("off"),
        modes: &[],
        brief: false,
        help: "as -d",
        docs: "As `-d`: stay in the foreground and trace every 9P message on stderr.",
        set: |o, _, _| {
            o.debug = true;
            Ok(())
        },
    },
];

/// The row that has `key`, the key as the table spells it, and what it
/// takes.
pub(crate) fn find(key: &str) -> Option<(&'static Opt, &'static str, Takes)> {
    OPTIONS
        .iter()
        .find_map(|o| o.keys().find(|(k, _)| *k == key).map(|(k, t)| (o, k, t)))
}

/// Every option's name.
pub(crate) fn names() -> impl Iterator<Item = &'static str> {
    OPTIONS.iter().flat_map(|o| o.keys().map(|(k, _)| k))
}
