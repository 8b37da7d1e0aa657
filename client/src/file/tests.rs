//! `File` checks that need no server: how writes are cut into chunks, and
//! that the futures of the multi-message methods are `Send`.

use bytes::Bytes;

use super::io::owned_chunks;
use super::File;

#[test]
fn writes_are_cut_at_the_chunk_size() {
    let data: Vec<u8> = (0..10).collect();
    let chunks = owned_chunks(100, data.into(), 4);
    let want: Vec<(u64, Bytes)> = vec![
        (100, Bytes::from_static(&[0, 1, 2, 3])),
        (104, Bytes::from_static(&[4, 5, 6, 7])),
        (108, Bytes::from_static(&[8, 9])),
    ];
    assert_eq!(chunks, want);
    assert!(owned_chunks(0, Bytes::new(), 4).is_empty());
    // A zero chunk size (no iounit known) still makes progress.
    assert_eq!(owned_chunks(0, Bytes::from_static(b"ab"), 0).len(), 2);
}

fn assert_send<T: Send>(_: T) {}

/// A compile-time check: FUSE handlers and `tokio::spawn` need `Send`
/// futures. Awaiting inside an `async` block erases the caller's lifetimes,
/// which is where a stream closure borrowing the caller's buffer fails
/// ("implementation of `FnOnce` is not general enough"); so the methods
/// are checked that way, not by passing their futures directly.
#[test]
fn multi_message_futures_are_send() {
    // Never called: only the types matter.
    fn check(f: &File, buf: &[u8], name: &[u8]) {
        assert_send(async move { f.write_at(0, buf, 4).await });
        assert_send(async move { f.read_at(0, 4096, 4).await });
        assert_send(async move { f.xattr_set(name, buf, 0).await });
        assert_send(async move { f.xattr_get(name).await });
    }
    let _ = check;
}
