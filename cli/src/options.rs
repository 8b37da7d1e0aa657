//! `-o` mount options, with the names v9fs and FUSE users know:
//! `aname=`, `uname=`, `msize=`, `version=9p2000.L|9p2000.u|9p2000`.
//! Options this version does not know are an error, not silently ignored.

use anyhow::{bail, Context, Result};
use ninep_client::{Config, Dialect};

/// What `-o` can set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Tree to attach to (diod: an export path).
    pub aname: String,
    /// User name sent in Tattach.
    pub uname: String,
    /// Numeric uid sent in Tattach (9P2000.u/.L).
    pub n_uname: u32,
    /// msize to ask for.
    pub msize: u32,
    /// Dialects to try, in order.
    pub dialects: Vec<Dialect>,
}

impl Default for Options {
    fn default() -> Self {
        let cfg = Config::default();
        Options {
            aname: String::new(),
            uname: "root".into(),
            n_uname: 0,
            msize: cfg.msize,
            dialects: cfg.dialects,
        }
    }
}

impl Options {
    /// Apply one `-o` argument (comma-separated `key[=value]` items).
    pub fn apply(&mut self, arg: &str) -> Result<()> {
        for item in arg.split(',').filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').unwrap_or((item, ""));
            match key {
                "aname" => self.aname = value.into(),
                "uname" => self.uname = value.into(),
                "uid" | "n_uname" => {
                    self.n_uname = value.parse().with_context(|| format!("{key}={value}"))?
                }
                "msize" => {
                    self.msize = value
                        .parse()
                        .with_context(|| format!("msize={value}: not a number"))?
                }
                "version" => self.dialects = vec![parse_version(value)?],
                _ => bail!("unknown option {key:?}"),
            }
        }
        Ok(())
    }

    /// The client configuration these options ask for.
    pub fn config(&self) -> Config {
        Config {
            msize: self.msize,
            dialects: self.dialects.clone(),
            ..Config::default()
        }
    }
}

fn parse_version(v: &str) -> Result<Dialect> {
    // v9fs spells them 9p2000.L, 9p2000.u, 9p2000; accept any case.
    match v.to_ascii_lowercase().as_str() {
        "9p2000.l" => Ok(Dialect::L),
        "9p2000.u" => Ok(Dialect::U),
        "9p2000" => Ok(Dialect::Classic),
        _ => bail!("version={v}: expected 9p2000.L, 9p2000.u or 9p2000"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_v9fs_style_options() {
        let mut o = Options::default();
        o.apply("aname=/srv,uname=alice,uid=1000,msize=65560,version=9p2000.u")
            .unwrap();
        assert_eq!(o.aname, "/srv");
        assert_eq!(o.uname, "alice");
        assert_eq!(o.n_uname, 1000);
        assert_eq!(o.config().msize, 65560);
        assert_eq!(o.config().dialects, vec![Dialect::U]);
    }

    #[test]
    fn rejects_what_it_does_not_know() {
        let mut o = Options::default();
        assert!(o.apply("msize=big").is_err());
        assert!(o.apply("version=9p1").is_err());
        assert!(o.apply("trans=virtio").is_err());
    }
}
