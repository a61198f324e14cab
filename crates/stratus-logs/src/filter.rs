//! CloudWatch Logs filter patterns: the text patterns (`ERROR "disk full" ?WARN -debug`,
//! `%regex%`) and JSON patterns (`{ $.level = "error" && $.latency > 500 }`) that
//! FilterLogEvents (and so `aws logs tail --filter-pattern`) applies to each message.
//!
//! Pure: no I/O, no async. Parse once per request, then match every event.

use regex::Regex;
use serde_json::Value;

/// A parsed filter pattern.
#[derive(Clone, Debug)]
pub enum FilterPattern {
    /// The empty pattern: every event matches.
    All,
    Text(TextPattern),
    Json(JsonExpr),
}

/// Unstructured text: every required term must appear, at least one optional (`?`) term
/// must appear when there are any, and no excluded (`-`) term may appear. Case-sensitive.
#[derive(Clone, Debug, Default)]
pub struct TextPattern {
    pub required: Vec<Term>,
    pub any: Vec<Term>,
    pub excluded: Vec<Term>,
}

/// One term of a text pattern.
#[derive(Clone, Debug)]
pub enum Term {
    /// A word or quoted phrase that must occur as a substring.
    Literal(String),
    /// `%regex%`.
    Regex(Regex),
}

impl Term {
    fn matches(&self, message: &str) -> bool {
        match self {
            Term::Literal(s) => message.contains(s.as_str()),
            Term::Regex(r) => r.is_match(message),
        }
    }
}

/// A boolean expression over the fields of a JSON message.
#[derive(Clone, Debug)]
pub enum JsonExpr {
    And(Box<JsonExpr>, Box<JsonExpr>),
    Or(Box<JsonExpr>, Box<JsonExpr>),
    Compare {
        selector: Vec<Segment>,
        op: Op,
        value: Literal,
    },
    IsNull(Vec<Segment>),
    IsBool(Vec<Segment>, bool),
    Exists(Vec<Segment>, bool),
}

/// One step of a `$.a.b[0]` selector.
#[derive(Clone, Debug, PartialEq)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// `[*]`: any element of an array.
    AnyIndex,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// The right-hand side of a comparison.
#[derive(Clone, Debug, PartialEq)]
pub enum Literal {
    Number(f64),
    /// A string, possibly with `*` wildcards.
    Str(String),
}

/// Why a pattern does not parse; rendered as an InvalidParameterException.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PatternError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PatternError> {
    Err(PatternError(msg.into()))
}

impl FilterPattern {
    pub fn parse(pattern: &str) -> Result<Self, PatternError> {
        let p = pattern.trim();
        if p.is_empty() || p == "\"\"" {
            return Ok(FilterPattern::All);
        }
        if p.starts_with('{') {
            if !p.ends_with('}') {
                return err("Invalid filter pattern: a JSON pattern must end with '}'");
            }
            let inner = &p[1..p.len() - 1];
            let tokens = lex_json(inner)?;
            let mut parser = JsonParser { tokens, pos: 0 };
            let expr = parser.or()?;
            if parser.pos != parser.tokens.len() {
                return err("Invalid filter pattern: unexpected input after the expression");
            }
            return Ok(FilterPattern::Json(expr));
        }
        if p.starts_with('[') {
            return err("Invalid filter pattern: space-delimited patterns are not supported by Stratus");
        }
        parse_text(p).map(FilterPattern::Text)
    }

    pub fn matches(&self, message: &str) -> bool {
        match self {
            FilterPattern::All => true,
            FilterPattern::Text(t) => {
                t.required.iter().all(|x| x.matches(message))
                    && (t.any.is_empty() || t.any.iter().any(|x| x.matches(message)))
                    && !t.excluded.iter().any(|x| x.matches(message))
            }
            FilterPattern::Json(expr) => match serde_json::from_str::<Value>(message.trim()) {
                Ok(v) => expr.eval(&v),
                Err(_) => false,
            },
        }
    }
}

fn parse_text(p: &str) -> Result<TextPattern, PatternError> {
    let mut out = TextPattern::default();
    let chars: Vec<char> = p.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        let mut kind = 0u8; // 0 required, 1 any, 2 excluded
        if chars[i] == '?' {
            kind = 1;
            i += 1;
        } else if chars[i] == '-' && i + 1 < chars.len() && !chars[i + 1].is_whitespace() {
            kind = 2;
            i += 1;
        }
        if i >= chars.len() || chars[i].is_whitespace() {
            return err("Invalid filter pattern: an operator must be followed by a term");
        }
        let term = if chars[i] == '"' {
            i += 1;
            let mut s = String::new();
            loop {
                match chars.get(i) {
                    None => return err("Invalid filter pattern: unterminated quoted term"),
                    Some('"') => {
                        i += 1;
                        break;
                    }
                    Some('\\') if i + 1 < chars.len() => {
                        s.push(chars[i + 1]);
                        i += 2;
                    }
                    Some(c) => {
                        s.push(*c);
                        i += 1;
                    }
                }
            }
            Term::Literal(s)
        } else if chars[i] == '%' {
            i += 1;
            let start = i;
            while i < chars.len() && chars[i] != '%' {
                i += 1;
            }
            if i >= chars.len() {
                return err("Invalid filter pattern: unterminated regular expression");
            }
            let re: String = chars[start..i].iter().collect();
            i += 1;
            match regex::RegexBuilder::new(&re).size_limit(1 << 20).build() {
                Ok(r) => Term::Regex(r),
                Err(_) => {
                    return err(format!(
                        "Invalid filter pattern: invalid regular expression '{re}'"
                    ));
                }
            }
        } else {
            let start = i;
            while i < chars.len() && !chars[i].is_whitespace() {
                i += 1;
            }
            Term::Literal(chars[start..i].iter().collect())
        };
        match kind {
            0 => out.required.push(term),
            1 => out.any.push(term),
            _ => out.excluded.push(term),
        }
    }
    Ok(out)
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    LParen,
    RParen,
    And,
    Or,
    Op(Op),
    Selector(Vec<Segment>),
    Quoted(String),
    Word(String),
}

fn lex_json(s: &str) -> Result<Vec<Tok>, PatternError> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match c {
            c if c.is_whitespace() => i += 1,
            '(' => {
                out.push(Tok::LParen);
                i += 1;
            }
            ')' => {
                out.push(Tok::RParen);
                i += 1;
            }
            '&' if next == Some('&') => {
                out.push(Tok::And);
                i += 2;
            }
            '|' if next == Some('|') => {
                out.push(Tok::Or);
                i += 2;
            }
            '=' => {
                out.push(Tok::Op(Op::Eq));
                i += 1;
            }
            '!' if next == Some('=') => {
                out.push(Tok::Op(Op::Ne));
                i += 2;
            }
            '<' | '>' => {
                let eq = next == Some('=');
                out.push(Tok::Op(match (c, eq) {
                    ('<', false) => Op::Lt,
                    ('<', true) => Op::Le,
                    ('>', false) => Op::Gt,
                    _ => Op::Ge,
                }));
                i += if eq { 2 } else { 1 };
            }
            '"' => {
                i += 1;
                let mut v = String::new();
                loop {
                    match chars.get(i) {
                        None => return err("Invalid filter pattern: unterminated quoted value"),
                        Some('"') => {
                            i += 1;
                            break;
                        }
                        Some('\\') if i + 1 < chars.len() => {
                            v.push(chars[i + 1]);
                            i += 2;
                        }
                        Some(ch) => {
                            v.push(*ch);
                            i += 1;
                        }
                    }
                }
                out.push(Tok::Quoted(v));
            }
            '$' => {
                i += 1;
                let mut segs = Vec::new();
                loop {
                    match chars.get(i) {
                        Some('.') => {
                            i += 1;
                            let start = i;
                            while i < chars.len()
                                && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '@' | ':'))
                            {
                                i += 1;
                            }
                            if start == i {
                                return err("Invalid filter pattern: empty field name in selector");
                            }
                            segs.push(Segment::Key(chars[start..i].iter().collect()));
                        }
                        Some('[') => {
                            i += 1;
                            let start = i;
                            while i < chars.len() && chars[i] != ']' {
                                i += 1;
                            }
                            if i >= chars.len() {
                                return err("Invalid filter pattern: unterminated '[' in selector");
                            }
                            let inner: String = chars[start..i].iter().collect();
                            i += 1;
                            let inner = inner.trim();
                            if inner == "*" {
                                segs.push(Segment::AnyIndex);
                            } else if let Ok(n) = inner.parse::<usize>() {
                                segs.push(Segment::Index(n));
                            } else {
                                return err(format!("Invalid filter pattern: bad index '[{inner}]'"));
                            }
                        }
                        _ => break,
                    }
                }
                if segs.is_empty() {
                    return err("Invalid filter pattern: a selector must name a field ($.field)");
                }
                out.push(Tok::Selector(segs));
            }
            _ => {
                let start = i;
                while i < chars.len()
                    && !chars[i].is_whitespace()
                    && !matches!(chars[i], '(' | ')' | '=' | '!' | '<' | '>' | '&' | '|' | '"')
                {
                    i += 1;
                }
                if start == i {
                    return err(format!("Invalid filter pattern: unexpected character '{c}'"));
                }
                out.push(Tok::Word(chars[start..i].iter().collect()));
            }
        }
    }
    Ok(out)
}

struct JsonParser {
    tokens: Vec<Tok>,
    pos: usize,
}

impl JsonParser {
    fn peek(&self) -> Option<&Tok> {
        self.tokens.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.tokens.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn word_is(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn or(&mut self) -> Result<JsonExpr, PatternError> {
        let mut left = self.and()?;
        while self.peek() == Some(&Tok::Or) {
            self.pos += 1;
            let right = self.and()?;
            left = JsonExpr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<JsonExpr, PatternError> {
        let mut left = self.unary()?;
        while self.peek() == Some(&Tok::And) {
            self.pos += 1;
            let right = self.unary()?;
            left = JsonExpr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<JsonExpr, PatternError> {
        match self.next() {
            Some(Tok::LParen) => {
                let e = self.or()?;
                if self.next() != Some(Tok::RParen) {
                    return err("Invalid filter pattern: missing ')'");
                }
                Ok(e)
            }
            Some(Tok::Selector(sel)) => self.condition(sel),
            _ => err("Invalid filter pattern: expected a selector ($.field) or '('"),
        }
    }

    fn condition(&mut self, sel: Vec<Segment>) -> Result<JsonExpr, PatternError> {
        if self.word_is("IS") {
            self.pos += 1;
            let negate = if self.word_is("NOT") {
                self.pos += 1;
                true
            } else {
                false
            };
            let e = match self.next() {
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("NULL") => JsonExpr::IsNull(sel),
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("TRUE") => JsonExpr::IsBool(sel, true),
                Some(Tok::Word(w)) if w.eq_ignore_ascii_case("FALSE") => JsonExpr::IsBool(sel, false),
                _ => return err("Invalid filter pattern: expected NULL, TRUE or FALSE after IS"),
            };
            if negate {
                return err("Invalid filter pattern: IS NOT is not supported; use NOT EXISTS or !=");
            }
            return Ok(e);
        }
        if self.word_is("NOT") {
            self.pos += 1;
            if self.word_is("EXISTS") {
                self.pos += 1;
                return Ok(JsonExpr::Exists(sel, false));
            }
            return err("Invalid filter pattern: expected EXISTS after NOT");
        }
        if self.word_is("EXISTS") {
            self.pos += 1;
            return Ok(JsonExpr::Exists(sel, true));
        }
        let op = match self.next() {
            Some(Tok::Op(op)) => op,
            _ => return err("Invalid filter pattern: expected a comparison operator"),
        };
        let value = match self.next() {
            Some(Tok::Quoted(s)) => Literal::Str(s),
            Some(Tok::Word(w)) => match w.parse::<f64>() {
                Ok(n) if n.is_finite() => Literal::Number(n),
                _ => Literal::Str(w),
            },
            _ => return err("Invalid filter pattern: expected a value after the operator"),
        };
        if matches!(value, Literal::Str(_)) && !matches!(op, Op::Eq | Op::Ne) {
            return err("Invalid filter pattern: only = and != compare strings");
        }
        Ok(JsonExpr::Compare {
            selector: sel,
            op,
            value,
        })
    }
}

/// Every value the selector reaches (several through `[*]`).
fn select<'a>(v: &'a Value, path: &[Segment], out: &mut Vec<&'a Value>) {
    let Some((first, rest)) = path.split_first() else {
        out.push(v);
        return;
    };
    match (first, v) {
        (Segment::Key(k), Value::Object(m)) => {
            if let Some(x) = m.get(k) {
                select(x, rest, out);
            }
        }
        (Segment::Index(i), Value::Array(a)) => {
            if let Some(x) = a.get(*i) {
                select(x, rest, out);
            }
        }
        (Segment::AnyIndex, Value::Array(a)) => {
            for x in a {
                select(x, rest, out);
            }
        }
        _ => {}
    }
}

/// `*` matches any run of characters; everything else literally.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == text;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !text.starts_with(first) || text.len() < first.len() + last.len() || !text.ends_with(last) {
        return false;
    }
    let mut rest = &text[first.len()..text.len() - last.len()];
    for mid in &parts[1..parts.len() - 1] {
        match rest.find(mid) {
            Some(i) => rest = &rest[i + mid.len()..],
            None => return false,
        }
    }
    true
}

fn compare_one(v: &Value, op: Op, lit: &Literal) -> bool {
    match lit {
        Literal::Number(n) => {
            let x = match v {
                Value::Number(x) => x.as_f64(),
                _ => None,
            };
            match x {
                Some(x) => match op {
                    Op::Eq => x == *n,
                    Op::Ne => x != *n,
                    Op::Lt => x < *n,
                    Op::Le => x <= *n,
                    Op::Gt => x > *n,
                    Op::Ge => x >= *n,
                },
                // A number literal compared to a string field compares its text.
                None => match (v, op) {
                    (Value::String(s), Op::Eq) => s.parse::<f64>().is_ok_and(|x| x == *n),
                    (Value::String(s), Op::Ne) => s.parse::<f64>() != Ok(*n),
                    _ => false,
                },
            }
        }
        Literal::Str(p) => {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => return false,
            };
            let m = wildcard_match(p, &text);
            if op == Op::Eq { m } else { !m }
        }
    }
}

impl JsonExpr {
    pub fn eval(&self, v: &Value) -> bool {
        let values = |sel: &[Segment]| {
            let mut out = Vec::new();
            select(v, sel, &mut out);
            out
        };
        match self {
            JsonExpr::And(a, b) => a.eval(v) && b.eval(v),
            JsonExpr::Or(a, b) => a.eval(v) || b.eval(v),
            JsonExpr::Compare { selector, op, value } => {
                values(selector).into_iter().any(|x| compare_one(x, *op, value))
            }
            JsonExpr::IsNull(sel) => values(sel).into_iter().any(Value::is_null),
            JsonExpr::IsBool(sel, b) => values(sel).into_iter().any(|x| x.as_bool() == Some(*b)),
            JsonExpr::Exists(sel, want) => values(sel).is_empty() != *want,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(pattern: &str, message: &str) -> bool {
        FilterPattern::parse(pattern).unwrap().matches(message)
    }

    #[test]
    fn empty_matches_everything() {
        assert!(m("", "anything"));
        assert!(m("   ", ""));
        assert!(m("\"\"", "x"));
    }

    #[test]
    fn terms_must_all_appear_case_sensitively() {
        assert!(m("ERROR", "an ERROR happened"));
        assert!(!m("ERROR", "an error happened"));
        assert!(m("ERROR disk", "ERROR: disk full"));
        assert!(!m("ERROR memory", "ERROR: disk full"));
    }

    #[test]
    fn quoted_phrases_match_exactly() {
        assert!(m("\"disk full\"", "ERROR: disk full"));
        assert!(!m("\"full disk\"", "ERROR: disk full"));
        assert!(m("\"say \\\"hi\\\"\"", "they say \"hi\" there"));
    }

    #[test]
    fn optional_terms_need_one() {
        assert!(m("?ERROR ?WARN", "WARN low memory"));
        assert!(m("?ERROR ?WARN", "ERROR boom"));
        assert!(!m("?ERROR ?WARN", "INFO fine"));
        assert!(m("?\"disk full\" ?OOM", "disk full"));
    }

    #[test]
    fn exclusions_reject() {
        assert!(m("ERROR -retry", "ERROR boom"));
        assert!(!m("ERROR -retry", "ERROR boom, will retry"));
        assert!(m("-DEBUG", "INFO x"));
        assert!(!m("-DEBUG", "DEBUG x"));
        // A dash inside a word is part of the word.
        assert!(m("x-ray", "use x-ray"));
    }

    #[test]
    fn regex_terms() {
        assert!(m("%ERR[0-9]+%", "code ERR42"));
        assert!(!m("%ERR[0-9]+%", "code ERRx"));
        assert!(FilterPattern::parse("%(%").is_err());
    }

    #[test]
    fn json_equality_and_wildcards() {
        let msg = r#"{"level":"error","user":{"name":"ann"},"n":7,"tags":["a","b"],"ok":true,"gone":null}"#;
        assert!(m(r#"{ $.level = "error" }"#, msg));
        assert!(m("{ $.level = error }", msg));
        assert!(!m(r#"{ $.level = "warn" }"#, msg));
        assert!(m(r#"{ $.level != "warn" }"#, msg));
        assert!(m(r#"{ $.user.name = "a*" }"#, msg));
        assert!(m(r#"{ $.user.name = "*n" }"#, msg));
        assert!(!m(r#"{ $.user.name = "b*" }"#, msg));
        assert!(m(r#"{ $.tags[1] = "b" }"#, msg));
        assert!(m(r#"{ $.tags[*] = "a" }"#, msg));
        assert!(m("{ $.ok IS TRUE }", msg));
        assert!(m("{ $.gone IS NULL }", msg));
        assert!(m("{ $.missing NOT EXISTS }", msg));
        assert!(!m("{ $.level NOT EXISTS }", msg));
        assert!(!m(r#"{ $.level = "error" }"#, "not json at all"));
    }

    #[test]
    fn json_numbers_and_boolean_logic() {
        let msg = r#"{"n": 7, "latency": 512.5, "level": "info"}"#;
        assert!(m("{ $.n > 5 }", msg));
        assert!(m("{ $.n >= 7 }", msg));
        assert!(!m("{ $.n < 7 }", msg));
        assert!(m("{ $.n = 7 }", msg));
        assert!(m("{ $.latency > 500 && $.level = \"info\" }", msg));
        assert!(!m("{ $.latency > 600 && $.level = \"info\" }", msg));
        assert!(m("{ $.latency > 600 || $.level = \"info\" }", msg));
        assert!(m("{ ($.n = 1 || $.n = 7) && $.level = info }", msg));
        assert!(!m("{ $.n > 5 && ($.level = error || $.level = warn) }", msg));
    }

    #[test]
    fn bad_patterns_are_errors() {
        for p in [
            "{ $.a = }",
            "{ $.a \"x\" }",
            "{ level = 1 }",
            "{ $.a = 1",
            "{ ($.a = 1 }",
            "{ $.a > \"x\" }",
            "\"unterminated",
            "? x",
            "[a, b]",
        ] {
            assert!(FilterPattern::parse(p).is_err(), "{p}");
        }
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("a*c", "abc"));
        assert!(wildcard_match("*", ""));
        assert!(wildcard_match("a*b*c", "aXbYc"));
        assert!(!wildcard_match("a*b*c", "aXc"));
        assert!(!wildcard_match("ab*ba", "aba"));
    }
}
