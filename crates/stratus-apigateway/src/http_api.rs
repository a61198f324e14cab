//! The data plane of HTTP APIs: a request on an invoke URL finds its stage and the deployment
//! the stage serves, its route, passes CORS, throttling and authorization, and reaches its
//! integration — a Lambda function (payload format 1.0 or 2.0, the events and response rules
//! AWS documents) or an HTTP endpoint. Errors are API Gateway's: `{"message": "Not Found"}`...

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use serde_json::{Map, Value, json};

use crate::route::{self, RouteKey};
use crate::state::{self, ApiRecord, Snapshot};
use crate::v2::generated::{Authorizer, Cors, Integration, Route, RouteSettings, Stage};
use crate::{ApiGateway, FunctionCall, SERVICE_PRINCIPAL, Source};

/// One data-plane request as received.
pub struct Incoming {
    pub parts: http::request::Parts,
    pub body: Bytes,
    pub peer: SocketAddr,
    pub request_id: String,
    pub received_ms: i64,
}

impl Incoming {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.parts.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A deployment ready to serve: its routes parsed once.
pub struct Deployed {
    pub routes: Vec<(RouteKey, Route)>,
    /// Routes by id, whatever their key (WebSocket route keys are names, not paths).
    pub raw_routes: BTreeMap<String, Route>,
    pub integrations: BTreeMap<String, Integration>,
    pub authorizers: BTreeMap<String, Authorizer>,
    pub cors: Option<Cors>,
}

impl Deployed {
    fn new(s: Snapshot) -> Self {
        let raw_routes = s.routes.clone();
        let routes = s
            .routes
            .into_values()
            .filter_map(|r| Some((RouteKey::parse(r.route_key.as_deref()?).ok()?, r)))
            .collect();
        Deployed {
            routes,
            raw_routes,
            integrations: s.integrations,
            authorizers: s.authorizers,
            cors: s.cors,
        }
    }
}

/// An answer at the edge: `{"message": "..."}` with a status.
pub fn message(status: u16, text: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(json!({ "message": text }).to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

pub fn not_found() -> Response<Bytes> {
    message(404, "Not Found")
}

pub fn internal_error() -> Response<Bytes> {
    message(500, "Internal Server Error")
}

/// The Lambda function ARN an integration or authorizer URI names: a function ARN, or API
/// Gateway's `arn:aws:apigateway:{region}:lambda:path/2015-03-31/functions/{arn}/invocations`.
pub fn function_of(uri: &str) -> Option<String> {
    let arn = match uri.split_once(":lambda:path/") {
        Some((prefix, path)) if prefix.starts_with("arn:") && prefix.contains(":apigateway:") => {
            path.split_once("/functions/")?.1.strip_suffix("/invocations")?
        }
        _ => uri,
    };
    let parts: Vec<&str> = arn.split(':').collect();
    (parts.len() >= 7
        && parts[0] == "arn"
        && parts[2] == "lambda"
        && parts[5] == "function"
        && !parts[6].is_empty())
    .then(|| arn.to_string())
}

// ---- throttling ---------------------------------------------------------------------------

/// Token buckets per API, stage and route (in memory, per node).
#[derive(Default)]
pub struct Throttle {
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Throttle {
    pub fn forget(&self) {
        self.buckets.lock().unwrap().clear();
    }

    /// Takes a token; false when the bucket (size `burst`, refilled at `rate`/s) is empty.
    pub fn admit(&self, key: String, rate: f64, burst: i32) -> bool {
        let burst = burst.max(0) as f64;
        let now = Instant::now();
        let mut b = self.buckets.lock().unwrap();
        let (tokens, last) = b.entry(key).or_insert((burst, now));
        *tokens = (*tokens + now.duration_since(*last).as_secs_f64() * rate.max(0.0)).min(burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

fn limits(stage: &Stage, route_key: &str) -> Option<(f64, i32)> {
    let default = stage.default_route_settings.as_ref();
    let route = stage.route_settings.as_ref().and_then(|m| m.get(route_key));
    let pick = |f: fn(&RouteSettings) -> Option<f64>| route.and_then(f).or_else(|| default.and_then(f));
    let rate = pick(|s| s.throttling_rate_limit);
    let burst = pick(|s| s.throttling_burst_limit.map(f64::from));
    match (rate, burst) {
        (None, None) => None,
        (r, b) => Some((r.unwrap_or(10_000.0), b.map_or(5_000, |b| b as i32))),
    }
}

// ---- serving ------------------------------------------------------------------------------

async fn api(g: &ApiGateway, api_id: &str) -> Option<Arc<ApiRecord>> {
    state::read_cached(&g.inner.store, &state::api_key(api_id), &g.inner.apis).await
}

pub async fn deployed(g: &ApiGateway, api_id: &str, deployment_id: &str) -> Option<Arc<Deployed>> {
    let key = (api_id.to_string(), deployment_id.to_string());
    if let Some(d) = g.inner.deployments.lock().unwrap().get(&key) {
        return Some(d.clone());
    }
    let snap = state::get_snapshot(&g.inner.store, api_id, deployment_id)
        .await
        .ok()??;
    let d = Arc::new(Deployed::new(snap));
    let mut cache = g.inner.deployments.lock().unwrap();
    if cache.len() > 1024 {
        cache.clear();
    }
    cache.insert(key, d.clone());
    Some(d)
}

/// What a request resolved to, for events, authorizers and access logs.
pub struct Resolved<'a> {
    pub api: &'a ApiRecord,
    pub api_id: &'a str,
    pub stage: &'a Stage,
    pub stage_name: &'a str,
    /// The path after the host (the stage segment included), still percent-encoded.
    pub raw_path: &'a str,
    pub route_key: String,
    /// The route's path (`/items/{id}`), empty for `$default`.
    pub resource: String,
    pub path_params: Vec<(String, String)>,
}

impl Resolved<'_> {
    /// `arn:aws:execute-api:{region}:{account}:{api}/{stage}/{METHOD}/{path}`: what a
    /// function's resource policy sees as the source of the call.
    pub fn route_arn(&self, method: &str) -> String {
        let base = format!(
            "arn:aws:execute-api:{}:{}:{}/{}",
            self.api.region, self.api.account, self.api_id, self.stage_name
        );
        if self.route_key == "$default" {
            format!("{base}/$default")
        } else {
            format!("{base}/{method}{}", self.resource)
        }
    }
}

pub async fn serve(g: &ApiGateway, api_id: &str, path: &str, req: Incoming) -> Response<Bytes> {
    let started = Instant::now();
    let Some(a) = api(g, api_id).await else {
        return crate::rest_api::serve(g, api_id, None, path, req).await;
    };
    if a.api.protocol_type.as_deref() == Some("WEBSOCKET") {
        if let Some(id) = crate::websocket::connection_path(path) {
            let stage = path
                .trim_start_matches('/')
                .split('/')
                .next()
                .unwrap_or_default()
                .to_string();
            return crate::websocket::manage(g, &id, Some((api_id, &stage)), req).await;
        }
        return crate::websocket::serve(g, a, api_id, path, req).await;
    }
    if a.api.disable_execute_api_endpoint == Some(true) {
        return message(403, "Forbidden");
    }
    // A path's first segment names a stage; otherwise the `$default` stage takes the whole path.
    let first = path.trim_start_matches('/').split('/').next().unwrap_or_default();
    let first = percent_encoding::percent_decode_str(first)
        .decode_utf8_lossy()
        .into_owned();
    let (stage_name, route_path) = match a.stages.get_key_value(first.as_str()) {
        // `$default` may also be named explicitly (the path form reads more clearly with it).
        Some((name, _)) => (name.clone(), strip_stage(path)),
        _ if a.stages.contains_key("$default") => ("$default".to_string(), path.to_string()),
        _ => return not_found(),
    };
    let stage = &a.stages[&stage_name];
    let Some(dep) = (match &stage.deployment_id {
        Some(d) => deployed(g, api_id, d).await,
        None => None,
    }) else {
        return not_found();
    };
    let method = req.parts.method.as_str().to_string();
    // CORS preflight is answered here, whatever the routes say.
    if let Some(cors) = &dep.cors
        && method == "OPTIONS"
        && req.header("origin").is_some()
        && req.header("access-control-request-method").is_some()
    {
        return preflight(cors, &req);
    }
    let Some((route, params)) = route::select(&dep.routes, &method, &route_path) else {
        return with_cors(not_found(), dep.cors.as_ref(), &req);
    };
    let route_key = route.route_key.clone().unwrap_or_default();
    let resource = route_key
        .split_once(' ')
        .map(|(_, p)| p.to_string())
        .unwrap_or_default();
    let resolved = Resolved {
        api: &a,
        api_id,
        stage,
        stage_name: &stage_name,
        raw_path: path,
        route_key: route_key.clone(),
        resource,
        path_params: params,
    };
    let mut log = AccessLog::default();
    let resp = route_request(g, &dep, route, &resolved, &req, &mut log).await;
    let mut resp = with_cors(resp, dep.cors.as_ref(), &req);
    if let Ok(v) = HeaderValue::from_str(&req.request_id) {
        resp.headers_mut().insert("apigw-requestid", v);
    }
    if let Some(settings) = &stage.access_log_settings {
        log.status = resp.status().as_u16();
        log.length = resp.body().len();
        log.latency_ms = started.elapsed().as_millis() as u64;
        write_access_log(g, &resolved, settings, &req, log);
    }
    resp
}

fn strip_stage(path: &str) -> String {
    let trimmed = path.trim_start_matches('/');
    match trimmed.split_once('/') {
        Some((_, rest)) => format!("/{rest}"),
        None => "/".to_string(),
    }
}

async fn route_request(
    g: &ApiGateway,
    dep: &Deployed,
    route: &Route,
    r: &Resolved<'_>,
    req: &Incoming,
    log: &mut AccessLog,
) -> Response<Bytes> {
    if let Some((rate, burst)) = limits(r.stage, &r.route_key) {
        let key = format!("{}/{}/{}", r.api_id, r.stage_name, r.route_key);
        if !g.inner.throttle.admit(key, rate, burst) {
            return message(429, "Too Many Requests");
        }
    }
    let auth = match route.authorization_type.as_deref().unwrap_or("NONE") {
        "NONE" => crate::authorizer::Granted::default(),
        "AWS_IAM" => match g.inner.backends.authenticate(&req.parts, &req.body).await {
            Ok(identity) => crate::authorizer::Granted::iam(&identity),
            Err(_) => return message(403, "Forbidden"),
        },
        _ => {
            let Some(z) = route
                .authorizer_id
                .as_ref()
                .and_then(|id| dep.authorizers.get(id))
            else {
                return internal_error();
            };
            match crate::authorizer::authorize(g, z, route, r, req).await {
                Ok(granted) => granted,
                Err(resp) => {
                    log.authorizer_error = Some(resp.status().as_u16().to_string());
                    return resp;
                }
            }
        }
    };
    let Some(integration) = route
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("integrations/"))
        .and_then(|id| dep.integrations.get(id))
    else {
        // A route without an integration: API Gateway has nowhere to send the request.
        return not_found();
    };
    let vars = r.stage.stage_variables.clone().unwrap_or_default();
    let uri = substitute_variables(integration.integration_uri.as_deref().unwrap_or_default(), &vars);
    let timeout = Duration::from_millis(integration.timeout_in_millis.unwrap_or(30000).max(50) as u64);
    match integration.integration_type.as_deref() {
        Some("AWS_PROXY") => {
            let Some(function) = function_of(&uri) else {
                log.integration_error = Some(format!("Invalid function ARN {uri}"));
                return internal_error();
            };
            let v2 = integration.payload_format_version.as_deref() == Some("2.0");
            let event = if v2 {
                event_v2(r, req, &auth)
            } else {
                event_v1(r, req, &auth)
            };
            let call = FunctionCall {
                account: r.api.account.clone(),
                region: r.api.region.clone(),
                function,
                payload: Bytes::from(event.to_string()),
                request_id: req.request_id.clone(),
                source: Source::Service {
                    principal: SERVICE_PRINCIPAL,
                    arn: r.route_arn(req.parts.method.as_str()),
                },
            };
            let started = Instant::now();
            let answer = match g.call_function(call, timeout, "HTTP API integration").await {
                Err(crate::Unanswered::TimedOut) => {
                    log.integration_error = Some("Integration timeout".into());
                    return message(504, "Endpoint request timed out");
                }
                Err(crate::Unanswered::Failed(why)) => {
                    log.integration_error = Some(why);
                    return internal_error();
                }
                Ok(a) => a,
            };
            log.integration_latency_ms = Some(started.elapsed().as_millis() as u64);
            log.integration_status = Some(200);
            if answer.error {
                log.integration_error = Some("The Lambda function returned an error".into());
                return internal_error();
            }
            let parsed = if v2 {
                response_v2(&answer.payload)
            } else {
                response_v1(&answer.payload)
            };
            match parsed {
                Ok(resp) => resp,
                Err(why) => {
                    log.integration_error = Some(why);
                    internal_error()
                }
            }
        }
        Some("HTTP_PROXY") => {
            let uri = substitute_params(&uri, &r.path_params);
            match tokio::time::timeout(timeout, http_proxy(g, integration, &uri, req)).await {
                Err(_) => message(504, "Endpoint request timed out"),
                Ok(Ok(resp)) => resp,
                Ok(Err(why)) => {
                    tracing::warn!(api = r.api_id, error = why, "HTTP proxy integration failed");
                    log.integration_error = Some(why);
                    internal_error()
                }
            }
        }
        _ => internal_error(),
    }
}

/// `${stageVariables.name}` in an integration URI.
pub fn substitute_variables(uri: &str, vars: &HashMap<String, String>) -> String {
    let mut out = uri.to_string();
    for (k, v) in vars {
        out = out.replace(&format!("${{stageVariables.{k}}}"), v);
    }
    out
}

/// `{name}` / `{name+}` path parameters in an HTTP proxy URI.
pub fn substitute_params(uri: &str, params: &[(String, String)]) -> String {
    let mut out = uri.to_string();
    for (k, v) in params {
        let enc = v
            .split('/')
            .map(|s| percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string())
            .collect::<Vec<_>>()
            .join("/");
        out = out
            .replace(&format!("{{{k}+}}"), &enc)
            .replace(&format!("{{{k}}}"), &enc);
    }
    out
}

// ---- events -------------------------------------------------------------------------------

pub fn clf_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f =
        time::macros::format_description!("[day]/[month repr:short]/[year]:[hour]:[minute]:[second] +0000");
    t.format(&f).unwrap_or_default()
}

pub fn protocol(req: &Incoming) -> &'static str {
    match req.parts.version {
        http::Version::HTTP_2 => "HTTP/2.0",
        http::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    }
}

/// Whether a body goes to the function as text (otherwise base64).
fn is_text(req: &Incoming) -> bool {
    let ct = req.header("content-type").unwrap_or("").to_ascii_lowercase();
    let textual = ct.is_empty()
        || ct.starts_with("text/")
        || ct.contains("json")
        || ct.contains("xml")
        || ct.contains("javascript")
        || ct.starts_with("application/x-www-form-urlencoded");
    textual && std::str::from_utf8(&req.body).is_ok()
}

fn body_of(req: &Incoming) -> (Value, bool) {
    if req.body.is_empty() {
        return (Value::Null, false);
    }
    if is_text(req) {
        (
            Value::String(String::from_utf8_lossy(&req.body).into_owned()),
            false,
        )
    } else {
        (
            Value::String(base64::engine::general_purpose::STANDARD.encode(&req.body)),
            true,
        )
    }
}

/// Headers joined by comma per name (cookies left out when `skip_cookies`).
fn joined_headers(h: &HeaderMap, skip_cookies: bool) -> Map<String, Value> {
    let mut out: Map<String, Value> = Map::new();
    for (name, value) in h {
        if skip_cookies && name == http::header::COOKIE {
            continue;
        }
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        match out.get_mut(name.as_str()) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                out.insert(name.as_str().to_string(), Value::String(v));
            }
        }
    }
    out
}

pub fn query_pairs(q: Option<&str>) -> Vec<(String, String)> {
    q.map(form_pairs).unwrap_or_default()
}

fn form_pairs(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            let d = |s: &str| {
                percent_encoding::percent_decode_str(&s.replace('+', " "))
                    .decode_utf8_lossy()
                    .into_owned()
            };
            (d(k), d(v))
        })
        .collect()
}

fn cookies(h: &HeaderMap) -> Vec<Value> {
    h.get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| {
            String::from_utf8_lossy(v.as_bytes())
                .split(';')
                .map(|c| c.trim().to_string())
                .filter(|c| !c.is_empty())
                .collect::<Vec<_>>()
        })
        .map(Value::String)
        .collect()
}

pub fn domain(req: &Incoming) -> (String, String) {
    let host = req.header("host").unwrap_or("localhost").to_string();
    let prefix = host.split('.').next().unwrap_or_default().to_string();
    (host, prefix)
}

fn object_or_absent(m: &mut Map<String, Value>, key: &str, v: Map<String, Value>) {
    if !v.is_empty() {
        m.insert(key.into(), Value::Object(v));
    }
}

/// The payload format 2.0 event.
pub fn event_v2(r: &Resolved<'_>, req: &Incoming, auth: &crate::authorizer::Granted) -> Value {
    let (domain_name, prefix) = domain(req);
    let mut context = json!({
        "accountId": r.api.account,
        "apiId": r.api_id,
        "domainName": domain_name,
        "domainPrefix": prefix,
        "http": {
            "method": req.parts.method.as_str(),
            "path": percent_encoding::percent_decode_str(r.raw_path).decode_utf8_lossy(),
            "protocol": protocol(req),
            "sourceIp": req.peer.ip().to_string(),
            "userAgent": req.header("user-agent").unwrap_or_default(),
        },
        "requestId": req.request_id,
        "routeKey": r.route_key,
        "stage": r.stage_name,
        "time": clf_time(req.received_ms),
        "timeEpoch": req.received_ms,
    });
    if let Some(a) = auth.v2() {
        context["authorizer"] = a;
    }
    let mut e = Map::new();
    e.insert("version".into(), "2.0".into());
    e.insert("routeKey".into(), r.route_key.clone().into());
    e.insert("rawPath".into(), r.raw_path.into());
    e.insert(
        "rawQueryString".into(),
        req.parts.uri.query().unwrap_or_default().into(),
    );
    let c = cookies(&req.parts.headers);
    if !c.is_empty() {
        e.insert("cookies".into(), Value::Array(c));
    }
    e.insert(
        "headers".into(),
        Value::Object(joined_headers(&req.parts.headers, true)),
    );
    let mut q: Map<String, Value> = Map::new();
    for (k, v) in query_pairs(req.parts.uri.query()) {
        match q.get_mut(&k) {
            Some(Value::String(s)) => {
                s.push(',');
                s.push_str(&v);
            }
            _ => {
                q.insert(k, v.into());
            }
        }
    }
    object_or_absent(&mut e, "queryStringParameters", q);
    e.insert("requestContext".into(), context);
    let (body, b64) = body_of(req);
    if !body.is_null() {
        e.insert("body".into(), body);
    }
    let params: Map<String, Value> = r
        .path_params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    object_or_absent(&mut e, "pathParameters", params);
    e.insert("isBase64Encoded".into(), b64.into());
    let vars: Map<String, Value> = r
        .stage
        .stage_variables
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    object_or_absent(&mut e, "stageVariables", vars);
    Value::Object(e)
}

fn null_if_empty(m: Map<String, Value>) -> Value {
    if m.is_empty() {
        Value::Null
    } else {
        Value::Object(m)
    }
}

/// The payload format 1.0 event (the REST API proxy shape).
pub fn event_v1(r: &Resolved<'_>, req: &Incoming, auth: &crate::authorizer::Granted) -> Value {
    let (domain_name, prefix) = domain(req);
    let mut headers = Map::new();
    let mut multi: Map<String, Value> = Map::new();
    for (name, value) in &req.parts.headers {
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
    for (k, v) in query_pairs(req.parts.uri.query()) {
        q.insert(k.clone(), v.clone().into());
        match mq.get_mut(&k) {
            Some(Value::Array(a)) => a.push(v.into()),
            _ => {
                mq.insert(k, json!([v]));
            }
        }
    }
    let path = percent_encoding::percent_decode_str(r.raw_path)
        .decode_utf8_lossy()
        .into_owned();
    let resource = if r.route_key == "$default" {
        "$default".to_string()
    } else {
        r.resource.clone()
    };
    let (body, b64) = body_of(req);
    let params: Map<String, Value> = r
        .path_params
        .iter()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    let vars: Map<String, Value> = r
        .stage
        .stage_variables
        .iter()
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone().into()))
        .collect();
    json!({
        "version": "1.0",
        "resource": resource,
        "path": path,
        "httpMethod": req.parts.method.as_str(),
        "headers": null_if_empty(headers),
        "multiValueHeaders": null_if_empty(multi),
        "queryStringParameters": null_if_empty(q),
        "multiValueQueryStringParameters": null_if_empty(mq),
        "requestContext": {
            "accountId": r.api.account,
            "apiId": r.api_id,
            "authorizer": auth.v1(),
            "domainName": domain_name,
            "domainPrefix": prefix,
            "extendedRequestId": req.request_id,
            "httpMethod": req.parts.method.as_str(),
            "identity": {
                "accessKey": auth.access_key(),
                "accountId": auth.account(),
                "caller": auth.caller(),
                "cognitoAuthenticationProvider": null,
                "cognitoAuthenticationType": null,
                "cognitoIdentityId": null,
                "cognitoIdentityPoolId": null,
                "principalOrgId": null,
                "sourceIp": req.peer.ip().to_string(),
                "user": auth.caller(),
                "userAgent": req.header("user-agent").unwrap_or_default(),
                "userArn": auth.user_arn(),
            },
            "path": path,
            "protocol": protocol(req),
            "requestId": req.request_id,
            "requestTime": clf_time(req.received_ms),
            "requestTimeEpoch": req.received_ms,
            "resourceId": r.route_key,
            "resourcePath": resource,
            "stage": r.stage_name,
        },
        "pathParameters": null_if_empty(params),
        "stageVariables": null_if_empty(vars),
        "body": body,
        "isBase64Encoded": b64,
    })
}

// ---- responses ----------------------------------------------------------------------------

fn header_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn put_header(h: &mut HeaderMap, name: &str, value: &str, append: bool) -> Result<(), String> {
    let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| format!("invalid header name {name}"))?;
    let v = HeaderValue::from_str(value).map_err(|_| format!("invalid value of header {name}"))?;
    if append {
        h.append(n, v);
    } else {
        h.insert(n, v);
    }
    Ok(())
}

/// A function's answer in the proxy shape (`statusCode`, `headers`, `body`...).
pub fn proxy_response(v: &Map<String, Value>, v2: bool) -> Result<Response<Bytes>, String> {
    let status = match v.get("statusCode") {
        Some(Value::Number(n)) => n.as_u64(),
        Some(Value::String(s)) => s.parse().ok(),
        None if !v2 => None,
        _ => None,
    }
    .filter(|s| (100..=599).contains(s))
    .ok_or("the function's response has no valid statusCode")?;
    let mut h = HeaderMap::new();
    if let Some(headers) = v.get("headers") {
        match headers {
            Value::Object(m) => {
                for (k, val) in m {
                    let text = header_text(val).ok_or(format!("header {k} is not a string"))?;
                    put_header(&mut h, k, &text, false)?;
                }
            }
            Value::Null => {}
            _ => return Err("headers is not an object".into()),
        }
    }
    if let Some(Value::Object(m)) = v.get("multiValueHeaders") {
        for (k, vals) in m {
            let Value::Array(vals) = vals else {
                return Err(format!("multiValueHeaders.{k} is not a list"));
            };
            h.remove(k.as_str());
            for val in vals {
                let text = header_text(val).ok_or(format!("header {k} is not a string"))?;
                put_header(&mut h, k, &text, true)?;
            }
        }
    }
    if v2 && let Some(c) = v.get("cookies") {
        let Value::Array(c) = c else {
            return Err("cookies is not a list".into());
        };
        for cookie in c {
            let text = header_text(cookie).ok_or("a cookie is not a string")?;
            put_header(&mut h, "set-cookie", &text, true)?;
        }
    }
    let b64 = matches!(v.get("isBase64Encoded"), Some(Value::Bool(true)));
    let body = match v.get("body") {
        None | Some(Value::Null) => Bytes::new(),
        Some(Value::String(s)) if b64 => Bytes::from(
            base64::engine::general_purpose::STANDARD
                .decode(s)
                .map_err(|_| "body is not valid base64")?,
        ),
        Some(Value::String(s)) => Bytes::from(s.clone()),
        Some(other) if v2 => Bytes::from(other.to_string()),
        Some(_) => return Err("body is not a string".into()),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = StatusCode::from_u16(status as u16).map_err(|e| e.to_string())?;
    if !h.contains_key(http::header::CONTENT_TYPE) && v2 {
        h.insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
    }
    *resp.headers_mut() = h;
    Ok(resp)
}

/// Format 2.0: a proxy-shaped answer, or any other JSON taken as a 200 JSON body.
pub fn response_v2(payload: &[u8]) -> Result<Response<Bytes>, String> {
    let v: Value =
        serde_json::from_slice(payload).map_err(|_| "the function's response is not JSON".to_string())?;
    if let Value::Object(m) = &v
        && m.contains_key("statusCode")
    {
        return proxy_response(m, true);
    }
    let mut resp = Response::new(Bytes::copy_from_slice(payload));
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(resp)
}

/// Format 1.0: the answer must be proxy-shaped.
pub fn response_v1(payload: &[u8]) -> Result<Response<Bytes>, String> {
    match serde_json::from_slice::<Value>(payload) {
        Ok(Value::Object(m)) => proxy_response(&m, false),
        _ => Err("the function's response is not a proxy response object".into()),
    }
}

// ---- CORS ---------------------------------------------------------------------------------

fn origin_allowed(cors: &Cors, origin: &str) -> Option<String> {
    let origins = cors.allow_origins.as_deref().unwrap_or_default();
    if origins.iter().any(|o| o == "*") {
        return Some("*".into());
    }
    origins
        .iter()
        .any(|o| {
            o.eq_ignore_ascii_case(origin) || (o.contains('*') && stratus_core::condition::glob(o, origin))
        })
        .then(|| origin.to_string())
}

pub fn preflight(cors: &Cors, req: &Incoming) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    let origin = req.header("origin").unwrap_or_default();
    let Some(allowed) = origin_allowed(cors, origin) else {
        return resp;
    };
    let method = req
        .header("access-control-request-method")
        .unwrap_or_default()
        .to_ascii_uppercase();
    let methods = cors.allow_methods.as_deref().unwrap_or_default();
    if !methods
        .iter()
        .any(|m| m == "*" || m.eq_ignore_ascii_case(&method))
    {
        return resp;
    }
    let h = resp.headers_mut();
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            h.insert(k, v);
        }
    };
    set("access-control-allow-origin", allowed);
    set("access-control-allow-methods", methods.join(","));
    let headers = cors.allow_headers.as_deref().unwrap_or_default();
    if !headers.is_empty() {
        let value = if headers.iter().any(|x| x == "*") {
            req.header("access-control-request-headers")
                .unwrap_or("*")
                .to_string()
        } else {
            headers.join(",")
        };
        set("access-control-allow-headers", value);
    }
    if let Some(age) = cors.max_age {
        set("access-control-max-age", age.to_string());
    }
    if cors.allow_credentials == Some(true) {
        set("access-control-allow-credentials", "true".into());
    }
    resp
}

/// Adds CORS headers to an answer for an allowed origin; API Gateway's override those the
/// integration sent.
pub fn with_cors(mut resp: Response<Bytes>, cors: Option<&Cors>, req: &Incoming) -> Response<Bytes> {
    let (Some(cors), Some(origin)) = (cors, req.header("origin")) else {
        return resp;
    };
    let Some(allowed) = origin_allowed(cors, origin) else {
        return resp;
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&allowed) {
        h.insert("access-control-allow-origin", v);
    }
    if let Some(expose) = cors.expose_headers.as_deref().filter(|e| !e.is_empty())
        && let Ok(v) = HeaderValue::from_str(&expose.join(","))
    {
        h.insert("access-control-expose-headers", v);
    }
    if cors.allow_credentials == Some(true) {
        h.insert(
            "access-control-allow-credentials",
            HeaderValue::from_static("true"),
        );
    }
    resp
}

// ---- HTTP proxy ---------------------------------------------------------------------------

const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
];

async fn http_proxy(
    g: &ApiGateway,
    n: &Integration,
    uri: &str,
    req: &Incoming,
) -> Result<Response<Bytes>, String> {
    let method = match n.integration_method.as_deref() {
        Some("ANY") | None => req.parts.method.clone(),
        Some(m) => http::Method::from_bytes(m.as_bytes()).map_err(|e| e.to_string())?,
    };
    let mut target = uri.to_string();
    if let Some(q) = req.parts.uri.query() {
        target.push(if target.contains('?') { '&' } else { '?' });
        target.push_str(q);
    }
    forward(g, method, &target, &req.parts.headers, req.body.clone(), req.peer).await
}

/// Sends a request to an HTTP endpoint (hop-by-hop headers dropped, `X-Forwarded-*` added)
/// and reads its whole answer.
pub async fn forward(
    g: &ApiGateway,
    method: http::Method,
    target: &str,
    headers: &HeaderMap,
    body: Bytes,
    peer: SocketAddr,
) -> Result<Response<Bytes>, String> {
    use http_body_util::BodyExt;
    let mut out = http::Request::builder().method(method).uri(target);
    for (k, v) in headers {
        if !HOP_BY_HOP.contains(&k.as_str()) {
            out = out.header(k, v);
        }
    }
    out = out.header("x-forwarded-for", peer.ip().to_string());
    out = out.header("x-forwarded-proto", "http");
    let out = out
        .body(http_body_util::Full::new(body))
        .map_err(|e| e.to_string())?;
    let resp = g
        .inner
        .client
        .request(out)
        .await
        .map_err(|e| format!("{target}: {e}"))?;
    let (mut parts, body) = resp.into_parts();
    let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
    for h in HOP_BY_HOP {
        parts.headers.remove(*h);
    }
    Ok(Response::from_parts(parts, body))
}

// ---- access logs --------------------------------------------------------------------------

#[derive(Default)]
pub struct AccessLog {
    pub status: u16,
    pub length: usize,
    pub latency_ms: u64,
    pub integration_latency_ms: Option<u64>,
    pub integration_status: Option<u16>,
    pub integration_error: Option<String>,
    pub authorizer_error: Option<String>,
}

/// Where a request went, for its access log line.
pub struct Logged<'a> {
    pub account: &'a str,
    pub region: &'a str,
    pub api_id: &'a str,
    pub stage_name: &'a str,
    pub route_key: String,
    pub raw_path: &'a str,
    pub resource_path: &'a str,
}

fn write_access_log(
    g: &ApiGateway,
    r: &Resolved<'_>,
    settings: &crate::v2::generated::AccessLogSettings,
    req: &Incoming,
    log: AccessLog,
) {
    let logged = Logged {
        account: &r.api.account,
        region: &r.api.region,
        api_id: r.api_id,
        stage_name: r.stage_name,
        route_key: r.route_key.clone(),
        raw_path: r.raw_path,
        resource_path: &r.resource,
    };
    access_log(
        g,
        &logged,
        settings.destination_arn.as_deref(),
        settings.format.as_deref(),
        req,
        log,
    );
}

/// Writes one access log line (the stage's format with `$context` variables filled in) to the
/// log group an ARN names, off the request path.
pub fn access_log(
    g: &ApiGateway,
    r: &Logged<'_>,
    destination: Option<&str>,
    format: Option<&str>,
    req: &Incoming,
    log: AccessLog,
) {
    let (Some(arn), Some(format)) = (destination, format) else {
        return;
    };
    let Some(group) = arn
        .split(":log-group:")
        .nth(1)
        .map(|g| g.trim_end_matches(":*").to_string())
    else {
        return;
    };
    let (domain_name, prefix) = domain(req);
    let dash = |o: Option<String>| o.unwrap_or_else(|| "-".into());
    let vars: Vec<(&str, String)> = vec![
        ("$context.requestId", req.request_id.clone()),
        ("$context.extendedRequestId", req.request_id.clone()),
        ("$context.apiId", r.api_id.to_string()),
        ("$context.stage", r.stage_name.to_string()),
        ("$context.routeKey", r.route_key.clone()),
        ("$context.httpMethod", req.parts.method.to_string()),
        (
            "$context.path",
            percent_encoding::percent_decode_str(r.raw_path)
                .decode_utf8_lossy()
                .into_owned(),
        ),
        ("$context.protocol", protocol(req).to_string()),
        ("$context.status", log.status.to_string()),
        ("$context.responseLength", log.length.to_string()),
        ("$context.responseLatency", log.latency_ms.to_string()),
        ("$context.requestTimeEpoch", req.received_ms.to_string()),
        ("$context.requestTime", clf_time(req.received_ms)),
        ("$context.identity.sourceIp", req.peer.ip().to_string()),
        (
            "$context.identity.userAgent",
            req.header("user-agent").unwrap_or("-").to_string(),
        ),
        ("$context.domainName", domain_name),
        ("$context.domainPrefix", prefix),
        (
            "$context.integrationErrorMessage",
            dash(log.integration_error.clone()),
        ),
        ("$context.integration.error", dash(log.integration_error)),
        (
            "$context.integration.latency",
            dash(log.integration_latency_ms.map(|l| l.to_string())),
        ),
        (
            "$context.integrationLatency",
            dash(log.integration_latency_ms.map(|l| l.to_string())),
        ),
        (
            "$context.integration.status",
            dash(log.integration_status.map(|s| s.to_string())),
        ),
        (
            "$context.integrationStatus",
            dash(log.integration_status.map(|s| s.to_string())),
        ),
        ("$context.authorizer.error", dash(log.authorizer_error)),
        ("$context.accountId", r.account.to_string()),
        ("$context.resourcePath", r.resource_path.to_string()),
    ];
    // Longest names first, so that `$context.requestTimeEpoch` is not read as `requestTime`.
    let mut vars = vars;
    vars.sort_by_key(|v| std::cmp::Reverse(v.0.len()));
    let mut line = format.to_string();
    for (k, v) in &vars {
        line = line.replace(k, v);
    }
    let logs = g.inner.logs.clone();
    let (account, region) = (r.account.to_string(), r.region.to_string());
    let stream = format!("{}_{}", r.api_id, r.stage_name.trim_start_matches('$'));
    let ts = req.received_ms;
    tokio::spawn(async move {
        let event = stratus_logs::LogEvent {
            timestamp: ts,
            message: line,
        };
        if let Err(e) = logs.append(&account, &region, &group, &stream, vec![event]).await {
            tracing::warn!(error = %e.message, group, "could not write an access log");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn function_arns_from_integration_uris() {
        let arn = "arn:aws:lambda:us-east-1:000000000000:function:f";
        assert_eq!(function_of(arn).as_deref(), Some(arn));
        assert_eq!(
            function_of(&format!("{arn}:live")).as_deref(),
            Some(format!("{arn}:live").as_str())
        );
        let wrapped =
            format!("arn:aws:apigateway:us-east-1:lambda:path/2015-03-31/functions/{arn}/invocations");
        assert_eq!(function_of(&wrapped).as_deref(), Some(arn));
        assert_eq!(function_of("http://example.com"), None);
    }

    #[test]
    fn v2_shortcut_and_proxy_shapes() {
        let r = response_v2(br#"{"hello":"x"}"#).unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.body().as_ref(), br#"{"hello":"x"}"#);
        let r = response_v2(br#"{"statusCode":201,"headers":{"x-a":"1"},"cookies":["a=b","c=d"],"body":"aGk=","isBase64Encoded":true}"#).unwrap();
        assert_eq!(r.status(), 201);
        assert_eq!(r.body().as_ref(), b"hi");
        assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);
        assert!(response_v2(br#"{"statusCode":"abc"}"#).is_err());
        assert!(response_v2(b"not json").is_err());
        assert!(response_v1(br#"{"hello":"x"}"#).is_err());
        let r =
            response_v1(br#"{"statusCode":200,"multiValueHeaders":{"x-m":["1","2"]},"body":"ok"}"#).unwrap();
        assert_eq!(r.headers().get_all("x-m").iter().count(), 2);
    }

    #[test]
    fn throttle_buckets_refill() {
        let t = Throttle::default();
        assert!(t.admit("k".into(), 0.0, 2));
        assert!(t.admit("k".into(), 0.0, 2));
        assert!(!t.admit("k".into(), 0.0, 2));
        assert!(!t.admit("z".into(), 100.0, 0));
    }
}
