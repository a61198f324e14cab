//! ExecuteStatement, BatchExecuteStatement and ExecuteTransaction: PartiQL statements parsed
//! by the engine crate and run through the same item, read and transaction paths as the
//! expression API.

use std::collections::{BTreeMap, HashMap};
use std::ops::Bound;

use base64::Engine as _;
use serde::Serialize;
use stratus_core::RequestContext;
use stratus_dynamodb_expr::Item;
use stratus_dynamodb_expr::eval;
use stratus_dynamodb_expr::expr::{CmpOp, Cond, Operand, Path, Step as PathStep};
use stratus_dynamodb_expr::partiql::{self, Returning, Statement};
use stratus_dynamodb_expr::value::WireValue;

use super::batch::{Action, Step, request_fingerprint, run_transaction};
use super::common::{Axis, TableUnits, consumed, consumed_per_table};
use super::items::{index_write_units, keys_untouched, updated_paths, write};
use super::query::{
    PAGE_BYTES, Page, ReadSpec, Source, key_attr, read, statement_ranges, tighter_end, tighter_start,
};
use super::table_info;
use crate::generated::{
    BatchExecuteStatementInput, Capacity, ConsumedCapacity, ExecuteStatementInput, ExecuteTransactionInput,
};
use crate::items::{self, KeySchema, TableInfo};
use crate::{DynamoDb, DynamoDbError};

fn parse(src: Option<&str>, p: Option<&Vec<WireValue>>) -> Result<Statement, DynamoDbError> {
    partiql::parse(src.unwrap_or_default(), &items::list_from_wire(p)?)
        .map_err(|e| DynamoDbError::Validation(e.0))
}

/// Parses the statements of a batch or transaction: at most `max`, all reads or all writes.
fn parse_all<'a>(
    list: impl ExactSizeIterator<Item = (Option<&'a str>, Option<&'a Vec<WireValue>>)>,
    max: usize,
    member: &str,
) -> Result<Vec<Statement>, DynamoDbError> {
    if list.len() > max {
        return Err(DynamoDbError::Validation(format!(
            "1 validation error detected: Value at '{member}' failed to satisfy constraint: Member must have length less than or equal to {max}"
        )));
    }
    let parsed = list
        .map(|(st, params)| parse(st, params))
        .collect::<Result<Vec<_>, _>>()?;
    let reads = parsed.iter().filter(|s| s.is_read()).count();
    if reads != 0 && reads != parsed.len() {
        return Err(DynamoDbError::Validation(
            "Mixing of read and write statements is not supported".into(),
        ));
    }
    Ok(parsed)
}

/// What a SELECT on an index may name: a global index answers only from what it projects; a
/// read keyed on either kind of index may not filter on attributes it does not project (a
/// local index fetches unprojected attributes from the table for the answer).
fn check_index_reach(
    t: &TableInfo,
    index: &items::Index,
    projection: Option<&[Path]>,
    filter: Option<&Cond>,
) -> Result<(), DynamoDbError> {
    let top = |p: &Path| match p.0.first() {
        Some(PathStep::Attr(a)) => Some(a.clone()),
        _ => None,
    };
    let unprojected = |names: &mut Vec<String>| {
        names.retain(|n| !t.projects(index, n));
        names.sort();
        names.dedup();
    };
    if index.global {
        let mut names: Vec<String> = projection.into_iter().flatten().filter_map(top).collect();
        unprojected(&mut names);
        if !names.is_empty() {
            return Err(DynamoDbError::invalid(format!(
                "Global secondary index {} does not project [{}]",
                index.name,
                names.join(", ")
            )));
        }
    }
    let Some(filter) = filter else { return Ok(()) };
    let mut eq = BTreeMap::new();
    partiql::equalities(filter, &mut eq);
    let keyed = eq.contains_key(&index.schema.hash.name) || statement_ranges(&index.schema, filter).is_some();
    if keyed {
        let mut names = Vec::new();
        filter.for_each_path(&mut |p: &Path| names.extend(top(p)));
        unprojected(&mut names);
        if !names.is_empty() {
            return Err(DynamoDbError::invalid(format!(
                "Secondary index {} does not project one or more filter attributes: [{}]",
                index.name,
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// A SELECT's projection: a path into a map comes back under its last name (`SELECT a.b`
/// answers `{"b": ...}`), as DynamoDB's PartiQL answers it; top-level names and list elements
/// are projected as in a ProjectionExpression.
fn select_projection(item: &Item, paths: &[Path]) -> Item {
    let mut out = Item::new();
    let mut rest = Vec::new();
    for p in paths {
        match p.0.as_slice() {
            [_, .., PathStep::Attr(last)] => {
                if let Some(v) = eval::resolve(item, p) {
                    out.insert(last.clone(), v.clone());
                }
            }
            _ => rest.push(p.clone()),
        }
    }
    out.extend(eval::project(item, &rest));
    out
}

/// The storage key a write statement's WHERE clause pins (it must name every key attribute).
fn pinned_key(t: &TableInfo, filter: &Cond) -> Result<(Vec<u8>, Item), DynamoDbError> {
    let mut eq = BTreeMap::new();
    partiql::equalities(filter, &mut eq);
    let key_item: Item = t
        .schema
        .names()
        .filter_map(|n| eq.get(n).map(|v| (n.to_string(), v.clone())))
        .collect();
    if key_item.len() != t.schema.names().count() {
        return Err(DynamoDbError::Validation(
            "Where clause does not contain a mandatory equality on all key attributes".into(),
        ));
    }
    Ok((items::request_key(&t.schema, &key_item)?, key_item))
}

#[derive(Serialize, Default)]
pub struct StatementReply {
    #[serde(rename = "Items")]
    items: Vec<Item>,
    #[serde(rename = "NextToken", skip_serializing_if = "Option::is_none")]
    next_token: Option<String>,
    #[serde(rename = "LastEvaluatedKey", skip_serializing_if = "Option::is_none")]
    last_evaluated_key: Option<Item>,
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<ConsumedCapacity>,
    /// What the read cost, where it was charged (the table's name, its index): for batches and
    /// transactions, which report capacity for all their statements.
    #[serde(skip)]
    charged: (String, Option<(String, bool)>, usize),
}

/// Where a SELECT runs: alone (a page of what may be a longer answer), in a batch or in a
/// transaction (the last two name one item).
#[derive(Clone, Copy)]
enum SelectUse<'a> {
    Statement {
        limit: Option<usize>,
        next: Option<&'a str>,
        consistent: bool,
        capacity: Option<&'a str>,
    },
    Batch {
        consistent: bool,
    },
    Transaction,
}

/// Whether `c` holds an equality or IN on `name` that every way of satisfying it goes through
/// (an OR needs one on both sides): what ORDER BY needs of the partition key.
fn pins(c: &Cond, name: &str) -> bool {
    let is_name = |o: &Operand| key_attr(o) == Some(name);
    match c {
        Cond::And(a, b) => pins(a, name) || pins(b, name),
        Cond::Or(a, b) => pins(a, name) && pins(b, name),
        Cond::Cmp(l, CmpOp::Eq, r) => {
            (is_name(l) && matches!(r, Operand::Value(_))) || (is_name(r) && matches!(l, Operand::Value(_)))
        }
        Cond::In(l, list) => is_name(l) && list.iter().all(|o| matches!(o, Operand::Value(_))),
        _ => false,
    }
}

/// Whether `c` is exactly equalities on the attributes `keys` (joined by AND), and nothing else.
fn only_key_equalities(c: &Cond, keys: &[&str]) -> bool {
    match c {
        Cond::And(a, b) => only_key_equalities(a, keys) && only_key_equalities(b, keys),
        Cond::Cmp(a @ Operand::Path(_), CmpOp::Eq, Operand::Value(_))
        | Cond::Cmp(Operand::Value(_), CmpOp::Eq, a @ Operand::Path(_)) => {
            key_attr(a).is_some_and(|a| keys.contains(&a))
        }
        _ => false,
    }
}

/// A batched SELECT reads one item of a table, named by its whole primary key (never an
/// index); DynamoDB refuses anything else before the statement runs.
const BATCH_SELECT_KEY: &str =
    "Select statements within BatchExecuteStatement must specify the primary key in the where clause.";

/// Checks that a batched or transactional SELECT names exactly one item by its whole key.
fn check_single_item(t: &TableInfo, filter: Option<&Cond>, msg: &str) -> Result<(), DynamoDbError> {
    let keys: Vec<&str> = t.schema.names().collect();
    let named = filter.is_some_and(|f| {
        let mut eq = BTreeMap::new();
        partiql::equalities(f, &mut eq);
        only_key_equalities(f, &keys) && keys.iter().all(|k| eq.contains_key(*k))
    });
    if named {
        Ok(())
    } else {
        Err(DynamoDbError::Validation(msg.into()))
    }
}

/// Checks an ORDER BY against the key schema read from; answers whether partitions, and
/// items within each, come in descending order (each key's own direction, as DynamoDB orders
/// the partitions an IN names).
fn ordered_backwards(
    schema: &KeySchema,
    filter: Option<&Cond>,
    order: &[(String, bool)],
) -> Result<(bool, bool), DynamoDbError> {
    if order.is_empty() {
        return Ok((false, false));
    }
    let Some(filter) = filter else {
        return Err(DynamoDbError::Validation(
            "Must have WHERE clause in the statement when using ORDER BY clause.".into(),
        ));
    };
    if let Some((name, _)) = order.iter().find(|(n, _)| !schema.names().any(|k| k == n)) {
        return Err(DynamoDbError::Validation(format!(
            "Variable reference {name} in ORDER BY clause must be part of the primary key"
        )));
    }
    if !pins(filter, &schema.hash.name) {
        return Err(DynamoDbError::Validation(
            "Must have at least one non-optional hash key condition in WHERE clause when using ORDER BY clause."
                .into(),
        ));
    }
    let desc = |name: &str| order.iter().any(|(n, d)| n == name && *d);
    Ok((
        desc(&schema.hash.name),
        schema.range.as_ref().is_some_and(|r| desc(&r.name)),
    ))
}

/// Whether a key range holds `key`.
fn holds((start, end): &(Bound<Vec<u8>>, Bound<Vec<u8>>), key: &[u8]) -> bool {
    let after_start = match start {
        Bound::Included(s) => key >= s.as_slice(),
        Bound::Excluded(s) => key > s.as_slice(),
        Bound::Unbounded => true,
    };
    let before_end = match end {
        Bound::Included(e) => key <= e.as_slice(),
        Bound::Excluded(e) => key < e.as_slice(),
        Bound::Unbounded => true,
    };
    after_start && before_end
}

async fn select(
    db: &DynamoDb,
    cx: &RequestContext,
    st: &Statement,
    used: SelectUse<'_>,
) -> Result<StatementReply, DynamoDbError> {
    let (limit, next, consistent, rcc) = match used {
        SelectUse::Statement {
            limit,
            next,
            consistent,
            capacity,
        } => (limit, next, consistent, capacity),
        SelectUse::Batch { consistent } => (None, None, consistent, None),
        SelectUse::Transaction => (None, None, true, None),
    };
    let Statement::Select {
        table: name,
        index,
        projection,
        filter,
        order,
    } = st
    else {
        unreachable!("a SELECT")
    };
    let t = table_info(db, cx, name).await?;
    match used {
        // (ExecuteTransaction refuses reads of an index before it runs any statement.)
        SelectUse::Transaction => check_single_item(
            &t,
            filter.as_ref(),
            "Select statements within ExecuteTransaction must specify the primary key in the where clause.",
        )?,
        SelectUse::Batch { .. } => {
            if index.is_some() {
                return Err(DynamoDbError::Validation(BATCH_SELECT_KEY.into()));
            }
            check_single_item(&t, filter.as_ref(), BATCH_SELECT_KEY)?
        }
        SelectUse::Statement { .. } => {}
    }
    let index = match index {
        Some(ix) => Some(t.index(ix).ok_or_else(|| {
            DynamoDbError::Validation("The table does not have the specified index".into())
        })?),
        None => None,
    };
    if consistent && index.is_some_and(|i| i.global) {
        return Err(DynamoDbError::Validation(
            "Strongly consistent read is not supported on Global Secondary Indexes".into(),
        ));
    }
    if let Some(ix) = index {
        check_index_reach(&t, ix, projection.as_deref(), filter.as_ref())?;
    }
    let src = Source { table: &t, index };
    let schema = index.map_or(&t.schema, |i| &i.schema);
    let (partitions_backwards, reverse) = ordered_backwards(schema, filter.as_ref(), order)?;
    let mut ranges = filter
        .as_ref()
        .and_then(|f| statement_ranges(schema, f))
        .unwrap_or_else(|| vec![(Bound::Unbounded, Bound::Unbounded)]);
    if partitions_backwards {
        ranges.reverse();
    }
    if let Some(token) = next {
        let raw = base64::engine::general_purpose::STANDARD
            .decode(token)
            .map_err(|_| DynamoDbError::Validation("Invalid NextToken".into()))?;
        let key: Item = serde_json::from_slice(&raw)
            .map_err(|_| DynamoDbError::Validation("Invalid NextToken".into()))?;
        let pos = src.position(&key)?;
        // Go on in the range holding the position, after it; the ranges before are done.
        if let Some(i) = ranges.iter().position(|r| holds(r, &pos)) {
            ranges.drain(..i);
        }
        if let Some((start, end)) = ranges.first_mut() {
            if reverse {
                *end = tighter_end(std::mem::replace(end, Bound::Unbounded), Bound::Excluded(pos));
            } else {
                *start = tighter_start(std::mem::replace(start, Bound::Unbounded), Bound::Excluded(pos));
            }
        }
    }
    // One partition after the other, until the page is full.
    let mut page = Page {
        items: Vec::new(),
        scanned: 0,
        bytes: 0,
        last: None,
    };
    for (start, end) in ranges {
        let part = read(
            db,
            &src,
            ReadSpec {
                start,
                end,
                reverse,
                limit: limit.map(|l| l - page.scanned),
                filter: filter.as_ref(),
                segment: None,
                fetch: false,
                // The page's megabyte is shared by the partitions read into it.
                max_bytes: PAGE_BYTES.saturating_sub(page.bytes).max(1),
            },
        )
        .await?;
        page.items.extend(part.items);
        page.scanned += part.scanned;
        page.bytes += part.bytes;
        if part.last.is_some() {
            page.last = part.last;
            break;
        }
    }
    let next_token = page
        .last
        .as_ref()
        .map(|k| base64::engine::general_purpose::STANDARD.encode(serde_json::to_vec(k).unwrap_or_default()));
    let units = items::read_units(page.bytes, consistent);
    let items = page
        .items
        .into_iter()
        .map(|i| {
            Ok(match projection {
                Some(p) => select_projection(&i.into_item()?, p),
                None => i.into_item()?,
            })
        })
        .collect::<Result<_, DynamoDbError>>()?;
    // A read of an index is charged to the index, as Query charges it.
    let consumed_capacity = match index {
        Some(ix) => consumed(rcc, &t.name, 0.0, &[(ix.name.clone(), ix.global, units)], true),
        None => consumed(rcc, &t.name, units, &[], true),
    };
    Ok(StatementReply {
        items,
        next_token,
        last_evaluated_key: page.last,
        consumed_capacity,
        charged: (
            t.name.clone(),
            index.map(|i| (i.name.clone(), i.global)),
            page.bytes,
        ),
    })
}

/// Runs one write statement; returns the item RETURNING asks for and, when `capacity` asks,
/// the capacity consumed.
async fn write_statement(
    db: &DynamoDb,
    cx: &RequestContext,
    st: Statement,
    return_old_on_failure: bool,
    capacity: Option<&str>,
) -> Result<(Option<Item>, Option<ConsumedCapacity>), DynamoDbError> {
    let t = table_info(db, cx, st.table()).await?;
    let fail = |old: Option<&Item>| DynamoDbError::ConditionalCheckFailed {
        item: return_old_on_failure.then(|| old.cloned()).flatten(),
    };
    // As for PutItem, UpdateItem and DeleteItem: the larger of the two versions, plus indexes.
    let capacity_of = |key: &[u8], old: Option<&Item>, new: Option<&Item>| {
        capacity.filter(|m| *m != "NONE").and_then(|_| {
            let size = |i: Option<&Item>| i.map_or(0, stratus_dynamodb_expr::value::item_size);
            let indexes = index_write_units(&t, key, old, new);
            consumed(
                capacity,
                &t.name,
                items::write_units(size(old).max(size(new))),
                &indexes,
                false,
            )
        })
    };
    match st {
        Statement::Insert { item, .. } => {
            items::check_limits(&item)?;
            let key = items::item_key(&t.schema, &item)?;
            for index in &t.indexes {
                items::index_key(&t, index, &item, &key)?;
            }
            write(db, &t, &key, |old| {
                if old.is_some() {
                    Err(DynamoDbError::DuplicateItem)
                } else {
                    Ok(Some(item.clone()))
                }
            })
            .await?;
            Ok((None, capacity_of(&key, None, Some(&item))))
        }
        Statement::Update {
            update,
            filter,
            returning,
            ..
        } => {
            let (key, _) = pinned_key(&t, &filter)?;
            keys_untouched(&t, &update)?;
            let (old, new) = write(db, &t, &key, |old| {
                let Some(current) = old else {
                    return Err(fail(None));
                };
                if !eval::eval(&filter, current) {
                    return Err(fail(Some(current)));
                }
                let mut item = current.clone();
                eval::apply(&mut item, &update).map_err(|e| DynamoDbError::Validation(e.to_string()))?;
                items::check_updated_limits(&item, &t.schema, &update)?;
                Ok(Some(item))
            })
            .await?;
            let used = capacity_of(&key, old.as_ref(), new.as_ref());
            let paths = updated_paths(&update);
            let modified = |i: Option<Item>| {
                i.map(|i| eval::project(&i, &paths))
                    .filter(|i: &Item| !i.is_empty())
            };
            let returned = match returning {
                Some(Returning::AllOld) => old,
                Some(Returning::AllNew) => new,
                Some(Returning::ModifiedOld) => modified(old),
                Some(Returning::ModifiedNew) => modified(new),
                None => None,
            };
            Ok((returned, used))
        }
        Statement::Delete {
            filter, returning, ..
        } => {
            let (key, _) = pinned_key(&t, &filter)?;
            let (old, _) = write(db, &t, &key, |old| match old {
                // Deleting what is not there changes nothing.
                None => Ok(None),
                Some(current) if !eval::eval(&filter, current) => Err(fail(Some(current))),
                Some(_) => Ok(None),
            })
            .await?;
            let used = capacity_of(&key, old.as_ref(), None);
            Ok((old.filter(|_| returning == Some(Returning::AllOld)), used))
        }
        Statement::Exists { .. } => Err(exists_outside_transaction()),
        Statement::Select { .. } => unreachable!("reads are handled by select"),
    }
}

fn exists_outside_transaction() -> DynamoDbError {
    DynamoDbError::Validation("EXISTS is only supported within ExecuteTransaction".into())
}

pub async fn execute_statement(
    db: &DynamoDb,
    cx: &RequestContext,
    input: ExecuteStatementInput,
) -> Result<StatementReply, DynamoDbError> {
    let st = parse(input.statement.as_deref(), input.parameters.as_ref())?;
    if st.is_read() {
        let used = SelectUse::Statement {
            limit: input.limit.map(|l| l as usize),
            next: input.next_token.as_deref(),
            consistent: input.consistent_read.unwrap_or(false),
            capacity: input.return_consumed_capacity.as_deref(),
        };
        return select(db, cx, &st, used).await;
    }
    let on_failure = input.return_values_on_condition_check_failure.as_deref() == Some("ALL_OLD");
    let capacity = input.return_consumed_capacity.as_deref();
    let (item, consumed_capacity) = write_statement(db, cx, st, on_failure, capacity).await?;
    Ok(StatementReply {
        items: item.into_iter().collect(),
        consumed_capacity,
        ..Default::default()
    })
}

#[derive(Serialize)]
pub struct BatchStatementReply {
    #[serde(rename = "Responses")]
    responses: Vec<serde_json::Value>,
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

pub async fn batch_execute_statement(
    db: &DynamoDb,
    cx: &RequestContext,
    input: BatchExecuteStatementInput,
) -> Result<BatchStatementReply, DynamoDbError> {
    let list = input.statements.unwrap_or_default();
    if list.len() > 25 {
        return Err(DynamoDbError::Validation(
            "1 validation error detected: Value at 'statements' failed to satisfy constraint: Member must have length less than or equal to 25".into(),
        ));
    }
    // A statement that does not parse fails on its own, as any other refusal of one statement.
    let parsed: Vec<Result<Statement, DynamoDbError>> = list
        .iter()
        .map(|r| parse(r.statement.as_deref(), r.parameters.as_ref()))
        .collect();
    let reads = parsed.iter().flatten().filter(|s| s.is_read()).count();
    if reads != 0 && reads != parsed.iter().flatten().count() {
        return Err(DynamoDbError::Validation(
            "Read and write requests together in the same batch is not supported".into(),
        ));
    }
    // Two statements on one item refuse the whole batch, before any runs.
    let mut keys = std::collections::HashSet::new();
    for st in parsed.iter().flatten() {
        let Ok(t) = table_info(db, cx, st.table()).await else {
            continue;
        };
        let key = match st {
            Statement::Insert { item, .. } => items::item_key(&t.schema, item).ok(),
            Statement::Update { filter, .. } | Statement::Delete { filter, .. } => {
                pinned_key(&t, filter).ok().map(|(k, _)| k)
            }
            Statement::Select {
                filter: Some(filter),
                index: None,
                ..
            } => pinned_key(&t, filter).ok().map(|(k, _)| k),
            _ => None,
        };
        if let Some(key) = key
            && !keys.insert((t.id.clone(), key))
        {
            return Err(DynamoDbError::Validation(
                "Provided list of item keys contains duplicates".into(),
            ));
        }
    }
    let mut responses = Vec::new();
    let mut units: BTreeMap<String, TableUnits> = BTreeMap::new();
    for (st, req) in parsed.into_iter().zip(&list) {
        let st = match st {
            Ok(st) => st,
            Err(e) => {
                let err = serde_json::json!({ "Code": "ValidationError", "Message": e.to_string() });
                responses.push(serde_json::json!({ "Error": err }));
                continue;
            }
        };
        let table_name = st.table().to_string();
        let result = if st.is_read() {
            // A batched read names one item: the first match, charged as GetItem charges it.
            let consistent = req.consistent_read.unwrap_or(false);
            select(db, cx, &st, SelectUse::Batch { consistent })
                .await
                .map(|r| {
                    let (table, _, bytes) = &r.charged;
                    let used = units.entry(table.clone()).or_default();
                    used.add(items::read_units(*bytes, consistent), Vec::new());
                    r.items.into_iter().next()
                })
        } else {
            // A batch member's ReturnValuesOnConditionCheckFailure has no effect: DynamoDB
            // answers a failed condition without the item whatever it is set to.
            write_statement(db, cx, st, false, Some("INDEXES"))
                .await
                .map(|(item, used)| {
                    if let Some(c) = used {
                        units.entry(table_name.clone()).or_default().add(
                            c.table.as_ref().and_then(|t| t.capacity_units).unwrap_or(0.0),
                            index_arms(&c),
                        );
                    }
                    item
                })
        };
        responses.push(match result {
            Ok(item) => {
                let mut v = serde_json::json!({ "TableName": table_name });
                if let Some(i) = item {
                    v["Item"] = serde_json::to_value(i).unwrap_or_default();
                }
                v
            }
            Err(e) => {
                let code = match &e {
                    DynamoDbError::ConditionalCheckFailed { .. } => "ConditionalCheckFailed",
                    DynamoDbError::DuplicateItem => "DuplicateItem",
                    DynamoDbError::ResourceNotFound(_) => "ResourceNotFound",
                    DynamoDbError::Validation(_) => "ValidationError",
                    _ => "InternalServerError",
                };
                let message = e.to_string();
                let err = serde_json::json!({ "Code": code, "Message": message });
                // A member refused before it ran names no table.
                if message == BATCH_SELECT_KEY {
                    serde_json::json!({ "Error": err })
                } else {
                    serde_json::json!({ "TableName": table_name, "Error": err })
                }
            }
        });
    }
    Ok(BatchStatementReply {
        responses,
        // A batch of which nothing succeeded reports no capacity at all.
        consumed_capacity: consumed_per_table(input.return_consumed_capacity.as_deref(), &units, None)
            .filter(|c| !c.is_empty()),
    })
}

/// The index arms of a write's `ConsumedCapacity` (as asked for with INDEXES).
fn index_arms(c: &ConsumedCapacity) -> Vec<(String, bool, f64)> {
    let arms = |m: &Option<HashMap<String, Capacity>>, global: bool| -> Vec<(String, bool, f64)> {
        m.iter()
            .flatten()
            .map(|(n, a)| (n.clone(), global, a.capacity_units.unwrap_or(0.0)))
            .collect()
    };
    let mut out = arms(&c.global_secondary_indexes, true);
    out.extend(arms(&c.local_secondary_indexes, false));
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

#[derive(Serialize)]
pub struct TransactionReply {
    #[serde(rename = "Responses")]
    responses: Vec<serde_json::Value>,
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

pub async fn execute_transaction(
    db: &DynamoDb,
    cx: &RequestContext,
    input: ExecuteTransactionInput,
) -> Result<TransactionReply, DynamoDbError> {
    let list = input.transact_statements.clone().unwrap_or_default();
    let parsed = parse_all(
        list.iter()
            .map(|r| (r.statement.as_deref(), r.parameters.as_ref())),
        100,
        "transactStatements",
    )?;
    // DynamoDB names the statement these refusals are about.
    let placed = |i: usize, m: &str| {
        DynamoDbError::Validation(format!("Validation failed in TransactStatements[{i}]: {m}"))
    };
    for (i, st) in parsed.iter().enumerate() {
        let returning = matches!(
            st,
            Statement::Update {
                returning: Some(_),
                ..
            } | Statement::Delete {
                returning: Some(_),
                ..
            }
        );
        if returning {
            return Err(placed(
                i,
                "RETURNING clause is not supported in ExecuteTransaction.",
            ));
        }
        if let Statement::Select { index: Some(_), .. } = st {
            return Err(placed(
                i,
                "Reads on indices are not supported within transactions.",
            ));
        }
    }
    let reads = parsed.iter().filter(|s| s.is_read()).count();
    if reads > 0 {
        let mut responses = Vec::new();
        let mut units: BTreeMap<String, TableUnits> = BTreeMap::new();
        for st in &parsed {
            let r = select(db, cx, st, SelectUse::Transaction).await?;
            // As TransactGetItems: twice a consistent read of each item, found or not.
            let (table, _, bytes) = &r.charged;
            let used = units.entry(table.clone()).or_default();
            used.add(2.0 * items::read_units(*bytes, true), Vec::new());
            responses.push(match r.items.into_iter().next() {
                Some(i) => serde_json::json!({ "Item": i }),
                None => serde_json::json!({}),
            });
        }
        return Ok(TransactionReply {
            responses,
            consumed_capacity: consumed_per_table(
                input.return_consumed_capacity.as_deref(),
                &units,
                Some(Axis::Read),
            ),
        });
    }
    let mut steps = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (st, req) in parsed.into_iter().zip(&list) {
        let t = table_info(db, cx, st.table()).await?;
        let return_old_on_failure =
            req.return_values_on_condition_check_failure.as_deref() == Some("ALL_OLD");
        let step = match st {
            Statement::Insert { item, .. } => {
                items::check_limits(&item)?;
                let key = items::item_key(&t.schema, &item)?;
                let hash = Path(vec![PathStep::Attr(t.schema.hash.name.clone())]);
                Step {
                    key_item: t.schema.key_of(&item),
                    key,
                    condition: Some(Cond::NotExists(hash)),
                    action: Action::Put(item),
                    table: t,
                    return_old_on_failure,
                }
            }
            Statement::Update { update, filter, .. } => {
                let (key, key_item) = pinned_key(&t, &filter)?;
                Step {
                    key,
                    key_item,
                    condition: Some(filter),
                    action: Action::Update(update),
                    table: t,
                    return_old_on_failure,
                }
            }
            Statement::Delete { filter, .. } => {
                let (key, key_item) = pinned_key(&t, &filter)?;
                Step {
                    key,
                    key_item,
                    condition: Some(filter),
                    action: Action::Delete,
                    table: t,
                    return_old_on_failure,
                }
            }
            Statement::Exists { index, filter, .. } => {
                if index.is_some() {
                    return Err(DynamoDbError::Validation(
                        "Operations on indices are not supported in transactions".into(),
                    ));
                }
                let keys: Vec<&str> = t.schema.names().collect();
                let filter = filter.filter(|f| !only_key_equalities(f, &keys)).ok_or_else(|| {
                    DynamoDbError::Validation(
                        "EXISTS() must contain a single item read with additional condition".into(),
                    )
                })?;
                let (key, key_item) = pinned_key(&t, &filter)?;
                Step {
                    key,
                    key_item,
                    condition: Some(filter),
                    action: Action::Check,
                    table: t,
                    return_old_on_failure,
                }
            }
            Statement::Select { .. } => unreachable!("reads handled above"),
        };
        if !seen.insert((step.table.id.clone(), step.key.clone())) {
            return Err(DynamoDbError::Validation(
                "Transaction request cannot include multiple operations on one item".into(),
            ));
        }
        steps.push(step);
    }
    let n = steps.len();
    let fingerprint = request_fingerprint("partiql", &input.transact_statements);
    let reply = run_transaction(
        db,
        cx,
        steps,
        input.client_request_token.as_deref(),
        &fingerprint,
        input.return_consumed_capacity.as_deref(),
    )
    .await?;
    Ok(TransactionReply {
        responses: vec![serde_json::json!({}); n],
        consumed_capacity: reply.consumed_capacity,
    })
}
