//! DynamoDB's key layout over the store.
//!
//! - `dynamodb:tables` / (account, region, table name) → [`TableRecord`] as JSON.
//! - `dynamodb:items:{table id}` / encoded primary key → item (data plane).
//! - `dynamodb:index:{table id}:{index name}` / encoded index key → projected item.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use stratus_core::RequestContext;
use stratus_store::keys::KeyBuf;
use stratus_store::{Scan, Store, StoreError, Txn};

use crate::DynamoDbError;
use crate::generated::{TableDescription, Tag};
use crate::items::TableInfo;

pub const TABLES: &str = "dynamodb:tables";

/// Everything Stratus keeps about one table.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TableRecord {
    pub description: TableDescription,
    #[serde(default)]
    pub tags: Vec<Tag>,
    /// The attribute whose epoch-seconds value expires an item, while Time to Live is enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_attribute: Option<String>,
    /// Point-in-time recovery, while enabled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
}

/// Point-in-time recovery settings: since when, and how many days back restores may reach.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Recovery {
    pub since_ms: i64,
    pub days: i32,
}

impl TableRecord {
    pub fn name(&self) -> &str {
        self.description.table_name.as_deref().unwrap_or_default()
    }
    pub fn id(&self) -> &str {
        self.description.table_id.as_deref().unwrap_or_default()
    }
}

/// The namespace holding a table's items.
pub fn items_ns(table_id: &str) -> String {
    format!("dynamodb:items:{table_id}")
}

/// The namespace holding an index's entries (projected items, by index key).
pub fn index_ns(table_id: &str, index: &str) -> String {
    format!("dynamodb:index:{table_id}:{index}")
}

/// Key of a table's record.
pub fn table_key(account: &str, region: &str, name: &str) -> Vec<u8> {
    KeyBuf::new().str(account).str(region).str(name).finish()
}

/// Prefix of every table record in one account and region.
pub fn tables_prefix(account: &str, region: &str) -> Vec<u8> {
    KeyBuf::new().str(account).str(region).finish()
}

pub fn table_arn(cx: &RequestContext, name: &str) -> String {
    format!("arn:aws:dynamodb:{}:{}:table/{name}", cx.region, cx.account_id())
}

fn decode(raw: &[u8]) -> Result<TableRecord, DynamoDbError> {
    serde_json::from_slice(raw).map_err(|e| DynamoDbError::Internal(format!("corrupt table record: {e}")))
}

pub fn encode(rec: &TableRecord) -> Vec<u8> {
    serde_json::to_vec(rec).expect("table records serialize")
}

/// Decoded table records by the exact bytes they were decoded from. Every lookup still reads
/// the store (so several nodes sharing PostgreSQL never see a stale table); the cache only
/// saves decoding a record that has not changed.
#[derive(Default)]
pub struct RecordCache {
    records: Mutex<HashMap<Vec<u8>, Decoded>>,
}

/// A table record's bytes and what they decoded to.
type Decoded = (Vec<u8>, Arc<TableRecord>, Arc<TableInfo>);

/// Records kept before the cache starts over.
const MAX_CACHED: usize = 10_000;

impl RecordCache {
    fn decode(&self, key: &[u8], raw: &[u8]) -> Result<(Arc<TableRecord>, Arc<TableInfo>), DynamoDbError> {
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((cached_raw, rec, info)) = records.get(key)
            && cached_raw == raw
        {
            return Ok((rec.clone(), info.clone()));
        }
        let rec = Arc::new(decode(raw)?);
        let info = Arc::new(TableInfo::from(&rec.description));
        if records.len() >= MAX_CACHED {
            records.clear();
        }
        records.insert(key.to_vec(), (raw.to_vec(), rec.clone(), info.clone()));
        Ok((rec, info))
    }
}

/// Loads a table and the raw bytes it was read from (for compare-and-swap updates).
pub async fn load(
    store: &Store,
    cache: &RecordCache,
    cx: &RequestContext,
    name: &str,
) -> Result<Option<(Arc<TableRecord>, Vec<u8>)>, DynamoDbError> {
    let key = table_key(cx.account_id(), &cx.region, name);
    match store.get(TABLES, &key).await? {
        None => Ok(None),
        Some(raw) => Ok(Some((cache.decode(&key, &raw)?.0, raw))),
    }
}

pub async fn require(
    store: &Store,
    cache: &RecordCache,
    cx: &RequestContext,
    name: &str,
) -> Result<(Arc<TableRecord>, Vec<u8>), DynamoDbError> {
    load(store, cache, cx, name)
        .await?
        .ok_or_else(|| DynamoDbError::table_not_found(name))
}

/// The item-level view of a table (key schema, indexes), from the shared cache. A missing
/// table is worded as the item operations word it (the control plane names the table).
pub async fn table_info(
    store: &Store,
    cache: &RecordCache,
    cx: &RequestContext,
    name: &str,
) -> Result<Arc<TableInfo>, DynamoDbError> {
    let key = table_key(cx.account_id(), &cx.region, name);
    match store.get(TABLES, &key).await? {
        None => Err(DynamoDbError::ResourceNotFound(
            "Requested resource not found".into(),
        )),
        Some(raw) => Ok(cache.decode(&key, &raw)?.1),
    }
}

/// Replaces a table record if nobody changed it since it was read; retries `update` otherwise.
pub async fn update<F>(
    store: &Store,
    cache: &RecordCache,
    cx: &RequestContext,
    name: &str,
    mut update: F,
) -> Result<TableRecord, DynamoDbError>
where
    F: FnMut(&mut TableRecord) -> Result<(), DynamoDbError>,
{
    let key = table_key(cx.account_id(), &cx.region, name);
    loop {
        let (rec, raw) = require(store, cache, cx, name).await?;
        let mut rec = TableRecord::clone(&rec);
        update(&mut rec)?;
        let txn = Txn::new()
            .equals(TABLES, key.clone(), raw)
            .put(TABLES, key.clone(), encode(&rec));
        match store.commit(txn).await {
            Ok(()) => return Ok(rec),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Table names of one account and region, in order, after `start` (exclusive), at most `limit`.
pub async fn list(
    store: &Store,
    cx: &RequestContext,
    start: Option<&str>,
    limit: usize,
) -> Result<Vec<TableRecord>, DynamoDbError> {
    let prefix = tables_prefix(cx.account_id(), &cx.region);
    let mut scan = Scan::prefix(&prefix).limit(limit);
    if let Some(s) = start {
        scan = scan.after(&table_key(cx.account_id(), &cx.region, s));
    }
    store
        .scan(TABLES, &scan)
        .await?
        .iter()
        .map(|(_, v)| decode(v))
        .collect()
}

/// Item counts and sizes per table and per index, recomputed after local writes or when older
/// than a few seconds (writes on other nodes of a cluster show up then; AWS itself refreshes
/// these figures only every few hours). Counting reads the whole table: a large table's figures
/// are recounted in the background while DescribeTable answers with the last ones, so its
/// answer never waits on a count.
#[derive(Default)]
pub struct StatsCache {
    writes: std::sync::atomic::AtomicU64,
    entries: Mutex<HashMap<String, Counted>>,
    /// Tables being recounted in the background.
    counting: Mutex<std::collections::HashSet<String>>,
    /// The last record handed out with figures filled in, by table id.
    patched: Mutex<HashMap<String, Patched>>,
}

/// A table's figures as of a number of local writes and a moment.
#[derive(Clone)]
struct Counted {
    writes: u64,
    at: std::time::Instant,
    figures: Arc<Figures>,
}

/// A record with figures filled in, and the record and figures it was made from.
struct Patched {
    source: Arc<TableRecord>,
    from: Arc<Figures>,
    out: Arc<TableRecord>,
}

/// A table's item count and size (DynamoDB's item sizes, summed), and each index's.
#[derive(Debug, PartialEq)]
struct Figures {
    table: (u64, u64),
    /// By index name, in the order of [`index_names`].
    indexes: Vec<(String, (u64, u64))>,
}

const STATS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(5);
/// From this many items on, stale figures are answered while a recount runs (counting 10,000
/// items takes about a millisecond here).
const COUNT_IN_BACKGROUND: u64 = 10_000;

/// The names of a table's indexes: global ones, then local ones.
fn index_names(d: &TableDescription) -> Vec<String> {
    let global = d.global_secondary_indexes.iter().flatten().map(|i| &i.index_name);
    let local = d.local_secondary_indexes.iter().flatten().map(|i| &i.index_name);
    global.chain(local).flatten().cloned().collect()
}

impl StatsCache {
    /// Notes that items changed.
    pub fn wrote(&self) {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    async fn get(self: &Arc<Self>, store: &Store, rec: &TableRecord) -> Result<Arc<Figures>, DynamoDbError> {
        let writes = self.writes.load(std::sync::atomic::Ordering::Relaxed);
        let table_id = rec.id();
        let indexes = index_names(&rec.description);
        let cached = lock(&self.entries).get(table_id).cloned();
        if let Some(Counted {
            writes: w,
            at,
            figures,
        }) = cached
            && figures.indexes.iter().map(|(n, _)| n).eq(&indexes)
        {
            if w == writes && at.elapsed() < STATS_MAX_AGE {
                return Ok(figures);
            }
            if figures.table.0 >= COUNT_IN_BACKGROUND {
                if lock(&self.counting).insert(table_id.to_string()) {
                    let (this, store, id) = (self.clone(), store.clone(), table_id.to_string());
                    tokio::spawn(async move {
                        let _ = this.count(&store, &id, indexes, writes).await;
                        lock(&this.counting).remove(&id);
                    });
                }
                return Ok(figures);
            }
        }
        self.count(store, table_id, indexes, writes).await
    }

    /// Counts a table's and its indexes' items and bytes and keeps the figures, as of `writes`
    /// local writes.
    async fn count(
        &self,
        store: &Store,
        table_id: &str,
        indexes: Vec<String>,
        writes: u64,
    ) -> Result<Arc<Figures>, DynamoDbError> {
        let table = store.stats(&items_ns(table_id)).await?;
        let mut counted = Vec::with_capacity(indexes.len());
        for name in indexes {
            let stats = store.stats(&index_ns(table_id, &name)).await?;
            counted.push((name, stats));
        }
        let figures = Figures {
            table,
            indexes: counted,
        };
        let mut entries = lock(&self.entries);
        // Unchanged figures stay the same `Arc`, so `with_counts` reuses its answer.
        let figures = match entries.get(table_id) {
            Some(old) if *old.figures == figures => old.figures.clone(),
            _ => Arc::new(figures),
        };
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(
            table_id.to_string(),
            Counted {
                writes,
                at: std::time::Instant::now(),
                figures: figures.clone(),
            },
        );
        Ok(figures)
    }

    /// `rec` with the ItemCount and size of the table and of each index filled in (shared
    /// while nothing changes).
    pub async fn with_counts(
        self: &Arc<Self>,
        store: &Store,
        rec: Arc<TableRecord>,
    ) -> Result<Arc<TableRecord>, DynamoDbError> {
        let figures = self.get(store, &rec).await?;
        let mut patched = lock(&self.patched);
        if let Some(p) = patched.get(rec.id())
            && Arc::ptr_eq(&p.source, &rec)
            && Arc::ptr_eq(&p.from, &figures)
        {
            return Ok(p.out.clone());
        }
        let mut counted = TableRecord::clone(&rec);
        fill(&mut counted.description, &figures);
        let counted = if counted == *rec {
            rec.clone()
        } else {
            Arc::new(counted)
        };
        if patched.len() >= MAX_CACHED {
            patched.clear();
        }
        let id = rec.id().to_string();
        patched.insert(
            id,
            Patched {
                source: rec,
                from: figures,
                out: counted.clone(),
            },
        );
        Ok(counted)
    }
}

/// Writes `figures` into a table's description and its indexes' descriptions.
fn fill(d: &mut TableDescription, figures: &Figures) {
    let as_i64 = |n: u64| Some(i64::try_from(n).unwrap_or(i64::MAX));
    d.item_count = as_i64(figures.table.0);
    d.table_size_bytes = as_i64(figures.table.1);
    let of = |name: &Option<String>| {
        figures
            .indexes
            .iter()
            .find(|(n, _)| Some(n) == name.as_ref())
            .map(|(_, stats)| *stats)
    };
    for ix in d.global_secondary_indexes.iter_mut().flatten() {
        if let Some((count, bytes)) = of(&ix.index_name) {
            (ix.item_count, ix.index_size_bytes) = (as_i64(count), as_i64(bytes));
        }
    }
    for ix in d.local_secondary_indexes.iter_mut().flatten() {
        if let Some((count, bytes)) = of(&ix.index_name) {
            (ix.item_count, ix.index_size_bytes) = (as_i64(count), as_i64(bytes));
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
