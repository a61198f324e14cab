//! Amazon CloudWatch Logs: log groups, streams and events. Function output (`/aws/lambda/NAME`)
//! and every later service's logs land here. It speaks `awsJson1_1` with
//! `X-Amz-Target: Logs_20140328.*`.
//!
//! Depends on core, protocol and store; never on the gateway.

pub mod generated;

use stratus_core::{Clock, RequestContext};
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol, json};
use stratus_store::Store;

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
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    clock: Clock,
}

impl Logs {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Appends events for another service (Lambda's function output), creating the group and
    /// stream when they do not exist yet.
    pub async fn append(
        &self,
        _account: &str,
        _region: &str,
        _group: &str,
        _stream: &str,
        _events: Vec<LogEvent>,
    ) -> Result<(), AwsError> {
        Ok(())
    }

    /// Decodes, validates and runs one request.
    pub async fn handle(&self, _cx: &RequestContext, req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        let target = req.header("x-amz-target").unwrap_or_default();
        let Some(op) = json::target_operation(target, generated::TARGET_PREFIX) else {
            return Err(AwsError::unknown_operation(PROTOCOL, target));
        };
        Err(AwsError::not_implemented(op))
    }
}
