//! CreateLogGroup, DeleteLogGroup, DescribeLogGroups and the retention policy.

use stratus_core::RequestContext;
use stratus_store::Scan;

use super::{encode_token, scan_matching, scope, token_string};
use crate::generated::*;
use crate::state::{self, GroupRecord, Scope, StreamRecord};
use crate::{Logs, LogsError};

/// The retention periods CloudWatch Logs accepts, in days.
pub const RETENTION_DAYS: &[i32] = &[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

pub async fn create_log_group(
    logs: Logs,
    cx: RequestContext,
    input: CreateLogGroupRequest,
) -> Result<serde_json::Value, LogsError> {
    let name = input.log_group_name.unwrap_or_default();
    let mut rec = GroupRecord::new(&name, logs.clock.now_ms());
    if let Some(class) = input.log_group_class {
        rec.class = class;
    }
    rec.kms_key_id = input.kms_key_id;
    rec.tags = input.tags.unwrap_or_default().into_iter().collect();
    rec.deletion_protection = input.deletion_protection_enabled.unwrap_or(false);
    state::create_group(&logs.store, scope(&cx), &rec).await?;
    Ok(serde_json::json!({}))
}

pub async fn delete_log_group(
    logs: Logs,
    cx: RequestContext,
    input: DeleteLogGroupRequest,
) -> Result<serde_json::Value, LogsError> {
    let name = input.log_group_name.unwrap_or_default();
    let sc = scope(&cx);
    let rec = state::require_group(&logs.store, sc, &name).await?;
    if rec.deletion_protection {
        return Err(LogsError::invalid(
            "Log group deletion is not allowed because deletion protection is enabled.",
        ));
    }
    state::delete_group(&logs.store, sc, &name).await?;
    Ok(serde_json::json!({}))
}

/// The bytes of the group's events: the sum over its streams.
async fn stored_bytes(logs: &Logs, sc: Scope<'_>, group: &str) -> Result<i64, LogsError> {
    let rows = logs
        .store
        .scan(state::STREAMS, &Scan::prefix(&sc.group_key(group)))
        .await?;
    let mut total = 0;
    for (_, v) in rows {
        total += state::decode::<StreamRecord>(&v)?.stored_bytes;
    }
    Ok(total)
}

pub(crate) async fn describe_group(
    logs: &Logs,
    sc: Scope<'_>,
    rec: GroupRecord,
) -> Result<LogGroup, LogsError> {
    let arn = sc.group_arn(&rec.name);
    Ok(LogGroup {
        stored_bytes: Some(stored_bytes(logs, sc, &rec.name).await?),
        log_group_name: Some(rec.name),
        creation_time: Some(rec.creation_time),
        retention_in_days: rec.retention_in_days,
        metric_filter_count: Some(0),
        arn: Some(format!("{arn}:*")),
        kms_key_id: rec.kms_key_id,
        log_group_class: Some(rec.class),
        log_group_arn: Some(arn),
        deletion_protection_enabled: Some(rec.deletion_protection),
        ..Default::default()
    })
}

pub async fn describe_log_groups(
    logs: Logs,
    cx: RequestContext,
    input: DescribeLogGroupsRequest,
) -> Result<DescribeLogGroupsResponse, LogsError> {
    let sc = scope(&cx);
    if input.log_group_name_prefix.is_some() && input.log_group_name_pattern.is_some() {
        return Err(LogsError::invalid(
            "LogGroup name prefix and LogGroup name pattern are mutually exclusive parameters.",
        ));
    }
    let limit = input.limit.unwrap_or(50) as usize;
    let mut prefix = sc.groups_prefix();
    state::push_part_prefix(&mut prefix, input.log_group_name_prefix.as_deref().unwrap_or(""));
    let mut scan = Scan::prefix(&prefix);
    if let Some(token) = &input.next_token {
        scan = scan.after(&sc.group_key(&token_string(token)?));
    }
    let pattern = input.log_group_name_pattern.map(|p| p.to_lowercase());
    let identifiers = input.log_group_identifiers.map(|ids| {
        ids.iter()
            .map(|i| super::name_from_identifier(i).to_string())
            .collect::<Vec<_>>()
    });
    let class = input.log_group_class;
    let mut failure = None;
    let rows = scan_matching(&logs.store, state::GROUPS, scan, limit + 1, |_, v| {
        let rec: GroupRecord = match state::decode(v) {
            Ok(r) => r,
            Err(e) => {
                failure = Some(e);
                return false;
            }
        };
        pattern
            .as_ref()
            .is_none_or(|p| rec.name.to_lowercase().contains(p.as_str()))
            && identifiers.as_ref().is_none_or(|ids| ids.contains(&rec.name))
            && class.as_ref().is_none_or(|c| *c == rec.class)
    })
    .await?;
    if let Some(e) = failure {
        return Err(e);
    }
    let more = rows.len() > limit;
    let mut groups = Vec::new();
    for (_, v) in rows.into_iter().take(limit) {
        groups.push(describe_group(&logs, sc, state::decode(&v)?).await?);
    }
    let next_token = if more {
        groups
            .last()
            .and_then(|g| g.log_group_name.as_deref())
            .map(|n| encode_token(n.as_bytes()))
    } else {
        None
    };
    Ok(DescribeLogGroupsResponse {
        log_groups: Some(groups),
        next_token,
    })
}

pub async fn put_retention_policy(
    logs: Logs,
    cx: RequestContext,
    input: PutRetentionPolicyRequest,
) -> Result<serde_json::Value, LogsError> {
    let days = input.retention_in_days.unwrap_or_default();
    if !RETENTION_DAYS.contains(&days) {
        let allowed = RETENTION_DAYS
            .iter()
            .map(|d| d.to_string())
            .collect::<Vec<_>>()
            .join(", ");
        return Err(LogsError::invalid(format!(
            "1 validation error detected: Value '{days}' at 'retentionInDays' failed to satisfy constraint: Member must satisfy enum value set: [{allowed}]"
        )));
    }
    let name = input.log_group_name.unwrap_or_default();
    state::update_group(&logs.store, scope(&cx), &name, |g| {
        g.retention_in_days = Some(days);
        Ok(())
    })
    .await?;
    Ok(serde_json::json!({}))
}

pub async fn delete_retention_policy(
    logs: Logs,
    cx: RequestContext,
    input: DeleteRetentionPolicyRequest,
) -> Result<serde_json::Value, LogsError> {
    let name = input.log_group_name.unwrap_or_default();
    state::update_group(&logs.store, scope(&cx), &name, |g| {
        g.retention_in_days = None;
        Ok(())
    })
    .await?;
    Ok(serde_json::json!({}))
}
