//! DynamoDB's key layout over the store.
//!
//! - `dynamodb:tables` / (account, region, table name) → [`TableRecord`] as JSON.
//! - `dynamodb:items:{table id}` / encoded primary key → item (data plane).

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
    records: Mutex<HashMap<Vec<u8>, (Vec<u8>, Arc<TableRecord>, Arc<TableInfo>)>>,
}

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

/// The item-level view of a table (key schema, indexes), from the shared cache.
pub async fn table_info(
    store: &Store,
    cache: &RecordCache,
    cx: &RequestContext,
    name: &str,
) -> Result<Arc<TableInfo>, DynamoDbError> {
    let key = table_key(cx.account_id(), &cx.region, name);
    match store.get(TABLES, &key).await? {
        None => Err(DynamoDbError::table_not_found(name)),
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

/// Item counts and sizes per table, recomputed after local writes or when older than a few
/// seconds (writes on other nodes of a cluster show up then; AWS itself refreshes these
/// figures only every few hours). Counting reads the whole table: a large table's figures are
/// recounted in the background while DescribeTable answers with the last ones, so its answer
/// never waits on a count.
#[derive(Default)]
pub struct StatsCache {
    writes: std::sync::atomic::AtomicU64,
    entries: Mutex<HashMap<String, (u64, std::time::Instant, (u64, u64))>>,
    /// Tables being recounted in the background.
    counting: Mutex<std::collections::HashSet<String>>,
    /// The last record handed out with counts filled in, by the record it was made from.
    patched: Mutex<HashMap<String, (Arc<TableRecord>, Arc<TableRecord>)>>,
}

const STATS_MAX_AGE: std::time::Duration = std::time::Duration::from_secs(5);
/// From this many items on, stale figures are answered while a recount runs (counting 10,000
/// items takes about a millisecond here).
const COUNT_IN_BACKGROUND: u64 = 10_000;

impl StatsCache {
    /// Notes that items changed.
    pub fn wrote(&self) {
        self.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    pub async fn get(self: &Arc<Self>, store: &Store, table_id: &str) -> Result<(u64, u64), DynamoDbError> {
        let writes = self.writes.load(std::sync::atomic::Ordering::Relaxed);
        let cached = lock(&self.entries).get(table_id).copied();
        if let Some((w, at, stats)) = cached {
            if w == writes && at.elapsed() < STATS_MAX_AGE {
                return Ok(stats);
            }
            if stats.0 >= COUNT_IN_BACKGROUND {
                if lock(&self.counting).insert(table_id.to_string()) {
                    let (this, store, id) = (self.clone(), store.clone(), table_id.to_string());
                    tokio::spawn(async move {
                        let _ = this.count(&store, &id, writes).await;
                        lock(&this.counting).remove(&id);
                    });
                }
                return Ok(stats);
            }
        }
        self.count(store, table_id, writes).await
    }

    /// Counts a table's items and bytes and keeps the figures, as of `writes` local writes.
    async fn count(&self, store: &Store, table_id: &str, writes: u64) -> Result<(u64, u64), DynamoDbError> {
        let stats = store.stats(&items_ns(table_id)).await?;
        let mut entries = lock(&self.entries);
        if entries.len() >= MAX_CACHED {
            entries.clear();
        }
        entries.insert(table_id.to_string(), (writes, std::time::Instant::now(), stats));
        Ok(stats)
    }

    /// `rec` with its ItemCount and TableSizeBytes filled in (shared while nothing changes).
    pub async fn with_counts(
        self: &Arc<Self>,
        store: &Store,
        rec: Arc<TableRecord>,
    ) -> Result<Arc<TableRecord>, DynamoDbError> {
        let (count, bytes) = self.get(store, rec.id()).await?;
        let fresh = |r: &TableRecord| {
            r.description.item_count == Some(count as i64)
                && r.description.table_size_bytes == Some(bytes as i64)
        };
        if fresh(&rec) {
            return Ok(rec);
        }
        let mut patched = lock(&self.patched);
        if let Some((source, out)) = patched.get(rec.id())
            && Arc::ptr_eq(source, &rec)
            && fresh(out)
        {
            return Ok(out.clone());
        }
        let mut copy = TableRecord::clone(&rec);
        copy.description.item_count = Some(count as i64);
        copy.description.table_size_bytes = Some(bytes as i64);
        let copy = Arc::new(copy);
        if patched.len() >= MAX_CACHED {
            patched.clear();
        }
        patched.insert(rec.id().to_string(), (rec, copy.clone()));
        Ok(copy)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
