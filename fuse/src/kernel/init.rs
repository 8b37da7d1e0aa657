//! The INIT handshake: which protocol version and which flags.
//!
//! The kernel offers its version and flags; we answer with the minor we
//! share (the smaller one), the flags we want among those offered, and our
//! limits. A kernel of a newer major is told ours and sends INIT again; one
//! older than 7.23 is refused, since our layouts (INIT's 64-byte reply
//! among them) are 7.23's and later.
//!
//! Pure: [`negotiate`] takes the kernel's offer and the file system's wishes
//! and returns what to send; the session writes it.

use super::abi;
use super::op::InitIn;
use super::reply::{InitOut, Reply};
use super::ReplyInit;

/// The oldest minor we serve (Linux 3.15).
pub const MIN_MINOR: u32 = 23;

/// The page size `max_pages` counts in.
const PAGE: u32 = 4096;

// The flags we ask for, when the kernel offers them.

/// Reads of one file may be in flight together (readahead beside a read).
const ASYNC_READ: u64 = abi::FUSE_ASYNC_READ;
/// POSIX locks go to the file system, so they hold against other clients.
const POSIX_LOCKS: u64 = abi::FUSE_POSIX_LOCKS;
/// O_TRUNC comes with OPEN: one call, not an open then a setattr.
const ATOMIC_O_TRUNC: u64 = abi::FUSE_ATOMIC_O_TRUNC;
/// Writes of more than a page in one request (up to `max_write`).
const BIG_WRITES: u64 = abi::FUSE_BIG_WRITES;
/// READDIRPLUS: a listing brings attributes, sparing a lookup per name...
const DO_READDIRPLUS: u64 = abi::FUSE_DO_READDIRPLUS;
/// ...when the kernel sees them used (`ls -l`), not for every listing.
const READDIRPLUS_AUTO: u64 = abi::FUSE_READDIRPLUS_AUTO;
/// A direct I/O call's requests go out together, not one after another.
const ASYNC_DIO: u64 = abi::FUSE_ASYNC_DIO;
/// Lookups and listings in one directory may run at once.
const PARALLEL_DIROPS: u64 = abi::FUSE_PARALLEL_DIROPS;
/// The kernel reads `max_pages`; without it a request stops at 32 pages.
const MAX_PAGES: u64 = abi::FUSE_MAX_PAGES;
/// An attribute reply that shows another mtime or size drops the file's
/// cached pages: what another client wrote shows once `stat` (or an open)
/// has seen it changed, as close-to-open promises.
const AUTO_INVAL_DATA: u64 = abi::FUSE_AUTO_INVAL_DATA;
/// Lookups of "." and ".." may come (a mount exported by file handle);
/// the file systems answer them.
const EXPORT_SUPPORT: u64 = abi::FUSE_EXPORT_SUPPORT;

/// Asked whenever offered.
const WANTED: u64 = ASYNC_READ
    | POSIX_LOCKS
    | ATOMIC_O_TRUNC
    | BIG_WRITES
    | DO_READDIRPLUS
    | READDIRPLUS_AUTO
    | ASYNC_DIO
    | PARALLEL_DIROPS
    | MAX_PAGES
    | AUTO_INVAL_DATA
    | EXPORT_SUPPORT;

// Left out on purpose:
// - DONT_MASK: the kernel would stop applying the umask and leave it to us,
//   but `Filesystem::create` and `mknod` take no umask and `mkdir` ignores
//   it: created files would lose the caller's umask.
// - HANDLE_KILLPRIV(_V2): the kernel clears set-id bits itself, by SETATTR.
// - WRITEBACK_CACHE: writes must reach the server when made, for the other
//   clients and for close-to-open consistency.
// - CACHE_SYMLINKS: not yet; link targets would stay cached until an
//   invalidation we do not send yet.
// - FLOCK_LOCKS: flock(2) stays local to this mount.
// - SPLICE_*, PASSTHROUGH, SETXATTR_EXT, SECURITY_CTX,
//   CREATE_SUPP_GROUP, HAS_RESEND, ...: not implemented.

/// What to answer the kernel's INIT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// Serve on these terms.
    Accept(InitOut),
    /// The kernel speaks a newer major: tell it ours (only `major` and
    /// `minor`); it sends INIT again with ours.
    AskAgain { major: u32, minor: u32 },
    /// No protocol in common: answer with this errno (EPROTO); the kernel
    /// fails the mount.
    Refuse(i32),
}

impl Answer {
    /// The reply to the INIT numbered `unique`.
    pub fn reply(&self, unique: u64) -> Reply {
        match self {
            Answer::Accept(out) => Reply::init(unique, out),
            Answer::AskAgain { major, minor } => Reply::init_version(unique, *major, *minor),
            Answer::Refuse(errno) => Reply::error(unique, *errno),
        }
    }
}

/// The handshake's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Negotiated {
    pub answer: Answer,
    /// The minor both sides speak (0 unless accepted).
    pub minor: u32,
    /// The flags in force, both halves (0 unless accepted).
    pub flags: u64,
}

/// Our answer to the kernel's INIT, given what the file system wants.
pub(crate) fn negotiate(kernel: &InitIn, want: &ReplyInit) -> Negotiated {
    let refuse = Negotiated {
        answer: Answer::Refuse(libc::EPROTO),
        minor: 0,
        flags: 0,
    };
    if kernel.major > abi::FUSE_KERNEL_VERSION {
        return Negotiated {
            answer: Answer::AskAgain {
                major: abi::FUSE_KERNEL_VERSION,
                minor: abi::FUSE_KERNEL_MINOR_VERSION,
            },
            minor: 0,
            flags: 0,
        };
    }
    if kernel.major < abi::FUSE_KERNEL_VERSION || kernel.minor < MIN_MINOR {
        return refuse;
    }
    let minor = kernel.minor.min(abi::FUSE_KERNEL_MINOR_VERSION);
    let flags = flags(kernel.flags, want);
    let out = InitOut {
        major: abi::FUSE_KERNEL_VERSION,
        minor,
        // The kernel's own: it takes the smaller of its and ours anyway.
        max_readahead: kernel.max_readahead,
        flags,
        max_background: want.max_background,
        congestion_threshold: want.congestion_threshold,
        max_write: want.max_write,
        // Timestamps are kept to the nanosecond.
        time_gran: 1,
        max_pages: if flags & MAX_PAGES != 0 {
            max_pages(want.max_write)
        } else {
            0
        },
        request_timeout: 0,
    };
    Negotiated {
        answer: Answer::Accept(out),
        minor,
        flags,
    }
}

/// The flags to reply with: ours among those `offered`.
fn flags(offered: u64, want: &ReplyInit) -> u64 {
    let mut flags = offered & WANTED;
    // flags2 is there only if the kernel said so with FUSE_INIT_EXT; echo
    // it, so that the kernel reads ours.
    let ext = offered & abi::FUSE_INIT_EXT != 0;
    if ext {
        flags |= abi::FUSE_INIT_EXT;
    }
    // Shared writable mappings of direct-I/O files, if the file system
    // wants them and the kernel (7.39 on) offers them.
    let mmap = offered & abi::FUSE_DIRECT_IO_ALLOW_MMAP != 0;
    if want.direct_io_allow_mmap && ext && mmap {
        flags |= abi::FUSE_DIRECT_IO_ALLOW_MMAP;
    }
    // Requests through io_uring (7.42 on), if the session has a ring.
    if want.over_io_uring && ext && offered & abi::FUSE_OVER_IO_URING != 0 {
        flags |= abi::FUSE_OVER_IO_URING;
    }
    flags
}

/// Pages for a request of `max_write` bytes (rounded up, within u16).
fn max_pages(max_write: u32) -> u16 {
    u16::try_from(max_write.div_ceil(PAGE).max(1)).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn want(direct_io_allow_mmap: bool) -> ReplyInit {
        ReplyInit {
            max_write: 1 << 20,
            max_background: 64,
            congestion_threshold: 48,
            direct_io_allow_mmap,
            over_io_uring: false,
        }
    }

    /// The flags Linux 6.18 offers here (from a raw INIT read):
    /// flags 0x73fffffb, flags2 0x5fd.
    const OFFER_6_18: u64 = 0x0000_05fd_73ff_fffb;

    fn accepted(n: &Negotiated) -> InitOut {
        match n.answer {
            Answer::Accept(out) => out,
            other => panic!("not accepted: {other:?}"),
        }
    }

    #[test]
    fn kernel_7_31_without_flags2() {
        // Everything up to bit 27 but FILE_OPS: no INIT_EXT, no flags2.
        let kernel = InitIn {
            major: 7,
            minor: 31,
            max_readahead: 131072,
            flags: 0x0fff_fffb,
        };
        let n = negotiate(&kernel, &want(true));
        let out = accepted(&n);
        assert_eq!(n.minor, 31);
        assert_eq!(n.flags, WANTED);
        assert_eq!(n.flags & abi::FUSE_INIT_EXT, 0);
        assert_eq!(n.flags >> 32, 0, "no flags2 without INIT_EXT");
        let expect = InitOut {
            major: 7,
            minor: 31,
            max_readahead: 131072,
            flags: WANTED,
            max_background: 64,
            congestion_threshold: 48,
            max_write: 1 << 20,
            time_gran: 1,
            max_pages: 256,
            request_timeout: 0,
        };
        assert_eq!(out, expect);
    }

    #[test]
    fn kernel_7_45_offering_direct_io_allow_mmap() {
        let kernel = InitIn {
            major: 7,
            minor: 45,
            max_readahead: 131072,
            flags: OFFER_6_18,
        };
        let n = negotiate(&kernel, &want(true));
        assert_eq!(n.minor, 45);
        let ours = WANTED | abi::FUSE_INIT_EXT | abi::FUSE_DIRECT_IO_ALLOW_MMAP;
        assert_eq!(n.flags, ours);
        assert_eq!(accepted(&n).flags, ours);
        // On the wire: flags2 (after max_pages and map_alignment) holds bit
        // 36 as bit 4.
        let bytes = n.answer.reply(1).to_vec();
        assert_eq!(&bytes[16 + 32..16 + 36], &(1u32 << 4).to_ne_bytes());
        assert_eq!(
            &bytes[16 + 12..16 + 16],
            &((ours as u32).to_ne_bytes()),
            "flags: the low half"
        );

        // Not wanted: not asked, though offered.
        let n = negotiate(&kernel, &want(false));
        assert_eq!(n.flags, WANTED | abi::FUSE_INIT_EXT);
    }

    #[test]
    fn io_uring_is_echoed_when_offered_and_wanted_only() {
        // 6.18 with fuse.enable_uring=1 adds flags2 bit 9 (bit 41).
        let kernel = InitIn {
            major: 7,
            minor: 45,
            max_readahead: 0,
            flags: OFFER_6_18 | abi::FUSE_OVER_IO_URING,
        };
        let with = ReplyInit {
            over_io_uring: true,
            ..want(false)
        };
        let n = negotiate(&kernel, &with);
        assert_eq!(
            n.flags,
            WANTED | abi::FUSE_INIT_EXT | abi::FUSE_OVER_IO_URING
        );
        let bytes = n.answer.reply(1).to_vec();
        assert_eq!(
            &bytes[16 + 32..16 + 36],
            &(1u32 << 9).to_ne_bytes(),
            "flags2"
        );
        // Not wanted (`nouring`, or no ring could be made): not echoed.
        assert_eq!(
            negotiate(&kernel, &want(false)).flags & abi::FUSE_OVER_IO_URING,
            0
        );
        // Wanted but not offered (enable_uring off): not echoed.
        let off = InitIn {
            flags: OFFER_6_18,
            ..kernel
        };
        assert_eq!(negotiate(&off, &with).flags & abi::FUSE_OVER_IO_URING, 0);
    }

    #[test]
    fn flags2_bits_need_init_ext() {
        // The bit alone, without INIT_EXT, is not an offer.
        let kernel = InitIn {
            major: 7,
            minor: 45,
            max_readahead: 0,
            flags: abi::FUSE_DIRECT_IO_ALLOW_MMAP | abi::FUSE_ASYNC_READ,
        };
        let n = negotiate(&kernel, &want(true));
        assert_eq!(n.flags, abi::FUSE_ASYNC_READ);
    }

    #[test]
    fn only_what_is_offered() {
        let kernel = InitIn {
            major: 7,
            minor: 45,
            max_readahead: 0,
            flags: 0,
        };
        let n = negotiate(&kernel, &want(true));
        assert_eq!(n.flags, 0);
        assert_eq!(accepted(&n).max_pages, 0, "no MAX_PAGES, no max_pages");
    }

    #[test]
    fn newer_minor_is_capped_at_ours() {
        let kernel = InitIn {
            major: 7,
            minor: 99,
            max_readahead: 0,
            flags: OFFER_6_18,
        };
        assert_eq!(negotiate(&kernel, &want(false)).minor, 45);
    }

    #[test]
    fn major_8_is_asked_again_with_ours() {
        let kernel = InitIn {
            major: 8,
            minor: 0,
            max_readahead: 0,
            flags: u64::MAX,
        };
        let n = negotiate(&kernel, &want(true));
        assert_eq!(
            n.answer,
            Answer::AskAgain {
                major: 7,
                minor: 45
            }
        );
        assert_eq!((n.minor, n.flags), (0, 0));
        // Header (len 24, no error, unique) and major, minor only.
        let mut expect = Vec::new();
        expect.extend_from_slice(&24u32.to_ne_bytes());
        expect.extend_from_slice(&0i32.to_ne_bytes());
        expect.extend_from_slice(&5u64.to_ne_bytes());
        expect.extend_from_slice(&7u32.to_ne_bytes());
        expect.extend_from_slice(&45u32.to_ne_bytes());
        assert_eq!(n.answer.reply(5).to_vec(), expect);
    }

    #[test]
    fn major_6_and_old_minors_are_refused() {
        for (major, minor) in [(6, 45), (7, 22), (7, 0)] {
            let kernel = InitIn {
                major,
                minor,
                max_readahead: 0,
                flags: 0,
            };
            let n = negotiate(&kernel, &want(true));
            assert_eq!(n.answer, Answer::Refuse(libc::EPROTO), "{major}.{minor}");
            let reply = n.answer.reply(5).to_vec();
            assert_eq!(reply.len(), 16);
            assert_eq!(&reply[4..8], &(-libc::EPROTO).to_ne_bytes());
        }
    }

    #[test]
    fn max_pages_rounds_up_within_u16() {
        assert_eq!(max_pages(1 << 20), 256);
        assert_eq!(max_pages(4097), 2);
        assert_eq!(max_pages(0), 1);
        assert_eq!(max_pages(u32::MAX), u16::MAX);
    }
}
