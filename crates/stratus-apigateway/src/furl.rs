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
use crate::{ApiGateway, FunctionCall, FunctionFailure, Source};

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

pub async fn serve(g: &ApiGateway, id: &str, req: Incoming) -> Response<Bytes> {
    let Some(url) = g.inner.backends.function_url(id).await else {
        return answer(403, "Forbidden");
    };
    let cors = url.cors.as_ref().and_then(cors_of);
    if let Some(c) = &cors
        && req.parts.method == http::Method::OPTIONS
        && req.header("origin").is_some()
        && req.header("access-control-request-method").is_some()
    {
        return crate::http_api::preflight(c, &req);
    }
    let mut granted = Granted::default();
    let caller_account = if url.auth_type == "AWS_IAM" {
        match g.inner.backends.authenticate(&req.parts, &req.body).await {
            Ok(identity) => {
                granted = Granted::iam(&identity);
                Some(identity.account_id)
            }
            Err(_) => return answer(403, "Forbidden"),
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
    let resp = match g.inner.backends.invoke(call).await {
        Ok(a) if a.error => answer(502, "Internal Server Error"),
        Ok(a) => response_v2(&a.payload).unwrap_or_else(|_| answer(502, "Internal Server Error")),
        Err(FunctionFailure::Denied(_)) => answer(403, "Forbidden"),
        Err(FunctionFailure::Throttled) => answer(429, "Rate Exceeded."),
        Err(FunctionFailure::NotFound(_)) => answer(403, "Forbidden"),
        Err(FunctionFailure::Other(e)) => {
            tracing::warn!(url = id, error = e, "function URL call failed");
            answer(502, "Internal Server Error")
        }
    };
    let mut resp = with_cors(resp, cors.as_ref(), &req);
    if let Ok(v) = http::HeaderValue::from_str(&req.request_id) {
        resp.headers_mut().insert("x-amzn-requestid", v);
    }
    resp
}
