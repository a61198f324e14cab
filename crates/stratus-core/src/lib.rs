//! Shared vocabulary of Stratus: configuration, the one clock, caller identities,
//! request context, ARNs and ids.
//!
//! This crate owns no I/O and must not depend on any other Stratus crate.

pub mod clock;
pub mod condition;
pub mod config;
pub mod context;
pub mod ids;

pub use clock::Clock;
pub use config::{AccessKeyConfig, Config, Durability, LambdaPrices};
pub use context::{Identity, RequestContext, SourceIp};
