//! Invoke: resolve the qualifier (aliases pick a version by weight), take a concurrency slot,
//! run the event on an instance, write the function's output with START/END/REPORT lines to
//! CloudWatch Logs, count it in the metrics, and answer as Lambda does
//! (`X-Amz-Function-Error`, `X-Amz-Log-Result`, `X-Amz-Executed-Version`). `Event` calls are
//! queued instead ([`crate::asynchronous`]), which runs them through [`execute`] later.

use std::time::Duration;

use base64::Engine;
use bytes::Bytes;
use stratus_core::RequestContext;
use stratus_logs::LogEvent;
use stratus_protocol::types::Blob;
use stratus_runtime::{FunctionSpec, Invocation};

use crate::generated::{InvocationRequest, InvocationResponse};
use crate::ops::{function_arn, load_shared, log_group, resolve, target};
use crate::state::{self, Config, Function};
use crate::{Lambda, LambdaError};

/// Largest synchronous request payload (6 MB, as AWS).
pub const MAX_PAYLOAD: usize = 6 * 1024 * 1024;
/// Size of the log tail returned with `LogType: Tail`.
const TAIL_BYTES: usize = 4096;

pub async fn invoke(
    l: Lambda,
    cx: RequestContext,
    i: InvocationRequest,
) -> Result<InvocationResponse, LambdaError> {
    invoke_with(l, cx, i, Extras::default()).await
}

/// What a call from inside Stratus adds to an Invoke.
#[derive(Default)]
pub(crate) struct Extras {
    /// Receives the chunks of a function that answers in streaming mode, as they arrive.
    pub stream: Option<tokio::sync::mpsc::UnboundedSender<Bytes>>,
    /// Told the version that runs, before it runs.
    pub version: Option<tokio::sync::oneshot::Sender<String>>,
    /// Another service (or a function URL) calling: the function's resource policy must
    /// allow it; checked on the record the call loads anyway.
    pub caller: Option<crate::callers::Caller>,
}

pub(crate) async fn invoke_with(
    l: Lambda,
    cx: RequestContext,
    i: InvocationRequest,
    extras: Extras,
) -> Result<InvocationResponse, LambdaError> {
    let Extras {
        stream,
        version,
        caller,
    } = extras;
    let t = target(
        i.function_name.as_deref().unwrap_or_default(),
        i.qualifier.as_deref(),
    )?;
    let payload = i.payload.map(|b| b.0).unwrap_or_default();
    if i.invocation_type.as_deref() == Some("Event") {
        crate::asynchronous::accept(&l, &cx, &t.name, t.qualifier.as_deref(), payload).await?;
        return Ok(InvocationResponse {
            status_code: Some(202),
            ..Default::default()
        });
    }
    if payload.len() > MAX_PAYLOAD {
        return Err(LambdaError::TooLarge(format!(
            "{} byte payload is too large for the RequestResponse invocation type (limit {MAX_PAYLOAD} bytes)",
            payload.len()
        )));
    }
    let payload = if payload.is_empty() {
        b"{}".to_vec()
    } else {
        payload
    };
    if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&payload) {
        return Err(LambdaError::InvalidRequestContent(format!(
            "Could not parse request body into json: Could not parse payload into json: {e}"
        )));
    }
    let f = load_shared(&l, &cx, &t.name).await?;
    if let Some(caller) = &caller {
        let statements = f
            .policies
            .get(t.qualifier.as_deref().unwrap_or_default())
            .map_or(&[][..], Vec::as_slice);
        crate::callers::check_policy(statements, cx.account_id(), caller).map_err(LambdaError::Denied)?;
    }
    let mut qualifier = t.qualifier.clone();
    // An alias with weights routes a share of calls to its additional version.
    if let Some(q) = &qualifier
        && q != "$LATEST"
        && !q.chars().all(|c| c.is_ascii_digit())
    {
        let akey = state::alias_key(cx.account_id(), &cx.region, &t.name, q);
        if let Some((a, _)) = state::get_alias(&l.inner.store, &akey).await? {
            let roll: f64 = rand::random();
            let mut acc = 0.0;
            let mut chosen = a.function_version.clone();
            for (v, w) in &a.weights {
                acc += w;
                if roll < acc {
                    chosen = v.clone();
                    break;
                }
            }
            qualifier = Some(chosen);
        }
    }
    let config = resolve(&l, &cx, &f, qualifier.as_deref()).await?;
    if let Some(v) = version {
        let _ = v.send(config.version.clone());
    }
    let invoked_arn = match &t.qualifier {
        Some(q) => format!("{}:{q}", function_arn(&cx, &t.name)),
        None => function_arn(&cx, &t.name),
    };
    if i.invocation_type.as_deref() == Some("DryRun") {
        return Ok(InvocationResponse {
            status_code: Some(204),
            ..Default::default()
        });
    }
    let client_context = match &i.client_context {
        Some(c) => {
            let raw = base64::engine::general_purpose::STANDARD.decode(c).map_err(|_| {
                LambdaError::InvalidParameter(
                    "Client context must be a valid Base64-encoded JSON object.".into(),
                )
            })?;
            if !serde_json::from_slice::<serde_json::Value>(&raw).is_ok_and(|v| v.is_object()) {
                return Err(LambdaError::InvalidParameter(
                    "Client context must be a valid Base64-encoded JSON object.".into(),
                ));
            }
            Some(String::from_utf8_lossy(&raw).into_owned())
        }
        None => None,
    };
    let inv = Invocation {
        request_id: cx.request_id.clone(),
        payload: Bytes::from(payload),
        invoked_arn,
        client_context,
        cognito_identity: None,
        stream,
    };
    let Ran { result, log } = execute(&l, &cx, &f, &config, inv).await?;
    let tail = (i.log_type.as_deref() == Some("Tail")).then(|| {
        let start = log.len().saturating_sub(TAIL_BYTES);
        let mut start = start;
        while !log.is_char_boundary(start) {
            start += 1;
        }
        base64::engine::general_purpose::STANDARD.encode(&log.as_bytes()[start..])
    });
    let (payload, error) = match result {
        Ok(body) => (body, None),
        Err(body) => (body, Some("Unhandled".to_string())),
    };
    Ok(InvocationResponse {
        status_code: Some(200),
        function_error: error,
        log_result: tail,
        payload: Some(Blob(payload.to_vec())),
        executed_version: Some(config.version.clone()),
        durable_execution_arn: None,
    })
}

/// One finished call: the function's answer (or error payload) and its log text.
pub(crate) struct Ran {
    pub result: Result<Bytes, Bytes>,
    pub log: String,
}

/// Runs one event of a resolved configuration within the concurrency limits; a throttle is
/// `TooManyRequestsException`, counted in the metrics like every call.
pub(crate) async fn execute(
    l: &Lambda,
    cx: &RequestContext,
    f: &Function,
    config: &Config,
    inv: Invocation,
) -> Result<Ran, LambdaError> {
    let (account, region) = (cx.account_id(), cx.region.as_str());
    let permit = match l
        .inner
        .concurrency
        .acquire(&l.inner.store, account, region, &config.name, f.reserved)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            if matches!(e, LambdaError::TooManyRequests(_)) {
                l.inner
                    .metrics
                    .throttled(account, region, &config.name, &config.version);
            }
            return Err(e);
        }
    };
    let spec = shared_spec(l, cx, config)?;
    let pool = l.inner.runtime.provisioned(&spec.pool_key);
    let (result, log, outcome) = run(l, cx, config, &spec, inv).await;
    l.inner.metrics.invoked(
        account,
        region,
        &crate::metrics::Invocation {
            function: &config.name,
            version: &config.version,
            memory_mb: config.memory_mb,
            duration_ms: ms(outcome.duration),
            init_ms: outcome.init_duration.map(ms),
            error: result.is_err(),
            provisioned: outcome.provisioned,
            concurrent: permit.running,
            provisioned_utilization: (pool.target > 0)
                .then(|| ((pool.busy + 1) as f64 / pool.target as f64).min(1.0)),
        },
    );
    drop(permit);
    Ok(Ran { result, log })
}

/// What a call reports beyond its answer, for the metrics.
struct Measured {
    duration: Duration,
    init_duration: Option<Duration>,
    provisioned: bool,
}

/// [`spec`] for the invoke path, built once per configuration revision and shared.
fn shared_spec(
    l: &Lambda,
    cx: &RequestContext,
    c: &Config,
) -> Result<std::sync::Arc<FunctionSpec>, LambdaError> {
    let key = format!("{}:{}:{}", function_arn(cx, &c.name), c.version, c.revision_id);
    if let Some(spec) = l.inner.specs.lock().unwrap().get(&key) {
        return Ok(spec.clone());
    }
    let spec = std::sync::Arc::new(spec(l, cx, c)?);
    let mut specs = l.inner.specs.lock().unwrap();
    // Old revisions are never asked for again; a bound keeps the map from growing with them.
    if specs.len() >= 4096 {
        specs.clear();
    }
    specs.insert(key, spec.clone());
    Ok(spec)
}

/// How the runtime starts instances of one version's configuration.
pub(crate) fn spec(l: &Lambda, cx: &RequestContext, c: &Config) -> Result<FunctionSpec, LambdaError> {
    let code = &l.inner.code;
    let layers: Vec<String> = c.layers.iter().map(|x| x.code_sha256.clone()).collect();
    let layers_dir = code.merged_layers(&layers)?;
    let mut env: Vec<(String, String)> = c.env.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    let (key, secret) = l
        .inner
        .config
        .credentials
        .iter()
        .find(|(acct, _, _)| acct == cx.account_id())
        .map(|(_, k, s)| (k.clone(), s.clone()))
        .unwrap_or_else(|| ("test".into(), "test".into()));
    env.extend([
        ("AWS_REGION".to_string(), cx.region.clone()),
        ("AWS_DEFAULT_REGION".into(), cx.region.clone()),
        ("AWS_LAMBDA_FUNCTION_NAME".into(), c.name.clone()),
        ("AWS_LAMBDA_FUNCTION_VERSION".into(), c.version.clone()),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE".into(), c.memory_mb.to_string()),
        ("AWS_LAMBDA_INITIALIZATION_TYPE".into(), "on-demand".into()),
        ("AWS_EXECUTION_ENV".into(), format!("AWS_Lambda_{}", c.runtime)),
        ("AWS_ACCESS_KEY_ID".into(), key),
        ("AWS_SECRET_ACCESS_KEY".into(), secret),
        ("AWS_ENDPOINT_URL".into(), l.inner.config.endpoint_url.clone()),
    ]);
    Ok(FunctionSpec {
        pool_key: format!(
            "{}:{}:{}:{}",
            function_arn(cx, &c.name),
            c.version,
            c.code_sha256,
            c.revision_id
        ),
        function_name: c.name.clone(),
        version: c.version.clone(),
        runtime: c.runtime.clone(),
        handler: c.handler.clone(),
        memory_mb: c.memory_mb as u64,
        timeout: Duration::from_secs(c.timeout as u64),
        tmp_mb: c.tmp_mb as u64,
        code_dir: code.dir(&c.code_sha256),
        layers_dir,
        env,
        log_group: log_group(c),
    })
}

/// Runs one event and writes its log; returns the result, the log text of this call and its
/// measurements.
async fn run(
    l: &Lambda,
    cx: &RequestContext,
    c: &Config,
    spec: &FunctionSpec,
    inv: Invocation,
) -> (Result<Bytes, Bytes>, String, Measured) {
    let rid = inv.request_id.clone();
    let started_ms = l.inner.clock.now_ms();
    let outcome = l.inner.runtime.invoke(spec, inv).await;
    let mut events = Vec::new();
    let mut text = String::new();
    let mut push = |ts: i64, line: String| {
        text.push_str(&line);
        text.push('\n');
        events.push(LogEvent {
            timestamp: ts,
            message: line,
        });
    };
    let mut lines = outcome.lines.into_iter().peekable();
    let start_ts = lines.peek().map_or(started_ms, |(ts, _)| (*ts).min(started_ms));
    if let Some(init) = outcome.init_duration {
        push(
            start_ts,
            format!(
                "INIT_START Runtime Version: {}.stratus\tInit Duration: {:.2} ms",
                c.runtime,
                ms(init)
            ),
        );
    }
    push(start_ts, format!("START RequestId: {rid} Version: {}", c.version));
    for (ts, line) in lines {
        push(ts, line);
    }
    let end_ts = l.inner.clock.now_ms();
    for line in outcome.platform_lines {
        push(end_ts, line);
    }
    if let Err(body) = &outcome.result
        && outcome.duration.is_zero()
    {
        // The call never reached the function: say why, as the platform does.
        push(end_ts, String::from_utf8_lossy(body).into_owned());
    }
    push(end_ts, format!("END RequestId: {rid}"));
    let duration = ms(outcome.duration);
    let billed = crate::metrics::billed_ms(duration, outcome.init_duration.map(ms));
    let mut report = format!(
        "REPORT RequestId: {rid}\tDuration: {duration:.2} ms\tBilled Duration: {billed} ms\tMemory Size: {} MB\tMax Memory Used: {} MB\t",
        c.memory_mb, outcome.max_memory_mb
    );
    if let Some(init) = outcome.init_duration {
        report.push_str(&format!("Init Duration: {:.2} ms\t", ms(init)));
    }
    push(end_ts, report);
    let group = log_group(c);
    let stream = if outcome.log_stream.is_empty() {
        stratus_runtime::log_stream_name(&c.version, &uuid::Uuid::new_v4().simple().to_string())
    } else {
        outcome.log_stream
    };
    l.ship_logs(crate::LogBatch {
        account: cx.account_id().to_string(),
        region: cx.region.clone(),
        group,
        stream,
        events,
    });
    let measured = Measured {
        duration: outcome.duration,
        init_duration: outcome.init_duration,
        provisioned: outcome.provisioned,
    };
    (outcome.result, text, measured)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A streamed HTTP body.
pub type StreamBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// InvokeWithResponseStream as a stream: each chunk a function writes in streaming mode goes
/// out as a `PayloadChunk` event as soon as it arrives, then `InvokeComplete`. Errors found
/// before the function's first chunk (not found, throttled...) are ordinary error answers.
pub(crate) async fn invoke_streaming(
    l: Lambda,
    cx: RequestContext,
    i: InvocationRequest,
) -> Result<http::Response<StreamBody>, LambdaError> {
    use futures_util::StreamExt;
    use http_body_util::BodyExt;
    let (first, rest, done, version) = match relay(l, cx, i, None).await? {
        Relay::Whole { out, chunks } => {
            // Answered before any chunk (a buffered answer, or an error): all at once.
            let resp = if chunks.is_empty() {
                response_stream(out)
            } else {
                let mut body = Vec::new();
                for c in &chunks {
                    body.extend(event_message("PayloadChunk", "application/octet-stream", c));
                }
                body.extend(complete_message(&out));
                stream_head(Bytes::from(body), out.executed_version.as_deref())
            };
            let (parts, body) = resp.into_parts();
            return Ok(http::Response::from_parts(
                parts,
                http_body_util::Full::new(body)
                    .map_err(|never| match never {})
                    .boxed_unsync(),
            ));
        }
        Relay::Chunks {
            first,
            rest,
            done,
            version,
        } => (first, rest, done, version),
    };
    // The function streams: chunks as they come, then the call's end.
    let chunk = |c: &[u8]| Bytes::from(event_message("PayloadChunk", "application/octet-stream", c));
    let head = chunk(&first);
    let chunks = futures_util::stream::unfold(rest, move |mut rx| async move {
        rx.recv().await.map(|c| (chunk(&c), rx))
    });
    let end = futures_util::stream::once(async move {
        let (code, details) = match done.await {
            Ok(Ok(out)) => return Bytes::from(complete_message(&out)),
            Ok(Err(e)) => (
                stratus_protocol::ServiceError::code(&e).to_string(),
                stratus_protocol::ServiceError::message(&e),
            ),
            Err(e) => ("ServiceException".to_string(), e.to_string()),
        };
        let complete = serde_json::json!({ "ErrorCode": code, "ErrorDetails": details });
        Bytes::from(event_message(
            "InvokeComplete",
            "application/json",
            complete.to_string().as_bytes(),
        ))
    });
    let frames = futures_util::stream::once(async move { head })
        .chain(chunks)
        .chain(end)
        .map(|b| Ok::<_, Box<dyn std::error::Error + Send + Sync>>(http_body::Frame::data(b)));
    let mut resp = http::Response::new(http_body_util::StreamBody::new(frames).boxed_unsync());
    let h = resp.headers_mut();
    if let Some(v) = version.and_then(|v| http::HeaderValue::from_str(&v).ok()) {
        h.insert("x-amz-executed-version", v);
    }
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    Ok(resp)
}

/// How a call with a chunk channel went: answered whole (with any chunks that came first), or
/// streaming, its first chunk in hand.
enum Relay {
    Whole {
        out: InvocationResponse,
        chunks: Vec<Bytes>,
    },
    Chunks {
        first: Bytes,
        rest: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
        /// The call's end (its log tail, errors found after the last chunk).
        done: tokio::task::JoinHandle<Result<InvocationResponse, LambdaError>>,
        /// The version that runs, chosen before the function started.
        version: Option<String>,
    },
}

/// Runs a call with a chunk channel and waits for whichever comes first: the first chunk or
/// the whole answer. Errors found before the function ran (not found, throttled) are errors.
async fn relay(
    l: Lambda,
    cx: RequestContext,
    i: InvocationRequest,
    caller: Option<crate::callers::Caller>,
) -> Result<Relay, LambdaError> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Bytes>();
    let (version_tx, mut version_rx) = tokio::sync::oneshot::channel();
    let extras = Extras {
        stream: Some(tx),
        version: Some(version_tx),
        caller,
    };
    let mut task = tokio::spawn(invoke_with(l, cx, i, extras));
    let first = tokio::select! {
        done = &mut task => Some(Err(done)),
        first = rx.recv() => first.map(Ok),
    };
    let done = match first {
        Some(Ok(first)) => {
            return Ok(Relay::Chunks {
                first,
                rest: rx,
                done: task,
                version: version_rx.try_recv().ok(),
            });
        }
        Some(Err(done)) => done,
        // No chunk came and none will: wait for the answer.
        None => (&mut task).await,
    };
    let out = done.map_err(|e| LambdaError::Internal(e.to_string()))??;
    let mut chunks = Vec::new();
    while let Ok(c) = rx.try_recv() {
        chunks.push(c);
    }
    Ok(Relay::Whole { out, chunks })
}

/// A call relayed as it comes: the whole answer, or the first chunk and the rest to follow.
pub enum Streamed {
    Whole {
        payload: Bytes,
        error: bool,
    },
    Chunks {
        first: Bytes,
        rest: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    },
}

/// Runs a call whose answer is relayed by another service: chunks of a streaming function as
/// they come, any other answer whole.
pub(crate) async fn invoke_relay(
    l: Lambda,
    cx: RequestContext,
    i: InvocationRequest,
    caller: crate::callers::Caller,
) -> Result<Streamed, LambdaError> {
    Ok(match relay(l, cx, i, Some(caller)).await? {
        Relay::Whole { out, chunks } => {
            let payload = if chunks.is_empty() {
                out.payload.map(|b| b.0).unwrap_or_default()
            } else {
                chunks.concat()
            };
            Streamed::Whole {
                payload: Bytes::from(payload),
                error: out.function_error.is_some(),
            }
        }
        // The call finishes on its own; the caller reads until the channel closes.
        Relay::Chunks { first, rest, .. } => Streamed::Chunks { first, rest },
    })
}

/// `InvokeComplete`: the error code and details, if the function failed, and the log tail.
fn complete_message(out: &InvocationResponse) -> Vec<u8> {
    let mut complete = serde_json::Map::new();
    if let Some(code) = &out.function_error {
        complete.insert("ErrorCode".into(), code.clone().into());
        let payload = out.payload.as_ref().map(|b| b.0.clone()).unwrap_or_default();
        complete.insert(
            "ErrorDetails".into(),
            String::from_utf8_lossy(&payload).into_owned().into(),
        );
    }
    if let Some(tail) = &out.log_result {
        complete.insert("LogResult".into(), tail.clone().into());
    }
    let complete = serde_json::Value::Object(complete).to_string();
    event_message("InvokeComplete", "application/json", complete.as_bytes())
}

fn stream_head(body: Bytes, version: Option<&str>) -> stratus_protocol::ApiResponse {
    let mut resp = http::Response::new(body);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Some(v) = version.and_then(|v| http::HeaderValue::from_str(v).ok()) {
        h.insert("x-amz-executed-version", v);
    }
    resp
}

/// InvokeWithResponseStream: the same call as Invoke, its answer sent as an event stream
/// (`application/vnd.amazon.eventstream`): the payload in a `PayloadChunk` event, then an
/// `InvokeComplete` event with the error code and log tail, if any. Functions here answer in
/// one piece, so the payload is one chunk.
pub(crate) fn response_stream(out: InvocationResponse) -> stratus_protocol::ApiResponse {
    let status = out.status_code.unwrap_or(200) as u16;
    let mut body = Vec::new();
    if status == 200 {
        let payload = out.payload.map(|b| b.0).unwrap_or_default();
        body.extend(event_message(
            "PayloadChunk",
            "application/octet-stream",
            &payload,
        ));
        let mut complete = serde_json::Map::new();
        if let Some(code) = &out.function_error {
            complete.insert("ErrorCode".into(), code.clone().into());
            complete.insert(
                "ErrorDetails".into(),
                String::from_utf8_lossy(&payload).into_owned().into(),
            );
        }
        if let Some(tail) = &out.log_result {
            complete.insert("LogResult".into(), tail.clone().into());
        }
        let complete = serde_json::Value::Object(complete).to_string();
        body.extend(event_message(
            "InvokeComplete",
            "application/json",
            complete.as_bytes(),
        ));
    }
    let mut resp = http::Response::new(Bytes::from(body));
    *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::OK);
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/vnd.amazon.eventstream"),
    );
    if let Some(v) = out
        .executed_version
        .as_deref()
        .and_then(|v| http::HeaderValue::from_str(v).ok())
    {
        h.insert("x-amz-executed-version", v);
    }
    resp
}

/// One message of the AWS event stream encoding: prelude (lengths and their CRC), string
/// headers, payload, and a CRC of the whole message.
fn event_message(event_type: &str, content_type: &str, payload: &[u8]) -> Vec<u8> {
    let mut headers = Vec::new();
    for (name, value) in [
        (":message-type", "event"),
        (":event-type", event_type),
        (":content-type", content_type),
    ] {
        headers.push(name.len() as u8);
        headers.extend_from_slice(name.as_bytes());
        headers.push(7); // string
        headers.extend_from_slice(&(value.len() as u16).to_be_bytes());
        headers.extend_from_slice(value.as_bytes());
    }
    let total = 12 + headers.len() + payload.len() + 4;
    let mut msg = Vec::with_capacity(total);
    msg.extend_from_slice(&(total as u32).to_be_bytes());
    msg.extend_from_slice(&(headers.len() as u32).to_be_bytes());
    let prelude_crc = crc32fast::hash(&msg);
    msg.extend_from_slice(&prelude_crc.to_be_bytes());
    msg.extend_from_slice(&headers);
    msg.extend_from_slice(payload);
    let crc = crc32fast::hash(&msg);
    msg.extend_from_slice(&crc.to_be_bytes());
    msg
}
