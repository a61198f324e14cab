//! The one authentication check: every API request is SigV4-signed by a configured key or by
//! temporary credentials STS issued. Signatures are checked against real time (15-minute
//! window); temporary credentials expire on the Stratus clock.

use std::time::SystemTime;

use http::request::Parts;
use stratus_core::Identity;
use stratus_protocol::sigv4::{self, AuthError, RequestParts, Signature};
use stratus_protocol::{AwsError, Protocol};

use crate::Gateway;

fn request_parts(parts: &Parts) -> RequestParts<'_> {
    RequestParts {
        method: parts.method.as_str(),
        path: parts.uri.path(),
        query: parts.uri.query(),
        headers: &parts.headers,
        authority: parts.uri.authority().map(|a| a.as_str()),
    }
}

pub fn parse(parts: &Parts) -> Result<Option<Signature<'_>>, AuthError> {
    sigv4::parse(&request_parts(parts))
}

/// Verifies the request's signature; returns the caller and the region it signed for.
pub async fn authenticate(
    gw: &Gateway,
    signature: Result<Option<Signature<'_>>, AuthError>,
    parts: &Parts,
    body: &[u8],
    protocol: Protocol,
) -> Result<(Identity, String), AwsError> {
    let fail = |e: AuthError| AwsError::auth(protocol, &e);
    let sig = match signature {
        Ok(Some(sig)) => sig,
        Ok(None) => return Err(fail(AuthError::Missing)),
        Err(e) => return Err(fail(e)),
    };
    sigv4::check_time(&sig, SystemTime::now()).map_err(fail)?;
    let req = request_parts(parts);
    let double_encode = sig.credential.service != "s3";
    let key_id: &str = &sig.credential.access_key_id;
    let identity = if let Some((key, identity)) = gw.inner.keys.get(key_id) {
        let signing_key = gw.signing_key(&key.secret_access_key, &sig);
        sigv4::verify_with_key(&sig, &req, &signing_key, body, double_encode).map_err(fail)?;
        identity.clone()
    } else {
        let Some(temp) = gw.inner.sts.temporary_credential(key_id).await? else {
            return Err(fail(AuthError::UnknownKey));
        };
        let signing_key = gw.signing_key(&temp.secret_access_key, &sig);
        sigv4::verify_with_key(&sig, &req, &signing_key, body, double_encode).map_err(fail)?;
        if sig.security_token.as_deref() != Some(temp.session_token.as_str()) {
            return Err(fail(AuthError::InvalidToken));
        }
        if gw.inner.clock.now_ms() >= temp.expires_ms {
            return Err(fail(AuthError::ExpiredToken));
        }
        Identity {
            account_id: temp.account_id,
            arn: temp.arn,
            user_id: temp.user_id,
            access_key_id: temp.access_key_id,
        }
    };
    Ok((identity, sig.credential.region.into_owned()))
}

/// Derived signing keys by (secret, date, region, service): four HMACs saved per request.
#[derive(Default)]
pub struct SigningKeys {
    keys: std::sync::Mutex<std::collections::HashMap<String, [u8; 32]>>,
}

/// Entries kept before the cache starts over (keys change daily; this bounds memory).
const MAX_CACHED_KEYS: usize = 4096;

/// The scope and key a request thread derived or looked up last: a client signs request after
/// request with the same scope, so most lookups end here without building the map's key.
struct LastKey {
    secret: String,
    date: String,
    region: String,
    service: String,
    key: [u8; 32],
}

thread_local! {
    static LAST_KEY: std::cell::RefCell<Option<LastKey>> = const { std::cell::RefCell::new(None) };
}

impl SigningKeys {
    pub fn get(&self, secret: &str, sig: &Signature<'_>) -> [u8; 32] {
        let c = &sig.credential;
        let last = LAST_KEY.with_borrow(|last| {
            last.as_ref()
                .filter(|l| {
                    l.secret == secret && l.date == c.date && l.region == c.region && l.service == c.service
                })
                .map(|l| l.key)
        });
        if let Some(key) = last {
            return key;
        }
        let key = self.lookup(secret, sig);
        LAST_KEY.set(Some(LastKey {
            secret: secret.to_string(),
            date: c.date.to_string(),
            region: c.region.to_string(),
            service: c.service.to_string(),
            key,
        }));
        key
    }

    fn lookup(&self, secret: &str, sig: &Signature<'_>) -> [u8; 32] {
        let c = &sig.credential;
        let mut id =
            String::with_capacity(secret.len() + c.date.len() + c.region.len() + c.service.len() + 3);
        for part in [secret, "\n", &c.date, "\n", &c.region, "\n", &c.service] {
            id.push_str(part);
        }
        let mut keys = self.keys.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = keys.get(&id) {
            return *k;
        }
        let k = sigv4::signing_key(secret, &c.date, &c.region, &c.service);
        if keys.len() >= MAX_CACHED_KEYS {
            keys.clear();
        }
        keys.insert(id, k);
        k
    }
}

/// Signing keys for S3, whose protocol layer checks signatures itself: configured keys and
/// STS temporary credentials.
pub struct Principals {
    pub keys: std::collections::HashMap<String, stratus_core::AccessKeyConfig>,
    pub sts: stratus_sts::Sts,
}

#[async_trait::async_trait]
impl stratus_s3::Principals for Principals {
    async fn lookup(&self, access_key_id: &str) -> Option<stratus_s3::Principal> {
        if let Some(key) = self.keys.get(access_key_id) {
            return Some(stratus_s3::Principal {
                secret_access_key: key.secret_access_key.clone(),
                session_token: None,
                expires_ms: None,
                identity: Identity {
                    account_id: key.account_id.clone(),
                    arn: key.arn(),
                    user_id: key.user_id(),
                    access_key_id: access_key_id.to_string(),
                },
            });
        }
        let temp = self.sts.temporary_credential(access_key_id).await.ok()??;
        Some(stratus_s3::Principal {
            secret_access_key: temp.secret_access_key,
            session_token: Some(temp.session_token),
            expires_ms: Some(temp.expires_ms),
            identity: Identity {
                account_id: temp.account_id,
                arn: temp.arn,
                user_id: temp.user_id,
                access_key_id: temp.access_key_id,
            },
        })
    }
}
