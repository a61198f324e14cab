//! Functions, versions and aliases in the store.
//!
//! Namespaces (keys are `ACCOUNT/REGION/NAME[/...]`):
//! - `lambda:functions`: one [`Function`] per function: `$LATEST`'s configuration, tags,
//!   the resource policy and the version counter.
//! - `lambda:versions`: `.../NAME/0000000001` → the published version's [`Config`].
//! - `lambda:aliases`: `.../NAME/ALIAS` → [`Alias`].
//!
//! Writes are optimistic: a transaction commits only if the record is byte-for-byte what was
//! read, so concurrent updates never lose each other's changes.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stratus_store::{Scan, Store, Txn};

use crate::LambdaError;

pub const FUNCTIONS: &str = "lambda:functions";
pub const VERSIONS: &str = "lambda:versions";
pub const ALIASES: &str = "lambda:aliases";

/// One version's configuration (`$LATEST` or a published number).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Config {
    pub name: String,
    pub version: String,
    pub runtime: String,
    pub role: String,
    pub handler: String,
    pub description: String,
    pub timeout: u32,
    pub memory_mb: u32,
    pub tmp_mb: u32,
    pub env: BTreeMap<String, String>,
    pub code_sha256: String,
    pub code_size: u64,
    pub layers: Vec<LayerRef>,
    pub architectures: Vec<String>,
    pub tracing_mode: String,
    pub log_format: String,
    pub log_group: Option<String>,
    pub last_modified: String,
    pub revision_id: String,
    pub package_type: String,
    /// Where events given up go (an SQS queue or SNS topic ARN).
    #[serde(default)]
    pub dead_letter_arn: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerRef {
    pub arn: String,
    pub code_size: u64,
    pub code_sha256: String,
}

/// A function: its `$LATEST` configuration and what belongs to the function as a whole.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Function {
    pub latest: Config,
    pub tags: BTreeMap<String, String>,
    /// Resource policy statements by qualifier (`""` for the unqualified function).
    pub policies: BTreeMap<String, Vec<serde_json::Value>>,
    pub policy_revision: String,
    pub last_version: u64,
    pub created_ms: i64,
    /// Function URL configurations by qualifier.
    #[serde(default)]
    pub urls: BTreeMap<String, serde_json::Value>,
    /// Reserved concurrency: both a guarantee and a cap.
    #[serde(default)]
    pub reserved: Option<u32>,
    /// Provisioned concurrency by qualifier (a version number or an alias).
    #[serde(default)]
    pub provisioned: BTreeMap<String, Provisioned>,
    /// Asynchronous invocation settings by qualifier (`$LATEST`, a version or an alias).
    #[serde(default)]
    pub event_configs: BTreeMap<String, EventConfig>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Provisioned {
    pub requested: u32,
    pub last_modified: String,
}

/// PutFunctionEventInvokeConfig's settings; `None` means AWS's default.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct EventConfig {
    pub maximum_retry_attempts: Option<u32>,
    pub maximum_event_age_secs: Option<u32>,
    pub on_success: Option<String>,
    pub on_failure: Option<String>,
    /// Epoch seconds.
    pub last_modified: f64,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Alias {
    pub name: String,
    pub function_version: String,
    pub description: String,
    pub weights: BTreeMap<String, f64>,
    pub revision_id: String,
}

pub fn key(account: &str, region: &str, name: &str) -> String {
    format!("{account}/{region}/{name}")
}

pub fn version_key(account: &str, region: &str, name: &str, version: u64) -> String {
    format!("{account}/{region}/{name}/{version:010}")
}

pub fn alias_key(account: &str, region: &str, name: &str, alias: &str) -> String {
    format!("{account}/{region}/{name}/{alias}")
}

fn decode<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, LambdaError> {
    serde_json::from_slice(raw).map_err(|e| LambdaError::Internal(e.to_string()))
}

pub fn encode<T: Serialize>(v: &T) -> Bytes {
    Bytes::from(serde_json::to_vec(v).expect("records serialize"))
}

/// The function and the exact bytes read (for an optimistic update).
pub async fn get(store: &Store, key: &str) -> Result<Option<(Function, Bytes)>, LambdaError> {
    match store.get(FUNCTIONS, key.as_bytes()).await? {
        Some(raw) => Ok(Some((decode(&raw)?, Bytes::from(raw)))),
        None => Ok(None),
    }
}

/// Parsed function records kept with the bytes they were parsed from.
pub type Parsed = std::sync::Mutex<std::collections::HashMap<String, (Vec<u8>, std::sync::Arc<Function>)>>;

/// A function record, parsed again only when its bytes changed since the last call: the
/// invoke path reads the record on every call (so every node sees a change at once) and
/// skips decoding an unchanged one.
pub async fn get_shared(
    store: &Store,
    key: &str,
    parsed: &Parsed,
) -> Result<Option<std::sync::Arc<Function>>, LambdaError> {
    let Some(raw) = store.get(FUNCTIONS, key.as_bytes()).await? else {
        return Ok(None);
    };
    if let Some((seen, f)) = parsed.lock().unwrap().get(key)
        && *seen == raw
    {
        return Ok(Some(f.clone()));
    }
    let f = std::sync::Arc::new(decode::<Function>(&raw)?);
    parsed.lock().unwrap().insert(key.to_string(), (raw, f.clone()));
    Ok(Some(f))
}

pub async fn list(store: &Store, account: &str, region: &str) -> Result<Vec<Function>, LambdaError> {
    let prefix = format!("{account}/{region}/");
    let rows = store.scan(FUNCTIONS, &Scan::prefix(prefix.as_bytes())).await?;
    rows.iter().map(|(_, v)| decode(v)).collect()
}

pub async fn get_version(store: &Store, key: &str) -> Result<Option<Config>, LambdaError> {
    match store.get(VERSIONS, key.as_bytes()).await? {
        Some(raw) => Ok(Some(decode(&raw)?)),
        None => Ok(None),
    }
}

pub async fn versions(store: &Store, fkey: &str) -> Result<Vec<Config>, LambdaError> {
    let prefix = format!("{fkey}/");
    let rows = store.scan(VERSIONS, &Scan::prefix(prefix.as_bytes())).await?;
    rows.iter().map(|(_, v)| decode(v)).collect()
}

pub async fn get_alias(store: &Store, key: &str) -> Result<Option<(Alias, Bytes)>, LambdaError> {
    match store.get(ALIASES, key.as_bytes()).await? {
        Some(raw) => Ok(Some((decode(&raw)?, Bytes::from(raw)))),
        None => Ok(None),
    }
}

pub async fn aliases(store: &Store, fkey: &str) -> Result<Vec<Alias>, LambdaError> {
    let prefix = format!("{fkey}/");
    let rows = store.scan(ALIASES, &Scan::prefix(prefix.as_bytes())).await?;
    rows.iter().map(|(_, v)| decode(v)).collect()
}

/// Replaces a function record if nobody changed it since `read`.
pub async fn replace(store: &Store, key: &str, read: &Bytes, f: &Function) -> Result<(), LambdaError> {
    store
        .commit(
            Txn::new()
                .equals(FUNCTIONS, key.as_bytes().to_vec(), read.clone())
                .put(FUNCTIONS, key.as_bytes().to_vec(), encode(f)),
        )
        .await
        .map_err(|e| match e {
            stratus_store::StoreError::ConditionFailed { .. } => LambdaError::Conflict(
                "The operation cannot be performed at this time. An update is in progress for resource"
                    .into(),
            ),
            other => other.into(),
        })
}
