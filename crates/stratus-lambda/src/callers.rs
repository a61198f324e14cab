//! Synchronous calls from other services (API Gateway integrations and authorizers, function
//! URLs), checked against the function's resource policy as AWS checks them, and the lookup of
//! a function URL by its id.

use std::collections::BTreeMap;

use bytes::Bytes;
use serde::{Deserialize, Serialize};
use stratus_core::RequestContext;
use stratus_core::condition::{ContextKeys, glob, holds};
use stratus_protocol::types::Blob;
use stratus_store::Txn;

use crate::generated::InvocationRequest;
use crate::ops::target;
use crate::{Lambda, LambdaError, state};

/// Function URL ids → the function they belong to.
pub const URLS: &str = "lambda:urls";

/// Who calls, for the resource-policy check.
pub enum Caller {
    /// A service principal (`apigateway.amazonaws.com`) acting for a resource (`AWS:SourceArn`).
    Service { principal: String, source_arn: String },
    /// A function URL with auth type `NONE`: anyone.
    PublicUrl,
    /// A function URL with auth type `AWS_IAM`, called with a valid signature of `account`.
    SignedUrl { account: String },
}

/// A function URL found by its id.
pub struct UrlTarget {
    pub account: String,
    pub region: String,
    pub function_arn: String,
    pub auth_type: String,
    pub cors: Option<serde_json::Value>,
    /// `BUFFERED` or `RESPONSE_STREAM`.
    pub invoke_mode: String,
}

#[derive(Serialize, Deserialize)]
pub(crate) struct UrlIndex {
    pub account: String,
    pub region: String,
    pub function: String,
    pub qualifier: String,
}

/// Records which function a URL id belongs to (before the function record names the URL, so
/// that a crash in between leaves at most an index entry that points nowhere).
pub(crate) async fn index_url(l: &Lambda, id: &str, entry: &UrlIndex) -> Result<(), LambdaError> {
    let value = serde_json::to_vec(entry).map_err(|e| LambdaError::Internal(e.to_string()))?;
    l.inner
        .store
        .commit(Txn::new().put(URLS, id.as_bytes().to_vec(), value))
        .await?;
    Ok(())
}

fn allows(
    statement: &serde_json::Value,
    action: &str,
    principal_ok: impl Fn(&serde_json::Value) -> bool,
    keys: &ContextKeys,
) -> bool {
    if statement["Effect"] != "Allow" {
        return false;
    }
    let actions: Vec<&str> = match &statement["Action"] {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|v| v.as_str()).collect(),
        _ => vec![],
    };
    if !actions
        .iter()
        .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
    {
        return false;
    }
    if !principal_ok(&statement["Principal"]) {
        return false;
    }
    match statement.get("Condition") {
        Some(c) => holds(c, keys),
        None => true,
    }
}

pub(crate) fn check_policy(
    statements: &[serde_json::Value],
    owner: &str,
    caller: &Caller,
) -> Result<(), String> {
    let mut keys = ContextKeys::new();
    let ok = match caller {
        Caller::Service {
            principal,
            source_arn,
        } => {
            keys.set("AWS:SourceArn", source_arn.clone());
            keys.set("AWS:SourceAccount", owner);
            statements.iter().any(|s| {
                allows(
                    s,
                    "lambda:InvokeFunction",
                    |p| p == "*" || p["Service"] == principal.as_str(),
                    &keys,
                )
            })
        }
        Caller::PublicUrl => {
            keys.set("lambda:FunctionUrlAuthType", "NONE");
            statements
                .iter()
                .any(|s| allows(s, "lambda:InvokeFunctionUrl", |p| p == "*", &keys))
        }
        Caller::SignedUrl { account } => {
            if account == owner {
                return Ok(());
            }
            keys.set("lambda:FunctionUrlAuthType", "AWS_IAM");
            let root = format!("arn:aws:iam::{account}:root");
            statements.iter().any(|s| {
                allows(
                    s,
                    "lambda:InvokeFunctionUrl",
                    |p| p == "*" || p["AWS"] == root.as_str() || p["AWS"] == account.as_str(),
                    &keys,
                )
            })
        }
    };
    if ok {
        Ok(())
    } else {
        Err("The function's resource-based policy does not allow this caller to invoke it".into())
    }
}

/// The request context (the function owner's account) and Invoke input of a call from another
/// service; the function's policy is checked when the call loads it.
fn request(
    account: &str,
    region: &str,
    function: &str,
    payload: Bytes,
    request_id: String,
) -> Result<(RequestContext, InvocationRequest), CallError> {
    target(function, None).map_err(|e| CallError::NotFound(e.to_string()))?;
    let cx = crate::asynchronous::account_context(account, region, &request_id);
    let request = InvocationRequest {
        function_name: Some(function.to_string()),
        payload: Some(Blob(payload.to_vec())),
        ..Default::default()
    };
    Ok((cx, request))
}

fn call_error(e: LambdaError) -> CallError {
    match e {
        LambdaError::TooManyRequests(_) => CallError::Throttled,
        LambdaError::NotFound(m) => CallError::NotFound(m),
        LambdaError::Denied(m) => CallError::Denied(m),
        other => CallError::Other(other.to_string()),
    }
}

/// Why a call from another service failed.
pub enum CallError {
    NotFound(String),
    Denied(String),
    Throttled,
    Other(String),
}

impl Lambda {
    /// Runs a function synchronously for another service: `function` is an ARN, possibly
    /// qualified; answers the payload and whether the function raised an error.
    pub async fn call(
        &self,
        account: &str,
        region: &str,
        function: &str,
        payload: Bytes,
        request_id: String,
        caller: Caller,
    ) -> Result<(Bytes, bool), CallError> {
        let (cx, request) = request(account, region, function, payload, request_id)?;
        let extras = crate::invoke::Extras {
            caller: Some(caller),
            ..Default::default()
        };
        match crate::invoke::invoke_with(self.clone(), cx, request, extras).await {
            Ok(out) => Ok((
                Bytes::from(out.payload.map(|p| p.0).unwrap_or_default()),
                out.function_error.is_some(),
            )),
            Err(e) => Err(call_error(e)),
        }
    }

    /// As [`Lambda::call`], for a caller that relays a streamed answer as it comes
    /// (function URLs with `RESPONSE_STREAM`).
    pub async fn call_stream(
        &self,
        account: &str,
        region: &str,
        function: &str,
        payload: Bytes,
        request_id: String,
        caller: Caller,
    ) -> Result<crate::invoke::Streamed, CallError> {
        let (cx, request) = request(account, region, function, payload, request_id)?;
        crate::invoke::invoke_relay(self.clone(), cx, request, caller)
            .await
            .map_err(call_error)
    }

    /// The function URL with this id, if it still exists.
    pub async fn function_url(&self, id: &str) -> Option<UrlTarget> {
        let raw = self.inner.store.get(URLS, id.as_bytes()).await.ok()??;
        let entry: UrlIndex = serde_json::from_slice(&raw).ok()?;
        let key = state::key(&entry.account, &entry.region, &entry.function);
        let (f, _) = state::get(&self.inner.store, &key).await.ok()??;
        let config: BTreeMap<String, serde_json::Value> =
            serde_json::from_value(f.urls.get(&entry.qualifier)?.clone()).ok()?;
        let url = config.get("url")?.as_str()?;
        if !url.contains(&format!("//{id}.")) {
            return None;
        }
        let mut function_arn = format!(
            "arn:aws:lambda:{}:{}:function:{}",
            entry.region, entry.account, entry.function
        );
        if !entry.qualifier.is_empty() {
            function_arn = format!("{function_arn}:{}", entry.qualifier);
        }
        Some(UrlTarget {
            account: entry.account,
            region: entry.region,
            function_arn,
            auth_type: config.get("auth_type")?.as_str()?.to_string(),
            invoke_mode: config
                .get("invoke_mode")
                .and_then(|m| m.as_str())
                .unwrap_or("BUFFERED")
                .to_string(),
            cors: config.get("cors").cloned().filter(|c| !c.is_null()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_principal_needs_a_matching_statement() {
        let s = vec![json!({
            "Sid": "a", "Effect": "Allow", "Principal": {"Service": "apigateway.amazonaws.com"},
            "Action": "lambda:InvokeFunction", "Resource": "arn",
            "Condition": {"ArnLike": {"AWS:SourceArn": "arn:aws:execute-api:us-east-1:000000000000:abc/*"}}
        })];
        let ok = Caller::Service {
            principal: "apigateway.amazonaws.com".into(),
            source_arn: "arn:aws:execute-api:us-east-1:000000000000:abc/$default/GET/x".into(),
        };
        assert!(check_policy(&s, "000000000000", &ok).is_ok());
        let other_api = Caller::Service {
            principal: "apigateway.amazonaws.com".into(),
            source_arn: "arn:aws:execute-api:us-east-1:000000000000:zzz/$default/GET/x".into(),
        };
        assert!(check_policy(&s, "000000000000", &other_api).is_err());
        assert!(check_policy(&[], "000000000000", &Caller::PublicUrl).is_err());
        assert!(
            check_policy(
                &[],
                "000000000000",
                &Caller::SignedUrl {
                    account: "000000000000".into()
                }
            )
            .is_ok()
        );
        let public = vec![json!({
            "Sid": "u", "Effect": "Allow", "Principal": "*", "Action": "lambda:InvokeFunctionUrl",
            "Resource": "arn", "Condition": {"StringEquals": {"lambda:FunctionUrlAuthType": "NONE"}}
        })];
        assert!(check_policy(&public, "000000000000", &Caller::PublicUrl).is_ok());
    }
}
