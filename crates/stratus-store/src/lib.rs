//! The storage boundary of Stratus: ordered key-value namespaces with range scans in both
//! directions, multi-key transactions with preconditions, wake-up signals for waiters and
//! leases for singleton jobs — and the engines behind it (embedded: a log and memtable over SQLite; PostgreSQL).
//!
//! Services only ever see [`Store`]; they never talk to an engine. Transactions are data
//! ([`Txn`]), not closures, so an engine commits one in a single step (one log record on the
//! embedded engine, one round trip on PostgreSQL). This crate depends on no other
//! Stratus crate.

pub mod blob;
mod embedded;
pub mod keys;
mod memtable;
mod notify;
mod postgres;

use std::ops::Bound;
use std::sync::Arc;

pub use blob::{BlobWriter, Blobs};
pub use embedded::EmbeddedEngine;
pub use notify::Watcher;
pub use postgres::PostgresEngine;

/// A key or value: plain bytes, compared bytewise.
pub type Bytes = Vec<u8>;

/// First byte of a value that declares its own size: the tag, then the size as a little-endian
/// `u32`, then the value's body. [`Store::stats`] sums declared sizes (a DynamoDB item declares
/// its size by DynamoDB's rules, which differs from the length of its stored form).
pub const SIZED: u8 = 0x01;
/// Length of the tag and size that start a sized value.
pub const SIZED_HEADER: usize = 5;

/// The header of a value declaring `size`.
pub fn sized_header(size: u32) -> [u8; SIZED_HEADER] {
    let [a, b, c, d] = size.to_le_bytes();
    [SIZED, a, b, c, d]
}

/// The size a sized value declares and its body; `None` for a value without a (whole) header.
pub fn split_sized(value: &[u8]) -> Option<(u32, &[u8])> {
    match value {
        [SIZED, a, b, c, d, body @ ..] => Some((u32::from_le_bytes([*a, *b, *c, *d]), body)),
        _ => None,
    }
}

/// The size a value counts for in [`Store::stats`]: the size it declares, else its length.
pub fn value_size(value: &[u8]) -> u64 {
    split_sized(value).map_or(value.len() as u64, |(size, _)| u64::from(size))
}

/// Errors the store reports.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Precondition number `index` of the transaction did not hold; nothing was written.
    #[error("transaction precondition {index} failed")]
    ConditionFailed { index: usize },
    /// The engine failed (I/O, connection, corruption).
    #[error("storage engine error: {0}")]
    Engine(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A precondition checked atomically with a transaction's writes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Check {
    /// The key must exist.
    Exists { ns: String, key: Bytes },
    /// The key must not exist.
    Absent { ns: String, key: Bytes },
    /// The key must exist with exactly this value (compare-and-swap).
    Equals { ns: String, key: Bytes, value: Bytes },
}

/// A write within a transaction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Write {
    Put {
        ns: String,
        key: Bytes,
        value: Bytes,
    },
    Delete {
        ns: String,
        key: Bytes,
    },
    /// Deletes every key of a namespace that starts with `prefix` (all keys when empty).
    DeletePrefix {
        ns: String,
        prefix: Bytes,
    },
}

/// Writes applied all-or-nothing, only if every check holds, then wake-ups sent to `notify`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Txn {
    pub checks: Vec<Check>,
    pub writes: Vec<Write>,
    /// Topics whose watchers are woken once the transaction is committed.
    pub notify: Vec<String>,
}

impl Txn {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn exists(mut self, ns: &str, key: impl Into<Bytes>) -> Self {
        self.checks.push(Check::Exists {
            ns: ns.into(),
            key: key.into(),
        });
        self
    }
    pub fn absent(mut self, ns: &str, key: impl Into<Bytes>) -> Self {
        self.checks.push(Check::Absent {
            ns: ns.into(),
            key: key.into(),
        });
        self
    }
    pub fn equals(mut self, ns: &str, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.checks.push(Check::Equals {
            ns: ns.into(),
            key: key.into(),
            value: value.into(),
        });
        self
    }
    pub fn put(mut self, ns: &str, key: impl Into<Bytes>, value: impl Into<Bytes>) -> Self {
        self.writes.push(Write::Put {
            ns: ns.into(),
            key: key.into(),
            value: value.into(),
        });
        self
    }
    pub fn delete(mut self, ns: &str, key: impl Into<Bytes>) -> Self {
        self.writes.push(Write::Delete {
            ns: ns.into(),
            key: key.into(),
        });
        self
    }
    pub fn delete_prefix(mut self, ns: &str, prefix: impl Into<Bytes>) -> Self {
        self.writes.push(Write::DeletePrefix {
            ns: ns.into(),
            prefix: prefix.into(),
        });
        self
    }
    pub fn wake(mut self, topic: &str) -> Self {
        self.notify.push(topic.into());
        self
    }
}

/// Which keys of a namespace a scan reads, in which direction, and how many at most.
#[derive(Clone, Debug)]
pub struct Scan {
    pub start: Bound<Bytes>,
    pub end: Bound<Bytes>,
    pub reverse: bool,
    pub limit: usize,
}

impl Scan {
    /// Every key, ascending.
    pub fn all() -> Self {
        Self {
            start: Bound::Unbounded,
            end: Bound::Unbounded,
            reverse: false,
            limit: usize::MAX,
        }
    }
    /// Keys starting with `prefix`, ascending.
    pub fn prefix(prefix: &[u8]) -> Self {
        let end = keys::prefix_end(prefix).map_or(Bound::Unbounded, Bound::Excluded);
        Self {
            start: Bound::Included(prefix.to_vec()),
            end,
            reverse: false,
            limit: usize::MAX,
        }
    }
    /// Keys strictly after `key` (ascending) — continuing a paginated listing.
    pub fn after(mut self, key: &[u8]) -> Self {
        self.start = Bound::Excluded(key.to_vec());
        self
    }
    pub fn limit(mut self, limit: usize) -> Self {
        self.limit = limit;
        self
    }
    pub fn reverse(mut self) -> Self {
        self.reverse = true;
        self
    }
}

/// What [`Store::scan_values`] reads: the values in key order and, when the scan stopped at its
/// limit (more keys may follow), the key of the last one, to continue from.
#[derive(Debug, Default)]
pub struct ScanValues {
    pub values: Vec<Bytes>,
    pub last_key: Option<Bytes>,
}

impl ScanValues {
    fn from_rows(mut rows: Vec<(Bytes, Bytes)>, limit: usize) -> Self {
        let last_key = (rows.len() == limit)
            .then(|| rows.last_mut().map(|(k, _)| std::mem::take(k)))
            .flatten();
        Self {
            values: rows.into_iter().map(|(_, v)| v).collect(),
            last_key,
        }
    }
}

/// A storage engine. Every engine passes the same conformance suite (`tests/conformance.rs`).
pub trait Engine: Send + Sync + 'static {
    fn get(&self, ns: &str, key: &[u8]) -> impl Future<Output = Result<Option<Bytes>>> + Send;
    fn scan(&self, ns: &str, scan: &Scan) -> impl Future<Output = Result<Vec<(Bytes, Bytes)>>> + Send;
    /// [`scan`](Engine::scan) for a reader that needs the values and only the last key.
    fn scan_values(&self, ns: &str, scan: &Scan) -> impl Future<Output = Result<ScanValues>> + Send {
        async move { Ok(ScanValues::from_rows(self.scan(ns, scan).await?, scan.limit)) }
    }
    /// Commits `txn` atomically; [`StoreError::ConditionFailed`] names the first failed check.
    fn commit(&self, txn: Txn) -> impl Future<Output = Result<()>> + Send;
    /// Takes or renews the lease `name` for `holder` until `now_ms + ttl_ms`. True when held.
    fn acquire_lease(
        &self,
        name: &str,
        holder: &str,
        now_ms: i64,
        ttl_ms: i64,
    ) -> impl Future<Output = Result<bool>> + Send;
    /// Gives the lease up if `holder` has it.
    fn release_lease(&self, name: &str, holder: &str) -> impl Future<Output = Result<()>> + Send;
    /// Deletes everything (the `--dev` reset).
    fn wipe(&self) -> impl Future<Output = Result<()>> + Send;
    /// Number of keys in a namespace and the total size of their values ([`value_size`]).
    fn stats(&self, ns: &str) -> impl Future<Output = Result<(u64, u64)>> + Send;
    /// Wake-ups that reach this node from elsewhere (other nodes of a cluster).
    fn subscribe_remote(&self, hub: notify::Hub);
}

#[derive(Clone)]
enum Backend {
    Embedded(Arc<EmbeddedEngine>),
    Postgres(Arc<PostgresEngine>),
}

/// The store every service uses. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Backend,
    hub: notify::Hub,
}

/// Selects and opens an engine from a configuration string.
pub struct StoreOptions<'a> {
    /// `embedded`, or a `postgres://` / `postgresql://` URL.
    pub spec: &'a str,
    /// Directory of the embedded engine's files.
    pub data_dir: &'a std::path::Path,
    /// Flush each commit to stable storage before acknowledging it.
    pub fsync: bool,
}

macro_rules! on_engine {
    ($self:expr, $e:ident => $body:expr) => {
        match &$self.backend {
            Backend::Embedded($e) => $body,
            Backend::Postgres($e) => $body,
        }
    };
}

impl Store {
    pub async fn open(opts: StoreOptions<'_>) -> Result<Store> {
        let backend = if opts.spec.starts_with("postgres://") || opts.spec.starts_with("postgresql://") {
            Backend::Postgres(Arc::new(PostgresEngine::connect(opts.spec, opts.fsync).await?))
        } else if opts.spec == "embedded" || opts.spec.is_empty() {
            Backend::Embedded(Arc::new(EmbeddedEngine::open(
                &opts.data_dir.join("store.db"),
                opts.fsync,
            )?))
        } else {
            return Err(StoreError::Engine(format!(
                "unknown store '{}': expected 'embedded' or a postgres:// URL",
                opts.spec
            )));
        };
        let store = Store {
            backend,
            hub: notify::Hub::default(),
        };
        on_engine!(store, e => e.subscribe_remote(store.hub.clone()));
        Ok(store)
    }

    /// The engine's name, for health output and logs.
    pub fn engine_name(&self) -> &'static str {
        match self.backend {
            Backend::Embedded(_) => "embedded",
            Backend::Postgres(_) => "postgres",
        }
    }

    pub async fn get(&self, ns: &str, key: &[u8]) -> Result<Option<Bytes>> {
        on_engine!(self, e => e.get(ns, key).await)
    }

    pub async fn scan(&self, ns: &str, scan: &Scan) -> Result<Vec<(Bytes, Bytes)>> {
        if scan.limit == 0 {
            return Ok(Vec::new());
        }
        on_engine!(self, e => e.scan(ns, scan).await)
    }

    /// [`scan`](Self::scan) for a reader that needs the values and only the last key (to go on
    /// from): keys are not copied out row by row.
    pub async fn scan_values(&self, ns: &str, scan: &Scan) -> Result<ScanValues> {
        if scan.limit == 0 {
            return Ok(ScanValues::default());
        }
        on_engine!(self, e => e.scan_values(ns, scan).await)
    }

    pub async fn commit(&self, txn: Txn) -> Result<()> {
        let topics = if txn.notify.is_empty() {
            Vec::new()
        } else {
            txn.notify.clone()
        };
        on_engine!(self, e => e.commit(txn).await)?;
        for t in &topics {
            self.hub.wake(t);
        }
        Ok(())
    }

    /// A watcher for `topic`: resolves after a later commit names the topic in `notify`.
    pub fn watch(&self, topic: &str) -> Watcher {
        self.hub.watch(topic)
    }

    pub async fn acquire_lease(&self, name: &str, holder: &str, now_ms: i64, ttl_ms: i64) -> Result<bool> {
        on_engine!(self, e => e.acquire_lease(name, holder, now_ms, ttl_ms).await)
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        on_engine!(self, e => e.release_lease(name, holder).await)
    }

    pub async fn wipe(&self) -> Result<()> {
        on_engine!(self, e => e.wipe().await)
    }

    /// Number of keys in `ns` and the total size of their values: the size a value declares
    /// ([`sized_header`]), else its length.
    pub async fn stats(&self, ns: &str) -> Result<(u64, u64)> {
        on_engine!(self, e => e.stats(ns).await)
    }

    /// Opens a store directly on an engine (tests, benchmarks).
    pub fn from_embedded(engine: EmbeddedEngine) -> Store {
        Store {
            backend: Backend::Embedded(Arc::new(engine)),
            hub: notify::Hub::default(),
        }
    }

    /// The embedded engine behind this store, when it is the one (tests reach its flush).
    #[doc(hidden)]
    pub fn embedded(&self) -> Option<&EmbeddedEngine> {
        match &self.backend {
            Backend::Embedded(e) => Some(e),
            Backend::Postgres(_) => None,
        }
    }

    pub fn from_postgres(engine: PostgresEngine) -> Store {
        let store = Store {
            backend: Backend::Postgres(Arc::new(engine)),
            hub: notify::Hub::default(),
        };
        on_engine!(store, e => e.subscribe_remote(store.hub.clone()));
        store
    }
}
