use super::*;
use crate::ino::Ino;

fn found(path: u64, fmt: u32) -> Found {
    let ty = if fmt == libc::S_IFDIR { Qid::QTDIR } else { 0 };
    Found {
        qid: Qid {
            ty,
            version: 0,
            path,
        },
        fmt,
        nlink: 1,
    }
}

fn table() -> Inodes {
    Inodes::new(Qid {
        ty: Qid::QTDIR,
        version: 0,
        path: 1,
    })
}

#[test]
fn a_file_being_removed_is_no_longer_found_by_its_qid_path() {
    let t = table();
    let x = t.lookup(Ino::ROOT, b"x", found(7, libc::S_IFREG), None);
    let _dying = t.dying(Ino::ROOT, b"x").expect("a file with one link");
    // The server removed x and gave 7 to a new file before we saw the
    // removal's reply.
    let y = t.lookup(Ino::ROOT, b"y", found(7, libc::S_IFREG), None);
    assert_ne!(x, y);
    assert_eq!(t.unlinked(Ino::ROOT, b"x"), Some(x));
    assert_eq!(t.by_path(7), Some(y));
    assert_eq!(t.child(Ino::ROOT, b"y"), Some(y));
}

#[test]
fn a_failed_removal_revives_and_linked_files_never_die() {
    let t = table();
    let x = t.lookup(Ino::ROOT, b"x", found(7, libc::S_IFREG), None);
    let d = t.dying(Ino::ROOT, b"x").expect("a file with one link");
    assert_eq!(t.by_path(7), None);
    t.revive(d);
    assert_eq!(t.by_path(7), Some(x));
    let linked = Found {
        nlink: 2,
        ..found(8, libc::S_IFREG)
    };
    let l = t.lookup(Ino::ROOT, b"l", linked, None);
    assert!(
        t.dying(Ino::ROOT, b"l").is_none(),
        "its other name keeps it"
    );
    assert_eq!(t.by_path(8), Some(l));
    assert!(t.dying(Ino::ROOT, b"nothing").is_none());
}

#[test]
fn one_inode_per_qid_path_and_never_qid_path_itself() {
    let t = table();
    let a = t.lookup(Ino::ROOT, b"a", found(1000, libc::S_IFREG), None);
    let again = t.lookup(Ino::ROOT, b"a", found(1000, libc::S_IFREG), None);
    let link = t.lookup(Ino::ROOT, b"b", found(1000, libc::S_IFREG), None);
    assert_eq!(
        (a, again, link),
        (
            Ino::from_kernel(2),
            Ino::from_kernel(2),
            Ino::from_kernel(2)
        )
    );
    // qid.path 1 is the root's; a file with qid.path 2 is not inode 2.
    let c = t.lookup(Ino::ROOT, b"c", found(2, libc::S_IFREG), None);
    assert_eq!(c, Ino::from_kernel(3));
    assert_eq!(t.len(), 3);
}

#[test]
fn forget_drops_at_zero_and_parents_stay_while_children_do() {
    let t = table();
    let d = t.lookup(Ino::ROOT, b"d", found(10, libc::S_IFDIR), None);
    let f = t.lookup(d, b"f", found(11, libc::S_IFREG), None);
    t.lookup(d, b"f", found(11, libc::S_IFREG), None);
    t.forget(d, 1);
    assert_eq!(t.len(), 3, "d stays while f names it");
    t.forget(f, 1);
    assert_eq!(t.len(), 3);
    t.forget(f, 1);
    assert_eq!(t.len(), 1, "f gone, then d");
    assert!(t.by_path(10).is_none());
    t.forget(Ino::ROOT, 5);
    assert_eq!(t.len(), 1, "the root is never forgotten");
}

#[test]
fn a_forgotten_file_found_again_gets_its_number_back() {
    let t = table();
    let d = t.lookup(Ino::ROOT, b"d", found(10, libc::S_IFDIR), None);
    let f = t.lookup(d, b"f", found(11, libc::S_IFREG), None);
    let g = t.lookup(d, b"g", found(12, libc::S_IFREG), None);
    t.forget(f, 1);
    t.forget(g, 1);
    t.forget(d, 1);
    assert_eq!(t.len(), 1, "all forgotten");
    // Before it is found again, its number is known (to find its cached
    // attributes); not for a file of another type.
    assert_eq!(t.number_for(found(11, libc::S_IFREG).qid), Some(f));
    assert_eq!(t.number_for(found(11, libc::S_IFDIR).qid), None);
    assert_eq!(t.number_for(found(99, libc::S_IFREG).qid), None);
    // Found again, parent first: the same numbers (st_ino stays).
    let d2 = t.lookup(Ino::ROOT, b"d", found(10, libc::S_IFDIR), None);
    let f2 = t.lookup(d2, b"f", found(11, libc::S_IFREG), None);
    assert_eq!((d2, f2), (d, f));
    // Its qid.path now a directory: another file, another number.
    let g2 = t.lookup(d2, b"g", found(12, libc::S_IFDIR), None);
    assert_ne!(g2, g);
    // Removed through the mount, then forgotten: a later file with
    // the same qid.path is another file.
    assert_eq!(t.unlinked(d2, b"f"), Some(f));
    t.forget(f, 1);
    let h = t.lookup(d2, b"h", found(11, libc::S_IFREG), None);
    assert_ne!(h, f);
    // Numbers are never shared: every one differs.
    let mut all = vec![d, f, g, g2, h];
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 5);
}

#[test]
fn paths_for_logs_follow_the_last_names() {
    let t = table();
    let d = t.lookup(Ino::ROOT, b"d", found(2, libc::S_IFDIR), None);
    let f = t.lookup(d, b"f", found(3, libc::S_IFREG), None);
    assert_eq!(t.path(Ino::ROOT), "/");
    assert_eq!(t.path(f), "/d/f");
    assert_eq!(t.path(Ino::from_kernel(999)), "/?");
}

#[test]
fn plans_walk_from_the_nearest_ancestor_with_a_fid() {
    let t = table();
    let d = t.lookup(Ino::ROOT, b"d", found(10, libc::S_IFDIR), None);
    let e = t.lookup(d, b"e", found(11, libc::S_IFDIR), None);
    let f = t.lookup(e, b"f", found(12, libc::S_IFREG), None);
    let p = t.plan(f, 7).unwrap();
    assert!(p.base.is_none());
    assert_eq!(
        p.names,
        vec![b"d"[..].into(), b"e"[..].into(), b"f"[..].into()]
    );
    assert_eq!(p.qid.path, 12);
    assert_eq!(t.parent(f), Some(e));
}

#[test]
fn hard_links_keep_every_name() {
    let t = table();
    let mut two = found(40, libc::S_IFREG);
    two.nlink = 2;
    let a = t.lookup(Ino::ROOT, b"h1", two, None);
    let b = t.lookup(Ino::ROOT, b"h2", two, None);
    assert_eq!(a, b);
    assert_eq!(t.unlinked(Ino::ROOT, b"h1"), Some(a));
    assert_eq!(t.child(Ino::ROOT, b"h2"), Some(a));
    assert_eq!(t.by_path(40), Some(a), "other links remain");
    assert_eq!(t.plan(a, 0).unwrap().names, vec![b"h2"[..].into()]);
    assert_eq!(t.unlinked(Ino::ROOT, b"h2"), Some(a));
    assert_eq!(t.by_path(40), None);
    assert_eq!(t.parent(a), None);
    t.forget(a, 2);
    assert_eq!(t.len(), 1);
}

#[test]
fn unlinked_files_are_detached_and_renames_move_names() {
    let t = table();
    let a = t.lookup(Ino::ROOT, b"a", found(20, libc::S_IFREG), None);
    assert_eq!(t.unlinked(Ino::ROOT, b"a"), Some(a));
    // The same qid.path again (inode number reused): a new inode.
    let b = t.lookup(Ino::ROOT, b"b", found(20, libc::S_IFREG), None);
    assert_ne!(a, b);
    let d = t.lookup(Ino::ROOT, b"d", found(30, libc::S_IFDIR), None);
    let (moved, replaced) = t.renamed(Ino::ROOT, b"b", d, b"c");
    assert_eq!((moved, replaced), (Some(b), None));
    assert_eq!(t.child(d, b"c"), Some(b));
    assert_eq!(t.child(Ino::ROOT, b"b"), None);
    assert_eq!(t.parent(b), Some(d));
    // A type change under the same qid.path is a new file too.
    let dir = t.lookup(d, b"c", found(20, libc::S_IFDIR), None);
    assert_ne!(dir, b);
}
