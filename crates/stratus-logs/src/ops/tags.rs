//! TagResource, UntagResource and ListTagsForResource on log groups (by ARN).

use stratus_core::RequestContext;

use crate::generated::*;
use crate::state::{self, Scope};
use crate::{Logs, LogsError};

/// Account, region and group name of a log group ARN
/// (`arn:aws:logs:REGION:ACCOUNT:log-group:NAME`, with or without a trailing `:*`).
fn parse_group_arn(arn: &str) -> Result<(String, String, String), LogsError> {
    let parts: Vec<&str> = arn.split(':').collect();
    let valid = parts.len() >= 7
        && parts[0] == "arn"
        && parts[2] == "logs"
        && !parts[3].is_empty()
        && !parts[4].is_empty()
        && (parts.len() == 7 || (parts.len() == 8 && parts[7] == "*"));
    if !valid {
        return Err(LogsError::invalid(format!(
            "The specified ARN is not valid: {arn}"
        )));
    }
    if parts[5] != "log-group" || parts[6].is_empty() {
        return Err(LogsError::ResourceNotFound(
            "The specified resource does not exist.".into(),
        ));
    }
    Ok((parts[4].to_string(), parts[3].to_string(), parts[6].to_string()))
}

/// The group an ARN names, in the caller's account (other accounts' groups do not exist here).
fn target(cx: &RequestContext, arn: &str) -> Result<(String, String), LogsError> {
    let (account, region, name) = parse_group_arn(arn)?;
    if account != cx.account_id() {
        return Err(LogsError::group_not_found());
    }
    Ok((region, name))
}

pub async fn tag_resource(
    logs: Logs,
    cx: RequestContext,
    input: TagResourceRequest,
) -> Result<serde_json::Value, LogsError> {
    let (region, name) = target(&cx, input.resource_arn.as_deref().unwrap_or_default())?;
    let tags = input.tags.unwrap_or_default();
    state::update_group(&logs.store, Scope::new(cx.account_id(), &region), &name, |g| {
        g.tags.extend(tags.clone());
        if g.tags.len() > 50 {
            return Err(LogsError::invalid("A resource can have no more than 50 tags."));
        }
        Ok(())
    })
    .await?;
    Ok(serde_json::json!({}))
}

pub async fn untag_resource(
    logs: Logs,
    cx: RequestContext,
    input: UntagResourceRequest,
) -> Result<serde_json::Value, LogsError> {
    let (region, name) = target(&cx, input.resource_arn.as_deref().unwrap_or_default())?;
    let keys = input.tag_keys.unwrap_or_default();
    state::update_group(&logs.store, Scope::new(cx.account_id(), &region), &name, |g| {
        for k in &keys {
            g.tags.remove(k);
        }
        Ok(())
    })
    .await?;
    Ok(serde_json::json!({}))
}

pub async fn list_tags_for_resource(
    logs: Logs,
    cx: RequestContext,
    input: ListTagsForResourceRequest,
) -> Result<ListTagsForResourceResponse, LogsError> {
    let (region, name) = target(&cx, input.resource_arn.as_deref().unwrap_or_default())?;
    let g = state::require_group(&logs.store, Scope::new(cx.account_id(), &region), &name).await?;
    Ok(ListTagsForResourceResponse {
        tags: Some(g.tags.into_iter().collect()),
    })
}
