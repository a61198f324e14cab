//! The embedded engine: SQLite in WAL mode (see docs/decisions/0002-embedded-engine.md).
//!
//! One writer thread owns the write connection and commits group-wise: it takes every
//! transaction waiting at that moment, runs each inside a savepoint (a failed precondition
//! rolls back only that one), and makes them all durable with a single COMMIT before any of
//! them is acknowledged. With `synchronous=NORMAL` a commit is in the WAL file before the
//! answer (survives `kill -9`); with `synchronous=FULL` it is also fsynced (survives power
//! loss). Readers use a small pool of read-only connections and never block the writer.

use std::ops::Bound;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::oneshot;

use crate::{Bytes, Check, Engine, Result, Scan, StoreError, Txn, Write, notify};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL, PRIMARY KEY (ns, k)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
";

/// Page size of new databases: 8 KiB pages keep records up to ~2 KiB (a 1 KiB S3 object
/// with its metadata, most DynamoDB items) on their leaf page. In a `WITHOUT ROWID` table a
/// record over ~1 KiB spills to an overflow page at 4 KiB, which SQLite reads with its own
/// `pread` on every lookup (see docs/decisions/0002).
const PAGE_SIZE: i64 = 8192;

/// Most transactions folded into one commit.
const MAX_GROUP: usize = 512;

enum Job {
    Txn(Txn, oneshot::Sender<Result<()>>),
    Lease {
        name: String,
        holder: String,
        now_ms: i64,
        ttl_ms: i64,
        reply: oneshot::Sender<Result<bool>>,
    },
    Release {
        name: String,
        holder: String,
        reply: oneshot::Sender<Result<()>>,
    },
    Wipe(oneshot::Sender<Result<()>>),
}

pub struct EmbeddedEngine {
    jobs: Mutex<mpsc::Sender<Job>>,
    readers: Mutex<Vec<Connection>>,
    path: std::path::PathBuf,
}

fn engine_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

fn open_conn(path: &Path, read_only: bool, fsync: bool) -> Result<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    // `unix-excl`: one process owns the files (a second server on the same directory fails to
    // start instead of corrupting it) and read transactions need no file-lock system calls.
    let conn = Connection::open_with_flags_and_vfs(path, flags, c"unix-excl").map_err(engine_err)?;
    if !read_only {
        // Fail at once, not after a busy timeout, when another process holds the files.
        conn.busy_timeout(std::time::Duration::ZERO).map_err(engine_err)?;
        // Takes effect only when the file is created (an existing database keeps its size).
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(engine_err)?;
        conn.pragma_update(None, "journal_mode", "WAL").map_err(|e| {
            if matches!(
                e.sqlite_error_code(),
                Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
            ) {
                StoreError::Engine(format!(
                    "{} is in use by another Stratus process (one process owns a data directory)",
                    path.display()
                ))
            } else {
                engine_err(e)
            }
        })?;
        conn.pragma_update(None, "synchronous", if fsync { "FULL" } else { "NORMAL" })
            .map_err(engine_err)?;
        conn.execute_batch(SCHEMA).map_err(engine_err)?;
    }
    conn.busy_timeout(std::time::Duration::from_secs(10))
        .map_err(engine_err)?;
    // Page caches are per connection (one writer, a checkpointer, up to 16 readers): keep them
    // small so resident memory stays bounded however large the tables grow.
    let cache_kib: i64 = if read_only { 2_000 } else { 8_000 };
    conn.pragma_update(None, "cache_size", -cache_kib)
        .map_err(engine_err)?;
    Ok(conn)
}

impl EmbeddedEngine {
    /// Opens (creating if needed) the database file at `path`.
    pub fn open(path: &Path, fsync: bool) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Engine(format!("cannot create data directory {}: {e}", dir.display()))
            })?;
        }
        let writer = open_conn(path, false, fsync)?;
        let (tx, rx) = mpsc::channel::<Job>();
        // Checkpoints (copying the WAL into the database file, with an fsync) run on their own
        // connection and thread, so a commit never waits for one.
        writer
            .pragma_update(None, "wal_autocheckpoint", 0i64)
            .map_err(engine_err)?;
        writer
            .pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES as i64)
            .map_err(engine_err)?;
        let wal = std::path::PathBuf::from(format!("{}-wal", path.display()));
        let checkpointer = open_conn(path, false, fsync)?;
        let restart_due = Arc::new(AtomicBool::new(false));
        std::thread::Builder::new()
            .name("stratus-store-writer".into())
            .spawn({
                let restart_due = restart_due.clone();
                move || writer_loop(writer, rx, wal, &restart_due)
            })
            .map_err(engine_err)?;
        std::thread::Builder::new()
            .name("stratus-store-checkpoint".into())
            .spawn(move || checkpoint_loop(checkpointer, &restart_due))
            .map_err(engine_err)?;
        Ok(Self {
            jobs: Mutex::new(tx),
            readers: Mutex::new(Vec::new()),
            path: path.to_path_buf(),
        })
    }

    fn send(&self, job: Job) -> Result<()> {
        self.jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .send(job)
            .map_err(|_| StoreError::Engine("store writer stopped".into()))
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.readers.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path, true, false)?,
        };
        let out = f(&conn).map_err(engine_err);
        let mut pool = self.readers.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < 16 {
            pool.push(conn);
        }
        out
    }
}

async fn reply<T>(rx: oneshot::Receiver<Result<T>>) -> Result<T> {
    rx.await
        .map_err(|_| StoreError::Engine("store writer stopped".into()))?
}

impl Engine for EmbeddedEngine {
    async fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Bytes>> {
        self.with_reader(|c| {
            c.prepare_cached("SELECT v FROM kv WHERE ns = ?1 AND k = ?2")?
                .query_row(params![ns, key], |r| r.get(0))
                .optional()
        })
    }

    async fn scan(&self, ns: &str, scan: &Scan) -> Result<Vec<(Bytes, Bytes)>> {
        let mut sql = String::from("SELECT k, v FROM kv WHERE ns = ?1");
        let mut args: Vec<&[u8]> = Vec::new();
        match &scan.start {
            Bound::Included(s) => {
                args.push(s);
                sql.push_str(&format!(" AND k >= ?{}", args.len() + 1));
            }
            Bound::Excluded(s) => {
                args.push(s);
                sql.push_str(&format!(" AND k > ?{}", args.len() + 1));
            }
            Bound::Unbounded => {}
        }
        match &scan.end {
            Bound::Included(e) => {
                args.push(e);
                sql.push_str(&format!(" AND k <= ?{}", args.len() + 1));
            }
            Bound::Excluded(e) => {
                args.push(e);
                sql.push_str(&format!(" AND k < ?{}", args.len() + 1));
            }
            Bound::Unbounded => {}
        }
        sql.push_str(if scan.reverse {
            " ORDER BY k DESC"
        } else {
            " ORDER BY k ASC"
        });
        let limit = i64::try_from(scan.limit).unwrap_or(i64::MAX);
        sql.push_str(&format!(" LIMIT {limit}"));
        self.with_reader(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut bind: Vec<&dyn rusqlite::ToSql> = vec![&ns];
            for a in &args {
                bind.push(a);
            }
            let rows = stmt.query_map(bind.as_slice(), |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }

    async fn commit(&self, txn: Txn) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Txn(txn, tx))?;
        reply(rx).await
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Lease {
            name: name.into(),
            holder: holder.into(),
            now_ms,
            ttl_ms,
            reply: tx,
        })?;
        reply(rx).await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Release {
            name: name.into(),
            holder: holder.into(),
            reply: tx,
        })?;
        reply(rx).await
    }

    async fn wipe(&self) -> Result<()> {
        let (tx, rx) = oneshot::channel();
        self.send(Job::Wipe(tx))?;
        reply(rx).await
    }

    async fn stats(&self, ns: &str) -> Result<(u64, u64)> {
        self.with_reader(|c| {
            c.prepare_cached("SELECT count(*), coalesce(sum(length(v)), 0) FROM kv WHERE ns = ?1")?
                .query_row(params![ns], |r| {
                    Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64))
                })
        })
    }

    fn subscribe_remote(&self, _hub: notify::Hub) {
        // One process owns the file: every commit is local and wakes the hub directly.
    }
}

/// Evaluates the checks and applies the writes of one transaction inside the open one.
fn apply(conn: &Connection, txn: &Txn) -> Result<()> {
    for (index, check) in txn.checks.iter().enumerate() {
        let (ns, key) = match check {
            Check::Exists { ns, key } | Check::Absent { ns, key } | Check::Equals { ns, key, .. } => {
                (ns, key)
            }
        };
        let current: Option<Vec<u8>> = conn
            .prepare_cached("SELECT v FROM kv WHERE ns = ?1 AND k = ?2")
            .and_then(|mut s| s.query_row(params![ns, key], |r| r.get(0)).optional())
            .map_err(engine_err)?;
        let holds = match check {
            Check::Exists { .. } => current.is_some(),
            Check::Absent { .. } => current.is_none(),
            Check::Equals { value, .. } => current.as_deref() == Some(value.as_slice()),
        };
        if !holds {
            return Err(StoreError::ConditionFailed { index });
        }
    }
    for write in &txn.writes {
        let res = match write {
            Write::Put { ns, key, value } => conn
                .prepare_cached("INSERT INTO kv (ns, k, v) VALUES (?1, ?2, ?3) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v")
                .and_then(|mut s| s.execute(params![ns, key, value])),
            Write::Delete { ns, key } => conn
                .prepare_cached("DELETE FROM kv WHERE ns = ?1 AND k = ?2")
                .and_then(|mut s| s.execute(params![ns, key])),
            Write::DeletePrefix { ns, prefix } => match crate::keys::prefix_end(prefix) {
                Some(end) => conn
                    .prepare_cached("DELETE FROM kv WHERE ns = ?1 AND k >= ?2 AND k < ?3")
                    .and_then(|mut s| s.execute(params![ns, prefix, end])),
                None => conn
                    .prepare_cached("DELETE FROM kv WHERE ns = ?1 AND k >= ?2")
                    .and_then(|mut s| s.execute(params![ns, prefix])),
            },
        };
        res.map_err(engine_err)?;
    }
    Ok(())
}

fn run_job(conn: &Connection, job: &Job) -> (Result<bool>, bool) {
    // Returns the job's outcome and whether its savepoint must be rolled back.
    let out = match job {
        Job::Txn(txn, _) => apply(conn, txn).map(|_| true),
        Job::Lease {
            name,
            holder,
            now_ms,
            ttl_ms,
            ..
        } => conn
            .prepare_cached(
                "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                 WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4",
            )
            .and_then(|mut s| s.execute(params![name, holder, now_ms + ttl_ms, now_ms]))
            .map(|n| n > 0)
            .map_err(engine_err),
        Job::Release { name, holder, .. } => conn
            .prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
            .and_then(|mut s| s.execute(params![name, holder]))
            .map(|_| true)
            .map_err(engine_err),
        Job::Wipe(_) => conn
            .execute_batch("DELETE FROM kv; DELETE FROM leases;")
            .map(|_| true)
            .map_err(engine_err),
    };
    let rollback = out.is_err();
    (out, rollback)
}

fn finish(job: Job, out: Result<bool>) {
    match job {
        Job::Txn(_, r) => {
            let _ = r.send(out.map(|_| ()));
        }
        Job::Lease { reply, .. } => {
            let _ = reply.send(out);
        }
        Job::Release { reply, .. } | Job::Wipe(reply) => {
            let _ = reply.send(out.map(|_| ()));
        }
    }
}

/// Copies committed WAL frames into the database file in the background. PASSIVE never
/// blocks the writer or readers. Under continuous writes it never catches up completely, and
/// the WAL only starts over from its beginning once everything in it is copied: past
/// `WAL_RESTART_BYTES` this thread catches up and then asks the writer to restart the WAL
/// between two groups (the writer holds the write lock almost all the time under load, so a
/// restart from here would rarely get it). The writer then copies and syncs only the few
/// frames written since.
fn checkpoint_loop(conn: Connection, restart_due: &AtomicBool) {
    let _ = conn.busy_timeout(std::time::Duration::from_millis(100));
    let page_size: i64 = conn
        .pragma_query_value(None, "page_size", |r| r.get(0))
        .unwrap_or(PAGE_SIZE);
    loop {
        std::thread::sleep(std::time::Duration::from_millis(250));
        match checkpoint(&conn, "PASSIVE") {
            Ok((_, frames, _)) if frames.saturating_mul(page_size) > WAL_RESTART_BYTES as i64 => {
                // Catch up until a pass is quick (or four passes), so that little is left.
                for _ in 0..4 {
                    let pass = std::time::Instant::now();
                    let _ = checkpoint(&conn, "PASSIVE");
                    if pass.elapsed() < std::time::Duration::from_millis(20) {
                        break;
                    }
                }
                restart_due.store(true, Ordering::Release);
            }
            Ok(_) => {}
            Err(e) => tracing::debug!(error = %e, "background checkpoint skipped"),
        }
    }
}

/// One `wal_checkpoint`: (busy, frames in the WAL, frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

/// Beyond this much content the WAL is restarted.
const WAL_RESTART_BYTES: u64 = 64 * 1024 * 1024;
/// A restarted WAL file longer than this is cut back to it. Cutting a file of hundreds of MB
/// takes the writer ~100 ms, so under heavy writes the file keeps its length and is
/// overwritten from the start instead.
const WAL_KEEP_BYTES: u64 = 256 * 1024 * 1024;
/// Beyond this file length the writer restarts the WAL without waiting for the checkpointer,
/// copying whatever is left: only when restarts keep failing (a reader holding an old
/// snapshot for seconds).
const WAL_FORCE_BYTES: u64 = 1024 * 1024 * 1024;

fn writer_loop(conn: Connection, rx: mpsc::Receiver<Job>, wal: std::path::PathBuf, restart_due: &AtomicBool) {
    let mut groups: u64 = 0;
    while let Ok(first) = rx.recv() {
        groups += 1;
        let restart = if restart_due.swap(false, Ordering::AcqRel) {
            Some("RESTART")
        } else if groups.is_multiple_of(64)
            && std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_FORCE_BYTES)
        {
            Some("TRUNCATE")
        } else {
            None
        };
        if let Some(mode) = restart
            && let Err(e) = checkpoint(&conn, mode)
        {
            tracing::warn!(error = %e, "WAL restart failed; will retry");
        }
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match rx.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let mut outcomes = Vec::with_capacity(group.len());
        let begun = conn.execute_batch("BEGIN IMMEDIATE").map_err(engine_err);
        if let Err(e) = begun {
            for job in group {
                finish(job, Err(StoreError::Engine(e.to_string())));
            }
            continue;
        }
        let mut poisoned = None;
        for job in &group {
            // A transaction without preconditions cannot fail on its own: it needs no savepoint.
            // If one fails anyway (an I/O error), the whole group is rolled back below.
            if matches!(job, Job::Txn(t, _) if t.checks.is_empty()) {
                let (out, failed) = run_job(&conn, job);
                if failed {
                    poisoned = out.as_ref().err().map(|e| e.to_string());
                    break;
                }
                outcomes.push(out);
                continue;
            }
            let sp = conn.execute_batch("SAVEPOINT t");
            let (out, rollback) = match sp {
                Ok(()) => run_job(&conn, job),
                Err(e) => (Err(engine_err(e)), false),
            };
            let end = if rollback {
                "ROLLBACK TO t; RELEASE t"
            } else {
                "RELEASE t"
            };
            let out = match conn.execute_batch(end) {
                Ok(()) => out,
                Err(e) => Err(engine_err(e)),
            };
            outcomes.push(out);
        }
        if let Some(e) = poisoned {
            let _ = conn.execute_batch("ROLLBACK");
            for job in group {
                finish(job, Err(StoreError::Engine(format!("write failed: {e}"))));
            }
            continue;
        }
        match conn.execute_batch("COMMIT") {
            Ok(()) => {
                for (job, out) in group.into_iter().zip(outcomes) {
                    finish(job, out);
                }
            }
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                for job in group {
                    finish(job, Err(StoreError::Engine(format!("commit failed: {e}"))));
                }
            }
        }
    }
}
