//! Request bodies in, response bodies out: a body is streamed once, hashed on the way (MD5 for
//! the ETag plus the checksum the client chose), and kept inline when small or written to a
//! blob otherwise; a response body streams back from either, for any byte range.

use futures_util::StreamExt;
use s3s::crypto::{Checksum as _, Md5};
use s3s::dto::{Checksum, StreamingBlob};
use s3s::{S3Error, S3Result, s3_error};
use stratus_store::Blobs;

use crate::INLINE_MAX;
use crate::model::{BodyRef, ObjectRecord};

/// A [`Checksum`] from any S3 shape with the five checksum fields.
macro_rules! checksums_of {
    ($shape:expr) => {
        s3s::dto::Checksum {
            checksum_crc32: $shape.checksum_crc32.clone(),
            checksum_crc32c: $shape.checksum_crc32c.clone(),
            checksum_sha1: $shape.checksum_sha1.clone(),
            checksum_sha256: $shape.checksum_sha256.clone(),
            checksum_crc64nvme: $shape.checksum_crc64nvme.clone(),
            ..Default::default()
        }
    };
}

/// Sets the five checksum fields of an S3 output shape from a [`Checksum`].
macro_rules! set_checksums {
    ($out:expr, $checksum:expr) => {{
        let c: s3s::dto::Checksum = $checksum;
        $out.checksum_crc32 = c.checksum_crc32;
        $out.checksum_crc32c = c.checksum_crc32c;
        $out.checksum_sha1 = c.checksum_sha1;
        $out.checksum_sha256 = c.checksum_sha256;
        $out.checksum_crc64nvme = c.checksum_crc64nvme;
    }};
}

/// The checksum algorithms S3 supports, as the header suffixes name them.
pub const ALGORITHMS: [&str; 5] = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"];

/// A stored request body.
pub struct Ingested {
    pub body: BodyRef,
    pub inline: Vec<u8>,
    pub size: u64,
    pub md5: [u8; 16],
    /// Every requested checksum, computed.
    pub checksums: Checksum,
}

impl Ingested {
    pub fn etag(&self) -> String {
        hex::encode(self.md5)
    }

    /// The one blob a multipart part is written to.
    pub fn part_blob(&self) -> S3Result<String> {
        match &self.body {
            BodyRef::Blobs(b) if b.len() == 1 => Ok(b[0].0.clone()),
            _ => Err(internal("part was not written to one blob")),
        }
    }
}

pub fn internal(e: impl std::fmt::Display) -> S3Error {
    tracing::error!(error = %e, "S3 storage failure");
    s3_error!(
        InternalError,
        "We encountered an internal error. Please try again."
    )
}

fn hasher_for(algorithms: &[String]) -> s3s::checksum::ChecksumHasher {
    let mut h = s3s::checksum::ChecksumHasher::default();
    for a in algorithms {
        match a.as_str() {
            "CRC32" => h.crc32 = Some(Default::default()),
            "CRC32C" => h.crc32c = Some(Default::default()),
            "SHA1" => h.sha1 = Some(s3s::crypto::Sha1::new()),
            "SHA256" => h.sha256 = Some(s3s::crypto::Sha256::new()),
            "CRC64NVME" => h.crc64nvme = Some(Default::default()),
            _ => {}
        }
    }
    h
}

/// Reads `body` to its end. `to_blob` forces a blob (multipart parts); otherwise bodies up to
/// [`INLINE_MAX`] stay in memory to be stored inline. A failed or cut-off body leaves nothing.
pub async fn ingest(
    blobs: &Blobs,
    body: Option<StreamingBlob>,
    algorithms: &[String],
    to_blob: bool,
) -> S3Result<Ingested> {
    let mut md5 = Md5::new();
    let mut hasher = hasher_for(algorithms);
    let mut inline = Vec::new();
    let mut writer = None;
    let mut size = 0u64;
    if to_blob {
        writer = Some(blobs.create().await.map_err(internal)?);
    }
    if let Some(mut body) = body {
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(body_error)?;
            md5.update(&chunk);
            hasher.update(&chunk);
            size += chunk.len() as u64;
            match &mut writer {
                Some(w) => w.write(&chunk).await.map_err(internal)?,
                None if inline.len() + chunk.len() <= INLINE_MAX => inline.extend_from_slice(&chunk),
                None => {
                    let mut w = blobs.create().await.map_err(internal)?;
                    w.write(&inline).await.map_err(internal)?;
                    w.write(&chunk).await.map_err(internal)?;
                    inline = Vec::new();
                    writer = Some(w);
                }
            }
        }
    }
    let body = match writer {
        Some(w) => BodyRef::Blobs(vec![(w.finish().await.map_err(internal)?, size)]),
        None => BodyRef::Inline,
    };
    Ok(Ingested {
        body,
        inline,
        size,
        md5: md5.finalize(),
        checksums: hasher.finalize(),
    })
}

/// The S3 error for a request body the protocol layer refused while streaming it.
fn body_error(e: s3s::StdError) -> S3Error {
    let e = match e.downcast::<S3Error>() {
        Ok(err) => return *err,
        Err(e) => e,
    };
    // The protocol layer's stream errors are not public types: tell them by their text.
    let text = e.to_string();
    if text.contains("Sha256Mismatch") {
        let mut err = S3Error::with_message(
            s3s::S3ErrorCode::Custom("XAmzContentSHA256Mismatch".into()),
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
        );
        err.set_status_code(http::StatusCode::BAD_REQUEST);
        err
    } else if text.contains("SignatureMismatch") {
        s3_error!(
            SignatureDoesNotMatch,
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        )
    } else if text.contains("FormatError") || text.contains("TooLarge") || text.contains("TooMany") {
        s3_error!(
            InvalidRequest,
            "The aws-chunked encoding of the request body is not valid."
        )
    } else {
        s3_error!(
            IncompleteBody,
            "You did not provide the number of bytes specified by the Content-Length HTTP header"
        )
    }
}

pub fn checksum_value<'a>(c: &'a Checksum, algorithm: &str) -> Option<&'a String> {
    match algorithm {
        "CRC32" => c.checksum_crc32.as_ref(),
        "CRC32C" => c.checksum_crc32c.as_ref(),
        "SHA1" => c.checksum_sha1.as_ref(),
        "SHA256" => c.checksum_sha256.as_ref(),
        "CRC64NVME" => c.checksum_crc64nvme.as_ref(),
        _ => None,
    }
}

/// A [`Checksum`] holding one algorithm's value.
pub fn one_checksum(algorithm: &str, value: String) -> Checksum {
    let mut c = Checksum::default();
    set_checksum(&mut c, algorithm, value);
    c
}

pub fn set_checksum(c: &mut Checksum, algorithm: &str, value: String) {
    match algorithm {
        "CRC32" => c.checksum_crc32 = Some(value),
        "CRC32C" => c.checksum_crc32c = Some(value),
        "SHA1" => c.checksum_sha1 = Some(value),
        "SHA256" => c.checksum_sha256 = Some(value),
        "CRC64NVME" => c.checksum_crc64nvme = Some(value),
        _ => {}
    }
}

/// Deletes blobs no record refers to any longer.
pub async fn release(blobs: &Blobs, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        blobs.delete(&id).await;
    }
}

/// The bytes `start..start+len` of an object, as a stream.
pub async fn open(blobs: &Blobs, rec: &ObjectRecord, start: u64, len: u64) -> S3Result<StreamingBlob> {
    match &rec.body {
        BodyRef::Inline => {
            let end = (start + len) as usize;
            let bytes = rec.inline.slice(start as usize..end);
            Ok(StreamingBlob::from(s3s::Body::from(bytes)))
        }
        BodyRef::Blobs(pieces) => {
            // Which slice of which blob each part of the range comes from.
            let mut segments = Vec::new();
            let (mut offset, end) = (0u64, start + len);
            for (id, size) in pieces {
                let (lo, hi) = (offset, offset + size);
                if hi > start && lo < end {
                    let from = start.max(lo) - lo;
                    let to = end.min(hi) - lo;
                    segments.push((id.clone(), from, to - from));
                }
                offset = hi;
            }
            if let [(id, from, n)] = segments.as_slice() {
                let stream = blobs.read(id, *from, *n).await.map_err(internal)?;
                return Ok(StreamingBlob::wrap(stream));
            }
            let blobs = blobs.clone();
            let stream = futures_util::stream::iter(segments)
                .then(move |(id, from, n)| {
                    let blobs = blobs.clone();
                    async move { blobs.read(&id, from, n).await }
                })
                .map(|opened| match opened {
                    Ok(s) => s.left_stream(),
                    Err(e) => futures_util::stream::once(async move { Err(e) }).right_stream(),
                })
                .flatten();
            Ok(StreamingBlob::wrap(sync_stream(stream)))
        }
    }
}

/// Hands a stream's items over a channel so the consumer side is `Sync`.
fn sync_stream<S>(stream: S) -> impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + Sync
where
    S: futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel(2);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            if tx.send(item).await.is_err() {
                break;
            }
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) })
}
