//! Which service a request is for: SigV4 credential scope first, then `X-Amz-Target`,
//! then what the body or path says.

use http::request::Parts;
use stratus_protocol::{ApiResponse, AwsError, Protocol};

/// The services behind the endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Service {
    Sts,
    DynamoDb,
}

/// Signing names of AWS services Stratus will serve but does not yet.
const PLANNED: &[&str] = &[
    "lambda",
    "s3",
    "apigateway",
    "execute-api",
    "sqs",
    "sns",
    "events",
    "kinesis",
    "firehose",
    "states",
    "cognito-idp",
    "cognito-identity",
    "logs",
    "cloudfront",
    "monitoring",
    "iam",
];

impl Service {
    pub fn by_signing_name(name: &str) -> Option<Service> {
        match name {
            "sts" => Some(Service::Sts),
            "dynamodb" => Some(Service::DynamoDb),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Service::Sts => "sts",
            Service::DynamoDb => "dynamodb",
        }
    }

    pub fn protocol(self) -> Protocol {
        match self {
            Service::Sts => stratus_sts::PROTOCOL,
            Service::DynamoDb => stratus_dynamodb::PROTOCOL,
        }
    }

    pub const ALL: &[Service] = &[Service::Sts, Service::DynamoDb];
}

/// Identifies the service of a request that carries no parseable signature.
pub fn identify(parts: &Parts) -> Option<Service> {
    let target = parts.headers.get("x-amz-target").and_then(|v| v.to_str().ok());
    if let Some(t) = target
        && t.starts_with(stratus_dynamodb::generated::TARGET_PREFIX)
    {
        return Some(Service::DynamoDb);
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
