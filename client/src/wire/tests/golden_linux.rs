//! Golden frames of the 9P2000.L-only messages, written by hand from diod's
//! protocol.md and Linux `net/9p/protocol.c`: `size[4] type[1] tag[2] body`,
//! all little-endian.

use super::*;
use crate::ids::{Fid, Tag};

#[rustfmt::skip]
pub(super) fn t_cases() -> Vec<Case<Tmessage>> {
    vec![
        case(1, LINUX, Tstatfs { fid: Fid(1) }, &[
            11,0,0,0,   // size 11
            8,          // type Tstatfs
            1,0,        // tag 1
            1,0,0,0,    // fid 1
        ]),
        case(2, LINUX, Tlopen { fid: Fid(2), flags: 0x8002 }, &[
            15,0,0,0,   // size 15
            12,         // type Tlopen
            2,0,        // tag 2
            2,0,0,0,    // fid 2
            2,0x80,0,0, // flags O_RDWR|O_LARGEFILE
        ]),
        case(3, LINUX, Tlcreate { fid: Fid(3), name: s("f"), flags: 0o101, mode: 0o644, gid: 100 }, &[
            26,0,0,0,    // size 26
            14,          // type Tlcreate
            3,0,         // tag 3
            3,0,0,0,     // fid 3
            1,0, b'f',   // name "f"
            0x41,0,0,0,  // flags O_WRONLY|O_CREAT
            0xa4,1,0,0,  // mode 0644
            100,0,0,0,   // gid 100
        ]),
        case(4, LINUX, Tsymlink { fid: Fid(3), name: s("ln"), symtgt: s("t"), gid: 100 }, &[
            22,0,0,0,      // size 22
            16,            // type Tsymlink
            4,0,           // tag 4
            3,0,0,0,       // fid 3
            2,0, b'l',b'n', // name "ln"
            1,0, b't',     // symtgt "t"
            100,0,0,0,     // gid 100
        ]),
        case(5, LINUX, Tmknod { dfid: Fid(3), name: s("b"), mode: 0o60644, major: 8, minor: 1, gid: 100 }, &[
            30,0,0,0,     // size 30
            18,           // type Tmknod
            5,0,          // tag 5
            3,0,0,0,      // dfid 3
            1,0, b'b',    // name "b"
            0xa4,0x61,0,0, // mode S_IFBLK|0644
            8,0,0,0,      // major 8
            1,0,0,0,      // minor 1
            100,0,0,0,    // gid 100
        ]),
        case(6, LINUX, Trename { fid: Fid(4), dfid: Fid(3), name: s("new") }, &[
            20,0,0,0,             // size 20
            20,                   // type Trename
            6,0,                  // tag 6
            4,0,0,0,              // fid 4
            3,0,0,0,              // dfid 3
            3,0, b'n',b'e',b'w',  // name "new"
        ]),
        case(7, LINUX, Treadlink { fid: Fid(4) }, &[
            11,0,0,0,   // size 11
            22,         // type Treadlink
            7,0,        // tag 7
            4,0,0,0,    // fid 4
        ]),
        case(8, LINUX, Tgetattr { fid: Fid(4), request_mask: getattr::BASIC }, &[
            19,0,0,0,              // size 19
            24,                    // type Tgetattr
            8,0,                   // tag 8
            4,0,0,0,               // fid 4
            0xff,7,0,0,0,0,0,0,    // request_mask P9_GETATTR_BASIC
        ]),
        case(9, LINUX, Tsetattr {
            fid: Fid(4), valid: setattr::MODE | setattr::SIZE, mode: 0o755, uid: 1000, gid: 1000,
            size: 4096, atime_sec: 1, atime_nsec: 2, mtime_sec: 3, mtime_nsec: 4,
        }, &[
            67,0,0,0,              // size 67
            26,                    // type Tsetattr
            9,0,                   // tag 9
            4,0,0,0,               // fid 4
            9,0,0,0,               // valid MODE|SIZE
            0xed,1,0,0,            // mode 0755
            0xe8,3,0,0,            // uid 1000
            0xe8,3,0,0,            // gid 1000
            0,0x10,0,0,0,0,0,0,    // size 4096
            1,0,0,0,0,0,0,0,       // atime_sec 1
            2,0,0,0,0,0,0,0,       // atime_nsec 2
            3,0,0,0,0,0,0,0,       // mtime_sec 3
            4,0,0,0,0,0,0,0,       // mtime_nsec 4
        ]),
        case(10, LINUX, Txattrwalk { fid: Fid(4), newfid: Fid(5), name: s("user.a") }, &[
            23,0,0,0,                               // size 23
            30,                                     // type Txattrwalk
            10,0,                                   // tag 10
            4,0,0,0,                                // fid 4
            5,0,0,0,                                // newfid 5
            6,0, b'u',b's',b'e',b'r',b'.',b'a',     // name "user.a"
        ]),
        case(11, LINUX, Txattrcreate { fid: Fid(5), name: s("user.a"), attr_size: 3, flags: 0 }, &[
            31,0,0,0,                               // size 31
            32,                                     // type Txattrcreate
            11,0,                                   // tag 11
            5,0,0,0,                                // fid 5
            6,0, b'u',b's',b'e',b'r',b'.',b'a',     // name "user.a"
            3,0,0,0,0,0,0,0,                        // attr_size 3
            0,0,0,0,                                // flags 0
        ]),
        case(12, LINUX, Treaddir { fid: Fid(3), offset: 0, count: 8168 }, &[
            23,0,0,0,           // size 23
            40,                 // type Treaddir
            12,0,               // tag 12
            3,0,0,0,            // fid 3
            0,0,0,0,0,0,0,0,    // offset 0
            0xe8,0x1f,0,0,      // count 8168
        ]),
        case(13, LINUX, Tfsync { fid: Fid(4), datasync: 1 }, &[
            15,0,0,0,   // size 15
            50,         // type Tfsync
            13,0,       // tag 13
            4,0,0,0,    // fid 4
            1,0,0,0,    // datasync 1
        ]),
        case(14, LINUX, Tlock {
            fid: Fid(4), ty: lock::WRLCK, flags: lock::FLAGS_BLOCK, start: 10, length: 20,
            proc_id: 42, client_id: s("host"),
        }, &[
            42,0,0,0,                       // size 42
            52,                             // type Tlock
            14,0,                           // tag 14
            4,0,0,0,                        // fid 4
            1,                              // type F_WRLCK
            1,0,0,0,                        // flags P9_LOCK_FLAGS_BLOCK
            10,0,0,0,0,0,0,0,               // start 10
            20,0,0,0,0,0,0,0,               // length 20
            42,0,0,0,                       // proc_id 42
            4,0, b'h',b'o',b's',b't',       // client_id "host"
        ]),
        case(15, LINUX, Tgetlock {
            fid: Fid(4), ty: lock::RDLCK, start: 10, length: 20, proc_id: 42, client_id: s("host"),
        }, &[
            38,0,0,0,                       // size 38
            54,                             // type Tgetlock
            15,0,                           // tag 15
            4,0,0,0,                        // fid 4
            0,                              // type F_RDLCK
            10,0,0,0,0,0,0,0,               // start 10
            20,0,0,0,0,0,0,0,               // length 20
            42,0,0,0,                       // proc_id 42
            4,0, b'h',b'o',b's',b't',       // client_id "host"
        ]),
        case(16, LINUX, Tlink { dfid: Fid(3), fid: Fid(4), name: s("hl") }, &[
            19,0,0,0,         // size 19
            70,               // type Tlink
            16,0,             // tag 16
            3,0,0,0,          // dfid 3
            4,0,0,0,          // fid 4
            2,0, b'h',b'l',   // name "hl"
        ]),
        case(17, LINUX, Tmkdir { dfid: Fid(3), name: s("d"), mode: 0o755, gid: 100 }, &[
            22,0,0,0,     // size 22
            72,           // type Tmkdir
            17,0,         // tag 17
            3,0,0,0,      // dfid 3
            1,0, b'd',    // name "d"
            0xed,1,0,0,   // mode 0755
            100,0,0,0,    // gid 100
        ]),
        case(18, LINUX, Trenameat { olddirfid: Fid(3), oldname: s("a"), newdirfid: Fid(6), newname: s("b") }, &[
            21,0,0,0,     // size 21
            74,           // type Trenameat
            18,0,         // tag 18
            3,0,0,0,      // olddirfid 3
            1,0, b'a',    // oldname "a"
            6,0,0,0,      // newdirfid 6
            1,0, b'b',    // newname "b"
        ]),
        case(19, LINUX, Tunlinkat { dirfd: Fid(3), name: s("d"), flags: 0x200 }, &[
            18,0,0,0,     // size 18
            76,           // type Tunlinkat
            19,0,         // tag 19
            3,0,0,0,      // dirfd 3
            1,0, b'd',    // name "d"
            0,2,0,0,      // flags AT_REMOVEDIR
        ]),
    ]
}

#[rustfmt::skip]
pub(super) fn r_cases() -> Vec<Case<Rmessage>> {
    vec![
        case(1, LINUX, Rlerror { ecode: 2 }, &[
            11,0,0,0,   // size 11
            7,          // type Rlerror
            1,0,        // tag 1
            2,0,0,0,    // ecode ENOENT
        ]),
        case(1, LINUX, Rstatfs {
            ty: 0x0102_1994, bsize: 4096, blocks: 1000, bfree: 500, bavail: 400,
            files: 100, ffree: 50, fsid: 0x1234, namelen: 255,
        }, &[
            67,0,0,0,                   // size 67
            9,                          // type Rstatfs
            1,0,                        // tag 1
            0x94,0x19,0x02,0x01,        // type TMPFS_MAGIC
            0,0x10,0,0,                 // bsize 4096
            0xe8,3,0,0,0,0,0,0,         // blocks 1000
            0xf4,1,0,0,0,0,0,0,         // bfree 500
            0x90,1,0,0,0,0,0,0,         // bavail 400
            100,0,0,0,0,0,0,0,          // files 100
            50,0,0,0,0,0,0,0,           // ffree 50
            0x34,0x12,0,0,0,0,0,0,      // fsid 0x1234
            255,0,0,0,                  // namelen 255
        ]),
        case(2, LINUX, Rlopen { qid: QF, iounit: 0 }, &[
            24,0,0,0,                                   // size 24
            13,                                         // type Rlopen
            2,0,                                        // tag 2
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,                // qid QF
            0,0,0,0,                                    // iounit 0
        ]),
        case(3, LINUX, Rlcreate { qid: QF, iounit: 8168 }, &[
            24,0,0,0,                                   // size 24
            15,                                         // type Rlcreate
            3,0,                                        // tag 3
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,                // qid QF
            0xe8,0x1f,0,0,                              // iounit 8168
        ]),
        case(4, LINUX, Rsymlink { qid: Qid { ty: Qid::QTSYMLINK, version: 0, path: 9 } }, &[
            20,0,0,0,                                   // size 20
            17,                                         // type Rsymlink
            4,0,                                        // tag 4
            2, 0,0,0,0, 9,0,0,0,0,0,0,0,                // qid symlink v0 path 9
        ]),
        case(5, LINUX, Rmknod { qid: QF }, &[
            20,0,0,0,                                   // size 20
            19,                                         // type Rmknod
            5,0,                                        // tag 5
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,                // qid QF
        ]),
        case(6, LINUX, Rrename {}, &[
            7,0,0,0,    // size 7
            21,         // type Rrename
            6,0,        // tag 6
        ]),
        case(7, LINUX, Rreadlink { target: s("/tmp") }, &[
            13,0,0,0,                      // size 13
            23,                            // type Rreadlink
            7,0,                           // tag 7
            4,0, b'/',b't',b'm',b'p',      // target "/tmp"
        ]),
        case(8, LINUX, Rgetattr {
            valid: getattr::BASIC, qid: QF, mode: 0o100644, uid: 1000, gid: 100, nlink: 1,
            rdev: 0, size: 5, blksize: 4096, blocks: 8,
            atime_sec: 1, atime_nsec: 2, mtime_sec: 3, mtime_nsec: 4, ctime_sec: 5, ctime_nsec: 6,
            btime_sec: 0, btime_nsec: 0, gen: 0, data_version: 0,
        }, &[
            160,0,0,0,                          // size 160
            25,                                 // type Rgetattr
            8,0,                                // tag 8
            0xff,7,0,0,0,0,0,0,                 // valid P9_GETATTR_BASIC
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,        // qid QF
            0xa4,0x81,0,0,                      // mode S_IFREG|0644
            0xe8,3,0,0,                         // uid 1000
            100,0,0,0,                          // gid 100
            1,0,0,0,0,0,0,0,                    // nlink 1
            0,0,0,0,0,0,0,0,                    // rdev 0
            5,0,0,0,0,0,0,0,                    // size 5
            0,0x10,0,0,0,0,0,0,                 // blksize 4096
            8,0,0,0,0,0,0,0,                    // blocks 8
            1,0,0,0,0,0,0,0,                    // atime_sec 1
            2,0,0,0,0,0,0,0,                    // atime_nsec 2
            3,0,0,0,0,0,0,0,                    // mtime_sec 3
            4,0,0,0,0,0,0,0,                    // mtime_nsec 4
            5,0,0,0,0,0,0,0,                    // ctime_sec 5
            6,0,0,0,0,0,0,0,                    // ctime_nsec 6
            0,0,0,0,0,0,0,0,                    // btime_sec 0
            0,0,0,0,0,0,0,0,                    // btime_nsec 0
            0,0,0,0,0,0,0,0,                    // gen 0
            0,0,0,0,0,0,0,0,                    // data_version 0
        ]),
        case(9, LINUX, Rsetattr {}, &[
            7,0,0,0,    // size 7
            27,         // type Rsetattr
            9,0,        // tag 9
        ]),
        case(10, LINUX, Rxattrwalk { size: 3 }, &[
            15,0,0,0,           // size 15
            31,                 // type Rxattrwalk
            10,0,               // tag 10
            3,0,0,0,0,0,0,0,    // size 3
        ]),
        case(11, LINUX, Rxattrcreate {}, &[
            7,0,0,0,    // size 7
            33,         // type Rxattrcreate
            11,0,       // tag 11
        ]),
        case(12, LINUX, Rreaddir { data: data(&[
            0x80, 1,0,0,0, 2,0,0,0,0,0,0,0, 1,0,0,0,0,0,0,0, 4, 1,0, b'.',
        ]) }, &[
            36,0,0,0,                               // size 36
            41,                                     // type Rreaddir
            12,0,                                   // tag 12
            25,0,0,0,                               // count 25
            0x80, 1,0,0,0, 2,0,0,0,0,0,0,0,         //   qid QD
            1,0,0,0,0,0,0,0,                        //   offset 1
            4,                                      //   type DT_DIR
            1,0, b'.',                              //   name "."
        ]),
        case(13, LINUX, Rfsync {}, &[
            7,0,0,0,    // size 7
            51,         // type Rfsync
            13,0,       // tag 13
        ]),
        case(14, LINUX, Rlock { status: lock::SUCCESS }, &[
            8,0,0,0,    // size 8
            53,         // type Rlock
            14,0,       // tag 14
            0,          // status P9_LOCK_SUCCESS
        ]),
        case(15, LINUX, Rgetlock { ty: lock::UNLCK, start: 10, length: 20, proc_id: 42, client_id: s("host") }, &[
            34,0,0,0,                       // size 34
            55,                             // type Rgetlock
            15,0,                           // tag 15
            2,                              // type F_UNLCK
            10,0,0,0,0,0,0,0,               // start 10
            20,0,0,0,0,0,0,0,               // length 20
            42,0,0,0,                       // proc_id 42
            4,0, b'h',b'o',b's',b't',       // client_id "host"
        ]),
        case(16, LINUX, Rlink {}, &[
            7,0,0,0,    // size 7
            71,         // type Rlink
            16,0,       // tag 16
        ]),
        case(17, LINUX, Rmkdir { qid: QD }, &[
            20,0,0,0,                                   // size 20
            73,                                         // type Rmkdir
            17,0,                                       // tag 17
            0x80, 1,0,0,0, 2,0,0,0,0,0,0,0,             // qid QD
        ]),
        case(18, LINUX, Rrenameat {}, &[
            7,0,0,0,    // size 7
            75,         // type Rrenameat
            18,0,       // tag 18
        ]),
        case(19, LINUX, Runlinkat {}, &[
            7,0,0,0,    // size 7
            77,         // type Runlinkat
            19,0,       // tag 19
        ]),
    ]
}

/// Tags are written as given, `NOTAG` included; only the tag bytes differ.
#[test]
fn tag_is_the_only_difference() {
    let a = encode(0, &Tmessage::from(Tclunk { fid: Fid(9) }));
    let b = encode(0xFFFF, &Tmessage::from(Tclunk { fid: Fid(9) }));
    assert_eq!(a[..5], b[..5]);
    assert_eq!(a[7..], b[7..]);
    assert_eq!(&b[5..7], &[0xff, 0xff]);
    let (tag, _) = decode_one::<Tmessage>(&b, MSIZE, Dialect::L);
    assert_eq!(tag, crate::ids::NOTAG);
    assert_eq!(tag, Tag(0xFFFF));
}
