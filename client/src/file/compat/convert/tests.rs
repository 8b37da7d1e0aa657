//! The stat <-> 9P2000.L conversions, without a server.

use super::*;
use crate::wire::{Qid, StatExt};

fn stat(mode: u32, ext: Option<(&str, u32, u32)>) -> Stat {
    Stat {
        qid: Qid {
            ty: (mode >> 24) as u8,
            version: 3,
            path: 42,
        },
        mode,
        atime: 10,
        mtime: 20,
        length: 1000,
        name: "f".into(),
        uid: "root".into(),
        gid: "4321".into(),
        ext: ext.map(|(e, u, g)| StatExt {
            extension: e.into(),
            n_uid: u,
            n_gid: g,
            n_muid: u32::MAX,
        }),
        ..Stat::default()
    }
}

#[test]
fn plain_stats_become_attributes() {
    let a = attr_of(&stat(0o644, None));
    assert_eq!(a.mode, S_IFREG | 0o644);
    assert_eq!((a.size, a.blocks, a.nlink), (1000, 2, 1));
    assert_eq!((a.mtime_sec, a.atime_sec, a.ctime_sec), (20, 10, 20));
    // "root" is in every passwd; a group of digits is its number.
    assert_eq!((a.uid, a.gid), (0, 4321));
    let d = attr_of(&stat(Stat::DMDIR | 0o755, None));
    assert_eq!((d.mode, d.nlink), (S_IFDIR | 0o755, 2));
    // Without the .u extension, .u bits mean nothing.
    assert_eq!(
        mode_of(&stat(Stat::DMSYMLINK | 0o777, None)),
        S_IFREG | 0o777
    );
}

#[test]
fn unix_stats_have_types_ids_and_special_bits() {
    let l = stat(Stat::DMSYMLINK | 0o777, Some(("target", 7, 8)));
    let a = attr_of(&l);
    assert_eq!((a.mode, a.uid, a.gid), (S_IFLNK | 0o777, 7, 8));
    // The server's length wins; a symlink of length 0 has its target's.
    assert_eq!(a.size, 1000);
    let a = attr_of(&Stat { length: 0, ..l });
    assert_eq!(a.size, 6);
    let dev = stat(
        Stat::DMDEVICE | 0o600,
        Some(("c 259 300", u32::MAX, u32::MAX)),
    );
    let a = attr_of(&dev);
    assert_eq!(a.mode, S_IFCHR | 0o600);
    assert_eq!(a.rdev, makedev(259, 300));
    // No numeric ids: the names decide.
    assert_eq!((a.uid, a.gid), (0, 4321));
    let s = stat(Stat::DMSETUID | Stat::DMSETVTX | 0o755, Some(("", 0, 0)));
    assert_eq!(mode_of(&s), S_IFREG | 0o5755);
    let p = stat(Stat::DMNAMEDPIPE | 0o600, Some(("", 0, 0)));
    assert_eq!((mode_of(&p), dtype_of(&p)), (S_IFIFO | 0o600, 1));
    let bad = stat(Stat::DMDEVICE | 0o600, Some(("x 1", 0, 0)));
    assert_eq!(mode_of(&bad), S_IFREG | 0o600);
}

#[test]
fn dirents_carry_the_next_index_and_the_type() {
    let d = dirent_of(4, &stat(Stat::DMDIR | 0o755, None));
    assert_eq!((d.offset, d.ty, d.qid.path), (5, 4, 42));
    assert_eq!(dirent_of(0, &stat(0o644, None)).ty, 8);
}

#[test]
fn open_flags_become_omodes() {
    assert_eq!(omode_of(0), omode::OREAD);
    assert_eq!(omode_of(1), omode::OWRITE);
    assert_eq!(omode_of(2 | 0o1000), omode::ORDWR | omode::OTRUNC);
    // O_APPEND, O_DIRECTORY and the like are not 9P's business.
    assert_eq!(omode_of(1 | 0o2000 | 0o200000), omode::OWRITE);
}

#[test]
fn setattr_becomes_one_wstat_touching_only_what_changes() {
    let chmod = SetAttr {
        valid: setattr::MODE,
        mode: 0o4750,
        ..SetAttr::default()
    };
    let cur = Stat::DMAPPEND | Stat::DMSETGID | 0o644;
    let s = wstat_of(&chmod, cur, true).unwrap().unwrap();
    assert_eq!(s.mode, Stat::DMAPPEND | Stat::DMSETUID | 0o750);
    assert_eq!(s.length, u64::MAX);
    let s = wstat_of(&chmod, cur, false).unwrap().unwrap();
    assert_eq!(s.mode, Stat::DMAPPEND | Stat::DMSETGID | 0o750);
    assert!(s.ext.is_none());

    let truncate = SetAttr {
        valid: setattr::SIZE | setattr::CTIME,
        size: 5,
        ..SetAttr::default()
    };
    let s = wstat_of(&truncate, 0, false).unwrap().unwrap();
    assert_eq!(
        s,
        Stat {
            length: 5,
            ..Stat::dont_touch(false)
        }
    );

    let times = SetAttr {
        valid: setattr::ATIME | setattr::ATIME_SET | setattr::MTIME | setattr::MTIME_SET,
        atime_sec: 100,
        mtime_sec: 200,
        ..SetAttr::default()
    };
    let s = wstat_of(&times, 0, true).unwrap().unwrap();
    assert_eq!((s.atime, s.mtime), (100, 200));
    // Plan 9 refuses an atime change: plain 9P2000 leaves it alone.
    let s = wstat_of(&times, 0, false).unwrap().unwrap();
    assert_eq!((s.atime, s.mtime), (u32::MAX, 200));
    let atime_only = SetAttr {
        valid: setattr::ATIME,
        ..SetAttr::default()
    };
    assert_eq!(wstat_of(&atime_only, 0, false), Ok(None));
    let ctime = SetAttr {
        valid: setattr::CTIME,
        ..SetAttr::default()
    };
    assert_eq!(wstat_of(&ctime, 0, true), Ok(None));
}

#[test]
fn owners_are_numbers_in_unix_and_names_otherwise() {
    let chown = SetAttr {
        valid: setattr::UID | setattr::GID,
        uid: 0,
        gid: 0,
        ..SetAttr::default()
    };
    let s = wstat_of(&chown, 0, true).unwrap().unwrap();
    let e = s.ext.clone().unwrap();
    assert_eq!((e.n_uid, e.n_gid, s.uid.len()), (0, 0, 0));
    let s = wstat_of(&chown, 0, false).unwrap().unwrap();
    assert_eq!(s.uid.to_str_lossy(), "root");
    let stranger = SetAttr {
        valid: setattr::UID,
        uid: 3_999_999_999,
        ..SetAttr::default()
    };
    assert_eq!(
        wstat_of(&stranger, 0, false),
        Err(Unsendable::NoName(3_999_999_999))
    );
}

#[test]
fn device_extensions_round_trip() {
    assert_eq!(device_extension(S_IFBLK, 8, 1), "b 8 1");
    assert_eq!(parse_device(b"b 8 1"), Some((S_IFBLK, makedev(8, 1))));
    assert_eq!(makedev(8, 1), 0x801);
}
