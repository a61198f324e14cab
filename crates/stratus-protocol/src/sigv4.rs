//! AWS Signature Version 4, server side: parse the `Authorization` header or presigned query
//! parameters, rebuild the canonical request, and compare signatures in constant time.
//!
//! The canonical request follows the AWS specification; `tests/sigv4_oracle.rs` checks it
//! against the `aws-sigv4` crate that the Rust SDK signs with.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

type HmacSha256 = Hmac<Sha256>;

const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// How far a request's date may be from the server's real time.
pub const MAX_SKEW_SECS: i64 = 15 * 60;
/// The longest a presigned URL may be valid (7 days).
pub const MAX_PRESIGN_SECS: u64 = 604_800;
pub const UNSIGNED_PAYLOAD: &str = "UNSIGNED-PAYLOAD";

/// Characters SigV4 leaves unencoded: `A-Z a-z 0-9 - _ . ~`.
const SIGV4: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The credential scope: `AKID/20240101/us-east-1/dynamodb/aws4_request`.
///
/// A signature's parts borrow from the request where they appear in it as they are (the
/// `Authorization` header), so that parsing one allocates nothing in the common case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Credential<'a> {
    pub access_key_id: Cow<'a, str>,
    pub date: Cow<'a, str>,
    pub region: Cow<'a, str>,
    pub service: Cow<'a, str>,
}

/// A parsed SigV4 signature, not yet verified.
#[derive(Clone, Debug)]
pub struct Signature<'a> {
    pub credential: Credential<'a>,
    /// Lowercase header names.
    pub signed_headers: Vec<Cow<'a, str>>,
    pub signature: Cow<'a, str>,
    /// `X-Amz-Date` in ISO 8601 basic form.
    pub amz_date: Cow<'a, str>,
    /// Seconds a presigned URL stays valid; `None` for header signatures.
    pub presigned_expires: Option<u64>,
    pub security_token: Option<Cow<'a, str>>,
    /// The `x-amz-content-sha256` header, when the client sent one.
    pub content_sha256: Option<Cow<'a, str>>,
}

/// Why a request is not authenticated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AuthError {
    /// No signature at all.
    Missing,
    /// A signature that cannot be parsed; the message says what is wrong.
    Incomplete(String),
    /// The access key is not known.
    UnknownKey,
    /// The signature does not match.
    Mismatch {
        canonical_request: String,
        string_to_sign: String,
    },
    /// The request's date is outside the allowed window, or a presigned URL has expired.
    Expired(String),
    /// Temporary credentials whose expiry has passed.
    ExpiredToken,
    /// A missing or wrong session token for temporary credentials.
    InvalidToken,
}

/// The parts of an HTTP request that a signature covers.
pub struct RequestParts<'a> {
    pub method: &'a str,
    /// The path as received (percent-encoded by the client).
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    /// The authority when there is no `Host` header (HTTP/2 `:authority`).
    pub authority: Option<&'a str>,
}

fn incomplete(msg: impl Into<String>) -> AuthError {
    AuthError::Incomplete(msg.into())
}

fn header(headers: &HeaderMap, name: impl http::header::AsHeaderName) -> Option<&str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

// Names looked up in every signed request, parsed once (a `&str` name is parsed per lookup).
const X_AMZ_DATE: HeaderName = HeaderName::from_static("x-amz-date");
const X_AMZ_SECURITY_TOKEN: HeaderName = HeaderName::from_static("x-amz-security-token");
const X_AMZ_CONTENT_SHA256: HeaderName = HeaderName::from_static("x-amz-content-sha256");

fn parse_credential(s: &str) -> Result<Credential<'_>, AuthError> {
    let parts: Vec<&str> = s.split('/').collect();
    if parts.len() != 5 {
        return Err(incomplete(format!(
            "Credential should be scoped to a valid region. Credential is malformed: '{s}'."
        )));
    }
    if parts[4] != "aws4_request" {
        return Err(incomplete(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            parts[4]
        )));
    }
    if parts[0].is_empty() {
        return Err(incomplete(
            "Credential must have exactly 5 slash-delimited elements, e.g. keyid/date/region/service/term",
        ));
    }
    Ok(Credential {
        access_key_id: parts[0].into(),
        date: parts[1].into(),
        region: parts[2].into(),
        service: parts[3].into(),
    })
}

impl Credential<'_> {
    fn into_owned(self) -> Credential<'static> {
        Credential {
            access_key_id: self.access_key_id.into_owned().into(),
            date: self.date.into_owned().into(),
            region: self.region.into_owned().into(),
            service: self.service.into_owned().into(),
        }
    }
}

/// The names of `SignedHeaders`, lowercase (borrowed when they already are).
fn signed_header_names(list: &str) -> Vec<Cow<'_, str>> {
    list.split(';')
        .map(|h| {
            if h.bytes().any(|b| b.is_ascii_uppercase()) {
                Cow::Owned(h.to_ascii_lowercase())
            } else {
                Cow::Borrowed(h)
            }
        })
        .collect()
}

/// Finds and parses the request's signature. `Ok(None)`: the request carries none.
pub fn parse<'a>(req: &RequestParts<'a>) -> Result<Option<Signature<'a>>, AuthError> {
    if let Some(auth) = header(req.headers, http::header::AUTHORIZATION) {
        return parse_header(auth, req.headers).map(Some);
    }
    if let Some(q) = req.query
        && (q.contains("X-Amz-Algorithm=") || q.contains("X-Amz-Signature="))
    {
        return parse_presigned(q, req.headers).map(Some);
    }
    Ok(None)
}

fn parse_header<'a>(auth: &'a str, headers: &'a HeaderMap) -> Result<Signature<'a>, AuthError> {
    let Some(rest) = auth.strip_prefix(ALGORITHM) else {
        let algo = auth.split_whitespace().next().unwrap_or("");
        return Err(incomplete(format!(
            "Unsupported signing algorithm '{algo}': only {ALGORITHM} is accepted"
        )));
    };
    let (mut cred, mut signed, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let part = part.trim();
        if let Some(v) = part.strip_prefix("Credential=") {
            cred = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            sig = Some(v);
        }
    }
    let mut missing = Vec::new();
    if cred.is_none() {
        missing.push("Authorization header requires 'Credential' parameter.");
    }
    if sig.is_none() {
        missing.push("Authorization header requires 'Signature' parameter.");
    }
    if signed.is_none() {
        missing.push("Authorization header requires 'SignedHeaders' parameter.");
    }
    let amz_date = header(headers, X_AMZ_DATE);
    if amz_date.is_none() {
        missing.push("Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header.");
    }
    if !missing.is_empty() {
        return Err(incomplete(format!("{} Authorization={auth}", missing.join(" "))));
    }
    let credential = parse_credential(cred.unwrap_or_default())?;
    Ok(Signature {
        credential,
        signed_headers: signed_header_names(signed.unwrap_or_default()),
        signature: sig.unwrap_or_default().into(),
        amz_date: amz_date.unwrap_or_default().into(),
        presigned_expires: None,
        security_token: header(headers, X_AMZ_SECURITY_TOKEN).map(Cow::Borrowed),
        content_sha256: header(headers, X_AMZ_CONTENT_SHA256).map(Cow::Borrowed),
    })
}

fn parse_presigned<'a>(query: &str, headers: &'a HeaderMap) -> Result<Signature<'a>, AuthError> {
    let (mut algo, mut cred, mut date, mut expires, mut signed, mut sig, mut token) =
        (None, None, None, None, None, None, None);
    for (k, v) in form_pairs(query) {
        match k.as_str() {
            "X-Amz-Algorithm" => algo = Some(v),
            "X-Amz-Credential" => cred = Some(v),
            "X-Amz-Date" => date = Some(v),
            "X-Amz-Expires" => expires = Some(v),
            "X-Amz-SignedHeaders" => signed = Some(v),
            "X-Amz-Signature" => sig = Some(v),
            "X-Amz-Security-Token" => token = Some(v),
            _ => {}
        }
    }
    let mut missing = Vec::new();
    for (name, v) in [
        ("X-Amz-Algorithm", &algo),
        ("X-Amz-Credential", &cred),
        ("X-Amz-Signature", &sig),
        ("X-Amz-SignedHeaders", &signed),
        ("X-Amz-Date", &date),
    ] {
        if v.is_none() {
            missing.push(format!("AWS query-string parameters must include '{name}'."));
        }
    }
    if !missing.is_empty() {
        return Err(incomplete(missing.join(" ")));
    }
    if algo.as_deref() != Some(ALGORITHM) {
        return Err(incomplete(format!(
            "X-Amz-Algorithm only supports \"{ALGORITHM}\""
        )));
    }
    let expires = match expires {
        None => MAX_PRESIGN_SECS,
        Some(e) => match e.parse::<u64>() {
            Ok(n) if n <= MAX_PRESIGN_SECS => n,
            Ok(_) => {
                return Err(incomplete(
                    "X-Amz-Expires must be less than a week (in seconds) that is 604800",
                ));
            }
            Err(_) => return Err(incomplete("X-Amz-Expires should be a number")),
        },
    };
    Ok(Signature {
        credential: parse_credential(&cred.unwrap_or_default())?.into_owned(),
        signed_headers: signed_header_names(&signed.unwrap_or_default())
            .into_iter()
            .map(|h| Cow::Owned(h.into_owned()))
            .collect(),
        signature: sig.unwrap_or_default().into(),
        amz_date: date.unwrap_or_default().into(),
        presigned_expires: Some(expires),
        security_token: token.map(Cow::Owned),
        content_sha256: header(headers, X_AMZ_CONTENT_SHA256).map(Cow::Borrowed),
    })
}

/// Splits a raw query string into percent-decoded pairs (`+` stays `+`, as SigV4 requires).
pub fn form_pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    query.split('&').filter(|p| !p.is_empty()).map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (decode(k), decode(v))
    })
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Parses `20240101T000000Z` into Unix seconds.
pub fn parse_amz_date(s: &str) -> Option<i64> {
    // The format is fixed (`YYYYMMDDTHHMMSSZ`): reading the digits directly costs a fraction of
    // `time`'s general parser, which showed in every signed request's profile.
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |at: usize, len: usize| -> Option<u32> {
        b[at..at + len].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let month = time::Month::try_from(u8::try_from(num(4, 2)?).ok()?).ok()?;
    let date = time::Date::from_calendar_date(num(0, 4)? as i32, month, num(6, 2)? as u8).ok()?;
    let at = time::Time::from_hms(num(9, 2)? as u8, num(11, 2)? as u8, num(13, 2)? as u8).ok()?;
    Some(
        time::PrimitiveDateTime::new(date, at)
            .assume_utc()
            .unix_timestamp(),
    )
}

fn format_amz_date(secs: i64) -> String {
    let fmt = time::macros::format_description!("[year][month][day]T[hour][minute][second]Z");
    time::OffsetDateTime::from_unix_timestamp(secs)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

/// The canonical URI. For every service but S3 the path is normalized (empty, `.` and `..`
/// segments resolved, as the SDKs do before signing) and each segment encoded once more; S3
/// signs the path exactly as sent.
fn canonical_uri(path: &str, double_encode: bool) -> String {
    let path = if path.is_empty() { "/" } else { path };
    if !double_encode {
        return path.to_string();
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(path.len() + 8);
    for s in &segments {
        out.push('/');
        out.extend(utf8_percent_encode(s, SIGV4));
    }
    let trailing = ["/", "/.", "/./", "/..", "/../"]
        .iter()
        .any(|t| path.ends_with(t));
    if out.is_empty() || (trailing && !out.ends_with('/')) {
        out.push('/');
    }
    out
}

fn canonical_query(query: Option<&str>, presigned: bool) -> String {
    let Some(q) = query else { return String::new() };
    let mut pairs: Vec<(String, String)> = form_pairs(q)
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| {
            (
                utf8_percent_encode(&k, SIGV4).to_string(),
                utf8_percent_encode(&v, SIGV4).to_string(),
            )
        })
        .collect();
    pairs.sort();
    let mut out = String::with_capacity(q.len() + 8);
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push('&');
        }
        out.push_str(k);
        out.push('=');
        out.push_str(v);
    }
    out
}

/// Appends a header's canonical value: every value trimmed, inner whitespace runs collapsed to
/// one space, several values joined by commas.
fn push_canonical_header_value(out: &mut String, headers: &HeaderMap, name: &str, authority: Option<&str>) {
    let mut any = false;
    for (i, v) in headers.get_all(name).iter().enumerate() {
        any = true;
        if i > 0 {
            out.push(',');
        }
        // The usual value is printable ASCII, trimmed, with single spaces: already canonical.
        let bytes = v.as_bytes();
        let canonical = bytes.iter().all(|b| (b' '..0x7f).contains(b))
            && bytes.first() != Some(&b' ')
            && bytes.last() != Some(&b' ')
            && !bytes.windows(2).any(|w| w == b"  ");
        if let (true, Ok(s)) = (canonical, std::str::from_utf8(bytes)) {
            out.push_str(s);
            continue;
        }
        let s = String::from_utf8_lossy(bytes);
        for (j, word) in s.split_whitespace().enumerate() {
            if j > 0 {
                out.push(' ');
            }
            out.push_str(word);
        }
    }
    if !any && name == "host" {
        out.push_str(authority.unwrap_or_default());
    }
}

/// The canonical request and string to sign for `sig` over `req`, given the payload hash.
pub fn string_to_sign(
    sig: &Signature<'_>,
    req: &RequestParts<'_>,
    payload_hash: &str,
    double_encode: bool,
) -> (String, String) {
    let mut canonical = String::with_capacity(256);
    canonical.push_str(req.method);
    canonical.push('\n');
    canonical.push_str(&canonical_uri(req.path, double_encode));
    canonical.push('\n');
    canonical.push_str(&canonical_query(req.query, sig.presigned_expires.is_some()));
    canonical.push('\n');
    for name in &sig.signed_headers {
        canonical.push_str(name);
        canonical.push(':');
        push_canonical_header_value(&mut canonical, req.headers, name, req.authority);
        canonical.push('\n');
    }
    canonical.push('\n');
    canonical.push_str(&sig.signed_headers.join(";"));
    canonical.push('\n');
    canonical.push_str(payload_hash);
    let c = &sig.credential;
    let digest = Hex32::of(Sha256::digest(canonical.as_bytes()).into());
    let mut sts = String::with_capacity(160);
    for part in [
        ALGORITHM,
        "\n",
        &sig.amz_date,
        "\n",
        &c.date,
        "/",
        &c.region,
        "/",
        &c.service,
        "/aws4_request\n",
        digest.as_str(),
    ] {
        sts.push_str(part);
    }
    (canonical, sts)
}

/// The lowercase hex of a 32-byte digest, without the per-character work of `hex::encode`
/// (two of these per verified request).
struct Hex32([u8; 64]);

impl Hex32 {
    fn of(bytes: [u8; 32]) -> Hex32 {
        let mut out = [0u8; 64];
        hex::encode_to_slice(bytes, &mut out).expect("64 hex digits for 32 bytes");
        Hex32(out)
    }

    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("hex digits are ASCII")
    }
}

fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(data);
    mac.finalize().into_bytes().into()
}

/// The key that signs for one date, region and service.
pub fn signing_key(secret: &str, date: &str, region: &str, service: &str) -> [u8; 32] {
    let k = hmac(format!("AWS4{secret}").as_bytes(), date.as_bytes());
    let k = hmac(&k, region.as_bytes());
    let k = hmac(&k, service.as_bytes());
    hmac(&k, b"aws4_request")
}

/// Hex SHA-256 of a payload.
pub fn sha256_hex(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

fn unix_now(now: SystemTime) -> i64 {
    now.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Checks the request's date against real time `now` (15-minute skew; presigned expiry).
pub fn check_time(sig: &Signature<'_>, now: SystemTime) -> Result<(), AuthError> {
    let Some(signed_at) = parse_amz_date(&sig.amz_date) else {
        return Err(incomplete(format!(
            "Date must be in ISO-8601 'basic format'. Got '{}'. See http://en.wikipedia.org/wiki/ISO_8601",
            sig.amz_date
        )));
    };
    if !sig.amz_date.starts_with(sig.credential.date.as_ref()) {
        return Err(AuthError::Mismatch {
            canonical_request: String::new(),
            string_to_sign: format!(
                "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}', from '{}'.",
                sig.credential.date,
                &sig.amz_date[..8.min(sig.amz_date.len())],
                sig.amz_date
            ),
        });
    }
    let now = unix_now(now);
    if let Some(expires) = sig.presigned_expires {
        if now > signed_at + expires as i64 {
            return Err(AuthError::Expired(format!(
                "Request has expired: the presigned URL was valid until {} and it is now {}",
                format_amz_date(signed_at + expires as i64),
                format_amz_date(now)
            )));
        }
        if signed_at > now + MAX_SKEW_SECS {
            return Err(not_yet_current(signed_at, now));
        }
        return Ok(());
    }
    if signed_at < now - MAX_SKEW_SECS {
        return Err(AuthError::Expired(format!(
            "Signature expired: {} is now earlier than {} ({} - 15 min.)",
            sig.amz_date,
            format_amz_date(now - MAX_SKEW_SECS),
            format_amz_date(now)
        )));
    }
    if signed_at > now + MAX_SKEW_SECS {
        return Err(not_yet_current(signed_at, now));
    }
    Ok(())
}

fn not_yet_current(signed_at: i64, now: i64) -> AuthError {
    AuthError::Expired(format!(
        "Signature not yet current: {} is still later than {} ({} + 15 min.)",
        format_amz_date(signed_at),
        format_amz_date(now + MAX_SKEW_SECS),
        format_amz_date(now)
    ))
}

/// Verifies `sig` over `req` with `secret`. `body` is the received payload; `double_encode`
/// is true for every service except S3.
pub fn verify(
    sig: &Signature<'_>,
    req: &RequestParts<'_>,
    secret: &str,
    body: &[u8],
    double_encode: bool,
) -> Result<(), AuthError> {
    let c = &sig.credential;
    verify_with_key(
        sig,
        req,
        &signing_key(secret, &c.date, &c.region, &c.service),
        body,
        double_encode,
    )
}

/// [`verify`] with the signing key already derived (it changes once a day per key and scope,
/// so callers may cache it).
pub fn verify_with_key(
    sig: &Signature<'_>,
    req: &RequestParts<'_>,
    key: &[u8; 32],
    body: &[u8],
    double_encode: bool,
) -> Result<(), AuthError> {
    let body_hash = || sha256_hex(body);
    let mut candidates: Vec<String> = Vec::with_capacity(2);
    match sig.content_sha256.as_deref() {
        Some(h) if h == UNSIGNED_PAYLOAD || h.starts_with("STREAMING-") => candidates.push(h.to_string()),
        Some(h) => {
            let actual = body_hash();
            if !h.eq_ignore_ascii_case(&actual) {
                return Err(AuthError::Mismatch {
                    canonical_request: String::new(),
                    string_to_sign:
                        "The provided 'x-amz-content-sha256' header does not match what was computed.".into(),
                });
            }
            candidates.push(h.to_string());
        }
        None => {
            candidates.push(body_hash());
            if sig.presigned_expires.is_some() {
                candidates.push(UNSIGNED_PAYLOAD.to_string());
            }
        }
    }
    let provided = sig.signature.as_bytes();
    let mut first = None;
    for payload_hash in candidates {
        let (canonical, sts) = string_to_sign(sig, req, &payload_hash, double_encode);
        let expected = Hex32::of(hmac(key, sts.as_bytes()));
        if bool::from(expected.0.as_slice().ct_eq(provided)) {
            return Ok(());
        }
        first.get_or_insert((canonical, sts));
    }
    let (canonical_request, string_to_sign) = first.unwrap_or_default();
    Err(AuthError::Mismatch {
        canonical_request,
        string_to_sign,
    })
}

/// Signs a request the way clients do (header form). Used by tests and benchmarks; the
/// arguments are SigV4's inputs, one by one.
#[allow(clippy::too_many_arguments)]
pub fn sign_headers(
    method: &str,
    path: &str,
    query: Option<&str>,
    headers: &mut HeaderMap,
    body: &[u8],
    access_key: &str,
    secret: &str,
    region: &str,
    service: &str,
    now: SystemTime,
) {
    let amz_date = format_amz_date(unix_now(now));
    headers.insert("x-amz-date", amz_date.parse().expect("ascii date"));
    let mut signed: Vec<String> = headers.keys().map(|k| k.as_str().to_ascii_lowercase()).collect();
    signed.sort();
    signed.dedup();
    let sig = Signature {
        credential: Credential {
            access_key_id: access_key.into(),
            date: amz_date[..8].into(),
            region: region.into(),
            service: service.into(),
        },
        signed_headers: signed.into_iter().map(Cow::Owned).collect(),
        signature: Cow::Borrowed(""),
        amz_date: amz_date.as_str().into(),
        presigned_expires: None,
        security_token: None,
        content_sha256: None,
    };
    let req = RequestParts {
        method,
        path,
        query,
        headers,
        authority: None,
    };
    let (_, sts) = string_to_sign(&sig, &req, &sha256_hex(body), service != "s3");
    let key = signing_key(secret, &sig.credential.date, region, service);
    let signature = hex::encode(hmac(&key, sts.as_bytes()));
    let auth = format!(
        "{ALGORITHM} Credential={access_key}/{}/{region}/{service}/aws4_request, SignedHeaders={}, Signature={signature}",
        sig.credential.date,
        sig.signed_headers.join(";")
    );
    headers.insert("authorization", auth.parse().expect("ascii header"));
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The AWS documentation's example (IAM ListUsers, GET with query string).
    #[test]
    fn aws_documented_example() {
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
                .parse()
                .unwrap(),
        );
        let req = RequestParts {
            method: "GET",
            path: "/",
            query: Some("Action=ListUsers&Version=2010-05-08"),
            headers: &headers,
            authority: None,
        };
        let sig = parse(&req).unwrap().unwrap();
        assert_eq!(sig.credential.service, "iam");
        verify(&sig, &req, "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", b"", true).unwrap();
        let err = verify(&sig, &req, "wrong", b"", true).unwrap_err();
        assert!(matches!(err, AuthError::Mismatch { .. }));
    }

    #[test]
    fn amz_dates_parse_only_in_basic_format() {
        assert_eq!(parse_amz_date("20150830T123600Z"), Some(1_440_938_160));
        assert_eq!(parse_amz_date("20240229T235959Z"), Some(1_709_251_199));
        for bad in [
            "20150830T123600",
            "2015-08-30T12:36:00Z",
            "20151330T123600Z",
            "20150230T123600Z",
            "20150830T243600Z",
            "2015083OT123600Z",
            "20150830X123600Z",
            "+0150830T123600Z",
            "",
        ] {
            assert_eq!(parse_amz_date(bad), None, "{bad}");
        }
    }

    #[test]
    fn header_signatures_borrow_the_request_and_lowercase_signed_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        headers.insert("x-amz-security-token", "tok".parse().unwrap());
        let sig = parse_header(
            "AWS4-HMAC-SHA256 Credential=AKID/20150830/eu-west-1/sqs/aws4_request, SignedHeaders=Host;x-amz-date;X-Amz-Target, Signature=ab12",
            &headers,
        )
        .unwrap();
        assert_eq!(sig.signed_headers, ["host", "x-amz-date", "x-amz-target"]);
        assert!(matches!(sig.signed_headers[1], Cow::Borrowed(_)));
        assert_eq!(
            sig.credential,
            Credential {
                access_key_id: "AKID".into(),
                date: "20150830".into(),
                region: "eu-west-1".into(),
                service: "sqs".into(),
            }
        );
        assert_eq!(sig.signature, "ab12");
        assert_eq!(sig.amz_date, "20150830T123600Z");
        assert_eq!(sig.security_token.as_deref(), Some("tok"));
        assert_eq!(sig.content_sha256, None);
    }

    #[test]
    fn skew_window_is_fifteen_minutes() {
        let mut headers = HeaderMap::new();
        headers.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
        let mut sig = parse_header(
            "AWS4-HMAC-SHA256 Credential=a/20150830/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=00",
            &headers,
        )
        .unwrap();
        let signed =
            UNIX_EPOCH + std::time::Duration::from_secs(parse_amz_date("20150830T123600Z").unwrap() as u64);
        assert!(check_time(&sig, signed + std::time::Duration::from_secs(14 * 60)).is_ok());
        let err = check_time(&sig, signed + std::time::Duration::from_secs(16 * 60)).unwrap_err();
        assert_eq!(
            err,
            AuthError::Expired(
                "Signature expired: 20150830T123600Z is now earlier than 20150830T123700Z (20150830T125200Z - 15 min.)".into()
            )
        );
        assert!(check_time(&sig, signed - std::time::Duration::from_secs(16 * 60)).is_err());
        sig.presigned_expires = Some(60);
        assert!(check_time(&sig, signed + std::time::Duration::from_secs(59)).is_ok());
        assert!(check_time(&sig, signed + std::time::Duration::from_secs(61)).is_err());
    }

    #[test]
    fn malformed_headers_are_incomplete() {
        let h = HeaderMap::new();
        assert!(matches!(
            parse_header("AWS4-HMAC-SHA256 Credential=a/b", &h),
            Err(AuthError::Incomplete(_))
        ));
        assert!(matches!(
            parse_header("Bearer x", &h),
            Err(AuthError::Incomplete(_))
        ));
    }
}
