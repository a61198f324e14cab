//! AWS Lambda: functions, versions, aliases, permissions, tags and invocation, synchronous
//! and asynchronous, within concurrency limits, with provisioned concurrency, metrics and
//! cost. It speaks `restJson1`; code runs in `stratus-runtime` sandboxes and function output
//! goes to CloudWatch Logs (`/aws/lambda/NAME`).
//!
//! Depends on core, protocol, store, logs and runtime; never on the gateway.

pub mod asynchronous;
pub mod callers;
pub mod code;
mod concurrency;
pub mod error;
pub mod generated;
pub mod invoke;
mod layers;
pub mod metrics;
mod ops;
mod scale;
pub mod state;

use std::path::PathBuf;
use std::sync::Arc;

use stratus_core::{Clock, LambdaPrices, RequestContext};
use stratus_logs::Logs;
use stratus_protocol::rest::{self, FromRest, RestRequest, ToRest};
use stratus_protocol::validate::Validate;
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol};
use stratus_runtime::Runtime;
use stratus_store::Store;

pub use error::LambdaError;

pub const PROTOCOL: Protocol = Protocol::RestJson;

/// Largest CreateFunction / UpdateFunctionCode request (a 50 MB zip in base64 JSON), as AWS.
pub const MAX_REQUEST_BYTES: usize = 69_905_067;

/// Reads a code package from S3 for an account: `(account, bucket, key, version)` → the bytes,
/// or the S3 error code and message.
pub type CodeFetcher = Arc<
    dyn Fn(
            String,
            String,
            String,
            Option<String>,
        )
            -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<Vec<u8>, (String, String)>> + Send>>
        + Send
        + Sync,
>;

/// What Lambda needs from the server's configuration.
#[derive(Clone)]
pub struct LambdaConfig {
    /// The data directory (code is kept under `lambda/`).
    pub data_dir: PathBuf,
    /// `http://host:port` of this server, given to functions as `AWS_ENDPOINT_URL`.
    pub endpoint_url: String,
    /// Credentials handed to functions, by account id: `(access key, secret)`.
    pub credentials: Vec<(String, String, String)>,
    /// How long an idle instance stays warm.
    pub idle_timeout: std::time::Duration,
    /// Where `S3Bucket`/`S3Key` code comes from.
    pub code_from_s3: Option<CodeFetcher>,
    /// Concurrent executions allowed per account and region.
    pub concurrency_limit: u32,
    /// Prices for the cost report.
    pub prices: LambdaPrices,
}

/// The Lambda service value: shared by every request.
#[derive(Clone)]
pub struct Lambda {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    clock: Clock,
    runtime: Runtime,
    code: code::CodeStore,
    config: LambdaConfig,
    /// Signs `Code.Location` download links.
    download_key: [u8; 32],
    /// Function output on its way to CloudWatch Logs.
    log_tx: tokio::sync::mpsc::UnboundedSender<LogBatch>,
    concurrency: Arc<concurrency::Concurrency>,
    metrics: metrics::Metrics,
    /// Provisioned pools this node keeps, by `ACCOUNT/REGION/NAME/QUALIFIER`.
    pools: std::sync::Mutex<std::collections::HashMap<String, scale::Pool>>,
    /// Function records as the invoke path last decoded them.
    parsed: state::Parsed,
    /// How instances of each configuration revision start, by `ARN:VERSION:REVISION`.
    specs: std::sync::Mutex<std::collections::HashMap<String, Arc<stratus_runtime::FunctionSpec>>>,
}

/// One invocation's log lines for one stream.
pub(crate) struct LogBatch {
    pub account: String,
    pub region: String,
    pub group: String,
    pub stream: String,
    pub events: Vec<stratus_logs::LogEvent>,
}

/// Merges the metrics into the store once a second, with the time provisioned instances
/// were kept ready.
async fn flush_metrics(l: Lambda) {
    let weak = Arc::downgrade(&l.inner);
    drop(l);
    let mut last = std::time::Instant::now();
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let Some(inner) = weak.upgrade() else { return };
        let l = Lambda { inner };
        let elapsed = last.elapsed().as_millis() as u64;
        last = std::time::Instant::now();
        scale::charge_provisioned_time(&l, elapsed);
        l.inner
            .metrics
            .flush(&l.inner.store, l.inner.clock.now_ms())
            .await;
    }
}

/// Shortest time between two rounds of log writes. Output that arrives in between waits for
/// the next round (CloudWatch Logs shows Lambda output seconds late on AWS too).
const LOG_ROUND: std::time::Duration = std::time::Duration::from_millis(50);

/// Writes function output to CloudWatch Logs off the invocation path: whatever accumulated
/// since the previous round is merged per stream, so a busy function costs one store write
/// per stream and round instead of several page writes per invocation.
async fn ship_logs(logs: Logs, mut rx: tokio::sync::mpsc::UnboundedReceiver<LogBatch>) {
    use std::collections::BTreeMap;
    let mut last_round: Option<tokio::time::Instant> = None;
    while let Some(first) = rx.recv().await {
        if let Some(at) = last_round {
            tokio::time::sleep_until(at + LOG_ROUND).await;
        }
        last_round = Some(tokio::time::Instant::now());
        let mut merged: BTreeMap<(String, String, String, String), Vec<stratus_logs::LogEvent>> =
            BTreeMap::new();
        let mut add = |b: LogBatch| {
            merged
                .entry((b.account, b.region, b.group, b.stream))
                .or_default()
                .extend(b.events);
        };
        add(first);
        while let Ok(more) = rx.try_recv() {
            add(more);
        }
        let writes = merged
            .into_iter()
            .map(|((account, region, group, stream), events)| {
                let logs = logs.clone();
                async move {
                    if let Err(e) = logs.append(&account, &region, &group, &stream, events).await {
                        tracing::warn!(error = %e.message, group, "could not write function logs");
                    }
                }
            });
        futures_util::future::join_all(writes).await;
    }
}

impl Lambda {
    pub fn new(store: Store, clock: Clock, logs: Logs, config: LambdaConfig) -> std::io::Result<Self> {
        let data_dir = std::fs::canonicalize(&config.data_dir).unwrap_or_else(|_| config.data_dir.clone());
        let root = data_dir.join("lambda");
        let code = code::CodeStore::new(root.clone())?;
        let launcher = std::env::current_exe()?;
        let runtime = Runtime::new(stratus_runtime::RuntimeConfig {
            work_dir: root,
            hide: vec![data_dir],
            launcher,
            idle_timeout: config.idle_timeout,
        })?;
        let download_key: [u8; 32] = rand::random();
        let (log_tx, log_rx) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(ship_logs(logs, log_rx));
        let concurrency = concurrency::Concurrency::new(config.concurrency_limit);
        let lambda = Self {
            inner: Arc::new(Inner {
                store,
                clock,
                runtime,
                code,
                config,
                download_key,
                log_tx,
                concurrency,
                metrics: metrics::Metrics::default(),
                pools: Default::default(),
                parsed: Default::default(),
                specs: Default::default(),
            }),
        };
        tokio::spawn(asynchronous::dispatch(lambda.clone()));
        tokio::spawn(flush_metrics(lambda.clone()));
        let l = lambda.clone();
        tokio::spawn(async move {
            if let Err(e) = scale::restore(&l).await {
                tracing::error!(error = %e, "could not restore provisioned concurrency");
            }
        });
        Ok(lambda)
    }

    /// Queues an event from another service (an S3 notification...) for the function an ARN
    /// names, as an asynchronous invocation; an error says why it cannot be.
    pub async fn deliver(&self, arn: &str, payload: String) -> Result<(), asynchronous::Undeliverable> {
        asynchronous::from_service(self, arn, payload).await
    }

    /// Function metrics of an account (one function, or all), as JSON.
    pub async fn metrics(
        &self,
        account: &str,
        region: &str,
        function: Option<&str>,
    ) -> Result<serde_json::Value, AwsError> {
        Ok(self
            .inner
            .metrics
            .report(&self.inner.store, account, region, function)
            .await?)
    }

    /// What an account's recorded usage costs, as JSON.
    pub async fn cost(&self, account: &str, region: &str) -> Result<serde_json::Value, AwsError> {
        let i = &self.inner;
        Ok(i.metrics
            .cost(&i.store, account, region, &i.config.prices, i.clock.now_ms())
            .await?)
    }

    /// Asynchronous events given up, as JSON.
    pub async fn failed_events(
        &self,
        account: &str,
        region: &str,
        function: Option<&str>,
    ) -> Result<serde_json::Value, AwsError> {
        let events = asynchronous::failed_events(self, account, region, function).await?;
        Ok(serde_json::json!({ "FailedEvents": events }))
    }

    pub(crate) fn ship_logs(&self, batch: LogBatch) {
        let _ = self.inner.log_tx.send(batch);
    }

    /// Stops every function instance (server shutdown).
    pub fn shutdown(&self) {
        self.inner.runtime.shutdown();
    }

    /// Forgets everything held in memory after the store was wiped (`/_stratus/reset`).
    pub fn reset(&self) {
        self.shutdown();
        self.inner.pools.lock().unwrap().clear();
        self.inner.parsed.lock().unwrap().clear();
        self.inner.specs.lock().unwrap().clear();
        self.inner.concurrency.forget();
        self.inner.metrics.forget();
    }

    /// The zip behind a `Code.Location` link, if the link is genuine.
    pub fn download(&self, id: &str, token: &str) -> Option<Vec<u8>> {
        if ops::download_token(&self.inner.download_key, id) != token {
            return None;
        }
        let sha = base64_of_hex(id)?;
        std::fs::read(self.inner.code.zip_path(&sha)).ok()
    }

    /// A download link for a stored zip (GetFunction's `Code.Location`, a layer's content).
    pub(crate) fn code_location(&self, sha256_b64: &str) -> String {
        use base64::Engine;
        let id = hex::encode(
            base64::engine::general_purpose::STANDARD
                .decode(sha256_b64)
                .unwrap_or_default(),
        );
        let token = ops::download_token(&self.inner.download_key, &id);
        format!(
            "{}/_stratus/lambda/code/{id}.zip?token={token}",
            self.inner.config.endpoint_url
        )
    }

    /// InvokeWithResponseStream with a streamed body; `None` for every other request.
    pub async fn handle_stream(
        &self,
        cx: &RequestContext,
        req: &ApiRequest<'_>,
    ) -> Option<Result<http::Response<invoke::StreamBody>, AwsError>> {
        let query = rest::query_pairs(req.query);
        let (route, labels) = rest::find_route(generated::ROUTES, req.method.as_str(), req.path, &query)?;
        if route.operation != "InvokeWithResponseStream" {
            return None;
        }
        let r = RestRequest::new(req, labels);
        Some(self.invoke_stream(cx, &r).await)
    }

    async fn invoke_stream(
        &self,
        cx: &RequestContext,
        r: &RestRequest<'_>,
    ) -> Result<http::Response<invoke::StreamBody>, AwsError> {
        let input = stream_input(r)?;
        Ok(invoke::invoke_streaming(self.clone(), cx.clone(), input).await?)
    }

    /// Decodes, validates and runs one request.
    pub async fn handle(&self, cx: &RequestContext, req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        let query = rest::query_pairs(req.query);
        let Some((route, labels)) =
            rest::find_route(generated::ROUTES, req.method.as_str(), req.path, &query)
        else {
            return Err(AwsError::new(
                "UnknownOperationException",
                404,
                format!("No Lambda operation matches {} {}", req.method, req.path),
            ));
        };
        let r = RestRequest::new(req, labels);
        let s = route.status;
        match route.operation {
            "CreateFunction" => self.run(cx, &r, s, ops::create_function).await,
            "GetFunction" => self.run(cx, &r, s, ops::get_function).await,
            "GetFunctionConfiguration" => self.run(cx, &r, s, ops::get_function_configuration).await,
            "UpdateFunctionCode" => self.run(cx, &r, s, ops::update_function_code).await,
            "UpdateFunctionConfiguration" => self.run(cx, &r, s, ops::update_function_configuration).await,
            "DeleteFunction" => self.run(cx, &r, s, ops::delete_function).await,
            "ListFunctions" => self.run(cx, &r, s, ops::list_functions).await,
            "GetAccountSettings" => self.run(cx, &r, s, ops::get_account_settings).await,
            "PublishVersion" => self.run(cx, &r, s, ops::publish_version).await,
            "ListVersionsByFunction" => self.run(cx, &r, s, ops::list_versions_by_function).await,
            "CreateAlias" => self.run(cx, &r, s, ops::create_alias).await,
            "GetAlias" => self.run(cx, &r, s, ops::get_alias).await,
            "UpdateAlias" => self.run(cx, &r, s, ops::update_alias).await,
            "DeleteAlias" => self.run(cx, &r, s, ops::delete_alias).await,
            "ListAliases" => self.run(cx, &r, s, ops::list_aliases).await,
            "AddPermission" => self.run(cx, &r, s, ops::add_permission).await,
            "RemovePermission" => self.run(cx, &r, s, ops::remove_permission).await,
            "GetPolicy" => self.run(cx, &r, s, ops::get_policy).await,
            "TagResource" => self.run(cx, &r, s, ops::tag_resource).await,
            "UntagResource" => self.run(cx, &r, s, ops::untag_resource).await,
            "ListTags" => self.run(cx, &r, s, ops::list_tags).await,
            "Invoke" => self.run(cx, &r, s, invoke::invoke).await,
            "InvokeAsync" => self.run(cx, &r, s, asynchronous::invoke_async).await,
            "InvokeWithResponseStream" => {
                let out = invoke::invoke(self.clone(), cx.clone(), stream_input(&r)?).await?;
                Ok(invoke::response_stream(out))
            }
            "PutFunctionEventInvokeConfig" => {
                self.run(cx, &r, s, asynchronous::put_function_event_invoke_config)
                    .await
            }
            "UpdateFunctionEventInvokeConfig" => {
                self.run(cx, &r, s, asynchronous::update_function_event_invoke_config)
                    .await
            }
            "GetFunctionEventInvokeConfig" => {
                self.run(cx, &r, s, asynchronous::get_function_event_invoke_config)
                    .await
            }
            "DeleteFunctionEventInvokeConfig" => {
                self.run(cx, &r, s, asynchronous::delete_function_event_invoke_config)
                    .await
            }
            "ListFunctionEventInvokeConfigs" => {
                self.run(cx, &r, s, asynchronous::list_function_event_invoke_configs)
                    .await
            }
            "PutFunctionConcurrency" => self.run(cx, &r, s, scale::put_function_concurrency).await,
            "GetFunctionConcurrency" => self.run(cx, &r, s, scale::get_function_concurrency).await,
            "DeleteFunctionConcurrency" => self.run(cx, &r, s, scale::delete_function_concurrency).await,
            "PutProvisionedConcurrencyConfig" => {
                self.run(cx, &r, s, scale::put_provisioned_concurrency_config)
                    .await
            }
            "GetProvisionedConcurrencyConfig" => {
                self.run(cx, &r, s, scale::get_provisioned_concurrency_config)
                    .await
            }
            "DeleteProvisionedConcurrencyConfig" => {
                self.run(cx, &r, s, scale::delete_provisioned_concurrency_config)
                    .await
            }
            "ListProvisionedConcurrencyConfigs" => {
                self.run(cx, &r, s, scale::list_provisioned_concurrency_configs)
                    .await
            }
            "PublishLayerVersion" => self.run(cx, &r, s, layers::publish_layer_version).await,
            "GetLayerVersion" => self.run(cx, &r, s, layers::get_layer_version).await,
            "ListLayers" => self.run(cx, &r, s, layers::list_layers).await,
            "ListLayerVersions" => self.run(cx, &r, s, layers::list_layer_versions).await,
            "DeleteLayerVersion" => self.run(cx, &r, s, layers::delete_layer_version).await,
            "CreateFunctionUrlConfig" => self.run(cx, &r, s, layers::create_function_url_config).await,
            "GetFunctionUrlConfig" => self.run(cx, &r, s, layers::get_function_url_config).await,
            "UpdateFunctionUrlConfig" => self.run(cx, &r, s, layers::update_function_url_config).await,
            "DeleteFunctionUrlConfig" => self.run(cx, &r, s, layers::delete_function_url_config).await,
            "ListFunctionUrlConfigs" => self.run(cx, &r, s, layers::list_function_url_configs).await,
            other => Err(AwsError::not_implemented(other)),
        }
    }

    async fn run<I, O, F>(
        &self,
        cx: &RequestContext,
        req: &RestRequest<'_>,
        status: u16,
        op: impl FnOnce(Lambda, RequestContext, I) -> F,
    ) -> Result<ApiResponse, AwsError>
    where
        I: FromRest + Validate,
        O: ToRest,
        F: Future<Output = Result<O, LambdaError>>,
    {
        let input = I::from_rest(req)?;
        if let Some(message) = input.violations() {
            return Err(AwsError::validation(PROTOCOL, message));
        }
        let output = op(self.clone(), cx.clone(), input).await?;
        Ok(output.to_rest(status))
    }
}

/// InvokeWithResponseStream's input: Invoke's, without the `Event` type.
fn stream_input(r: &RestRequest<'_>) -> Result<generated::InvocationRequest, AwsError> {
    let input = generated::InvocationRequest::from_rest(r)?;
    if let Some(message) = input.violations() {
        return Err(AwsError::validation(PROTOCOL, message));
    }
    if input.invocation_type.as_deref() == Some("Event") {
        return Err(LambdaError::Validation(
            "1 validation error detected: Value 'Event' at 'invocationType' failed to satisfy constraint: Member must satisfy enum value set: [RequestResponse, DryRun]".into(),
        )
        .into());
    }
    Ok(input)
}

fn base64_of_hex(id: &str) -> Option<String> {
    use base64::Engine;
    let raw = hex::decode(id).ok()?;
    Some(base64::engine::general_purpose::STANDARD.encode(raw))
}
