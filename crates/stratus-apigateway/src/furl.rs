//! Lambda function URLs: `http://{url-id}.lambda-url.{region}.localhost:4566/...` invokes the
//! function with the payload format 2.0 event; `AWS_IAM` URLs take SigV4-signed calls only,
//! `NONE` URLs need a resource-policy statement that lets anyone call them (as on AWS); CORS
//! as configured on the URL.

use bytes::Bytes;
use http::Response;
use serde_json::{Value, json};

use crate::authorizer::Granted;
use crate::http_api::{Incoming, Resolved, event_v2, response_v2, with_cors};
use crate::state::ApiRecord;
use crate::v2::generated::{Cors, Stage};
use crate::{ApiGateway, DataBody, FunctionCall, FunctionFailure, Source, whole_body};

fn answer(status: u16, text: &str) -> Response<Bytes> {
    let mut r = Response::new(Bytes::from(json!({ "Message": text }).to_string()));
    *r.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

/// Lambda's URL CORS shape (`AllowOrigins`...) as API Gateway's (`allowOrigins`...).
fn cors_of(v: &Value) -> Option<Cors> {
    let list = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_array())
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
    };
    Some(Cors {
        allow_credentials: v.get("AllowCredentials").and_then(|b| b.as_bool()),
        allow_headers: list("AllowHeaders"),
        allow_methods: list("AllowMethods"),
        allow_origins: list("AllowOrigins"),
        expose_headers: list("ExposeHeaders"),
        max_age: v.get("MaxAge").and_then(|m| m.as_i64()).map(|m| m as i32),
    })
}

pub async fn serve(g: &ApiGateway, id: &str, req: Incoming) -> Response<DataBody> {
    let Some(url) = g.inner.backends.function_url(id).await else {
        return whole_body(answer(403, "Forbidden"));
    };
    let cors = url.cors.as_ref().and_then(cors_of);
    if let Some(c) = &cors
        && req.parts.method == http::Method::OPTIONS
        && req.header("origin").is_some()
        && req.header("access-control-request-method").is_some()
    {
        return whole_body(crate::http_api::preflight(c, &req));
    }
    let mut granted = Granted::default();
    let caller_account = if url.auth_type == "AWS_IAM" {
        match g.inner.backends.authenticate(&req.parts, &req.body).await {
            Ok(identity) => {
                granted = Granted::iam(&identity);
                Some(identity.account_id)
            }
            Err(_) => return whole_body(answer(403, "Forbidden")),
        }
    } else {
        None
    };
    let record = ApiRecord {
        account: match &caller_account {
            Some(a) => a.clone(),
            None => "anonymous".into(),
        },
        region: url.region.clone(),
        ..Default::default()
    };
    let stage = Stage::default();
    let raw_path = req.parts.uri.path().to_string();
    let resolved = Resolved {
        api: &record,
        api_id: id,
        stage: &stage,
        stage_name: "$default",
        raw_path: &raw_path,
        route_key: "$default".into(),
        resource: String::new(),
        path_params: Vec::new(),
    };
    let event = event_v2(&resolved, &req, &granted);
    let call = FunctionCall {
        account: url.account.clone(),
        region: url.region.clone(),
        function: url.function.clone(),
        payload: Bytes::from(event.to_string()),
        request_id: req.request_id.clone(),
        source: match caller_account {
            Some(account) => Source::SignedUrl { account },
            None => Source::PublicUrl,
        },
    };
    let failed = |e: FunctionFailure| match e {
        FunctionFailure::Denied(_) | FunctionFailure::NotFound(_) => answer(403, "Forbidden"),
        FunctionFailure::Throttled => answer(429, "Rate Exceeded."),
        FunctionFailure::Other(e) => {
            tracing::warn!(url = id, error = e, "function URL call failed");
            answer(502, "Internal Server Error")
        }
    };
    let buffered = |a: crate::FunctionAnswer| {
        if a.error {
            answer(502, "Internal Server Error")
        } else {
            response_v2(&a.payload).unwrap_or_else(|_| answer(502, "Internal Server Error"))
        }
    };
    if url.invoke_mode == "RESPONSE_STREAM" {
        let resp = match g.inner.backends.invoke_stream(call).await {
            Err(e) => whole_body(failed(e)),
            Ok(crate::Relayed::Whole(a)) => whole_body(buffered(a)),
            Ok(crate::Relayed::Chunks { first, rest }) => streamed(first, rest).await,
        };
        return finish_url(resp, cors.as_ref(), &req);
    }
    let resp = match g.inner.backends.invoke(call).await {
        Ok(a) => buffered(a),
        Err(e) => failed(e),
    };
    finish_url(whole_body(resp), cors.as_ref(), &req)
}

fn finish_url(resp: Response<DataBody>, cors: Option<&Cors>, req: &Incoming) -> Response<DataBody> {
    let (parts, body) = resp.into_parts();
    let head = with_cors(Response::from_parts(parts, Bytes::new()), cors, req);
    let (mut parts, _) = head.into_parts();
    if let Ok(v) = http::HeaderValue::from_str(&req.request_id) {
        parts.headers.insert("x-amzn-requestid", v);
    }
    Response::from_parts(parts, body)
}

/// The separator after the HTTP prelude a streaming function writes first
/// (`awslambda.HttpResponseStream.from(...)`): eight NUL bytes.
const PRELUDE_END: &[u8] = &[0u8; 8];
/// How much of the stream may be read looking for the prelude.
const PRELUDE_MAX: usize = 64 * 1024;

/// A streamed answer: the optional prelude (`{"statusCode", "headers", "cookies"}` then eight
/// NULs) gives the status and headers; everything after it is the body, relayed as it comes.
async fn streamed(first: Bytes, mut rest: tokio::sync::mpsc::UnboundedReceiver<Bytes>) -> Response<DataBody> {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    let mut head = first.to_vec();
    let mut prelude: Option<(Value, Vec<u8>)> = None;
    if head.first() == Some(&b'{') {
        loop {
            if let Some(at) = head.windows(PRELUDE_END.len()).position(|w| w == PRELUDE_END) {
                if let Ok(v) = serde_json::from_slice::<Value>(&head[..at]) {
                    prelude = Some((v, head[at + PRELUDE_END.len()..].to_vec()));
                }
                break;
            }
            if head.len() > PRELUDE_MAX {
                break;
            }
            match rest.recv().await {
                Some(more) => head.extend_from_slice(&more),
                None => break,
            }
        }
    }
    let (meta, start) = match prelude {
        Some((meta, body)) => (Some(meta), body),
        None => (None, head),
    };
    let mut builder = Response::builder().status(
        meta.as_ref()
            .and_then(|m| m.get("statusCode"))
            .and_then(|s| s.as_u64())
            .unwrap_or(200) as u16,
    );
    if let Some(m) = &meta {
        for (k, v) in m.get("headers").and_then(|h| h.as_object()).into_iter().flatten() {
            if let Some(v) = v.as_str() {
                builder = builder.header(k.as_str(), v);
            }
        }
        for c in m.get("cookies").and_then(|c| c.as_array()).into_iter().flatten() {
            if let Some(c) = c.as_str() {
                builder = builder.header("set-cookie", c);
            }
        }
    }
    if meta
        .as_ref()
        .and_then(|m| m.get("headers"))
        .and_then(|h| h.get("content-type"))
        .is_none()
    {
        builder = builder.header(http::header::CONTENT_TYPE, "application/octet-stream");
    }
    let tail = futures_util::stream::unfold(rest, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) });
    let frames = futures_util::stream::once(async move { Bytes::from(start) })
        .chain(tail)
        .map(|b| Ok::<_, Box<dyn std::error::Error + Send + Sync>>(http_body::Frame::data(b)));
    builder
        .body(http_body_util::StreamBody::new(frames).boxed_unsync())
        .unwrap_or_else(|_| whole_body(answer(502, "Internal Server Error")))
}
