//! CreateUserPoolClient, DescribeUserPoolClient, ListUserPoolClients, DeleteUserPoolClient.

use stratus_core::RequestContext;
use stratus_protocol::types::Timestamp;
use stratus_store::Txn;

use super::{LOWER_ALNUM, own_pool, page_size, random};
use crate::generated::*;
use crate::state::{self, ClientRecord};
use crate::{Cognito, CognitoError};

/// The flows a client gets when it names none.
const DEFAULT_FLOWS: &[&str] = &[
    "ALLOW_REFRESH_TOKEN_AUTH",
    "ALLOW_USER_SRP_AUTH",
    "ALLOW_CUSTOM_AUTH",
];

fn check_flows(flows: &[String]) -> Result<(), CognitoError> {
    let modern = flows.iter().any(|f| f.starts_with("ALLOW_"));
    let legacy = flows.iter().any(|f| !f.starts_with("ALLOW_"));
    if modern && legacy {
        return Err(CognitoError::invalid(
            "ExplicitAuthFlows cannot have both legacy and new values.",
        ));
    }
    Ok(())
}

fn check_validity(client: &UserPoolClientType) -> Result<(), CognitoError> {
    let units = client.token_validity_units.clone().unwrap_or_default();
    let secs = |v: Option<i32>, unit: Option<&str>, default_unit: &str| -> i64 {
        state::validity_secs(v, unit, default_unit).unwrap_or(0)
    };
    let access = secs(
        client.access_token_validity,
        units.access_token.as_deref(),
        "hours",
    );
    let id = secs(client.id_token_validity, units.id_token.as_deref(), "hours");
    let refresh = secs(
        client.refresh_token_validity,
        units.refresh_token.as_deref(),
        "days",
    );
    for (name, v) in [("AccessTokenValidity", access), ("IdTokenValidity", id)] {
        if v != 0 && !(300..=86_400).contains(&v) {
            return Err(CognitoError::invalid(format!(
                "{name} must be between 5 minutes and 1 day."
            )));
        }
    }
    if refresh != 0 && !(3_600..=315_360_000).contains(&refresh) {
        return Err(CognitoError::invalid(
            "RefreshTokenValidity must be between 60 minutes and 10 years.",
        ));
    }
    Ok(())
}

pub async fn create_user_pool_client(
    cg: Cognito,
    cx: RequestContext,
    input: CreateUserPoolClientRequest,
) -> Result<CreateUserPoolClientResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let flows = input
        .explicit_auth_flows
        .unwrap_or_else(|| DEFAULT_FLOWS.iter().map(|s| s.to_string()).collect());
    check_flows(&flows)?;
    let now = Timestamp::from_millis(cg.clock.now_ms());
    let id = random(LOWER_ALNUM, 26);
    let client = UserPoolClientType {
        user_pool_id: pool.pool.id.clone(),
        client_name: input.client_name,
        client_id: Some(id.clone()),
        client_secret: (input.generate_secret == Some(true)).then(|| random(LOWER_ALNUM, 51)),
        last_modified_date: Some(now),
        creation_date: Some(now),
        refresh_token_validity: Some(input.refresh_token_validity.unwrap_or(30)),
        access_token_validity: input.access_token_validity,
        id_token_validity: input.id_token_validity,
        token_validity_units: input.token_validity_units,
        read_attributes: input.read_attributes,
        write_attributes: input.write_attributes,
        explicit_auth_flows: Some(flows),
        supported_identity_providers: input.supported_identity_providers,
        callback_ur_ls: input.callback_ur_ls,
        logout_ur_ls: input.logout_ur_ls,
        default_redirect_uri: input.default_redirect_uri,
        allowed_o_auth_flows: input.allowed_o_auth_flows,
        allowed_o_auth_scopes: input.allowed_o_auth_scopes,
        allowed_o_auth_flows_user_pool_client: Some(
            input.allowed_o_auth_flows_user_pool_client.unwrap_or(false),
        ),
        analytics_configuration: input.analytics_configuration,
        prevent_user_existence_errors: Some(
            input
                .prevent_user_existence_errors
                .unwrap_or_else(|| "LEGACY".into()),
        ),
        enable_token_revocation: Some(input.enable_token_revocation.unwrap_or(true)),
        enable_propagate_additional_user_context_data: Some(
            input
                .enable_propagate_additional_user_context_data
                .unwrap_or(false),
        ),
        auth_session_validity: Some(input.auth_session_validity.unwrap_or(3)),
        refresh_token_rotation: input.refresh_token_rotation,
    };
    check_validity(&client)?;
    let record = ClientRecord {
        account: pool.account.clone(),
        region: pool.region.clone(),
        client,
    };
    cg.store
        .commit(
            Txn::new()
                .exists(state::POOLS, pool.id().as_bytes().to_vec())
                .absent(state::CLIENTS, id.clone().into_bytes())
                .put(state::CLIENTS, id.into_bytes(), state::client_value(&record)),
        )
        .await?;
    Ok(CreateUserPoolClientResponse {
        user_pool_client: Some(record.client),
    })
}

/// The client `client_id` of pool `pool_id`, in the caller's account.
async fn own_client(
    cg: &Cognito,
    cx: &RequestContext,
    pool_id: &str,
    client_id: &str,
) -> Result<ClientRecord, CognitoError> {
    own_pool(cg, cx, pool_id).await?;
    match state::get_client(&cg.store, client_id).await? {
        Some(c) if c.pool_id() == pool_id => Ok(c),
        _ => Err(CognitoError::client_not_found(client_id)),
    }
}

pub async fn describe_user_pool_client(
    cg: Cognito,
    cx: RequestContext,
    input: DescribeUserPoolClientRequest,
) -> Result<DescribeUserPoolClientResponse, CognitoError> {
    let c = own_client(
        &cg,
        &cx,
        input.user_pool_id.as_deref().unwrap_or_default(),
        input.client_id.as_deref().unwrap_or_default(),
    )
    .await?;
    Ok(DescribeUserPoolClientResponse {
        user_pool_client: Some(c.client),
    })
}

pub async fn delete_user_pool_client(
    cg: Cognito,
    cx: RequestContext,
    input: DeleteUserPoolClientRequest,
) -> Result<serde_json::Value, CognitoError> {
    let c = own_client(
        &cg,
        &cx,
        input.user_pool_id.as_deref().unwrap_or_default(),
        input.client_id.as_deref().unwrap_or_default(),
    )
    .await?;
    cg.store
        .commit(Txn::new().delete(state::CLIENTS, c.id().as_bytes().to_vec()))
        .await?;
    Ok(serde_json::json!({}))
}

pub async fn list_user_pool_clients(
    cg: Cognito,
    cx: RequestContext,
    input: ListUserPoolClientsRequest,
) -> Result<ListUserPoolClientsResponse, CognitoError> {
    let pool = own_pool(&cg, &cx, input.user_pool_id.as_deref().unwrap_or_default()).await?;
    let limit = page_size(input.max_results, 60);
    let after = input.next_token.unwrap_or_default();
    let mut clients: Vec<ClientRecord> = state::all_clients(&cg.store)
        .await?
        .into_iter()
        .filter(|c| c.pool_id() == pool.id() && c.id() > after.as_str())
        .collect();
    let next_token = (clients.len() > limit).then(|| clients[limit - 1].id().to_string());
    clients.truncate(limit);
    Ok(ListUserPoolClientsResponse {
        user_pool_clients: Some(
            clients
                .into_iter()
                .map(|c| UserPoolClientDescription {
                    client_id: c.client.client_id,
                    user_pool_id: c.client.user_pool_id,
                    client_name: c.client.client_name,
                })
                .collect(),
        ),
        next_token,
    })
}
