//! The `Condition` element of AWS policies, evaluated against a request's context keys.
//!
//! Pure: no I/O. The rules are IAM's: operators AND together, keys within an operator AND
//! together, the values of one key OR together (NOR for negated operators); a key missing from
//! the request makes a condition false, except for negated operators (true), `...IfExists`
//! (true) and `Null` (which tests exactly that); `ForAnyValue:`/`ForAllValues:` compare sets.
//! An operator this module does not know never matches.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::Value;

/// The request context: values by condition key. Keys are case-insensitive, as in IAM.
#[derive(Clone, Debug, Default)]
pub struct ContextKeys {
    values: BTreeMap<String, Vec<String>>,
}

impl ContextKeys {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets a single-valued key.
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> &mut Self {
        self.values.insert(key.to_ascii_lowercase(), vec![value.into()]);
        self
    }

    fn get(&self, key: &str) -> Option<&[String]> {
        self.values.get(&key.to_ascii_lowercase()).map(Vec::as_slice)
    }
}

/// IAM-style wildcard match: `*` any run, `?` any one character.
pub fn glob(pattern: &str, text: &str) -> bool {
    let (p, t): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

fn policy_values(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Whether a whole `Condition` block holds.
pub fn holds(condition: &Value, cx: &ContextKeys) -> bool {
    let Some(operators) = condition.as_object() else {
        return false;
    };
    operators.iter().all(|(operator, keys)| {
        keys.as_object().is_some_and(|keys| {
            keys.iter()
                .all(|(key, wanted)| operator_holds(operator, cx.get(key), &policy_values(wanted)))
        })
    })
}

fn operator_holds(operator: &str, present: Option<&[String]>, wanted: &[String]) -> bool {
    let (set, op) = match operator.split_once(':') {
        Some((q, op)) => (Some(q), op),
        None => (None, operator),
    };
    if op == "Null" {
        let absent = present.is_none_or(<[String]>::is_empty);
        return wanted.iter().any(|w| w.eq_ignore_ascii_case(&absent.to_string()));
    }
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let Some((compare, negated)) = comparison(op) else {
        return false;
    };
    let matches_any = |value: &str| wanted.iter().any(|w| compare(value, w));
    match set {
        Some("ForAllValues") => present.is_none_or(|vals| {
            vals.iter()
                .all(|v| if negated { !matches_any(v) } else { matches_any(v) })
        }),
        Some("ForAnyValue") => present.is_some_and(|vals| {
            vals.iter()
                .any(|v| if negated { !matches_any(v) } else { matches_any(v) })
        }),
        Some(_) => false,
        None => match present {
            None => if_exists || negated,
            Some(vals) => {
                let any = vals.iter().any(|v| matches_any(v));
                if negated { !any } else { any }
            }
        },
    }
}

type Compare = fn(&str, &str) -> bool;

/// The comparison behind an operator, and whether the operator negates it.
fn comparison(op: &str) -> Option<(Compare, bool)> {
    Some(match op {
        "StringEquals" => (|v, w| v == w, false),
        "StringNotEquals" => (|v, w| v == w, true),
        "StringEqualsIgnoreCase" => (|v, w| v.eq_ignore_ascii_case(w), false),
        "StringNotEqualsIgnoreCase" => (|v, w| v.eq_ignore_ascii_case(w), true),
        "StringLike" => (|v, w| glob(w, v), false),
        "StringNotLike" => (|v, w| glob(w, v), true),
        "NumericEquals" => (|v, w| num(v, w, |a, b| a == b), false),
        "NumericNotEquals" => (|v, w| num(v, w, |a, b| a == b), true),
        "NumericLessThan" => (|v, w| num(v, w, |a, b| a < b), false),
        "NumericLessThanEquals" => (|v, w| num(v, w, |a, b| a <= b), false),
        "NumericGreaterThan" => (|v, w| num(v, w, |a, b| a > b), false),
        "NumericGreaterThanEquals" => (|v, w| num(v, w, |a, b| a >= b), false),
        "DateEquals" => (|v, w| date(v, w, |a, b| a == b), false),
        "DateNotEquals" => (|v, w| date(v, w, |a, b| a == b), true),
        "DateLessThan" => (|v, w| date(v, w, |a, b| a < b), false),
        "DateLessThanEquals" => (|v, w| date(v, w, |a, b| a <= b), false),
        "DateGreaterThan" => (|v, w| date(v, w, |a, b| a > b), false),
        "DateGreaterThanEquals" => (|v, w| date(v, w, |a, b| a >= b), false),
        "Bool" => (|v, w| v.eq_ignore_ascii_case(w), false),
        "BinaryEquals" => (|v, w| v == w, false),
        "IpAddress" => (in_network, false),
        "NotIpAddress" => (in_network, true),
        "ArnEquals" | "ArnLike" => (arn_like, false),
        "ArnNotEquals" | "ArnNotLike" => (arn_like, true),
        _ => return None,
    })
}

fn num(v: &str, w: &str, f: fn(f64, f64) -> bool) -> bool {
    match (v.trim().parse::<f64>(), w.trim().parse::<f64>()) {
        (Ok(a), Ok(b)) => f(a, b),
        _ => false,
    }
}

/// Seconds since the epoch of an ISO 8601 date (or of an epoch number, which IAM accepts).
fn epoch(s: &str) -> Option<f64> {
    if let Ok(n) = s.trim().parse::<f64>() {
        return Some(n);
    }
    use time::format_description::well_known::Iso8601;
    let parsed = time::OffsetDateTime::parse(s.trim(), &Iso8601::DEFAULT)
        .ok()
        .or_else(|| {
            time::Date::parse(s.trim(), &Iso8601::DEFAULT)
                .ok()
                .map(|d| d.midnight().assume_utc())
        })?;
    Some(parsed.unix_timestamp_nanos() as f64 / 1e9)
}

fn date(v: &str, w: &str, f: fn(f64, f64) -> bool) -> bool {
    match (epoch(v), epoch(w)) {
        (Some(a), Some(b)) => f(a, b),
        _ => false,
    }
}

/// Whether an address lies in a CIDR block (or equals a bare address).
fn in_network(addr: &str, cidr: &str) -> bool {
    let Ok(ip) = addr.trim().parse::<IpAddr>() else {
        return false;
    };
    let (net, bits) = match cidr.trim().split_once('/') {
        Some((n, b)) => (n, b.parse::<u32>().ok()),
        None => (cidr.trim(), None),
    };
    let Ok(net) = net.parse::<IpAddr>() else {
        return false;
    };
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let bits = bits.unwrap_or(32).min(32);
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let bits = bits.unwrap_or(128).min(128);
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - bits) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// ARN comparison: the six colon-separated parts, each with wildcards.
fn arn_like(v: &str, w: &str) -> bool {
    let (vp, wp): (Vec<&str>, Vec<&str>) = (v.splitn(6, ':').collect(), w.splitn(6, ':').collect());
    vp.len() == 6 && wp.len() == 6 && vp.iter().zip(&wp).all(|(v, w)| glob(w, v))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cx() -> ContextKeys {
        let mut c = ContextKeys::new();
        c.set("aws:SourceIp", "127.0.0.1")
            .set("aws:SecureTransport", "false")
            .set("s3:prefix", "home/alice/notes")
            .set("aws:CurrentTime", "2026-11-29T12:00:00Z")
            .set("aws:PrincipalArn", "arn:aws:iam::111122223333:user/alice");
        c
    }

    #[test]
    fn operators_and_keys_and_together() {
        let c = cx();
        assert!(holds(
            &json!({"IpAddress": {"aws:SourceIp": ["10.0.0.0/8", "127.0.0.0/8"]}}),
            &c
        ));
        assert!(!holds(&json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), &c));
        assert!(holds(
            &json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}),
            &c
        ));
        assert!(holds(&json!({"Bool": {"aws:SecureTransport": "false"}}), &c));
        assert!(holds(
            &json!({"StringLike": {"s3:prefix": "home/alice/*"}, "Bool": {"aws:securetransport": false}}),
            &c
        ));
        assert!(!holds(
            &json!({"StringLike": {"s3:prefix": "home/bob/*"}, "Bool": {"aws:SecureTransport": "false"}}),
            &c
        ));
        assert!(holds(
            &json!({"DateLessThan": {"aws:CurrentTime": "2027-01-01T00:00:00Z"}}),
            &c
        ));
        assert!(!holds(
            &json!({"DateGreaterThan": {"aws:CurrentTime": "2027-01-01"}}),
            &c
        ));
        assert!(holds(
            &json!({"ArnLike": {"aws:PrincipalArn": "arn:aws:iam::*:user/al*"}}),
            &c
        ));
    }

    #[test]
    fn missing_keys_follow_iam() {
        let c = cx();
        assert!(!holds(&json!({"StringEquals": {"s3:x-amz-acl": "private"}}), &c));
        assert!(holds(
            &json!({"StringNotEquals": {"s3:x-amz-acl": "private"}}),
            &c
        ));
        assert!(holds(
            &json!({"StringEqualsIfExists": {"s3:x-amz-acl": "private"}}),
            &c
        ));
        assert!(holds(&json!({"Null": {"s3:x-amz-acl": "true"}}), &c));
        assert!(!holds(&json!({"Null": {"s3:prefix": "true"}}), &c));
        assert!(holds(
            &json!({"ForAllValues:StringEquals": {"aws:TagKeys": ["a"]}}),
            &c
        ));
        assert!(!holds(
            &json!({"ForAnyValue:StringEquals": {"aws:TagKeys": ["a"]}}),
            &c
        ));
        assert!(!holds(&json!({"StringExplodes": {"s3:prefix": "x"}}), &c));
    }

    #[test]
    fn networks() {
        assert!(in_network("192.168.1.7", "192.168.0.0/16"));
        assert!(!in_network("192.169.1.7", "192.168.0.0/16"));
        assert!(in_network("::1", "::1/128"));
        assert!(in_network("10.1.2.3", "0.0.0.0/0"));
        assert!(!in_network("::1", "127.0.0.1/8"));
    }
}
