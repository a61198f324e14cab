//! Scalar types of the models that JSON cannot carry directly.

use base64::Engine as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A `blob` member: raw bytes, base64 on the JSON wire.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Blob(pub Vec<u8>);

impl Serialize for Blob {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Blob {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD
            .decode(s.as_bytes())
            .map(Blob)
            .map_err(|_| serde::de::Error::custom("Base64 encoded length is expected a multiple of 4 bytes but found a non-conforming value"))
    }
}

/// A `timestamp` member: epoch seconds (fractional), the JSON protocols' wire form.
#[derive(Clone, Copy, Debug, Default, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timestamp(pub f64);

impl Timestamp {
    pub fn from_millis(ms: i64) -> Self {
        Timestamp(ms as f64 / 1000.0)
    }
    pub fn millis(self) -> i64 {
        (self.0 * 1000.0).round() as i64
    }
    /// ISO 8601 with milliseconds, as the XML protocols print timestamps.
    pub fn iso8601(self) -> String {
        stratus_core::ids::iso8601_ms(self.millis())
    }
}
