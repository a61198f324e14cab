//! The Velocity Template Language as API Gateway's mapping templates use it: references
//! (`$x.y`, `$!quiet`, `${formal}`), method calls, `#set`, `#if`/`#elseif`/`#else`, `#foreach`
//! (with `$foreach.hasNext`/`$foreach.index`/`$velocityCount`), comments, and API Gateway's
//! built-ins: `$input.json()`, `$input.path()`, `$input.params()`, `$input.body`, `$context`,
//! `$stageVariables`, `$util.escapeJavaScript()`, `$util.parseJson()`, `$util.urlEncode()`,
//! `$util.urlDecode()`, `$util.base64Encode()`, `$util.base64Decode()`.
//!
//! Pure: no I/O. Values are JSON values; maps and lists print as Java prints them
//! (`{a=1, b=2}`), as Velocity does.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Number, Value};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VtlError {
    #[error("template syntax error at offset {at}: {what}")]
    Syntax { at: usize, what: String },
    #[error("template evaluation error: {0}")]
    Eval(String),
}

/// The request a template renders for (`$input`, `$context`, `$stageVariables`).
#[derive(Clone, Debug, Default)]
pub struct Input {
    /// The payload: the request body, or the integration's response body.
    pub body: String,
    pub path: BTreeMap<String, String>,
    pub querystring: BTreeMap<String, String>,
    pub header: BTreeMap<String, String>,
    pub context: Value,
    pub stage_variables: Value,
}

#[derive(Clone, Debug, PartialEq)]
enum Node {
    Text(String),
    Ref { expr: Expr, quiet: bool, source: String },
    Set(String, Vec<Suffix>, Expr),
    If(Vec<(Expr, Vec<Node>)>, Vec<Node>),
    Foreach(String, Expr, Vec<Node>),
}

#[derive(Clone, Debug, PartialEq)]
enum Expr {
    Lit(Value),
    /// A double-quoted string: interpolated.
    Interp(Vec<Node>),
    Var(String, Vec<Suffix>),
    List(Vec<Expr>),
    Range(Box<Expr>, Box<Expr>),
    Map(Vec<(Expr, Expr)>),
    Not(Box<Expr>),
    Neg(Box<Expr>),
    Bin(Box<Expr>, Op, Box<Expr>),
}

#[derive(Clone, Debug, PartialEq)]
enum Suffix {
    Prop(String),
    Call(String, Vec<Expr>),
    Index(Expr),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Op {
    Or,
    And,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    Add,
    Sub,
    Mul,
    Div,
    Mod,
}

/// A parsed template, ready to render many times.
#[derive(Clone, Debug)]
pub struct Template {
    nodes: Vec<Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, VtlError> {
        let mut p = Parser {
            s: src.as_bytes(),
            src,
            i: 0,
            depth: 0,
        };
        let (nodes, end) = p.block(&[])?;
        if let Some(end) = end {
            return Err(p.err(&format!("unexpected #{end}")));
        }
        Ok(Template { nodes })
    }

    pub fn render(&self, input: &Input) -> Result<String, VtlError> {
        let mut r = Renderer::new(input);
        let mut out = String::new();
        r.nodes(&self.nodes, &mut out)?;
        Ok(out)
    }
}

/// Parses and renders in one step.
pub fn render(src: &str, input: &Input) -> Result<String, VtlError> {
    Template::parse(src)?.render(input)
}

// ---- parsing ------------------------------------------------------------------------------

struct Parser<'a> {
    s: &'a [u8],
    src: &'a str,
    i: usize,
    /// Nesting of blocks and expressions, bounded so that no template exhausts the stack.
    depth: usize,
}

/// Deepest nesting of directives and parenthesized expressions a template may have.
const MAX_DEPTH: usize = 128;

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_'
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

impl Parser<'_> {
    fn err(&self, what: &str) -> VtlError {
        VtlError::Syntax {
            at: self.i,
            what: what.to_string(),
        }
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn at(&self, lit: &str) -> bool {
        self.s[self.i..].starts_with(lit.as_bytes())
    }

    fn ws(&mut self) {
        while self.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            self.i += 1;
        }
    }

    fn expect(&mut self, c: u8) -> Result<(), VtlError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn ident(&mut self) -> Option<String> {
        let start = self.i;
        if !self.peek().is_some_and(ident_start) {
            return None;
        }
        while self.peek().is_some_and(ident_char) {
            self.i += 1;
        }
        Some(self.src[start..self.i].to_string())
    }

    /// The directive name after `#` (`if`, `{if}`...), if a known one starts here.
    fn directive(&self) -> Option<(&'static str, usize)> {
        const NAMES: &[&str] = &["foreach", "elseif", "else", "end", "set", "if", "break", "stop"];
        let rest = &self.s[self.i + 1..];
        for name in NAMES {
            let braced = format!("{{{name}}}");
            if rest.starts_with(braced.as_bytes()) {
                return Some((name, 1 + braced.len()));
            }
            if rest.starts_with(name.as_bytes())
                && !rest.get(name.len()).is_some_and(|c| c.is_ascii_alphanumeric())
            {
                return Some((name, 1 + name.len()));
            }
        }
        None
    }

    /// When a directive stands alone on its line, the line's indentation and its newline are
    /// not output.
    fn gobble_line(&mut self, out: &mut [Node], directive_start: usize) {
        let line_start = self.src[..directive_start].rfind('\n').map_or(0, |p| p + 1);
        let alone_before = self.src[line_start..directive_start]
            .bytes()
            .all(|c| c == b' ' || c == b'\t');
        let mut j = self.i;
        while self
            .s
            .get(j)
            .is_some_and(|&c| c == b' ' || c == b'\t' || c == b'\r')
        {
            j += 1;
        }
        let alone_after = j == self.s.len() || self.s[j] == b'\n';
        if alone_before && alone_after {
            if let Some(Node::Text(t)) = out.last_mut() {
                let keep = t.trim_end_matches([' ', '\t']).len();
                t.truncate(keep);
            }
            self.i = (j + 1).min(self.s.len());
        }
    }

    /// Nodes up to one of `ends` (`#end`, `#else`...), which is returned.
    fn block(&mut self, ends: &[&str]) -> Result<(Vec<Node>, Option<&'static str>), VtlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("the template nests too deeply"));
        }
        let out = self.block_inner(ends);
        self.depth -= 1;
        out
    }

    fn block_inner(&mut self, ends: &[&str]) -> Result<(Vec<Node>, Option<&'static str>), VtlError> {
        let mut out: Vec<Node> = Vec::new();
        let mut text = String::new();
        let flush = |text: &mut String, out: &mut Vec<Node>| {
            if !text.is_empty() {
                out.push(Node::Text(std::mem::take(text)));
            }
        };
        while let Some(c) = self.peek() {
            if c == b'#' && self.at("##") {
                // A line comment, its newline included.
                while self.peek().is_some_and(|c| c != b'\n') {
                    self.i += 1;
                }
                self.i = (self.i + 1).min(self.s.len());
                continue;
            }
            if c == b'#' && self.at("#*") {
                let end = self.src[self.i..]
                    .find("*#")
                    .ok_or_else(|| self.err("unterminated comment"))?;
                self.i += end + 2;
                continue;
            }
            if c == b'#'
                && let Some((name, len)) = self.directive()
            {
                flush(&mut text, &mut out);
                let start = self.i;
                self.i += len;
                match name {
                    "end" | "else" | "elseif" => {
                        if !ends.contains(&name) {
                            return Err(self.err(&format!("unexpected #{name}")));
                        }
                        if name != "elseif" {
                            self.gobble_line(&mut out, start);
                        }
                        return Ok((out, Some(name)));
                    }
                    "set" => {
                        self.expect(b'(')?;
                        self.ws();
                        if self.peek() != Some(b'$') {
                            return Err(self.err("#set needs a reference"));
                        }
                        self.i += 1;
                        let braced = self.peek() == Some(b'{');
                        if braced {
                            self.i += 1;
                        }
                        let name = self
                            .ident()
                            .ok_or_else(|| self.err("#set needs a variable name"))?;
                        let suffixes = self.suffixes()?;
                        if braced {
                            self.expect(b'}')?;
                        }
                        self.expect(b'=')?;
                        let e = self.expr()?;
                        self.expect(b')')?;
                        out.push(Node::Set(name, suffixes, e));
                        self.gobble_line(&mut out, start);
                    }
                    "if" => {
                        self.expect(b'(')?;
                        let cond = self.expr()?;
                        self.expect(b')')?;
                        self.gobble_line(&mut out, start);
                        let mut branches = Vec::new();
                        let mut otherwise = Vec::new();
                        let mut cond = cond;
                        loop {
                            let (body, end) = self.block(&["elseif", "else", "end"])?;
                            branches.push((cond.clone(), body));
                            match end {
                                Some("elseif") => {
                                    let here = self.i;
                                    self.expect(b'(')?;
                                    cond = self.expr()?;
                                    self.expect(b')')?;
                                    self.gobble_line(&mut Vec::new(), here);
                                }
                                Some("else") => {
                                    let (body, end) = self.block(&["end"])?;
                                    if end != Some("end") {
                                        return Err(self.err("#else without #end"));
                                    }
                                    otherwise = body;
                                    break;
                                }
                                Some("end") => break,
                                _ => return Err(self.err("#if without #end")),
                            }
                        }
                        out.push(Node::If(branches, otherwise));
                    }
                    "foreach" => {
                        self.expect(b'(')?;
                        self.ws();
                        if self.peek() != Some(b'$') {
                            return Err(self.err("#foreach needs a loop variable"));
                        }
                        self.i += 1;
                        let var = self
                            .ident()
                            .ok_or_else(|| self.err("#foreach needs a loop variable"))?;
                        self.ws();
                        if !self.at("in") {
                            return Err(self.err("expected 'in'"));
                        }
                        self.i += 2;
                        let e = self.expr()?;
                        self.expect(b')')?;
                        self.gobble_line(&mut out, start);
                        let (body, end) = self.block(&["end"])?;
                        if end != Some("end") {
                            return Err(self.err("#foreach without #end"));
                        }
                        out.push(Node::Foreach(var, e, body));
                    }
                    // Rarely used; treated as no-ops.
                    _ => self.gobble_line(&mut out, start),
                }
                continue;
            }
            if c == b'$'
                && let Some(node) = self.reference()?
            {
                flush(&mut text, &mut out);
                out.push(node);
                continue;
            }
            if c == b'\\' && matches!(self.s.get(self.i + 1), Some(b'$' | b'#')) {
                text.push(self.s[self.i + 1] as char);
                self.i += 2;
                continue;
            }
            let ch = self.src[self.i..].chars().next().expect("in bounds");
            text.push(ch);
            self.i += ch.len_utf8();
        }
        flush(&mut text, &mut out);
        if ends.is_empty() {
            Ok((out, None))
        } else {
            Err(self.err(&format!("missing #{}", ends.last().unwrap_or(&"end"))))
        }
    }

    /// `$name...`, `$!name...`, `${name...}`; plain text when no name follows the `$`.
    fn reference(&mut self) -> Result<Option<Node>, VtlError> {
        let start = self.i;
        self.i += 1;
        let quiet = self.peek() == Some(b'!');
        if quiet {
            self.i += 1;
        }
        let braced = self.peek() == Some(b'{');
        if braced {
            self.i += 1;
        }
        let Some(name) = self.ident() else {
            self.i = start;
            return Ok(None);
        };
        let suffixes = self.suffixes()?;
        if braced {
            if self.peek() != Some(b'}') {
                return Err(self.err("expected '}'"));
            }
            self.i += 1;
        }
        Ok(Some(Node::Ref {
            expr: Expr::Var(name, suffixes),
            quiet,
            source: self.src[start..self.i].to_string(),
        }))
    }

    fn suffixes(&mut self) -> Result<Vec<Suffix>, VtlError> {
        let mut out = Vec::new();
        loop {
            if self.peek() == Some(b'.') && self.s.get(self.i + 1).is_some_and(|&c| ident_start(c)) {
                self.i += 1;
                let name = self.ident().expect("checked");
                if self.peek() == Some(b'(') {
                    self.i += 1;
                    let mut args = Vec::new();
                    self.ws();
                    if self.peek() == Some(b')') {
                        self.i += 1;
                    } else {
                        loop {
                            args.push(self.expr()?);
                            self.ws();
                            match self.peek() {
                                Some(b',') => self.i += 1,
                                Some(b')') => {
                                    self.i += 1;
                                    break;
                                }
                                _ => return Err(self.err("expected ',' or ')'")),
                            }
                        }
                    }
                    out.push(Suffix::Call(name, args));
                } else {
                    out.push(Suffix::Prop(name));
                }
            } else if self.peek() == Some(b'[') {
                self.i += 1;
                let e = self.expr()?;
                self.expect(b']')?;
                out.push(Suffix::Index(e));
            } else {
                return Ok(out);
            }
        }
    }

    fn expr(&mut self) -> Result<Expr, VtlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err("the template nests too deeply"));
        }
        let out = self.binary(0);
        self.depth -= 1;
        out
    }

    fn op(&mut self) -> Option<(Op, u8)> {
        self.ws();
        let table: &[(&str, Op, u8)] = &[
            ("||", Op::Or, 1),
            ("&&", Op::And, 2),
            ("==", Op::Eq, 3),
            ("!=", Op::Ne, 3),
            ("<=", Op::Le, 4),
            (">=", Op::Ge, 4),
            ("<", Op::Lt, 4),
            (">", Op::Gt, 4),
            ("+", Op::Add, 5),
            ("-", Op::Sub, 5),
            ("*", Op::Mul, 6),
            ("/", Op::Div, 6),
            ("%", Op::Mod, 6),
        ];
        for (lit, op, prec) in table {
            if self.at(lit) {
                return Some((*op, *prec));
            }
        }
        let words: &[(&str, Op, u8)] = &[
            ("or", Op::Or, 1),
            ("and", Op::And, 2),
            ("eq", Op::Eq, 3),
            ("ne", Op::Ne, 3),
            ("le", Op::Le, 4),
            ("ge", Op::Ge, 4),
            ("lt", Op::Lt, 4),
            ("gt", Op::Gt, 4),
        ];
        for (word, op, prec) in words {
            if self.at(word) && !self.s.get(self.i + word.len()).is_some_and(|&c| ident_char(c)) {
                return Some((*op, *prec));
            }
        }
        None
    }

    fn op_len(&self, op: Op) -> usize {
        let word = |w: &str| self.at(w);
        match op {
            Op::Or if word("or") => 2,
            Op::And if word("and") => 3,
            Op::Eq if word("eq") => 2,
            Op::Ne if word("ne") => 2,
            Op::Le if word("le") => 2,
            Op::Ge if word("ge") => 2,
            Op::Lt if word("lt") => 2,
            Op::Gt if word("gt") => 2,
            Op::Or | Op::And | Op::Eq | Op::Ne | Op::Le | Op::Ge => 2,
            _ => 1,
        }
    }

    fn binary(&mut self, min: u8) -> Result<Expr, VtlError> {
        let mut left = self.unary()?;
        while let Some((op, prec)) = self.op() {
            if prec < min {
                break;
            }
            self.i += self.op_len(op);
            let right = self.binary(prec + 1)?;
            left = Expr::Bin(Box::new(left), op, Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, VtlError> {
        self.ws();
        if self.depth > MAX_DEPTH {
            return Err(self.err("the template nests too deeply"));
        }
        if self.peek() == Some(b'!') && self.s.get(self.i + 1) != Some(&b'=') {
            self.i += 1;
            self.depth += 1;
            let e = self.unary();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e?)));
        }
        if self.at("not ") {
            self.i += 4;
            self.depth += 1;
            let e = self.unary();
            self.depth -= 1;
            return Ok(Expr::Not(Box::new(e?)));
        }
        if self.peek() == Some(b'-') && !self.s.get(self.i + 1).is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
            self.depth += 1;
            let e = self.unary();
            self.depth -= 1;
            return Ok(Expr::Neg(Box::new(e?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, VtlError> {
        self.ws();
        match self.peek() {
            Some(b'(') => {
                self.i += 1;
                let e = self.expr()?;
                self.expect(b')')?;
                Ok(e)
            }
            Some(b'$') => {
                self.i += 1;
                if self.peek() == Some(b'!') {
                    self.i += 1;
                }
                let braced = self.peek() == Some(b'{');
                if braced {
                    self.i += 1;
                }
                let name = self.ident().ok_or_else(|| self.err("expected a variable name"))?;
                let suffixes = self.suffixes()?;
                if braced {
                    self.expect(b'}')?;
                }
                Ok(Expr::Var(name, suffixes))
            }
            Some(b'"') => {
                self.i += 1;
                let start = self.i;
                while let Some(c) = self.peek() {
                    if c == b'\\' {
                        self.i += 2;
                        continue;
                    }
                    if c == b'"' {
                        break;
                    }
                    self.i += 1;
                }
                if self.peek() != Some(b'"') {
                    return Err(self.err("unterminated string"));
                }
                let raw = &self.src[start..self.i];
                self.i += 1;
                let raw = raw.replace("\\\"", "\"");
                let mut inner = Parser {
                    s: raw.as_bytes(),
                    src: &raw,
                    i: 0,
                    depth: self.depth + 1,
                };
                let (nodes, _) = inner.block(&[])?;
                Ok(Expr::Interp(nodes))
            }
            Some(b'\'') => {
                self.i += 1;
                let start = self.i;
                while self.peek().is_some_and(|c| c != b'\'') {
                    self.i += 1;
                }
                if self.peek() != Some(b'\'') {
                    return Err(self.err("unterminated string"));
                }
                let s = self.src[start..self.i].to_string();
                self.i += 1;
                Ok(Expr::Lit(Value::String(s)))
            }
            Some(b'[') => {
                self.i += 1;
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Expr::List(vec![]));
                }
                let first = self.expr()?;
                self.ws();
                if self.at("..") {
                    self.i += 2;
                    let last = self.expr()?;
                    self.expect(b']')?;
                    return Ok(Expr::Range(Box::new(first), Box::new(last)));
                }
                let mut items = vec![first];
                loop {
                    self.ws();
                    match self.peek() {
                        Some(b',') => {
                            self.i += 1;
                            items.push(self.expr()?);
                        }
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Expr::List(items));
                        }
                        _ => return Err(self.err("expected ',' or ']'")),
                    }
                }
            }
            Some(b'{') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Expr::Map(items));
                }
                loop {
                    let k = self.expr()?;
                    self.expect(b':')?;
                    let v = self.expr()?;
                    items.push((k, v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Expr::Map(items));
                        }
                        _ => return Err(self.err("expected ',' or '}'")),
                    }
                }
            }
            Some(c) if c.is_ascii_digit() || c == b'-' => {
                let start = self.i;
                self.i += 1;
                while self.peek().is_some_and(|c| c.is_ascii_digit())
                    || (self.peek() == Some(b'.')
                        && self.s.get(self.i + 1).is_some_and(|c| c.is_ascii_digit()))
                {
                    self.i += 1;
                }
                let text = &self.src[start..self.i];
                let v = if let Ok(n) = text.parse::<i64>() {
                    Value::from(n)
                } else {
                    text.parse::<f64>()
                        .ok()
                        .and_then(Number::from_f64)
                        .map(Value::Number)
                        .ok_or_else(|| self.err("invalid number"))?
                };
                Ok(Expr::Lit(v))
            }
            _ => {
                for (word, v) in [
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                    ("null", Value::Null),
                ] {
                    if self.at(word) && !self.s.get(self.i + word.len()).is_some_and(|&c| ident_char(c)) {
                        self.i += word.len();
                        return Ok(Expr::Lit(v));
                    }
                }
                Err(self.err("expected an expression"))
            }
        }
    }
}

// ---- rendering ----------------------------------------------------------------------------

/// Velocity stops runaway loops; so does this (per loop, and over a whole rendering).
const MAX_ITERATIONS: usize = 100_000;
const MAX_STEPS: usize = 1_000_000;
const MAX_OUTPUT: usize = 10 * 1024 * 1024;

struct Renderer<'a> {
    input: &'a Input,
    vars: BTreeMap<String, Value>,
    body_json: Option<Value>,
    steps: usize,
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        _ => true,
    }
}

/// How Velocity prints a value (Java's `toString`).
pub fn display(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Array(a) => format!("[{}]", a.iter().map(display).collect::<Vec<_>>().join(", ")),
        Value::Object(m) => format!(
            "{{{}}}",
            m.iter()
                .map(|(k, v)| format!("{k}={}", display(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn num_value(x: f64, integral: bool) -> Value {
    if integral && x.fract() == 0.0 && x.abs() < 9.0e15 {
        Value::from(x as i64)
    } else {
        Number::from_f64(x).map_or(Value::Null, Value::Number)
    }
}

fn equal(a: &Value, b: &Value) -> bool {
    match (number(a), number(b)) {
        (Some(x), Some(y)) if a.is_number() && b.is_number() => x == y,
        _ => match (a, b) {
            (Value::String(x), y) | (y, Value::String(x)) if !y.is_string() && !y.is_null() => {
                *x == display(y)
            }
            _ => a == b,
        },
    }
}

/// JavaScript string escaping as `$util.escapeJavaScript` does it (quotes included).
pub fn escape_javascript(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            '/' => out.push_str("\\/"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 || (c as u32) > 0x7e => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

fn jsonpath(root: &Value, path: &str) -> Vec<Value> {
    let path = if path.is_empty() { "$" } else { path };
    match serde_json_path::JsonPath::parse(path) {
        Ok(p) => p.query(root).all().into_iter().cloned().collect(),
        Err(_) => Vec::new(),
    }
}

impl<'a> Renderer<'a> {
    fn new(input: &'a Input) -> Self {
        Renderer {
            input,
            vars: BTreeMap::new(),
            body_json: None,
            steps: 0,
        }
    }

    fn body(&mut self) -> Value {
        if self.body_json.is_none() {
            let parsed = serde_json::from_str(&self.input.body).unwrap_or(Value::Null);
            self.body_json = Some(parsed);
        }
        self.body_json.clone().unwrap_or(Value::Null)
    }

    fn nodes(&mut self, nodes: &[Node], out: &mut String) -> Result<(), VtlError> {
        for n in nodes {
            if out.len() > MAX_OUTPUT {
                return Err(VtlError::Eval("template output is too large".into()));
            }
            match n {
                Node::Text(t) => out.push_str(t),
                Node::Ref { expr, quiet, source } => match self.eval(expr)? {
                    None | Some(Value::Null) => {
                        if !quiet {
                            out.push_str(source);
                        }
                    }
                    Some(v) => out.push_str(&display(&v)),
                },
                Node::Set(name, suffixes, e) => {
                    let v = self.eval(e)?.unwrap_or(Value::Null);
                    if suffixes.is_empty() {
                        self.vars.insert(name.clone(), v);
                    } else if let [Suffix::Prop(key)] = suffixes.as_slice()
                        && let Some(Value::Object(m)) = self.vars.get_mut(name)
                    {
                        m.insert(key.clone(), v);
                    }
                }
                Node::If(branches, otherwise) => {
                    let mut taken = false;
                    for (cond, body) in branches {
                        if self.eval(cond)?.as_ref().is_some_and(truthy) {
                            self.nodes(body, out)?;
                            taken = true;
                            break;
                        }
                    }
                    if !taken {
                        self.nodes(otherwise, out)?;
                    }
                }
                Node::Foreach(var, e, body) => {
                    let items = match self.eval(e)?.unwrap_or(Value::Null) {
                        Value::Array(a) => a,
                        Value::Object(m) => m.into_values().collect(),
                        Value::Null => vec![],
                        other => vec![other],
                    };
                    let n = items.len();
                    let saved = (self.vars.get(var).cloned(), self.vars.get("foreach").cloned());
                    for (i, item) in items.into_iter().enumerate().take(MAX_ITERATIONS) {
                        self.steps += 1;
                        if self.steps > MAX_STEPS {
                            return Err(VtlError::Eval("the template loops too long".into()));
                        }
                        self.vars.insert(var.clone(), item);
                        let mut state = Map::new();
                        state.insert("index".into(), Value::from(i));
                        state.insert("count".into(), Value::from(i + 1));
                        state.insert("hasNext".into(), Value::Bool(i + 1 < n));
                        state.insert("first".into(), Value::Bool(i == 0));
                        state.insert("last".into(), Value::Bool(i + 1 == n));
                        self.vars.insert("foreach".into(), Value::Object(state));
                        self.vars.insert("velocityCount".into(), Value::from(i + 1));
                        self.nodes(body, out)?;
                    }
                    match saved.0 {
                        Some(v) => self.vars.insert(var.clone(), v),
                        None => self.vars.remove(var),
                    };
                    match saved.1 {
                        Some(v) => self.vars.insert("foreach".into(), v),
                        None => self.vars.remove("foreach"),
                    };
                }
            }
        }
        Ok(())
    }

    fn eval(&mut self, e: &Expr) -> Result<Option<Value>, VtlError> {
        Ok(Some(match e {
            Expr::Lit(v) => v.clone(),
            Expr::Interp(nodes) => {
                let mut s = String::new();
                self.nodes(nodes, &mut s)?;
                Value::String(s)
            }
            Expr::List(items) => {
                let mut out = Vec::new();
                for i in items {
                    out.push(self.eval(i)?.unwrap_or(Value::Null));
                }
                Value::Array(out)
            }
            Expr::Range(a, b) => {
                let a = self.eval(a)?.as_ref().and_then(number).unwrap_or(0.0) as i64;
                let b = self.eval(b)?.as_ref().and_then(number).unwrap_or(0.0) as i64;
                let range: Vec<Value> = if a <= b {
                    (a..=b).take(MAX_ITERATIONS).map(Value::from).collect()
                } else {
                    (b..=a).rev().take(MAX_ITERATIONS).map(Value::from).collect()
                };
                Value::Array(range)
            }
            Expr::Map(items) => {
                let mut m = Map::new();
                for (k, v) in items {
                    let k = display(&self.eval(k)?.unwrap_or(Value::Null));
                    m.insert(k, self.eval(v)?.unwrap_or(Value::Null));
                }
                Value::Object(m)
            }
            Expr::Not(x) => Value::Bool(!self.eval(x)?.as_ref().is_some_and(truthy)),
            Expr::Neg(x) => {
                let v = self.eval(x)?.unwrap_or(Value::Null);
                num_value(-number(&v).unwrap_or(0.0), v.is_i64())
            }
            Expr::Bin(a, op, b) => {
                if *op == Op::And {
                    let l = self.eval(a)?.as_ref().is_some_and(truthy);
                    return Ok(Some(Value::Bool(l && self.eval(b)?.as_ref().is_some_and(truthy))));
                }
                if *op == Op::Or {
                    let l = self.eval(a)?.as_ref().is_some_and(truthy);
                    return Ok(Some(Value::Bool(l || self.eval(b)?.as_ref().is_some_and(truthy))));
                }
                let l = self.eval(a)?.unwrap_or(Value::Null);
                let r = self.eval(b)?.unwrap_or(Value::Null);
                match op {
                    Op::Eq => Value::Bool(equal(&l, &r)),
                    Op::Ne => Value::Bool(!equal(&l, &r)),
                    Op::Lt | Op::Le | Op::Gt | Op::Ge => {
                        let ord = match (number(&l), number(&r)) {
                            (Some(x), Some(y)) => x.partial_cmp(&y),
                            _ => Some(display(&l).cmp(&display(&r))),
                        };
                        let Some(ord) = ord else {
                            return Ok(Some(Value::Bool(false)));
                        };
                        Value::Bool(match op {
                            Op::Lt => ord.is_lt(),
                            Op::Le => ord.is_le(),
                            Op::Gt => ord.is_gt(),
                            _ => ord.is_ge(),
                        })
                    }
                    Op::Add if l.is_string() || r.is_string() => Value::String(display(&l) + &display(&r)),
                    _ => {
                        let (Some(x), Some(y)) = (number(&l), number(&r)) else {
                            return Ok(None);
                        };
                        let integral = l.is_i64() && r.is_i64();
                        match op {
                            Op::Add => num_value(x + y, integral),
                            Op::Sub => num_value(x - y, integral),
                            Op::Mul => num_value(x * y, integral),
                            Op::Div if y == 0.0 => return Ok(None),
                            Op::Div if integral => num_value((x / y).trunc(), true),
                            Op::Div => num_value(x / y, false),
                            Op::Mod if y == 0.0 => return Ok(None),
                            _ => num_value(x % y, integral),
                        }
                    }
                }
            }
            Expr::Var(name, suffixes) => return self.var(name, suffixes),
        }))
    }

    fn args(&mut self, args: &[Expr]) -> Result<Vec<Value>, VtlError> {
        args.iter()
            .map(|a| Ok(self.eval(a)?.unwrap_or(Value::Null)))
            .collect()
    }

    fn params(&self) -> Value {
        let m = |b: &BTreeMap<String, String>| {
            Value::Object(
                b.iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            )
        };
        serde_json::json!({
            "path": m(&self.input.path),
            "querystring": m(&self.input.querystring),
            "header": m(&self.input.header),
        })
    }

    fn var(&mut self, name: &str, suffixes: &[Suffix]) -> Result<Option<Value>, VtlError> {
        let (mut value, rest) = match (name, suffixes.first()) {
            ("input", Some(Suffix::Call(m, args))) => {
                let args = self.args(args)?;
                let arg = args.first().map(display).unwrap_or_default();
                let v = match m.as_str() {
                    "json" => {
                        let found = jsonpath(&self.body(), &arg);
                        Value::String(match found.as_slice() {
                            [] => String::new(),
                            [one] => one.to_string(),
                            many => Value::Array(many.to_vec()).to_string(),
                        })
                    }
                    "path" => {
                        let found = jsonpath(&self.body(), &arg);
                        match found.len() {
                            0 => Value::Null,
                            1 => found.into_iter().next().unwrap_or(Value::Null),
                            _ => Value::Array(found),
                        }
                    }
                    "params" if args.is_empty() => self.params(),
                    "params" => {
                        let i = self.input;
                        let found = i.path.get(&arg).or_else(|| i.querystring.get(&arg)).or_else(|| {
                            i.header
                                .iter()
                                .find(|(k, _)| k.eq_ignore_ascii_case(&arg))
                                .map(|(_, v)| v)
                        });
                        found.map_or(Value::Null, |s| Value::String(s.clone()))
                    }
                    other => return Err(VtlError::Eval(format!("$input.{other}() is not supported"))),
                };
                (v, &suffixes[1..])
            }
            ("input", Some(Suffix::Prop(p))) if p == "body" => {
                (Value::String(self.input.body.clone()), &suffixes[1..])
            }
            ("util", Some(Suffix::Call(m, args))) => {
                let args = self.args(args)?;
                let arg = args.first().cloned().unwrap_or(Value::Null);
                let s = display(&arg);
                let v = match m.as_str() {
                    "escapeJavaScript" => Value::String(escape_javascript(&s)),
                    "parseJson" => serde_json::from_str(&s).unwrap_or(Value::Null),
                    "toJson" => Value::String(arg.to_string()),
                    "urlEncode" => Value::String(
                        percent_encoding::utf8_percent_encode(&s, percent_encoding::NON_ALPHANUMERIC)
                            .to_string()
                            .replace("%2D", "-")
                            .replace("%5F", "_")
                            .replace("%2E", ".")
                            .replace("%2A", "*")
                            .replace("%20", "+"),
                    ),
                    "urlDecode" => Value::String(
                        percent_encoding::percent_decode_str(&s.replace('+', " "))
                            .decode_utf8_lossy()
                            .into_owned(),
                    ),
                    "base64Encode" => {
                        Value::String(base64::engine::general_purpose::STANDARD.encode(s.as_bytes()))
                    }
                    "base64Decode" => Value::String(
                        base64::engine::general_purpose::STANDARD
                            .decode(s.as_bytes())
                            .map(|b| String::from_utf8_lossy(&b).into_owned())
                            .unwrap_or_default(),
                    ),
                    other => return Err(VtlError::Eval(format!("$util.{other}() is not supported"))),
                };
                (v, &suffixes[1..])
            }
            ("context", _) => (self.input.context.clone(), suffixes),
            ("stageVariables", _) => (self.input.stage_variables.clone(), suffixes),
            _ => match self.vars.get(name) {
                Some(v) => (v.clone(), suffixes),
                None => return Ok(None),
            },
        };
        for s in rest {
            value = match s {
                Suffix::Prop(p) => match &value {
                    Value::Object(m) => m.get(p).cloned().unwrap_or(Value::Null),
                    _ => match method(&value, p, &[]) {
                        Some(v) if p.starts_with("size") || p == "empty" => v,
                        _ => Value::Null,
                    },
                },
                Suffix::Index(e) => {
                    let k = self.eval(e)?.unwrap_or(Value::Null);
                    match (&value, &k) {
                        (Value::Array(a), k) => number(k)
                            .and_then(|i| a.get(i as usize).cloned())
                            .unwrap_or(Value::Null),
                        (Value::Object(m), k) => m.get(&display(k)).cloned().unwrap_or(Value::Null),
                        _ => Value::Null,
                    }
                }
                Suffix::Call(m, args) => {
                    let args = self.args(args)?;
                    match method(&value, m, &args) {
                        Some(v) => v,
                        None => return Ok(None),
                    }
                }
            };
            if value.is_null() {
                return Ok(None);
            }
        }
        Ok(Some(value))
    }
}

/// Java methods templates call on strings, lists and maps.
fn method(v: &Value, name: &str, args: &[Value]) -> Option<Value> {
    let arg = |i: usize| args.get(i).map(display).unwrap_or_default();
    Some(match (v, name) {
        (Value::Object(m), "get") => m.get(&arg(0)).cloned().unwrap_or(Value::Null),
        (Value::Object(m), "containsKey") => Value::Bool(m.contains_key(&arg(0))),
        (Value::Object(m), "keySet") => Value::Array(m.keys().cloned().map(Value::String).collect()),
        (Value::Object(m), "values") => Value::Array(m.values().cloned().collect()),
        (Value::Object(m), "entrySet") => Value::Array(
            m.iter()
                .map(|(k, v)| serde_json::json!({ "key": k, "value": v }))
                .collect(),
        ),
        (Value::Object(m), "size") => Value::from(m.len()),
        (Value::Object(m), "isEmpty") => Value::Bool(m.is_empty()),
        (Value::Array(a), "get") => a
            .get(number(args.first()?)? as usize)
            .cloned()
            .unwrap_or(Value::Null),
        (Value::Array(a), "size") => Value::from(a.len()),
        (Value::Array(a), "isEmpty") => Value::Bool(a.is_empty()),
        (Value::Array(a), "contains") => {
            Value::Bool(a.iter().any(|x| equal(x, args.first().unwrap_or(&Value::Null))))
        }
        (Value::String(s), "length") | (Value::String(s), "size") => Value::from(s.chars().count()),
        (Value::String(s), "isEmpty") => Value::Bool(s.is_empty()),
        (Value::String(s), "contains") => Value::Bool(s.contains(&arg(0))),
        (Value::String(s), "startsWith") => Value::Bool(s.starts_with(&arg(0))),
        (Value::String(s), "endsWith") => Value::Bool(s.ends_with(&arg(0))),
        (Value::String(s), "equals") => Value::Bool(*s == arg(0)),
        (Value::String(s), "equalsIgnoreCase") => Value::Bool(s.eq_ignore_ascii_case(&arg(0))),
        (Value::String(s), "indexOf") => {
            Value::from(s.find(&arg(0)).map_or(-1, |i| s[..i].chars().count() as i64))
        }
        (Value::String(s), "toLowerCase") => Value::String(s.to_lowercase()),
        (Value::String(s), "toUpperCase") => Value::String(s.to_uppercase()),
        (Value::String(s), "trim") => Value::String(s.trim().to_string()),
        (Value::String(s), "replace") => Value::String(s.replace(&arg(0), &arg(1))),
        (Value::String(s), "replaceAll") => Value::String(regex_lite_replace(s, &arg(0), &arg(1))),
        (Value::String(s), "split") => Value::Array(
            s.split(arg(0).as_str())
                .map(|p| Value::String(p.to_string()))
                .collect(),
        ),
        (Value::String(s), "substring") => {
            let chars: Vec<char> = s.chars().collect();
            let from = number(args.first()?)? as usize;
            let to = args.get(1).and_then(number).map_or(chars.len(), |t| t as usize);
            Value::String(chars.get(from..to.min(chars.len()))?.iter().collect())
        }
        (_, "toString") => Value::String(display(v)),
        (Value::String(s), "matches") => Value::Bool(*s == arg(0)),
        _ => return None,
    })
}

/// `replaceAll` with a literal pattern (templates use it for plain text).
fn regex_lite_replace(s: &str, from: &str, to: &str) -> String {
    if from.is_empty() {
        s.to_string()
    } else {
        s.replace(from, to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(body: &str) -> Input {
        let mut i = Input {
            body: body.to_string(),
            context: serde_json::json!({"requestId": "r1", "stage": "prod", "identity": {"sourceIp": "1.2.3.4"}}),
            stage_variables: serde_json::json!({"env": "test"}),
            ..Default::default()
        };
        i.path.insert("id".into(), "42".into());
        i.querystring.insert("q".into(), "x y".into());
        i.header.insert("Accept".into(), "application/json".into());
        i
    }

    #[test]
    fn input_functions() {
        let i = input(r#"{"name": "ann", "tags": ["a", "b"], "n": 3}"#);
        assert_eq!(
            render(r#"{"n": $input.json('$.name')}"#, &i).unwrap(),
            r#"{"n": "ann"}"#
        );
        assert_eq!(render("$input.path('$.name')", &i).unwrap(), "ann");
        assert_eq!(render("$input.path('$.tags').size()", &i).unwrap(), "2");
        assert_eq!(
            render(
                "$input.params('id') $input.params('q') $input.params('accept')",
                &i
            )
            .unwrap(),
            "42 x y application/json"
        );
        assert_eq!(render("$input.params().path.id", &i).unwrap(), "42");
        assert_eq!(
            render("$input.json('$')", &i).unwrap(),
            r#"{"n":3,"name":"ann","tags":["a","b"]}"#
        );
        assert_eq!(
            render(
                "$context.requestId/$context.identity.sourceIp/$stageVariables.env",
                &i
            )
            .unwrap(),
            "r1/1.2.3.4/test"
        );
        assert_eq!(render("$input.body", &i).unwrap(), i.body);
    }

    #[test]
    fn directives() {
        let i = input(r#"{"items": [{"id": 1}, {"id": 2}, {"id": 3}], "flag": true}"#);
        let t = "[\n#foreach($it in $input.path('$.items'))\n  {\"id\": $it.id}#if($foreach.hasNext),#end\n#end\n]";
        assert_eq!(
            render(t, &i).unwrap(),
            "[\n  {\"id\": 1},\n  {\"id\": 2},\n  {\"id\": 3}\n]"
        );
        let t = "#set($x = $input.path('$.flag'))\n#if($x && 1 < 2)yes#elseif(false)no#{else}never#end";
        assert_eq!(render(t, &i).unwrap(), "yes");
        let t = "#set($n = 2)#if($n == 1)one#elseif($n == 2)two#else other#end";
        assert_eq!(render(t, &i).unwrap(), "two");
        assert_eq!(
            render("#set($s = \"id-$input.params('id')\")$s", &i).unwrap(),
            "id-42"
        );
        assert_eq!(
            render("#set($m = {\"a\": 1})$m.a $m.get('a') $!missing $missing", &i).unwrap(),
            "1 1  $missing"
        );
        assert_eq!(render("## comment\n#* block *#ok", &i).unwrap(), "ok");
        assert_eq!(render("#foreach($i in [1..3])$i#end", &i).unwrap(), "123");
        assert_eq!(
            render("#set($a = 7 / 2)$a #set($b = 'x' + 1)$b", &i).unwrap(),
            "3 x1"
        );
    }

    #[test]
    fn util_functions() {
        let i = input("a\"b'c");
        assert_eq!(
            render("$util.escapeJavaScript($input.body)", &i).unwrap(),
            "a\\\"b\\'c"
        );
        assert_eq!(render("$util.parseJson('{\"k\": [1]}').k[0]", &i).unwrap(), "1");
        assert_eq!(render("$util.urlEncode('a b&c')", &i).unwrap(), "a+b%26c");
        assert_eq!(render("$util.urlDecode('a+b%26c')", &i).unwrap(), "a b&c");
        assert_eq!(
            render("$util.base64Decode($util.base64Encode('hi'))", &i).unwrap(),
            "hi"
        );
    }

    #[test]
    fn syntax_errors_are_reported() {
        assert!(Template::parse("#if($a)x").is_err());
        assert!(Template::parse("#end").is_err());
        assert!(Template::parse("#set($x = )").is_err());
        assert!(Template::parse("$ 5 # not a directive").is_ok());
        assert!(Template::parse(&format!("#set($a = {})", "(".repeat(10_000))).is_err());
        assert!(Template::parse(&format!("#set($a = {}1)", "!".repeat(10_000))).is_err());
        assert!(Template::parse(&"#if(true)".repeat(10_000)).is_err());
        let nested = "#foreach($a in [1..100000])#foreach($b in [1..100000])x#end#end";
        assert!(render(nested, &Input::default()).is_err());
    }
}

#[cfg(test)]
mod properties {
    use proptest::prelude::*;

    use super::*;

    proptest! {
        /// Whatever a template says, parsing and rendering end with an answer or an error:
        /// never a panic, never an endless loop.
        #[test]
        fn any_template_parses_or_fails_cleanly(src in "[ -~\n]{0,120}", body in "[ -~]{0,40}") {
            let input = Input { body, ..Default::default() };
            if let Ok(t) = Template::parse(&src) {
                let _ = t.render(&input);
            }
        }

        /// Templates built from the language's own pieces, the likelier source of edge cases.
        #[test]
        fn directive_soup_never_panics(parts in proptest::collection::vec(prop_oneof![
            Just("#if($a)"), Just("#else"), Just("#elseif($b == 1)"), Just("#end"),
            Just("#foreach($x in [1..3])"), Just("#set($a = $a + 1)"), Just("$x"), Just("$!y.z()"),
            Just("${a}"), Just("$input.json('$.k')"), Just("$input.path('$[0]')"), Just("\""),
            Just("'"), Just("("), Just(")"), Just("##c\n"), Just("#*"), Just("*#"), Just("text "),
            Just("$util.escapeJavaScript($x)"), Just("[1, 2"), Just("{\"k\": 1}"),
        ], 0..24)) {
            let src: String = parts.concat();
            let input = Input { body: r#"{"k": [1, {"a": "b"}]}"#.into(), ..Default::default() };
            if let Ok(t) = Template::parse(&src) {
                let _ = t.render(&input);
            }
        }
    }
}
