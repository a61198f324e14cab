//! Temporary credentials in the store: namespace `sts:credentials`, key = access key id.

use serde::{Deserialize, Serialize};
use stratus_store::{Store, Txn};

use crate::StsError;

const NS: &str = "sts:credentials";

/// One set of temporary credentials and the identity they stand for.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct TemporaryCredential {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    /// Expiry on the Stratus clock, epoch milliseconds.
    pub expires_ms: i64,
    pub account_id: String,
    pub arn: String,
    pub user_id: String,
}

pub async fn get(store: &Store, access_key_id: &str) -> Result<Option<TemporaryCredential>, StsError> {
    let Some(raw) = store.get(NS, access_key_id.as_bytes()).await? else {
        return Ok(None);
    };
    serde_json::from_slice(&raw)
        .map(Some)
        .map_err(|e| StsError::Internal(e.to_string()))
}

pub async fn put(store: &Store, cred: &TemporaryCredential) -> Result<(), StsError> {
    let value = serde_json::to_vec(cred).map_err(|e| StsError::Internal(e.to_string()))?;
    store
        .commit(Txn::new().absent(NS, cred.access_key_id.as_bytes()).put(
            NS,
            cred.access_key_id.as_bytes(),
            value,
        ))
        .await?;
    Ok(())
}
