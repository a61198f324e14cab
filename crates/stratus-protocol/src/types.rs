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

/// A `timestamp` member whose model asks for ISO 8601 on the JSON wire
/// (`"2026-11-29T18:00:00Z"`), as API Gateway's v2 API prints dates. Epoch seconds are
/// accepted on input too.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord)]
pub struct IsoTimestamp(pub i64);

impl IsoTimestamp {
    pub fn from_millis(ms: i64) -> Self {
        IsoTimestamp(ms)
    }
    pub fn millis(self) -> i64 {
        self.0
    }
}

impl Serialize for IsoTimestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = time::OffsetDateTime::from_unix_timestamp(self.0.div_euclid(1000))
            .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
        let f = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
        s.serialize_str(&t.format(&f).unwrap_or_default())
    }
}

impl<'de> Deserialize<'de> for IsoTimestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Wire {
            Epoch(f64),
            Text(String),
        }
        match Wire::deserialize(d)? {
            Wire::Epoch(secs) => Ok(IsoTimestamp((secs * 1000.0).round() as i64)),
            Wire::Text(text) => {
                time::OffsetDateTime::parse(&text, &time::format_description::well_known::Rfc3339)
                    .map(|t| IsoTimestamp((t.unix_timestamp_nanos() / 1_000_000) as i64))
                    .map_err(|_| {
                        serde::de::Error::custom(format!("could not parse '{text}' as an ISO 8601 timestamp"))
                    })
            }
        }
    }
}
