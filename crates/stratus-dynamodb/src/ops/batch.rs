//! BatchGetItem, BatchWriteItem, TransactGetItems and TransactWriteItems.
//!
//! A batch write is one store transaction (every item staged with a precondition on what was
//! read), so all its items share one commit; a transaction adds its conditions, all-or-nothing,
//! and its idempotency token to the same commit.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use stratus_core::RequestContext;
use stratus_dynamodb_expr::Item;
use stratus_dynamodb_expr::eval;
use stratus_dynamodb_expr::expr::{Cond, Kind};
use stratus_store::{StoreError, Txn};

use super::answer::{EncodeJson, JsonObject, ReadItem};
use super::common::{Axis, Exprs, TableUnits, consumed, consumed_per_table, legacy_projection, with_axis};
use super::items::index_write_units;
use super::{table_info, table_info_at};
use crate::generated::{
    BatchGetItemInput, BatchWriteItemInput, ConsumedCapacity, TransactGetItemsInput, TransactWriteItemsInput,
};
use crate::items::{self, TableInfo};
use crate::{DynamoDb, DynamoDbError};
use stratus_protocol::validate::Path;

const MAX_BATCH_WRITE: usize = 25;
const MAX_BATCH_GET: usize = 100;
const MAX_TRANSACT: usize = 100;
/// Aggregate size of a transaction's actions.
const MAX_TRANSACT_BYTES: usize = 4 * 1024 * 1024;
/// A BatchGetItem answer stops growing here; the rest comes back as UnprocessedKeys.
const MAX_BATCH_GET_BYTES: usize = 16 * 1024 * 1024;
/// How long a ClientRequestToken makes TransactWriteItems idempotent.
const TOKEN_TTL_MS: i64 = 10 * 60 * 1000;
const TOKENS: &str = "dynamodb:tokens";

#[derive(Serialize, Default)]
pub struct BatchWriteReply {
    #[serde(rename = "UnprocessedItems")]
    unprocessed_items: BTreeMap<String, Vec<serde_json::Value>>,
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

pub async fn batch_write_item(
    db: &DynamoDb,
    cx: &RequestContext,
    input: BatchWriteItemInput,
) -> Result<BatchWriteReply, DynamoDbError> {
    let requests = input.request_items.unwrap_or_default();
    let total: usize = requests.values().map(Vec::len).sum();
    if total > MAX_BATCH_WRITE {
        return Err(DynamoDbError::Validation(format!(
            "1 validation error detected: Value '{{...}}' at 'requestItems' failed to satisfy constraint: Member must have length less than or equal to {MAX_BATCH_WRITE}"
        )));
    }
    if total == 0 {
        return Err(DynamoDbError::Validation("1 validation error detected: Value '{}' at 'requestItems' failed to satisfy constraint: Member must have length greater than or equal to 1".into()));
    }
    // (table, key, new item or None for a delete)
    let mut writes: Vec<(Arc<TableInfo>, Vec<u8>, Option<Item>)> = Vec::new();
    let mut names: Vec<&String> = requests.keys().collect();
    names.sort();
    for name in names {
        let t = table_info(db, cx, name).await?;
        let mut seen = HashSet::new();
        for req in &requests[name] {
            let (key, item) = match (&req.put_request, &req.delete_request) {
                (Some(p), None) => {
                    let item = items::from_wire(p.item.as_ref().unwrap_or(&Default::default()))?;
                    items::check_limits(&item)?;
                    if items::key_type_differs(&t.schema, &item) {
                        return Err(DynamoDbError::Validation(items::KEY_MISMATCH.into()));
                    }
                    let key = items::item_key(&t.schema, &item)?;
                    for index in &t.indexes {
                        items::index_key(&t, index, &item, &key)?;
                    }
                    (key, Some(item))
                }
                (None, Some(d)) => {
                    let key_item = items::from_wire(d.key.as_ref().unwrap_or(&Default::default()))?;
                    (items::request_key(&t.schema, &key_item)?, None)
                }
                _ => {
                    return Err(DynamoDbError::Validation(
                        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes".into(),
                    ));
                }
            };
            if !seen.insert(key.clone()) {
                return Err(DynamoDbError::Validation(
                    "Provided list of item keys contains duplicates".into(),
                ));
            }
            writes.push((t.clone(), key, item));
        }
    }
    let wants_capacity = input
        .return_consumed_capacity
        .as_deref()
        .is_some_and(|m| m != "NONE");
    if !wants_capacity && writes.iter().all(|(t, _, _)| t.indexes.is_empty()) {
        // No index to maintain and no old item to report: blind writes, one commit.
        let txn = writes.iter().fold(Txn::new(), |txn, (t, key, new)| match new {
            Some(item) => txn.put(t.ns(), key.clone(), items::encode_item(item)),
            None => txn.delete(t.ns(), key.clone()),
        });
        db.commit_items(txn).await?;
        return Ok(BatchWriteReply::default());
    }
    let mut units: BTreeMap<String, TableUnits> = BTreeMap::new();
    loop {
        let mut txn = Txn::new();
        units.clear();
        for (t, key, new) in &writes {
            let current = items::load(&db.store, t, key).await?;
            if wants_capacity {
                let old = current.as_ref().map(|(i, _)| i);
                let size = |i: Option<&Item>| i.map_or(0, stratus_dynamodb_expr::value::item_size);
                units.entry(t.name.clone()).or_default().add(
                    items::write_units(size(old).max(size(new.as_ref()))),
                    index_write_units(t, key, old, new.as_ref()),
                );
            }
            if current.is_none() && new.is_none() {
                continue;
            }
            txn = items::stage_write(
                txn,
                t,
                key,
                current.as_ref().map(|(i, r)| (i, r.as_slice())),
                new.as_ref(),
            )?;
        }
        match db.commit_items(txn).await {
            Ok(()) => break,
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    let consumed_capacity = consumed_per_table(input.return_consumed_capacity.as_deref(), &units, None);
    Ok(BatchWriteReply {
        unprocessed_items: BTreeMap::new(),
        consumed_capacity,
    })
}

/// The answer of BatchGetItem.
#[derive(Default)]
pub struct BatchGetReply {
    responses: BTreeMap<String, Vec<ReadItem>>,
    unprocessed_keys: BTreeMap<String, serde_json::Value>,
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

impl EncodeJson for BatchGetReply {
    fn to_json(&self) -> Vec<u8> {
        let mut o = JsonObject::new(self.responses.values().flatten());
        o.object("Responses", |r| {
            for (table, items) in &self.responses {
                r.items(table, items);
            }
        });
        o.member("UnprocessedKeys", &self.unprocessed_keys);
        if let Some(capacity) = &self.consumed_capacity {
            o.member("ConsumedCapacity", capacity);
        }
        o.finish()
    }
}

pub async fn batch_get_item(
    db: &DynamoDb,
    cx: &RequestContext,
    input: BatchGetItemInput,
) -> Result<BatchGetReply, DynamoDbError> {
    let requests = input.request_items.unwrap_or_default();
    let total: usize = requests
        .values()
        .map(|k| k.keys.as_ref().map_or(0, Vec::len))
        .sum();
    if total > MAX_BATCH_GET {
        return Err(DynamoDbError::Validation(
            "Too many items requested for the BatchGetItem call".into(),
        ));
    }
    // Expressions and the legacy AttributesToGet do not mix, even across tables.
    super::common::no_mixing(
        &[(
            "AttributesToGet",
            requests.values().any(|r| r.attributes_to_get.is_some()),
        )],
        &[(
            "ProjectionExpression",
            requests.values().any(|r| r.projection_expression.is_some()),
        )],
    )?;
    let mut reply = BatchGetReply::default();
    let mut bytes = 0usize;
    let mut names: Vec<&String> = requests.keys().collect();
    names.sort();
    let mut units: BTreeMap<String, f64> = BTreeMap::new();
    for name in names {
        let req = &requests[name];
        let t = table_info(db, cx, name).await?;
        let mut exprs = Exprs::new(req.expression_attribute_names.as_ref(), None)?;
        let projection = legacy_projection(
            exprs
                .parse(None, None, req.projection_expression.as_deref(), None)?
                .projection,
            req.attributes_to_get.as_deref(),
        )?;
        let consistent = req.consistent_read.unwrap_or(false);
        let mut seen = HashSet::new();
        let mut found = Vec::new();
        let mut unprocessed = Vec::new();
        for key_wire in req.keys.iter().flatten() {
            let key_item = items::from_wire(key_wire)?;
            let key = items::request_key(&t.schema, &key_item)?;
            if !seen.insert(key.clone()) {
                return Err(DynamoDbError::Validation(
                    "Provided list of item keys contains duplicates".into(),
                ));
            }
            if bytes > MAX_BATCH_GET_BYTES {
                unprocessed.push(serde_json::to_value(&key_item).unwrap_or_default());
                continue;
            }
            if let Some(stored) = items::load_stored(&db.store, &t, &key).await? {
                let size = stored.size();
                bytes += size;
                *units.entry(t.name.clone()).or_default() += items::read_units(size, consistent);
                found.push(match &projection {
                    Some(p) => ReadItem::Decoded(eval::project(&stored.decode()?, p)),
                    None => ReadItem::Stored(stored),
                });
            } else {
                *units.entry(t.name.clone()).or_default() += items::read_units(0, consistent);
            }
        }
        reply.responses.insert(t.name.clone(), found);
        if !unprocessed.is_empty() {
            let mut ka = serde_json::to_value(req).unwrap_or_default();
            ka["Keys"] = serde_json::Value::Array(unprocessed);
            reply.unprocessed_keys.insert(t.name.clone(), ka);
        }
    }
    let rcc = input.return_consumed_capacity.as_deref();
    reply.consumed_capacity = rcc.filter(|m| *m != "NONE").map(|_| {
        units
            .iter()
            .filter_map(|(t, u)| consumed(rcc, t, *u, &[], true))
            .collect()
    });
    Ok(reply)
}

#[derive(Serialize, Default)]
pub struct TransactGetReply {
    #[serde(rename = "Responses")]
    responses: Vec<BTreeMap<&'static str, Item>>,
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

pub async fn transact_get_items(
    db: &DynamoDb,
    cx: &RequestContext,
    input: TransactGetItemsInput,
) -> Result<TransactGetReply, DynamoDbError> {
    let list = input.transact_items.unwrap_or_default();
    if list.len() > MAX_TRANSACT {
        return Err(DynamoDbError::Validation(format!(
            "1 validation error detected: Value '[...]' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to {MAX_TRANSACT}"
        )));
    }
    let mut gets = Vec::new();
    let mut misfits = Vec::new();
    for (i, g) in list.iter().enumerate() {
        let Some(get) = &g.get else {
            return Err(DynamoDbError::Validation(
                "TransactItems can only contain Get".into(),
            ));
        };
        let root = Path::Root;
        let items_at = root.field("TransactItems");
        let item_at = items_at.index(i);
        let get_at = item_at.field("Get");
        let t = table_info_at(
            db,
            cx,
            get.table_name.as_deref().unwrap_or_default(),
            &get_at.field("TableName"),
        )
        .await?;
        let key = match items::request_key(
            &t.schema,
            &items::from_wire(get.key.as_ref().unwrap_or(&Default::default()))?,
        ) {
            Ok(key) => key,
            // A key that does not fit the schema cancels the read, in its place.
            Err(DynamoDbError::Validation(m)) if m == items::KEY_MISMATCH => {
                misfits.push(i);
                continue;
            }
            Err(e) => return Err(e),
        };
        if gets
            .iter()
            .any(|(other, k, _): &(Arc<TableInfo>, _, _)| other.id == t.id && *k == key)
        {
            return Err(DynamoDbError::Validation(
                "Transaction request cannot include multiple operations on one item".into(),
            ));
        }
        let mut exprs = Exprs::new(get.expression_attribute_names.as_ref(), None)?;
        let projection = exprs
            .parse(None, None, get.projection_expression.as_deref(), None)?
            .projection;
        gets.push((t, key, projection));
    }
    if !misfits.is_empty() {
        let (codes, reasons) = (0..list.len())
            .map(|i| match misfits.contains(&i) {
                true => (
                    "ValidationError".to_string(),
                    serde_json::json!({ "Code": "ValidationError", "Message": items::KEY_MISMATCH }),
                ),
                false => ("None".to_string(), serde_json::json!({ "Code": "None" })),
            })
            .unzip();
        return Err(DynamoDbError::TransactionCanceled { codes, reasons });
    }
    // Read everything, then confirm in one (write-free) transaction that nothing changed in
    // between: the answer is one consistent snapshot.
    loop {
        let mut txn = Txn::new();
        let mut found = Vec::new();
        for (t, key, _) in &gets {
            let current = items::load(&db.store, t, key).await?;
            txn = match &current {
                Some((_, raw)) => txn.equals(t.ns(), key.clone(), raw.clone()),
                None => txn.absent(t.ns(), key.clone()),
            };
            found.push(current.map(|(i, _)| i));
        }
        match db.store.commit(txn).await {
            Ok(()) => {
                let mut units: BTreeMap<String, f64> = BTreeMap::new();
                let responses = found
                    .into_iter()
                    .zip(&gets)
                    .map(|(item, (t, _, p))| {
                        let size = item.as_ref().map_or(0, stratus_dynamodb_expr::value::item_size);
                        *units.entry(t.name.clone()).or_default() += 2.0 * items::read_units(size, true);
                        let mut m = BTreeMap::new();
                        if let Some(i) = item {
                            m.insert(
                                "Item",
                                match p {
                                    Some(p) => eval::project(&i, p),
                                    None => i,
                                },
                            );
                        }
                        m
                    })
                    .collect();
                let rcc = input.return_consumed_capacity.as_deref();
                let consumed_capacity = rcc.filter(|m| *m != "NONE").map(|_| {
                    units
                        .iter()
                        .filter_map(|(t, u)| consumed(rcc, t, *u, &[], true))
                        .map(|c| with_axis(c, Axis::Read))
                        .collect()
                });
                return Ok(TransactGetReply {
                    responses,
                    consumed_capacity,
                });
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

pub(crate) enum Action {
    Check,
    Put(Item),
    Delete,
    Update(stratus_dynamodb_expr::expr::Update),
    /// A key whose types do not fit the table's: the transaction cancels with this
    /// ValidationError reason, as DynamoDB's storage tier does.
    Reject(String),
}

pub(crate) struct Step {
    pub table: Arc<TableInfo>,
    pub key: Vec<u8>,
    pub key_item: Item,
    pub condition: Option<Cond>,
    pub action: Action,
    pub return_old_on_failure: bool,
}

#[derive(Serialize, Default)]
pub struct TransactWriteReply {
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    pub(crate) consumed_capacity: Option<Vec<ConsumedCapacity>>,
}

/// What makes two transaction requests "the same" for a ClientRequestToken. Through a JSON
/// value: object keys come out sorted, whatever the maps' iteration order.
pub(crate) fn request_fingerprint(kind: &str, body: &impl Serialize) -> String {
    let canonical = serde_json::to_value(body).unwrap_or_default().to_string();
    format!(
        "{kind}-{:016x}",
        stratus_core::ids::stable_hash(canonical.as_bytes())
    )
}

pub async fn transact_write_items(
    db: &DynamoDb,
    cx: &RequestContext,
    input: TransactWriteItemsInput,
) -> Result<TransactWriteReply, DynamoDbError> {
    let list = input.transact_items.clone().unwrap_or_default();
    if list.len() > MAX_TRANSACT {
        return Err(DynamoDbError::Validation(format!(
            "1 validation error detected: Value '[...]' at 'transactItems' failed to satisfy constraint: Member must have length less than or equal to {MAX_TRANSACT}"
        )));
    }
    let size: usize = serde_json::to_vec(&list).map_or(0, |v| v.len());
    if size > MAX_TRANSACT_BYTES {
        return Err(DynamoDbError::Validation(
            "Transaction request size has exceeded the maximum allowed size of 4 MB".into(),
        ));
    }
    let mut steps = Vec::new();
    let mut seen = HashSet::new();
    for (i, w) in list.iter().enumerate() {
        let set = [
            w.condition_check.is_some(),
            w.put.is_some(),
            w.delete.is_some(),
            w.update.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        if set == 0 {
            return Err(DynamoDbError::Validation(
                "1 validation error detected: Value '' at 'transactItems' failed to satisfy constraint: TransactWriteRequest should contain Delete or Put or Update or ConditionCheck".into(),
            ));
        }
        if set != 1 {
            return Err(DynamoDbError::Validation(
                "TransactItems can only contain one of Check, Put, Update or Delete".into(),
            ));
        }
        let (table_name, names, values, cond_src, on_failure) = if let Some(c) = &w.condition_check {
            (
                &c.table_name,
                &c.expression_attribute_names,
                &c.expression_attribute_values,
                c.condition_expression.as_deref(),
                &c.return_values_on_condition_check_failure,
            )
        } else if let Some(p) = &w.put {
            (
                &p.table_name,
                &p.expression_attribute_names,
                &p.expression_attribute_values,
                p.condition_expression.as_deref(),
                &p.return_values_on_condition_check_failure,
            )
        } else if let Some(d) = &w.delete {
            (
                &d.table_name,
                &d.expression_attribute_names,
                &d.expression_attribute_values,
                d.condition_expression.as_deref(),
                &d.return_values_on_condition_check_failure,
            )
        } else {
            let u = w.update.as_ref().expect("one action is set");
            (
                &u.table_name,
                &u.expression_attribute_names,
                &u.expression_attribute_values,
                u.condition_expression.as_deref(),
                &u.return_values_on_condition_check_failure,
            )
        };
        let kind = match (&w.condition_check, &w.put, &w.delete) {
            (Some(_), _, _) => "ConditionCheck",
            (_, Some(_), _) => "Put",
            (_, _, Some(_)) => "Delete",
            _ => "Update",
        };
        let root = Path::Root;
        let items_at = root.field("TransactItems");
        let item_at = items_at.index(i);
        let action_at = item_at.field(kind);
        let t = table_info_at(
            db,
            cx,
            table_name.as_deref().unwrap_or_default(),
            &action_at.field("TableName"),
        )
        .await?;
        let mut exprs = Exprs::new(names.as_ref(), values.as_ref())?;
        let update_src = w.update.as_ref().and_then(|u| u.update_expression.as_deref());
        if w.condition_check.is_some() && cond_src.is_none() {
            return Err(DynamoDbError::Validation(
                "The ConditionExpression parameter is required for a ConditionCheck".into(),
            ));
        }
        let parsed = exprs.parse(cond_src.map(|c| (c, Kind::Condition)), update_src, None, None)?;
        let (key, key_item, action) = if let Some(p) = &w.put {
            let item = items::from_wire(p.item.as_ref().unwrap_or(&Default::default()))?;
            items::check_limits(&item)?;
            match items::item_key(&t.schema, &item) {
                Ok(key) => (key, t.schema.key_of(&item), Action::Put(item)),
                Err(e) if items::key_type_differs(&t.schema, &item) => {
                    (Vec::new(), Item::new(), Action::Reject(e.to_string()))
                }
                Err(e) => return Err(e),
            }
        } else {
            let key_wire = w
                .condition_check
                .as_ref()
                .and_then(|c| c.key.as_ref())
                .or(w.delete.as_ref().and_then(|d| d.key.as_ref()))
                .or(w.update.as_ref().and_then(|u| u.key.as_ref()));
            let key_item = items::from_wire(key_wire.unwrap_or(&Default::default()))?;
            let key = match items::request_key(&t.schema, &key_item) {
                Ok(key) => key,
                Err(e @ DynamoDbError::Validation(_)) if e.to_string() == items::KEY_MISMATCH => {
                    steps.push(Step {
                        table: t,
                        key: Vec::new(),
                        key_item: Item::new(),
                        condition: None,
                        action: Action::Reject(e.to_string()),
                        return_old_on_failure: false,
                    });
                    continue;
                }
                Err(e) => return Err(e),
            };
            let action = match (&w.delete, parsed.update) {
                (Some(_), _) => Action::Delete,
                (None, Some(u)) => {
                    super::items::keys_untouched(&t, &u)?;
                    Action::Update(u)
                }
                _ if w.update.is_some() => {
                    return Err(DynamoDbError::Validation(
                        "The UpdateExpression parameter is required for an Update".into(),
                    ));
                }
                _ => Action::Check,
            };
            (key, key_item, action)
        };
        if !matches!(action, Action::Reject(_)) && !seen.insert((t.id.clone(), key.clone())) {
            return Err(DynamoDbError::Validation(
                "Transaction request cannot include multiple operations on one item".into(),
            ));
        }
        steps.push(Step {
            table: t,
            key,
            key_item,
            condition: parsed.condition,
            action,
            return_old_on_failure: on_failure.as_deref() == Some("ALL_OLD"),
        });
    }
    let fingerprint = request_fingerprint("transact", &input.transact_items);
    run_transaction(
        db,
        cx,
        steps,
        input.client_request_token.as_deref(),
        &fingerprint,
        input.return_consumed_capacity.as_deref(),
    )
    .await
}

/// Commits prepared transaction steps all-or-nothing: every condition checked against the
/// items read, every item (and the idempotency token) guarded by a precondition in one commit.
pub(crate) async fn run_transaction(
    db: &DynamoDb,
    cx: &RequestContext,
    steps: Vec<Step>,
    token: Option<&str>,
    fingerprint: &str,
    rcc: Option<&str>,
) -> Result<TransactWriteReply, DynamoDbError> {
    let token_key = token.map(|tok| {
        stratus_store::keys::KeyBuf::new()
            .str(cx.account_id())
            .str(&cx.region)
            .str(tok)
            .finish()
    });
    loop {
        let now = db.clock.now_ms();
        let mut txn = Txn::new();
        if let Some(tk) = &token_key {
            match db.store.get(TOKENS, tk).await? {
                Some(raw) => {
                    let rec: serde_json::Value = serde_json::from_slice(&raw).unwrap_or_default();
                    let fresh = rec["expires_ms"].as_i64().unwrap_or(0) > now;
                    if fresh {
                        if rec["fingerprint"].as_str() == Some(fingerprint) {
                            // A repeat changes nothing; it reports the read units of the items
                            // the first call wrote, as DynamoDB does.
                            let replay: BTreeMap<String, TableUnits> = rec["replay_units"]
                                .as_object()
                                .into_iter()
                                .flatten()
                                .map(|(t, u)| {
                                    let units = TableUnits {
                                        table: u.as_f64().unwrap_or(0.0),
                                        indexes: Vec::new(),
                                    };
                                    (t.clone(), units)
                                })
                                .collect();
                            return Ok(TransactWriteReply {
                                consumed_capacity: consumed_per_table(rcc, &replay, Some(Axis::Read)),
                            });
                        }
                        return Err(DynamoDbError::IdempotentParameterMismatch(
                            "The request uses the same client token as a previous, but non-identical request.".into(),
                        ));
                    }
                    txn = txn.equals(TOKENS, tk.clone(), raw);
                }
                None => txn = txn.absent(TOKENS, tk.clone()),
            }
        }
        let mut reasons = Vec::new();
        let mut codes = Vec::new();
        let mut failed = false;
        let mut units: BTreeMap<String, TableUnits> = BTreeMap::new();
        let mut replay_units: BTreeMap<String, f64> = BTreeMap::new();
        let empty = Item::new();
        for step in &steps {
            if let Action::Reject(message) = &step.action {
                failed = true;
                codes.push("ValidationError".into());
                reasons.push(serde_json::json!({ "Code": "ValidationError", "Message": message }));
                continue;
            }
            let current = items::load(&db.store, &step.table, &step.key).await?;
            let old = current.as_ref().map(|(i, _)| i);
            let ok = step
                .condition
                .as_ref()
                .is_none_or(|c| eval::eval(c, old.unwrap_or(&empty)));
            if !ok {
                failed = true;
                codes.push("ConditionalCheckFailed".to_string());
                let mut r = serde_json::json!({ "Code": "ConditionalCheckFailed", "Message": "The conditional request failed" });
                if let (true, Some(i)) = (step.return_old_on_failure, old) {
                    r["Item"] = serde_json::to_value(i).unwrap_or_default();
                }
                reasons.push(r);
                continue;
            }
            let new = match &step.action {
                Action::Check | Action::Reject(_) => None,
                Action::Put(i) => Some(i.clone()),
                Action::Delete => None,
                Action::Update(u) => {
                    let mut item = old.cloned().unwrap_or_else(|| step.key_item.clone());
                    match eval::apply(&mut item, u)
                        .map_err(|e| e.to_string())
                        .and_then(|_| {
                            items::check_updated_limits(&item, &step.table.schema, u)
                                .map_err(|e| e.to_string())
                                .map(|_| ())
                        }) {
                        Ok(()) => Some(item),
                        Err(message) => {
                            failed = true;
                            codes.push("ValidationError".into());
                            reasons
                                .push(serde_json::json!({ "Code": "ValidationError", "Message": message }));
                            continue;
                        }
                    }
                }
            };
            if let Some(item) = &new {
                let refused = step
                    .table
                    .indexes
                    .iter()
                    .find_map(|index| items::index_key(&step.table, index, item, &step.key).err());
                match refused {
                    None => {}
                    // An index key of another type cancels, as the table's does.
                    Some(e) if items::index_key_type_differs(&step.table, item) => {
                        failed = true;
                        codes.push("ValidationError".into());
                        reasons
                            .push(serde_json::json!({ "Code": "ValidationError", "Message": e.to_string() }));
                        continue;
                    }
                    Some(_) if matches!(step.action, Action::Update(_)) => {
                        return Err(DynamoDbError::Validation(
                            "One or more parameter values are not valid. The update expression attempted to update a secondary index key to a value that is not supported. The AttributeValue for a key attribute cannot contain an empty string value.".into(),
                        ));
                    }
                    Some(e) => return Err(e),
                }
            }
            codes.push("None".into());
            reasons.push(serde_json::json!({ "Code": "None" }));
            // The table's units are doubled, its indexes' are not.
            let size = old
                .map_or(0, stratus_dynamodb_expr::value::item_size)
                .max(new.as_ref().map_or(0, stratus_dynamodb_expr::value::item_size));
            let indexes = match step.action {
                Action::Check => Vec::new(),
                _ => index_write_units(&step.table, &step.key, old, new.as_ref()),
            };
            units
                .entry(step.table.name.clone())
                .or_default()
                .add(2.0 * items::write_units(size), indexes);
            *replay_units.entry(step.table.name.clone()).or_default() += 2.0 * items::read_units(size, true);
            let raw = current.as_ref().map(|(i, r)| (i, r.as_slice()));
            txn = match (&step.action, raw) {
                (Action::Check, Some((_, r))) => txn.equals(step.table.ns(), step.key.clone(), r.to_vec()),
                (Action::Check, None) => txn.absent(step.table.ns(), step.key.clone()),
                (Action::Delete, None) => txn.absent(step.table.ns(), step.key.clone()),
                _ => items::stage_write(txn, &step.table, &step.key, raw, new.as_ref())?,
            };
        }
        if failed {
            return Err(DynamoDbError::TransactionCanceled { codes, reasons });
        }
        if let Some(tk) = &token_key {
            let rec = serde_json::json!({
                "fingerprint": fingerprint,
                "expires_ms": now + TOKEN_TTL_MS,
                "replay_units": replay_units,
            });
            txn = txn.put(TOKENS, tk.clone(), rec.to_string().into_bytes());
        }
        match db.commit_items(txn).await {
            Ok(()) => {
                return Ok(TransactWriteReply {
                    consumed_capacity: consumed_per_table(rcc, &units, Some(Axis::Write)),
                });
            }
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
