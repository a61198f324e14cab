//! The control plane: functions, versions, aliases, permissions, tags, account settings.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};
use stratus_core::RequestContext;
use stratus_store::Txn;

use crate::generated::*;
use crate::state::{self, Alias, Config, Function};
use crate::{Lambda, LambdaError};

/// Runtimes AWS no longer accepts for new or updated functions.
const DEPRECATED: &[&str] = &[
    "python2.7",
    "python3.6",
    "python3.7",
    "python3.8",
    "nodejs",
    "nodejs4.3",
    "nodejs4.3-edge",
    "nodejs6.10",
    "nodejs8.10",
    "nodejs10.x",
    "nodejs12.x",
    "nodejs14.x",
    "nodejs16.x",
    "dotnetcore1.0",
    "dotnetcore2.0",
    "dotnetcore2.1",
    "dotnetcore3.1",
    "dotnet6",
    "ruby2.5",
    "ruby2.7",
    "java8",
    "go1.x",
    "provided",
];
/// Variables Lambda sets itself; a function may not define them.
const RESERVED_ENV: &[&str] = &[
    "_HANDLER",
    "_X_AMZN_TRACE_ID",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
    "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
    "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE",
    "AWS_LAMBDA_LOG_GROUP_NAME",
    "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API",
    "LAMBDA_TASK_ROOT",
    "LAMBDA_RUNTIME_DIR",
];
const MAX_ENV_BYTES: usize = 4096;
const MAX_TIMEOUT: i32 = 900;
const LATEST: &str = "$LATEST";

// ---- names and ARNs ---------------------------------------------------------------------

/// A function named by a request: plain name, partial ARN or full ARN, with a qualifier.
pub(crate) struct Target {
    pub name: String,
    pub qualifier: Option<String>,
}

pub(crate) fn target(function_name: &str, qualifier: Option<&str>) -> Result<Target, LambdaError> {
    let parts: Vec<&str> = function_name.split(':').collect();
    let (name, arn_qualifier) = match parts.as_slice() {
        [name] => (*name, None),
        [name, q] => (*name, Some(*q)),
        [_acct, "function", name] => (*name, None),
        [_acct, "function", name, q] => (*name, Some(*q)),
        ["arn", _, "lambda", _region, _acct, "function", name] => (*name, None),
        ["arn", _, "lambda", _region, _acct, "function", name, q] => (*name, Some(*q)),
        _ => {
            return Err(LambdaError::Validation(format!(
                "1 validation error detected: Value '{function_name}' at 'functionName' failed to satisfy constraint: Member must satisfy regular expression pattern: (arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:)?(\\d{{12}}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?"
            )));
        }
    };
    if let (Some(a), Some(q)) = (arn_qualifier, qualifier)
        && a != q
    {
        return Err(LambdaError::InvalidParameter(
            "The derived qualifier from the function name does not match the specified qualifier.".into(),
        ));
    }
    Ok(Target {
        name: name.to_string(),
        qualifier: qualifier.or(arn_qualifier).map(str::to_string),
    })
}

pub(crate) fn function_arn(cx: &RequestContext, name: &str) -> String {
    format!("arn:aws:lambda:{}:{}:function:{name}", cx.region, cx.account_id())
}

fn not_found(cx: &RequestContext, name: &str, qualifier: Option<&str>) -> LambdaError {
    let arn = function_arn(cx, name);
    match qualifier {
        Some(q) => LambdaError::NotFound(format!("Function not found: {arn}:{q}")),
        None => LambdaError::NotFound(format!("Function not found: {arn}")),
    }
}

/// Loads a function or answers ResourceNotFoundException.
pub(crate) async fn load(
    l: &Lambda,
    cx: &RequestContext,
    name: &str,
) -> Result<(Function, bytes::Bytes, String), LambdaError> {
    let key = state::key(cx.account_id(), &cx.region, name);
    match state::get(&l.inner.store, &key).await? {
        Some((f, raw)) => Ok((f, raw, key)),
        None => Err(not_found(cx, name, None)),
    }
}

/// [`load`] for the invoke path: the record shared, decoded only when it changed.
pub(crate) async fn load_shared(
    l: &Lambda,
    cx: &RequestContext,
    name: &str,
) -> Result<std::sync::Arc<Function>, LambdaError> {
    let key = state::key(cx.account_id(), &cx.region, name);
    state::get_shared(&l.inner.store, &key, &l.inner.parsed)
        .await?
        .ok_or_else(|| not_found(cx, name, None))
}

/// The configuration a qualifier names: `$LATEST`, a version number, or an alias (resolved to
/// its primary version).
pub(crate) async fn resolve(
    l: &Lambda,
    cx: &RequestContext,
    f: &Function,
    qualifier: Option<&str>,
) -> Result<Config, LambdaError> {
    let name = &f.latest.name;
    match qualifier {
        None | Some(LATEST) => Ok(f.latest.clone()),
        Some(q) if q.chars().all(|c| c.is_ascii_digit()) => {
            let n: u64 = q.parse().map_err(|_| not_found(cx, name, Some(q)))?;
            state::get_version(
                &l.inner.store,
                &state::version_key(cx.account_id(), &cx.region, name, n),
            )
            .await?
            .ok_or_else(|| not_found(cx, name, Some(q)))
        }
        Some(alias) => {
            let akey = state::alias_key(cx.account_id(), &cx.region, name, alias);
            let (a, _) = state::get_alias(&l.inner.store, &akey)
                .await?
                .ok_or_else(|| not_found(cx, name, Some(alias)))?;
            Box::pin(resolve(l, cx, f, Some(&a.function_version))).await
        }
    }
}

/// Loads the function a request names and checks its qualifier exists; the qualifier is
/// `$LATEST` when none is given.
pub(crate) async fn qualified(
    l: &Lambda,
    cx: &RequestContext,
    function_name: Option<&str>,
    qualifier: Option<&str>,
) -> Result<(state::Function, bytes::Bytes, String, String), LambdaError> {
    let t = target(function_name.unwrap_or_default(), qualifier)?;
    let (f, raw, key) = load(l, cx, &t.name).await?;
    resolve(l, cx, &f, t.qualifier.as_deref()).await?;
    Ok((f, raw, key, t.qualifier.unwrap_or_else(|| "$LATEST".into())))
}

/// The function a request names and the configuration its qualifier selects.
async fn named(
    l: &Lambda,
    cx: &RequestContext,
    function_name: Option<&str>,
    qualifier: Option<&str>,
) -> Result<(Function, Config), LambdaError> {
    let t = target(function_name.unwrap_or_default(), qualifier)?;
    let (f, _, _) = load(l, cx, &t.name).await?;
    let c = resolve(l, cx, &f, t.qualifier.as_deref()).await?;
    Ok((f, c))
}

pub(crate) fn configuration(cx: &RequestContext, c: &Config) -> FunctionConfiguration {
    let arn = function_arn(cx, &c.name);
    FunctionConfiguration {
        function_name: Some(c.name.clone()),
        function_arn: Some(if c.version == LATEST {
            arn
        } else {
            format!("{arn}:{}", c.version)
        }),
        runtime: Some(c.runtime.clone()),
        role: Some(c.role.clone()),
        handler: Some(c.handler.clone()),
        code_size: Some(c.code_size as i64),
        description: Some(c.description.clone()),
        timeout: Some(c.timeout as i32),
        memory_size: Some(c.memory_mb as i32),
        last_modified: Some(c.last_modified.clone()),
        code_sha256: Some(c.code_sha256.clone()),
        version: Some(c.version.clone()),
        environment: (!c.env.is_empty()).then(|| EnvironmentResponse {
            variables: Some(c.env.clone().into_iter().collect()),
            error: None,
        }),
        tracing_config: Some(TracingConfigResponse {
            mode: Some(c.tracing_mode.clone()),
        }),
        revision_id: Some(c.revision_id.clone()),
        layers: (!c.layers.is_empty()).then(|| {
            c.layers
                .iter()
                .map(|l| Layer {
                    arn: Some(l.arn.clone()),
                    code_size: Some(l.code_size as i64),
                    ..Default::default()
                })
                .collect()
        }),
        state: Some("Active".into()),
        last_update_status: Some("Successful".into()),
        package_type: Some(c.package_type.clone()),
        dead_letter_config: c.dead_letter_arn.as_ref().map(|arn| DeadLetterConfig {
            target_arn: Some(arn.clone()),
        }),
        architectures: Some(c.architectures.clone()),
        ephemeral_storage: Some(EphemeralStorage {
            size: Some(c.tmp_mb as i32),
        }),
        snap_start: Some(SnapStartResponse {
            apply_on: Some("None".into()),
            optimization_status: Some("Off".into()),
        }),
        logging_config: Some(LoggingConfig {
            log_format: Some(c.log_format.clone()),
            log_group: Some(log_group(c)),
            ..Default::default()
        }),
        ..Default::default()
    }
}

pub(crate) fn log_group(c: &Config) -> String {
    c.log_group
        .clone()
        .unwrap_or_else(|| format!("/aws/lambda/{}", c.name))
}

pub(crate) fn now_iso(l: &Lambda) -> String {
    // Lambda's own format: 2026-11-29T12:00:00.000+0000
    let ms = l.inner.clock.now_ms();
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}+0000",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    )
}

fn revision() -> String {
    uuid::Uuid::new_v4().to_string()
}

// ---- validation ---------------------------------------------------------------------------

fn check_runtime(runtime: &str) -> Result<(), LambdaError> {
    if DEPRECATED.contains(&runtime) {
        return Err(LambdaError::InvalidParameter(format!(
            "The runtime parameter of {runtime} is no longer supported for creating or updating AWS Lambda functions. We recommend you use a supported runtime while creating or updating functions."
        )));
    }
    match stratus_runtime::interpreters::language(runtime) {
        Some(stratus_runtime::interpreters::Language::Provided) => Ok(()),
        Some(_) if stratus_runtime::interpreters::find(runtime).is_some() => Ok(()),
        Some(_) => Err(LambdaError::InvalidParameter(format!(
            "The runtime parameter of {runtime} is not available on this Stratus host: install its interpreter ({}) and restart, or choose another runtime.",
            if runtime.starts_with("python") {
                runtime.to_string()
            } else {
                format!(
                    "node {}",
                    runtime.trim_start_matches("nodejs").trim_end_matches(".x")
                )
            }
        ))),
        None => Err(LambdaError::InvalidParameter(format!(
            "The runtime parameter of {runtime} is not supported by Stratus: use python3.x, nodejs*, provided.al2023 or provided.al2."
        ))),
    }
}

/// Largest MemorySize of an on-demand function (the model allows more for managed instances).
const MAX_MEMORY_MB: i32 = 10_240;

fn check_memory(m: Option<i32>) -> Result<(), LambdaError> {
    if let Some(m) = m
        && m > MAX_MEMORY_MB
    {
        return Err(LambdaError::InvalidParameter(format!(
            "'MemorySize' value failed to satisfy constraint: Member must have value less than or equal to {MAX_MEMORY_MB}"
        )));
    }
    Ok(())
}

fn check_timeout(t: Option<i32>) -> Result<(), LambdaError> {
    if let Some(t) = t
        && t > MAX_TIMEOUT
    {
        return Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{t}' at 'timeout' failed to satisfy constraint: Member must have value less than or equal to {MAX_TIMEOUT}"
        )));
    }
    Ok(())
}

fn check_env(env: &BTreeMap<String, String>) -> Result<(), LambdaError> {
    let reserved: Vec<&str> = env
        .keys()
        .map(String::as_str)
        .filter(|k| RESERVED_ENV.contains(k))
        .collect();
    if !reserved.is_empty() {
        return Err(LambdaError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided contains reserved keys that are currently not supported for modification. Reserved keys used in this request: {}",
            reserved.join(", ")
        )));
    }
    let size: usize = serde_json::to_string(env).map(|s| s.len()).unwrap_or(0);
    if size > MAX_ENV_BYTES {
        return Err(LambdaError::InvalidParameter(format!(
            "Lambda was unable to configure your environment variables because the environment variables you have provided exceeded the 4KB limit. String measured: {}",
            serde_json::to_string(env).unwrap_or_default()
        )));
    }
    Ok(())
}

fn check_handler(runtime: &str, handler: Option<&str>) -> Result<String, LambdaError> {
    match handler {
        Some(h) => Ok(h.to_string()),
        None if runtime.starts_with("provided") => Ok(String::new()),
        None => Err(LambdaError::InvalidParameter(
            "Handler is required for Zip package type".into(),
        )),
    }
}

/// Layers named by version ARN: they must exist (published in this account and region).
async fn check_layers(l: &Lambda, arns: &[String]) -> Result<Vec<state::LayerRef>, LambdaError> {
    if arns.len() > 5 {
        return Err(LambdaError::InvalidParameter(
            "Cannot reference more than 5 layers.".into(),
        ));
    }
    let mut out = Vec::new();
    for arn in arns {
        let Some(layer) = crate::layers::layer(l, arn).await? else {
            return Err(LambdaError::InvalidParameter(format!(
                "Layer version {arn} does not exist."
            )));
        };
        out.push(layer);
    }
    Ok(out)
}

/// `code_unzipped`: the unpacked size of the function's own code, in bytes.
fn check_total_size(l: &Lambda, code_unzipped: u64, layers: &[state::LayerRef]) -> Result<(), LambdaError> {
    let total: u64 = code_unzipped
        + layers
            .iter()
            .map(|x| l.inner.code.unzipped_size(&x.code_sha256))
            .sum::<u64>();
    if total > crate::code::MAX_UNZIPPED {
        return Err(LambdaError::InvalidParameter(format!(
            "Function code combined with layers exceeds the maximum allowed size of {} bytes. The actual size is {total} bytes.",
            crate::code::MAX_UNZIPPED
        )));
    }
    Ok(())
}

// ---- functions ----------------------------------------------------------------------------

/// A code package given inline (`ZipFile`) or by S3 location, read with the caller's account.
pub(crate) async fn code_bytes(
    l: &Lambda,
    cx: &RequestContext,
    zip: Option<&Vec<u8>>,
    bucket: Option<&str>,
    key: Option<&str>,
    version: Option<&str>,
) -> Result<Vec<u8>, LambdaError> {
    match (zip, bucket, key) {
        (Some(z), None, None) => Ok(z.clone()),
        (None, Some(bucket), Some(key)) => {
            let Some(fetch) = &l.inner.config.code_from_s3 else {
                return Err(LambdaError::InvalidParameter("Code from S3 is not available on this server.".into()));
            };
            fetch(
                cx.account_id().to_string(),
                bucket.to_string(),
                key.to_string(),
                version.map(str::to_string),
            )
            .await
            .map_err(|(code, message)| {
                LambdaError::InvalidParameter(format!(
                    "Error occurred while GetObject. S3 Error Code: {code}. S3 Error Message: {message}"
                ))
            })
        }
        (None, None, None) => Err(LambdaError::InvalidParameter(
            "Please provide a source for function code.".into(),
        )),
        _ => Err(LambdaError::InvalidParameter(
            "Please do not provide other FunctionCode parameters when providing a ZipFile, and give both S3Bucket and S3Key otherwise.".into(),
        )),
    }
}

pub async fn create_function(
    l: Lambda,
    cx: RequestContext,
    i: CreateFunctionRequest,
) -> Result<FunctionConfiguration, LambdaError> {
    let name = target(i.function_name.as_deref().unwrap_or_default(), None)?.name;
    let package_type = i.package_type.clone().unwrap_or_else(|| "Zip".into());
    if package_type == "Image" {
        return Err(LambdaError::InvalidParameter(
            "Container image functions are not supported by Stratus: use a Zip package.".into(),
        ));
    }
    let Some(runtime) = i.runtime.clone() else {
        return Err(LambdaError::InvalidParameter(
            "Runtime is required for Zip package type".into(),
        ));
    };
    check_runtime(&runtime)?;
    let handler = check_handler(&runtime, i.handler.as_deref())?;
    check_timeout(i.timeout)?;
    check_memory(i.memory_size)?;
    let env: BTreeMap<String, String> = i
        .environment
        .as_ref()
        .and_then(|e| e.variables.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    check_env(&env)?;
    let code = i.code.unwrap_or_default();
    let zip = code_bytes(
        &l,
        &cx,
        code.zip_file.as_ref().map(|z| &z.0),
        code.s3_bucket.as_deref(),
        code.s3_key.as_deref(),
        code.s3_object_version.as_deref(),
    )
    .await?;
    let package = l.inner.code.accept(&zip)?;
    let layers = check_layers(&l, i.layers.as_deref().unwrap_or_default()).await?;
    check_total_size(&l, package.unzipped, &layers)?;
    let latest = Config {
        name: name.clone(),
        version: LATEST.into(),
        runtime,
        role: i.role.clone().unwrap_or_default(),
        handler,
        description: i.description.clone().unwrap_or_default(),
        timeout: i.timeout.unwrap_or(3) as u32,
        memory_mb: i.memory_size.unwrap_or(128) as u32,
        tmp_mb: i.ephemeral_storage.as_ref().and_then(|e| e.size).unwrap_or(512) as u32,
        env,
        code_sha256: package.sha256,
        code_size: package.size,
        layers,
        architectures: i.architectures.clone().unwrap_or_else(|| vec!["x86_64".into()]),
        tracing_mode: i
            .tracing_config
            .as_ref()
            .and_then(|t| t.mode.clone())
            .unwrap_or_else(|| "PassThrough".into()),
        log_format: i
            .logging_config
            .as_ref()
            .and_then(|c| c.log_format.clone())
            .unwrap_or_else(|| "Text".into()),
        log_group: i.logging_config.as_ref().and_then(|c| c.log_group.clone()),
        last_modified: now_iso(&l),
        revision_id: revision(),
        package_type,
        dead_letter_arn: i
            .dead_letter_config
            .as_ref()
            .and_then(|d| d.target_arn.clone())
            .filter(|a| !a.is_empty()),
    };
    let mut f = Function {
        latest,
        tags: i.tags.clone().unwrap_or_default().into_iter().collect(),
        policies: BTreeMap::new(),
        policy_revision: revision(),
        last_version: 0,
        created_ms: l.inner.clock.now_ms(),
        urls: BTreeMap::new(),
        reserved: None,
        provisioned: BTreeMap::new(),
        event_configs: BTreeMap::new(),
    };
    let key = state::key(cx.account_id(), &cx.region, &name);
    let mut txn = Txn::new().absent(state::FUNCTIONS, key.clone().into_bytes());
    let mut out = f.latest.clone();
    if i.publish == Some(true) {
        f.last_version = 1;
        out = f.latest.clone();
        out.version = "1".into();
        txn = txn.put(
            state::VERSIONS,
            state::version_key(cx.account_id(), &cx.region, &name, 1).into_bytes(),
            state::encode(&out),
        );
    }
    txn = txn.put(state::FUNCTIONS, key.into_bytes(), state::encode(&f));
    l.inner.store.commit(txn).await.map_err(|e| match e {
        stratus_store::StoreError::ConditionFailed { .. } => {
            LambdaError::Conflict(format!("Function already exist: {name}"))
        }
        other => other.into(),
    })?;
    Ok(configuration(&cx, &out))
}

pub(crate) fn download_token(key: &[u8; 32], id: &str) -> String {
    let mut h = Sha256::new();
    h.update(key);
    h.update(id.as_bytes());
    hex::encode(h.finalize())
}

pub async fn get_function(
    l: Lambda,
    cx: RequestContext,
    i: GetFunctionRequest,
) -> Result<GetFunctionResponse, LambdaError> {
    let (f, c) = named(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    Ok(GetFunctionResponse {
        configuration: Some(configuration(&cx, &c)),
        code: Some(FunctionCodeLocation {
            repository_type: Some("S3".into()),
            location: Some(l.code_location(&c.code_sha256)),
            ..Default::default()
        }),
        tags: (!f.tags.is_empty()).then(|| f.tags.clone().into_iter().collect()),
        concurrency: f.reserved.map(|r| Concurrency {
            reserved_concurrent_executions: Some(r as i32),
        }),
        ..Default::default()
    })
}

pub async fn get_function_configuration(
    l: Lambda,
    cx: RequestContext,
    i: GetFunctionConfigurationRequest,
) -> Result<FunctionConfiguration, LambdaError> {
    let (_, c) = named(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    Ok(configuration(&cx, &c))
}

fn check_revision(current: &str, given: Option<&str>) -> Result<(), LambdaError> {
    if let Some(r) = given
        && r != current
    {
        return Err(LambdaError::PreconditionFailed(
            "The Revision Id provided does not match the latest Revision Id. Call the GetFunction/GetAlias API to retrieve the latest Revision Id".into(),
        ));
    }
    Ok(())
}

/// Commits a changed `$LATEST` (and maybe a new version), retiring warm instances.
async fn save_latest(
    l: &Lambda,
    cx: &RequestContext,
    key: &str,
    read: &bytes::Bytes,
    mut f: Function,
    publish: bool,
) -> Result<Config, LambdaError> {
    f.latest.last_modified = now_iso(l);
    f.latest.revision_id = revision();
    let mut out = f.latest.clone();
    let mut txn = Txn::new().equals(state::FUNCTIONS, key.as_bytes().to_vec(), read.clone());
    if publish {
        f.last_version += 1;
        out.version = f.last_version.to_string();
        txn = txn.put(
            state::VERSIONS,
            state::version_key(cx.account_id(), &cx.region, &f.latest.name, f.last_version).into_bytes(),
            state::encode(&out),
        );
    }
    txn = txn.put(state::FUNCTIONS, key.as_bytes().to_vec(), state::encode(&f));
    l.inner.store.commit(txn).await.map_err(|e| match e {
        stratus_store::StoreError::ConditionFailed { .. } => LambdaError::Conflict(format!(
            "The operation cannot be performed at this time. An update is in progress for resource: {}",
            function_arn(cx, &f.latest.name)
        )),
        other => other.into(),
    })?;
    l.inner
        .runtime
        .retire(&format!("{}:$LATEST:", function_arn(cx, &f.latest.name)));
    Ok(out)
}

pub async fn update_function_code(
    l: Lambda,
    cx: RequestContext,
    i: UpdateFunctionCodeRequest,
) -> Result<FunctionConfiguration, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    check_revision(&f.latest.revision_id, i.revision_id.as_deref())?;
    let zip = code_bytes(
        &l,
        &cx,
        i.zip_file.as_ref().map(|z| &z.0),
        i.s3_bucket.as_deref(),
        i.s3_key.as_deref(),
        i.s3_object_version.as_deref(),
    )
    .await?;
    let package = l.inner.code.accept(&zip)?;
    check_total_size(&l, package.unzipped, &f.latest.layers)?;
    if i.dry_run == Some(true) {
        let mut c = f.latest.clone();
        c.code_sha256 = package.sha256;
        c.code_size = package.size;
        return Ok(configuration(&cx, &c));
    }
    f.latest.code_sha256 = package.sha256;
    f.latest.code_size = package.size;
    if let Some(a) = &i.architectures {
        f.latest.architectures = a.clone();
    }
    let c = save_latest(&l, &cx, &key, &raw, f, i.publish == Some(true)).await?;
    Ok(configuration(&cx, &c))
}

pub async fn update_function_configuration(
    l: Lambda,
    cx: RequestContext,
    i: UpdateFunctionConfigurationRequest,
) -> Result<FunctionConfiguration, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    check_revision(&f.latest.revision_id, i.revision_id.as_deref())?;
    check_timeout(i.timeout)?;
    check_memory(i.memory_size)?;
    let c = &mut f.latest;
    if let Some(r) = &i.runtime {
        check_runtime(r)?;
        c.runtime = r.clone();
    }
    if let Some(v) = &i.role {
        c.role = v.clone();
    }
    if let Some(v) = &i.handler {
        c.handler = v.clone();
    }
    if let Some(v) = &i.description {
        c.description = v.clone();
    }
    if let Some(v) = i.timeout {
        c.timeout = v as u32;
    }
    if let Some(v) = i.memory_size {
        c.memory_mb = v as u32;
    }
    if let Some(v) = i.ephemeral_storage.as_ref().and_then(|e| e.size) {
        c.tmp_mb = v as u32;
    }
    if let Some(e) = &i.environment {
        let env: BTreeMap<String, String> = e.variables.clone().unwrap_or_default().into_iter().collect();
        check_env(&env)?;
        c.env = env;
    }
    if let Some(t) = i.tracing_config.as_ref().and_then(|t| t.mode.clone()) {
        c.tracing_mode = t;
    }
    if let Some(d) = &i.dead_letter_config {
        c.dead_letter_arn = d.target_arn.clone().filter(|a| !a.is_empty());
    }
    if let Some(lc) = &i.logging_config {
        if let Some(v) = &lc.log_format {
            c.log_format = v.clone();
        }
        if lc.log_group.is_some() {
            c.log_group = lc.log_group.clone();
        }
    }
    if let Some(layers) = &i.layers {
        let refs = check_layers(&l, layers).await?;
        check_total_size(&l, l.inner.code.unzipped_size(&f.latest.code_sha256), &refs)?;
        f.latest.layers = refs;
    }
    let c = save_latest(&l, &cx, &key, &raw, f, false).await?;
    Ok(configuration(&cx, &c))
}

pub async fn delete_function(
    l: Lambda,
    cx: RequestContext,
    i: DeleteFunctionRequest,
) -> Result<DeleteFunctionResponse, LambdaError> {
    let t = target(
        i.function_name.as_deref().unwrap_or_default(),
        i.qualifier.as_deref(),
    )?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    let arn = function_arn(&cx, &t.name);
    match t.qualifier.as_deref() {
        None => {
            l.inner
                .store
                .commit(
                    Txn::new()
                        .equals(state::FUNCTIONS, key.clone().into_bytes(), raw)
                        .delete(state::FUNCTIONS, key.clone().into_bytes())
                        .delete_prefix(state::VERSIONS, format!("{key}/").into_bytes())
                        .delete_prefix(state::ALIASES, format!("{key}/").into_bytes()),
                )
                .await?;
            f.provisioned.clear();
            crate::scale::reconcile(&l, &cx, &f).await?;
            l.inner.runtime.retire(&format!("{arn}:"));
            l.inner.parsed.lock().unwrap().remove(&key);
            l.inner
                .concurrency
                .set_reserved(&l.inner.store, cx.account_id(), &cx.region, &t.name, None)
                .await?;
        }
        Some(LATEST) => {
            return Err(LambdaError::InvalidParameter(
                "$LATEST version cannot be deleted without deleting the function.".into(),
            ));
        }
        Some(q) => {
            let n: u64 = q.parse().map_err(|_| {
                LambdaError::InvalidParameter("Deletion of aliases is not supported. Use DeleteAlias.".into())
            })?;
            let vkey = state::version_key(cx.account_id(), &cx.region, &t.name, n);
            if state::get_version(&l.inner.store, &vkey).await?.is_none() {
                return Err(not_found(&cx, &t.name, Some(q)));
            }
            let used: Vec<String> = state::aliases(&l.inner.store, &key)
                .await?
                .into_iter()
                .filter(|a| a.function_version == q || a.weights.contains_key(q))
                .map(|a| a.name)
                .collect();
            if !used.is_empty() {
                return Err(LambdaError::Conflict(format!(
                    "Unable to delete version because the following aliases reference it: [{}]",
                    used.join(", ")
                )));
            }
            f.policies.remove(q);
            f.provisioned.remove(q);
            f.event_configs.remove(q);
            l.inner
                .store
                .commit(
                    Txn::new()
                        .equals(state::FUNCTIONS, key.clone().into_bytes(), raw)
                        .put(state::FUNCTIONS, key.clone().into_bytes(), state::encode(&f))
                        .delete(state::VERSIONS, vkey.into_bytes()),
                )
                .await?;
            l.inner.runtime.retire(&format!("{arn}:{q}:"));
        }
    }
    Ok(DeleteFunctionResponse {
        status_code: Some(204),
    })
}

/// Pages through sorted items with an opaque marker (the last item's key).
pub(crate) fn page<T>(
    items: Vec<(String, T)>,
    marker: Option<&str>,
    max: Option<i32>,
) -> (Vec<T>, Option<String>) {
    let max = max.unwrap_or(50).clamp(1, 10_000) as usize;
    let mut rest: Vec<(String, T)> = items
        .into_iter()
        .filter(|(k, _)| marker.is_none_or(|m| k.as_str() > m))
        .collect();
    let next = (rest.len() > max).then(|| rest[max - 1].0.clone());
    rest.truncate(max);
    (rest.into_iter().map(|(_, v)| v).collect(), next)
}

pub async fn list_functions(
    l: Lambda,
    cx: RequestContext,
    i: ListFunctionsRequest,
) -> Result<ListFunctionsResponse, LambdaError> {
    let all = state::list(&l.inner.store, cx.account_id(), &cx.region).await?;
    let mut items = Vec::new();
    for f in all {
        items.push((
            format!("{}\u{0}$LATEST", f.latest.name),
            configuration(&cx, &f.latest),
        ));
        if i.function_version.as_deref() == Some("ALL") {
            let key = state::key(cx.account_id(), &cx.region, &f.latest.name);
            for v in state::versions(&l.inner.store, &key).await? {
                items.push((
                    format!(
                        "{}\u{0}{:010}",
                        f.latest.name,
                        v.version.parse::<u64>().unwrap_or(0)
                    ),
                    configuration(&cx, &v),
                ));
            }
        }
    }
    items.sort_by(|a, b| a.0.cmp(&b.0));
    let (functions, next) = page(items, i.marker.as_deref(), i.max_items);
    Ok(ListFunctionsResponse {
        functions: Some(functions),
        next_marker: next,
    })
}

pub async fn get_account_settings(
    l: Lambda,
    cx: RequestContext,
    _i: GetAccountSettingsRequest,
) -> Result<GetAccountSettingsResponse, LambdaError> {
    let all = state::list(&l.inner.store, cx.account_id(), &cx.region).await?;
    let total: i64 = all.iter().map(|f| f.latest.code_size as i64).sum();
    let unreserved = l
        .inner
        .concurrency
        .unreserved(&l.inner.store, cx.account_id(), &cx.region)
        .await?;
    Ok(GetAccountSettingsResponse {
        account_limit: Some(AccountLimit {
            total_code_size: Some(80_530_636_800),
            code_size_unzipped: Some(crate::code::MAX_UNZIPPED as i64),
            code_size_zipped: Some(crate::code::MAX_ZIPPED as i64),
            concurrent_executions: Some(l.inner.concurrency.limit() as i32),
            unreserved_concurrent_executions: Some(unreserved as i32),
        }),
        account_usage: Some(AccountUsage {
            total_code_size: Some(total),
            function_count: Some(all.len() as i64),
        }),
    })
}

// ---- versions -----------------------------------------------------------------------------

pub async fn publish_version(
    l: Lambda,
    cx: RequestContext,
    i: PublishVersionRequest,
) -> Result<FunctionConfiguration, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    check_revision(&f.latest.revision_id, i.revision_id.as_deref())?;
    if let Some(sha) = &i.code_sha256
        && sha != &f.latest.code_sha256
    {
        return Err(LambdaError::InvalidParameter(format!(
            "CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST ({}). Please try again with the CodeSHA256 in $LATEST.",
            f.latest.code_sha256
        )));
    }
    // Publishing unchanged code and configuration returns the last version.
    if f.last_version > 0
        && let Some(last) = state::get_version(
            &l.inner.store,
            &state::version_key(cx.account_id(), &cx.region, &t.name, f.last_version),
        )
        .await?
        && last.code_sha256 == f.latest.code_sha256
        && last.revision_id == f.latest.revision_id
    {
        return Ok(configuration(&cx, &last));
    }
    f.last_version += 1;
    let mut v = f.latest.clone();
    v.version = f.last_version.to_string();
    v.revision_id = f.latest.revision_id.clone();
    if let Some(d) = &i.description {
        v.description = d.clone();
    }
    l.inner
        .store
        .commit(
            Txn::new()
                .equals(state::FUNCTIONS, key.clone().into_bytes(), raw)
                .put(state::FUNCTIONS, key.clone().into_bytes(), state::encode(&f))
                .put(
                    state::VERSIONS,
                    state::version_key(cx.account_id(), &cx.region, &t.name, f.last_version).into_bytes(),
                    state::encode(&v),
                ),
        )
        .await?;
    Ok(configuration(&cx, &v))
}

pub async fn list_versions_by_function(
    l: Lambda,
    cx: RequestContext,
    i: ListVersionsByFunctionRequest,
) -> Result<ListVersionsByFunctionResponse, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (f, _, key) = load(&l, &cx, &t.name).await?;
    let mut items = vec![("0".to_string(), configuration(&cx, &f.latest))];
    for v in state::versions(&l.inner.store, &key).await? {
        let n: u64 = v.version.parse().unwrap_or(0);
        items.push((format!("1{n:010}"), configuration(&cx, &v)));
    }
    let (versions, next) = page(items, i.marker.as_deref(), i.max_items);
    Ok(ListVersionsByFunctionResponse {
        versions: Some(versions),
        next_marker: next,
    })
}

// ---- aliases ------------------------------------------------------------------------------

fn alias_config(cx: &RequestContext, fname: &str, a: &Alias) -> AliasConfiguration {
    AliasConfiguration {
        alias_arn: Some(format!("{}:{}", function_arn(cx, fname), a.name)),
        name: Some(a.name.clone()),
        function_version: Some(a.function_version.clone()),
        description: Some(a.description.clone()),
        routing_config: (!a.weights.is_empty()).then(|| AliasRoutingConfiguration {
            additional_version_weights: Some(a.weights.clone().into_iter().collect()),
        }),
        revision_id: Some(a.revision_id.clone()),
    }
}

async fn check_alias_target(
    l: &Lambda,
    cx: &RequestContext,
    fname: &str,
    version: &str,
    routing: Option<&AliasRoutingConfiguration>,
) -> Result<BTreeMap<String, f64>, LambdaError> {
    let exists = |v: String| async move {
        if v == LATEST {
            return Ok::<bool, LambdaError>(true);
        }
        let Ok(n) = v.parse::<u64>() else { return Ok(false) };
        Ok(state::get_version(
            &l.inner.store,
            &state::version_key(cx.account_id(), &cx.region, fname, n),
        )
        .await?
        .is_some())
    };
    if !exists(version.to_string()).await? {
        return Err(not_found(cx, fname, Some(version)));
    }
    let weights: BTreeMap<String, f64> = routing
        .and_then(|r| r.additional_version_weights.clone())
        .unwrap_or_default()
        .into_iter()
        .collect();
    if weights.len() > 1 {
        return Err(LambdaError::InvalidParameter(
            "Number of items in AdditionalVersionWeights cannot be greater than 1".into(),
        ));
    }
    for (v, w) in &weights {
        if !(0.0..=1.0).contains(w) {
            return Err(LambdaError::Validation(format!(
                "1 validation error detected: Value '{w}' at 'routingConfig.additionalVersionWeights' failed to satisfy constraint: Map value must satisfy constraint: [Member must have value less than or equal to 1.0, Member must have value greater than or equal to 0.0]"
            )));
        }
        if v == version {
            return Err(LambdaError::InvalidParameter(
                "Invalid function version(s) in routing config. The primary version cannot be the same as the additional version.".into(),
            ));
        }
        if version == LATEST || v == LATEST {
            return Err(LambdaError::InvalidParameter(
                "$LATEST is not supported for an alias pointing to more than 1 version".into(),
            ));
        }
        if !exists(v.clone()).await? {
            return Err(not_found(cx, fname, Some(v)));
        }
    }
    Ok(weights)
}

pub async fn create_alias(
    l: Lambda,
    cx: RequestContext,
    i: CreateAliasRequest,
) -> Result<AliasConfiguration, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (_, _, _) = load(&l, &cx, &t.name).await?;
    let name = i.name.clone().unwrap_or_default();
    let version = i.function_version.clone().unwrap_or_default();
    let weights = check_alias_target(&l, &cx, &t.name, &version, i.routing_config.as_ref()).await?;
    let a = Alias {
        name: name.clone(),
        function_version: version,
        description: i.description.clone().unwrap_or_default(),
        weights,
        revision_id: revision(),
    };
    let akey = state::alias_key(cx.account_id(), &cx.region, &t.name, &name);
    l.inner
        .store
        .commit(Txn::new().absent(state::ALIASES, akey.clone().into_bytes()).put(
            state::ALIASES,
            akey.into_bytes(),
            state::encode(&a),
        ))
        .await
        .map_err(|e| match e {
            stratus_store::StoreError::ConditionFailed { .. } => LambdaError::Conflict(format!(
                "Alias already exists: {}:{name}",
                function_arn(&cx, &t.name)
            )),
            other => other.into(),
        })?;
    Ok(alias_config(&cx, &t.name, &a))
}

async fn load_alias(
    l: &Lambda,
    cx: &RequestContext,
    fname: &str,
    alias: &str,
) -> Result<(Alias, bytes::Bytes, String), LambdaError> {
    load(l, cx, fname).await?;
    let akey = state::alias_key(cx.account_id(), &cx.region, fname, alias);
    match state::get_alias(&l.inner.store, &akey).await? {
        Some((a, raw)) => Ok((a, raw, akey)),
        None => Err(LambdaError::NotFound(format!(
            "Alias not found: {}:{alias}",
            function_arn(cx, fname)
        ))),
    }
}

pub async fn get_alias(
    l: Lambda,
    cx: RequestContext,
    i: GetAliasRequest,
) -> Result<AliasConfiguration, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (a, _, _) = load_alias(&l, &cx, &t.name, i.name.as_deref().unwrap_or_default()).await?;
    Ok(alias_config(&cx, &t.name, &a))
}

pub async fn update_alias(
    l: Lambda,
    cx: RequestContext,
    i: UpdateAliasRequest,
) -> Result<AliasConfiguration, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (mut a, raw, akey) = load_alias(&l, &cx, &t.name, i.name.as_deref().unwrap_or_default()).await?;
    check_revision(&a.revision_id, i.revision_id.as_deref())?;
    if let Some(v) = &i.function_version {
        a.function_version = v.clone();
    }
    if let Some(d) = &i.description {
        a.description = d.clone();
    }
    let routing = i.routing_config.clone().or_else(|| {
        Some(AliasRoutingConfiguration {
            additional_version_weights: Some(a.weights.clone().into_iter().collect()),
        })
    });
    a.weights = check_alias_target(&l, &cx, &t.name, &a.function_version, routing.as_ref()).await?;
    a.revision_id = revision();
    l.inner
        .store
        .commit(
            Txn::new()
                .equals(state::ALIASES, akey.clone().into_bytes(), raw)
                .put(state::ALIASES, akey.into_bytes(), state::encode(&a)),
        )
        .await?;
    // Provisioned instances follow the alias to its new version.
    let (f, _, _) = load(&l, &cx, &t.name).await?;
    if f.provisioned.contains_key(&a.name) {
        crate::scale::reconcile(&l, &cx, &f).await?;
    }
    Ok(alias_config(&cx, &t.name, &a))
}

pub async fn delete_alias(l: Lambda, cx: RequestContext, i: DeleteAliasRequest) -> Result<(), LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    load(&l, &cx, &t.name).await?;
    let akey = state::alias_key(
        cx.account_id(),
        &cx.region,
        &t.name,
        i.name.as_deref().unwrap_or_default(),
    );
    l.inner
        .store
        .commit(Txn::new().delete(state::ALIASES, akey.into_bytes()))
        .await?;
    Ok(())
}

pub async fn list_aliases(
    l: Lambda,
    cx: RequestContext,
    i: ListAliasesRequest,
) -> Result<ListAliasesResponse, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (_, _, key) = load(&l, &cx, &t.name).await?;
    let items: Vec<(String, AliasConfiguration)> = state::aliases(&l.inner.store, &key)
        .await?
        .into_iter()
        .filter(|a| {
            i.function_version
                .as_deref()
                .is_none_or(|v| a.function_version == v)
        })
        .map(|a| (a.name.clone(), alias_config(&cx, &t.name, &a)))
        .collect();
    let (aliases, next) = page(items, i.marker.as_deref(), i.max_items);
    Ok(ListAliasesResponse {
        aliases: Some(aliases),
        next_marker: next,
    })
}

// ---- permissions --------------------------------------------------------------------------

async fn check_qualifier(
    l: &Lambda,
    cx: &RequestContext,
    f: &Function,
    q: Option<&str>,
) -> Result<String, LambdaError> {
    match q {
        None => Ok(String::new()),
        Some(q) => {
            resolve(l, cx, f, Some(q)).await?;
            Ok(q.to_string())
        }
    }
}

pub async fn add_permission(
    l: Lambda,
    cx: RequestContext,
    i: AddPermissionRequest,
) -> Result<AddPermissionResponse, LambdaError> {
    let t = target(
        i.function_name.as_deref().unwrap_or_default(),
        i.qualifier.as_deref(),
    )?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    check_revision(&f.policy_revision, i.revision_id.as_deref())?;
    let q = check_qualifier(&l, &cx, &f, t.qualifier.as_deref()).await?;
    let sid = i.statement_id.clone().unwrap_or_default();
    let statements = f.policies.entry(q.clone()).or_default();
    if statements.iter().any(|s| s["Sid"] == sid.as_str()) {
        return Err(LambdaError::Conflict(
            "The statement id (sid) provided already exists. Please provide a new statement id, or remove the existing statement.".into(),
        ));
    }
    let principal = i.principal.clone().unwrap_or_default();
    let principal_json = if principal.ends_with(".amazonaws.com") {
        serde_json::json!({ "Service": principal })
    } else if principal == "*" {
        serde_json::json!("*")
    } else if principal.chars().all(|c| c.is_ascii_digit()) {
        serde_json::json!({ "AWS": format!("arn:aws:iam::{principal}:root") })
    } else {
        serde_json::json!({ "AWS": principal })
    };
    let mut resource = function_arn(&cx, &t.name);
    if !q.is_empty() {
        resource = format!("{resource}:{q}");
    }
    let mut statement = serde_json::json!({
        "Sid": sid,
        "Effect": "Allow",
        "Principal": principal_json,
        "Action": i.action.clone().unwrap_or_default(),
        "Resource": resource,
    });
    let mut condition = serde_json::Map::new();
    if let Some(arn) = &i.source_arn {
        condition.insert("ArnLike".into(), serde_json::json!({ "AWS:SourceArn": arn }));
    }
    let mut equals = serde_json::Map::new();
    if let Some(acct) = &i.source_account {
        equals.insert("AWS:SourceAccount".into(), acct.clone().into());
    }
    if let Some(org) = &i.principal_org_id {
        equals.insert("aws:PrincipalOrgID".into(), org.clone().into());
    }
    if let Some(auth) = &i.function_url_auth_type {
        equals.insert("lambda:FunctionUrlAuthType".into(), auth.clone().into());
    }
    if !equals.is_empty() {
        condition.insert("StringEquals".into(), serde_json::Value::Object(equals));
    }
    if !condition.is_empty() {
        statement["Condition"] = serde_json::Value::Object(condition);
    }
    statements.push(statement.clone());
    f.policy_revision = revision();
    state::replace(&l.inner.store, &key, &raw, &f).await?;
    Ok(AddPermissionResponse {
        statement: Some(statement.to_string()),
    })
}

pub async fn remove_permission(
    l: Lambda,
    cx: RequestContext,
    i: RemovePermissionRequest,
) -> Result<(), LambdaError> {
    let t = target(
        i.function_name.as_deref().unwrap_or_default(),
        i.qualifier.as_deref(),
    )?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    check_revision(&f.policy_revision, i.revision_id.as_deref())?;
    let q = check_qualifier(&l, &cx, &f, t.qualifier.as_deref()).await?;
    let sid = i.statement_id.clone().unwrap_or_default();
    let Some(statements) = f.policies.get_mut(&q) else {
        return Err(LambdaError::NotFound(
            "No policy is associated with the given resource.".into(),
        ));
    };
    let before = statements.len();
    statements.retain(|s| s["Sid"] != sid.as_str());
    if statements.len() == before {
        return Err(LambdaError::NotFound(format!(
            "Statement {sid} is not found in resource policy."
        )));
    }
    if statements.is_empty() {
        f.policies.remove(&q);
    }
    f.policy_revision = revision();
    state::replace(&l.inner.store, &key, &raw, &f).await
}

pub async fn get_policy(
    l: Lambda,
    cx: RequestContext,
    i: GetPolicyRequest,
) -> Result<GetPolicyResponse, LambdaError> {
    let t = target(
        i.function_name.as_deref().unwrap_or_default(),
        i.qualifier.as_deref(),
    )?;
    let (f, _, _) = load(&l, &cx, &t.name).await?;
    let q = check_qualifier(&l, &cx, &f, t.qualifier.as_deref()).await?;
    let Some(statements) = f.policies.get(&q).filter(|s| !s.is_empty()) else {
        return Err(LambdaError::NotFound(
            "The resource you requested does not exist.".into(),
        ));
    };
    let policy = serde_json::json!({ "Version": "2012-10-17", "Id": "default", "Statement": statements });
    Ok(GetPolicyResponse {
        policy: Some(policy.to_string()),
        revision_id: Some(f.policy_revision.clone()),
    })
}

// ---- tags ---------------------------------------------------------------------------------

async fn tagged(
    l: &Lambda,
    cx: &RequestContext,
    resource: &str,
) -> Result<(Function, bytes::Bytes, String), LambdaError> {
    let t = target(resource, None)?;
    if !resource.starts_with("arn:") {
        return Err(LambdaError::Validation(format!(
            "1 validation error detected: Value '{resource}' at 'resource' failed to satisfy constraint: Member must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*):lambda:[a-z]{{2}}((-gov)|(-iso([a-z]?)))?-[a-z]+-\\d{{1}}:\\d{{12}}:(function:[a-zA-Z0-9-_]+(:(\\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|code-signing-config:csc-[a-z0-9]{{17}}|event-source-mapping:[0-9a-f]{{8}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{4}}-[0-9a-f]{{12}})"
        )));
    }
    load(l, cx, &t.name).await
}

pub async fn tag_resource(l: Lambda, cx: RequestContext, i: TagResourceRequest) -> Result<(), LambdaError> {
    let (mut f, raw, key) = tagged(&l, &cx, i.resource.as_deref().unwrap_or_default()).await?;
    f.tags.extend(i.tags.clone().unwrap_or_default());
    if f.tags.len() > 50 {
        return Err(LambdaError::InvalidParameter(
            "Number of tags exceeds resource tag limit.".into(),
        ));
    }
    state::replace(&l.inner.store, &key, &raw, &f).await
}

pub async fn untag_resource(
    l: Lambda,
    cx: RequestContext,
    i: UntagResourceRequest,
) -> Result<(), LambdaError> {
    let (mut f, raw, key) = tagged(&l, &cx, i.resource.as_deref().unwrap_or_default()).await?;
    for k in i.tag_keys.clone().unwrap_or_default() {
        f.tags.remove(&k);
    }
    state::replace(&l.inner.store, &key, &raw, &f).await
}

pub async fn list_tags(
    l: Lambda,
    cx: RequestContext,
    i: ListTagsRequest,
) -> Result<ListTagsResponse, LambdaError> {
    let (f, _, _) = tagged(&l, &cx, i.resource.as_deref().unwrap_or_default()).await?;
    Ok(ListTagsResponse {
        tags: Some(f.tags.into_iter().collect()),
    })
}
