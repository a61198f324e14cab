//! Amazon Cognito user pools: pools, app clients, users, and sign-in that issues real RS256
//! tokens (ID, access, refresh) signed with a key per pool, whose public half is served as
//! the pool's JWKS at `/{pool id}/.well-known/jwks.json` beside its OpenID configuration.
//! API Gateway's Cognito authorizers verify tokens here. It speaks `awsJson1_1` with
//! `X-Amz-Target: AWSCognitoIdentityProviderService.*`; the operations a signed-out user
//! calls (SignUp, InitiateAuth, GetUser...) need no signature, as on AWS.
//!
//! Layout: `state.rs` is the key layout over the store, `keys.rs` the signing keys,
//! `password.rs` policy and hashing, `ops/` one module per family of operations.
//!
//! Depends on core, protocol and store; never on the gateway.

pub mod error;
pub mod generated;
pub mod keys;
mod ops;
pub mod password;
pub mod state;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::{Map, Value, json};
use stratus_core::{Clock, RequestContext};
use stratus_protocol::validate::Validate;
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol, json as wire};
use stratus_store::Store;

pub use error::CognitoError;

use crate::keys::PoolKeys;
use crate::state::PoolRecord;

pub const PROTOCOL: Protocol = Protocol::Json { version: "1.1" };

/// The Cognito service value: shared by every request.
#[derive(Clone)]
pub struct Cognito {
    store: Store,
    clock: Clock,
    /// Where the server is reached (`http://127.0.0.1:4566`): tokens' issuer is this URL
    /// followed by the pool id.
    endpoint_url: String,
    /// Signing keys by pool id, decoded once.
    keys: Arc<Mutex<HashMap<String, Arc<PoolKeys>>>>,
}

impl Cognito {
    pub fn new(store: Store, clock: Clock, endpoint_url: String) -> Self {
        Self {
            store,
            clock,
            endpoint_url: endpoint_url.trim_end_matches('/').to_string(),
            keys: Default::default(),
        }
    }

    /// The `iss` of a pool's tokens.
    pub fn issuer(&self, pool_id: &str) -> String {
        format!("{}/{pool_id}", self.endpoint_url)
    }

    /// Whether a request is for an operation AWS serves without a signature.
    pub fn is_unsigned(headers: &http::HeaderMap) -> bool {
        headers
            .get("x-amz-target")
            .and_then(|v| v.to_str().ok())
            .and_then(|t| wire::target_operation(t, generated::TARGET_PREFIX))
            .is_some_and(|op| generated::UNSIGNED_OPERATIONS.contains(&op))
    }

    /// Whether `path` is one of a pool's public documents (`/{pool id}/.well-known/...`).
    pub fn is_well_known(path: &str) -> bool {
        well_known(path).is_some()
    }

    /// Serves a pool's JWKS or OpenID configuration; 404 for a pool that does not exist.
    pub async fn serve_well_known(&self, path: &str) -> ApiResponse {
        let reply = |status: u16, body: Value| {
            http::Response::builder()
                .status(status)
                .header(http::header::CONTENT_TYPE, "application/json")
                .body(Bytes::from(body.to_string()))
                .expect("valid response")
        };
        let Some((pool_id, doc)) = well_known(path) else {
            return reply(404, json!({"message": "Not Found"}));
        };
        let keys = match self.pool_keys(pool_id).await {
            Ok(Some((_, k))) => k,
            Ok(None) => {
                return reply(
                    404,
                    json!({"code": "ResourceNotFoundException", "message": format!("User pool {pool_id} does not exist.")}),
                );
            }
            Err(_) => return reply(500, json!({"message": "Internal Server Error"})),
        };
        let issuer = self.issuer(pool_id);
        match doc {
            WellKnown::Jwks => reply(200, json!({"keys": [keys.jwk]})),
            WellKnown::OpenId => reply(
                200,
                json!({
                    "issuer": issuer,
                    "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
                    "response_types_supported": ["code", "token"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "email", "phone", "profile"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                    "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "email", "email_verified", "cognito:username", "token_use"],
                }),
            ),
        }
    }

    /// A pool and its decoded signing key.
    pub(crate) async fn pool_keys(
        &self,
        pool_id: &str,
    ) -> Result<Option<(PoolRecord, Arc<PoolKeys>)>, CognitoError> {
        let Some(pool) = state::get_pool(&self.store, pool_id).await? else {
            return Ok(None);
        };
        if let Some(k) = self.keys.lock().unwrap().get(pool_id)
            && k.kid == pool.kid
        {
            return Ok(Some((pool, k.clone())));
        }
        let k = Arc::new(PoolKeys::load(&pool.signing_key, &pool.kid)?);
        self.keys.lock().unwrap().insert(pool_id.to_string(), k.clone());
        Ok(Some((pool, k)))
    }

    /// Verifies a token a pool issued: signature with the pool's key, issuer, expiry on the
    /// Stratus clock. `pools` limits the pools accepted (by ARN; empty = any). Returns the
    /// pool's ARN and the token's claims.
    pub async fn verify_token(
        &self,
        token: &str,
        pools: &[String],
    ) -> Result<(String, Map<String, Value>), String> {
        let claims = keys::peek_claims(token).ok_or("not a JWT")?;
        let iss = claims.get("iss").and_then(Value::as_str).ok_or("no issuer")?;
        let pool_id = iss.rsplit('/').next().unwrap_or_default();
        if iss != self.issuer(pool_id) {
            return Err("issuer is not a Stratus user pool".into());
        }
        let (pool, keys) = self
            .pool_keys(pool_id)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("the pool does not exist")?;
        let arn = pool.pool.arn.clone().unwrap_or_default();
        if !pools.is_empty() && !pools.contains(&arn) {
            return Err("the token's pool is not one the authorizer accepts".into());
        }
        let claims = keys.verify(token).ok_or("signature verification failed")?;
        let exp = claims.get("exp").and_then(Value::as_i64).unwrap_or(0);
        if exp * 1000 <= self.clock.now_ms() {
            return Err("the token has expired".into());
        }
        Ok((arn, claims))
    }

    /// Decodes, validates and runs one request. Operations in
    /// [`generated::UNSIGNED_OPERATIONS`] may arrive with an anonymous `cx`.
    pub async fn handle(&self, cx: &RequestContext, req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        let target = req.header("x-amz-target").unwrap_or_default();
        let Some(op) = wire::target_operation(target, generated::TARGET_PREFIX) else {
            return Err(AwsError::unknown_operation(PROTOCOL, target));
        };
        let body = req.body.as_ref();
        match op {
            "CreateUserPool" => self.run(cx, body, ops::create_user_pool).await,
            "DescribeUserPool" => self.run(cx, body, ops::describe_user_pool).await,
            "ListUserPools" => self.run(cx, body, ops::list_user_pools).await,
            "DeleteUserPool" => self.run(cx, body, ops::delete_user_pool).await,
            "CreateUserPoolClient" => self.run(cx, body, ops::create_user_pool_client).await,
            "DescribeUserPoolClient" => self.run(cx, body, ops::describe_user_pool_client).await,
            "ListUserPoolClients" => self.run(cx, body, ops::list_user_pool_clients).await,
            "DeleteUserPoolClient" => self.run(cx, body, ops::delete_user_pool_client).await,
            "AdminCreateUser" => self.run(cx, body, ops::admin_create_user).await,
            "AdminGetUser" => self.run(cx, body, ops::admin_get_user).await,
            "AdminDeleteUser" => self.run(cx, body, ops::admin_delete_user).await,
            "AdminSetUserPassword" => self.run(cx, body, ops::admin_set_user_password).await,
            "AdminConfirmSignUp" => self.run(cx, body, ops::admin_confirm_sign_up).await,
            "AdminUpdateUserAttributes" => self.run(cx, body, ops::admin_update_user_attributes).await,
            "ListUsers" => self.run(cx, body, ops::list_users).await,
            "SignUp" => self.run(cx, body, ops::sign_up).await,
            "GetUser" => self.run(cx, body, ops::get_user).await,
            "ChangePassword" => self.run(cx, body, ops::change_password).await,
            "InitiateAuth" => self.run(cx, body, ops::initiate_auth).await,
            "AdminInitiateAuth" => self.run(cx, body, ops::admin_initiate_auth).await,
            "RespondToAuthChallenge" => self.run(cx, body, ops::respond_to_auth_challenge).await,
            "AdminRespondToAuthChallenge" => self.run(cx, body, ops::admin_respond_to_auth_challenge).await,
            other if generated::OPERATIONS.contains(&other) => Err(AwsError::not_implemented(other)),
            _ => Err(AwsError::unknown_operation(PROTOCOL, op)),
        }
    }

    async fn run<I, O, F>(
        &self,
        cx: &RequestContext,
        body: &[u8],
        op: impl FnOnce(Cognito, RequestContext, I) -> F,
    ) -> Result<ApiResponse, AwsError>
    where
        I: DeserializeOwned + Validate,
        O: Serialize,
        F: Future<Output = Result<O, CognitoError>>,
    {
        let (this, cx) = (self.clone(), cx.clone());
        wire::serve(body, PROTOCOL, false, move |input| op(this, cx, input))
            .await
            .map_err(|mut e| {
                // Cognito reports the model's constraint failures as invalid parameters.
                if e.code == "ValidationException" {
                    e.code = "InvalidParameterException".into();
                    e.namespace = error::ERROR_NAMESPACE;
                }
                e
            })
    }
}

enum WellKnown {
    Jwks,
    OpenId,
}

/// `/{pool id}/.well-known/{jwks.json|openid-configuration}` → (pool id, document).
fn well_known(path: &str) -> Option<(&str, WellKnown)> {
    // Suffixes first: every request without a body passes through here.
    let (rest, doc) = if let Some(rest) = path.strip_suffix("/.well-known/jwks.json") {
        (rest, WellKnown::Jwks)
    } else {
        let rest = path.strip_suffix("/.well-known/openid-configuration")?;
        (rest, WellKnown::OpenId)
    };
    let pool_id = rest.strip_prefix('/')?;
    let (region, suffix) = pool_id.split_once('_')?;
    let region_like =
        region.split('-').count() >= 3 && region.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-');
    let suffix_like = !suffix.is_empty() && suffix.bytes().all(|b| b.is_ascii_alphanumeric());
    (region_like && suffix_like).then_some((pool_id, doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_paths_name_a_pool() {
        assert!(matches!(
            well_known("/us-east-1_AbC123xyz/.well-known/jwks.json"),
            Some(("us-east-1_AbC123xyz", WellKnown::Jwks))
        ));
        assert!(matches!(
            well_known("/eu-west-2_Q/.well-known/openid-configuration"),
            Some((_, WellKnown::OpenId))
        ));
        assert!(well_known("/bucket/.well-known/jwks.json").is_none());
        assert!(well_known("/us-east-1_x/y/.well-known/jwks.json").is_none());
        assert!(well_known("/us-east-1_abc/.well-known/other").is_none());
    }
}
