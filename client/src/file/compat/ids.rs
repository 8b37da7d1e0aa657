//! Owner and group names of plain 9P2000 as numeric ids, and back.
//!
//! 9P2000 names owners (`glenda`, `sys`); 9P2000.u adds numeric ids, used
//! whenever the server fills them in. For names, the local user and group
//! databases (`/etc/passwd`, `/etc/group`, read once) decide; a name made
//! of digits is taken as the number; any other name is shown as
//! [`NOBODY`]. (A mount's `uid=`/`gid=` options override all of this.)

use std::collections::HashMap;
use std::sync::OnceLock;

/// The id shown for a name with no local account (the kernel's overflow id).
pub const NOBODY: u32 = 65534;

/// One database: name -> id and id -> name.
#[derive(Debug, Default)]
struct Db {
    ids: HashMap<Vec<u8>, u32>,
    names: HashMap<u32, String>,
}

impl Db {
    /// `name:x:id:...` lines (passwd(5), group(5)); bad lines are skipped.
    fn parse(text: &str) -> Db {
        let mut db = Db::default();
        for line in text.lines() {
            let mut f = line.split(':');
            let (Some(name), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            let Ok(id) = id.parse::<u32>() else { continue };
            if name.is_empty() || name.starts_with('#') {
                continue;
            }
            db.ids.entry(name.as_bytes().to_vec()).or_insert(id);
            db.names.entry(id).or_insert_with(|| name.to_string());
        }
        db
    }

    fn load(path: &str) -> Db {
        std::fs::read_to_string(path)
            .map(|t| Db::parse(&t))
            .unwrap_or_default()
    }

    fn id(&self, name: &[u8]) -> u32 {
        if let Some(&id) = self.ids.get(name) {
            return id;
        }
        std::str::from_utf8(name)
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(NOBODY)
    }
}

fn users() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| Db::load("/etc/passwd"))
}

fn groups() -> &'static Db {
    static DB: OnceLock<Db> = OnceLock::new();
    DB.get_or_init(|| Db::load("/etc/group"))
}

/// The uid of a 9P2000 owner name.
pub fn user_id(name: &[u8]) -> u32 {
    users().id(name)
}

/// The gid of a 9P2000 group name.
pub fn group_id(name: &[u8]) -> u32 {
    groups().id(name)
}

/// The name to send for uid `id` (a chown over plain 9P2000).
pub fn user_name(id: u32) -> Option<String> {
    users().names.get(&id).cloned()
}

/// The name to send for gid `id`.
pub fn group_name(id: u32) -> Option<String> {
    groups().names.get(&id).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_digits_and_strangers() {
        let db = Db::parse("root:x:0:0::/root:/bin/sh\n#c:x:5:\nbad line\nglenda:x:1000:1000:\n");
        assert_eq!(db.id(b"root"), 0);
        assert_eq!(db.id(b"glenda"), 1000);
        assert_eq!(db.id(b"1234"), 1234);
        assert_eq!(db.id(b"sys"), NOBODY);
        assert_eq!(db.id(b"#c"), NOBODY);
        assert_eq!(db.names.get(&1000).map(String::as_str), Some("glenda"));
    }
}
