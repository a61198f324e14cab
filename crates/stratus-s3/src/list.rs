//! Listings: ListObjects, ListObjectsV2 and ListObjectVersions over the ordered store, with
//! prefixes, delimiters rolled up into CommonPrefixes, markers and continuation tokens, and
//! `encoding-type=url`.

use std::ops::Bound;

use base64::Engine as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use stratus_store::Scan;
use stratus_store::keys::prefix_end;

use crate::backend::{Backend, owner, timestamp};
use crate::body::internal;
use crate::model::{
    OBJECTS, ObjectRecord, VERSIONS, decode_object_key, object_key, object_prefix, version_seq,
};
use crate::objects::etag_of;

/// One entry of a listing, in key order.
enum Entry {
    Object(String, Box<ObjectRecord>),
    Prefix(String),
}

struct Listing {
    entries: Vec<Entry>,
    truncated: bool,
}

impl Entry {
    fn marker(&self) -> &str {
        match self {
            Entry::Object(k, _) | Entry::Prefix(k) => k,
        }
    }
}

/// Where a listing resumes: after a key, or (for a marker that is a rolled-up prefix) after
/// every key under that prefix, as S3 continues past a common prefix.
fn resume_from(bucket: &str, prefix: &str, delimiter: Option<&str>, marker: &str) -> Bound<Vec<u8>> {
    if let Some(d) = delimiter.filter(|d| !d.is_empty())
        && marker.starts_with(prefix)
        && marker.ends_with(d)
        && marker[prefix.len()..].find(d) == Some(marker.len() - prefix.len() - d.len())
    {
        return match prefix_end(&object_prefix(bucket, marker)) {
            Some(end) => Bound::Included(end),
            None => Bound::Excluded(object_key(bucket, marker)),
        };
    }
    Bound::Excluded(object_key(bucket, marker))
}

/// URL-encodes listing fields when the client asked for `encoding-type=url`.
fn enc(url: bool, s: String) -> String {
    if url {
        form_urlencoded::byte_serialize(s.as_bytes())
            .collect::<String>()
            .replace("%2F", "/")
    } else {
        s
    }
}

impl Backend {
    /// Walks `ns` (objects or versions) from `start`, rolling keys up by delimiter, until
    /// `max` entries; `include` decides which records count.
    #[allow(clippy::too_many_arguments)]
    async fn walk(
        &self,
        ns: &str,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        start: Bound<Vec<u8>>,
        max: usize,
        mut include: impl FnMut(&str, &[u8], &ObjectRecord) -> bool,
    ) -> S3Result<Listing> {
        let base = object_prefix(bucket, prefix);
        let end = prefix_end(&base).map_or(Bound::Unbounded, Bound::Excluded);
        let mut from = match start {
            Bound::Unbounded => Bound::Included(base.clone()),
            Bound::Included(k) if k < base => Bound::Included(base.clone()),
            Bound::Excluded(k) if k < base => Bound::Included(base.clone()),
            other => other,
        };
        let delimiter = delimiter.filter(|d| !d.is_empty());
        let mut entries = Vec::new();
        loop {
            let scan = Scan {
                start: from.clone(),
                end: end.clone(),
                reverse: false,
                limit: (max + 1).clamp(100, 1000),
            };
            let rows = self.store.scan(ns, &scan).await.map_err(internal)?;
            let exhausted = rows.len() < scan.limit;
            let mut jumped = false;
            let mut last = None;
            for (k, v) in rows {
                last = Some(k.clone());
                let Some(key) = decode_object_key(&k) else {
                    continue;
                };
                if let Some(d) = delimiter
                    && let Some(i) = key[prefix.len()..].find(d)
                {
                    let cp = key[..prefix.len() + i + d.len()].to_string();
                    if entries.len() == max {
                        return Ok(Listing {
                            entries,
                            truncated: true,
                        });
                    }
                    // Everything under the prefix is rolled into it: continue past it.
                    from = match prefix_end(&object_prefix(bucket, &cp)) {
                        Some(e) => Bound::Included(e),
                        None => {
                            return Ok(Listing {
                                entries,
                                truncated: false,
                            });
                        }
                    };
                    entries.push(Entry::Prefix(cp));
                    jumped = true;
                    break;
                }
                let Some(rec) = ObjectRecord::decode(&v) else {
                    continue;
                };
                if !include(&key, &k, &rec) {
                    continue;
                }
                if entries.len() == max {
                    return Ok(Listing {
                        entries,
                        truncated: true,
                    });
                }
                entries.push(Entry::Object(key, Box::new(rec)));
            }
            if jumped {
                continue;
            }
            match last {
                Some(k) if !exhausted => from = Bound::Excluded(k),
                _ => {
                    return Ok(Listing {
                        entries,
                        truncated: false,
                    });
                }
            }
        }
    }

    /// The current objects (no delete markers) of a ListObjects/ListObjectsV2 page, after
    /// `marker` when given.
    async fn live_objects(
        &self,
        bucket: &str,
        prefix: &str,
        delimiter: Option<&str>,
        marker: Option<&str>,
        max: usize,
    ) -> S3Result<Listing> {
        let start = match marker.filter(|m| !m.is_empty()) {
            Some(m) => resume_from(bucket, prefix, delimiter, m),
            None => Bound::Unbounded,
        };
        self.walk(OBJECTS, bucket, prefix, delimiter, start, max, |_, _, r| {
            !r.delete_marker
        })
        .await
    }

    fn object_entry(&self, key: String, rec: &ObjectRecord, url: bool, with_owner: bool) -> Object {
        Object {
            key: Some(enc(url, key)),
            e_tag: Some(etag_of(rec)),
            last_modified: Some(timestamp(rec.last_modified_ms)),
            size: Some(rec.size as i64),
            storage_class: Some(ObjectStorageClass::from(
                rec.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
            )),
            owner: with_owner.then(|| owner(&rec.owner)),
            checksum_algorithm: rec
                .checksum
                .as_ref()
                .map(|(a, _)| vec![ChecksumAlgorithm::from(a.clone())]),
            checksum_type: rec.checksum_type.clone().map(ChecksumType::from),
            ..Default::default()
        }
    }

    pub async fn list_objects(
        &self,
        req: S3Request<ListObjectsInput>,
    ) -> S3Result<S3Response<ListObjectsOutput>> {
        let input = req.input;
        self.bucket_for(&req.extensions, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let listing = self
            .live_objects(
                &input.bucket,
                &prefix,
                input.delimiter.as_deref(),
                input.marker.as_deref(),
                max,
            )
            .await?;
        let url = input.encoding_type.as_ref().is_some_and(|e| e.as_str() == "url");
        // NextMarker is only returned with a delimiter (without one, the last key is the marker).
        let next_marker = (listing.truncated && input.delimiter.is_some())
            .then(|| listing.entries.last().map(|e| enc(url, e.marker().to_string())))
            .flatten();
        let (contents, prefixes) = self.split(listing.entries, url, true);
        Ok(S3Response::new(ListObjectsOutput {
            name: Some(input.bucket),
            prefix: Some(enc(url, prefix)),
            marker: Some(enc(url, input.marker.unwrap_or_default())),
            max_keys: Some(max as i32),
            is_truncated: Some(listing.truncated),
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            delimiter: input.delimiter.map(|d| enc(url, d)),
            next_marker,
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }

    fn split(&self, entries: Vec<Entry>, url: bool, with_owner: bool) -> (Vec<Object>, Vec<CommonPrefix>) {
        let mut contents = Vec::new();
        let mut prefixes = Vec::new();
        for e in entries {
            match e {
                Entry::Object(k, rec) => contents.push(self.object_entry(k, &rec, url, with_owner)),
                Entry::Prefix(p) => prefixes.push(CommonPrefix {
                    prefix: Some(enc(url, p)),
                }),
            }
        }
        (contents, prefixes)
    }

    pub async fn list_objects_v2(
        &self,
        req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        let input = req.input;
        self.bucket_for(&req.extensions, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let marker = match &input.continuation_token {
            Some(t) => Some(
                base64::engine::general_purpose::URL_SAFE_NO_PAD
                    .decode(t)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or_else(|| {
                        s3_error!(InvalidArgument, "The continuation token provided is incorrect")
                    })?,
            ),
            None => input.start_after.clone().filter(|s| !s.is_empty()),
        };
        let listing = self
            .live_objects(
                &input.bucket,
                &prefix,
                input.delimiter.as_deref(),
                marker.as_deref(),
                max,
            )
            .await?;
        let url = input.encoding_type.as_ref().is_some_and(|e| e.as_str() == "url");
        let next = listing
            .truncated
            .then(|| {
                listing
                    .entries
                    .last()
                    .map(|e| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(e.marker()))
            })
            .flatten();
        let count = listing.entries.len();
        let (contents, prefixes) = self.split(listing.entries, url, input.fetch_owner.unwrap_or(false));
        Ok(S3Response::new(ListObjectsV2Output {
            name: Some(input.bucket),
            prefix: Some(enc(url, prefix)),
            max_keys: Some(max as i32),
            key_count: Some(count as i32),
            continuation_token: input.continuation_token,
            is_truncated: Some(listing.truncated),
            next_continuation_token: next,
            contents: (!contents.is_empty()).then_some(contents),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            delimiter: input.delimiter.map(|d| enc(url, d)),
            encoding_type: input.encoding_type,
            start_after: input.start_after.map(|s| enc(url, s)),
            ..Default::default()
        }))
    }

    pub async fn list_object_versions(
        &self,
        req: S3Request<ListObjectVersionsInput>,
    ) -> S3Result<S3Response<ListObjectVersionsOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = max_keys(input.max_keys)?;
        let ns = if bucket.versioned() { VERSIONS } else { OBJECTS };
        let key_marker = input.key_marker.clone().filter(|m| !m.is_empty());
        let start = match (&key_marker, input.version_id_marker.as_deref()) {
            (Some(k), Some(v)) if bucket.versioned() && !v.is_empty() => {
                let seq = if v == "null" {
                    self.find_version(&bucket.name, k, None)
                        .await?
                        .map(|(vk, _, _)| vk)
                } else {
                    version_seq(v).map(|s| crate::model::version_key(&bucket.name, k, s))
                };
                match seq {
                    Some(vk) => Bound::Excluded(vk),
                    None => return Err(s3_error!(InvalidArgument, "Invalid version id specified")),
                }
            }
            (Some(k), _) => match resume_from(&bucket.name, &prefix, input.delimiter.as_deref(), k) {
                // Past every version of the marker key.
                Bound::Excluded(_) => match prefix_end(&object_key(&bucket.name, k)) {
                    Some(e) => Bound::Included(e),
                    None => Bound::Unbounded,
                },
                other => other,
            },
            (None, _) => Bound::Unbounded,
        };
        // The first version seen of each key is its latest, unless the listing resumed
        // within that key.
        let mut previous = match (&key_marker, &input.version_id_marker) {
            (Some(k), Some(_)) => Some(k.clone()),
            _ => None,
        };
        let mut latest = Vec::new();
        let listing = self
            .walk(
                ns,
                &bucket.name,
                &prefix,
                input.delimiter.as_deref(),
                start,
                max,
                |key, _, _| {
                    let first = previous.as_deref() != Some(key);
                    previous = Some(key.to_string());
                    latest.push(first);
                    true
                },
            )
            .await?;
        let url = input.encoding_type.as_ref().is_some_and(|e| e.as_str() == "url");
        let mut versions = Vec::new();
        let mut markers = Vec::new();
        let mut prefixes = Vec::new();
        let mut flags = latest.into_iter();
        let (mut next_key, mut next_version) = (None, None);
        for e in listing.entries {
            match e {
                Entry::Prefix(p) => {
                    next_key = Some(p.clone());
                    next_version = None;
                    prefixes.push(CommonPrefix {
                        prefix: Some(enc(url, p)),
                    })
                }
                Entry::Object(k, rec) => {
                    let is_latest = flags.next().unwrap_or(false);
                    next_key = Some(k.clone());
                    next_version = Some(rec.version_label());
                    if rec.delete_marker {
                        markers.push(DeleteMarkerEntry {
                            key: Some(enc(url, k)),
                            version_id: Some(rec.version_label()),
                            is_latest: Some(is_latest),
                            last_modified: Some(timestamp(rec.last_modified_ms)),
                            owner: Some(owner(&rec.owner)),
                        });
                    } else {
                        versions.push(ObjectVersion {
                            key: Some(enc(url, k)),
                            version_id: Some(rec.version_label()),
                            is_latest: Some(is_latest),
                            e_tag: Some(etag_of(&rec)),
                            last_modified: Some(timestamp(rec.last_modified_ms)),
                            size: Some(rec.size as i64),
                            owner: Some(owner(&rec.owner)),
                            storage_class: Some(ObjectVersionStorageClass::from(
                                rec.storage_class.clone().unwrap_or_else(|| "STANDARD".into()),
                            )),
                            checksum_type: rec.checksum_type.clone().map(ChecksumType::from),
                            checksum_algorithm: rec
                                .checksum
                                .as_ref()
                                .map(|(a, _)| vec![ChecksumAlgorithm::from(a.clone())]),
                            ..Default::default()
                        });
                    }
                }
            }
        }
        Ok(S3Response::new(ListObjectVersionsOutput {
            name: Some(bucket.name.clone()),
            prefix: Some(enc(url, prefix)),
            key_marker: Some(input.key_marker.unwrap_or_default()),
            version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
            max_keys: Some(max as i32),
            is_truncated: Some(listing.truncated),
            next_key_marker: listing
                .truncated
                .then_some(next_key)
                .flatten()
                .map(|k| enc(url, k)),
            next_version_id_marker: listing.truncated.then_some(next_version).flatten(),
            versions: (!versions.is_empty()).then_some(versions),
            delete_markers: (!markers.is_empty()).then_some(markers),
            common_prefixes: (!prefixes.is_empty()).then_some(prefixes),
            delimiter: input.delimiter.map(|d| enc(url, d)),
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}

fn max_keys(requested: Option<i32>) -> S3Result<usize> {
    match requested {
        None => Ok(1000),
        Some(n) if n < 0 => Err(s3_error!(InvalidArgument, "maxKeys should be non-negative")),
        Some(n) => Ok((n as usize).min(1000)),
    }
}
