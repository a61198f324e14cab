//! Errors as AWS renders them. Each service has one error enum implementing [`ServiceError`];
//! the protocol layer turns it into the wire shape of the service's protocol.

use std::borrow::Cow;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode};

use crate::sigv4::AuthError;

/// Anything an operation can fail with.
pub trait ServiceError: std::fmt::Debug {
    /// The AWS error code (`ResourceNotFoundException`).
    fn code(&self) -> &str;
    /// HTTP status.
    fn status(&self) -> u16;
    /// The message clients print.
    fn message(&self) -> String;
    /// Client's fault (`Sender`) or the server's (`Receiver`).
    fn sender_fault(&self) -> bool {
        self.status() < 500
    }
}

/// The wire protocol a service speaks (botocore's `metadata.protocol`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// `awsJson1_0` / `awsJson1_1`: POST `/` with `X-Amz-Target`.
    Json {
        version: &'static str,
    },
    /// `awsQuery`: form-encoded `Action=...`, XML answers.
    Query {
        xml_namespace: &'static str,
    },
    RestJson,
    RestXml,
}

/// A rendered-ready AWS error: code, HTTP status, message, and the JSON `__type` namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsError {
    pub code: Cow<'static, str>,
    pub status: u16,
    pub message: String,
    /// Namespace that JSON protocols print before `#` in `__type`.
    pub namespace: &'static str,
    /// Members of the error shape beyond the message (JSON protocols), e.g. DynamoDB's
    /// `Item` on a failed condition or `CancellationReasons` of a cancelled transaction.
    pub extra: Option<serde_json::Map<String, serde_json::Value>>,
}

const CORAL_SERVICE: &str = "com.amazon.coral.service";
const CORAL_VALIDATE: &str = "com.amazon.coral.validate";

impl AwsError {
    pub fn new(code: impl Into<Cow<'static, str>>, status: u16, message: impl Into<String>) -> Self {
        Self {
            code: code.into(),
            status,
            message: message.into(),
            namespace: CORAL_SERVICE,
            extra: None,
        }
    }

    pub fn from_service(e: &dyn ServiceError, namespace: &'static str) -> Self {
        Self {
            code: Cow::Owned(e.code().to_string()),
            status: e.status(),
            message: e.message(),
            namespace,
            extra: None,
        }
    }

    pub fn with_namespace(mut self, ns: &'static str) -> Self {
        self.namespace = ns;
        self
    }

    /// `ValidationException` (JSON) or `ValidationError` (query) with the model-checker message.
    pub fn validation(protocol: Protocol, message: String) -> Self {
        let code = if matches!(protocol, Protocol::Query { .. }) {
            "ValidationError"
        } else {
            "ValidationException"
        };
        Self {
            code: code.into(),
            status: 400,
            message,
            namespace: CORAL_VALIDATE,
            extra: None,
        }
    }

    /// A body that does not parse as the protocol's format, or members of the wrong type.
    pub fn serialization(message: impl Into<String>) -> Self {
        Self::new("SerializationException", 400, message)
    }

    pub fn unknown_operation(protocol: Protocol, name: &str) -> Self {
        match protocol {
            Protocol::Query { .. } => Self::new(
                "InvalidAction",
                400,
                format!("Could not find operation {name} for version"),
            ),
            _ => Self::new("UnknownOperationException", 400, String::new()),
        }
    }

    /// An operation of the model that Stratus does not implement yet.
    pub fn not_implemented(operation: &str) -> Self {
        Self::new(
            "NotImplemented",
            501,
            format!("The operation {operation} is not implemented by Stratus yet"),
        )
    }

    pub fn internal(request_id: &str) -> Self {
        Self::new(
            "InternalFailure",
            500,
            format!(
                "The request processing has failed because of an unknown error, exception or failure. (request id {request_id})"
            ),
        )
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            "RequestEntityTooLarge",
            413,
            format!("Request body is larger than the limit of {limit} bytes"),
        )
    }

    /// The error each protocol gives for an authentication failure.
    pub fn auth(protocol: Protocol, e: &AuthError) -> Self {
        let query = matches!(protocol, Protocol::Query { .. } | Protocol::RestXml);
        let status = if query { 403 } else { 400 };
        let signature_mismatch = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
        let (code, message): (&'static str, String) = match e {
            AuthError::Missing => (
                if query {
                    "MissingAuthenticationToken"
                } else {
                    "MissingAuthenticationTokenException"
                },
                "Request is missing Authentication Token".into(),
            ),
            AuthError::Incomplete(m) => (
                if query {
                    "IncompleteSignature"
                } else {
                    "IncompleteSignatureException"
                },
                m.clone(),
            ),
            AuthError::UnknownKey => (
                if query {
                    "InvalidClientTokenId"
                } else {
                    "UnrecognizedClientException"
                },
                "The security token included in the request is invalid.".into(),
            ),
            AuthError::InvalidToken => (
                if query {
                    "InvalidClientTokenId"
                } else {
                    "UnrecognizedClientException"
                },
                "The security token included in the request is invalid.".into(),
            ),
            AuthError::ExpiredToken => (
                if query {
                    "ExpiredToken"
                } else {
                    "ExpiredTokenException"
                },
                "The security token included in the request is expired".into(),
            ),
            AuthError::Mismatch {
                canonical_request,
                string_to_sign,
            } => {
                let code = if query {
                    "SignatureDoesNotMatch"
                } else {
                    "InvalidSignatureException"
                };
                if canonical_request.is_empty() && !string_to_sign.is_empty() {
                    (code, string_to_sign.clone())
                } else if canonical_request.is_empty() {
                    (code, signature_mismatch.into())
                } else {
                    (
                        code,
                        format!(
                            "{signature_mismatch}\n\nThe Canonical String for this request should have been\n'{canonical_request}'\n\nThe String-to-Sign should have been\n'{string_to_sign}'\n"
                        ),
                    )
                }
            }
            AuthError::Expired(m) => (
                if query {
                    "SignatureDoesNotMatch"
                } else {
                    "InvalidSignatureException"
                },
                m.clone(),
            ),
        };
        Self::new(code, status, message)
    }

    fn error_response_xml(&self, namespace: Option<&str>, request_id: &str) -> String {
        let mut w = crate::xml::XmlWriter::new();
        match namespace {
            Some(ns) => w.open_ns("ErrorResponse", ns),
            None => w.open("ErrorResponse"),
        }
        w.open("Error");
        w.leaf("Type", if self.status < 500 { "Sender" } else { "Receiver" });
        w.leaf("Code", &self.code);
        w.leaf("Message", &self.message);
        w.close("Error");
        w.leaf("RequestId", request_id);
        w.close("ErrorResponse");
        w.finish()
    }

    /// Renders the error in `protocol`'s wire shape.
    pub fn render(&self, protocol: Protocol, request_id: &str) -> Response<Bytes> {
        let (content_type, body) = match protocol {
            Protocol::Json { version } => {
                let mut body = serde_json::Map::new();
                body.insert(
                    "__type".into(),
                    format!("{}#{}", self.namespace, self.code).into(),
                );
                body.insert("message".into(), self.message.clone().into());
                if let Some(extra) = &self.extra {
                    body.extend(extra.clone());
                }
                (
                    if version == "1.1" {
                        "application/x-amz-json-1.1"
                    } else {
                        "application/x-amz-json-1.0"
                    },
                    serde_json::Value::Object(body).to_string(),
                )
            }
            Protocol::RestJson => {
                let mut body = serde_json::Map::new();
                if let Some(extra) = &self.extra {
                    body.extend(extra.clone());
                }
                body.insert(
                    "Type".into(),
                    if self.status < 500 { "User" } else { "Service" }.into(),
                );
                body.insert("message".into(), self.message.clone().into());
                ("application/json", serde_json::Value::Object(body).to_string())
            }
            // The query protocol's form; rest-xml services other than S3 (CloudFront) use the
            // same one without a namespace (S3's own `<Error>` form is rendered by s3s).
            Protocol::Query { xml_namespace } => (
                "text/xml",
                self.error_response_xml(Some(xml_namespace), request_id),
            ),
            Protocol::RestXml => ("text/xml", self.error_response_xml(None, request_id)),
        };
        let mut resp = Response::new(Bytes::from(body));
        *resp.status_mut() = StatusCode::from_u16(self.status).unwrap_or(StatusCode::BAD_REQUEST);
        let h = resp.headers_mut();
        h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        if let Ok(v) = HeaderValue::from_str(&self.code) {
            h.insert("x-amzn-errortype", v);
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_and_query_shapes() {
        let e = AwsError::new("ResourceNotFoundException", 400, "Requested resource not found")
            .with_namespace("com.amazonaws.dynamodb.v20120810");
        let r = e.render(Protocol::Json { version: "1.0" }, "rid");
        let v: serde_json::Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(
            v["__type"],
            "com.amazonaws.dynamodb.v20120810#ResourceNotFoundException"
        );
        assert_eq!(r.status(), 400);
        let r = AwsError::auth(
            Protocol::Query {
                xml_namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
            },
            &AuthError::UnknownKey,
        )
        .render(
            Protocol::Query {
                xml_namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
            },
            "rid",
        );
        assert_eq!(r.status(), 403);
        let body = std::str::from_utf8(r.body()).unwrap();
        assert!(body.contains("<Code>InvalidClientTokenId</Code>"), "{body}");
        assert!(body.contains("<RequestId>rid</RequestId>"));
    }
}
