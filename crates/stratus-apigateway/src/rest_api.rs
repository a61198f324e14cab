//! The data plane of REST APIs: `/{stage}/{path}` finds the stage's deployment, the resource and
//! method, then applies throttling, API keys with usage plans, the authorizer (TOKEN or
//! REQUEST Lambda, IAM), request validation, the stage cache, and the integration — Lambda
//! proxy, Lambda with mapping templates, HTTP, HTTP proxy or MOCK — with integration responses
//! chosen by selection pattern and mapped to method responses. Errors are REST API Gateway's
//! (`{"message":"Missing Authentication Token"}` for no resource, `Forbidden`, `Internal server
//! error`...).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::http_api::{
    Incoming, clf_time, domain, forward, function_of, message, protocol, query_pairs, substitute_variables,
};
use crate::v1::generated::{
    Authorizer, Integration, IntegrationResponse, Method, MethodSetting, Stage, TestInvokeMethodRequest,
};
use crate::v1::{self, PlanRecord, RestRecord, RestSnapshot};
use crate::{ApiGateway, ApiGatewayError, FunctionCall, SERVICE_PRINCIPAL, Source, state};

const INTERNAL: &str = "Internal server error";

fn missing_token() -> Response<Bytes> {
    message(403, "Missing Authentication Token")
}

// ---- per-node state: stage cache, usage, custom domains -----------------------------------

/// Cached answers of stages with caching on.
#[derive(Default)]
pub struct StageCache {
    entries: Mutex<HashMap<String, (Instant, Response<Bytes>)>>,
}

impl StageCache {
    pub fn flush(&self, api: &str, stage: &str) {
        let prefix = format!("{api}/{stage}/");
        self.entries
            .lock()
            .unwrap()
            .retain(|k, _| !k.starts_with(&prefix));
    }
    pub fn forget(&self) {
        self.entries.lock().unwrap().clear();
    }
    fn get(&self, key: &str) -> Option<Response<Bytes>> {
        let mut e = self.entries.lock().unwrap();
        match e.get(key) {
            Some((until, r)) if *until > Instant::now() => {
                let mut out = Response::new(r.body().clone());
                *out.status_mut() = r.status();
                *out.headers_mut() = r.headers().clone();
                Some(out)
            }
            Some(_) => {
                e.remove(key);
                None
            }
            None => None,
        }
    }
    fn put(&self, key: String, ttl: Duration, r: &Response<Bytes>) {
        let mut copy = Response::new(r.body().clone());
        *copy.status_mut() = r.status();
        *copy.headers_mut() = r.headers().clone();
        let mut e = self.entries.lock().unwrap();
        if e.len() > 10_000 {
            e.clear();
        }
        e.insert(key, (Instant::now() + ttl, copy));
    }
}

/// Requests counted per usage plan, key and day (this node's count).
#[derive(Default)]
pub struct UsageCounts {
    days: Mutex<HashMap<(String, String, time::Date), u64>>,
    buckets: crate::http_api::Throttle,
}

impl UsageCounts {
    pub fn used_on(&self, plan: &str, key: &str, day: time::Date) -> u64 {
        *self
            .days
            .lock()
            .unwrap()
            .get(&(plan.to_string(), key.to_string(), day))
            .unwrap_or(&0)
    }
    pub fn forget(&self) {
        self.days.lock().unwrap().clear();
        self.buckets.forget();
    }
    /// Counts one request unless the quota of the current period is used up.
    fn take(&self, plan: &str, key: &str, today: time::Date, period: &str, limit: i64, offset: i64) -> bool {
        let start = match period {
            "DAY" => today,
            "WEEK" => today - time::Duration::days(today.weekday().number_days_from_monday() as i64),
            _ => today.replace_day(1).unwrap_or(today),
        };
        let _ = offset;
        let mut days = self.days.lock().unwrap();
        let used: u64 = days
            .iter()
            .filter(|((p, k, d), _)| p == plan && k == key && *d >= start && *d <= today)
            .map(|(_, n)| *n)
            .sum();
        if used as i64 >= limit {
            return false;
        }
        *days
            .entry((plan.to_string(), key.to_string(), today))
            .or_insert(0) += 1;
        true
    }
}

/// Custom domain names known on this node, refreshed from the store every few seconds.
#[derive(Default)]
pub struct Domains {
    names: RwLock<(Option<Instant>, HashSet<String>)>,
}

const DOMAIN_REFRESH: Duration = Duration::from_secs(5);

impl Domains {
    pub fn add(&self, name: &str) {
        self.names.write().unwrap().1.insert(name.to_ascii_lowercase());
    }
    pub fn remove(&self, name: &str) {
        self.names.write().unwrap().1.remove(&name.to_ascii_lowercase());
    }
    pub fn forget(&self) {
        *self.names.write().unwrap() = (None, HashSet::new());
    }
}

/// Whether a host is one of the custom domain names (hosts that are IPs or `localhost` names
/// never are).
pub async fn is_custom_domain(g: &ApiGateway, host: &str) -> Option<String> {
    let host = host.rsplit_once(':').map_or(host, |(h, p)| {
        if p.chars().all(|c| c.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    // Addresses first: they need no lowercase copy (this runs for every request).
    if host.parse::<std::net::IpAddr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let host = host.to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return None;
    }
    let fresh = g
        .inner
        .domains
        .names
        .read()
        .unwrap()
        .0
        .is_some_and(|t| t.elapsed() < DOMAIN_REFRESH);
    if !fresh {
        let rows = g
            .inner
            .store
            .scan(state::NS, &stratus_store::Scan::prefix(b"v1domain/"))
            .await
            .ok()?;
        let names: HashSet<String> = rows
            .iter()
            .filter_map(|(k, _)| {
                std::str::from_utf8(k)
                    .ok()?
                    .strip_prefix("v1domain/")
                    .map(str::to_string)
            })
            .collect();
        *g.inner.domains.names.write().unwrap() = (Some(Instant::now()), names);
    }
    g.inner
        .domains
        .names
        .read()
        .unwrap()
        .1
        .contains(&host)
        .then_some(host)
}

/// A request on a custom domain: the base path mapping picks the API and stage.
pub async fn serve_domain(g: &ApiGateway, domain: &str, req: Incoming) -> Response<Bytes> {
    let Ok(Some(raw)) = g
        .inner
        .store
        .get(state::NS, v1::domain_key(domain).as_bytes())
        .await
    else {
        return message(403, "Forbidden");
    };
    let Ok(d) = serde_json::from_slice::<v1::DomainRecord>(&raw) else {
        return message(500, INTERNAL);
    };
    let path = req.parts.uri.path().to_string();
    let first = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let (mapping, rest) = match d.mappings.get(&first) {
        Some(m) if !first.is_empty() => (m, strip_first(&path)),
        _ => match d.mappings.get("(none)") {
            Some(m) => (m, path.clone()),
            None => return message(403, "Forbidden"),
        },
    };
    let api = mapping.rest_api_id.clone().unwrap_or_default();
    match &mapping.stage {
        Some(stage) => serve(g, &api, Some(stage), &rest, req).await,
        None => serve(g, &api, None, &rest, req).await,
    }
}

fn strip_first(path: &str) -> String {
    match path.trim_start_matches('/').split_once('/') {
        Some((_, rest)) => format!("/{rest}"),
        None => "/".to_string(),
    }
}

// ---- loading ------------------------------------------------------------------------------

async fn record(g: &ApiGateway, api_id: &str) -> Option<Arc<RestRecord>> {
    state::read_cached(&g.inner.store, &v1::rest_key(api_id), &g.inner.rest_apis).await
}

async fn snapshot(g: &ApiGateway, api_id: &str, dep: &str) -> Option<Arc<RestSnapshot>> {
    let key = (api_id.to_string(), dep.to_string());
    if let Some(s) = g.inner.rest_deployments.lock().unwrap().get(&key) {
        return Some(s.clone());
    }
    let raw = g
        .inner
        .store
        .get(state::NS, v1::snapshot_key(api_id, dep).as_bytes())
        .await
        .ok()??;
    let s: Arc<RestSnapshot> = Arc::new(serde_json::from_slice(&raw).ok()?);
    let mut cache = g.inner.rest_deployments.lock().unwrap();
    if cache.len() > 1024 {
        cache.clear();
    }
    cache.insert(key, s.clone());
    Some(s)
}

/// The resource a path reaches (literal child over `{var}` over `{proxy+}`), with its
/// path parameters.
fn find_resource<'a>(
    snap: &'a RestSnapshot,
    path: &str,
) -> Option<(&'a v1::generated::Resource, BTreeMap<String, String>)> {
    let root = snap.resources.values().find(|r| r.parent_id.is_none())?;
    let segs: Vec<&str> = path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    fn walk<'a>(
        snap: &'a RestSnapshot,
        node: &'a v1::generated::Resource,
        segs: &[&str],
        params: &mut BTreeMap<String, String>,
    ) -> Option<&'a v1::generated::Resource> {
        let Some((seg, rest)) = segs.split_first() else {
            return Some(node);
        };
        let id = node.id.as_deref().unwrap_or_default();
        let kids = || {
            snap.resources
                .values()
                .filter(move |r| r.parent_id.as_deref() == Some(id))
        };
        let decoded = percent_encoding::percent_decode_str(seg).decode_utf8_lossy();
        if let Some(k) =
            kids().find(|k| k.path_part.as_deref() == Some(seg) || k.path_part.as_deref() == Some(&*decoded))
            && let Some(found) = walk(snap, k, rest, params)
        {
            return Some(found);
        }
        for k in kids() {
            let part = k.path_part.as_deref().unwrap_or_default();
            if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                if let Some(greedy) = name.strip_suffix('+') {
                    let all: Vec<String> = segs
                        .iter()
                        .map(|s| {
                            percent_encoding::percent_decode_str(s)
                                .decode_utf8_lossy()
                                .into_owned()
                        })
                        .collect();
                    params.insert(greedy.to_string(), all.join("/"));
                    return Some(k);
                }
                let mut inner = params.clone();
                inner.insert(name.to_string(), decoded.clone().into_owned());
                if let Some(found) = walk(snap, k, rest, &mut inner) {
                    *params = inner;
                    return Some(found);
                }
            }
        }
        None
    }
    let mut params = BTreeMap::new();
    walk(snap, root, &segs, &mut params).map(|r| (r, params))
}

// ---- serving ------------------------------------------------------------------------------

/// What the request resolved to.
struct Call<'a> {
    r: &'a RestRecord,
    snap: &'a RestSnapshot,
    api_id: &'a str,
    stage: &'a Stage,
    stage_name: &'a str,
    /// The path without the stage.
    path: &'a str,
    resource_path: String,
    resource_id: String,
    method: &'a Method,
    params: BTreeMap<String, String>,
    req: &'a Incoming,
    authorizer: Map<String, Value>,
    principal: Option<String>,
    api_key: Option<String>,
}

impl Call<'_> {
    fn method_arn(&self) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
            self.r.region, self.r.account, self.api_id, self.stage_name, self.req.parts.method, self.path
        )
    }

    fn source_arn(&self) -> String {
        format!(
            "arn:aws:execute-api:{}:{}:{}/{}/{}{}",
            self.r.region,
            self.r.account,
            self.api_id,
            self.stage_name,
            self.req.parts.method,
            self.resource_path
        )
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.req.header(name)
    }

    fn query(&self) -> Vec<(String, String)> {
        query_pairs(self.req.parts.uri.query())
    }

    fn variables(&self) -> HashMap<String, String> {
        self.stage.variables.clone().unwrap_or_default()
    }

    fn context(&self) -> Value {
        let (domain_name, prefix) = domain(self.req);
        let mut authorizer = self.authorizer.clone();
        if let Some(p) = &self.principal {
            authorizer.insert("principalId".into(), p.clone().into());
        }
        json!({
            "resourceId": self.resource_id,
            "resourcePath": self.resource_path,
            "httpMethod": self.req.parts.method.as_str(),
            "extendedRequestId": self.req.request_id,
            "requestTime": clf_time(self.req.received_ms),
            "path": format!("/{}{}", self.stage_name, self.path),
            "accountId": self.r.account,
            "protocol": protocol(self.req),
            "stage": self.stage_name,
            "domainPrefix": prefix,
            "requestTimeEpoch": self.req.received_ms,
            "requestId": self.req.request_id,
            "identity": {
                "cognitoIdentityPoolId": null, "accountId": null, "cognitoIdentityId": null,
                "caller": null, "sourceIp": self.req.peer.ip().to_string(), "principalOrgId": null,
                "accessKey": null, "cognitoAuthenticationType": null, "cognitoAuthenticationProvider": null,
                "userArn": null, "userAgent": self.header("user-agent").unwrap_or_default(), "user": null,
                "apiKey": self.api_key, "apiKeyId": null,
            },
            "domainName": domain_name,
            "apiId": self.api_id,
            "authorizer": if authorizer.is_empty() { Value::Null } else { Value::Object(authorizer) },
        })
    }

    fn is_binary(&self, content_type: Option<&str>) -> bool {
        let Some(ct) = content_type else {
            return false;
        };
        let ct = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        self.snap.binary_media_types.iter().any(|t| {
            let t = t.to_ascii_lowercase();
            t == ct || t == "*/*" || (t.ends_with("/*") && ct.starts_with(t.trim_end_matches('*')))
        })
    }

    /// The REST proxy event (the shape of payload format 1.0).
    fn proxy_event(&self) -> Value {
        let mut headers = Map::new();
        let mut multi: Map<String, Value> = Map::new();
        for (name, value) in &self.req.parts.headers {
            let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
            headers.insert(name.as_str().to_string(), v.clone().into());
            match multi.get_mut(name.as_str()) {
                Some(Value::Array(a)) => a.push(v.into()),
                _ => {
                    multi.insert(name.as_str().to_string(), json!([v]));
                }
            }
        }
        let mut q = Map::new();
        let mut mq: Map<String, Value> = Map::new();
        for (k, v) in self.query() {
            q.insert(k.clone(), v.clone().into());
            match mq.get_mut(&k) {
                Some(Value::Array(a)) => a.push(v.into()),
                _ => {
                    mq.insert(k, json!([v]));
                }
            }
        }
        let null_if_empty = |m: Map<String, Value>| {
            if m.is_empty() {
                Value::Null
            } else {
                Value::Object(m)
            }
        };
        let binary = self.is_binary(self.header("content-type"));
        let (body, b64) = if self.req.body.is_empty() {
            (Value::Null, false)
        } else if binary || std::str::from_utf8(&self.req.body).is_err() {
            (
                base64::engine::general_purpose::STANDARD
                    .encode(&self.req.body)
                    .into(),
                true,
            )
        } else {
            (String::from_utf8_lossy(&self.req.body).into_owned().into(), false)
        };
        let params: Map<String, Value> = self
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().into()))
            .collect();
        let vars: Map<String, Value> = self.variables().into_iter().map(|(k, v)| (k, v.into())).collect();
        json!({
            "resource": self.resource_path,
            "path": percent_encoding::percent_decode_str(self.path).decode_utf8_lossy(),
            "httpMethod": self.req.parts.method.as_str(),
            "headers": null_if_empty(headers),
            "multiValueHeaders": null_if_empty(multi),
            "queryStringParameters": null_if_empty(q),
            "multiValueQueryStringParameters": null_if_empty(mq),
            "pathParameters": null_if_empty(params),
            "stageVariables": null_if_empty(vars),
            "requestContext": self.context(),
            "body": body,
            "isBase64Encoded": b64,
        })
    }

    /// Renders a mapping template (parsed once per text); `$input`, `$context` and
    /// `$stageVariables` are built only when the template uses them.
    fn render(&self, g: &ApiGateway, template: &str, body: String) -> Result<String, stratus_vtl::VtlError> {
        if !template.contains('$') && !template.contains('#') {
            return Ok(template.to_string());
        }
        let parsed = {
            let mut cache = g.inner.templates.lock().unwrap();
            match cache.get(template) {
                Some(t) => t.clone(),
                None => {
                    let t = Arc::new(stratus_vtl::Template::parse(template)?);
                    if cache.len() > 4096 {
                        cache.clear();
                    }
                    cache.insert(template.to_string(), t.clone());
                    t
                }
            }
        };
        let mut input = stratus_vtl::Input {
            body,
            ..Default::default()
        };
        if template.contains("$input.params") {
            for (k, v) in &self.req.parts.headers {
                input.header.insert(
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                );
            }
            input.path = self.params.clone();
            input.querystring = self.query().into_iter().collect();
        }
        if template.contains("$context") {
            input.context = self.context();
        }
        if template.contains("$stageVariables") {
            input.stage_variables = serde_json::to_value(self.variables()).unwrap_or(Value::Null);
        }
        parsed.render(&input)
    }

    /// A request parameter mapping source: `method.request.path.x`, `...querystring.x`,
    /// `...header.x`, `'literal'`, `stageVariables.x`, `context.x`.
    fn source(&self, expr: &str) -> Option<String> {
        if let Some(lit) = expr.strip_prefix('\'').and_then(|e| e.strip_suffix('\'')) {
            return Some(lit.to_string());
        }
        if let Some(p) = expr.strip_prefix("method.request.path.") {
            return self.params.get(p).cloned();
        }
        if let Some(q) = expr.strip_prefix("method.request.querystring.") {
            return self.query().into_iter().find(|(k, _)| k == q).map(|(_, v)| v);
        }
        if let Some(h) = expr.strip_prefix("method.request.header.") {
            return self.header(&h.to_ascii_lowercase()).map(str::to_string);
        }
        if let Some(v) = expr.strip_prefix("stageVariables.") {
            return self.variables().get(v).cloned();
        }
        if let Some(c) = expr.strip_prefix("context.") {
            let ctx = self.context();
            let mut cur = &ctx;
            for part in c.split('.') {
                cur = cur.get(part)?;
            }
            return cur.as_str().map(str::to_string).or_else(|| Some(cur.to_string()));
        }
        None
    }
}

fn setting<'a>(stage: &'a Stage, resource_path: &str, method: &str) -> Option<&'a MethodSetting> {
    let settings = stage.method_settings.as_ref()?;
    let escaped = resource_path.trim_start_matches('/').replace('/', "~1");
    settings
        .get(&format!("~1{escaped}/{method}"))
        .or_else(|| settings.get("*/*"))
}

/// Serves a request for a REST API: `stage` is given by a custom domain's mapping, otherwise
/// it is the path's first segment.
pub async fn serve(
    g: &ApiGateway,
    api_id: &str,
    stage: Option<&str>,
    path: &str,
    req: Incoming,
) -> Response<Bytes> {
    let Some(r) = record(g, api_id).await else {
        return crate::http_api::not_found();
    };
    if stage.is_none() && r.api.disable_execute_api_endpoint == Some(true) {
        return message(403, "Forbidden");
    }
    let (stage_name, path) = match stage {
        Some(s) => (s.to_string(), path.to_string()),
        None => {
            let first = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            (first, strip_first(path))
        }
    };
    let Some(stage) = r.stages.get(&stage_name) else {
        return message(403, "Forbidden");
    };
    let Some(snap) = (match &stage.deployment_id {
        Some(d) => snapshot(g, api_id, d).await,
        None => None,
    }) else {
        return message(403, "Forbidden");
    };
    let started = Instant::now();
    let mut resp = run(g, &r, &snap, api_id, stage, &stage_name, &path, &req, true).await;
    if let Some(settings) = &stage.access_log_settings {
        let resource = find_resource(&snap, &path)
            .and_then(|(res, _)| res.path.clone())
            .unwrap_or_default();
        let logged = crate::http_api::Logged {
            account: &r.account,
            region: &r.region,
            api_id,
            stage_name: &stage_name,
            route_key: format!("{} {resource}", req.parts.method),
            raw_path: &path,
            resource_path: &resource,
        };
        let log = crate::http_api::AccessLog {
            status: resp.status().as_u16(),
            length: resp.body().len(),
            latency_ms: started.elapsed().as_millis() as u64,
            ..Default::default()
        };
        crate::http_api::access_log(
            g,
            &logged,
            settings.destination_arn.as_deref(),
            settings.format.as_deref(),
            &req,
            log,
        );
    }
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&req.request_id) {
        h.insert("x-amzn-requestid", v.clone());
        h.insert("x-amz-apigw-id", v);
    }
    resp
}

/// TestInvokeMethod: the live (undeployed) configuration, no authorizer, no key checks.
pub async fn test_invoke(
    g: &ApiGateway,
    r: &RestRecord,
    i: &TestInvokeMethodRequest,
) -> Result<Response<Bytes>, ApiGatewayError> {
    let rid = i.resource_id.clone().unwrap_or_default();
    let res = r
        .resources
        .get(&rid)
        .ok_or_else(|| ApiGatewayError::NotFound(format!("Invalid Resource identifier specified {rid}")))?;
    let path_with_query = i
        .path_with_query_string
        .clone()
        .unwrap_or_else(|| res.path.clone().unwrap_or_default());
    let uri: http::Uri = path_with_query
        .parse()
        .map_err(|_| ApiGatewayError::BadRequest(format!("Invalid path {path_with_query}")))?;
    let mut builder = http::Request::builder()
        .method(i.http_method.as_deref().unwrap_or("GET"))
        .uri(uri.clone());
    for (k, v) in i.headers.iter().flatten() {
        builder = builder.header(k, v);
    }
    let (parts, _) = builder
        .body(())
        .map_err(|e| ApiGatewayError::BadRequest(e.to_string()))?
        .into_parts();
    let req = Incoming {
        parts,
        body: Bytes::from(i.body.clone().unwrap_or_default()),
        peer: "127.0.0.1:0".parse().expect("address"),
        request_id: stratus_core::ids::request_id(),
        received_ms: g.inner.clock.now_ms(),
    };
    let snap = RestSnapshot {
        resources: r.resources.clone(),
        authorizers: r.authorizers.clone(),
        validators: r.validators.clone(),
        models: r.models.clone(),
        binary_media_types: r.api.binary_media_types.clone().unwrap_or_default(),
        api_key_source: r.api.api_key_source.clone().unwrap_or_default(),
    };
    let stage = Stage {
        variables: i.stage_variables.clone(),
        ..Default::default()
    };
    let api_id = r.api.id.clone().unwrap_or_default();
    Ok(run(
        g,
        r,
        &snap,
        &api_id,
        &stage,
        "test-invoke-stage",
        uri.path(),
        &req,
        false,
    )
    .await)
}

#[allow(clippy::too_many_arguments)]
async fn run(
    g: &ApiGateway,
    r: &RestRecord,
    snap: &RestSnapshot,
    api_id: &str,
    stage: &Stage,
    stage_name: &str,
    path: &str,
    req: &Incoming,
    checks: bool,
) -> Response<Bytes> {
    let Some((resource, params)) = find_resource(snap, path) else {
        return missing_token();
    };
    let verb = req.parts.method.as_str();
    let Some(method) = resource
        .resource_methods
        .as_ref()
        .and_then(|m| m.get(verb).or_else(|| m.get("ANY")))
    else {
        return missing_token();
    };
    let resource_path = resource.path.clone().unwrap_or_else(|| "/".into());
    let mut call = Call {
        r,
        snap,
        api_id,
        stage,
        stage_name,
        path,
        resource_path: resource_path.clone(),
        resource_id: resource.id.clone().unwrap_or_default(),
        method,
        params,
        req,
        authorizer: Map::new(),
        principal: None,
        api_key: None,
    };
    let settings = setting(stage, &resource_path, verb);
    if checks {
        if let Some(s) = settings
            && (s.throttling_rate_limit.is_some() || s.throttling_burst_limit.is_some())
        {
            let key = format!("rest/{api_id}/{stage_name}/{resource_path}/{verb}");
            let rate = s.throttling_rate_limit.unwrap_or(10_000.0);
            let burst = s.throttling_burst_limit.unwrap_or(5_000);
            if !g.inner.throttle.admit(key, rate, burst) {
                return message(429, "Too Many Requests");
            }
        }
        match method.authorization_type.as_deref().unwrap_or("NONE") {
            "NONE" => {}
            "AWS_IAM" => {
                if req.header("authorization").is_none()
                    && !req
                        .parts
                        .uri
                        .query()
                        .unwrap_or_default()
                        .contains("X-Amz-Signature")
                {
                    return missing_token();
                }
                match g.inner.backends.authenticate(&req.parts, &req.body).await {
                    Ok(identity) => {
                        call.principal = Some(identity.arn.clone());
                    }
                    Err(e) => return message(403, &e.message),
                }
            }
            kind => {
                let Some(z) = method
                    .authorizer_id
                    .as_ref()
                    .and_then(|id| snap.authorizers.get(id))
                else {
                    return message(500, INTERNAL);
                };
                let granted = if kind == "COGNITO_USER_POOLS" {
                    let scopes = method.authorization_scopes.clone().unwrap_or_default();
                    user_pool(g, z, &scopes, &mut call).await
                } else {
                    authorize(g, z, &mut call).await
                };
                if let Err(resp) = granted {
                    return resp;
                }
            }
        }
        if method.api_key_required == Some(true)
            && let Err(resp) = check_api_key(g, &mut call).await
        {
            return resp;
        }
    }
    if let Some(v) = method
        .request_validator_id
        .as_ref()
        .and_then(|id| snap.validators.get(id))
        && let Err(resp) = validate(&call, v)
    {
        return resp;
    }
    let Some(integration) = &method.method_integration else {
        return message(500, INTERNAL);
    };
    // The stage cache: GETs only, keyed by path and the integration's cache key parameters.
    let cache = (checks
        && verb == "GET"
        && stage.cache_cluster_enabled == Some(true)
        && settings.is_some_and(|s| s.caching_enabled == Some(true)))
    .then(|| {
        let ttl = settings
            .and_then(|s| s.cache_ttl_in_seconds)
            .unwrap_or(300)
            .max(0) as u64;
        let mut key = format!("{api_id}/{stage_name}/{verb} {path}");
        for p in integration.cache_key_parameters.iter().flatten() {
            let source = p.replace("integration.request.", "method.request.");
            key.push_str(&format!("|{p}={}", call.source(&source).unwrap_or_default()));
        }
        (key, Duration::from_secs(ttl))
    });
    if let Some((key, _)) = &cache
        && let Some(hit) = g.inner.cache.get(key)
    {
        return hit;
    }
    let timeout = Duration::from_millis(integration.timeout_in_millis.unwrap_or(29000).max(50) as u64);
    let resp = match tokio::time::timeout(timeout, integrate(g, &call, integration)).await {
        Err(_) => message(504, "Endpoint request timed out"),
        Ok(resp) => resp,
    };
    if let Some((key, ttl)) = cache
        && resp.status().is_success()
        && !ttl.is_zero()
    {
        g.inner.cache.put(key, ttl, &resp);
    }
    resp
}

// ---- API keys -----------------------------------------------------------------------------

#[allow(clippy::result_large_err)]
async fn check_api_key(g: &ApiGateway, call: &mut Call<'_>) -> Result<(), Response<Bytes>> {
    let forbidden = || message(403, "Forbidden");
    let value = if call.snap.api_key_source == "AUTHORIZER" {
        call.api_key.clone()
    } else {
        call.header("x-api-key").map(str::to_string)
    }
    .ok_or_else(forbidden)?;
    let store = &g.inner.store;
    let id = store
        .get(state::NS, v1::key_value_key(&value).as_bytes())
        .await
        .ok()
        .flatten()
        .ok_or_else(forbidden)?;
    let id = String::from_utf8_lossy(&id).into_owned();
    let key: v1::KeyRecord = store
        .get(state::NS, v1::key_key(&id).as_bytes())
        .await
        .ok()
        .flatten()
        .and_then(|raw| serde_json::from_slice(&raw).ok())
        .ok_or_else(forbidden)?;
    if key.key.enabled != Some(true) || key.account != call.r.account {
        return Err(forbidden());
    }
    let plans = store
        .scan(state::NS, &stratus_store::Scan::prefix(b"v1plan/"))
        .await
        .map_err(|_| message(500, INTERNAL))?;
    let plan = plans
        .iter()
        .filter_map(|(_, raw)| serde_json::from_slice::<PlanRecord>(raw).ok())
        .find(|p| {
            p.keys.contains(&id)
                && p.plan.api_stages.iter().flatten().any(|s| {
                    s.api_id.as_deref() == Some(call.api_id) && s.stage.as_deref() == Some(call.stage_name)
                })
        })
        .ok_or_else(forbidden)?;
    let plan_id = plan.plan.id.clone().unwrap_or_default();
    call.api_key = Some(value);
    if let Some(t) = &plan.plan.throttle
        && (t.rate_limit.is_some() || t.burst_limit.is_some())
    {
        let bucket = format!("plan/{plan_id}/{id}");
        if !g.inner.usage.buckets.admit(
            bucket,
            t.rate_limit.unwrap_or(10_000.0),
            t.burst_limit.unwrap_or(5_000),
        ) {
            return Err(message(429, "Too Many Requests"));
        }
    }
    let today = time::OffsetDateTime::from_unix_timestamp(g.inner.clock.now_ms() / 1000)
        .map(|t| t.date())
        .unwrap_or(time::Date::MIN);
    match &plan.plan.quota {
        Some(q) if q.limit.is_some() => {
            let period = q.period.as_deref().unwrap_or("MONTH");
            if !g.inner.usage.take(
                &plan_id,
                &id,
                today,
                period,
                q.limit.unwrap_or(0) as i64,
                q.offset.unwrap_or(0) as i64,
            ) {
                return Err(message(429, "Limit Exceeded"));
            }
        }
        _ => {
            g.inner.usage.take(&plan_id, &id, today, "DAY", i64::MAX, 0);
        }
    }
    Ok(())
}

// ---- authorizers --------------------------------------------------------------------------

#[allow(clippy::result_large_err)]
/// A Cognito user pool authorizer: the token in the identity source (the raw token, no
/// `Bearer`) must be one of the authorizer's pools' tokens, unexpired; an ID token when the
/// method names no scopes, else an access token holding one of them. Its claims reach the
/// integration as `$context.authorizer.claims`.
async fn user_pool(
    g: &ApiGateway,
    z: &Authorizer,
    scopes: &[String],
    call: &mut Call<'_>,
) -> Result<(), Response<Bytes>> {
    let unauthorized = || message(401, "Unauthorized");
    let source = z
        .identity_source
        .clone()
        .unwrap_or_else(|| "method.request.header.Authorization".into());
    let Some(token) = call.source(source.trim()).filter(|t| !t.is_empty()) else {
        return Err(unauthorized());
    };
    let pools = z.provider_ar_ns.clone().unwrap_or_default();
    let claims = match g.inner.backends.user_pool_token(&token, &pools).await {
        Ok(c) => c,
        Err(why) => {
            tracing::debug!(api = call.api_id, why, "user pool token refused");
            return Err(unauthorized());
        }
    };
    let token_use = claims
        .get("token_use")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if scopes.is_empty() {
        if token_use != "id" {
            return Err(unauthorized());
        }
    } else {
        let held: Vec<&str> = claims
            .get("scope")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        if token_use != "access" || !scopes.iter().any(|s| held.contains(&s.as_str())) {
            return Err(unauthorized());
        }
    }
    let flat: Map<String, Value> = claims
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect();
    call.authorizer = Map::from_iter([("claims".to_string(), Value::Object(flat))]);
    Ok(())
}

async fn authorize(g: &ApiGateway, z: &Authorizer, call: &mut Call<'_>) -> Result<(), Response<Bytes>> {
    let unauthorized = || message(401, "Unauthorized");
    let token_kind = z.r#type.as_deref() == Some("TOKEN");
    let sources: Vec<String> = z
        .identity_source
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut values = Vec::new();
    for s in &sources {
        let v = call.source(s).filter(|v| !v.is_empty());
        match v {
            Some(v) => values.push(v),
            None => return Err(unauthorized()),
        }
    }
    if token_kind
        && let Some(re) = &z.identity_validation_expression
        && let Ok(re) = regex::Regex::new(&format!("^(?:{re})$"))
        && !values.first().is_some_and(|t| re.is_match(t))
    {
        return Err(unauthorized());
    }
    let ttl = z.authorizer_result_ttl_in_seconds.unwrap_or(300).max(0) as u64;
    let zid = z.id.clone().unwrap_or_default();
    let cache_key = format!("rest/{}/{zid}/{}", call.api_id, values.join("\u{1f}"));
    let cached = (ttl > 0)
        .then(|| {
            g.inner
                .rest_authorizations
                .lock()
                .unwrap()
                .get(&cache_key)
                .cloned()
        })
        .flatten()
        .filter(|(until, _)| *until > Instant::now())
        .map(|(_, v)| v);
    let method_arn = call.method_arn();
    let answer = match cached {
        Some(a) => a,
        None => {
            let function = function_of(z.authorizer_uri.as_deref().unwrap_or_default())
                .ok_or_else(|| message(500, INTERNAL))?;
            let event = if token_kind {
                json!({ "type": "TOKEN", "authorizationToken": values.first(), "methodArn": method_arn })
            } else {
                let mut e = call.proxy_event();
                if let Some(m) = e.as_object_mut() {
                    m.insert("type".into(), "REQUEST".into());
                    m.insert("methodArn".into(), method_arn.clone().into());
                    m.remove("body");
                    m.remove("isBase64Encoded");
                }
                e
            };
            let fc = FunctionCall {
                account: call.r.account.clone(),
                region: call.r.region.clone(),
                function,
                payload: Bytes::from(event.to_string()),
                request_id: call.req.request_id.clone(),
                source: Source::Service {
                    principal: SERVICE_PRINCIPAL,
                    arn: format!(
                        "arn:aws:execute-api:{}:{}:{}/authorizers/{zid}",
                        call.r.region, call.r.account, call.api_id
                    ),
                },
            };
            let out = match g
                .call_function(fc, Duration::from_secs(10), "REST API authorizer")
                .await
            {
                Ok(a) => a,
                Err(_) => return Err(message(500, INTERNAL)),
            };
            let v: Value = serde_json::from_slice(&out.payload).unwrap_or(Value::Null);
            if out.error {
                // An authorizer signals "no credentials" by failing with the message Unauthorized.
                if v.get("errorMessage").and_then(|m| m.as_str()) == Some("Unauthorized") {
                    return Err(unauthorized());
                }
                return Err(message(500, INTERNAL));
            }
            if v.get("policyDocument").is_none() || v.get("principalId").is_none() {
                return Err(message(500, INTERNAL));
            }
            if ttl > 0 {
                let mut c = g.inner.rest_authorizations.lock().unwrap();
                if c.len() > 10_000 {
                    c.clear();
                }
                c.insert(cache_key, (Instant::now() + Duration::from_secs(ttl), v.clone()));
            }
            v
        }
    };
    match crate::authorizer::evaluate(&answer["policyDocument"], &method_arn) {
        Some(true) => {}
        Some(false) => {
            return Err(upper_message(
                403,
                "User is not authorized to access this resource with an explicit deny",
            ));
        }
        None => {
            return Err(upper_message(
                403,
                "User is not authorized to access this resource",
            ));
        }
    }
    call.principal = answer["principalId"].as_str().map(str::to_string);
    if let Some(ctx) = answer.get("context").and_then(|c| c.as_object()) {
        call.authorizer = ctx.clone();
    }
    if let Some(k) = answer.get("usageIdentifierKey").and_then(|k| k.as_str()) {
        call.api_key = Some(k.to_string());
    }
    Ok(())
}

/// REST authorizer denials spell the member `Message`.
fn upper_message(status: u16, text: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(json!({ "Message": text }).to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::FORBIDDEN);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

// ---- validation ---------------------------------------------------------------------------

#[allow(clippy::result_large_err)]
fn validate(call: &Call<'_>, v: &v1::generated::RequestValidator) -> Result<(), Response<Bytes>> {
    if v.validate_request_parameters == Some(true) {
        let missing: Vec<String> = call
            .method
            .request_parameters
            .iter()
            .flatten()
            .filter(|(_, required)| **required)
            .filter(|(k, _)| call.source(k).is_none())
            .map(|(k, _)| k.rsplit('.').next().unwrap_or_default().to_string())
            .collect();
        if !missing.is_empty() {
            let mut missing = missing;
            missing.sort();
            return Err(message(
                400,
                &format!("Missing required request parameters: [{}]", missing.join(", ")),
            ));
        }
    }
    if v.validate_request_body == Some(true) {
        let ct = call.header("content-type").unwrap_or("application/json");
        let ct = ct.split(';').next().unwrap_or_default().trim();
        let models = call.method.request_models.clone().unwrap_or_default();
        let model = models.get(ct).or_else(|| models.get("$default"));
        if let Some(name) = model
            && name != "Empty"
            && let Some(m) = call.snap.models.get(name)
        {
            let all: BTreeMap<String, Value> = call
                .snap
                .models
                .iter()
                .filter_map(|(k, m)| Some((k.clone(), serde_json::from_str(m.schema.as_deref()?).ok()?)))
                .collect();
            let schema: Value = m
                .schema
                .as_deref()
                .and_then(|s| serde_json::from_str(s).ok())
                .unwrap_or(Value::Null);
            let body: Option<Value> = serde_json::from_slice(&call.req.body).ok();
            let ok = body.is_some_and(|b| crate::schema::valid(&schema, &b, &all));
            if !ok {
                return Err(message(400, "Invalid request body"));
            }
        }
    }
    Ok(())
}

// ---- integrations -------------------------------------------------------------------------

async fn integrate(g: &ApiGateway, call: &Call<'_>, n: &Integration) -> Response<Bytes> {
    let kind = n.r#type.as_deref().unwrap_or_default();
    let vars = call.variables();
    match kind {
        "AWS_PROXY" => {
            let uri = substitute_variables(n.uri.as_deref().unwrap_or_default(), &vars);
            let Some(function) = function_of(&uri) else {
                return message(500, INTERNAL);
            };
            match invoke(g, call, function, call.proxy_event().to_string()).await {
                Ok((payload, false)) => {
                    let parsed = match serde_json::from_slice::<Value>(&payload) {
                        Ok(Value::Object(m)) => crate::http_api::proxy_response(&m, false),
                        _ => Err("not an object".into()),
                    };
                    match parsed {
                        Ok(mut resp) => {
                            decode_binary(call, &mut resp, &payload);
                            resp
                        }
                        Err(why) => {
                            tracing::warn!(api = call.api_id, why, "malformed Lambda proxy response");
                            message(502, INTERNAL)
                        }
                    }
                }
                Ok((_, true)) => message(502, INTERNAL),
                Err(resp) => resp,
            }
        }
        "AWS" => {
            let uri = substitute_variables(n.uri.as_deref().unwrap_or_default(), &vars);
            let Some(function) = function_of(&uri) else {
                return message(500, INTERNAL);
            };
            let payload = match request_body(g, call, n) {
                Ok(p) => p,
                Err(resp) => return resp,
            };
            match invoke(g, call, function, payload).await {
                Ok((out, error)) => {
                    let text = String::from_utf8_lossy(&out).into_owned();
                    let selector = if error {
                        serde_json::from_str::<Value>(&text)
                            .ok()
                            .and_then(|v| v.get("errorMessage").and_then(|m| m.as_str()).map(str::to_string))
                            .unwrap_or_default()
                    } else {
                        String::new()
                    };
                    respond(g, call, n, &selector, !error, text, &HeaderMap::new())
                }
                Err(resp) => resp,
            }
        }
        "HTTP" | "HTTP_PROXY" => {
            let mut uri = substitute_variables(n.uri.as_deref().unwrap_or_default(), &vars);
            let mut headers = HeaderMap::new();
            let mut query: Vec<(String, String)> = Vec::new();
            if kind == "HTTP_PROXY" {
                headers = call.req.parts.headers.clone();
                query = call.query();
            }
            // `integration.request.{path,querystring,header}.x` mappings.
            for (target, source) in n.request_parameters.iter().flatten() {
                let Some(value) = call.source(source) else {
                    continue;
                };
                if let Some(p) = target.strip_prefix("integration.request.path.") {
                    uri = uri.replace(&format!("{{{p}}}"), &value);
                } else if let Some(q) = target.strip_prefix("integration.request.querystring.") {
                    query.retain(|(k, _)| k != q);
                    query.push((q.to_string(), value));
                } else if let Some(h) = target.strip_prefix("integration.request.header.")
                    && let (Ok(name), Ok(v)) = (
                        HeaderName::from_bytes(h.as_bytes()),
                        HeaderValue::from_str(&value),
                    )
                {
                    headers.insert(name, v);
                }
            }
            // Path parameters named alike fill the URI's placeholders (`{proxy}`).
            for (k, v) in &call.params {
                uri = uri
                    .replace(&format!("{{{k}+}}"), v)
                    .replace(&format!("{{{k}}}"), v);
            }
            if !query.is_empty() {
                let q: Vec<String> = query
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "{}={}",
                            percent_encoding::utf8_percent_encode(k, percent_encoding::NON_ALPHANUMERIC),
                            percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC)
                        )
                    })
                    .collect();
                uri.push(if uri.contains('?') { '&' } else { '?' });
                uri.push_str(&q.join("&"));
            }
            let method = match n.http_method.as_deref() {
                Some("ANY") | None => call.req.parts.method.clone(),
                Some(m) => http::Method::from_bytes(m.as_bytes()).unwrap_or(http::Method::GET),
            };
            let body = if kind == "HTTP_PROXY" {
                call.req.body.clone()
            } else {
                match request_body(g, call, n) {
                    Ok(b) => Bytes::from(b),
                    Err(resp) => return resp,
                }
            };
            match forward(g, method, &uri, &headers, body, call.req.peer).await {
                Ok(resp) if kind == "HTTP_PROXY" => resp,
                Ok(resp) => {
                    let status = resp.status().as_u16().to_string();
                    let (parts, body) = resp.into_parts();
                    respond(
                        g,
                        call,
                        n,
                        &status,
                        true,
                        String::from_utf8_lossy(&body).into_owned(),
                        &parts.headers,
                    )
                }
                Err(why) => {
                    tracing::warn!(api = call.api_id, why, "HTTP integration failed");
                    message(500, INTERNAL)
                }
            }
        }
        "MOCK" => {
            let rendered = match request_body(g, call, n) {
                Ok(b) => b,
                Err(resp) => return resp,
            };
            // The request template chooses the status: `{"statusCode": 200}`.
            let status = serde_json::from_str::<Value>(&rendered)
                .ok()
                .and_then(|v| {
                    v.get("statusCode")
                        .and_then(|s| s.as_u64().or_else(|| s.as_str()?.parse().ok()))
                })
                .unwrap_or(200)
                .to_string();
            respond(g, call, n, &status, true, String::new(), &HeaderMap::new())
        }
        _ => message(500, INTERNAL),
    }
}

async fn invoke(
    g: &ApiGateway,
    call: &Call<'_>,
    function: String,
    payload: String,
) -> Result<(Bytes, bool), Response<Bytes>> {
    let fc = FunctionCall {
        account: call.r.account.clone(),
        region: call.r.region.clone(),
        function,
        payload: Bytes::from(payload),
        request_id: call.req.request_id.clone(),
        source: Source::Service {
            principal: SERVICE_PRINCIPAL,
            arn: call.source_arn(),
        },
    };
    // The caller's own timeout bounds the call (an integration's `timeoutInMillis`).
    match g.call_function(fc, Duration::MAX, "REST API integration").await {
        Ok(a) => Ok((a.payload, a.error)),
        Err(_) => Err(message(500, INTERNAL)),
    }
}

/// The integration request body: the template for the request's content type, or the body
/// passed through as the passthrough behavior allows.
#[allow(clippy::result_large_err)]
fn request_body(g: &ApiGateway, call: &Call<'_>, n: &Integration) -> Result<String, Response<Bytes>> {
    let body = String::from_utf8_lossy(&call.req.body).into_owned();
    let templates = n.request_templates.clone().unwrap_or_default();
    let ct = call
        .header("content-type")
        .map(|c| {
            c.split(';')
                .next()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase()
        })
        .unwrap_or_else(|| "application/json".into());
    let template = templates.get(&ct);
    let behavior = n.passthrough_behavior.as_deref().unwrap_or("WHEN_NO_MATCH");
    match template {
        Some(t) => call.render(g, t, body).map_err(|e| {
            tracing::warn!(api = call.api_id, error = %e, "request mapping template failed");
            message(500, INTERNAL)
        }),
        None if behavior == "NEVER" || (behavior == "WHEN_NO_TEMPLATES" && !templates.is_empty()) => {
            Err(message(415, "Unsupported Media Type"))
        }
        None => Ok(body),
    }
}

/// Picks the integration response (selection pattern against the error message or status;
/// the default one otherwise), renders its template and maps its parameters.
fn respond(
    g: &ApiGateway,
    call: &Call<'_>,
    n: &Integration,
    selector: &str,
    success: bool,
    body: String,
    backend_headers: &HeaderMap,
) -> Response<Bytes> {
    let responses = n.integration_responses.clone().unwrap_or_default();
    let matches = |r: &IntegrationResponse| {
        r.selection_pattern
            .as_deref()
            .filter(|p| !p.is_empty())
            .and_then(|p| regex::Regex::new(&format!("^(?s:{p})$")).ok())
            .is_some_and(|re| re.is_match(selector))
    };
    let default = || {
        responses
            .values()
            .find(|r| r.selection_pattern.as_deref().is_none_or(str::is_empty))
    };
    let chosen = if success && selector.is_empty() {
        default()
    } else {
        responses
            .values()
            .find(|r| matches(r))
            .or_else(|| if success { default() } else { None })
    };
    let Some(chosen) = chosen else {
        tracing::warn!(
            api = call.api_id,
            "no integration response matches and none is the default"
        );
        return message(if success { 500 } else { 502 }, INTERNAL);
    };
    let status = chosen.status_code.clone().unwrap_or_else(|| "200".into());
    let method_response = call.method.method_responses.as_ref().and_then(|m| m.get(&status));
    if method_response.is_none() {
        tracing::warn!(
            api = call.api_id,
            status,
            "the integration response names no method response"
        );
        return message(500, INTERNAL);
    }
    let templates = chosen.response_templates.clone().unwrap_or_default();
    let accept = call
        .header("accept")
        .unwrap_or("application/json")
        .split(',')
        .next()
        .unwrap_or_default()
        .trim()
        .to_string();
    let (ct, template) = match templates
        .get(&accept)
        .or_else(|| templates.get("application/json"))
    {
        Some(t) if templates.contains_key(&accept) => (accept.clone(), Some(t.clone())),
        Some(t) => ("application/json".to_string(), Some(t.clone())),
        None => match templates.iter().next() {
            Some((k, t)) => (k.clone(), Some(t.clone())),
            None => ("application/json".to_string(), None),
        },
    };
    let out_body = match template.filter(|t| !t.is_empty()) {
        Some(t) => match call.render(g, &t, body.clone()) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(api = call.api_id, error = %e, "response mapping template failed");
                return message(500, INTERNAL);
            }
        },
        None => body.clone(),
    };
    let mut resp = Response::new(Bytes::from(out_body));
    *resp.status_mut() = StatusCode::from_u16(status.parse().unwrap_or(200)).unwrap_or(StatusCode::OK);
    if let Ok(v) = HeaderValue::from_str(&ct) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    let parsed_body: Option<Value> = serde_json::from_str(&body).ok();
    for (target, source) in chosen.response_parameters.iter().flatten() {
        let Some(h) = target.strip_prefix("method.response.header.") else {
            continue;
        };
        let value = if let Some(lit) = source.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')) {
            Some(lit.to_string())
        } else if let Some(b) = source.strip_prefix("integration.response.header.") {
            backend_headers
                .get(b)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        } else if source == "integration.response.body" {
            Some(body.clone())
        } else if let Some(path) = source.strip_prefix("integration.response.body.") {
            let mut cur = parsed_body.as_ref();
            for part in path.split('.') {
                cur = cur.and_then(|c| c.get(part));
            }
            cur.map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()))
        } else {
            call.source(source)
        };
        if let (Some(v), Ok(name)) = (value, HeaderName::from_bytes(h.as_bytes()))
            && let Ok(v) = HeaderValue::from_str(&v)
        {
            resp.headers_mut().insert(name, v);
        }
    }
    resp
}

/// A proxy answer flagged base64 is decoded when the client accepts a binary media type of the
/// API (otherwise the text goes out as is, as API Gateway does).
fn decode_binary(call: &Call<'_>, resp: &mut Response<Bytes>, payload: &[u8]) {
    let flagged = serde_json::from_slice::<Value>(payload)
        .ok()
        .and_then(|v| v.get("isBase64Encoded").and_then(|b| b.as_bool()))
        == Some(true);
    if !flagged {
        return;
    }
    let accept = call.header("accept").map(str::to_string);
    let ct = resp
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let binary = accept
        .as_deref()
        .is_some_and(|a| a.split(',').any(|t| call.is_binary(Some(t.trim()))))
        || call.is_binary(ct.as_deref());
    if !binary {
        // proxy_response already decoded the body: give the client the base64 text.
        let text = base64::engine::general_purpose::STANDARD.encode(resp.body());
        *resp.body_mut() = Bytes::from(text);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::generated::Resource;

    fn res(id: &str, parent: Option<&str>, part: Option<&str>, path: &str) -> (String, Resource) {
        (
            id.to_string(),
            Resource {
                id: Some(id.into()),
                parent_id: parent.map(Into::into),
                path_part: part.map(Into::into),
                path: Some(path.into()),
                resource_methods: None,
            },
        )
    }

    #[test]
    fn resources_match_literal_then_variable_then_greedy() {
        let snap = RestSnapshot {
            resources: [
                res("root", None, None, "/"),
                res("pets", Some("root"), Some("pets"), "/pets"),
                res("pet", Some("pets"), Some("{id}"), "/pets/{id}"),
                res("special", Some("pets"), Some("special"), "/pets/special"),
                res("proxy", Some("root"), Some("{proxy+}"), "/{proxy+}"),
            ]
            .into_iter()
            .collect(),
            ..Default::default()
        };
        let find = |p: &str| find_resource(&snap, p).map(|(r, params)| (r.id.clone().unwrap(), params));
        assert_eq!(find("/").unwrap().0, "root");
        assert_eq!(find("/pets/special").unwrap().0, "special");
        let (id, params) = find("/pets/7").unwrap();
        assert_eq!((id.as_str(), params["id"].as_str()), ("pet", "7"));
        let (id, params) = find("/a/b").unwrap();
        assert_eq!((id.as_str(), params["proxy"].as_str()), ("proxy", "a/b"));
        assert_eq!(find("/pets/7/x").unwrap().0, "proxy");
    }
}
