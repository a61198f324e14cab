//! What API Gateway reaches through the server: functions (with their resource policies),
//! function URLs, and the SigV4 check for `AWS_IAM` routes and URLs.

use std::sync::Weak;

use stratus_apigateway::{FunctionAnswer, FunctionCall, FunctionFailure, FunctionUrl, Relayed, Source};
use stratus_core::Identity;
use stratus_lambda::Lambda;
use stratus_lambda::callers::{CallError, Caller};
use stratus_lambda::invoke::Streamed;
use stratus_protocol::{AwsError, Protocol};

fn caller(source: Source) -> Caller {
    match source {
        Source::Service { principal, arn } => Caller::Service {
            principal: principal.to_string(),
            source_arn: arn,
        },
        Source::PublicUrl => Caller::PublicUrl,
        Source::SignedUrl { account } => Caller::SignedUrl { account },
    }
}

fn failure(e: CallError) -> FunctionFailure {
    match e {
        CallError::NotFound(m) => FunctionFailure::NotFound(m),
        CallError::Denied(m) => FunctionFailure::Denied(m),
        CallError::Throttled => FunctionFailure::Throttled,
        CallError::Other(m) => FunctionFailure::Other(m),
    }
}

pub struct Backends {
    pub lambda: Lambda,
    pub cognito: stratus_cognito::Cognito,
    /// The server itself, for signature checks (weak: the server owns API Gateway).
    pub gateway: Weak<crate::Inner>,
}

#[async_trait::async_trait]
impl stratus_apigateway::Backends for Backends {
    async fn invoke(&self, call: FunctionCall) -> Result<FunctionAnswer, FunctionFailure> {
        let caller = caller(call.source);
        self.lambda
            .call(
                &call.account,
                &call.region,
                &call.function,
                call.payload,
                call.request_id,
                caller,
            )
            .await
            .map(|(payload, error)| FunctionAnswer { payload, error })
            .map_err(failure)
    }

    async fn invoke_stream(&self, call: FunctionCall) -> Result<Relayed, FunctionFailure> {
        let caller = caller(call.source);
        let streamed = self
            .lambda
            .call_stream(
                &call.account,
                &call.region,
                &call.function,
                call.payload,
                call.request_id,
                caller,
            )
            .await
            .map_err(failure)?;
        Ok(match streamed {
            Streamed::Whole { payload, error } => Relayed::Whole(FunctionAnswer { payload, error }),
            Streamed::Chunks { first, rest } => Relayed::Chunks { first, rest },
        })
    }

    async fn function_url(&self, id: &str) -> Option<FunctionUrl> {
        let t = self.lambda.function_url(id).await?;
        Some(FunctionUrl {
            account: t.account,
            region: t.region,
            function: t.function_arn,
            auth_type: t.auth_type,
            cors: t.cors,
            invoke_mode: t.invoke_mode,
        })
    }

    async fn user_pool_token(
        &self,
        token: &str,
        pools: &[String],
    ) -> Result<serde_json::Map<String, serde_json::Value>, String> {
        if pools.is_empty() {
            return Err("the authorizer names no user pool".into());
        }
        self.cognito
            .verify_token(token, pools)
            .await
            .map(|(_, claims)| claims)
    }

    async fn authenticate(&self, parts: &http::request::Parts, body: &[u8]) -> Result<Identity, AwsError> {
        let inner = self
            .gateway
            .upgrade()
            .ok_or_else(|| AwsError::new("ServiceUnavailable", 503, "the server is shutting down"))?;
        let gw = crate::Gateway { inner };
        let signature = crate::auth::parse(parts);
        crate::auth::authenticate(&gw, signature, parts, body, Protocol::RestJson)
            .await
            .map(|(identity, _region)| identity)
    }
}
