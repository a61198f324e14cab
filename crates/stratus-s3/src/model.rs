//! What S3 keeps in the store: bucket records, object versions, multipart uploads and parts,
//! their keys, and the encoding of an object record with its inline body.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use stratus_store::keys::{KeyBuf, decode_bytes};

/// Bucket name → [`BucketRecord`] (bucket names are global across accounts, as on AWS).
pub const BUCKETS: &str = "s3:buckets";
/// (bucket, key) → the latest [`ObjectRecord`] (a delete marker when that is the latest).
pub const OBJECTS: &str = "s3:objects";
/// (bucket, key, newest-first sequence) → every version, in buckets that ever had versioning.
pub const VERSIONS: &str = "s3:versions";
/// (bucket, key, upload id) → [`UploadRecord`].
pub const UPLOADS: &str = "s3:uploads";
/// (upload id, part number) → [`PartRecord`].
pub const PARTS: &str = "s3:parts";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BucketRecord {
    pub name: String,
    pub account: String,
    pub region: String,
    pub created_ms: i64,
    /// `Enabled` or `Suspended`; absent when versioning was never configured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub versioning: Option<String>,
    /// Canned ACL the bucket was given (`private` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<String>,
    /// Sub-resource configurations (cors, website, lifecycle, ...), as the S3 shapes.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub configs: BTreeMap<String, serde_json::Value>,
}

impl BucketRecord {
    /// Whether objects are kept as versions (versioning Enabled or Suspended).
    pub fn versioned(&self) -> bool {
        self.versioning.is_some()
    }
}

/// Where an object's bytes are.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub enum BodyRef {
    /// Small bodies live in the record itself (one store write, no file).
    #[default]
    Inline,
    /// Blob ids and sizes, in order (one per part for multipart objects).
    Blobs(Vec<(String, u64)>),
}

impl BodyRef {
    pub fn blob_ids(&self) -> Vec<String> {
        match self {
            BodyRef::Inline => Vec::new(),
            BodyRef::Blobs(b) => b.iter().map(|(id, _)| id.clone()).collect(),
        }
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ObjectRecord {
    /// Version id; `None` is the `null` version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub delete_marker: bool,
    pub size: u64,
    /// Without quotes.
    pub etag: String,
    pub last_modified_ms: i64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// Algorithm (`CRC32`, ...) and base64 value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<(String, String)>,
    /// `FULL_OBJECT` or `COMPOSITE`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parts: Option<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<(String, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    pub owner: String,
    pub body: BodyRef,
    /// The bytes of an [`BodyRef::Inline`] body (stored after the JSON header).
    #[serde(skip)]
    pub inline: bytes::Bytes,
}

impl ObjectRecord {
    /// `[u32 header length][JSON header][inline body]`.
    pub fn encode(&self) -> Vec<u8> {
        let header = serde_json::to_vec(self).expect("object records serialize");
        let mut out = Vec::with_capacity(4 + header.len() + self.inline.len());
        out.extend_from_slice(&(header.len() as u32).to_be_bytes());
        out.extend_from_slice(&header);
        out.extend_from_slice(&self.inline);
        out
    }

    pub fn decode(raw: &[u8]) -> Option<ObjectRecord> {
        let (mut rec, body_at) = Self::decode_header(raw)?;
        rec.inline = bytes::Bytes::copy_from_slice(&raw[body_at..]);
        Some(rec)
    }

    /// [`ObjectRecord::decode`] of a record the caller owns: the inline body is not copied.
    pub fn decode_owned(raw: Vec<u8>) -> Option<ObjectRecord> {
        let (mut rec, body_at) = Self::decode_header(&raw)?;
        rec.inline = bytes::Bytes::from(raw).slice(body_at..);
        Some(rec)
    }

    /// The record without its inline body, and where that body starts.
    fn decode_header(raw: &[u8]) -> Option<(ObjectRecord, usize)> {
        let len = u32::from_be_bytes(raw.get(..4)?.try_into().ok()?) as usize;
        let header = raw.get(4..4 + len)?;
        Some((serde_json::from_slice(header).ok()?, 4 + len))
    }

    pub fn blob_ids(&self) -> Vec<String> {
        self.body.blob_ids()
    }

    pub fn version_label(&self) -> String {
        self.version_id.clone().unwrap_or_else(|| "null".into())
    }
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct UploadRecord {
    pub upload_id: String,
    pub initiated_ms: i64,
    pub owner: String,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub checksum_algorithm: Option<String>,
    #[serde(default)]
    pub checksum_type: Option<String>,
    #[serde(default)]
    pub tags: Vec<(String, String)>,
    #[serde(default)]
    pub acl: Option<String>,
    #[serde(default)]
    pub storage_class: Option<String>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct PartRecord {
    pub etag: String,
    pub size: u64,
    pub last_modified_ms: i64,
    pub blob: String,
    #[serde(default)]
    pub checksum: Option<(String, String)>,
}

pub fn object_key(bucket: &str, key: &str) -> Vec<u8> {
    KeyBuf::new().str(bucket).str(key).finish()
}

/// The start of every object key of `bucket` whose name starts with `prefix`.
pub fn object_prefix(bucket: &str, prefix: &str) -> Vec<u8> {
    let mut out = KeyBuf::new().str(bucket).finish();
    escape_into(&mut out, prefix.as_bytes());
    out
}

/// Escapes like [`KeyBuf::str`] but without the terminator, so the result is a prefix of the
/// encoding of every string that starts with `part`.
fn escape_into(out: &mut Vec<u8>, part: &[u8]) {
    for &b in part {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

/// The object key encoded in a store key of [`OBJECTS`], [`VERSIONS`] or [`UPLOADS`].
pub fn decode_object_key(raw: &[u8]) -> Option<String> {
    let (_, rest) = decode_bytes(raw)?;
    let (key, _) = decode_bytes(rest)?;
    String::from_utf8(key).ok()
}

pub fn version_key(bucket: &str, key: &str, seq: u64) -> Vec<u8> {
    KeyBuf::new().str(bucket).str(key).u64(u64::MAX - seq).finish()
}

/// Version ids carry their sequence number, so a version is found without an index.
pub fn version_id(seq: u64) -> String {
    let salt: u32 = rand::random();
    format!("{seq:016x}{salt:08x}")
}

pub fn version_seq(id: &str) -> Option<u64> {
    if id.len() != 24 {
        return None;
    }
    u64::from_str_radix(&id[..16], 16).ok()
}

pub fn upload_key(bucket: &str, key: &str, upload_id: &str) -> Vec<u8> {
    KeyBuf::new().str(bucket).str(key).str(upload_id).finish()
}

pub fn part_key(upload_id: &str, part: u32) -> Vec<u8> {
    KeyBuf::new().str(upload_id).u64(part as u64).finish()
}

pub fn part_prefix(upload_id: &str) -> Vec<u8> {
    KeyBuf::new().str(upload_id).finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_round_trips_with_inline_body() {
        let rec = ObjectRecord {
            size: 3,
            etag: "abc".into(),
            inline: bytes::Bytes::from_static(b"a\0c"),
            owner: "000000000000".into(),
            ..Default::default()
        };
        let back = ObjectRecord::decode(&rec.encode()).unwrap();
        assert_eq!(back.inline, &b"a\0c"[..]);
        let owned = ObjectRecord::decode_owned(rec.encode()).unwrap();
        assert_eq!(
            (owned.inline, owned.etag),
            (bytes::Bytes::from_static(b"a\0c"), "abc".into())
        );
        assert_eq!(back.etag, "abc");
    }

    #[test]
    fn prefixes_cover_exactly_the_keys_that_start_with_them() {
        let p = object_prefix("b", "a/");
        assert!(object_key("b", "a/x").starts_with(&p));
        assert!(object_key("b", "a/").starts_with(&p));
        assert!(!object_key("b", "a").starts_with(&p));
        assert!(!object_key("bb", "a/x").starts_with(&p));
        assert_eq!(decode_object_key(&object_key("b", "a/\0x")).unwrap(), "a/\0x");
    }

    #[test]
    fn newer_versions_sort_first() {
        assert!(version_key("b", "k", 2) < version_key("b", "k", 1));
        assert_eq!(version_seq(&version_id(77)), Some(77));
    }
}
