//! Says, once, what a plain `cargo test` leaves out.

fn main() {
    println!("cargo:rerun-if-env-changed=CARGO_FEATURE_SERVERS");
    if std::env::var_os("CARGO_FEATURE_SERVERS").is_none() {
        println!(
            "cargo:warning=the tests that need root, /dev/fuse and real servers are left \
             out (mounts, diod, unpfs, aio9p); run them all with scripts/test.sh"
        );
    }
}
