//! The expression languages of DynamoDB — condition/filter, key condition, projection and
//! update expressions — parsed into a typed tree, with `#name` and `:value` placeholders
//! resolved and DynamoDB's validation messages.
//!
//! Precedence, lowest first: `OR`, `AND`, `NOT`, then comparisons, `BETWEEN`, `IN` and
//! functions, then parentheses.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use crate::reserved::is_reserved;
use crate::value::AttributeValue;

/// Which expression a message is about (DynamoDB names it in every error).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Condition,
    Filter,
    KeyCondition,
    Projection,
    Update,
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Condition => "ConditionExpression",
            Kind::Filter => "FilterExpression",
            Kind::KeyCondition => "KeyConditionExpression",
            Kind::Projection => "ProjectionExpression",
            Kind::Update => "UpdateExpression",
        })
    }
}

/// A parse or validation failure; `Display` gives DynamoDB's ValidationException message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("Invalid {kind}: {detail}")]
pub struct ExprError {
    pub kind: Kind,
    pub detail: String,
}

/// One step of a document path.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Step {
    Attr(String),
    Index(usize),
}

/// A document path such as `a.b[3].c`, names resolved.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Path(pub Vec<Step>);

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let parts: Vec<String> = self
            .0
            .iter()
            .map(|s| match s {
                Step::Attr(a) => a.clone(),
                Step::Index(i) => format!("[{i}]"),
            })
            .collect();
        write!(f, "[{}]", parts.join(", "))
    }
}

/// A value-producing operand.
#[derive(Clone, Debug, PartialEq)]
pub enum Operand {
    Path(Path),
    Value(AttributeValue),
    Size(Path),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

/// A condition (ConditionExpression, FilterExpression, KeyConditionExpression).
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    Cmp(Operand, CmpOp, Operand),
    Between(Operand, Operand, Operand),
    In(Operand, Vec<Operand>),
    Exists(Path),
    NotExists(Path),
    Type(Path, Operand),
    BeginsWith(Operand, Operand),
    Contains(Operand, Operand),
    And(Box<Cond>, Box<Cond>),
    Or(Box<Cond>, Box<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// Calls `f` with every document path the condition reads, in order.
    pub fn for_each_path(&self, f: &mut impl FnMut(&Path)) {
        let operand = |o: &Operand, f: &mut dyn FnMut(&Path)| match o {
            Operand::Path(p) | Operand::Size(p) => f(p),
            Operand::Value(_) => {}
        };
        match self {
            Cond::Cmp(a, _, b) | Cond::BeginsWith(a, b) | Cond::Contains(a, b) => {
                operand(a, f);
                operand(b, f);
            }
            Cond::Between(a, b, c) => {
                for o in [a, b, c] {
                    operand(o, f);
                }
            }
            Cond::In(a, list) => {
                operand(a, f);
                for o in list {
                    operand(o, f);
                }
            }
            Cond::Exists(p) | Cond::NotExists(p) => f(p),
            Cond::Type(p, o) => {
                f(p);
                operand(o, f);
            }
            Cond::And(a, b) | Cond::Or(a, b) => {
                a.for_each_path(f);
                b.for_each_path(f);
            }
            Cond::Not(c) => c.for_each_path(f),
        }
    }
}

/// The right-hand side of a `SET` action.
#[derive(Clone, Debug, PartialEq)]
pub enum SetValue {
    Operand(SetOperand),
    Plus(SetOperand, SetOperand),
    Minus(SetOperand, SetOperand),
}

#[derive(Clone, Debug, PartialEq)]
pub enum SetOperand {
    Path(Path),
    Value(AttributeValue),
    IfNotExists(Path, Box<SetOperand>),
    ListAppend(Box<SetOperand>, Box<SetOperand>),
}

/// A parsed UpdateExpression.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Update {
    pub set: Vec<(Path, SetValue)>,
    pub remove: Vec<Path>,
    pub add: Vec<(Path, AttributeValue)>,
    pub delete: Vec<(Path, AttributeValue)>,
}

/// `ExpressionAttributeNames` and `ExpressionAttributeValues` of one request, and which of
/// them its expressions used (unused ones are an error, as on AWS).
pub struct Placeholders<'a> {
    pub names: &'a HashMap<String, String>,
    pub values: &'a HashMap<String, AttributeValue>,
    used_names: BTreeSet<&'a str>,
    used_values: BTreeSet<&'a str>,
}

impl<'a> Placeholders<'a> {
    pub fn new(names: &'a HashMap<String, String>, values: &'a HashMap<String, AttributeValue>) -> Self {
        Self {
            names,
            values,
            used_names: BTreeSet::new(),
            used_values: BTreeSet::new(),
        }
    }

    /// After all expressions of a request are parsed: DynamoDB rejects unused placeholders.
    pub fn check_all_used(&self) -> Result<(), String> {
        let unused_names: Vec<&String> = self
            .names
            .keys()
            .filter(|k| !self.used_names.contains(k.as_str()))
            .collect();
        if !unused_names.is_empty() {
            let mut v: Vec<&str> = unused_names.iter().map(|s| s.as_str()).collect();
            v.sort();
            return Err(format!(
                "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{}}}",
                v.join(", ")
            ));
        }
        let unused_values: Vec<&String> = self
            .values
            .keys()
            .filter(|k| !self.used_values.contains(k.as_str()))
            .collect();
        if !unused_values.is_empty() {
            let mut v: Vec<&str> = unused_values.iter().map(|s| s.as_str()).collect();
            v.sort();
            return Err(format!(
                "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{}}}",
                v.join(", ")
            ));
        }
        Ok(())
    }
}

// ---- tokens ------------------------------------------------------------------------------

/// A token, borrowing its text from the expression.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Tok<'s> {
    Ident(&'s str),
    Name(&'s str),
    Value(&'s str),
    Int(&'s str),
    LParen,
    RParen,
    LBracket,
    RBracket,
    Comma,
    Dot,
    Op(&'static str),
    Plus,
    Minus,
}

impl fmt::Display for Tok<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Tok::Ident(s) | Tok::Name(s) | Tok::Value(s) | Tok::Int(s) => f.write_str(s),
            Tok::LParen => f.write_str("("),
            Tok::RParen => f.write_str(")"),
            Tok::LBracket => f.write_str("["),
            Tok::RBracket => f.write_str("]"),
            Tok::Comma => f.write_str(","),
            Tok::Dot => f.write_str("."),
            Tok::Op(o) => f.write_str(o),
            Tok::Plus => f.write_str("+"),
            Tok::Minus => f.write_str("-"),
        }
    }
}

fn lex(src: &str, kind: Kind) -> Result<Vec<Tok<'_>>, ExprError> {
    let b = src.as_bytes();
    // About one token per three bytes of a typical expression: one allocation, no regrowth.
    let mut out = Vec::with_capacity(src.len() / 3 + 4);
    let mut i = 0;
    let ident = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    while i < b.len() {
        let c = b[i];
        let start = i;
        match c {
            b' ' | b'\t' | b'\n' | b'\r' => {
                i += 1;
                continue;
            }
            b'(' => out.push(Tok::LParen),
            b')' => out.push(Tok::RParen),
            b'[' => out.push(Tok::LBracket),
            b']' => out.push(Tok::RBracket),
            b',' => out.push(Tok::Comma),
            b'.' => out.push(Tok::Dot),
            b'+' => out.push(Tok::Plus),
            b'-' => out.push(Tok::Minus),
            b'=' => out.push(Tok::Op("=")),
            b'<' => match b.get(i + 1) {
                Some(b'>') => {
                    out.push(Tok::Op("<>"));
                    i += 1;
                }
                Some(b'=') => {
                    out.push(Tok::Op("<="));
                    i += 1;
                }
                _ => out.push(Tok::Op("<")),
            },
            b'>' => match b.get(i + 1) {
                Some(b'=') => {
                    out.push(Tok::Op(">="));
                    i += 1;
                }
                _ => out.push(Tok::Op(">")),
            },
            b'#' | b':' => {
                i += 1;
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                let text = &src[start..i];
                if text.len() == 1 {
                    return Err(syntax(kind, text, &src[start..(start + 1).min(src.len())]));
                }
                out.push(if c == b'#' {
                    Tok::Name(text)
                } else {
                    Tok::Value(text)
                });
                continue;
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && b[i].is_ascii_digit() {
                    i += 1;
                }
                out.push(Tok::Int(&src[start..i]));
                continue;
            }
            c if ident(c) => {
                while i < b.len() && ident(b[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(&src[start..i]));
                continue;
            }
            _ => {
                let ch = src[start..].chars().next().unwrap_or('?');
                return Err(ExprError {
                    kind,
                    detail: format!("Syntax error; token: \"{ch}\", near: \"{}\"", near(src, start)),
                });
            }
        }
        i += 1;
    }
    Ok(out)
}

/// What DynamoDB quotes around a character its lexer refuses: that character and the next.
fn near(src: &str, at: usize) -> String {
    let to = src[at..].char_indices().nth(2).map_or(src.len(), |(i, _)| at + i);
    src[at..to].trim().to_string()
}

fn syntax(kind: Kind, token: &str, near: &str) -> ExprError {
    ExprError {
        kind,
        detail: format!("Syntax error; token: \"{token}\", near: \"{near}\""),
    }
}

// ---- parser ------------------------------------------------------------------------------

struct Parser<'p, 'a, 's> {
    toks: Vec<Tok<'s>>,
    pos: usize,
    kind: Kind,
    ph: &'p mut Placeholders<'a>,
    /// Operators and functions met so far.
    ops: usize,
    /// Parentheses open at the current position.
    depth: usize,
}

const MAX_IN_OPERANDS: usize = 100;
/// Most operators and functions DynamoDB accepts in one expression. It also bounds how deeply
/// the parser recurses: every level of nesting needs an operator of its own.
const MAX_OPERATORS: usize = 300;
/// Longest expression DynamoDB accepts, in bytes.
pub const MAX_EXPRESSION_BYTES: usize = 4096;

impl<'p, 'a, 's> Parser<'p, 'a, 's> {
    fn new(src: &'s str, kind: Kind, ph: &'p mut Placeholders<'a>) -> Result<Self, ExprError> {
        if src.trim().is_empty() {
            return Err(ExprError {
                kind,
                detail: "The expression can not be empty;".into(),
            });
        }
        if src.len() > MAX_EXPRESSION_BYTES {
            return Err(ExprError {
                kind,
                detail: format!(
                    "Expression size has exceeded the maximum allowed size; expression size: {}",
                    src.len()
                ),
            });
        }
        Ok(Self {
            toks: lex(src, kind)?,
            pos: 0,
            kind,
            ph,
            ops: 0,
            depth: 0,
        })
    }

    /// Counts one operator or function against [`MAX_OPERATORS`].
    fn op(&mut self) -> Result<(), ExprError> {
        self.ops += 1;
        if self.ops > MAX_OPERATORS {
            return Err(self.too_many_operators());
        }
        Ok(())
    }

    fn too_many_operators(&self) -> ExprError {
        self.err(format!(
            "The expression contains too many operators; operator count: {}",
            self.ops.max(MAX_OPERATORS + 1)
        ))
    }

    /// The position of the parenthesis closing the one at `open`.
    fn closing(&self, open: usize) -> Option<usize> {
        let mut depth = 0usize;
        for (i, t) in self.toks.iter().enumerate().skip(open) {
            match t {
                Tok::LParen => depth += 1,
                Tok::RParen => {
                    depth -= 1;
                    if depth == 0 {
                        return Some(i);
                    }
                }
                _ => {}
            }
        }
        None
    }

    fn err(&self, detail: impl Into<String>) -> ExprError {
        ExprError {
            kind: self.kind,
            detail: detail.into(),
        }
    }

    fn peek(&self) -> Option<&Tok<'s>> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok<'s>> {
        let t = self.toks.get(self.pos).copied();
        self.pos += 1;
        t
    }

    fn unexpected(&self) -> ExprError {
        let token = self
            .toks
            .get(self.pos)
            .map_or("<EOF>".to_string(), |t| t.to_string());
        let lo = self.pos.saturating_sub(1);
        let hi = (self.pos + 2).min(self.toks.len());
        let near: Vec<String> = self.toks[lo..hi.max(lo)].iter().map(|t| t.to_string()).collect();
        syntax(self.kind, &token, &near.join(" "))
    }

    fn expect(&mut self, t: Tok<'_>) -> Result<(), ExprError> {
        if self.peek() == Some(&t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(word))
    }

    fn done(&self) -> Result<(), ExprError> {
        if self.pos < self.toks.len() {
            Err(self.unexpected())
        } else {
            Ok(())
        }
    }

    fn name(&mut self, placeholder: &str) -> Result<String, ExprError> {
        let names: &'a HashMap<String, String> = self.ph.names;
        match names.get_key_value(placeholder) {
            Some((key, n)) => {
                self.ph.used_names.insert(key);
                Ok(n.clone())
            }
            None => Err(self.err(format!(
                "An expression attribute name used in the document path is not defined; attribute name: {placeholder}"
            ))),
        }
    }

    fn value(&mut self, placeholder: &str) -> Result<AttributeValue, ExprError> {
        let values: &'a HashMap<String, AttributeValue> = self.ph.values;
        match values.get_key_value(placeholder) {
            Some((key, v)) => {
                self.ph.used_values.insert(key);
                Ok(v.clone())
            }
            None => Err(self.err(format!(
                "An expression attribute value used in expression is not defined; attribute value: {placeholder}"
            ))),
        }
    }

    fn path(&mut self) -> Result<Path, ExprError> {
        let mut steps = Vec::new();
        loop {
            match self.next() {
                Some(Tok::Ident(s)) => {
                    if is_reserved(s) {
                        return Err(self.err(format!(
                            "Attribute name is a reserved keyword; reserved keyword: {s}"
                        )));
                    }
                    steps.push(Step::Attr(s.to_string()));
                }
                Some(Tok::Name(n)) => {
                    let resolved = self.name(n)?;
                    steps.push(Step::Attr(resolved));
                }
                _ => {
                    self.pos -= 1;
                    return Err(self.unexpected());
                }
            }
            while self.peek() == Some(&Tok::LBracket) {
                self.pos += 1;
                match self.next() {
                    Some(Tok::Int(i)) => {
                        let idx = i
                            .parse::<usize>()
                            .map_err(|_| self.err("List index is too large"))?;
                        steps.push(Step::Index(idx));
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected());
                    }
                }
                self.expect(Tok::RBracket)?;
            }
            if self.peek() == Some(&Tok::Dot) {
                self.pos += 1;
                continue;
            }
            return Ok(Path(steps));
        }
    }

    fn operand(&mut self) -> Result<Operand, ExprError> {
        match self.peek().copied() {
            Some(Tok::Value(v)) => {
                self.pos += 1;
                Ok(Operand::Value(self.value(v)?))
            }
            Some(Tok::Ident(f)) if self.toks.get(self.pos + 1) == Some(&Tok::LParen) => {
                if f != "size" {
                    return Err(self.function_error(f));
                }
                self.pos += 2;
                self.op()?;
                let p = self.path()?;
                self.expect(Tok::RParen)?;
                Ok(Operand::Size(p))
            }
            Some(Tok::Ident(_) | Tok::Name(_)) => Ok(Operand::Path(self.path()?)),
            _ => Err(self.unexpected()),
        }
    }

    /// An operator or function comparing a path with itself.
    fn distinct(&self, op: &str, a: &Operand, b: &Operand) -> Result<(), ExprError> {
        match (a, b) {
            (Operand::Path(p), Operand::Path(q)) if p == q => Err(self.err(format!(
                "The first operand must be distinct from the remaining operands for this operator or function; operator: {op}, first operand: {p}"
            ))),
            _ => Ok(()),
        }
    }

    fn operand_type(&self, f: &str, v: &AttributeValue) -> ExprError {
        self.err(format!(
            "Incorrect operand type for operator or function; operator or function: {f}, operand type: {}",
            v.type_name()
        ))
    }

    fn function_error(&self, f: &str) -> ExprError {
        const KNOWN: &[&str] = &[
            "attribute_exists",
            "attribute_not_exists",
            "attribute_type",
            "begins_with",
            "contains",
            "size",
        ];
        if KNOWN.contains(&f) || f == "if_not_exists" || f == "list_append" {
            self.err(format!(
                "The function is not allowed to be used this way in an expression; function: {f}"
            ))
        } else {
            self.err(format!("Invalid function name; function: {f}"))
        }
    }

    // condition := and ("OR" and)*
    fn condition(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.and()?;
        while self.keyword("OR") {
            self.pos += 1;
            self.op()?;
            let right = self.and()?;
            left = Cond::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Cond, ExprError> {
        let mut left = self.not()?;
        while self.keyword("AND") {
            self.pos += 1;
            self.op()?;
            let right = self.not()?;
            left = Cond::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn not(&mut self) -> Result<Cond, ExprError> {
        if self.keyword("NOT") {
            self.pos += 1;
            self.op()?;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Cond, ExprError> {
        if self.peek() == Some(&Tok::LParen) {
            // A level of nesting holds at least one operator of its own, so deeper than the
            // operator limit is over it (and recursing further could exhaust the stack).
            if self.depth == MAX_OPERATORS {
                return Err(self.too_many_operators());
            }
            let open = self.pos;
            self.pos += 1;
            self.depth += 1;
            let c = self.condition()?;
            self.expect(Tok::RParen)?;
            self.depth -= 1;
            // `((...))`: the inner parentheses enclose everything the outer ones do.
            if self.toks.get(open + 1) == Some(&Tok::LParen) && self.closing(open + 1) == Some(self.pos - 2) {
                return Err(self.err("The expression has redundant parentheses;"));
            }
            return Ok(c);
        }
        if let (Some(Tok::Ident(f)), Some(Tok::LParen)) = (self.peek().copied(), self.toks.get(self.pos + 1))
            && f != "size"
        {
            return self.function();
        }
        let left = self.operand()?;
        match self.peek().copied() {
            Some(Tok::Op(op)) => {
                self.pos += 1;
                self.op()?;
                let right = self.operand()?;
                self.distinct(op, &left, &right)?;
                let op = match op {
                    "=" => CmpOp::Eq,
                    "<>" => CmpOp::Ne,
                    "<" => CmpOp::Lt,
                    "<=" => CmpOp::Le,
                    ">" => CmpOp::Gt,
                    _ => CmpOp::Ge,
                };
                Ok(Cond::Cmp(left, op, right))
            }
            Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("BETWEEN") => {
                self.pos += 1;
                self.op()?;
                let lo = self.operand()?;
                if !self.keyword("AND") {
                    return Err(self.unexpected());
                }
                self.pos += 1;
                let hi = self.operand()?;
                if let (Operand::Value(a), Operand::Value(b)) = (&lo, &hi)
                    && a.type_name() != b.type_name()
                {
                    return Err(self.err(format!(
                        "The BETWEEN operator requires same data type for lower and upper bounds; lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                        a.type_name(), crate::eval::scalar_text(a), b.type_name(), crate::eval::scalar_text(b)
                    )));
                }
                if let (Operand::Value(a), Operand::Value(b)) = (&lo, &hi)
                    && crate::eval::compare(a, b) == Some(std::cmp::Ordering::Greater)
                {
                    return Err(self.err(format!(
                            "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; lower bound operand: AttributeValue: {{{}:{}}}, upper bound operand: AttributeValue: {{{}:{}}}",
                            a.type_name(), crate::eval::scalar_text(a), b.type_name(), crate::eval::scalar_text(b)
                        )));
                }
                Ok(Cond::Between(left, lo, hi))
            }
            Some(Tok::Ident(k)) if k.eq_ignore_ascii_case("IN") => {
                self.pos += 1;
                self.op()?;
                self.expect(Tok::LParen)?;
                let mut list = vec![self.operand()?];
                while self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                    list.push(self.operand()?);
                }
                self.expect(Tok::RParen)?;
                if list.len() > MAX_IN_OPERANDS {
                    return Err(self.err(format!(
                        "The IN operator is provided with too many operands; number of operands: {}",
                        list.len()
                    )));
                }
                Ok(Cond::In(left, list))
            }
            _ => Err(self.unexpected()),
        }
    }

    fn function(&mut self) -> Result<Cond, ExprError> {
        let Some(Tok::Ident(f)) = self.next() else {
            unreachable!("checked by the caller")
        };
        self.pos += 1; // (
        self.op()?;
        let mut args = Vec::new();
        if self.peek() != Some(&Tok::RParen) {
            args.push(self.operand()?);
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                args.push(self.operand()?);
            }
        }
        self.expect(Tok::RParen)?;
        let arity = |n: usize, args: &Vec<Operand>| -> Result<(), ExprError> {
            if args.len() != n {
                return Err(self.err(format!(
                    "Incorrect number of operands for operator or function; operator or function: {f}, number of operands: {}",
                    args.len()
                )));
            }
            Ok(())
        };
        let path_arg = |o: &Operand| -> Result<Path, ExprError> {
            match o {
                Operand::Path(p) => Ok(p.clone()),
                _ => Err(self.err(format!(
                    "Operator or function requires a document path; operator or function: {f}"
                ))),
            }
        };
        match f {
            "attribute_exists" => {
                arity(1, &args)?;
                Ok(Cond::Exists(path_arg(&args[0])?))
            }
            "attribute_not_exists" => {
                arity(1, &args)?;
                Ok(Cond::NotExists(path_arg(&args[0])?))
            }
            "attribute_type" => {
                arity(2, &args)?;
                let p = path_arg(&args[0])?;
                if let Operand::Value(v) = &args[1]
                    && !matches!(v, AttributeValue::S(_))
                {
                    return Err(self.operand_type(f, v));
                }
                if let Operand::Value(AttributeValue::S(t)) = &args[1] {
                    const TYPES: &[&str] = &["B", "BOOL", "BS", "L", "M", "N", "NS", "NULL", "S", "SS"];
                    if !TYPES.contains(&t.as_str()) {
                        return Err(self.err(format!(
                            "Invalid attribute type name found; type: {t}, valid types: {{ B,BOOL,BS,L,M,N,NS,NULL,S,SS }}"
                        )));
                    }
                }
                Ok(Cond::Type(p, args[1].clone()))
            }
            "begins_with" => {
                arity(2, &args)?;
                self.distinct(f, &args[0], &args[1])?;
                for a in &args {
                    if let Operand::Value(v) = a
                        && !matches!(v, AttributeValue::S(_) | AttributeValue::B(_))
                    {
                        return Err(self.operand_type(f, v));
                    }
                }
                Ok(Cond::BeginsWith(args[0].clone(), args[1].clone()))
            }
            "contains" => {
                arity(2, &args)?;
                self.distinct(f, &args[0], &args[1])?;
                Ok(Cond::Contains(args[0].clone(), args[1].clone()))
            }
            other => Err(self.function_error(other)),
        }
    }

    // ---- update expressions ----

    fn set_operand(&mut self) -> Result<SetOperand, ExprError> {
        match self.peek().copied() {
            Some(Tok::Value(v)) => {
                self.pos += 1;
                Ok(SetOperand::Value(self.value(v)?))
            }
            Some(Tok::Ident(f)) if self.toks.get(self.pos + 1) == Some(&Tok::LParen) => {
                self.pos += 2;
                self.op()?;
                let out = match f {
                    "if_not_exists" => {
                        let p = self.path()?;
                        self.expect(Tok::Comma)?;
                        let v = self.set_operand()?;
                        SetOperand::IfNotExists(p, Box::new(v))
                    }
                    "list_append" => {
                        let a = self.set_operand()?;
                        self.expect(Tok::Comma)?;
                        let b = self.set_operand()?;
                        SetOperand::ListAppend(Box::new(a), Box::new(b))
                    }
                    other => return Err(self.function_error(other)),
                };
                self.expect(Tok::RParen)?;
                Ok(out)
            }
            Some(Tok::Ident(_) | Tok::Name(_)) => Ok(SetOperand::Path(self.path()?)),
            _ => Err(self.unexpected()),
        }
    }

    fn update(&mut self) -> Result<Update, ExprError> {
        let mut u = Update::default();
        let mut seen = BTreeSet::new();
        while self.pos < self.toks.len() {
            let Some(Tok::Ident(section)) = self.next() else {
                self.pos -= 1;
                return Err(self.unexpected());
            };
            let section = section.to_ascii_uppercase();
            if !seen.insert(section.clone()) {
                return Err(self.err(format!(
                    "The \"{section}\" section can only be used once in an update expression;"
                )));
            }
            loop {
                match section.as_str() {
                    "SET" => {
                        let p = self.path()?;
                        self.expect(Tok::Op("="))?;
                        let a = self.set_operand()?;
                        let v = match self.peek() {
                            Some(Tok::Plus) => {
                                self.pos += 1;
                                self.op()?;
                                SetValue::Plus(a, self.set_operand()?)
                            }
                            Some(Tok::Minus) => {
                                self.pos += 1;
                                self.op()?;
                                SetValue::Minus(a, self.set_operand()?)
                            }
                            _ => SetValue::Operand(a),
                        };
                        u.set.push((p, v));
                    }
                    "REMOVE" => u.remove.push(self.path()?),
                    "ADD" | "DELETE" => {
                        let p = self.path()?;
                        let v = match self.next() {
                            Some(Tok::Value(v)) => self.value(v)?,
                            _ => {
                                self.pos -= 1;
                                return Err(self.unexpected());
                            }
                        };
                        if section == "ADD" {
                            u.add.push((p, v))
                        } else {
                            u.delete.push((p, v))
                        }
                    }
                    _ => {
                        self.pos -= 1;
                        return Err(self.unexpected());
                    }
                }
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        check_overlaps(&u).map_err(|d| self.err(d))?;
        Ok(u)
    }
}

/// Paths of one update may neither repeat nor contain one another.
fn check_overlaps(u: &Update) -> Result<(), String> {
    let mut paths: Vec<&Path> = u.set.iter().map(|(p, _)| p).collect();
    paths.extend(u.remove.iter());
    paths.extend(u.add.iter().map(|(p, _)| p));
    paths.extend(u.delete.iter().map(|(p, _)| p));
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let n = a.0.len().min(b.0.len());
            if a.0[..n] == b.0[..n] {
                let kind = if a.0.len() == b.0.len() || a.0[..n] == b.0[..n] {
                    "overlap"
                } else {
                    "conflict"
                };
                return Err(format!(
                    "Two document paths {kind} with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
                ));
            }
            // Same prefix with different kinds of step (attribute vs index) conflict.
            let common = a.0.iter().zip(&b.0).take_while(|(x, y)| x == y).count();
            if common < n {
                let (x, y) = (&a.0[common], &b.0[common]);
                if std::mem::discriminant(x) != std::mem::discriminant(y) {
                    return Err(format!(
                        "Two document paths conflict with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
                    ));
                }
            }
        }
    }
    Ok(())
}

/// Parses a ConditionExpression or FilterExpression.
pub fn parse_condition(src: &str, kind: Kind, ph: &mut Placeholders<'_>) -> Result<Cond, ExprError> {
    let mut p = Parser::new(src, kind, ph)?;
    let c = p.condition()?;
    p.done()?;
    Ok(c)
}

/// Parses a ProjectionExpression into its paths.
pub fn parse_projection(src: &str, ph: &mut Placeholders<'_>) -> Result<Vec<Path>, ExprError> {
    let mut p = Parser::new(src, Kind::Projection, ph)?;
    let mut paths = vec![p.path()?];
    while p.peek() == Some(&Tok::Comma) {
        p.pos += 1;
        paths.push(p.path()?);
    }
    p.done()?;
    for (i, a) in paths.iter().enumerate() {
        for b in &paths[i + 1..] {
            let n = a.0.len().min(b.0.len());
            if a.0[..n] == b.0[..n] {
                return Err(ExprError {
                    kind: Kind::Projection,
                    detail: format!(
                        "Two document paths overlap with each other; must remove or rewrite one of these paths; path one: {a}, path two: {b}"
                    ),
                });
            }
        }
    }
    Ok(paths)
}

/// Parses an UpdateExpression.
pub fn parse_update(src: &str, ph: &mut Placeholders<'_>) -> Result<Update, ExprError> {
    Parser::new(src, Kind::Update, ph)?.update()
}
