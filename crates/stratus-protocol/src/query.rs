//! The query protocol (`awsQuery`): parameters form-encoded in the body or URL
//! (`Action=AssumeRole&Version=...&Tags.member.1.Key=...`), answers in XML wrapped in
//! `<ActionResponse><ActionResult>...</ActionResult><ResponseMetadata>...`.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{HeaderValue, Response};

use crate::error::AwsError;
use crate::xml::{ToXml, XmlWriter};

/// All parameters of a query request, body and URL together.
#[derive(Debug, Default, Clone)]
pub struct QueryParams(pub BTreeMap<String, String>);

impl QueryParams {
    /// Parses the URL query and a form body (`application/x-www-form-urlencoded`).
    pub fn parse(url_query: Option<&str>, body: &[u8]) -> Self {
        let mut map = BTreeMap::new();
        if let Some(q) = url_query {
            for (k, v) in form_urlencoded::parse(q.as_bytes()) {
                map.insert(k.into_owned(), v.into_owned());
            }
        }
        for (k, v) in form_urlencoded::parse(body) {
            map.insert(k.into_owned(), v.into_owned());
        }
        QueryParams(map)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str)
    }

    /// Whether any parameter starts with `prefix` (for list members and nested structures).
    pub fn has_prefix(&self, prefix: &str) -> bool {
        self.0
            .range(prefix.to_string()..)
            .next()
            .is_some_and(|(k, _)| k.starts_with(prefix))
    }

    pub fn action(&self) -> Option<&str> {
        self.get("Action")
    }
}

/// Implemented by generated input shapes of query services.
pub trait FromQuery: Sized {
    /// Reads the shape's members under `prefix` (empty at the top level).
    fn from_query(q: &QueryParams, prefix: &str) -> Result<Self, AwsError>;
}

/// A scalar read from one parameter.
pub trait QueryScalar: Sized {
    fn parse_param(s: &str) -> Option<Self>;
}

impl QueryScalar for String {
    fn parse_param(s: &str) -> Option<Self> {
        Some(s.to_string())
    }
}
impl QueryScalar for i32 {
    fn parse_param(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }
}
impl QueryScalar for i64 {
    fn parse_param(s: &str) -> Option<Self> {
        s.trim().parse().ok()
    }
}
impl QueryScalar for bool {
    fn parse_param(s: &str) -> Option<Self> {
        match s {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
}

/// Joins a member name onto a prefix: `Tags.member.1` + `Key`.
pub fn member(prefix: &str, name: &str) -> String {
    if prefix.is_empty() {
        name.to_string()
    } else {
        format!("{prefix}.{name}")
    }
}

/// Reads one scalar member; a value of the wrong type is a validation error as AWS gives it.
pub fn scalar<T: QueryScalar>(q: &QueryParams, key: &str) -> Result<Option<T>, AwsError> {
    match q.get(key) {
        None => Ok(None),
        Some(s) => T::parse_param(s).map(Some).ok_or_else(|| {
            AwsError::new(
                "MalformedInput",
                400,
                format!("Value '{s}' for parameter {key} is invalid."),
            )
        }),
    }
}

/// Reads a list member (`Name.member.N...`), calling `read` for each element prefix.
pub fn list<T>(
    q: &QueryParams,
    key: &str,
    mut read: impl FnMut(&QueryParams, &str) -> Result<Option<T>, AwsError>,
) -> Result<Option<Vec<T>>, AwsError> {
    if !q.has_prefix(key) {
        return Ok(None);
    }
    let mut out = Vec::new();
    for i in 1.. {
        let el = format!("{key}.member.{i}");
        if !q.has_prefix(&el) {
            break;
        }
        if let Some(v) = read(q, &el)? {
            out.push(v);
        }
    }
    Ok(Some(out))
}

/// Renders a successful answer: `<{Action}Response><{Action}Result>...`.
pub fn encode<T: ToXml>(action: &str, output: &T, xml_namespace: &str, request_id: &str) -> Response<Bytes> {
    let mut w = XmlWriter::new();
    let response = format!("{action}Response");
    let result = format!("{action}Result");
    w.open_ns(&response, xml_namespace);
    w.open(&result);
    output.write_members(&mut w);
    w.close(&result);
    w.open("ResponseMetadata");
    w.leaf("RequestId", request_id);
    w.close("ResponseMetadata");
    w.close(&response);
    let mut resp = Response::new(Bytes::from(w.finish()));
    resp.headers_mut()
        .insert(http::header::CONTENT_TYPE, HeaderValue::from_static("text/xml"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_and_lists() {
        let q = QueryParams::parse(
            Some("Action=AssumeRole"),
            b"Version=2011-06-15&Tags.member.1.Key=a&Tags.member.1.Value=b&Tags.member.2.Key=c&DurationSeconds=900",
        );
        assert_eq!(q.action(), Some("AssumeRole"));
        assert_eq!(scalar::<i32>(&q, "DurationSeconds").unwrap(), Some(900));
        let tags = list(&q, "Tags", |q, p| scalar::<String>(q, &member(p, "Key")))
            .unwrap()
            .unwrap();
        assert_eq!(tags, vec!["a".to_string(), "c".to_string()]);
        assert!(list(&q, "PolicyArns", scalar::<String>).unwrap().is_none());
        let bad = QueryParams::parse(None, b"DurationSeconds=abc");
        assert!(scalar::<i32>(&bad, "DurationSeconds").is_err());
    }
}
