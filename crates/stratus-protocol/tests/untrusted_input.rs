//! Parsers of untrusted bytes never panic: arbitrary Authorization headers, presigned query
//! strings, JSON bodies, query-protocol forms, XML documents and REST paths.

use http::{HeaderMap, HeaderValue};
use proptest::prelude::*;
use stratus_protocol::query::QueryParams;
use stratus_protocol::rest;
use stratus_protocol::sigv4::{self, RequestParts};
use stratus_protocol::xml::XmlNode;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn sigv4_parsing_never_panics(auth in "\\PC{0,200}", date in "[0-9TZ]{0,20}", query in "\\PC{0,200}", path in "/\\PC{0,40}") {
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&format!("AWS4-HMAC-SHA256 {auth}")) {
            headers.insert("authorization", v);
        }
        if let Ok(v) = HeaderValue::from_str(&date) {
            headers.insert("x-amz-date", v);
        }
        let req = RequestParts { method: "POST", path: &path, query: Some(&query), headers: &headers, authority: None };
        if let Ok(Some(sig)) = sigv4::parse(&req) {
            let _ = sigv4::check_time(&sig, std::time::SystemTime::now());
            let _ = sigv4::verify(&sig, &req, "secret", b"body", true);
            let _ = sigv4::verify(&sig, &req, "secret", b"body", false);
        }
        let headers = HeaderMap::new();
        let presigned = format!("X-Amz-Algorithm=AWS4-HMAC-SHA256&{query}");
        let req = RequestParts { method: "GET", path: &path, query: Some(&presigned), headers: &headers, authority: None };
        let _ = sigv4::parse(&req);
    }

    #[test]
    fn bodies_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = stratus_protocol::json::decode::<serde_json::Value>(&bytes);
        let q = QueryParams::parse(std::str::from_utf8(&bytes).ok(), &bytes);
        let _ = q.action();
        let _ = XmlNode::parse(&bytes);
    }

    #[test]
    fn xml_like_documents_never_panic(doc in "(<[a-zA-Z]{1,3}( a=\"[^\"]{0,5}\")?/?>|</[a-zA-Z]{1,3}>|[^<>]{0,6}|&[a-z#0-9]{0,5};|<!\\[CDATA\\[[^\\]]{0,5}\\]\\]>){0,30}") {
        let _ = XmlNode::parse(doc.as_bytes());
    }

    #[test]
    fn rest_paths_never_panic(path in "/[a-zA-Z0-9%{}+/._-]{0,60}", template in "/[a-zA-Z0-9{}+/?=&_-]{0,40}") {
        let _ = rest::match_template(&template, &path);
        let routes = [rest::Route { operation: "X", method: "GET", uri: Box::leak(template.clone().into_boxed_str()), status: 200 }];
        let _ = rest::find_route(&routes, "GET", &path, &rest::query_pairs(Some("a=b&uploads")));
    }
}
