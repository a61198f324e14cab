//! CreateLogStream, DeleteLogStream and DescribeLogStreams.

use std::ops::Bound;

use stratus_core::RequestContext;
use stratus_store::Scan;

use super::{encode_token, group_name, scan_matching, scope, token_string};
use crate::generated::*;
use crate::state::{self, Scope, StreamRecord};
use crate::{Logs, LogsError};

pub async fn create_log_stream(
    logs: Logs,
    cx: RequestContext,
    input: CreateLogStreamRequest,
) -> Result<serde_json::Value, LogsError> {
    state::create_stream(
        &logs.store,
        scope(&cx),
        &input.log_group_name.unwrap_or_default(),
        &input.log_stream_name.unwrap_or_default(),
        logs.clock.now_ms(),
    )
    .await?;
    Ok(serde_json::json!({}))
}

pub async fn delete_log_stream(
    logs: Logs,
    cx: RequestContext,
    input: DeleteLogStreamRequest,
) -> Result<serde_json::Value, LogsError> {
    state::delete_stream(
        &logs.store,
        scope(&cx),
        &input.log_group_name.unwrap_or_default(),
        &input.log_stream_name.unwrap_or_default(),
    )
    .await?;
    Ok(serde_json::json!({}))
}

pub(crate) fn describe_stream(sc: Scope<'_>, group: &str, rec: StreamRecord) -> LogStream {
    LogStream {
        arn: Some(sc.stream_arn(group, &rec.name)),
        upload_sequence_token: Some(rec.sequence_token()),
        log_stream_name: Some(rec.name),
        creation_time: Some(rec.creation_time),
        first_event_timestamp: rec.first_event,
        last_event_timestamp: rec.last_event,
        last_ingestion_time: rec.last_ingestion,
        stored_bytes: Some(rec.stored_bytes),
    }
}

/// The order LastEventTime sorts by: streams without events as if their last event were at 0.
fn last_event_order(rec: &StreamRecord) -> (i64, String) {
    (rec.last_event.unwrap_or(0), rec.name.clone())
}

pub async fn describe_log_streams(
    logs: Logs,
    cx: RequestContext,
    input: DescribeLogStreamsRequest,
) -> Result<DescribeLogStreamsResponse, LogsError> {
    let sc = scope(&cx);
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    let by_time = input.order_by.as_deref() == Some("LastEventTime");
    if by_time && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "Cannot order by LastEventTime with a logStreamNamePrefix.",
        ));
    }
    state::require_group(&logs.store, sc, &group).await?;
    let limit = input.limit.unwrap_or(50) as usize;
    let descending = input.descending.unwrap_or(false);
    let after = input.next_token.as_deref().map(token_string).transpose()?;

    let (streams, more) = if by_time {
        let rows = logs
            .store
            .scan(state::STREAMS, &Scan::prefix(&sc.group_key(&group)))
            .await?;
        let mut all = rows
            .iter()
            .map(|(_, v)| state::decode::<StreamRecord>(v))
            .collect::<Result<Vec<_>, _>>()?;
        all.sort_by_key(last_event_order);
        if descending {
            all.reverse();
        }
        if let Some(after) = after {
            let (ts, name) = after
                .split_once('\n')
                .ok_or_else(|| LogsError::invalid("The specified nextToken is invalid."))?;
            let pos = (
                ts.parse::<i64>()
                    .map_err(|_| LogsError::invalid("The specified nextToken is invalid."))?,
                name.to_string(),
            );
            all.retain(|r| {
                let o = last_event_order(r);
                if descending { o < pos } else { o > pos }
            });
        }
        let more = all.len() > limit;
        all.truncate(limit);
        (all, more)
    } else {
        let mut prefix = sc.group_key(&group);
        state::push_part_prefix(&mut prefix, input.log_stream_name_prefix.as_deref().unwrap_or(""));
        let mut scan = Scan::prefix(&prefix);
        if let Some(after) = &after {
            let key = sc.stream_key(&group, after);
            if descending {
                scan.end = Bound::Excluded(key);
            } else {
                scan.start = Bound::Excluded(key);
            }
        }
        if descending {
            scan = scan.reverse();
        }
        let rows = scan_matching(&logs.store, state::STREAMS, scan, limit + 1, |_, _| true).await?;
        let more = rows.len() > limit;
        let all = rows
            .iter()
            .take(limit)
            .map(|(_, v)| state::decode::<StreamRecord>(v))
            .collect::<Result<Vec<_>, _>>()?;
        (all, more)
    };
    let next_token = match streams.last() {
        Some(last) if more => Some(if by_time {
            let (ts, name) = last_event_order(last);
            encode_token(format!("{ts}\n{name}").as_bytes())
        } else {
            encode_token(last.name.as_bytes())
        }),
        _ => None,
    };
    Ok(DescribeLogStreamsResponse {
        log_streams: Some(
            streams
                .into_iter()
                .map(|r| describe_stream(sc, &group, r))
                .collect(),
        ),
        next_token,
    })
}
