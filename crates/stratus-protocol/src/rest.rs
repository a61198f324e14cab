//! The REST protocols (`rest-json`, `rest-xml`): the operation is chosen by method and URI
//! template (`/2015-03-31/functions/{FunctionName}/invocations`, `/{Bucket}/{Key+}`); members
//! are bound to path labels, query parameters, headers, the status code, or the body.
//!
//! Generated code implements [`FromRest`] for inputs and [`ToRest`] for outputs on top of the
//! helpers here; the body itself is JSON (serde) or XML ([`crate::xml`]).

use std::collections::HashMap;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Response, StatusCode};
use percent_encoding::percent_decode_str;
use serde::{Serialize, de::DeserializeOwned};

use crate::types::{Blob, Timestamp};
use crate::{ApiRequest, ApiResponse, AwsError};

/// One operation's HTTP binding, from the model.
#[derive(Clone, Copy, Debug)]
pub struct Route {
    pub operation: &'static str,
    pub method: &'static str,
    /// The request URI template, possibly with literal query parts (`/{Bucket}?uploads`).
    pub uri: &'static str,
    /// The status of a successful answer.
    pub status: u16,
}

/// Matches `path` (percent-encoded, without query) against a model URI template and returns
/// the decoded label values. `{Name+}` labels are greedy and may span `/`.
pub fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let mut labels = Vec::new();
    walk(template, path, |name, raw| {
        labels.push((name.to_string(), decode(raw)))
    })
    .then_some(labels)
}

/// The next `/`-separated segment of what is left of a path; `None` once none is left.
fn next_segment<'p>(rest: &mut Option<&'p str>) -> Option<&'p str> {
    let r = rest.take()?;
    match r.split_once('/') {
        Some((segment, more)) => {
            *rest = Some(more);
            Some(segment)
        }
        None => Some(r),
    }
}

/// Walks `path` along `template`, handing each label its raw (still encoded) value; false
/// when the path does not fit. Nothing is allocated, so routing can try every template.
fn walk<'p>(template: &str, path: &'p str, mut label: impl FnMut(&str, &'p str)) -> bool {
    let template = template.split('?').next().unwrap_or(template);
    let template = template.trim_start_matches('/');
    let path = path.trim_start_matches('/');
    let mut rest = Some(path);
    let mut consumed = 0;
    for (ti, t) in template.split('/').enumerate() {
        let Some(name) = t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) else {
            if next_segment(&mut rest) != Some(t) {
                return false;
            }
            consumed += 1;
            continue;
        };
        if let Some(greedy) = name.strip_suffix('+') {
            // A greedy label takes everything up to the remaining literal segments.
            let (t_count, p_count) = (template.split('/').count(), path.split('/').count());
            let after = t_count - ti - 1;
            if p_count < consumed + 1 + after {
                return false;
            }
            let take = p_count - after - consumed;
            let Some(r) = rest else { return false };
            let raw = match r.match_indices('/').nth(take - 1) {
                Some((at, _)) => {
                    rest = Some(&r[at + 1..]);
                    &r[..at]
                }
                None => {
                    rest = None;
                    r
                }
            };
            if raw.is_empty() {
                return false;
            }
            label(greedy, raw);
            consumed += take;
        } else {
            match next_segment(&mut rest) {
                Some(segment) if !segment.is_empty() => label(name, segment),
                _ => return false,
            }
            consumed += 1;
        }
    }
    rest.is_none()
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Parses a raw query string into decoded pairs (`+` is a space, as browsers and SDKs send it).
pub fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    query
        .map(|q| {
            form_urlencoded::parse(q.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Finds the operation for a request: method, path template and the template's literal query
/// keys must all match; among several matches the one with the most literal parts wins.
pub fn find_route<'r>(
    routes: &'r [Route],
    method: &str,
    path: &str,
    query: &[(String, String)],
) -> Option<(&'r Route, Vec<(String, String)>)> {
    let mut best: Option<(usize, &Route)> = None;
    for route in routes.iter().filter(|r| r.method == method) {
        if !walk(route.uri, path, |_, _| {}) {
            continue;
        }
        let (tpath, tquery) = route.uri.split_once('?').unwrap_or((route.uri, ""));
        let required: Vec<(&str, Option<&str>)> = tquery
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k, Some(v)),
                None => (p, None),
            })
            .collect();
        let satisfied = required
            .iter()
            .all(|(k, v)| query.iter().any(|(qk, qv)| qk == k && v.is_none_or(|v| v == qv)));
        if !satisfied {
            continue;
        }
        let literal = tpath
            .split('/')
            .filter(|s| !s.is_empty() && !s.starts_with('{'))
            .count()
            * 4
            + required.len() * 2
            + usize::from(!tpath.contains('+'));
        if best.as_ref().is_none_or(|(score, _)| literal > *score) {
            best = Some((literal, route));
        }
    }
    let (_, route) = best?;
    Some((route, match_template(route.uri, path)?))
}

/// A request bound to its route: labels from the path, parameters from the query.
pub struct RestRequest<'a> {
    pub api: &'a ApiRequest<'a>,
    pub labels: Vec<(String, String)>,
    pub params: Vec<(String, String)>,
}

impl<'a> RestRequest<'a> {
    pub fn new(api: &'a ApiRequest<'a>, labels: Vec<(String, String)>) -> Self {
        Self {
            api,
            labels,
            params: query_pairs(api.query),
        }
    }
    pub fn label(&self, name: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn query(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    pub fn query_all(&self, name: &str) -> Vec<&str> {
        self.params
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
    /// Every query parameter (a map member bound to `querystring`).
    pub fn query_map(&self) -> HashMap<String, String> {
        self.params.iter().cloned().collect()
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.api.header(name)
    }
    /// Headers whose names start with `prefix`, keyed by the rest of the name (lower case).
    pub fn headers_with_prefix(&self, prefix: &str) -> HashMap<String, String> {
        let prefix = prefix.to_ascii_lowercase();
        self.api
            .headers
            .iter()
            .filter_map(|(k, v)| {
                let rest = k.as_str().strip_prefix(prefix.as_str())?;
                Some((rest.to_string(), v.to_str().ok()?.to_string()))
            })
            .collect()
    }
    pub fn body(&self) -> &[u8] {
        self.api.body
    }
}

/// Implemented by generated input shapes of REST services.
pub trait FromRest: Sized {
    fn from_rest(req: &RestRequest<'_>) -> Result<Self, AwsError>;
}

/// Implemented by generated output shapes of REST services.
pub trait ToRest {
    /// Renders the answer; `status` is the operation's success status unless a member sets it.
    fn to_rest(&self, status: u16) -> ApiResponse;
}

/// Where a scalar came from, for parsing rules and error messages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Location {
    Label,
    Query,
    Header,
}

/// A scalar bound to a label, query parameter or header.
pub trait RestScalar: Sized {
    fn parse_rest(s: &str, location: Location) -> Option<Self>;
    fn render_rest(&self, location: Location) -> String;
}

impl RestScalar for String {
    fn parse_rest(s: &str, _: Location) -> Option<Self> {
        Some(s.to_string())
    }
    fn render_rest(&self, _: Location) -> String {
        self.clone()
    }
}

macro_rules! rest_number {
    ($($t:ty),*) => {$(
        impl RestScalar for $t {
            fn parse_rest(s: &str, _: Location) -> Option<Self> {
                s.trim().parse().ok()
            }
            fn render_rest(&self, _: Location) -> String {
                self.to_string()
            }
        }
    )*};
}
rest_number!(i32, i64, f64);

impl RestScalar for bool {
    fn parse_rest(s: &str, _: Location) -> Option<Self> {
        match s.trim() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn render_rest(&self, _: Location) -> String {
        self.to_string()
    }
}

const HTTP_DATE: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[weekday repr:short], [day] [month repr:short] [year] [hour]:[minute]:[second] GMT"
);

impl RestScalar for Timestamp {
    fn parse_rest(s: &str, location: Location) -> Option<Self> {
        let s = s.trim();
        if location == Location::Header
            && let Ok(t) = time::PrimitiveDateTime::parse(s, HTTP_DATE)
        {
            return Some(Timestamp(t.assume_utc().unix_timestamp() as f64));
        }
        if let Ok(t) = time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
            return Some(Timestamp(t.unix_timestamp_nanos() as f64 / 1e9));
        }
        s.parse::<f64>().ok().map(Timestamp)
    }
    fn render_rest(&self, location: Location) -> String {
        match location {
            Location::Header => time::OffsetDateTime::from_unix_timestamp(self.0 as i64)
                .ok()
                .and_then(|t| t.format(HTTP_DATE).ok())
                .unwrap_or_default(),
            _ => self.iso8601(),
        }
    }
}

impl RestScalar for Blob {
    fn parse_rest(s: &str, _: Location) -> Option<Self> {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD
            .decode(s.trim())
            .ok()
            .map(Blob)
    }
    fn render_rest(&self, _: Location) -> String {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(&self.0)
    }
}

/// Parses one bound scalar; a malformed value is the client's error.
pub fn scalar<T: RestScalar>(
    value: Option<&str>,
    location: Location,
    name: &str,
) -> Result<Option<T>, AwsError> {
    match value {
        None => Ok(None),
        Some(s) => T::parse_rest(s, location)
            .map(Some)
            .ok_or_else(|| AwsError::serialization(format!("Invalid value '{s}' for {name}"))),
    }
}

/// Parses a repeated query parameter into a list.
pub fn scalar_list<T: RestScalar>(values: Vec<&str>, name: &str) -> Result<Option<Vec<T>>, AwsError> {
    if values.is_empty() {
        return Ok(None);
    }
    values
        .into_iter()
        .map(|v| scalar(Some(v), Location::Query, name).map(|o| o.expect("value present")))
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

/// Decodes a rest-json body (members not bound elsewhere); an empty body is the empty structure.
pub fn json_body<T: DeserializeOwned + Default>(body: &[u8]) -> Result<T, AwsError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    crate::json::decode(body)
}

/// Builds a REST answer: status, headers, body.
pub struct RestResponse {
    status: u16,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
    content_type: Option<&'static str>,
}

impl RestResponse {
    pub fn new(status: u16) -> Self {
        Self {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
            content_type: None,
        }
    }
    pub fn status(&mut self, status: i32) {
        self.status = u16::try_from(status).unwrap_or(200);
    }
    pub fn header<T: RestScalar>(&mut self, name: &str, value: &T) {
        let v = value.render_rest(Location::Header);
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(&v)) {
            self.headers.push((n, v));
        }
    }
    pub fn header_map(&mut self, prefix: &str, map: &HashMap<String, String>) {
        for (k, v) in map {
            self.header(&format!("{prefix}{k}"), v);
        }
    }
    pub fn json<T: Serialize>(&mut self, body: &T) {
        self.body = Bytes::from(serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec()));
        self.content_type = Some("application/json");
    }
    pub fn raw(&mut self, body: &[u8], content_type: &'static str) {
        self.body = Bytes::copy_from_slice(body);
        self.content_type = Some(content_type);
    }
    pub fn xml<T: crate::xml::ToXml>(&mut self, root: &str, namespace: Option<&str>, body: &T) {
        let mut w = crate::xml::XmlWriter::new();
        match namespace {
            Some(ns) => w.open_ns(root, ns),
            None => w.open(root),
        }
        body.write_members(&mut w);
        w.close(root);
        self.body = Bytes::from(w.finish());
        self.content_type = Some("application/xml");
    }
    pub fn finish(self) -> ApiResponse {
        let mut resp = Response::new(self.body);
        *resp.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::OK);
        // A modeled `Content-Type` member (GetExport's) is the header; the body's kind is only
        // the default.
        let explicit = self.headers.iter().any(|(k, _)| k == http::header::CONTENT_TYPE);
        if let Some(ct) = self.content_type
            && !explicit
        {
            resp.headers_mut()
                .insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        for (k, v) in self.headers {
            resp.headers_mut().append(k, v);
        }
        resp
    }
}

/// Operations that answer with no members (only a status).
impl ToRest for () {
    fn to_rest(&self, status: u16) -> ApiResponse {
        RestResponse::new(status).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let l = match_template(
            "/2015-03-31/functions/{FunctionName}/invocations",
            "/2015-03-31/functions/my%3Afn/invocations",
        )
        .unwrap();
        assert_eq!(l, vec![("FunctionName".into(), "my:fn".into())]);
        assert!(
            match_template(
                "/2015-03-31/functions/{FunctionName}/invocations",
                "/2015-03-31/functions//invocations"
            )
            .is_none()
        );
        let l = match_template("/{Bucket}/{Key+}", "/b/a/b%20c/d").unwrap();
        assert_eq!(l[1], ("Key".into(), "a/b c/d".into()));
        assert!(match_template("/{Bucket}/{Key+}", "/b").is_none());
        assert!(match_template("/2015-03-31/functions/", "/2015-03-31/functions/").is_some());
        assert!(match_template("/2015-03-31/functions/", "/2015-03-31/functions/x").is_none());
        // A greedy label keeps empty segments, stops before trailing literals, is never empty.
        let l = match_template("/{Bucket}/{Key+}", "/b/a//c/").unwrap();
        assert_eq!(l[1], ("Key".into(), "a//c/".into()));
        let l = match_template("/a/{p+}/x", "/a/1/2/x").unwrap();
        assert_eq!(l, vec![("p".into(), "1/2".into())]);
        assert!(match_template("/a/{p+}/x", "/a/x").is_none());
        assert!(match_template("/{Bucket}/{Key+}", "/b/").is_none());
        assert!(match_template("/{Bucket}", "/b/c").is_none());
        assert!(match_template("/{Bucket}?uploads", "/b").is_some());
    }

    #[test]
    fn routes_prefer_the_most_specific() {
        let routes = [
            Route {
                operation: "GetObject",
                method: "GET",
                uri: "/{Bucket}/{Key+}",
                status: 200,
            },
            Route {
                operation: "ListParts",
                method: "GET",
                uri: "/{Bucket}/{Key+}?uploadId",
                status: 200,
            },
            Route {
                operation: "GetFunction",
                method: "GET",
                uri: "/2015-03-31/functions/{FunctionName}",
                status: 200,
            },
            Route {
                operation: "GetPolicy",
                method: "GET",
                uri: "/2015-03-31/functions/{FunctionName}/policy",
                status: 200,
            },
        ];
        let q = query_pairs(Some("uploadId=abc"));
        assert_eq!(
            find_route(&routes, "GET", "/b/k", &q).unwrap().0.operation,
            "ListParts"
        );
        assert_eq!(
            find_route(&routes, "GET", "/b/k", &[]).unwrap().0.operation,
            "GetObject"
        );
        assert_eq!(
            find_route(&routes, "GET", "/2015-03-31/functions/f/policy", &[])
                .unwrap()
                .0
                .operation,
            "GetPolicy"
        );
        assert_eq!(
            find_route(&routes, "GET", "/2015-03-31/functions/f", &[])
                .unwrap()
                .0
                .operation,
            "GetFunction"
        );
        assert!(find_route(&routes, "DELETE", "/2015-03-31/functions/f", &[]).is_none());
    }

    #[test]
    fn scalars() {
        let t: Timestamp = RestScalar::parse_rest("Wed, 21 Oct 2015 07:28:00 GMT", Location::Header).unwrap();
        assert_eq!(t.0, 1_445_412_480.0);
        assert_eq!(t.render_rest(Location::Header), "Wed, 21 Oct 2015 07:28:00 GMT");
        let t: Timestamp = RestScalar::parse_rest("2015-10-21T07:28:00Z", Location::Query).unwrap();
        assert_eq!(t.0, 1_445_412_480.0);
        assert!(scalar::<i32>(Some("x"), Location::Query, "MaxItems").is_err());
        assert_eq!(
            scalar::<i32>(Some("5"), Location::Query, "MaxItems").unwrap(),
            Some(5)
        );
    }
}
