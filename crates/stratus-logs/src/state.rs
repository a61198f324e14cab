//! CloudWatch Logs' key layout over the store.
//!
//! - `logs:groups`  `(account, region, group)` → [`GroupRecord`] (JSON)
//! - `logs:streams` `(account, region, group, stream)` → [`StreamRecord`] (JSON)
//! - `logs:events`  `(account, region, group, stream, timestamp, seq)` → ingestion time
//!   (8 bytes, big-endian) followed by the message bytes
//!
//! Events of a stream are ordered by timestamp and then by the order they were ingested
//! (`seq`, a per-stream counter kept in the stream record), so a time window is one range
//! scan in either direction. The group key is a prefix of its streams' and events' keys
//! (parts are terminated), so deleting a group is three prefix deletes in one transaction.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_store::keys::KeyBuf;
use stratus_store::{Store, StoreError, Txn};

use crate::LogsError;

pub const GROUPS: &str = "logs:groups";
pub const STREAMS: &str = "logs:streams";
pub const EVENTS: &str = "logs:events";

/// How often a write retries after losing a compare-and-swap race on the stream record.
const MAX_ATTEMPTS: usize = 32;

/// Which account and region a request acts in.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'a> {
    pub account: &'a str,
    pub region: &'a str,
}

impl<'a> Scope<'a> {
    pub fn new(account: &'a str, region: &'a str) -> Self {
        Self { account, region }
    }

    /// Prefix of every group key of this account and region.
    pub fn groups_prefix(&self) -> Vec<u8> {
        KeyBuf::new().str(self.account).str(self.region).finish()
    }

    pub fn group_key(&self, group: &str) -> Vec<u8> {
        KeyBuf::new()
            .str(self.account)
            .str(self.region)
            .str(group)
            .finish()
    }

    pub fn stream_key(&self, group: &str, stream: &str) -> Vec<u8> {
        KeyBuf::new()
            .str(self.account)
            .str(self.region)
            .str(group)
            .str(stream)
            .finish()
    }

    pub fn group_arn(&self, group: &str) -> String {
        format!("arn:aws:logs:{}:{}:log-group:{group}", self.region, self.account)
    }

    pub fn stream_arn(&self, group: &str, stream: &str) -> String {
        format!(
            "arn:aws:logs:{}:{}:log-group:{group}:log-stream:{stream}",
            self.region, self.account
        )
    }
}

/// Appends `prefix` in key-part form but unterminated, so that a range scan from the result
/// finds exactly the parts that start with `prefix`.
pub fn push_part_prefix(key: &mut Vec<u8>, prefix: &str) {
    stratus_store::keys::encode_bytes(key, prefix.as_bytes());
    key.truncate(key.len() - 2);
}

/// The key of one event: the stream key, then the timestamp and the ingestion sequence.
pub fn event_key(stream_key: &[u8], ts: i64, seq: u64) -> Vec<u8> {
    let mut k = KeyBuf(stream_key.to_vec()).i64(ts).u64(seq).finish();
    k.shrink_to_fit();
    k
}

/// `(timestamp, seq)` from the tail of an event key.
pub fn event_position(key: &[u8]) -> Option<(i64, u64)> {
    if key.len() < 16 {
        return None;
    }
    let tail = &key[key.len() - 16..];
    let ts = u64::from_be_bytes(tail[..8].try_into().ok()?) ^ (1 << 63);
    let seq = u64::from_be_bytes(tail[8..].try_into().ok()?);
    Some((ts as i64, seq))
}

pub fn event_value(ingestion_ms: i64, message: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(8 + message.len());
    v.extend_from_slice(&ingestion_ms.to_be_bytes());
    v.extend_from_slice(message.as_bytes());
    v
}

/// `(ingestion time, message)` of a stored event.
pub fn decode_event_value(v: &[u8]) -> (i64, String) {
    if v.len() < 8 {
        return (0, String::new());
    }
    let ingestion = i64::from_be_bytes(v[..8].try_into().unwrap_or_default());
    (ingestion, String::from_utf8_lossy(&v[8..]).into_owned())
}

/// One log group.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct GroupRecord {
    pub name: String,
    pub creation_time: i64,
    #[serde(default)]
    pub retention_in_days: Option<i32>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    pub class: String,
    #[serde(default)]
    pub kms_key_id: Option<String>,
    #[serde(default)]
    pub deletion_protection: bool,
}

impl GroupRecord {
    pub fn new(name: &str, now: i64) -> Self {
        Self {
            name: name.to_string(),
            creation_time: now,
            retention_in_days: None,
            tags: BTreeMap::new(),
            class: "STANDARD".into(),
            kms_key_id: None,
            deletion_protection: false,
        }
    }
}

/// One log stream and the summary of its events.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Default)]
pub struct StreamRecord {
    pub name: String,
    pub creation_time: i64,
    #[serde(default)]
    pub first_event: Option<i64>,
    #[serde(default)]
    pub last_event: Option<i64>,
    #[serde(default)]
    pub last_ingestion: Option<i64>,
    #[serde(default)]
    pub stored_bytes: i64,
    /// The sequence number of the last event ingested (0: none yet).
    #[serde(default)]
    pub seq: u64,
}

impl StreamRecord {
    pub fn new(name: &str, now: i64) -> Self {
        Self {
            name: name.to_string(),
            creation_time: now,
            ..Default::default()
        }
    }

    /// The token PutLogEvents hands back and DescribeLogStreams shows (accepted, ignored).
    pub fn sequence_token(&self) -> String {
        format!("49{:054}", self.seq)
    }
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).unwrap_or_default()
}

pub fn decode<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, LogsError> {
    serde_json::from_slice(raw).map_err(|e| LogsError::Internal(format!("corrupt logs record: {e}")))
}

pub async fn get_group(
    store: &Store,
    scope: Scope<'_>,
    group: &str,
) -> Result<Option<GroupRecord>, LogsError> {
    match store.get(GROUPS, &scope.group_key(group)).await? {
        Some(raw) => decode(&raw).map(Some),
        None => Ok(None),
    }
}

pub async fn require_group(store: &Store, scope: Scope<'_>, group: &str) -> Result<GroupRecord, LogsError> {
    get_group(store, scope, group)
        .await?
        .ok_or_else(LogsError::group_not_found)
}

pub async fn get_stream(
    store: &Store,
    scope: Scope<'_>,
    group: &str,
    stream: &str,
) -> Result<Option<StreamRecord>, LogsError> {
    match store.get(STREAMS, &scope.stream_key(group, stream)).await? {
        Some(raw) => decode(&raw).map(Some),
        None => Ok(None),
    }
}

pub async fn create_group(store: &Store, scope: Scope<'_>, record: &GroupRecord) -> Result<(), LogsError> {
    let key = scope.group_key(&record.name);
    match store
        .commit(
            Txn::new()
                .absent(GROUPS, key.clone())
                .put(GROUPS, key, to_json(record)),
        )
        .await
    {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { .. }) => Err(LogsError::ResourceAlreadyExists(
            "The specified log group already exists".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

/// Changes a group record with compare-and-swap, retrying when another write got there first.
pub async fn update_group(
    store: &Store,
    scope: Scope<'_>,
    group: &str,
    mut change: impl FnMut(&mut GroupRecord) -> Result<(), LogsError>,
) -> Result<GroupRecord, LogsError> {
    let key = scope.group_key(group);
    for _ in 0..MAX_ATTEMPTS {
        let Some(raw) = store.get(GROUPS, &key).await? else {
            return Err(LogsError::group_not_found());
        };
        let mut rec: GroupRecord = decode(&raw)?;
        change(&mut rec)?;
        let txn = Txn::new()
            .equals(GROUPS, key.clone(), raw)
            .put(GROUPS, key.clone(), to_json(&rec));
        match store.commit(txn).await {
            Ok(()) => return Ok(rec),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogsError::OperationAborted)
}

/// Removes a group with all its streams and events.
pub async fn delete_group(store: &Store, scope: Scope<'_>, group: &str) -> Result<(), LogsError> {
    let key = scope.group_key(group);
    let txn = Txn::new()
        .exists(GROUPS, key.clone())
        .delete(GROUPS, key.clone())
        .delete_prefix(STREAMS, key.clone())
        .delete_prefix(EVENTS, key);
    match store.commit(txn).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { .. }) => Err(LogsError::group_not_found()),
        Err(e) => Err(e.into()),
    }
}

pub async fn create_stream(
    store: &Store,
    scope: Scope<'_>,
    group: &str,
    stream: &str,
    now: i64,
) -> Result<(), LogsError> {
    let gkey = scope.group_key(group);
    let skey = scope.stream_key(group, stream);
    let txn = Txn::new().exists(GROUPS, gkey).absent(STREAMS, skey.clone()).put(
        STREAMS,
        skey,
        to_json(&StreamRecord::new(stream, now)),
    );
    match store.commit(txn).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { index: 0 }) => Err(LogsError::group_not_found()),
        Err(StoreError::ConditionFailed { .. }) => Err(LogsError::ResourceAlreadyExists(
            "The specified log stream already exists".into(),
        )),
        Err(e) => Err(e.into()),
    }
}

pub async fn delete_stream(
    store: &Store,
    scope: Scope<'_>,
    group: &str,
    stream: &str,
) -> Result<(), LogsError> {
    let skey = scope.stream_key(group, stream);
    let txn = Txn::new()
        .exists(STREAMS, skey.clone())
        .delete(STREAMS, skey.clone())
        .delete_prefix(EVENTS, skey);
    match store.commit(txn).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { .. }) => {
            require_group(store, scope, group).await?;
            Err(LogsError::stream_not_found())
        }
        Err(e) => Err(e.into()),
    }
}

/// Appends `events` (timestamp, message) to a stream in one transaction and returns the
/// stream record as written. With `create`, a missing group and stream are created in the
/// same transaction; without it they are ResourceNotFound.
pub async fn append(
    store: &Store,
    scope: Scope<'_>,
    group: &str,
    stream: &str,
    events: &[(i64, &str)],
    now: i64,
    create: bool,
) -> Result<StreamRecord, LogsError> {
    let gkey = scope.group_key(group);
    let skey = scope.stream_key(group, stream);
    for _ in 0..MAX_ATTEMPTS {
        let mut txn = Txn::new();
        let raw_stream = store.get(STREAMS, &skey).await?;
        let mut rec = match &raw_stream {
            Some(raw) => {
                txn = txn.equals(STREAMS, skey.clone(), raw.clone());
                decode::<StreamRecord>(raw)?
            }
            None => {
                if store.get(GROUPS, &gkey).await?.is_none() {
                    if !create {
                        return Err(LogsError::group_not_found());
                    }
                    txn = txn.absent(GROUPS, gkey.clone()).put(
                        GROUPS,
                        gkey.clone(),
                        to_json(&GroupRecord::new(group, now)),
                    );
                } else if !create {
                    return Err(LogsError::stream_not_found());
                } else {
                    txn = txn.exists(GROUPS, gkey.clone());
                }
                txn = txn.absent(STREAMS, skey.clone());
                StreamRecord::new(stream, now)
            }
        };
        for (ts, message) in events {
            rec.seq += 1;
            txn = txn.put(EVENTS, event_key(&skey, *ts, rec.seq), event_value(now, message));
            rec.stored_bytes += message.len() as i64;
            rec.first_event = Some(rec.first_event.map_or(*ts, |f| f.min(*ts)));
            rec.last_event = Some(rec.last_event.map_or(*ts, |l| l.max(*ts)));
        }
        if !events.is_empty() {
            rec.last_ingestion = Some(now);
        }
        txn = txn.put(STREAMS, skey.clone(), to_json(&rec));
        match store.commit(txn).await {
            Ok(()) => return Ok(rec),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(LogsError::OperationAborted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_keys_sort_by_time_then_sequence() {
        let s = Scope::new("000000000000", "us-east-1").stream_key("g", "s");
        let a = event_key(&s, 5, 9);
        let b = event_key(&s, 6, 1);
        let c = event_key(&s, 6, 2);
        assert!(a < b && b < c);
        assert_eq!(event_position(&c), Some((6, 2)));
        assert!(a.starts_with(&s));
    }

    #[test]
    fn part_prefixes_match_escaped_names() {
        let sc = Scope::new("000000000000", "us-east-1");
        let mut p = sc.group_key("g");
        push_part_prefix(&mut p, "a\0");
        assert!(sc.stream_key("g", "a\0b").starts_with(&p));
        assert!(!sc.stream_key("g", "ab").starts_with(&p));
    }

    #[test]
    fn group_keys_do_not_prefix_other_groups() {
        let sc = Scope::new("000000000000", "us-east-1");
        let g = sc.group_key("app");
        assert!(!sc.stream_key("app2", "s").starts_with(&g));
        assert!(sc.stream_key("app", "s").starts_with(&g));
    }
}
