//! One behaviour suite that every engine must pass. The PostgreSQL half runs against
//! `STRATUS_TEST_POSTGRES` (default: the local server's `test` database), each test in a
//! schema of its own.

use std::ops::Bound;
use std::sync::atomic::{AtomicU32, Ordering};

use stratus_store::{EmbeddedEngine, PostgresEngine, Scan, Store, StoreError, Txn};

static SEQ: AtomicU32 = AtomicU32::new(0);

async fn embedded() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let engine = EmbeddedEngine::open(&dir.path().join("store.db"), false).unwrap();
    (Store::from_embedded(engine), dir)
}

async fn postgres() -> (Store, ()) {
    let base = std::env::var("STRATUS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!(
        "conf_{}_{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    );
    let url = format!("{base}?stratus_schema={schema}");
    let engine = PostgresEngine::connect(&url, false)
        .await
        .expect("PostgreSQL must be running for the store suite");
    let store = Store::from_postgres(engine);
    store.wipe().await.unwrap();
    (store, ())
}

fn k(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

async fn put_get_delete(store: Store) {
    assert_eq!(store.get("a", b"x").await.unwrap(), None);
    store.commit(Txn::new().put("a", k("x"), k("1"))).await.unwrap();
    assert_eq!(store.get("a", b"x").await.unwrap(), Some(k("1")));
    // Namespaces are separate.
    assert_eq!(store.get("b", b"x").await.unwrap(), None);
    store.commit(Txn::new().put("a", k("x"), k("2"))).await.unwrap();
    assert_eq!(store.get("a", b"x").await.unwrap(), Some(k("2")));
    store.commit(Txn::new().delete("a", k("x"))).await.unwrap();
    assert_eq!(store.get("a", b"x").await.unwrap(), None);
}

async fn scans_in_both_directions(store: Store) {
    let mut txn = Txn::new();
    for key in ["b", "a", "d", "c", "e"] {
        txn = txn.put("s", k(key), k(key));
    }
    txn = txn.put("other", k("c"), k("x"));
    store.commit(txn).await.unwrap();
    let keys = |rows: Vec<(Vec<u8>, Vec<u8>)>| {
        rows.into_iter()
            .map(|(k, _)| String::from_utf8(k).unwrap())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        keys(store.scan("s", &Scan::all()).await.unwrap()),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        keys(store.scan("s", &Scan::all().reverse()).await.unwrap()),
        ["e", "d", "c", "b", "a"]
    );
    assert_eq!(
        keys(store.scan("s", &Scan::all().limit(2)).await.unwrap()),
        ["a", "b"]
    );
    assert_eq!(
        keys(store.scan("s", &Scan::all().after(b"b").limit(2)).await.unwrap()),
        ["c", "d"]
    );
    let range = Scan {
        start: Bound::Excluded(k("a")),
        end: Bound::Included(k("d")),
        reverse: true,
        limit: 2,
    };
    assert_eq!(keys(store.scan("s", &range).await.unwrap()), ["d", "c"]);
    let range = Scan {
        start: Bound::Included(k("b")),
        end: Bound::Excluded(k("d")),
        reverse: false,
        limit: 10,
    };
    assert_eq!(keys(store.scan("s", &range).await.unwrap()), ["b", "c"]);
    assert_eq!(store.scan("s", &Scan::all().limit(0)).await.unwrap().len(), 0);
    // By values: the key to go on from comes back only when the limit cut the scan short.
    let page = store
        .scan_values("s", &Scan::all().after(b"a").limit(2))
        .await
        .unwrap();
    assert_eq!(page.values, [k("b"), k("c")]);
    assert_eq!(page.last_key, Some(k("c")));
    let page = store
        .scan_values("s", &Scan::all().reverse().limit(9))
        .await
        .unwrap();
    assert_eq!(page.values, [k("e"), k("d"), k("c"), k("b"), k("a")]);
    assert_eq!(page.last_key, None);
}

async fn prefixes_and_binary_keys(store: Store) {
    let keys: Vec<Vec<u8>> = vec![
        vec![1, 0],
        vec![1, 0xff],
        vec![1, 0xff, 0xff],
        vec![2],
        vec![0xff, 0xff],
    ];
    let mut txn = Txn::new();
    for key in &keys {
        txn = txn.put("p", key.clone(), vec![]);
    }
    store.commit(txn).await.unwrap();
    let got: Vec<_> = store
        .scan("p", &Scan::prefix(&[1]))
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(got, keys[..3]);
    let got: Vec<_> = store
        .scan("p", &Scan::prefix(&[0xff]))
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(got, vec![vec![0xff, 0xff]]);
    store
        .commit(Txn::new().delete_prefix("p", vec![1]))
        .await
        .unwrap();
    let got: Vec<_> = store
        .scan("p", &Scan::all())
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(got, vec![vec![2], vec![0xff, 0xff]]);
    store.commit(Txn::new().delete_prefix("p", vec![])).await.unwrap();
    assert!(store.scan("p", &Scan::all()).await.unwrap().is_empty());
}

async fn preconditions_are_all_or_nothing(store: Store) {
    store
        .commit(Txn::new().absent("t", k("a")).put("t", k("a"), k("1")))
        .await
        .unwrap();
    // Second create of the same key fails and writes nothing, not even its other puts.
    let err = store
        .commit(
            Txn::new()
                .put("t", k("b"), k("1"))
                .absent("t", k("a"))
                .put("t", k("a"), k("2")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { index: 0 }));
    assert_eq!(store.get("t", b"a").await.unwrap(), Some(k("1")));
    assert_eq!(store.get("t", b"b").await.unwrap(), None);
    // The index names the failing check.
    let err = store
        .commit(
            Txn::new()
                .exists("t", k("a"))
                .equals("t", k("a"), k("nope"))
                .put("t", k("c"), k("3")),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { index: 1 }));
    // Compare-and-swap succeeds on the current value.
    store
        .commit(Txn::new().equals("t", k("a"), k("1")).put("t", k("a"), k("2")))
        .await
        .unwrap();
    assert_eq!(store.get("t", b"a").await.unwrap(), Some(k("2")));
    let err = store
        .commit(Txn::new().exists("t", k("zz")).delete("t", k("a")))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::ConditionFailed { index: 0 }));
    assert_eq!(store.get("t", b"a").await.unwrap(), Some(k("2")));
}

async fn concurrent_creates_have_one_winner(store: Store) {
    let mut tasks = Vec::new();
    for i in 0..32 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store
                .commit(
                    Txn::new()
                        .absent("race", k("one"))
                        .put("race", k("one"), i.to_string().into_bytes()),
                )
                .await
        }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(()) => wins += 1,
            Err(StoreError::ConditionFailed { .. }) => {}
            Err(e) => panic!("unexpected error {e}"),
        }
    }
    assert_eq!(wins, 1);
    // Concurrent increments through compare-and-swap lose no update.
    store.commit(Txn::new().put("ctr", k("n"), k("0"))).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..10 {
                loop {
                    let cur = store.get("ctr", b"n").await.unwrap().unwrap();
                    let n: u32 = String::from_utf8(cur.clone()).unwrap().parse().unwrap();
                    let next = (n + 1).to_string().into_bytes();
                    match store
                        .commit(Txn::new().equals("ctr", k("n"), cur).put("ctr", k("n"), next))
                        .await
                    {
                        Ok(()) => break,
                        Err(StoreError::ConditionFailed { .. }) => continue,
                        Err(e) => panic!("{e}"),
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert_eq!(store.get("ctr", b"n").await.unwrap(), Some(k("80")));
}

async fn watchers_wake_on_commit(store: Store) {
    let mut w = store.watch("queue/1");
    let s2 = store.clone();
    let waiter = tokio::spawn(async move {
        w.changed().await;
        s2.get("q", b"m").await.unwrap()
    });
    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    store
        .commit(Txn::new().put("q", k("m"), k("hello")).wake("queue/1"))
        .await
        .unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), waiter)
        .await
        .expect("watcher woke")
        .unwrap();
    assert_eq!(got, Some(k("hello")));
}

async fn leases_have_one_holder(store: Store) {
    assert!(
        store
            .acquire_lease("sweeper", "node-a", 1_000, 500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("sweeper", "node-b", 1_200, 500)
            .await
            .unwrap()
    );
    // The holder renews.
    assert!(
        store
            .acquire_lease("sweeper", "node-a", 1_400, 500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("sweeper", "node-b", 1_800, 500)
            .await
            .unwrap()
    );
    // After expiry another node takes over.
    assert!(
        store
            .acquire_lease("sweeper", "node-b", 1_901, 500)
            .await
            .unwrap()
    );
    assert!(
        !store
            .acquire_lease("sweeper", "node-a", 1_950, 500)
            .await
            .unwrap()
    );
    store.release_lease("sweeper", "node-b").await.unwrap();
    assert!(
        store
            .acquire_lease("sweeper", "node-a", 1_960, 500)
            .await
            .unwrap()
    );
}

async fn stats_count_keys_and_bytes(store: Store) {
    store
        .commit(
            Txn::new()
                .put("st", k("a"), k("123"))
                .put("st", k("b"), k("45"))
                .put("other", k("a"), k("1")),
        )
        .await
        .unwrap();
    assert_eq!(store.stats("st").await.unwrap(), (2, 5));
    assert_eq!(store.stats("none").await.unwrap(), (0, 0));
    // A value that declares its size counts for that size, not for its length.
    let sized = [&stratus_store::sized_header(70_000)[..], b"body"].concat();
    store.commit(Txn::new().put("st", k("c"), sized)).await.unwrap();
    assert_eq!(store.stats("st").await.unwrap(), (3, 70_005));
    // A value too short to hold the whole header counts for its length.
    store
        .commit(Txn::new().put("st", k("c"), vec![stratus_store::SIZED, 9]))
        .await
        .unwrap();
    assert_eq!(store.stats("st").await.unwrap(), (3, 7));
}

async fn wipe_removes_everything(store: Store) {
    store
        .commit(Txn::new().put("w", k("a"), k("1")).put("w2", k("b"), k("2")))
        .await
        .unwrap();
    assert!(store.acquire_lease("l", "x", 0, 1_000_000).await.unwrap());
    store.wipe().await.unwrap();
    assert!(store.scan("w", &Scan::all()).await.unwrap().is_empty());
    assert_eq!(store.get("w2", b"b").await.unwrap(), None);
    assert!(store.acquire_lease("l", "y", 1, 10).await.unwrap());
}

macro_rules! suite {
    ($engine:ident: $($name:ident),*) => {
        mod $engine {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let (store, _guard) = super::$engine().await;
                    super::$name(store).await;
                }
            )*
        }
    };
}

suite!(embedded: put_get_delete, scans_in_both_directions, prefixes_and_binary_keys, preconditions_are_all_or_nothing,
       concurrent_creates_have_one_winner, watchers_wake_on_commit, leases_have_one_holder, wipe_removes_everything,
       stats_count_keys_and_bytes);
suite!(postgres: put_get_delete, scans_in_both_directions, prefixes_and_binary_keys, preconditions_are_all_or_nothing,
       concurrent_creates_have_one_winner, watchers_wake_on_commit, leases_have_one_holder, wipe_removes_everything,
       stats_count_keys_and_bytes);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    {
        let store = Store::from_embedded(EmbeddedEngine::open(&path, true).unwrap());
        store
            .commit(Txn::new().put("d", k("kept"), k("yes")))
            .await
            .unwrap();
    }
    let store = Store::from_embedded(EmbeddedEngine::open(&path, false).unwrap());
    assert_eq!(store.get("d", b"kept").await.unwrap(), Some(k("yes")));
}

/// The files as a crash would leave them (copied while the engine runs, nothing flushed):
/// opening the copy replays the log, so every acknowledged commit is there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_log_is_replayed_after_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.db");
    let store = Store::from_embedded(EmbeddedEngine::open_with(&path, false, usize::MAX).unwrap());
    for i in 0..200u32 {
        store
            .commit(Txn::new().put("r", i.to_be_bytes().to_vec(), k("v1")))
            .await
            .unwrap();
    }
    store
        .commit(
            Txn::new()
                .put("r", 7u32.to_be_bytes().to_vec(), k("v2"))
                .delete("r", 9u32.to_be_bytes().to_vec()),
        )
        .await
        .unwrap();
    let image = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), image.path().join(entry.file_name())).unwrap();
    }
    let copy = Store::from_embedded(EmbeddedEngine::open(&image.path().join("store.db"), false).unwrap());
    assert_eq!(copy.get("r", &7u32.to_be_bytes()).await.unwrap(), Some(k("v2")));
    assert_eq!(copy.get("r", &9u32.to_be_bytes()).await.unwrap(), None);
    assert_eq!(copy.stats("r").await.unwrap(), (199, 199 * 2));
    // Replayed into SQLite, not only into memory: the log is gone.
    let logs = std::fs::read_dir(image.path())
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains("-log-")
        })
        .count();
    assert_eq!(logs, 1, "only the new, empty segment remains");
    assert_eq!(copy.scan("r", &Scan::all()).await.unwrap().len(), 199);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_wakeups_cross_nodes() {
    // Two engines on one database stand for two nodes: a commit on one wakes a watcher on the other.
    let base = std::env::var("STRATUS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let url = format!("{base}?stratus_schema=conf_nodes_{}", std::process::id());
    let a = Store::from_postgres(PostgresEngine::connect(&url, false).await.unwrap());
    let b = Store::from_postgres(PostgresEngine::connect(&url, false).await.unwrap());
    let mut w = b.watch("cross");
    // The other node's LISTEN connection comes up asynchronously: commit until a wake-up arrives.
    let woke = async {
        for _ in 0..50 {
            a.commit(Txn::new().put("x", k("1"), k("1")).wake("cross"))
                .await
                .unwrap();
            if tokio::time::timeout(std::time::Duration::from_millis(200), w.changed())
                .await
                .is_ok()
            {
                return true;
            }
        }
        false
    };
    assert!(woke.await, "remote wake-up arrives");
    assert_eq!(b.get("x", b"1").await.unwrap(), Some(k("1")));
}
