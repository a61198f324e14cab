//! Reserved and provisioned concurrency: the operations, and keeping the runtime's provisioned
//! pools in step with what the store says (after each change and at start-up).

use std::collections::HashMap;

use stratus_core::RequestContext;
use stratus_runtime::FunctionSpec;
use stratus_store::Scan;

use crate::generated::*;
use crate::ops::{function_arn, load, now_iso, qualified, resolve, target};
use crate::state::{self, Function};
use crate::{Lambda, LambdaError};

/// A provisioned pool this node keeps, for the metrics of provisioned time.
#[derive(Clone)]
pub(crate) struct Pool {
    pub spec: FunctionSpec,
    pub account: String,
    pub region: String,
    /// `ACCOUNT/REGION/NAME`: the function the pool belongs to.
    pub function_key: String,
}

// ---- reserved concurrency -------------------------------------------------------------------

pub async fn put_function_concurrency(
    l: Lambda,
    cx: RequestContext,
    i: PutFunctionConcurrencyRequest,
) -> Result<Concurrency, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    let wanted = i.reserved_concurrent_executions.unwrap_or(0).max(0) as u32;
    let c = &l.inner.concurrency;
    let others = c
        .reserved_except(&l.inner.store, cx.account_id(), &cx.region, &t.name)
        .await?;
    if c.limit().saturating_sub(others) < wanted + c.min_unreserved() || c.limit() < others + wanted {
        return Err(LambdaError::InvalidParameter(format!(
            "Specified ReservedConcurrentExecutions for function decreases account's UnreservedConcurrentExecution below its minimum value of [{}].",
            c.min_unreserved()
        )));
    }
    let provisioned: u32 = f.provisioned.values().map(|p| p.requested).sum();
    if wanted < provisioned {
        return Err(LambdaError::InvalidParameter(format!(
            "ReservedConcurrentExecutions {wanted} should not be lower than function's total provisioned concurrency [{provisioned}]."
        )));
    }
    f.reserved = Some(wanted);
    state::replace(&l.inner.store, &key, &raw, &f).await?;
    c.set_reserved(&l.inner.store, cx.account_id(), &cx.region, &t.name, Some(wanted))
        .await?;
    Ok(Concurrency {
        reserved_concurrent_executions: Some(wanted as i32),
    })
}

pub async fn get_function_concurrency(
    l: Lambda,
    cx: RequestContext,
    i: GetFunctionConcurrencyRequest,
) -> Result<GetFunctionConcurrencyResponse, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (f, _, _) = load(&l, &cx, &t.name).await?;
    Ok(GetFunctionConcurrencyResponse {
        reserved_concurrent_executions: f.reserved.map(|r| r as i32),
    })
}

pub async fn delete_function_concurrency(
    l: Lambda,
    cx: RequestContext,
    i: DeleteFunctionConcurrencyRequest,
) -> Result<(), LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (mut f, raw, key) = load(&l, &cx, &t.name).await?;
    f.reserved = None;
    state::replace(&l.inner.store, &key, &raw, &f).await?;
    l.inner
        .concurrency
        .set_reserved(&l.inner.store, cx.account_id(), &cx.region, &t.name, None)
        .await
}

// ---- provisioned concurrency ----------------------------------------------------------------

fn no_config() -> LambdaError {
    LambdaError::ProvisionedNotFound("No Provisioned Concurrency Config found for this function".into())
}

/// The function and qualifier of a provisioned concurrency request, checked to exist.
async fn provisioned_target(
    l: &Lambda,
    cx: &RequestContext,
    function_name: Option<&str>,
    qualifier: Option<&str>,
) -> Result<(Function, bytes::Bytes, String, String), LambdaError> {
    if qualifier.is_none_or(|q| q.is_empty() || q == "$LATEST") {
        return Err(LambdaError::InvalidParameter(
            "Provisioned Concurrency Configs cannot be applied to unpublished function versions.".into(),
        ));
    }
    qualified(l, cx, function_name, qualifier).await
}

/// `(requested, allocated, status, reason)` of one configuration.
fn status(l: &Lambda, spec_key: Option<&str>, requested: u32) -> (u32, u32, &'static str, Option<String>) {
    let pool = spec_key
        .map(|k| l.inner.runtime.provisioned(k))
        .unwrap_or_default();
    let ready = pool.ready as u32;
    match pool.failed {
        Some(why) => (requested, ready, "FAILED", Some(why)),
        None if ready >= requested => (requested, ready, "READY", None),
        None => (requested, ready, "IN_PROGRESS", None),
    }
}

/// The pool key serving a qualifier's provisioned instances on this node.
fn pool_key_of(l: &Lambda, function_key: &str, qualifier: &str) -> Option<String> {
    let pools = l.inner.pools.lock().unwrap();
    pools
        .get(&format!("{function_key}/{qualifier}"))
        .map(|p| p.spec.pool_key.clone())
}

pub async fn put_provisioned_concurrency_config(
    l: Lambda,
    cx: RequestContext,
    i: PutProvisionedConcurrencyConfigRequest,
) -> Result<PutProvisionedConcurrencyConfigResponse, LambdaError> {
    let (mut f, raw, key, q) =
        provisioned_target(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    let wanted = i.provisioned_concurrent_executions.unwrap_or(1).max(1) as u32;
    let others: u32 = f
        .provisioned
        .iter()
        .filter(|(k, _)| **k != q)
        .map(|(_, p)| p.requested)
        .sum();
    let c = &l.inner.concurrency;
    let room = match f.reserved {
        Some(r) => r,
        None => c
            .unreserved(&l.inner.store, cx.account_id(), &cx.region)
            .await?
            .saturating_sub(c.min_unreserved()),
    };
    if others + wanted > room {
        return Err(LambdaError::InvalidParameter(match f.reserved {
            Some(r) => format!(
                "Requested Provisioned Concurrency should not be greater than the reservedConcurrentExecution for function [{r}]."
            ),
            None => format!(
                "Requested Provisioned Concurrency exceeds the account's unreserved concurrency, less its minimum of [{}]: at most [{room}] can be provisioned.",
                c.min_unreserved()
            ),
        }));
    }
    let modified = now_iso(&l);
    f.provisioned.insert(
        q.clone(),
        state::Provisioned {
            requested: wanted,
            last_modified: modified.clone(),
        },
    );
    state::replace(&l.inner.store, &key, &raw, &f).await?;
    reconcile(&l, &cx, &f).await?;
    let (requested, allocated, status, reason) = status(&l, pool_key_of(&l, &key, &q).as_deref(), wanted);
    Ok(PutProvisionedConcurrencyConfigResponse {
        requested_provisioned_concurrent_executions: Some(requested as i32),
        available_provisioned_concurrent_executions: Some(allocated as i32),
        allocated_provisioned_concurrent_executions: Some(allocated as i32),
        status: Some(status.into()),
        status_reason: reason,
        last_modified: Some(modified),
    })
}

pub async fn get_provisioned_concurrency_config(
    l: Lambda,
    cx: RequestContext,
    i: GetProvisionedConcurrencyConfigRequest,
) -> Result<GetProvisionedConcurrencyConfigResponse, LambdaError> {
    let (f, _, key, q) =
        provisioned_target(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    let p = f.provisioned.get(&q).ok_or_else(no_config)?;
    let (requested, allocated, status, reason) =
        status(&l, pool_key_of(&l, &key, &q).as_deref(), p.requested);
    Ok(GetProvisionedConcurrencyConfigResponse {
        requested_provisioned_concurrent_executions: Some(requested as i32),
        available_provisioned_concurrent_executions: Some(allocated as i32),
        allocated_provisioned_concurrent_executions: Some(allocated as i32),
        status: Some(status.into()),
        status_reason: reason,
        last_modified: Some(p.last_modified.clone()),
    })
}

pub async fn delete_provisioned_concurrency_config(
    l: Lambda,
    cx: RequestContext,
    i: DeleteProvisionedConcurrencyConfigRequest,
) -> Result<(), LambdaError> {
    let (mut f, raw, key, q) =
        provisioned_target(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    if f.provisioned.remove(&q).is_none() {
        return Err(no_config());
    }
    state::replace(&l.inner.store, &key, &raw, &f).await?;
    reconcile(&l, &cx, &f).await
}

pub async fn list_provisioned_concurrency_configs(
    l: Lambda,
    cx: RequestContext,
    i: ListProvisionedConcurrencyConfigsRequest,
) -> Result<ListProvisionedConcurrencyConfigsResponse, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (f, _, key) = load(&l, &cx, &t.name).await?;
    let all: Vec<(String, ProvisionedConcurrencyConfigListItem)> = f
        .provisioned
        .iter()
        .map(|(q, p)| {
            let (requested, allocated, status, reason) =
                status(&l, pool_key_of(&l, &key, q).as_deref(), p.requested);
            (
                q.clone(),
                ProvisionedConcurrencyConfigListItem {
                    function_arn: Some(format!("{}:{q}", function_arn(&cx, &t.name))),
                    requested_provisioned_concurrent_executions: Some(requested as i32),
                    available_provisioned_concurrent_executions: Some(allocated as i32),
                    allocated_provisioned_concurrent_executions: Some(allocated as i32),
                    status: Some(status.into()),
                    status_reason: reason,
                    last_modified: Some(p.last_modified.clone()),
                },
            )
        })
        .collect();
    let (items, next) = crate::ops::page(all, i.marker.as_deref(), i.max_items);
    Ok(ListProvisionedConcurrencyConfigsResponse {
        provisioned_concurrency_configs: Some(items),
        next_marker: next,
    })
}

/// Makes the runtime's provisioned pools of one function match its record: a pool per
/// configured qualifier (an alias provisions the version it points to), none for the rest.
pub(crate) async fn reconcile(l: &Lambda, cx: &RequestContext, f: &Function) -> Result<(), LambdaError> {
    let fkey = state::key(cx.account_id(), &cx.region, &f.latest.name);
    let mut wanted: HashMap<String, (Pool, usize)> = HashMap::new();
    for (q, p) in &f.provisioned {
        let Ok(config) = resolve(l, cx, f, Some(q)).await else {
            continue;
        };
        let spec = crate::invoke::spec(l, cx, &config)?;
        wanted.insert(
            format!("{fkey}/{q}"),
            (
                Pool {
                    spec,
                    account: cx.account_id().to_string(),
                    region: cx.region.clone(),
                    function_key: fkey.clone(),
                },
                p.requested as usize,
            ),
        );
    }
    let stale: Vec<Pool> = {
        let mut pools = l.inner.pools.lock().unwrap();
        let stale = pools
            .iter()
            .filter(|(k, p)| {
                p.function_key == fkey
                    && wanted
                        .get(*k)
                        .is_none_or(|(w, _)| w.spec.pool_key != p.spec.pool_key)
            })
            .map(|(_, p)| p.clone())
            .collect();
        pools.retain(|k, p| p.function_key != fkey || wanted.contains_key(k));
        for (k, (pool, _)) in &wanted {
            pools.insert(k.clone(), pool.clone());
        }
        stale
    };
    // Several qualifiers may provision the same version: one pool with their sum.
    let mut per_pool: HashMap<String, (FunctionSpec, usize)> = HashMap::new();
    for (pool, n) in wanted.into_values() {
        per_pool
            .entry(pool.spec.pool_key.clone())
            .or_insert((pool.spec, 0))
            .1 += n;
    }
    for p in stale {
        if !per_pool.contains_key(&p.spec.pool_key) {
            l.inner.runtime.provision(&p.spec, 0);
        }
    }
    for (spec, n) in per_pool.values() {
        l.inner.runtime.provision(spec, *n);
    }
    Ok(())
}

/// Starts the provisioned pools recorded in the store (server start-up).
pub(crate) async fn restore(l: &Lambda) -> Result<(), LambdaError> {
    let rows = l.inner.store.scan(state::FUNCTIONS, &Scan::all()).await?;
    for (k, v) in rows {
        let Ok(f) = serde_json::from_slice::<Function>(&v) else {
            continue;
        };
        if f.provisioned.is_empty() {
            continue;
        }
        let k = String::from_utf8_lossy(&k).into_owned();
        let mut parts = k.split('/');
        let (Some(account), Some(region)) = (parts.next(), parts.next()) else {
            continue;
        };
        let cx = crate::asynchronous::account_context(account, region, "provisioning");
        reconcile(l, &cx, &f).await?;
    }
    Ok(())
}

/// Adds the time provisioned instances were kept ready since the last call to the metrics.
pub(crate) fn charge_provisioned_time(l: &Lambda, elapsed_ms: u64) {
    let pools: Vec<Pool> = l.inner.pools.lock().unwrap().values().cloned().collect();
    let mut seen = std::collections::HashSet::new();
    for p in pools {
        if !seen.insert(p.spec.pool_key.clone()) {
            continue;
        }
        let ready = l.inner.runtime.provisioned(&p.spec.pool_key).ready as u64;
        l.inner.metrics.provisioned_time(
            &p.account,
            &p.region,
            &p.spec.function_name,
            &p.spec.version,
            ready * p.spec.memory_mb * elapsed_ms,
        );
    }
}
