//! Query and Scan: key ranges in DynamoDB's order (numbers numerically, strings and binaries
//! bytewise), both directions, Limit and the 1 MB page, ExclusiveStartKey/LastEvaluatedKey,
//! filters applied after the page is read (so Count and ScannedCount match AWS), projections,
//! Select, secondary indexes and parallel Scan segments.

use std::collections::HashMap;
use std::ops::Bound;

use stratus_core::RequestContext;
use stratus_dynamodb_expr::eval;
use stratus_dynamodb_expr::expr::{CmpOp, Cond, Kind, Operand, Path, Step};
use stratus_dynamodb_expr::value::{WireValue, encode_key_part};
use stratus_dynamodb_expr::{AttributeValue, Item};
use stratus_store::Scan as StoreScan;
use stratus_store::keys::prefix_end;

use super::answer::{EncodeJson, JsonObject, ReadItem};
use super::common::{Exprs, consumed, legacy_conditions, legacy_projection, no_mixing};
use super::table_info;
use crate::generated::*;
use crate::items::{self, Index, KeySchema, TableInfo};
use crate::{DynamoDb, DynamoDbError};

/// Bytes read before a page ends, as on AWS.
pub(crate) const PAGE_BYTES: usize = 1024 * 1024;
/// Rows fetched from the store per step.
const BATCH: usize = 256;

/// The answer of a Query or Scan. Items read as stored go into the body as they are: stored
/// items are already their JSON wire form.
#[derive(Default)]
pub struct QueryReply {
    items: Option<Vec<ReadItem>>,
    count: usize,
    scanned_count: usize,
    last_evaluated_key: Option<Item>,
    consumed_capacity: Option<ConsumedCapacity>,
}

impl EncodeJson for QueryReply {
    fn to_json(&self) -> Vec<u8> {
        let mut o = JsonObject::new(self.items.iter().flatten());
        if let Some(items) = &self.items {
            o.items("Items", items);
        }
        o.member("Count", &self.count);
        o.member("ScannedCount", &self.scanned_count);
        if let Some(key) = &self.last_evaluated_key {
            o.member("LastEvaluatedKey", key);
        }
        if let Some(capacity) = &self.consumed_capacity {
            o.member("ConsumedCapacity", capacity);
        }
        o.finish()
    }
}

enum SortCond {
    Cmp(CmpOp, AttributeValue),
    Between(AttributeValue, AttributeValue),
    BeginsWith(AttributeValue),
}

/// The top-level attribute an operand names, if it is a plain attribute name.
pub(crate) fn key_attr(o: &Operand) -> Option<&str> {
    match o {
        Operand::Path(Path(steps)) if steps.len() == 1 => match &steps[0] {
            Step::Attr(a) => Some(a),
            Step::Index(_) => None,
        },
        _ => None,
    }
}

fn invalid_operator(op: &str) -> DynamoDbError {
    DynamoDbError::Validation(format!("Invalid operator used in KeyConditionExpression: {op}"))
}

fn invalid_condition(why: &str) -> DynamoDbError {
    DynamoDbError::Validation(format!("Invalid condition in KeyConditionExpression: {why}"))
}

/// The conditions a key condition ANDs together, each of a form a key condition may take.
fn atoms<'c>(c: &'c Cond, out: &mut Vec<&'c Cond>) -> Result<(), DynamoDbError> {
    match c {
        Cond::And(a, b) => {
            atoms(a, out)?;
            atoms(b, out)
        }
        Cond::Or(..) => Err(invalid_operator("OR")),
        Cond::Not(..) => Err(invalid_operator("NOT")),
        Cond::In(..) => Err(invalid_operator("IN")),
        Cond::Cmp(_, CmpOp::Ne, _) => Err(invalid_operator("<>")),
        Cond::Exists(_) => Err(invalid_operator("attribute_exists")),
        Cond::NotExists(_) => Err(invalid_operator("attribute_not_exists")),
        Cond::Type(..) => Err(invalid_operator("attribute_type")),
        Cond::Contains(..) => Err(invalid_operator("contains")),
        Cond::Cmp(a, _, b) | Cond::BeginsWith(a, b) => {
            check_operands(&[a, b])?;
            out.push(c);
            Ok(())
        }
        Cond::Between(a, lo, hi) => {
            check_operands(&[a, lo, hi])?;
            out.push(c);
            Ok(())
        }
    }
}

/// One key attribute, by its top-level name, and values: what each condition of a key
/// condition compares.
fn check_operands(operands: &[&Operand]) -> Result<(), DynamoDbError> {
    if operands.iter().any(|o| matches!(o, Operand::Size(_))) {
        return Err(DynamoDbError::Validation(
            "KeyConditionExpressions cannot contain nested operations".into(),
        ));
    }
    let paths: Vec<&Path> = operands
        .iter()
        .filter_map(|o| match o {
            Operand::Path(p) => Some(p),
            _ => None,
        })
        .collect();
    match paths.as_slice() {
        [] => Err(invalid_condition("No key attribute specified")),
        [_, _, ..] => Err(invalid_condition(
            "Multiple attribute names used in one condition",
        )),
        [p] if p.0.len() > 1 || matches!(p.0.first(), Some(Step::Index(_))) => {
            Err(DynamoDbError::Validation(
                "KeyConditionExpressions cannot have conditions on nested attributes".into(),
            ))
        }
        [_] => Ok(()),
    }
}

fn flip(op: CmpOp) -> CmpOp {
    match op {
        CmpOp::Lt => CmpOp::Gt,
        CmpOp::Le => CmpOp::Ge,
        CmpOp::Gt => CmpOp::Lt,
        CmpOp::Ge => CmpOp::Le,
        other => other,
    }
}

/// The partition value and sort-key condition of a key condition.
fn analyze(cond: &Cond, schema: &KeySchema) -> Result<(AttributeValue, Option<SortCond>), DynamoDbError> {
    let mut list = Vec::new();
    atoms(cond, &mut list)?;
    let mut hash = None;
    let mut sort = None;
    let mismatch = || DynamoDbError::invalid("Condition parameter type does not match schema type");
    for atom in list {
        let first_operand = |op: &str| {
            invalid_condition(&format!(
                "{op} operator must have the key attribute as its first operand"
            ))
        };
        let (name, sc) = match atom {
            Cond::Cmp(a, op, b) => {
                let (name, op, v) = match (key_attr(a), key_attr(b), a, b) {
                    (Some(n), _, _, Operand::Value(v)) => (n, *op, v),
                    (_, Some(n), Operand::Value(v), _) => (n, flip(*op), v),
                    _ => return Err(invalid_condition("No key attribute specified")),
                };
                (name, SortCond::Cmp(op, v.clone()))
            }
            Cond::Between(a, Operand::Value(lo), Operand::Value(hi)) => (
                key_attr(a).ok_or_else(|| first_operand("BETWEEN"))?,
                SortCond::Between(lo.clone(), hi.clone()),
            ),
            Cond::BeginsWith(a, Operand::Value(v)) => (
                key_attr(a).ok_or_else(|| first_operand("begins_with"))?,
                SortCond::BeginsWith(v.clone()),
            ),
            Cond::Between(..) => return Err(first_operand("BETWEEN")),
            _ => return Err(first_operand("begins_with")),
        };
        if name == schema.hash.name {
            let SortCond::Cmp(CmpOp::Eq, v) = sc else {
                return Err(DynamoDbError::Validation(
                    "Query key condition not supported".into(),
                ));
            };
            if hash.is_some() {
                return Err(DynamoDbError::Validation(
                    "KeyConditionExpressions must only contain one condition per key".into(),
                ));
            }
            if v.type_name() != schema.hash.ty {
                return Err(mismatch());
            }
            hash = Some(v);
        } else if schema.range.as_ref().is_some_and(|r| r.name == name) {
            if sort.is_some() {
                return Err(DynamoDbError::Validation(
                    "KeyConditionExpressions must only contain one condition per key".into(),
                ));
            }
            let ty = &schema.range.as_ref().expect("checked").ty;
            let ok = match &sc {
                SortCond::Cmp(_, v) | SortCond::BeginsWith(v) => v.type_name() == ty,
                SortCond::Between(a, b) => a.type_name() == ty && b.type_name() == ty,
            };
            if !ok {
                return Err(mismatch());
            }
            if matches!(sc, SortCond::BeginsWith(_)) && ty == "N" {
                return Err(DynamoDbError::Validation(
                    "Invalid KeyConditionExpression: Incorrect operand type for operator or function; operator or function: begins_with, operand type: N".into(),
                ));
            }
            sort = Some(sc);
        } else {
            return Err(DynamoDbError::Validation(format!(
                "Query condition missed key schema element: {}",
                schema.hash.name
            )));
        }
    }
    let hash = hash.ok_or_else(|| {
        DynamoDbError::Validation(format!(
            "Query condition missed key schema element: {}",
            schema.hash.name
        ))
    })?;
    Ok((hash, sort))
}

fn enc(v: &AttributeValue) -> Vec<u8> {
    let mut out = Vec::new();
    encode_key_part(&mut out, v);
    out
}

/// The store range holding a partition, narrowed by the sort-key condition.
/// The key ranges a PartiQL SELECT reads, if its WHERE clause pins the partition key by
/// equality or IN among its top-level ANDs: one partition per value, in key order, each
/// narrowed by one sort-key condition among those ANDs, as a Query's key condition would be.
/// The whole clause still filters what is read.
pub(crate) fn statement_ranges(schema: &KeySchema, filter: &Cond) -> Option<Vec<KeyRange>> {
    fn conjuncts<'c>(c: &'c Cond, out: &mut Vec<&'c Cond>) {
        match c {
            Cond::And(a, b) => {
                conjuncts(a, out);
                conjuncts(b, out);
            }
            other => out.push(other),
        }
    }
    let mut list = Vec::new();
    conjuncts(filter, &mut list);
    let on = |o: &Operand, name: &str| key_attr(o) == Some(name);
    let typed_hash = |v: &AttributeValue| v.type_name() == schema.hash.ty;
    let hashes: Vec<&AttributeValue> = list.iter().find_map(|c| match c {
        Cond::Cmp(a, CmpOp::Eq, Operand::Value(v)) | Cond::Cmp(Operand::Value(v), CmpOp::Eq, a)
            if on(a, &schema.hash.name) && typed_hash(v) =>
        {
            Some(vec![v])
        }
        Cond::In(a, values) if on(a, &schema.hash.name) => values
            .iter()
            .map(|o| match o {
                Operand::Value(v) if typed_hash(v) => Some(v),
                _ => None,
            })
            .collect(),
        _ => None,
    })?;
    let sort = schema.range.as_ref().and_then(|r| {
        let typed = |v: &AttributeValue| v.type_name() == r.ty;
        list.iter().find_map(|c| match c {
            Cond::Cmp(a, op, Operand::Value(v)) if *op != CmpOp::Ne && on(a, &r.name) && typed(v) => {
                Some(SortCond::Cmp(*op, v.clone()))
            }
            Cond::Cmp(Operand::Value(v), op, a) if *op != CmpOp::Ne && on(a, &r.name) && typed(v) => {
                Some(SortCond::Cmp(flip(*op), v.clone()))
            }
            Cond::Between(a, Operand::Value(lo), Operand::Value(hi))
                if on(a, &r.name) && typed(lo) && typed(hi) =>
            {
                Some(SortCond::Between(lo.clone(), hi.clone()))
            }
            Cond::BeginsWith(a, Operand::Value(v)) if on(a, &r.name) && typed(v) && r.ty != "N" => {
                Some(SortCond::BeginsWith(v.clone()))
            }
            _ => None,
        })
    });
    let mut ranges: Vec<KeyRange> = hashes.into_iter().map(|h| key_range(h, sort.as_ref())).collect();
    ranges.sort_by(|a, b| bound_key(&a.0).cmp(&bound_key(&b.0)));
    ranges.dedup();
    Some(ranges)
}

fn bound_key(b: &Bound<Vec<u8>>) -> Option<&[u8]> {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k),
        Bound::Unbounded => None,
    }
}

/// The storage keys from where a read starts to where it ends.
type KeyRange = (Bound<Vec<u8>>, Bound<Vec<u8>>);

fn key_range(hash: &AttributeValue, sort: Option<&SortCond>) -> KeyRange {
    let p = enc(hash);
    let after_prefix = |k: Vec<u8>| prefix_end(&k).map_or(Bound::Unbounded, Bound::Excluded);
    let end_of = |k: &[u8]| prefix_end(k).map_or(Bound::Unbounded, Bound::Excluded);
    let with = |v: &AttributeValue| [p.clone(), enc(v)].concat();
    match sort {
        None => (Bound::Included(p.clone()), end_of(&p)),
        Some(SortCond::Cmp(op, v)) => match op {
            CmpOp::Eq => (Bound::Included(with(v)), after_prefix(with(v))),
            CmpOp::Lt => (Bound::Included(p.clone()), Bound::Excluded(with(v))),
            CmpOp::Le => (Bound::Included(p.clone()), after_prefix(with(v))),
            CmpOp::Gt => (
                prefix_end(&with(v)).map_or(Bound::Unbounded, Bound::Included),
                end_of(&p),
            ),
            _ => (Bound::Included(with(v)), end_of(&p)),
        },
        Some(SortCond::Between(a, b)) => (Bound::Included(with(a)), after_prefix(with(b))),
        Some(SortCond::BeginsWith(v)) => {
            let mut k = p.clone();
            match v {
                AttributeValue::S(s) => escape_open(&mut k, s.as_bytes()),
                AttributeValue::B(b) => escape_open(&mut k, b),
                _ => {}
            }
            (Bound::Included(k.clone()), after_prefix(k))
        }
    }
}

/// The escaped form of a string key part without its terminator: a prefix of every longer value.
fn escape_open(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
}

pub(crate) fn tighter_start(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if y > x || (y == x && matches!(b, Bound::Excluded(_))) {
                b
            } else {
                a
            }
        }
    }
}

pub(crate) fn tighter_end(a: Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    match (&a, &b) {
        (Bound::Unbounded, _) => b,
        (_, Bound::Unbounded) => a,
        (Bound::Included(x) | Bound::Excluded(x), Bound::Included(y) | Bound::Excluded(y)) => {
            if y < x || (y == x && matches!(b, Bound::Excluded(_))) {
                b
            } else {
                a
            }
        }
    }
}

/// Where a read happens: the table or one of its indexes.
pub(crate) struct Source<'t> {
    pub table: &'t TableInfo,
    pub index: Option<&'t Index>,
}

impl Source<'_> {
    fn ns(&self) -> std::borrow::Cow<'_, str> {
        match self.index {
            Some(i) => self.table.index_ns(&i.name).into(),
            None => self.table.ns().into(),
        }
    }
    fn schema(&self) -> &KeySchema {
        self.index.map_or(&self.table.schema, |i| &i.schema)
    }
    /// The store key an item occupies here (for ExclusiveStartKey).
    pub(crate) fn position(&self, key_item: &Item) -> Result<Vec<u8>, DynamoDbError> {
        let invalid = |e: DynamoDbError| {
            DynamoDbError::Validation(format!(
                "The provided starting key is invalid: {}",
                match e {
                    DynamoDbError::Validation(m) => m,
                    other => other.to_string(),
                }
            ))
        };
        let table_key = items::item_key(&self.table.schema, key_item).map_err(invalid)?;
        match self.index {
            None => Ok(table_key),
            Some(ix) => items::index_key(self.table, ix, key_item, &table_key)
                .map_err(invalid)?
                .ok_or_else(|| DynamoDbError::Validation("The provided starting key is invalid: The provided key element does not match the schema".into())),
        }
    }
    /// The LastEvaluatedKey of an item read here: table key plus index key.
    fn last_key(&self, item: &Item) -> Item {
        let mut k = self.table.schema.key_of(item);
        if let Some(ix) = self.index {
            k.extend(ix.schema.key_of(item));
        }
        k
    }
}

pub(crate) struct Page {
    pub items: Vec<ReadItem>,
    pub scanned: usize,
    pub bytes: usize,
    pub last: Option<Item>,
}

pub(crate) struct ReadSpec<'a> {
    pub start: Bound<Vec<u8>>,
    pub end: Bound<Vec<u8>>,
    pub reverse: bool,
    pub limit: Option<usize>,
    pub filter: Option<&'a Cond>,
    pub segment: Option<(u32, u32)>,
    /// Read each item from the table by the key in the index entry.
    pub fetch: bool,
    /// The page ends once the items read reach this many bytes (1 MB, or what is left of it).
    pub max_bytes: usize,
}

fn segment_of(table: &TableInfo, item: &Item, total: u32) -> u32 {
    let h = item.get(&table.schema.hash.name).map(enc).unwrap_or_default();
    (stratus_core::ids::stable_hash(&h) % total as u64) as u32
}

pub(crate) async fn read(db: &DynamoDb, src: &Source<'_>, spec: ReadSpec<'_>) -> Result<Page, DynamoDbError> {
    let ns = src.ns();
    let mut page = Page {
        items: Vec::new(),
        scanned: 0,
        bytes: 0,
        last: None,
    };
    let (mut start, mut end) = (spec.start, spec.end);
    loop {
        let want = spec.limit.map_or(BATCH, |l| (l - page.scanned).min(BATCH));
        let scan = StoreScan {
            start,
            end,
            reverse: spec.reverse,
            limit: want,
        };
        let rows = db.store.scan_values(&ns, &scan).await?;
        (start, end) = (scan.start, scan.end);
        let got = rows.values.len();
        page.items.reserve(got);
        for v in rows.values {
            let v = if spec.fetch {
                let entry = items::StoredItem::new(v)?.decode()?;
                let key = items::item_key(&src.table.schema, &entry)?;
                match db.store.get(src.table.ns(), &key).await? {
                    Some(item) => item,
                    // Deleted since the index was read.
                    None => continue,
                }
            } else {
                v
            };
            let stored = items::StoredItem::new(v)?;
            // Attributes are looked at only for a segment or a filter; otherwise the item goes
            // out as stored.
            let decoded = (spec.segment.is_some() || spec.filter.is_some())
                .then(|| stored.decode())
                .transpose()?;
            if let (Some((seg, total)), Some(item)) = (spec.segment, &decoded)
                && segment_of(src.table, item, total) != seg
            {
                continue;
            }
            page.scanned += 1;
            page.bytes += stored.size();
            let done_by_limit = spec.limit.is_some_and(|l| page.scanned >= l);
            let done_by_size = page.bytes >= spec.max_bytes;
            if done_by_limit || done_by_size {
                page.last = Some(match &decoded {
                    Some(item) => src.last_key(item),
                    None => src.last_key(&stored.decode()?),
                });
            }
            match decoded {
                Some(item) if spec.filter.is_none_or(|f| eval::eval(f, &item)) => {
                    page.items.push(ReadItem::Decoded(item))
                }
                Some(_) => {}
                None => page.items.push(ReadItem::Stored(stored)),
            }
            if done_by_limit || done_by_size {
                return Ok(page);
            }
        }
        if got < want {
            return Ok(page);
        }
        // The next step resumes after the last key of this one.
        let Some(k) = rows.last_key else {
            return Ok(page);
        };
        if spec.reverse {
            end = Bound::Excluded(k);
        } else {
            start = Bound::Excluded(k);
        }
    }
}

fn select_and_project(
    select: Option<&str>,
    projection: Option<&Vec<Path>>,
    index: Option<&Index>,
) -> Result<(bool, Option<Vec<Path>>), DynamoDbError> {
    match select {
        Some("COUNT") => {
            if projection.is_some() {
                return Err(DynamoDbError::Validation(
                    "Cannot specify the AttributesToGet or ProjectionExpression when choosing to get only the COUNT".into(),
                ));
            }
            Ok((true, None))
        }
        Some("SPECIFIC_ATTRIBUTES") if projection.is_none() => Err(DynamoDbError::Validation(
            "1 validation error detected: Must specify the AttributesToGet or ProjectionExpression when choosing to get SPECIFIC_ATTRIBUTES".into(),
        )),
        Some("ALL_ATTRIBUTES") | Some("ALL_PROJECTED_ATTRIBUTES") if projection.is_some() => Err(DynamoDbError::Validation(format!(
            "Cannot specify the ProjectionExpression when choosing to get {}",
            select.unwrap_or_default()
        ))),
        Some("ALL_ATTRIBUTES") => {
            if let Some(ix) = index
                && ix.global && ix.projection.projection_type.as_deref() != Some("ALL") {
                    return Err(DynamoDbError::invalid(format!(
                        "Select type ALL_ATTRIBUTES is not supported for global secondary index {} because its projection type is not ALL",
                        ix.name
                    )));
                }
            Ok((false, None))
        }
        Some("ALL_PROJECTED_ATTRIBUTES") if index.is_none() => Err(DynamoDbError::Validation(
            "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName".into(),
        )),
        _ => Ok((false, projection.cloned())),
    }
}

/// A Query's ExclusiveStartKey must be a key of what it reads (nothing more) inside the range
/// its key condition selects.
fn start_within(
    src: &Source<'_>,
    esk: &Item,
    key_cond: &Cond,
    hash: &AttributeValue,
) -> Result<(), DynamoDbError> {
    let index_names = src.index.into_iter().flat_map(|ix| ix.schema.names());
    let names: Vec<&str> = src.table.schema.names().chain(index_names).collect();
    if esk.keys().any(|k| !names.contains(&k.as_str())) || !names.iter().all(|n| esk.contains_key(*n)) {
        return Err(DynamoDbError::Validation(
            "The provided starting key is invalid: The provided key element does not match the schema".into(),
        ));
    }
    if esk.get(&src.schema().hash.name) != Some(hash) {
        return Err(DynamoDbError::Validation(
            "The provided starting key is outside query boundaries based on provided condition".into(),
        ));
    }
    // The partition matches, so only the sort-key part of the condition can fail.
    if !eval::eval(key_cond, esk) {
        return Err(DynamoDbError::Validation(
            "The provided starting key does not match the range key predicate".into(),
        ));
    }
    Ok(())
}

fn start_key(
    src: &Source<'_>,
    esk: Option<&std::collections::HashMap<String, stratus_dynamodb_expr::value::WireValue>>,
) -> Result<Option<Vec<u8>>, DynamoDbError> {
    match esk {
        None => Ok(None),
        Some(m) => Ok(Some(src.position(&items::from_wire(m)?)?)),
    }
}

/// The index a Query or Scan names, if any (strongly consistent reads exist only on tables and LSIs).
fn resolve_index<'t>(
    table: &'t TableInfo,
    name: Option<&str>,
    consistent: Option<bool>,
) -> Result<Option<&'t Index>, DynamoDbError> {
    let Some(name) = name else { return Ok(None) };
    let index = table.index(name).ok_or_else(|| {
        DynamoDbError::Validation(format!("The table does not have the specified index: {name}"))
    })?;
    if index.global && consistent == Some(true) {
        return Err(DynamoDbError::Validation(
            "Consistent reads are not supported on global secondary indexes".into(),
        ));
    }
    Ok(Some(index))
}

/// The expression and legacy parameters Query and Scan share.
struct ReadRequest<'a> {
    names: Option<&'a HashMap<String, String>>,
    values: Option<&'a HashMap<String, WireValue>>,
    key_condition: Option<&'a str>,
    filter: Option<&'a str>,
    projection: Option<&'a str>,
    legacy_filter: Option<&'a HashMap<String, Condition>>,
    conditional_operator: Option<&'a str>,
    attributes_to_get: Option<&'a [String]>,
    select: Option<&'a str>,
    table: &'a TableInfo,
    index: Option<&'a Index>,
}

/// What a read evaluates: key condition, filter (expression or legacy), and what it returns.
struct ReadPlan {
    key_condition: Option<Cond>,
    filter: Option<Cond>,
    count_only: bool,
    projection: Option<Vec<Path>>,
    /// Read each item from the table, not from the local index that holds only part of it.
    fetch: bool,
}

impl ReadPlan {
    fn new(r: ReadRequest<'_>) -> Result<ReadPlan, DynamoDbError> {
        let mut exprs = Exprs::new(r.names, r.values)?;
        let parsed = exprs.parse(
            r.filter.map(|f| (f, Kind::Filter)),
            None,
            r.projection,
            r.key_condition,
        )?;
        let filter = match (parsed.condition, r.legacy_filter) {
            (Some(f), _) => Some(f),
            (None, Some(q)) => legacy_conditions(q, r.conditional_operator)?,
            _ => None,
        };
        let projection = legacy_projection(parsed.projection, r.attributes_to_get)?;
        let (count_only, mut projection) = select_and_project(r.select, projection.as_ref(), r.index)?;
        let fetch = match r.index {
            Some(ix) if !r.table.projects_all(ix) => partial_index(&r, ix, filter.as_ref(), &mut projection)?,
            _ => false,
        };
        Ok(ReadPlan {
            key_condition: parsed.key_condition,
            filter,
            count_only,
            projection,
            fetch,
        })
    }
}

/// Reading an index that holds only part of each item: a global one refuses to answer
/// attributes it does not project; a local one fetches the items from the table when the
/// answer or the filter needs more than it holds. True when items are to be fetched.
fn partial_index(
    r: &ReadRequest<'_>,
    ix: &Index,
    filter: Option<&Cond>,
    projection: &mut Option<Vec<Path>>,
) -> Result<bool, DynamoDbError> {
    let outside = |p: &Path| match p.0.first() {
        Some(Step::Attr(a)) if !r.table.projects(ix, a) => Some(a.clone()),
        _ => None,
    };
    let mut missing: Vec<String> = Vec::new();
    for a in projection.iter().flatten().filter_map(outside) {
        if !missing.contains(&a) {
            missing.push(a);
        }
    }
    if ix.global {
        // A global index has only what it projects.
        if !missing.is_empty() {
            return Err(DynamoDbError::invalid(format!(
                "Global secondary index {} does not project [{}]",
                ix.name,
                missing.join(", ")
            )));
        }
        Ok(false)
    } else {
        // A local index fetches the rest from the table.
        let mut filter_outside = false;
        if let Some(f) = filter {
            f.for_each_path(&mut |p| filter_outside |= outside(p).is_some());
        }
        let all = r.select == Some("ALL_ATTRIBUTES");
        if filter_outside && projection.is_none() && !all {
            // Fetched for the filter only: the answer still holds what the index does.
            let mut names: Vec<&str> = Vec::new();
            let include = ix
                .projection
                .non_key_attributes
                .iter()
                .flatten()
                .map(String::as_str);
            for n in r.table.schema.names().chain(ix.schema.names()).chain(include) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
            *projection = Some(
                names
                    .into_iter()
                    .map(|n| Path(vec![Step::Attr(n.to_string())]))
                    .collect(),
            );
        }
        Ok(!missing.is_empty() || filter_outside || all)
    }
}

pub async fn query(
    db: &DynamoDb,
    cx: &RequestContext,
    input: QueryInput,
) -> Result<QueryReply, DynamoDbError> {
    let table = table_info(db, cx, input.table_name.as_deref().unwrap_or_default()).await?;
    let index = resolve_index(&table, input.index_name.as_deref(), input.consistent_read)?;
    no_mixing(
        &[
            ("KeyConditions", input.key_conditions.is_some()),
            ("QueryFilter", input.query_filter.is_some()),
            ("AttributesToGet", input.attributes_to_get.is_some()),
            ("ConditionalOperator", input.conditional_operator.is_some()),
        ],
        &[
            ("KeyConditionExpression", input.key_condition_expression.is_some()),
            ("FilterExpression", input.filter_expression.is_some()),
            ("ProjectionExpression", input.projection_expression.is_some()),
        ],
    )?;
    let plan = ReadPlan::new(ReadRequest {
        names: input.expression_attribute_names.as_ref(),
        values: input.expression_attribute_values.as_ref(),
        key_condition: input.key_condition_expression.as_deref(),
        filter: input.filter_expression.as_deref(),
        projection: input.projection_expression.as_deref(),
        legacy_filter: input.query_filter.as_ref(),
        conditional_operator: input.conditional_operator.as_deref(),
        attributes_to_get: input.attributes_to_get.as_deref(),
        select: input.select.as_deref(),
        table: &table,
        index,
    })?;
    let missing_key = || {
        DynamoDbError::Validation(
            "Either the KeyConditions or KeyConditionExpression parameter must be specified in the request."
                .into(),
        )
    };
    let key_cond = match (plan.key_condition, &input.key_conditions) {
        (Some(k), _) => k,
        (None, Some(k)) => legacy_conditions(k, None)?.ok_or_else(missing_key)?,
        (None, None) => return Err(missing_key()),
    };
    let (filter, count_only, projection) = (plan.filter, plan.count_only, plan.projection);
    let src = Source { table: &table, index };
    if let Some(f) = &filter {
        filter_without_keys(f, src.schema(), input.query_filter.is_some())?;
    }
    let (hash, sort) = analyze(&key_cond, src.schema())?;
    let (mut start, mut end) = key_range(&hash, sort.as_ref());
    let forward = input.scan_index_forward.unwrap_or(true);
    if let Some(esk) = &input.exclusive_start_key {
        start_within(&src, &items::from_wire(esk)?, &key_cond, &hash)?;
    }
    if let Some(pos) = start_key(&src, input.exclusive_start_key.as_ref())? {
        if forward {
            start = tighter_start(start, Bound::Excluded(pos));
        } else {
            end = tighter_end(end, Bound::Excluded(pos));
        }
    }
    let page = read(
        db,
        &src,
        ReadSpec {
            start,
            end,
            reverse: !forward,
            limit: input.limit.map(|l| l as usize),
            filter: filter.as_ref(),
            segment: None,
            fetch: plan.fetch,
            max_bytes: PAGE_BYTES,
        },
    )
    .await?;
    finish(
        page,
        count_only,
        projection,
        input.return_consumed_capacity.as_deref(),
        &table,
        index,
        input.consistent_read.unwrap_or(false),
    )
}

/// A Query's FilterExpression (or legacy QueryFilter) may not read the key attributes of what
/// it queries: they belong in the key condition.
fn filter_without_keys(filter: &Cond, schema: &KeySchema, legacy: bool) -> Result<(), DynamoDbError> {
    let mut key = None;
    filter.for_each_path(&mut |p| {
        if key.is_none()
            && let Some(Step::Attr(a)) = p.0.first()
            && schema.names().any(|k| k == a)
        {
            key = Some(a.clone());
        }
    });
    match key {
        Some(k) if legacy => Err(DynamoDbError::Validation(format!(
            "QueryFilter can only contain non-key attributes: Primary key attribute: {k}"
        ))),
        Some(k) => Err(DynamoDbError::Validation(format!(
            "Filter Expression can only contain non-primary key attributes: Primary key attribute: {k}"
        ))),
        None => Ok(()),
    }
}

fn finish(
    page: Page,
    count_only: bool,
    projection: Option<Vec<Path>>,
    rcc: Option<&str>,
    table: &TableInfo,
    index: Option<&Index>,
    consistent: bool,
) -> Result<QueryReply, DynamoDbError> {
    let units = items::read_units(page.bytes, consistent);
    let consumed_capacity = match index {
        Some(ix) => consumed(
            rcc,
            &table.name,
            0.0,
            &[(ix.name.clone(), ix.global, units)],
            true,
        ),
        None => consumed(rcc, &table.name, units, &[], true),
    };
    let count = page.items.len();
    let items = if count_only {
        None
    } else {
        Some(match projection {
            Some(p) => page
                .items
                .into_iter()
                .map(|i| Ok(ReadItem::Decoded(eval::project(&i.into_item()?, &p))))
                .collect::<Result<_, DynamoDbError>>()?,
            None => page.items,
        })
    };
    Ok(QueryReply {
        items,
        count,
        scanned_count: page.scanned,
        last_evaluated_key: page.last,
        consumed_capacity,
    })
}

pub async fn scan(db: &DynamoDb, cx: &RequestContext, input: ScanInput) -> Result<QueryReply, DynamoDbError> {
    let table = table_info(db, cx, input.table_name.as_deref().unwrap_or_default()).await?;
    let index = resolve_index(&table, input.index_name.as_deref(), input.consistent_read)?;
    let segment = match (input.segment, input.total_segments) {
        (None, None) => None,
        (Some(s), Some(t)) => {
            if s >= t {
                return Err(DynamoDbError::Validation(format!(
                    "The Segment parameter is zero-based and must be less than parameter TotalSegments: Segment: {s} is not less than TotalSegments: {t}"
                )));
            }
            Some((s as u32, t as u32))
        }
        (Some(_), None) => return Err(DynamoDbError::Validation("The TotalSegments parameter is required but was not present in the request when Segment parameter is present".into())),
        (None, Some(_)) => return Err(DynamoDbError::Validation("The Segment parameter is required but was not present in the request when parameter TotalSegments is present".into())),
    };
    no_mixing(
        &[
            ("ScanFilter", input.scan_filter.is_some()),
            ("AttributesToGet", input.attributes_to_get.is_some()),
            ("ConditionalOperator", input.conditional_operator.is_some()),
        ],
        &[
            ("FilterExpression", input.filter_expression.is_some()),
            ("ProjectionExpression", input.projection_expression.is_some()),
        ],
    )?;
    let plan = ReadPlan::new(ReadRequest {
        names: input.expression_attribute_names.as_ref(),
        values: input.expression_attribute_values.as_ref(),
        key_condition: None,
        filter: input.filter_expression.as_deref(),
        projection: input.projection_expression.as_deref(),
        legacy_filter: input.scan_filter.as_ref(),
        conditional_operator: input.conditional_operator.as_deref(),
        attributes_to_get: input.attributes_to_get.as_deref(),
        select: input.select.as_deref(),
        table: &table,
        index,
    })?;
    let (filter, count_only, projection) = (plan.filter, plan.count_only, plan.projection);
    let src = Source { table: &table, index };
    let mut start = Bound::Unbounded;
    if let Some(pos) = start_key(&src, input.exclusive_start_key.as_ref())? {
        start = Bound::Excluded(pos);
    }
    let page = read(
        db,
        &src,
        ReadSpec {
            start,
            end: Bound::Unbounded,
            reverse: false,
            limit: input.limit.map(|l| l as usize),
            filter: filter.as_ref(),
            segment,
            fetch: plan.fetch,
            max_bytes: PAGE_BYTES,
        },
    )
    .await?;
    finish(
        page,
        count_only,
        projection,
        input.return_consumed_capacity.as_deref(),
        &table,
        index,
        input.consistent_read.unwrap_or(false),
    )
}
