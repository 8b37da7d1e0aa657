//! The values `-o` options take: each parser says what it expected.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use ninep_client::{client::MIN_MSIZE, Dialect};
use ninep_fuse::{Access, CacheMode};

use super::Trans;

/// `maxfids=`: at least 16 (a mount walks a few at once), at most what a
/// fid number can be.
pub(super) fn max_fids(v: &str) -> Result<u32> {
    let n = number(v)?;
    if !(16..u32::MAX).contains(&n) {
        bail!("{n} is out of range: from 16 fids up");
    }
    Ok(n)
}

/// `umask=`: octal permission bits, as for umask(1).
pub(super) fn umask(v: &str) -> Result<u16> {
    u16::from_str_radix(v, 8)
        .ok()
        .filter(|&m| m <= 0o777)
        .with_context(|| format!("{v:?} is not an octal umask from 0 to 777"))
}

pub(super) fn number(v: &str) -> Result<u32> {
    v.parse()
        .with_context(|| format!("{v:?} is not a number from 0 to {}", u32::MAX))
}

pub(super) fn msize(v: &str) -> Result<u32> {
    let n = number(v)?;
    if n < MIN_MSIZE {
        bail!("{n} is too small: an msize must be at least {MIN_MSIZE}");
    }
    Ok(n)
}

pub(super) fn seconds(v: &str) -> Result<Duration> {
    let s: f64 = v
        .parse()
        .ok()
        .filter(|s: &f64| s.is_finite())
        .with_context(|| format!("{v:?} is not a number of seconds"))?;
    if !(0.01..=3600.0).contains(&s) {
        bail!("{s} s is out of range: from 0.01 to 3600 seconds");
    }
    Ok(Duration::from_secs_f64(s))
}

/// `watchdog=` and `keepalive=`: seconds, or 0 for off.
pub(super) fn watchdog(v: &str) -> Result<Option<Duration>> {
    if v.trim() == "0" {
        return Ok(None);
    }
    seconds(v).map(Some)
}

/// `logfile=`: a path, made absolute (the daemon changes directory to /).
pub(super) fn logfile(v: &str) -> Result<std::path::PathBuf> {
    if v.is_empty() {
        bail!("an empty path");
    }
    std::path::absolute(v).with_context(|| format!("{v:?}"))
}

/// `read_ahead_kb=`: KiB, 0 for the kernel's default, at most 1 GiB.
pub(super) fn read_ahead(v: &str) -> Result<u32> {
    let n = number(v)?;
    if n > 1 << 20 {
        bail!("{n} KiB is out of range: at most 1048576");
    }
    Ok(n)
}

/// `direct_read_ahead_kb=`: KiB, 0 for off, at most 16 MiB (16 chunks
/// of FUSE's largest read).
pub(super) fn direct_read_ahead(v: &str) -> Result<u32> {
    let n = number(v)?;
    if n > 1 << 14 {
        bail!("{n} KiB is out of range: at most 16384");
    }
    Ok(n)
}

/// `busy_poll=`: microseconds, 0 for off, at most 10 ms.
pub(super) fn busy_poll(v: &str) -> Result<Duration> {
    let n = number(v)?;
    if n > 10_000 {
        bail!("{n} µs is out of range: from 0 (off) to 10000 microseconds");
    }
    Ok(Duration::from_micros(n.into()))
}

/// `prefetch=`: bytes, 0 for off, at most 1 MiB (a FUSE read's most).
pub(super) fn prefetch(v: &str) -> Result<u32> {
    let n = number(v)?;
    if n > 1 << 20 {
        bail!("{n} is out of range: from 0 (off) to 1048576 bytes");
    }
    Ok(n)
}

pub(super) fn retries(v: &str) -> Result<u32> {
    let n = number(v)?;
    if !(1..=100).contains(&n) {
        bail!("{n} is out of range: from 1 to 100 Tflush per request");
    }
    Ok(n)
}

pub(super) fn parse_version(v: &str) -> Result<Dialect> {
    // v9fs spells them 9p2000.L, 9p2000.u, 9p2000; accept any case.
    match v.to_ascii_lowercase().as_str() {
        "9p2000.l" => Ok(Dialect::L),
        "9p2000.u" => Ok(Dialect::U),
        "9p2000" => Ok(Dialect::Classic),
        _ => bail!("expected 9p2000.L, 9p2000.u or 9p2000"),
    }
}

pub(super) fn parse_cache(v: &str) -> Result<CacheMode> {
    match v {
        "none" => Ok(CacheMode::None),
        "cto" => Ok(CacheMode::Cto),
        "loose" => Ok(CacheMode::Loose),
        _ => bail!("expected cache=cto, cache=none or cache=loose"),
    }
}

/// The name of a cache mode as `cache=` takes it.
pub(super) fn mode_name(m: CacheMode) -> &'static str {
    match m {
        CacheMode::None => "none",
        CacheMode::Cto => "cto",
        CacheMode::Loose => "loose",
    }
}

/// `acregmin=` and the like: whole seconds, as NFS takes them (0: never
/// trusted).
pub(super) fn ac_seconds(v: &str) -> Result<Duration> {
    let s: u64 = v
        .parse()
        .ok()
        .with_context(|| format!("{v:?} is not a whole number of seconds"))?;
    if s > 3600 {
        bail!("{s} s is out of range: from 0 to 3600 seconds");
    }
    Ok(Duration::from_secs(s))
}

pub(super) fn parse_trans(v: &str) -> Result<Trans> {
    match v {
        "tcp" => Ok(Trans::Tcp),
        "unix" => Ok(Trans::Unix),
        _ => bail!("expected trans=tcp or trans=unix (a FUSE mount has no virtio, fd or rdma)"),
    }
}

pub(super) fn parse_access(v: &str) -> Result<Access> {
    match v {
        "user" => Ok(Access::User),
        "client" => Ok(Access::Client),
        _ => bail!("expected access=user or access=client"),
    }
}

/// `port=`: a TCP port, 1 to 65535.
pub(super) fn port(v: &str) -> Result<u16> {
    v.parse()
        .ok()
        .filter(|&p| p > 0)
        .with_context(|| format!("{v:?} is not a port number from 1 to 65535"))
}
