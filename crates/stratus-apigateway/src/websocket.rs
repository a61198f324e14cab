//! WebSocket APIs: a client connects to `ws://{api}.execute-api.localhost:4566/{stage}` (or the
//! `/_aws/execute-api/{api}/{stage}` path form); `$connect` may refuse it, each message is
//! routed by the API's route selection expression (`$request.body.action`) to its route or
//! `$default`, `$disconnect` runs when it goes, and functions push to clients through the
//! `@connections` management API (`POST`/`GET`/`DELETE /{stage}/@connections/{id}`, also at
//! the endpoint's root so that an SDK pointed at `AWS_ENDPOINT_URL` reaches it).
//!
//! Connections live on the node that accepted them; their registry is in memory.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role, WebSocketConfig};

use crate::http_api::{Incoming, clf_time, function_of, message};
use crate::state::ApiRecord;
use crate::v2::generated::{Integration, Route};
use crate::{ApiGateway, FunctionCall, SERVICE_PRINCIPAL, Source};

/// AWS's limit on a WebSocket message.
const MAX_MESSAGE: usize = 128 * 1024;
/// Idle connections are closed after 10 minutes, as on AWS.
const IDLE: Duration = Duration::from_secs(600);

enum Outgoing {
    Data(Bytes),
    Close,
}

struct Connection {
    api_id: String,
    stage: String,
    connected_ms: i64,
    last_active_ms: i64,
    source_ip: String,
    user_agent: String,
    tx: mpsc::UnboundedSender<Outgoing>,
}

/// Open connections of this node.
#[derive(Default)]
pub struct Connections {
    open: Mutex<HashMap<String, Connection>>,
}

impl Connections {
    pub fn forget(&self) {
        for (_, c) in self.open.lock().unwrap().drain() {
            let _ = c.tx.send(Outgoing::Close);
        }
    }
}

fn connection_id() -> String {
    let raw: [u8; 10] = rand::random();
    base64::engine::general_purpose::STANDARD
        .encode(raw)
        .replace('/', "_")
        .replace('+', "-")
}

fn iso(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

/// `/@connections/{id}` anywhere in a path (after a stage, or at the root).
pub fn connection_path(path: &str) -> Option<String> {
    let (_, id) = path.split_once("/@connections/")?;
    let id = percent_encoding::percent_decode_str(id)
        .decode_utf8_lossy()
        .into_owned();
    (!id.is_empty() && !id.contains('/')).then_some(id)
}

/// The management API: post to, describe or close a connection (SigV4-signed calls only).
/// `scope` is the API and stage the call was addressed to, if any.
pub async fn manage(g: &ApiGateway, id: &str, scope: Option<(&str, &str)>, req: Incoming) -> Response<Bytes> {
    if g.inner
        .backends
        .authenticate(&req.parts, &req.body)
        .await
        .is_err()
    {
        return error(403, "ForbiddenException", "Forbidden");
    }
    let now = g.inner.clock.now_ms();
    let mut open = g.inner.connections.open.lock().unwrap();
    let Some(c) = open
        .get_mut(id)
        .filter(|c| scope.is_none_or(|(api, stage)| c.api_id == api && c.stage == stage))
    else {
        return error(410, "GoneException", "");
    };
    match req.parts.method {
        http::Method::POST => {
            if req.body.len() > MAX_MESSAGE {
                return error(413, "PayloadTooLargeException", "Message too long");
            }
            c.last_active_ms = now;
            if c.tx.send(Outgoing::Data(req.body.clone())).is_err() {
                open.remove(id);
                return error(410, "GoneException", "");
            }
            Response::new(Bytes::new())
        }
        http::Method::GET => {
            let body = json!({
                "connectedAt": iso(c.connected_ms),
                "identity": {"sourceIp": c.source_ip, "userAgent": c.user_agent},
                "lastActiveAt": iso(c.last_active_ms),
            });
            let mut r = Response::new(Bytes::from(body.to_string()));
            r.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            r
        }
        http::Method::DELETE => {
            let _ = c.tx.send(Outgoing::Close);
            let mut r = Response::new(Bytes::new());
            *r.status_mut() = StatusCode::NO_CONTENT;
            r
        }
        _ => error(400, "BadRequestException", "Unsupported method"),
    }
}

fn error(status: u16, code: &str, text: &str) -> Response<Bytes> {
    let body = if text.is_empty() {
        json!({ "message": null })
    } else {
        json!({ "message": text })
    };
    let mut r = Response::new(Bytes::from(body.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
    if let Ok(v) = HeaderValue::from_str(code) {
        r.headers_mut().insert("x-amzn-errortype", v);
    }
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// What the events of one connection share.
#[derive(Clone)]
struct Session {
    api: Arc<ApiRecord>,
    api_id: String,
    stage: String,
    connection_id: String,
    connected_ms: i64,
    domain: String,
    source_ip: String,
    user_agent: String,
    /// What the `$connect` authorizer granted, passed along with every event.
    authorizer: Option<Value>,
}

impl Session {
    fn context(
        &self,
        route_key: &str,
        event_type: &str,
        request_id: &str,
        now_ms: i64,
    ) -> Map<String, Value> {
        let mut c = Map::new();
        c.insert("routeKey".into(), route_key.into());
        c.insert("eventType".into(), event_type.into());
        c.insert("extendedRequestId".into(), request_id.into());
        c.insert("requestTime".into(), clf_time(now_ms).into());
        c.insert("messageDirection".into(), "IN".into());
        c.insert("stage".into(), self.stage.clone().into());
        c.insert("connectedAt".into(), self.connected_ms.into());
        c.insert("requestTimeEpoch".into(), now_ms.into());
        c.insert(
            "identity".into(),
            json!({"sourceIp": self.source_ip, "userAgent": self.user_agent}),
        );
        c.insert("requestId".into(), request_id.into());
        c.insert("domainName".into(), self.domain.clone().into());
        c.insert("connectionId".into(), self.connection_id.clone().into());
        c.insert("apiId".into(), self.api_id.clone().into());
        if let Some(a) = &self.authorizer {
            c.insert("authorizer".into(), a.clone());
        }
        c
    }
}

fn route_for<'a>(d: &'a crate::http_api::Deployed, key: &str) -> Option<&'a Route> {
    d.raw_routes
        .values()
        .find(|r| r.route_key.as_deref() == Some(key))
}

fn integration_of<'a>(d: &'a crate::http_api::Deployed, route: &Route) -> Option<&'a Integration> {
    route
        .target
        .as_deref()
        .and_then(|t| t.strip_prefix("integrations/"))
        .and_then(|id| d.integrations.get(id))
}

/// Runs a route's integration; the answer's `statusCode` and `body` (or the raw payload).
async fn run_route(
    g: &ApiGateway,
    s: &Session,
    route: &Route,
    d: &crate::http_api::Deployed,
    event: Value,
    request_id: &str,
) -> Option<(u16, Option<String>)> {
    let n = integration_of(d, route)?;
    match n.integration_type.as_deref() {
        Some("AWS_PROXY") | Some("AWS") => {
            let function = function_of(n.integration_uri.as_deref().unwrap_or_default())?;
            let call = FunctionCall {
                account: s.api.account.clone(),
                region: s.api.region.clone(),
                function,
                payload: Bytes::from(event.to_string()),
                request_id: request_id.to_string(),
                source: Source::Service {
                    principal: SERVICE_PRINCIPAL,
                    arn: format!(
                        "arn:aws:execute-api:{}:{}:{}/{}/{}",
                        s.api.region,
                        s.api.account,
                        s.api_id,
                        s.stage,
                        route.route_key.as_deref().unwrap_or_default()
                    ),
                },
            };
            let timeout = Duration::from_millis(n.timeout_in_millis.unwrap_or(29000).max(50) as u64);
            match g.call_function(call, timeout, "WebSocket integration").await {
                Ok(a) if !a.error => {
                    let v: Value = serde_json::from_slice(&a.payload).unwrap_or(Value::Null);
                    let status = v.get("statusCode").and_then(|s| s.as_u64()).unwrap_or(200) as u16;
                    let body = match v.get("body") {
                        Some(Value::String(b)) => Some(b.clone()),
                        Some(other) if !other.is_null() => Some(other.to_string()),
                        _ if v.is_object() && v.get("statusCode").is_some() => None,
                        _ => Some(String::from_utf8_lossy(&a.payload).into_owned()),
                    };
                    Some((status, body))
                }
                Ok(_) => Some((500, None)),
                Err(crate::Unanswered::Failed(_)) => Some((500, None)),
                Err(crate::Unanswered::TimedOut) => Some((504, None)),
            }
        }
        Some("MOCK") => Some((200, None)),
        _ => None,
    }
}

/// A Lambda REQUEST authorizer on `$connect`: identity sources `route.request.header.X` and
/// `route.request.querystring.X`; the answer is an IAM policy for the `$connect` route.
async fn authorize_connect(
    g: &ApiGateway,
    s: &Session,
    z: &crate::v2::generated::Authorizer,
    headers: &Map<String, Value>,
    query: &Map<String, Value>,
    req: &Incoming,
) -> Result<Value, Response<Bytes>> {
    let mut values = Vec::new();
    for source in z.identity_source.iter().flatten() {
        let v = if let Some(h) = source.strip_prefix("route.request.header.") {
            headers.get(&h.to_ascii_lowercase()).and_then(|v| v.as_str())
        } else if let Some(q) = source.strip_prefix("route.request.querystring.") {
            query.get(q).and_then(|v| v.as_str())
        } else {
            None
        };
        match v.filter(|v| !v.is_empty()) {
            Some(v) => values.push(v.to_string()),
            None => return Err(message(401, "Unauthorized")),
        }
    }
    let function = function_of(z.authorizer_uri.as_deref().unwrap_or_default())
        .ok_or_else(|| message(500, "Internal server error"))?;
    let method_arn = format!(
        "arn:aws:execute-api:{}:{}:{}/{}/$connect",
        s.api.region, s.api.account, s.api_id, s.stage
    );
    let event = json!({
        "type": "REQUEST",
        "methodArn": method_arn,
        "headers": headers,
        "queryStringParameters": query,
        "stageVariables": {},
        "requestContext": s.context("$connect", "CONNECT", &req.request_id, req.received_ms),
    });
    let call = FunctionCall {
        account: s.api.account.clone(),
        region: s.api.region.clone(),
        function,
        payload: Bytes::from(event.to_string()),
        request_id: req.request_id.clone(),
        source: Source::Service {
            principal: SERVICE_PRINCIPAL,
            arn: format!(
                "arn:aws:execute-api:{}:{}:{}/authorizers/{}",
                s.api.region,
                s.api.account,
                s.api_id,
                z.authorizer_id.as_deref().unwrap_or_default()
            ),
        },
    };
    let answer = match g
        .call_function(call, Duration::from_secs(10), "WebSocket authorizer")
        .await
    {
        Ok(a) if !a.error => serde_json::from_slice::<Value>(&a.payload).unwrap_or(Value::Null),
        _ => return Err(message(500, "Internal server error")),
    };
    if crate::authorizer::evaluate(&answer["policyDocument"], &method_arn) != Some(true) {
        return Err(message(403, "Forbidden"));
    }
    let mut granted = answer
        .get("context")
        .and_then(|c| c.as_object())
        .cloned()
        .unwrap_or_default();
    if let Some(p) = answer.get("principalId").and_then(|p| p.as_str()) {
        granted.insert("principalId".into(), p.into());
    }
    Ok(Value::Object(granted))
}

/// `$request.body.a.b` against a message.
fn select_route(expression: &str, body: &str) -> Option<String> {
    let path = expression.strip_prefix("$request.body.")?;
    let mut v: Value = serde_json::from_str(body).ok()?;
    for part in path.split('.') {
        v = v.get(part)?.clone();
    }
    match v {
        Value::String(s) => Some(s),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

pub async fn serve(
    g: &ApiGateway,
    api: Arc<ApiRecord>,
    api_id: &str,
    path: &str,
    req: Incoming,
) -> Response<Bytes> {
    let stage_name = path
        .trim_start_matches('/')
        .split('/')
        .next()
        .unwrap_or_default()
        .to_string();
    let Some(stage) = api.stages.get(&stage_name) else {
        return message(403, "Forbidden");
    };
    let Some(deployed) = (match &stage.deployment_id {
        Some(d) => crate::http_api::deployed(g, api_id, d).await,
        None => None,
    }) else {
        return message(403, "Forbidden");
    };
    let upgrade = req
        .header("upgrade")
        .is_some_and(|u| u.eq_ignore_ascii_case("websocket"));
    let Some(key) = req
        .header("sec-websocket-key")
        .map(str::to_string)
        .filter(|_| upgrade)
    else {
        return message(426, "Upgrade Required");
    };
    let now = g.inner.clock.now_ms();
    let session = Session {
        api: api.clone(),
        api_id: api_id.to_string(),
        stage: stage_name.clone(),
        connection_id: connection_id(),
        connected_ms: now,
        domain: req.header("host").unwrap_or("localhost").to_string(),
        source_ip: req.peer.ip().to_string(),
        user_agent: req.header("user-agent").unwrap_or_default().to_string(),
        authorizer: None,
    };
    let mut session = session;
    let mut headers = Map::new();
    let mut multi = Map::new();
    for (k, v) in &req.parts.headers {
        let v = String::from_utf8_lossy(v.as_bytes()).into_owned();
        headers.insert(k.as_str().to_string(), v.clone().into());
        multi.insert(k.as_str().to_string(), json!([v]));
    }
    let query: Map<String, Value> = crate::http_api::query_pairs(req.parts.uri.query())
        .into_iter()
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    // `$connect` decides whether the connection is accepted: its authorizer first.
    if let Some(route) = route_for(&deployed, "$connect")
        && route.authorization_type.as_deref() == Some("CUSTOM")
    {
        let Some(z) = route
            .authorizer_id
            .as_ref()
            .and_then(|id| deployed.authorizers.get(id))
        else {
            return message(500, "Internal server error");
        };
        match authorize_connect(g, &session, z, &headers, &query, &req).await {
            Ok(granted) => session.authorizer = Some(granted),
            Err(resp) => return resp,
        }
    }
    if let Some(route) = route_for(&deployed, "$connect") {
        let event = json!({
            "headers": headers,
            "multiValueHeaders": multi,
            "queryStringParameters": if query.is_empty() { Value::Null } else { Value::Object(query.clone()) },
            "requestContext": session.context("$connect", "CONNECT", &req.request_id, now),
            "isBase64Encoded": false,
        });
        match run_route(g, &session, route, &deployed, event, &req.request_id).await {
            Some((status, _)) if status < 300 => {}
            Some((status, _)) if status >= 500 => return message(500, "Internal server error"),
            Some(_) => return message(403, "Forbidden"),
            None => return message(500, "Internal server error"),
        }
    }
    let mut request = http::Request::from_parts(req.parts, ());
    let on_upgrade = hyper::upgrade::on(&mut request);
    let (tx, rx) = mpsc::unbounded_channel();
    g.inner.connections.open.lock().unwrap().insert(
        session.connection_id.clone(),
        Connection {
            api_id: api_id.to_string(),
            stage: stage_name,
            connected_ms: now,
            last_active_ms: now,
            source_ip: session.source_ip.clone(),
            user_agent: session.user_agent.clone(),
            tx,
        },
    );
    let g2 = g.clone();
    tokio::spawn(async move {
        match on_upgrade.await {
            Ok(upgraded) => run(g2, session, deployed, upgraded, rx).await,
            Err(e) => {
                tracing::debug!(error = %e, "WebSocket upgrade failed");
                g2.inner
                    .connections
                    .open
                    .lock()
                    .unwrap()
                    .remove(&session.connection_id);
            }
        }
    });
    let accept = tokio_tungstenite::tungstenite::handshake::derive_accept_key(key.as_bytes());
    let mut r = Response::new(Bytes::new());
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(http::header::UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(http::header::CONNECTION, HeaderValue::from_static("Upgrade"));
    if let Ok(v) = HeaderValue::from_str(&accept) {
        h.insert("sec-websocket-accept", v);
    }
    r
}

async fn run(
    g: ApiGateway,
    s: Session,
    deployed: Arc<crate::http_api::Deployed>,
    upgraded: hyper::upgrade::Upgraded,
    mut rx: mpsc::UnboundedReceiver<Outgoing>,
) {
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_MESSAGE))
        .max_frame_size(Some(MAX_MESSAGE));
    let ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
        hyper_util::rt::TokioIo::new(upgraded),
        Role::Server,
        Some(config),
    )
    .await;
    let (mut sink, mut stream) = ws.split();
    let selection = s
        .api
        .api
        .route_selection_expression
        .clone()
        .unwrap_or_else(|| "$request.body.action".into());
    let (mut code, mut reason) = (1006u16, String::new());
    loop {
        tokio::select! {
            incoming = tokio::time::timeout(IDLE, stream.next()) => {
                let msg = match incoming {
                    Err(_) => { code = 1001; reason = "Going away".into(); break; }
                    Ok(None) => break,
                    Ok(Some(Err(_))) => break,
                    Ok(Some(Ok(m))) => m,
                };
                let (text, binary) = match msg {
                    Message::Text(t) => (t.to_string(), false),
                    Message::Binary(b) => (base64::engine::general_purpose::STANDARD.encode(&b), true),
                    Message::Close(frame) => {
                        if let Some(f) = frame {
                            code = f.code.into();
                            reason = f.reason.to_string();
                        } else {
                            code = 1005;
                        }
                        break;
                    }
                    _ => continue,
                };
                let now = g.inner.clock.now_ms();
                if let Some(c) = g.inner.connections.open.lock().unwrap().get_mut(&s.connection_id) {
                    c.last_active_ms = now;
                }
                let request_id = stratus_core::ids::request_id();
                let key = select_route(&selection, &text).filter(|k| route_for(&deployed, k).is_some());
                let route = key.as_deref().and_then(|k| route_for(&deployed, k)).or_else(|| route_for(&deployed, "$default"));
                let Some(route) = route else {
                    let err = json!({"message": "Forbidden", "connectionId": s.connection_id, "requestId": request_id});
                    let _ = sink.send(Message::Text(err.to_string().into())).await;
                    continue;
                };
                let route_key = route.route_key.clone().unwrap_or_default();
                let mut context = s.context(&route_key, "MESSAGE", &request_id, now);
                context.insert("messageId".into(), connection_id().into());
                let event = json!({"requestContext": context, "body": text, "isBase64Encoded": binary});
                let answer = run_route(&g, &s, route, &deployed, event, &request_id).await;
                // Two-way routes send the integration's answer back to the client.
                if route.route_response_selection_expression.is_some()
                    && let Some((_, Some(body))) = answer.clone()
                {
                    let _ = sink.send(Message::Text(body.into())).await;
                }
                if let Some((status, _)) = answer
                    && status >= 500
                {
                    let err = json!({"message": "Internal server error", "connectionId": s.connection_id, "requestId": request_id});
                    let _ = sink.send(Message::Text(err.to_string().into())).await;
                }
            }
            out = rx.recv() => match out {
                Some(Outgoing::Data(b)) => {
                    let msg = match String::from_utf8(b.to_vec()) {
                        Ok(t) => Message::Text(t.into()),
                        Err(e) => Message::Binary(e.into_bytes().into()),
                    };
                    if sink.send(msg).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::Close) | None => {
                    code = 1000;
                    reason = "Connection closed by the server".into();
                    let _ = sink
                        .send(Message::Close(Some(CloseFrame { code: 1000.into(), reason: "".into() })))
                        .await;
                    break;
                }
            }
        }
    }
    g.inner.connections.open.lock().unwrap().remove(&s.connection_id);
    if let Some(route) = route_for(&deployed, "$disconnect") {
        let request_id = stratus_core::ids::request_id();
        let mut context = s.context("$disconnect", "DISCONNECT", &request_id, g.inner.clock.now_ms());
        context.insert("disconnectStatusCode".into(), code.into());
        context.insert("disconnectReason".into(), reason.into());
        let event = json!({"requestContext": context, "isBase64Encoded": false});
        let _ = run_route(&g, &s, route, &deployed, event, &request_id).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_selected_from_the_body() {
        assert_eq!(
            select_route("$request.body.action", r#"{"action": "send"}"#).as_deref(),
            Some("send")
        );
        assert_eq!(
            select_route("$request.body.a.b", r#"{"a": {"b": "x"}}"#).as_deref(),
            Some("x")
        );
        assert_eq!(select_route("$request.body.action", "not json"), None);
        assert_eq!(
            connection_path("/prod/@connections/abc%3D").as_deref(),
            Some("abc=")
        );
        assert_eq!(connection_path("/@connections/abc").as_deref(), Some("abc"));
        assert_eq!(connection_path("/prod/other"), None);
    }
}
