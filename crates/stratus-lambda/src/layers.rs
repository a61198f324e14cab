//! Layers (published zips unpacked under `/opt`, in the order a function lists them) and
//! function URL configurations (stored now; served when API Gateway arrives).
//!
//! Namespaces: `lambda:layers` (`ACCOUNT/REGION/NAME/0000000001` → [`LayerVersion`]) and
//! `lambda:layer-heads` (`ACCOUNT/REGION/NAME` → the last version number: numbers are never
//! reused, even after a delete, as on AWS).

use serde::{Deserialize, Serialize};
use stratus_core::RequestContext;
use stratus_store::{Scan, Txn};

use crate::generated::*;
use crate::ops::{function_arn, load, page, resolve, target};
use crate::state::{self, LayerRef};
use crate::{Lambda, LambdaError};

const LAYERS: &str = "lambda:layers";
const HEADS: &str = "lambda:layer-heads";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LayerVersion {
    pub account: String,
    pub region: String,
    pub name: String,
    pub version: u64,
    pub description: String,
    pub created: String,
    pub compatible_runtimes: Vec<String>,
    pub compatible_architectures: Vec<String>,
    pub license: Option<String>,
    pub code_sha256: String,
    pub code_size: u64,
}

impl LayerVersion {
    fn arn(&self) -> String {
        format!(
            "arn:aws:lambda:{}:{}:layer:{}",
            self.region, self.account, self.name
        )
    }

    fn version_arn(&self) -> String {
        format!("{}:{}", self.arn(), self.version)
    }

    fn content(&self, l: &Lambda) -> LayerVersionContentOutput {
        LayerVersionContentOutput {
            location: Some(l.code_location(&self.code_sha256)),
            code_size: Some(self.code_size as i64),
            ..Default::default()
        }
    }

    fn list_item(&self) -> LayerVersionsListItem {
        LayerVersionsListItem {
            layer_version_arn: Some(self.version_arn()),
            version: Some(self.version as i64),
            description: Some(self.description.clone()),
            created_date: Some(self.created.clone()),
            compatible_runtimes: (!self.compatible_runtimes.is_empty())
                .then(|| self.compatible_runtimes.clone()),
            license_info: self.license.clone(),
            compatible_architectures: (!self.compatible_architectures.is_empty())
                .then(|| self.compatible_architectures.clone()),
        }
    }
}

fn key(account: &str, region: &str, name: &str, version: u64) -> String {
    format!("{account}/{region}/{name}/{version:010}")
}

/// A layer named by plain name or layer ARN.
fn layer_name(name: &str) -> String {
    match name.split(':').collect::<Vec<_>>().as_slice() {
        ["arn", _, "lambda", _, _, "layer", n, ..] => n.to_string(),
        _ => name.to_string(),
    }
}

fn decode(raw: &[u8]) -> Result<LayerVersion, LambdaError> {
    serde_json::from_slice(raw).map_err(|e| LambdaError::Internal(e.to_string()))
}

/// A published layer version by version ARN (any account: AWS shares layers by permission).
pub(crate) async fn layer(l: &Lambda, arn: &str) -> Result<Option<LayerRef>, LambdaError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let ["arn", _, "lambda", region, account, "layer", name, version] = parts.as_slice() else {
        return Ok(None);
    };
    let Ok(n) = version.parse::<u64>() else {
        return Ok(None);
    };
    let Some(raw) = l
        .inner
        .store
        .get(LAYERS, key(account, region, name, n).as_bytes())
        .await?
    else {
        return Ok(None);
    };
    let v = decode(&raw)?;
    Ok(Some(LayerRef {
        arn: arn.to_string(),
        code_size: v.code_size,
        code_sha256: v.code_sha256,
    }))
}

fn matches(v: &LayerVersion, runtime: Option<&str>, arch: Option<&str>) -> bool {
    runtime.is_none_or(|r| v.compatible_runtimes.iter().any(|x| x == r))
        && arch.is_none_or(|a| v.compatible_architectures.iter().any(|x| x == a))
}

pub async fn publish_layer_version(
    l: Lambda,
    cx: RequestContext,
    i: PublishLayerVersionRequest,
) -> Result<PublishLayerVersionResponse, LambdaError> {
    let name = layer_name(i.layer_name.as_deref().unwrap_or_default());
    let content = i.content.clone().unwrap_or_default();
    let zip = crate::ops::code_bytes(
        &l,
        &cx,
        content.zip_file.as_ref().map(|z| &z.0),
        content.s3_bucket.as_deref(),
        content.s3_key.as_deref(),
        content.s3_object_version.as_deref(),
    )
    .await?;
    let package = l.inner.code.accept(&zip)?;
    let head_key = format!("{}/{}/{name}", cx.account_id(), cx.region);
    loop {
        let head = l.inner.store.get(HEADS, head_key.as_bytes()).await?;
        let last: u64 = head
            .as_ref()
            .and_then(|h| std::str::from_utf8(h).ok()?.parse().ok())
            .unwrap_or(0);
        let v = LayerVersion {
            account: cx.account_id().to_string(),
            region: cx.region.clone(),
            name: name.clone(),
            version: last + 1,
            description: i.description.clone().unwrap_or_default(),
            created: crate::ops::now_iso(&l),
            compatible_runtimes: i.compatible_runtimes.clone().unwrap_or_default(),
            compatible_architectures: i.compatible_architectures.clone().unwrap_or_default(),
            license: i.license_info.clone(),
            code_sha256: package.sha256.clone(),
            code_size: package.size,
        };
        let txn = match &head {
            Some(h) => Txn::new().equals(HEADS, head_key.clone().into_bytes(), h.clone()),
            None => Txn::new().absent(HEADS, head_key.clone().into_bytes()),
        }
        .put(
            HEADS,
            head_key.clone().into_bytes(),
            (last + 1).to_string().into_bytes(),
        )
        .put(
            LAYERS,
            key(cx.account_id(), &cx.region, &name, last + 1).into_bytes(),
            state::encode(&v),
        );
        match l.inner.store.commit(txn).await {
            Ok(()) => {
                return Ok(PublishLayerVersionResponse {
                    content: Some(v.content(&l)),
                    layer_arn: Some(v.arn()),
                    layer_version_arn: Some(v.version_arn()),
                    description: Some(v.description.clone()),
                    created_date: Some(v.created.clone()),
                    version: Some(v.version as i64),
                    compatible_runtimes: (!v.compatible_runtimes.is_empty())
                        .then(|| v.compatible_runtimes.clone()),
                    license_info: v.license.clone(),
                    compatible_architectures: (!v.compatible_architectures.is_empty())
                        .then(|| v.compatible_architectures.clone()),
                });
            }
            // Another publish of the same layer got this number first: take the next.
            Err(stratus_store::StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

async fn get_layer(
    l: &Lambda,
    cx: &RequestContext,
    name: &str,
    version: u64,
) -> Result<LayerVersion, LambdaError> {
    let name = layer_name(name);
    match l
        .inner
        .store
        .get(
            LAYERS,
            key(cx.account_id(), &cx.region, &name, version).as_bytes(),
        )
        .await?
    {
        Some(raw) => decode(&raw),
        None => Err(LambdaError::NotFound(
            "The resource you requested does not exist.".into(),
        )),
    }
}

pub async fn get_layer_version(
    l: Lambda,
    cx: RequestContext,
    i: GetLayerVersionRequest,
) -> Result<GetLayerVersionResponse, LambdaError> {
    let v = get_layer(
        &l,
        &cx,
        i.layer_name.as_deref().unwrap_or_default(),
        i.version_number.unwrap_or(0) as u64,
    )
    .await?;
    let item = v.list_item();
    Ok(GetLayerVersionResponse {
        content: Some(v.content(&l)),
        layer_arn: Some(v.arn()),
        layer_version_arn: item.layer_version_arn,
        description: item.description,
        created_date: item.created_date,
        version: item.version,
        compatible_runtimes: item.compatible_runtimes,
        license_info: item.license_info,
        compatible_architectures: item.compatible_architectures,
    })
}

async fn versions_of(
    l: &Lambda,
    cx: &RequestContext,
    name: Option<&str>,
) -> Result<Vec<LayerVersion>, LambdaError> {
    let prefix = match name {
        Some(n) => format!("{}/{}/{}/", cx.account_id(), cx.region, layer_name(n)),
        None => format!("{}/{}/", cx.account_id(), cx.region),
    };
    let rows = l
        .inner
        .store
        .scan(LAYERS, &Scan::prefix(prefix.as_bytes()))
        .await?;
    rows.iter().map(|(_, v)| decode(v)).collect()
}

pub async fn list_layer_versions(
    l: Lambda,
    cx: RequestContext,
    i: ListLayerVersionsRequest,
) -> Result<ListLayerVersionsResponse, LambdaError> {
    let mut all = versions_of(&l, &cx, i.layer_name.as_deref()).await?;
    all.retain(|v| {
        matches(
            v,
            i.compatible_runtime.as_deref(),
            i.compatible_architecture.as_deref(),
        )
    });
    // Newest first, as AWS lists them.
    all.sort_by_key(|v| std::cmp::Reverse(v.version));
    let items = all
        .iter()
        .map(|v| (format!("{:010}", u64::MAX / 2 - v.version), v.list_item()))
        .collect();
    let (layer_versions, next) = page(items, i.marker.as_deref(), i.max_items);
    Ok(ListLayerVersionsResponse {
        layer_versions: Some(layer_versions),
        next_marker: next,
    })
}

pub async fn list_layers(
    l: Lambda,
    cx: RequestContext,
    i: ListLayersRequest,
) -> Result<ListLayersResponse, LambdaError> {
    let all = versions_of(&l, &cx, None).await?;
    let mut latest: std::collections::BTreeMap<String, LayerVersion> = Default::default();
    for v in all {
        if matches(
            &v,
            i.compatible_runtime.as_deref(),
            i.compatible_architecture.as_deref(),
        ) {
            let keep = latest.get(&v.name).is_none_or(|cur| cur.version < v.version);
            if keep {
                latest.insert(v.name.clone(), v);
            }
        }
    }
    let items = latest
        .into_values()
        .map(|v| {
            (
                v.name.clone(),
                LayersListItem {
                    layer_name: Some(v.name.clone()),
                    layer_arn: Some(v.arn()),
                    latest_matching_version: Some(v.list_item()),
                },
            )
        })
        .collect();
    let (layers, next) = page(items, i.marker.as_deref(), i.max_items);
    Ok(ListLayersResponse {
        layers: Some(layers),
        next_marker: next,
    })
}

pub async fn delete_layer_version(
    l: Lambda,
    cx: RequestContext,
    i: DeleteLayerVersionRequest,
) -> Result<(), LambdaError> {
    let name = layer_name(i.layer_name.as_deref().unwrap_or_default());
    let k = key(
        cx.account_id(),
        &cx.region,
        &name,
        i.version_number.unwrap_or(0) as u64,
    );
    // Deleting a missing version succeeds, as on AWS; functions keep their copy.
    l.inner
        .store
        .commit(Txn::new().delete(LAYERS, k.into_bytes()))
        .await?;
    Ok(())
}

// ---- function URLs ------------------------------------------------------------------------

#[derive(Clone, Debug, Serialize, Deserialize)]
struct UrlConfig {
    url: String,
    auth_type: String,
    cors: Option<Cors>,
    invoke_mode: String,
    created: String,
    modified: String,
}

async fn url_target(
    l: &Lambda,
    cx: &RequestContext,
    function_name: Option<&str>,
    qualifier: Option<&str>,
) -> Result<(state::Function, bytes::Bytes, String, String), LambdaError> {
    let t = target(function_name.unwrap_or_default(), qualifier)?;
    let (f, raw, fkey) = load(l, cx, &t.name).await?;
    let q = t.qualifier.unwrap_or_default();
    if !q.is_empty() {
        if q != "$LATEST" && q.chars().all(|c| c.is_ascii_digit()) {
            return Err(LambdaError::InvalidParameter(
                "Function URLs can only be configured for an alias or $LATEST.".into(),
            ));
        }
        resolve(l, cx, &f, Some(&q)).await?;
    }
    Ok((f, raw, fkey, q))
}

fn url_arn(cx: &RequestContext, name: &str, q: &str) -> String {
    if q.is_empty() {
        function_arn(cx, name)
    } else {
        format!("{}:{q}", function_arn(cx, name))
    }
}

fn get_url(f: &state::Function, q: &str) -> Result<UrlConfig, LambdaError> {
    f.urls
        .get(q)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
        .ok_or_else(|| LambdaError::NotFound("The resource you requested does not exist.".into()))
}

pub async fn create_function_url_config(
    l: Lambda,
    cx: RequestContext,
    i: CreateFunctionUrlConfigRequest,
) -> Result<CreateFunctionUrlConfigResponse, LambdaError> {
    let (mut f, raw, fkey, q) =
        url_target(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    let arn = url_arn(&cx, &f.latest.name, &q);
    if f.urls.contains_key(&q) {
        return Err(LambdaError::Conflict(format!(
            "Failed to create function url config for [functionArn = {arn}]. Error message:  FunctionUrlConfig exists for this Lambda function"
        )));
    }
    let id: String = uuid::Uuid::new_v4().simple().to_string();
    let host = l
        .inner
        .config
        .endpoint_url
        .trim_start_matches("http://")
        .to_string();
    let port = host.rsplit_once(':').map(|(_, p)| p).unwrap_or("4566");
    let now = crate::ops::now_iso(&l);
    let u = UrlConfig {
        url: format!("http://{id}.lambda-url.{}.localhost:{port}/", cx.region),
        auth_type: i.auth_type.clone().unwrap_or_default(),
        cors: i.cors.clone(),
        invoke_mode: i.invoke_mode.clone().unwrap_or_else(|| "BUFFERED".into()),
        created: now.clone(),
        modified: now,
    };
    crate::callers::index_url(
        &l,
        &id,
        &crate::callers::UrlIndex {
            account: cx.account_id().to_string(),
            region: cx.region.clone(),
            function: f.latest.name.clone(),
            qualifier: q.clone(),
        },
    )
    .await?;
    f.urls.insert(
        q,
        serde_json::to_value(&u).map_err(|e| LambdaError::Internal(e.to_string()))?,
    );
    state::replace(&l.inner.store, &fkey, &raw, &f).await?;
    Ok(CreateFunctionUrlConfigResponse {
        function_url: Some(u.url),
        function_arn: Some(arn),
        auth_type: Some(u.auth_type),
        cors: u.cors,
        creation_time: Some(u.created),
        invoke_mode: Some(u.invoke_mode),
    })
}

pub async fn get_function_url_config(
    l: Lambda,
    cx: RequestContext,
    i: GetFunctionUrlConfigRequest,
) -> Result<GetFunctionUrlConfigResponse, LambdaError> {
    let (f, _, _, q) = url_target(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    let u = get_url(&f, &q)?;
    Ok(GetFunctionUrlConfigResponse {
        function_url: Some(u.url),
        function_arn: Some(url_arn(&cx, &f.latest.name, &q)),
        auth_type: Some(u.auth_type),
        cors: u.cors,
        creation_time: Some(u.created),
        last_modified_time: Some(u.modified),
        invoke_mode: Some(u.invoke_mode),
    })
}

pub async fn update_function_url_config(
    l: Lambda,
    cx: RequestContext,
    i: UpdateFunctionUrlConfigRequest,
) -> Result<UpdateFunctionUrlConfigResponse, LambdaError> {
    let (mut f, raw, fkey, q) =
        url_target(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    let mut u = get_url(&f, &q)?;
    if let Some(a) = &i.auth_type {
        u.auth_type = a.clone();
    }
    if i.cors.is_some() {
        u.cors = i.cors.clone();
    }
    if let Some(m) = &i.invoke_mode {
        u.invoke_mode = m.clone();
    }
    u.modified = crate::ops::now_iso(&l);
    f.urls.insert(
        q.clone(),
        serde_json::to_value(&u).map_err(|e| LambdaError::Internal(e.to_string()))?,
    );
    state::replace(&l.inner.store, &fkey, &raw, &f).await?;
    Ok(UpdateFunctionUrlConfigResponse {
        function_url: Some(u.url),
        function_arn: Some(url_arn(&cx, &f.latest.name, &q)),
        auth_type: Some(u.auth_type),
        cors: u.cors,
        creation_time: Some(u.created),
        last_modified_time: Some(u.modified),
        invoke_mode: Some(u.invoke_mode),
    })
}

pub async fn delete_function_url_config(
    l: Lambda,
    cx: RequestContext,
    i: DeleteFunctionUrlConfigRequest,
) -> Result<(), LambdaError> {
    let (mut f, raw, fkey, q) =
        url_target(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    get_url(&f, &q)?;
    f.urls.remove(&q);
    state::replace(&l.inner.store, &fkey, &raw, &f).await
}

pub async fn list_function_url_configs(
    l: Lambda,
    cx: RequestContext,
    i: ListFunctionUrlConfigsRequest,
) -> Result<ListFunctionUrlConfigsResponse, LambdaError> {
    let (f, _, _, _) = url_target(&l, &cx, i.function_name.as_deref(), None).await?;
    let items = f
        .urls
        .iter()
        .filter_map(|(q, v)| {
            let u: UrlConfig = serde_json::from_value(v.clone()).ok()?;
            Some((
                q.clone(),
                FunctionUrlConfig {
                    function_url: Some(u.url),
                    function_arn: Some(url_arn(&cx, &f.latest.name, q)),
                    creation_time: Some(u.created),
                    last_modified_time: Some(u.modified),
                    cors: u.cors,
                    auth_type: Some(u.auth_type),
                    invoke_mode: Some(u.invoke_mode),
                },
            ))
        })
        .collect();
    let (configs, next) = page(items, i.marker.as_deref(), i.max_items);
    Ok(ListFunctionUrlConfigsResponse {
        function_url_configs: Some(configs),
        next_marker: next,
    })
}
