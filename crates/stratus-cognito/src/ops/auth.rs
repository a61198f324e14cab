//! Sign-in: InitiateAuth and AdminInitiateAuth (password and refresh-token flows),
//! RespondToAuthChallenge and AdminRespondToAuthChallenge (`NEW_PASSWORD_REQUIRED`), and the
//! tokens they issue.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, Mac};
use serde_json::{Map, Value, json};
use stratus_core::RequestContext;
use subtle::ConstantTimeEq;

use super::users::{find_user, require_user, save_user};
use super::{ALNUM, client_and_pool, own_pool, random};
use crate::generated::*;
use crate::state::{self, ClientRecord, GrantRecord, PoolRecord, UserRecord};
use crate::{Cognito, CognitoError, password};

/// How long a challenge session lasts when the client does not say (minutes).
const SESSION_MINUTES: i64 = 3;

/// Checks `SECRET_HASH` = Base64(HMAC-SHA256(client secret, username + client id)) for a
/// client that has a secret.
pub(crate) fn check_secret_hash(
    client: &ClientRecord,
    username: &str,
    given: Option<&str>,
) -> Result<(), CognitoError> {
    let Some(secret) = client.client.client_secret.as_deref() else {
        return Ok(());
    };
    let Some(given) = given else {
        return Err(CognitoError::not_authorized(format!(
            "Client {} is configured for secret but secret was not received",
            client.id()
        )));
    };
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(username.as_bytes());
    mac.update(client.id().as_bytes());
    let want = STANDARD.encode(mac.finalize().into_bytes());
    if bool::from(want.as_bytes().ct_eq(given.as_bytes())) {
        Ok(())
    } else {
        Err(CognitoError::not_authorized(format!(
            "Unable to verify secret hash for client {}",
            client.id()
        )))
    }
}

/// The user an access token was issued to, with the pool and the record's stored bytes.
pub(crate) async fn signed_in_user(
    cg: &Cognito,
    access_token: &str,
) -> Result<(PoolRecord, UserRecord, Vec<u8>), CognitoError> {
    let claims = match cg.verify_token(access_token, &[]).await {
        Ok((_, claims)) => claims,
        Err(why) if why.contains("expired") => {
            return Err(CognitoError::not_authorized("Access Token has expired"));
        }
        Err(_) => return Err(CognitoError::not_authorized("Invalid Access Token")),
    };
    if claims.get("token_use").and_then(Value::as_str) != Some("access") {
        return Err(CognitoError::not_authorized("Invalid Access Token"));
    }
    let pool_id = claims
        .get("iss")
        .and_then(Value::as_str)
        .and_then(|i| i.rsplit('/').next())
        .unwrap_or_default();
    let pool = state::get_pool(&cg.store, pool_id)
        .await?
        .ok_or_else(|| CognitoError::not_authorized("Invalid Access Token"))?;
    let username = claims.get("username").and_then(Value::as_str).unwrap_or_default();
    let (user, raw) = state::get_user(&cg.store, pool.id(), &pool.username_key(username))
        .await?
        .ok_or(CognitoError::UserNotFound)?;
    if user.sub != claims.get("sub").and_then(Value::as_str).unwrap_or_default() {
        return Err(CognitoError::not_authorized("Access Token has been revoked"));
    }
    if !user.enabled {
        return Err(CognitoError::not_authorized("User is disabled."));
    }
    Ok((pool, user, raw))
}

/// What a sign-in step answers: tokens, or the next challenge.
#[derive(Default)]
struct Outcome {
    challenge_name: Option<String>,
    session: Option<String>,
    challenge_parameters: Option<HashMap<String, String>>,
    authentication_result: Option<AuthenticationResultType>,
}

/// The four sign-in answers carry the same members.
macro_rules! answer_from_outcome {
    ($($ty:ident),*) => {$(
        impl From<Outcome> for $ty {
            #[allow(clippy::needless_update)]
            fn from(o: Outcome) -> Self {
                $ty {
                    challenge_name: o.challenge_name,
                    session: o.session,
                    challenge_parameters: o.challenge_parameters,
                    authentication_result: o.authentication_result,
                    // Two of the four have more members (left empty); two have no more.
                    ..Default::default()
                }
            }
        }
    )*};
}

answer_from_outcome!(
    InitiateAuthResponse,
    AdminInitiateAuthResponse,
    RespondToAuthChallengeResponse,
    AdminRespondToAuthChallengeResponse
);

fn flows(client: &ClientRecord) -> &[String] {
    client.client.explicit_auth_flows.as_deref().unwrap_or_default()
}

fn allows(client: &ClientRecord, names: &[&str]) -> bool {
    flows(client).iter().any(|f| names.contains(&f.as_str()))
}

fn param<'a>(params: &'a HashMap<String, String>, name: &str) -> Result<&'a str, CognitoError> {
    params
        .get(name)
        .map(String::as_str)
        .ok_or_else(|| CognitoError::invalid(format!("Missing required parameter {name}")))
}

/// `AuthFlow` → outcome, for either entry point (`admin` says which).
async fn start(
    cg: &Cognito,
    pool: &PoolRecord,
    client: &ClientRecord,
    flow: &str,
    params: HashMap<String, String>,
    admin: bool,
) -> Result<Outcome, CognitoError> {
    match (flow, admin) {
        ("USER_PASSWORD_AUTH", false) => {
            if !allows(client, &["ALLOW_USER_PASSWORD_AUTH", "USER_PASSWORD_AUTH"]) {
                return Err(CognitoError::invalid(
                    "USER_PASSWORD_AUTH flow not enabled for this client",
                ));
            }
            password_auth(cg, pool, client, &params).await
        }
        ("ADMIN_USER_PASSWORD_AUTH" | "ADMIN_NO_SRP_AUTH", true) => {
            if !allows(client, &["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ADMIN_NO_SRP_AUTH"]) {
                return Err(CognitoError::invalid("Auth flow not enabled for this client"));
            }
            password_auth(cg, pool, client, &params).await
        }
        ("REFRESH_TOKEN_AUTH" | "REFRESH_TOKEN", _) => refresh_auth(cg, pool, client, &params).await,
        ("USER_SRP_AUTH" | "CUSTOM_AUTH" | "USER_AUTH", _) => Err(CognitoError::NotImplemented(format!(
            "The {flow} flow is not implemented by Stratus yet: use USER_PASSWORD_AUTH or ADMIN_USER_PASSWORD_AUTH"
        ))),
        _ => Err(CognitoError::invalid("Initiate Auth method not supported.")),
    }
}

async fn password_auth(
    cg: &Cognito,
    pool: &PoolRecord,
    client: &ClientRecord,
    params: &HashMap<String, String>,
) -> Result<Outcome, CognitoError> {
    let username = param(params, "USERNAME")?;
    let given = param(params, "PASSWORD")?;
    check_secret_hash(client, username, params.get("SECRET_HASH").map(String::as_str))?;
    let wrong = || CognitoError::not_authorized("Incorrect username or password.");
    let Some((user, _)) = find_user(cg, pool, username).await? else {
        return Err(match client.client.prevent_user_existence_errors.as_deref() {
            Some("ENABLED") => wrong(),
            _ => CognitoError::UserNotFound,
        });
    };
    if !user.enabled {
        return Err(CognitoError::not_authorized("User is disabled."));
    }
    let hash = user.password.clone();
    let ok = tokio::task::spawn_blocking({
        let given = given.to_string();
        move || password::verify(&given, &hash)
    })
    .await
    .map_err(CognitoError::internal)?;
    if !ok {
        return Err(wrong());
    }
    match user.status.as_str() {
        "UNCONFIRMED" => Err(CognitoError::UserNotConfirmed),
        "FORCE_CHANGE_PASSWORD" => {
            let session = random(ALNUM, 64);
            let minutes = client
                .client
                .auth_session_validity
                .map_or(SESSION_MINUTES, i64::from);
            let grant = GrantRecord {
                pool_id: pool.id().to_string(),
                client_id: client.id().to_string(),
                username: user.username.clone(),
                expires_ms: cg.clock.now_ms() + minutes * 60_000,
            };
            state::put_grant(&cg.store, state::SESSIONS, &session, &grant).await?;
            let attrs: Map<String, Value> = user
                .attributes
                .iter()
                .filter(|(k, _)| k.as_str() != "sub")
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            Ok(Outcome {
                challenge_name: Some("NEW_PASSWORD_REQUIRED".into()),
                session: Some(session),
                challenge_parameters: Some(HashMap::from([
                    ("USER_ID_FOR_SRP".to_string(), user.username.clone()),
                    ("requiredAttributes".to_string(), "[]".to_string()),
                    ("userAttributes".to_string(), Value::Object(attrs).to_string()),
                ])),
                authentication_result: None,
            })
        }
        _ => Ok(Outcome {
            authentication_result: Some(issue(cg, pool, client, &user, true).await?),
            challenge_parameters: Some(HashMap::new()),
            ..Default::default()
        }),
    }
}

async fn refresh_auth(
    cg: &Cognito,
    pool: &PoolRecord,
    client: &ClientRecord,
    params: &HashMap<String, String>,
) -> Result<Outcome, CognitoError> {
    let token = param(params, "REFRESH_TOKEN")?;
    let invalid = || CognitoError::not_authorized("Invalid Refresh Token");
    let grant = state::get_grant(&cg.store, state::TOKENS, token)
        .await?
        .filter(|g| g.client_id == client.id() && g.pool_id == pool.id())
        .ok_or_else(invalid)?;
    if grant.expires_ms <= cg.clock.now_ms() {
        return Err(CognitoError::not_authorized("Refresh Token has expired"));
    }
    let name = params
        .get("USERNAME")
        .map_or(grant.username.as_str(), String::as_str);
    check_secret_hash(client, name, params.get("SECRET_HASH").map(String::as_str))?;
    let (user, _) = state::get_user(&cg.store, pool.id(), &pool.username_key(&grant.username))
        .await?
        .ok_or_else(|| CognitoError::not_authorized("Refresh Token has been revoked"))?;
    if !user.enabled {
        return Err(CognitoError::not_authorized("User is disabled."));
    }
    Ok(Outcome {
        authentication_result: Some(issue(cg, pool, client, &user, false).await?),
        challenge_parameters: Some(HashMap::new()),
        ..Default::default()
    })
}

async fn respond(
    cg: &Cognito,
    pool: &PoolRecord,
    client: &ClientRecord,
    challenge: &str,
    responses: HashMap<String, String>,
    session: Option<&str>,
) -> Result<Outcome, CognitoError> {
    let expired = || CognitoError::not_authorized("Invalid session for the user, session is expired.");
    let session = session.ok_or_else(|| CognitoError::invalid("Missing required parameter Session"))?;
    let grant = state::get_grant(&cg.store, state::SESSIONS, session)
        .await?
        .filter(|g| g.client_id == client.id() && g.expires_ms > cg.clock.now_ms())
        .ok_or_else(expired)?;
    if challenge != "NEW_PASSWORD_REQUIRED" {
        return Err(CognitoError::invalid(format!(
            "The challenge {challenge} does not match the session's challenge NEW_PASSWORD_REQUIRED"
        )));
    }
    let username = param(&responses, "USERNAME")?;
    check_secret_hash(client, username, responses.get("SECRET_HASH").map(String::as_str))?;
    let new_password = param(&responses, "NEW_PASSWORD")?;
    let (old, raw) = require_user(cg, pool, username).await?;
    if old.username != grant.username {
        return Err(expired());
    }
    password::check(new_password, &pool.password_policy())?;
    let mut user = old.clone();
    for (k, v) in &responses {
        if let Some(attr) = k.strip_prefix("userAttributes.") {
            user.attributes.insert(attr.to_string(), v.clone());
        }
    }
    user.password = password::hash(new_password);
    user.status = "CONFIRMED".into();
    user.modified_ms = cg.clock.now_ms();
    save_user(cg, pool, Some((&old, &raw)), &user).await?;
    cg.store
        .commit(stratus_store::Txn::new().delete(state::SESSIONS, session.as_bytes().to_vec()))
        .await?;
    Ok(Outcome {
        authentication_result: Some(issue(cg, pool, client, &user, true).await?),
        challenge_parameters: Some(HashMap::new()),
        ..Default::default()
    })
}

/// ID and access tokens (and a refresh token when `with_refresh`) for `user`.
async fn issue(
    cg: &Cognito,
    pool: &PoolRecord,
    client: &ClientRecord,
    user: &UserRecord,
    with_refresh: bool,
) -> Result<AuthenticationResultType, CognitoError> {
    let (_, keys) = cg
        .pool_keys(pool.id())
        .await?
        .ok_or_else(|| CognitoError::pool_not_found(pool.id()))?;
    let c = &client.client;
    let units = c.token_validity_units.clone().unwrap_or_default();
    let validity = state::validity_secs;
    let access_secs =
        validity(c.access_token_validity, units.access_token.as_deref(), "hours").unwrap_or(3_600);
    let id_secs = validity(c.id_token_validity, units.id_token.as_deref(), "hours").unwrap_or(3_600);
    let refresh_secs =
        validity(c.refresh_token_validity, units.refresh_token.as_deref(), "days").unwrap_or(30 * 86_400);
    let now_ms = cg.clock.now_ms();
    let now = now_ms / 1000;
    let iss = cg.issuer(pool.id());
    let origin_jti = uuid::Uuid::new_v4().to_string();
    let event_id = uuid::Uuid::new_v4().to_string();
    let mut id_claims = json!({
        "sub": user.sub,
        "iss": iss,
        "cognito:username": user.username,
        "origin_jti": origin_jti,
        "aud": client.id(),
        "event_id": event_id,
        "token_use": "id",
        "auth_time": now,
        "exp": now + id_secs,
        "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
    });
    let map = id_claims.as_object_mut().expect("an object");
    for (k, v) in &user.attributes {
        if k == "sub" {
            continue;
        }
        let value = if k.ends_with("_verified") {
            Value::Bool(v == "true")
        } else {
            Value::String(v.clone())
        };
        map.insert(k.clone(), value);
    }
    let access_claims = json!({
        "sub": user.sub,
        "iss": iss,
        "client_id": client.id(),
        "origin_jti": origin_jti,
        "event_id": event_id,
        "token_use": "access",
        "scope": "aws.cognito.signin.user.admin",
        "auth_time": now,
        "exp": now + access_secs,
        "iat": now,
        "jti": uuid::Uuid::new_v4().to_string(),
        "username": user.username,
    });
    let refresh_token = if with_refresh {
        let token = random(ALNUM, 160);
        let grant = GrantRecord {
            pool_id: pool.id().to_string(),
            client_id: client.id().to_string(),
            username: user.username.clone(),
            expires_ms: now_ms + refresh_secs * 1000,
        };
        state::put_grant(&cg.store, state::TOKENS, &token, &grant).await?;
        Some(token)
    } else {
        None
    };
    Ok(AuthenticationResultType {
        access_token: Some(keys.sign(&access_claims)?),
        expires_in: Some(access_secs as i32),
        token_type: Some("Bearer".into()),
        refresh_token,
        id_token: Some(keys.sign(&id_claims)?),
        new_device_metadata: None,
    })
}

pub async fn initiate_auth(
    cg: Cognito,
    _cx: RequestContext,
    input: InitiateAuthRequest,
) -> Result<InitiateAuthResponse, CognitoError> {
    let (client, pool) = client_and_pool(&cg, input.client_id.as_deref().unwrap_or_default()).await?;
    let o = start(
        &cg,
        &pool,
        &client,
        input.auth_flow.as_deref().unwrap_or_default(),
        input.auth_parameters.unwrap_or_default(),
        false,
    )
    .await?;
    Ok(o.into())
}

/// The client of an Admin* sign-in call: it must belong to the pool named, in the caller's
/// account.
async fn admin_client(
    cg: &Cognito,
    cx: &RequestContext,
    pool_id: &str,
    client_id: &str,
) -> Result<(ClientRecord, PoolRecord), CognitoError> {
    let pool = own_pool(cg, cx, pool_id).await?;
    let (client, _) = client_and_pool(cg, client_id).await?;
    if client.pool_id() != pool.id() {
        return Err(CognitoError::client_not_found(client_id));
    }
    Ok((client, pool))
}

pub async fn admin_initiate_auth(
    cg: Cognito,
    cx: RequestContext,
    input: AdminInitiateAuthRequest,
) -> Result<AdminInitiateAuthResponse, CognitoError> {
    let (client, pool) = admin_client(
        &cg,
        &cx,
        input.user_pool_id.as_deref().unwrap_or_default(),
        input.client_id.as_deref().unwrap_or_default(),
    )
    .await?;
    let o = start(
        &cg,
        &pool,
        &client,
        input.auth_flow.as_deref().unwrap_or_default(),
        input.auth_parameters.unwrap_or_default(),
        true,
    )
    .await?;
    Ok(o.into())
}

pub async fn respond_to_auth_challenge(
    cg: Cognito,
    _cx: RequestContext,
    input: RespondToAuthChallengeRequest,
) -> Result<RespondToAuthChallengeResponse, CognitoError> {
    let (client, pool) = client_and_pool(&cg, input.client_id.as_deref().unwrap_or_default()).await?;
    let o = respond(
        &cg,
        &pool,
        &client,
        input.challenge_name.as_deref().unwrap_or_default(),
        input.challenge_responses.unwrap_or_default(),
        input.session.as_deref(),
    )
    .await?;
    Ok(o.into())
}

pub async fn admin_respond_to_auth_challenge(
    cg: Cognito,
    cx: RequestContext,
    input: AdminRespondToAuthChallengeRequest,
) -> Result<AdminRespondToAuthChallengeResponse, CognitoError> {
    let (client, pool) = admin_client(
        &cg,
        &cx,
        input.user_pool_id.as_deref().unwrap_or_default(),
        input.client_id.as_deref().unwrap_or_default(),
    )
    .await?;
    let o = respond(
        &cg,
        &pool,
        &client,
        input.challenge_name.as_deref().unwrap_or_default(),
        input.challenge_responses.unwrap_or_default(),
        input.session.as_deref(),
    )
    .await?;
    Ok(o.into())
}
