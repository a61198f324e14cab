//! Cognito user pools' key layout over the store.
//!
//! - `cognito:pools`    `pool id` → [`PoolRecord`] (JSON). Pool ids are unique across accounts
//!   (`REGION_` and nine random characters), so anonymous calls that name only a pool or a
//!   client (InitiateAuth, the JWKS document) find it without knowing the account.
//! - `cognito:clients`  `client id` → [`ClientRecord`] (JSON), unique likewise.
//! - `cognito:users`    `(pool id, username key)` → [`UserRecord`] (JSON)
//! - `cognito:aliases`  `(pool id, attribute, value)` → username key, for pools that sign in
//!   with an email address or phone number
//! - `cognito:tokens`   `refresh token` → [`GrantRecord`]; `cognito:sessions` `session` →
//!   [`GrantRecord`] for a challenge in progress
//!
//! A username key is the username as given, or lowercased in a pool whose usernames are not
//! case sensitive.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_store::keys::KeyBuf;
use stratus_store::{Scan, Store, Txn};

use crate::CognitoError;
use crate::generated::{UserPoolClientType, UserPoolType};

pub const POOLS: &str = "cognito:pools";
pub const CLIENTS: &str = "cognito:clients";
pub const USERS: &str = "cognito:users";
pub const ALIASES: &str = "cognito:aliases";
pub const TOKENS: &str = "cognito:tokens";
pub const SESSIONS: &str = "cognito:sessions";

/// A user pool, its owner and its token signing key.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct PoolRecord {
    pub account: String,
    pub region: String,
    pub pool: UserPoolType,
    /// The RSA private key tokens are signed with: PKCS#1 DER, base64.
    pub signing_key: String,
    pub kid: String,
}

impl PoolRecord {
    pub fn id(&self) -> &str {
        self.pool.id.as_deref().unwrap_or_default()
    }

    /// Whether `Username` is matched without regard to case.
    pub fn case_insensitive(&self) -> bool {
        self.pool
            .username_configuration
            .as_ref()
            .and_then(|c| c.case_sensitive)
            == Some(false)
    }

    /// The attributes users sign in with instead of a username (`email`, `phone_number`).
    pub fn username_attributes(&self) -> &[String] {
        self.pool.username_attributes.as_deref().unwrap_or_default()
    }

    /// The attributes that may stand for the username when signing in: username attributes
    /// and alias attributes.
    pub fn sign_in_attributes(&self) -> impl Iterator<Item = &str> {
        self.username_attributes()
            .iter()
            .chain(self.pool.alias_attributes.iter().flatten())
            .map(String::as_str)
    }

    /// The pool's password policy (Cognito's default when it has none).
    pub fn password_policy(&self) -> crate::generated::PasswordPolicyType {
        self.pool
            .policies
            .as_ref()
            .and_then(|p| p.password_policy.clone())
            .unwrap_or_else(crate::password::default_policy)
    }

    pub fn username_key(&self, username: &str) -> String {
        if self.case_insensitive() {
            username.to_lowercase()
        } else {
            username.to_string()
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ClientRecord {
    pub account: String,
    pub region: String,
    pub client: UserPoolClientType,
}

impl ClientRecord {
    pub fn id(&self) -> &str {
        self.client.client_id.as_deref().unwrap_or_default()
    }
    pub fn pool_id(&self) -> &str {
        self.client.user_pool_id.as_deref().unwrap_or_default()
    }
}

/// A token validity in seconds: `value` in `unit` (or `default_unit`: `seconds`, `minutes`,
/// `hours`, `days`), `None` when the client sets none.
pub fn validity_secs(value: Option<i32>, unit: Option<&str>, default_unit: &str) -> Option<i64> {
    let per = match unit.unwrap_or(default_unit) {
        "seconds" => 1,
        "minutes" => 60,
        "hours" => 3_600,
        _ => 86_400,
    };
    value.map(|v| v as i64 * per)
}

/// `UNCONFIRMED`, `CONFIRMED`, `FORCE_CHANGE_PASSWORD`, `RESET_REQUIRED`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct UserRecord {
    pub username: String,
    pub sub: String,
    /// Attribute name → value, `sub` included.
    pub attributes: BTreeMap<String, String>,
    pub status: String,
    pub enabled: bool,
    /// The password hash (see `password.rs`).
    pub password: String,
    pub created_ms: i64,
    pub modified_ms: i64,
}

/// A refresh token or a challenge session: who it was issued to, until when.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct GrantRecord {
    pub pool_id: String,
    pub client_id: String,
    pub username: String,
    pub expires_ms: i64,
}

fn json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("records serialize")
}

fn parse<T: for<'de> Deserialize<'de>>(raw: &[u8]) -> Result<T, CognitoError> {
    serde_json::from_slice(raw).map_err(CognitoError::internal)
}

pub fn user_key(pool_id: &str, username_key: &str) -> Vec<u8> {
    KeyBuf::new().str(pool_id).str(username_key).finish()
}

pub fn alias_key(pool_id: &str, attribute: &str, value: &str) -> Vec<u8> {
    KeyBuf::new().str(pool_id).str(attribute).str(value).finish()
}

pub fn pool_prefix(pool_id: &str) -> Vec<u8> {
    KeyBuf::new().str(pool_id).finish()
}

pub async fn get_pool(store: &Store, pool_id: &str) -> Result<Option<PoolRecord>, CognitoError> {
    match store.get(POOLS, pool_id.as_bytes()).await? {
        Some(raw) => parse(&raw).map(Some),
        None => Ok(None),
    }
}

pub async fn put_pool(store: &Store, txn: Txn, pool: &PoolRecord) -> Result<(), CognitoError> {
    store
        .commit(txn.put(POOLS, pool.id().as_bytes().to_vec(), json(pool)))
        .await?;
    Ok(())
}

pub async fn all_pools(store: &Store) -> Result<Vec<PoolRecord>, CognitoError> {
    store
        .scan(POOLS, &Scan::all())
        .await?
        .iter()
        .map(|(_, v)| parse(v))
        .collect()
}

pub async fn get_client(store: &Store, client_id: &str) -> Result<Option<ClientRecord>, CognitoError> {
    match store.get(CLIENTS, client_id.as_bytes()).await? {
        Some(raw) => parse(&raw).map(Some),
        None => Ok(None),
    }
}

pub fn client_value(client: &ClientRecord) -> Vec<u8> {
    json(client)
}

pub async fn all_clients(store: &Store) -> Result<Vec<ClientRecord>, CognitoError> {
    store
        .scan(CLIENTS, &Scan::all())
        .await?
        .iter()
        .map(|(_, v)| parse(v))
        .collect()
}

pub async fn get_user(
    store: &Store,
    pool_id: &str,
    username_key: &str,
) -> Result<Option<(UserRecord, Vec<u8>)>, CognitoError> {
    match store.get(USERS, &user_key(pool_id, username_key)).await? {
        Some(raw) => Ok(Some((parse(&raw)?, raw))),
        None => Ok(None),
    }
}

pub fn user_value(user: &UserRecord) -> Vec<u8> {
    json(user)
}

/// The username key an alias (an email address, a phone number) stands for.
pub async fn get_alias(
    store: &Store,
    pool_id: &str,
    attribute: &str,
    value: &str,
) -> Result<Option<String>, CognitoError> {
    Ok(store
        .get(ALIASES, &alias_key(pool_id, attribute, value))
        .await?
        .map(|raw| String::from_utf8_lossy(&raw).into_owned()))
}

/// Users of a pool in username order, after `after` (a username key), at most `limit`.
pub async fn list_users(
    store: &Store,
    pool_id: &str,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<UserRecord>, CognitoError> {
    let mut scan = Scan::prefix(&pool_prefix(pool_id)).limit(limit);
    if let Some(a) = after {
        scan = scan.after(&user_key(pool_id, a));
    }
    store
        .scan(USERS, &scan)
        .await?
        .iter()
        .map(|(_, v)| parse(v))
        .collect()
}

pub async fn get_grant(store: &Store, ns: &str, token: &str) -> Result<Option<GrantRecord>, CognitoError> {
    match store.get(ns, token.as_bytes()).await? {
        Some(raw) => parse(&raw).map(Some),
        None => Ok(None),
    }
}

pub async fn put_grant(
    store: &Store,
    ns: &str,
    token: &str,
    grant: &GrantRecord,
) -> Result<(), CognitoError> {
    store
        .commit(Txn::new().put(ns, token.as_bytes().to_vec(), json(grant)))
        .await?;
    Ok(())
}
