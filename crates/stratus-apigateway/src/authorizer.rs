//! Authorizers of HTTP APIs. JWT: the token from the identity source is verified against the
//! issuer's keys (OpenID discovery, JWKS cached per issuer), its issuer, audience
//! (`aud` or `client_id`), expiry and the route's scopes. Lambda (`REQUEST`): the authorizer
//! function gets the request in payload format 1.0 or 2.0 and answers a simple
//! `{"isAuthorized": ...}` or an IAM policy; answers are cached by identity source for the
//! authorizer's TTL. Failures are API Gateway's: 401 Unauthorized, 403 Forbidden, 500.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::Response;
use jsonwebtoken::jwk::JwkSet;
use serde_json::{Map, Value, json};
use stratus_core::Identity;

use crate::http_api::{
    Incoming, Resolved, event_v1, event_v2, function_of, internal_error, message, query_pairs,
};
use crate::v2::generated::{Authorizer, Route};
use crate::{ApiGateway, FunctionCall, SERVICE_PRINCIPAL, Source};

/// How long an issuer's keys are trusted before they are fetched again.
const JWKS_TTL: Duration = Duration::from_secs(2 * 3600);
/// An unknown `kid` refetches the keys at most this often.
const JWKS_REFRESH: Duration = Duration::from_secs(60);
/// Lambda authorizers must answer within 10 s.
const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

type Expiring<T> = Mutex<HashMap<String, (Instant, Arc<T>)>>;

#[derive(Default)]
pub struct Authorizers {
    jwks: Expiring<JwkSet>,
    answers: Expiring<LambdaAnswer>,
}

impl Authorizers {
    pub fn forget(&self) {
        self.jwks.lock().unwrap().clear();
        self.answers.lock().unwrap().clear();
    }
}

/// A token's claims and, when the route asks for scopes, the token's scopes.
type JwtGrant = (Map<String, Value>, Option<Vec<String>>);

/// What an authorizer let through, for the integration's event.
#[derive(Default)]
pub struct Granted {
    jwt: Option<JwtGrant>,
    lambda: Option<(Option<String>, Map<String, Value>)>,
    iam: Option<Identity>,
}

impl Granted {
    pub fn iam(identity: &Identity) -> Self {
        Granted {
            iam: Some(identity.clone()),
            ..Default::default()
        }
    }

    /// `requestContext.authorizer` of format 2.0.
    pub fn v2(&self) -> Option<Value> {
        if let Some((claims, scopes)) = &self.jwt {
            return Some(json!({ "jwt": { "claims": claims, "scopes": scopes } }));
        }
        if let Some((_, context)) = &self.lambda {
            return Some(json!({ "lambda": context }));
        }
        self.iam.as_ref().map(|i| {
            json!({ "iam": {
                "accessKey": i.access_key_id,
                "accountId": i.account_id,
                "callerId": i.user_id,
                "cognitoIdentity": null,
                "principalOrgId": null,
                "userArn": i.arn,
                "userId": i.user_id,
            }})
        })
    }

    /// `requestContext.authorizer` of format 1.0.
    pub fn v1(&self) -> Value {
        if let Some((claims, scopes)) = &self.jwt {
            return json!({ "claims": claims, "scopes": scopes });
        }
        if let Some((principal, context)) = &self.lambda {
            let mut m = context.clone();
            if let Some(p) = principal {
                m.insert("principalId".into(), p.clone().into());
            }
            return Value::Object(m);
        }
        Value::Null
    }

    pub fn access_key(&self) -> Value {
        self.iam
            .as_ref()
            .map_or(Value::Null, |i| i.access_key_id.clone().into())
    }
    pub fn account(&self) -> Value {
        self.iam
            .as_ref()
            .map_or(Value::Null, |i| i.account_id.clone().into())
    }
    pub fn caller(&self) -> Value {
        self.iam
            .as_ref()
            .map_or(Value::Null, |i| i.user_id.clone().into())
    }
    pub fn user_arn(&self) -> Value {
        self.iam.as_ref().map_or(Value::Null, |i| i.arn.clone().into())
    }
}

fn unauthorized(description: &str) -> Response<Bytes> {
    let mut r = message(401, "Unauthorized");
    let value = format!("Bearer scope=\"\" error=\"invalid_token\" error_description=\"{description}\"");
    if let Ok(v) = http::HeaderValue::from_str(&value) {
        r.headers_mut().insert("www-authenticate", v);
    }
    r
}

/// The values of an authorizer's identity sources; `None` when one is missing.
fn identity(sources: &[String], r: &Resolved<'_>, req: &Incoming) -> Option<Vec<String>> {
    let query = query_pairs(req.parts.uri.query());
    sources
        .iter()
        .map(|s| {
            if let Some(h) = s.strip_prefix("$request.header.") {
                let values: Vec<&str> = req
                    .parts
                    .headers
                    .get_all(h.to_ascii_lowercase().as_str())
                    .iter()
                    .filter_map(|v| v.to_str().ok())
                    .collect();
                (!values.is_empty()).then(|| values.join(","))
            } else if let Some(q) = s.strip_prefix("$request.querystring.") {
                let values: Vec<&str> = query
                    .iter()
                    .filter(|(k, _)| k == q)
                    .map(|(_, v)| v.as_str())
                    .collect();
                (!values.is_empty()).then(|| values.join(","))
            } else if let Some(v) = s.strip_prefix("$stageVariables.") {
                r.stage.stage_variables.as_ref()?.get(v).cloned()
            } else if let Some(c) = s.strip_prefix("$context.") {
                match c {
                    "requestId" => Some(req.request_id.clone()),
                    "routeKey" => Some(r.route_key.clone()),
                    "stage" => Some(r.stage_name.to_string()),
                    "apiId" => Some(r.api_id.to_string()),
                    "httpMethod" => Some(req.parts.method.to_string()),
                    "identity.sourceIp" => Some(req.peer.ip().to_string()),
                    _ => None,
                }
            } else {
                None
            }
            .filter(|v| !v.is_empty())
        })
        .collect()
}

pub async fn authorize(
    g: &ApiGateway,
    z: &Authorizer,
    route: &Route,
    r: &Resolved<'_>,
    req: &Incoming,
) -> Result<Granted, Response<Bytes>> {
    match z.authorizer_type.as_deref() {
        Some("JWT") => jwt(g, z, route, r, req).await,
        Some("REQUEST") => lambda(g, z, r, req).await,
        _ => Err(internal_error()),
    }
}

// ---- JWT ----------------------------------------------------------------------------------

async fn fetch_json(g: &ApiGateway, url: &str) -> Result<Value, String> {
    use http_body_util::BodyExt;
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(format!("not an HTTP(S) URL: {url}"));
    }
    let req = http::Request::get(url)
        .body(http_body_util::Full::new(Bytes::new()))
        .map_err(|e| e.to_string())?;
    let resp = tokio::time::timeout(Duration::from_secs(5), g.inner.client.request(req))
        .await
        .map_err(|_| format!("{url}: timed out"))?
        .map_err(|e| format!("{url}: {e}"))?;
    if !resp.status().is_success() {
        return Err(format!("{url}: HTTP {}", resp.status()));
    }
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    serde_json::from_slice(&body).map_err(|e| format!("{url}: {e}"))
}

async fn issuer_keys(g: &ApiGateway, issuer: &str, kid: Option<&str>) -> Result<Arc<JwkSet>, String> {
    let cached = g.inner.authorizers.jwks.lock().unwrap().get(issuer).cloned();
    if let Some((at, set)) = &cached {
        let known = kid.is_none_or(|k| set.find(k).is_some());
        if at.elapsed() < JWKS_TTL && (known || at.elapsed() < JWKS_REFRESH) {
            return Ok(set.clone());
        }
    }
    let discovery = format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    );
    let config = fetch_json(g, &discovery).await?;
    let jwks_uri = config["jwks_uri"]
        .as_str()
        .ok_or_else(|| format!("{discovery} names no jwks_uri"))?;
    let set: JwkSet =
        serde_json::from_value(fetch_json(g, jwks_uri).await?).map_err(|e| format!("{jwks_uri}: {e}"))?;
    let set = Arc::new(set);
    g.inner
        .authorizers
        .jwks
        .lock()
        .unwrap()
        .insert(issuer.to_string(), (Instant::now(), set.clone()));
    Ok(set)
}

/// `https://cognito-idp.{region}.amazonaws.com/{pool id}` → the pool id.
fn cognito_pool(issuer: &str) -> Option<&str> {
    let rest = issuer.strip_prefix("https://cognito-idp.")?;
    let (host, pool) = rest.split_once('/')?;
    (host.ends_with(".amazonaws.com") && !pool.is_empty() && !pool.contains('/')).then_some(pool)
}

/// Verifies a token against its issuer's published keys (OpenID discovery, then JWKS).
async fn verify_jwt(
    g: &ApiGateway,
    token: &str,
    issuer: &str,
) -> Result<Map<String, Value>, Response<Bytes>> {
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    let header =
        jsonwebtoken::decode_header(token).map_err(|_| unauthorized("the token is not a valid JWT"))?;
    let alg = header.alg;
    if !matches!(alg, Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512) {
        return Err(unauthorized("the token's algorithm is not supported"));
    }
    let keys = match issuer_keys(g, issuer, header.kid.as_deref()).await {
        Ok(k) => k,
        Err(e) => {
            tracing::warn!(issuer, error = e, "could not fetch the issuer's keys");
            return Err(unauthorized("the issuer's signing keys could not be fetched"));
        }
    };
    let jwk = match &header.kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(|| unauthorized("the token's kid is not among the issuer's keys"))?;
    let key =
        DecodingKey::from_jwk(jwk).map_err(|_| unauthorized("the issuer's key cannot verify this token"))?;
    let mut v = Validation::new(alg);
    v.leeway = 0;
    v.validate_aud = false;
    v.validate_nbf = true;
    v.set_issuer(&[issuer]);
    v.set_required_spec_claims(&["exp", "iss"]);
    let data = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &v).map_err(|e| {
        use jsonwebtoken::errors::ErrorKind;
        unauthorized(match e.kind() {
            ErrorKind::ExpiredSignature => "the token has expired",
            ErrorKind::ImmatureSignature => "the token is not valid yet",
            ErrorKind::InvalidIssuer => "the token's issuer is not the authorizer's issuer",
            ErrorKind::InvalidSignature => "signature verification failed",
            _ => "the token is invalid",
        })
    })?;
    Ok(data.claims)
}

async fn jwt(
    g: &ApiGateway,
    z: &Authorizer,
    route: &Route,
    r: &Resolved<'_>,
    req: &Incoming,
) -> Result<Granted, Response<Bytes>> {
    let sources = z.identity_source.clone().unwrap_or_default();
    let Some(values) = identity(&sources, r, req) else {
        return Err(message(401, "Unauthorized"));
    };
    let raw = values.first().cloned().unwrap_or_default();
    let token = raw
        .strip_prefix("Bearer ")
        .or_else(|| raw.strip_prefix("bearer "))
        .unwrap_or(&raw)
        .trim();
    let config = z.jwt_configuration.clone().unwrap_or_default();
    let issuer = config.issuer.unwrap_or_default();
    let audience = config.audience.unwrap_or_default();
    let claims = match cognito_pool(&issuer) {
        // `https://cognito-idp.{region}.amazonaws.com/{pool id}`, as templates write a
        // user pool's issuer: Stratus's own pool of that id verifies the token.
        Some(pool_id) => {
            let arn = format!(
                "arn:aws:cognito-idp:{}:{}:userpool/{pool_id}",
                r.api.region, r.api.account
            );
            g.inner
                .backends
                .user_pool_token(token, &[arn])
                .await
                .map_err(|why| {
                    tracing::debug!(why, "user pool token refused");
                    unauthorized("the token is not one of the user pool's")
                })?
        }
        None => verify_jwt(g, token, &issuer).await?,
    };
    let auds: Vec<String> = match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
        _ => claims
            .get("client_id")
            .and_then(|c| c.as_str())
            .map(|c| vec![c.to_string()])
            .unwrap_or_default(),
    };
    if !auds.iter().any(|a| audience.contains(a)) {
        return Err(unauthorized("the token's audience is not allowed"));
    }
    let scopes: Vec<String> = claims
        .get("scope")
        .or_else(|| claims.get("scp"))
        .map(|s| match s {
            Value::String(s) => s.split_whitespace().map(str::to_string).collect(),
            Value::Array(a) => a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect(),
            _ => vec![],
        })
        .unwrap_or_default();
    let required = route.authorization_scopes.clone().unwrap_or_default();
    if !required.is_empty() && !required.iter().any(|s| scopes.contains(s)) {
        return Err(message(403, "Forbidden"));
    }
    // Claims reach the function as strings, as API Gateway passes them.
    let flat: Map<String, Value> = claims
        .into_iter()
        .map(|(k, v)| {
            let text = match v {
                Value::String(s) => s,
                Value::Array(a) => format!(
                    "[{}]",
                    a.iter()
                        .map(|x| x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string()))
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                other => other.to_string(),
            };
            (k, Value::String(text))
        })
        .collect();
    Ok(Granted {
        jwt: Some((flat, (!required.is_empty()).then_some(scopes))),
        ..Default::default()
    })
}

// ---- Lambda authorizers -------------------------------------------------------------------

/// An authorizer function's answer.
enum LambdaAnswer {
    Simple {
        authorized: bool,
        context: Map<String, Value>,
    },
    Policy {
        principal: Option<String>,
        policy: Value,
        context: Map<String, Value>,
    },
}

fn context_of(v: &Value) -> Map<String, Value> {
    v.get("context")
        .and_then(|c| c.as_object())
        .cloned()
        .unwrap_or_default()
}

fn parse_answer(payload: &[u8], simple: bool) -> Option<LambdaAnswer> {
    let v: Value = serde_json::from_slice(payload).ok()?;
    if simple {
        let authorized = v.get("isAuthorized")?.as_bool()?;
        return Some(LambdaAnswer::Simple {
            authorized,
            context: context_of(&v),
        });
    }
    let policy = v.get("policyDocument")?.clone();
    policy.get("Statement")?;
    Some(LambdaAnswer::Policy {
        principal: v.get("principalId").and_then(|p| p.as_str()).map(str::to_string),
        policy,
        context: context_of(&v),
    })
}

/// IAM evaluation of an authorizer's policy for one route ARN: `Some(false)` for an explicit
/// deny, `Some(true)` for an allow, `None` when nothing applies (an implicit deny).
pub fn evaluate(policy: &Value, arn: &str) -> Option<bool> {
    let statements = match &policy["Statement"] {
        Value::Array(a) => a.clone(),
        s @ Value::Object(_) => vec![s.clone()],
        _ => return None,
    };
    let list = |v: &Value| -> Vec<String> {
        match v {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect(),
            _ => vec![],
        }
    };
    let applies = |s: &Value| {
        let action = list(&s["Action"])
            .iter()
            .any(|a| stratus_core::condition::glob(&a.to_ascii_lowercase(), "execute-api:invoke"));
        action
            && list(&s["Resource"])
                .iter()
                .any(|r| stratus_core::condition::glob(r, arn))
    };
    if statements.iter().any(|s| s["Effect"] == "Deny" && applies(s)) {
        return Some(false);
    }
    statements
        .iter()
        .any(|s| s["Effect"] == "Allow" && applies(s))
        .then_some(true)
}

fn policy_allows(policy: &Value, arn: &str) -> bool {
    evaluate(policy, arn) == Some(true)
}

async fn lambda(
    g: &ApiGateway,
    z: &Authorizer,
    r: &Resolved<'_>,
    req: &Incoming,
) -> Result<Granted, Response<Bytes>> {
    let sources = z.identity_source.clone().unwrap_or_default();
    let values = if sources.is_empty() {
        Vec::new()
    } else {
        identity(&sources, r, req).ok_or_else(|| message(401, "Unauthorized"))?
    };
    let simple = z.enable_simple_responses == Some(true);
    let ttl = z.authorizer_result_ttl_in_seconds.unwrap_or(0).max(0) as u64;
    let id = z.authorizer_id.clone().unwrap_or_default();
    let cache_key = format!("{}/{id}/{}", r.api_id, values.join("\u{1f}"));
    let cached = (ttl > 0)
        .then(|| {
            let mut answers = g.inner.authorizers.answers.lock().unwrap();
            match answers.get(&cache_key) {
                Some((until, a)) if *until > Instant::now() => Some(a.clone()),
                Some(_) => {
                    answers.remove(&cache_key);
                    None
                }
                None => None,
            }
        })
        .flatten();
    let route_arn = r.route_arn(req.parts.method.as_str());
    let answer = match cached {
        Some(a) => a,
        None => {
            let Some(function) = function_of(z.authorizer_uri.as_deref().unwrap_or_default()) else {
                return Err(internal_error());
            };
            let none = Granted::default();
            let event = if z.authorizer_payload_format_version.as_deref() == Some("2.0") {
                let mut e = event_v2(r, req, &none);
                if let Some(m) = e.as_object_mut() {
                    m.remove("body");
                    m.remove("isBase64Encoded");
                    m.insert("type".into(), "REQUEST".into());
                    m.insert("routeArn".into(), route_arn.clone().into());
                    m.insert("identitySource".into(), json!(values));
                }
                e
            } else {
                let mut e = event_v1(r, req, &none);
                if let Some(m) = e.as_object_mut() {
                    m.remove("body");
                    m.remove("isBase64Encoded");
                    m.insert("type".into(), "REQUEST".into());
                    m.insert("methodArn".into(), route_arn.clone().into());
                    m.insert("identitySource".into(), values.join(",").into());
                    m.insert("authorizationToken".into(), values.join(",").into());
                }
                e
            };
            let call = FunctionCall {
                account: r.api.account.clone(),
                region: r.api.region.clone(),
                function,
                payload: Bytes::from(event.to_string()),
                request_id: req.request_id.clone(),
                source: Source::Service {
                    principal: SERVICE_PRINCIPAL,
                    arn: format!(
                        "arn:aws:execute-api:{}:{}:{}/authorizers/{id}",
                        r.api.region, r.api.account, r.api_id
                    ),
                },
            };
            let answer = match g
                .call_function(call, AUTHORIZER_TIMEOUT, "HTTP API authorizer")
                .await
            {
                Ok(a) if !a.error => a,
                Ok(_) => {
                    tracing::warn!(
                        api = r.api_id,
                        authorizer = id,
                        "the authorizer function raised an error"
                    );
                    return Err(internal_error());
                }
                Err(_) => return Err(internal_error()),
            };
            let Some(parsed) = parse_answer(&answer.payload, simple) else {
                tracing::warn!(
                    api = r.api_id,
                    authorizer = id,
                    "the authorizer's answer is malformed"
                );
                return Err(internal_error());
            };
            let parsed = Arc::new(parsed);
            if ttl > 0 {
                let mut answers = g.inner.authorizers.answers.lock().unwrap();
                if answers.len() > 10_000 {
                    answers.clear();
                }
                answers.insert(
                    cache_key,
                    (Instant::now() + Duration::from_secs(ttl), parsed.clone()),
                );
            }
            parsed
        }
    };
    match &*answer {
        LambdaAnswer::Simple {
            authorized: true,
            context,
        } => Ok(Granted {
            lambda: Some((None, context.clone())),
            ..Default::default()
        }),
        LambdaAnswer::Simple {
            authorized: false, ..
        } => Err(message(403, "Forbidden")),
        LambdaAnswer::Policy {
            principal,
            policy,
            context,
        } => {
            if policy_allows(policy, &route_arn) {
                Ok(Granted {
                    lambda: Some((principal.clone(), context.clone())),
                    ..Default::default()
                })
            } else {
                Err(message(403, "Forbidden"))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_deny_over_allow() {
        let arn = "arn:aws:execute-api:us-east-1:000000000000:abc/$default/GET/items";
        let allow = json!({"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "arn:aws:execute-api:us-east-1:000000000000:abc/*"}
        ]});
        assert!(policy_allows(&allow, arn));
        let deny = json!({"Statement": [
            {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ["*"]},
            {"Action": "execute-api:*", "Effect": "Deny", "Resource": "arn:aws:execute-api:*:*:abc/*/GET/*"}
        ]});
        assert!(!policy_allows(&deny, arn));
        assert!(!policy_allows(&json!({"Statement": []}), arn));
    }

    #[test]
    fn answers_parse_in_both_shapes() {
        assert!(matches!(
            parse_answer(br#"{"isAuthorized": true, "context": {"u": "1"}}"#, true),
            Some(LambdaAnswer::Simple { authorized: true, .. })
        ));
        assert!(parse_answer(br#"{"isAuthorized": "yes"}"#, true).is_none());
        assert!(parse_answer(br#"{"principalId": "u"}"#, false).is_none());
    }
}
