//! Users: the Admin* operations, ListUsers, SignUp, and the signed-in user's GetUser and
//! ChangePassword.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use regex::Regex;
use stratus_core::RequestContext;
use stratus_protocol::types::Timestamp;
use stratus_store::{StoreError, Txn};

use super::auth::{check_secret_hash, signed_in_user};
use super::{client_and_pool, own_pool};
use crate::generated::*;
use crate::state::{self, PoolRecord, UserRecord};
use crate::{Cognito, CognitoError, password};

/// A user by username, or by an attribute the pool lets users sign in with.
pub(crate) async fn find_user(
    cg: &Cognito,
    pool: &PoolRecord,
    name: &str,
) -> Result<Option<(UserRecord, Vec<u8>)>, CognitoError> {
    if let Some(found) = state::get_user(&cg.store, pool.id(), &pool.username_key(name)).await? {
        return Ok(Some(found));
    }
    for attr in pool.sign_in_attributes() {
        if let Some(key) = state::get_alias(&cg.store, pool.id(), attr, &alias_value(attr, name)).await? {
            return state::get_user(&cg.store, pool.id(), &key).await;
        }
    }
    Ok(None)
}

pub(crate) async fn require_user(
    cg: &Cognito,
    pool: &PoolRecord,
    name: &str,
) -> Result<(UserRecord, Vec<u8>), CognitoError> {
    find_user(cg, pool, name).await?.ok_or(CognitoError::UserNotFound)
}

/// Emails are matched without regard to case.
fn alias_value(attr: &str, value: &str) -> String {
    if attr == "email" {
        value.to_lowercase()
    } else {
        value.to_string()
    }
}

/// The sign-in aliases a user holds: in a pool that signs in by email or phone, those
/// attributes always; as alias attributes, once verified.
fn aliases(pool: &PoolRecord, user: &UserRecord) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for attr in pool.username_attributes() {
        if let Some(v) = user.attributes.get(attr) {
            out.push((attr.clone(), alias_value(attr, v)));
        }
    }
    for attr in pool.pool.alias_attributes.iter().flatten() {
        let verified = user
            .attributes
            .get(&format!("{attr}_verified"))
            .map(String::as_str)
            == Some("true");
        if let Some(v) = user.attributes.get(attr)
            && (verified || attr == "preferred_username")
        {
            out.push((attr.clone(), alias_value(attr, v)));
        }
    }
    out
}

/// Writes `new` in place of `old` (or as a new user) with its aliases, atomically: a user
/// created meanwhile under the same name, or an alias another user holds, fails the write.
pub(crate) async fn save_user(
    cg: &Cognito,
    pool: &PoolRecord,
    old: Option<(&UserRecord, &[u8])>,
    new: &UserRecord,
) -> Result<(), CognitoError> {
    let key = state::user_key(pool.id(), &pool.username_key(&new.username));
    let mut txn = match old {
        Some((_, raw)) => Txn::new().equals(state::USERS, key.clone(), raw.to_vec()),
        None => Txn::new().absent(state::USERS, key.clone()),
    };
    let before = old.map(|(u, _)| aliases(pool, u)).unwrap_or_default();
    let after = aliases(pool, new);
    let mut claimed = Vec::new();
    for a in &after {
        if !before.contains(a) {
            txn = txn.absent(state::ALIASES, state::alias_key(pool.id(), &a.0, &a.1));
            claimed.push(a.0.clone());
        }
    }
    for a in &before {
        if !after.contains(a) {
            txn = txn.delete(state::ALIASES, state::alias_key(pool.id(), &a.0, &a.1));
        }
    }
    for a in &after {
        txn = txn.put(
            state::ALIASES,
            state::alias_key(pool.id(), &a.0, &a.1),
            pool.username_key(&new.username).into_bytes(),
        );
    }
    txn = txn.put(state::USERS, key, state::user_value(new));
    match cg.store.commit(txn).await {
        Ok(()) => Ok(()),
        Err(StoreError::ConditionFailed { index: 0 }) if old.is_none() => {
            Err(CognitoError::UsernameExists("User account already exists".into()))
        }
        Err(StoreError::ConditionFailed { index: 0 }) => Err(CognitoError::not_authorized(
            "The user was changed by another request; try again.",
        )),
        Err(StoreError::ConditionFailed { index }) => {
            let attr = claimed.get(index - 1).cloned().unwrap_or_default();
            let what = if attr == "phone_number" {
                "phone_number"
            } else {
                "email"
            };
            if pool.username_attributes().contains(&attr) {
                Err(CognitoError::UsernameExists(format!(
                    "An account with the given {what} already exists."
                )))
            } else {
                Err(CognitoError::AliasExists(format!(
                    "An account with the given {what} already exists."
                )))
            }
        }
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn attribute_list(user: &UserRecord) -> Vec<AttributeType> {
    user.attributes
        .iter()
        .map(|(k, v)| AttributeType {
            name: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

fn user_type(user: &UserRecord, only: Option<&[String]>) -> UserType {
    let mut attributes = attribute_list(user);
    if let Some(only) = only {
        attributes.retain(|a| only.iter().any(|o| Some(o) == a.name.as_ref()));
    }
    UserType {
        username: Some(user.username.clone()),
        attributes: Some(attributes),
        user_create_date: Some(Timestamp::from_millis(user.created_ms)),
        user_last_modified_date: Some(Timestamp::from_millis(user.modified_ms)),
        enabled: Some(user.enabled),
        user_status: Some(user.status.clone()),
        mfa_options: None,
    }
}

fn schema_error(what: String) -> CognitoError {
    CognitoError::invalid(format!("Attributes did not conform to the schema: {what}"))
}

/// Applies `attrs` to `map` after checking them against the pool's schema.
fn apply_attributes(
    pool: &PoolRecord,
    attrs: Vec<AttributeType>,
    map: &mut BTreeMap<String, String>,
    creating: bool,
) -> Result<(), CognitoError> {
    let schema = pool.pool.schema_attributes.as_deref().unwrap_or_default();
    for a in attrs {
        let name = a.name.unwrap_or_default();
        let value = a.value.unwrap_or_default();
        let Some(def) = schema.iter().find(|s| s.name.as_deref() == Some(name.as_str())) else {
            return Err(CognitoError::invalid(format!(
                "Attribute does not exist in the schema: {name}"
            )));
        };
        if def.mutable == Some(false) && (!creating || name == "sub") {
            return Err(CognitoError::invalid(format!(
                "Cannot modify an immutable attribute: {name}"
            )));
        }
        match def.attribute_data_type.as_deref() {
            Some("Boolean") if value != "true" && value != "false" => {
                return Err(schema_error(format!("{name}: Value must be true or false")));
            }
            Some("Number") if value.parse::<f64>().is_err() => {
                return Err(schema_error(format!("{name}: Number is not valid")));
            }
            _ => {}
        }
        if let Some(max) = def
            .string_attribute_constraints
            .as_ref()
            .and_then(|c| c.max_length.as_deref())
            .and_then(|m| m.parse::<usize>().ok())
            && value.chars().count() > max
        {
            return Err(schema_error(format!(
                "{name}: String must be no longer than {max} characters"
            )));
        }
        if name == "email" && !value.is_empty() && !value.contains('@') {
            return Err(CognitoError::invalid("Invalid email address format."));
        }
        map.insert(name, value);
    }
    for def in schema {
        let name = def.name.as_deref().unwrap_or_default();
        if def.required == Some(true) && name != "sub" && !map.contains_key(name) {
            return Err(schema_error(format!("{name}: The attribute {name} is required")));
        }
    }
    Ok(())
}

/// A new user record. In a pool that signs in by email or phone number, `username` must be
/// one: it becomes that attribute, and the username becomes the user's `sub`.
fn new_user(
    cg: &Cognito,
    pool: &PoolRecord,
    username: String,
    attrs: Vec<AttributeType>,
    password: &str,
    status: &str,
) -> Result<UserRecord, CognitoError> {
    let sub = uuid::Uuid::new_v4().to_string();
    let mut map = BTreeMap::new();
    map.insert("sub".to_string(), sub.clone());
    let by_attr = pool.username_attributes();
    let username = if by_attr.is_empty() {
        if pool.pool.alias_attributes.iter().flatten().any(|a| a == "email") && username.contains('@') {
            return Err(CognitoError::invalid(
                "Username cannot be of email format, since user pool is configured for email alias.",
            ));
        }
        username
    } else {
        let email = by_attr.iter().any(|a| a == "email");
        let phone = by_attr.iter().any(|a| a == "phone_number");
        if email && username.contains('@') {
            map.insert("email".into(), username);
        } else if phone && username.starts_with('+') {
            map.insert("phone_number".into(), username);
        } else {
            return Err(CognitoError::invalid(match (email, phone) {
                (true, true) => "Username should be either an email or a phone number.",
                (true, false) => "Username should be an email.",
                _ => "Username should be a phone number.",
            }));
        }
        sub.clone()
    };
    apply_attributes(pool, attrs, &mut map, true)?;
    let now = cg.clock.now_ms();
    Ok(UserRecord {
        username,
        sub,
        attributes: map,
        status: status.into(),
        enabled: true,
        password: password::hash(password),
        created_ms: now,
        modified_ms: now,
    })
}

pub async fn admin_create_user(
    cg: Cognito,
    cx: RequestContext,
    input: AdminCreateUserRequest,
) -> Result<AdminCreateUserResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let username = input.username.unwrap_or_default();
    if input.message_action.as_deref() == Some("RESEND") {
        let (user, _) = require_user(&cg, &pool, &username).await?;
        if user.status != "FORCE_CHANGE_PASSWORD" {
            return Err(CognitoError::UnsupportedUserState);
        }
        return Ok(AdminCreateUserResponse {
            user: Some(user_type(&user, None)),
        });
    }
    let policy = pool.password_policy();
    let temporary = match input.temporary_password {
        Some(p) => {
            password::check(&p, &policy)?;
            p
        }
        None => password::temporary(&policy),
    };
    let user = new_user(
        &cg,
        &pool,
        username,
        input.user_attributes.unwrap_or_default(),
        &temporary,
        "FORCE_CHANGE_PASSWORD",
    )?;
    save_user(&cg, &pool, None, &user).await?;
    Ok(AdminCreateUserResponse {
        user: Some(user_type(&user, None)),
    })
}

pub async fn admin_get_user(
    cg: Cognito,
    cx: RequestContext,
    input: AdminGetUserRequest,
) -> Result<AdminGetUserResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let (user, _) = require_user(&cg, &pool, input.username.as_deref().unwrap_or_default()).await?;
    Ok(AdminGetUserResponse {
        username: Some(user.username.clone()),
        user_attributes: Some(attribute_list(&user)),
        user_create_date: Some(Timestamp::from_millis(user.created_ms)),
        user_last_modified_date: Some(Timestamp::from_millis(user.modified_ms)),
        enabled: Some(user.enabled),
        user_status: Some(user.status),
        ..Default::default()
    })
}

pub async fn admin_delete_user(
    cg: Cognito,
    cx: RequestContext,
    input: AdminDeleteUserRequest,
) -> Result<serde_json::Value, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let (user, _) = require_user(&cg, &pool, input.username.as_deref().unwrap_or_default()).await?;
    let mut txn = Txn::new().delete(
        state::USERS,
        state::user_key(pool.id(), &pool.username_key(&user.username)),
    );
    for (attr, value) in aliases(&pool, &user) {
        txn = txn.delete(state::ALIASES, state::alias_key(pool.id(), &attr, &value));
    }
    cg.store.commit(txn).await?;
    Ok(serde_json::json!({}))
}

pub async fn admin_set_user_password(
    cg: Cognito,
    cx: RequestContext,
    input: AdminSetUserPasswordRequest,
) -> Result<AdminSetUserPasswordResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let (old, raw) = require_user(&cg, &pool, input.username.as_deref().unwrap_or_default()).await?;
    let new_password = input.password.unwrap_or_default();
    password::check(&new_password, &pool.password_policy())?;
    let mut user = old.clone();
    user.password = password::hash(&new_password);
    user.status = if input.permanent == Some(true) {
        "CONFIRMED".into()
    } else {
        "FORCE_CHANGE_PASSWORD".into()
    };
    user.modified_ms = cg.clock.now_ms();
    save_user(&cg, &pool, Some((&old, &raw)), &user).await?;
    Ok(AdminSetUserPasswordResponse {})
}

pub async fn admin_confirm_sign_up(
    cg: Cognito,
    cx: RequestContext,
    input: AdminConfirmSignUpRequest,
) -> Result<AdminConfirmSignUpResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let (old, raw) = require_user(&cg, &pool, input.username.as_deref().unwrap_or_default()).await?;
    if old.status != "UNCONFIRMED" {
        return Err(CognitoError::not_authorized(format!(
            "User cannot be confirmed. Current status is {}",
            old.status
        )));
    }
    let mut user = old.clone();
    user.status = "CONFIRMED".into();
    user.modified_ms = cg.clock.now_ms();
    save_user(&cg, &pool, Some((&old, &raw)), &user).await?;
    Ok(AdminConfirmSignUpResponse {})
}

pub async fn admin_update_user_attributes(
    cg: Cognito,
    cx: RequestContext,
    input: AdminUpdateUserAttributesRequest,
) -> Result<AdminUpdateUserAttributesResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let (old, raw) = require_user(&cg, &pool, input.username.as_deref().unwrap_or_default()).await?;
    let mut user = old.clone();
    apply_attributes(
        &pool,
        input.user_attributes.unwrap_or_default(),
        &mut user.attributes,
        false,
    )?;
    user.modified_ms = cg.clock.now_ms();
    save_user(&cg, &pool, Some((&old, &raw)), &user).await?;
    Ok(AdminUpdateUserAttributesResponse {})
}

/// `attribute = "value"` or `attribute ^= "value"`.
static FILTER: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r#"^\s*([\w:]+)\s*(=|\^=)\s*"((?:[^"\\]|\\.)*)"\s*$"#).expect("valid regex"));

const FILTERABLE: &[&str] = &[
    "username",
    "email",
    "phone_number",
    "name",
    "given_name",
    "family_name",
    "preferred_username",
    "cognito:user_status",
    "status",
    "sub",
];

pub async fn list_users(
    cg: Cognito,
    cx: RequestContext,
    input: ListUsersRequest,
) -> Result<ListUsersResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let limit = super::page_size(input.limit, 60);
    let filter = match input.filter.as_deref().filter(|f| !f.trim().is_empty()) {
        None => None,
        Some(f) => {
            let c = FILTER
                .captures(f)
                .ok_or_else(|| CognitoError::invalid("Error while parsing filter."))?;
            let attr = c[1].to_string();
            if !FILTERABLE.contains(&attr.as_str()) {
                return Err(CognitoError::invalid(format!("Invalid search attribute: {attr}")));
            }
            Some((attr, &c[2] == "^=", c[3].replace("\\\"", "\"")))
        }
    };
    let matches = |u: &UserRecord| -> bool {
        let Some((attr, prefix, want)) = &filter else {
            return true;
        };
        let have = match attr.as_str() {
            "username" => Some(u.username.clone()),
            "cognito:user_status" => Some(u.status.clone()),
            "status" => Some(if u.enabled { "Enabled" } else { "Disabled" }.to_string()),
            other => u.attributes.get(other).cloned(),
        };
        have.is_some_and(|h| {
            if *prefix {
                h.starts_with(want.as_str())
            } else {
                h == *want
            }
        })
    };
    let mut after = input.pagination_token;
    let mut users = Vec::new();
    let mut more = false;
    'scan: loop {
        let batch = state::list_users(&cg.store, pool.id(), after.as_deref(), 256).await?;
        let Some(last) = batch.last() else { break };
        after = Some(pool.username_key(&last.username));
        let full = batch.len() < 256;
        for u in batch {
            if matches(&u) {
                if users.len() == limit {
                    more = true;
                    break 'scan;
                }
                users.push(u);
            }
        }
        if full {
            break;
        }
    }
    let next = more.then(|| pool.username_key(&users.last().expect("a full page").username));
    Ok(ListUsersResponse {
        users: Some(
            users
                .iter()
                .map(|u| user_type(u, input.attributes_to_get.as_deref()))
                .collect(),
        ),
        pagination_token: next,
    })
}

pub async fn sign_up(
    cg: Cognito,
    _cx: RequestContext,
    input: SignUpRequest,
) -> Result<SignUpResponse, CognitoError> {
    let (client, pool) = client_and_pool(&cg, input.client_id.as_deref().unwrap_or_default()).await?;
    let username = input.username.unwrap_or_default();
    check_secret_hash(&client, &username, input.secret_hash.as_deref())?;
    if pool
        .pool
        .admin_create_user_config
        .as_ref()
        .and_then(|c| c.allow_admin_create_user_only)
        == Some(true)
    {
        return Err(CognitoError::not_authorized(
            "SignUp is not permitted for this user pool",
        ));
    }
    let pw = input.password.unwrap_or_default();
    password::check(&pw, &pool.password_policy())?;
    let user = new_user(
        &cg,
        &pool,
        username,
        input.user_attributes.unwrap_or_default(),
        &pw,
        "UNCONFIRMED",
    )?;
    save_user(&cg, &pool, None, &user).await.map_err(|e| match e {
        CognitoError::UsernameExists(m) if m == "User account already exists" => {
            CognitoError::UsernameExists("User already exists".into())
        }
        other => other,
    })?;
    let delivery = pool
        .pool
        .auto_verified_attributes
        .iter()
        .flatten()
        .find_map(|attr| {
            let value = user.attributes.get(attr)?;
            Some(CodeDeliveryDetailsType {
                destination: Some(mask(value)),
                delivery_medium: Some(if attr == "email" { "EMAIL" } else { "SMS" }.into()),
                attribute_name: Some(attr.clone()),
            })
        });
    Ok(SignUpResponse {
        user_confirmed: Some(false),
        code_delivery_details: delivery,
        user_sub: Some(user.sub),
        session: None,
    })
}

/// `jane@example.com` → `j***@e***`, as Cognito shows delivery destinations.
fn mask(value: &str) -> String {
    match value.split_once('@') {
        Some((user, domain)) => format!(
            "{}***@{}***",
            user.chars().next().unwrap_or('*'),
            domain.chars().next().unwrap_or('*')
        ),
        None => format!("+*******{}", &value[value.len().saturating_sub(4)..]),
    }
}

pub async fn get_user(
    cg: Cognito,
    _cx: RequestContext,
    input: GetUserRequest,
) -> Result<GetUserResponse, CognitoError> {
    let (_, user, _) = signed_in_user(&cg, input.access_token.as_deref().unwrap_or_default()).await?;
    Ok(GetUserResponse {
        username: Some(user.username.clone()),
        user_attributes: Some(attribute_list(&user)),
        ..Default::default()
    })
}

pub async fn change_password(
    cg: Cognito,
    _cx: RequestContext,
    input: ChangePasswordRequest,
) -> Result<ChangePasswordResponse, CognitoError> {
    let (pool, old, raw) = signed_in_user(&cg, input.access_token.as_deref().unwrap_or_default()).await?;
    if !password::verify(
        input.previous_password.as_deref().unwrap_or_default(),
        &old.password,
    ) {
        return Err(CognitoError::not_authorized("Incorrect username or password."));
    }
    let proposed = input.proposed_password.unwrap_or_default();
    password::check(&proposed, &pool.password_policy())?;
    let mut user = old.clone();
    user.password = password::hash(&proposed);
    user.modified_ms = cg.clock.now_ms();
    save_user(&cg, &pool, Some((&old, &raw)), &user).await?;
    Ok(ChangePasswordResponse {})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_parse_as_cognito_writes_them() {
        let c = FILTER.captures(r#"email ^= "jane""#).unwrap();
        assert_eq!((&c[1], &c[2], &c[3]), ("email", "^=", "jane"));
        let c = FILTER.captures(r#"cognito:user_status = "CONFIRMED""#).unwrap();
        assert_eq!(&c[1], "cognito:user_status");
        assert!(FILTER.captures("email = jane").is_none());
        assert_eq!(mask("jane@example.com"), "j***@e***");
    }
}
