//! Which service a request is for: SigV4 credential scope first, then `X-Amz-Target`,
//! then what the body or path says.

use http::request::Parts;
use stratus_protocol::{ApiResponse, AwsError, Protocol};

/// The services behind the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Sts,
    DynamoDb,
    Logs,
    Lambda,
    ApiGateway,
    Cognito,
}

/// Signing names of AWS services Stratus will serve but does not yet.
const PLANNED: &[&str] = &[
    "s3",
    "execute-api",
    "sqs",
    "sns",
    "events",
    "kinesis",
    "firehose",
    "states",
    "cognito-identity",
    "cloudfront",
    "monitoring",
    "iam",
];

impl Service {
    pub fn by_signing_name(name: &str) -> Option<Service> {
        match name {
            "sts" => Some(Service::Sts),
            "dynamodb" => Some(Service::DynamoDb),
            "logs" => Some(Service::Logs),
            "lambda" => Some(Service::Lambda),
            "apigateway" => Some(Service::ApiGateway),
            "cognito-idp" => Some(Service::Cognito),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::DynamoDb => "dynamodb",
            Service::Logs => "logs",
            Service::Lambda => "lambda",
            Service::ApiGateway => "apigateway",
            Service::Cognito => "cognito-idp",
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Service::Sts => stratus_sts::PROTOCOL,
            Service::DynamoDb => stratus_dynamodb::PROTOCOL,
            Service::Logs => stratus_logs::PROTOCOL,
            Service::Lambda => stratus_lambda::PROTOCOL,
            Service::ApiGateway => stratus_apigateway::PROTOCOL,
            Service::Cognito => stratus_cognito::PROTOCOL,
        }
    }

    pub const ALL: &[Service] = &[
        Service::Sts,
        Service::DynamoDb,
        Service::Logs,
        Service::Lambda,
        Service::ApiGateway,
        Service::Cognito,
    ];
}

/// Identifies the service of a request that carries no parseable signature.
pub fn identify(parts: &Parts) -> Option<Service> {
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(t) = target
        && t.starts_with(stratus_dynamodb::generated::TARGET_PREFIX)
    {
        return Some(Service::DynamoDb);
    }
    if let Some(t) = target
        && t.starts_with(stratus_logs::generated::TARGET_PREFIX)
    {
        return Some(Service::Logs);
    }
    if let Some(t) = target
        && t.starts_with(stratus_cognito::generated::TARGET_PREFIX)
    {
        return Some(Service::Cognito);
    }
    // Lambda's REST paths all start with a dated API version.
    let path = parts.uri.path();
    if [
        "/2015-03-31/",
        "/2016-08-19/",
        "/2017-03-31/",
        "/2017-10-31/",
        "/2018-10-31/",
        "/2019-09-25/",
        "/2019-09-30/",
        "/2020-04-22/",
        "/2020-06-30/",
        "/2021-07-20/",
        "/2021-10-31/",
        "/2022-07-20/",
        "/2024-08-31/",
        "/2025-09-09/",
        "/2025-11-30/",
        "/2025-12-01/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
    {
        return Some(Service::Lambda);
    }
    // API Gateway's v2 management API.
    let apigateway_v1 = [
        "/restapis",
        "/apikeys",
        "/usageplans",
        "/domainnames",
        "/tags/arn",
    ];
    if path == "/v2/apis"
        || path.starts_with("/v2/apis/")
        || path.starts_with("/v2/tags/")
        || apigateway_v1
            .iter()
            .any(|p| path == *p || path.starts_with(&format!("{p}/")) || path.starts_with(&format!("{p}?")))
    {
        return Some(Service::ApiGateway);
    }
    // The query protocol: an `Action` parameter (STS is the only query service so far).
    let query_action = parts.uri.query().is_some_and(|q| q.contains("Action="));
    let form = parts
        .headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    if query_action || form {
        return Some(Service::Sts);
    }
    None
}

/// Whether a request is for S3: signed for it (SigV4 header or presigned query, or SigV2),
/// addressed to a virtual-hosted bucket, or unsigned and claimed by no other service (S3 is
/// the one service that answers anonymous requests).
pub fn is_s3(parts: &Parts) -> bool {
    let website = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|h| stratus_s3::website_bucket(h).is_some());
    if website {
        return true;
    }
    if let Some(auth) = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if auth.starts_with("AWS4-HMAC-SHA256") {
            return auth.contains("/s3/aws4_request");
        }
        return auth.starts_with("AWS ");
    }
    if let Some(q) = parts.uri.query() {
        if q.contains("X-Amz-Credential=") {
            return q.contains("%2Fs3%2Faws4_request") || q.contains("/s3/aws4_request");
        }
        if q.contains("AWSAccessKeyId=") {
            return true;
        }
    }
    let host = parts
        .headers
        .get(http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.host())
        .unwrap_or("");
    let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
    if host.ends_with(".s3.localhost") || host == "s3.localhost" || host.ends_with(".s3-website.localhost") {
        return true;
    }
    identify(parts).is_none()
}

/// Whether a request is for Lambda (by its signature's scope or its path).
pub fn is_lambda(parts: &Parts) -> bool {
    let scoped = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("/lambda/aws4_request"));
    scoped || identify(parts) == Some(Service::Lambda)
}

/// The answer for a request no service claims.
pub fn unknown_service(name: &str, request_id: &str) -> ApiResponse {
    let protocol = Protocol::Json { version: "1.0" };
    let err = if PLANNED.contains(&name) {
        AwsError::new(
            "NotImplemented",
            501,
            format!("The service {name} is not implemented by Stratus yet"),
        )
    } else if name.is_empty() {
        AwsError::new(
            "UnknownService",
            400,
            "Could not tell which AWS service this request is for: sign it with SigV4 or send X-Amz-Target",
        )
    } else {
        AwsError::new(
            "UnknownService",
            400,
            format!("Stratus does not know the service '{name}'"),
        )
    };
    let mut resp = err.render(protocol, request_id);
    *resp.status_mut() = http::StatusCode::from_u16(err.status).unwrap_or(http::StatusCode::BAD_REQUEST);
    resp
}
