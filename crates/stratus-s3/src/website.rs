//! What S3 serves outside its API: static website endpoints
//! (`{bucket}.s3-website.localhost`) with index and error documents, redirects and routing
//! rules; and CORS — preflight answers and the headers added to actual requests.

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode};
use s3s::dto::*;

use crate::backend::Backend;
use crate::body;
use crate::model::{BucketRecord, ObjectRecord};

fn page(
    status: StatusCode,
    code: &str,
    message: &str,
    extra: &[(&str, &str)],
    request_id: &str,
) -> Response<s3s::Body> {
    let mut items = format!("<li>Code: {code}</li>\n<li>Message: {message}</li>\n");
    for (k, v) in extra {
        items.push_str(&format!("<li>{k}: {v}</li>\n"));
    }
    items.push_str(&format!("<li>RequestId: {request_id}</li>\n"));
    let title = format!("{} {}", status.as_u16(), status.canonical_reason().unwrap_or(""));
    let html = format!(
        "<html>\n<head><title>{title}</title></head>\n<body>\n<h1>{title}</h1>\n<ul>\n{items}</ul>\n<hr/>\n</body>\n</html>\n"
    );
    let mut resp = Response::new(s3s::Body::from(html));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    resp
}

fn redirect(status: u16, location: &str) -> Response<s3s::Body> {
    let mut resp = Response::new(s3s::Body::empty());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::MOVED_PERMANENTLY);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(http::header::LOCATION, v);
    }
    resp
}

/// The redirect a routing rule makes of `key`.
fn rule_redirect(r: &Redirect, key: &str, prefix: Option<&str>, host: &str) -> Response<s3s::Body> {
    let new_key = match (&r.replace_key_with, &r.replace_key_prefix_with) {
        (Some(k), _) => k.clone(),
        (None, Some(p)) => format!("{p}{}", &key[prefix.unwrap_or("").len().min(key.len())..]),
        (None, None) => key.to_string(),
    };
    let protocol = r.protocol.as_ref().map_or("http", |p| p.as_str());
    let host = r.host_name.as_deref().unwrap_or(host);
    let code = r
        .http_redirect_code
        .as_deref()
        .and_then(|c| c.parse().ok())
        .unwrap_or(301);
    redirect(code, &format!("{protocol}://{host}/{new_key}"))
}

impl Backend {
    /// Serves a website endpoint request for `bucket`.
    pub async fn website(
        &self,
        bucket: &str,
        req: &Request<s3s::Body>,
        request_id: &str,
    ) -> Response<s3s::Body> {
        let host = req
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or("")
            .to_string();
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return page(
                StatusCode::METHOD_NOT_ALLOWED,
                "MethodNotAllowed",
                "The specified method is not allowed against this resource.",
                &[("Method", req.method().as_str()), ("ResourceType", "OBJECT")],
                request_id,
            );
        }
        let Ok(rec) = self.bucket(bucket).await else {
            return page(
                StatusCode::NOT_FOUND,
                "NoSuchBucket",
                "The specified bucket does not exist",
                &[("BucketName", bucket)],
                request_id,
            );
        };
        let Some(site) = rec
            .configs
            .get("website")
            .and_then(|v| serde_json::from_value::<WebsiteConfiguration>(v.clone()).ok())
        else {
            return page(
                StatusCode::NOT_FOUND,
                "NoSuchWebsiteConfiguration",
                "The specified bucket does not have a website configuration",
                &[("BucketName", bucket)],
                request_id,
            );
        };
        let path = percent_encoding::percent_decode_str(req.uri().path())
            .decode_utf8_lossy()
            .into_owned();
        let key = path.trim_start_matches('/').to_string();
        if let Some(all) = &site.redirect_all_requests_to {
            let protocol = all.protocol.as_ref().map_or("http", |p| p.as_str());
            return redirect(301, &format!("{protocol}://{}/{key}", all.host_name));
        }
        let rules = site.routing_rules.clone().unwrap_or_default();
        // Rules that apply before the object is looked up (no error-code condition).
        for rule in &rules {
            let cond = rule.condition.as_ref();
            if cond.is_some_and(|c| c.http_error_code_returned_equals.is_some()) {
                continue;
            }
            let prefix = cond.and_then(|c| c.key_prefix_equals.as_deref());
            if prefix.is_none_or(|p| key.starts_with(p)) {
                return rule_redirect(&rule.redirect, &key, prefix, &host);
            }
        }
        let suffix = site
            .index_document
            .as_ref()
            .map_or("index.html", |i| i.suffix.as_str());
        let lookup = if key.is_empty() || key.ends_with('/') {
            format!("{key}{suffix}")
        } else {
            key.clone()
        };
        let (status, code, message) = match self.website_object(&rec, &lookup).await {
            Ok(obj) => {
                if let Some(loc) = obj.headers.get("website-redirect-location") {
                    return redirect(301, loc);
                }
                return self
                    .serve(&obj, req.method() == Method::HEAD, StatusCode::OK)
                    .await;
            }
            Err(status) => {
                // A "folder" without its trailing slash is redirected to it.
                if status == StatusCode::NOT_FOUND
                    && !key.is_empty()
                    && !key.ends_with('/')
                    && self
                        .website_object(&rec, &format!("{key}/{suffix}"))
                        .await
                        .is_ok()
                {
                    return redirect(302, &format!("/{key}/"));
                }
                if status == StatusCode::FORBIDDEN {
                    (status, "AccessDenied", "Access Denied")
                } else {
                    (status, "NoSuchKey", "The specified key does not exist.")
                }
            }
        };
        for rule in &rules {
            let Some(cond) = &rule.condition else { continue };
            if cond.http_error_code_returned_equals.as_deref() == Some(status.as_str())
                && cond
                    .key_prefix_equals
                    .as_deref()
                    .is_none_or(|p| key.starts_with(p))
            {
                return rule_redirect(&rule.redirect, &key, cond.key_prefix_equals.as_deref(), &host);
            }
        }
        if let Some(doc) = &site.error_document
            && let Ok(obj) = self.website_object(&rec, &doc.key).await
        {
            return self.serve(&obj, req.method() == Method::HEAD, status).await;
        }
        page(status, code, message, &[("Key", &lookup)], request_id)
    }

    /// An object the public may read through the website endpoint (404 or 403 otherwise).
    async fn website_object(&self, bucket: &BucketRecord, key: &str) -> Result<ObjectRecord, StatusCode> {
        let obj = self
            .read_object(bucket, key, None)
            .await
            .map_err(|_| StatusCode::NOT_FOUND)?;
        if !crate::access::may_read(bucket, None, key, self.clock.now_ms())
            && !matches!(obj.acl.as_deref(), Some("public-read" | "public-read-write"))
        {
            return Err(StatusCode::FORBIDDEN);
        }
        Ok(obj)
    }

    async fn serve(&self, obj: &ObjectRecord, head: bool, status: StatusCode) -> Response<s3s::Body> {
        let body = if head {
            s3s::Body::empty()
        } else {
            match body::open(&self.blobs, obj, 0, obj.size).await {
                Ok(stream) => s3s::Body::from(stream),
                Err(_) => s3s::Body::from(Bytes::new()),
            }
        };
        let mut resp = Response::new(body);
        *resp.status_mut() = status;
        let h = resp.headers_mut();
        if let Some(ct) = obj
            .headers
            .get("content-type")
            .and_then(|v| HeaderValue::from_str(v).ok())
        {
            h.insert(http::header::CONTENT_TYPE, ct);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", obj.etag)) {
            h.insert(http::header::ETAG, v);
        }
        h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(obj.size));
        resp
    }

    /// The CORS rule of `bucket` that allows `origin` to use `method` with `headers`.
    pub async fn cors_rule(
        &self,
        bucket: &str,
        origin: &str,
        method: &str,
        headers: &[String],
    ) -> Option<CORSRule> {
        let rec = self.bucket(bucket).await.ok()?;
        let cors = serde_json::from_value::<CORSConfiguration>(rec.configs.get("cors")?.clone()).ok()?;
        cors.cors_rules.into_iter().find(|r| {
            r.allowed_origins.iter().any(|o| wildcard(o, origin))
                && r.allowed_methods.iter().any(|m| m.eq_ignore_ascii_case(method))
                && headers.iter().all(|h| {
                    r.allowed_headers
                        .iter()
                        .flatten()
                        .any(|a| wildcard(&a.to_ascii_lowercase(), &h.to_ascii_lowercase()))
                })
        })
    }
}

/// S3's CORS wildcard: at most one `*`, matching any run of characters.
fn wildcard(pattern: &str, value: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == value,
        Some((a, b)) => value.len() >= a.len() + b.len() && value.starts_with(a) && value.ends_with(b),
    }
}

/// Adds the CORS response headers a matching rule grants.
pub fn cors_headers(resp_headers: &mut http::HeaderMap, rule: &CORSRule, origin: &str, preflight: bool) {
    let any = rule.allowed_origins.iter().any(|o| o == "*");
    let mut set = |k: &'static str, v: String| {
        if let Ok(v) = HeaderValue::from_str(&v) {
            resp_headers.insert(k, v);
        }
    };
    set(
        "access-control-allow-origin",
        if any { "*".into() } else { origin.into() },
    );
    if !any {
        set("access-control-allow-credentials", "true".into());
    }
    set(
        "vary",
        "Origin, Access-Control-Request-Headers, Access-Control-Request-Method".into(),
    );
    if preflight {
        set("access-control-allow-methods", rule.allowed_methods.join(", "));
        if let Some(age) = rule.max_age_seconds {
            set("access-control-max-age", age.to_string());
        }
    }
    if let Some(expose) = &rule.expose_headers
        && !expose.is_empty()
    {
        set("access-control-expose-headers", expose.join(", "));
    }
}
