//! Objects: put (with checksums, Content-MD5 and conditional writes), get and head (ranges,
//! conditional reads, versions), delete (delete markers in versioned buckets), batch delete,
//! copy, tagging and ACLs. Every write is one compare-and-swap transaction on the object's
//! latest record (plus its version entry), retried on conflict.

use std::collections::BTreeMap;

use base64::Engine as _;
use http::HeaderMap;
use s3s::dto::*;
use s3s::{S3Error, S3Request, S3Response, S3Result, s3_error};
use stratus_store::{Scan, StoreError, Txn};

use crate::backend::{Backend, owner, owner_of, timestamp};
use crate::body::{self, ALGORITHMS, checksum_value, internal, release, set_checksum};
use crate::buckets::{canned_from, grants, tag_set, tags_in};
use crate::model::{
    BodyRef, BucketRecord, OBJECTS, ObjectRecord, VERSIONS, object_key, version_id, version_key, version_seq,
};
use crate::notify::{self, Cause};

/// Largest object a single PUT may carry.
const MAX_PUT: i64 = 5 * 1024 * 1024 * 1024;
/// Longest key, in UTF-8 bytes.
const MAX_KEY: usize = 1024;

pub fn no_such_key() -> S3Error {
    s3_error!(NoSuchKey, "The specified key does not exist.")
}

fn precondition_failed() -> S3Error {
    s3_error!(
        PreconditionFailed,
        "At least one of the pre-conditions you specified did not hold"
    )
}

fn with_headers(mut err: S3Error, pairs: &[(&'static str, String)]) -> S3Error {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        if let Ok(v) = v.parse() {
            h.insert(*k, v);
        }
    }
    err.set_headers(h);
    err
}

/// Content-Encoding as S3 stores it: without the `aws-chunked` transfer coding.
pub fn stored_encoding(e: Option<String>) -> Option<String> {
    let e = e?;
    let kept: Vec<&str> = e
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty() && !c.eq_ignore_ascii_case("aws-chunked"))
        .collect();
    (!kept.is_empty()).then(|| kept.join(","))
}

pub fn etag_of(rec: &ObjectRecord) -> ETag {
    ETag::Strong(rec.etag.clone())
}

fn etag_matches(cond: &ETagCondition, etag: &str) -> bool {
    match cond {
        ETagCondition::Any => true,
        ETagCondition::ETag(e) => e.value() == etag,
    }
}

fn secs(t: &Timestamp) -> i64 {
    time::OffsetDateTime::from(t.clone()).unix_timestamp()
}

/// The standard headers an object keeps (by their HTTP names), from any S3 input shape that
/// spells them alike: Content-Type defaults as S3's does, the `aws-chunked` coding is dropped.
macro_rules! stored_headers {
    ($input:expr) => {
        $crate::objects::standard_headers([
            (
                "content-type",
                Some(
                    $input
                        .content_type
                        .unwrap_or_else(|| "binary/octet-stream".into()),
                ),
            ),
            ("cache-control", $input.cache_control),
            ("content-disposition", $input.content_disposition),
            (
                "content-encoding",
                $crate::objects::stored_encoding($input.content_encoding),
            ),
            ("content-language", $input.content_language),
            (
                "expires-ms",
                $input
                    .expires
                    .map(|e| (time::OffsetDateTime::from(e).unix_timestamp() * 1000).to_string()),
            ),
            ("website-redirect-location", $input.website_redirect_location),
        ])
    };
}

pub fn standard_headers(pairs: [(&str, Option<String>); 7]) -> BTreeMap<String, String> {
    pairs
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
        .collect()
}

fn header(rec: &ObjectRecord, name: &str) -> Option<String> {
    rec.headers.get(name).cloned()
}

fn expires(rec: &ObjectRecord) -> Option<Timestamp> {
    rec.headers
        .get("expires-ms")
        .and_then(|v| v.parse::<i64>().ok())
        .map(timestamp)
}

/// Parses `a=1&b=2` tagging headers.
pub fn parse_tagging(header: Option<&str>) -> S3Result<Vec<(String, String)>> {
    let Some(h) = header.filter(|h| !h.is_empty()) else {
        return Ok(Vec::new());
    };
    let tags: Vec<Tag> = form_urlencoded::parse(h.as_bytes())
        .map(|(k, v)| Tag {
            key: Some(k.into_owned()),
            value: Some(v.into_owned()),
        })
        .collect();
    tags_in(&tags, 10)
}

/// Which checksum the client chose for an upload, from a checksum header, the declared
/// trailer or the algorithm parameter.
pub fn chosen_algorithm(
    algorithm: Option<&ChecksumAlgorithm>,
    given: &Checksum,
    headers: &HeaderMap,
) -> S3Result<Option<String>> {
    let present: Vec<&str> = ALGORITHMS
        .iter()
        .copied()
        .filter(|a| checksum_value(given, a).is_some())
        .collect();
    if present.len() > 1 {
        return Err(s3_error!(
            InvalidRequest,
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."
        ));
    }
    if let Some(a) = present.first() {
        return Ok(Some(a.to_string()));
    }
    if let Some(trailer) = headers.get("x-amz-trailer").and_then(|v| v.to_str().ok()) {
        let t = trailer.trim().to_ascii_lowercase();
        if let Some(a) = ALGORITHMS
            .iter()
            .find(|a| t == format!("x-amz-checksum-{}", a.to_ascii_lowercase()))
        {
            return Ok(Some(a.to_string()));
        }
    }
    if let Some(a) = algorithm {
        let a = a.as_str().to_ascii_uppercase();
        if !ALGORITHMS.contains(&a.as_str()) {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"
            ));
        }
        return Ok(Some(a));
    }
    Ok(None)
}

/// Checks the received body against Content-MD5 and the client's checksum (from its header,
/// or from the trailer once the body was read). Returns the checksum to store.
pub fn verify_body(
    ingested: &body::Ingested,
    content_md5: Option<&str>,
    algorithm: Option<&str>,
    given: &Checksum,
    trailers: Option<&s3s::TrailingHeaders>,
) -> S3Result<Option<(String, String)>> {
    if let Some(md5) = content_md5 {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(md5.trim())
            .ok()
            .filter(|d| d.len() == 16)
            .ok_or_else(|| s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid."))?;
        if decoded != ingested.md5 {
            return Err(s3_error!(
                BadDigest,
                "The Content-MD5 you specified did not match what we received."
            ));
        }
    }
    let Some(alg) = algorithm else { return Ok(None) };
    let computed = checksum_value(&ingested.checksums, alg)
        .cloned()
        .ok_or_else(|| internal("checksum was not computed"))?;
    let header = format!("x-amz-checksum-{}", alg.to_ascii_lowercase());
    let expected = checksum_value(given, alg).cloned().or_else(|| {
        trailers.and_then(|t| {
            t.read(|h| h.get(&header).and_then(|v| v.to_str().ok()).map(str::to_string))
                .flatten()
        })
    });
    if let Some(expected) = expected
        && expected != computed
    {
        return Err(s3_error!(
            BadDigest,
            "The {alg} you specified did not match the calculated checksum."
        ));
    }
    Ok(Some((alg.to_string(), computed)))
}

/// The object a GetObject or HeadObject names, after its conditions, with the byte range and
/// part count asked for.
macro_rules! read_checked {
    ($backend:expr, $req:expr, $input:expr) => {{
        let bucket = $backend.bucket_for(&$req.extensions, &$input.bucket).await?;
        let rec = $backend
            .read_object(&bucket, &$input.key, $input.version_id.as_deref())
            .await?;
        check_read_conditions(
            &rec,
            $input.if_match.as_ref(),
            $input.if_none_match.as_ref(),
            $input.if_modified_since.as_ref(),
            $input.if_unmodified_since.as_ref(),
        )?;
        let (range, parts) = read_range(&rec, $input.range.as_ref(), $input.part_number)?;
        (rec, range, parts)
    }};
}

/// The source object of a CopyObject or UploadPartCopy (inputs that spell the copy-source
/// fields alike), read for `caller` after its copy-source conditions.
macro_rules! copy_source {
    ($backend:expr, $caller:expr, $input:expr) => {
        $backend.copy_source(
            $caller.as_ref(),
            &$input.copy_source,
            $input.copy_source_if_match.as_ref(),
            $input.copy_source_if_none_match.as_ref(),
            $input.copy_source_if_modified_since.as_ref(),
            $input.copy_source_if_unmodified_since.as_ref(),
        )
    };
}

/// Bucket, key and version of a copy source.
pub fn source_of(source: &CopySource) -> S3Result<(&str, &str, Option<&str>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((bucket, key, version_id.as_deref())),
        _ => Err(s3_error!(
            NotImplemented,
            "Copying from an access point is not supported"
        )),
    }
}

/// The fields GetObject and HeadObject answer alike, with the `response-*` overrides.
macro_rules! object_output {
    ($shape:ident, $rec:expr, $input:expr, $range:expr, $parts:expr) => {{
        let rec = &$rec;
        $shape {
            accept_ranges: Some("bytes".into()),
            content_length: Some($range.map_or(rec.size, |(_, l)| l) as i64),
            content_range: $range.map(|(s, l)| format!("bytes {}-{}/{}", s, s + l - 1, rec.size)),
            e_tag: Some(etag_of(rec)),
            last_modified: Some(timestamp(rec.last_modified_ms)),
            content_type: $input
                .response_content_type
                .clone()
                .or_else(|| header(rec, "content-type")),
            cache_control: $input
                .response_cache_control
                .clone()
                .or_else(|| header(rec, "cache-control")),
            content_disposition: $input
                .response_content_disposition
                .clone()
                .or_else(|| header(rec, "content-disposition")),
            content_encoding: $input
                .response_content_encoding
                .clone()
                .or_else(|| header(rec, "content-encoding")),
            content_language: $input
                .response_content_language
                .clone()
                .or_else(|| header(rec, "content-language")),
            expires: $input.response_expires.clone().or_else(|| expires(rec)),
            website_redirect_location: header(rec, "website-redirect-location"),
            metadata: (!rec.metadata.is_empty()).then(|| rec.metadata.clone().into_iter().collect()),
            version_id: rec.version_id.clone(),
            storage_class: rec.storage_class.clone().map(StorageClass::from),
            parts_count: $parts,
            ..Default::default()
        }
    }};
}

impl Backend {
    /// A copy source the caller may read, whose conditions hold (a would-be 304 is a 412 for
    /// copies, as on S3).
    pub async fn copy_source(
        &self,
        caller: Option<&stratus_core::Identity>,
        source: &CopySource,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        if_modified_since: Option<&Timestamp>,
        if_unmodified_since: Option<&Timestamp>,
    ) -> S3Result<ObjectRecord> {
        let (bucket, key, version) = source_of(source)?;
        let source_bucket = self.bucket(bucket).await?;
        if !crate::access::may_read(&source_bucket, caller, key, self.clock.now_ms()) {
            return Err(crate::access::access_denied());
        }
        let src = self.read_object(&source_bucket, key, version).await?;
        check_read_conditions(
            &src,
            if_match,
            if_none_match,
            if_modified_since,
            if_unmodified_since,
        )
        .map_err(|e| {
            if *e.code() == s3s::S3ErrorCode::NotModified {
                precondition_failed()
            } else {
                e
            }
        })?;
        Ok(src)
    }

    /// Makes `rec` the latest version of `key`, honouring conditional-write headers, and
    /// returns it with its version id.
    pub async fn write_object(
        &self,
        bucket: &BucketRecord,
        key: &str,
        mut rec: ObjectRecord,
        if_match: Option<&ETagCondition>,
        if_none_match: Option<&ETagCondition>,
        cause: Option<&Cause>,
    ) -> S3Result<ObjectRecord> {
        let okey = object_key(&bucket.name, key);
        loop {
            let old_raw = self.store.get(OBJECTS, &okey).await.map_err(internal)?;
            let old = old_raw.as_deref().and_then(ObjectRecord::decode);
            let live = old.as_ref().filter(|o| !o.delete_marker);
            if let Some(c) = if_none_match
                && live.is_some_and(|o| etag_matches(c, &o.etag))
            {
                return Err(precondition_failed());
            }
            if let Some(c) = if_match {
                match live {
                    None => return Err(no_such_key()),
                    Some(o) if !etag_matches(c, &o.etag) => return Err(precondition_failed()),
                    _ => {}
                }
            }
            let mut txn = match &old_raw {
                Some(raw) => Txn::new().equals(OBJECTS, okey.clone(), raw.clone()),
                None => Txn::new().absent(OBJECTS, okey.clone()),
            };
            let mut released = Vec::new();
            match bucket.versioning.as_deref() {
                None => {
                    rec.version_id = None;
                    released = old.map(|o| o.blob_ids()).unwrap_or_default();
                }
                Some("Enabled") => {
                    let seq = self.next_seq();
                    rec.version_id = Some(version_id(seq));
                    txn = txn.put(VERSIONS, version_key(&bucket.name, key, seq), rec.encode());
                }
                Some(_) => {
                    rec.version_id = None;
                    if let Some((vkey, _, null)) = self.find_version(&bucket.name, key, None).await? {
                        txn = txn.delete(VERSIONS, vkey);
                        released = null.blob_ids();
                    }
                    let seq = self.next_seq();
                    txn = txn.put(VERSIONS, version_key(&bucket.name, key, seq), rec.encode());
                }
            }
            txn = txn.put(OBJECTS, okey.clone(), rec.encode());
            txn = notify::announce(txn, self, bucket, key, &rec, cause);
            match self.store.commit(txn).await {
                Ok(()) => {
                    release(&self.blobs, released).await;
                    return Ok(rec);
                }
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(internal(e)),
            }
        }
    }

    /// A version of `key` by id (`None` = the `null` version): its store key, bytes, record.
    pub async fn find_version(
        &self,
        bucket: &str,
        key: &str,
        id: Option<&str>,
    ) -> S3Result<Option<(Vec<u8>, Vec<u8>, ObjectRecord)>> {
        match id {
            Some(id) => {
                let Some(seq) = version_seq(id) else {
                    return Ok(None);
                };
                let vkey = version_key(bucket, key, seq);
                let Some(raw) = self.store.get(VERSIONS, &vkey).await.map_err(internal)? else {
                    return Ok(None);
                };
                let rec = ObjectRecord::decode(&raw).ok_or_else(|| internal("corrupt version record"))?;
                Ok((rec.version_id.as_deref() == Some(id)).then_some((vkey, raw, rec)))
            }
            None => {
                let prefix = object_key(bucket, key);
                let rows = self
                    .store
                    .scan(VERSIONS, &Scan::prefix(&prefix))
                    .await
                    .map_err(internal)?;
                for (k, v) in rows {
                    // Longer keys with the same prefix belong to other objects.
                    if k.len() != prefix.len() + 8 {
                        continue;
                    }
                    if let Some(rec) = ObjectRecord::decode(&v)
                        && rec.version_id.is_none()
                    {
                        return Ok(Some((k, v, rec)));
                    }
                }
                Ok(None)
            }
        }
    }

    /// The object a read names: the latest version, or the one `version` asks for.
    pub async fn read_object(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version: Option<&str>,
    ) -> S3Result<ObjectRecord> {
        let rec = match version {
            None => {
                let raw = self
                    .store
                    .get(OBJECTS, &object_key(&bucket.name, key))
                    .await
                    .map_err(internal)?
                    .ok_or_else(no_such_key)?;
                let rec = ObjectRecord::decode_owned(raw).ok_or_else(|| internal("corrupt object record"))?;
                if rec.delete_marker {
                    return Err(with_headers(
                        no_such_key(),
                        &[
                            ("x-amz-delete-marker", "true".into()),
                            ("x-amz-version-id", rec.version_label()),
                        ],
                    ));
                }
                return Ok(rec);
            }
            Some("null") if !bucket.versioned() => {
                let rec = Box::pin(self.read_object(bucket, key, None)).await?;
                return Ok(rec);
            }
            Some(v) => {
                if v != "null" && version_seq(v).is_none() {
                    return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
                }
                let id = (v != "null").then_some(v);
                self.find_version(&bucket.name, key, id)
                    .await?
                    .map(|(_, _, r)| r)
                    .ok_or_else(|| s3_error!(NoSuchVersion, "The specified version does not exist."))?
            }
        };
        if rec.delete_marker {
            return Err(with_headers(
                s3_error!(
                    MethodNotAllowed,
                    "The specified method is not allowed against this resource."
                ),
                &[
                    ("x-amz-delete-marker", "true".into()),
                    ("x-amz-version-id", rec.version_label()),
                ],
            ));
        }
        Ok(rec)
    }

    pub async fn put_object(&self, req: S3Request<PutObjectInput>) -> S3Result<S3Response<PutObjectOutput>> {
        let bucket = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        let owner = owner_of(&req, &bucket);
        let trailers = req.trailing_headers.clone();
        let headers = req.headers.clone();
        let input = req.input;
        if input.key.len() > MAX_KEY {
            return Err(s3_error!(KeyTooLongError, "Your key is too long"));
        }
        if input.content_length.unwrap_or(0) > MAX_PUT {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size"
            ));
        }
        let given = checksums_of!(input);
        let chosen = chosen_algorithm(input.checksum_algorithm.as_ref(), &given, &headers)?;
        // Objects uploaded without a checksum get a CRC64NVME one, as S3 does.
        let algorithm = chosen.clone().unwrap_or_else(|| "CRC64NVME".into());
        let tags = parse_tagging(input.tagging.as_deref())?;
        if let Some(a) = &input.acl {
            crate::buckets::check_acl_allowed(&bucket, a.as_str())?;
        }
        let ingested = body::ingest(&self.blobs, input.body, std::slice::from_ref(&algorithm), false).await?;
        if let Some(len) = input.content_length
            && len as u64 != ingested.size
        {
            release(&self.blobs, ingested.body.blob_ids()).await;
            return Err(s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header"
            ));
        }
        let checksum = match verify_body(
            &ingested,
            input.content_md5.as_deref(),
            Some(&algorithm),
            &given,
            trailers.as_ref(),
        ) {
            Ok(c) => c,
            Err(e) => {
                release(&self.blobs, ingested.body.blob_ids()).await;
                return Err(e);
            }
        };
        let rec = ObjectRecord {
            version_id: None,
            delete_marker: false,
            size: ingested.size,
            etag: ingested.etag(),
            last_modified_ms: self.clock.now_ms(),
            headers: stored_headers!(input),
            metadata: input.metadata.unwrap_or_default().into_iter().collect(),
            checksum,
            checksum_type: Some("FULL_OBJECT".into()),
            parts: None,
            tags,
            acl: input.acl.map(|a| a.as_str().to_string()),
            storage_class: input
                .storage_class
                .map(|s| s.as_str().to_string())
                .filter(|s| s != "STANDARD"),
            owner,
            body: ingested.body.clone(),
            inline: ingested.inline.clone().into(),
        };
        let blobs = ingested.body.blob_ids();
        let event = if req.extensions.get::<notify::Posted>().is_some() {
            "ObjectCreated:Post"
        } else {
            "ObjectCreated:Put"
        };
        let cause = Cause::of(&req.extensions, event);
        let rec = match self
            .write_object(
                &bucket,
                &input.key,
                rec,
                input.if_match.as_ref(),
                input.if_none_match.as_ref(),
                Some(&cause),
            )
            .await
        {
            Ok(r) => r,
            Err(e) => {
                release(&self.blobs, blobs).await;
                return Err(e);
            }
        };
        let mut out = PutObjectOutput {
            e_tag: Some(etag_of(&rec)),
            version_id: rec.version_id.clone(),
            size: Some(rec.size as i64),
            ..Default::default()
        };
        if let Some((alg, value)) = &rec.checksum {
            set_checksums!(out, crate::body::one_checksum(alg, value.clone()));
            out.checksum_type = Some(ChecksumType::from_static(ChecksumType::FULL_OBJECT));
        }
        Ok(S3Response::new(out))
    }

    /// Browser uploads (HTML form POST with a signed policy, verified by the protocol layer):
    /// stored exactly as a PutObject of the same fields.
    pub async fn post_object(
        &self,
        mut req: S3Request<PostObjectInput>,
    ) -> S3Result<S3Response<PostObjectOutput>> {
        req.extensions.insert(notify::Posted);
        // `${filename}` in the key is the name of the uploaded file, as S3 does it.
        if let Some(crate::PostFilename(name)) = req.extensions.get::<crate::PostFilename>() {
            let name = name.rsplit(['/', '\\']).next().unwrap_or_default().to_string();
            req.input.key = req.input.key.replace("${filename}", &name);
        }
        let put = req.map_input(|i| PutObjectInput {
            acl: i.acl,
            body: i.body,
            bucket: i.bucket,
            bucket_key_enabled: i.bucket_key_enabled,
            cache_control: i.cache_control,
            checksum_algorithm: i.checksum_algorithm,
            checksum_crc32: i.checksum_crc32,
            checksum_crc32c: i.checksum_crc32c,
            checksum_crc64nvme: i.checksum_crc64nvme,
            checksum_sha1: i.checksum_sha1,
            checksum_sha256: i.checksum_sha256,
            content_disposition: i.content_disposition,
            content_encoding: i.content_encoding,
            content_language: i.content_language,
            content_length: i.content_length,
            content_md5: i.content_md5,
            content_type: i.content_type,
            expected_bucket_owner: i.expected_bucket_owner,
            expires: i.expires,
            grant_full_control: i.grant_full_control,
            grant_read: i.grant_read,
            grant_read_acp: i.grant_read_acp,
            grant_write_acp: i.grant_write_acp,
            if_match: i.if_match,
            if_none_match: i.if_none_match,
            key: i.key,
            metadata: i.metadata,
            object_lock_legal_hold_status: i.object_lock_legal_hold_status,
            object_lock_mode: i.object_lock_mode,
            object_lock_retain_until_date: i.object_lock_retain_until_date,
            request_payer: i.request_payer,
            sse_customer_algorithm: i.sse_customer_algorithm,
            sse_customer_key: i.sse_customer_key,
            sse_customer_key_md5: i.sse_customer_key_md5,
            ssekms_encryption_context: i.ssekms_encryption_context,
            ssekms_key_id: i.ssekms_key_id,
            server_side_encryption: i.server_side_encryption,
            storage_class: i.storage_class,
            tagging: i.tagging,
            website_redirect_location: i.website_redirect_location,
            write_offset_bytes: i.write_offset_bytes,
        });
        let out = self.put_object(put).await?;
        let o = out.output;
        Ok(S3Response::new(PostObjectOutput {
            e_tag: o.e_tag,
            version_id: o.version_id,
            size: o.size,
            checksum_crc32: o.checksum_crc32,
            checksum_crc32c: o.checksum_crc32c,
            checksum_sha1: o.checksum_sha1,
            checksum_sha256: o.checksum_sha256,
            checksum_crc64nvme: o.checksum_crc64nvme,
            checksum_type: o.checksum_type,
            ..Default::default()
        }))
    }

    pub async fn get_object(&self, req: S3Request<GetObjectInput>) -> S3Result<S3Response<GetObjectOutput>> {
        let input = req.input;
        let (rec, range, parts_count) = read_checked!(self, req, input);
        let (start, len) = range.unwrap_or((0, rec.size));
        let whole = range.is_none();
        let stream = body::open(&self.blobs, &rec, start, len).await?;
        let mut out = object_output!(GetObjectOutput, rec, input, range, parts_count);
        out.body = Some(stream);
        out.tag_count = (!rec.tags.is_empty()).then_some(rec.tags.len() as i32);
        if whole && input.checksum_mode.is_some_and(|m| m.as_str() == "ENABLED") {
            set_output_checksum(&rec, |c, t| {
                set_checksums!(out, c);
                out.checksum_type = t;
            });
        }
        Ok(S3Response::new(out))
    }

    pub async fn head_object(
        &self,
        req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        let input = req.input;
        let (rec, range, parts_count) = read_checked!(self, req, input);
        let mut out = object_output!(HeadObjectOutput, rec, input, range, parts_count);
        if range.is_none() && input.checksum_mode.is_some_and(|m| m.as_str() == "ENABLED") {
            set_output_checksum(&rec, |c, t| {
                set_checksums!(out, c);
                out.checksum_type = t;
            });
        }
        Ok(S3Response::new(out))
    }

    /// Deletes a key (or one of its versions); returns (delete marker involved, version id).
    pub(crate) async fn delete_one(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version: Option<&str>,
        cause: Option<&Cause>,
    ) -> S3Result<(bool, Option<String>)> {
        let okey = object_key(&bucket.name, key);
        match (bucket.versioning.as_deref(), version) {
            (None, None | Some("null")) => {
                let old = self.store.get(OBJECTS, &okey).await.map_err(internal)?;
                if let Some(raw) = old {
                    let mut txn = Txn::new()
                        .equals(OBJECTS, okey.clone(), raw.clone())
                        .delete(OBJECTS, okey.clone());
                    if let Some(rec) = ObjectRecord::decode(&raw) {
                        txn = notify::announce(txn, self, bucket, key, &rec, cause);
                    }
                    match self.store.commit(txn).await {
                        Ok(()) => {
                            if let Some(rec) = ObjectRecord::decode(&raw) {
                                release(&self.blobs, rec.blob_ids()).await;
                            }
                        }
                        Err(StoreError::ConditionFailed { .. }) => {
                            return Box::pin(self.delete_one(bucket, key, version, cause)).await;
                        }
                        Err(e) => return Err(internal(e)),
                    }
                }
                Ok((false, None))
            }
            (None, Some(_)) => Err(s3_error!(InvalidArgument, "Invalid version id specified")),
            (Some(_), None) => {
                // A delete marker becomes the latest version.
                let marker = ObjectRecord {
                    delete_marker: true,
                    last_modified_ms: self.clock.now_ms(),
                    owner: bucket.account.clone(),
                    ..Default::default()
                };
                let cause = cause.map(Cause::marker_created);
                let rec = self
                    .write_object(bucket, key, marker, None, None, cause.as_ref())
                    .await?;
                Ok((true, Some(rec.version_label())))
            }
            (Some(_), Some(v)) => {
                if v != "null" && version_seq(v).is_none() {
                    return Err(s3_error!(InvalidArgument, "Invalid version id specified"));
                }
                let id = (v != "null").then_some(v);
                loop {
                    let Some((vkey, vraw, vrec)) = self.find_version(&bucket.name, key, id).await? else {
                        return Ok((false, Some(v.to_string())));
                    };
                    let cur_raw = self.store.get(OBJECTS, &okey).await.map_err(internal)?;
                    let cur = cur_raw.as_deref().and_then(ObjectRecord::decode);
                    let mut txn = Txn::new()
                        .equals(VERSIONS, vkey.clone(), vraw)
                        .delete(VERSIONS, vkey.clone());
                    txn = match &cur_raw {
                        Some(raw) => txn.equals(OBJECTS, okey.clone(), raw.clone()),
                        None => txn.absent(OBJECTS, okey.clone()),
                    };
                    if cur.as_ref().is_some_and(|c| c.version_id == vrec.version_id) {
                        // The latest goes: the next newest version (if any) takes its place.
                        let rows = self
                            .store
                            .scan(VERSIONS, &Scan::prefix(&okey).limit(64))
                            .await
                            .map_err(internal)?;
                        let next = rows
                            .into_iter()
                            .find(|(k, _)| *k != vkey && k.len() == okey.len() + 8);
                        txn = match next {
                            Some((_, raw)) => txn.put(OBJECTS, okey.clone(), raw),
                            None => txn.delete(OBJECTS, okey.clone()),
                        };
                    }
                    txn = notify::announce(txn, self, bucket, key, &vrec, cause);
                    match self.store.commit(txn).await {
                        Ok(()) => {
                            release(&self.blobs, vrec.blob_ids()).await;
                            return Ok((vrec.delete_marker, Some(vrec.version_label())));
                        }
                        Err(StoreError::ConditionFailed { .. }) => continue,
                        Err(e) => return Err(internal(e)),
                    }
                }
            }
        }
    }

    pub async fn delete_object(
        &self,
        req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        if let Some(cond) = &input.if_match {
            let cur = self.read_object(&bucket, &input.key, None).await?;
            if !etag_matches(cond, &cur.etag) {
                return Err(precondition_failed());
            }
        }
        let cause = Cause::of(&req.extensions, "ObjectRemoved:Delete");
        let (marker, version) = self
            .delete_one(&bucket, &input.key, input.version_id.as_deref(), Some(&cause))
            .await?;
        Ok(S3Response::new(DeleteObjectOutput {
            delete_marker: marker.then_some(true),
            version_id: version,
            ..Default::default()
        }))
    }

    pub async fn delete_objects(
        &self,
        req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        if input.delete.objects.len() > 1000 {
            return Err(s3_error!(MalformedXML));
        }
        let quiet = input.delete.quiet.unwrap_or(false);
        let cause = Cause::of(&req.extensions, "ObjectRemoved:Delete");
        let mut deleted = Vec::new();
        let mut errors = Vec::new();
        for obj in input.delete.objects {
            match self
                .delete_one(&bucket, &obj.key, obj.version_id.as_deref(), Some(&cause))
                .await
            {
                Ok((marker, version)) => {
                    if !quiet {
                        let (version_id, delete_marker_version_id) = match (&obj.version_id, marker) {
                            (None, true) => (None, version),
                            (Some(_), true) => (version.clone(), version),
                            (_, false) => (obj.version_id.clone(), None),
                        };
                        deleted.push(DeletedObject {
                            key: Some(obj.key),
                            delete_marker: marker.then_some(true),
                            delete_marker_version_id,
                            version_id,
                        });
                    }
                }
                Err(e) => errors.push(Error {
                    code: Some(e.code().as_str().to_string()),
                    message: e.message().map(str::to_string),
                    key: Some(obj.key),
                    version_id: obj.version_id,
                }),
            }
        }
        Ok(S3Response::new(DeleteObjectsOutput {
            deleted: Some(deleted),
            errors: (!errors.is_empty()).then_some(errors),
            ..Default::default()
        }))
    }

    pub async fn copy_object(
        &self,
        req: S3Request<CopyObjectInput>,
    ) -> S3Result<S3Response<CopyObjectOutput>> {
        let caller = req.extensions.get::<crate::Caller>().and_then(|c| c.0.clone());
        let input = req.input;
        let dest = self.bucket_for(&req.extensions, &input.bucket).await?;
        let src = copy_source!(self, caller, input).await?;
        let (src_bucket, src_key, src_version) = source_of(&input.copy_source)?;
        let replace = input
            .metadata_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == "REPLACE");
        let replace_tags = input
            .tagging_directive
            .as_ref()
            .is_some_and(|d| d.as_str() == "REPLACE");
        let same = src_bucket == input.bucket && src_key == input.key;
        if same
            && !replace
            && input.storage_class.is_none()
            && input.website_redirect_location.is_none()
            && src_version.is_none()
        {
            return Err(s3_error!(
                InvalidRequest,
                "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes."
            ));
        }
        let body = match &src.body {
            BodyRef::Inline => BodyRef::Inline,
            BodyRef::Blobs(pieces) => {
                let mut linked = Vec::new();
                for (id, size) in pieces {
                    linked.push((self.blobs.link(id).await.map_err(internal)?, *size));
                }
                BodyRef::Blobs(linked)
            }
        };
        let (headers, metadata) = if replace {
            (
                stored_headers!(input),
                input.metadata.unwrap_or_default().into_iter().collect(),
            )
        } else {
            (src.headers.clone(), src.metadata.clone())
        };
        let tags = if replace_tags {
            parse_tagging(input.tagging.as_deref())?
        } else {
            src.tags.clone()
        };
        let rec = ObjectRecord {
            version_id: None,
            delete_marker: false,
            size: src.size,
            etag: src.etag.clone(),
            last_modified_ms: self.clock.now_ms(),
            headers,
            metadata,
            checksum: src.checksum.clone(),
            checksum_type: src.checksum_type.clone(),
            parts: src.parts,
            tags,
            acl: input.acl.map(|a| a.as_str().to_string()),
            storage_class: input
                .storage_class
                .map(|s| s.as_str().to_string())
                .filter(|s| s != "STANDARD"),
            owner: caller.map_or_else(|| dest.account.clone(), |c| c.account_id),
            body: body.clone(),
            inline: src.inline.clone(),
        };
        let cause = Cause::of(&req.extensions, "ObjectCreated:Copy");
        let rec = match self
            .write_object(&dest, &input.key, rec, None, None, Some(&cause))
            .await
        {
            Ok(r) => r,
            Err(e) => {
                if let BodyRef::Blobs(pieces) = body {
                    release(&self.blobs, pieces.into_iter().map(|(id, _)| id)).await;
                }
                return Err(e);
            }
        };
        let mut result = CopyObjectResult {
            e_tag: Some(etag_of(&rec)),
            last_modified: Some(timestamp(rec.last_modified_ms)),
            ..Default::default()
        };
        set_output_checksum(&rec, |c, t| {
            set_checksums!(result, c);
            result.checksum_type = t;
        });
        Ok(S3Response::new(CopyObjectOutput {
            copy_object_result: Some(result),
            version_id: rec.version_id.clone(),
            copy_source_version_id: src.version_id.clone(),
            ..Default::default()
        }))
    }

    /// Rewrites one version's record in place (tags, ACL): no new version is created.
    async fn update_version(
        &self,
        bucket: &BucketRecord,
        key: &str,
        version: Option<&str>,
        change: impl Fn(&mut ObjectRecord),
    ) -> S3Result<ObjectRecord> {
        let okey = object_key(&bucket.name, key);
        loop {
            let target = self.read_object(bucket, key, version).await?;
            let cur_raw = self.store.get(OBJECTS, &okey).await.map_err(internal)?;
            let cur = cur_raw.as_deref().and_then(ObjectRecord::decode);
            let mut updated = target.clone();
            change(&mut updated);
            let mut txn = Txn::new();
            if bucket.versioned()
                && let Some((vkey, vraw, _)) = self
                    .find_version(&bucket.name, key, target.version_id.as_deref())
                    .await?
            {
                txn = txn
                    .equals(VERSIONS, vkey.clone(), vraw)
                    .put(VERSIONS, vkey, updated.encode());
            }
            if let (Some(raw), Some(cur)) = (&cur_raw, &cur)
                && cur.version_id == target.version_id
            {
                txn = txn.equals(OBJECTS, okey.clone(), raw.clone()).put(
                    OBJECTS,
                    okey.clone(),
                    updated.encode(),
                );
            }
            match self.store.commit(txn).await {
                Ok(()) => return Ok(updated),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(internal(e)),
            }
        }
    }

    pub async fn get_object_tagging(
        &self,
        req: S3Request<GetObjectTaggingInput>,
    ) -> S3Result<S3Response<GetObjectTaggingOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        let rec = self
            .read_object(&bucket, &input.key, input.version_id.as_deref())
            .await?;
        Ok(S3Response::new(GetObjectTaggingOutput {
            tag_set: tag_set(&rec.tags),
            version_id: rec.version_id,
        }))
    }

    pub async fn put_object_tagging(
        &self,
        req: S3Request<PutObjectTaggingInput>,
    ) -> S3Result<S3Response<PutObjectTaggingOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        let tags = tags_in(&input.tagging.tag_set, 10)?;
        let rec = self
            .update_version(&bucket, &input.key, input.version_id.as_deref(), |r| {
                r.tags = tags.clone()
            })
            .await?;
        Ok(S3Response::new(PutObjectTaggingOutput {
            version_id: rec.version_id,
        }))
    }

    pub async fn delete_object_tagging(
        &self,
        req: S3Request<DeleteObjectTaggingInput>,
    ) -> S3Result<S3Response<DeleteObjectTaggingOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        let rec = self
            .update_version(&bucket, &input.key, input.version_id.as_deref(), |r| {
                r.tags.clear()
            })
            .await?;
        Ok(S3Response::new(DeleteObjectTaggingOutput {
            version_id: rec.version_id,
        }))
    }

    pub async fn get_object_acl(
        &self,
        req: S3Request<GetObjectAclInput>,
    ) -> S3Result<S3Response<GetObjectAclOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        let rec = self
            .read_object(&bucket, &input.key, input.version_id.as_deref())
            .await?;
        Ok(S3Response::new(GetObjectAclOutput {
            grants: Some(grants(&rec.owner, rec.acl.as_deref())),
            owner: Some(owner(&rec.owner)),
            ..Default::default()
        }))
    }

    pub async fn put_object_acl(
        &self,
        req: S3Request<PutObjectAclInput>,
    ) -> S3Result<S3Response<PutObjectAclOutput>> {
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        let acl = canned_from(
            input.acl.map(|a| a.as_str().to_string()),
            input.access_control_policy.as_ref(),
        )?;
        if let Some(a) = &acl {
            crate::buckets::check_acl_allowed(&bucket, a)?;
        }
        self.update_version(&bucket, &input.key, input.version_id.as_deref(), |r| {
            r.acl = acl.clone()
        })
        .await?;
        Ok(S3Response::new(PutObjectAclOutput::default()))
    }
}

fn set_output_checksum(rec: &ObjectRecord, set: impl FnOnce(Checksum, Option<ChecksumType>)) {
    if let Some((alg, value)) = &rec.checksum {
        let mut c = Checksum::default();
        set_checksum(&mut c, alg, value.clone());
        set(c, rec.checksum_type.clone().map(ChecksumType::from));
    }
}

/// RFC 7232 evaluation order, as S3 applies it: If-Match, If-Unmodified-Since (only without
/// If-Match), If-None-Match, If-Modified-Since (only without If-None-Match).
pub fn check_read_conditions(
    rec: &ObjectRecord,
    if_match: Option<&ETagCondition>,
    if_none_match: Option<&ETagCondition>,
    if_modified_since: Option<&Timestamp>,
    if_unmodified_since: Option<&Timestamp>,
) -> S3Result<()> {
    let modified_s = rec.last_modified_ms.div_euclid(1000);
    if let Some(c) = if_match {
        if !etag_matches(c, &rec.etag) {
            return Err(precondition_failed());
        }
    } else if let Some(t) = if_unmodified_since
        && modified_s > secs(t)
    {
        return Err(precondition_failed());
    }
    let not_modified = || {
        with_headers(
            S3Error::new(s3s::S3ErrorCode::NotModified),
            &[("etag", format!("\"{}\"", rec.etag))],
        )
    };
    if let Some(c) = if_none_match {
        if etag_matches(c, &rec.etag) {
            return Err(not_modified());
        }
    } else if let Some(t) = if_modified_since
        && modified_s <= secs(t)
    {
        return Err(not_modified());
    }
    Ok(())
}

/// A read's byte range (`None` = everything) and its part count when a part was asked for.
type ReadRange = (Option<(u64, u64)>, Option<i32>);

/// The byte range a read asks for and the part count when a part was asked for.
fn read_range(rec: &ObjectRecord, range: Option<&Range>, part: Option<i32>) -> S3Result<ReadRange> {
    if let Some(n) = part {
        let pieces: Vec<u64> = match &rec.body {
            BodyRef::Blobs(b) if rec.parts.is_some() => b.iter().map(|(_, s)| *s).collect(),
            _ => vec![rec.size],
        };
        if n < 1 || n as usize > pieces.len() {
            let mut err = s3s::S3Error::with_message(
                s3s::S3ErrorCode::Custom("InvalidPartNumber".into()),
                "The requested partnumber is not satisfiable",
            );
            err.set_status_code(http::StatusCode::RANGE_NOT_SATISFIABLE);
            return Err(err);
        }
        let start: u64 = pieces[..n as usize - 1].iter().sum();
        let count = rec.parts.map(|p| p as i32);
        if pieces.len() == 1 && rec.parts.is_none() {
            return Ok((None, None));
        }
        return Ok((Some((start, pieces[n as usize - 1])), count));
    }
    let Some(range) = range else {
        return Ok((None, None));
    };
    match range.check(rec.size) {
        Ok(r) => Ok((Some((r.start, r.end - r.start)), None)),
        Err(_) => Err(with_headers(
            s3_error!(InvalidRange, "The requested range is not satisfiable"),
            &[("content-range", format!("bytes */{}", rec.size))],
        )),
    }
}
