//! Would an LSM engine make the embedded store's flushes cheaper? Ingests N batches of 30,000
//! randomly keyed 220-byte values (the size of an 8 MiB memtable flush of ~200-byte DynamoDB
//! items), sorted, as the flusher writes them: into SQLite as `crates/stratus-store` does
//! (WITHOUT ROWID table, 8 KiB pages, WAL, synchronous=FULL, passive checkpoint after each
//! flush) or into fjall 3 (one batch per flush, then a synced persist). Prints process CPU per
//! item (fjall's background compaction included: it is measured after 5 s idle), then the
//! time of 25-item range scans on the result.
//!
//!     cargo run --release --manifest-path bench/lsm_spike/Cargo.toml -- fjall|sqlite DIR BATCHES

use rand::Rng;
use std::time::Instant;

fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit_once(')').unwrap().1.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn batches(n_batches: usize, per: usize, seed: u64) -> Vec<Vec<(Vec<u8>, Vec<u8>)>> {
    use rand::SeedableRng;
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    (0..n_batches)
        .map(|_| {
            let mut b: Vec<(Vec<u8>, Vec<u8>)> = (0..per)
                .map(|_| {
                    let k: [u8; 16] = rng.random();
                    let mut key = b"\x01S".to_vec();
                    key.extend_from_slice(&k);
                    (key, vec![b'x'; 220])
                })
                .collect();
            b.sort();
            b
        })
        .collect()
}

fn main() {
    let which = std::env::args().nth(1).unwrap();
    let dir = std::path::PathBuf::from(std::env::args().nth(2).unwrap());
    let n: usize = std::env::args().nth(3).unwrap().parse().unwrap();
    let per = 30_000; // ~8 MiB memtable of 250-byte entries
    let data = batches(n, per, 7);
    let ns = "dynamodb:items:bench";
    let (c0, t0) = (cpu(), Instant::now());
    let mut keys_sample = Vec::new();
    match which.as_str() {
        "sqlite" => {
            let conn = rusqlite::Connection::open(dir.join("store.db")).unwrap();
            conn.pragma_update(None, "page_size", 8192).unwrap();
            conn.pragma_update(None, "journal_mode", "WAL").unwrap();
            conn.pragma_update(None, "synchronous", "FULL").unwrap();
            conn.execute_batch("CREATE TABLE kv (ns TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL, PRIMARY KEY (ns, k)) WITHOUT ROWID;").unwrap();
            conn.pragma_update(None, "wal_autocheckpoint", 0).unwrap();
            conn.pragma_update(None, "cache_size", -8000).unwrap();
            for (i, b) in data.iter().enumerate() {
                let tb = Instant::now();
                conn.execute_batch("BEGIN").unwrap();
                {
                    let mut st = conn.prepare_cached("INSERT INTO kv (ns, k, v) VALUES (?1, ?2, ?3) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v").unwrap();
                    for (k, v) in b {
                        st.execute(rusqlite::params![ns, k, v]).unwrap();
                    }
                }
                conn.execute_batch("COMMIT").unwrap();
                let _: (i64, i64, i64) = conn
                    .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
                    })
                    .unwrap();
                if i % 10 == 9 {
                    eprintln!("sqlite flush {i}: {:?} cpu {:.2}", tb.elapsed(), cpu() - c0);
                }
            }
            let (c1, t1) = (cpu(), t0.elapsed());
            println!(
                "sqlite ingest {} items: wall {:?} cpu {:.2}s => {:.2} us cpu/item",
                n * per,
                t1,
                c1 - c0,
                (c1 - c0) / (n * per) as f64 * 1e6
            );
            for b in data.iter().step_by(7) {
                keys_sample.push(b[100].0.clone());
            }
            let (c2, t2) = (cpu(), Instant::now());
            let mut got = 0;
            let mut st = conn
                .prepare_cached("SELECT k, v FROM kv WHERE ns = ?1 AND k >= ?2 ORDER BY k LIMIT 25")
                .unwrap();
            for _ in 0..2000 {
                for k in &keys_sample {
                    let rows = st
                        .query_map(rusqlite::params![ns, k], |r| Ok(r.get::<_, Vec<u8>>(1)?.len()))
                        .unwrap();
                    got += rows.count();
                }
            }
            println!(
                "sqlite scans25: {:.2} us each ({got}) cpu {:.2}",
                t2.elapsed().as_secs_f64() / (2000 * keys_sample.len()) as f64 * 1e6,
                cpu() - c2
            );
        }
        "fjall" => {
            let db = fjall::Database::builder(&dir)
                .cache_size(16 << 20)
                .open()
                .unwrap();
            let ks = db.keyspace("kv", fjall::KeyspaceCreateOptions::default).unwrap();
            for (i, b) in data.iter().enumerate() {
                let tb = Instant::now();
                let mut wb = db.batch();
                for (k, v) in b {
                    let mut key = ns.as_bytes().to_vec();
                    key.push(0);
                    key.extend_from_slice(k);
                    wb.insert(&ks, key, v);
                }
                wb.commit().unwrap();
                db.persist(fjall::PersistMode::SyncAll).unwrap();
                if i % 10 == 9 {
                    eprintln!("fjall flush {i}: {:?} cpu {:.2}", tb.elapsed(), cpu() - c0);
                }
            }
            let (c1, t1) = (cpu(), t0.elapsed());
            println!(
                "fjall ingest {} items: wall {:?} cpu {:.2}s => {:.2} us cpu/item",
                n * per,
                t1,
                c1 - c0,
                (c1 - c0) / (n * per) as f64 * 1e6
            );
            std::thread::sleep(std::time::Duration::from_secs(5));
            println!("fjall after 5s idle: cpu {:.2}", cpu() - c0);
            for b in data.iter().step_by(7) {
                let mut key = ns.as_bytes().to_vec();
                key.push(0);
                key.extend_from_slice(&b[100].0);
                keys_sample.push(key);
            }
            let (c2, t2) = (cpu(), Instant::now());
            let mut got = 0;
            for _ in 0..2000 {
                for k in &keys_sample {
                    for kv in ks.range(k.clone()..).take(25) {
                        let (_k, v) = kv.into_inner().unwrap();
                        got += v.len().min(1);
                    }
                }
            }
            println!(
                "fjall scans25: {:.2} us each ({got}) cpu {:.2}",
                t2.elapsed().as_secs_f64() / (2000 * keys_sample.len()) as f64 * 1e6,
                cpu() - c2
            );
        }
        _ => panic!(),
    }
    let rss = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS"))
        .unwrap()
        .to_string();
    println!("{rss}");
}
