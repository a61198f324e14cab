//! AWS Security Token Service: who am I (GetCallerIdentity) and temporary credentials
//! (AssumeRole, GetSessionToken) that then authenticate requests until they expire.
//!
//! Temporary credentials live in the store, so every node of a cluster accepts them and
//! they survive restarts. Depends on core, protocol and store; never on the gateway.

pub mod error;
pub mod generated;
mod ops;
pub mod state;

use stratus_core::{Clock, RequestContext};
use stratus_protocol::query::{self, FromQuery, QueryParams};
use stratus_protocol::validate::Validate;
use stratus_protocol::xml::ToXml;
use stratus_protocol::{ApiRequest, ApiResponse, AwsError, Protocol};
use stratus_store::Store;

pub use error::StsError;
pub use state::TemporaryCredential;

pub const PROTOCOL: Protocol = Protocol::Query {
    xml_namespace: generated::XML_NAMESPACE,
};

/// The STS service value: shared by every request.
#[derive(Clone)]
pub struct Sts {
    store: Store,
    clock: Clock,
}

impl Sts {
    pub fn new(store: Store, clock: Clock) -> Self {
        Self { store, clock }
    }

    /// Looks up temporary credentials by access key id (used by request authentication).
    pub async fn temporary_credential(
        &self,
        access_key_id: &str,
    ) -> Result<Option<TemporaryCredential>, AwsError> {
        state::get(&self.store, access_key_id)
            .await
            .map_err(|e| AwsError::from_service(&e, ""))
    }

    /// Decodes, validates and runs one query-protocol request.
    pub async fn handle(&self, cx: &RequestContext, req: &ApiRequest<'_>) -> Result<ApiResponse, AwsError> {
        let params = QueryParams::parse(req.query, req.body);
        let action = params.action().unwrap_or_default().to_string();
        if let Some(v) = params.get("Version")
            && v != generated::API_VERSION
        {
            return Err(AwsError::new(
                "InvalidAction",
                400,
                format!("Could not find operation {action} for version {v}"),
            ));
        }
        match action.as_str() {
            "GetCallerIdentity" => self.run(&action, cx, &params, ops::get_caller_identity).await,
            "AssumeRole" => self.run(&action, cx, &params, ops::assume_role).await,
            "GetSessionToken" => self.run(&action, cx, &params, ops::get_session_token).await,
            "" => Err(AwsError::new("MissingAction", 400, "Missing Action")),
            other if generated::OPERATIONS.contains(&other) => Err(AwsError::not_implemented(other)),
            other => Err(AwsError::new(
                "InvalidAction",
                400,
                format!(
                    "Could not find operation {other} for version {}",
                    generated::API_VERSION
                ),
            )),
        }
    }

    async fn run<I, O, F>(
        &self,
        action: &str,
        cx: &RequestContext,
        params: &QueryParams,
        op: impl FnOnce(Sts, RequestContext, I) -> F,
    ) -> Result<ApiResponse, AwsError>
    where
        I: FromQuery + Validate,
        O: ToXml,
        F: Future<Output = Result<O, StsError>>,
    {
        let input = I::from_query(params, "")?;
        if let Some(message) = input.violations() {
            return Err(AwsError::validation(PROTOCOL, message));
        }
        let output = op(self.clone(), cx.clone(), input)
            .await
            .map_err(|e| AwsError::from_service(&e, ""))?;
        Ok(query::encode(
            action,
            &output,
            generated::XML_NAMESPACE,
            &cx.request_id,
        ))
    }
}
