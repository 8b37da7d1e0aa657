//! The client's 9P2000.L methods on 9P2000 and 9P2000.u connections (the
//! compatibility layer, `client/src/file/compat`), against the scripted
//! server, with the messages each one put on the wire read back from the
//! server's log.

use ninep_client::wire::{getattr, setattr};
use ninep_client::{Address, Client, Config, Dialect, File, SetAttr};
use ninep_tests::scripted::{self, Dir, FlushBehaviour, ScriptedServer};

async fn connect(dialect: Dialect) -> (ScriptedServer, Client, File) {
    let mut cfg = scripted::Config::new(FlushBehaviour::Correct);
    cfg.dialect = dialect;
    let server = ScriptedServer::start_with(cfg).unwrap();
    let addr: Address = server.addr().to_string().parse().unwrap();
    let client = Client::connect(&addr, &Config::default()).await.unwrap();
    assert_eq!(client.dialect(), dialect);
    let root = client.attach("root", "", 0).await.unwrap();
    (server, client, root)
}

/// The names of the requests the server received since the log was cleared.
fn requests(server: &ScriptedServer) -> Vec<&'static str> {
    server
        .log()
        .into_iter()
        .filter(|e| e.dir == Dir::In)
        .map(|e| e.name)
        .collect()
}

async fn methods_become_classic_messages(dialect: Dialect) {
    let (server, client, root) = connect(dialect).await;
    server.clear_log();
    let a = root.getattr(getattr::BASIC).await.unwrap();
    assert_eq!(a.mode, 0o040755);
    assert_eq!(requests(&server), ["Tstat"]);

    // lcreate: Tcreate on the fid itself; getattr of the new file.
    let mut f = root.walk::<&str>(&[]).await.unwrap();
    f.lcreate("f", libc::O_RDWR as u32, 0o640, 0).await.unwrap();
    f.write_at(0, b"0123456789", 1).await.unwrap();
    assert_eq!(f.getattr(getattr::BASIC).await.unwrap().size, 10);

    // fsync: a Twstat of nothing; truncate: a Twstat of the length.
    server.clear_log();
    f.fsync(false).await.unwrap();
    let s = SetAttr {
        valid: setattr::SIZE,
        size: 4,
        ..SetAttr::default()
    };
    f.setattr(&s).await.unwrap();
    assert_eq!(requests(&server), ["Twstat", "Twstat"]);
    let log = server.log();
    assert!(
        log[0].summary.contains("length: 18446744073709551615"),
        "{}",
        log[0].summary
    );
    assert!(log[2].summary.contains("length: 4,"), "{}", log[2].summary);
    assert_eq!(f.read_at(0, 100, 1).await.unwrap(), b"0123");
    f.clunk().await.unwrap();

    // mkdir through a clone, clunked; readdir as stat records.
    server.clear_log();
    root.mkdir("d", 0o755, 0).await.unwrap();
    assert_eq!(requests(&server), ["Twalk", "Tcreate", "Tclunk"]);
    let mut dir = root.walk::<&str>(&[]).await.unwrap();
    dir.lopen(0).await.unwrap();
    let names: Vec<String> = dir
        .readdir_all()
        .await
        .unwrap()
        .iter()
        .map(|d| d.name.to_string())
        .collect();
    assert_eq!(names, ["hello", "release", "block", "f", "d"]);
    dir.clunk().await.unwrap();

    // renameat over an existing name: the target goes first.
    root.renameat("f", &root, "hello").await.unwrap();
    let hello = root.walk(&["hello"]).await.unwrap();
    assert_eq!(hello.getattr(getattr::BASIC).await.unwrap().size, 4);
    hello.clunk().await.unwrap();
    let sub = root.walk(&["d"]).await.unwrap();
    let across = root.renameat("hello", &sub, "x").await.unwrap_err();
    assert_eq!(across.errno(), Some(18));
    sub.clunk().await.unwrap();

    // unlinkat checks the kind, then Tremove.
    assert_eq!(root.unlinkat("d", 0).await.unwrap_err().errno(), Some(21));
    root.unlinkat("d", 0x200).await.unwrap();
    assert!(root.walk(&["d"]).await.is_err());

    // Locks and xattrs do not exist here.
    assert_eq!(
        root.xattr_get("user.x").await.unwrap_err().errno(),
        Some(38)
    );
    assert_eq!(root.statfs().await.unwrap().blocks, 0);
    drop(root);
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    assert_eq!(client.stats().fids_in_use, 0, "no fid leaked");
}

#[tokio::test]
async fn methods_become_9p2000_messages() {
    methods_become_classic_messages(Dialect::Classic).await;
}

#[tokio::test]
async fn methods_become_9p2000_u_messages() {
    methods_become_classic_messages(Dialect::U).await;
}
