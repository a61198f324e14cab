//! The JSON protocols (`awsJson1_0`, `awsJson1_1`): `POST /` with the operation in
//! `X-Amz-Target: Prefix.Operation`, JSON bodies both ways.

use bytes::Bytes;
use http::{HeaderValue, Response};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::AwsError;

/// The operation named by `X-Amz-Target`, when it carries the service's prefix.
pub fn target_operation<'a>(target: &'a str, prefix: &str) -> Option<&'a str> {
    target.strip_prefix(prefix)?.strip_prefix('.')
}

/// Decodes an input shape. An empty body is `{}`; anything unparsable, or members of the
/// wrong type, is a `SerializationException`.
pub fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, AwsError> {
    let body = if body.iter().all(u8::is_ascii_whitespace) {
        b"{}".as_slice()
    } else {
        body
    };
    serde_json::from_slice(body).map_err(|e| {
        let msg = match e.classify() {
            serde_json::error::Category::Data => format!("Unexpected value in request: {e}"),
            _ => "Start of structure or map found where not expected.".to_string(),
        };
        AwsError::serialization(msg)
    })
}

/// Encodes an output shape as a 200 answer; `crc32` adds the `x-amz-crc32` header DynamoDB sends.
pub fn encode<T: Serialize>(output: &T, version: &'static str, crc32: bool) -> Response<Bytes> {
    let body = serde_json::to_vec(output).unwrap_or_else(|_| b"{}".to_vec());
    respond(body, version, crc32)
}

/// A 200 answer carrying an already encoded JSON body.
pub fn respond(body: Vec<u8>, version: &'static str, crc32: bool) -> Response<Bytes> {
    let mut resp = Response::new(Bytes::new());
    let h = resp.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static(if version == "1.1" {
            "application/x-amz-json-1.1"
        } else {
            "application/x-amz-json-1.0"
        }),
    );
    if crc32 {
        h.insert("x-amz-crc32", HeaderValue::from(crc32fast::hash(&body)));
    }
    *resp.body_mut() = Bytes::from(body);
    resp
}

/// One operation end to end: decode the input, answer a validation error if the model's
/// constraints fail, run `op`, encode its output.
pub async fn serve<I, O, E, F>(
    body: &[u8],
    protocol: crate::Protocol,
    crc32: bool,
    op: impl FnOnce(I) -> F,
) -> Result<Response<Bytes>, AwsError>
where
    I: DeserializeOwned + crate::validate::Validate,
    O: Serialize,
    E: Into<AwsError>,
    F: Future<Output = Result<O, E>>,
{
    let output = op(input(body, protocol)?).await.map_err(Into::into)?;
    Ok(encode(&output, version(protocol), crc32))
}

/// Decodes an input shape and checks the model's constraints on it.
pub fn input<I: DeserializeOwned + crate::validate::Validate>(
    body: &[u8],
    protocol: crate::Protocol,
) -> Result<I, AwsError> {
    let input: I = decode(body)?;
    match input.violations() {
        Some(message) => Err(AwsError::validation(protocol, message)),
        None => Ok(input),
    }
}

/// The JSON protocol version (`1.0`, `1.1`) answers are labelled with.
pub fn version(protocol: crate::Protocol) -> &'static str {
    match protocol {
        crate::Protocol::Json { version } => version,
        _ => "1.0",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct In {
        #[serde(rename = "TableName")]
        table_name: Option<String>,
    }

    #[test]
    fn decoding_rules() {
        let v: In = decode(b"").unwrap();
        assert!(v.table_name.is_none());
        let v: In = decode(br#"{"TableName":"t","Other":1}"#).unwrap();
        assert_eq!(v.table_name.as_deref(), Some("t"));
        assert_eq!(
            decode::<In>(b"{not json").unwrap_err().code,
            "SerializationException"
        );
        assert_eq!(
            decode::<In>(br#"{"TableName":5}"#).unwrap_err().code,
            "SerializationException"
        );
        assert_eq!(
            target_operation("DynamoDB_20120810.ListTables", "DynamoDB_20120810"),
            Some("ListTables")
        );
        assert_eq!(target_operation("Other.ListTables", "DynamoDB_20120810"), None);
    }
}
