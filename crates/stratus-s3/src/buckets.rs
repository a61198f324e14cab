//! Buckets and their sub-resources: create/delete/list, location, versioning, policy, ACL,
//! tagging, and the stored configurations (CORS, website, lifecycle, notifications).

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use serde::Serialize;
use serde::de::DeserializeOwned;
use stratus_store::{Scan, StoreError, Txn};

use crate::backend::{Backend, caller, owner};
use crate::body::{internal, release};
use crate::model::{
    BUCKETS, BucketRecord, OBJECTS, ObjectRecord, PARTS, UPLOADS, VERSIONS, object_prefix, part_prefix,
    version_key,
};

/// AWS's bucket naming rules (general purpose buckets).
pub fn valid_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    if !(3..=63).contains(&b.len()) {
        return false;
    }
    let edge_ok = |c: u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !edge_ok(b[0]) || !edge_ok(b[b.len() - 1]) {
        return false;
    }
    if !b
        .iter()
        .all(|&c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-')
    {
        return false;
    }
    if name.contains("..") || name.parse::<std::net::Ipv4Addr>().is_ok() {
        return false;
    }
    let bad_prefix = ["xn--", "sthree-", "amzn-s3-demo-"];
    let bad_suffix = ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"];
    !bad_prefix.iter().any(|p| name.starts_with(p)) && !bad_suffix.iter().any(|s| name.ends_with(s))
}

pub fn tag_set(tags: &[(String, String)]) -> TagSet {
    tags.iter()
        .map(|(k, v)| Tag {
            key: Some(k.clone()),
            value: Some(v.clone()),
        })
        .collect()
}

/// Validates a tag set as S3 does: at most `max` tags, keys ≤ 128 and values ≤ 256
/// characters, no duplicate keys.
pub fn tags_in(tags: &[Tag], max: usize) -> S3Result<Vec<(String, String)>> {
    if tags.len() > max {
        return Err(s3_error!(InvalidTag, "Object tags cannot be greater than {max}"));
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for t in tags {
        let k = t.key.clone().unwrap_or_default();
        let v = t.value.clone().unwrap_or_default();
        if k.is_empty() || k.chars().count() > 128 {
            return Err(s3_error!(InvalidTag, "The TagKey you have provided is invalid"));
        }
        if v.chars().count() > 256 {
            return Err(s3_error!(
                InvalidTag,
                "The TagValue you have provided is too long, max 256"
            ));
        }
        if out.iter().any(|(x, _)| *x == k) {
            return Err(s3_error!(
                InvalidTag,
                "Cannot provide multiple Tags with the same key"
            ));
        }
        out.push((k, v));
    }
    Ok(out)
}

/// Names of the configurations kept in [`BucketRecord::configs`].
pub const OWNERSHIP: &str = "ownership";
pub const PUBLIC_ACCESS_BLOCK: &str = "public_access_block";

/// The bucket's Block Public Access settings (all off when none is configured).
pub fn public_access_block(rec: &BucketRecord) -> PublicAccessBlockConfiguration {
    get_config(rec, PUBLIC_ACCESS_BLOCK).unwrap_or_default()
}

/// The bucket's object ownership setting (`ObjectWriter` when none is configured).
fn object_ownership(rec: &BucketRecord) -> String {
    get_config::<String>(rec, OWNERSHIP).unwrap_or_else(|| "ObjectWriter".into())
}

fn is_public_acl(acl: &str) -> bool {
    matches!(acl, "public-read" | "public-read-write" | "authenticated-read")
}

/// Whether a canned ACL may be applied: ACLs must be enabled (not BucketOwnerEnforced), and
/// public ones not blocked.
pub fn check_acl_allowed(rec: &BucketRecord, acl: &str) -> S3Result<()> {
    if object_ownership(rec) == "BucketOwnerEnforced"
        && !matches!(acl, "private" | "bucket-owner-full-control")
    {
        return Err(s3_error!(
            AccessControlListNotSupported,
            "The bucket does not allow ACLs"
        ));
    }
    if is_public_acl(acl) && public_access_block(rec).block_public_acls == Some(true) {
        return Err(s3_error!(AccessDenied, "Access Denied"));
    }
    Ok(())
}

/// Whether a policy grants anything to everyone (Principal `*`).
pub fn is_public_policy(policy: &serde_json::Value) -> bool {
    let statements: Vec<&serde_json::Value> = match policy.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(s) => vec![s],
        None => return false,
    };
    statements.iter().any(|st| {
        st.get("Effect").and_then(|e| e.as_str()) == Some("Allow")
            && match st.get("Principal") {
                Some(serde_json::Value::String(p)) => p == "*",
                Some(serde_json::Value::Object(o)) => match o.get("AWS") {
                    Some(serde_json::Value::String(p)) => p == "*",
                    Some(serde_json::Value::Array(a)) => a.iter().any(|p| p.as_str() == Some("*")),
                    _ => false,
                },
                _ => false,
            }
    })
}

fn get_config<T: DeserializeOwned>(rec: &BucketRecord, name: &str) -> Option<T> {
    rec.configs
        .get(name)
        .and_then(|v| serde_json::from_value(v.clone()).ok())
}

impl Backend {
    async fn set_config<T: Serialize>(&self, bucket: &str, name: &str, value: Option<&T>) -> S3Result<()> {
        let value = value
            .map(|v| serde_json::to_value(v).map_err(internal))
            .transpose()?;
        self.update_bucket(bucket, |rec| {
            match &value {
                Some(v) => rec.configs.insert(name.to_string(), v.clone()),
                None => rec.configs.remove(name),
            };
            Ok(())
        })
        .await?;
        Ok(())
    }

    pub async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let name = input.bucket;
        if !valid_bucket_name(&name) {
            return Err(s3_error!(InvalidBucketName, "The specified bucket is not valid."));
        }
        let signed_region = req
            .region
            .as_ref()
            .map_or("us-east-1", |r| r.as_str())
            .to_string();
        let region = input
            .create_bucket_configuration
            .and_then(|c| c.location_constraint)
            .map(|l| l.as_str().to_string())
            .filter(|l| !l.is_empty());
        if region.as_deref() == Some("us-east-1") {
            return Err(s3_error!(
                InvalidLocationConstraint,
                "The specified location-constraint is not valid"
            ));
        }
        if let Some(r) = &region
            && signed_region != "us-east-1"
            && *r != signed_region
        {
            return Err(s3_error!(
                IllegalLocationConstraintException,
                "The {r} location constraint is incompatible for the region specific endpoint this request was sent to."
            ));
        }
        let region = region.unwrap_or_else(|| "us-east-1".into());
        let rec = BucketRecord {
            name: name.clone(),
            account: who.account_id.clone(),
            region: region.clone(),
            created_ms: self.clock.now_ms(),
            versioning: None,
            acl: None,
            policy: None,
            configs: Default::default(),
        };
        let mut rec = rec;
        // New buckets block public access and disable ACLs, as S3 has done since April 2023.
        let ownership = input
            .object_ownership
            .map(|o| o.as_str().to_string())
            .unwrap_or_else(|| "BucketOwnerEnforced".into());
        rec.configs
            .insert(OWNERSHIP.into(), serde_json::Value::String(ownership));
        rec.configs.insert(
            PUBLIC_ACCESS_BLOCK.into(),
            serde_json::to_value(PublicAccessBlockConfiguration {
                block_public_acls: Some(true),
                ignore_public_acls: Some(true),
                block_public_policy: Some(true),
                restrict_public_buckets: Some(true),
            })
            .map_err(internal)?,
        );
        if let Some(acl) = input.acl {
            check_acl_allowed(&rec, acl.as_str())?;
            rec.acl = Some(acl.as_str().to_string());
        }
        let txn = Txn::new().absent(BUCKETS, name.as_bytes()).put(
            BUCKETS,
            name.as_bytes(),
            serde_json::to_vec(&rec).map_err(internal)?,
        );
        match self.store.commit(txn).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                let existing = self.bucket(&name).await?;
                if existing.account != who.account_id {
                    return Err(s3_error!(
                        BucketAlreadyExists,
                        "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."
                    ));
                }
                // us-east-1 answers a repeated create of your own bucket with success.
                if existing.region != "us-east-1" {
                    return Err(s3_error!(
                        BucketAlreadyOwnedByYou,
                        "Your previous request to create the named bucket succeeded and you already own it."
                    ));
                }
            }
            Err(e) => return Err(internal(e)),
        }
        Ok(S3Response::new(CreateBucketOutput {
            location: Some(format!("/{name}")),
        }))
    }

    pub async fn delete_bucket(
        &self,
        req: S3Request<DeleteBucketInput>,
    ) -> S3Result<S3Response<DeleteBucketOutput>> {
        let name = req.input.bucket;
        let (_, raw) = self.bucket_raw(&name).await?;
        let prefix = object_prefix(&name, "");
        let objects = self
            .store
            .scan(OBJECTS, &Scan::prefix(&prefix).limit(1))
            .await
            .map_err(internal)?;
        let versions = self
            .store
            .scan(VERSIONS, &Scan::prefix(&prefix).limit(1))
            .await
            .map_err(internal)?;
        if !objects.is_empty() || !versions.is_empty() {
            return Err(s3_error!(
                BucketNotEmpty,
                "The bucket you tried to delete is not empty"
            ));
        }
        // Uploads still in progress go with the bucket.
        let uploads = self
            .store
            .scan(UPLOADS, &Scan::prefix(&prefix))
            .await
            .map_err(internal)?;
        let mut txn = Txn::new()
            .equals(BUCKETS, name.as_bytes(), raw)
            .delete(BUCKETS, name.as_bytes())
            .delete_prefix(UPLOADS, prefix.clone());
        let mut blobs = Vec::new();
        for (_, v) in &uploads {
            if let Ok(u) = serde_json::from_slice::<crate::model::UploadRecord>(v) {
                for (_, p) in self
                    .store
                    .scan(PARTS, &Scan::prefix(&part_prefix(&u.upload_id)))
                    .await
                    .map_err(internal)?
                {
                    if let Ok(p) = serde_json::from_slice::<crate::model::PartRecord>(&p) {
                        blobs.push(p.blob);
                    }
                }
                txn = txn.delete_prefix(PARTS, part_prefix(&u.upload_id));
            }
        }
        match self.store.commit(txn).await {
            Ok(()) => {}
            Err(StoreError::ConditionFailed { .. }) => {
                return Err(s3_error!(
                    OperationAborted,
                    "A conflicting conditional operation is currently in progress against this resource. Please try again."
                ));
            }
            Err(e) => return Err(internal(e)),
        }
        release(&self.blobs, blobs).await;
        Ok(S3Response::new(DeleteBucketOutput {}))
    }

    pub async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        Ok(S3Response::new(HeadBucketOutput {
            bucket_region: Some(rec.region.clone()),
            ..Default::default()
        }))
    }

    pub async fn list_buckets(
        &self,
        req: S3Request<ListBucketsInput>,
    ) -> S3Result<S3Response<ListBucketsOutput>> {
        let who = caller(&req)?;
        let input = req.input;
        let max = input.max_buckets.unwrap_or(10_000).clamp(1, 10_000) as usize;
        let mut scan = Scan::all();
        if let Some(token) = &input.continuation_token {
            scan = scan.after(token.as_bytes());
        }
        let rows = self.store.scan(BUCKETS, &scan).await.map_err(internal)?;
        let mut buckets = Vec::new();
        let mut next = None;
        for (_, v) in rows {
            let Ok(rec) = serde_json::from_slice::<BucketRecord>(&v) else {
                continue;
            };
            if rec.account != who.account_id
                || input
                    .prefix
                    .as_ref()
                    .is_some_and(|p| !rec.name.starts_with(p.as_str()))
                || input.bucket_region.as_ref().is_some_and(|r| *r != rec.region)
            {
                continue;
            }
            if buckets.len() == max {
                next = buckets.last().and_then(|b: &Bucket| b.name.clone());
                break;
            }
            buckets.push(Bucket {
                name: Some(rec.name.clone()),
                creation_date: Some(crate::backend::timestamp(rec.created_ms)),
                bucket_region: Some(rec.region.clone()),
            });
        }
        Ok(S3Response::new(ListBucketsOutput {
            buckets: Some(buckets),
            owner: Some(owner(&who.account_id)),
            continuation_token: next,
            prefix: input.prefix,
        }))
    }

    pub async fn get_bucket_location(
        &self,
        req: S3Request<GetBucketLocationInput>,
    ) -> S3Result<S3Response<GetBucketLocationOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        let location_constraint =
            (rec.region != "us-east-1").then(|| BucketLocationConstraint::from(rec.region.clone()));
        Ok(S3Response::new(GetBucketLocationOutput { location_constraint }))
    }

    pub async fn get_bucket_versioning(
        &self,
        req: S3Request<GetBucketVersioningInput>,
    ) -> S3Result<S3Response<GetBucketVersioningOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketVersioningOutput {
            status: rec.versioning.clone().map(BucketVersioningStatus::from),
            mfa_delete: None,
        }))
    }

    pub async fn put_bucket_versioning(
        &self,
        req: S3Request<PutBucketVersioningInput>,
    ) -> S3Result<S3Response<PutBucketVersioningOutput>> {
        let name = req.input.bucket;
        let status = req
            .input
            .versioning_configuration
            .status
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| s3_error!(MalformedXML))?;
        if status != "Enabled" && status != "Suspended" {
            return Err(s3_error!(MalformedXML));
        }
        let before = self.bucket(&name).await?;
        if before.versioning.is_none() {
            self.start_versioning(&name).await?;
        }
        self.update_bucket(&name, |rec| {
            rec.versioning = Some(status.clone());
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketVersioningOutput {}))
    }

    /// The first time versioning is configured, every existing object becomes its `null`
    /// version in the version index.
    async fn start_versioning(&self, bucket: &str) -> S3Result<()> {
        let prefix = object_prefix(bucket, "");
        let mut scan = Scan::prefix(&prefix).limit(500);
        loop {
            let rows = self.store.scan(OBJECTS, &scan).await.map_err(internal)?;
            let Some((last, _)) = rows.last() else { break };
            let last = last.clone();
            let mut txn = Txn::new();
            for (k, v) in &rows {
                let (Some(key), Some(rec)) = (crate::model::decode_object_key(k), ObjectRecord::decode(v))
                else {
                    continue;
                };
                txn = txn.put(VERSIONS, version_key(bucket, &key, self.next_seq()), rec.encode());
            }
            self.store.commit(txn).await.map_err(internal)?;
            scan = Scan::prefix(&prefix).after(&last).limit(500);
        }
        Ok(())
    }

    pub async fn get_bucket_policy(
        &self,
        req: S3Request<GetBucketPolicyInput>,
    ) -> S3Result<S3Response<GetBucketPolicyOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        match &rec.policy {
            Some(policy) => Ok(S3Response::new(GetBucketPolicyOutput {
                policy: Some(policy.clone()),
            })),
            None => Err(s3_error!(NoSuchBucketPolicy, "The bucket policy does not exist")),
        }
    }

    pub async fn put_bucket_policy(
        &self,
        req: S3Request<PutBucketPolicyInput>,
    ) -> S3Result<S3Response<PutBucketPolicyOutput>> {
        let policy = req.input.policy;
        let parsed: Option<serde_json::Value> = serde_json::from_str(&policy).ok();
        let statements_ok = parsed
            .as_ref()
            .and_then(|p| p.get("Statement"))
            .is_some_and(|s| s.is_array() || s.is_object());
        if !policy.trim_start().starts_with('{') || !statements_ok {
            return Err(s3_error!(
                MalformedPolicy,
                "Policies must be valid JSON and the first byte must be '{{'"
            ));
        }
        let public = parsed.as_ref().is_some_and(is_public_policy);
        self.update_bucket(&req.input.bucket, |rec| {
            if public && public_access_block(rec).block_public_policy == Some(true) {
                return Err(s3_error!(AccessDenied, "Access Denied"));
            }
            rec.policy = Some(policy.clone());
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketPolicyOutput {}))
    }

    pub async fn delete_bucket_policy(
        &self,
        req: S3Request<DeleteBucketPolicyInput>,
    ) -> S3Result<S3Response<DeleteBucketPolicyOutput>> {
        self.update_bucket(&req.input.bucket, |rec| {
            rec.policy = None;
            Ok(())
        })
        .await?;
        Ok(S3Response::new(DeleteBucketPolicyOutput {}))
    }

    pub async fn get_bucket_acl(
        &self,
        req: S3Request<GetBucketAclInput>,
    ) -> S3Result<S3Response<GetBucketAclOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        Ok(S3Response::new(GetBucketAclOutput {
            grants: Some(grants(&rec.account, rec.acl.as_deref())),
            owner: Some(owner(&rec.account)),
        }))
    }

    pub async fn put_bucket_acl(
        &self,
        req: S3Request<PutBucketAclInput>,
    ) -> S3Result<S3Response<PutBucketAclOutput>> {
        let acl = canned_from(
            req.input.acl.map(|a| a.as_str().to_string()),
            req.input.access_control_policy.as_ref(),
        )?;
        self.update_bucket(&req.input.bucket, |rec| {
            if let Some(a) = &acl {
                check_acl_allowed(rec, a)?;
            }
            rec.acl = acl.clone();
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketAclOutput {}))
    }

    pub async fn get_public_access_block(
        &self,
        req: S3Request<GetPublicAccessBlockInput>,
    ) -> S3Result<S3Response<GetPublicAccessBlockOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        match get_config::<PublicAccessBlockConfiguration>(&rec, PUBLIC_ACCESS_BLOCK) {
            Some(c) => Ok(S3Response::new(GetPublicAccessBlockOutput {
                public_access_block_configuration: Some(PublicAccessBlockConfiguration {
                    block_public_acls: Some(c.block_public_acls.unwrap_or(false)),
                    ignore_public_acls: Some(c.ignore_public_acls.unwrap_or(false)),
                    block_public_policy: Some(c.block_public_policy.unwrap_or(false)),
                    restrict_public_buckets: Some(c.restrict_public_buckets.unwrap_or(false)),
                }),
            })),
            None => {
                let mut err = s3s::S3Error::with_message(
                    s3s::S3ErrorCode::Custom("NoSuchPublicAccessBlockConfiguration".into()),
                    "The public access block configuration was not found",
                );
                err.set_status_code(http::StatusCode::NOT_FOUND);
                Err(err)
            }
        }
    }

    pub async fn put_public_access_block(
        &self,
        req: S3Request<PutPublicAccessBlockInput>,
    ) -> S3Result<S3Response<PutPublicAccessBlockOutput>> {
        let c = req.input.public_access_block_configuration;
        self.set_config(&req.input.bucket, PUBLIC_ACCESS_BLOCK, Some(&c))
            .await?;
        Ok(S3Response::new(PutPublicAccessBlockOutput {}))
    }

    pub async fn delete_public_access_block(
        &self,
        req: S3Request<DeletePublicAccessBlockInput>,
    ) -> S3Result<S3Response<DeletePublicAccessBlockOutput>> {
        self.set_config::<()>(&req.input.bucket, PUBLIC_ACCESS_BLOCK, None)
            .await?;
        Ok(S3Response::new(DeletePublicAccessBlockOutput {}))
    }

    pub async fn get_bucket_ownership_controls(
        &self,
        req: S3Request<GetBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<GetBucketOwnershipControlsOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        match get_config::<String>(&rec, OWNERSHIP) {
            Some(o) => Ok(S3Response::new(GetBucketOwnershipControlsOutput {
                ownership_controls: Some(OwnershipControls {
                    rules: vec![OwnershipControlsRule {
                        object_ownership: ObjectOwnership::from(o),
                    }],
                }),
            })),
            None => Err(s3_error!(
                OwnershipControlsNotFoundError,
                "The bucket ownership controls were not found"
            )),
        }
    }

    pub async fn put_bucket_ownership_controls(
        &self,
        req: S3Request<PutBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<PutBucketOwnershipControlsOutput>> {
        let c = req.input.ownership_controls;
        if c.rules.len() != 1 {
            return Err(s3_error!(MalformedXML));
        }
        let value = c.rules[0].object_ownership.as_str().to_string();
        if !matches!(
            value.as_str(),
            "BucketOwnerEnforced" | "BucketOwnerPreferred" | "ObjectWriter"
        ) {
            return Err(s3_error!(MalformedXML));
        }
        self.update_bucket(&req.input.bucket, |rec| {
            // ACLs cannot be disabled while the bucket has a non-private one.
            if value == "BucketOwnerEnforced" && rec.acl.as_deref().is_some_and(|a| a != "private") {
                return Err(s3_error!(
                    InvalidBucketAclWithObjectOwnership,
                    "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting"
                ));
            }
            rec.configs
                .insert(OWNERSHIP.into(), serde_json::Value::String(value.clone()));
            Ok(())
        })
        .await?;
        Ok(S3Response::new(PutBucketOwnershipControlsOutput {}))
    }

    pub async fn delete_bucket_ownership_controls(
        &self,
        req: S3Request<DeleteBucketOwnershipControlsInput>,
    ) -> S3Result<S3Response<DeleteBucketOwnershipControlsOutput>> {
        self.set_config::<()>(&req.input.bucket, OWNERSHIP, None).await?;
        Ok(S3Response::new(DeleteBucketOwnershipControlsOutput {}))
    }

    pub async fn get_bucket_tagging(
        &self,
        req: S3Request<GetBucketTaggingInput>,
    ) -> S3Result<S3Response<GetBucketTaggingOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        match get_config::<Vec<(String, String)>>(&rec, "tagging") {
            Some(tags) if !tags.is_empty() => Ok(S3Response::new(GetBucketTaggingOutput {
                tag_set: tag_set(&tags),
            })),
            _ => Err(s3_error!(NoSuchTagSet, "The TagSet does not exist")),
        }
    }

    pub async fn put_bucket_tagging(
        &self,
        req: S3Request<PutBucketTaggingInput>,
    ) -> S3Result<S3Response<PutBucketTaggingOutput>> {
        let tags = tags_in(&req.input.tagging.tag_set, 50)?;
        self.set_config(&req.input.bucket, "tagging", Some(&tags)).await?;
        Ok(S3Response::new(PutBucketTaggingOutput {}))
    }

    pub async fn delete_bucket_tagging(
        &self,
        req: S3Request<DeleteBucketTaggingInput>,
    ) -> S3Result<S3Response<DeleteBucketTaggingOutput>> {
        self.set_config::<()>(&req.input.bucket, "tagging", None).await?;
        Ok(S3Response::new(DeleteBucketTaggingOutput {}))
    }

    pub async fn get_bucket_cors(
        &self,
        req: S3Request<GetBucketCorsInput>,
    ) -> S3Result<S3Response<GetBucketCorsOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        match get_config::<CORSConfiguration>(&rec, "cors") {
            Some(c) => Ok(S3Response::new(GetBucketCorsOutput {
                cors_rules: Some(c.cors_rules),
            })),
            None => Err(s3_error!(
                NoSuchCORSConfiguration,
                "The CORS configuration does not exist"
            )),
        }
    }

    pub async fn put_bucket_cors(
        &self,
        req: S3Request<PutBucketCorsInput>,
    ) -> S3Result<S3Response<PutBucketCorsOutput>> {
        let cors = req.input.cors_configuration;
        if cors.cors_rules.is_empty() || cors.cors_rules.len() > 100 {
            return Err(s3_error!(MalformedXML));
        }
        self.set_config(&req.input.bucket, "cors", Some(&cors)).await?;
        Ok(S3Response::new(PutBucketCorsOutput {}))
    }

    pub async fn delete_bucket_cors(
        &self,
        req: S3Request<DeleteBucketCorsInput>,
    ) -> S3Result<S3Response<DeleteBucketCorsOutput>> {
        self.set_config::<()>(&req.input.bucket, "cors", None).await?;
        Ok(S3Response::new(DeleteBucketCorsOutput {}))
    }

    pub async fn get_bucket_website(
        &self,
        req: S3Request<GetBucketWebsiteInput>,
    ) -> S3Result<S3Response<GetBucketWebsiteOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        match get_config::<WebsiteConfiguration>(&rec, "website") {
            Some(w) => Ok(S3Response::new(GetBucketWebsiteOutput {
                error_document: w.error_document,
                index_document: w.index_document,
                redirect_all_requests_to: w.redirect_all_requests_to,
                routing_rules: w.routing_rules,
            })),
            None => Err(s3_error!(
                NoSuchWebsiteConfiguration,
                "The specified bucket does not have a website configuration"
            )),
        }
    }

    pub async fn put_bucket_website(
        &self,
        req: S3Request<PutBucketWebsiteInput>,
    ) -> S3Result<S3Response<PutBucketWebsiteOutput>> {
        let w = req.input.website_configuration;
        if w.index_document.is_none() && w.redirect_all_requests_to.is_none() {
            return Err(s3_error!(
                InvalidArgument,
                "A value for IndexDocument Suffix must be provided if RedirectAllRequestsTo is empty"
            ));
        }
        if w.redirect_all_requests_to.is_some()
            && (w.index_document.is_some() || w.error_document.is_some() || w.routing_rules.is_some())
        {
            return Err(s3_error!(
                InvalidRequest,
                "RedirectAllRequestsTo cannot be provided in conjunction with other Routing Rules."
            ));
        }
        if let Some(index) = &w.index_document
            && (index.suffix.is_empty() || index.suffix.contains('/'))
        {
            return Err(s3_error!(
                InvalidArgument,
                "The IndexDocument Suffix is not well formed"
            ));
        }
        self.set_config(&req.input.bucket, "website", Some(&w)).await?;
        Ok(S3Response::new(PutBucketWebsiteOutput {}))
    }

    pub async fn delete_bucket_website(
        &self,
        req: S3Request<DeleteBucketWebsiteInput>,
    ) -> S3Result<S3Response<DeleteBucketWebsiteOutput>> {
        self.set_config::<()>(&req.input.bucket, "website", None).await?;
        Ok(S3Response::new(DeleteBucketWebsiteOutput {}))
    }

    pub async fn get_bucket_lifecycle_configuration(
        &self,
        req: S3Request<GetBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketLifecycleConfigurationOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        match get_config::<BucketLifecycleConfiguration>(&rec, "lifecycle") {
            Some(l) => Ok(S3Response::new(GetBucketLifecycleConfigurationOutput {
                rules: Some(l.rules),
                ..Default::default()
            })),
            None => Err(s3_error!(
                NoSuchLifecycleConfiguration,
                "The lifecycle configuration does not exist"
            )),
        }
    }

    pub async fn put_bucket_lifecycle_configuration(
        &self,
        req: S3Request<PutBucketLifecycleConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketLifecycleConfigurationOutput>> {
        let Some(l) = req.input.lifecycle_configuration else {
            return Err(s3_error!(MalformedXML));
        };
        if l.rules.is_empty() || l.rules.len() > 1000 {
            return Err(s3_error!(MalformedXML));
        }
        self.set_config(&req.input.bucket, "lifecycle", Some(&l)).await?;
        Ok(S3Response::new(PutBucketLifecycleConfigurationOutput::default()))
    }

    pub async fn delete_bucket_lifecycle(
        &self,
        req: S3Request<DeleteBucketLifecycleInput>,
    ) -> S3Result<S3Response<DeleteBucketLifecycleOutput>> {
        self.set_config::<()>(&req.input.bucket, "lifecycle", None)
            .await?;
        Ok(S3Response::new(DeleteBucketLifecycleOutput {}))
    }

    pub async fn get_bucket_notification_configuration(
        &self,
        req: S3Request<GetBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<GetBucketNotificationConfigurationOutput>> {
        let rec = self.bucket_for(&req.extensions, &req.input.bucket).await?;
        let n = get_config::<NotificationConfiguration>(&rec, "notification").unwrap_or_default();
        Ok(S3Response::new(GetBucketNotificationConfigurationOutput {
            event_bridge_configuration: n.event_bridge_configuration,
            lambda_function_configurations: n.lambda_function_configurations,
            queue_configurations: n.queue_configurations,
            topic_configurations: n.topic_configurations,
        }))
    }

    pub async fn put_bucket_notification_configuration(
        &self,
        req: S3Request<PutBucketNotificationConfigurationInput>,
    ) -> S3Result<S3Response<PutBucketNotificationConfigurationOutput>> {
        let mut n = req.input.notification_configuration;
        crate::notify::validate(&n)?;
        // Each configuration gets an id when it has none, as S3 assigns one.
        for c in n.lambda_function_configurations.iter_mut().flatten() {
            c.id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        }
        for c in n.queue_configurations.iter_mut().flatten() {
            c.id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        }
        for c in n.topic_configurations.iter_mut().flatten() {
            c.id.get_or_insert_with(|| uuid::Uuid::new_v4().to_string());
        }
        self.set_config(&req.input.bucket, "notification", Some(&n))
            .await?;
        Ok(S3Response::new(PutBucketNotificationConfigurationOutput {}))
    }
}

/// The grants a canned ACL stands for.
pub fn grants(account: &str, acl: Option<&str>) -> Grants {
    let full = Grant {
        grantee: Some(Grantee {
            type_: Type::from_static(Type::CANONICAL_USER),
            id: Some(crate::backend::canonical_id(account)),
            display_name: Some(account.to_string()),
            email_address: None,
            uri: None,
        }),
        permission: Some(Permission::from_static(Permission::FULL_CONTROL)),
    };
    let group = |uri: &str, perm: &'static str| Grant {
        grantee: Some(Grantee {
            type_: Type::from_static(Type::GROUP),
            uri: Some(uri.to_string()),
            id: None,
            display_name: None,
            email_address: None,
        }),
        permission: Some(Permission::from_static(perm)),
    };
    const ALL_USERS: &str = "http://acs.amazonaws.com/groups/global/AllUsers";
    const AUTHENTICATED: &str = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers";
    let mut out = vec![full];
    match acl {
        Some("public-read") => out.push(group(ALL_USERS, Permission::READ)),
        Some("public-read-write") => {
            out.push(group(ALL_USERS, Permission::READ));
            out.push(group(ALL_USERS, Permission::WRITE));
        }
        Some("authenticated-read") => out.push(group(AUTHENTICATED, Permission::READ)),
        _ => {}
    }
    out
}

/// A canned ACL from the `x-amz-acl` header or an AccessControlPolicy body (whose grants are
/// reduced to the canned ACL they amount to).
pub fn canned_from(canned: Option<String>, policy: Option<&AccessControlPolicy>) -> S3Result<Option<String>> {
    const CANNED: [&str; 8] = [
        "private",
        "public-read",
        "public-read-write",
        "authenticated-read",
        "aws-exec-read",
        "bucket-owner-read",
        "bucket-owner-full-control",
        "log-delivery-write",
    ];
    if let Some(c) = canned {
        if !CANNED.contains(&c.as_str()) {
            return Err(s3_error!(InvalidArgument, "The canned ACL {c} is not valid"));
        }
        return Ok(Some(c));
    }
    let Some(policy) = policy else {
        return Err(s3_error!(
            MissingSecurityHeader,
            "Your request was missing a required header"
        ));
    };
    let mut read = false;
    let mut write = false;
    let mut auth_read = false;
    for g in policy.grants.iter().flatten() {
        let uri = g.grantee.as_ref().and_then(|x| x.uri.as_deref()).unwrap_or("");
        let perm = g.permission.as_ref().map(|p| p.as_str()).unwrap_or("");
        if uri.ends_with("/AllUsers") {
            read |= perm == "READ" || perm == "FULL_CONTROL";
            write |= perm == "WRITE" || perm == "FULL_CONTROL";
        } else if uri.ends_with("/AuthenticatedUsers") {
            auth_read |= perm == "READ";
        }
    }
    Ok(Some(
        match (read, write, auth_read) {
            (true, true, _) => "public-read-write",
            (true, false, _) => "public-read",
            (false, _, true) => "authenticated-read",
            _ => "private",
        }
        .to_string(),
    ))
}
