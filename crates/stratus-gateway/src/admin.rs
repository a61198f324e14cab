//! The Stratus control plane under `/_stratus/`: health for everyone; clock control and
//! state reset only with `--dev` (also at `/moto-api/reset`, which moto-based suites call).

use bytes::Bytes;
use http::request::Parts;
use http::{HeaderValue, Method, Response, StatusCode};
use serde_json::{Value, json};

use crate::Gateway;
use crate::route::Service;

fn reply(status: StatusCode, body: Value) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::from(body.to_string()));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

fn clock_state(gw: &Gateway) -> Value {
    let clock = &gw.inner.clock;
    let now = clock.now_ms();
    json!({ "now_ms": now, "now": stratus_core::ids::iso8601_ms(now), "offset_ms": clock.offset_ms() })
}

pub async fn handle(gw: &Gateway, parts: &Parts, body: &Bytes) -> Response<Bytes> {
    let path = parts.uri.path();
    let dev = gw.inner.config.dev;
    let dev_only = || {
        reply(
            StatusCode::FORBIDDEN,
            json!({ "message": format!("{path} is a test control: start the server with --dev to enable it") }),
        )
    };
    match (parts.method.clone(), path) {
        (Method::GET | Method::HEAD, "/_stratus/health") => {
            let services: serde_json::Map<String, Value> = Service::ALL
                .iter()
                .map(|s| (s.name().to_string(), json!("running")))
                .collect();
            reply(
                StatusCode::OK,
                json!({
                    "status": "running",
                    "version": env!("CARGO_PKG_VERSION"),
                    "store": gw.inner.store.engine_name(),
                    "dev": dev,
                    "services": services,
                }),
            )
        }
        (Method::GET, "/_stratus/clock") => {
            if !dev {
                return dev_only();
            }
            reply(StatusCode::OK, clock_state(gw))
        }
        (Method::POST, "/_stratus/clock") => {
            if !dev {
                return dev_only();
            }
            let req: Value = if body.is_empty() {
                json!({})
            } else {
                match serde_json::from_slice(body) {
                    Ok(v) => v,
                    Err(e) => {
                        return reply(
                            StatusCode::BAD_REQUEST,
                            json!({ "message": format!("invalid JSON: {e}") }),
                        );
                    }
                }
            };
            let clock = &gw.inner.clock;
            if let Some(ms) = req.get("advance_ms").and_then(Value::as_i64) {
                clock.advance_ms(ms);
            } else if let Some(s) = req.get("advance_seconds").and_then(Value::as_f64) {
                clock.advance_ms((s * 1000.0) as i64);
            } else if let Some(ms) = req.get("set_ms").and_then(Value::as_i64) {
                clock.set_ms(ms);
            } else if req.get("reset").and_then(Value::as_bool) == Some(true) {
                clock.reset();
            } else {
                return reply(
                    StatusCode::BAD_REQUEST,
                    json!({ "message": "expected one of advance_ms, advance_seconds, set_ms or reset: true" }),
                );
            }
            tracing::info!(offset_ms = clock.offset_ms(), "clock moved");
            reply(StatusCode::OK, clock_state(gw))
        }
        (Method::POST, "/_stratus/reset" | "/moto-api/reset") => {
            if !dev {
                return dev_only();
            }
            if let Err(e) = gw.inner.store.wipe().await {
                tracing::error!(error = %e, "reset failed");
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({ "message": "reset failed" }),
                );
            }
            gw.inner.clock.reset();
            gw.inner.lambda.reset();
            gw.inner.apigateway.reset();
            if let Err(e) = gw.inner.blobs.wipe().await {
                tracing::warn!(error = %e, "could not remove every blob");
            }
            tracing::info!("state reset");
            reply(StatusCode::OK, json!({ "status": "reset" }))
        }
        (
            Method::GET,
            "/_stratus/lambda/metrics" | "/_stratus/lambda/cost" | "/_stratus/lambda/failed-events",
        ) => {
            // Usage data belongs to an account: the request must be signed by one of its keys.
            let protocol = stratus_protocol::Protocol::RestJson;
            let (identity, region) =
                match crate::auth::authenticate(gw, crate::auth::parse(parts), parts, body, protocol).await {
                    Ok(id) => id,
                    Err(e) => return e.render(protocol, ""),
                };
            let function = stratus_protocol::rest::query_pairs(parts.uri.query())
                .into_iter()
                .find(|(k, _)| k == "function")
                .map(|(_, v)| v);
            let lambda = &gw.inner.lambda;
            let account = &identity.account_id;
            let result = match path {
                "/_stratus/lambda/metrics" => lambda.metrics(account, &region, function.as_deref()).await,
                "/_stratus/lambda/cost" => lambda.cost(account, &region).await,
                _ => lambda.failed_events(account, &region, function.as_deref()).await,
            };
            match result {
                Ok(v) => reply(StatusCode::OK, v),
                Err(e) => e.render(protocol, ""),
            }
        }
        (Method::GET, p) if p.starts_with("/_stratus/lambda/code/") => {
            // GetFunction's `Code.Location`: a link signed by the server, like a presigned URL.
            let id = p
                .trim_start_matches("/_stratus/lambda/code/")
                .trim_end_matches(".zip");
            let token = stratus_protocol::rest::query_pairs(parts.uri.query())
                .into_iter()
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v)
                .unwrap_or_default();
            match gw.inner.lambda.download(id, &token) {
                Some(zip) => {
                    let mut resp = Response::new(Bytes::from(zip));
                    resp.headers_mut().insert(
                        http::header::CONTENT_TYPE,
                        HeaderValue::from_static("application/zip"),
                    );
                    resp
                }
                None => reply(StatusCode::FORBIDDEN, json!({ "message": "Access Denied" })),
            }
        }
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({ "message": format!("no such control endpoint: {} {path}", parts.method) }),
        ),
    }
}
