//! Golden wire tests of the REST protocols: requests exactly as botocore serializes them
//! (`tests/golden/requests.json`, made by `xtask/golden.py`) are routed and decoded into the
//! generated shapes of two rest services (Lambda: rest-json; CloudFront: rest-xml), and
//! answers rendered by the generated encoders are written to `CARGO_TARGET_TMPDIR` for
//! `tests/test_rest_protocols.py`, which parses them with botocore's own parsers.

#[path = "generated/cloudfront.rs"]
#[allow(clippy::all)]
mod cloudfront;
// Lambda's own generated code: it depends only on this crate, serde and regex.
#[path = "../../stratus-lambda/src/generated.rs"]
#[allow(clippy::all)]
mod lambda;

use std::collections::HashMap;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use stratus_protocol::rest::{self, FromRest, RestRequest, ToRest};
use stratus_protocol::types::{Blob, Timestamp};
use stratus_protocol::validate::Validate;
use stratus_protocol::{ApiRequest, ApiResponse};

struct Golden {
    service: String,
    operation: String,
    method: Method,
    path: String,
    query: String,
    headers: HeaderMap,
    body: Bytes,
}

fn goldens() -> Vec<Golden> {
    let raw: serde_json::Value =
        serde_json::from_str(include_str!("golden/requests.json")).expect("golden requests parse");
    raw.as_array()
        .unwrap()
        .iter()
        .map(|r| {
            let mut headers = HeaderMap::new();
            for (k, v) in r["headers"].as_object().unwrap() {
                headers.insert(
                    HeaderName::from_bytes(k.as_bytes()).unwrap(),
                    HeaderValue::from_str(v.as_str().unwrap()).unwrap(),
                );
            }
            Golden {
                service: r["service"].as_str().unwrap().into(),
                operation: r["operation"].as_str().unwrap().into(),
                method: r["method"].as_str().unwrap().parse().unwrap(),
                path: r["path"].as_str().unwrap().into(),
                query: r["query"].as_str().unwrap().into(),
                headers,
                body: Bytes::from(
                    base64::engine::general_purpose::STANDARD
                        .decode(r["body"].as_str().unwrap())
                        .unwrap(),
                ),
            }
        })
        .collect()
}

fn decode<T: FromRest>(g: &Golden, routes: &[rest::Route]) -> T {
    let api = ApiRequest {
        method: &g.method,
        path: &g.path,
        query: (!g.query.is_empty()).then_some(g.query.as_str()),
        headers: &g.headers,
        body: &g.body,
    };
    let params = rest::query_pairs(api.query);
    let (route, labels) = rest::find_route(routes, g.method.as_str(), &g.path, &params)
        .unwrap_or_else(|| panic!("no route for {} {}", g.method, g.path));
    assert_eq!(
        route.operation, g.operation,
        "{} {} routed to the wrong operation",
        g.method, g.path
    );
    T::from_rest(&RestRequest::new(&api, labels)).unwrap_or_else(|e| panic!("{}: {e:?}", g.operation))
}

fn golden(service: &str, operation: &str, nth: usize) -> Golden {
    goldens()
        .into_iter()
        .filter(|g| g.service == service && g.operation == operation)
        .nth(nth)
        .unwrap_or_else(|| panic!("no golden request {service}.{operation}#{nth}"))
}

#[test]
fn lambda_invoke_binds_labels_headers_query_and_payload() {
    let i: lambda::InvocationRequest = decode(&golden("lambda", "Invoke", 0), lambda::ROUTES);
    assert_eq!(
        i.function_name.as_deref(),
        Some("arn:aws:lambda:us-east-1:000000000000:function:echo")
    );
    assert_eq!(i.qualifier.as_deref(), Some("live"));
    assert_eq!(i.invocation_type.as_deref(), Some("Event"));
    assert_eq!(i.log_type.as_deref(), Some("Tail"));
    assert_eq!(i.client_context.as_deref(), Some("eyJhIjoxfQ=="));
    assert_eq!(i.payload, Some(Blob(br#"{"name": "x"}"#.to_vec())));
    assert_eq!(i.violations(), None);
    // Labels are decoded once: an encoded `/` stays inside the label. The model's pattern then
    // rejects the name, as AWS does.
    let i: lambda::InvocationRequest = decode(&golden("lambda", "Invoke", 1), lambda::ROUTES);
    assert_eq!(i.function_name.as_deref(), Some("my fn/odd"));
    assert_eq!(i.payload, None);
    assert!(
        i.violations()
            .unwrap()
            .starts_with("1 validation error detected: Value 'my fn/odd' at 'functionName'")
    );
}

#[test]
fn lambda_query_and_json_bodies() {
    let l: lambda::ListFunctionsRequest = decode(&golden("lambda", "ListFunctions", 0), lambda::ROUTES);
    assert_eq!(l.max_items, Some(5));
    assert_eq!(l.marker.as_deref(), Some("next token+/="));
    assert_eq!(l.function_version.as_deref(), Some("ALL"));
    let g: lambda::GetFunctionRequest = decode(&golden("lambda", "GetFunction", 0), lambda::ROUTES);
    assert_eq!(
        (g.function_name.as_deref(), g.qualifier.as_deref()),
        (Some("echo"), Some("3"))
    );
    let c: lambda::CreateFunctionRequest = decode(&golden("lambda", "CreateFunction", 0), lambda::ROUTES);
    assert_eq!(c.violations(), None);
    assert_eq!(c.function_name.as_deref(), Some("echo"));
    assert_eq!(c.code.unwrap().zip_file, Some(Blob(b"PK\x03\x04zip".to_vec())));
    assert_eq!(c.memory_size, Some(256));
    assert_eq!(c.publish, Some(true));
    let vars = c.environment.unwrap().variables.unwrap();
    assert_eq!(vars.get("LEVEL").map(String::as_str), Some("two"));
    assert_eq!(c.tags.unwrap().get("team").map(String::as_str), Some("core"));
    let d: lambda::DeleteFunctionRequest = decode(&golden("lambda", "DeleteFunction", 0), lambda::ROUTES);
    assert_eq!(d.qualifier.as_deref(), Some("2"));
    let p: lambda::AddPermissionRequest = decode(&golden("lambda", "AddPermission", 0), lambda::ROUTES);
    assert_eq!(p.function_name.as_deref(), Some("echo"));
    assert_eq!(p.principal.as_deref(), Some("s3.amazonaws.com"));
}

#[test]
fn cloudfront_xml_bodies_headers_and_query() {
    let c: cloudfront::CreateFunctionRequest =
        decode(&golden("cloudfront", "CreateFunction", 0), cloudfront::ROUTES);
    assert_eq!(c.violations(), None);
    assert_eq!(c.name.as_deref(), Some("rewrite"));
    let cfg = c.function_config.unwrap();
    assert_eq!(cfg.comment.as_deref(), Some("a & b <c>"));
    assert_eq!(cfg.runtime.as_deref(), Some("cloudfront-js-2.0"));
    let kvs = cfg.key_value_store_associations.unwrap();
    assert_eq!(kvs.quantity, Some(2));
    let arns: Vec<_> = kvs
        .items
        .unwrap()
        .into_iter()
        .map(|k| k.key_value_store_arn.unwrap())
        .collect();
    assert_eq!(
        arns,
        [
            "arn:aws:cloudfront::000000000000:key-value-store/4f4e1c38-0000-4000-8000-000000000001",
            "arn:aws:cloudfront::000000000000:key-value-store/4f4e1c38-0000-4000-8000-000000000002"
        ]
    );
    assert_eq!(
        c.function_code,
        Some(Blob(
            b"function handler(event) { return event.request; }".to_vec()
        ))
    );
    let d: cloudfront::DescribeFunctionRequest =
        decode(&golden("cloudfront", "DescribeFunction", 0), cloudfront::ROUTES);
    assert_eq!(
        (d.name.as_deref(), d.stage.as_deref()),
        (Some("rewrite"), Some("LIVE"))
    );
    let l: cloudfront::ListFunctionsRequest =
        decode(&golden("cloudfront", "ListFunctions", 0), cloudfront::ROUTES);
    assert_eq!(
        (l.marker.as_deref(), l.max_items.as_deref(), l.stage.as_deref()),
        (Some("m1"), Some("10"), Some("DEVELOPMENT"))
    );
    let x: cloudfront::DeleteFunctionRequest =
        decode(&golden("cloudfront", "DeleteFunction", 0), cloudfront::ROUTES);
    assert_eq!(x.if_match.as_deref(), Some("ETAG123"));
}

#[test]
fn malformed_bodies_are_client_errors() {
    let mut g = golden("lambda", "CreateFunction", 0);
    g.body = Bytes::from_static(b"{\"FunctionName\": 12");
    let api = ApiRequest {
        method: &g.method,
        path: &g.path,
        query: None,
        headers: &g.headers,
        body: &g.body,
    };
    let err = lambda::CreateFunctionRequest::from_rest(&RestRequest::new(&api, vec![])).unwrap_err();
    assert_eq!((err.code.as_ref(), err.status), ("SerializationException", 400));
    let mut g = golden("cloudfront", "CreateFunction", 0);
    g.body = Bytes::from_static(b"<CreateFunctionRequest><Name>x</CreateFunctionRequest>");
    let api = ApiRequest {
        method: &g.method,
        path: &g.path,
        query: None,
        headers: &g.headers,
        body: &g.body,
    };
    let err = cloudfront::CreateFunctionRequest::from_rest(&RestRequest::new(&api, vec![])).unwrap_err();
    assert_eq!((err.code.as_ref(), err.status), ("MalformedXML", 400));
    let g = golden("lambda", "ListFunctions", 0);
    let q = "MaxItems=lots";
    let api = ApiRequest {
        method: &g.method,
        path: &g.path,
        query: Some(q),
        headers: &g.headers,
        body: &g.body,
    };
    assert!(lambda::ListFunctionsRequest::from_rest(&RestRequest::new(&api, vec![])).is_err());
}

fn rendered(service: &str, operation: &str, resp: ApiResponse) -> serde_json::Value {
    let headers: HashMap<String, String> = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    serde_json::json!({
        "service": service,
        "operation": operation,
        "status": resp.status().as_u16(),
        "headers": headers,
        "body": base64::engine::general_purpose::STANDARD.encode(resp.body()),
    })
}

fn status_of(routes: &[rest::Route], op: &str) -> u16 {
    routes.iter().find(|r| r.operation == op).unwrap().status
}

#[test]
fn answers_for_botocore() {
    let mut out = Vec::new();
    let inv = lambda::InvocationResponse {
        status_code: Some(200),
        function_error: Some("Unhandled".into()),
        log_result: Some("U1RBUlQ=".into()),
        payload: Some(Blob(br#"{"errorMessage":"boom"}"#.to_vec())),
        executed_version: Some("$LATEST".into()),
        ..Default::default()
    };
    out.push(rendered(
        "lambda",
        "Invoke",
        inv.to_rest(status_of(lambda::ROUTES, "Invoke")),
    ));
    let fc = lambda::FunctionConfiguration {
        function_name: Some("echo".into()),
        memory_size: Some(256),
        runtime: Some("python3.12".into()),
        environment: Some(lambda::EnvironmentResponse {
            variables: Some(HashMap::from([("A".to_string(), "1".to_string())])),
            ..Default::default()
        }),
        ..Default::default()
    };
    out.push(rendered(
        "lambda",
        "CreateFunction",
        fc.to_rest(status_of(lambda::ROUTES, "CreateFunction")),
    ));
    let list = lambda::ListFunctionsResponse {
        next_marker: Some("m2".into()),
        functions: Some(vec![fc]),
    };
    out.push(rendered(
        "lambda",
        "ListFunctions",
        list.to_rest(status_of(lambda::ROUTES, "ListFunctions")),
    ));
    let summary = cloudfront::FunctionSummary {
        name: Some("rewrite".into()),
        status: Some("UNPUBLISHED".into()),
        function_config: Some(cloudfront::FunctionConfig {
            comment: Some("a & b <c>".into()),
            runtime: Some("cloudfront-js-2.0".into()),
            key_value_store_associations: Some(cloudfront::KeyValueStoreAssociations {
                quantity: Some(1),
                items: Some(vec![cloudfront::KeyValueStoreAssociation {
                    key_value_store_arn: Some("arn:aws:cloudfront::000000000000:key-value-store/4f4e1c38-0000-4000-8000-000000000001".into()),
                }]),
            }),
        }),
        function_metadata: Some(cloudfront::FunctionMetadata {
            function_arn: Some("arn:aws:cloudfront::000000000000:function/rewrite".into()),
            stage: Some("DEVELOPMENT".into()),
            created_time: Some(Timestamp(1_700_000_000.0)),
            last_modified_time: Some(Timestamp(1_700_000_100.5)),
        }),
    };
    let created = cloudfront::CreateFunctionResult {
        function_summary: Some(summary.clone()),
        location: Some("https://cloudfront.amazonaws.com/2020-05-31/function/rewrite".into()),
        e_tag: Some("ETVPDKIKX0DER".into()),
    };
    out.push(rendered(
        "cloudfront",
        "CreateFunction",
        created.to_rest(status_of(cloudfront::ROUTES, "CreateFunction")),
    ));
    let list = cloudfront::ListFunctionsResult {
        function_list: Some(cloudfront::FunctionList {
            next_marker: None,
            max_items: Some(100),
            quantity: Some(1),
            items: Some(vec![summary]),
        }),
    };
    out.push(rendered(
        "cloudfront",
        "ListFunctions",
        list.to_rest(status_of(cloudfront::ROUTES, "ListFunctions")),
    ));
    assert_eq!(status_of(cloudfront::ROUTES, "CreateFunction"), 201);
    // Errors in each protocol's shape.
    let e = stratus_protocol::AwsError::new(
        "ResourceNotFoundException",
        404,
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope",
    );
    let mut v = rendered(
        "lambda",
        "GetFunction",
        e.render(stratus_protocol::Protocol::RestJson, "rid-1"),
    );
    v["label"] = "error".into();
    out.push(v);
    let e = stratus_protocol::AwsError::new("NoSuchFunctionExists", 404, "The function does not exist.");
    let mut v = rendered(
        "cloudfront",
        "DescribeFunction",
        e.render(stratus_protocol::Protocol::RestXml, "rid-2"),
    );
    v["label"] = "error".into();
    out.push(v);
    let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("rest-responses.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&out).unwrap()).unwrap();
}
