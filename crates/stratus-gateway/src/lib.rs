//! The one endpoint: the HTTP listener, routing of each request to its service, SigV4
//! authentication, request ids, panics contained per request, the `/_stratus/` control plane,
//! and graceful shutdown.
//!
//! Depends on every service crate; nothing depends on it but the binary.

mod admin;
mod auth;
mod backends;
mod route;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt;
use http::{HeaderValue, Request, Response};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use stratus_core::{AccessKeyConfig, Clock, Config, RequestContext};
use stratus_dynamodb::DynamoDb;
use stratus_lambda::Lambda;
use stratus_logs::Logs;
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol};
use stratus_s3::S3;
use stratus_store::{Blobs, Store};
use stratus_sts::Sts;
use tokio::net::TcpListener;

pub use route::Service;

/// Everything a request may need; cloned cheaply into each connection.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    clock: Clock,
    store: Store,
    /// Configured keys by id, each with the caller it stands for (built once, cloned per request).
    keys: HashMap<String, (AccessKeyConfig, stratus_core::Identity)>,
    sts: Sts,
    dynamodb: DynamoDb,
    logs: Logs,
    lambda: Lambda,
    s3: S3,
    apigateway: stratus_apigateway::ApiGateway,
    cognito: stratus_cognito::Cognito,
    blobs: Blobs,
    signing_keys: auth::SigningKeys,
}

/// Response bodies: buffered for most services, streamed for S3 objects.
pub type Body = UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

/// Most connections served at once; more wait in the kernel's accept queue.
const MAX_CONNECTIONS: usize = 10_000;
/// How long in-flight requests may take to finish after a shutdown signal.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

impl Gateway {
    /// `endpoint` is the address the server listens on (functions call back to it).
    pub fn new(config: Config, store: Store, clock: Clock, endpoint: SocketAddr) -> std::io::Result<Self> {
        let keys: HashMap<String, AccessKeyConfig> = config
            .effective_access_keys()
            .into_iter()
            .map(|k| (k.access_key_id.clone(), k))
            .collect();
        let sts = Sts::new(store.clone(), clock.clone());
        let dynamodb = DynamoDb::new(store.clone(), clock.clone());
        let logs = Logs::new(store.clone(), clock.clone());
        let endpoint_ip = if endpoint.ip().is_unspecified() {
            std::net::IpAddr::from([127, 0, 0, 1])
        } else {
            endpoint.ip()
        };
        let blobs = Blobs::open(
            &std::path::Path::new(&config.data_dir).join("blobs"),
            config.durability == stratus_core::Durability::Fsync,
        )?;
        let principals = Arc::new(auth::Principals {
            keys: keys.clone(),
            sts: sts.clone(),
        });
        let s3 = S3::new(store.clone(), blobs.clone(), clock.clone(), principals);
        let endpoint_url = format!("http://{}", SocketAddr::new(endpoint_ip, endpoint.port()));
        let cognito = stratus_cognito::Cognito::new(store.clone(), clock.clone(), endpoint_url.clone());
        let lambda = Lambda::new(
            store.clone(),
            clock.clone(),
            logs.clone(),
            stratus_lambda::LambdaConfig {
                data_dir: std::path::PathBuf::from(&config.data_dir),
                endpoint_url,
                credentials: config
                    .effective_access_keys()
                    .into_iter()
                    .map(|k| (k.account_id, k.access_key_id, k.secret_access_key))
                    .collect(),
                idle_timeout: Duration::from_secs(config.function_idle_secs),
                concurrency_limit: config.lambda_concurrency,
                prices: config.lambda_prices.clone(),
                code_from_s3: Some({
                    let s3 = s3.clone();
                    Arc::new(move |account, bucket, key, version| {
                        let s3 = s3.clone();
                        Box::pin(async move { s3.fetch(&account, &bucket, &key, version.as_deref()).await })
                    })
                }),
            },
        )?;
        s3.start_notifications({
            let lambda = lambda.clone();
            Arc::new(move |arn, payload| {
                let lambda = lambda.clone();
                Box::pin(async move {
                    use stratus_lambda::asynchronous::Undeliverable;
                    use stratus_s3::notify::Delivery;
                    match lambda.deliver(&arn, payload).await {
                        Ok(()) => Delivery::Done,
                        Err(Undeliverable::Never(why)) => Delivery::Refused(why),
                        Err(Undeliverable::NotNow(why)) => Delivery::Later(why),
                    }
                })
            })
        });
        let gateway = Arc::new_cyclic(|weak: &std::sync::Weak<Inner>| {
            let apigateway = stratus_apigateway::ApiGateway::new(
                store.clone(),
                clock.clone(),
                logs.clone(),
                Arc::new(backends::Backends {
                    lambda: lambda.clone(),
                    cognito: cognito.clone(),
                    gateway: weak.clone(),
                }),
                endpoint,
            );
            Inner {
                config,
                clock,
                store,
                keys: keys
                    .into_iter()
                    .map(|(id, key)| {
                        let identity = stratus_core::Identity {
                            account_id: key.account_id.clone(),
                            arn: key.arn(),
                            user_id: key.user_id(),
                            access_key_id: id.clone(),
                        };
                        (id, (key, identity))
                    })
                    .collect(),
                sts,
                dynamodb,
                logs,
                lambda,
                s3,
                apigateway,
                cognito,
                blobs,
                signing_keys: auth::SigningKeys::default(),
            }
        });
        Ok(Gateway { inner: gateway })
    }

    /// Serves connections from `listener` until `shutdown` resolves, then lets in-flight
    /// requests finish (up to 30 s).
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        let graceful = GracefulShutdown::new();
        let limit = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let builder = auto::Builder::new(TokioExecutor::new());
        tokio::pin!(shutdown);
        loop {
            let permit = tokio::select! {
                p = limit.clone().acquire_owned() => p.expect("semaphore is never closed"),
                _ = &mut shutdown => break,
            };
            let (stream, peer) = tokio::select! {
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = &mut shutdown => break,
            };
            let _ = stream.set_nodelay(true);
            let gw = self.clone();
            let svc = hyper::service::service_fn(move |req| {
                let gw = gw.clone();
                async move { Ok::<_, Infallible>(gw.handle(req, peer).await) }
            });
            let conn = builder
                .serve_connection_with_upgrades(TokioIo::new(stream), svc)
                .into_owned();
            let conn = graceful.watch(conn);
            tokio::spawn(async move {
                let _ = conn.await;
                drop(permit);
            });
        }
        drop(listener);
        tracing::info!("shutting down: waiting for in-flight requests");
        self.inner.lambda.shutdown();
        tokio::select! {
            _ = graceful.shutdown() => tracing::info!("all connections closed"),
            _ = tokio::time::sleep(SHUTDOWN_GRACE) => tracing::warn!("grace period over; closing remaining connections"),
        }
        self.inner.lambda.shutdown();
    }

    /// Handles one HTTP request end to end. Never fails: every error is an AWS-shaped answer.
    pub async fn handle(&self, req: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let request_id = stratus_core::ids::request_id();
        let (mut parts, body) = req.into_parts();
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|v| v.to_str().ok());
        if let Some(target) = stratus_apigateway::Target::of(host, parts.uri.path()) {
            return self
                .serve_data_plane(target, parts, body, peer, &request_id)
                .await;
        }
        if let Some(target) = self.inner.apigateway.custom_domain(host).await {
            return self
                .serve_data_plane(target, parts, body, peer, &request_id)
                .await;
        }
        if parts.method == http::Method::GET && stratus_cognito::Cognito::is_well_known(parts.uri.path()) {
            // A user pool's JWKS and OpenID configuration: public, as on AWS.
            let resp = self.inner.cognito.serve_well_known(parts.uri.path()).await;
            return finish(resp, &request_id);
        }
        if !is_admin(parts.uri.path()) && route::is_s3(&parts) {
            // S3 bodies stream both ways: they are never buffered here (a browser form's head
            // is read ahead for the uploaded file's name, then streamed on).
            let form = parts.method == http::Method::POST
                && parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|c| c.to_ascii_lowercase().starts_with("multipart/form-data"));
            let (filename, body) = if form {
                read_form_head(body).await
            } else {
                (None, s3s::Body::from(body))
            };
            let has_body = parts.headers.contains_key(http::header::TRANSFER_ENCODING)
                || parts
                    .headers
                    .get(http::header::CONTENT_LENGTH)
                    .is_some_and(|v| v.as_bytes() != b"0");
            let verified = if has_body {
                None
            } else {
                self.verify_s3_read(&mut parts).await
            };
            let mut req = Request::from_parts(parts, body);
            if let Some(caller) = verified {
                req.extensions_mut().insert(caller);
            }
            if let Some(name) = filename {
                req.extensions_mut().insert(stratus_s3::PostFilename(name));
            }
            // For `aws:SourceIp` in bucket policy conditions.
            req.extensions_mut().insert(stratus_core::SourceIp(peer.ip()));
            let resp = match std::panic::AssertUnwindSafe(self.inner.s3.handle(req, &request_id))
                .catch_unwind()
                .await
            {
                Ok(resp) => resp,
                Err(_) => {
                    tracing::error!(request_id, "S3 request handler panicked");
                    let resp = AwsError::internal(&request_id).render(Protocol::RestXml, &request_id);
                    return finish(resp, &request_id);
                }
            };
            let (mut parts, body) = resp.into_parts();
            if let Ok(v) = HeaderValue::from_str(&request_id) {
                parts.headers.insert("x-amzn-requestid", v);
            }
            if has_body && (parts.status.is_client_error() || parts.status.is_server_error()) {
                // A refused upload's body may be left unread (an `Expect: 100-continue` client
                // never sends it), after which the connection cannot be reused; saying so keeps
                // the client from sending its next request on a connection about to close.
                parts
                    .headers
                    .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
            }
            return Response::from_parts(parts, body.boxed_unsync());
        }
        let mut max = self.inner.config.max_body_bytes;
        if route::is_lambda(&parts) {
            // Function code is uploaded inline: Lambda's own limit applies.
            max = max.max(stratus_lambda::MAX_REQUEST_BYTES);
        }
        let body = match Limited::new(body, max).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e) => {
                let protocol =
                    route::identify(&parts).map_or(Protocol::Json { version: "1.0" }, |s| s.protocol());
                let err = if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() {
                    if route::is_lambda(&parts) {
                        AwsError::new(
                            "RequestEntityTooLargeException",
                            413,
                            format!("Request must be smaller than {max} bytes for the operation"),
                        )
                    } else {
                        AwsError::too_large(max)
                    }
                } else {
                    AwsError::new(
                        "IncompleteBody",
                        400,
                        "The request body could not be read completely",
                    )
                };
                return finish(err.render(protocol, &request_id), &request_id);
            }
        };
        let path = parts.uri.path();
        if is_admin(path) {
            let resp = admin::handle(self, &parts, &body).await;
            return finish(resp, &request_id);
        }
        let api = ApiRequest {
            method: &parts.method,
            path,
            query: parts.uri.query(),
            headers: &parts.headers,
            body: &body,
        };
        let resp = match std::panic::AssertUnwindSafe(self.dispatch(&parts, &api, &request_id))
            .catch_unwind()
            .await
        {
            Ok(Dispatched::Buffered(resp)) => resp,
            Ok(Dispatched::Streamed(resp)) => {
                let (mut parts, body) = resp.into_parts();
                if let Ok(v) = HeaderValue::from_str(&request_id) {
                    parts.headers.insert("x-amzn-requestid", v);
                }
                return Response::from_parts(parts, body);
            }
            Err(panic) => {
                let what = panic
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_default();
                tracing::error!(request_id, panic = what, "request handler panicked");
                let protocol =
                    route::identify(&parts).map_or(Protocol::Json { version: "1.0" }, |s| s.protocol());
                AwsError::internal(&request_id).render(protocol, &request_id)
            }
        };
        finish(resp, &request_id)
    }

    async fn dispatch(
        &self,
        parts: &http::request::Parts,
        api: &ApiRequest<'_>,
        request_id: &str,
    ) -> Dispatched {
        let signature = auth::parse(parts);
        let service = match &signature {
            Ok(Some(sig)) => Service::by_signing_name(&sig.credential.service)
                .ok_or_else(|| sig.credential.service.to_string()),
            _ => route::identify(parts).ok_or_else(String::new),
        };
        let service = match service {
            Ok(s) => s,
            Err(name) => return Dispatched::Buffered(route::unknown_service(&name, request_id)),
        };
        let protocol = service.protocol();
        let anonymous = service == Service::Cognito
            && matches!(signature, Ok(None))
            && stratus_cognito::Cognito::is_unsigned(&parts.headers);
        let identity = if anonymous {
            // Sign-up and sign-in calls carry no signature: the pool's client is the caller.
            Ok((
                stratus_core::Identity {
                    account_id: String::new(),
                    arn: String::new(),
                    user_id: String::new(),
                    access_key_id: String::new(),
                },
                self.inner.config.region.clone(),
            ))
        } else {
            auth::authenticate(self, signature, parts, api.body, protocol).await
        };
        let identity = match identity {
            Ok(id) => id,
            Err(e) => {
                tracing::debug!(request_id, error = ?e, "authentication failed");
                return Dispatched::Buffered(e.render(protocol, request_id));
            }
        };
        let (identity, region) = identity;
        let cx = RequestContext {
            request_id: request_id.to_string(),
            region,
            identity,
        };
        let span = tracing::debug_span!("request", service = service.name(), request_id);
        let _enter = span.enter();
        // InvokeWithResponseStream answers as the function writes.
        if service == Service::Lambda
            && let Some(streamed) = self.inner.lambda.handle_stream(&cx, api).await
        {
            return match streamed {
                Ok(resp) => Dispatched::Streamed(resp),
                Err(e) => Dispatched::Buffered(e.render(protocol, request_id)),
            };
        }
        let result = match service {
            Service::Sts => self.inner.sts.handle(&cx, api).await,
            Service::DynamoDb => self.inner.dynamodb.handle(&cx, api).await,
            Service::Logs => self.inner.logs.handle(&cx, api).await,
            Service::Lambda => self.inner.lambda.handle(&cx, api).await,
            Service::ApiGateway => self.inner.apigateway.handle(&cx, api).await,
            Service::Cognito => self.inner.cognito.handle(&cx, api).await,
        };
        Dispatched::Buffered(match result {
            Ok(resp) => resp,
            Err(e) => {
                if e.status >= 500 {
                    tracing::error!(request_id, code = %e.code, message = %e.message, "request failed");
                }
                e.render(protocol, request_id)
            }
        })
    }

    /// API Gateway invoke URLs and function URLs: anonymous at the door (their own auth
    /// applies), bodies up to API Gateway's 10 MB.
    async fn serve_data_plane(
        &self,
        target: stratus_apigateway::Target,
        parts: http::request::Parts,
        body: Incoming,
        peer: SocketAddr,
        request_id: &str,
    ) -> Response<Body> {
        let body = match Limited::new(body, stratus_apigateway::MAX_PAYLOAD)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                let resp = http::Response::builder()
                    .status(413)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Bytes::from_static(br#"{"message":"Request Entity Too Large"}"#))
                    .expect("static response");
                return finish(resp, request_id);
            }
        };
        match std::panic::AssertUnwindSafe(self.inner.apigateway.serve(target, parts, body, peer, request_id))
            .catch_unwind()
            .await
        {
            Ok(resp) => resp,
            Err(_) => {
                tracing::error!(request_id, "data-plane handler panicked");
                let resp = http::Response::builder()
                    .status(500)
                    .header(http::header::CONTENT_TYPE, "application/json")
                    .body(Bytes::from_static(br#"{"message":"Internal Server Error"}"#))
                    .expect("static response");
                finish(resp, request_id)
            }
        }
    }

    /// Verifies an S3 read without a body (GET or HEAD signed in the `Authorization` header) with the
    /// gateway's own check and its cached signing keys, and hands the caller to S3 in place of
    /// the header. Anything else, and any request this check does not accept, keeps its
    /// header and is verified by the protocol layer as before, which gives S3's own errors
    /// (decision 0012).
    async fn verify_s3_read(&self, parts: &mut http::request::Parts) -> Option<stratus_s3::Verified> {
        use stratus_protocol::sigv4::UNSIGNED_PAYLOAD;
        const EMPTY_SHA256: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        if !matches!(parts.method, http::Method::GET | http::Method::HEAD) {
            return None;
        }
        let sig = match auth::parse(parts) {
            Ok(Some(sig)) if sig.presigned_expires.is_none() && sig.credential.service == "s3" => sig,
            _ => return None,
        };
        // The protocol layer requires the payload hash header; without a body it is the empty
        // body's hash or UNSIGNED-PAYLOAD.
        if !matches!(
            sig.content_sha256.as_deref(),
            Some(EMPTY_SHA256 | UNSIGNED_PAYLOAD)
        ) {
            return None;
        }
        let (identity, _region) = auth::authenticate(self, Ok(Some(sig)), parts, b"", Protocol::RestXml)
            .await
            .ok()?;
        parts.headers.remove(http::header::AUTHORIZATION);
        Some(stratus_s3::Verified(identity))
    }

    fn signing_key(&self, secret: &str, sig: &stratus_protocol::sigv4::Signature) -> [u8; 32] {
        self.inner.signing_keys.get(secret, sig)
    }

    pub fn config(&self) -> &Config {
        &self.inner.config
    }
}

/// Reads the head of a browser form upload until the `file` part names its file (at most
/// 1 MiB: the form's fields come before the file), and gives back the whole body to stream on.
async fn read_form_head(mut body: Incoming) -> (Option<String>, s3s::Body) {
    const MAX_HEAD: usize = 1024 * 1024;
    let mut head: Vec<Bytes> = Vec::new();
    let mut seen = Vec::new();
    let mut done = false;
    let mut filename = None;
    while seen.len() < MAX_HEAD {
        match body.frame().await {
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    seen.extend_from_slice(&data);
                    head.push(data);
                    if let Some(name) = stratus_s3::post_filename(&seen) {
                        filename = Some(name);
                        break;
                    }
                }
            }
            Some(Err(_)) | None => {
                done = true;
                break;
            }
        }
    }
    let frames = futures_util::stream::iter(
        head.into_iter()
            .map(|b| Ok::<_, hyper::Error>(hyper::body::Frame::data(b))),
    );
    let rest: s3s::Body = if done {
        s3s::Body::http_body_unsync(http_body_util::StreamBody::new(frames))
    } else {
        let tail = http_body_util::BodyStream::new(body);
        s3s::Body::http_body_unsync(http_body_util::StreamBody::new(futures_util::StreamExt::chain(
            frames, tail,
        )))
    };
    (filename, rest)
}

/// A service's answer: whole, or streamed as it is produced (InvokeWithResponseStream).
enum Dispatched {
    Buffered(ApiResponse),
    Streamed(Response<stratus_lambda::invoke::StreamBody>),
}

/// The control plane's paths (Stratus's own and moto's, which moto-based suites call).
fn is_admin(path: &str) -> bool {
    path.starts_with("/_stratus/") || path.starts_with("/moto-api/")
}

fn finish(resp: ApiResponse, request_id: &str) -> Response<Body> {
    let (mut parts, body) = resp.into_parts();
    if let Ok(v) = HeaderValue::from_str(request_id) {
        parts.headers.insert("x-amzn-requestid", v);
    }
    Response::from_parts(
        parts,
        Full::new(body).map_err(|never| match never {}).boxed_unsync(),
    )
}
