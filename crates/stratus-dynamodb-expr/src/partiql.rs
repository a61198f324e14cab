//! DynamoDB's PartiQL subset: SELECT, INSERT, UPDATE and DELETE statements with `?`
//! parameters, translated into the same condition, projection and update trees as the
//! expression languages, so evaluation is shared.

use std::collections::BTreeMap;

use crate::expr::{CmpOp, Cond, Operand, Path, SetOperand, SetValue, Step, Update};
use crate::number::Number;
use crate::value::{AttributeValue, Item};

/// A parse failure; the message is DynamoDB's ValidationException text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PartiqlError(pub String);

fn err<T>(msg: impl Into<String>) -> Result<T, PartiqlError> {
    Err(PartiqlError(msg.into()))
}

/// What to return from an UPDATE or DELETE.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Returning {
    AllOld,
    AllNew,
    ModifiedOld,
    ModifiedNew,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    Select {
        table: String,
        index: Option<String>,
        projection: Option<Vec<Path>>,
        filter: Option<Cond>,
        /// `ORDER BY`: attribute names, each with `true` for `DESC`.
        order: Vec<(String, bool)>,
    },
    /// `EXISTS(SELECT ... WHERE ...)`: a condition check inside ExecuteTransaction.
    Exists {
        table: String,
        index: Option<String>,
        filter: Option<Cond>,
    },
    Insert {
        table: String,
        item: Item,
    },
    Update {
        table: String,
        update: Update,
        filter: Cond,
        returning: Option<Returning>,
    },
    Delete {
        table: String,
        filter: Cond,
        returning: Option<Returning>,
    },
}

impl Statement {
    pub fn table(&self) -> &str {
        match self {
            Statement::Select { table, .. }
            | Statement::Exists { table, .. }
            | Statement::Insert { table, .. }
            | Statement::Update { table, .. }
            | Statement::Delete { table, .. } => table,
        }
    }
    pub fn is_read(&self) -> bool {
        matches!(self, Statement::Select { .. })
    }
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    Ident(String),
    Quoted(String),
    Str(String),
    Num(String),
    Param,
    Sym(&'static str),
}

/// The tokens of a statement and where each starts (a byte offset).
fn lex(src: &str) -> Result<(Vec<Tok>, Vec<usize>), PartiqlError> {
    let b = src.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    let mut starts = Vec::new();
    let mut start = 0;
    while i < b.len() {
        // Each round adds a token at most: the one the last round began.
        if starts.len() < out.len() {
            starts.push(start);
        }
        start = i;
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        // Bytes, not `&str`: the next character may be several bytes long.
        let two = b.get(i..i + 2).unwrap_or_default();
        match two {
            b"<<" | b">>" | b"<=" | b">=" | b"<>" | b"!=" => {
                out.push(Tok::Sym(match two {
                    b"<<" => "<<",
                    b">>" => ">>",
                    b"<=" => "<=",
                    b">=" => ">=",
                    _ => "<>",
                }));
                i += 2;
                continue;
            }
            _ => {}
        }
        match c {
            b'\'' | b'"' => {
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&ch) = b.get(i) else {
                        return err(format!(
                            "Statement wasn't well formed, can't be processed: unterminated string {}",
                            &src[..i]
                        ));
                    };
                    if ch == c {
                        if b.get(i + 1) == Some(&c) {
                            s.push(c as char);
                            i += 2;
                            continue;
                        }
                        i += 1;
                        break;
                    }
                    let len = src[i..].chars().next().map_or(1, char::len_utf8);
                    s.push_str(&src[i..i + len]);
                    i += len;
                }
                out.push(if c == b'\'' { Tok::Str(s) } else { Tok::Quoted(s) });
            }
            b'?' => {
                out.push(Tok::Param);
                i += 1;
            }
            c if c.is_ascii_digit()
                || (c == b'-'
                    && b.get(i + 1).is_some_and(u8::is_ascii_digit)
                    && !matches!(
                        out.last(),
                        Some(
                            Tok::Num(_)
                                | Tok::Ident(_)
                                | Tok::Quoted(_)
                                | Tok::Sym(")")
                                | Tok::Sym("]")
                                | Tok::Param
                        )
                    )) =>
            {
                let start = i;
                i += 1;
                while i < b.len()
                    && (b[i].is_ascii_digit()
                        || b[i] == b'.'
                        || b[i] == b'e'
                        || b[i] == b'E'
                        || ((b[i] == b'-' || b[i] == b'+') && matches!(b[i - 1], b'e' | b'E')))
                {
                    i += 1;
                }
                out.push(Tok::Num(src[start..i].to_string()));
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let start = i;
                while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                    i += 1;
                }
                out.push(Tok::Ident(src[start..i].to_string()));
            }
            _ => {
                let sym = match c {
                    b',' => ",",
                    b'.' => ".",
                    b'*' => "*",
                    b'(' => "(",
                    b')' => ")",
                    b'[' => "[",
                    b']' => "]",
                    b'{' => "{",
                    b'}' => "}",
                    b':' => ":",
                    b'=' => "=",
                    b'<' => "<",
                    b'>' => ">",
                    b'+' => "+",
                    b'-' => "-",
                    _ => {
                        return err(format!(
                            "Statement wasn't well formed, can't be processed: Unexpected character: {}",
                            src[i..].chars().next().unwrap_or('?')
                        ));
                    }
                };
                out.push(Tok::Sym(sym));
                i += 1;
            }
        }
    }
    if starts.len() < out.len() {
        starts.push(start);
    }
    Ok((out, starts))
}

struct P<'a> {
    toks: Vec<Tok>,
    /// Where each token starts in `src`.
    starts: Vec<usize>,
    src: &'a str,
    pos: usize,
    params: &'a [AttributeValue],
    next_param: usize,
    /// Levels of nesting open at the current position.
    depth: usize,
}

/// Deepest nesting of parentheses, NOTs and literals a statement may have: the parser recurses
/// once per level (items themselves may hold 32).
const MAX_DEPTH: usize = 100;

/// Ordering compares strings, numbers and binaries only: a value of another type given to
/// `<`, `<=`, `>`, `>=` or BETWEEN is refused, as DynamoDB refuses it.
fn orderable<const N: usize>(operator: &str, operands: [&Operand; N]) -> Result<(), PartiqlError> {
    for o in operands {
        if let Operand::Value(v) = o
            && !matches!(
                v,
                AttributeValue::S(_) | AttributeValue::N(_) | AttributeValue::B(_)
            )
        {
            return err(format!(
                "Incorrect operand type for operator or function; operator or function: {operator}, operand type: {}",
                v.type_name()
            ));
        }
    }
    Ok(())
}

fn syntax(near: &str) -> PartiqlError {
    PartiqlError(format!(
        "Statement wasn't well formed, can't be processed: Unexpected token: {near}"
    ))
}

impl P<'_> {
    /// Enters one level of nesting; [`Self::leave`] leaves it.
    fn enter(&mut self) -> Result<(), PartiqlError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return err("Statement wasn't well formed, can't be processed: Nesting is too deep");
        }
        Ok(())
    }

    fn leave<T>(&mut self, out: T) -> T {
        self.depth -= 1;
        out
    }

    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn kw(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(s)) if s.eq_ignore_ascii_case(w))
    }
    fn eat_kw(&mut self, w: &str) -> bool {
        if self.kw(w) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_kw(&mut self, w: &str) -> Result<(), PartiqlError> {
        if self.eat_kw(w) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    fn sym(&self, s: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(x)) if *x == s)
    }
    fn eat_sym(&mut self, s: &str) -> bool {
        if self.sym(s) {
            self.pos += 1;
            true
        } else {
            false
        }
    }
    fn expect_sym(&mut self, s: &str) -> Result<(), PartiqlError> {
        if self.eat_sym(s) {
            Ok(())
        } else {
            Err(self.unexpected())
        }
    }
    /// Whether the next token is the symbol `sym` (not consumed).
    fn kw_sym(&self, sym: &str) -> bool {
        matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym)
    }

    /// UPDATE and DELETE write the table, never one of its indexes.
    fn not_on_index(&mut self) -> Result<(), PartiqlError> {
        if self.kw_sym(".") {
            return err("This operation is not supported on an index");
        }
        Ok(())
    }

    fn unexpected(&self) -> PartiqlError {
        match self.peek() {
            None => PartiqlError(
                "Statement wasn't well formed, can't be processed: Unexpected end of statement".into(),
            ),
            Some(t) => syntax(&match t {
                Tok::Ident(s) | Tok::Num(s) => s.clone(),
                Tok::Quoted(s) => format!("\"{s}\""),
                Tok::Str(s) => format!("'{s}'"),
                Tok::Param => "?".into(),
                Tok::Sym(s) => s.to_string(),
            }),
        }
    }

    fn name(&mut self) -> Result<String, PartiqlError> {
        match self.peek().cloned() {
            Some(Tok::Ident(s)) | Some(Tok::Quoted(s)) => {
                self.pos += 1;
                Ok(s)
            }
            _ => Err(self.unexpected()),
        }
    }

    /// A path a SELECT projects. A function there (`COUNT(*)`) is refused, DynamoDB giving
    /// its line, column and length.
    fn projected(&mut self) -> Result<Path, PartiqlError> {
        if let (Some(Tok::Ident(name)), Some(Tok::Sym("("))) = (self.peek(), self.toks.get(self.pos + 1)) {
            let at = self.starts.get(self.pos).copied().unwrap_or(0);
            let before = &self.src[..at];
            let line = 1 + before.matches('\n').count();
            let column = 1 + before.len() - before.rfind('\n').map_or(0, |n| n + 1);
            return err(format!(
                "Unexpected path component at {line}:{column}:{}",
                name.len()
            ));
        }
        self.path()
    }

    fn path(&mut self) -> Result<Path, PartiqlError> {
        let mut steps = vec![Step::Attr(self.name()?)];
        loop {
            if self.eat_sym(".") {
                steps.push(Step::Attr(self.name()?));
            } else if self.sym("[") {
                self.pos += 1;
                match self.peek().cloned() {
                    Some(Tok::Num(n)) => {
                        self.pos += 1;
                        steps.push(Step::Index(n.parse().map_err(|_| syntax(&n))?));
                    }
                    Some(Tok::Str(s)) => {
                        self.pos += 1;
                        steps.push(Step::Attr(s));
                    }
                    _ => return Err(self.unexpected()),
                }
                self.expect_sym("]")?;
            } else {
                return Ok(Path(steps));
            }
        }
    }

    fn value(&mut self) -> Result<AttributeValue, PartiqlError> {
        match self.peek().cloned() {
            Some(Tok::Param) => {
                self.pos += 1;
                let v = self.params.get(self.next_param).cloned().ok_or_else(|| {
                    PartiqlError("Number of parameters in request and statement don't match.".into())
                })?;
                self.next_param += 1;
                Ok(v)
            }
            Some(Tok::Str(s)) => {
                self.pos += 1;
                Ok(AttributeValue::S(s))
            }
            Some(Tok::Num(n)) => {
                self.pos += 1;
                Number::parse(&n)
                    .map(AttributeValue::N)
                    .map_err(|e| PartiqlError(e.to_string()))
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("true") || w.eq_ignore_ascii_case("false") => {
                self.pos += 1;
                Ok(AttributeValue::Bool(w.eq_ignore_ascii_case("true")))
            }
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => {
                self.pos += 1;
                Ok(AttributeValue::Null)
            }
            Some(Tok::Sym("[")) => {
                self.pos += 1;
                self.enter()?;
                let mut l = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        l.push(self.value()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Ok(self.leave(AttributeValue::L(l)))
            }
            Some(Tok::Sym("{")) => {
                self.pos += 1;
                self.enter()?;
                let mut m = BTreeMap::new();
                if !self.eat_sym("}") {
                    loop {
                        let k = match self.peek().cloned() {
                            Some(Tok::Str(s)) | Some(Tok::Quoted(s)) => {
                                self.pos += 1;
                                s
                            }
                            _ => return Err(self.unexpected()),
                        };
                        self.expect_sym(":")?;
                        m.insert(k, self.value()?);
                        if self.eat_sym("}") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                Ok(self.leave(AttributeValue::M(m)))
            }
            Some(Tok::Sym("<<")) => {
                self.pos += 1;
                self.enter()?;
                let mut els = Vec::new();
                if !self.eat_sym(">>") {
                    loop {
                        els.push(self.value()?);
                        if self.eat_sym(">>") {
                            break;
                        }
                        self.expect_sym(",")?;
                    }
                }
                let set = set_of(els);
                self.leave(set)
            }
            _ => Err(self.unexpected()),
        }
    }

    fn operand(&mut self) -> Result<Operand, PartiqlError> {
        match self.peek() {
            Some(Tok::Ident(w))
                if !["true", "false", "null"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                if w.eq_ignore_ascii_case("size")
                    && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
                {
                    self.pos += 2;
                    let p = self.path()?;
                    self.expect_sym(")")?;
                    return Ok(Operand::Size(p));
                }
                Ok(Operand::Path(self.path()?))
            }
            Some(Tok::Quoted(_)) => Ok(Operand::Path(self.path()?)),
            _ => Ok(Operand::Value(self.value()?)),
        }
    }

    fn condition(&mut self) -> Result<Cond, PartiqlError> {
        let mut l = self.and()?;
        while self.eat_kw("OR") {
            l = Cond::Or(Box::new(l), Box::new(self.and()?));
        }
        Ok(l)
    }
    fn and(&mut self) -> Result<Cond, PartiqlError> {
        let mut l = self.not()?;
        while self.eat_kw("AND") {
            l = Cond::And(Box::new(l), Box::new(self.not()?));
        }
        Ok(l)
    }
    fn not(&mut self) -> Result<Cond, PartiqlError> {
        if self.eat_kw("NOT") {
            self.enter()?;
            let c = Cond::Not(Box::new(self.not()?));
            return Ok(self.leave(c));
        }
        self.primary()
    }
    fn primary(&mut self) -> Result<Cond, PartiqlError> {
        if self.eat_sym("(") {
            self.enter()?;
            let c = self.condition()?;
            self.expect_sym(")")?;
            return Ok(self.leave(c));
        }
        if let Some(Tok::Ident(f)) = self.peek().cloned() {
            let lower = f.to_ascii_lowercase();
            if matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
                && [
                    "begins_with",
                    "contains",
                    "attribute_type",
                    "attribute_exists",
                    "attribute_not_exists",
                ]
                .contains(&lower.as_str())
            {
                self.pos += 2;
                let p = self.path()?;
                let out = match lower.as_str() {
                    "attribute_exists" => Cond::Exists(p),
                    "attribute_not_exists" => Cond::NotExists(p),
                    other => {
                        self.expect_sym(",")?;
                        let v = self.operand()?;
                        match other {
                            "begins_with" => Cond::BeginsWith(Operand::Path(p), v),
                            "contains" => Cond::Contains(Operand::Path(p), v),
                            _ => Cond::Type(p, v),
                        }
                    }
                };
                self.expect_sym(")")?;
                return Ok(out);
            }
        }
        let left = self.operand()?;
        if self.eat_kw("IS") {
            let negate = self.eat_kw("NOT");
            self.expect_kw("MISSING")?;
            let Operand::Path(p) = left else {
                return Err(self.unexpected());
            };
            return Ok(if negate {
                Cond::Exists(p)
            } else {
                Cond::NotExists(p)
            });
        }
        if self.eat_kw("BETWEEN") {
            let lo = self.operand()?;
            self.expect_kw("AND")?;
            let hi = self.operand()?;
            orderable("BETWEEN", [&left, &lo, &hi])?;
            return Ok(Cond::Between(left, lo, hi));
        }
        if self.eat_kw("IN") {
            let close = if self.eat_sym("[") {
                "]"
            } else {
                self.expect_sym("(")?;
                ")"
            };
            let mut list = vec![self.operand()?];
            while self.eat_sym(",") {
                list.push(self.operand()?);
            }
            self.expect_sym(close)?;
            return Ok(Cond::In(left, list));
        }
        let op = match self.peek() {
            Some(Tok::Sym("=")) => CmpOp::Eq,
            Some(Tok::Sym("<>")) => CmpOp::Ne,
            Some(Tok::Sym("<")) => CmpOp::Lt,
            Some(Tok::Sym("<=")) => CmpOp::Le,
            Some(Tok::Sym(">")) => CmpOp::Gt,
            Some(Tok::Sym(">=")) => CmpOp::Ge,
            _ => return Err(self.unexpected()),
        };
        let symbol = match self.peek() {
            Some(Tok::Sym(sym)) => *sym,
            _ => "",
        };
        self.pos += 1;
        let right = self.operand()?;
        if !matches!(op, CmpOp::Eq | CmpOp::Ne) {
            orderable(symbol, [&left, &right])?;
        }
        if op == CmpOp::Ne {
            // In PartiQL a missing attribute is unequal to nothing (a condition expression's
            // `<>` holds for it): `<>` needs the attributes it reads to be there.
            let mut cond = Cond::Cmp(left.clone(), op, right.clone());
            for o in [&left, &right] {
                if let Operand::Path(p) = o {
                    cond = Cond::And(Box::new(Cond::Exists(p.clone())), Box::new(cond));
                }
            }
            return Ok(cond);
        }
        Ok(Cond::Cmp(left, op, right))
    }

    fn returning(&mut self) -> Result<Option<Returning>, PartiqlError> {
        if !self.eat_kw("RETURNING") {
            return Ok(None);
        }
        let all = if self.eat_kw("ALL") {
            true
        } else {
            self.expect_kw("MODIFIED")?;
            false
        };
        let new = if self.eat_kw("NEW") {
            true
        } else {
            self.expect_kw("OLD")?;
            false
        };
        self.expect_sym("*")?;
        Ok(Some(match (all, new) {
            (true, true) => Returning::AllNew,
            (true, false) => Returning::AllOld,
            (false, true) => Returning::ModifiedNew,
            (false, false) => Returning::ModifiedOld,
        }))
    }

    fn set_operand(&mut self) -> Result<SetOperand, PartiqlError> {
        if let Some(Tok::Ident(f)) = self.peek().cloned()
            && f.eq_ignore_ascii_case("list_append")
            && matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("(")))
        {
            self.pos += 2;
            let a = self.set_operand()?;
            self.expect_sym(",")?;
            let b = self.set_operand()?;
            self.expect_sym(")")?;
            return Ok(SetOperand::ListAppend(Box::new(a), Box::new(b)));
        }
        Ok(match self.operand()? {
            Operand::Path(p) => SetOperand::Path(p),
            Operand::Value(v) => SetOperand::Value(v),
            Operand::Size(_) => return Err(self.unexpected()),
        })
    }

    /// The rest of a SELECT, after its keyword.
    fn select(&mut self) -> Result<Statement, PartiqlError> {
        let projection = if self.eat_sym("*") {
            None
        } else {
            let mut ps = vec![self.projected()?];
            while self.eat_sym(",") {
                ps.push(self.projected()?);
            }
            Some(ps)
        };
        self.expect_kw("FROM")?;
        let table = self.name()?;
        let index = if self.eat_sym(".") {
            Some(self.name()?)
        } else {
            None
        };
        if self.kw_sym(".") {
            return err("A path may contain at most 2 components in the FROM clause");
        }
        if table.is_empty() || index.as_deref() == Some("") {
            return err("Path component cannot be an empty string");
        }
        let filter = if self.eat_kw("WHERE") {
            Some(self.condition()?)
        } else {
            None
        };
        let mut order = Vec::new();
        if self.eat_kw("ORDER") {
            self.expect_kw("BY")?;
            loop {
                let name = self.name()?;
                let desc = if self.eat_kw("DESC") {
                    true
                } else {
                    self.eat_kw("ASC");
                    false
                };
                order.push((name, desc));
                if !self.eat_sym(",") {
                    break;
                }
            }
        }
        for clause in ["GROUP", "HAVING", "LIMIT"] {
            if self.kw(clause) {
                let clause = if clause == "GROUP" { "GROUP BY" } else { clause };
                return err(format!("Unsupported clause: {clause}"));
            }
        }
        Ok(Statement::Select {
            table,
            index,
            projection,
            filter,
            order,
        })
    }

    /// `set_add(path, set)` or `set_delete(path, set)` on the right of `SET target =`: DynamoDB
    /// runs them as ADD and DELETE of the set's elements on the target.
    fn set_function(&mut self, target: &Path, update: &mut Update) -> Result<bool, PartiqlError> {
        let Some(Tok::Ident(f)) = self.peek().cloned() else {
            return Ok(false);
        };
        let add = if f.eq_ignore_ascii_case("set_add") {
            true
        } else if f.eq_ignore_ascii_case("set_delete") {
            false
        } else {
            return Ok(false);
        };
        if !matches!(self.toks.get(self.pos + 1), Some(Tok::Sym("("))) {
            return Ok(false);
        }
        self.pos += 2;
        let of = self.path()?;
        if of != *target {
            return err(format!(
                "Unsupported operation: {} must apply to the attribute being set",
                f.to_ascii_uppercase()
            ));
        }
        self.expect_sym(",")?;
        let v = self.value()?;
        if !matches!(
            v,
            AttributeValue::Ss(_) | AttributeValue::Ns(_) | AttributeValue::Bs(_)
        ) {
            return err(format!(
                "Unsupported operation: The second argument of {} must be a set",
                f.to_ascii_uppercase()
            ));
        }
        self.expect_sym(")")?;
        if add {
            update.add.push((of, v));
        } else {
            update.delete.push((of, v));
        }
        Ok(true)
    }

    fn statement(&mut self) -> Result<Statement, PartiqlError> {
        let st = if self.eat_kw("SELECT") {
            self.select()?
        } else if self.eat_kw("EXISTS") {
            self.expect_sym("(")?;
            self.expect_kw("SELECT")?;
            let Statement::Select {
                table,
                index,
                filter,
                order,
                ..
            } = self.select()?
            else {
                unreachable!("select() makes a SELECT")
            };
            if !order.is_empty() {
                return err("Statement wasn't well formed, can't be processed: Unexpected token: ORDER");
            }
            self.expect_sym(")")?;
            Statement::Exists { table, index, filter }
        } else if self.eat_kw("INSERT") {
            self.expect_kw("INTO")?;
            let table = self.name()?;
            if self.kw_sym(".") {
                return err("FROM clause may only contain a single table name");
            }
            self.expect_kw("VALUE")?;
            let AttributeValue::M(item) = self.value()? else {
                return err("Unsupported operation: Inserting a value that is not a tuple is not supported");
            };
            if self.kw("RETURNING") {
                return err("RETURNING is not supported in INSERT");
            }
            Statement::Insert { table, item }
        } else if self.eat_kw("UPDATE") {
            let table = self.name()?;
            self.not_on_index()?;
            let mut update = Update::default();
            // `SET a = 1, b = 2` and `SET a = 1 SET b = 2` alike; a comma goes on with the
            // clause it follows.
            let mut clause = None;
            loop {
                clause = if self.eat_kw("SET") {
                    Some(true)
                } else if self.eat_kw("REMOVE") {
                    Some(false)
                } else if clause.is_some()
                    && matches!(self.toks.get(self.pos.wrapping_sub(1)), Some(Tok::Sym(",")))
                {
                    clause
                } else {
                    break;
                };
                if clause == Some(true) {
                    let p = self.path()?;
                    self.expect_sym("=")?;
                    if self.set_function(&p, &mut update)? {
                        self.eat_sym(",");
                        continue;
                    }
                    let a = self.set_operand()?;
                    let v = if self.eat_sym("+") {
                        SetValue::Plus(a, self.set_operand()?)
                    } else if self.eat_sym("-") {
                        SetValue::Minus(a, self.set_operand()?)
                    } else {
                        SetValue::Operand(a)
                    };
                    update.set.push((p, v));
                } else {
                    update.remove.push(self.path()?);
                }
                self.eat_sym(",");
            }
            if update.set.is_empty()
                && update.remove.is_empty()
                && update.add.is_empty()
                && update.delete.is_empty()
            {
                return Err(self.unexpected());
            }
            self.expect_kw("WHERE")?;
            let filter = self.condition()?;
            let returning = self.returning()?;
            Statement::Update {
                table,
                update,
                filter,
                returning,
            }
        } else if self.eat_kw("DELETE") {
            self.expect_kw("FROM")?;
            let table = self.name()?;
            self.not_on_index()?;
            self.expect_kw("WHERE")?;
            let filter = self.condition()?;
            let returning = self.returning()?;
            if let Some(r) = returning.filter(|r| *r != Returning::AllOld) {
                let name = match r {
                    Returning::AllNew => "ALL NEW *",
                    Returning::ModifiedOld => "MODIFIED OLD *",
                    _ => "MODIFIED NEW *",
                };
                return err(format!(
                    "Invalid returning clause: RETURNING {name}. Only RETURNING ALL OLD * is allowed in DELETE statements."
                ));
            }
            Statement::Delete {
                table,
                filter,
                returning,
            }
        } else if self.peek().is_some() {
            return err("Statement wasn't well formed, can't be processed: Expected data manipulation");
        } else {
            return Err(self.unexpected());
        };
        if self.pos < self.toks.len() {
            return Err(self.unexpected());
        }
        if self.next_param != self.params.len() {
            return err("Number of parameters in request and statement don't match.");
        }
        Ok(st)
    }
}

fn set_of(els: Vec<AttributeValue>) -> Result<AttributeValue, PartiqlError> {
    let bad = || {
        PartiqlError(
            "Unsupported operation: A set must contain values of one of the types string, number or binary"
                .into(),
        )
    };
    match els.first() {
        None => Err(bad()),
        Some(AttributeValue::S(_)) => {
            let mut v: Vec<String> = els
                .into_iter()
                .map(|e| {
                    if let AttributeValue::S(s) = e {
                        Ok(s)
                    } else {
                        Err(bad())
                    }
                })
                .collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            Ok(AttributeValue::Ss(v))
        }
        Some(AttributeValue::N(_)) => {
            let mut v: Vec<Number> = els
                .into_iter()
                .map(|e| {
                    if let AttributeValue::N(n) = e {
                        Ok(n)
                    } else {
                        Err(bad())
                    }
                })
                .collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            Ok(AttributeValue::Ns(v))
        }
        Some(AttributeValue::B(_)) => {
            let mut v: Vec<Vec<u8>> = els
                .into_iter()
                .map(|e| {
                    if let AttributeValue::B(b) = e {
                        Ok(b)
                    } else {
                        Err(bad())
                    }
                })
                .collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            Ok(AttributeValue::Bs(v))
        }
        _ => Err(bad()),
    }
}

/// Parses one statement, binding `?` parameters in order.
pub fn parse(src: &str, params: &[AttributeValue]) -> Result<Statement, PartiqlError> {
    let (toks, starts) = lex(src)?;
    if toks.is_empty() {
        return err("Statement wasn't well formed, can't be processed: Empty statement");
    }
    P {
        toks,
        starts,
        src,
        pos: 0,
        params,
        next_param: 0,
        depth: 0,
    }
    .statement()
}

/// The values a condition pins by equality on top-level attributes (through ANDs): how a
/// statement names its item or partition.
pub fn equalities(c: &Cond, out: &mut BTreeMap<String, AttributeValue>) {
    match c {
        Cond::And(a, b) => {
            equalities(a, out);
            equalities(b, out);
        }
        Cond::Cmp(Operand::Path(Path(p)), CmpOp::Eq, Operand::Value(v))
        | Cond::Cmp(Operand::Value(v), CmpOp::Eq, Operand::Path(Path(p))) => {
            if let [Step::Attr(a)] = p.as_slice() {
                out.insert(a.clone(), v.clone());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> AttributeValue {
        AttributeValue::S(x.into())
    }

    #[test]
    fn statements() {
        let st = parse(
            r#"SELECT a, "b".c FROM "Orders"."by-day" WHERE pk = ? AND n > 5"#,
            &[s("p1")],
        )
        .unwrap();
        let Statement::Select {
            table,
            index,
            projection,
            filter,
            order,
        } = st
        else {
            panic!()
        };
        assert!(order.is_empty());
        assert_eq!((table.as_str(), index.as_deref()), ("Orders", Some("by-day")));
        assert_eq!(projection.unwrap().len(), 2);
        let mut eq = BTreeMap::new();
        equalities(&filter.unwrap(), &mut eq);
        assert_eq!(eq.get("pk"), Some(&s("p1")));
        let st = parse(
            "INSERT INTO t VALUE {'pk': 'a', 'n': 1.50, 'l': [true, null], 'ss': <<'x', 'y'>>, 'it''s': ?}",
            &[s("q")],
        )
        .unwrap();
        let Statement::Insert { item, .. } = st else {
            panic!()
        };
        assert_eq!(item["n"], AttributeValue::N(Number::parse("1.5").unwrap()));
        assert_eq!(item["it's"], s("q"));
        assert_eq!(item["ss"], AttributeValue::Ss(vec!["x".into(), "y".into()]));
        let st = parse(
            "UPDATE t SET n = n + 1 SET m = 'x' REMOVE old WHERE pk = 'a' RETURNING ALL NEW *",
            &[],
        )
        .unwrap();
        let Statement::Update {
            update, returning, ..
        } = st
        else {
            panic!()
        };
        assert_eq!(
            (update.set.len(), update.remove.len(), returning),
            (2, 1, Some(Returning::AllNew))
        );
        assert!(matches!(
            parse("DELETE FROM t WHERE pk = 'a' AND attribute_exists(x)", &[]).unwrap(),
            Statement::Delete { .. }
        ));
        assert!(
            parse("SELECT * FROM t WHERE pk = ?", &[])
                .unwrap_err()
                .0
                .contains("parameters")
        );
        assert!(parse("SELECT * FROM t WHERE pk = 'a'", &[s("extra")]).is_err());
        assert!(
            parse("DROP TABLE t", &[])
                .unwrap_err()
                .0
                .starts_with("Statement wasn't well formed")
        );
        assert!(parse("SELECT * FROM t WHERE", &[]).is_err());
        assert!(parse("SELECT * FROM t WHERE n IN [1, 2, -3] AND x IS NOT MISSING", &[]).is_ok());
    }

    #[test]
    fn text_beyond_ascii() {
        let Statement::Insert { item, .. } =
            parse("INSERT INTO t VALUE {'pk': 'é', 'ü': 'ß€'}", &[]).unwrap()
        else {
            panic!()
        };
        assert_eq!((&item["pk"], &item["ü"]), (&s("é"), &s("ß€")));
        // A character of several bytes anywhere: the statement parses or is refused, never panics.
        let src = r#"SELECT * FROM "t" WHERE pk = 'é' AND "ü" <> 'ß' AND n >= 1 AND x IN [1, 2]"#;
        for (i, _) in src.char_indices() {
            for c in ["é", "€", "😀"] {
                let _ = parse(&format!("{}{c}{}", &src[..i], &src[i..]), &[]);
            }
        }
    }

    #[test]
    fn order_exists_and_set_functions() {
        let Statement::Select { order, .. } =
            parse("SELECT * FROM t WHERE pk = 'a' ORDER BY pk, sk DESC", &[]).unwrap()
        else {
            panic!()
        };
        assert_eq!(order, vec![("pk".to_string(), false), ("sk".to_string(), true)]);
        assert_eq!(
            parse("SELECT * FROM t WHERE pk = 'a' LIMIT 1", &[])
                .unwrap_err()
                .0,
            "Unsupported clause: LIMIT"
        );
        let Statement::Exists { table, filter, .. } = parse(
            "EXISTS(SELECT * FROM \"t\" WHERE pk = ? AND n IS MISSING)",
            &[s("a")],
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!((table.as_str(), filter.is_some()), ("t", true));
        assert!(
            !parse("EXISTS(SELECT * FROM t WHERE pk = 'a')", &[])
                .unwrap()
                .is_read()
        );
        assert!(parse("EXISTS(SELECT * FROM t WHERE pk = 'a'", &[]).is_err());
        let Statement::Update { update, .. } = parse(
            "UPDATE t SET s = set_add(s, <<'x'>>) SET n = set_delete(n, ?) WHERE pk = 'a'",
            &[AttributeValue::Ns(vec![Number::parse("1").unwrap()])],
        )
        .unwrap() else {
            panic!()
        };
        assert_eq!(
            (update.add.len(), update.delete.len(), update.set.len()),
            (1, 1, 0)
        );
        assert!(parse("UPDATE t SET s = set_add(other, <<'x'>>) WHERE pk = 'a'", &[]).is_err());
        assert!(parse("UPDATE t SET s = set_add(s, 'x') WHERE pk = 'a'", &[]).is_err());
        assert_eq!(
            parse("DELETE FROM t WHERE pk = 'a' RETURNING MODIFIED NEW *", &[])
                .unwrap_err()
                .0,
            "Invalid returning clause: RETURNING MODIFIED NEW *. Only RETURNING ALL OLD * is allowed in DELETE statements."
        );
        assert_eq!(
            parse("INSERT INTO t VALUE {'pk': 'a'} RETURNING ALL OLD *", &[])
                .unwrap_err()
                .0,
            "RETURNING is not supported in INSERT"
        );
    }
}
