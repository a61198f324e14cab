//! JSON Schema (draft 4, the dialect of API Gateway models) for request validation: `type`,
//! `properties`, `required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `enum`,
//! `minimum`/`maximum` (with `exclusive*`), `minLength`/`maxLength`, `pattern`, `allOf`,
//! `anyOf`, `oneOf`, `not`, and `$ref` to other models of the API. Pure.

use std::collections::BTreeMap;

use serde_json::Value;

/// Whether `v` satisfies `schema`; `models` resolve `$ref`s (`#/definitions/X` or a model URL
/// ending in the model's name).
pub fn valid(schema: &Value, v: &Value, models: &BTreeMap<String, Value>) -> bool {
    check(schema, v, models, 0)
}

fn type_ok(t: &str, v: &Value) -> bool {
    match t {
        "object" => v.is_object(),
        "array" => v.is_array(),
        "string" => v.is_string(),
        "number" => v.is_number(),
        "integer" => v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "boolean" => v.is_boolean(),
        "null" => v.is_null(),
        _ => true,
    }
}

fn check(s: &Value, v: &Value, models: &BTreeMap<String, Value>, depth: usize) -> bool {
    if depth > 32 {
        return false;
    }
    let Some(s) = s.as_object() else {
        return true;
    };
    if let Some(r) = s.get("$ref").and_then(|r| r.as_str()) {
        let name = r.rsplit('/').next().unwrap_or_default();
        return match models.get(name) {
            Some(m) => check(m, v, models, depth + 1),
            None => true,
        };
    }
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_ok(t, v),
            Value::Array(ts) => ts.iter().filter_map(|t| t.as_str()).any(|t| type_ok(t, v)),
            _ => true,
        };
        if !ok {
            return false;
        }
    }
    if let Some(Value::Array(options)) = s.get("enum")
        && !options.contains(v)
    {
        return false;
    }
    if let Some(Value::Array(all)) = s.get("allOf")
        && !all.iter().all(|x| check(x, v, models, depth + 1))
    {
        return false;
    }
    if let Some(Value::Array(any)) = s.get("anyOf")
        && !any.iter().any(|x| check(x, v, models, depth + 1))
    {
        return false;
    }
    if let Some(Value::Array(one)) = s.get("oneOf")
        && one.iter().filter(|x| check(x, v, models, depth + 1)).count() != 1
    {
        return false;
    }
    if let Some(not) = s.get("not")
        && check(not, v, models, depth + 1)
    {
        return false;
    }
    let num = |k: &str| s.get(k).and_then(|x| x.as_f64());
    if let Some(x) = v.as_f64() {
        let excl_min = s.get("exclusiveMinimum").and_then(|b| b.as_bool()) == Some(true);
        let excl_max = s.get("exclusiveMaximum").and_then(|b| b.as_bool()) == Some(true);
        if let Some(min) = num("minimum")
            && (x < min || (excl_min && x == min))
        {
            return false;
        }
        if let Some(max) = num("maximum")
            && (x > max || (excl_max && x == max))
        {
            return false;
        }
        if let Some(m) = num("multipleOf")
            && m > 0.0
            && (x / m).fract().abs() > 1e-9
        {
            return false;
        }
    }
    if let Some(text) = v.as_str() {
        let len = text.chars().count() as f64;
        if num("minLength").is_some_and(|m| len < m) || num("maxLength").is_some_and(|m| len > m) {
            return false;
        }
        if let Some(p) = s.get("pattern").and_then(|p| p.as_str())
            && regex::Regex::new(p).is_ok_and(|re| !re.is_match(text))
        {
            return false;
        }
    }
    if let Some(items) = v.as_array() {
        let n = items.len() as f64;
        if num("minItems").is_some_and(|m| n < m) || num("maxItems").is_some_and(|m| n > m) {
            return false;
        }
        if let Some(item) = s.get("items")
            && item.is_object()
            && !items.iter().all(|x| check(item, x, models, depth + 1))
        {
            return false;
        }
        if s.get("uniqueItems").and_then(|u| u.as_bool()) == Some(true) {
            for (i, a) in items.iter().enumerate() {
                if items[i + 1..].contains(a) {
                    return false;
                }
            }
        }
    }
    if let Some(obj) = v.as_object() {
        if let Some(Value::Array(req)) = s.get("required")
            && req
                .iter()
                .filter_map(|r| r.as_str())
                .any(|r| !obj.contains_key(r))
        {
            return false;
        }
        let props = s.get("properties").and_then(|p| p.as_object());
        if let Some(props) = props {
            for (k, sub) in props {
                if let Some(x) = obj.get(k)
                    && !check(sub, x, models, depth + 1)
                {
                    return false;
                }
            }
        }
        match s.get("additionalProperties") {
            Some(Value::Bool(false)) if obj.keys().any(|k| props.is_none_or(|p| !p.contains_key(k))) => {
                return false;
            }
            Some(extra @ Value::Object(_)) => {
                for (k, x) in obj {
                    if props.is_none_or(|p| !p.contains_key(k)) && !check(extra, x, models, depth + 1) {
                        return false;
                    }
                }
            }
            _ => {}
        }
        let n = obj.len() as f64;
        if num("minProperties").is_some_and(|m| n < m) || num("maxProperties").is_some_and(|m| n > m) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn objects_and_refs() {
        let mut models = BTreeMap::new();
        models.insert("Tag".to_string(), json!({"type": "string", "minLength": 1}));
        let s = json!({
            "type": "object", "required": ["name", "price"], "additionalProperties": false,
            "properties": {
                "name": {"type": "string", "maxLength": 10},
                "price": {"type": "number", "minimum": 0},
                "tags": {"type": "array", "items": {"$ref": "https://apigateway.amazonaws.com/restapis/x/models/Tag"}}
            }
        });
        assert!(valid(
            &s,
            &json!({"name": "pen", "price": 1.5, "tags": ["a"]}),
            &models
        ));
        assert!(!valid(&s, &json!({"name": "pen"}), &models));
        assert!(!valid(&s, &json!({"name": "pen", "price": -1}), &models));
        assert!(!valid(
            &s,
            &json!({"name": "pen", "price": 1, "extra": 1}),
            &models
        ));
        assert!(!valid(
            &s,
            &json!({"name": "pen", "price": 1, "tags": [""]}),
            &models
        ));
        assert!(!valid(&s, &json!([1]), &models));
    }
}
