//! The management API of REST APIs (`apigateway`): APIs, resources, methods and their
//! responses, integrations and their responses, deployments, stages, authorizers, request
//! validators, models, API keys, usage plans, custom domain names with base path mappings,
//! tags, OpenAPI import and export.

pub mod generated;
pub mod openapi;
pub mod patch;

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use stratus_core::RequestContext;
use stratus_protocol::types::{Blob, Timestamp};
use stratus_store::{Scan, Txn};

use crate::state::{self, NS, new_id, to};
use crate::{ApiGateway, ApiGatewayError};
use generated::*;

type Result<T> = std::result::Result<T, ApiGatewayError>;

/// A REST API and everything under it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RestRecord {
    pub account: String,
    pub region: String,
    pub api: RestApi,
    /// Resources with their methods (`resourceMethods`), integrations and responses.
    pub resources: BTreeMap<String, Resource>,
    pub deployments: BTreeMap<String, Deployment>,
    pub stages: BTreeMap<String, Stage>,
    pub authorizers: BTreeMap<String, Authorizer>,
    pub validators: BTreeMap<String, RequestValidator>,
    pub models: BTreeMap<String, Model>,
}

/// What a deployment of a REST API serves.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct RestSnapshot {
    pub resources: BTreeMap<String, Resource>,
    pub authorizers: BTreeMap<String, Authorizer>,
    pub validators: BTreeMap<String, RequestValidator>,
    pub models: BTreeMap<String, Model>,
    pub binary_media_types: Vec<String>,
    pub api_key_source: String,
}

/// An API key of an account.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct KeyRecord {
    pub account: String,
    pub region: String,
    pub key: ApiKey,
}

/// A usage plan and the keys in it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PlanRecord {
    pub account: String,
    pub region: String,
    pub plan: UsagePlan,
    pub keys: Vec<String>,
}

/// A custom domain name and its base path mappings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct DomainRecord {
    pub account: String,
    pub region: String,
    pub domain: DomainName,
    pub mappings: BTreeMap<String, BasePathMapping>,
}

pub fn rest_key(id: &str) -> String {
    format!("v1/{id}")
}
pub fn snapshot_key(api: &str, dep: &str) -> String {
    format!("v1deploy/{api}/{dep}")
}
pub fn key_key(id: &str) -> String {
    format!("v1key/{id}")
}
pub fn key_value_key(value: &str) -> String {
    format!("v1keyvalue/{value}")
}
pub fn plan_key(id: &str) -> String {
    format!("v1plan/{id}")
}
pub fn domain_key(name: &str) -> String {
    format!("v1domain/{}", name.to_ascii_lowercase())
}

fn now(g: &ApiGateway) -> Timestamp {
    Timestamp::from_millis(g.inner.clock.now_ms() / 1000 * 1000)
}

fn not_found(what: &str, cx: &RequestContext, id: &str) -> ApiGatewayError {
    ApiGatewayError::NotFound(format!(
        "Invalid {what} identifier specified {}:{id}",
        cx.account_id()
    ))
}

fn decode<T: serde::de::DeserializeOwned>(raw: &[u8]) -> Result<T> {
    serde_json::from_slice(raw).map_err(|e| ApiGatewayError::Internal(e.to_string()))
}

fn conflict(e: stratus_store::StoreError) -> ApiGatewayError {
    match e {
        stratus_store::StoreError::ConditionFailed { .. } => ApiGatewayError::Conflict(
            "Unable to complete operation due to concurrent modification. Please try again later.".into(),
        ),
        other => other.into(),
    }
}

/// Reads a record of this account and region.
async fn read<T: serde::de::DeserializeOwned>(g: &ApiGateway, key: &str) -> Result<Option<(T, Vec<u8>)>> {
    match g.inner.store.get(NS, key.as_bytes()).await? {
        Some(raw) => Ok(Some((decode(&raw)?, raw))),
        None => Ok(None),
    }
}

fn mine(cx: &RequestContext, account: &str, region: &str) -> bool {
    account == cx.account_id() && region == cx.region
}

/// Replaces a record if nobody changed it since `raw` was read.
async fn replace<T: Serialize>(g: &ApiGateway, key: &str, raw: Vec<u8>, value: &T) -> Result<()> {
    let key = key.as_bytes().to_vec();
    g.inner
        .store
        .commit(
            Txn::new()
                .equals(NS, key.clone(), raw)
                .put(NS, key, state::encode(value)),
        )
        .await
        .map_err(conflict)
}

/// Deletes a record if nobody changed it since `raw` was read.
async fn remove(g: &ApiGateway, key: &str, raw: Vec<u8>) -> Result<()> {
    let key = key.as_bytes().to_vec();
    g.inner
        .store
        .commit(Txn::new().equals(NS, key.clone(), raw).delete(NS, key))
        .await
        .map_err(conflict)
}

pub async fn load(g: &ApiGateway, cx: &RequestContext, id: &str) -> Result<(RestRecord, Vec<u8>)> {
    match read::<RestRecord>(g, &rest_key(id)).await? {
        Some((r, raw)) if mine(cx, &r.account, &r.region) => Ok((r, raw)),
        _ => Err(not_found("API", cx, id)),
    }
}

/// Applies a change to a REST API, retrying when another change won the race.
async fn change<T>(
    g: &ApiGateway,
    cx: &RequestContext,
    id: &str,
    mut f: impl FnMut(&mut RestRecord, &mut Txn) -> Result<T>,
) -> Result<T> {
    for attempt in 0.. {
        let (mut r, raw) = load(g, cx, id).await?;
        let mut extra = Txn::new();
        let out = f(&mut r, &mut extra)?;
        let key = rest_key(id).into_bytes();
        let mut txn = Txn::new()
            .equals(NS, key.clone(), raw)
            .put(NS, key, state::encode(&r));
        txn.writes.extend(extra.writes);
        match g.inner.store.commit(txn).await {
            Ok(()) => return Ok(out),
            Err(stratus_store::StoreError::ConditionFailed { .. }) if attempt < 5 => continue,
            Err(e) => return Err(conflict(e)),
        }
    }
    unreachable!("the loop returns")
}

fn page<T: Clone>(
    items: Vec<T>,
    position: Option<&str>,
    limit: Option<i32>,
) -> Result<(Vec<T>, Option<String>)> {
    let start: usize = match position {
        Some(p) => p
            .parse()
            .map_err(|_| ApiGatewayError::BadRequest("Invalid position parameter".into()))?,
        None => 0,
    };
    let limit = match limit {
        Some(l) if !(1..=500).contains(&l) => {
            return Err(ApiGatewayError::BadRequest(
                "limit must be between 1 and 500".into(),
            ));
        }
        Some(l) => l as usize,
        None => 25,
    };
    let end = start.saturating_add(limit).min(items.len());
    let next = (end < items.len()).then(|| end.to_string());
    Ok((items.get(start..end).unwrap_or_default().to_vec(), next))
}

// ---- REST APIs ----------------------------------------------------------------------------

pub async fn create_rest_api(g: ApiGateway, cx: RequestContext, i: CreateRestApiRequest) -> Result<RestApi> {
    let name = i
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiGatewayError::BadRequest("Name is required".into()))?;
    let r = new_rest_api(&g, &cx, name, &i)?;
    let key = rest_key(r.api.id.as_deref().unwrap_or_default()).into_bytes();
    g.inner
        .store
        .commit(Txn::new().absent(NS, key.clone()).put(NS, key, state::encode(&r)))
        .await
        .map_err(conflict)?;
    Ok(r.api)
}

fn new_rest_api(
    g: &ApiGateway,
    cx: &RequestContext,
    name: String,
    i: &CreateRestApiRequest,
) -> Result<RestRecord> {
    if let Some(s) = &i.api_key_source
        && s != "HEADER"
        && s != "AUTHORIZER"
    {
        return Err(ApiGatewayError::BadRequest(format!("Invalid apiKeySource {s}")));
    }
    let id = new_id(10);
    let root_id = new_id(10);
    let mut r = RestRecord {
        account: cx.account_id().to_string(),
        region: cx.region.clone(),
        api: RestApi {
            id: Some(id),
            name: Some(name),
            description: i.description.clone(),
            created_date: Some(now(g)),
            version: i.version.clone(),
            binary_media_types: i.binary_media_types.clone(),
            minimum_compression_size: i.minimum_compression_size,
            api_key_source: Some(i.api_key_source.clone().unwrap_or_else(|| "HEADER".into())),
            endpoint_configuration: Some(i.endpoint_configuration.clone().unwrap_or(EndpointConfiguration {
                types: Some(vec!["EDGE".into()]),
                ip_address_type: Some("ipv4".into()),
                vpc_endpoint_ids: None,
            })),
            policy: i.policy.clone(),
            tags: i.tags.clone(),
            disable_execute_api_endpoint: Some(i.disable_execute_api_endpoint.unwrap_or(false)),
            root_resource_id: Some(root_id.clone()),
            api_status: Some("AVAILABLE".into()),
            ..Default::default()
        },
        ..Default::default()
    };
    r.resources.insert(
        root_id.clone(),
        Resource {
            id: Some(root_id),
            path: Some("/".into()),
            ..Default::default()
        },
    );
    Ok(r)
}

pub async fn get_rest_api(g: ApiGateway, cx: RequestContext, i: GetRestApiRequest) -> Result<RestApi> {
    Ok(load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default())
        .await?
        .0
        .api)
}

pub async fn get_rest_apis(g: ApiGateway, cx: RequestContext, i: GetRestApisRequest) -> Result<RestApis> {
    let rows = g.inner.store.scan(NS, &Scan::prefix(b"v1/")).await?;
    let mut apis: Vec<RestApi> = Vec::new();
    for (_, raw) in rows {
        let r: RestRecord = decode(&raw)?;
        if mine(&cx, &r.account, &r.region) {
            apis.push(r.api);
        }
    }
    apis.sort_by(|a, b| {
        a.created_date
            .partial_cmp(&b.created_date)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.id.cmp(&b.id))
    });
    let (items, position) = page(apis, i.position.as_deref(), i.limit)?;
    Ok(RestApis {
        items: Some(items),
        position,
    })
}

pub async fn update_rest_api(g: ApiGateway, cx: RequestContext, i: UpdateRestApiRequest) -> Result<RestApi> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let root = r.api.root_resource_id.clone();
        r.api = patch::apply(&r.api, i.patch_operations.as_deref().unwrap_or_default())?;
        r.api.id = Some(id.clone());
        r.api.root_resource_id = root;
        Ok(r.api.clone())
    })
    .await
}

pub async fn delete_rest_api(g: ApiGateway, cx: RequestContext, i: DeleteRestApiRequest) -> Result<()> {
    let id = i.rest_api_id.unwrap_or_default();
    let (_, raw) = load(&g, &cx, &id).await?;
    let key = rest_key(&id).into_bytes();
    g.inner
        .store
        .commit(
            Txn::new()
                .equals(NS, key.clone(), raw)
                .delete(NS, key)
                .delete_prefix(NS, format!("v1deploy/{id}/").into_bytes()),
        )
        .await
        .map_err(conflict)
}

pub async fn import_rest_api(g: ApiGateway, cx: RequestContext, i: ImportRestApiRequest) -> Result<RestApi> {
    let body = i.body.map(|b| b.0).unwrap_or_default();
    let doc = openapi::parse(&body)?;
    let name = openapi::title(&doc).unwrap_or_else(|| "imported".into());
    let mut r = new_rest_api(&g, &cx, name, &CreateRestApiRequest::default())?;
    openapi::import(&mut r, &doc, false, || new_id(10))?;
    let key = rest_key(r.api.id.as_deref().unwrap_or_default()).into_bytes();
    g.inner
        .store
        .commit(Txn::new().absent(NS, key.clone()).put(NS, key, state::encode(&r)))
        .await
        .map_err(conflict)?;
    Ok(r.api)
}

pub async fn put_rest_api(g: ApiGateway, cx: RequestContext, i: PutRestApiRequest) -> Result<RestApi> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let body = i.body.clone().map(|b| b.0).unwrap_or_default();
    let doc = openapi::parse(&body)?;
    let merge = i.mode.as_deref() == Some("merge");
    change(&g, &cx, &id, |r, _| {
        openapi::import(r, &doc, merge, || new_id(10))?;
        Ok(r.api.clone())
    })
    .await
}

pub async fn get_export(g: ApiGateway, cx: RequestContext, i: GetExportRequest) -> Result<ExportResponse> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let stage_name = i.stage_name.clone().unwrap_or_default();
    let stage = r
        .stages
        .get(&stage_name)
        .ok_or_else(|| not_found("Stage", &cx, &stage_name))?;
    let snapshot: RestSnapshot = match &stage.deployment_id {
        Some(d) => read::<RestSnapshot>(&g, &snapshot_key(r.api.id.as_deref().unwrap_or_default(), d))
            .await?
            .map(|(s, _)| s)
            .unwrap_or_default(),
        None => RestSnapshot::default(),
    };
    let kind = i.export_type.as_deref().unwrap_or_default();
    let doc = match kind {
        "oas30" => openapi::export(&r, &snapshot, &stage_name, g.inner.port, true),
        "swagger" => openapi::export(&r, &snapshot, &stage_name, g.inner.port, false),
        other => {
            return Err(ApiGatewayError::BadRequest(format!(
                "Unsupported export type {other}"
            )));
        }
    };
    if i.accepts.as_deref().is_some_and(|a| a.contains("yaml")) {
        return Ok(ExportResponse {
            content_type: Some("application/yaml".into()),
            content_disposition: Some(format!("attachment; filename=\"{kind}_{stage_name}.yaml\"")),
            body: Some(Blob(openapi::yaml_text(&doc).into_bytes())),
        });
    }
    Ok(ExportResponse {
        content_type: Some("application/json".into()),
        content_disposition: Some(format!("attachment; filename=\"{kind}_{stage_name}.json\"")),
        body: Some(Blob(serde_json::to_vec_pretty(&doc).unwrap_or_default())),
    })
}

// ---- resources ----------------------------------------------------------------------------

fn check_path_part(r: &RestRecord, parent: &str, part: &str, except: Option<&str>) -> Result<()> {
    let valid = !part.is_empty()
        && if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
            let name = name.strip_suffix('+').unwrap_or(name);
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
        } else {
            part.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._~:@!$&'()*+,;=".contains(c))
        };
    if !valid {
        return Err(ApiGatewayError::BadRequest(format!(
            "Resource's path part only allow a-zA-Z0-9._- and curly braces at the beginning and the end and an optional plus sign before the closing brace: {part}"
        )));
    }
    let siblings = r
        .resources
        .values()
        .filter(|x| x.parent_id.as_deref() == Some(parent) && x.id.as_deref() != except);
    for s in siblings {
        let other = s.path_part.as_deref().unwrap_or_default();
        if other == part {
            return Err(ApiGatewayError::Conflict(format!(
                "Another resource with the same parent already has this name: {part}"
            )));
        }
        if other.starts_with('{') && part.starts_with('{') {
            return Err(ApiGatewayError::BadRequest(format!(
                "A sibling ({other}) of this resource already has a variable path part -- only one is allowed"
            )));
        }
    }
    Ok(())
}

fn recompute_paths(r: &mut RestRecord) {
    let ids: Vec<String> = r.resources.keys().cloned().collect();
    for id in ids {
        let mut parts = Vec::new();
        let mut cur = Some(id.clone());
        let mut guard = 0;
        while let Some(c) = cur {
            guard += 1;
            if guard > 1000 {
                break;
            }
            let res = &r.resources[&c];
            if let Some(p) = &res.path_part {
                parts.push(p.clone());
            }
            cur = res.parent_id.clone().filter(|p| r.resources.contains_key(p));
        }
        parts.reverse();
        let path = format!("/{}", parts.join("/"));
        if let Some(res) = r.resources.get_mut(&id) {
            res.path = Some(path);
        }
    }
}

fn resource_view(res: &Resource, embed: bool) -> Resource {
    let mut out = res.clone();
    if !embed {
        out.resource_methods = res
            .resource_methods
            .as_ref()
            .map(|m| m.keys().map(|k| (k.clone(), Method::default())).collect());
    }
    if out.resource_methods.as_ref().is_some_and(|m| m.is_empty()) {
        out.resource_methods = None;
    }
    out
}

pub async fn create_resource(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateResourceRequest,
) -> Result<Resource> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let parent = i.parent_id.clone().unwrap_or_default();
        if !r.resources.contains_key(&parent) {
            return Err(not_found("Resource", &cx, &parent));
        }
        let part = i.path_part.clone().unwrap_or_default();
        check_path_part(r, &parent, &part, None)?;
        if r.resources[&parent]
            .path_part
            .as_deref()
            .is_some_and(|p| p.ends_with("+}"))
        {
            return Err(ApiGatewayError::BadRequest(
                "A greedy path variable must be the last part of a resource path".into(),
            ));
        }
        let rid = new_id(6);
        r.resources.insert(
            rid.clone(),
            Resource {
                id: Some(rid.clone()),
                parent_id: Some(parent),
                path_part: Some(part),
                ..Default::default()
            },
        );
        recompute_paths(r);
        Ok(r.resources[&rid].clone())
    })
    .await
}

pub async fn get_resource(g: ApiGateway, cx: RequestContext, i: GetResourceRequest) -> Result<Resource> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let rid = i.resource_id.unwrap_or_default();
    let embed = i.embed.iter().flatten().any(|e| e == "methods");
    r.resources
        .get(&rid)
        .map(|x| resource_view(x, embed))
        .ok_or_else(|| not_found("Resource", &cx, &rid))
}

pub async fn get_resources(g: ApiGateway, cx: RequestContext, i: GetResourcesRequest) -> Result<Resources> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let embed = i.embed.iter().flatten().any(|e| e == "methods");
    let mut all: Vec<Resource> = r.resources.values().map(|x| resource_view(x, embed)).collect();
    all.sort_by(|a, b| a.path.cmp(&b.path));
    let (items, position) = page(all, i.position.as_deref(), i.limit)?;
    Ok(Resources {
        items: Some(items),
        position,
    })
}

pub async fn update_resource(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateResourceRequest,
) -> Result<Resource> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let res = r
            .resources
            .get(&rid)
            .cloned()
            .ok_or_else(|| not_found("Resource", &cx, &rid))?;
        let mut new = patch::apply(&res, i.patch_operations.as_deref().unwrap_or_default())?;
        new.id = Some(rid.clone());
        if new.parent_id.is_none() != res.parent_id.is_none() {
            return Err(ApiGatewayError::BadRequest(
                "The root resource cannot be changed".into(),
            ));
        }
        if let Some(parent) = &new.parent_id {
            if !r.resources.contains_key(parent) {
                return Err(not_found("Resource", &cx, parent));
            }
            check_path_part(
                r,
                parent,
                new.path_part.as_deref().unwrap_or_default(),
                Some(&rid),
            )?;
        }
        r.resources.insert(rid.clone(), new);
        recompute_paths(r);
        Ok(resource_view(&r.resources[&rid], true))
    })
    .await
}

pub async fn delete_resource(g: ApiGateway, cx: RequestContext, i: DeleteResourceRequest) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let res = r
            .resources
            .get(&rid)
            .ok_or_else(|| not_found("Resource", &cx, &rid))?;
        if res.parent_id.is_none() {
            return Err(ApiGatewayError::BadRequest(
                "Cannot delete the root resource".into(),
            ));
        }
        // The resource and everything under it.
        let mut doomed = vec![rid.clone()];
        let mut i = 0;
        while i < doomed.len() {
            let cur = doomed[i].clone();
            doomed.extend(
                r.resources
                    .values()
                    .filter(|x| x.parent_id.as_deref() == Some(cur.as_str()))
                    .filter_map(|x| x.id.clone()),
            );
            i += 1;
        }
        for d in doomed {
            r.resources.remove(&d);
        }
        Ok(())
    })
    .await
}

// ---- methods, integrations and their responses ----------------------------------------------

const METHODS: &[&str] = &["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS", "ANY"];

fn method_mut<'a>(
    r: &'a mut RestRecord,
    cx: &RequestContext,
    rid: &str,
    method: &str,
) -> Result<&'a mut Method> {
    let res = r
        .resources
        .get_mut(rid)
        .ok_or_else(|| not_found("Resource", cx, rid))?;
    res.resource_methods
        .get_or_insert_default()
        .get_mut(method)
        .ok_or_else(|| not_found("Method", cx, method))
}

fn method_of(r: &RestRecord, cx: &RequestContext, rid: &str, method: &str) -> Result<Method> {
    let res = r
        .resources
        .get(rid)
        .ok_or_else(|| not_found("Resource", cx, rid))?;
    res.resource_methods
        .as_ref()
        .and_then(|m| m.get(method))
        .cloned()
        .ok_or_else(|| not_found("Method", cx, method))
}

fn check_method_auth(r: &RestRecord, m: &Method) -> Result<()> {
    match m.authorization_type.as_deref().unwrap_or("NONE") {
        "NONE" | "AWS_IAM" => Ok(()),
        kind @ ("CUSTOM" | "COGNITO_USER_POOLS") => {
            let id = m.authorizer_id.as_deref().unwrap_or_default();
            let z = r.authorizers.get(id).ok_or_else(|| {
                ApiGatewayError::BadRequest(format!("Invalid authorizer ID specified. Setting the authorization type to {kind} requires a valid authorizer."))
            })?;
            let want_cognito = kind == "COGNITO_USER_POOLS";
            if (z.r#type.as_deref() == Some("COGNITO_USER_POOLS")) != want_cognito {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Authorization type {kind} does not match the type of authorizer {id}"
                )));
            }
            Ok(())
        }
        other => Err(ApiGatewayError::BadRequest(format!(
            "Invalid authorization type specified: {other}"
        ))),
    }
}

pub async fn put_method(g: ApiGateway, cx: RequestContext, i: PutMethodRequest) -> Result<Method> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default().to_ascii_uppercase();
    if !METHODS.contains(&verb.as_str()) {
        return Err(ApiGatewayError::BadRequest(format!(
            "Invalid HttpMethod specified: {verb}"
        )));
    }
    change(&g, &cx, &id, |r, _| {
        let m = Method {
            http_method: Some(verb.clone()),
            authorization_type: Some(i.authorization_type.clone().unwrap_or_else(|| "NONE".into())),
            authorizer_id: i.authorizer_id.clone(),
            api_key_required: Some(i.api_key_required.unwrap_or(false)),
            request_validator_id: i.request_validator_id.clone(),
            operation_name: i.operation_name.clone(),
            request_parameters: i.request_parameters.clone(),
            request_models: i.request_models.clone(),
            authorization_scopes: i.authorization_scopes.clone(),
            ..Default::default()
        };
        check_method_auth(r, &m)?;
        if let Some(v) = &m.request_validator_id
            && !r.validators.contains_key(v)
        {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid Request Validator identifier specified {v}"
            )));
        }
        let res = r
            .resources
            .get_mut(&rid)
            .ok_or_else(|| not_found("Resource", &cx, &rid))?;
        let methods = res.resource_methods.get_or_insert_default();
        if methods.contains_key(&verb) {
            return Err(ApiGatewayError::Conflict(
                "Method already exists for this resource".into(),
            ));
        }
        methods.insert(verb.clone(), m.clone());
        Ok(m)
    })
    .await
}

pub async fn get_method(g: ApiGateway, cx: RequestContext, i: GetMethodRequest) -> Result<Method> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    method_of(
        &r,
        &cx,
        i.resource_id.as_deref().unwrap_or_default(),
        &i.http_method.unwrap_or_default(),
    )
}

pub async fn update_method(g: ApiGateway, cx: RequestContext, i: UpdateMethodRequest) -> Result<Method> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_of(r, &cx, &rid, &verb)?;
        let mut new = patch::apply(&m, i.patch_operations.as_deref().unwrap_or_default())?;
        new.http_method = Some(verb.clone());
        check_method_auth(r, &new)?;
        *method_mut(r, &cx, &rid, &verb)? = new.clone();
        Ok(new)
    })
    .await
}

pub async fn delete_method(g: ApiGateway, cx: RequestContext, i: DeleteMethodRequest) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let res = r
            .resources
            .get_mut(&rid)
            .ok_or_else(|| not_found("Resource", &cx, &rid))?;
        res.resource_methods
            .get_or_insert_default()
            .remove(&verb)
            .map(|_| ())
            .ok_or_else(|| not_found("Method", &cx, &verb))
    })
    .await
}

pub async fn put_method_response(
    g: ApiGateway,
    cx: RequestContext,
    i: PutMethodResponseRequest,
) -> Result<MethodResponse> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    let status = i.status_code.clone().unwrap_or_default();
    check_status(&status)?;
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        let resp = MethodResponse {
            status_code: Some(status.clone()),
            response_parameters: i.response_parameters.clone(),
            response_models: i.response_models.clone(),
        };
        m.method_responses
            .get_or_insert_default()
            .insert(status.clone(), resp.clone());
        Ok(resp)
    })
    .await
}

fn check_status(status: &str) -> Result<()> {
    if status.len() == 3
        && status.chars().all(|c| c.is_ascii_digit())
        && (100..600).contains(&status.parse::<u16>().unwrap_or(0))
    {
        Ok(())
    } else {
        Err(ApiGatewayError::BadRequest(format!(
            "Invalid status code specified: {status}"
        )))
    }
}

pub async fn get_method_response(
    g: ApiGateway,
    cx: RequestContext,
    i: GetMethodResponseRequest,
) -> Result<MethodResponse> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let m = method_of(
        &r,
        &cx,
        i.resource_id.as_deref().unwrap_or_default(),
        i.http_method.as_deref().unwrap_or_default(),
    )?;
    let status = i.status_code.unwrap_or_default();
    m.method_responses
        .and_then(|x| x.get(&status).cloned())
        .ok_or_else(|| not_found("Response status code", &cx, &status))
}

pub async fn update_method_response(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateMethodResponseRequest,
) -> Result<MethodResponse> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    let status = i.status_code.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        let responses = m.method_responses.get_or_insert_default();
        let old = responses
            .get(&status)
            .cloned()
            .ok_or_else(|| not_found("Response status code", &cx, &status))?;
        let new = patch::apply(&old, i.patch_operations.as_deref().unwrap_or_default())?;
        responses.insert(status.clone(), new.clone());
        Ok(new)
    })
    .await
}

pub async fn delete_method_response(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteMethodResponseRequest,
) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    let status = i.status_code.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        m.method_responses
            .get_or_insert_default()
            .remove(&status)
            .map(|_| ())
            .ok_or_else(|| not_found("Response status code", &cx, &status))
    })
    .await
}

fn check_integration(n: &mut Integration) -> Result<()> {
    let kind = n.r#type.clone().unwrap_or_default();
    match kind.as_str() {
        "MOCK" => {}
        "AWS" | "AWS_PROXY" => {
            let uri = n.uri.clone().unwrap_or_default();
            if crate::http_api::function_of(&uri).is_none() {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Invalid integration URI specified: Stratus integrates AWS and AWS_PROXY with Lambda functions ({uri})"
                )));
            }
            if n.http_method.as_deref().is_none_or(|m| m.is_empty()) {
                return Err(ApiGatewayError::BadRequest(
                    "Enumeration value for HttpMethod must be non-empty".into(),
                ));
            }
        }
        "HTTP" | "HTTP_PROXY" => {
            let uri = n.uri.clone().unwrap_or_default();
            if !(uri.starts_with("http://") || uri.starts_with("https://")) {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Invalid HTTP endpoint specified for URI: {uri}"
                )));
            }
            if n.http_method.as_deref().is_none_or(|m| m.is_empty()) {
                return Err(ApiGatewayError::BadRequest(
                    "Enumeration value for HttpMethod must be non-empty".into(),
                ));
            }
        }
        other => {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid integration type specified: {other}"
            )));
        }
    }
    match n.timeout_in_millis {
        None => n.timeout_in_millis = Some(29000),
        Some(t) if !(50..=29000).contains(&t) => {
            return Err(ApiGatewayError::BadRequest(
                "Timeout should be between 50 ms and 29000 ms".into(),
            ));
        }
        Some(_) => {}
    }
    n.passthrough_behavior
        .get_or_insert_with(|| "WHEN_NO_MATCH".into());
    n.connection_type.get_or_insert_with(|| "INTERNET".into());
    n.cache_namespace.get_or_insert_with(|| new_id(6));
    n.cache_key_parameters.get_or_insert_default();
    Ok(())
}

pub async fn put_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: PutIntegrationRequest,
) -> Result<Integration> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        let mut n = Integration {
            r#type: i.r#type.clone(),
            http_method: i.integration_http_method.clone(),
            uri: i.uri.clone(),
            connection_type: i.connection_type.clone(),
            connection_id: i.connection_id.clone(),
            credentials: i.credentials.clone(),
            request_parameters: i.request_parameters.clone(),
            request_templates: i.request_templates.clone(),
            passthrough_behavior: i.passthrough_behavior.clone(),
            content_handling: i.content_handling.clone(),
            timeout_in_millis: i.timeout_in_millis,
            cache_namespace: i.cache_namespace.clone(),
            cache_key_parameters: i.cache_key_parameters.clone(),
            ..Default::default()
        };
        check_integration(&mut n)?;
        m.method_integration = Some(n.clone());
        Ok(n)
    })
    .await
}

pub async fn get_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: GetIntegrationRequest,
) -> Result<Integration> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let m = method_of(
        &r,
        &cx,
        i.resource_id.as_deref().unwrap_or_default(),
        i.http_method.as_deref().unwrap_or_default(),
    )?;
    m.method_integration
        .ok_or_else(|| ApiGatewayError::NotFound("No integration defined for method".into()))
}

pub async fn update_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateIntegrationRequest,
) -> Result<Integration> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        let old = m
            .method_integration
            .clone()
            .ok_or_else(|| ApiGatewayError::NotFound("No integration defined for method".into()))?;
        let mut new = patch::apply(&old, i.patch_operations.as_deref().unwrap_or_default())?;
        check_integration(&mut new)?;
        m.method_integration = Some(new.clone());
        Ok(new)
    })
    .await
}

pub async fn delete_integration(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteIntegrationRequest,
) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        m.method_integration
            .take()
            .map(|_| ())
            .ok_or_else(|| ApiGatewayError::NotFound("No integration defined for method".into()))
    })
    .await
}

pub async fn put_integration_response(
    g: ApiGateway,
    cx: RequestContext,
    i: PutIntegrationResponseRequest,
) -> Result<IntegrationResponse> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    let status = i.status_code.clone().unwrap_or_default();
    check_status(&status)?;
    if let Some(p) = &i.selection_pattern
        && regex::Regex::new(p).is_err()
    {
        return Err(ApiGatewayError::BadRequest(format!(
            "Invalid selection pattern specified: {p}"
        )));
    }
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        let n = m
            .method_integration
            .as_mut()
            .ok_or_else(|| ApiGatewayError::NotFound("No integration defined for method".into()))?;
        let resp = IntegrationResponse {
            status_code: Some(status.clone()),
            selection_pattern: i.selection_pattern.clone(),
            response_parameters: i.response_parameters.clone(),
            response_templates: i.response_templates.clone(),
            content_handling: i.content_handling.clone(),
        };
        n.integration_responses
            .get_or_insert_default()
            .insert(status.clone(), resp.clone());
        Ok(resp)
    })
    .await
}

pub async fn get_integration_response(
    g: ApiGateway,
    cx: RequestContext,
    i: GetIntegrationResponseRequest,
) -> Result<IntegrationResponse> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let m = method_of(
        &r,
        &cx,
        i.resource_id.as_deref().unwrap_or_default(),
        i.http_method.as_deref().unwrap_or_default(),
    )?;
    let status = i.status_code.unwrap_or_default();
    m.method_integration
        .and_then(|n| n.integration_responses)
        .and_then(|x| x.get(&status).cloned())
        .ok_or_else(|| not_found("Response status code", &cx, &status))
}

pub async fn update_integration_response(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateIntegrationResponseRequest,
) -> Result<IntegrationResponse> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    let status = i.status_code.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        let responses = m
            .method_integration
            .as_mut()
            .ok_or_else(|| ApiGatewayError::NotFound("No integration defined for method".into()))?
            .integration_responses
            .get_or_insert_default();
        let old = responses
            .get(&status)
            .cloned()
            .ok_or_else(|| not_found("Response status code", &cx, &status))?;
        let new = patch::apply(&old, i.patch_operations.as_deref().unwrap_or_default())?;
        responses.insert(status.clone(), new.clone());
        Ok(new)
    })
    .await
}

pub async fn delete_integration_response(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteIntegrationResponseRequest,
) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let rid = i.resource_id.clone().unwrap_or_default();
    let verb = i.http_method.clone().unwrap_or_default();
    let status = i.status_code.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = method_mut(r, &cx, &rid, &verb)?;
        m.method_integration
            .as_mut()
            .and_then(|n| n.integration_responses.as_mut())
            .and_then(|x| x.remove(&status))
            .map(|_| ())
            .ok_or_else(|| not_found("Response status code", &cx, &status))
    })
    .await
}

// ---- deployments and stages ---------------------------------------------------------------

fn snapshot(r: &RestRecord) -> RestSnapshot {
    RestSnapshot {
        resources: r.resources.clone(),
        authorizers: r.authorizers.clone(),
        validators: r.validators.clone(),
        models: r.models.clone(),
        binary_media_types: r.api.binary_media_types.clone().unwrap_or_default(),
        api_key_source: r.api.api_key_source.clone().unwrap_or_else(|| "HEADER".into()),
    }
}

fn api_summary(r: &RestRecord) -> HashMap<String, HashMap<String, MethodSnapshot>> {
    r.resources
        .values()
        .filter_map(|res| {
            let methods = res.resource_methods.as_ref()?;
            Some((
                res.path.clone().unwrap_or_default(),
                methods
                    .iter()
                    .map(|(k, m)| {
                        (
                            k.clone(),
                            MethodSnapshot {
                                authorization_type: m.authorization_type.clone(),
                                api_key_required: m.api_key_required,
                            },
                        )
                    })
                    .collect(),
            ))
        })
        .collect()
}

pub async fn create_deployment(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateDeploymentRequest,
) -> Result<Deployment> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, txn| {
        let methods: Vec<(&Resource, &String, &Method)> = r
            .resources
            .values()
            .flat_map(|res| {
                res.resource_methods
                    .iter()
                    .flatten()
                    .map(move |(k, m)| (res, k, m))
            })
            .collect();
        if methods.is_empty() {
            return Err(ApiGatewayError::BadRequest(
                "The REST API doesn't contain any methods".into(),
            ));
        }
        if methods.iter().any(|(_, _, m)| m.method_integration.is_none()) {
            return Err(ApiGatewayError::BadRequest(
                "No integration defined for method".into(),
            ));
        }
        let dep_id = new_id(6);
        let d = Deployment {
            id: Some(dep_id.clone()),
            description: i.description.clone(),
            created_date: Some(now(&g)),
            api_summary: Some(api_summary(r)),
        };
        r.deployments.insert(dep_id.clone(), d.clone());
        txn.writes.push(stratus_store::Write::Put {
            ns: NS.into(),
            key: snapshot_key(&id, &dep_id).into_bytes(),
            value: state::encode(&snapshot(r)),
        });
        if let Some(name) = i.stage_name.clone().filter(|n| !n.is_empty()) {
            check_stage_name(&name)?;
            let stamp = now(&g);
            let s = r.stages.entry(name.clone()).or_insert_with(|| Stage {
                stage_name: Some(name.clone()),
                created_date: Some(stamp),
                cache_cluster_enabled: Some(i.cache_cluster_enabled.unwrap_or(false)),
                cache_cluster_size: i.cache_cluster_size.clone(),
                tracing_enabled: Some(false),
                method_settings: Some(HashMap::new()),
                ..Default::default()
            });
            s.deployment_id = Some(dep_id.clone());
            s.last_updated_date = Some(stamp);
            if i.stage_description.is_some() {
                s.description = i.stage_description.clone();
            }
            if let Some(vars) = &i.variables {
                s.variables.get_or_insert_default().extend(vars.clone());
            }
        }
        Ok(d)
    })
    .await
}

pub async fn get_deployment(
    g: ApiGateway,
    cx: RequestContext,
    i: GetDeploymentRequest,
) -> Result<Deployment> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let id = i.deployment_id.unwrap_or_default();
    let mut d = r
        .deployments
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("Deployment", &cx, &id))?;
    if !i.embed.iter().flatten().any(|e| e == "apisummary") {
        d.api_summary = None;
    }
    Ok(d)
}

pub async fn get_deployments(
    g: ApiGateway,
    cx: RequestContext,
    i: GetDeploymentsRequest,
) -> Result<Deployments> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let mut all: Vec<Deployment> = r
        .deployments
        .into_values()
        .map(|mut d| {
            d.api_summary = None;
            d
        })
        .collect();
    all.sort_by(|a, b| {
        a.created_date
            .partial_cmp(&b.created_date)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then(a.id.cmp(&b.id))
    });
    let (items, position) = page(all, i.position.as_deref(), i.limit)?;
    Ok(Deployments {
        items: Some(items),
        position,
    })
}

pub async fn delete_deployment(g: ApiGateway, cx: RequestContext, i: DeleteDeploymentRequest) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let dep = i.deployment_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, txn| {
        if !r.deployments.contains_key(&dep) {
            return Err(not_found("Deployment", &cx, &dep));
        }
        if r.stages
            .values()
            .any(|s| s.deployment_id.as_deref() == Some(dep.as_str()))
        {
            return Err(ApiGatewayError::BadRequest(
                "Active stages pointing to this deployment must be moved or deleted".into(),
            ));
        }
        r.deployments.remove(&dep);
        txn.writes.push(stratus_store::Write::Delete {
            ns: NS.into(),
            key: snapshot_key(&id, &dep).into_bytes(),
        });
        Ok(())
    })
    .await
}

fn check_stage_name(name: &str) -> Result<()> {
    if !name.is_empty()
        && name.len() <= 128
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        Err(ApiGatewayError::BadRequest(format!(
            "Stage name only allows a-zA-Z0-9_-: {name}"
        )))
    }
}

pub async fn create_stage(g: ApiGateway, cx: RequestContext, i: CreateStageRequest) -> Result<Stage> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let name = i.stage_name.clone().unwrap_or_default();
    check_stage_name(&name)?;
    change(&g, &cx, &id, |r, _| {
        if r.stages.contains_key(&name) {
            return Err(ApiGatewayError::Conflict("Stage already exists".into()));
        }
        let dep = i.deployment_id.clone().unwrap_or_default();
        if !r.deployments.contains_key(&dep) {
            return Err(not_found("Deployment", &cx, &dep));
        }
        let stamp = now(&g);
        let s = Stage {
            deployment_id: Some(dep),
            stage_name: Some(name.clone()),
            description: i.description.clone(),
            cache_cluster_enabled: Some(i.cache_cluster_enabled.unwrap_or(false)),
            cache_cluster_size: i.cache_cluster_size.clone(),
            cache_cluster_status: Some(
                if i.cache_cluster_enabled == Some(true) {
                    "AVAILABLE"
                } else {
                    "NOT_AVAILABLE"
                }
                .into(),
            ),
            method_settings: Some(HashMap::new()),
            variables: i.variables.clone(),
            tracing_enabled: Some(i.tracing_enabled.unwrap_or(false)),
            tags: i.tags.clone(),
            created_date: Some(stamp),
            last_updated_date: Some(stamp),
            ..Default::default()
        };
        r.stages.insert(name.clone(), s.clone());
        Ok(s)
    })
    .await
}

pub async fn get_stage(g: ApiGateway, cx: RequestContext, i: GetStageRequest) -> Result<Stage> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let name = i.stage_name.unwrap_or_default();
    r.stages
        .get(&name)
        .cloned()
        .ok_or_else(|| not_found("Stage", &cx, &name))
}

pub async fn get_stages(g: ApiGateway, cx: RequestContext, i: GetStagesRequest) -> Result<Stages> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let item = r
        .stages
        .into_values()
        .filter(|s| i.deployment_id.is_none() || s.deployment_id == i.deployment_id)
        .collect();
    Ok(Stages { item: Some(item) })
}

pub async fn update_stage(g: ApiGateway, cx: RequestContext, i: UpdateStageRequest) -> Result<Stage> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let name = i.stage_name.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let s = r
            .stages
            .get(&name)
            .cloned()
            .ok_or_else(|| not_found("Stage", &cx, &name))?;
        let mut new = patch::apply(&s, i.patch_operations.as_deref().unwrap_or_default())?;
        if let Some(d) = &new.deployment_id
            && !r.deployments.contains_key(d)
        {
            return Err(not_found("Deployment", &cx, d));
        }
        new.stage_name = Some(name.clone());
        new.cache_cluster_status = Some(
            if new.cache_cluster_enabled == Some(true) {
                "AVAILABLE"
            } else {
                "NOT_AVAILABLE"
            }
            .into(),
        );
        new.last_updated_date = Some(now(&g));
        r.stages.insert(name.clone(), new.clone());
        Ok(new)
    })
    .await
}

pub async fn delete_stage(g: ApiGateway, cx: RequestContext, i: DeleteStageRequest) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let name = i.stage_name.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        r.stages
            .remove(&name)
            .map(|_| ())
            .ok_or_else(|| not_found("Stage", &cx, &name))
    })
    .await
}

pub async fn flush_stage_cache(g: ApiGateway, cx: RequestContext, i: FlushStageCacheRequest) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let name = i.stage_name.clone().unwrap_or_default();
    let (r, _) = load(&g, &cx, &id).await?;
    if !r.stages.contains_key(&name) {
        return Err(not_found("Stage", &cx, &name));
    }
    g.inner.cache.flush(&id, &name);
    Ok(())
}

// ---- authorizers, validators, models ------------------------------------------------------

fn check_authorizer(z: &mut Authorizer) -> Result<()> {
    match z.r#type.as_deref() {
        Some("TOKEN") | Some("REQUEST") => {
            let uri = z.authorizer_uri.as_deref().unwrap_or_default();
            if crate::http_api::function_of(uri).is_none() {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Invalid Authorizer URI: {uri}. Authorizer URI should be a valid API Gateway ARN that represents a Lambda function invocation."
                )));
            }
            if z.r#type.as_deref() == Some("TOKEN")
                && z.identity_source.as_deref().unwrap_or_default().is_empty()
            {
                return Err(ApiGatewayError::BadRequest(
                    "Identity source is required for TOKEN authorizers".into(),
                ));
            }
            if let Some(re) = &z.identity_validation_expression
                && regex::Regex::new(re).is_err()
            {
                return Err(ApiGatewayError::BadRequest(format!(
                    "Invalid identity validation expression: {re}"
                )));
            }
        }
        Some("COGNITO_USER_POOLS") => {
            if z.provider_ar_ns.as_ref().is_none_or(|p| p.is_empty()) {
                return Err(ApiGatewayError::BadRequest(
                    "ProviderARNs are required for COGNITO_USER_POOLS authorizers".into(),
                ));
            }
            z.identity_source
                .get_or_insert_with(|| "method.request.header.Authorization".into());
        }
        other => {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid authorizer type specified: {}",
                other.unwrap_or_default()
            )));
        }
    }
    let ttl = z.authorizer_result_ttl_in_seconds.unwrap_or(300);
    if !(0..=3600).contains(&ttl) {
        return Err(ApiGatewayError::BadRequest(
            "Authorizer result TTL must be between 0 and 3600 seconds".into(),
        ));
    }
    z.authorizer_result_ttl_in_seconds = Some(ttl);
    if z.name.as_deref().unwrap_or_default().is_empty() {
        return Err(ApiGatewayError::BadRequest("Name is required".into()));
    }
    Ok(())
}

pub async fn create_authorizer(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateAuthorizerRequest,
) -> Result<Authorizer> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let mut z: Authorizer = to(&i);
        z.id = Some(new_id(6));
        check_authorizer(&mut z)?;
        r.authorizers.insert(z.id.clone().unwrap_or_default(), z.clone());
        Ok(z)
    })
    .await
}

pub async fn get_authorizer(
    g: ApiGateway,
    cx: RequestContext,
    i: GetAuthorizerRequest,
) -> Result<Authorizer> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let id = i.authorizer_id.unwrap_or_default();
    r.authorizers
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("Authorizer", &cx, &id))
}

pub async fn get_authorizers(
    g: ApiGateway,
    cx: RequestContext,
    i: GetAuthorizersRequest,
) -> Result<Authorizers> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let (items, position) = page(
        r.authorizers.into_values().collect(),
        i.position.as_deref(),
        i.limit,
    )?;
    Ok(Authorizers {
        items: Some(items),
        position,
    })
}

pub async fn update_authorizer(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateAuthorizerRequest,
) -> Result<Authorizer> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let zid = i.authorizer_id.clone().unwrap_or_default();
    let out = change(&g, &cx, &id, |r, _| {
        let z = r
            .authorizers
            .get(&zid)
            .cloned()
            .ok_or_else(|| not_found("Authorizer", &cx, &zid))?;
        let mut new = patch::apply(&z, i.patch_operations.as_deref().unwrap_or_default())?;
        new.id = Some(zid.clone());
        check_authorizer(&mut new)?;
        r.authorizers.insert(zid.clone(), new.clone());
        Ok(new)
    })
    .await?;
    g.inner.authorizers.forget();
    Ok(out)
}

pub async fn delete_authorizer(g: ApiGateway, cx: RequestContext, i: DeleteAuthorizerRequest) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let zid = i.authorizer_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        if !r.authorizers.contains_key(&zid) {
            return Err(not_found("Authorizer", &cx, &zid));
        }
        let used = r
            .resources
            .values()
            .flat_map(|x| x.resource_methods.iter().flatten())
            .any(|(_, m)| m.authorizer_id.as_deref() == Some(zid.as_str()));
        if used {
            return Err(ApiGatewayError::Conflict(
                "Cannot delete authorizer: it is still used by a method".into(),
            ));
        }
        r.authorizers.remove(&zid);
        Ok(())
    })
    .await
}

pub async fn create_request_validator(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateRequestValidatorRequest,
) -> Result<RequestValidator> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let v = RequestValidator {
            id: Some(new_id(6)),
            name: i.name.clone(),
            validate_request_body: Some(i.validate_request_body.unwrap_or(false)),
            validate_request_parameters: Some(i.validate_request_parameters.unwrap_or(false)),
        };
        r.validators.insert(v.id.clone().unwrap_or_default(), v.clone());
        Ok(v)
    })
    .await
}

pub async fn get_request_validator(
    g: ApiGateway,
    cx: RequestContext,
    i: GetRequestValidatorRequest,
) -> Result<RequestValidator> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let id = i.request_validator_id.unwrap_or_default();
    r.validators
        .get(&id)
        .cloned()
        .ok_or_else(|| not_found("Request Validator", &cx, &id))
}

pub async fn get_request_validators(
    g: ApiGateway,
    cx: RequestContext,
    i: GetRequestValidatorsRequest,
) -> Result<RequestValidators> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let (items, position) = page(
        r.validators.into_values().collect(),
        i.position.as_deref(),
        i.limit,
    )?;
    Ok(RequestValidators {
        items: Some(items),
        position,
    })
}

pub async fn update_request_validator(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateRequestValidatorRequest,
) -> Result<RequestValidator> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let vid = i.request_validator_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let v = r
            .validators
            .get(&vid)
            .cloned()
            .ok_or_else(|| not_found("Request Validator", &cx, &vid))?;
        let mut new = patch::apply(&v, i.patch_operations.as_deref().unwrap_or_default())?;
        new.id = Some(vid.clone());
        r.validators.insert(vid.clone(), new.clone());
        Ok(new)
    })
    .await
}

pub async fn delete_request_validator(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteRequestValidatorRequest,
) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let vid = i.request_validator_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        r.validators
            .remove(&vid)
            .map(|_| ())
            .ok_or_else(|| not_found("Request Validator", &cx, &vid))
    })
    .await
}

fn check_model(m: &Model) -> Result<()> {
    let name = m.name.as_deref().unwrap_or_default();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ApiGatewayError::BadRequest(format!(
            "Model name must be alphanumeric: {name}"
        )));
    }
    if let Some(s) = &m.schema
        && serde_json::from_str::<serde_json::Value>(s).is_err()
    {
        return Err(ApiGatewayError::BadRequest(
            "Invalid model schema specified: not JSON".into(),
        ));
    }
    Ok(())
}

pub async fn create_model(g: ApiGateway, cx: RequestContext, i: CreateModelRequest) -> Result<Model> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = Model {
            id: Some(new_id(6)),
            name: i.name.clone(),
            description: i.description.clone(),
            schema: i.schema.clone(),
            content_type: i.content_type.clone(),
        };
        check_model(&m)?;
        let name = m.name.clone().unwrap_or_default();
        if r.models.contains_key(&name) {
            return Err(ApiGatewayError::Conflict(
                "Model name already exists for this REST API".into(),
            ));
        }
        r.models.insert(name, m.clone());
        Ok(m)
    })
    .await
}

pub async fn get_model(g: ApiGateway, cx: RequestContext, i: GetModelRequest) -> Result<Model> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let name = i.model_name.unwrap_or_default();
    r.models
        .get(&name)
        .cloned()
        .ok_or_else(|| ApiGatewayError::NotFound(format!("Invalid model name specified: {name}")))
}

pub async fn get_models(g: ApiGateway, cx: RequestContext, i: GetModelsRequest) -> Result<Models> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let (items, position) = page(r.models.into_values().collect(), i.position.as_deref(), i.limit)?;
    Ok(Models {
        items: Some(items),
        position,
    })
}

pub async fn update_model(g: ApiGateway, cx: RequestContext, i: UpdateModelRequest) -> Result<Model> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let name = i.model_name.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        let m = r
            .models
            .get(&name)
            .cloned()
            .ok_or_else(|| ApiGatewayError::NotFound(format!("Invalid model name specified: {name}")))?;
        let mut new = patch::apply(&m, i.patch_operations.as_deref().unwrap_or_default())?;
        new.name = Some(name.clone());
        check_model(&new)?;
        r.models.insert(name.clone(), new.clone());
        Ok(new)
    })
    .await
}

pub async fn delete_model(g: ApiGateway, cx: RequestContext, i: DeleteModelRequest) -> Result<()> {
    let id = i.rest_api_id.clone().unwrap_or_default();
    let name = i.model_name.clone().unwrap_or_default();
    change(&g, &cx, &id, |r, _| {
        r.models
            .remove(&name)
            .map(|_| ())
            .ok_or_else(|| ApiGatewayError::NotFound(format!("Invalid model name specified: {name}")))
    })
    .await
}

// ---- API keys and usage plans -------------------------------------------------------------

async fn load_key(g: &ApiGateway, cx: &RequestContext, id: &str) -> Result<(KeyRecord, Vec<u8>)> {
    match read::<KeyRecord>(g, &key_key(id)).await? {
        Some((k, raw)) if mine(cx, &k.account, &k.region) => Ok((k, raw)),
        _ => Err(not_found("API Key", cx, id)),
    }
}

async fn load_plan(g: &ApiGateway, cx: &RequestContext, id: &str) -> Result<(PlanRecord, Vec<u8>)> {
    match read::<PlanRecord>(g, &plan_key(id)).await? {
        Some((p, raw)) if mine(cx, &p.account, &p.region) => Ok((p, raw)),
        _ => Err(ApiGatewayError::NotFound(format!(
            "Invalid Usage Plan ID specified: {id}"
        ))),
    }
}

pub async fn create_api_key(g: ApiGateway, cx: RequestContext, i: CreateApiKeyRequest) -> Result<ApiKey> {
    let value = match i.value.clone() {
        Some(v) if v.len() < 20 || v.len() > 128 => {
            return Err(ApiGatewayError::BadRequest(
                "API Key value should be at least 20 characters".into(),
            ));
        }
        Some(v) => v,
        None => stratus_core::ids::secret(40)
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .collect(),
    };
    let id = new_id(10);
    let stamp = now(&g);
    let key = ApiKey {
        id: Some(id.clone()),
        value: Some(value.clone()),
        name: Some(i.name.clone().unwrap_or_else(|| id.clone())),
        customer_id: i.customer_id.clone(),
        description: i.description.clone(),
        enabled: Some(i.enabled.unwrap_or(false)),
        created_date: Some(stamp),
        last_updated_date: Some(stamp),
        stage_keys: Some(
            i.stage_keys
                .iter()
                .flatten()
                .map(|s| {
                    format!(
                        "{}/{}",
                        s.rest_api_id.as_deref().unwrap_or_default(),
                        s.stage_name.as_deref().unwrap_or_default()
                    )
                })
                .collect(),
        ),
        tags: i.tags.clone(),
    };
    let rec = KeyRecord {
        account: cx.account_id().to_string(),
        region: cx.region.clone(),
        key: key.clone(),
    };
    g.inner
        .store
        .commit(
            Txn::new()
                .absent(NS, key_value_key(&value).into_bytes())
                .put(NS, key_key(&id).into_bytes(), state::encode(&rec))
                .put(NS, key_value_key(&value).into_bytes(), id.into_bytes()),
        )
        .await
        .map_err(|e| match e {
            stratus_store::StoreError::ConditionFailed { .. } => {
                ApiGatewayError::Conflict("API Key already exists".into())
            }
            other => other.into(),
        })?;
    Ok(key)
}

pub async fn get_api_key(g: ApiGateway, cx: RequestContext, i: GetApiKeyRequest) -> Result<ApiKey> {
    let (k, _) = load_key(&g, &cx, i.api_key.as_deref().unwrap_or_default()).await?;
    let mut key = k.key;
    if i.include_value != Some(true) {
        key.value = None;
    }
    Ok(key)
}

pub async fn get_api_keys(g: ApiGateway, cx: RequestContext, i: GetApiKeysRequest) -> Result<ApiKeys> {
    let rows = g.inner.store.scan(NS, &Scan::prefix(b"v1key/")).await?;
    let mut keys = Vec::new();
    for (_, raw) in rows {
        let k: KeyRecord = decode(&raw)?;
        if !mine(&cx, &k.account, &k.region) {
            continue;
        }
        let mut key = k.key;
        if let Some(q) = &i.name_query
            && !key.name.as_deref().unwrap_or_default().starts_with(q.as_str())
        {
            continue;
        }
        if i.customer_id.is_some() && key.customer_id != i.customer_id {
            continue;
        }
        if i.include_values != Some(true) {
            key.value = None;
        }
        keys.push(key);
    }
    let (items, position) = page(keys, i.position.as_deref(), i.limit)?;
    Ok(ApiKeys {
        items: Some(items),
        position,
        warnings: None,
    })
}

pub async fn update_api_key(g: ApiGateway, cx: RequestContext, i: UpdateApiKeyRequest) -> Result<ApiKey> {
    let id = i.api_key.clone().unwrap_or_default();
    let (mut k, raw) = load_key(&g, &cx, &id).await?;
    let value = k.key.value.clone();
    let mut new = patch::apply(&k.key, i.patch_operations.as_deref().unwrap_or_default())?;
    new.id = Some(id.clone());
    new.value = value;
    new.last_updated_date = Some(now(&g));
    k.key = new.clone();
    replace(&g, &key_key(&id), raw, &k).await?;
    new.value = None;
    Ok(new)
}

pub async fn delete_api_key(g: ApiGateway, cx: RequestContext, i: DeleteApiKeyRequest) -> Result<()> {
    let id = i.api_key.clone().unwrap_or_default();
    let (k, raw) = load_key(&g, &cx, &id).await?;
    g.inner
        .store
        .commit(
            Txn::new()
                .equals(NS, key_key(&id).into_bytes(), raw)
                .delete(NS, key_key(&id).into_bytes())
                .delete(
                    NS,
                    key_value_key(k.key.value.as_deref().unwrap_or_default()).into_bytes(),
                ),
        )
        .await
        .map_err(conflict)
}

async fn check_api_stages(g: &ApiGateway, cx: &RequestContext, stages: &[ApiStage]) -> Result<()> {
    for s in stages {
        let api = s.api_id.clone().unwrap_or_default();
        let stage = s.stage.clone().unwrap_or_default();
        let (r, _) = load(g, cx, &api).await?;
        if !r.stages.contains_key(&stage) {
            return Err(ApiGatewayError::BadRequest(format!(
                "Invalid stage identifier specified: {api}/{stage}"
            )));
        }
    }
    Ok(())
}

pub async fn create_usage_plan(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateUsagePlanRequest,
) -> Result<UsagePlan> {
    let name = i
        .name
        .clone()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiGatewayError::BadRequest("Name is required".into()))?;
    check_api_stages(&g, &cx, i.api_stages.as_deref().unwrap_or_default()).await?;
    if let Some(q) = &i.quota
        && !matches!(q.period.as_deref(), Some("DAY" | "WEEK" | "MONTH"))
    {
        return Err(ApiGatewayError::BadRequest(
            "Quota period must be DAY, WEEK or MONTH".into(),
        ));
    }
    let id = new_id(6);
    let plan = UsagePlan {
        id: Some(id.clone()),
        name: Some(name),
        description: i.description.clone(),
        api_stages: Some(i.api_stages.clone().unwrap_or_default()),
        throttle: i.throttle.clone(),
        quota: i.quota.clone(),
        product_code: None,
        tags: i.tags.clone(),
    };
    let rec = PlanRecord {
        account: cx.account_id().to_string(),
        region: cx.region.clone(),
        plan: plan.clone(),
        keys: Vec::new(),
    };
    g.inner
        .store
        .commit(Txn::new().put(NS, plan_key(&id).into_bytes(), state::encode(&rec)))
        .await?;
    Ok(plan)
}

pub async fn get_usage_plan(g: ApiGateway, cx: RequestContext, i: GetUsagePlanRequest) -> Result<UsagePlan> {
    Ok(load_plan(&g, &cx, i.usage_plan_id.as_deref().unwrap_or_default())
        .await?
        .0
        .plan)
}

pub async fn get_usage_plans(
    g: ApiGateway,
    cx: RequestContext,
    i: GetUsagePlansRequest,
) -> Result<UsagePlans> {
    let rows = g.inner.store.scan(NS, &Scan::prefix(b"v1plan/")).await?;
    let mut plans = Vec::new();
    for (_, raw) in rows {
        let p: PlanRecord = decode(&raw)?;
        if mine(&cx, &p.account, &p.region) && i.key_id.as_ref().is_none_or(|k| p.keys.contains(k)) {
            plans.push(p.plan);
        }
    }
    let (items, position) = page(plans, i.position.as_deref(), i.limit)?;
    Ok(UsagePlans {
        items: Some(items),
        position,
    })
}

pub async fn update_usage_plan(
    g: ApiGateway,
    cx: RequestContext,
    i: UpdateUsagePlanRequest,
) -> Result<UsagePlan> {
    let id = i.usage_plan_id.clone().unwrap_or_default();
    let (mut p, raw) = load_plan(&g, &cx, &id).await?;
    let mut ops = i.patch_operations.clone().unwrap_or_default();
    // `/apiStages` takes `apiId:stage` values.
    let mut stages = p.plan.api_stages.clone().unwrap_or_default();
    ops.retain(|op| {
        if op.path.as_deref() != Some("/apiStages") {
            return true;
        }
        let v = op.value.clone().unwrap_or_default();
        let (api, stage) = v.split_once(':').unwrap_or((&v, ""));
        match op.op.as_deref() {
            Some("add") => stages.push(ApiStage {
                api_id: Some(api.into()),
                stage: Some(stage.into()),
                throttle: None,
            }),
            Some("remove") => {
                stages.retain(|s| !(s.api_id.as_deref() == Some(api) && s.stage.as_deref() == Some(stage)))
            }
            _ => {}
        }
        false
    });
    check_api_stages(&g, &cx, &stages).await?;
    let mut new = patch::apply(&p.plan, &ops)?;
    new.id = Some(id.clone());
    new.api_stages = Some(stages);
    p.plan = new.clone();
    replace(&g, &plan_key(&id), raw, &p).await?;
    Ok(new)
}

pub async fn delete_usage_plan(g: ApiGateway, cx: RequestContext, i: DeleteUsagePlanRequest) -> Result<()> {
    let id = i.usage_plan_id.clone().unwrap_or_default();
    let (_, raw) = load_plan(&g, &cx, &id).await?;
    remove(&g, &plan_key(&id), raw).await
}

fn plan_key_view(k: &ApiKey) -> UsagePlanKey {
    UsagePlanKey {
        id: k.id.clone(),
        r#type: Some("API_KEY".into()),
        value: k.value.clone(),
        name: k.name.clone(),
    }
}

pub async fn create_usage_plan_key(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateUsagePlanKeyRequest,
) -> Result<UsagePlanKey> {
    let id = i.usage_plan_id.clone().unwrap_or_default();
    if i.key_type.as_deref() != Some("API_KEY") {
        return Err(ApiGatewayError::BadRequest("keyType must be API_KEY".into()));
    }
    let key_id = i.key_id.clone().unwrap_or_default();
    let (k, _) = load_key(&g, &cx, &key_id).await?;
    let (mut p, raw) = load_plan(&g, &cx, &id).await?;
    if p.keys.contains(&key_id) {
        return Err(ApiGatewayError::Conflict(format!(
            "Usage Plan {id} cannot be added because API Key {key_id} cannot reference multiple Usage Plans with the same API Stage"
        )));
    }
    p.keys.push(key_id.clone());
    replace(&g, &plan_key(&id), raw, &p).await?;
    Ok(plan_key_view(&k.key))
}

pub async fn get_usage_plan_key(
    g: ApiGateway,
    cx: RequestContext,
    i: GetUsagePlanKeyRequest,
) -> Result<UsagePlanKey> {
    let (p, _) = load_plan(&g, &cx, i.usage_plan_id.as_deref().unwrap_or_default()).await?;
    let key_id = i.key_id.unwrap_or_default();
    if !p.keys.contains(&key_id) {
        return Err(ApiGatewayError::NotFound(format!(
            "Invalid Usage Plan Key identifier specified: {key_id}"
        )));
    }
    let (k, _) = load_key(&g, &cx, &key_id).await?;
    Ok(plan_key_view(&k.key))
}

pub async fn get_usage_plan_keys(
    g: ApiGateway,
    cx: RequestContext,
    i: GetUsagePlanKeysRequest,
) -> Result<UsagePlanKeys> {
    let (p, _) = load_plan(&g, &cx, i.usage_plan_id.as_deref().unwrap_or_default()).await?;
    let mut out = Vec::new();
    for key_id in &p.keys {
        if let Ok((k, _)) = load_key(&g, &cx, key_id).await {
            out.push(plan_key_view(&k.key));
        }
    }
    let (items, position) = page(out, i.position.as_deref(), i.limit)?;
    Ok(UsagePlanKeys {
        items: Some(items),
        position,
    })
}

pub async fn delete_usage_plan_key(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteUsagePlanKeyRequest,
) -> Result<()> {
    let id = i.usage_plan_id.clone().unwrap_or_default();
    let key_id = i.key_id.clone().unwrap_or_default();
    let (mut p, raw) = load_plan(&g, &cx, &id).await?;
    if !p.keys.contains(&key_id) {
        return Err(ApiGatewayError::NotFound(format!(
            "Invalid Usage Plan Key identifier specified: {key_id}"
        )));
    }
    p.keys.retain(|k| *k != key_id);
    replace(&g, &plan_key(&id), raw, &p).await
}

pub async fn get_usage(g: ApiGateway, cx: RequestContext, i: GetUsageRequest) -> Result<Usage> {
    let id = i.usage_plan_id.clone().unwrap_or_default();
    let (p, _) = load_plan(&g, &cx, &id).await?;
    let (start, end) = (
        i.start_date.clone().unwrap_or_default(),
        i.end_date.clone().unwrap_or_default(),
    );
    let parse =
        |s: &str| time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok();
    let (Some(from), Some(to)) = (parse(&start), parse(&end)) else {
        return Err(ApiGatewayError::BadRequest(
            "startDate and endDate must be dates (yyyy-MM-dd)".into(),
        ));
    };
    if to < from {
        return Err(ApiGatewayError::BadRequest(
            "The endDate must not be before the startDate".into(),
        ));
    }
    if (to - from).whole_days() > 366 {
        return Err(ApiGatewayError::BadRequest(
            "The date range must not exceed one year".into(),
        ));
    }
    let limit = p.plan.quota.as_ref().and_then(|q| q.limit).unwrap_or(0) as i64;
    let mut items = HashMap::new();
    for key in &p.keys {
        if i.key_id.as_ref().is_some_and(|k| k != key) {
            continue;
        }
        let mut days = Vec::new();
        let mut d = from;
        while d <= to {
            let used = g.inner.usage.used_on(&id, key, d) as i64;
            days.push(vec![used, (limit - used).max(0)]);
            d = d.next_day().unwrap_or(d);
        }
        items.insert(key.clone(), days);
    }
    Ok(Usage {
        usage_plan_id: Some(id),
        start_date: Some(start),
        end_date: Some(end),
        position: None,
        items: Some(items),
    })
}

// ---- custom domain names ------------------------------------------------------------------

async fn load_domain(g: &ApiGateway, cx: &RequestContext, name: &str) -> Result<(DomainRecord, Vec<u8>)> {
    match read::<DomainRecord>(g, &domain_key(name)).await? {
        Some((d, raw)) if mine(cx, &d.account, &d.region) => Ok((d, raw)),
        _ => Err(ApiGatewayError::NotFound(format!(
            "Invalid domain name identifier specified {name}"
        ))),
    }
}

pub async fn create_domain_name(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateDomainNameRequest,
) -> Result<DomainName> {
    let name = i.domain_name.clone().unwrap_or_default().to_ascii_lowercase();
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .split('.')
            .all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid {
        return Err(ApiGatewayError::BadRequest(format!(
            "Invalid domain name: {name}"
        )));
    }
    let d = DomainName {
        domain_name: Some(name.clone()),
        domain_name_id: Some(new_id(6)),
        certificate_name: i.certificate_name.clone(),
        certificate_arn: i.certificate_arn.clone(),
        regional_certificate_arn: i.regional_certificate_arn.clone(),
        regional_domain_name: Some(format!("d-{}.execute-api.localhost", new_id(10))),
        distribution_domain_name: Some(format!("{}.cloudfront.localhost", new_id(14))),
        endpoint_configuration: i.endpoint_configuration.clone(),
        domain_name_status: Some("AVAILABLE".into()),
        security_policy: Some(i.security_policy.clone().unwrap_or_else(|| "TLS_1_2".into())),
        tags: i.tags.clone(),
        ..Default::default()
    };
    let rec = DomainRecord {
        account: cx.account_id().to_string(),
        region: cx.region.clone(),
        domain: d.clone(),
        mappings: BTreeMap::new(),
    };
    let key = domain_key(&name).into_bytes();
    g.inner
        .store
        .commit(
            Txn::new()
                .absent(NS, key.clone())
                .put(NS, key, state::encode(&rec)),
        )
        .await
        .map_err(|e| match e {
            stratus_store::StoreError::ConditionFailed { .. } => {
                ApiGatewayError::Conflict("The domain name you provided already exists.".into())
            }
            other => other.into(),
        })?;
    g.inner.domains.add(&name);
    Ok(d)
}

pub async fn get_domain_name(
    g: ApiGateway,
    cx: RequestContext,
    i: GetDomainNameRequest,
) -> Result<DomainName> {
    Ok(load_domain(&g, &cx, i.domain_name.as_deref().unwrap_or_default())
        .await?
        .0
        .domain)
}

pub async fn get_domain_names(
    g: ApiGateway,
    cx: RequestContext,
    i: GetDomainNamesRequest,
) -> Result<DomainNames> {
    let rows = g.inner.store.scan(NS, &Scan::prefix(b"v1domain/")).await?;
    let mut out = Vec::new();
    for (_, raw) in rows {
        let d: DomainRecord = decode(&raw)?;
        if mine(&cx, &d.account, &d.region) {
            out.push(d.domain);
        }
    }
    let (items, position) = page(out, i.position.as_deref(), i.limit)?;
    Ok(DomainNames {
        items: Some(items),
        position,
    })
}

pub async fn delete_domain_name(g: ApiGateway, cx: RequestContext, i: DeleteDomainNameRequest) -> Result<()> {
    let name = i.domain_name.clone().unwrap_or_default();
    let (_, raw) = load_domain(&g, &cx, &name).await?;
    remove(&g, &domain_key(&name), raw).await?;
    g.inner.domains.remove(&name);
    Ok(())
}

pub async fn create_base_path_mapping(
    g: ApiGateway,
    cx: RequestContext,
    i: CreateBasePathMappingRequest,
) -> Result<BasePathMapping> {
    let name = i.domain_name.clone().unwrap_or_default();
    let api = i.rest_api_id.clone().unwrap_or_default();
    let (r, _) = load(&g, &cx, &api).await?;
    if let Some(s) = &i.stage
        && !r.stages.contains_key(s)
    {
        return Err(ApiGatewayError::BadRequest(format!(
            "Invalid stage identifier specified: {s}"
        )));
    }
    let base = match i.base_path.as_deref() {
        None | Some("") | Some("(none)") => "(none)".to_string(),
        Some(b) => b.trim_matches('/').to_string(),
    };
    let (mut d, raw) = load_domain(&g, &cx, &name).await?;
    if d.mappings.contains_key(&base) {
        return Err(ApiGatewayError::Conflict(
            "Base path already exists for this domain name".into(),
        ));
    }
    let m = BasePathMapping {
        base_path: Some(base.clone()),
        rest_api_id: Some(api),
        stage: i.stage.clone(),
    };
    d.mappings.insert(base, m.clone());
    replace(&g, &domain_key(&name), raw, &d).await?;
    Ok(m)
}

pub async fn get_base_path_mapping(
    g: ApiGateway,
    cx: RequestContext,
    i: GetBasePathMappingRequest,
) -> Result<BasePathMapping> {
    let (d, _) = load_domain(&g, &cx, i.domain_name.as_deref().unwrap_or_default()).await?;
    let base = i.base_path.unwrap_or_default();
    d.mappings.get(&base).cloned().ok_or_else(|| {
        ApiGatewayError::NotFound(format!("Invalid base path mapping identifier specified {base}"))
    })
}

pub async fn get_base_path_mappings(
    g: ApiGateway,
    cx: RequestContext,
    i: GetBasePathMappingsRequest,
) -> Result<BasePathMappings> {
    let (d, _) = load_domain(&g, &cx, i.domain_name.as_deref().unwrap_or_default()).await?;
    let (items, position) = page(d.mappings.into_values().collect(), i.position.as_deref(), i.limit)?;
    Ok(BasePathMappings {
        items: Some(items),
        position,
    })
}

pub async fn delete_base_path_mapping(
    g: ApiGateway,
    cx: RequestContext,
    i: DeleteBasePathMappingRequest,
) -> Result<()> {
    let name = i.domain_name.clone().unwrap_or_default();
    let base = i.base_path.clone().unwrap_or_default();
    let (mut d, raw) = load_domain(&g, &cx, &name).await?;
    if d.mappings.remove(&base).is_none() {
        return Err(ApiGatewayError::NotFound(format!(
            "Invalid base path mapping identifier specified {base}"
        )));
    }
    replace(&g, &domain_key(&name), raw, &d).await
}

// ---- tags ---------------------------------------------------------------------------------

/// `arn:aws:apigateway:{region}::/restapis/{id}[/stages/{name}]`, `/apikeys/{id}`,
/// `/usageplans/{id}`, `/domainnames/{name}`.
enum Tagged {
    Api(String),
    Stage(String, String),
    Key(String),
    Plan(String),
    Domain(String),
}

fn tagged(arn: &str) -> Result<Tagged> {
    let bad = || ApiGatewayError::BadRequest(format!("Invalid resource ARN {arn}"));
    let path = arn.split_once("::").map(|(_, p)| p).ok_or_else(bad)?;
    let segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    Ok(match segs.as_slice() {
        ["restapis", id] => Tagged::Api(id.to_string()),
        ["restapis", id, "stages", s] => Tagged::Stage(id.to_string(), s.to_string()),
        ["apikeys", id] => Tagged::Key(id.to_string()),
        ["usageplans", id] => Tagged::Plan(id.to_string()),
        ["domainnames", d] => Tagged::Domain(d.to_string()),
        _ => return Err(bad()),
    })
}

async fn edit_tags(
    g: &ApiGateway,
    cx: &RequestContext,
    arn: &str,
    f: impl Fn(&mut HashMap<String, String>) + Copy,
) -> Result<HashMap<String, String>> {
    match tagged(arn)? {
        Tagged::Api(id) => {
            change(g, cx, &id, |r, _| {
                let t = r.api.tags.get_or_insert_default();
                f(t);
                Ok(t.clone())
            })
            .await
        }
        Tagged::Stage(id, s) => {
            change(g, cx, &id, |r, _| {
                let st = r.stages.get_mut(&s).ok_or_else(|| not_found("Stage", cx, &s))?;
                let t = st.tags.get_or_insert_default();
                f(t);
                Ok(t.clone())
            })
            .await
        }
        Tagged::Key(id) => {
            let (mut k, raw) = load_key(g, cx, &id).await?;
            let t = k.key.tags.get_or_insert_default();
            f(t);
            let t = t.clone();
            replace(g, &key_key(&id), raw, &k).await?;
            Ok(t)
        }
        Tagged::Plan(id) => {
            let (mut p, raw) = load_plan(g, cx, &id).await?;
            let t = p.plan.tags.get_or_insert_default();
            f(t);
            let t = t.clone();
            replace(g, &plan_key(&id), raw, &p).await?;
            Ok(t)
        }
        Tagged::Domain(name) => {
            let (mut d, raw) = load_domain(g, cx, &name).await?;
            let t = d.domain.tags.get_or_insert_default();
            f(t);
            let t = t.clone();
            replace(g, &domain_key(&name), raw, &d).await?;
            Ok(t)
        }
    }
}

pub async fn tag_resource(g: ApiGateway, cx: RequestContext, i: TagResourceRequest) -> Result<()> {
    let tags = i.tags.clone().unwrap_or_default();
    let arn = i.resource_arn.clone().unwrap_or_default();
    let tags_ref = &tags;
    let out = edit_tags(&g, &cx, &arn, move |t| t.extend(tags_ref.clone())).await?;
    if out.len() > 50 {
        return Err(ApiGatewayError::BadRequest(
            "A resource takes at most 50 tags".into(),
        ));
    }
    Ok(())
}

pub async fn untag_resource(g: ApiGateway, cx: RequestContext, i: UntagResourceRequest) -> Result<()> {
    let keys = i.tag_keys.clone().unwrap_or_default();
    let arn = i.resource_arn.clone().unwrap_or_default();
    let keys_ref = &keys;
    edit_tags(&g, &cx, &arn, move |t| {
        for k in keys_ref {
            t.remove(k);
        }
    })
    .await?;
    Ok(())
}

pub async fn get_tags(g: ApiGateway, cx: RequestContext, i: GetTagsRequest) -> Result<Tags> {
    let arn = i.resource_arn.clone().unwrap_or_default();
    let tags = edit_tags(&g, &cx, &arn, |_| {}).await?;
    Ok(Tags { tags: Some(tags) })
}

pub async fn test_invoke_method(
    g: ApiGateway,
    cx: RequestContext,
    i: TestInvokeMethodRequest,
) -> Result<TestInvokeMethodResponse> {
    let (r, _) = load(&g, &cx, i.rest_api_id.as_deref().unwrap_or_default()).await?;
    let started = std::time::Instant::now();
    let resp = crate::rest_api::test_invoke(&g, &r, &i).await?;
    let headers: HashMap<String, String> = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Ok(TestInvokeMethodResponse {
        status: Some(resp.status().as_u16() as i32),
        body: Some(String::from_utf8_lossy(resp.body()).into_owned()),
        headers: Some(headers),
        multi_value_headers: None,
        log: Some(String::new()),
        latency: Some(started.elapsed().as_millis() as i64),
    })
}
