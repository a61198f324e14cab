//! Route keys of HTTP APIs (`GET /items/{id}`, `ANY /{proxy+}`, `$default`) and the choice of
//! the route for a request, with API Gateway's priority: the most specific path wins (a
//! literal segment over a `{variable}`, a variable over a greedy `{proxy+}`), a route for the
//! request's method over `ANY`, and `$default` only when nothing else matches. Pure.

use percent_encoding::percent_decode_str;

const METHODS: &[&str] = &["ANY", "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    Literal(String),
    Variable(String),
    Greedy(String),
}

/// A parsed route key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RouteKey {
    Default,
    Path { method: String, segments: Vec<Segment> },
}

impl RouteKey {
    pub fn parse(key: &str) -> Result<RouteKey, String> {
        if key == "$default" {
            return Ok(RouteKey::Default);
        }
        let invalid = || {
            format!(
                "Unable to create Route: the route key {key} is invalid: expected '$default' or a method and a path such as 'GET /pets/{{id}}'"
            )
        };
        let (method, path) = key.split_once(' ').ok_or_else(invalid)?;
        if !METHODS.contains(&method) {
            return Err(format!(
                "Unable to create Route: unsupported HTTP method {method} in route key {key}"
            ));
        }
        let rest = path.strip_prefix('/').ok_or_else(invalid)?;
        let mut segments = Vec::new();
        if !rest.is_empty() {
            let parts: Vec<&str> = rest.split('/').collect();
            for (i, s) in parts.iter().enumerate() {
                if s.is_empty() {
                    return Err(invalid());
                }
                if let Some(name) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    if let Some(greedy) = name.strip_suffix('+') {
                        if i + 1 != parts.len() {
                            return Err(format!(
                                "Unable to create Route: a greedy path variable must be the last segment of the path in route key {key}"
                            ));
                        }
                        segments.push(Segment::Greedy(greedy.to_string()));
                    } else {
                        segments.push(Segment::Variable(name.to_string()));
                    }
                } else if s.contains('{') || s.contains('}') {
                    return Err(invalid());
                } else {
                    segments.push(Segment::Literal(s.to_string()));
                }
            }
        }
        Ok(RouteKey::Path {
            method: method.to_string(),
            segments,
        })
    }

    /// The path parameters if this key matches `method` and the raw `path`.
    fn matches(&self, method: &str, path: &[&str]) -> Option<Vec<(String, String)>> {
        let RouteKey::Path { method: m, segments } = self else {
            return None;
        };
        if m != "ANY" && m != method {
            return None;
        }
        let mut params = Vec::new();
        for (i, s) in segments.iter().enumerate() {
            match s {
                Segment::Literal(l) => {
                    if path.get(i) != Some(&l.as_str()) {
                        return None;
                    }
                }
                Segment::Variable(name) => {
                    let v = path.get(i).filter(|v| !v.is_empty())?;
                    params.push((name.clone(), decode(v)));
                }
                Segment::Greedy(name) => {
                    let rest = path.get(i..).filter(|r| !r.is_empty())?.join("/");
                    if rest.is_empty() {
                        return None;
                    }
                    params.push((name.clone(), decode(&rest)));
                    return Some(params);
                }
            }
        }
        (path.len() == segments.len()).then_some(params)
    }

    /// Ordering key: bigger is more specific.
    fn rank(&self) -> Vec<u8> {
        match self {
            RouteKey::Default => vec![],
            RouteKey::Path { method, segments } => {
                let mut r: Vec<u8> = segments
                    .iter()
                    .map(|s| match s {
                        Segment::Literal(_) => 3,
                        Segment::Variable(_) => 2,
                        Segment::Greedy(_) => 1,
                    })
                    .collect();
                // Among equally specific paths, a method beats ANY.
                r.push(if method == "ANY" { 0 } else { 1 });
                r
            }
        }
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// Path parameters by name, in path order.
pub type Params = Vec<(String, String)>;

/// The best route for a request among `(key, value)` routes, and its path parameters.
pub fn select<'a, T>(routes: &'a [(RouteKey, T)], method: &str, path: &str) -> Option<(&'a T, Params)> {
    let segs: Vec<&str> = match path.strip_prefix('/') {
        Some("") | None => vec![],
        Some(rest) => rest.split('/').collect(),
    };
    let mut best: Option<(Vec<u8>, &T, Params)> = None;
    for (key, value) in routes {
        if let Some(params) = key.matches(method, &segs) {
            let rank = key.rank();
            if best.as_ref().is_none_or(|(r, _, _)| rank > *r) {
                best = Some((rank, value, params));
            }
        }
    }
    if let Some((_, v, p)) = best {
        return Some((v, p));
    }
    routes
        .iter()
        .find(|(k, _)| *k == RouteKey::Default)
        .map(|(_, v)| (v, Vec::new()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table(keys: &[&str]) -> Vec<(RouteKey, String)> {
        keys.iter()
            .map(|k| (RouteKey::parse(k).unwrap(), k.to_string()))
            .collect()
    }

    #[test]
    fn most_specific_route_wins() {
        let t = table(&[
            "$default",
            "ANY /{proxy+}",
            "GET /items/{id}",
            "GET /items/special",
            "ANY /items/{id}",
            "POST /items",
        ]);
        let pick = |m: &str, p: &str| select(&t, m, p).map(|(k, params)| (k.clone(), params));
        assert_eq!(pick("GET", "/items/special").unwrap().0, "GET /items/special");
        let (k, params) = pick("GET", "/items/42").unwrap();
        assert_eq!(k, "GET /items/{id}");
        assert_eq!(params, vec![("id".to_string(), "42".to_string())]);
        assert_eq!(pick("DELETE", "/items/42").unwrap().0, "ANY /items/{id}");
        assert_eq!(pick("POST", "/items").unwrap().0, "POST /items");
        let (k, params) = pick("GET", "/a/b%20c/d").unwrap();
        assert_eq!(k, "ANY /{proxy+}");
        assert_eq!(params, vec![("proxy".to_string(), "a/b c/d".to_string())]);
        assert_eq!(pick("GET", "/").unwrap().0, "$default");
    }

    #[test]
    fn no_default_no_match() {
        let t = table(&["GET /a"]);
        assert!(select(&t, "GET", "/b").is_none());
        assert!(select(&t, "POST", "/a").is_none());
        assert!(select(&t, "GET", "/a/b").is_none());
    }

    #[test]
    fn keys_are_validated() {
        assert!(RouteKey::parse("GET /a/{b}").is_ok());
        assert!(RouteKey::parse("GET /").is_ok());
        assert!(RouteKey::parse("FETCH /a").is_err());
        assert!(RouteKey::parse("GET a").is_err());
        assert!(RouteKey::parse("GET /{p+}/x").is_err());
        assert!(RouteKey::parse("GET /a//b").is_err());
        assert!(RouteKey::parse("get /a").is_err());
    }
}
