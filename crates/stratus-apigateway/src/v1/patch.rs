//! API Gateway's `patchOperations` (`{"op": "replace", "path": "/name", "value": "x"}`), applied
//! to a resource's JSON form. Paths use `~1` for `/`; values arrive as strings and are read as
//! the member's type. Stage method settings (`/*/*/throttling/rateLimit`) and list members
//! addressed by value (`/binaryMediaTypes/image~1png`) are handled as API Gateway does.

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::ApiGatewayError;
use crate::v1::generated::PatchOperation;

fn unescape(s: &str) -> String {
    s.replace("~1", "/").replace("~0", "~")
}

/// Members whose values are booleans or numbers on the wire.
fn typed(key: &str, value: &str) -> Value {
    const BOOLS: &[&str] = &[
        "enabled",
        "apiKeyRequired",
        "cacheClusterEnabled",
        "tracingEnabled",
        "validateRequestBody",
        "validateRequestParameters",
        "disableExecuteApiEndpoint",
        "metricsEnabled",
        "dataTraceEnabled",
        "cachingEnabled",
        "cacheDataEncrypted",
        "requireAuthorizationForCacheControl",
    ];
    const INTS: &[&str] = &[
        "timeoutInMillis",
        "authorizerResultTtlInSeconds",
        "minimumCompressionSize",
        "limit",
        "offset",
        "burstLimit",
        "throttlingBurstLimit",
        "cacheTtlInSeconds",
    ];
    const FLOATS: &[&str] = &["rateLimit", "throttlingRateLimit"];
    if BOOLS.contains(&key) || key.starts_with("method.request.") {
        return Value::Bool(value.eq_ignore_ascii_case("true"));
    }
    if INTS.contains(&key)
        && let Ok(n) = value.parse::<i64>()
    {
        return Value::from(n);
    }
    if FLOATS.contains(&key)
        && let Ok(n) = value.parse::<f64>()
    {
        return serde_json::Number::from_f64(n).map_or(Value::Null, Value::Number);
    }
    Value::String(value.to_string())
}

/// A stage method-setting path (`/{resource}/{METHOD}/{group}/{setting}`) as the key into
/// `methodSettings` and the member name.
fn method_setting(segs: &[String]) -> Option<(String, &'static str)> {
    if segs.len() < 4 {
        return None;
    }
    let (group, setting) = (segs[segs.len() - 2].as_str(), segs[segs.len() - 1].as_str());
    let member = match (group, setting) {
        ("metrics", "enabled") => "metricsEnabled",
        ("logging", "loglevel") => "loggingLevel",
        ("logging", "dataTrace") => "dataTraceEnabled",
        ("throttling", "burstLimit") => "throttlingBurstLimit",
        ("throttling", "rateLimit") => "throttlingRateLimit",
        ("caching", "enabled") => "cachingEnabled",
        ("caching", "ttlInSeconds") => "cacheTtlInSeconds",
        ("caching", "dataEncrypted") => "cacheDataEncrypted",
        ("caching", "requireAuthorizationForCacheControl") => "requireAuthorizationForCacheControl",
        ("caching", "unauthorizedCacheControlHeaderStrategy") => "unauthorizedCacheControlHeaderStrategy",
        _ => return None,
    };
    // The resource path is itself escaped (`~1pets~1{id}`): keep it as the key AWS prints.
    Some((segs[..segs.len() - 2].join("/"), member))
}

fn bad(op: &PatchOperation) -> ApiGatewayError {
    ApiGatewayError::BadRequest(format!(
        "Invalid patch path '{}' specified for op '{}'",
        op.path.as_deref().unwrap_or_default(),
        op.op.as_deref().unwrap_or_default()
    ))
}

/// Applies patch operations to a shape; a path the shape does not have is a BadRequest.
pub fn apply<T: Serialize + DeserializeOwned>(
    target: &T,
    ops: &[PatchOperation],
) -> Result<T, ApiGatewayError> {
    let mut doc = serde_json::to_value(target).expect("shapes serialize");
    for op in ops {
        let kind = op.op.as_deref().unwrap_or_default();
        let path = op.path.as_deref().unwrap_or_default();
        let raw_segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let segs: Vec<String> = raw_segs.iter().map(|s| unescape(s)).collect();
        if !path.starts_with('/') || segs.iter().any(|s| s.is_empty()) {
            return Err(bad(op));
        }
        let value = op.value.clone().unwrap_or_default();
        let root = doc.as_object_mut().ok_or_else(|| bad(op))?;
        // Stage method settings.
        if root.contains_key("stageName")
            && let Some((key, member)) =
                method_setting(&raw_segs.iter().map(|s| s.to_string()).collect::<Vec<_>>())
        {
            let settings = root
                .entry("methodSettings")
                .or_insert_with(|| Value::Object(Map::new()))
                .as_object_mut()
                .ok_or_else(|| bad(op))?;
            let entry = settings.entry(key).or_insert_with(|| Value::Object(Map::new()));
            let m = entry.as_object_mut().ok_or_else(|| bad(op))?;
            match kind {
                "remove" => {
                    m.remove(member);
                }
                "replace" | "add" => {
                    m.insert(member.to_string(), typed(member, &value));
                }
                _ => return Err(bad(op)),
            }
            continue;
        }
        let mut node: &mut Value = &mut doc;
        for (i, seg) in segs.iter().enumerate() {
            let last = i + 1 == segs.len();
            if let Value::Array(items) = node {
                // A list member addressed by value (`/binaryMediaTypes/image~1png`).
                match kind {
                    "add" | "replace" => {
                        if !items.iter().any(|x| x == seg.as_str()) {
                            items.push(Value::String(seg.clone()));
                        }
                    }
                    "remove" => items.retain(|x| x != seg.as_str()),
                    _ => return Err(bad(op)),
                }
                break;
            }
            let obj = match node {
                Value::Object(m) => m,
                Value::Null => {
                    *node = Value::Object(Map::new());
                    node.as_object_mut().expect("just made")
                }
                _ => return Err(bad(op)),
            };
            if last {
                match kind {
                    "remove" => {
                        obj.remove(seg);
                    }
                    "replace" | "add" => {
                        if let Some(Value::Array(items)) = obj.get_mut(seg) {
                            // `add` to a list member appends (`/apiStages` with `api:stage`).
                            if kind == "add" {
                                items.push(Value::String(value.clone()));
                            } else {
                                *items = vec![Value::String(value.clone())];
                            }
                        } else {
                            obj.insert(seg.clone(), typed(seg, &value));
                        }
                    }
                    _ => return Err(bad(op)),
                }
                break;
            }
            // List members addressed by value start as empty lists.
            const LISTS: &[&str] = &[
                "binaryMediaTypes",
                "stageKeys",
                "authorizationScopes",
                "providerARNs",
                "cacheKeyParameters",
                "types",
            ];
            let fresh = if LISTS.contains(&seg.as_str()) {
                Value::Array(Vec::new())
            } else {
                Value::Null
            };
            let entry = obj.entry(seg.clone()).or_insert(fresh.clone());
            if entry.is_null() {
                *entry = fresh;
            }
            node = entry;
        }
    }
    serde_json::from_value(doc).map_err(|e| ApiGatewayError::BadRequest(format!("Invalid patch value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::v1::generated::{RestApi, Stage};

    fn op(op: &str, path: &str, value: &str) -> PatchOperation {
        PatchOperation {
            op: Some(op.into()),
            path: Some(path.into()),
            value: Some(value.into()),
            r#from: None,
        }
    }

    #[test]
    fn scalars_lists_and_maps() {
        let api = RestApi {
            name: Some("a".into()),
            ..Default::default()
        };
        let api = apply(
            &api,
            &[
                op("replace", "/name", "b"),
                op("add", "/binaryMediaTypes/image~1png", ""),
                op("replace", "/minimumCompressionSize", "100"),
            ],
        )
        .unwrap();
        assert_eq!(api.name.as_deref(), Some("b"));
        assert_eq!(api.binary_media_types, Some(vec!["image/png".to_string()]));
        assert_eq!(api.minimum_compression_size, Some(100));
        let api = apply(&api, &[op("remove", "/binaryMediaTypes/image~1png", "")]).unwrap();
        assert_eq!(api.binary_media_types, Some(vec![]));
    }

    #[test]
    fn stage_settings_and_variables() {
        let stage = Stage {
            stage_name: Some("prod".into()),
            ..Default::default()
        };
        let s = apply(
            &stage,
            &[
                op("replace", "/*/*/throttling/rateLimit", "10"),
                op("replace", "/~1pets/GET/caching/enabled", "true"),
                op("replace", "/variables/fn", "one"),
                op("replace", "/cacheClusterEnabled", "true"),
            ],
        )
        .unwrap();
        let settings = s.method_settings.unwrap();
        assert_eq!(settings["*/*"].throttling_rate_limit, Some(10.0));
        assert_eq!(settings["~1pets/GET"].caching_enabled, Some(true));
        assert_eq!(s.variables.unwrap()["fn"], "one");
        assert_eq!(s.cache_cluster_enabled, Some(true));
    }
}
