//! CreateUserPool, DescribeUserPool, ListUserPools, DeleteUserPool.

use std::collections::HashSet;

use stratus_core::RequestContext;
use stratus_protocol::types::Timestamp;
use stratus_store::Txn;

use super::{ALNUM, own_pool, page_size, random};
use crate::generated::*;
use crate::state::{self, PoolRecord};
use crate::{Cognito, CognitoError, keys, password};

/// The standard attributes every pool has: (name, type, mutable, required).
const STANDARD: &[(&str, &str, bool, bool)] = &[
    ("sub", "String", false, true),
    ("name", "String", true, false),
    ("given_name", "String", true, false),
    ("family_name", "String", true, false),
    ("middle_name", "String", true, false),
    ("nickname", "String", true, false),
    ("preferred_username", "String", true, false),
    ("profile", "String", true, false),
    ("picture", "String", true, false),
    ("website", "String", true, false),
    ("email", "String", true, false),
    ("email_verified", "Boolean", true, false),
    ("gender", "String", true, false),
    ("birthdate", "String", true, false),
    ("zoneinfo", "String", true, false),
    ("locale", "String", true, false),
    ("phone_number", "String", true, false),
    ("phone_number_verified", "Boolean", true, false),
    ("address", "String", true, false),
    ("updated_at", "Number", true, false),
];

fn standard_schema() -> Vec<SchemaAttributeType> {
    STANDARD
        .iter()
        .map(|&(name, kind, mutable, required)| SchemaAttributeType {
            name: Some(name.into()),
            attribute_data_type: Some(kind.into()),
            developer_only_attribute: Some(false),
            mutable: Some(mutable),
            required: Some(required),
            string_attribute_constraints: (kind == "String").then(|| StringAttributeConstraintsType {
                min_length: Some(if name == "sub" { "1" } else { "0" }.into()),
                max_length: Some("2048".into()),
            }),
            number_attribute_constraints: (kind == "Number").then(|| NumberAttributeConstraintsType {
                min_value: Some("0".into()),
                ..Default::default()
            }),
        })
        .collect()
}

/// The standard schema with the request's changes: standard attributes made required,
/// custom attributes added under `custom:`.
fn schema(requested: Vec<SchemaAttributeType>) -> Result<Vec<SchemaAttributeType>, CognitoError> {
    let mut out = standard_schema();
    let mut seen = HashSet::new();
    for a in requested {
        let name = a.name.clone().unwrap_or_default();
        if !seen.insert(name.clone()) {
            return Err(CognitoError::invalid(format!(
                "Duplicate schema attribute name: {name}"
            )));
        }
        if let Some(std) = out.iter_mut().find(|s| s.name.as_deref() == Some(name.as_str())) {
            if a.required == Some(true) {
                std.required = Some(true);
            }
            if let Some(m) = a.mutable {
                std.mutable = Some(m);
            }
            continue;
        }
        if a.required == Some(true) {
            return Err(CognitoError::invalid(format!(
                "Required custom attributes are not supported currently: {name}"
            )));
        }
        let kind = a.attribute_data_type.clone().unwrap_or_else(|| "String".into());
        out.push(SchemaAttributeType {
            name: Some(if name.starts_with("custom:") {
                name
            } else {
                format!("custom:{name}")
            }),
            attribute_data_type: Some(kind.clone()),
            developer_only_attribute: Some(a.developer_only_attribute.unwrap_or(false)),
            mutable: Some(a.mutable.unwrap_or(true)),
            required: Some(false),
            string_attribute_constraints: (kind == "String").then(|| {
                a.string_attribute_constraints
                    .unwrap_or(StringAttributeConstraintsType {
                        min_length: None,
                        max_length: None,
                    })
            }),
            number_attribute_constraints: if kind == "Number" {
                a.number_attribute_constraints
            } else {
                None
            },
        });
    }
    Ok(out)
}

pub async fn create_user_pool(
    cg: Cognito,
    cx: RequestContext,
    input: CreateUserPoolRequest,
) -> Result<CreateUserPoolResponse, CognitoError> {
    if input.username_attributes.is_some() && input.alias_attributes.is_some() {
        return Err(CognitoError::invalid(
            "Only one of the attributes AliasAttributes and UsernameAttributes can be set in a User Pool",
        ));
    }
    let now = cg.clock.now_ms();
    let id = format!("{}_{}", cx.region, random(ALNUM, 9));
    // No password policy: Cognito's default. A policy given: what it leaves out is off.
    let mut policies = input.policies.unwrap_or_default();
    let defaults = password::default_policy();
    let p = policies.password_policy.get_or_insert_with(|| defaults.clone());
    p.minimum_length = p.minimum_length.or(defaults.minimum_length);
    p.require_uppercase = p.require_uppercase.or(Some(false));
    p.require_lowercase = p.require_lowercase.or(Some(false));
    p.require_numbers = p.require_numbers.or(Some(false));
    p.require_symbols = p.require_symbols.or(Some(false));
    p.temporary_password_validity_days = p
        .temporary_password_validity_days
        .or(defaults.temporary_password_validity_days);
    if policies.password_policy.as_ref().and_then(|p| p.minimum_length) < Some(6) {
        return Err(CognitoError::invalid(
            "Invalid range for parameter MinimumLength: must be between 6 and 99",
        ));
    }
    let pool = UserPoolType {
        id: Some(id.clone()),
        name: input.pool_name,
        policies: Some(policies),
        deletion_protection: Some(input.deletion_protection.unwrap_or_else(|| "INACTIVE".into())),
        lambda_config: Some(input.lambda_config.unwrap_or_default()),
        last_modified_date: Some(Timestamp::from_millis(now)),
        creation_date: Some(Timestamp::from_millis(now)),
        schema_attributes: Some(schema(input.schema.unwrap_or_default())?),
        auto_verified_attributes: input.auto_verified_attributes,
        alias_attributes: input.alias_attributes,
        username_attributes: input.username_attributes,
        sms_verification_message: input.sms_verification_message,
        email_verification_message: input.email_verification_message,
        email_verification_subject: input.email_verification_subject,
        verification_message_template: Some(input.verification_message_template.unwrap_or(
            VerificationMessageTemplateType {
                default_email_option: Some("CONFIRM_WITH_CODE".into()),
                ..Default::default()
            },
        )),
        sms_authentication_message: input.sms_authentication_message,
        user_attribute_update_settings: input.user_attribute_update_settings,
        mfa_configuration: Some(input.mfa_configuration.unwrap_or_else(|| "OFF".into())),
        device_configuration: input.device_configuration,
        estimated_number_of_users: Some(0),
        email_configuration: Some(input.email_configuration.unwrap_or(EmailConfigurationType {
            email_sending_account: Some("COGNITO_DEFAULT".into()),
            ..Default::default()
        })),
        sms_configuration: input.sms_configuration,
        user_pool_tags: input.user_pool_tags,
        admin_create_user_config: Some({
            let mut c = input.admin_create_user_config.unwrap_or_default();
            c.allow_admin_create_user_only = c.allow_admin_create_user_only.or(Some(false));
            c.unused_account_validity_days = c.unused_account_validity_days.or(Some(7));
            c
        }),
        user_pool_add_ons: input.user_pool_add_ons,
        username_configuration: input.username_configuration,
        arn: Some(format!(
            "arn:aws:cognito-idp:{}:{}:userpool/{id}",
            cx.region,
            cx.account_id()
        )),
        account_recovery_setting: input.account_recovery_setting,
        user_pool_tier: Some(input.user_pool_tier.unwrap_or_else(|| "ESSENTIALS".into())),
        ..Default::default()
    };
    let (signing_key, kid) = tokio::task::spawn_blocking(keys::generate)
        .await
        .map_err(CognitoError::internal)??;
    let record = PoolRecord {
        account: cx.account_id().to_string(),
        region: cx.region.clone(),
        pool,
        signing_key,
        kid,
    };
    state::put_pool(
        &cg.store,
        Txn::new().absent(state::POOLS, id.into_bytes()),
        &record,
    )
    .await?;
    Ok(CreateUserPoolResponse {
        user_pool: Some(record.pool),
    })
}

pub async fn describe_user_pool(
    cg: Cognito,
    cx: RequestContext,
    input: DescribeUserPoolRequest,
) -> Result<DescribeUserPoolResponse, CognitoError> {
    let record = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let mut pool = record.pool.clone();
    pool.estimated_number_of_users = Some(
        cg.store
            .scan(
                state::USERS,
                &stratus_store::Scan::prefix(&state::pool_prefix(record.id())),
            )
            .await?
            .len() as i32,
    );
    Ok(DescribeUserPoolResponse {
        user_pool: Some(pool),
    })
}

pub async fn list_user_pools(
    cg: Cognito,
    cx: RequestContext,
    input: ListUserPoolsRequest,
) -> Result<ListUserPoolsResponse, CognitoError> {
    let limit = page_size(input.max_results, 60);
    let after = input.next_token.unwrap_or_default();
    let mut pools: Vec<PoolRecord> = state::all_pools(&cg.store)
        .await?
        .into_iter()
        .filter(|p| p.account == cx.account_id() && p.region == cx.region && p.id() > after.as_str())
        .collect();
    let next_token = (pools.len() > limit).then(|| pools[limit - 1].id().to_string());
    pools.truncate(limit);
    Ok(ListUserPoolsResponse {
        user_pools: Some(
            pools
                .into_iter()
                .map(|p| UserPoolDescriptionType {
                    id: p.pool.id,
                    name: p.pool.name,
                    lambda_config: p.pool.lambda_config,
                    last_modified_date: p.pool.last_modified_date,
                    creation_date: p.pool.creation_date,
                    ..Default::default()
                })
                .collect(),
        ),
        next_token,
    })
}

pub async fn delete_user_pool(
    cg: Cognito,
    cx: RequestContext,
    input: DeleteUserPoolRequest,
) -> Result<serde_json::Value, CognitoError> {
    let record = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    if record.pool.deletion_protection.as_deref() == Some("ACTIVE") {
        return Err(CognitoError::invalid(
            "The user pool cannot be deleted because deletion protection is activated. Deletion protection must be inactivated first.",
        ));
    }
    let id = record.id();
    let prefix = state::pool_prefix(id);
    let mut txn = Txn::new()
        .delete(state::POOLS, id.as_bytes().to_vec())
        .delete_prefix(state::USERS, prefix.clone())
        .delete_prefix(state::ALIASES, prefix);
    for c in state::all_clients(&cg.store).await? {
        if c.pool_id() == id {
            txn = txn.delete(state::CLIENTS, c.id().as_bytes().to_vec());
        }
    }
    cg.store.commit(txn).await?;
    cg.keys.lock().unwrap().remove(id);
    Ok(serde_json::json!({}))
}
