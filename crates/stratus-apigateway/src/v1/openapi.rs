//! OpenAPI 3.0 and Swagger 2.0 definitions with API Gateway's extensions
//! (`x-amazon-apigateway-integration`, `-any-method`, `-authorizer`, `-api-key-source`,
//! `-binary-media-types`, `-request-validators`, `-request-validator`): imported into a REST
//! API (ImportRestApi, PutRestApi overwrite/merge) and exported from a stage (GetExport).
//! JSON or YAML documents.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Map, Value, json};

use crate::ApiGatewayError;
use crate::v1::generated::{
    Authorizer, Integration, IntegrationResponse, Method, MethodResponse, Model, RequestValidator, Resource,
};
use crate::v1::{RestRecord, RestSnapshot};

const VERBS: &[&str] = &["get", "post", "put", "patch", "delete", "head", "options"];

/// A definition in JSON or YAML.
pub fn parse(body: &[u8]) -> Result<Value, ApiGatewayError> {
    let invalid = |why: String| ApiGatewayError::BadRequest(format!("Invalid OpenAPI input: {why}"));
    let doc: Value = match serde_json::from_slice(body) {
        Ok(v) => v,
        Err(_) => {
            let text = std::str::from_utf8(body).map_err(|_| invalid("the document is not UTF-8".into()))?;
            let docs = yaml_rust2::YamlLoader::load_from_str(text).map_err(|e| invalid(e.to_string()))?;
            let first = docs
                .into_iter()
                .next()
                .ok_or_else(|| invalid("the document is empty".into()))?;
            from_yaml(first)
        }
    };
    if doc.get("openapi").is_none() && doc.get("swagger").is_none() {
        return Err(ApiGatewayError::BadRequest(
            "Invalid OpenAPI input: the document has neither an 'openapi' nor a 'swagger' version".into(),
        ));
    }
    if !doc.get("paths").is_some_and(|p| p.is_object()) {
        return Err(ApiGatewayError::BadRequest(
            "Invalid OpenAPI input: 'paths' is required".into(),
        ));
    }
    Ok(doc)
}

fn from_yaml(y: yaml_rust2::Yaml) -> Value {
    use yaml_rust2::Yaml;
    match y {
        Yaml::Real(r) => r
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map_or(Value::String(r), Value::Number),
        Yaml::Integer(i) => Value::from(i),
        Yaml::String(s) => Value::String(s),
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Array(a) => Value::Array(a.into_iter().map(from_yaml).collect()),
        Yaml::Hash(h) => Value::Object(
            h.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Yaml::String(s) | Yaml::Real(s) => s,
                        Yaml::Integer(i) => i.to_string(),
                        Yaml::Boolean(b) => b.to_string(),
                        other => format!("{other:?}"),
                    };
                    (key, from_yaml(v))
                })
                .collect(),
        ),
        _ => Value::Null,
    }
}

fn to_yaml(v: &Value) -> yaml_rust2::Yaml {
    use yaml_rust2::Yaml;
    match v {
        Value::Null => Yaml::Null,
        Value::Bool(b) => Yaml::Boolean(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Yaml::Integer(i),
            None => Yaml::Real(n.to_string()),
        },
        Value::String(s) => Yaml::String(s.clone()),
        Value::Array(a) => Yaml::Array(a.iter().map(to_yaml).collect()),
        Value::Object(m) => Yaml::Hash(
            m.iter()
                .map(|(k, v)| (Yaml::String(k.clone()), to_yaml(v)))
                .collect(),
        ),
    }
}

/// A definition as YAML text.
pub fn yaml_text(doc: &Value) -> String {
    let mut out = String::new();
    let mut emitter = yaml_rust2::YamlEmitter::new(&mut out);
    let _ = emitter.dump(&to_yaml(doc));
    out.push('\n');
    out
}

pub fn title(doc: &Value) -> Option<String> {
    doc["info"]["title"].as_str().map(str::to_string)
}

fn strings(v: &Value) -> Option<HashMap<String, String>> {
    v.as_object().map(|m| {
        m.iter()
            .map(|(k, v)| {
                (
                    k.clone(),
                    v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string()),
                )
            })
            .collect()
    })
}

fn integration_of(x: &Value) -> Result<Integration, ApiGatewayError> {
    let kind = x["type"].as_str().unwrap_or_default().to_ascii_uppercase();
    let mut responses = HashMap::new();
    if let Some(m) = x["responses"].as_object() {
        for (pattern, r) in m {
            let status = r["statusCode"]
                .as_str()
                .map(str::to_string)
                .or_else(|| r["statusCode"].as_u64().map(|n| n.to_string()))
                .unwrap_or_else(|| "200".into());
            responses.insert(
                status.clone(),
                IntegrationResponse {
                    status_code: Some(status),
                    selection_pattern: (pattern != "default").then(|| pattern.clone()),
                    response_parameters: strings(&r["responseParameters"]),
                    response_templates: strings(&r["responseTemplates"]),
                    content_handling: r["contentHandling"].as_str().map(str::to_string),
                },
            );
        }
    }
    Ok(Integration {
        r#type: Some(kind),
        http_method: x["httpMethod"].as_str().map(str::to_string),
        uri: x["uri"].as_str().map(str::to_string),
        request_parameters: strings(&x["requestParameters"]),
        request_templates: strings(&x["requestTemplates"]),
        passthrough_behavior: x["passthroughBehavior"].as_str().map(|s| s.to_ascii_uppercase()),
        timeout_in_millis: x["timeoutInMillis"].as_i64().map(|t| t as i32).or(Some(29000)),
        cache_key_parameters: x["cacheKeyParameters"]
            .as_array()
            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
        integration_responses: (!responses.is_empty()).then_some(responses),
        connection_type: Some("INTERNET".into()),
        ..Default::default()
    })
}

/// Imports a definition: `merge` keeps what the document does not name.
pub fn import(
    r: &mut RestRecord,
    doc: &Value,
    merge: bool,
    mut new_id: impl FnMut() -> String,
) -> Result<(), ApiGatewayError> {
    let v3 = doc.get("openapi").is_some();
    let root_id = r.api.root_resource_id.clone().unwrap_or_default();
    if !merge {
        r.resources.retain(|id, _| *id == root_id);
        if let Some(root) = r.resources.get_mut(&root_id) {
            root.resource_methods = None;
        }
        r.authorizers.clear();
        r.models.clear();
        r.validators.clear();
    }
    if let Some(t) = title(doc) {
        r.api.name = Some(t);
    }
    if let Some(d) = doc["info"]["description"].as_str() {
        r.api.description = Some(d.to_string());
    }
    if let Some(v) = doc["info"]["version"].as_str() {
        r.api.version = Some(v.to_string());
    }
    if let Some(s) = doc["x-amazon-apigateway-api-key-source"].as_str() {
        r.api.api_key_source = Some(s.to_string());
    }
    if let Some(b) = doc["x-amazon-apigateway-binary-media-types"].as_array() {
        r.api.binary_media_types = Some(b.iter().filter_map(|v| v.as_str().map(str::to_string)).collect());
    }
    // Models.
    let schemas = if v3 {
        &doc["components"]["schemas"]
    } else {
        &doc["definitions"]
    };
    if let Some(m) = schemas.as_object() {
        for (name, schema) in m {
            r.models.insert(
                name.clone(),
                Model {
                    id: Some(new_id()),
                    name: Some(name.clone()),
                    schema: Some(schema.to_string()),
                    content_type: Some("application/json".into()),
                    description: None,
                },
            );
        }
    }
    // Security schemes: API keys and Lambda authorizers.
    let schemes = if v3 {
        &doc["components"]["securitySchemes"]
    } else {
        &doc["securityDefinitions"]
    };
    let mut key_schemes = Vec::new();
    let mut authorizer_ids: HashMap<String, (String, String)> = HashMap::new();
    if let Some(m) = schemes.as_object() {
        for (name, s) in m {
            if let Some(z) = s.get("x-amazon-apigateway-authorizer") {
                let kind = z["type"].as_str().unwrap_or("token").to_ascii_uppercase();
                let kind = if kind == "COGNITO_USER_POOLS" || kind == "REQUEST" {
                    kind
                } else {
                    "TOKEN".into()
                };
                let identity = z["identitySource"]
                    .as_str()
                    .map(str::to_string)
                    .or_else(|| s["name"].as_str().map(|h| format!("method.request.header.{h}")));
                let id = new_id();
                r.authorizers.insert(
                    id.clone(),
                    Authorizer {
                        id: Some(id.clone()),
                        name: Some(name.clone()),
                        r#type: Some(kind.clone()),
                        auth_type: s["x-amazon-apigateway-authtype"].as_str().map(str::to_string),
                        authorizer_uri: z["authorizerUri"].as_str().map(str::to_string),
                        authorizer_credentials: z["authorizerCredentials"].as_str().map(str::to_string),
                        identity_source: identity,
                        identity_validation_expression: z["identityValidationExpression"]
                            .as_str()
                            .map(str::to_string),
                        authorizer_result_ttl_in_seconds: z["authorizerResultTtlInSeconds"]
                            .as_i64()
                            .map(|t| t as i32)
                            .or(Some(300)),
                        provider_ar_ns: z["providerARNs"]
                            .as_array()
                            .map(|a| a.iter().filter_map(|v| v.as_str().map(str::to_string)).collect()),
                    },
                );
                let auth_type = if kind == "COGNITO_USER_POOLS" {
                    "COGNITO_USER_POOLS"
                } else {
                    "CUSTOM"
                };
                authorizer_ids.insert(name.clone(), (id, auth_type.to_string()));
            } else if s["type"] == "apiKey" {
                key_schemes.push(name.clone());
            }
        }
    }
    // Request validators.
    let mut validator_ids: HashMap<String, String> = HashMap::new();
    if let Some(m) = doc["x-amazon-apigateway-request-validators"].as_object() {
        for (name, v) in m {
            let id = new_id();
            r.validators.insert(
                id.clone(),
                RequestValidator {
                    id: Some(id.clone()),
                    name: Some(name.clone()),
                    validate_request_body: v["validateRequestBody"].as_bool(),
                    validate_request_parameters: v["validateRequestParameters"].as_bool(),
                },
            );
            validator_ids.insert(name.clone(), id);
        }
    }
    let default_validator = doc["x-amazon-apigateway-request-validator"]
        .as_str()
        .map(str::to_string);
    let paths = doc["paths"].as_object().cloned().unwrap_or_default();
    for (path, item) in &paths {
        let resource_id = ensure_path(r, &root_id, path, &mut new_id)?;
        let mut ops: Vec<(String, &Value)> = VERBS
            .iter()
            .filter_map(|v| item.get(*v).map(|op| (v.to_ascii_uppercase(), op)))
            .collect();
        if let Some(any) = item.get("x-amazon-apigateway-any-method") {
            ops.push(("ANY".into(), any));
        }
        let shared_params = item["parameters"].as_array().cloned().unwrap_or_default();
        for (verb, op) in ops {
            let mut m = Method {
                http_method: Some(verb.clone()),
                authorization_type: Some("NONE".into()),
                api_key_required: Some(false),
                operation_name: op["operationId"].as_str().map(str::to_string),
                ..Default::default()
            };
            let security = op.get("security").or_else(|| doc.get("security"));
            for req in security.and_then(|s| s.as_array()).into_iter().flatten() {
                for (name, scopes) in req.as_object().into_iter().flatten() {
                    if key_schemes.contains(name) {
                        m.api_key_required = Some(true);
                    } else if let Some((id, kind)) = authorizer_ids.get(name) {
                        m.authorizer_id = Some(id.clone());
                        m.authorization_type = Some(kind.clone());
                        let scopes: Vec<String> = scopes
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect();
                        if !scopes.is_empty() {
                            m.authorization_scopes = Some(scopes);
                        }
                    } else if name == "sigv4" {
                        m.authorization_type = Some("AWS_IAM".into());
                    }
                }
            }
            let mut params = HashMap::new();
            for p in shared_params
                .iter()
                .chain(op["parameters"].as_array().into_iter().flatten())
            {
                let location = match p["in"].as_str() {
                    Some("path") => "path",
                    Some("query") => "querystring",
                    Some("header") => "header",
                    _ => continue,
                };
                if let Some(name) = p["name"].as_str() {
                    params.insert(
                        format!("method.request.{location}.{name}"),
                        p["required"].as_bool().unwrap_or(false),
                    );
                }
            }
            if !params.is_empty() {
                m.request_parameters = Some(params);
            }
            // Request body model.
            let body_schema = if v3 {
                op["requestBody"]["content"]["application/json"]["schema"]["$ref"].as_str()
            } else {
                op["parameters"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|p| p["in"] == "body")
                    .and_then(|p| p["schema"]["$ref"].as_str())
            };
            if let Some(model) = body_schema.and_then(|r| r.rsplit('/').next()) {
                m.request_models = Some(HashMap::from([(
                    "application/json".to_string(),
                    model.to_string(),
                )]));
            }
            let validator = op["x-amazon-apigateway-request-validator"]
                .as_str()
                .map(str::to_string)
                .or_else(|| default_validator.clone());
            if let Some(v) = validator.and_then(|v| validator_ids.get(&v)) {
                m.request_validator_id = Some(v.clone());
            }
            let mut responses = HashMap::new();
            for (status, resp) in op["responses"].as_object().into_iter().flatten() {
                if status.len() != 3 {
                    continue;
                }
                let headers: HashMap<String, bool> = resp["headers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(h, _)| (format!("method.response.header.{h}"), false))
                    .collect();
                responses.insert(
                    status.clone(),
                    MethodResponse {
                        status_code: Some(status.clone()),
                        response_parameters: (!headers.is_empty()).then_some(headers),
                        response_models: None,
                    },
                );
            }
            if let Some(x) = op.get("x-amazon-apigateway-integration") {
                let n = integration_of(x)?;
                // Every integration response needs its method response.
                for status in n.integration_responses.iter().flatten().map(|(s, _)| s.clone()) {
                    responses.entry(status.clone()).or_insert(MethodResponse {
                        status_code: Some(status),
                        ..Default::default()
                    });
                }
                m.method_integration = Some(n);
            }
            if !responses.is_empty() {
                m.method_responses = Some(responses);
            }
            if let Some(res) = r.resources.get_mut(&resource_id) {
                res.resource_methods.get_or_insert_default().insert(verb, m);
            }
        }
    }
    Ok(())
}

/// The resource for a path, created with its ancestors as needed.
fn ensure_path(
    r: &mut RestRecord,
    root: &str,
    path: &str,
    new_id: &mut impl FnMut() -> String,
) -> Result<String, ApiGatewayError> {
    let mut current = root.to_string();
    let mut built = String::new();
    for part in path.split('/').filter(|p| !p.is_empty()) {
        built.push('/');
        built.push_str(part);
        let existing = r
            .resources
            .values()
            .find(|x| {
                x.parent_id.as_deref() == Some(current.as_str()) && x.path_part.as_deref() == Some(part)
            })
            .and_then(|x| x.id.clone());
        current = match existing {
            Some(id) => id,
            None => {
                let id = new_id();
                r.resources.insert(
                    id.clone(),
                    Resource {
                        id: Some(id.clone()),
                        parent_id: Some(current.clone()),
                        path_part: Some(part.to_string()),
                        path: Some(built.clone()),
                        resource_methods: None,
                    },
                );
                id
            }
        };
    }
    Ok(current)
}

fn integration_json(n: &Integration) -> Value {
    let mut x = Map::new();
    x.insert(
        "type".into(),
        n.r#type.clone().unwrap_or_default().to_ascii_lowercase().into(),
    );
    for (k, v) in [
        ("httpMethod", &n.http_method),
        ("uri", &n.uri),
        ("passthroughBehavior", &n.passthrough_behavior),
    ] {
        if let Some(v) = v {
            x.insert(k.into(), v.clone().into());
        }
    }
    if let Some(t) = n.timeout_in_millis {
        x.insert("timeoutInMillis".into(), t.into());
    }
    if let Some(p) = &n.request_parameters {
        x.insert("requestParameters".into(), json!(p));
    }
    if let Some(t) = &n.request_templates {
        x.insert("requestTemplates".into(), json!(t));
    }
    let mut responses = Map::new();
    for r in n.integration_responses.iter().flat_map(|m| m.values()) {
        let key = r
            .selection_pattern
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "default".into());
        let mut o = Map::new();
        o.insert(
            "statusCode".into(),
            r.status_code.clone().unwrap_or_default().into(),
        );
        if let Some(t) = &r.response_templates {
            o.insert("responseTemplates".into(), json!(t));
        }
        if let Some(p) = &r.response_parameters {
            o.insert("responseParameters".into(), json!(p));
        }
        responses.insert(key, Value::Object(o));
    }
    if !responses.is_empty() {
        x.insert("responses".into(), Value::Object(responses));
    }
    Value::Object(x)
}

/// The definition a stage serves, as OpenAPI 3.0 (`oas30`) or Swagger 2.0.
pub fn export(r: &RestRecord, snap: &RestSnapshot, stage: &str, port: u16, v3: bool) -> Value {
    let api_id = r.api.id.clone().unwrap_or_default();
    let mut paths = BTreeMap::new();
    let mut uses_key = false;
    let mut used_authorizers = BTreeMap::new();
    for res in snap.resources.values() {
        let Some(methods) = &res.resource_methods else {
            continue;
        };
        let mut item = Map::new();
        for (verb, m) in methods {
            let mut op = Map::new();
            if let Some(name) = &m.operation_name {
                op.insert("operationId".into(), name.clone().into());
            }
            let mut params = Vec::new();
            for (k, required) in m.request_parameters.iter().flatten() {
                let parts: Vec<&str> = k.splitn(4, '.').collect();
                if let [_, _, location, name] = parts.as_slice() {
                    let location = if *location == "querystring" {
                        "query"
                    } else {
                        location
                    };
                    params.push(json!({"name": name, "in": location, "required": *required || location == "path", "schema": {"type": "string"}}));
                }
            }
            if !params.is_empty() {
                op.insert("parameters".into(), Value::Array(params));
            }
            let mut responses = Map::new();
            for (status, _) in m.method_responses.iter().flatten() {
                responses.insert(
                    status.clone(),
                    json!({"description": format!("{status} response")}),
                );
            }
            op.insert("responses".into(), Value::Object(responses));
            let mut security = Vec::new();
            if m.api_key_required == Some(true) {
                uses_key = true;
                security.push(json!({"api_key": []}));
            }
            if let Some(z) = m.authorizer_id.as_ref().and_then(|id| snap.authorizers.get(id)) {
                let name = z.name.clone().unwrap_or_default();
                security.push(json!({ name.clone(): m.authorization_scopes.clone().unwrap_or_default() }));
                used_authorizers.insert(name, z.clone());
            }
            if !security.is_empty() {
                op.insert("security".into(), Value::Array(security));
            }
            if let Some(n) = &m.method_integration {
                op.insert("x-amazon-apigateway-integration".into(), integration_json(n));
            }
            let key = if verb == "ANY" {
                "x-amazon-apigateway-any-method".to_string()
            } else {
                verb.to_ascii_lowercase()
            };
            item.insert(key, Value::Object(op));
        }
        paths.insert(
            res.path.clone().unwrap_or_else(|| "/".into()),
            Value::Object(item),
        );
    }
    let mut schemes = Map::new();
    if uses_key {
        schemes.insert(
            "api_key".into(),
            json!({"type": "apiKey", "name": "x-api-key", "in": "header"}),
        );
    }
    for (name, z) in used_authorizers {
        let mut x = json!({
            "type": z.r#type.clone().unwrap_or_default().to_ascii_lowercase(),
            "authorizerUri": z.authorizer_uri,
            "authorizerResultTtlInSeconds": z.authorizer_result_ttl_in_seconds,
        });
        if let Some(s) = &z.identity_source {
            x["identitySource"] = s.clone().into();
        }
        schemes.insert(
            name,
            json!({"type": "apiKey", "name": "Authorization", "in": "header", "x-amazon-apigateway-authtype": "custom", "x-amazon-apigateway-authorizer": x}),
        );
    }
    let models: Map<String, Value> = snap
        .models
        .iter()
        .map(|(k, m)| {
            (
                k.clone(),
                m.schema
                    .as_deref()
                    .and_then(|s| serde_json::from_str(s).ok())
                    .unwrap_or(json!({})),
            )
        })
        .collect();
    let info = json!({"title": r.api.name, "version": r.api.version.clone().unwrap_or_else(|| "1.0".into())});
    let mut doc = if v3 {
        json!({
            "openapi": "3.0.1",
            "info": info,
            "servers": [{"url": format!("http://{api_id}.execute-api.localhost:{port}/{{basePath}}"),
                         "variables": {"basePath": {"default": stage}}}],
            "paths": paths,
            "components": {"schemas": models, "securitySchemes": schemes},
        })
    } else {
        json!({
            "swagger": "2.0",
            "info": info,
            "host": format!("{api_id}.execute-api.localhost:{port}"),
            "basePath": format!("/{stage}"),
            "schemes": ["http"],
            "paths": paths,
            "definitions": models,
            "securityDefinitions": schemes,
        })
    };
    if !snap.binary_media_types.is_empty() {
        doc["x-amazon-apigateway-binary-media-types"] = json!(snap.binary_media_types);
    }
    if snap.api_key_source == "AUTHORIZER" {
        doc["x-amazon-apigateway-api-key-source"] = "AUTHORIZER".into();
    }
    doc
}
