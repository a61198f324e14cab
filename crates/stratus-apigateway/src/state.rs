//! Key layout of API Gateway in the store (namespace `apigateway`):
//!
//! - `v2/{apiId}`: the API with its live routes, integrations, authorizers, stages and the list
//!   of deployments — one record, changed by compare-and-swap so that concurrent edits never
//!   lose each other.
//! - `v2deploy/{apiId}/{deploymentId}`: what a deployment froze (routes, integrations,
//!   authorizers, CORS); immutable, so the data plane caches it by id.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stratus_store::{Store, Txn};

use crate::ApiGatewayError;
use crate::v2::generated::{Api, Authorizer, Cors, Deployment, Integration, Route, Stage};

pub const NS: &str = "apigateway";

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ApiRecord {
    pub account: String,
    pub region: String,
    pub api: Api,
    pub routes: BTreeMap<String, Route>,
    pub integrations: BTreeMap<String, Integration>,
    pub authorizers: BTreeMap<String, Authorizer>,
    pub stages: BTreeMap<String, Stage>,
    pub deployments: BTreeMap<String, Deployment>,
}

/// The configuration a deployment serves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Snapshot {
    pub routes: BTreeMap<String, Route>,
    pub integrations: BTreeMap<String, Integration>,
    pub authorizers: BTreeMap<String, Authorizer>,
    pub cors: Option<Cors>,
}

pub fn api_key(api_id: &str) -> String {
    format!("v2/{api_id}")
}

pub fn deployment_key(api_id: &str, deployment_id: &str) -> String {
    format!("v2deploy/{api_id}/{deployment_id}")
}

fn decode<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T, ApiGatewayError> {
    serde_json::from_slice(raw).map_err(|e| ApiGatewayError::Internal(e.to_string()))
}

pub fn encode<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

/// The API and the exact bytes read (for an optimistic update).
pub async fn get(store: &Store, api_id: &str) -> Result<Option<(ApiRecord, Bytes)>, ApiGatewayError> {
    match store.get(NS, api_key(api_id).as_bytes()).await? {
        Some(raw) => Ok(Some((decode(&raw)?, Bytes::from(raw)))),
        None => Ok(None),
    }
}

pub async fn list(store: &Store) -> Result<Vec<ApiRecord>, ApiGatewayError> {
    let rows = store.scan(NS, &stratus_store::Scan::prefix(b"v2/")).await?;
    rows.iter().map(|(_, v)| decode(v)).collect()
}

pub async fn get_snapshot(
    store: &Store,
    api_id: &str,
    deployment_id: &str,
) -> Result<Option<Snapshot>, ApiGatewayError> {
    match store
        .get(NS, deployment_key(api_id, deployment_id).as_bytes())
        .await?
    {
        Some(raw) => Ok(Some(decode(&raw)?)),
        None => Ok(None),
    }
}

/// Commits a changed API if nobody changed it since `read` (`None`: it must not exist yet),
/// with the deployment snapshots taken by the change.
pub async fn save(
    store: &Store,
    read: Option<&Bytes>,
    a: &ApiRecord,
    snapshots: Vec<(String, Snapshot)>,
) -> Result<(), ApiGatewayError> {
    let id = a.api.api_id.clone().unwrap_or_default();
    let key = api_key(&id).into_bytes();
    let mut txn = match read {
        Some(raw) => Txn::new().equals(NS, key.clone(), raw.to_vec()),
        None => Txn::new().absent(NS, key.clone()),
    };
    txn = txn.put(NS, key, encode(a));
    for (dep, snap) in snapshots {
        txn = txn.put(NS, deployment_key(&id, &dep).into_bytes(), encode(&snap));
    }
    store.commit(txn).await.map_err(|e| match e {
        stratus_store::StoreError::ConditionFailed { .. } => ApiGatewayError::Conflict(
            "Unable to complete operation due to concurrent modification. Please try again later.".into(),
        ),
        other => other.into(),
    })
}

/// Deletes an API and every deployment snapshot of it.
pub async fn delete(store: &Store, api_id: &str, read: &Bytes) -> Result<(), ApiGatewayError> {
    let key = api_key(api_id).into_bytes();
    store
        .commit(
            Txn::new()
                .equals(NS, key.clone(), read.to_vec())
                .delete(NS, key)
                .delete_prefix(NS, format!("v2deploy/{api_id}/").into_bytes()),
        )
        .await
        .map_err(|e| match e {
            stratus_store::StoreError::ConditionFailed { .. } => ApiGatewayError::Conflict(
                "Unable to complete operation due to concurrent modification. Please try again later.".into(),
            ),
            other => other.into(),
        })
}

/// Converts between model shapes with the same members (a stored `Route` and
/// `GetRouteResult`, say): they share their JSON form.
pub fn to<A: Serialize, B: serde::de::DeserializeOwned>(a: &A) -> B {
    serde_json::from_value(serde_json::to_value(a).expect("shapes serialize"))
        .expect("shapes have the same members")
}

/// An identifier as API Gateway makes them: lowercase letters and digits.
pub fn new_id(len: usize) -> String {
    const CHARS: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..len)
        .map(|_| CHARS[rand::random_range(0..CHARS.len())] as char)
        .collect()
}

/// Parsed records kept by the bytes they were parsed from.
pub type ParsedCache<T> = std::sync::Mutex<std::collections::HashMap<String, (Bytes, std::sync::Arc<T>)>>;

/// Reads a record and parses it only when its bytes changed since the last read (one store
/// read per data-plane request tells whether the parsed copy is current).
pub async fn read_cached<T: serde::de::DeserializeOwned>(
    store: &Store,
    key: &str,
    cache: &ParsedCache<T>,
) -> Option<std::sync::Arc<T>> {
    let raw = Bytes::from(store.get(NS, key.as_bytes()).await.ok()??);
    if let Some((cached, parsed)) = cache.lock().unwrap().get(key)
        && *cached == raw
    {
        return Some(parsed.clone());
    }
    let parsed = std::sync::Arc::new(serde_json::from_slice(&raw).ok()?);
    cache
        .lock()
        .unwrap()
        .insert(key.to_string(), (raw, std::sync::Arc::clone(&parsed)));
    Some(parsed)
}
