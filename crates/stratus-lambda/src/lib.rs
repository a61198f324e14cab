//! AWS Lambda: functions, versions, aliases, layers, permissions and synchronous invocation.
//! It speaks `restJson1`; code runs in `stratus-runtime` sandboxes.
//!
//! Depends on core, protocol, store, logs and runtime; never on the gateway.

pub mod generated;

use stratus_core::{Clock, RequestContext};
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol};
use stratus_store::Store;

pub const PROTOCOL: Protocol = Protocol::RestJson;

#[derive(Clone)]
pub struct Lambda {
    #[allow(dead_code)]
    store: Store,
    #[allow(dead_code)]
    clock: Clock,
}

impl Lambda {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    pub async fn handle(&self, _cx: &RequestContext, _req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        Err(AwsError::not_implemented("Lambda"))
    }
}
