//! Running as `mount.ninep`, the helper mount(8) runs for `mount -t ninep`
//! and for an fstab line of type `ninep`:
//!
//! ```text
//! mount.ninep SOURCE MOUNTPOINT [-sfnv] [-N NS] [-o OPTIONS] [-t TYPE]
//! ```
//!
//! Its flags mean other things than ours (`-f` is mount(8)'s "fake"), so
//! the arguments are turned into the ordinary command line first.

use std::ffi::OsString;
use std::path::Path;

/// The name mount(8) looks for (`/sbin/mount.ninep`).
pub const HELPER_NAME: &str = "mount.ninep";

/// What to do with a helper's command line.
#[derive(Debug, PartialEq, Eq)]
pub enum Helper {
    /// Not run as the helper: the arguments as they are.
    Direct(Vec<OsString>),
    /// The ordinary mount command line for these arguments.
    Mount(Vec<OsString>),
    /// `-f`: mount(8) asks for everything but the mount itself.
    Fake,
    /// Arguments mount(8) would not send, or that cannot be honoured.
    Usage(String),
}

/// Read `args` (`argv`, with the program name) as mount(8) sends them when
/// the program was started as [`HELPER_NAME`].
pub fn from_mount(args: Vec<OsString>) -> Helper {
    let called = args
        .first()
        .and_then(|a0| Path::new(a0).file_name())
        .is_some_and(|n| n == HELPER_NAME);
    if !called {
        return Helper::Direct(args);
    }
    let mut out = vec![args[0].clone()];
    let mut positional = Vec::new();
    let mut fake = false;
    let mut it = args.into_iter().skip(1);
    while let Some(a) = it.next() {
        match a.to_str() {
            Some("-o") => match it.next() {
                Some(v) => out.extend([OsString::from("-o"), v]),
                None => return Helper::Usage("-o needs OPTIONS".into()),
            },
            // The file system type: ours, whatever its subtype.
            Some("-t") => {
                it.next();
            }
            Some("-N") => {
                return Helper::Usage("mount.ninep cannot switch mount namespaces (-N)".into())
            }
            Some(flags) if flags.starts_with('-') && flags.len() > 1 => {
                for f in flags[1..].chars() {
                    match f {
                        // sloppy, no mtab, verbose: nothing to do.
                        's' | 'n' | 'v' => {}
                        'f' => fake = true,
                        _ => return Helper::Usage(format!("mount.ninep: unknown flag -{f}")),
                    }
                }
            }
            _ => positional.push(a),
        }
    }
    if positional.len() != 2 {
        return Helper::Usage(format!(
            "mount.ninep needs SOURCE and MOUNTPOINT, got {}",
            positional.len()
        ));
    }
    if fake {
        return Helper::Fake;
    }
    out.splice(1..1, positional);
    Helper::Mount(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    #[test]
    fn mounts_command_line_becomes_ours() {
        let h = from_mount(args(&[
            "/sbin/mount.ninep",
            "h:564:/srv",
            "/mnt",
            "-sv",
            "-o",
            "rw,nosuid",
            "-t",
            "ninep",
        ]));
        assert_eq!(
            h,
            Helper::Mount(args(&[
                "/sbin/mount.ninep",
                "h:564:/srv",
                "/mnt",
                "-o",
                "rw,nosuid"
            ]))
        );
        assert_eq!(
            from_mount(args(&["mount.ninep", "h", "/mnt", "-f", "-o", "ro"])),
            Helper::Fake
        );
        let not = args(&["ninep-mount", "h", "/mnt", "-f"]);
        assert_eq!(from_mount(not.clone()), Helper::Direct(not));
        for bad in [
            &["mount.ninep", "h"][..],
            &["mount.ninep", "h", "/m", "-N", "/proc/1/ns/mnt"],
            &["mount.ninep", "h", "/m", "-x"],
            &["mount.ninep", "h", "/m", "-o"],
        ] {
            assert!(matches!(from_mount(args(bad)), Helper::Usage(_)), "{bad:?}");
        }
    }
}
