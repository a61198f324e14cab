//! The REST protocols (`rest-json`, `rest-xml`): the operation is chosen by method and URI
//! template (`/2015-03-31/functions/{FunctionName}/invocations`, `/{Bucket}/{Key+}`), and
//! labels bind path segments to input members.

use percent_encoding::percent_decode_str;

/// Matches `path` (percent-encoded, without query) against a model URI template and returns
/// the decoded label values. `{Name+}` labels are greedy and may span `/`.
pub fn match_template(template: &str, path: &str) -> Option<Vec<(String, String)>> {
    let template = template.split('?').next().unwrap_or(template);
    let t_segs: Vec<&str> = template.trim_start_matches('/').split('/').collect();
    let p_segs: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let mut labels = Vec::new();
    let mut pi = 0;
    for (ti, t) in t_segs.iter().enumerate() {
        if let Some(name) = t.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
            if let Some(greedy) = name.strip_suffix('+') {
                // A greedy label takes everything up to the remaining literal segments.
                let rest = t_segs.len() - ti - 1;
                if p_segs.len() < pi + 1 + rest {
                    return None;
                }
                let end = p_segs.len() - rest;
                let raw = p_segs[pi..end].join("/");
                if raw.is_empty() {
                    return None;
                }
                labels.push((greedy.to_string(), decode(&raw)));
                pi = end;
            } else {
                let seg = p_segs.get(pi)?;
                if seg.is_empty() {
                    return None;
                }
                labels.push((name.to_string(), decode(seg)));
                pi += 1;
            }
        } else {
            if p_segs.get(pi) != Some(t) {
                return None;
            }
            pi += 1;
        }
    }
    (pi == p_segs.len()).then_some(labels)
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let l = match_template(
            "/2015-03-31/functions/{FunctionName}/invocations",
            "/2015-03-31/functions/my%3Afn/invocations",
        )
        .unwrap();
        assert_eq!(l, vec![("FunctionName".into(), "my:fn".into())]);
        assert!(
            match_template(
                "/2015-03-31/functions/{FunctionName}/invocations",
                "/2015-03-31/functions//invocations"
            )
            .is_none()
        );
        let l = match_template("/{Bucket}/{Key+}", "/b/a/b%20c/d").unwrap();
        assert_eq!(l[1], ("Key".into(), "a/b c/d".into()));
        assert!(match_template("/{Bucket}/{Key+}", "/b").is_none());
        assert!(match_template("/2015-03-31/functions/", "/2015-03-31/functions/").is_some());
        assert!(match_template("/2015-03-31/functions/", "/2015-03-31/functions/x").is_none());
    }
}
