//! The Lambda Runtime API (`2018-06-01`) of one instance, on its own loopback port. Only the
//! instance's own uid may connect when it is sandboxed, so no instance can fetch another's
//! events. `GET /next` blocks until there is work, with no timeout; every POST is answered
//! 202 as the official clients expect.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, oneshot};

/// Largest response a function may return (6 MB, as AWS).
pub const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
/// Largest streamed response (20 MB, AWS's default maximum for response streaming).
pub const MAX_STREAMED_BYTES: usize = 20 * 1024 * 1024;

/// An event handed to the runtime by `GET /next`.
pub struct Work {
    pub request_id: String,
    pub payload: Bytes,
    pub deadline_ms: i64,
    pub invoked_arn: String,
    pub client_context: Option<String>,
    pub cognito_identity: Option<String>,
    pub reply: oneshot::Sender<Reply>,
    /// Where the chunks of a streamed response go as they arrive (InvokeWithResponseStream).
    pub stream: Option<mpsc::UnboundedSender<Bytes>>,
}

/// The event being worked on: who waits for its answer, and for its chunks.
struct Current {
    id: String,
    reply: oneshot::Sender<Reply>,
    stream: Option<mpsc::UnboundedSender<Bytes>>,
}

/// What the runtime answered for one event.
#[derive(Debug)]
pub enum Reply {
    Response(Bytes),
    /// `/error`: the body as the client sent it, and its `Lambda-Runtime-Function-Error-Type`.
    Error {
        body: Bytes,
        error_type: Option<String>,
    },
    TooLarge(usize),
}

/// The init phase's end: the first `GET /next`, or `/init/error`.
#[derive(Debug)]
pub enum InitSignal {
    Ready,
    Error { body: Bytes, error_type: Option<String> },
}

struct State {
    work: tokio::sync::Mutex<mpsc::Receiver<Work>>,
    current: Mutex<Option<Current>>,
    init: Mutex<Option<oneshot::Sender<InitSignal>>>,
    /// The uid a connecting process must run as (sandboxed instances only).
    uid: Option<u32>,
}

/// A running Runtime API endpoint; it stops when dropped.
pub struct RuntimeApi {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for RuntimeApi {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RuntimeApi {
    /// Binds a fresh loopback port; returns the endpoint, the sender of work and the init signal.
    pub async fn start(
        uid: Option<u32>,
    ) -> std::io::Result<(RuntimeApi, mpsc::Sender<Work>, oneshot::Receiver<InitSignal>)> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (work_tx, work_rx) = mpsc::channel(1);
        let (init_tx, init_rx) = oneshot::channel();
        let state = Arc::new(State {
            work: tokio::sync::Mutex::new(work_rx),
            current: Mutex::new(None),
            init: Mutex::new(Some(init_tx)),
            uid,
        });
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, peer)) = listener.accept().await else {
                    continue;
                };
                if let Some(uid) = state.uid
                    && peer_uid(peer, addr) != Some(uid)
                {
                    tracing::warn!(%peer, "runtime API: refused a connection from another process");
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let state = state.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(&state, req).await) }
                    });
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .http1_only()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Ok((RuntimeApi { addr, task }, work_tx, init_rx))
    }
}

fn reply_to(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    reply(status, body)
}

fn reply(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("application/json"),
    );
    r
}

fn error_type(req: &Request<Incoming>) -> Option<String> {
    req.headers()
        .get("lambda-runtime-function-error-type")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

async fn handle(state: &State, req: Request<Incoming>) -> Response<Full<Bytes>> {
    let path = req.uri().path().to_string();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else {
        return reply(
            StatusCode::NOT_FOUND,
            r#"{"errorMessage":"not found","errorType":"NotFound"}"#,
        );
    };
    let method = req.method().clone();
    if method == Method::GET && rest == "invocation/next" {
        return next(state).await;
    }
    if method != Method::POST {
        return reply(
            StatusCode::METHOD_NOT_ALLOWED,
            r#"{"errorMessage":"method not allowed"}"#,
        );
    }
    let err_type = error_type(&req);
    let streaming = req
        .headers()
        .get("lambda-runtime-function-response-mode")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"streaming"));
    if streaming
        && let Some(id) = rest
            .strip_prefix("invocation/")
            .and_then(|r| r.strip_suffix("/response"))
    {
        return stream_response(state, id, req.into_body()).await;
    }
    let body = match Limited::new(req.into_body(), MAX_RESPONSE_BYTES + 1)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            if e.downcast_ref::<http_body_util::LengthLimitError>().is_some()
                && let Some(id) = rest
                    .strip_prefix("invocation/")
                    .and_then(|r| r.strip_suffix("/response"))
            {
                take_current(state, id).map(|(tx, _)| tx.send(Reply::TooLarge(MAX_RESPONSE_BYTES + 1)));
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    r#"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#,
                );
            }
            return reply(StatusCode::BAD_REQUEST, r#"{"errorMessage":"incomplete body"}"#);
        }
    };
    if rest == "init/error" {
        if let Some(tx) = state.init.lock().unwrap().take() {
            let _ = tx.send(InitSignal::Error {
                body,
                error_type: err_type,
            });
        }
        return reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#);
    }
    let Some(inv) = rest.strip_prefix("invocation/") else {
        return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"not found"}"#);
    };
    let (id, what) = inv.rsplit_once('/').unwrap_or((inv, ""));
    let message = match what {
        "response" => Reply::Response(body),
        "error" => Reply::Error {
            body,
            error_type: err_type,
        },
        _ => return reply(StatusCode::NOT_FOUND, r#"{"errorMessage":"not found"}"#),
    };
    match take_current(state, id) {
        Some((tx, _)) => {
            let _ = tx.send(message);
            reply(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
        }
        None => reply(
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
        ),
    }
}

type Waiters = (oneshot::Sender<Reply>, Option<mpsc::UnboundedSender<Bytes>>);

fn take_current(state: &State, id: &str) -> Option<Waiters> {
    let mut cur = state.current.lock().unwrap();
    if cur.as_ref().is_some_and(|c| c.id == id) {
        cur.take().map(|c| (c.reply, c.stream))
    } else {
        None
    }
}

/// A response in streaming mode (`Lambda-Runtime-Function-Response-Mode: streaming`): each
/// chunk goes to the caller as it arrives when the caller streams, or is gathered into one
/// answer when it does not; an error in the trailers (`Lambda-Runtime-Function-Error-Type`,
/// `-Error-Body` in base64) ends the call as a function error.
async fn stream_response(state: &State, id: &str, mut body: Incoming) -> Response<Full<Bytes>> {
    use base64::Engine as _;
    let Some((reply, stream)) = take_current(state, id) else {
        return reply_to(
            StatusCode::BAD_REQUEST,
            r#"{"errorMessage":"Invalid request ID","errorType":"InvalidRequestID"}"#,
        );
    };
    let limit = if stream.is_some() {
        MAX_STREAMED_BYTES
    } else {
        MAX_RESPONSE_BYTES
    };
    let mut gathered = Vec::new();
    let mut total = 0usize;
    let mut error: Option<(Option<String>, Bytes)> = None;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            break;
        };
        match frame.into_data() {
            Ok(data) => {
                total += data.len();
                if total > limit {
                    let _ = reply.send(Reply::TooLarge(total));
                    return reply_to(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        r#"{"errorMessage":"Exceeded maximum allowed payload size.","errorType":"RequestEntityTooLarge"}"#,
                    );
                }
                match &stream {
                    Some(tx) => {
                        let _ = tx.send(data);
                    }
                    None => gathered.extend_from_slice(&data),
                }
            }
            Err(frame) => {
                if let Ok(trailers) = frame.into_trailers() {
                    let text = |k: &str| trailers.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
                    if let Some(kind) = text("lambda-runtime-function-error-type") {
                        let body = text("lambda-runtime-function-error-body")
                            .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
                            .unwrap_or_default();
                        error = Some((Some(kind), Bytes::from(body)));
                    }
                }
            }
        }
    }
    let message = match error {
        Some((error_type, body)) => Reply::Error { body, error_type },
        None => Reply::Response(Bytes::from(gathered)),
    };
    let _ = reply.send(message);
    reply_to(StatusCode::ACCEPTED, r#"{"status":"OK"}"#)
}

async fn next(state: &State) -> Response<Full<Bytes>> {
    if let Some(tx) = state.init.lock().unwrap().take() {
        let _ = tx.send(InitSignal::Ready);
    }
    let work = {
        let mut rx = state.work.lock().await;
        rx.recv().await
    };
    let Some(work) = work else {
        // The instance is going away: keep the client waiting until it is killed.
        std::future::pending::<()>().await;
        unreachable!()
    };
    let mut r = Response::new(Full::new(work.payload));
    let h = r.headers_mut();
    let put = |h: &mut http::HeaderMap, k: &'static str, v: &str| {
        if let Ok(v) = http::HeaderValue::from_str(v) {
            h.insert(k, v);
        }
    };
    put(h, "content-type", "application/json");
    put(h, "lambda-runtime-aws-request-id", &work.request_id);
    put(h, "lambda-runtime-deadline-ms", &work.deadline_ms.to_string());
    put(h, "lambda-runtime-invoked-function-arn", &work.invoked_arn);
    put(
        h,
        "lambda-runtime-trace-id",
        &format!("Root=1-{}", &work.request_id.replace('-', "")[..24]),
    );
    if let Some(c) = &work.client_context {
        put(h, "lambda-runtime-client-context", c);
    }
    if let Some(c) = &work.cognito_identity {
        put(h, "lambda-runtime-cognito-identity", c);
    }
    *state.current.lock().unwrap() = Some(Current {
        id: work.request_id,
        reply: work.reply,
        stream: work.stream,
    });
    r
}

/// The uid owning the client end of a loopback TCP connection, from `/proc/net/tcp`.
fn peer_uid(peer: SocketAddr, local: SocketAddr) -> Option<u32> {
    let SocketAddr::V4(p) = peer else { return None };
    let SocketAddr::V4(l) = local else { return None };
    let hex =
        |a: std::net::SocketAddrV4| format!("{:08X}:{:04X}", u32::from_le_bytes(a.ip().octets()), a.port());
    let (want_local, want_remote) = (hex(p), hex(l));
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|line| {
        let cols: Vec<&str> = line.split_whitespace().collect();
        (cols.len() > 7 && cols[1] == want_local && cols[2] == want_remote)
            .then(|| cols[7].parse().ok())
            .flatten()
    })
}
