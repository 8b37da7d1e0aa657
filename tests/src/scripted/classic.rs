//! The 9P2000 and 9P2000.u side of the scripted server: Topen, Tcreate,
//! Tstat, Twstat, Tremove, directory reads as stat records, and Rerror
//! with Plan 9's strings (plus the errno in 9P2000.u).
//!
//! A directory is read as Plan 9 reads it: from offset 0 (which takes a
//! snapshot of the entries for this fid) or from where the previous read
//! ended, in whole stat records; any other offset is an error.

use bytes::{Bytes, BytesMut};
use ninep_client::wire::*;
use ninep_client::{Dialect, Fid};

use super::conn::{Conn, DirRead, FidState, State};
use super::tree::{errno, lock, Kind, NodeId, Tree};

/// The owner and group names of every file.
const OWNER: &str = "root";

/// The Rerror for errno `ecode`: Plan 9's text, and the errno in .u.
pub(crate) fn rerror(ecode: u32, dialect: Dialect) -> Rerror {
    let text = match ecode {
        errno::ENOENT => "file does not exist",
        errno::EACCES => "permission denied",
        errno::EPERM => "wstat prohibited",
        errno::EEXIST => "file exists",
        errno::ENOTDIR => "not a directory",
        errno::EISDIR => "is a directory",
        errno::ENOTEMPTY => "directory not empty",
        errno::EBADF => "unknown fid",
        errno::EINVAL => "bad offset in directory read",
        errno::EOPNOTSUPP => "operation not supported",
        _ => "i/o error",
    };
    Rerror {
        ename: text.into(),
        errno: (dialect == Dialect::U).then_some(ecode),
    }
}

/// The Plan 9 version answer of a server of dialect `served` to a
/// Tversion asking for `asked`: Plan 9 answers "9P2000" to any
/// "9P2000.*"; the others only their own.
pub(crate) fn answer_version(served: Dialect, asked: &[u8]) -> Option<Dialect> {
    match served {
        Dialect::Classic if asked.starts_with(b"9P2000") => Some(Dialect::Classic),
        d if Dialect::from_version_string(asked) == Some(d) => Some(d),
        _ => None,
    }
}

/// The stat of node `id`.
pub(crate) fn stat(tree: &Tree, id: NodeId, dialect: Dialect) -> Stat {
    let n = tree.node(id);
    let dir = matches!(n.kind, Kind::Dir(_));
    let (link, target) = match &n.kind {
        Kind::Symlink(t) => (Stat::DMSYMLINK, t.as_str()),
        _ => (0, ""),
    };
    let mtime = u32::try_from(n.mtime).unwrap_or(u32::MAX - 1);
    Stat {
        ty: 0,
        dev: 0,
        qid: tree.qid(id),
        mode: n.perm | link | if dir { Stat::DMDIR } else { 0 },
        atime: mtime,
        mtime,
        length: tree.size(id),
        name: if id == Tree::ROOT {
            "/".into()
        } else {
            n.name.into()
        },
        uid: OWNER.into(),
        gid: OWNER.into(),
        muid: OWNER.into(),
        ext: (dialect == Dialect::U).then(|| StatExt {
            extension: target.into(),
            n_uid: 0,
            n_gid: 0,
            n_muid: 0,
        }),
    }
}

impl Conn {
    /// Topen: OTRUNC empties a file; a directory opens only for reading.
    pub(crate) fn open(&self, st: &mut State, o: Topen) -> Result<Ropen, u32> {
        let fid = st.fids.get_mut(&o.fid).ok_or(errno::EBADF)?;
        if fid.open {
            return Err(errno::EBADF);
        }
        let tree = &self.shared.tree;
        let writes = matches!(o.mode & 3, omode::OWRITE | omode::ORDWR);
        match tree.kind(fid.node) {
            Kind::Dir(_) if writes || o.mode & omode::OTRUNC != 0 => return Err(errno::EISDIR),
            Kind::Block(_) if writes => return Err(errno::EACCES),
            Kind::File(data) if o.mode & omode::OTRUNC != 0 => lock(&data).clear(),
            _ => {}
        }
        fid.open = true;
        Ok(Ropen {
            qid: tree.qid(fid.node),
            iounit: 0,
        })
    }

    /// Tcreate: a file or (DMDIR) a directory; the fid becomes it, open.
    pub(crate) fn create(&self, st: &mut State, c: Tcreate) -> Result<Rcreate, u32> {
        let fid = st.fids.get_mut(&c.fid).ok_or(errno::EBADF)?;
        let tree = &self.shared.tree;
        if fid.open || !tree.is_dir(fid.node) {
            return Err(errno::ENOTDIR);
        }
        let name = std::str::from_utf8(c.name.as_bytes()).map_err(|_| errno::EINVAL)?;
        if name.is_empty() || name.contains('/') || name == "." || name == ".." {
            return Err(errno::EINVAL);
        }
        if tree.lookup(fid.node, name.as_bytes()).is_ok() {
            return Err(errno::EEXIST);
        }
        let kind = kind_to_create(c.perm, c.extension, st.dialect)?;
        let id = tree.add(name, fid.node, kind, c.perm & 0o777);
        *fid = FidState::opened(id);
        Ok(Rcreate {
            qid: tree.qid(id),
            iounit: 0,
        })
    }

    /// Tremove: the file goes and so does the fid, whatever the outcome.
    pub(crate) fn remove(&self, st: &mut State, r: Tremove) -> Result<Rremove, u32> {
        let fid = st.fids.remove(&r.fid).ok_or(errno::EBADF)?;
        self.shared.tree.remove(fid.node)?;
        Ok(Rremove {})
    }

    /// Twstat: name (within the directory), mode bits, length, mtime;
    /// "don't touch" fields are left alone; a wstat of nothing is a sync.
    pub(crate) fn wstat(&self, st: &mut State, w: Twstat) -> Result<Rwstat, u32> {
        let node = st.fids.get(&w.fid).ok_or(errno::EBADF)?.node;
        let tree = &self.shared.tree;
        let s = w.stat.0;
        let dir = tree.is_dir(node);
        if s.mode != u32::MAX && ((s.mode & Stat::DMDIR != 0) != dir) {
            return Err(errno::EINVAL);
        }
        if s.length != u64::MAX {
            match tree.kind(node) {
                Kind::File(data) => lock(&data).resize(s.length as usize, 0),
                _ => return Err(errno::EINVAL),
            }
        }
        if !s.name.is_empty() {
            tree.rename(node, &s.name.to_str_lossy())?;
        }
        tree.update(node, |n| {
            if s.mode != u32::MAX {
                n.perm = s.mode & 0o777;
            }
            if s.mtime != u32::MAX {
                n.mtime = s.mtime.into();
            }
        });
        Ok(Rwstat {})
    }

    /// Tread of an open directory: whole stat records, from 0 or from
    /// where the last read ended.
    pub(crate) fn read_dir(
        &self,
        st: &mut State,
        fid: Fid,
        offset: u64,
        count: u32,
    ) -> Result<Bytes, u32> {
        let dialect = st.dialect;
        let f = st.fids.get_mut(&fid).ok_or(errno::EBADF)?;
        let tree = &self.shared.tree;
        if offset == 0 {
            let stats = tree.entries(f.node)?.into_iter();
            let stats = stats.map(|(_, id)| encode(&stat(tree, id, dialect)));
            f.dir = Some(DirRead {
                stats: stats.collect(),
                next: 0,
                offset: 0,
            });
        }
        let d = f.dir.as_mut().ok_or(errno::EINVAL)?;
        if d.offset != offset {
            return Err(errno::EINVAL);
        }
        let mut out = BytesMut::new();
        while let Some(s) = d.stats.get(d.next) {
            if out.len() + s.len() > count as usize {
                break;
            }
            out.extend_from_slice(s);
            d.next += 1;
        }
        d.offset += out.len() as u64;
        Ok(out.freeze())
    }
}

/// What a Tcreate with `perm` makes: a file, a directory or (.u) a
/// symlink to `extension`; devices, pipes and links are refused.
fn kind_to_create(perm: u32, extension: Option<NineStr>, dialect: Dialect) -> Result<Kind, u32> {
    let unix = dialect == Dialect::U;
    let others = Stat::DMDEVICE | Stat::DMLINK | Stat::DMNAMEDPIPE | Stat::DMSOCKET;
    if perm & others != 0 {
        return Err(errno::EOPNOTSUPP);
    }
    Ok(match (perm & Stat::DMDIR, perm & Stat::DMSYMLINK) {
        (0, 0) => Kind::File(Default::default()),
        (_, 0) => Kind::Dir(Vec::new()),
        (0, _) if unix => Kind::Symlink(extension.unwrap_or_default().to_str_lossy().into()),
        _ => return Err(errno::EINVAL),
    })
}

fn encode(s: &Stat) -> Bytes {
    let mut b = BytesMut::new();
    s.encode(&mut b);
    b.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan9_answers_9p2000_to_every_9p2000_dialect() {
        let c = Dialect::Classic;
        assert_eq!(answer_version(c, b"9P2000.L"), Some(c));
        assert_eq!(answer_version(c, b"9P2000"), Some(c));
        assert_eq!(answer_version(Dialect::U, b"9P2000.L"), None);
        assert_eq!(answer_version(Dialect::U, b"9P2000.u"), Some(Dialect::U));
        assert_eq!(answer_version(Dialect::L, b"9P2000"), None);
    }

    #[test]
    fn stats_have_the_dialects_fields() {
        let t = Tree::new(1, std::time::Duration::ZERO);
        let root = stat(&t, Tree::ROOT, Dialect::U);
        assert_eq!(root.mode, Stat::DMDIR | 0o755);
        assert!(root.ext.is_some());
        let hello = stat(&t, 1, Dialect::Classic);
        assert_eq!((hello.name.to_string(), hello.length), ("hello".into(), 13));
        assert!(hello.ext.is_none());
        assert_eq!(rerror(errno::ENOENT, Dialect::Classic).errno, None);
        assert_eq!(rerror(errno::ENOENT, Dialect::U).errno, Some(2));
    }
}
