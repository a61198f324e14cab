//! Property test: whatever the official `aws-sigv4` signer (the one aws-sdk-rust uses) signs,
//! our verifier accepts — header and presigned forms, double-encoded and S3-style paths — and
//! any change to the signed parts is rejected.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{
    PercentEncodingMode, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    UriPathNormalizationMode, sign,
};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use http::{HeaderMap, HeaderName, HeaderValue};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use proptest::prelude::*;
use stratus_protocol::sigv4::{self, AuthError, RequestParts};

const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[derive(Debug, Clone)]
struct Req {
    method: &'static str,
    segments: Vec<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    s3: bool,
    presigned: bool,
}

fn segment() -> impl Strategy<Value = String> {
    proptest::string::string_regex("[a-zA-Z0-9 _.~:@!$&'()*+,;=%é中-]{1,12}").unwrap()
}

fn req() -> impl Strategy<Value = Req> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT", "DELETE"]),
        prop::collection::vec(segment(), 0..4),
        prop::collection::vec(("[a-zA-Z0-9_.-]{1,8}", "[a-zA-Z0-9 /+=_.:-]{0,10}"), 0..4),
        prop::collection::vec(
            ("x-[a-z0-9-]{1,10}", "[a-zA-Z0-9][a-zA-Z0-9 ,;=]{0,12}[a-zA-Z0-9]"),
            0..4,
        ),
        prop::collection::vec(any::<u8>(), 0..64),
        any::<bool>(),
        any::<bool>(),
    )
        .prop_map(|(method, segments, query, headers, body, s3, presigned)| Req {
            method,
            segments,
            query,
            headers,
            body,
            s3,
            presigned,
        })
}

struct Signed {
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

fn sign_with_oracle(r: &Req, now: SystemTime) -> Signed {
    let path = if r.segments.is_empty() {
        "/".to_string()
    } else {
        r.segments
            .iter()
            .map(|s| format!("/{}", utf8_percent_encode(s, UNRESERVED)))
            .collect::<String>()
    };
    let query: Vec<String> = r
        .query
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, UNRESERVED),
                utf8_percent_encode(v, UNRESERVED)
            )
        })
        .collect();
    let query = query.join("&");
    let uri = if query.is_empty() {
        format!("http://localhost:4566{path}")
    } else {
        format!("http://localhost:4566{path}?{query}")
    };
    let mut headers: Vec<(String, String)> = vec![("host".into(), "localhost:4566".into())];
    let mut seen = std::collections::HashSet::new();
    for (k, v) in &r.headers {
        if seen.insert(k.clone()) {
            headers.push((k.clone(), v.clone()));
        }
    }
    let mut settings = SigningSettings::default();
    if r.s3 {
        settings.percent_encoding_mode = PercentEncodingMode::Single;
        settings.uri_path_normalization_mode = UriPathNormalizationMode::Disabled;
    }
    if r.presigned {
        settings.signature_location = SignatureLocation::QueryParams;
        settings.expires_in = Some(Duration::from_secs(300));
    }
    let identity: Identity = Credentials::new("AKIDEXAMPLE", "secret/key+value", None, None, "test").into();
    let params = v4::SigningParams::builder()
        .identity(&identity)
        .region("us-east-1")
        .name(if r.s3 { "s3" } else { "dynamodb" })
        .time(now)
        .settings(settings)
        .build()
        .unwrap()
        .into();
    let body = if r.presigned {
        SignableBody::UnsignedPayload
    } else {
        SignableBody::Bytes(&r.body)
    };
    let signable = SignableRequest::new(
        r.method,
        uri.clone(),
        headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
        body,
    )
    .unwrap();
    let (instructions, _) = sign(signable, &params).unwrap().into_parts();
    let mut map = HeaderMap::new();
    for (k, v) in &headers {
        map.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    for (k, v) in instructions.headers() {
        map.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    let mut full_query = query;
    for (k, v) in instructions.params() {
        if !full_query.is_empty() {
            full_query.push('&');
        }
        full_query.push_str(&format!("{}={}", k, utf8_percent_encode(v, UNRESERVED)));
    }
    Signed {
        path,
        query: (!full_query.is_empty()).then_some(full_query),
        headers: map,
    }
}

fn check(r: &Req, s: &Signed, body: &[u8]) -> Result<(), AuthError> {
    let parts = RequestParts {
        method: r.method,
        path: &s.path,
        query: s.query.as_deref(),
        headers: &s.headers,
        authority: None,
    };
    let sig = sigv4::parse(&parts)?.ok_or(AuthError::Missing)?;
    sigv4::check_time(&sig, SystemTime::now())?;
    sigv4::verify(&sig, &parts, "secret/key+value", body, !r.s3)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn oracle_signatures_verify(r in req()) {
        let signed = sign_with_oracle(&r, SystemTime::now());
        prop_assert_eq!(check(&r, &signed, &r.body), Ok(()));
    }

    #[test]
    fn changed_requests_are_rejected(r in req(), flip in any::<u8>()) {
        let signed = sign_with_oracle(&r, SystemTime::now());
        // A different method.
        let other = Req { method: if r.method == "GET" { "PUT" } else { "GET" }, ..r.clone() };
        prop_assert!(check(&other, &signed, &r.body).is_err());
        // A different path.
        let moved = Signed { path: format!("{}x", signed.path), query: signed.query.clone(), headers: signed.headers.clone() };
        prop_assert!(check(&r, &moved, &r.body).is_err());
        // A different body, when the body is signed.
        if !r.presigned {
            let mut body = r.body.clone();
            body.push(flip);
            prop_assert!(check(&r, &signed, &body).is_err());
        }
        // A different signed header value.
        if let Some((k, _)) = r.headers.first() {
            let mut headers = signed.headers.clone();
            headers.insert(HeaderName::from_bytes(k.as_bytes()).unwrap(), HeaderValue::from_static("tampered"));
            let tampered = Signed { path: signed.path.clone(), query: signed.query.clone(), headers };
            prop_assert!(check(&r, &tampered, &r.body).is_err());
        }
    }
}

#[test]
fn wrong_secret_is_a_mismatch() {
    let r = Req {
        method: "POST",
        segments: vec![],
        query: vec![],
        headers: vec![],
        body: b"{}".to_vec(),
        s3: false,
        presigned: false,
    };
    let s = sign_with_oracle(&r, SystemTime::now());
    let parts = RequestParts {
        method: "POST",
        path: &s.path,
        query: None,
        headers: &s.headers,
        authority: None,
    };
    let sig = sigv4::parse(&parts).unwrap().unwrap();
    assert!(matches!(
        sigv4::verify(&sig, &parts, "other", b"{}", true),
        Err(AuthError::Mismatch { .. })
    ));
}
