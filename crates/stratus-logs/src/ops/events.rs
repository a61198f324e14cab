//! PutLogEvents, GetLogEvents and FilterLogEvents.

use std::cmp::Ordering;
use std::ops::Bound;

use stratus_core::RequestContext;
use stratus_store::keys::prefix_end;
use stratus_store::{Bytes, Scan};

use super::{decode_token, encode_token, group_name, scope};
use crate::filter::FilterPattern;
use crate::generated::*;
use crate::state::{self, Scope, StreamRecord};
use crate::{Logs, LogsError};

const DAY_MS: i64 = 86_400_000;
/// PutLogEvents' batch limit: message bytes plus 26 bytes per event.
const MAX_BATCH_BYTES: usize = 1_048_576;
const EVENT_OVERHEAD: usize = 26;
/// GetLogEvents and FilterLogEvents answer at most this many events, and at most 1 MB.
const MAX_EVENTS: usize = 10_000;
const MAX_RESPONSE_BYTES: usize = 1_048_576;
/// How many events FilterLogEvents reads from one stream per request before it stops and
/// hands out a token (bounds the work of a selective pattern on a large stream).
const MAX_SCANNED_PER_STREAM: usize = 20_000;

fn event_size(message: &str) -> usize {
    message.len() + EVENT_OVERHEAD
}

fn invalid_token() -> LogsError {
    LogsError::invalid("The specified nextToken is invalid.")
}

/// Group and stream must both exist: the group's error wins when both are missing.
async fn require_stream(
    logs: &Logs,
    sc: Scope<'_>,
    group: &str,
    stream: &str,
) -> Result<StreamRecord, LogsError> {
    match state::get_stream(&logs.store, sc, group, stream).await? {
        Some(s) => Ok(s),
        None => {
            state::require_group(&logs.store, sc, group).await?;
            Err(LogsError::stream_not_found())
        }
    }
}

pub async fn put_log_events(
    logs: Logs,
    cx: RequestContext,
    input: PutLogEventsRequest,
) -> Result<PutLogEventsResponse, LogsError> {
    let sc = scope(&cx);
    let group = input.log_group_name.unwrap_or_default();
    let stream = input.log_stream_name.unwrap_or_default();
    let events: Vec<(i64, String)> = input
        .log_events
        .unwrap_or_default()
        .into_iter()
        .map(|e| (e.timestamp.unwrap_or_default(), e.message.unwrap_or_default()))
        .collect();
    if events.windows(2).any(|w| w[1].0 < w[0].0) {
        return Err(LogsError::invalid(
            "Log events in a single PutLogEvents request must be in chronological order.",
        ));
    }
    let size: usize = events.iter().map(|(_, m)| event_size(m)).sum();
    if size > MAX_BATCH_BYTES {
        return Err(LogsError::invalid(format!(
            "Upload too large: {size} bytes exceeds limit of {MAX_BATCH_BYTES}"
        )));
    }
    if let (Some(first), Some(last)) = (events.first(), events.last())
        && last.0 - first.0 > DAY_MS
    {
        return Err(LogsError::invalid(
            "The batch of log events in a single PutLogEvents request cannot span more than 24 hours.",
        ));
    }
    let g = state::require_group(&logs.store, sc, &group).await?;
    let now = logs.clock.now_ms();
    // Events are in order, so the rejected ones are a prefix (too old, expired) and a
    // suffix (too new) of the batch.
    let too_old_end = events
        .iter()
        .take_while(|(ts, _)| *ts < now - 14 * DAY_MS)
        .count();
    let expired_end = g.retention_in_days.map_or(0, |d| {
        events
            .iter()
            .take_while(|(ts, _)| *ts < now - i64::from(d) * DAY_MS)
            .count()
    });
    let too_new_start = events
        .iter()
        .position(|(ts, _)| *ts > now + 2 * 3_600_000)
        .unwrap_or(events.len());
    let accept_from = too_old_end.max(expired_end).min(too_new_start);
    let accepted: Vec<(i64, &str)> = events[accept_from..too_new_start]
        .iter()
        .map(|(ts, m)| (*ts, m.as_str()))
        .collect();
    let rec = state::append(&logs.store, sc, &group, &stream, &accepted, now, false).await?;
    let rejected =
        (too_old_end > 0 || expired_end > 0 || too_new_start < events.len()).then(|| RejectedLogEventsInfo {
            too_new_log_event_start_index: (too_new_start < events.len()).then_some(too_new_start as i32),
            too_old_log_event_end_index: (too_old_end > 0).then_some(too_old_end as i32),
            expired_log_event_end_index: (expired_end > 0).then_some(expired_end as i32),
        });
    Ok(PutLogEventsResponse {
        next_sequence_token: Some(rec.sequence_token()),
        rejected_log_events_info: rejected,
        rejected_entity_info: None,
    })
}

/// A GetLogEvents position: forward tokens continue after it, backward tokens before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Position {
    ts: i64,
    seq: u64,
}

/// AWS's token shape: `f/` or `b/`, 56 digits, `/s`.
fn get_token(forward: bool, p: Position) -> String {
    let ts = (p.ts as u64) ^ (1 << 63);
    format!(
        "{}/{ts:020}{:020}{:016}/s",
        if forward { "f" } else { "b" },
        p.seq,
        0
    )
}

fn parse_get_token(token: &str) -> Result<(bool, Position), LogsError> {
    let (forward, rest) = if let Some(r) = token.strip_prefix("f/") {
        (true, r)
    } else if let Some(r) = token.strip_prefix("b/") {
        (false, r)
    } else {
        return Err(invalid_token());
    };
    let digits = rest.strip_suffix("/s").unwrap_or(rest);
    if digits.len() != 56 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid_token());
    }
    let ts: u64 = digits[..20].parse().map_err(|_| invalid_token())?;
    let seq: u64 = digits[20..40].parse().map_err(|_| invalid_token())?;
    Ok((
        forward,
        Position {
            ts: (ts ^ (1 << 63)) as i64,
            seq,
        },
    ))
}

fn bound_key(b: &Bound<Bytes>) -> Option<&Bytes> {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k),
        Bound::Unbounded => None,
    }
}

/// The tighter of two lower bounds.
fn max_start(a: Bound<Bytes>, b: Bound<Bytes>) -> Bound<Bytes> {
    match (bound_key(&a), bound_key(&b)) {
        (None, _) => b,
        (_, None) => a,
        (Some(x), Some(y)) => match x.cmp(y) {
            Ordering::Greater => a,
            Ordering::Less => b,
            Ordering::Equal => {
                if matches!(a, Bound::Excluded(_)) {
                    a
                } else {
                    b
                }
            }
        },
    }
}

/// The tighter of two upper bounds.
fn min_end(a: Bound<Bytes>, b: Bound<Bytes>) -> Bound<Bytes> {
    match (bound_key(&a), bound_key(&b)) {
        (None, _) => b,
        (_, None) => a,
        (Some(x), Some(y)) => match x.cmp(y) {
            Ordering::Less => a,
            Ordering::Greater => b,
            Ordering::Equal => {
                if matches!(a, Bound::Excluded(_)) {
                    a
                } else {
                    b
                }
            }
        },
    }
}

/// The key range of a stream's events within `[start_time, end_time)`.
fn time_window(skey: &[u8], start_time: Option<i64>, end_time: Option<i64>) -> (Bound<Bytes>, Bound<Bytes>) {
    let start = match start_time {
        Some(t) => Bound::Included(state::event_key(skey, t, 0)),
        None => Bound::Included(skey.to_vec()),
    };
    let end = match end_time {
        Some(t) => Bound::Excluded(state::event_key(skey, t, 0)),
        None => prefix_end(skey).map_or(Bound::Unbounded, Bound::Excluded),
    };
    (start, end)
}

pub async fn get_log_events(
    logs: Logs,
    cx: RequestContext,
    input: GetLogEventsRequest,
) -> Result<GetLogEventsResponse, LogsError> {
    let sc = scope(&cx);
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    let stream = input.log_stream_name.unwrap_or_default();
    let token = input.next_token.as_deref().map(parse_get_token).transpose()?;
    require_stream(&logs, sc, &group, &stream).await?;
    let skey = sc.stream_key(&group, &stream);
    let limit = input.limit.map_or(MAX_EVENTS, |l| l as usize);
    let forward = match token {
        Some((f, _)) => f,
        None => input.start_from_head.unwrap_or(false),
    };
    let (mut start, mut end) = time_window(&skey, input.start_time, input.end_time);
    if let Some((f, p)) = token {
        let k = state::event_key(&skey, p.ts, p.seq);
        if f {
            start = max_start(start, Bound::Excluded(k));
        } else {
            end = min_end(end, Bound::Excluded(k));
        }
    }
    let empty_range = match (bound_key(&start), bound_key(&end)) {
        (Some(s), Some(e)) => s >= e,
        _ => false,
    };
    let rows = if empty_range {
        Vec::new()
    } else {
        let scan = Scan {
            start,
            end,
            reverse: !forward,
            limit,
        };
        logs.store.scan(state::EVENTS, &scan).await?
    };
    let mut budget = MAX_RESPONSE_BYTES;
    let mut events = Vec::with_capacity(rows.len());
    for (k, v) in rows {
        let (ingestion, message) = state::decode_event_value(&v);
        let size = event_size(&message);
        if size > budget && !events.is_empty() {
            break;
        }
        budget = budget.saturating_sub(size);
        let (ts, seq) =
            state::event_position(&k).ok_or_else(|| LogsError::Internal("corrupt event key".into()))?;
        events.push((Position { ts, seq }, ingestion, message));
    }
    if !forward {
        events.reverse();
    }
    let (next_forward, next_backward) = match (events.first(), events.last()) {
        (Some(first), Some(last)) => (get_token(true, last.0), get_token(false, first.0)),
        _ => match token {
            Some((true, p)) => (input.next_token.clone().unwrap_or_default(), get_token(false, p)),
            Some((false, p)) => (get_token(true, p), input.next_token.clone().unwrap_or_default()),
            None => (
                get_token(
                    true,
                    Position {
                        ts: input.start_time.unwrap_or(0),
                        seq: 0,
                    },
                ),
                get_token(
                    false,
                    Position {
                        ts: input.end_time.unwrap_or(i64::MAX),
                        seq: 0,
                    },
                ),
            ),
        },
    };
    Ok(GetLogEventsResponse {
        events: Some(
            events
                .into_iter()
                .map(|(p, ingestion, message)| OutputLogEvent {
                    timestamp: Some(p.ts),
                    message: Some(message),
                    ingestion_time: Some(ingestion),
                })
                .collect(),
        ),
        next_forward_token: Some(next_forward),
        next_backward_token: Some(next_backward),
    })
}

/// A FilterLogEvents position across streams: events are ordered by timestamp, then stream
/// name, then ingestion order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct GlobalPosition {
    ts: i64,
    stream: String,
    seq: u64,
}

fn filter_token(p: &GlobalPosition) -> String {
    let mut raw = Vec::with_capacity(16 + p.stream.len());
    raw.extend_from_slice(&((p.ts as u64) ^ (1 << 63)).to_be_bytes());
    raw.extend_from_slice(&p.seq.to_be_bytes());
    raw.extend_from_slice(p.stream.as_bytes());
    encode_token(&raw)
}

fn parse_filter_token(token: &str) -> Result<GlobalPosition, LogsError> {
    let raw = decode_token(token)?;
    if raw.len() < 16 {
        return Err(invalid_token());
    }
    let ts = u64::from_be_bytes(raw[..8].try_into().map_err(|_| invalid_token())?) ^ (1 << 63);
    let seq = u64::from_be_bytes(raw[8..16].try_into().map_err(|_| invalid_token())?);
    let stream = String::from_utf8(raw[16..].to_vec()).map_err(|_| invalid_token())?;
    Ok(GlobalPosition {
        ts: ts as i64,
        stream,
        seq,
    })
}

/// AWS event ids are 56 digits; ours encode timestamp, sequence and stream.
fn event_id(ts: i64, seq: u64, stream: &str) -> String {
    let h = stratus_core::ids::stable_hash(stream.as_bytes()) % 10_000_000_000_000_000;
    format!("{:020}{seq:020}{h:016}", ts.max(0))
}

struct Candidate {
    pos: GlobalPosition,
    ingestion: i64,
    message: String,
}

pub async fn filter_log_events(
    logs: Logs,
    cx: RequestContext,
    input: FilterLogEventsRequest,
) -> Result<FilterLogEventsResponse, LogsError> {
    let sc = scope(&cx);
    let group = group_name(input.log_group_name, input.log_group_identifier)?;
    if input.log_stream_names.is_some() && input.log_stream_name_prefix.is_some() {
        return Err(LogsError::invalid(
            "logStreamNames and logStreamNamePrefix are mutually exclusive parameters.",
        ));
    }
    let pattern = FilterPattern::parse(input.filter_pattern.as_deref().unwrap_or(""))
        .map_err(|e| LogsError::invalid(e.0))?;
    let after = input.next_token.as_deref().map(parse_filter_token).transpose()?;
    state::require_group(&logs.store, sc, &group).await?;
    let limit = input.limit.map_or(MAX_EVENTS, |l| l as usize);

    let mut streams: Vec<String> = match input.log_stream_names {
        Some(names) => {
            let mut found = Vec::new();
            for n in names {
                if state::get_stream(&logs.store, sc, &group, &n).await?.is_some() && !found.contains(&n) {
                    found.push(n);
                }
            }
            found
        }
        None => {
            let mut prefix = sc.group_key(&group);
            state::push_part_prefix(&mut prefix, input.log_stream_name_prefix.as_deref().unwrap_or(""));
            let rows = logs.store.scan(state::STREAMS, &Scan::prefix(&prefix)).await?;
            rows.iter()
                .map(|(_, v)| state::decode::<StreamRecord>(v).map(|r| r.name))
                .collect::<Result<_, _>>()?
        }
    };
    streams.sort();

    let mut candidates: Vec<Candidate> = Vec::new();
    let mut searched = Vec::new();
    // The lowest position up to which every unfinished stream has been read.
    let mut cut: Option<GlobalPosition> = None;
    for name in &streams {
        let skey = sc.stream_key(&group, name);
        let (mut start, end) = time_window(&skey, input.start_time, input.end_time);
        if let Some(a) = &after {
            let from = match name.cmp(&a.stream) {
                Ordering::Less => Bound::Excluded(state::event_key(&skey, a.ts, u64::MAX)),
                Ordering::Equal => Bound::Excluded(state::event_key(&skey, a.ts, a.seq)),
                Ordering::Greater => Bound::Included(state::event_key(&skey, a.ts, 0)),
            };
            start = max_start(start, from);
        }
        let mut scan = Scan {
            start,
            end,
            reverse: false,
            limit: 0,
        };
        let (mut matched, mut scanned, mut bytes) = (0usize, 0usize, 0usize);
        let mut last_read: Option<GlobalPosition> = None;
        let mut exhausted = false;
        loop {
            if matches!((bound_key(&scan.start), bound_key(&scan.end)), (Some(s), Some(e)) if s >= e) {
                exhausted = true;
                break;
            }
            let chunk = (limit - matched).clamp(16, 1000);
            scan.limit = chunk;
            let rows = logs.store.scan(state::EVENTS, &scan).await?;
            let n = rows.len();
            let mut stop = false;
            for (k, v) in rows {
                scanned += 1;
                let (ts, seq) = state::event_position(&k)
                    .ok_or_else(|| LogsError::Internal("corrupt event key".into()))?;
                let pos = GlobalPosition {
                    ts,
                    stream: name.clone(),
                    seq,
                };
                last_read = Some(pos.clone());
                scan.start = Bound::Excluded(k);
                let (ingestion, message) = state::decode_event_value(&v);
                if pattern.matches(&message) {
                    matched += 1;
                    bytes += event_size(&message);
                    candidates.push(Candidate {
                        pos,
                        ingestion,
                        message,
                    });
                    if matched >= limit || bytes >= MAX_RESPONSE_BYTES {
                        stop = true;
                        break;
                    }
                }
                if scanned >= MAX_SCANNED_PER_STREAM {
                    stop = true;
                    break;
                }
            }
            if stop {
                break;
            }
            if n < chunk {
                exhausted = true;
                break;
            }
        }
        if !exhausted {
            // Unfinished streams were read at least one event past the token, so the cut
            // always moves forward.
            if let Some(p) = last_read
                && cut.as_ref().is_none_or(|c| p < *c)
            {
                cut = Some(p);
            }
        }
        searched.push(SearchedLogStream {
            log_stream_name: Some(name.clone()),
            searched_completely: Some(exhausted),
        });
    }

    candidates.sort_by(|a, b| a.pos.cmp(&b.pos));
    if let Some(c) = &cut {
        candidates.retain(|x| x.pos <= *c);
    }
    let mut budget = MAX_RESPONSE_BYTES;
    let mut out = Vec::new();
    let mut truncated = false;
    for c in candidates {
        let size = event_size(&c.message);
        if out.len() >= limit || (size > budget && !out.is_empty()) {
            truncated = true;
            break;
        }
        budget = budget.saturating_sub(size);
        out.push(c);
    }
    let next_token = if truncated {
        out.last().map(|c| filter_token(&c.pos))
    } else {
        cut.as_ref().map(filter_token)
    };
    Ok(FilterLogEventsResponse {
        events: Some(
            out.into_iter()
                .map(|c| FilteredLogEvent {
                    event_id: Some(event_id(c.pos.ts, c.pos.seq, &c.pos.stream)),
                    log_stream_name: Some(c.pos.stream),
                    timestamp: Some(c.pos.ts),
                    message: Some(c.message),
                    ingestion_time: Some(c.ingestion),
                })
                .collect(),
        ),
        searched_log_streams: Some(searched),
        next_token,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_tokens_round_trip_in_aws_shape() {
        let p = Position {
            ts: 1_700_000_000_123,
            seq: 42,
        };
        let f = get_token(true, p);
        assert!(
            f.starts_with("f/") && f.ends_with("/s") && f.len() == 2 + 56 + 2,
            "{f}"
        );
        assert_eq!(parse_get_token(&f).unwrap(), (true, p));
        assert_eq!(parse_get_token(&get_token(false, p)).unwrap(), (false, p));
        assert!(parse_get_token("x/1/s").is_err());
        assert!(parse_get_token("f/123/s").is_err());
    }

    #[test]
    fn filter_tokens_round_trip() {
        let p = GlobalPosition {
            ts: 5,
            stream: "a/b".into(),
            seq: 9,
        };
        assert_eq!(parse_filter_token(&filter_token(&p)).unwrap(), p);
        assert!(parse_filter_token("00").is_err());
    }

    #[test]
    fn event_ids_have_56_digits() {
        let id = event_id(1_700_000_000_000, 3, "s");
        assert_eq!(id.len(), 56);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
    }
}
