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
