//! A first end-to-end check against diod: negotiate, attach, write, read.

use ninep_client::{Address, Client, Config, Dialect};
use ninep_tests::servers::{temp_dir, Diod};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn diod_write_then_read_back() {
    let dir = temp_dir().unwrap();
    let diod = tokio::task::spawn_blocking({
        let p = dir.path().to_path_buf();
        move || Diod::start(&[&p])
    })
    .await
    .unwrap()
    .unwrap();
    let addr: Address = diod.addr().to_string().parse().unwrap();
    let client = Client::connect(&addr, &Config::default()).await.unwrap();
    assert_eq!(client.dialect(), Dialect::L);
    assert_eq!(client.msize(), 65536);
    let aname = diod.exports()[0].to_str().unwrap().to_string();
    let root = client.attach("root", &aname, 0).await.unwrap();
    let mut f = root.walk::<&str>(&[]).await.unwrap();
    f.lcreate("hello", 0o2 | 0o100, 0o644, 0).await.unwrap();
    let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    f.write_at(0, &data, 8).await.unwrap();
    let back = f.read_at(0, data.len() as u64 + 10, 8).await.unwrap();
    assert_eq!(back, data);
    drop(f);
    drop(root);
    // Dropped handles clunk without waiting: every fid comes back once
    // the Rclunks are in.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while client.stats().fids_in_use != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "fids still in use: {}",
            client.stats().fids_in_use
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}
