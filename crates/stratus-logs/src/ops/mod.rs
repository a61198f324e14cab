//! The implemented operations, grouped by the resource they act on.

mod events;
mod groups;
mod streams;
mod tags;

pub use events::{filter_log_events, get_log_events, put_log_events};
pub use groups::{
    create_log_group, delete_log_group, delete_retention_policy, describe_log_groups, put_retention_policy,
};
pub use streams::{create_log_stream, delete_log_stream, describe_log_streams};
pub use tags::{list_tags_for_resource, tag_resource, untag_resource};

use std::ops::Bound;

use stratus_core::RequestContext;
use stratus_store::{Scan, Store};

use crate::LogsError;
use crate::state::Scope;

pub(crate) fn scope(cx: &RequestContext) -> Scope<'_> {
    Scope::new(cx.account_id(), &cx.region)
}

/// The group a request names, by `logGroupName` or `logGroupIdentifier` (a name or an ARN).
pub(crate) fn group_name(name: Option<String>, identifier: Option<String>) -> Result<String, LogsError> {
    match (name, identifier) {
        (Some(_), Some(_)) => Err(LogsError::invalid(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters.",
        )),
        (Some(n), None) => Ok(n),
        (None, Some(id)) => Ok(name_from_identifier(&id).to_string()),
        (None, None) => Err(LogsError::invalid("Should provide either name or identifier.")),
    }
}

/// `arn:aws:logs:R:A:log-group:NAME[:*]` → NAME; anything else is taken as a name.
fn name_from_identifier(id: &str) -> &str {
    if id.starts_with("arn:")
        && let Some(i) = id.find(":log-group:")
    {
        let rest = &id[i + ":log-group:".len()..];
        return rest.strip_suffix(":*").unwrap_or(rest);
    }
    id
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// An opaque pagination token carrying `bytes`.
pub(crate) fn encode_token(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(HEX[(b >> 4) as usize] as char);
        s.push(HEX[(b & 15) as usize] as char);
    }
    s
}

pub(crate) fn decode_token(token: &str) -> Result<Vec<u8>, LogsError> {
    let bad = || LogsError::invalid("The specified nextToken is invalid.");
    if !token.len().is_multiple_of(2) {
        return Err(bad());
    }
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    token
        .as_bytes()
        .chunks(2)
        .map(|p| Some(digit(p[0])? << 4 | digit(p[1])?))
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(bad)
}

pub(crate) fn token_string(token: &str) -> Result<String, LogsError> {
    String::from_utf8(decode_token(token)?)
        .map_err(|_| LogsError::invalid("The specified nextToken is invalid."))
}

/// Reads rows of `scan` in chunks, keeping those `keep` accepts, until `want` are kept or
/// the range is exhausted.
pub(crate) async fn scan_matching(
    store: &Store,
    ns: &str,
    mut scan: Scan,
    want: usize,
    mut keep: impl FnMut(&[u8], &[u8]) -> bool,
) -> Result<Vec<(Vec<u8>, Vec<u8>)>, LogsError> {
    const CHUNK: usize = 256;
    let mut out = Vec::new();
    loop {
        let rows = store.scan(ns, &scan.clone().limit(CHUNK)).await?;
        let n = rows.len();
        let last = rows.last().map(|(k, _)| k.clone());
        for (k, v) in rows {
            if keep(&k, &v) {
                out.push((k, v));
                if out.len() >= want {
                    return Ok(out);
                }
            }
        }
        match last {
            Some(k) if n == CHUNK => {
                if scan.reverse {
                    scan.end = Bound::Excluded(k);
                } else {
                    scan.start = Bound::Excluded(k);
                }
            }
            _ => return Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_tokens() {
        assert_eq!(
            name_from_identifier("arn:aws:logs:us-east-1:000000000000:log-group:/a/b:*"),
            "/a/b"
        );
        assert_eq!(
            name_from_identifier("arn:aws:logs:us-east-1:000000000000:log-group:g"),
            "g"
        );
        assert_eq!(name_from_identifier("plain"), "plain");
        assert_eq!(decode_token(&encode_token(b"\x00ab\xff")).unwrap(), b"\x00ab\xff");
        assert!(decode_token("zz").is_err());
        assert!(decode_token("abc").is_err());
    }
}
