//! Commit throughput of each engine and durability setting, one writer and many: shows what
//! shared fsyncs buy. Run: `cargo run --release -p stratus-store --example store_bench`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use stratus_store::{EmbeddedEngine, PostgresEngine, Scan, Store, Txn};

async fn run(store: &Store, writers: usize, secs: f64) -> f64 {
    let done = Arc::new(AtomicU64::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let mut tasks = Vec::new();
    for w in 0..writers {
        let store = store.clone();
        let done = done.clone();
        tasks.push(tokio::spawn(async move {
            let mut i: u64 = 0;
            while Instant::now() < deadline {
                let key = format!(
                    "{w:04}-{:012}",
                    i.wrapping_mul(0x9E3779B97F4A7C15) % 1_000_000_007
                );
                store
                    .commit(Txn::new().put("bench", key.into_bytes(), vec![7u8; 200]))
                    .await
                    .unwrap();
                i += 1;
                done.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    let start = Instant::now();
    for t in tasks {
        t.await.unwrap();
    }
    done.load(Ordering::Relaxed) as f64 / start.elapsed().as_secs_f64()
}

async fn reads(store: &Store, secs: f64) -> (f64, f64) {
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let keys: Vec<Vec<u8>> = store
        .scan("bench", &Scan::all().limit(1000))
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    let (mut gets, mut scans) = (0u64, 0u64);
    let start = Instant::now();
    while Instant::now() < deadline {
        for k in keys.iter().take(100) {
            store.get("bench", k).await.unwrap();
            gets += 1;
        }
    }
    let get_rate = gets as f64 / start.elapsed().as_secs_f64();
    let deadline = Instant::now() + Duration::from_secs_f64(secs);
    let start = Instant::now();
    while Instant::now() < deadline {
        store
            .scan("bench", &Scan::prefix(b"0001-").limit(25))
            .await
            .unwrap();
        scans += 1;
    }
    let el = start.elapsed().as_secs_f64();
    (get_rate, scans as f64 / el)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let secs: f64 = std::env::var("BENCH_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3.0);
    let pg = std::env::var("STRATUS_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    println!("| engine | durability | writers | commits/s |");
    println!("|---|---|---:|---:|");
    for fsync in [false, true] {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::from_embedded(EmbeddedEngine::open(&dir.path().join("s.db"), fsync).unwrap());
        for writers in [1, 16, 64] {
            let r = run(&store, writers, secs).await;
            println!(
                "| embedded (SQLite WAL) | {} | {writers} | {r:.0} |",
                if fsync { "fsync" } else { "log" }
            );
        }
        if !fsync {
            let (g, s) = reads(&store, secs).await;
            println!("\nembedded reads: {g:.0} point gets/s, {s:.0} 25-key range scans/s (one task)\n");
        }
    }
    for fsync in [false, true] {
        let url = format!("{pg}?stratus_schema=bench_{}", std::process::id());
        let store = Store::from_postgres(PostgresEngine::connect(&url, fsync).await.unwrap());
        store.wipe().await.unwrap();
        for writers in [1, 16, 64] {
            let r = run(&store, writers, secs).await;
            println!(
                "| postgres | {} | {writers} | {r:.0} |",
                if fsync { "fsync" } else { "log" }
            );
        }
        store.wipe().await.unwrap();
    }
}
