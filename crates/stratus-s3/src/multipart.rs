//! Multipart uploads: parts stream to blobs as they arrive; completing an upload checks S3's
//! rules (ascending part numbers, known parts with matching ETags, 5 MiB minimum but for the
//! last) and makes the object out of the part blobs themselves — no bytes are copied.

use base64::Engine as _;
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use stratus_store::{Scan, StoreError, Txn};

use crate::backend::{Backend, owner, owner_of, timestamp};
use crate::body::{self, checksum_value, internal, release, set_checksum};
use crate::model::{
    BodyRef, ObjectRecord, PARTS, PartRecord, UPLOADS, UploadRecord, decode_object_key, object_key,
    object_prefix, part_key, part_prefix, upload_key,
};
use crate::objects::{chosen_algorithm, parse_tagging, verify_body};

/// Smallest part but the last.
const MIN_PART: u64 = 5 * 1024 * 1024;
/// Largest part.
const MAX_PART: u64 = 5 * 1024 * 1024 * 1024;

fn no_such_upload() -> s3s::S3Error {
    s3_error!(
        NoSuchUpload,
        "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed."
    )
}

fn check_part_number(n: i32) -> S3Result<u32> {
    if !(1..=10_000).contains(&n) {
        return Err(s3_error!(
            InvalidArgument,
            "Part number must be an integer between 1 and 10000, inclusive"
        ));
    }
    Ok(n as u32)
}

/// base64 of the `algorithm` digest of `data`.
fn digest(algorithm: &str, data: &[u8]) -> Option<String> {
    let mut h = s3s::checksum::ChecksumHasher::default();
    match algorithm {
        "CRC32" => h.crc32 = Some(Default::default()),
        "CRC32C" => h.crc32c = Some(Default::default()),
        "SHA1" => h.sha1 = Some(<s3s::crypto::Sha1 as s3s::crypto::Checksum>::new()),
        "SHA256" => h.sha256 = Some(<s3s::crypto::Sha256 as s3s::crypto::Checksum>::new()),
        _ => return None,
    }
    h.update(data);
    checksum_value(&h.finalize(), algorithm).cloned()
}

/// The full-object CRC of parts that each carry a CRC of `algorithm` (base64, as S3 prints
/// it); `None` for other algorithms or when a part has no checksum.
fn full_object_crc(algorithm: &str, parts: &[(u32, PartRecord)]) -> Option<String> {
    let c = crate::crc::Crc::by_name(algorithm)?;
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut whole: Option<u64> = None;
    for (_, p) in parts {
        let (alg, value) = p.checksum.as_ref()?;
        if alg != algorithm {
            return None;
        }
        let crc = c.parse(&b64.decode(value).ok()?)?;
        whole = Some(match whole {
            None => crc,
            Some(acc) => c.combine(acc, crc, p.size),
        });
    }
    whole.map(|w| b64.encode(c.to_bytes(w)))
}

impl Backend {
    async fn upload(&self, bucket: &str, key: &str, upload_id: &str) -> S3Result<UploadRecord> {
        let raw = self
            .store
            .get(UPLOADS, &upload_key(bucket, key, upload_id))
            .await
            .map_err(internal)?
            .ok_or_else(no_such_upload)?;
        serde_json::from_slice(&raw).map_err(internal)
    }

    pub async fn create_multipart_upload(
        &self,
        req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let bucket = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        let owner = owner_of(&req, &bucket);
        let input = req.input;
        if input.key.len() > 1024 {
            return Err(s3_error!(KeyTooLongError, "Your key is too long"));
        }
        let algorithm = input
            .checksum_algorithm
            .as_ref()
            .map(|a| a.as_str().to_ascii_uppercase());
        let checksum_type = input
            .checksum_type
            .as_ref()
            .map(|t| t.as_str().to_string())
            .or_else(|| {
                algorithm.as_ref().map(|a| {
                    if a == "CRC64NVME" {
                        "FULL_OBJECT"
                    } else {
                        "COMPOSITE"
                    }
                    .to_string()
                })
            });
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let rec = UploadRecord {
            upload_id: upload_id.clone(),
            initiated_ms: self.clock.now_ms(),
            owner,
            headers: stored_headers!(input),
            metadata: input.metadata.unwrap_or_default().into_iter().collect(),
            checksum_algorithm: algorithm.clone(),
            checksum_type: checksum_type.clone(),
            tags: parse_tagging(input.tagging.as_deref())?,
            acl: input.acl.map(|a| a.as_str().to_string()),
            storage_class: input
                .storage_class
                .map(|s| s.as_str().to_string())
                .filter(|s| s != "STANDARD"),
        };
        let txn = Txn::new().put(
            UPLOADS,
            upload_key(&bucket.name, &input.key, &upload_id),
            serde_json::to_vec(&rec).map_err(internal)?,
        );
        self.store.commit(txn).await.map_err(internal)?;
        Ok(S3Response::new(CreateMultipartUploadOutput {
            bucket: Some(bucket.name.clone()),
            key: Some(input.key),
            upload_id: Some(upload_id),
            checksum_algorithm: algorithm.map(ChecksumAlgorithm::from),
            checksum_type: checksum_type.map(ChecksumType::from),
            ..Default::default()
        }))
    }

    /// Records a part whose body is already in a blob; replaces an earlier part of the same
    /// number. The upload must still exist when the part is recorded.
    async fn record_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        number: u32,
        part: PartRecord,
    ) -> S3Result<()> {
        let pkey = part_key(upload_id, number);
        let old = self.store.get(PARTS, &pkey).await.map_err(internal)?;
        let txn = Txn::new()
            .exists(UPLOADS, upload_key(bucket, key, upload_id))
            .put(PARTS, pkey, serde_json::to_vec(&part).map_err(internal)?);
        match self.store.commit(txn).await {
            Ok(()) => {
                if let Some(old) = old.and_then(|o| serde_json::from_slice::<PartRecord>(&o).ok())
                    && old.blob != part.blob
                {
                    self.blobs.delete(&old.blob).await;
                }
                Ok(())
            }
            Err(StoreError::ConditionFailed { .. }) => {
                self.blobs.delete(&part.blob).await;
                Err(no_such_upload())
            }
            Err(e) => {
                self.blobs.delete(&part.blob).await;
                Err(internal(e))
            }
        }
    }

    pub async fn upload_part(
        &self,
        req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        let trailers = req.trailing_headers.clone();
        let headers = req.headers.clone();
        let input = req.input;
        self.bucket_for(&req.extensions, &input.bucket).await?;
        let number = check_part_number(input.part_number)?;
        let upload = self.upload(&input.bucket, &input.key, &input.upload_id).await?;
        if input.content_length.unwrap_or(0) as u64 > MAX_PART {
            return Err(s3_error!(
                EntityTooLarge,
                "Your proposed upload exceeds the maximum allowed size"
            ));
        }
        let given = checksums_of!(input);
        let chosen = chosen_algorithm(input.checksum_algorithm.as_ref(), &given, &headers)?;
        if let (Some(want), Some(got)) = (&upload.checksum_algorithm, &chosen)
            && want != got
        {
            return Err(s3_error!(
                InvalidRequest,
                "Checksum Type mismatch occurred, expected checksum Type: {}, actual checksum Type: {}",
                want.to_ascii_lowercase(),
                got.to_ascii_lowercase()
            ));
        }
        let algorithm = chosen.or(upload.checksum_algorithm.clone());
        let algorithms: Vec<String> = algorithm.iter().cloned().collect();
        let ingested = body::ingest(&self.blobs, input.body, &algorithms, true).await?;
        let blob = ingested.part_blob()?;
        let checksum = match verify_body(
            &ingested,
            input.content_md5.as_deref(),
            algorithm.as_deref(),
            &given,
            trailers.as_ref(),
        ) {
            Ok(c) => c,
            Err(e) => {
                self.blobs.delete(&blob).await;
                return Err(e);
            }
        };
        if let Some(len) = input.content_length
            && len as u64 != ingested.size
        {
            self.blobs.delete(&blob).await;
            return Err(s3_error!(
                IncompleteBody,
                "You did not provide the number of bytes specified by the Content-Length HTTP header"
            ));
        }
        let part = PartRecord {
            etag: ingested.etag(),
            size: ingested.size,
            last_modified_ms: self.clock.now_ms(),
            blob,
            checksum: checksum.clone(),
        };
        let etag = part.etag.clone();
        self.record_part(&input.bucket, &input.key, &input.upload_id, number, part)
            .await?;
        let mut out = UploadPartOutput {
            e_tag: Some(ETag::Strong(etag)),
            ..Default::default()
        };
        if let Some((alg, value)) = checksum {
            set_checksums!(out, crate::body::one_checksum(&alg, value.clone()));
        }
        Ok(S3Response::new(out))
    }

    pub async fn upload_part_copy(
        &self,
        req: S3Request<UploadPartCopyInput>,
    ) -> S3Result<S3Response<UploadPartCopyOutput>> {
        let caller = req.extensions.get::<crate::Caller>().and_then(|c| c.0.clone());
        let input = req.input;
        self.bucket_for(&req.extensions, &input.bucket).await?;
        let number = check_part_number(input.part_number)?;
        let upload = self.upload(&input.bucket, &input.key, &input.upload_id).await?;
        let src = copy_source!(self, caller, input).await?;
        let (start, len) = match input.copy_source_range.as_deref() {
            None => (0, src.size),
            Some(r) => {
                let parsed = r
                    .strip_prefix("bytes=")
                    .and_then(|r| r.split_once('-'))
                    .and_then(|(a, b)| Some((a.parse::<u64>().ok()?, b.parse::<u64>().ok()?)));
                match parsed {
                    Some((a, b)) if a <= b && b < src.size => (a, b - a + 1),
                    _ => {
                        return Err(s3_error!(
                            InvalidArgument,
                            "Range specified is not valid for source object of size: {}",
                            src.size
                        ));
                    }
                }
            }
        };
        let stream = body::open(&self.blobs, &src, start, len).await?;
        let algorithms: Vec<String> = upload.checksum_algorithm.iter().cloned().collect();
        let ingested = body::ingest(&self.blobs, Some(stream), &algorithms, true).await?;
        let blob = ingested.part_blob()?;
        let checksum = upload
            .checksum_algorithm
            .as_ref()
            .and_then(|a| checksum_value(&ingested.checksums, a).map(|v| (a.clone(), v.clone())));
        let now = self.clock.now_ms();
        let part = PartRecord {
            etag: ingested.etag(),
            size: ingested.size,
            last_modified_ms: now,
            blob,
            checksum,
        };
        let etag = part.etag.clone();
        self.record_part(&input.bucket, &input.key, &input.upload_id, number, part)
            .await?;
        Ok(S3Response::new(UploadPartCopyOutput {
            copy_part_result: Some(CopyPartResult {
                e_tag: Some(ETag::Strong(etag)),
                last_modified: Some(timestamp(now)),
                ..Default::default()
            }),
            copy_source_version_id: src.version_id,
            ..Default::default()
        }))
    }

    async fn parts(&self, upload_id: &str) -> S3Result<Vec<(u32, PartRecord)>> {
        let rows = self
            .store
            .scan(PARTS, &Scan::prefix(&part_prefix(upload_id)))
            .await
            .map_err(internal)?;
        let prefix_len = part_prefix(upload_id).len();
        Ok(rows
            .into_iter()
            .filter_map(|(k, v)| {
                let n = u64::from_be_bytes(k.get(prefix_len..prefix_len + 8)?.try_into().ok()?) as u32;
                Some((n, serde_json::from_slice(&v).ok()?))
            })
            .collect())
    }

    pub async fn complete_multipart_upload(
        &self,
        req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let cause = crate::notify::Cause::of(&req.extensions, "ObjectCreated:CompleteMultipartUpload");
        let input = req.input;
        let bucket = self.bucket_for(&req.extensions, &input.bucket).await?;
        let upload = self.upload(&bucket.name, &input.key, &input.upload_id).await?;
        let requested = input.multipart_upload.and_then(|m| m.parts).unwrap_or_default();
        if requested.is_empty() {
            return Err(s3_error!(
                MalformedXML,
                "The XML you provided was not well-formed or did not validate against our published schema"
            ));
        }
        let stored: std::collections::BTreeMap<u32, PartRecord> =
            self.parts(&upload.upload_id).await?.into_iter().collect();
        let mut chosen = Vec::new();
        let mut previous = 0i32;
        for p in &requested {
            let n = p.part_number.unwrap_or(0);
            if n <= previous {
                return Err(s3_error!(
                    InvalidPartOrder,
                    "The list of parts was not in ascending order. Parts must be ordered by part number."
                ));
            }
            previous = n;
            let invalid = || {
                s3_error!(
                    InvalidPart,
                    "One or more of the specified parts could not be found.  The part may not have been uploaded, or the specified entity tag may not match the part's entity tag."
                )
            };
            let part = stored.get(&(n as u32)).ok_or_else(invalid)?;
            if let Some(etag) = &p.e_tag
                && etag.value().trim_matches('"') != part.etag
            {
                return Err(invalid());
            }
            chosen.push((n as u32, part.clone()));
        }
        for (i, (_, part)) in chosen.iter().enumerate() {
            if i + 1 < chosen.len() && part.size < MIN_PART {
                return Err(s3_error!(
                    EntityTooSmall,
                    "Your proposed upload is smaller than the minimum allowed size"
                ));
            }
        }
        // The ETag S3 gives multipart objects: MD5 of the parts' binary MD5s, then "-N".
        let mut md5s = Vec::new();
        for (_, p) in &chosen {
            md5s.extend(hex::decode(&p.etag).map_err(internal)?);
        }
        let etag = format!(
            "{}-{}",
            hex::encode(<s3s::crypto::Md5 as s3s::crypto::Checksum>::checksum(&md5s)),
            chosen.len()
        );
        let checksum = match (&upload.checksum_algorithm, upload.checksum_type.as_deref()) {
            (Some(alg), Some("COMPOSITE")) => {
                let mut raw = Vec::new();
                for (_, p) in &chosen {
                    let value = p.checksum.as_ref().map(|(_, v)| v.as_str()).unwrap_or("");
                    raw.extend(
                        base64::engine::general_purpose::STANDARD
                            .decode(value)
                            .unwrap_or_default(),
                    );
                }
                digest(alg, &raw).map(|v| (alg.clone(), format!("{v}-{}", chosen.len())))
            }
            (Some(alg), _) => {
                // A full-object CRC follows from the parts' CRCs; a value the client states
                // must match it.
                let given = checksums_of!(input);
                let stated = checksum_value(&given, alg).cloned();
                match (stated, full_object_crc(alg, &chosen)) {
                    (Some(s), Some(c)) if s != c => {
                        return Err(s3_error!(
                            BadDigest,
                            "The {} you specified did not match the calculated checksum.",
                            alg.to_ascii_lowercase()
                        ));
                    }
                    (_, Some(c)) => Some((alg.clone(), c)),
                    (Some(s), None) => Some((alg.clone(), s)),
                    (None, None) => None,
                }
            }
            _ => None,
        };
        let size = chosen.iter().map(|(_, p)| p.size).sum();
        let rec = ObjectRecord {
            version_id: None,
            delete_marker: false,
            size,
            etag,
            last_modified_ms: self.clock.now_ms(),
            headers: upload.headers.clone(),
            metadata: upload.metadata.clone(),
            checksum_type: checksum.as_ref().and(upload.checksum_type.clone()),
            checksum,
            parts: Some(chosen.len() as u32),
            tags: upload.tags.clone(),
            acl: upload.acl.clone(),
            storage_class: upload.storage_class.clone(),
            owner: upload.owner.clone(),
            body: BodyRef::Blobs(chosen.iter().map(|(_, p)| (p.blob.clone(), p.size)).collect()),
            inline: Default::default(),
        };
        // The upload must still exist: claim it first so a concurrent abort cannot free the
        // blobs this object is made of.
        let ukey = upload_key(&bucket.name, &input.key, &upload.upload_id);
        let claim = Txn::new()
            .exists(UPLOADS, ukey.clone())
            .delete(UPLOADS, ukey.clone())
            .delete_prefix(PARTS, part_prefix(&upload.upload_id));
        match self.store.commit(claim).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Err(no_such_upload()),
            Err(e) => return Err(internal(e)),
        }
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
                // Put the upload back so the client may retry or abort.
                let mut txn = Txn::new().put(UPLOADS, ukey, serde_json::to_vec(&upload).map_err(internal)?);
                for (n, p) in &stored {
                    txn = txn.put(
                        PARTS,
                        part_key(&upload.upload_id, *n),
                        serde_json::to_vec(p).map_err(internal)?,
                    );
                }
                self.store.commit(txn).await.map_err(internal)?;
                return Err(e);
            }
        };
        let used: std::collections::HashSet<u32> = chosen.iter().map(|(n, _)| *n).collect();
        release(
            &self.blobs,
            stored
                .into_iter()
                .filter(|(n, _)| !used.contains(n))
                .map(|(_, p)| p.blob),
        )
        .await;
        let mut out = CompleteMultipartUploadOutput {
            bucket: Some(bucket.name.clone()),
            key: Some(input.key.clone()),
            e_tag: Some(ETag::Strong(rec.etag.clone())),
            location: Some(format!("/{}/{}", bucket.name, input.key)),
            version_id: rec.version_id.clone(),
            ..Default::default()
        };
        if let Some((alg, value)) = &rec.checksum {
            set_checksums!(out, crate::body::one_checksum(alg, value.clone()));
            out.checksum_type = rec.checksum_type.clone().map(ChecksumType::from);
        }
        Ok(S3Response::new(out))
    }

    pub async fn abort_multipart_upload(
        &self,
        req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        let input = req.input;
        self.bucket_for(&req.extensions, &input.bucket).await?;
        let upload = self.upload(&input.bucket, &input.key, &input.upload_id).await?;
        let parts = self.parts(&upload.upload_id).await?;
        let txn = Txn::new()
            .exists(UPLOADS, upload_key(&input.bucket, &input.key, &upload.upload_id))
            .delete(UPLOADS, upload_key(&input.bucket, &input.key, &upload.upload_id))
            .delete_prefix(PARTS, part_prefix(&upload.upload_id));
        match self.store.commit(txn).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => return Err(no_such_upload()),
            Err(e) => return Err(internal(e)),
        }
        release(&self.blobs, parts.into_iter().map(|(_, p)| p.blob)).await;
        Ok(S3Response::new(AbortMultipartUploadOutput::default()))
    }

    pub async fn list_parts(&self, req: S3Request<ListPartsInput>) -> S3Result<S3Response<ListPartsOutput>> {
        let input = req.input;
        self.bucket_for(&req.extensions, &input.bucket).await?;
        let upload = self.upload(&input.bucket, &input.key, &input.upload_id).await?;
        let max = input.max_parts.unwrap_or(1000).clamp(0, 1000) as usize;
        let marker = input.part_number_marker.unwrap_or(0).max(0) as u32;
        let all: Vec<(u32, PartRecord)> = self
            .parts(&upload.upload_id)
            .await?
            .into_iter()
            .filter(|(n, _)| *n > marker)
            .collect();
        let truncated = all.len() > max;
        let page: Vec<(u32, PartRecord)> = all.into_iter().take(max).collect();
        let next = page.last().map(|(n, _)| *n as i32);
        let parts = page
            .into_iter()
            .map(|(n, p)| {
                let mut c = Checksum::default();
                if let Some((alg, value)) = &p.checksum {
                    set_checksum(&mut c, alg, value.clone());
                }
                Part {
                    part_number: Some(n as i32),
                    e_tag: Some(ETag::Strong(p.etag)),
                    size: Some(p.size as i64),
                    last_modified: Some(timestamp(p.last_modified_ms)),
                    checksum_crc32: c.checksum_crc32,
                    checksum_crc32c: c.checksum_crc32c,
                    checksum_sha1: c.checksum_sha1,
                    checksum_sha256: c.checksum_sha256,
                    checksum_crc64nvme: c.checksum_crc64nvme,
                }
            })
            .collect::<Vec<_>>();
        Ok(S3Response::new(ListPartsOutput {
            bucket: Some(input.bucket),
            key: Some(input.key),
            upload_id: Some(upload.upload_id),
            max_parts: Some(max as i32),
            part_number_marker: input.part_number_marker,
            next_part_number_marker: next,
            is_truncated: Some(truncated),
            parts: (!parts.is_empty()).then_some(parts),
            initiator: Some(Initiator {
                id: Some(crate::backend::canonical_id(&upload.owner)),
                display_name: Some(upload.owner.clone()),
            }),
            owner: Some(owner(&upload.owner)),
            storage_class: Some(StorageClass::from(
                upload.storage_class.unwrap_or_else(|| "STANDARD".into()),
            )),
            checksum_algorithm: upload.checksum_algorithm.map(ChecksumAlgorithm::from),
            checksum_type: upload.checksum_type.map(ChecksumType::from),
            ..Default::default()
        }))
    }

    pub async fn list_multipart_uploads(
        &self,
        req: S3Request<ListMultipartUploadsInput>,
    ) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
        let input = req.input;
        self.bucket_for(&req.extensions, &input.bucket).await?;
        let prefix = input.prefix.clone().unwrap_or_default();
        let max = input.max_uploads.unwrap_or(1000).clamp(0, 1000) as usize;
        let mut scan = Scan::prefix(&object_prefix(&input.bucket, &prefix));
        if let Some(k) = input.key_marker.as_deref().filter(|k| !k.is_empty()) {
            scan = match input.upload_id_marker.as_deref().filter(|u| !u.is_empty()) {
                Some(u) => scan.after(&upload_key(&input.bucket, k, u)),
                // After a key: past its uploads; after a rolled-up prefix: past all its keys.
                None => match stratus_store::keys::prefix_end(&match input.delimiter.as_deref() {
                    Some(d) if !d.is_empty() && k.ends_with(d) => object_prefix(&input.bucket, k),
                    _ => object_key(&input.bucket, k),
                }) {
                    Some(end) => Scan {
                        start: std::ops::Bound::Included(end),
                        ..scan
                    },
                    None => scan,
                },
            };
        }
        // With a delimiter, keys sharing a prefix up to it roll up into one CommonPrefixes entry
        // (as in ListObjects); rolled-up keys are skipped in the store, not read.
        let delimiter = input.delimiter.clone().filter(|d| !d.is_empty());
        let mut uploads = Vec::new();
        let mut prefixes: Vec<String> = Vec::new();
        let mut truncated = false;
        let mut last: Option<(String, Option<String>)> = None;
        'pages: loop {
            let rows = self
                .store
                .scan(UPLOADS, &scan.clone().limit(1000))
                .await
                .map_err(internal)?;
            if rows.is_empty() {
                break;
            }
            for (k, v) in rows {
                let (Some(key), Ok(u)) = (decode_object_key(&k), serde_json::from_slice::<UploadRecord>(&v))
                else {
                    scan = scan.after(&k);
                    continue;
                };
                if uploads.len() + prefixes.len() == max {
                    truncated = true;
                    break 'pages;
                }
                let rolled = delimiter.as_deref().and_then(|d| {
                    key.get(prefix.len()..)
                        .and_then(|rest| rest.find(d))
                        .map(|i| key[..prefix.len() + i + d.len()].to_string())
                });
                if let Some(common) = rolled {
                    scan = match stratus_store::keys::prefix_end(&object_prefix(&input.bucket, &common)) {
                        Some(end) => Scan {
                            start: std::ops::Bound::Included(end),
                            ..scan
                        },
                        None => break 'pages,
                    };
                    last = Some((common.clone(), None));
                    prefixes.push(common);
                    continue 'pages;
                }
                scan = scan.after(&k);
                last = Some((key.clone(), Some(u.upload_id.clone())));
                uploads.push(MultipartUpload {
                    key: Some(key),
                    upload_id: Some(u.upload_id.clone()),
                    initiated: Some(timestamp(u.initiated_ms)),
                    initiator: Some(Initiator {
                        id: Some(crate::backend::canonical_id(&u.owner)),
                        display_name: Some(u.owner.clone()),
                    }),
                    owner: Some(owner(&u.owner)),
                    storage_class: Some(StorageClass::from(
                        u.storage_class.unwrap_or_else(|| "STANDARD".into()),
                    )),
                    checksum_algorithm: u.checksum_algorithm.map(ChecksumAlgorithm::from),
                    checksum_type: u.checksum_type.map(ChecksumType::from),
                });
            }
        }
        let (next_key, next_upload) = match (truncated, last) {
            (true, Some((k, u))) => (Some(k), u),
            _ => (None, None),
        };
        Ok(S3Response::new(ListMultipartUploadsOutput {
            bucket: Some(input.bucket),
            prefix: Some(prefix),
            key_marker: Some(input.key_marker.unwrap_or_default()),
            upload_id_marker: Some(input.upload_id_marker.unwrap_or_default()),
            max_uploads: Some(max as i32),
            is_truncated: Some(truncated),
            next_key_marker: next_key,
            next_upload_id_marker: next_upload,
            uploads: (!uploads.is_empty()).then_some(uploads),
            common_prefixes: (!prefixes.is_empty()).then(|| {
                prefixes
                    .into_iter()
                    .map(|p| CommonPrefix { prefix: Some(p) })
                    .collect()
            }),
            delimiter: input.delimiter,
            encoding_type: input.encoding_type,
            ..Default::default()
        }))
    }
}
