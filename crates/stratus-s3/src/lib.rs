//! Amazon S3: buckets and objects with streaming bodies, multipart uploads, versioning,
//! checksums, conditional requests, presigned URLs and access control.
//!
//! The wire protocol (routing, XML, SigV4 in all of S3's variants, aws-chunked bodies) is the
//! `s3s` crate's; this crate is the storage behind it. Object metadata (and bodies up to
//! [`INLINE_MAX`]) lives in the store; larger bodies stream to the blob store, never whole in
//! memory. Authorization (owner, bucket policy, canned ACL) happens once per request in
//! [`access`], before any operation runs.

#[macro_use]
mod body;
mod access;
mod backend;
mod buckets;
mod crc;
mod lifecycle;
mod list;
mod model;
mod sweep;
// Declared before the modules that use its macros.
#[macro_use]
mod objects;
mod multipart;
pub mod notify;
mod website;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::BodyExt;
use s3s::service::{S3Service, S3ServiceBuilder};
use stratus_core::{Clock, Identity};
use stratus_store::{Blobs, Store};

pub use access::{Principal, Principals};

/// Bodies up to this size are kept inside the object's record: one store write per PUT.
pub const INLINE_MAX: usize = 64 * 1024;

/// The file name of a browser POST upload's `file` part, read by the gateway before the
/// protocol layer consumes the form (it keeps the field, not the name): replaces `${filename}`
/// in the key.
#[derive(Clone, Debug)]
pub struct PostFilename(pub String);

/// The `filename` of the `file` part in the head of a `multipart/form-data` body, if the head
/// holds it.
pub fn post_filename(head: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(head);
    for line in text.split("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("content-disposition:") && lower.contains("name=\"file\"") {
            let (_, rest) = line.split_once("filename=\"")?;
            let (name, _) = rest.split_once('"')?;
            return Some(name.to_string());
        }
    }
    None
}

/// The S3 service. Cheap to clone.
#[derive(Clone)]
pub struct S3 {
    service: Arc<S3Service>,
    backend: backend::Backend,
}

impl S3 {
    pub fn new(store: Store, blobs: Blobs, clock: Clock, principals: Arc<dyn Principals>) -> S3 {
        let backend = backend::Backend::new(store.clone(), blobs, clock.clone());
        let mut builder = S3ServiceBuilder::new(backend.clone());
        builder.set_auth(access::Auth {
            principals: principals.clone(),
        });
        builder.set_access(access::Access {
            principals,
            store,
            clock,
            buckets: Default::default(),
        });
        builder.set_host(access::Hosts);
        let service = Arc::new(builder.build());
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            rt.spawn(backend.clone().lifecycle_loop());
            let (backend, started) = (backend.clone(), std::time::SystemTime::now());
            rt.spawn(async move { sweep::sweep(&backend, started).await });
        }
        S3 { service, backend }
    }

    /// Reads a whole object on behalf of `account` (Lambda code packages): the bytes, or the
    /// S3 error code and message a GetObject would have given.
    pub async fn fetch(
        &self,
        account: &str,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<Vec<u8>, (String, String)> {
        let fail = |e: s3s::S3Error| {
            (
                e.code().as_str().to_string(),
                e.message().unwrap_or_default().to_string(),
            )
        };
        let b = self.backend.bucket(bucket).await.map_err(fail)?;
        let caller = Identity {
            account_id: account.to_string(),
            arn: format!("arn:aws:iam::{account}:root"),
            user_id: account.to_string(),
            access_key_id: String::new(),
        };
        if !access::may_read(&b, Some(&caller), key, self.backend.clock.now_ms()) {
            return Err(fail(access::access_denied()));
        }
        let rec = self.backend.read_object(&b, key, version).await.map_err(fail)?;
        let stream = body::open(&self.backend.blobs, &rec, 0, rec.size)
            .await
            .map_err(fail)?;
        let mut out = Vec::with_capacity(rec.size as usize);
        let mut stream = std::pin::pin!(stream);
        while let Some(chunk) = futures_util::StreamExt::next(&mut stream).await {
            out.extend_from_slice(&chunk.map_err(|e| ("InternalError".to_string(), e.to_string()))?);
        }
        Ok(out)
    }

    /// Starts delivering event notifications through `deliver` (once the services they reach
    /// exist).
    pub fn start_notifications(&self, deliver: notify::Deliver) {
        tokio::spawn(notify::pump(self.backend.clone(), deliver));
    }

    /// Serves one S3 request. `request_id` goes into the answer's headers and error bodies.
    pub async fn handle(&self, req: Request<s3s::Body>, request_id: &str) -> Response<s3s::Body> {
        let website = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .and_then(website_bucket)
            .map(str::to_string);
        let mut resp = if let Some(bucket) = website {
            self.backend.website(&bucket, &req, request_id).await
        } else {
            self.api(req, request_id).await
        };
        if let Ok(v) = HeaderValue::from_str(request_id) {
            resp.headers_mut().insert("x-amz-request-id", v.clone());
            resp.headers_mut().insert("x-amz-id-2", v);
        }
        resp
    }

    async fn api(&self, mut req: Request<s3s::Body>, request_id: &str) -> Response<s3s::Body> {
        // What an error answer names; read only when there is one.
        let (host, uri) = (req.headers().get(http::header::HOST).cloned(), req.uri().clone());
        normalize_presigned_signature(&mut req);
        req.extensions_mut()
            .insert(notify::RequestId(request_id.to_string()));
        let origin = req
            .headers()
            .get(http::header::ORIGIN)
            .and_then(|h| h.to_str().ok())
            .map(str::to_string);
        let target = || Target::of(host.as_ref().and_then(|h| h.to_str().ok()).unwrap_or(""), &uri);
        if req.method() == http::Method::OPTIONS {
            return self
                .preflight(&req, target().bucket.as_deref(), origin.as_deref(), request_id)
                .await;
        }
        let method = req.method().clone();
        let mut resp = match self.service.call(req).await {
            Ok(resp) => resp,
            Err(e) => {
                tracing::error!(request_id, error = ?e, "S3 request failed inside the protocol layer");
                let mut err = s3s::S3Error::with_message(
                    s3s::S3ErrorCode::InternalError,
                    "We encountered an internal error. Please try again.",
                );
                err.set_request_id(request_id);
                err.to_http_response()
                    .unwrap_or_else(|_| Response::new(s3s::Body::empty()))
            }
        };
        if resp.status().is_client_error() || resp.status().is_server_error() {
            resp = complete_error(resp, request_id, &target()).await;
        }
        if let Some(origin) = &origin
            && let Some(bucket) = &target().bucket
            && let Some(rule) = self.backend.cors_rule(bucket, origin, method.as_str(), &[]).await
        {
            website::cors_headers(resp.headers_mut(), &rule, origin, false);
        }
        resp
    }

    /// Answers a CORS preflight from the bucket's CORS rules.
    async fn preflight(
        &self,
        req: &Request<s3s::Body>,
        bucket: Option<&str>,
        origin: Option<&str>,
        request_id: &str,
    ) -> Response<s3s::Body> {
        let method = req
            .headers()
            .get("access-control-request-method")
            .and_then(|h| h.to_str().ok());
        let error = |status: u16, code: &str, message: &str| {
            let xml = format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>{request_id}</RequestId></Error>"
            );
            let mut resp = Response::new(s3s::Body::from(xml));
            *resp.status_mut() = http::StatusCode::from_u16(status).unwrap_or(http::StatusCode::FORBIDDEN);
            resp.headers_mut().insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/xml"),
            );
            resp
        };
        let (Some(bucket), Some(origin), Some(method)) = (bucket, origin, method) else {
            return error(
                400,
                "BadRequest",
                "Insufficient information. Origin request header needed.",
            );
        };
        let headers: Vec<String> = req
            .headers()
            .get("access-control-request-headers")
            .and_then(|h| h.to_str().ok())
            .map(|h| {
                h.split(',')
                    .map(|x| x.trim().to_ascii_lowercase())
                    .filter(|x| !x.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        let Ok(rec) = self.backend.bucket(bucket).await else {
            return error(404, "NoSuchBucket", "The specified bucket does not exist");
        };
        if !rec.configs.contains_key("cors") {
            return error(
                403,
                "AccessForbidden",
                "CORSResponse: CORS is not enabled for this bucket.",
            );
        }
        match self.backend.cors_rule(bucket, origin, method, &headers).await {
            Some(rule) => {
                let mut resp = Response::new(s3s::Body::empty());
                website::cors_headers(resp.headers_mut(), &rule, origin, true);
                if !headers.is_empty()
                    && let Ok(v) = HeaderValue::from_str(&headers.join(", "))
                {
                    resp.headers_mut().insert("access-control-allow-headers", v);
                }
                resp
            }
            None => error(
                403,
                "AccessForbidden",
                "CORSResponse: This CORS request is not allowed. This is usually because the evalution of Origin, request method / Access-Control-Request-Method or Access-Control-Request-Headers are not whitelisted by the resource's CORS spec.",
            ),
        }
    }
}

/// The bucket a website endpoint host names: `{bucket}.s3-website.localhost[:port]`.
pub fn website_bucket(host: &str) -> Option<&str> {
    let name = host.rsplit_once(':').map_or(host, |(h, _)| h);
    name.strip_suffix(".s3-website.localhost")
        .filter(|b| !b.is_empty())
}

/// The caller of a request whose signature the gateway has already verified (it then removes
/// the `Authorization` header, so the protocol layer sees no signature to check again).
#[derive(Clone, Debug)]
pub struct Verified(pub Identity);

/// The caller of a request, as [`access`] established it.
#[derive(Clone, Debug)]
pub(crate) struct Caller(pub Option<Identity>);

/// A presigned signature is lowercase hex; the protocol layer refuses other text as a malformed
/// URL, where S3 answers SignatureDoesNotMatch. Lowercasing it (it is not part of what is
/// signed) lets a forged signature fail the way S3's does.
fn normalize_presigned_signature(req: &mut Request<s3s::Body>) {
    let Some(query) = req.uri().query() else { return };
    let Some(start) = query.find("X-Amz-Signature=") else {
        return;
    };
    let value_start = start + "X-Amz-Signature=".len();
    let value_end = query[value_start..]
        .find('&')
        .map_or(query.len(), |i| value_start + i);
    let value = &query[value_start..value_end];
    if !value.bytes().any(|b| b.is_ascii_uppercase()) {
        return;
    }
    let fixed = format!(
        "{}{}{}",
        &query[..value_start],
        value.to_ascii_lowercase(),
        &query[value_end..]
    );
    let path_and_query = format!("{}?{}", req.uri().path(), fixed);
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = path_and_query.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
}

/// The bucket and key a request names, for the elements S3 adds to its error answers.
#[derive(Default)]
struct Target {
    bucket: Option<String>,
    key: Option<String>,
}

impl Target {
    fn of(host: &str, uri: &http::Uri) -> Target {
        let host = host.rsplit_once(':').map_or(host, |(h, _)| h);
        let path = uri.path().trim_start_matches('/');
        let decode = |s: &str| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8_lossy()
                .into_owned()
        };
        let (bucket, key) = match host.strip_suffix(".s3.localhost") {
            Some(b) => (Some(b.to_string()), Some(path)),
            None => match path.split_once('/') {
                Some((b, k)) => (Some(decode(b)), Some(k)),
                None => ((!path.is_empty()).then(|| decode(path)), None),
            },
        };
        Target {
            bucket,
            key: key.filter(|k| !k.is_empty()).map(decode),
        }
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

/// Gives an error answer the message AWS writes for its code (the protocol layer leaves some
/// empty), the bucket or key it concerns, and the request id.
async fn complete_error(resp: Response<s3s::Body>, request_id: &str, target: &Target) -> Response<s3s::Body> {
    let (parts, body) = resp.into_parts();
    let Ok(collected) = body.collect().await else {
        return Response::from_parts(parts, s3s::Body::empty());
    };
    let bytes = collected.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    if !text.contains("<Error>") {
        return Response::from_parts(parts, s3s::Body::from(bytes));
    }
    let code = text
        .split_once("<Code>")
        .and_then(|(_, rest)| rest.split_once("</Code>"))
        .map(|(c, _)| c.to_string())
        .unwrap_or_default();
    let mut out = text.to_string();
    if !out.contains("<Message>")
        && let Some(msg) = default_message(&code)
    {
        out = out.replacen("</Code>", &format!("</Code><Message>{msg}</Message>"), 1);
    }
    let extra = match code.as_str() {
        "NoSuchBucket"
        | "BucketNotEmpty"
        | "BucketAlreadyExists"
        | "BucketAlreadyOwnedByYou"
        | "NoSuchBucketPolicy"
        | "InvalidBucketName"
        | "NoSuchTagSet"
        | "NoSuchCORSConfiguration"
        | "NoSuchWebsiteConfiguration"
        | "NoSuchLifecycleConfiguration" => target
            .bucket
            .as_ref()
            .map(|b| format!("<BucketName>{}</BucketName>", xml_escape(b))),
        "NoSuchKey" => target
            .key
            .as_ref()
            .map(|k| format!("<Key>{}</Key>", xml_escape(k))),
        _ => None,
    };
    if let Some(extra) = extra {
        out = out.replacen("</Error>", &format!("{extra}</Error>"), 1);
    }
    if !out.contains("<RequestId>") {
        out = out.replacen(
            "</Error>",
            &format!("<RequestId>{request_id}</RequestId></Error>"),
            1,
        );
    }
    let mut parts = parts;
    parts.headers.remove(http::header::CONTENT_LENGTH);
    Response::from_parts(parts, s3s::Body::from(Bytes::from(out)))
}

/// AWS's messages for the errors the protocol layer raises without one.
fn default_message(code: &str) -> Option<&'static str> {
    Some(match code {
        "AccessDenied" => "Access Denied",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our published schema"
        }
        "InvalidArgument" => "Invalid Argument",
        "InvalidRequest" => "Invalid Request",
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "NotImplemented" => "A header you provided implies functionality that is not implemented",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided. Check your key and signing method."
        }
        "InvalidAccessKeyId" => "The AWS Access Key Id you provided does not exist in our records.",
        "MissingContentLength" => "You must provide the Content-Length HTTP header.",
        "EntityTooLarge" => "Your proposed upload exceeds the maximum allowed size",
        "InvalidDigest" => "The Content-MD5 you specified was invalid.",
        "InvalidRange" => "The requested range is not satisfiable",
        _ => return None,
    })
}
