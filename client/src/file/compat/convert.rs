//! Pure conversions between the 9P2000(.u) stat and the 9P2000.L shapes
//! the rest of the client speaks: attributes, open flags, dirents, and the
//! Twstat that carries a setattr.

use std::time::{SystemTime, UNIX_EPOCH};

use crate::file::SetAttr;
use crate::wire::{getattr, omode, setattr, Dirent, NineStr, Rgetattr, Stat};

use super::ids;

/// `S_IF*` file types and the permission bits of `<sys/stat.h>`.
mod st {
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFSOCK: u32 = 0o140000;
    pub const S_IFLNK: u32 = 0o120000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFBLK: u32 = 0o060000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFCHR: u32 = 0o020000;
    pub const S_IFIFO: u32 = 0o010000;
    pub const S_ISUID: u32 = 0o4000;
    pub const S_ISGID: u32 = 0o2000;
    pub const S_ISVTX: u32 = 0o1000;
}
pub(crate) use st::*;

/// open(2) flags that mean something to Topen.
const O_ACCMODE: u32 = 0o3;
const O_TRUNC: u32 = 0o1000;
/// The block size reported: 9P2000 has none.
const BLKSIZE: u64 = 4096;

/// The `.u` bits that stand for the set-id and sticky bits.
const SPECIAL: [(u32, u32); 3] = [
    (Stat::DMSETUID, S_ISUID),
    (Stat::DMSETGID, S_ISGID),
    (Stat::DMSETVTX, S_ISVTX),
];

/// The file type (`S_IF*`) and device number (glibc `makedev` layout, as
/// a 9P2000.L Rgetattr carries it) of a stat.
pub(crate) fn file_type(s: &Stat) -> (u32, u64) {
    let m = s.mode;
    if m & Stat::DMDIR != 0 {
        return (S_IFDIR, 0);
    }
    if s.ext.is_none() {
        return (S_IFREG, 0);
    }
    if m & Stat::DMSYMLINK != 0 {
        (S_IFLNK, 0)
    } else if m & Stat::DMDEVICE != 0 {
        let ext = s
            .ext
            .as_ref()
            .map(|e| e.extension.as_bytes())
            .unwrap_or(b"");
        parse_device(ext).unwrap_or((S_IFREG, 0))
    } else if m & Stat::DMNAMEDPIPE != 0 {
        (S_IFIFO, 0)
    } else if m & Stat::DMSOCKET != 0 {
        (S_IFSOCK, 0)
    } else {
        (S_IFREG, 0)
    }
}

/// `b MAJOR MINOR` / `c MAJOR MINOR` (the .u device extension).
fn parse_device(ext: &[u8]) -> Option<(u32, u64)> {
    let text = std::str::from_utf8(ext).ok()?;
    let mut it = text.split_ascii_whitespace();
    let fmt = match it.next()? {
        "b" => S_IFBLK,
        "c" => S_IFCHR,
        _ => return None,
    };
    let major: u32 = it.next()?.parse().ok()?;
    let minor: u32 = it.next()?.parse().ok()?;
    Some((fmt, makedev(major, minor)))
}

/// glibc's `makedev`.
pub(crate) fn makedev(major: u32, minor: u32) -> u64 {
    let (ma, mi) = (u64::from(major), u64::from(minor));
    ((ma & 0xffff_f000) << 32) | ((ma & 0xfff) << 8) | ((mi & 0xffff_ff00) << 12) | (mi & 0xff)
}

/// The .u extension of a device node for Tcreate.
pub(crate) fn device_extension(fmt: u32, major: u32, minor: u32) -> String {
    let kind = if fmt == S_IFBLK { 'b' } else { 'c' };
    format!("{kind} {major} {minor}")
}

/// The Linux mode of a stat: type, permission bits and (.u) set-id bits.
pub(crate) fn mode_of(s: &Stat) -> u32 {
    let mut mode = file_type(s).0 | (s.mode & 0o777);
    if s.ext.is_some() {
        for (dm, bit) in SPECIAL {
            if s.mode & dm != 0 {
                mode |= bit;
            }
        }
    }
    mode
}

/// The 9P2000.u permission bits for Linux permission bits `perm` (the
/// set-id and sticky bits only where they exist).
pub(crate) fn perm_of(perm: u32, unix: bool) -> u32 {
    let mut p = perm & 0o777;
    if unix {
        for (dm, bit) in SPECIAL {
            if perm & bit != 0 {
                p |= dm;
            }
        }
    }
    p
}

/// The Rgetattr a 9P2000.L server would have sent for this stat. Owner and
/// group: the .u numeric ids when set, else the names through [`ids`].
pub(crate) fn attr_of(s: &Stat) -> Rgetattr {
    let (_, rdev) = file_type(s);
    let mode = mode_of(s);
    let numeric =
        |f: fn(&crate::wire::StatExt) -> u32| s.ext.as_ref().map(f).filter(|&n| n != u32::MAX);
    let uid = numeric(|e| e.n_uid).unwrap_or_else(|| ids::user_id(s.uid.as_bytes()));
    let gid = numeric(|e| e.n_gid).unwrap_or_else(|| ids::group_id(s.gid.as_bytes()));
    // A symlink's size is its target's length, as lstat(2) has it.
    let size = match (&s.ext, mode & S_IFMT) {
        (Some(e), S_IFLNK) if s.length == 0 => e.extension.len() as u64,
        _ => s.length,
    };
    Rgetattr {
        valid: getattr::BASIC,
        qid: s.qid,
        mode,
        uid,
        gid,
        nlink: if mode & S_IFMT == S_IFDIR { 2 } else { 1 },
        rdev,
        size,
        blksize: BLKSIZE,
        blocks: size.div_ceil(512),
        atime_sec: s.atime.into(),
        atime_nsec: 0,
        mtime_sec: s.mtime.into(),
        mtime_nsec: 0,
        ctime_sec: s.mtime.into(),
        ctime_nsec: 0,
        btime_sec: 0,
        btime_nsec: 0,
        gen: 0,
        data_version: s.qid.version.into(),
    }
}

/// The `DT_*` type of a stat, for a dirent.
pub(crate) fn dtype_of(s: &Stat) -> u8 {
    // DT_* is the S_IF* type shifted down by 12.
    (file_type(s).0 >> 12) as u8
}

/// The dirent of the `index`-th stat of a directory: its offset is the
/// index of the next one, so a readdir can resume there.
pub(crate) fn dirent_of(index: usize, s: &Stat) -> Dirent {
    Dirent {
        qid: s.qid,
        offset: index as u64 + 1,
        ty: dtype_of(s),
        name: s.name.clone(),
    }
}

/// The Topen/Tcreate mode for open(2) `flags`: the access mode and
/// OTRUNC. (O_APPEND needs nothing: the kernel computes append offsets.)
pub(crate) fn omode_of(flags: u32) -> u8 {
    let mut m = match flags & O_ACCMODE {
        0 => omode::OREAD,
        1 => omode::OWRITE,
        _ => omode::ORDWR,
    };
    if flags & O_TRUNC != 0 {
        m |= omode::OTRUNC;
    }
    m
}

/// Seconds since the epoch, for "now" in a Twstat.
fn now() -> u32 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    u32::try_from(secs).unwrap_or(u32::MAX - 1)
}

/// A time for the 32-bit stat fields (u32::MAX is "don't touch").
fn secs(t: u64) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX - 1).min(u32::MAX - 1)
}

/// Why a setattr cannot be carried by a Twstat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unsendable {
    /// A uid or gid with no name to send (plain 9P2000 has only names).
    NoName(u32),
}

/// The Twstat for setattr `a`, or `None` when nothing is left to change
/// (a Twstat of nothing would be a sync request). `cur_mode` is the file's
/// 9P mode now (a mode change keeps its `DM*` type bits; only needed when
/// `a` changes the mode). Plain 9P2000 cannot set atime (stat(5) lets only
/// mode, mtime, length, name and gid change), so it is left alone there.
pub(crate) fn wstat_of(a: &SetAttr, cur_mode: u32, unix: bool) -> Result<Option<Stat>, Unsendable> {
    let mut s = Stat::dont_touch(unix);
    let has = |bit: u32| a.valid & bit != 0;
    if has(setattr::MODE) {
        let keep = if unix { !0o777 & !special_dm() } else { !0o777 };
        s.mode = (cur_mode & keep) | perm_of(a.mode, unix);
    }
    if has(setattr::SIZE) {
        s.length = a.size;
    }
    if has(setattr::MTIME) {
        s.mtime = if has(setattr::MTIME_SET) {
            secs(a.mtime_sec)
        } else {
            now()
        };
    }
    if has(setattr::ATIME) && unix {
        s.atime = if has(setattr::ATIME_SET) {
            secs(a.atime_sec)
        } else {
            now()
        };
    }
    set_owner(&mut s, a, unix)?;
    Ok((s != Stat::dont_touch(unix)).then_some(s))
}

fn special_dm() -> u32 {
    SPECIAL.iter().fold(0, |acc, (dm, _)| acc | dm)
}

/// Owner and group: numeric in .u (names left empty), names otherwise.
fn set_owner(s: &mut Stat, a: &SetAttr, unix: bool) -> Result<(), Unsendable> {
    let name = |n: Option<String>, id: u32| n.map(NineStr::from).ok_or(Unsendable::NoName(id));
    if a.valid & setattr::UID != 0 {
        match s.ext.as_mut() {
            Some(e) if unix => e.n_uid = a.uid,
            _ => s.uid = name(ids::user_name(a.uid), a.uid)?,
        }
    }
    if a.valid & setattr::GID != 0 {
        match s.ext.as_mut() {
            Some(e) if unix => e.n_gid = a.gid,
            _ => s.gid = name(ids::group_name(a.gid), a.gid)?,
        }
    }
    Ok(())
}

/// The Twstat that renames a file to `name` (in its own directory).
pub(crate) fn rename_stat(name: NineStr, unix: bool) -> Stat {
    Stat {
        name,
        ..Stat::dont_touch(unix)
    }
}

#[cfg(test)]
mod tests;
