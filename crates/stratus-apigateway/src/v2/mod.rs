//! The management API of HTTP APIs (`apigatewayv2`): APIs (with quick create), routes,
//! integrations, authorizers, stages (auto-deploy), deployments and tags.

pub mod generated;

use std::collections::HashMap;

use stratus_core::RequestContext;
use stratus_protocol::types::IsoTimestamp;

use crate::state::{self, ApiRecord, Snapshot, new_id, to};
use crate::{ApiGateway, ApiGatewayError};
use generated::*;

type Result<T> = std::result::Result<T, ApiGatewayError>;

fn now(g: &ApiGateway) -> IsoTimestamp {
    IsoTimestamp::from_millis(g.inner.clock.now_ms())
}

fn api_not_found(cx: &RequestContext, api_id: &str) -> ApiGatewayError {
    ApiGatewayError::NotFound(format!(
        "Invalid API identifier specified {}:{api_id}",
        cx.account_id()
    ))
}

fn missing(what: &str, cx: &RequestContext, id: &str) -> ApiGatewayError {
    ApiGatewayError::NotFound(format!(
        "Invalid {what} identifier specified {}:{id}",
        cx.account_id()
    ))
}

fn required<'a>(v: &'a Option<String>, name: &str) -> Result<&'a str> {
    v.as_deref()
        .ok_or_else(|| ApiGatewayError::BadRequest(format!("{name} is required")))
}

async fn load(g: &ApiGateway, cx: &RequestContext, api_id: &str) -> Result<(ApiRecord, bytes::Bytes)> {
    match state::get(&g.inner.store, api_id).await? {
        Some((a, raw)) if a.account == cx.account_id() && a.region == cx.region => Ok((a, raw)),
        _ => Err(api_not_found(cx, api_id)),
    }
}

/// Applies a change to an API and commits it, retrying when another change won the race.
/// A change that touches what deployments freeze (`redeploy`) deploys to every auto-deploy
/// stage, as API Gateway does.
async fn change<T>(
    g: &ApiGateway,
    cx: &RequestContext,
    api_id: &str,
    redeploy: bool,
    mut f: impl FnMut(&mut ApiRecord, &mut Vec<(String, Snapshot)>) -> Result<T>,
) -> Result<T> {
    let mut attempts = 0;
    loop {
        let (mut a, raw) = load(g, cx, api_id).await?;
        let mut snaps = Vec::new();
        let out = f(&mut a, &mut snaps)?;
        if redeploy {
            auto_deploy(g, &mut a, &mut snaps);
        }
        match state::save(&g.inner.store, Some(&raw), &a, snaps).await {
            Err(ApiGatewayError::Conflict(_)) if attempts < 5 => attempts += 1,
            other => return other.map(|()| out),
        }
    }
}

fn snapshot(a: &ApiRecord) -> Snapshot {
    Snapshot {
        routes: a.routes.clone(),
        integrations: a.integrations.clone(),
        authorizers: a.authorizers.clone(),
        cors: a.api.cors_configuration.clone(),
    }
}

/// Freezes the API's configuration in a new deployment.
fn deploy(
    g: &ApiGateway,
    a: &mut ApiRecord,
    snaps: &mut Vec<(String, Snapshot)>,
    description: Option<String>,
    auto: bool,
) -> Deployment {
    let id = new_id(6);
    let d = Deployment {
        auto_deployed: Some(auto),
        created_date: Some(now(g)),
        deployment_id: Some(id.clone()),
        deployment_status: Some("DEPLOYED".into()),
        deployment_status_message: None,
        description,
    };
    a.deployments.insert(id.clone(), d.clone());
    snaps.push((id, snapshot(a)));
    d
}

fn auto_deploy(g: &ApiGateway, a: &mut ApiRecord, snaps: &mut Vec<(String, Snapshot)>) {
    let auto: Vec<String> = a
        .stages
        .iter()
        .filter(|(_, s)| s.auto_deploy == Some(true))
        .map(|(n, _)| n.clone())
        .collect();
    if auto.is_empty() {
        return;
    }
    let d = deploy(
        g,
        a,
        snaps,
        Some("Automatic deployment triggered by changes to the Api configuration".into()),
        true,
    );
    for name in auto {
        if let Some(s) = a.stages.get_mut(&name) {
            s.deployment_id = d.deployment_id.clone();
            s.last_updated_date = Some(now(g));
            s.last_deployment_status_message = Some(format!(
                "Successfully deployed stage with deployment ID '{}'",
                d.deployment_id.as_deref().unwrap_or_default()
            ));
        }
    }
}

fn page<T: Clone>(items: Vec<T>, token: Option<&str>, max: Option<&str>) -> Result<(Vec<T>, Option<String>)> {
    let start: usize = match token {
        Some(t) => t
            .parse()
            .map_err(|_| ApiGatewayError::BadRequest("Invalid pagination token".into()))?,
        None => 0,
    };
    let max: usize = match max {
        Some(m) => m
            .parse()
            .ok()
            .filter(|&m: &usize| m >= 1)
            .ok_or_else(|| ApiGatewayError::BadRequest("Invalid maxResults".into()))?,
        None => usize::MAX,
    };
    let end = start.saturating_add(max).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items.get(start..end).unwrap_or_default().to_vec(), next))
}

// ---- APIs ---------------------------------------------------------------------------------

fn check_cors(c: &Option<Cors>) -> Result<()> {
    if let Some(c) = c
        && c.allow_credentials == Some(true)
        && c.allow_origins
            .as_ref()
            .is_some_and(|o| o.iter().any(|o| o == "*"))
    {
        return Err(ApiGatewayError::BadRequest(
            "allow-credentials is not supported if allow-origin is *".into(),
        ));
    }
    Ok(())
}

pub async fn create_api(g: ApiGateway, cx: RequestContext, i: CreateApiRequest) -> Result<CreateApiResponse> {
    let name = required(&i.name, "Name")?;
    let protocol = required(&i.protocol_type, "ProtocolType")?;
    let http = protocol == "HTTP";
    if !http && protocol != "WEBSOCKET" {
        return Err(ApiGatewayError::BadRequest(format!(
            "Invalid protocol type {protocol}"
        )));
    }
    if !http && i.route_selection_expression.is_none() {
        return Err(ApiGatewayError::BadRequest(
            "RouteSelectionExpression is required for WEBSOCKET APIs".into(),
        ));
    }
    if !http && (i.target.is_some() || i.route_key.is_some() || i.cors_configuration.is_some()) {
        return Err(ApiGatewayError::BadRequest(
            "Target, RouteKey and CorsConfiguration are supported only for HTTP APIs".into(),
        ));
    }
    check_cors(&i.cors_configuration)?;
    let id = new_id(10);
    let mut a = ApiRecord {
        account: cx.account_id().to_string(),
        region: cx.region.clone(),
        api: Api {
            api_endpoint: Some(if http {
                g.api_endpoint(&id)
            } else {
                g.api_endpoint(&id).replacen("http://", "ws://", 1)
            }),
            api_id: Some(id.clone()),
            api_key_selection_expression: Some(
                i.api_key_selection_expression
                    .clone()
                    .unwrap_or_else(|| "$request.header.x-api-key".into()),
            ),
            cors_configuration: i.cors_configuration.clone(),
            created_date: Some(now(&g)),
            description: i.description.clone(),
            disable_schema_validation: i.disable_schema_validation,
            disable_execute_api_endpoint: Some(i.disable_execute_api_endpoint.unwrap_or(false)),
            ip_address_type: Some(i.ip_address_type.clone().unwrap_or_else(|| "ipv4".into())),
            name: Some(name.to_string()),
            protocol_type: Some(protocol.to_string()),
            route_selection_expression: Some(
                i.route_selection_expression
                    .clone()
                    .unwrap_or_else(|| "$request.method $request.path".into()),
            ),
            tags: Some(i.tags.clone().unwrap_or_default()),
            version: i.version.clone(),
            ..Default::default()
        },
        ..Default::default()
    };
    let mut snaps = Vec::new();
    if let Some(target) = &i.target {
        // Quick create: a route to the target, its integration and an auto-deployed stage.
        let route_key = i.route_key.clone().unwrap_or_else(|| "$default".into());
        crate::route::RouteKey::parse(&route_key).map_err(ApiGatewayError::BadRequest)?;
        let lambda = target.starts_with("arn:");
        let integration_id = new_id(7);
        a.integrations.insert(
            integration_id.clone(),
            Integration {
                api_gateway_managed: Some(true),
                connection_type: Some("INTERNET".into()),
                credentials_arn: i.credentials_arn.clone(),
                integration_id: Some(integration_id.clone()),
                integration_method: Some(if lambda { "POST" } else { "ANY" }.into()),
                integration_type: Some(if lambda { "AWS_PROXY" } else { "HTTP_PROXY" }.into()),
                integration_uri: Some(target.clone()),
                payload_format_version: Some(if lambda { "2.0" } else { "1.0" }.into()),
                timeout_in_millis: Some(30000),
                ..Default::default()
            },
        );
        let route_id = new_id(7);
        a.routes.insert(
            route_id.clone(),
            Route {
                api_gateway_managed: Some(true),
                api_key_required: Some(false),
                authorization_type: Some("NONE".into()),
                route_id: Some(route_id),
                route_key: Some(route_key),
                target: Some(format!("integrations/{integration_id}")),
                ..Default::default()
            },
        );
        a.stages.insert(
            "$default".into(),
            Stage {
                api_gateway_managed: Some(true),
                auto_deploy: Some(true),
                created_date: Some(now(&g)),
                default_route_settings: Some(RouteSettings {
                    detailed_metrics_enabled: Some(false),
                    ..Default::default()
                }),
                last_updated_date: Some(now(&g)),
                route_settings: Some(HashMap::new()),
                stage_name: Some("$default".into()),
                stage_variables: Some(HashMap::new()),
                tags: Some(HashMap::new()),
                ..Default::default()
            },
        );
        auto_deploy(&g, &mut a, &mut snaps);
    }
    state::save(&g.inner.store, None, &a, snaps).await?;
    Ok(to(&a.api))
}

pub async fn get_api(g: ApiGateway, cx: RequestContext, i: GetApiRequest) -> Result<GetApiResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    Ok(to(&a.api))
}

pub async fn get_apis(g: ApiGateway, cx: RequestContext, i: GetApisRequest) -> Result<GetApisResponse> {
    let mut apis: Vec<ApiRecord> = state::list(&g.inner.store)
        .await?
        .into_iter()
        .filter(|a| a.account == cx.account_id() && a.region == cx.region)
        .collect();
    apis.sort_by(|a, b| {
        a.api
            .created_date
            .cmp(&b.api.created_date)
            .then(a.api.api_id.cmp(&b.api.api_id))
    });
    let items: Vec<Api> = apis.into_iter().map(|a| a.api).collect();
    let (items, next) = page(items, i.next_token.as_deref(), i.max_results.as_deref())?;
    Ok(GetApisResponse {
        items: Some(items),
        next_token: next,
    })
}

pub async fn update_api(g: ApiGateway, cx: RequestContext, i: UpdateApiRequest) -> Result<UpdateApiResponse> {
    check_cors(&i.cors_configuration)?;
    let api_id = i.api_id.clone().unwrap_or_default();
    let api = change(&g, &cx, &api_id, i.cors_configuration.is_some(), |a, _| {
        let api = &mut a.api;
        if i.name.is_some() {
            api.name = i.name.clone();
        }
        if i.description.is_some() {
            api.description = i.description.clone();
        }
        if i.cors_configuration.is_some() {
            api.cors_configuration = i.cors_configuration.clone();
        }
        if i.disable_execute_api_endpoint.is_some() {
            api.disable_execute_api_endpoint = i.disable_execute_api_endpoint;
        }
        if i.route_selection_expression.is_some() {
            api.route_selection_expression = i.route_selection_expression.clone();
        }
        if i.api_key_selection_expression.is_some() {
            api.api_key_selection_expression = i.api_key_selection_expression.clone();
        }
        if i.version.is_some() {
            api.version = i.version.clone();
        }
        if i.disable_schema_validation.is_some() {
            api.disable_schema_validation = i.disable_schema_validation;
        }
        Ok(api.clone())
    })
    .await?;
    Ok(to(&api))
}

pub async fn delete_api(g: ApiGateway, cx: RequestContext, i: DeleteApiRequest) -> Result<()> {
    let api_id = i.api_id.unwrap_or_default();
    let (_, raw) = load(&g, &cx, &api_id).await?;
    state::delete(&g.inner.store, &api_id, &raw).await
}

pub async fn delete_cors_configuration(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteCorsConfigurationRequest,
) -> Result<()> {
    let api_id = i.api_id.unwrap_or_default();
    change(&g, &cx, &api_id, true, |a, _| {
        a.api.cors_configuration = None;
        Ok(())
    })
    .await
}

// ---- routes -------------------------------------------------------------------------------

fn check_route(a: &ApiRecord, r: &Route, except: Option<&str>) -> Result<()> {
    let key = r.route_key.as_deref().unwrap_or_default();
    if a.api.protocol_type.as_deref() == Some("HTTP") {
        crate::route::RouteKey::parse(key).map_err(ApiGatewayError::BadRequest)?;
    } else if key.is_empty() {
        return Err(ApiGatewayError::BadRequest("RouteKey is required".into()));
    }
    if a.routes
        .values()
        .any(|o| o.route_key.as_deref() == Some(key) && o.route_id.as_deref() != except)
    {
        return Err(ApiGatewayError::Conflict(format!(
            "Unable to create Route: Route with key {key} already exists for this API"
        )));
    }
    if let Some(t) = &r.target {
        let Some(id) = t.strip_prefix("integrations/") else {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid target {t}: a target has the form integrations/{{integration-id}}"
            )));
        };
        if !a.integrations.contains_key(id) {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid integration identifier specified {id}"
            )));
        }
    }
    let auth = r.authorization_type.as_deref().unwrap_or("NONE");
    match auth {
        "NONE" | "AWS_IAM" => {}
        "JWT" | "CUSTOM" => {
            let id = r.authorizer_id.as_deref().ok_or_else(|| {
                ApiGatewayError::BadRequest(format!("AuthorizerId is required for authorization type {auth}"))
            })?;
            let Some(z) = a.authorizers.get(id) else {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Invalid authorizer identifier specified {id}"
                )));
            };
            let kind = if auth == "JWT" { "JWT" } else { "REQUEST" };
            if z.authorizer_type.as_deref() != Some(kind) {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Authorization type {auth} does not match the type of authorizer {id}"
                )));
            }
        }
        other => {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid authorization type {other}"
            )));
        }
    }
    Ok(())
}

pub async fn create_route(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateRouteRequest,
) -> Result<CreateRouteResult> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let route = change(&g, &cx, &api_id, true, |a, _| {
        let id = new_id(7);
        let r = Route {
            api_gateway_managed: None,
            api_key_required: Some(i.api_key_required.unwrap_or(false)),
            authorization_scopes: i.authorization_scopes.clone(),
            authorization_type: Some(i.authorization_type.clone().unwrap_or_else(|| "NONE".into())),
            authorizer_id: i.authorizer_id.clone(),
            model_selection_expression: i.model_selection_expression.clone(),
            operation_name: i.operation_name.clone(),
            request_models: i.request_models.clone(),
            request_parameters: i.request_parameters.clone(),
            route_id: Some(id.clone()),
            route_key: i.route_key.clone(),
            route_response_selection_expression: i.route_response_selection_expression.clone(),
            target: i.target.clone(),
        };
        check_route(a, &r, None)?;
        a.routes.insert(id, r.clone());
        Ok(r)
    })
    .await?;
    Ok(to(&route))
}

pub async fn get_route(g: ApiGateway, cx: RequestContext, i: GetRouteRequest) -> Result<GetRouteResult> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let id = i.route_id.unwrap_or_default();
    a.routes
        .get(&id)
        .map(to)
        .ok_or_else(|| missing("Route", &cx, &id))
}

pub async fn get_routes(g: ApiGateway, cx: RequestContext, i: GetRoutesRequest) -> Result<GetRoutesResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let (items, next) = page(
        a.routes.into_values().collect(),
        i.next_token.as_deref(),
        i.max_results.as_deref(),
    )?;
    Ok(GetRoutesResponse {
        items: Some(items),
        next_token: next,
    })
}

pub async fn update_route(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateRouteRequest,
) -> Result<UpdateRouteResult> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let id = i.route_id.clone().unwrap_or_default();
    let route = change(&g, &cx, &api_id, true, |a, _| {
        let mut r = a
            .routes
            .get(&id)
            .cloned()
            .ok_or_else(|| missing("Route", &cx, &id))?;
        macro_rules! set {
            ($($f:ident),*) => { $( if i.$f.is_some() { r.$f = i.$f.clone(); } )* };
        }
        set!(
            api_key_required,
            authorization_scopes,
            authorization_type,
            authorizer_id,
            model_selection_expression,
            operation_name,
            request_models,
            request_parameters,
            route_key,
            route_response_selection_expression,
            target
        );
        if r.authorization_type.as_deref() == Some("NONE") {
            r.authorizer_id = None;
        }
        check_route(a, &r, Some(&id))?;
        a.routes.insert(id.clone(), r.clone());
        Ok(r)
    })
    .await?;
    Ok(to(&route))
}

pub async fn delete_route(g: ApiGateway, cx: RequestContext, i: DeleteRouteRequest) -> Result<()> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let id = i.route_id.clone().unwrap_or_default();
    change(&g, &cx, &api_id, true, |a, _| {
        a.routes
            .remove(&id)
            .map(|_| ())
            .ok_or_else(|| missing("Route", &cx, &id))
    })
    .await
}

// ---- integrations -------------------------------------------------------------------------

fn check_integration(a: &ApiRecord, n: &mut Integration) -> Result<()> {
    let http = a.api.protocol_type.as_deref() == Some("HTTP");
    let kind = n
        .integration_type
        .clone()
        .ok_or_else(|| ApiGatewayError::BadRequest("IntegrationType is required".into()))?;
    let allowed: &[&str] = if http {
        &["AWS_PROXY", "HTTP_PROXY"]
    } else {
        &["AWS", "AWS_PROXY", "HTTP", "HTTP_PROXY", "MOCK"]
    };
    if !allowed.contains(&kind.as_str()) {
        return Err(ApiGatewayError::BadRequest(format!(
            "Unsupported integration type {kind} for {} APIs",
            a.api.protocol_type.as_deref().unwrap_or_default()
        )));
    }
    if kind != "MOCK" && n.integration_uri.is_none() {
        return Err(ApiGatewayError::BadRequest(format!(
            "IntegrationUri is required for integration type {kind}"
        )));
    }
    if kind == "AWS_PROXY" && http {
        match n.payload_format_version.as_deref() {
            Some("1.0" | "2.0") => {}
            Some(v) => {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Unsupported payload format version {v}: AWS_PROXY integrations take 1.0 or 2.0"
                )));
            }
            None => {
                return Err(ApiGatewayError::BadRequest(
                    "PayloadFormatVersion is required for AWS_PROXY integrations of HTTP APIs".into(),
                ));
            }
        }
        let uri = n.integration_uri.as_deref().unwrap_or_default();
        if crate::http_api::function_of(uri).is_none() {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid integration URI specified: {uri} is not a Lambda function ARN"
            )));
        }
        n.integration_method.get_or_insert_with(|| "POST".into());
    }
    if kind == "HTTP_PROXY" {
        let uri = n.integration_uri.as_deref().unwrap_or_default();
        if !(uri.starts_with("http://") || uri.starts_with("https://")) {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid HTTP endpoint specified for URI: {uri}"
            )));
        }
        if n.integration_method.is_none() {
            return Err(ApiGatewayError::BadRequest(
                "IntegrationMethod is required for HTTP_PROXY integrations".into(),
            ));
        }
        match n.payload_format_version.as_deref() {
            None | Some("1.0") => n.payload_format_version = Some("1.0".into()),
            Some(v) => {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Unsupported payload format version {v}: HTTP_PROXY integrations take 1.0"
                )));
            }
        }
    }
    let max = if http { 30000 } else { 29000 };
    match n.timeout_in_millis {
        None => n.timeout_in_millis = Some(max),
        Some(t) if !(50..=max).contains(&t) => {
            return Err(ApiGatewayError::BadRequest(format!(
                "Timeout must be between 50 milliseconds and {max} milliseconds"
            )));
        }
        Some(_) => {}
    }
    n.connection_type.get_or_insert_with(|| "INTERNET".into());
    Ok(())
}

pub async fn create_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateIntegrationRequest,
) -> Result<CreateIntegrationResult> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let n = change(&g, &cx, &api_id, true, |a, _| {
        let id = new_id(7);
        let mut n: Integration = to(&i);
        n.integration_id = Some(id.clone());
        check_integration(a, &mut n)?;
        a.integrations.insert(id, n.clone());
        Ok(n)
    })
    .await?;
    Ok(to(&n))
}

pub async fn get_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: GetIntegrationRequest,
) -> Result<GetIntegrationResult> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let id = i.integration_id.unwrap_or_default();
    a.integrations
        .get(&id)
        .map(to)
        .ok_or_else(|| missing("Integration", &cx, &id))
}

pub async fn get_integrations(
    g: ApiGateway,
    cx: RequestContext,
    i: GetIntegrationsRequest,
) -> Result<GetIntegrationsResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let (items, next) = page(
        a.integrations.into_values().collect(),
        i.next_token.as_deref(),
        i.max_results.as_deref(),
    )?;
    Ok(GetIntegrationsResponse {
        items: Some(items),
        next_token: next,
    })
}

pub async fn update_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateIntegrationRequest,
) -> Result<UpdateIntegrationResult> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let id = i.integration_id.clone().unwrap_or_default();
    let n = change(&g, &cx, &api_id, true, |a, _| {
        let old = a
            .integrations
            .get(&id)
            .cloned()
            .ok_or_else(|| missing("Integration", &cx, &id))?;
        // Members the update names replace the stored ones.
        let mut merged = serde_json::to_value(&old).expect("shapes serialize");
        if let (Some(m), serde_json::Value::Object(update)) = (
            merged.as_object_mut(),
            serde_json::to_value(&i).expect("shapes serialize"),
        ) {
            for (k, v) in update {
                if k != "apiId" && k != "integrationId" && !v.is_null() {
                    m.insert(k, v);
                }
            }
        }
        let mut n: Integration =
            serde_json::from_value(merged).map_err(|e| ApiGatewayError::BadRequest(e.to_string()))?;
        check_integration(a, &mut n)?;
        a.integrations.insert(id.clone(), n.clone());
        Ok(n)
    })
    .await?;
    Ok(to(&n))
}

pub async fn delete_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteIntegrationRequest,
) -> Result<()> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let id = i.integration_id.clone().unwrap_or_default();
    change(&g, &cx, &api_id, true, |a, _| {
        if !a.integrations.contains_key(&id) {
            return Err(missing("Integration", &cx, &id));
        }
        let target = format!("integrations/{id}");
        if a.routes
            .values()
            .any(|r| r.target.as_deref() == Some(target.as_str()))
        {
            return Err(ApiGatewayError::Conflict(format!(
                "Cannot delete Integration {id} because it is used by a route"
            )));
        }
        a.integrations.remove(&id);
        Ok(())
    })
    .await
}

// ---- authorizers --------------------------------------------------------------------------

fn check_authorizer(a: &ApiRecord, z: &mut Authorizer) -> Result<()> {
    let kind = z
        .authorizer_type
        .clone()
        .ok_or_else(|| ApiGatewayError::BadRequest("AuthorizerType is required".into()))?;
    match kind.as_str() {
        "JWT" => {
            if a.api.protocol_type.as_deref() != Some("HTTP") {
                return Err(ApiGatewayError::BadRequest(
                    "JWT authorizers are supported only for HTTP APIs".into(),
                ));
            }
            let jwt = z.jwt_configuration.as_ref().ok_or_else(|| {
                ApiGatewayError::BadRequest("JwtConfiguration is required for JWT authorizers".into())
            })?;
            if jwt.issuer.as_deref().unwrap_or_default().is_empty() {
                return Err(ApiGatewayError::BadRequest(
                    "JwtConfiguration.Issuer is required".into(),
                ));
            }
            if jwt.audience.as_ref().is_none_or(|a| a.is_empty()) {
                return Err(ApiGatewayError::BadRequest(
                    "JwtConfiguration.Audience is required".into(),
                ));
            }
            if z.identity_source.as_ref().is_none_or(|s| s.is_empty()) {
                z.identity_source = Some(vec!["$request.header.Authorization".into()]);
            }
        }
        "REQUEST" => {
            let uri = z.authorizer_uri.as_deref().unwrap_or_default();
            if crate::http_api::function_of(uri).is_none() {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Invalid Authorizer URI: {uri}. Authorizer URI should be a valid API Gateway ARN that represents a Lambda function invocation."
                )));
            }
            if a.api.protocol_type.as_deref() == Some("HTTP") {
                match z.authorizer_payload_format_version.as_deref() {
                    Some("1.0" | "2.0") => {}
                    _ => {
                        return Err(ApiGatewayError::BadRequest(
                            "AuthorizerPayloadFormatVersion is required and must be 1.0 or 2.0 for REQUEST authorizers of HTTP APIs".into(),
                        ));
                    }
                }
                if z.enable_simple_responses == Some(true)
                    && z.authorizer_payload_format_version.as_deref() != Some("2.0")
                {
                    return Err(ApiGatewayError::BadRequest(
                        "Simple responses are supported only with payload format version 2.0".into(),
                    ));
                }
            }
            let ttl = z.authorizer_result_ttl_in_seconds.unwrap_or(0);
            if !(0..=3600).contains(&ttl) {
                return Err(ApiGatewayError::BadRequest(
                    "AuthorizerResultTtlInSeconds must be between 0 and 3600".into(),
                ));
            }
            if ttl > 0 && z.identity_source.as_ref().is_none_or(|s| s.is_empty()) {
                return Err(ApiGatewayError::BadRequest(
                    "IdentitySource is required when authorizer caching is enabled".into(),
                ));
            }
            z.authorizer_result_ttl_in_seconds = Some(ttl);
        }
        other => {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid authorizer type {other}"
            )));
        }
    }
    if z.name.as_deref().unwrap_or_default().is_empty() {
        return Err(ApiGatewayError::BadRequest("Name is required".into()));
    }
    Ok(())
}

pub async fn create_authorizer(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateAuthorizerRequest,
) -> Result<CreateAuthorizerResponse> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let z = change(&g, &cx, &api_id, true, |a, _| {
        let id = new_id(6);
        let mut z: Authorizer = to(&i);
        z.authorizer_id = Some(id.clone());
        check_authorizer(a, &mut z)?;
        a.authorizers.insert(id, z.clone());
        Ok(z)
    })
    .await?;
    Ok(to(&z))
}

pub async fn get_authorizer(
    g: ApiGateway,
    cx: RequestContext,
    i: GetAuthorizerRequest,
) -> Result<GetAuthorizerResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let id = i.authorizer_id.unwrap_or_default();
    a.authorizers
        .get(&id)
        .map(to)
        .ok_or_else(|| missing("Authorizer", &cx, &id))
}

pub async fn get_authorizers(
    g: ApiGateway,
    cx: RequestContext,
    i: GetAuthorizersRequest,
) -> Result<GetAuthorizersResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let (items, next) = page(
        a.authorizers.into_values().collect(),
        i.next_token.as_deref(),
        i.max_results.as_deref(),
    )?;
    Ok(GetAuthorizersResponse {
        items: Some(items),
        next_token: next,
    })
}

pub async fn update_authorizer(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateAuthorizerRequest,
) -> Result<UpdateAuthorizerResponse> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let id = i.authorizer_id.clone().unwrap_or_default();
    let z = change(&g, &cx, &api_id, true, |a, _| {
        let old = a
            .authorizers
            .get(&id)
            .cloned()
            .ok_or_else(|| missing("Authorizer", &cx, &id))?;
        let mut merged = serde_json::to_value(&old).expect("shapes serialize");
        if let (Some(m), serde_json::Value::Object(update)) = (
            merged.as_object_mut(),
            serde_json::to_value(&i).expect("shapes serialize"),
        ) {
            for (k, v) in update {
                if k != "apiId" && k != "authorizerId" && !v.is_null() {
                    m.insert(k, v);
                }
            }
        }
        let mut z: Authorizer =
            serde_json::from_value(merged).map_err(|e| ApiGatewayError::BadRequest(e.to_string()))?;
        check_authorizer(a, &mut z)?;
        a.authorizers.insert(id.clone(), z.clone());
        Ok(z)
    })
    .await?;
    g.inner.authorizers.forget();
    Ok(to(&z))
}

pub async fn delete_authorizer(g: ApiGateway, cx: RequestContext, i: DeleteAuthorizerRequest) -> Result<()> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let id = i.authorizer_id.clone().unwrap_or_default();
    change(&g, &cx, &api_id, true, |a, _| {
        if !a.authorizers.contains_key(&id) {
            return Err(missing("Authorizer", &cx, &id));
        }
        if a.routes
            .values()
            .any(|r| r.authorizer_id.as_deref() == Some(id.as_str()))
        {
            return Err(ApiGatewayError::Conflict(format!(
                "Cannot delete authorizer {id}: it is attached to a route"
            )));
        }
        a.authorizers.remove(&id);
        Ok(())
    })
    .await
}

// ---- stages and deployments ---------------------------------------------------------------

fn check_stage_name(name: &str) -> Result<()> {
    let ok = name == "$default"
        || (!name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'));
    if ok {
        Ok(())
    } else {
        Err(ApiGatewayError::BadRequest(format!(
            "Stage name only allows a-zA-Z0-9_- or $default: {name}"
        )))
    }
}

fn check_variables(vars: &Option<HashMap<String, String>>) -> Result<()> {
    for (k, v) in vars.iter().flatten() {
        if k.is_empty() || !k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ApiGatewayError::BadRequest(format!(
                "Stage variable name {k} is invalid: names take only a-zA-Z0-9_"
            )));
        }
        if v.len() > 2048 {
            return Err(ApiGatewayError::BadRequest(format!(
                "Stage variable value for {k} is longer than 2048 characters"
            )));
        }
    }
    Ok(())
}

pub async fn create_stage(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateStageRequest,
) -> Result<CreateStageResponse> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let name = required(&i.stage_name, "StageName")?.to_string();
    check_stage_name(&name)?;
    check_variables(&i.stage_variables)?;
    let stage = change(&g, &cx, &api_id, false, |a, snaps| {
        if a.stages.contains_key(&name) {
            return Err(ApiGatewayError::Conflict(format!("Stage already exists: {name}")));
        }
        if let Some(d) = &i.deployment_id
            && !a.deployments.contains_key(d)
        {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid deployment identifier specified {d}"
            )));
        }
        let mut s: Stage = to(&i);
        s.created_date = Some(now(&g));
        s.last_updated_date = s.created_date;
        s.auto_deploy = Some(i.auto_deploy.unwrap_or(false));
        s.stage_variables.get_or_insert_default();
        s.route_settings.get_or_insert_default();
        s.tags.get_or_insert_default();
        s.default_route_settings.get_or_insert_with(|| RouteSettings {
            detailed_metrics_enabled: Some(false),
            ..Default::default()
        });
        a.stages.insert(name.clone(), s);
        if i.auto_deploy == Some(true) {
            auto_deploy(&g, a, snaps);
        }
        Ok(a.stages[&name].clone())
    })
    .await?;
    Ok(to(&stage))
}

pub async fn get_stage(g: ApiGateway, cx: RequestContext, i: GetStageRequest) -> Result<GetStageResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let name = i.stage_name.unwrap_or_default();
    a.stages.get(&name).map(to).ok_or_else(|| {
        ApiGatewayError::NotFound(format!(
            "Invalid stage identifier specified {}:{name}",
            cx.account_id()
        ))
    })
}

pub async fn get_stages(g: ApiGateway, cx: RequestContext, i: GetStagesRequest) -> Result<GetStagesResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let (items, next) = page(
        a.stages.into_values().collect(),
        i.next_token.as_deref(),
        i.max_results.as_deref(),
    )?;
    Ok(GetStagesResponse {
        items: Some(items),
        next_token: next,
    })
}

pub async fn update_stage(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateStageRequest,
) -> Result<UpdateStageResponse> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let name = i.stage_name.clone().unwrap_or_default();
    check_variables(&i.stage_variables)?;
    let stage = change(&g, &cx, &api_id, false, |a, snaps| {
        let deployments = a.deployments.clone();
        let s = a.stages.get_mut(&name).ok_or_else(|| {
            ApiGatewayError::NotFound(format!(
                "Invalid stage identifier specified {}:{name}",
                cx.account_id()
            ))
        })?;
        if let Some(d) = &i.deployment_id
            && !deployments.contains_key(d)
        {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid deployment identifier specified {d}"
            )));
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if i.$f.is_some() { s.$f = i.$f.clone(); } )* };
        }
        set!(
            access_log_settings,
            auto_deploy,
            client_certificate_id,
            default_route_settings,
            deployment_id,
            description,
            route_settings
        );
        if let Some(vars) = &i.stage_variables {
            // Variables merge; an empty value removes one, as the console does.
            let current = s.stage_variables.get_or_insert_default();
            for (k, v) in vars {
                if v.is_empty() {
                    current.remove(k);
                } else {
                    current.insert(k.clone(), v.clone());
                }
            }
        }
        s.last_updated_date = Some(now(&g));
        if i.auto_deploy == Some(true) {
            auto_deploy(&g, a, snaps);
        }
        Ok(a.stages[&name].clone())
    })
    .await?;
    Ok(to(&stage))
}

pub async fn delete_stage(g: ApiGateway, cx: RequestContext, i: DeleteStageRequest) -> Result<()> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let name = i.stage_name.clone().unwrap_or_default();
    change(&g, &cx, &api_id, false, |a, _| {
        a.stages.remove(&name).map(|_| ()).ok_or_else(|| {
            ApiGatewayError::NotFound(format!(
                "Invalid stage identifier specified {}:{name}",
                cx.account_id()
            ))
        })
    })
    .await
}

pub async fn create_deployment(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateDeploymentRequest,
) -> Result<CreateDeploymentResponse> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let d = change(&g, &cx, &api_id, false, |a, snaps| {
        if a.routes.is_empty() {
            return Err(ApiGatewayError::BadRequest(
                "Unable to deploy API because no routes exist in this API".into(),
            ));
        }
        if let Some(name) = &i.stage_name {
            match a.stages.get(name) {
                None => {
                    return Err(ApiGatewayError::NotFound(format!(
                        "Invalid stage identifier specified {}:{name}",
                        cx.account_id()
                    )));
                }
                Some(s) if s.auto_deploy == Some(true) => {
                    return Err(ApiGatewayError::BadRequest(format!(
                        "Stage {name} has autoDeploy enabled: it cannot be deployed to manually"
                    )));
                }
                Some(_) => {}
            }
        }
        let d = deploy(&g, a, snaps, i.description.clone(), false);
        if let Some(name) = &i.stage_name
            && let Some(s) = a.stages.get_mut(name)
        {
            s.deployment_id = d.deployment_id.clone();
            s.last_updated_date = Some(now(&g));
        }
        Ok(d)
    })
    .await?;
    Ok(to(&d))
}

pub async fn get_deployment(
    g: ApiGateway,
    cx: RequestContext,
    i: GetDeploymentRequest,
) -> Result<GetDeploymentResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let id = i.deployment_id.unwrap_or_default();
    a.deployments
        .get(&id)
        .map(to)
        .ok_or_else(|| missing("Deployment", &cx, &id))
}

pub async fn get_deployments(
    g: ApiGateway,
    cx: RequestContext,
    i: GetDeploymentsRequest,
) -> Result<GetDeploymentsResponse> {
    let (a, _) = load(&g, &cx, i.api_id.as_deref().unwrap_or_default()).await?;
    let mut all: Vec<Deployment> = a.deployments.into_values().collect();
    all.sort_by(|x, y| {
        x.created_date
            .cmp(&y.created_date)
            .then(x.deployment_id.cmp(&y.deployment_id))
    });
    let (items, next) = page(all, i.next_token.as_deref(), i.max_results.as_deref())?;
    Ok(GetDeploymentsResponse {
        items: Some(items),
        next_token: next,
    })
}

pub async fn delete_deployment(g: ApiGateway, cx: RequestContext, i: DeleteDeploymentRequest) -> Result<()> {
    let api_id = i.api_id.clone().unwrap_or_default();
    let id = i.deployment_id.clone().unwrap_or_default();
    change(&g, &cx, &api_id, false, |a, _| {
        if !a.deployments.contains_key(&id) {
            return Err(missing("Deployment", &cx, &id));
        }
        if let Some((name, _)) = a
            .stages
            .iter()
            .find(|(_, s)| s.deployment_id.as_deref() == Some(id.as_str()))
        {
            return Err(ApiGatewayError::BadRequest(format!(
                "Active stages pointing to this deployment must be moved or deleted: {name}"
            )));
        }
        a.deployments.remove(&id);
        Ok(())
    })
    .await
}

// ---- tags ---------------------------------------------------------------------------------

/// The API and stage an ARN names: `arn:aws:apigateway:{region}::/apis/{id}[/stages/{name}]`.
fn tagged(arn: &str) -> Option<(String, Option<String>)> {
    let path = arn.split_once("::").map(|(_, p)| p)?;
    let rest = path.strip_prefix("/apis/")?;
    match rest.split_once("/stages/") {
        Some((api, stage)) => Some((api.to_string(), Some(stage.to_string()))),
        None if !rest.contains('/') => Some((rest.to_string(), None)),
        None => None,
    }
}

fn tags_of<'a>(
    a: &'a mut ApiRecord,
    stage: &Option<String>,
    cx: &RequestContext,
) -> Result<&'a mut HashMap<String, String>> {
    match stage {
        Some(name) => a
            .stages
            .get_mut(name)
            .map(|s| s.tags.get_or_insert_default())
            .ok_or_else(|| {
                ApiGatewayError::NotFound(format!(
                    "Invalid stage identifier specified {}:{name}",
                    cx.account_id()
                ))
            }),
        None => Ok(a.api.tags.get_or_insert_default()),
    }
}

fn resource(arn: &str) -> Result<(String, Option<String>)> {
    tagged(arn).ok_or_else(|| ApiGatewayError::BadRequest(format!("Invalid resource ARN {arn}")))
}

pub async fn tag_resource(
    g: ApiGateway,
    cx: RequestContext,
    i: TagResourceRequest,
) -> Result<TagResourceResponse> {
    let (api_id, stage) = resource(i.resource_arn.as_deref().unwrap_or_default())?;
    change(&g, &cx, &api_id, false, |a, _| {
        let tags = tags_of(a, &stage, &cx)?;
        tags.extend(i.tags.clone().unwrap_or_default());
        if tags.len() > 50 {
            return Err(ApiGatewayError::BadRequest(
                "A resource takes at most 50 tags".into(),
            ));
        }
        Ok(())
    })
    .await?;
    Ok(TagResourceResponse {})
}

pub async fn untag_resource(g: ApiGateway, cx: RequestContext, i: UntagResourceRequest) -> Result<()> {
    let (api_id, stage) = resource(i.resource_arn.as_deref().unwrap_or_default())?;
    change(&g, &cx, &api_id, false, |a, _| {
        let tags = tags_of(a, &stage, &cx)?;
        for k in i.tag_keys.iter().flatten() {
            tags.remove(k);
        }
        Ok(())
    })
    .await
}

pub async fn get_tags(g: ApiGateway, cx: RequestContext, i: GetTagsRequest) -> Result<GetTagsResponse> {
    let (api_id, stage) = resource(i.resource_arn.as_deref().unwrap_or_default())?;
    let (mut a, _) = load(&g, &cx, &api_id).await?;
    let tags = tags_of(&mut a, &stage, &cx)?.clone();
    Ok(GetTagsResponse { tags: Some(tags) })
}
