//! Asynchronous invocation: `InvocationType=Event` and InvokeAsync queue the event durably in
//! the store and answer 202; a dispatcher runs queued events as they fall due and applies
//! AWS's retry policy on the server clock:
//!
//! - a function error (handler exception, timeout, crash) is retried up to
//!   `MaximumRetryAttempts` times (default 2), 1 minute and then 2 minutes later;
//! - a throttle is retried with exponential backoff from 1 second up to 5 minutes;
//! - nothing is retried past `MaximumEventAgeInSeconds` (default 6 hours).
//!
//! An event that succeeds goes to its OnSuccess destination, one that is given up goes to its
//! OnFailure destination; Lambda destinations are delivered (as asynchronous events with AWS's
//! invocation record), other kinds are recorded as undeliverable until their service exists.
//! Every event given up is kept in `lambda:async-failed` and counted in AsyncEventsDropped.
//!
//! The queue (`lambda:async`) is ordered by due time: `DUE_MS/EVENT_ID`. Running an event first
//! moves it past the function's timeout, so an event whose node died mid-run is run again
//! (at least once, as AWS). One node of a cluster dispatches at a time (a store lease).

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stratus_core::{Identity, RequestContext};
use stratus_store::{Scan, Txn};

use crate::generated::*;
use crate::ops::{function_arn, load, qualified, resolve, target};
use crate::state::{self, EventConfig};
use crate::{Lambda, LambdaError};

pub const QUEUE: &str = "lambda:async";
pub const FAILED: &str = "lambda:async-failed";
const TOPIC: &str = "lambda:async";
const LEASE: &str = "lambda:async";
/// Largest asynchronous payload (256 KB, as AWS).
pub const MAX_PAYLOAD: usize = 262_144;
const DEFAULT_RETRIES: u32 = 2;
const DEFAULT_MAX_AGE_SECS: u32 = 21_600;
/// Events running at once from this node's dispatcher.
const MAX_RUNNING: usize = 1000;
/// Events of one function running at once from this node's dispatcher.
const PER_FUNCTION: usize = 32;
const MINUTE_MS: i64 = 60_000;

/// One queued event.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Event {
    pub id: String,
    pub account: String,
    pub region: String,
    pub function: String,
    pub qualifier: Option<String>,
    pub payload: String,
    pub received_ms: i64,
    /// Runs that reached the function.
    pub attempts: u32,
    /// Runs refused for concurrency.
    pub throttles: u32,
}

impl Event {
    /// An event not yet run.
    fn fresh(
        id: String,
        account: &str,
        region: &str,
        function: &str,
        qualifier: Option<String>,
        payload: String,
        now_ms: i64,
    ) -> Event {
        Event {
            id,
            account: account.to_string(),
            region: region.to_string(),
            function: function.to_string(),
            qualifier,
            payload,
            received_ms: now_ms,
            attempts: 0,
            throttles: 0,
        }
    }
}

/// `(account, region, name, qualifier)` of a Lambda function ARN.
fn function_of(arn: &str) -> Option<(&str, &str, &str, Option<&str>)> {
    let parts: Vec<&str> = arn.split(':').collect();
    match parts.as_slice() {
        ["arn", _, "lambda", region, account, "function", name, rest @ ..] if rest.len() <= 1 => {
            Some((account, region, name, rest.first().copied()))
        }
        _ => None,
    }
}

fn queue_key(due_ms: i64, id: &str) -> Vec<u8> {
    format!("{:013}/{id}", due_ms.max(0)).into_bytes()
}

fn due_of(key: &[u8]) -> i64 {
    std::str::from_utf8(key)
        .ok()
        .and_then(|k| k.split('/').next())
        .and_then(|d| d.parse().ok())
        .unwrap_or(0)
}

/// Queues an event; it is durable once this returns.
pub(crate) async fn enqueue(l: &Lambda, ev: &Event) -> Result<(), LambdaError> {
    let value = serde_json::to_vec(ev).expect("events serialize");
    l.inner
        .store
        .commit(
            Txn::new()
                .put(QUEUE, queue_key(ev.received_ms, &ev.id), value)
                .wake(TOPIC),
        )
        .await?;
    Ok(())
}

/// Validates and queues an `Event` invocation for the function a request names.
pub(crate) async fn accept(
    l: &Lambda,
    cx: &RequestContext,
    function_name: &str,
    qualifier: Option<&str>,
    payload: Vec<u8>,
) -> Result<(), LambdaError> {
    let t = target(function_name, qualifier)?;
    if payload.len() > MAX_PAYLOAD {
        return Err(LambdaError::TooLarge(format!(
            "{} byte payload is too large for the Event invocation type (limit {MAX_PAYLOAD} bytes)",
            payload.len()
        )));
    }
    let payload = if payload.is_empty() {
        b"{}".to_vec()
    } else {
        payload
    };
    let payload = String::from_utf8(payload)
        .ok()
        .filter(|p| serde_json::from_str::<serde::de::IgnoredAny>(p).is_ok())
        .ok_or_else(|| {
            LambdaError::InvalidRequestContent(
                "Could not parse request body into json: Could not parse payload into json".into(),
            )
        })?;
    queue(l, cx, &t.name, t.qualifier, payload).await
}

/// Queues an event for a function that exists (its qualifier too), and counts it.
async fn queue(
    l: &Lambda,
    cx: &RequestContext,
    name: &str,
    qualifier: Option<String>,
    payload: String,
) -> Result<(), LambdaError> {
    let (f, _, _) = load(l, cx, name).await?;
    let config = resolve(l, cx, &f, qualifier.as_deref()).await?;
    let ev = Event::fresh(
        cx.request_id.clone(),
        cx.account_id(),
        &cx.region,
        name,
        qualifier,
        payload,
        l.inner.clock.now_ms(),
    );
    enqueue(l, &ev).await?;
    l.inner
        .metrics
        .async_received(cx.account_id(), &cx.region, name, &config.version);
    Ok(())
}

/// Why an event from another service was not queued.
#[derive(Debug)]
pub enum Undeliverable {
    /// It never will be (no such function): the sender drops it.
    Never(String),
    /// The store failed: the sender keeps it and tries again.
    NotNow(String),
}

impl Undeliverable {
    fn of(e: LambdaError) -> Undeliverable {
        match e {
            LambdaError::Internal(m) => Undeliverable::NotNow(m),
            other => Undeliverable::Never(other.to_string()),
        }
    }
}

/// Queues an event for the function an ARN names (a delivery from another service).
pub(crate) async fn from_service(l: &Lambda, arn: &str, payload: String) -> Result<(), Undeliverable> {
    let Some((account, region, name, qualifier)) = function_of(arn) else {
        return Err(Undeliverable::Never(format!(
            "{arn} is not a Lambda function ARN"
        )));
    };
    let cx = account_context(account, region, &uuid::Uuid::new_v4().to_string());
    queue(l, &cx, name, qualifier.map(str::to_string), payload)
        .await
        .map_err(Undeliverable::of)
}

/// What the dispatcher has running: event keys (so a rescan does not start them twice) and
/// counts per function.
#[derive(Default)]
struct Running {
    events: HashSet<Vec<u8>>,
    per_function: HashMap<String, usize>,
}

/// Runs queued events as they fall due, for as long as the server runs. At most
/// [`PER_FUNCTION`] events of one function run at once, so that a burst is worked off by warm
/// instances instead of starting hundreds of processes; a finished event wakes the dispatcher
/// at once.
pub(crate) async fn dispatch(l: Lambda) {
    let holder = uuid::Uuid::new_v4().to_string();
    let mut wake = l.inner.store.watch(TOPIC);
    let running: Arc<Mutex<Running>> = Arc::default();
    let finished = Arc::new(tokio::sync::Notify::new());
    let mut lease_until = 0;
    loop {
        let now = l.inner.clock.now_ms();
        if now >= lease_until - 5_000 {
            lease_until = match l.inner.store.acquire_lease(LEASE, &holder, now, 15_000).await {
                Ok(true) => now + 15_000,
                _ => 0,
            };
        }
        let busy = running.lock().unwrap().events.len();
        if now < lease_until && busy < MAX_RUNNING {
            let due = match l.inner.store.scan(QUEUE, &Scan::all().limit(512)).await {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the asynchronous event queue");
                    Vec::new()
                }
            };
            for (key, value) in due {
                if due_of(&key) > now {
                    break;
                }
                let Ok(ev) = serde_json::from_slice::<Event>(&value) else {
                    continue;
                };
                let function = format!("{}/{}/{}", ev.account, ev.region, ev.function);
                {
                    let mut r = running.lock().unwrap();
                    if r.events.len() >= MAX_RUNNING {
                        break;
                    }
                    let n = r.per_function.get(&function).copied().unwrap_or(0);
                    if n >= PER_FUNCTION || r.events.contains(&key) {
                        continue;
                    }
                    r.per_function.insert(function.clone(), n + 1);
                    r.events.insert(key.clone());
                }
                let (l, running, finished) = (l.clone(), running.clone(), finished.clone());
                tokio::spawn(async move {
                    if let Err(e) = run_event(&l, key.clone(), value).await {
                        tracing::warn!(error = %e, "asynchronous event not run; it stays queued");
                    }
                    let mut r = running.lock().unwrap();
                    r.events.remove(&key);
                    if let Some(n) = r.per_function.get_mut(&function) {
                        *n -= 1;
                        if *n == 0 {
                            r.per_function.remove(&function);
                        }
                    }
                    drop(r);
                    finished.notify_one();
                });
            }
        }
        tokio::select! {
            _ = wake.changed() => {}
            _ = finished.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

/// A context for work done on behalf of an account without a request.
pub(crate) fn account_context(account: &str, region: &str, request_id: &str) -> RequestContext {
    RequestContext {
        request_id: request_id.to_string(),
        region: region.to_string(),
        identity: Identity {
            account_id: account.to_string(),
            arn: format!("arn:aws:iam::{account}:root"),
            user_id: account.to_string(),
            access_key_id: String::new(),
        },
    }
}

fn background_context(ev: &Event) -> RequestContext {
    account_context(&ev.account, &ev.region, &ev.id)
}

/// What happened to one run of an event.
enum Next {
    Done,
    Retry { due_ms: i64 },
    GiveUp { condition: &'static str },
}

async fn run_event(l: &Lambda, key: Vec<u8>, value: Vec<u8>) -> Result<(), LambdaError> {
    let store = &l.inner.store;
    let mut ev: Event = serde_json::from_slice(&value).map_err(|e| LambdaError::Internal(e.to_string()))?;
    let cx = background_context(&ev);
    let now = l.inner.clock.now_ms();
    let loaded = match load(l, &cx, &ev.function).await {
        Ok((f, _, _)) => resolve(l, &cx, &f, ev.qualifier.as_deref()).await.map(|c| (f, c)),
        Err(e) => Err(e),
    };
    let (f, config) = match loaded {
        Ok(pair) => pair,
        Err(LambdaError::NotFound(why)) => {
            // The function (or its alias) is gone: nothing can ever run this event.
            tracing::warn!(
                event = ev.id,
                function = ev.function,
                why,
                "asynchronous event dropped"
            );
            store
                .commit(Txn::new().equals(QUEUE, key.clone(), value).delete(QUEUE, key))
                .await?;
            return Ok(());
        }
        Err(e) => return Err(e),
    };
    // Claim the event past the function's timeout: if this node dies mid-run, it runs again.
    let claimed_key = queue_key(now + config.timeout as i64 * 1000 + 30_000, &ev.id);
    let claim = Txn::new()
        .equals(QUEUE, key.clone(), value.clone())
        .delete(QUEUE, key)
        .put(QUEUE, claimed_key.clone(), value.clone());
    match store.commit(claim).await {
        Ok(()) => {}
        Err(stratus_store::StoreError::ConditionFailed { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    }
    let settings = event_config(&f, ev.qualifier.as_deref());
    let max_age_ms = settings.maximum_event_age_secs.unwrap_or(DEFAULT_MAX_AGE_SECS) as i64 * 1000;
    let max_retries = settings.maximum_retry_attempts.unwrap_or(DEFAULT_RETRIES);
    let invoked_arn = match &ev.qualifier {
        Some(q) => format!("{}:{q}", function_arn(&cx, &ev.function)),
        None => function_arn(&cx, &ev.function),
    };
    let age = now - ev.received_ms;
    l.inner
        .metrics
        .async_age(&ev.account, &ev.region, &ev.function, &config.version, age);
    let inv = stratus_runtime::Invocation {
        request_id: ev.id.clone(),
        payload: Bytes::from(ev.payload.clone()),
        invoked_arn,
        client_context: None,
        cognito_identity: None,
        stream: None,
    };
    let ran = crate::invoke::execute(l, &cx, &f, &config, inv).await;
    let now = l.inner.clock.now_ms();
    let (next, response) = match ran {
        Ok(r) => {
            ev.attempts += 1;
            match r.result {
                Ok(body) => (Next::Done, Some((body, false))),
                Err(body) if ev.attempts > max_retries => (
                    Next::GiveUp {
                        condition: "RetriesExhausted",
                    },
                    Some((body, true)),
                ),
                Err(body) => (
                    Next::Retry {
                        due_ms: now + MINUTE_MS * ev.attempts as i64,
                    },
                    Some((body, true)),
                ),
            }
        }
        Err(LambdaError::TooManyRequests(_)) => {
            let backoff = (1000i64 << ev.throttles.min(9)).min(300_000);
            ev.throttles += 1;
            (
                Next::Retry {
                    due_ms: now + backoff,
                },
                None,
            )
        }
        Err(e) => {
            tracing::warn!(event = ev.id, error = %e, "asynchronous event could not run");
            (Next::Retry { due_ms: now + 1000 }, None)
        }
    };
    let next = match next {
        Next::Retry { due_ms } if due_ms - ev.received_ms > max_age_ms => Next::GiveUp {
            condition: "EventAgeExceeded",
        },
        other => other,
    };
    let claimed = Txn::new().equals(QUEUE, claimed_key.clone(), value);
    match next {
        Next::Retry { due_ms } => {
            let updated = serde_json::to_vec(&ev).expect("events serialize");
            store
                .commit(
                    claimed
                        .delete(QUEUE, claimed_key)
                        .put(QUEUE, queue_key(due_ms, &ev.id), updated),
                )
                .await?;
        }
        Next::Done => {
            let mut txn = claimed.delete(QUEUE, claimed_key);
            if let (Some(dest), Some((body, _))) = (&settings.on_success, &response) {
                txn = deliver(l, txn, &ev, &config, dest, "Success", body, false);
            }
            store.commit(txn).await?;
        }
        Next::GiveUp { condition } => {
            let (body, error) = response.unwrap_or((Bytes::new(), false));
            tracing::warn!(
                event = ev.id,
                function = ev.function,
                condition,
                attempts = ev.attempts,
                "asynchronous event given up"
            );
            l.inner
                .metrics
                .async_dropped(&ev.account, &ev.region, &ev.function, &config.version);
            let record = invocation_record(&ev, &config, condition, &body, error);
            let mut txn = claimed.delete(QUEUE, claimed_key).put(
                FAILED,
                format!(
                    "{}/{}/{}/{:013}/{}",
                    ev.account, ev.region, ev.function, now, ev.id
                )
                .into_bytes(),
                serde_json::to_vec(&record).expect("records serialize"),
            );
            if let Some(dest) = &settings.on_failure {
                txn = deliver(l, txn, &ev, &config, dest, condition, &body, error);
            }
            if let Some(dlq) = &config.dead_letter_arn {
                // SQS and SNS do not exist here yet: the dead-letter delivery fails, as AWS
                // counts it.
                tracing::warn!(
                    event = ev.id,
                    dlq,
                    "dead-letter queue not available: event not sent"
                );
                l.inner
                    .metrics
                    .dead_letter_error(&ev.account, &ev.region, &ev.function, &config.version);
            }
            store.commit(txn).await?;
        }
    }
    Ok(())
}

/// The settings that apply to an event: those of its qualifier (`$LATEST` when unqualified).
fn event_config(f: &state::Function, qualifier: Option<&str>) -> EventConfig {
    f.event_configs
        .get(qualifier.unwrap_or("$LATEST"))
        .cloned()
        .unwrap_or_default()
}

/// The record destinations receive (AWS's invocation record, version 1.0).
fn invocation_record(
    ev: &Event,
    config: &state::Config,
    condition: &str,
    body: &Bytes,
    function_error: bool,
) -> serde_json::Value {
    let cx = background_context(ev);
    let payload = |raw: &[u8]| {
        serde_json::from_slice::<serde_json::Value>(raw)
            .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned().into())
    };
    let mut response = serde_json::json!({ "statusCode": 200, "executedVersion": config.version });
    if function_error {
        response["functionError"] = "Unhandled".into();
    }
    serde_json::json!({
        "version": "1.0",
        "timestamp": stratus_core::ids::iso8601_ms(ev.received_ms.max(0)),
        "requestContext": {
            "requestId": ev.id,
            "functionArn": format!("{}:{}", function_arn(&cx, &ev.function), ev.qualifier.as_deref().unwrap_or("$LATEST")),
            "condition": condition,
            "approximateInvokeCount": ev.attempts,
        },
        "requestPayload": payload(ev.payload.as_bytes()),
        "responseContext": response,
        "responsePayload": payload(body),
    })
}

/// Adds the delivery of an invocation record to a destination to `txn`. A Lambda destination
/// is queued as an asynchronous event of that function (in the same commit as the outcome);
/// other kinds are logged as undeliverable until their service exists.
#[allow(clippy::too_many_arguments)]
fn deliver(
    l: &Lambda,
    txn: Txn,
    ev: &Event,
    config: &state::Config,
    destination: &str,
    condition: &str,
    body: &Bytes,
    function_error: bool,
) -> Txn {
    if let Some((account, region, name, qualifier)) = function_of(destination) {
        let record = invocation_record(ev, config, condition, body, function_error);
        let next = Event::fresh(
            uuid::Uuid::new_v4().to_string(),
            account,
            region,
            name,
            qualifier.map(str::to_string),
            record.to_string(),
            l.inner.clock.now_ms(),
        );
        let value = serde_json::to_vec(&next).expect("events serialize");
        return txn
            .put(QUEUE, queue_key(next.received_ms, &next.id), value)
            .wake(TOPIC);
    }
    tracing::warn!(
        event = ev.id,
        destination,
        "destination not delivered: that service is not available in this server yet"
    );
    l.inner
        .metrics
        .destination_failure(&ev.account, &ev.region, &ev.function, &config.version);
    txn
}

// ---- event invoke configuration -----------------------------------------------------------

fn check_destinations(
    d: &Option<DestinationConfig>,
) -> Result<(Option<String>, Option<String>), LambdaError> {
    let Some(d) = d else { return Ok((None, None)) };
    let check = |arn: Option<&String>| -> Result<Option<String>, LambdaError> {
        let Some(arn) = arn.filter(|a| !a.is_empty()) else {
            return Ok(None);
        };
        let service = arn.split(':').nth(2).unwrap_or_default();
        if !arn.starts_with("arn:") || !["lambda", "sqs", "sns", "events"].contains(&service) {
            return Err(LambdaError::InvalidParameter(format!(
                "The provided destination config DestinationConfig(onSuccess=null, onFailure=OnFailure(destination={arn})) is invalid."
            )));
        }
        Ok(Some(arn.clone()))
    };
    Ok((
        check(d.on_success.as_ref().and_then(|s| s.destination.as_ref()))?,
        check(d.on_failure.as_ref().and_then(|s| s.destination.as_ref()))?,
    ))
}

fn config_output(
    cx: &RequestContext,
    name: &str,
    qualifier: &str,
    c: &EventConfig,
) -> FunctionEventInvokeConfig {
    let dest = |arn: &Option<String>| arn.clone();
    FunctionEventInvokeConfig {
        last_modified: Some(stratus_protocol::types::Timestamp(c.last_modified)),
        function_arn: Some(format!("{}:{qualifier}", function_arn(cx, name))),
        maximum_retry_attempts: c.maximum_retry_attempts.map(|n| n as i32),
        maximum_event_age_in_seconds: c.maximum_event_age_secs.map(|n| n as i32),
        destination_config: Some(DestinationConfig {
            on_success: Some(OnSuccess {
                destination: dest(&c.on_success),
            }),
            on_failure: Some(OnFailure {
                destination: dest(&c.on_failure),
            }),
        }),
    }
}

/// The settings of a Put or Update request.
struct Settings<'a> {
    function_name: Option<&'a str>,
    qualifier: Option<&'a str>,
    retries: Option<i32>,
    max_age: Option<i32>,
    destinations: &'a Option<DestinationConfig>,
}

/// Put (`merge` false: what is not given returns to the default) or Update (`merge` true).
async fn put_config(
    l: &Lambda,
    cx: &RequestContext,
    merge: bool,
    given: Settings<'_>,
) -> Result<FunctionEventInvokeConfig, LambdaError> {
    let Settings {
        function_name,
        qualifier,
        retries,
        max_age,
        destinations,
    } = given;
    let (mut f, raw, key, q) = qualified(l, cx, function_name, qualifier).await?;
    let (on_success, on_failure) = check_destinations(destinations)?;
    let name = f.latest.name.clone();
    let existing = f.event_configs.get(&q).cloned();
    if merge && existing.is_none() {
        return Err(LambdaError::NotFound(format!(
            "The function {}:{q} doesn't have an EventInvokeConfig",
            function_arn(cx, &name)
        )));
    }
    let mut c = if merge {
        existing.unwrap_or_default()
    } else {
        EventConfig::default()
    };
    if retries.is_some() || !merge {
        c.maximum_retry_attempts = retries.map(|n| n as u32);
    }
    if max_age.is_some() || !merge {
        c.maximum_event_age_secs = max_age.map(|n| n as u32);
    }
    if destinations.is_some() || !merge {
        c.on_success = on_success;
        c.on_failure = on_failure;
    }
    c.last_modified = l.inner.clock.now_secs_f64();
    f.event_configs.insert(q.clone(), c.clone());
    state::replace(&l.inner.store, &key, &raw, &f).await?;
    Ok(config_output(cx, &name, &q, &c))
}

pub async fn put_function_event_invoke_config(
    l: Lambda,
    cx: RequestContext,
    i: PutFunctionEventInvokeConfigRequest,
) -> Result<FunctionEventInvokeConfig, LambdaError> {
    let given = Settings {
        function_name: i.function_name.as_deref(),
        qualifier: i.qualifier.as_deref(),
        retries: i.maximum_retry_attempts,
        max_age: i.maximum_event_age_in_seconds,
        destinations: &i.destination_config,
    };
    put_config(&l, &cx, false, given).await
}

pub async fn update_function_event_invoke_config(
    l: Lambda,
    cx: RequestContext,
    i: UpdateFunctionEventInvokeConfigRequest,
) -> Result<FunctionEventInvokeConfig, LambdaError> {
    let given = Settings {
        function_name: i.function_name.as_deref(),
        qualifier: i.qualifier.as_deref(),
        retries: i.maximum_retry_attempts,
        max_age: i.maximum_event_age_in_seconds,
        destinations: &i.destination_config,
    };
    put_config(&l, &cx, true, given).await
}

pub async fn get_function_event_invoke_config(
    l: Lambda,
    cx: RequestContext,
    i: GetFunctionEventInvokeConfigRequest,
) -> Result<FunctionEventInvokeConfig, LambdaError> {
    let (f, _, _, q) = qualified(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    let name = &f.latest.name;
    let c = f.event_configs.get(&q).ok_or_else(|| {
        LambdaError::NotFound(format!(
            "The function {}:{q} doesn't have an EventInvokeConfig",
            function_arn(&cx, name)
        ))
    })?;
    Ok(config_output(&cx, name, &q, c))
}

pub async fn delete_function_event_invoke_config(
    l: Lambda,
    cx: RequestContext,
    i: DeleteFunctionEventInvokeConfigRequest,
) -> Result<(), LambdaError> {
    let (mut f, raw, key, q) = qualified(&l, &cx, i.function_name.as_deref(), i.qualifier.as_deref()).await?;
    if f.event_configs.remove(&q).is_none() {
        return Err(LambdaError::NotFound(format!(
            "The function {}:{q} doesn't have an EventInvokeConfig",
            function_arn(&cx, &f.latest.name)
        )));
    }
    state::replace(&l.inner.store, &key, &raw, &f).await
}

pub async fn list_function_event_invoke_configs(
    l: Lambda,
    cx: RequestContext,
    i: ListFunctionEventInvokeConfigsRequest,
) -> Result<ListFunctionEventInvokeConfigsResponse, LambdaError> {
    let t = target(i.function_name.as_deref().unwrap_or_default(), None)?;
    let (f, _, _) = load(&l, &cx, &t.name).await?;
    let all: Vec<(String, FunctionEventInvokeConfig)> = f
        .event_configs
        .iter()
        .map(|(q, c)| (q.clone(), config_output(&cx, &t.name, q, c)))
        .collect();
    let (items, next) = crate::ops::page(all, i.marker.as_deref(), i.max_items);
    Ok(ListFunctionEventInvokeConfigsResponse {
        function_event_invoke_configs: Some(items),
        next_marker: next,
    })
}

/// The legacy InvokeAsync: the same queue, answering `{"Status": 202}`.
pub async fn invoke_async(
    l: Lambda,
    cx: RequestContext,
    i: InvokeAsyncRequest,
) -> Result<InvokeAsyncResponse, LambdaError> {
    let payload = i.invoke_args.map(|b| b.0).unwrap_or_default();
    accept(
        &l,
        &cx,
        i.function_name.as_deref().unwrap_or_default(),
        None,
        payload,
    )
    .await?;
    Ok(InvokeAsyncResponse { status: Some(202) })
}

/// Events given up for a function (newest last), for `/_stratus/lambda/failed-events`.
pub async fn failed_events(
    l: &Lambda,
    account: &str,
    region: &str,
    function: Option<&str>,
) -> Result<Vec<serde_json::Value>, LambdaError> {
    let prefix = match function {
        Some(f) => format!("{account}/{region}/{f}/"),
        None => format!("{account}/{region}/"),
    };
    let rows = l
        .inner
        .store
        .scan(FAILED, &Scan::prefix(prefix.as_bytes()))
        .await?;
    Ok(rows
        .iter()
        .filter_map(|(_, v)| serde_json::from_slice(v).ok())
        .collect())
}
