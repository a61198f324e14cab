//! API Gateway: the management API of HTTP APIs (`apigatewayv2`) and the data plane that serves
//! them — invoke URLs routed to Lambda proxy or HTTP proxy integrations, with stages,
//! deployments, CORS, throttling, JWT and Lambda authorizers and access logs — plus Lambda
//! function URLs, which share the HTTP-to-event translation.
//!
//! Depends on core, protocol, store and logs; never on Lambda: functions are reached through
//! the [`Backends`] the binary wires in (as S3 reaches them for notifications).

mod authorizer;
mod error;
mod furl;
mod http_api;
mod rest_api;
mod route;
mod schema;
mod state;
pub mod v1;
mod v2;
mod websocket;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use stratus_core::{Clock, Identity, RequestContext};
use stratus_logs::Logs;
use stratus_protocol::rest::{self, FromRest, RestRequest, ToRest};
use stratus_protocol::validate::Validate;
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol};
use stratus_store::Store;

pub use error::ApiGatewayError;
pub use v2::generated as v2_generated;

pub const PROTOCOL: Protocol = Protocol::RestJson;

/// The principal API Gateway acts as when it calls a function.
pub const SERVICE_PRINCIPAL: &str = "apigateway.amazonaws.com";

/// A synchronous function call made for a request.
pub struct FunctionCall {
    pub account: String,
    pub region: String,
    /// The function's ARN, possibly qualified.
    pub function: String,
    pub payload: Bytes,
    pub request_id: String,
    /// Who calls, for the function's resource policy.
    pub source: Source,
}

/// The caller a function's resource policy must allow.
pub enum Source {
    /// A service principal acting for a resource (`AWS:SourceArn`).
    Service { principal: &'static str, arn: String },
    /// The function's URL with auth type `NONE`.
    PublicUrl,
    /// The function's URL with auth type `AWS_IAM`, signed by a key of `account`.
    SignedUrl { account: String },
}

/// What a function answered.
pub struct FunctionAnswer {
    pub payload: Bytes,
    /// The function raised an error (`X-Amz-Function-Error`).
    pub error: bool,
}

/// Why a function could not be called.
#[derive(Debug)]
pub enum FunctionFailure {
    NotFound(String),
    /// The function's resource policy does not let the caller invoke it.
    Denied(String),
    /// Over a concurrency limit.
    Throttled,
    Other(String),
}

impl FunctionFailure {
    /// What went wrong, for the server log.
    pub fn reason(self) -> String {
        match self {
            FunctionFailure::NotFound(m) | FunctionFailure::Denied(m) | FunctionFailure::Other(m) => m,
            FunctionFailure::Throttled => "Rate Exceeded.".into(),
        }
    }
}

/// Why a function called for a request gave no answer.
pub(crate) enum Unanswered {
    TimedOut,
    Failed(String),
}

/// A function URL's configuration, looked up by its id.
#[derive(Clone, Debug)]
pub struct FunctionUrl {
    pub account: String,
    pub region: String,
    /// The function ARN the URL invokes (qualified when the URL is on an alias).
    pub function: String,
    /// `NONE` or `AWS_IAM`.
    pub auth_type: String,
    pub cors: Option<serde_json::Value>,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
}

/// A function's answer relayed as it comes: whole, or a first chunk and the rest to follow.
pub enum Relayed {
    Whole(FunctionAnswer),
    Chunks {
        first: Bytes,
        rest: tokio::sync::mpsc::UnboundedReceiver<Bytes>,
    },
}

/// Response bodies of the data plane: whole, or streamed (function URLs in `RESPONSE_STREAM`
/// mode).
pub type DataBody =
    http_body_util::combinators::UnsyncBoxBody<Bytes, Box<dyn std::error::Error + Send + Sync>>;

fn whole_body(resp: http::Response<Bytes>) -> http::Response<DataBody> {
    use http_body_util::BodyExt;
    resp.map(|b| {
        http_body_util::Full::new(b)
            .map_err(|never| match never {})
            .boxed_unsync()
    })
}

/// What API Gateway needs from the rest of the server.
#[async_trait::async_trait]
pub trait Backends: Send + Sync + 'static {
    async fn invoke(&self, call: FunctionCall) -> Result<FunctionAnswer, FunctionFailure>;
    /// The same call, its answer relayed chunk by chunk when the function streams.
    async fn invoke_stream(&self, call: FunctionCall) -> Result<Relayed, FunctionFailure>;
    async fn function_url(&self, id: &str) -> Option<FunctionUrl>;
    /// Checks a request's SigV4 signature (function URLs with `AWS_IAM`).
    async fn authenticate(&self, parts: &http::request::Parts, body: &[u8]) -> Result<Identity, AwsError>;
    /// Verifies a token issued by one of the Cognito user `pools` (by ARN): its claims, or
    /// why it is refused.
    async fn user_pool_token(
        &self,
        token: &str,
        pools: &[String],
    ) -> Result<serde_json::Map<String, serde_json::Value>, String>;
}

/// Where a data-plane request goes, told by its host or path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// An API's invoke URL: the API id and the path after the host or the `_aws` prefix.
    Api { api_id: String, path: String },
    /// A function URL, by its id.
    FunctionUrl { id: String },
    /// A custom domain name of REST APIs.
    Domain { name: String },
    /// The WebSocket management API at the endpoint's root: `/@connections/{id}`.
    Connection { id: String },
}

impl Target {
    /// Recognizes `{api-id}.execute-api.localhost[:port]/...`, `/_aws/execute-api/{api-id}/...`
    /// and `{url-id}.lambda-url.[{region}.]localhost[:port]/...`.
    pub fn of(host: Option<&str>, path: &str) -> Option<Target> {
        if path.starts_with("/@connections/")
            && let Some(id) = websocket::connection_path(path)
        {
            return Some(Target::Connection { id });
        }
        if let Some(rest) = path.strip_prefix("/_aws/execute-api/") {
            let (api_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            if api_id.is_empty() {
                return None;
            }
            return Some(Target::Api {
                api_id: api_id.to_string(),
                path: format!("/{path}"),
            });
        }
        let host = host?;
        let host = host.rsplit_once(':').map_or(host, |(h, p)| {
            if p.chars().all(|c| c.is_ascii_digit()) {
                h
            } else {
                host
            }
        });
        // Every target's host ends in `localhost`: any other host is answered without copying
        // it (this runs for every request the gateway receives).
        if !host
            .get(host.len().saturating_sub("localhost".len())..)
            .is_some_and(|end| end.eq_ignore_ascii_case("localhost"))
        {
            return None;
        }
        let host = host.to_ascii_lowercase();
        let (first, rest) = host.split_once('.')?;
        if first.is_empty() {
            return None;
        }
        let localhost = |r: &str, service: &str| {
            r.strip_prefix(service)
                .and_then(|r| r.strip_prefix('.'))
                .is_some_and(|r| {
                    r == "localhost" || r.strip_suffix(".localhost").is_some_and(|reg| !reg.contains('.'))
                })
        };
        if localhost(rest, "execute-api") {
            return Some(Target::Api {
                api_id: first.to_string(),
                path: path.to_string(),
            });
        }
        if localhost(rest, "lambda-url") {
            return Some(Target::FunctionUrl {
                id: first.to_string(),
            });
        }
        None
    }
}

/// Largest request body the data plane accepts (API Gateway's payload limit).
pub const MAX_PAYLOAD: usize = 10 * 1024 * 1024;

/// TLS for HTTPS integrations and JWT issuers: the Mozilla roots, plus the PEM certificates of
/// `SSL_CERT_FILE` when set (a company CA, a local issuer), as OpenSSL-based tools read it.
fn tls_config() -> rustls::ClientConfig {
    use rustls_pki_types::CertificateDer;
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    if let Ok(path) = std::env::var("SSL_CERT_FILE") {
        match CertificateDer::pem_file_iter(&path) {
            Ok(certs) => {
                for cert in certs.flatten() {
                    if let Err(e) = roots.add(cert) {
                        tracing::warn!(path, error = %e, "a certificate of SSL_CERT_FILE was not added");
                    }
                }
            }
            Err(e) => tracing::warn!(path, error = %e, "could not read SSL_CERT_FILE"),
        }
    }
    rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .with_root_certificates(roots)
        .with_no_client_auth()
}

#[derive(Clone)]
pub struct ApiGateway {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    logs: Logs,
    backends: Arc<dyn Backends>,
    /// `host:port` of the listener, for the endpoints the API prints.
    port: u16,
    apis: state::ParsedCache<state::ApiRecord>,
    deployments: Mutex<HashMap<(String, String), Arc<http_api::Deployed>>>,
    throttle: http_api::Throttle,
    authorizers: authorizer::Authorizers,
    rest_apis: state::ParsedCache<v1::RestRecord>,
    rest_deployments: Mutex<HashMap<(String, String), Arc<v1::RestSnapshot>>>,
    rest_authorizations: Mutex<HashMap<String, (std::time::Instant, serde_json::Value)>>,
    cache: rest_api::StageCache,
    usage: rest_api::UsageCounts,
    domains: rest_api::Domains,
    connections: websocket::Connections,
    templates: Mutex<HashMap<String, Arc<stratus_vtl::Template>>>,
    client: hyper_util::client::legacy::Client<
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>,
        http_body_util::Full<Bytes>,
    >,
}

impl ApiGateway {
    pub fn new(
        store: Store,
        clock: Clock,
        logs: Logs,
        backends: Arc<dyn Backends>,
        endpoint: SocketAddr,
    ) -> Self {
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_tls_config(tls_config())
            .https_or_http()
            .enable_http1()
            .build();
        let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        ApiGateway {
            inner: Arc::new(Inner {
                store,
                clock,
                logs,
                backends,
                port: endpoint.port(),
                apis: Mutex::default(),
                deployments: Mutex::default(),
                throttle: http_api::Throttle::default(),
                authorizers: authorizer::Authorizers::default(),
                rest_apis: Mutex::default(),
                rest_deployments: Mutex::default(),
                rest_authorizations: Mutex::default(),
                cache: rest_api::StageCache::default(),
                usage: rest_api::UsageCounts::default(),
                domains: rest_api::Domains::default(),
                connections: websocket::Connections::default(),
                templates: Mutex::default(),
                client,
            }),
        }
    }

    /// Forgets what is cached in memory after the store was wiped (`/_stratus/reset`).
    pub fn reset(&self) {
        self.inner.apis.lock().unwrap().clear();
        self.inner.deployments.lock().unwrap().clear();
        self.inner.throttle.forget();
        self.inner.authorizers.forget();
        self.inner.rest_apis.lock().unwrap().clear();
        self.inner.rest_deployments.lock().unwrap().clear();
        self.inner.rest_authorizations.lock().unwrap().clear();
        self.inner.cache.forget();
        self.inner.usage.forget();
        self.inner.domains.forget();
        self.inner.connections.forget();
    }

    /// A request whose host is one of the REST APIs' custom domain names.
    pub async fn custom_domain(&self, host: Option<&str>) -> Option<Target> {
        let name = rest_api::is_custom_domain(self, host?).await?;
        Some(Target::Domain { name })
    }

    /// Serves one data-plane request (an invoke URL or a function URL). Never fails: errors
    /// are the answers API Gateway and Lambda give at the edge.
    pub async fn serve(
        &self,
        target: Target,
        parts: http::request::Parts,
        body: Bytes,
        peer: SocketAddr,
        request_id: &str,
    ) -> http::Response<DataBody> {
        let req = http_api::Incoming {
            parts,
            body,
            peer,
            request_id: request_id.to_string(),
            received_ms: self.inner.clock.now_ms(),
        };
        match target {
            Target::Api { api_id, path } => whole_body(http_api::serve(self, &api_id, &path, req).await),
            Target::FunctionUrl { id } => furl::serve(self, &id, req).await,
            Target::Domain { name } => whole_body(rest_api::serve_domain(self, &name, req).await),
            Target::Connection { id } => whole_body(websocket::manage(self, &id, None, req).await),
        }
    }

    /// Decodes, validates and runs one management request (v2 paths start with `/v2/`).
    pub async fn handle(&self, cx: &RequestContext, req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        let query = rest::query_pairs(req.query);
        let v2 = req.path.starts_with("/v2/");
        let routes = if v2 {
            v2::generated::ROUTES
        } else {
            v1::generated::ROUTES
        };
        let Some((route, labels)) = rest::find_route(routes, req.method.as_str(), req.path, &query) else {
            return Err(AwsError::new(
                "NotFoundException",
                404,
                format!("No API Gateway operation matches {} {}", req.method, req.path),
            ));
        };
        let r = RestRequest::new(req, labels);
        let s = route.status;
        if v2 {
            use v2::*;
            return match route.operation {
                "CreateApi" => self.run(cx, &r, s, create_api).await,
                "GetApi" => self.run(cx, &r, s, get_api).await,
                "GetApis" => self.run(cx, &r, s, get_apis).await,
                "UpdateApi" => self.run(cx, &r, s, update_api).await,
                "DeleteApi" => self.run(cx, &r, s, delete_api).await,
                "DeleteCorsConfiguration" => self.run(cx, &r, s, delete_cors_configuration).await,
                "CreateRoute" => self.run(cx, &r, s, create_route).await,
                "GetRoute" => self.run(cx, &r, s, get_route).await,
                "GetRoutes" => self.run(cx, &r, s, get_routes).await,
                "UpdateRoute" => self.run(cx, &r, s, update_route).await,
                "DeleteRoute" => self.run(cx, &r, s, delete_route).await,
                "CreateIntegration" => self.run(cx, &r, s, create_integration).await,
                "GetIntegration" => self.run(cx, &r, s, get_integration).await,
                "GetIntegrations" => self.run(cx, &r, s, get_integrations).await,
                "UpdateIntegration" => self.run(cx, &r, s, update_integration).await,
                "DeleteIntegration" => self.run(cx, &r, s, delete_integration).await,
                "CreateStage" => self.run(cx, &r, s, create_stage).await,
                "GetStage" => self.run(cx, &r, s, get_stage).await,
                "GetStages" => self.run(cx, &r, s, get_stages).await,
                "UpdateStage" => self.run(cx, &r, s, update_stage).await,
                "DeleteStage" => self.run(cx, &r, s, delete_stage).await,
                "CreateDeployment" => self.run(cx, &r, s, create_deployment).await,
                "GetDeployment" => self.run(cx, &r, s, get_deployment).await,
                "GetDeployments" => self.run(cx, &r, s, get_deployments).await,
                "DeleteDeployment" => self.run(cx, &r, s, delete_deployment).await,
                "CreateAuthorizer" => self.run(cx, &r, s, create_authorizer).await,
                "GetAuthorizer" => self.run(cx, &r, s, get_authorizer).await,
                "GetAuthorizers" => self.run(cx, &r, s, get_authorizers).await,
                "UpdateAuthorizer" => self.run(cx, &r, s, update_authorizer).await,
                "DeleteAuthorizer" => self.run(cx, &r, s, delete_authorizer).await,
                "TagResource" => self.run(cx, &r, s, tag_resource).await,
                "UntagResource" => self.run(cx, &r, s, untag_resource).await,
                "GetTags" => self.run(cx, &r, s, get_tags).await,
                other => Err(AwsError::not_implemented(other)),
            };
        }
        use v1::*;
        match route.operation {
            "CreateRestApi" => self.run(cx, &r, s, create_rest_api).await,
            "GetRestApi" => self.run(cx, &r, s, get_rest_api).await,
            "GetRestApis" => self.run(cx, &r, s, get_rest_apis).await,
            "UpdateRestApi" => self.run(cx, &r, s, update_rest_api).await,
            "DeleteRestApi" => self.run(cx, &r, s, delete_rest_api).await,
            "ImportRestApi" => self.run(cx, &r, s, import_rest_api).await,
            "PutRestApi" => self.run(cx, &r, s, put_rest_api).await,
            "GetExport" => self.run(cx, &r, s, get_export).await,
            "CreateResource" => self.run(cx, &r, s, create_resource).await,
            "GetResource" => self.run(cx, &r, s, get_resource).await,
            "GetResources" => self.run(cx, &r, s, get_resources).await,
            "UpdateResource" => self.run(cx, &r, s, update_resource).await,
            "DeleteResource" => self.run(cx, &r, s, delete_resource).await,
            "PutMethod" => self.run(cx, &r, s, put_method).await,
            "GetMethod" => self.run(cx, &r, s, get_method).await,
            "UpdateMethod" => self.run(cx, &r, s, update_method).await,
            "DeleteMethod" => self.run(cx, &r, s, delete_method).await,
            "PutMethodResponse" => self.run(cx, &r, s, put_method_response).await,
            "GetMethodResponse" => self.run(cx, &r, s, get_method_response).await,
            "UpdateMethodResponse" => self.run(cx, &r, s, update_method_response).await,
            "DeleteMethodResponse" => self.run(cx, &r, s, delete_method_response).await,
            "PutIntegration" => self.run(cx, &r, s, put_integration).await,
            "GetIntegration" => self.run(cx, &r, s, get_integration).await,
            "UpdateIntegration" => self.run(cx, &r, s, update_integration).await,
            "DeleteIntegration" => self.run(cx, &r, s, delete_integration).await,
            "PutIntegrationResponse" => self.run(cx, &r, s, put_integration_response).await,
            "GetIntegrationResponse" => self.run(cx, &r, s, get_integration_response).await,
            "UpdateIntegrationResponse" => self.run(cx, &r, s, update_integration_response).await,
            "DeleteIntegrationResponse" => self.run(cx, &r, s, delete_integration_response).await,
            "CreateDeployment" => self.run(cx, &r, s, create_deployment).await,
            "GetDeployment" => self.run(cx, &r, s, get_deployment).await,
            "GetDeployments" => self.run(cx, &r, s, get_deployments).await,
            "DeleteDeployment" => self.run(cx, &r, s, delete_deployment).await,
            "CreateStage" => self.run(cx, &r, s, create_stage).await,
            "GetStage" => self.run(cx, &r, s, get_stage).await,
            "GetStages" => self.run(cx, &r, s, get_stages).await,
            "UpdateStage" => self.run(cx, &r, s, update_stage).await,
            "DeleteStage" => self.run(cx, &r, s, delete_stage).await,
            "FlushStageCache" => self.run(cx, &r, s, flush_stage_cache).await,
            "CreateApiKey" => self.run(cx, &r, s, create_api_key).await,
            "GetApiKey" => self.run(cx, &r, s, get_api_key).await,
            "GetApiKeys" => self.run(cx, &r, s, get_api_keys).await,
            "UpdateApiKey" => self.run(cx, &r, s, update_api_key).await,
            "DeleteApiKey" => self.run(cx, &r, s, delete_api_key).await,
            "CreateUsagePlan" => self.run(cx, &r, s, create_usage_plan).await,
            "GetUsagePlan" => self.run(cx, &r, s, get_usage_plan).await,
            "GetUsagePlans" => self.run(cx, &r, s, get_usage_plans).await,
            "UpdateUsagePlan" => self.run(cx, &r, s, update_usage_plan).await,
            "DeleteUsagePlan" => self.run(cx, &r, s, delete_usage_plan).await,
            "CreateUsagePlanKey" => self.run(cx, &r, s, create_usage_plan_key).await,
            "GetUsagePlanKey" => self.run(cx, &r, s, get_usage_plan_key).await,
            "GetUsagePlanKeys" => self.run(cx, &r, s, get_usage_plan_keys).await,
            "DeleteUsagePlanKey" => self.run(cx, &r, s, delete_usage_plan_key).await,
            "GetUsage" => self.run(cx, &r, s, get_usage).await,
            "CreateAuthorizer" => self.run(cx, &r, s, create_authorizer).await,
            "GetAuthorizer" => self.run(cx, &r, s, get_authorizer).await,
            "GetAuthorizers" => self.run(cx, &r, s, get_authorizers).await,
            "UpdateAuthorizer" => self.run(cx, &r, s, update_authorizer).await,
            "DeleteAuthorizer" => self.run(cx, &r, s, delete_authorizer).await,
            "CreateRequestValidator" => self.run(cx, &r, s, create_request_validator).await,
            "GetRequestValidator" => self.run(cx, &r, s, get_request_validator).await,
            "GetRequestValidators" => self.run(cx, &r, s, get_request_validators).await,
            "UpdateRequestValidator" => self.run(cx, &r, s, update_request_validator).await,
            "DeleteRequestValidator" => self.run(cx, &r, s, delete_request_validator).await,
            "CreateModel" => self.run(cx, &r, s, create_model).await,
            "GetModel" => self.run(cx, &r, s, get_model).await,
            "GetModels" => self.run(cx, &r, s, get_models).await,
            "UpdateModel" => self.run(cx, &r, s, update_model).await,
            "DeleteModel" => self.run(cx, &r, s, delete_model).await,
            "CreateDomainName" => self.run(cx, &r, s, create_domain_name).await,
            "GetDomainName" => self.run(cx, &r, s, get_domain_name).await,
            "GetDomainNames" => self.run(cx, &r, s, get_domain_names).await,
            "DeleteDomainName" => self.run(cx, &r, s, delete_domain_name).await,
            "CreateBasePathMapping" => self.run(cx, &r, s, create_base_path_mapping).await,
            "GetBasePathMapping" => self.run(cx, &r, s, get_base_path_mapping).await,
            "GetBasePathMappings" => self.run(cx, &r, s, get_base_path_mappings).await,
            "DeleteBasePathMapping" => self.run(cx, &r, s, delete_base_path_mapping).await,
            "TagResource" => self.run(cx, &r, s, tag_resource).await,
            "UntagResource" => self.run(cx, &r, s, untag_resource).await,
            "GetTags" => self.run(cx, &r, s, get_tags).await,
            "TestInvokeMethod" => self.run(cx, &r, s, test_invoke_method).await,
            other => Err(AwsError::not_implemented(other)),
        }
    }

    async fn run<I, O, F>(
        &self,
        cx: &RequestContext,
        req: &RestRequest<'_>,
        status: u16,
        op: impl FnOnce(ApiGateway, RequestContext, I) -> F,
    ) -> Result<ApiResponse, AwsError>
    where
        I: FromRest + Validate,
        O: ToRest,
        F: Future<Output = Result<O, ApiGatewayError>>,
    {
        let input = I::from_rest(req)?;
        if let Some(message) = input.violations() {
            return Err(ApiGatewayError::BadRequest(message).into());
        }
        let output = op(self.clone(), cx.clone(), input).await?;
        Ok(output.to_rest(status))
    }

    /// Calls a function for a request within `timeout`. A failure is logged with its reason:
    /// clients only ever see API Gateway's generic errors.
    pub(crate) async fn call_function(
        &self,
        call: FunctionCall,
        timeout: Duration,
        what: &str,
    ) -> Result<FunctionAnswer, Unanswered> {
        match tokio::time::timeout(timeout, self.inner.backends.invoke(call)).await {
            Err(_) => Err(Unanswered::TimedOut),
            Ok(Ok(a)) => Ok(a),
            Ok(Err(e)) => {
                let why = e.reason();
                tracing::warn!(what, error = why, "function call failed");
                Err(Unanswered::Failed(why))
            }
        }
    }

    /// The base URL of an API's invoke endpoint.
    fn api_endpoint(&self, api_id: &str) -> String {
        format!("http://{api_id}.execute-api.localhost:{}", self.inner.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_by_host_and_path() {
        assert_eq!(
            Target::of(Some("abc123.execute-api.localhost:4566"), "/prod/items"),
            Some(Target::Api {
                api_id: "abc123".into(),
                path: "/prod/items".into()
            })
        );
        assert_eq!(
            Target::of(Some("127.0.0.1:4566"), "/_aws/execute-api/abc123/$default/x"),
            Some(Target::Api {
                api_id: "abc123".into(),
                path: "/$default/x".into()
            })
        );
        assert_eq!(
            Target::of(Some("u1.lambda-url.us-east-1.localhost:4566"), "/"),
            Some(Target::FunctionUrl { id: "u1".into() })
        );
        assert_eq!(Target::of(Some("bucket.s3.localhost:4566"), "/k"), None);
        assert_eq!(Target::of(Some("127.0.0.1:4566"), "/2015-03-31/functions"), None);
        assert_eq!(Target::of(Some("a.execute-api.example.com"), "/"), None);
        assert_eq!(Target::of(Some("a.execute-api.localhost.example.com"), "/"), None);
        assert_eq!(
            Target::of(Some("u2.Lambda-Url.LOCALHOST"), "/"),
            Some(Target::FunctionUrl { id: "u2".into() })
        );
    }
}
