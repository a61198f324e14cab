//! The implemented operations, grouped by what they act on.

mod auth;
mod clients;
mod pools;
mod users;

pub use auth::{
    admin_initiate_auth, admin_respond_to_auth_challenge, initiate_auth, respond_to_auth_challenge,
};
pub use clients::{
    create_user_pool_client, delete_user_pool_client, describe_user_pool_client, list_user_pool_clients,
};
pub use pools::{create_user_pool, delete_user_pool, describe_user_pool, list_user_pools};
pub use users::{
    admin_confirm_sign_up, admin_create_user, admin_delete_user, admin_get_user, admin_set_user_password,
    admin_update_user_attributes, change_password, get_user, list_users, sign_up,
};

use rand::Rng;
use stratus_core::RequestContext;

use crate::state::{self, ClientRecord, PoolRecord};
use crate::{Cognito, CognitoError};

/// `len` random characters from `alphabet`.
pub(crate) fn random(alphabet: &[u8], len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| alphabet[rng.random_range(0..alphabet.len())] as char)
        .collect()
}

pub(crate) const ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
pub(crate) const LOWER_ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";

/// The pool `id` of the caller's account; another account's pool does not exist for it.
pub(crate) async fn own_pool(
    cg: &Cognito,
    cx: &RequestContext,
    id: &str,
) -> Result<PoolRecord, CognitoError> {
    match state::get_pool(&cg.store, id).await? {
        Some(p) if p.account == cx.account_id() && p.region == cx.region => Ok(p),
        _ => Err(CognitoError::pool_not_found(id)),
    }
}

/// An app client by id (anonymous sign-in calls name only the client) and its pool.
pub(crate) async fn client_and_pool(
    cg: &Cognito,
    client_id: &str,
) -> Result<(ClientRecord, PoolRecord), CognitoError> {
    let client = state::get_client(&cg.store, client_id)
        .await?
        .ok_or_else(|| CognitoError::client_not_found(client_id))?;
    let pool = state::get_pool(&cg.store, client.pool_id())
        .await?
        .ok_or_else(|| CognitoError::client_not_found(client_id))?;
    Ok((client, pool))
}

/// `MaxResults`-style page sizes: 1 to 60.
pub(crate) fn page_size(n: Option<i32>, default: i32) -> usize {
    n.unwrap_or(default).clamp(1, 60) as usize
}
