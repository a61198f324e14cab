//! Identifiers in the forms AWS uses.

use rand::Rng;

/// A request id in AWS's UUID form.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

const KEY_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// An access key id: a four-letter prefix (`ASIA` temporary, `AKIA` long-term) and 16 more.
pub fn access_key_id(prefix: &str) -> String {
    let mut rng = rand::rng();
    let mut s = String::with_capacity(20);
    s.push_str(prefix);
    for _ in 0..16 {
        s.push(KEY_CHARS[rng.random_range(0..KEY_CHARS.len())] as char);
    }
    s
}

/// A random secret of `len` base64-alphabet characters.
pub fn secret(len: usize) -> String {
    const CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut rng = rand::rng();
    (0..len)
        .map(|_| CHARS[rng.random_range(0..CHARS.len())] as char)
        .collect()
}

/// A unique id such as the `AROA...` role ids STS prints.
pub fn unique_id(prefix: &str) -> String {
    access_key_id(prefix)
}

/// A stable 64-bit hash (FNV-1a) for ids and fingerprints that must not change between runs
/// or processes (std's hasher is randomly seeded).
pub fn stable_hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf29ce484222325, |h, b| {
        (h ^ *b as u64).wrapping_mul(0x100000001b3)
    })
}

/// Formats epoch milliseconds as ISO 8601 with milliseconds, as XML protocols print timestamps.
pub fn iso8601_ms(epoch_ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(epoch_ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let f = time::macros::format_description!(
        "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
    );
    t.format(&f).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_ids_have_aws_shape() {
        let k = access_key_id("ASIA");
        assert_eq!(k.len(), 20);
        assert!(k.starts_with("ASIA"));
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_700_000_000_123), "2023-11-14T22:13:20.123Z");
    }
}
