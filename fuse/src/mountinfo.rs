//! `/proc/self/mountinfo`, read in one place: what is mounted where, with
//! the octal escapes (`\040` for a space, ...) undone.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};

/// One line of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// `major:minor` of the mount's device.
    pub device: String,
    /// Where it is mounted.
    pub point: PathBuf,
    /// The file system type (`fuse.ninep`, `tmpfs`, ...).
    pub fstype: String,
    /// Its source (`host:564`, `/dev/sda1`, ...).
    pub source: String,
}

/// Every mount in `table` (the text of a mountinfo file), in its order:
/// later lines are mounted on top of earlier ones.
pub fn entries(table: &str) -> impl Iterator<Item = Entry> + '_ {
    table.lines().filter_map(|line| {
        let (fields, rest) = line.split_once(" - ")?;
        let mut f = fields.split(' ');
        let device = f.nth(2)?.to_string();
        let point = PathBuf::from(OsString::from_vec(unescape(f.nth(1)?)));
        let mut rest = rest.split(' ');
        let text = |s: &str| String::from_utf8_lossy(&unescape(s)).into_owned();
        let fstype = text(rest.next()?);
        let source = text(rest.next()?);
        Some(Entry {
            device,
            point,
            fstype,
            source,
        })
    })
}

/// What is mounted at `target` per `table`: the last mount there, the one
/// on top.
pub fn mounted_at(table: &str, target: &Path) -> Option<Entry> {
    entries(table).filter(|e| e.point == target).last()
}

/// This process's mount table now (empty if it cannot be read).
pub fn now() -> String {
    std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') << 6 | (d[1] - b'0') << 3 | (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const TABLE: &str = "\
22 27 0:21 / /proc rw,relatime - proc proc rw
40 27 0:50 / /mnt/my\\040dir rw,nosuid shared:1 - fuse.ninep 10.0.0.1:564 rw,user_id=0
41 40 0:51 / /mnt/my\\040dir rw - tmpfs tmp\\134fs rw
";

    #[test]
    fn the_last_mount_at_a_point_is_the_one_on_top() {
        let e = mounted_at(TABLE, Path::new("/mnt/my dir")).unwrap();
        assert_eq!(
            (e.device.as_str(), e.fstype.as_str(), e.source.as_str()),
            ("0:51", "tmpfs", "tmp\\fs")
        );
        assert_eq!(entries(TABLE).count(), 3);
        assert!(mounted_at(TABLE, Path::new("/mnt")).is_none());
    }

    #[test]
    fn escapes_are_undone_and_broken_ones_kept() {
        assert_eq!(unescape(r"/tmp/a\040b\134c"), b"/tmp/a b\\c");
        assert_eq!(unescape(r"/x\04"), b"/x\\04");
        assert_eq!(unescape(r"/x\09a"), b"/x\\09a");
    }
}
