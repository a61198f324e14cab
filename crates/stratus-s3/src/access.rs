//! Who may do what: signing keys for the protocol layer's signature check, then one
//! authorization decision per request — the bucket owner's account, the bucket policy, canned
//! ACLs — made before the operation runs. Virtual-hosted bucket names are parsed here too.

use std::sync::Arc;

use s3s::access::{S3Access, S3AccessContext};
use s3s::auth::{S3Auth, SecretKey};
use s3s::host::{S3Host, VirtualHost};
use s3s::{S3Result, s3_error};
use serde_json::Value;
use stratus_core::condition::{ContextKeys, glob};
use stratus_core::{Clock, Identity};
use stratus_store::Store;

use crate::Caller;
use crate::model::{BUCKETS, BucketRecord, OBJECTS, ObjectRecord, object_key};

/// A signing key and whom it stands for.
#[derive(Clone, Debug)]
pub struct Principal {
    pub secret_access_key: String,
    /// Temporary credentials must present their session token and expire.
    pub session_token: Option<String>,
    pub expires_ms: Option<i64>,
    pub identity: Identity,
}

/// Resolves access key ids (configured keys and STS temporary credentials).
#[async_trait::async_trait]
pub trait Principals: Send + Sync + 'static {
    async fn lookup(&self, access_key_id: &str) -> Option<Principal>;
}

pub struct Auth {
    pub principals: Arc<dyn Principals>,
}

#[async_trait::async_trait]
impl S3Auth for Auth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.principals.lookup(access_key).await {
            Some(p) => Ok(SecretKey::from(p.secret_access_key)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

pub struct Access {
    pub principals: Arc<dyn Principals>,
    pub store: Store,
    pub clock: Clock,
    pub buckets: ParsedBuckets,
}

/// Bucket records the access check parsed, by name, with the bytes they came from: every
/// request still reads the bytes (so a change on another node is seen at once) but parses
/// them only when they changed.
#[derive(Default)]
pub struct ParsedBuckets(std::sync::Mutex<std::collections::HashMap<String, Parsed>>);

/// A record's stored bytes and what they parse to.
type Parsed = (Vec<u8>, Arc<BucketRecord>);

impl ParsedBuckets {
    /// Most buckets remembered; past it the map starts over.
    const MAX: usize = 1024;

    fn parse(&self, name: &str, raw: Vec<u8>) -> Option<Arc<BucketRecord>> {
        let mut known = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((bytes, record)) = known.get(name)
            && *bytes == raw
        {
            return Some(record.clone());
        }
        let record = Arc::new(serde_json::from_slice::<BucketRecord>(&raw).ok()?);
        if known.len() >= Self::MAX {
            known.clear();
        }
        known.insert(name.to_string(), (raw, record.clone()));
        Some(record)
    }
}

#[async_trait::async_trait]
impl S3Access for Access {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let verified = cx.extensions_mut().remove::<crate::Verified>();
        let identity = match (cx.credentials(), verified) {
            (Some(creds), _) => Some(self.identify(&creds.access_key.clone(), cx).await?),
            (None, Some(crate::Verified(identity))) => Some(identity),
            (None, None) => None,
        };
        cx.extensions_mut().insert(Caller(identity.clone()));
        let op = cx.s3_op().name();
        let Some(bucket) = cx.s3_path().get_bucket_name().map(str::to_string) else {
            // ListBuckets and other account-level calls.
            return match identity {
                Some(_) => Ok(()),
                None => Err(access_denied()),
            };
        };
        let key = cx.s3_path().get_object_key().map(str::to_string);
        if op == "CreateBucket" {
            return match identity {
                Some(_) => Ok(()),
                None => Err(access_denied()),
            };
        }
        let raw = self
            .store
            .get(BUCKETS, bucket.as_bytes())
            .await
            .map_err(s3s::S3Error::internal_error)?;
        let Some(record) = raw.and_then(|r| self.buckets.parse(&bucket, r)) else {
            return Ok(()); // the operation answers NoSuchBucket
        };
        let action = iam_action(op);
        let source = cx.extensions_mut().get::<stratus_core::SourceIp>().copied();
        // Condition keys matter only to a bucket policy's conditions.
        let keys = if record.policy.is_some() {
            request_keys(cx, source, identity.as_ref(), self.clock.now_ms())
        } else {
            ContextKeys::new()
        };
        let decision = decide(&record, identity.as_ref(), action, key.as_deref(), &keys);
        cx.extensions_mut()
            .insert(crate::backend::CheckedBucket(record.clone()));
        match decision {
            Decision::Allow => Ok(()),
            Decision::Deny => Err(access_denied()),
            Decision::Undecided => {
                // An object's own canned ACL may still grant reading it.
                if matches!(action, "s3:GetObject")
                    && crate::buckets::public_access_block(&record).ignore_public_acls != Some(true)
                    && let Some(key) = &key
                    && let Ok(Some(raw)) = self.store.get(OBJECTS, &object_key(&bucket, key)).await
                    && let Some(obj) = ObjectRecord::decode(&raw)
                    && acl_grants(obj.acl.as_deref(), identity.as_ref(), action)
                {
                    return Ok(());
                }
                Err(access_denied())
            }
        }
    }
}

impl Access {
    /// The identity behind a validly signed request, after the checks only temporary
    /// credentials need.
    async fn identify(&self, access_key: &str, cx: &S3AccessContext<'_>) -> S3Result<Identity> {
        let Some(p) = self.principals.lookup(access_key).await else {
            return Err(s3_error!(InvalidAccessKeyId));
        };
        if let Some(expected) = &p.session_token {
            let presented = cx
                .headers()
                .get("x-amz-security-token")
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
                .or_else(|| {
                    cx.uri().query().and_then(|q| {
                        form_urlencoded::parse(q.as_bytes())
                            .find(|(k, _)| k == "X-Amz-Security-Token")
                            .map(|(_, v)| v.into_owned())
                    })
                });
            if presented.as_deref() != Some(expected.as_str()) {
                return Err(s3_error!(
                    InvalidToken,
                    "The provided token is malformed or otherwise invalid."
                ));
            }
        }
        if let Some(exp) = p.expires_ms
            && self.clock.now_ms() >= exp
        {
            return Err(s3_error!(ExpiredToken, "The provided token has expired."));
        }
        Ok(p.identity)
    }
}

pub fn access_denied() -> s3s::S3Error {
    s3_error!(AccessDenied, "Access Denied")
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision {
    Allow,
    Deny,
    Undecided,
}

/// The condition keys every request has: who is calling, and when.
pub fn caller_keys(caller: Option<&Identity>, now_ms: i64) -> ContextKeys {
    let mut keys = ContextKeys::new();
    keys.set("aws:CurrentTime", stratus_core::ids::iso8601_ms(now_ms))
        .set("aws:EpochTime", (now_ms / 1000).to_string())
        .set("aws:SecureTransport", "false");
    if let Some(c) = caller {
        keys.set("aws:PrincipalAccount", c.account_id.clone())
            .set("aws:PrincipalArn", c.arn.clone())
            .set("aws:userid", c.user_id.clone());
        let kind = if c.arn.ends_with(":root") {
            "Account"
        } else if c.arn.contains(":assumed-role/") {
            "AssumedRole"
        } else {
            "User"
        };
        keys.set("aws:PrincipalType", kind);
        if let Some(name) = c.arn.split(":user/").nth(1) {
            keys.set(
                "aws:username",
                name.rsplit('/').next().unwrap_or(name).to_string(),
            );
        }
    }
    keys
}

/// The condition keys of an S3 request: the caller's, plus what the request itself says
/// (source address, headers S3 defines keys for, the listing parameters).
fn request_keys(
    cx: &S3AccessContext<'_>,
    source: Option<stratus_core::SourceIp>,
    caller: Option<&Identity>,
    now_ms: i64,
) -> ContextKeys {
    let mut keys = caller_keys(caller, now_ms);
    if let Some(ip) = source {
        keys.set("aws:SourceIp", ip.0.to_string());
    }
    let headers = cx.headers();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    };
    if header("x-forwarded-proto").as_deref() == Some("https") {
        keys.set("aws:SecureTransport", "true");
    }
    for (key, name) in [
        ("aws:UserAgent", "user-agent"),
        ("aws:Referer", "referer"),
        ("s3:x-amz-acl", "x-amz-acl"),
        ("s3:x-amz-server-side-encryption", "x-amz-server-side-encryption"),
        ("s3:x-amz-storage-class", "x-amz-storage-class"),
        ("s3:x-amz-copy-source", "x-amz-copy-source"),
        ("s3:x-amz-metadata-directive", "x-amz-metadata-directive"),
        ("s3:x-amz-content-sha256", "x-amz-content-sha256"),
    ] {
        if let Some(v) = header(name) {
            keys.set(key, v);
        }
    }
    let query = cx.uri().query().unwrap_or_default();
    let presigned = query.contains("X-Amz-Signature=") || query.contains("Signature=");
    keys.set(
        "s3:authType",
        if presigned {
            "REST-QUERY-STRING"
        } else {
            "REST-HEADER"
        },
    );
    let v2 =
        header("authorization").is_some_and(|a| a.starts_with("AWS ")) || query.contains("AWSAccessKeyId=");
    keys.set("s3:signatureversion", if v2 { "AWS" } else { "AWS4-HMAC-SHA256" });
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "prefix" => keys.set("s3:prefix", v.into_owned()),
            "delimiter" => keys.set("s3:delimiter", v.into_owned()),
            "max-keys" => keys.set("s3:max-keys", v.into_owned()),
            _ => &mut keys,
        };
    }
    keys
}

/// Whether `caller` may read an object outside an S3 request (a copy source, function code,
/// the website endpoint): the bucket-level decision with the caller's own condition keys.
pub fn may_read(bucket: &BucketRecord, caller: Option<&Identity>, key: &str, now_ms: i64) -> bool {
    decide(
        bucket,
        caller,
        "s3:GetObject",
        Some(key),
        &caller_keys(caller, now_ms),
    ) == Decision::Allow
}

/// The bucket-level decision: an explicit Deny in the policy wins; then the owner's account,
/// an Allow in the policy, or the bucket's canned ACL allow. Policy statements apply only
/// when their `Condition` holds for `keys`.
pub fn decide(
    bucket: &BucketRecord,
    caller: Option<&Identity>,
    action: &str,
    key: Option<&str>,
    keys: &ContextKeys,
) -> Decision {
    let resource = match key {
        Some(k) => format!("arn:aws:s3:::{}/{}", bucket.name, k),
        None => format!("arn:aws:s3:::{}", bucket.name),
    };
    // The owner account's root can always manage the bucket policy, so that a policy that
    // denies everyone can be undone (as on AWS).
    if matches!(
        action,
        "s3:GetBucketPolicy" | "s3:PutBucketPolicy" | "s3:DeleteBucketPolicy"
    ) && caller.is_some_and(|c| c.account_id == bucket.account && c.arn.ends_with(":root"))
    {
        return Decision::Allow;
    }
    let policy = bucket
        .policy
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok());
    if let Some(policy) = &policy
        && policy_matches(policy, "Deny", caller, action, &resource, keys)
    {
        return Decision::Deny;
    }
    if caller.is_some_and(|c| c.account_id == bucket.account) {
        return Decision::Allow;
    }
    let block = crate::buckets::public_access_block(bucket);
    if let Some(policy) = &policy
        && policy_matches(policy, "Allow", caller, action, &resource, keys)
        // RestrictPublicBuckets: a public policy no longer opens the bucket to outsiders.
        && !(block.restrict_public_buckets == Some(true) && crate::buckets::is_public_policy(policy))
    {
        return Decision::Allow;
    }
    if block.ignore_public_acls != Some(true) && acl_grants(bucket.acl.as_deref(), caller, action) {
        return Decision::Allow;
    }
    Decision::Undecided
}

/// What a canned ACL lets others do.
fn acl_grants(acl: Option<&str>, caller: Option<&Identity>, action: &str) -> bool {
    let read = matches!(action, "s3:GetObject" | "s3:ListBucket");
    let write = matches!(action, "s3:PutObject" | "s3:DeleteObject");
    match acl {
        Some("public-read") => read,
        Some("public-read-write") => read || write,
        Some("authenticated-read") => read && caller.is_some(),
        _ => false,
    }
}

fn as_list(v: Option<&Value>) -> Vec<&str> {
    match v {
        Some(Value::String(s)) => vec![s.as_str()],
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn policy_matches(
    policy: &Value,
    effect: &str,
    caller: Option<&Identity>,
    action: &str,
    resource: &str,
    keys: &ContextKeys,
) -> bool {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return false,
    };
    statements.into_iter().any(|st| {
        st.get("Effect").and_then(Value::as_str) == Some(effect)
            && st
                .get("Condition")
                .is_none_or(|c| stratus_core::condition::holds(c, keys))
            && principal_matches(st.get("Principal"), caller)
            && as_list(st.get("Action"))
                .iter()
                .any(|a| glob(&a.to_ascii_lowercase(), &action.to_ascii_lowercase()))
            && as_list(st.get("Resource")).iter().any(|r| glob(r, resource))
    })
}

fn principal_matches(principal: Option<&Value>, caller: Option<&Identity>) -> bool {
    let aws = match principal {
        Some(Value::String(s)) if s == "*" => return true,
        Some(Value::Object(o)) => as_list(o.get("AWS")),
        _ => return false,
    };
    aws.iter().any(|p| {
        *p == "*"
            || caller.is_some_and(|c| {
                *p == c.account_id || *p == format!("arn:aws:iam::{}:root", c.account_id) || *p == c.arn
            })
    })
}

/// The IAM action an S3 operation is authorized as.
pub fn iam_action(op: &str) -> &'static str {
    match op {
        "GetObject" | "HeadObject" | "GetObjectAttributes" => "s3:GetObject",
        "PutObject"
        | "CopyObject"
        | "CreateMultipartUpload"
        | "UploadPart"
        | "UploadPartCopy"
        | "CompleteMultipartUpload"
        | "PostObject" => "s3:PutObject",
        "DeleteObject" | "DeleteObjects" => "s3:DeleteObject",
        "ListObjects" | "ListObjectsV2" | "HeadBucket" => "s3:ListBucket",
        "ListObjectVersions" => "s3:ListBucketVersions",
        "ListMultipartUploads" => "s3:ListBucketMultipartUploads",
        "ListParts" => "s3:ListMultipartUploadParts",
        "AbortMultipartUpload" => "s3:AbortMultipartUpload",
        "DeleteBucket" => "s3:DeleteBucket",
        "GetBucketLocation" => "s3:GetBucketLocation",
        "GetObjectTagging" => "s3:GetObjectTagging",
        "PutObjectTagging" => "s3:PutObjectTagging",
        "DeleteObjectTagging" => "s3:DeleteObjectTagging",
        "GetObjectAcl" => "s3:GetObjectAcl",
        "PutObjectAcl" => "s3:PutObjectAcl",
        "GetBucketPolicy" => "s3:GetBucketPolicy",
        "PutBucketPolicy" => "s3:PutBucketPolicy",
        "DeleteBucketPolicy" => "s3:DeleteBucketPolicy",
        "GetBucketAcl" => "s3:GetBucketAcl",
        "PutBucketAcl" => "s3:PutBucketAcl",
        "GetBucketVersioning" => "s3:GetBucketVersioning",
        "PutBucketVersioning" => "s3:PutBucketVersioning",
        "GetBucketTagging" => "s3:GetBucketTagging",
        "PutBucketTagging" | "DeleteBucketTagging" => "s3:PutBucketTagging",
        "GetBucketCors" => "s3:GetBucketCORS",
        "PutBucketCors" | "DeleteBucketCors" => "s3:PutBucketCORS",
        "GetBucketWebsite" => "s3:GetBucketWebsite",
        "PutBucketWebsite" => "s3:PutBucketWebsite",
        "DeleteBucketWebsite" => "s3:DeleteBucketWebsite",
        "GetBucketLifecycleConfiguration" => "s3:GetLifecycleConfiguration",
        "PutBucketLifecycleConfiguration" | "DeleteBucketLifecycle" => "s3:PutLifecycleConfiguration",
        "GetBucketNotificationConfiguration" => "s3:GetBucketNotification",
        "GetPublicAccessBlock" => "s3:GetBucketPublicAccessBlock",
        "PutPublicAccessBlock" | "DeletePublicAccessBlock" => "s3:PutBucketPublicAccessBlock",
        "GetBucketOwnershipControls" => "s3:GetBucketOwnershipControls",
        "PutBucketOwnershipControls" | "DeleteBucketOwnershipControls" => "s3:PutBucketOwnershipControls",
        "PutBucketNotificationConfiguration" => "s3:PutBucketNotification",
        _ => "s3:*Unlisted",
    }
}

/// Virtual-hosted buckets: `{bucket}.s3.localhost[:port]`; every other host is path style.
pub struct Hosts;

impl S3Host for Hosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
        if let Some(bucket) = name.strip_suffix(".s3.localhost")
            && !bucket.is_empty()
        {
            return Ok(VirtualHost::new(host).with_bucket(bucket));
        }
        Ok(VirtualHost::new(host))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(account: &str) -> Identity {
        Identity {
            account_id: account.into(),
            arn: format!("arn:aws:iam::{account}:user/u"),
            user_id: "AIDA".into(),
            access_key_id: "AKIA".into(),
        }
    }

    fn bucket(policy: Option<&str>, acl: Option<&str>) -> BucketRecord {
        BucketRecord {
            name: "b".into(),
            account: "111111111111".into(),
            region: "us-east-1".into(),
            created_ms: 0,
            versioning: None,
            acl: acl.map(Into::into),
            policy: policy.map(Into::into),
            configs: Default::default(),
        }
    }

    #[test]
    fn owner_allowed_others_not_unless_granted() {
        let b = bucket(None, None);
        assert_eq!(
            decide(
                &b,
                Some(&id("111111111111")),
                "s3:GetObject",
                Some("k"),
                &ContextKeys::new()
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &b,
                Some(&id("222222222222")),
                "s3:GetObject",
                Some("k"),
                &ContextKeys::new()
            ),
            Decision::Undecided
        );
        assert_eq!(
            decide(&b, None, "s3:GetObject", Some("k"), &ContextKeys::new()),
            Decision::Undecided
        );
        let public = bucket(None, Some("public-read"));
        assert_eq!(
            decide(&public, None, "s3:GetObject", Some("k"), &ContextKeys::new()),
            Decision::Allow
        );
        assert_eq!(
            decide(&public, None, "s3:PutObject", Some("k"), &ContextKeys::new()),
            Decision::Undecided
        );
    }

    #[test]
    fn policies_allow_and_deny_by_action_resource_and_principal() {
        let p = r#"{"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"s3:GetObject","Resource":"arn:aws:s3:::b/pub/*"},
            {"Effect":"Allow","Principal":{"AWS":["222222222222"]},"Action":["s3:*"],"Resource":["arn:aws:s3:::b","arn:aws:s3:::b/*"]},
            {"Effect":"Deny","Principal":"*","Action":"s3:DeleteObject","Resource":"arn:aws:s3:::b/locked/*"}]}"#;
        let b = bucket(Some(p), None);
        assert_eq!(
            decide(&b, None, "s3:GetObject", Some("pub/x"), &ContextKeys::new()),
            Decision::Allow
        );
        assert_eq!(
            decide(&b, None, "s3:GetObject", Some("priv/x"), &ContextKeys::new()),
            Decision::Undecided
        );
        assert_eq!(
            decide(
                &b,
                Some(&id("222222222222")),
                "s3:PutObject",
                Some("a"),
                &ContextKeys::new()
            ),
            Decision::Allow
        );
        assert_eq!(
            decide(
                &b,
                Some(&id("333333333333")),
                "s3:PutObject",
                Some("a"),
                &ContextKeys::new()
            ),
            Decision::Undecided
        );
        assert_eq!(
            decide(
                &b,
                Some(&id("111111111111")),
                "s3:DeleteObject",
                Some("locked/a"),
                &ContextKeys::new()
            ),
            Decision::Deny
        );
    }

    #[test]
    fn globs() {
        assert!(glob("arn:aws:s3:::b/*", "arn:aws:s3:::b/x/y"));
        assert!(!glob("arn:aws:s3:::b/*", "arn:aws:s3:::bb/x"));
        assert!(glob("s3:get*", "s3:getobject"));
        assert!(glob("a?c", "abc"));
    }
}
