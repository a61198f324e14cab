//! The wire layer of Stratus: SigV4 verification, the AWS protocols (json 1.0/1.1, query,
//! rest-json, rest-xml) as decoding helpers and encoders, error rendering, and the runtime
//! support that generated model code (shapes, validators) builds on.
//!
//! Services see typed inputs and outputs only; this crate turns bytes into those and back.
//! It depends on `stratus-core` alone and performs no I/O.

pub mod error;
pub mod json;
pub mod query;
pub mod rest;
pub mod sigv4;
pub mod types;
pub mod validate;
pub mod xml;

pub use error::{AwsError, Protocol, ServiceError};

/// What a service sees of an HTTP request: everything but the connection.
pub struct ApiRequest<'a> {
    pub method: &'a http::Method,
    /// The path as received, still percent-encoded.
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a http::HeaderMap,
    pub body: &'a bytes::Bytes,
}

impl ApiRequest<'_> {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// An operation's answer, ready for the wire.
pub type ApiResponse = http::Response<bytes::Bytes>;
