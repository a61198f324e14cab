//! Amazon CloudWatch Logs: log groups, streams and events. Function output (`/aws/lambda/NAME`)
//! and every later service's logs land here. It speaks `awsJson1_1` with
//! `X-Amz-Target: Logs_20140328.*`.
//!
//! Layout: `state.rs` is the key layout over the store, `filter.rs` the (pure) filter-pattern
//! engine, `ops/` one module per family of operations. Other services write through
//! [`Logs::append`].
//!
//! Depends on core, protocol and store; never on the gateway.

pub mod error;
pub mod filter;
pub mod generated;
mod ops;
pub mod state;

use serde::{Serialize, de::DeserializeOwned};
use stratus_core::{Clock, RequestContext};
use stratus_protocol::validate::Validate;
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol, json};
use stratus_store::Store;

pub use error::LogsError;
pub use filter::FilterPattern;

pub const PROTOCOL: Protocol = Protocol::Json { version: "1.1" };

/// One event to append: milliseconds since the epoch and the message text.
#[derive(Clone, Debug)]
pub struct LogEvent {
    pub timestamp: i64,
    pub message: String,
}

/// The CloudWatch Logs service value: shared by every request.
#[derive(Clone)]
pub struct Logs {
    store: Store,
    clock: Clock,
}

impl Logs {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Appends events for another service (Lambda's function output), creating the group and
    /// stream when they do not exist yet. One store transaction per call (retried only when a
    /// concurrent append to the same stream wins the race). Timestamps are taken as given:
    /// no age or order checks, events are stored in timestamp order whatever order they come in.
    pub async fn append(
        &self,
        account: &str,
        region: &str,
        group: &str,
        stream: &str,
        events: Vec<LogEvent>,
    ) -> Result<(), AwsError> {
        let batch: Vec<(i64, &str)> = events.iter().map(|e| (e.timestamp, e.message.as_str())).collect();
        state::append(
            &self.store,
            state::Scope::new(account, region),
            group,
            stream,
            &batch,
            self.clock.now_ms(),
            true,
        )
        .await
        .map(|_| ())
        .map_err(AwsError::from)
    }

    /// Decodes, validates and runs one request.
    pub async fn handle(&self, cx: &RequestContext, req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        let target = req.header("x-amz-target").unwrap_or_default();
        let Some(op) = json::target_operation(target, generated::TARGET_PREFIX) else {
            return Err(AwsError::unknown_operation(PROTOCOL, target));
        };
        let body = req.body.as_ref();
        match op {
            "CreateLogGroup" => self.run(cx, body, ops::create_log_group).await,
            "DeleteLogGroup" => self.run(cx, body, ops::delete_log_group).await,
            "DescribeLogGroups" => self.run(cx, body, ops::describe_log_groups).await,
            "PutRetentionPolicy" => self.run(cx, body, ops::put_retention_policy).await,
            "DeleteRetentionPolicy" => self.run(cx, body, ops::delete_retention_policy).await,
            "CreateLogStream" => self.run(cx, body, ops::create_log_stream).await,
            "DeleteLogStream" => self.run(cx, body, ops::delete_log_stream).await,
            "DescribeLogStreams" => self.run(cx, body, ops::describe_log_streams).await,
            "PutLogEvents" => self.run(cx, body, ops::put_log_events).await,
            "GetLogEvents" => self.run(cx, body, ops::get_log_events).await,
            "FilterLogEvents" => self.run(cx, body, ops::filter_log_events).await,
            "TagResource" => self.run(cx, body, ops::tag_resource).await,
            "UntagResource" => self.run(cx, body, ops::untag_resource).await,
            "ListTagsForResource" => self.run(cx, body, ops::list_tags_for_resource).await,
            other if generated::OPERATIONS.contains(&other) => Err(AwsError::not_implemented(other)),
            _ => Err(AwsError::unknown_operation(PROTOCOL, op)),
        }
    }

    async fn run<I, O, F>(
        &self,
        cx: &RequestContext,
        body: &[u8],
        op: impl FnOnce(Logs, RequestContext, I) -> F,
    ) -> Result<ApiResponse, AwsError>
    where
        I: DeserializeOwned + Validate,
        O: Serialize,
        F: Future<Output = Result<O, LogsError>>,
    {
        let (this, cx) = (self.clone(), cx.clone());
        json::serve(body, PROTOCOL, false, move |input| op(this, cx, input)).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::task::{Context, Poll, Wake};

    use stratus_core::context::Identity;
    use stratus_store::EmbeddedEngine;

    use super::*;

    /// Drives a future on this thread (the embedded engine does its work on its own threads).
    fn block_on<F: Future>(f: F) -> F::Output {
        struct Unpark(std::thread::Thread);
        impl Wake for Unpark {
            fn wake(self: Arc<Self>) {
                self.0.unpark();
            }
        }
        let waker = Arc::new(Unpark(std::thread::current())).into();
        let mut cx = Context::from_waker(&waker);
        let mut f = std::pin::pin!(f);
        loop {
            match f.as_mut().poll(&mut cx) {
                Poll::Ready(v) => return v,
                Poll::Pending => std::thread::park(),
            }
        }
    }

    fn service() -> (Logs, std::path::PathBuf) {
        let dir =
            std::env::temp_dir().join(format!("stratus-logs-test-{}", stratus_core::ids::unique_id("t")));
        let store = Store::from_embedded(EmbeddedEngine::open(&dir.join("store.db"), false).unwrap());
        (Logs::new(store, Clock::new()), dir)
    }

    fn call(logs: &Logs, op: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
        let cx = RequestContext {
            request_id: "rid".into(),
            region: "eu-west-1".into(),
            identity: Identity {
                account_id: "123456789012".into(),
                arn: "arn:aws:iam::123456789012:root".into(),
                user_id: "123456789012".into(),
                access_key_id: "test".into(),
            },
        };
        let mut headers = http::HeaderMap::new();
        headers.insert("x-amz-target", format!("Logs_20140328.{op}").parse().unwrap());
        let body = bytes::Bytes::from(body.to_string());
        let req = ApiRequest {
            method: &http::Method::POST,
            path: "/",
            query: None,
            headers: &headers,
            body: &body,
        };
        match block_on(logs.handle(&cx, &req)) {
            Ok(resp) => (
                resp.status().as_u16(),
                serde_json::from_slice(resp.body()).unwrap(),
            ),
            Err(e) => (
                e.status,
                serde_json::json!({ "code": e.code, "message": e.message }),
            ),
        }
    }

    #[test]
    fn append_creates_group_and_stream_and_orders_events() {
        let (logs, dir) = service();
        let ev = |timestamp, message: &str| LogEvent {
            timestamp,
            message: message.into(),
        };
        // Old and unordered timestamps are taken as they are.
        block_on(logs.append(
            "123456789012",
            "eu-west-1",
            "/aws/lambda/f",
            "2024/01/01/[$LATEST]abc",
            vec![ev(2_000, "second"), ev(1_000, "first")],
        ))
        .unwrap();
        block_on(logs.append(
            "123456789012",
            "eu-west-1",
            "/aws/lambda/f",
            "2024/01/01/[$LATEST]abc",
            vec![ev(2_000, "third")],
        ))
        .unwrap();
        let (status, out) = call(&logs, "DescribeLogGroups", serde_json::json!({}));
        assert_eq!(status, 200);
        assert_eq!(out["logGroups"][0]["logGroupName"], "/aws/lambda/f");
        assert_eq!(out["logGroups"][0]["storedBytes"], 16);
        let (_, out) = call(
            &logs,
            "DescribeLogStreams",
            serde_json::json!({"logGroupName": "/aws/lambda/f"}),
        );
        let s = &out["logStreams"][0];
        assert_eq!(s["firstEventTimestamp"], 1_000);
        assert_eq!(s["lastEventTimestamp"], 2_000);
        let (_, out) = call(
            &logs,
            "GetLogEvents",
            serde_json::json!({"logGroupName": "/aws/lambda/f", "logStreamName": "2024/01/01/[$LATEST]abc", "startFromHead": true}),
        );
        let messages: Vec<&str> = out["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["message"].as_str().unwrap())
            .collect();
        assert_eq!(messages, ["first", "second", "third"]);
        // Other accounts and regions see nothing.
        let other = block_on(state::get_group(
            &logs.store,
            state::Scope::new("123456789012", "us-east-1"),
            "/aws/lambda/f",
        ))
        .unwrap();
        assert!(other.is_none());
        let (status, out) = call(
            &logs,
            "DeleteLogGroup",
            serde_json::json!({"logGroupName": "nope"}),
        );
        assert_eq!(
            (status, out["code"].as_str()),
            (400, Some("ResourceNotFoundException"))
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
