//! DynamoDB's data model and expression languages as a pure engine: attribute values, exact
//! 38-digit numbers with an order-preserving key encoding, item size rules, and the
//! condition / filter / key condition / projection / update expressions (parser, validation
//! with DynamoDB's messages, evaluation).
//!
//! No I/O, no async, no dependency on other Stratus crates: everything here is easy to test
//! with properties and to fuzz.

pub mod eval;
pub mod expr;
pub mod number;
pub mod partiql;
pub mod reserved;
pub mod value;

pub use number::{Number, NumberError};
pub use value::{AttributeValue, Item};
