//! Golden frames of the messages of plain 9P2000 (Plan 9 manual, section 5)
//! and of their 9P2000.u forms (Linux `net/9p/protocol.c`), including those
//! 9P2000.L shares: each `Option` field is `Some` in the `UNIX` / `U_ONLY`
//! cases and `None` in the `CLASSIC` ones.

use super::*;
use crate::ids::{Fid, Tag, NOFID};

#[rustfmt::skip]
pub(super) fn t_cases() -> Vec<Case<Tmessage>> {
    vec![
        case(0xFFFF, ALL, Tversion { msize: 8192, version: s("9P2000.L") }, &[
            21,0,0,0,                                   // size 21
            100,                                        // type Tversion
            0xff,0xff,                                  // tag NOTAG
            0,0x20,0,0,                                 // msize 8192
            8,0, b'9',b'P',b'2',b'0',b'0',b'0',b'.',b'L', // version "9P2000.L"
        ]),
        case(1, UNIX, Tauth { afid: Fid(7), uname: s("u"), aname: s(""), n_uname: Some(1000) }, &[
            20,0,0,0,     // size 20
            102,          // type Tauth
            1,0,          // tag 1
            7,0,0,0,      // afid 7
            1,0, b'u',    // uname "u"
            0,0,          // aname ""
            0xe8,3,0,0,   // n_uname 1000
        ]),
        case(1, CLASSIC, Tauth { afid: Fid(7), uname: s("u"), aname: s(""), n_uname: None }, &[
            16,0,0,0,     // size 16
            102,          // type Tauth
            1,0,          // tag 1
            7,0,0,0,      // afid 7
            1,0, b'u',    // uname "u"
            0,0,          // aname ""
        ]),
        case(2, UNIX, Tattach {
            fid: Fid(0), afid: NOFID, uname: s("root"), aname: s("/srv"), n_uname: Some(0),
        }, &[
            31,0,0,0,                       // size 31
            104,                            // type Tattach
            2,0,                            // tag 2
            0,0,0,0,                        // fid 0
            0xff,0xff,0xff,0xff,            // afid NOFID
            4,0, b'r',b'o',b'o',b't',       // uname "root"
            4,0, b'/',b's',b'r',b'v',       // aname "/srv"
            0,0,0,0,                        // n_uname 0
        ]),
        case(2, CLASSIC, Tattach {
            fid: Fid(0), afid: NOFID, uname: s("glenda"), aname: s(""), n_uname: None,
        }, &[
            25,0,0,0,                               // size 25
            104,                                    // type Tattach
            2,0,                                    // tag 2
            0,0,0,0,                                // fid 0
            0xff,0xff,0xff,0xff,                    // afid NOFID
            6,0, b'g',b'l',b'e',b'n',b'd',b'a',     // uname "glenda"
            0,0,                                    // aname ""
        ]),
        case(3, ALL, Tflush { oldtag: Tag(5) }, &[
            9,0,0,0,    // size 9
            108,        // type Tflush
            3,0,        // tag 3
            5,0,        // oldtag 5
        ]),
        case(4, ALL, Twalk { fid: Fid(0), newfid: Fid(1), wname: vec![s("usr"), s("lib")] }, &[
            27,0,0,0,               // size 27
            110,                    // type Twalk
            4,0,                    // tag 4
            0,0,0,0,                // fid 0
            1,0,0,0,                // newfid 1
            2,0,                    // nwname 2
            3,0, b'u',b's',b'r',    //   wname "usr"
            3,0, b'l',b'i',b'b',    //   wname "lib"
        ]),
        case(5, ALL, Twalk { fid: Fid(0), newfid: Fid(1), wname: vec![] }, &[
            17,0,0,0,   // size 17
            110,        // type Twalk (a clone)
            5,0,        // tag 5
            0,0,0,0,    // fid 0
            1,0,0,0,    // newfid 1
            0,0,        // nwname 0
        ]),
        case(6, ALL, Tread { fid: Fid(1), offset: 0x1000, count: 0x2000 }, &[
            23,0,0,0,               // size 23
            116,                    // type Tread
            6,0,                    // tag 6
            1,0,0,0,                // fid 1
            0,0x10,0,0,0,0,0,0,     // offset 4096
            0,0x20,0,0,             // count 8192
        ]),
        case(7, ALL, Twrite { fid: Fid(1), offset: 2, data: data(b"hi") }, &[
            25,0,0,0,               // size 25
            118,                    // type Twrite
            7,0,                    // tag 7
            1,0,0,0,                // fid 1
            2,0,0,0,0,0,0,0,        // offset 2
            2,0,0,0,                // count 2
            b'h',b'i',              // data "hi"
        ]),
        case(8, ALL, Tclunk { fid: Fid(1) }, &[
            11,0,0,0,   // size 11
            120,        // type Tclunk
            8,0,        // tag 8
            1,0,0,0,    // fid 1
        ]),
        case(9, ALL, Tremove { fid: Fid(1) }, &[
            11,0,0,0,   // size 11
            122,        // type Tremove
            9,0,        // tag 9
            1,0,0,0,    // fid 1
        ]),
        case(10, PLAN9, Topen { fid: Fid(1), mode: omode::ORDWR | omode::OTRUNC }, &[
            12,0,0,0,   // size 12
            112,        // type Topen
            10,0,       // tag 10
            1,0,0,0,    // fid 1
            0x12,       // mode ORDWR|OTRUNC
        ]),
        case(11, CLASSIC, Tcreate { fid: Fid(1), name: s("new"), perm: 0o644, mode: omode::OWRITE, extension: None }, &[
            21,0,0,0,               // size 21
            114,                    // type Tcreate
            11,0,                   // tag 11
            1,0,0,0,                // fid 1
            3,0, b'n',b'e',b'w',    // name "new"
            0xa4,1,0,0,             // perm 0644
            1,                      // mode OWRITE
        ]),
        case(11, U_ONLY, Tcreate {
            fid: Fid(1), name: s("ln"), perm: Stat::DMSYMLINK | 0o777, mode: omode::OREAD,
            extension: Some(s("target")),
        }, &[
            28,0,0,0,                               // size 28
            114,                                    // type Tcreate
            11,0,                                   // tag 11
            1,0,0,0,                                // fid 1
            2,0, b'l',b'n',                         // name "ln"
            0xff,1,0,2,                             // perm DMSYMLINK|0777
            0,                                      // mode OREAD
            6,0, b't',b'a',b'r',b'g',b'e',b't',     // extension "target"
        ]),
        case(12, PLAN9, Tstat { fid: Fid(1) }, &[
            11,0,0,0,   // size 11
            124,        // type Tstat
            12,0,       // tag 12
            1,0,0,0,    // fid 1
        ]),
        case(13, CLASSIC, Twstat { fid: Fid(1), stat: WrappedStat(dont_touch(None)) }, &[
            63,0,0,0,                           // size 63
            126,                                // type Twstat
            13,0,                               // tag 13
            1,0,0,0,                            // fid 1
            50,0,                               // n 50
            48,0,                               //   stat size 48
            0xff,0xff,                          //   type ~0
            0xff,0xff,0xff,0xff,                //   dev ~0
            0xff, 0xff,0xff,0xff,0xff,
            0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff, // qid ~0
            0xff,0xff,0xff,0xff,                //   mode ~0
            0xff,0xff,0xff,0xff,                //   atime ~0
            0xff,0xff,0xff,0xff,                //   mtime ~0
            0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff, // length ~0
            1,0, b'b',                          //   name "b"
            0,0,                                //   uid ""
            0,0,                                //   gid ""
            0,0,                                //   muid ""
        ]),
        case(13, U_ONLY, Twstat {
            fid: Fid(1),
            stat: WrappedStat(dont_touch(Some(StatExt {
                extension: s(""), n_uid: !0, n_gid: !0, n_muid: !0,
            }))),
        }, &[
            77,0,0,0,                           // size 77
            126,                                // type Twstat
            13,0,                               // tag 13
            1,0,0,0,                            // fid 1
            64,0,                               // n 64
            62,0,                               //   stat size 62
            0xff,0xff,                          //   type ~0
            0xff,0xff,0xff,0xff,                //   dev ~0
            0xff, 0xff,0xff,0xff,0xff,
            0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff, // qid ~0
            0xff,0xff,0xff,0xff,                //   mode ~0
            0xff,0xff,0xff,0xff,                //   atime ~0
            0xff,0xff,0xff,0xff,                //   mtime ~0
            0xff,0xff,0xff,0xff,0xff,0xff,0xff,0xff, // length ~0
            1,0, b'b',                          //   name "b"
            0,0,                                //   uid ""
            0,0,                                //   gid ""
            0,0,                                //   muid ""
            0,0,                                //   extension ""
            0xff,0xff,0xff,0xff,                //   n_uid ~0
            0xff,0xff,0xff,0xff,                //   n_gid ~0
            0xff,0xff,0xff,0xff,                //   n_muid ~0
        ]),
    ]
}

#[rustfmt::skip]
pub(super) fn r_cases() -> Vec<Case<Rmessage>> {
    vec![
        case(0xFFFF, ALL, Rversion { msize: 8192, version: s("9P2000.L") }, &[
            21,0,0,0,                                   // size 21
            101,                                        // type Rversion
            0xff,0xff,                                  // tag NOTAG
            0,0x20,0,0,                                 // msize 8192
            8,0, b'9',b'P',b'2',b'0',b'0',b'0',b'.',b'L', // version "9P2000.L"
        ]),
        case(1, ALL, Rauth { aqid: Qid { ty: Qid::QTAUTH, version: 0, path: 1 } }, &[
            20,0,0,0,                           // size 20
            103,                                // type Rauth
            1,0,                                // tag 1
            8, 0,0,0,0, 1,0,0,0,0,0,0,0,        // aqid auth v0 path 1
        ]),
        case(2, ALL, Rattach { qid: QD }, &[
            20,0,0,0,                           // size 20
            105,                                // type Rattach
            2,0,                                // tag 2
            0x80, 1,0,0,0, 2,0,0,0,0,0,0,0,     // qid QD
        ]),
        case(3, CLASSIC, Rerror { ename: s("file not found"), errno: None }, &[
            23,0,0,0,                           // size 23
            107,                                // type Rerror
            3,0,                                // tag 3
            14,0, b'f',b'i',b'l',b'e',b' ',b'n',b'o',b't',b' ',b'f',b'o',b'u',b'n',b'd', // ename
        ]),
        case(3, U_ONLY, Rerror { ename: s("not found"), errno: Some(2) }, &[
            22,0,0,0,                                           // size 22
            107,                                                // type Rerror
            3,0,                                                // tag 3
            9,0, b'n',b'o',b't',b' ',b'f',b'o',b'u',b'n',b'd',  // ename "not found"
            2,0,0,0,                                            // errno ENOENT
        ]),
        case(4, ALL, Rflush {}, &[
            7,0,0,0,    // size 7
            109,        // type Rflush
            4,0,        // tag 4
        ]),
        case(5, ALL, Rwalk { wqid: vec![QD, QF] }, &[
            35,0,0,0,                           // size 35
            111,                                // type Rwalk
            5,0,                                // tag 5
            2,0,                                // nwqid 2
            0x80, 1,0,0,0, 2,0,0,0,0,0,0,0,     //   qid QD
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,        //   qid QF
        ]),
        case(5, ALL, Rwalk { wqid: vec![] }, &[
            9,0,0,0,    // size 9
            111,        // type Rwalk
            5,0,        // tag 5
            0,0,        // nwqid 0
        ]),
        case(6, ALL, Rread { data: data(b"hello") }, &[
            16,0,0,0,                       // size 16
            117,                            // type Rread
            6,0,                            // tag 6
            5,0,0,0,                        // count 5
            b'h',b'e',b'l',b'l',b'o',       // data "hello"
        ]),
        case(7, ALL, Rwrite { count: 2 }, &[
            11,0,0,0,   // size 11
            119,        // type Rwrite
            7,0,        // tag 7
            2,0,0,0,    // count 2
        ]),
        case(8, ALL, Rclunk {}, &[
            7,0,0,0,    // size 7
            121,        // type Rclunk
            8,0,        // tag 8
        ]),
        case(9, ALL, Rremove {}, &[
            7,0,0,0,    // size 7
            123,        // type Rremove
            9,0,        // tag 9
        ]),
        case(10, PLAN9, Ropen { qid: QF, iounit: 0 }, &[
            24,0,0,0,                           // size 24
            113,                                // type Ropen
            10,0,                               // tag 10
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,        // qid QF
            0,0,0,0,                            // iounit 0
        ]),
        case(11, PLAN9, Rcreate { qid: QF, iounit: 8168 }, &[
            24,0,0,0,                           // size 24
            115,                                // type Rcreate
            11,0,                               // tag 11
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,        // qid QF
            0xe8,0x1f,0,0,                      // iounit 8168
        ]),
        case(12, CLASSIC, Rstat { stat: WrappedStat(file_stat(None)) }, &[
            62,0,0,0,                           // size 62
            125,                                // type Rstat
            12,0,                               // tag 12
            53,0,                               // n 53
            51,0,                               //   stat size 51
            0,0,                                //   type 0
            0,0,0,0,                            //   dev 0
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,        //   qid QF
            0xa4,1,0,0,                         //   mode 0644
            10,0,0,0,                           //   atime 10
            20,0,0,0,                           //   mtime 20
            5,0,0,0,0,0,0,0,                    //   length 5
            1,0, b'a',                          //   name "a"
            1,0, b'u',                          //   uid "u"
            1,0, b'g',                          //   gid "g"
            1,0, b'm',                          //   muid "m"
        ]),
        case(12, U_ONLY, Rstat {
            stat: WrappedStat(file_stat(Some(StatExt {
                extension: s(""), n_uid: 1000, n_gid: 100, n_muid: 1000,
            }))),
        }, &[
            76,0,0,0,                           // size 76
            125,                                // type Rstat
            12,0,                               // tag 12
            67,0,                               // n 67
            65,0,                               //   stat size 65
            0,0,                                //   type 0
            0,0,0,0,                            //   dev 0
            0, 3,0,0,0, 8,7,6,5,4,3,2,1,        //   qid QF
            0xa4,1,0,0,                         //   mode 0644
            10,0,0,0,                           //   atime 10
            20,0,0,0,                           //   mtime 20
            5,0,0,0,0,0,0,0,                    //   length 5
            1,0, b'a',                          //   name "a"
            1,0, b'u',                          //   uid "u"
            1,0, b'g',                          //   gid "g"
            1,0, b'm',                          //   muid "m"
            0,0,                                //   extension ""
            0xe8,3,0,0,                         //   n_uid 1000
            100,0,0,0,                          //   n_gid 100
            0xe8,3,0,0,                         //   n_muid 1000
        ]),
        case(13, PLAN9, Rwstat {}, &[
            7,0,0,0,    // size 7
            127,        // type Rwstat
            13,0,       // tag 13
        ]),
    ]
}

/// The stat of a 5-byte file "a", as in the Rstat cases.
pub(super) fn file_stat(ext: Option<StatExt>) -> Stat {
    Stat {
        ty: 0,
        dev: 0,
        qid: QF,
        mode: 0o644,
        atime: 10,
        mtime: 20,
        length: 5,
        name: s("a"),
        uid: s("u"),
        gid: s("g"),
        muid: s("m"),
        ext,
    }
}

/// A wstat that only renames to "b": every other field "don't touch".
fn dont_touch(ext: Option<StatExt>) -> Stat {
    Stat {
        ty: !0,
        dev: !0,
        qid: Qid {
            ty: !0,
            version: !0,
            path: !0,
        },
        mode: !0,
        atime: !0,
        mtime: !0,
        length: !0,
        name: s("b"),
        uid: s(""),
        gid: s(""),
        muid: s(""),
        ext,
    }
}
