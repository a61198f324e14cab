//! DynamoDB's data model as a pure engine: attribute values, exact 38-digit numbers with an
//! order-preserving key encoding, item size rules, and (next) the expression languages.
//!
//! No I/O, no async, no dependency on other Stratus crates: everything here is easy to test
//! with properties and to fuzz.

pub mod number;
pub mod value;

pub use number::{Number, NumberError};
pub use value::{AttributeValue, Item};
