//! The embedded engine: a write front (memtable and log) over SQLite in WAL mode (see
//! docs/decisions/0002-embedded-engine-sqlite-group-commit.md and
//! docs/decisions/0010-embedded-write-front.md).
//!
//! A commit evaluates its checks, appends one record to the current log segment and applies
//! its writes to the memtable, all under one lock and on the caller's thread: once the append
//! returns, the record is in the file and survives `kill -9`. With `--durability fsync` the
//! commit then waits until the syncer thread has fsynced the log past it (everyone waiting
//! shares one fsync). The flusher thread moves the memtable into SQLite in one sorted
//! transaction once it holds `FLUSH_BYTES` (or no write has come for `FLUSH_IDLE`), then deletes
//! the log segment. Readers look in the memtable first, then in SQLite. A transaction that
//! deletes a prefix (a whole table, a namespace) first drains the memtable and then runs
//! directly on SQLite, alone.

use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use rusqlite::functions::FunctionFlags;
use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use tokio::sync::watch;

use crate::memtable::{self, Memtable, Merge, Op};
use crate::{Bytes, Check, Engine, Result, Scan, ScanValues, StoreError, Txn, Write, notify};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS kv (ns TEXT NOT NULL, k BLOB NOT NULL, v BLOB NOT NULL, PRIMARY KEY (ns, k)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leases (name TEXT PRIMARY KEY, holder TEXT NOT NULL, expires_ms INTEGER NOT NULL) WITHOUT ROWID;
";

/// Page size of new databases: 8 KiB pages keep records up to ~2 KiB (a 1 KiB S3 object
/// with its metadata, most DynamoDB items) on their leaf page. In a `WITHOUT ROWID` table a
/// record over ~1 KiB spills to an overflow page at 4 KiB, which SQLite reads with its own
/// `pread` on every lookup (see docs/decisions/0002).
const PAGE_SIZE: i64 = 8192;

/// The memtable is flushed into SQLite once it holds this much...
const FLUSH_BYTES: usize = 8 << 20;
/// ...or once no write has come for this long.
const FLUSH_IDLE: Duration = Duration::from_secs(1);
/// Commits wait for a flush while the memtable holds more than this many times `FLUSH_BYTES`
/// (the flusher has fallen behind), so memory stays bounded.
const STALL_FACTOR: usize = 3;
/// The longest a commit is held back for room.
const STALL_MAX: Duration = Duration::from_secs(5);
/// How often the flusher looks at the memtable.
const FLUSH_POLL: Duration = Duration::from_millis(20);
/// Recently read rows (and absent keys) kept in memory, at most this much; the cache starts
/// over when it is full.
const ROW_CACHE_BYTES: usize = 8 << 20;
/// A WAL file longer than this after a flush is checkpointed and cut back at once.
const WAL_KEEP_BYTES: u64 = 256 * 1024 * 1024;

fn engine_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Engine(e.to_string())
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn open_conn(path: &Path, read_only: bool) -> Result<Connection> {
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
        conn.busy_timeout(Duration::ZERO).map_err(engine_err)?;
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
        // SQLite commits only flushes, prefix deletions and leases, all rare: each is fsynced, so
        // a log segment can be deleted as soon as its flush has committed.
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(engine_err)?;
        conn.execute_batch(SCHEMA).map_err(engine_err)?;
        conn.pragma_update(None, "wal_autocheckpoint", 0i64)
            .map_err(engine_err)?;
        conn.pragma_update(None, "journal_size_limit", WAL_KEEP_BYTES as i64)
            .map_err(engine_err)?;
    }
    conn.busy_timeout(Duration::from_secs(10)).map_err(engine_err)?;
    // `stats` sums the sizes values declare (`crate::value_size`).
    conn.create_scalar_function(
        "value_size",
        1,
        FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC,
        |ctx| Ok(crate::value_size(ctx.get_raw(0).as_blob().unwrap_or_default()) as i64),
    )
    .map_err(engine_err)?;
    // Page caches are per connection (the writer and up to 17 readers): keep them small so
    // resident memory stays bounded however large the tables grow.
    let cache_kib: i64 = if read_only { 2_000 } else { 8_000 };
    conn.pragma_update(None, "cache_size", -cache_kib)
        .map_err(engine_err)?;
    Ok(conn)
}

/// The log segment that commits append to.
struct Log {
    file: Arc<File>,
    number: u64,
    /// Bytes appended so far (a failed append is cut back to this).
    len: u64,
}

fn segment_path(db: &Path, number: u64) -> PathBuf {
    PathBuf::from(format!("{}-log-{number:010}", db.display()))
}

/// The log segments next to `db`, oldest first.
fn segments(db: &Path) -> Result<Vec<(u64, PathBuf)>> {
    let dir = db.parent().unwrap_or(Path::new("."));
    let stem = format!(
        "{}-log-",
        db.file_name().map(|n| n.to_string_lossy()).unwrap_or_default()
    );
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(engine_err)? {
        let entry = entry.map_err(engine_err)?;
        let name = entry.file_name();
        if let Some(n) = name
            .to_str()
            .and_then(|n| n.strip_prefix(&stem))
            .and_then(|n| n.parse::<u64>().ok())
        {
            out.push((n, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

impl Log {
    fn create(db: &Path, number: u64, fsync: bool) -> Result<Self> {
        let path = segment_path(db, number);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(|e| StoreError::Engine(format!("cannot create log {}: {e}", path.display())))?;
        let len = file.metadata().map_err(engine_err)?.len();
        if fsync {
            // The new file's name must survive a power loss too.
            if let Some(dir) = db.parent() {
                File::open(dir).and_then(|d| d.sync_all()).map_err(engine_err)?;
            }
        }
        Ok(Self {
            file: Arc::new(file),
            number,
            len,
        })
    }
}

/// Applies every record of a log segment to SQLite in one transaction (start-up recovery).
/// Replaying a segment whose flush had already committed writes the same values again.
fn replay(conn: &Connection, path: &Path) -> Result<usize> {
    let data = std::fs::read(path).map_err(engine_err)?;
    let records = memtable::decode(&data);
    in_transaction(conn, |conn| {
        for op in records.iter().flatten() {
            match *op {
                Op::Put(ns, key, value) => upsert(conn, ns, key, value)?,
                Op::Delete(ns, key) => remove(conn, ns, key)?,
            }
        }
        Ok(())
    })?;
    Ok(records.len())
}

fn upsert(conn: &Connection, ns: &str, key: &[u8], value: &[u8]) -> Result<()> {
    conn.prepare_cached(
        "INSERT INTO kv (ns, k, v) VALUES (?1, ?2, ?3) ON CONFLICT (ns, k) DO UPDATE SET v = excluded.v",
    )
    .and_then(|mut s| s.execute(params![ns, key, value]))
    .map(|_| ())
    .map_err(engine_err)
}

fn remove(conn: &Connection, ns: &str, key: &[u8]) -> Result<()> {
    conn.prepare_cached("DELETE FROM kv WHERE ns = ?1 AND k = ?2")
        .and_then(|mut s| s.execute(params![ns, key]))
        .map(|_| ())
        .map_err(engine_err)
}

fn remove_prefix(conn: &Connection, ns: &str, prefix: &[u8]) -> Result<()> {
    match crate::keys::prefix_end(prefix) {
        Some(end) => conn
            .prepare_cached("DELETE FROM kv WHERE ns = ?1 AND k >= ?2 AND k < ?3")
            .and_then(|mut s| s.execute(params![ns, prefix, end])),
        None => conn
            .prepare_cached("DELETE FROM kv WHERE ns = ?1 AND k >= ?2")
            .and_then(|mut s| s.execute(params![ns, prefix])),
    }
    .map(|_| ())
    .map_err(engine_err)
}

fn lookup(conn: &Connection, ns: &str, key: &[u8]) -> Result<Option<Bytes>> {
    conn.prepare_cached("SELECT v FROM kv WHERE ns = ?1 AND k = ?2")
        .and_then(|mut s| s.query_row(params![ns, key], |r| r.get(0)).optional())
        .map_err(engine_err)
}

/// Evaluates a transaction's checks in order against `current` (the value a key has now);
/// the first that does not hold names the failure.
fn check_all(checks: &[Check], mut current: impl FnMut(&str, &[u8]) -> Result<Option<Bytes>>) -> Result<()> {
    for (index, check) in checks.iter().enumerate() {
        let holds = match check {
            Check::Exists { ns, key } => current(ns, key)?.is_some(),
            Check::Absent { ns, key } => current(ns, key)?.is_none(),
            Check::Equals { ns, key, value } => current(ns, key)?.as_ref() == Some(value),
        };
        if !holds {
            return Err(StoreError::ConditionFailed { index });
        }
    }
    Ok(())
}

/// Runs `f` inside one write transaction: committed when it succeeds, rolled back otherwise.
fn in_transaction<T>(conn: &Connection, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
    conn.execute_batch("BEGIN IMMEDIATE").map_err(engine_err)?;
    match f(conn) {
        Ok(out) => match conn.execute_batch("COMMIT") {
            Ok(()) => Ok(out),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                Err(engine_err(e))
            }
        },
        Err(e) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(e)
        }
    }
}

/// Starts a read transaction whose snapshot is fixed from now on (SQLite takes it at the
/// first read, so one read is made at once).
fn begin_snapshot(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute_batch("BEGIN")?;
    conn.prepare_cached("SELECT count(*) FROM leases")?
        .query_row([], |_| Ok(()))
}

/// What the memtables hold and where new records go; one lock guards it all.
struct Tables {
    active: Memtable,
    /// The memtable being flushed: still read until SQLite holds its contents.
    frozen: Option<Arc<Memtable>>,
    log: Log,
    /// Segments whose records are all in `frozen` (deleted once it is flushed).
    retired: Vec<u64>,
    /// Rows read from SQLite (`None`: known absent). A commit forgets the keys it writes.
    cache: Memtable,
    /// Moves on when SQLite changes under the cache (a flush or a direct transaction ends): a
    /// row read before then may be stale and is not cached.
    epoch: u64,
    /// A read-only connection for checks on keys that no memtable holds.
    sqlite: Connection,
    /// Commits appended so far: the sequence number of the last one.
    written: u64,
    last_write: Instant,
    /// Set when a failed append could not be cut back: later records could not be trusted.
    broken: Option<String>,
}

impl Tables {
    /// The entry the memtables hold for a key, newest first.
    fn get(&self, ns: &str, key: &[u8]) -> Option<Option<&Bytes>> {
        self.active
            .get(ns, key)
            .or_else(|| self.frozen.as_ref()?.get(ns, key))
    }

    /// The memtables' entries of a namespace within the scan's bounds, newest first per key.
    fn range<'a>(
        &'a self,
        ns: &str,
        scan: &Scan,
    ) -> impl Iterator<Item = (&'a [u8], Option<&'a Bytes>)> + 'a {
        let older = self.frozen.as_ref().map(|f| f.range(ns, scan));
        Merge::new(
            self.active.range(ns, scan),
            older.into_iter().flatten(),
            scan.reverse,
        )
    }

    /// The entry the memtables or the row cache hold for a key.
    fn known(&self, ns: &str, key: &[u8]) -> Option<Option<&Bytes>> {
        self.get(ns, key).or_else(|| self.cache.get(ns, key))
    }

    /// Caches a row read from SQLite, unless SQLite may have changed since (`epoch`) or a
    /// memtable holds a newer entry.
    fn remember(&mut self, ns: &str, key: &[u8], value: Option<&Bytes>, epoch: u64) {
        if self.epoch != epoch || self.get(ns, key).is_some() {
            return;
        }
        if self.cache.bytes() > ROW_CACHE_BYTES {
            self.cache = Memtable::default();
        }
        self.cache.set(ns, key.to_vec(), value.cloned());
    }

    fn current(&mut self, ns: &str, key: &[u8]) -> Result<Option<Bytes>> {
        if let Some(entry) = self.known(ns, key) {
            return Ok(entry.cloned());
        }
        // SQLite cannot change this row while the lock is held (a flush writes only rows that
        // a memtable holds), so it can be cached at once.
        let row = lookup(&self.sqlite, ns, key)?;
        self.remember(ns, key, row.as_ref(), self.epoch);
        Ok(row)
    }

    /// Evaluates the checks, then appends the record and applies the writes. Returns the
    /// commit's sequence number (0 when it wrote nothing).
    fn commit(&mut self, txn: Txn) -> Result<u64> {
        if let Some(e) = &self.broken {
            return Err(StoreError::Engine(e.clone()));
        }
        check_all(&txn.checks, |ns, key| self.current(ns, key))?;
        if txn.writes.is_empty() {
            return Ok(0);
        }
        let record = memtable::encode(txn.writes.iter().map(|w| match w {
            Write::Put { ns, key, value } => Op::Put(ns, key, value),
            Write::Delete { ns, key } => Op::Delete(ns, key),
            Write::DeletePrefix { .. } => unreachable!("prefix deletions run directly on SQLite"),
        }));
        if let Err(e) = (&*self.log.file).write_all(&record) {
            // Cut a partial record off, or no later record could be read back.
            if let Err(cut) = self.log.file.set_len(self.log.len) {
                self.broken = Some(format!("log append failed ({e}) and could not be undone ({cut})"));
            }
            return Err(StoreError::Engine(format!("log append failed: {e}")));
        }
        self.log.len += record.len() as u64;
        for write in txn.writes {
            match write {
                Write::Put { ns, key, value } => {
                    self.cache.remove(&ns, &key);
                    self.active.set(&ns, key, Some(value));
                }
                Write::Delete { ns, key } => {
                    self.cache.remove(&ns, &key);
                    self.active.set(&ns, key, None);
                }
                Write::DeletePrefix { .. } => {}
            }
        }
        self.written += 1;
        self.last_write = Instant::now();
        Ok(self.written)
    }

    /// Starts a new log segment and freezes the active memtable for flushing.
    fn rotate(&mut self, shared: &Shared) -> Result<()> {
        let next = Log::create(&shared.path, self.log.number + 1, shared.fsync)?;
        if shared.fsync {
            // Commits waiting on the old segment are covered by this sync.
            self.log.file.sync_data().map_err(engine_err)?;
            let upto = self.written;
            shared
                .synced
                .send_if_modified(|s| std::mem::replace(s, upto.max(*s)) != *s);
        }
        let old = std::mem::replace(&mut self.log, next);
        self.retired.push(old.number);
        self.frozen = Some(Arc::new(std::mem::take(&mut self.active)));
        Ok(())
    }
}

struct Shared {
    path: PathBuf,
    fsync: bool,
    flush_bytes: usize,
    tables: Mutex<Tables>,
    /// SQLite's write connection: flushes, prefix deletions, leases and wipes take turns.
    sqlite: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    /// Commits hold it shared; a transaction that runs directly on SQLite holds it alone.
    gate: tokio::sync::RwLock<()>,
    /// The last commit whose record is fsynced (`--durability fsync`).
    synced: watch::Sender<u64>,
    /// The last commit someone waits to see fsynced, and the syncer's wake-up.
    sync_wanted: (Mutex<u64>, Condvar),
    /// Why fsyncs stopped working, if they did.
    sync_error: Mutex<Option<String>>,
    /// Woken after every flush (commits stalled on a full memtable wait for it).
    flushed: tokio::sync::Notify,
    stop: AtomicBool,
}

impl Shared {
    /// Runs `f` on a pooled read connection.
    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = lock(&self.readers).pop();
        let conn = match conn {
            Some(c) => c,
            None => open_conn(&self.path, true)?,
        };
        let out = f(&conn).map_err(engine_err);
        let mut pool = lock(&self.readers);
        // A connection left inside a transaction (a failed scan) is not reused.
        if pool.len() < 16 && conn.is_autocommit() {
            pool.push(conn);
        }
        out
    }
}

/// Number of keys in `ns` and the sum of their values' sizes: SQLite's rows, corrected by the
/// memtables' entries (each replaces or deletes at most one row), as of one moment.
fn count(shared: &Shared, c: &Connection, ns: &str) -> rusqlite::Result<(u64, u64)> {
    let (mem, snapshot) = {
        let t = lock(&shared.tables);
        let mem: Vec<(Bytes, Option<u64>)> = t
            .range(ns, &Scan::all())
            .map(|(k, v)| (k.to_vec(), v.map(|v| crate::value_size(v))))
            .collect();
        let snapshot = !mem.is_empty();
        if snapshot {
            begin_snapshot(c)?;
        }
        (mem, snapshot)
    };
    let counted = (|| {
        let (mut count, mut bytes) = c
            .prepare_cached("SELECT count(*), coalesce(sum(value_size(v)), 0) FROM kv WHERE ns = ?1")?
            .query_row(params![ns], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?;
        for (key, size) in &mem {
            let stored: Option<i64> = c
                .prepare_cached("SELECT value_size(v) FROM kv WHERE ns = ?1 AND k = ?2")?
                .query_row(params![ns, key], |r| r.get(0))
                .optional()?;
            if let Some(old) = stored {
                count -= 1;
                bytes -= old;
            }
            if let Some(new) = size {
                count += 1;
                bytes += *new as i64;
            }
        }
        Ok((count.max(0) as u64, bytes.max(0) as u64))
    })();
    if snapshot {
        c.execute_batch("ROLLBACK")?;
    }
    counted
}

/// Moves the memtable into SQLite: freezes it behind a new log segment (unless a frozen one
/// is still waiting after a failed flush), writes it in key order in one transaction, then
/// forgets it and deletes the segments it came from.
fn flush(shared: &Shared, conn: &Connection) -> Result<()> {
    let frozen = {
        let mut t = lock(&shared.tables);
        if t.frozen.is_none() && !t.active.is_empty() {
            t.rotate(shared)?;
        }
        t.frozen.clone()
    };
    // With nothing to write, segments whose deletion failed before are retried.
    let Some(frozen) = frozen else {
        return delete_retired(shared);
    };
    in_transaction(conn, |conn| {
        for (ns, key, value) in frozen.sorted() {
            match value {
                Some(v) => upsert(conn, ns, key, v)?,
                None => remove(conn, ns, key)?,
            }
        }
        Ok(())
    })?;
    {
        let mut t = lock(&shared.tables);
        t.frozen = None;
        t.epoch += 1;
    }
    shared.flushed.notify_waiters();
    delete_retired(shared)?;
    // Copy the new pages into the database file now, while nothing else writes: the next
    // flush then starts the WAL over from its beginning.
    let _ = checkpoint(conn, "PASSIVE");
    let wal = PathBuf::from(format!("{}-wal", shared.path.display()));
    if std::fs::metadata(&wal).is_ok_and(|m| m.len() > WAL_KEEP_BYTES) {
        let _ = checkpoint(conn, "TRUNCATE");
    }
    Ok(())
}

/// Deletes the flushed segments, oldest first. One that cannot be deleted stops the rest:
/// a segment left behind is replayed at the next start, so a newer one must stay after it.
fn delete_retired(shared: &Shared) -> Result<()> {
    let retired = std::mem::take(&mut lock(&shared.tables).retired);
    for (i, number) in retired.iter().enumerate() {
        if let Err(e) = std::fs::remove_file(segment_path(&shared.path, *number)) {
            let mut t = lock(&shared.tables);
            let newer = std::mem::take(&mut t.retired);
            t.retired = retired[i..].iter().copied().chain(newer).collect();
            return Err(StoreError::Engine(format!(
                "cannot delete a flushed log segment: {e}"
            )));
        }
    }
    Ok(())
}

/// Flushes until no memtable holds anything (the caller keeps new commits out).
fn drain(shared: &Shared, conn: &Connection) -> Result<()> {
    loop {
        flush(shared, conn)?;
        let t = lock(&shared.tables);
        if t.active.is_empty() && t.frozen.is_none() && t.retired.is_empty() {
            return Ok(());
        }
    }
}

/// One `wal_checkpoint`: (busy, frames in the WAL, frames copied).
fn checkpoint(conn: &Connection, mode: &str) -> rusqlite::Result<(i64, i64, i64)> {
    conn.query_row(&format!("PRAGMA wal_checkpoint({mode})"), [], |r| {
        Ok((r.get(0)?, r.get(1)?, r.get(2)?))
    })
}

fn flush_loop(shared: Arc<Shared>, wake: mpsc::Receiver<()>) {
    loop {
        let stopping = matches!(
            wake.recv_timeout(FLUSH_POLL),
            Err(mpsc::RecvTimeoutError::Disconnected)
        );
        let due = {
            let t = lock(&shared.tables);
            t.frozen.is_some()
                || !t.retired.is_empty()
                || (!t.active.is_empty()
                    && (stopping
                        || t.active.bytes() >= shared.flush_bytes
                        || t.last_write.elapsed() >= FLUSH_IDLE))
        };
        if due {
            let conn = lock(&shared.sqlite);
            if let Err(e) = flush(&shared, &conn) {
                tracing::warn!(error = %e, "memtable flush failed; will retry");
            }
        }
        if stopping {
            return;
        }
    }
}

/// Fsyncs the log whenever a commit waits for it; every commit appended before the fsync
/// started is covered by it.
fn sync_loop(shared: Arc<Shared>) {
    loop {
        {
            let (wanted, wake) = &shared.sync_wanted;
            let mut w = lock(wanted);
            while *w <= *shared.synced.borrow() && !shared.stop.load(Ordering::Acquire) {
                w = wake.wait(w).unwrap_or_else(|e| e.into_inner());
            }
            if shared.stop.load(Ordering::Acquire) {
                return;
            }
        }
        let (file, upto) = {
            let t = lock(&shared.tables);
            (t.log.file.clone(), t.written)
        };
        match file.sync_data() {
            Ok(()) => {
                shared
                    .synced
                    .send_if_modified(|s| std::mem::replace(s, upto.max(*s)) != *s);
            }
            Err(e) => {
                *lock(&shared.sync_error) = Some(format!("log fsync failed: {e}"));
                shared.synced.send_replace(u64::MAX);
                return;
            }
        }
    }
}

pub struct EmbeddedEngine {
    shared: Arc<Shared>,
    /// Dropped to stop the flusher (which flushes one last time).
    wake: Option<mpsc::Sender<()>>,
    threads: Vec<JoinHandle<()>>,
}

impl EmbeddedEngine {
    /// Opens (creating if needed) the database file at `path`, replaying any log left by the
    /// last run into it.
    pub fn open(path: &Path, fsync: bool) -> Result<Self> {
        Self::open_with(path, fsync, FLUSH_BYTES)
    }

    /// [`open`](Self::open) with another flush threshold (tests use a tiny one).
    #[doc(hidden)]
    pub fn open_with(path: &Path, fsync: bool, flush_bytes: usize) -> Result<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| {
                StoreError::Engine(format!("cannot create data directory {}: {e}", dir.display()))
            })?;
        }
        let writer = open_conn(path, false)?;
        let found = segments(path)?;
        for (_, segment) in &found {
            let records = replay(&writer, segment)?;
            tracing::info!(segment = %segment.display(), records, "replayed log segment");
            std::fs::remove_file(segment).map_err(engine_err)?;
        }
        let number = found.last().map_or(1, |(n, _)| n + 1);
        let log = Log::create(path, number, fsync)?;
        let shared = Arc::new(Shared {
            path: path.to_path_buf(),
            fsync,
            flush_bytes,
            tables: Mutex::new(Tables {
                active: Memtable::default(),
                frozen: None,
                log,
                retired: Vec::new(),
                cache: Memtable::default(),
                epoch: 0,
                sqlite: open_conn(path, true)?,
                written: 0,
                last_write: Instant::now(),
                broken: None,
            }),
            sqlite: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            gate: tokio::sync::RwLock::new(()),
            synced: watch::Sender::new(0),
            sync_wanted: (Mutex::new(0), Condvar::new()),
            sync_error: Mutex::new(None),
            flushed: tokio::sync::Notify::new(),
            stop: AtomicBool::new(false),
        });
        let (wake, woken) = mpsc::channel();
        let mut threads = vec![
            std::thread::Builder::new()
                .name("stratus-store-flush".into())
                .spawn({
                    let shared = shared.clone();
                    move || flush_loop(shared, woken)
                })
                .map_err(engine_err)?,
        ];
        if fsync {
            threads.push(
                std::thread::Builder::new()
                    .name("stratus-store-sync".into())
                    .spawn({
                        let shared = shared.clone();
                        move || sync_loop(shared)
                    })
                    .map_err(engine_err)?,
            );
        }
        Ok(Self {
            shared,
            wake: Some(wake),
            threads,
        })
    }

    /// Moves everything in memory into SQLite now (tests use it to cover both places).
    #[doc(hidden)]
    pub fn flush_now(&self) -> Result<()> {
        let conn = lock(&self.shared.sqlite);
        drain(&self.shared, &conn)
    }

    fn with_reader<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        self.shared.with_reader(f)
    }

    /// The rows of `scan`. Without `all_keys`, rows read straight from SQLite come back as
    /// values and only the key to go on from (copying each key out shows in a Query's
    /// profile); where memtable entries fall in the range every key is read (the merge needs
    /// them).
    fn scan_rows(&self, ns: &str, scan: &Scan, all_keys: bool) -> Result<ScanPage> {
        use std::ops::Bound;
        let sql = scan_sql(scan);
        self.with_reader(|c| {
            // The memtables' entries in range, up to the point where they alone give `limit`
            // keys; the SQLite read starts under the same lock, so both sides show one moment.
            let (mem, snapshot) = {
                let t = lock(&self.shared.tables);
                let merged = t.range(ns, scan);
                let (mut mem, mut live) = (Vec::new(), 0);
                for (k, v) in merged {
                    if live == scan.limit {
                        break;
                    }
                    live += usize::from(v.is_some());
                    mem.push((k.to_vec(), v.cloned()));
                }
                let snapshot = !mem.is_empty();
                if snapshot {
                    begin_snapshot(c)?;
                }
                (mem, snapshot)
            };
            // Each memtable entry hides at most one SQLite row.
            let limit = scan.limit.saturating_add(mem.len());
            let every_key = all_keys || !mem.is_empty();
            let (mut keys, mut values, mut last_key) = (Vec::new(), Vec::new(), None);
            let read = (|| -> rusqlite::Result<()> {
                let mut stmt = c.prepare_cached(sql)?;
                stmt.raw_bind_parameter(1, ns)?;
                let mut at = 2;
                for bound in [&scan.start, &scan.end] {
                    if let Bound::Included(b) | Bound::Excluded(b) = bound {
                        stmt.raw_bind_parameter(at, b)?;
                        at += 1;
                    }
                }
                let mut rows = stmt.raw_query();
                // Sized for a typical page up front: growing the vectors row by row shows in
                // the profile of a Query.
                values.reserve(limit.min(64));
                if every_key {
                    keys.reserve(limit.min(64));
                }
                while values.len() < limit {
                    let Some(r) = rows.next()? else { break };
                    if every_key {
                        keys.push(r.get(0)?);
                    } else if values.len() + 1 == limit {
                        last_key = Some(r.get(0)?);
                    }
                    values.push(r.get(1)?);
                }
                Ok(())
            })();
            if snapshot {
                c.execute_batch("ROLLBACK")?;
            }
            read?;
            if !every_key {
                return Ok(ScanPage::Values(ScanValues { values, last_key }));
            }
            let rows = keys.into_iter().zip(values);
            if mem.is_empty() {
                return Ok(ScanPage::Rows(rows.collect()));
            }
            Ok(ScanPage::Rows(
                Merge::new(mem.into_iter(), rows.map(|(k, v)| (k, Some(v))), scan.reverse)
                    .filter_map(|(k, v)| Some((k, v?)))
                    .take(scan.limit)
                    .collect(),
            ))
        })
    }

    /// Runs `f` on SQLite's write connection, on a blocking thread.
    async fn on_sqlite<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Shared, &Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let shared = self.shared.clone();
        tokio::task::spawn_blocking(move || {
            let conn = lock(&shared.sqlite);
            f(&shared, &conn)
        })
        .await
        .map_err(engine_err)?
    }

    /// Runs `f` directly on SQLite with no commit in between: new commits wait, the memtables
    /// are drained, then `f` runs in one transaction.
    async fn alone<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let _gate = self.shared.gate.write().await;
        self.on_sqlite(move |shared, conn| {
            drain(shared, conn)?;
            let out = in_transaction(conn, f);
            let mut t = lock(&shared.tables);
            t.cache = Memtable::default();
            t.epoch += 1;
            out
        })
        .await
    }

    async fn wait_synced(&self, seq: u64) -> Result<()> {
        let mut synced = self.shared.synced.subscribe();
        if *synced.borrow() < seq {
            let (wanted, wake) = &self.shared.sync_wanted;
            let mut w = lock(wanted);
            if *w < seq {
                *w = seq;
                wake.notify_one();
            }
        }
        let _ = synced.wait_for(|s| *s >= seq).await;
        match lock(&self.shared.sync_error).clone() {
            Some(e) => Err(StoreError::Engine(e)),
            None => Ok(()),
        }
    }

    /// Holds a commit back while the memtable is far over its size (the flusher is behind).
    /// The commit itself is already durable: this only slows writers down, and gives up after
    /// `STALL_MAX` (a flusher that keeps failing must not hang every writer).
    async fn wait_for_room(&self) {
        let limit = self.shared.flush_bytes.saturating_mul(STALL_FACTOR);
        let deadline = tokio::time::Instant::now() + STALL_MAX;
        loop {
            let flushed = self.shared.flushed.notified();
            tokio::pin!(flushed);
            flushed.as_mut().enable();
            if lock(&self.shared.tables).active.bytes() <= limit {
                return;
            }
            if tokio::time::timeout_at(deadline, flushed).await.is_err() {
                return;
            }
        }
    }
}

impl Drop for EmbeddedEngine {
    fn drop(&mut self) {
        {
            let _w = lock(&self.shared.sync_wanted.0);
            self.shared.stop.store(true, Ordering::Release);
        }
        self.shared.sync_wanted.1.notify_all();
        self.wake.take();
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// What [`EmbeddedEngine::scan_rows`] read: rows with their keys, or values and the key to go
/// on from.
enum ScanPage {
    Rows(Vec<(Bytes, Bytes)>),
    Values(ScanValues),
}

/// The SQL of a scan with these bounds and direction, built once per shape: the statement
/// cache finds it by its text, and formatting it per read showed in a Query's profile.
fn scan_sql(scan: &Scan) -> &'static str {
    use std::ops::Bound;
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    // Bound shapes: 0 included, 1 excluded, 2 unbounded.
    let shape = |b: &Bound<Bytes>| match b {
        Bound::Included(_) => 0,
        Bound::Excluded(_) => 1,
        Bound::Unbounded => 2,
    };
    let all = SQL.get_or_init(|| {
        let mut all = Vec::with_capacity(18);
        for start in 0..3 {
            for end in 0..3 {
                for reverse in [false, true] {
                    let mut sql = String::from("SELECT k, v FROM kv WHERE ns = ?1");
                    let mut param = 2;
                    for (shape, ops) in [(start, [">=", ">"]), (end, ["<=", "<"])] {
                        if shape < 2 {
                            sql.push_str(&format!(" AND k {} ?{param}", ops[shape]));
                            param += 1;
                        }
                    }
                    // No `LIMIT ?`: SQLite re-prepares a statement whenever a new value is
                    // bound to its LIMIT parameter; rows are read lazily, so taking `limit` of
                    // them reads no more.
                    sql.push_str(if reverse {
                        " ORDER BY k DESC"
                    } else {
                        " ORDER BY k ASC"
                    });
                    all.push(sql);
                }
            }
        }
        all
    });
    &all[(shape(&scan.start) * 3 + shape(&scan.end)) * 2 + usize::from(scan.reverse)]
}

impl Engine for EmbeddedEngine {
    async fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Bytes>> {
        let epoch = {
            let t = lock(&self.shared.tables);
            if let Some(entry) = t.known(ns, key) {
                return Ok(entry.cloned());
            }
            t.epoch
        };
        let row: Option<Bytes> = self.with_reader(|c| {
            c.prepare_cached("SELECT v FROM kv WHERE ns = ?1 AND k = ?2")?
                .query_row(params![ns, key], |r| r.get(0))
                .optional()
        })?;
        lock(&self.shared.tables).remember(ns, key, row.as_ref(), epoch);
        Ok(row)
    }

    async fn scan(&self, ns: &str, scan: &Scan) -> Result<Vec<(Bytes, Bytes)>> {
        match self.scan_rows(ns, scan, true)? {
            ScanPage::Rows(rows) => Ok(rows),
            ScanPage::Values(_) => unreachable!("every key was asked for"),
        }
    }

    async fn scan_values(&self, ns: &str, scan: &Scan) -> Result<ScanValues> {
        Ok(match self.scan_rows(ns, scan, false)? {
            ScanPage::Rows(rows) => ScanValues::from_rows(rows, scan.limit),
            ScanPage::Values(values) => values,
        })
    }

    async fn commit(&self, txn: Txn) -> Result<()> {
        if txn.writes.iter().any(|w| matches!(w, Write::DeletePrefix { .. })) {
            return self.alone(move |conn| apply(conn, &txn)).await;
        }
        let seq = {
            let _gate = self.shared.gate.read().await;
            lock(&self.shared.tables).commit(txn)?
        };
        if self.shared.fsync && seq > 0 {
            self.wait_synced(seq).await?;
        }
        self.wait_for_room().await;
        Ok(())
    }

    async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.on_sqlite(move |_, conn| {
            conn.prepare_cached(
                "INSERT INTO leases (name, holder, expires_ms) VALUES (?1, ?2, ?3)
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_ms = excluded.expires_ms
                 WHERE leases.holder = excluded.holder OR leases.expires_ms <= ?4",
            )
            .and_then(|mut s| s.execute(params![name, holder, now_ms + ttl_ms, now_ms]))
            .map(|n| n > 0)
            .map_err(engine_err)
        })
        .await
    }

    async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let (name, holder) = (name.to_string(), holder.to_string());
        self.on_sqlite(move |_, conn| {
            conn.prepare_cached("DELETE FROM leases WHERE name = ?1 AND holder = ?2")
                .and_then(|mut s| s.execute(params![name, holder]))
                .map(|_| ())
                .map_err(engine_err)
        })
        .await
    }

    async fn wipe(&self) -> Result<()> {
        self.alone(|conn| {
            conn.execute_batch("DELETE FROM kv; DELETE FROM leases;")
                .map_err(engine_err)
        })
        .await
    }

    async fn stats(&self, ns: &str) -> Result<(u64, u64)> {
        // Counting reads every row of the namespace: off the request threads.
        let (shared, ns) = (self.shared.clone(), ns.to_string());
        tokio::task::spawn_blocking(move || shared.with_reader(|c| count(&shared, c, &ns)))
            .await
            .map_err(engine_err)?
    }

    fn subscribe_remote(&self, _hub: notify::Hub) {
        // One process owns the files: every commit is local and wakes the hub directly.
    }
}

/// Evaluates the checks and applies the writes of a transaction that runs directly on SQLite,
/// inside the open write transaction (the memtables are empty then).
fn apply(conn: &Connection, txn: &Txn) -> Result<()> {
    check_all(&txn.checks, |ns, key| lookup(conn, ns, key))?;
    for write in &txn.writes {
        match write {
            Write::Put { ns, key, value } => upsert(conn, ns, key, value)?,
            Write::Delete { ns, key } => remove(conn, ns, key)?,
            Write::DeletePrefix { ns, prefix } => remove_prefix(conn, ns, prefix)?,
        }
    }
    Ok(())
}
