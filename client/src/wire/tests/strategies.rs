//! proptest strategies for every message body, per dialect: an `Option`
//! field is `Some` exactly when the dialect has the Unix extensions, as the
//! decoder expects.

use bytes::Bytes;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::strategy::Union;
use std::fmt::Debug;

use super::*;
use crate::ids::{Fid, Tag};

/// `$enum::$name($name { .. })` with each field drawn from its strategy
/// (at most 12 fields: proptest's largest tuple).
macro_rules! msg {
    ($enum:ident :: $name:ident {}) => {
        Just($enum::$name($name {})).boxed()
    };
    ($enum:ident :: $name:ident { $($f:ident : $s:expr),+ $(,)? }) => {
        ($($s,)+).prop_map(|($($f,)+)| $enum::$name($name { $($f),+ })).boxed()
    };
}

pub(super) fn dialect() -> impl Strategy<Value = Dialect> {
    prop_oneof![Just(Dialect::L), Just(Dialect::U), Just(Dialect::Classic)]
}

/// Strings are arbitrary bytes: Linux file names need not be UTF-8.
pub(super) fn nstr() -> BoxedStrategy<NineStr> {
    vec(any::<u8>(), 0..=64)
        .prop_map(|b| NineStr::new(b).expect("short"))
        .boxed()
}

fn data() -> BoxedStrategy<Data> {
    vec(any::<u8>(), 0..=4096)
        .prop_map(|b| Data(Bytes::from(b)))
        .boxed()
}

pub(super) fn qid() -> BoxedStrategy<Qid> {
    (any::<u8>(), any::<u32>(), any::<u64>())
        .prop_map(|(ty, version, path)| Qid { ty, version, path })
        .boxed()
}

fn fid() -> BoxedStrategy<Fid> {
    any::<u32>().prop_map(Fid).boxed()
}

fn u8s() -> BoxedStrategy<u8> {
    any::<u8>().boxed()
}

fn u32s() -> BoxedStrategy<u32> {
    any::<u32>().boxed()
}

fn u64s() -> BoxedStrategy<u64> {
    any::<u64>().boxed()
}

/// `Some` iff `d` has the Unix extensions.
fn opt<T: Debug + Clone + 'static>(d: Dialect, s: BoxedStrategy<T>) -> BoxedStrategy<Option<T>> {
    if d.has_unix_extensions() {
        s.prop_map(Some).boxed()
    } else {
        Just(None).boxed()
    }
}

pub(super) fn dirent() -> BoxedStrategy<Dirent> {
    (qid(), u64s(), u8s(), nstr())
        .prop_map(|(qid, offset, ty, name)| Dirent {
            qid,
            offset,
            ty,
            name,
        })
        .boxed()
}

fn stat_ext() -> BoxedStrategy<StatExt> {
    (nstr(), u32s(), u32s(), u32s())
        .prop_map(|(extension, n_uid, n_gid, n_muid)| StatExt {
            extension,
            n_uid,
            n_gid,
            n_muid,
        })
        .boxed()
}

pub(super) fn stat(d: Dialect) -> BoxedStrategy<Stat> {
    let ints = (any::<u16>(), u32s(), qid(), u32s(), u32s(), u32s(), u64s());
    let strs = (nstr(), nstr(), nstr(), nstr(), opt(d, stat_ext()));
    (ints, strs)
        .prop_map(
            |((ty, dev, qid, mode, atime, mtime, length), (name, uid, gid, muid, ext))| Stat {
                ty,
                dev,
                qid,
                mode,
                atime,
                mtime,
                length,
                name,
                uid,
                gid,
                muid,
                ext,
            },
        )
        .boxed()
}

fn wrapped_stat(d: Dialect) -> BoxedStrategy<WrappedStat> {
    stat(d).prop_map(WrappedStat).boxed()
}

/// Any request of dialect `d`.
pub(super) fn tmessage(d: Dialect) -> BoxedStrategy<Tmessage> {
    let tag = || any::<u16>().prop_map(Tag).boxed();
    Union::new(vec![
        msg!(Tmessage::Tstatfs { fid: fid() }),
        msg!(Tmessage::Tlopen {
            fid: fid(),
            flags: u32s()
        }),
        msg!(Tmessage::Tlcreate {
            fid: fid(),
            name: nstr(),
            flags: u32s(),
            mode: u32s(),
            gid: u32s()
        }),
        msg!(Tmessage::Tsymlink {
            fid: fid(),
            name: nstr(),
            symtgt: nstr(),
            gid: u32s()
        }),
        msg!(Tmessage::Tmknod {
            dfid: fid(),
            name: nstr(),
            mode: u32s(),
            major: u32s(),
            minor: u32s(),
            gid: u32s(),
        }),
        msg!(Tmessage::Trename {
            fid: fid(),
            dfid: fid(),
            name: nstr()
        }),
        msg!(Tmessage::Treadlink { fid: fid() }),
        msg!(Tmessage::Tgetattr {
            fid: fid(),
            request_mask: u64s()
        }),
        msg!(Tmessage::Tsetattr {
            fid: fid(),
            valid: u32s(),
            mode: u32s(),
            uid: u32s(),
            gid: u32s(),
            size: u64s(),
            atime_sec: u64s(),
            atime_nsec: u64s(),
            mtime_sec: u64s(),
            mtime_nsec: u64s(),
        }),
        msg!(Tmessage::Txattrwalk {
            fid: fid(),
            newfid: fid(),
            name: nstr()
        }),
        msg!(Tmessage::Txattrcreate {
            fid: fid(),
            name: nstr(),
            attr_size: u64s(),
            flags: u32s()
        }),
        msg!(Tmessage::Treaddir {
            fid: fid(),
            offset: u64s(),
            count: u32s()
        }),
        msg!(Tmessage::Tfsync {
            fid: fid(),
            datasync: u32s()
        }),
        msg!(Tmessage::Tlock {
            fid: fid(),
            ty: u8s(),
            flags: u32s(),
            start: u64s(),
            length: u64s(),
            proc_id: u32s(),
            client_id: nstr(),
        }),
        msg!(Tmessage::Tgetlock {
            fid: fid(),
            ty: u8s(),
            start: u64s(),
            length: u64s(),
            proc_id: u32s(),
            client_id: nstr(),
        }),
        msg!(Tmessage::Tlink {
            dfid: fid(),
            fid: fid(),
            name: nstr()
        }),
        msg!(Tmessage::Tmkdir {
            dfid: fid(),
            name: nstr(),
            mode: u32s(),
            gid: u32s()
        }),
        msg!(Tmessage::Trenameat {
            olddirfid: fid(),
            oldname: nstr(),
            newdirfid: fid(),
            newname: nstr()
        }),
        msg!(Tmessage::Tunlinkat {
            dirfd: fid(),
            name: nstr(),
            flags: u32s()
        }),
        msg!(Tmessage::Tversion {
            msize: u32s(),
            version: nstr()
        }),
        msg!(Tmessage::Tauth {
            afid: fid(),
            uname: nstr(),
            aname: nstr(),
            n_uname: opt(d, u32s())
        }),
        msg!(Tmessage::Tattach {
            fid: fid(),
            afid: fid(),
            uname: nstr(),
            aname: nstr(),
            n_uname: opt(d, u32s()),
        }),
        msg!(Tmessage::Tflush { oldtag: tag() }),
        msg!(Tmessage::Twalk {
            fid: fid(),
            newfid: fid(),
            wname: vec(nstr(), 0..=16)
        }),
        msg!(Tmessage::Topen {
            fid: fid(),
            mode: u8s()
        }),
        msg!(Tmessage::Tcreate {
            fid: fid(),
            name: nstr(),
            perm: u32s(),
            mode: u8s(),
            extension: opt(d, nstr()),
        }),
        msg!(Tmessage::Tread {
            fid: fid(),
            offset: u64s(),
            count: u32s()
        }),
        msg!(Tmessage::Twrite {
            fid: fid(),
            offset: u64s(),
            data: data()
        }),
        msg!(Tmessage::Tclunk { fid: fid() }),
        msg!(Tmessage::Tremove { fid: fid() }),
        msg!(Tmessage::Tstat { fid: fid() }),
        msg!(Tmessage::Twstat {
            fid: fid(),
            stat: wrapped_stat(d)
        }),
    ])
    .boxed()
}

/// Any reply of dialect `d`.
pub(super) fn rmessage(d: Dialect) -> BoxedStrategy<Rmessage> {
    Union::new(vec![
        msg!(Rmessage::Rlerror { ecode: u32s() }),
        msg!(Rmessage::Rstatfs {
            ty: u32s(),
            bsize: u32s(),
            blocks: u64s(),
            bfree: u64s(),
            bavail: u64s(),
            files: u64s(),
            ffree: u64s(),
            fsid: u64s(),
            namelen: u32s(),
        }),
        msg!(Rmessage::Rlopen {
            qid: qid(),
            iounit: u32s()
        }),
        msg!(Rmessage::Rlcreate {
            qid: qid(),
            iounit: u32s()
        }),
        msg!(Rmessage::Rsymlink { qid: qid() }),
        msg!(Rmessage::Rmknod { qid: qid() }),
        msg!(Rmessage::Rrename {}),
        msg!(Rmessage::Rreadlink { target: nstr() }),
        rgetattr(),
        msg!(Rmessage::Rsetattr {}),
        msg!(Rmessage::Rxattrwalk { size: u64s() }),
        msg!(Rmessage::Rxattrcreate {}),
        msg!(Rmessage::Rreaddir { data: data() }),
        msg!(Rmessage::Rfsync {}),
        msg!(Rmessage::Rlock { status: u8s() }),
        msg!(Rmessage::Rgetlock {
            ty: u8s(),
            start: u64s(),
            length: u64s(),
            proc_id: u32s(),
            client_id: nstr(),
        }),
        msg!(Rmessage::Rlink {}),
        msg!(Rmessage::Rmkdir { qid: qid() }),
        msg!(Rmessage::Rrenameat {}),
        msg!(Rmessage::Runlinkat {}),
        msg!(Rmessage::Rversion {
            msize: u32s(),
            version: nstr()
        }),
        msg!(Rmessage::Rauth { aqid: qid() }),
        msg!(Rmessage::Rattach { qid: qid() }),
        msg!(Rmessage::Rerror {
            ename: nstr(),
            errno: opt(d, u32s())
        }),
        msg!(Rmessage::Rflush {}),
        msg!(Rmessage::Rwalk {
            wqid: vec(qid(), 0..=16)
        }),
        msg!(Rmessage::Ropen {
            qid: qid(),
            iounit: u32s()
        }),
        msg!(Rmessage::Rcreate {
            qid: qid(),
            iounit: u32s()
        }),
        msg!(Rmessage::Rread { data: data() }),
        msg!(Rmessage::Rwrite { count: u32s() }),
        msg!(Rmessage::Rclunk {}),
        msg!(Rmessage::Rremove {}),
        msg!(Rmessage::Rstat {
            stat: wrapped_stat(d)
        }),
        msg!(Rmessage::Rwstat {}),
    ])
    .boxed()
}

/// Rgetattr has 20 fields: more than one tuple strategy holds.
fn rgetattr() -> BoxedStrategy<Rmessage> {
    (u64s(), qid(), any::<[u32; 3]>(), any::<[u64; 15]>())
        .prop_map(|(valid, qid, [mode, uid, gid], w)| {
            Rmessage::Rgetattr(Rgetattr {
                valid,
                qid,
                mode,
                uid,
                gid,
                nlink: w[0],
                rdev: w[1],
                size: w[2],
                blksize: w[3],
                blocks: w[4],
                atime_sec: w[5],
                atime_nsec: w[6],
                mtime_sec: w[7],
                mtime_nsec: w[8],
                ctime_sec: w[9],
                ctime_nsec: w[10],
                btime_sec: w[11],
                btime_nsec: w[12],
                gen: w[13],
                data_version: w[14],
            })
        })
        .boxed()
}
