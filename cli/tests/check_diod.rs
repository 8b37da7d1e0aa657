//! `ninep-mount check` against diod exporting blockfs, whose reads block
//! like a slow device: every case runs (none skipped), and each verdict
//! agrees with the message log printed beside it.

use std::time::Duration;

use ninep_tests::blockfs::BlockFs;
use ninep_tests::servers::Diod;

#[allow(dead_code)] // each test binary uses a part of it
mod common;

#[test]
fn diod_verdicts_agree_with_their_logs() {
    let fs = BlockFs::mount_temp().expect("mount blockfs (needs root and /dev/fuse)");
    // Reads finish by themselves after 1 s, inside the check's 1.5 s bound:
    // diod holds an Rflush until its read returns.
    fs.release_after(Some(Duration::from_millis(1000)));
    let diod = Diod::start(&[fs.path()]).expect("start diod");
    let aname = format!("aname={}", fs.path().display());
    let (outcomes, _code) = common::run_check(
        &diod.addr().to_string(),
        &["-o", &aname, "--victim", "block0"],
    );
    assert_eq!(outcomes.len(), 11);
    let mut table = String::new();
    for o in &outcomes {
        common::agrees_with_log(o);
        let (case, verdict) = (o["case"].as_str().unwrap(), o["verdict"].as_str().unwrap());
        assert_ne!(verdict, "skipped", "{case}: {}", o["reason"]);
        table += &format!(
            "{case:<17} {verdict:<15} {}\n",
            o["reason"].as_str().unwrap()
        );
    }
    println!("diod 1.0.24 over blockfs:\n{table}");
    drop(diod);
}
