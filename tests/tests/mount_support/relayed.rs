//! diod behind a tampering relay ([`ninep_tests::tamper`]), mounted: for
//! tests that rewrite, hold or drop the server's replies.

use std::path::PathBuf;

use ninep_client::Config;
use ninep_fuse::{CacheMode, MountConfig};
use ninep_tests::servers::{temp_dir, Diod};
use ninep_tests::tamper::Tamper;
use tempfile::TempDir;

use super::{blocking, config, quick_flush, Mounted};

/// A mount of diod through the relay; fields drop in order (the mount
/// first, the server last).
pub struct Relayed {
    pub m: Mounted,
    pub tamper: Tamper,
    _diod: Diod,
    _export: TempDir,
}

impl Relayed {
    /// diod on a fresh export holding `files` (name, contents), mounted
    /// through a relay with `cache=none`.
    pub async fn start(files: &[(&str, &[u8])]) -> Relayed {
        Self::start_with(files, CacheMode::None).await
    }

    /// The same with `cache`.
    pub async fn start_with(files: &[(&str, &[u8])], cache: CacheMode) -> Relayed {
        Self::start_tweaked(files, |m, _| m.cache = cache).await
    }

    /// The same with the mount's and the client's configurations
    /// `tweak`ed (from `cache=none` and [`quick_flush`]).
    pub async fn start_tweaked(
        files: &[(&str, &[u8])],
        tweak: impl FnOnce(&mut MountConfig, &mut Config),
    ) -> Relayed {
        let export = temp_dir().expect("export");
        for (name, data) in files {
            std::fs::write(export.path().join(name), data).expect("seed file");
        }
        let path = export.path().to_path_buf();
        let diod = blocking(move || Diod::start(&[&path])).await.expect("diod");
        let tamper = Tamper::start(diod.addr()).await.expect("relay");
        let exported = diod.exports()[0].clone();
        let mut cfg = config(exported.to_str().expect("utf-8"), CacheMode::None);
        let mut client = quick_flush();
        tweak(&mut cfg, &mut client);
        let mut m = Mounted::mount_at(tamper.addr().to_string(), cfg, client).await;
        m.export = exported;
        Relayed {
            m,
            tamper,
            _diod: diod,
            _export: export,
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.m.path(rel)
    }
}
