//! The storage behind the protocol layer: shared helpers, and the `s3s::S3` trait forwarding
//! each supported operation to its implementation in `buckets`, `objects`, `list` and
//! `multipart`. Operations not forwarded answer `NotImplemented`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use stratus_core::{Clock, Identity};
use stratus_store::{Blobs, Store, StoreError};

use crate::Caller;
use crate::body::internal;
use crate::model::{BUCKETS, BucketRecord};

/// The bucket record read by the access check, kept for the operation of the same request.
#[derive(Clone)]
pub struct CheckedBucket(pub Arc<BucketRecord>);

#[derive(Clone)]
pub struct Backend {
    pub store: Store,
    pub blobs: Blobs,
    pub clock: Clock,
    last_seq: Arc<AtomicU64>,
}

impl Backend {
    pub fn new(store: Store, blobs: Blobs, clock: Clock) -> Backend {
        Backend {
            store,
            blobs,
            clock,
            last_seq: Arc::new(AtomicU64::new(0)),
        }
    }

    /// A strictly increasing sequence number (microseconds of the clock, bumped on ties).
    pub fn next_seq(&self) -> u64 {
        let now = (self.clock.now_ms().max(0) as u64) * 1000;
        let mut last = self.last_seq.load(Ordering::Relaxed);
        loop {
            let next = now.max(last + 1);
            match self
                .last_seq
                .compare_exchange(last, next, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return next,
                Err(seen) => last = seen,
            }
        }
    }

    /// The bucket a request names: the record the access check already read for it, or a
    /// fresh read.
    pub async fn bucket_for(&self, extensions: &http::Extensions, name: &str) -> S3Result<Arc<BucketRecord>> {
        if let Some(CheckedBucket(b)) = extensions.get::<CheckedBucket>()
            && b.name == name
        {
            return Ok(b.clone());
        }
        self.bucket(name).await.map(Arc::new)
    }

    pub async fn bucket(&self, name: &str) -> S3Result<BucketRecord> {
        Ok(self.bucket_raw(name).await?.0)
    }

    /// The bucket record and its stored bytes (for compare-and-swap updates).
    pub async fn bucket_raw(&self, name: &str) -> S3Result<(BucketRecord, Vec<u8>)> {
        let raw = self
            .store
            .get(BUCKETS, name.as_bytes())
            .await
            .map_err(internal)?
            .ok_or_else(|| no_such_bucket(name))?;
        let rec = serde_json::from_slice(&raw).map_err(internal)?;
        Ok((rec, raw))
    }

    /// Applies `change` to a bucket record atomically (retrying if it changed meanwhile).
    pub async fn update_bucket(
        &self,
        name: &str,
        mut change: impl FnMut(&mut BucketRecord) -> S3Result<()>,
    ) -> S3Result<BucketRecord> {
        loop {
            let (mut rec, raw) = self.bucket_raw(name).await?;
            change(&mut rec)?;
            let txn = stratus_store::Txn::new()
                .equals(BUCKETS, name.as_bytes(), raw)
                .put(
                    BUCKETS,
                    name.as_bytes(),
                    serde_json::to_vec(&rec).map_err(internal)?,
                );
            match self.store.commit(txn).await {
                Ok(()) => return Ok(rec),
                Err(StoreError::ConditionFailed { .. }) => continue,
                Err(e) => return Err(internal(e)),
            }
        }
    }
}

pub fn timestamp(ms: i64) -> Timestamp {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    Timestamp::from(t)
}

pub fn no_such_bucket(name: &str) -> s3s::S3Error {
    let _ = name;
    s3_error!(NoSuchBucket, "The specified bucket does not exist")
}

/// The account acting, or AccessDenied for an anonymous caller.
pub fn caller<T>(req: &S3Request<T>) -> S3Result<Identity> {
    req.extensions
        .get::<Caller>()
        .and_then(|c| c.0.clone())
        .ok_or_else(crate::access::access_denied)
}

/// The account an anonymous write is attributed to: the bucket owner's.
pub fn owner_of<T>(req: &S3Request<T>, bucket: &BucketRecord) -> String {
    caller(req).map_or_else(|_| bucket.account.clone(), |c| c.account_id)
}

/// S3's canonical user id for an account.
pub fn canonical_id(account: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(format!("stratus-canonical-{account}")))
}

pub fn owner(account: &str) -> Owner {
    Owner {
        display_name: Some(account.to_string()),
        id: Some(canonical_id(account)),
    }
}

macro_rules! forward {
    ($($op:ident: $input:ident => $output:ident),* $(,)?) => {
        #[async_trait::async_trait]
        impl s3s::S3 for Backend {
            $(
                async fn $op(&self, req: S3Request<$input>) -> S3Result<S3Response<$output>> {
                    Backend::$op(self, req).await
                }
            )*
        }
    };
}

forward! {
    create_bucket: CreateBucketInput => CreateBucketOutput,
    delete_bucket: DeleteBucketInput => DeleteBucketOutput,
    head_bucket: HeadBucketInput => HeadBucketOutput,
    list_buckets: ListBucketsInput => ListBucketsOutput,
    get_bucket_location: GetBucketLocationInput => GetBucketLocationOutput,
    get_bucket_versioning: GetBucketVersioningInput => GetBucketVersioningOutput,
    put_bucket_versioning: PutBucketVersioningInput => PutBucketVersioningOutput,
    get_bucket_policy: GetBucketPolicyInput => GetBucketPolicyOutput,
    put_bucket_policy: PutBucketPolicyInput => PutBucketPolicyOutput,
    delete_bucket_policy: DeleteBucketPolicyInput => DeleteBucketPolicyOutput,
    get_bucket_acl: GetBucketAclInput => GetBucketAclOutput,
    put_bucket_acl: PutBucketAclInput => PutBucketAclOutput,
    get_public_access_block: GetPublicAccessBlockInput => GetPublicAccessBlockOutput,
    put_public_access_block: PutPublicAccessBlockInput => PutPublicAccessBlockOutput,
    delete_public_access_block: DeletePublicAccessBlockInput => DeletePublicAccessBlockOutput,
    get_bucket_ownership_controls: GetBucketOwnershipControlsInput => GetBucketOwnershipControlsOutput,
    put_bucket_ownership_controls: PutBucketOwnershipControlsInput => PutBucketOwnershipControlsOutput,
    delete_bucket_ownership_controls: DeleteBucketOwnershipControlsInput => DeleteBucketOwnershipControlsOutput,
    get_bucket_tagging: GetBucketTaggingInput => GetBucketTaggingOutput,
    put_bucket_tagging: PutBucketTaggingInput => PutBucketTaggingOutput,
    delete_bucket_tagging: DeleteBucketTaggingInput => DeleteBucketTaggingOutput,
    get_bucket_cors: GetBucketCorsInput => GetBucketCorsOutput,
    put_bucket_cors: PutBucketCorsInput => PutBucketCorsOutput,
    delete_bucket_cors: DeleteBucketCorsInput => DeleteBucketCorsOutput,
    get_bucket_website: GetBucketWebsiteInput => GetBucketWebsiteOutput,
    put_bucket_website: PutBucketWebsiteInput => PutBucketWebsiteOutput,
    delete_bucket_website: DeleteBucketWebsiteInput => DeleteBucketWebsiteOutput,
    get_bucket_lifecycle_configuration: GetBucketLifecycleConfigurationInput => GetBucketLifecycleConfigurationOutput,
    put_bucket_lifecycle_configuration: PutBucketLifecycleConfigurationInput => PutBucketLifecycleConfigurationOutput,
    delete_bucket_lifecycle: DeleteBucketLifecycleInput => DeleteBucketLifecycleOutput,
    get_bucket_notification_configuration: GetBucketNotificationConfigurationInput => GetBucketNotificationConfigurationOutput,
    put_bucket_notification_configuration: PutBucketNotificationConfigurationInput => PutBucketNotificationConfigurationOutput,
    put_object: PutObjectInput => PutObjectOutput,
    post_object: PostObjectInput => PostObjectOutput,
    get_object: GetObjectInput => GetObjectOutput,
    head_object: HeadObjectInput => HeadObjectOutput,
    delete_object: DeleteObjectInput => DeleteObjectOutput,
    delete_objects: DeleteObjectsInput => DeleteObjectsOutput,
    copy_object: CopyObjectInput => CopyObjectOutput,
    get_object_tagging: GetObjectTaggingInput => GetObjectTaggingOutput,
    put_object_tagging: PutObjectTaggingInput => PutObjectTaggingOutput,
    delete_object_tagging: DeleteObjectTaggingInput => DeleteObjectTaggingOutput,
    get_object_acl: GetObjectAclInput => GetObjectAclOutput,
    put_object_acl: PutObjectAclInput => PutObjectAclOutput,
    list_objects: ListObjectsInput => ListObjectsOutput,
    list_objects_v2: ListObjectsV2Input => ListObjectsV2Output,
    list_object_versions: ListObjectVersionsInput => ListObjectVersionsOutput,
    create_multipart_upload: CreateMultipartUploadInput => CreateMultipartUploadOutput,
    upload_part: UploadPartInput => UploadPartOutput,
    upload_part_copy: UploadPartCopyInput => UploadPartCopyOutput,
    complete_multipart_upload: CompleteMultipartUploadInput => CompleteMultipartUploadOutput,
    abort_multipart_upload: AbortMultipartUploadInput => AbortMultipartUploadOutput,
    list_parts: ListPartsInput => ListPartsOutput,
    list_multipart_uploads: ListMultipartUploadsInput => ListMultipartUploadsOutput,
}
