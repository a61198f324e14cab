//! PutItem, GetItem, DeleteItem and UpdateItem.
//!
//! Writes are optimistic: read the current item, evaluate the condition, and commit the new
//! item and its index entries with a precondition that the stored bytes are unchanged; a
//! concurrent writer makes the commit fail and the whole step is retried on fresh data.

use std::collections::{BTreeSet, HashMap};

use stratus_core::RequestContext;
use stratus_dynamodb_expr::Item;
use stratus_dynamodb_expr::eval;
use stratus_dynamodb_expr::expr::{Cond, Kind, Path, Step, Update};
use stratus_dynamodb_expr::value::WireValue;
use stratus_store::{StoreError, Txn};

use super::answer::{EncodeJson, JsonObject, ReadItem};
use super::common::{
    Exprs, ItemReply, collection_metrics, consumed, legacy_expected, legacy_projection, legacy_updates,
    no_mixing,
};
use super::table_info;
use crate::generated::*;
use crate::items::{self, TableInfo};
use crate::{DynamoDb, DynamoDbError};

/// Write units of each index a write changes when `old` becomes `new`, as DynamoDB charges
/// them: an entry added or removed costs its own size; an entry whose index key moves costs the
/// removal and the insertion, each on its own image; an entry updated in place costs once, on
/// the larger image; an index whose entry is unchanged (or that holds neither image) is not
/// charged and not reported.
pub(crate) fn index_write_units(
    table: &TableInfo,
    key: &[u8],
    old: Option<&Item>,
    new: Option<&Item>,
) -> Vec<(String, bool, f64)> {
    let mut out = Vec::new();
    for index in &table.indexes {
        let entry = |i: Option<&Item>| -> Option<(Vec<u8>, Item)> {
            let i = i?;
            let index_key = items::index_key(table, index, i, key).ok().flatten()?;
            Some((index_key, items::project_for_index(table, index, i)))
        };
        let units = |e: &Item| items::write_units(stratus_dynamodb_expr::value::item_size(e));
        let charged = match (entry(old), entry(new)) {
            (None, None) => continue,
            (Some((_, o)), None) => units(&o),
            (None, Some((_, n))) => units(&n),
            (Some((ok, o)), Some((nk, n))) if ok != nk => units(&o) + units(&n),
            (Some((_, o)), Some((_, n))) if o == n => continue,
            (Some((_, o)), Some((_, n))) => units(&o).max(units(&n)),
        };
        out.push((index.name.clone(), index.global, charged));
    }
    out
}

/// The answer of a single-item write: the attributes asked for, consumed capacity (the larger
/// of the old and new item, plus index writes) and item collection metrics.
/// `reports` = (ReturnConsumedCapacity, ReturnItemCollectionMetrics).
fn write_reply(
    table: &TableInfo,
    key: &[u8],
    hash_source: &Item,
    (old, new): (Option<&Item>, Option<&Item>),
    attributes: Option<Item>,
    (rcc, ricm): (Option<&str>, Option<&str>),
) -> ItemReply {
    // Sizes and index units are only worked out when the caller asked for them.
    let consumed_capacity = rcc.filter(|m| *m != "NONE").and_then(|_| {
        let size = |i: Option<&Item>| i.map_or(0, stratus_dynamodb_expr::value::item_size);
        let idx = index_write_units(table, key, old, new);
        consumed(
            rcc,
            &table.name,
            items::write_units(size(old).max(size(new))),
            &idx,
            false,
        )
    });
    ItemReply {
        attributes,
        consumed_capacity,
        item_collection_metrics: collection_metrics(ricm, table, hash_source),
        ..Default::default()
    }
}

/// PutItem's and DeleteItem's ReturnValues (UpdateItem takes the other three too).
fn only_all_old_or_none(rv: Option<&str>) -> Result<(), DynamoDbError> {
    match rv {
        None | Some("NONE" | "ALL_OLD") => Ok(()),
        Some(_) => Err(items::enveloped(DynamoDbError::Validation(
            "ReturnValues can only be ALL_OLD or NONE".into(),
        ))),
    }
}

fn condition_failed(on_failure: Option<&str>, old: Option<&Item>) -> DynamoDbError {
    DynamoDbError::ConditionalCheckFailed {
        item: (on_failure == Some("ALL_OLD")).then(|| old.cloned()).flatten(),
    }
}

/// One optimistic write step: `decide` sees the current item and returns the new one (or
/// None to delete), or an error; the commit is retried while other writers interfere.
pub(crate) async fn write<F>(
    db: &DynamoDb,
    table: &TableInfo,
    key: &[u8],
    mut decide: F,
) -> Result<(Option<Item>, Option<Item>), DynamoDbError>
where
    F: FnMut(Option<&Item>) -> Result<Option<Item>, DynamoDbError>,
{
    loop {
        let current = items::load(&db.store, table, key).await?;
        let old = current.as_ref().map(|(i, _)| i);
        let new = decide(old)?;
        if new.is_none() && current.is_none() {
            return Ok((None, None));
        }
        let txn = items::stage_write(
            Txn::new(),
            table,
            key,
            current.as_ref().map(|(i, r)| (i, r.as_slice())),
            new.as_ref(),
        )?;
        match db.commit_items(txn).await {
            Ok(()) => return Ok((current.map(|(i, _)| i), new)),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// The condition of a single-item write: a ConditionExpression or the legacy Expected (never both).
/// A write's condition, from ConditionExpression or the legacy Expected. `envelope`: report
/// request validation failures in DynamoDB's envelope, as PutItem and DeleteItem do.
fn write_condition(
    expression: Option<&str>,
    expected: Option<&HashMap<String, ExpectedAttributeValue>>,
    operator: Option<&str>,
    names: Option<&HashMap<String, String>>,
    values: Option<&HashMap<String, WireValue>>,
    envelope: bool,
) -> Result<Option<Cond>, DynamoDbError> {
    let envelope = |e| if envelope { items::enveloped(e) } else { e };
    no_mixing(
        &[
            ("Expected", expected.is_some()),
            ("ConditionalOperator", operator.is_some()),
        ],
        &[("ConditionExpression", expression.is_some())],
    )
    .map_err(envelope)?;
    let mut exprs = Exprs::new(names, values).map_err(envelope)?;
    let (parsed, all_used) = exprs
        .parse_split(expression.map(|c| (c, Kind::Condition)), None, None, None)
        .map_err(envelope)?;
    all_used?;
    match (parsed.condition, expected) {
        (Some(c), _) => Ok(Some(c)),
        (None, Some(e)) => legacy_expected(e, operator).map_err(envelope),
        _ => Ok(None),
    }
}

pub async fn put_item(
    db: &DynamoDb,
    cx: &RequestContext,
    input: PutItemInput,
) -> Result<ItemReply, DynamoDbError> {
    let table = table_info(db, cx, input.table_name.as_deref().unwrap_or_default()).await?;
    only_all_old_or_none(input.return_values.as_deref())?;
    let condition = write_condition(
        input.condition_expression.as_deref(),
        input.expected.as_ref(),
        input.conditional_operator.as_deref(),
        input.expression_attribute_names.as_ref(),
        input.expression_attribute_values.as_ref(),
        true,
    )?;
    let item = items::enveloped_from_wire(input.item.as_ref().unwrap_or(&Default::default()))?;
    let key = items::item_key(&table.schema, &item)?;
    items::check_limits(&item)?;
    for index in &table.indexes {
        items::index_key(&table, index, &item, &key)?;
    }
    let wants_capacity = input
        .return_consumed_capacity
        .as_deref()
        .is_some_and(|m| m != "NONE");
    if condition.is_none()
        && table.indexes.is_empty()
        && input.return_values.as_deref() != Some("ALL_OLD")
        && !wants_capacity
    {
        // Nothing depends on the item being replaced: a blind write, no read needed.
        db.commit_items(Txn::new().put(table.ns(), key, items::encode_item(&item)))
            .await?;
        return Ok(ItemReply::default());
    }
    let empty = Item::new();
    let (old, _) = write(db, &table, &key, |old| {
        if let Some(c) = &condition
            && !eval::eval(c, old.unwrap_or(&empty))
        {
            return Err(condition_failed(
                input.return_values_on_condition_check_failure.as_deref(),
                old,
            ));
        }
        Ok(Some(item.clone()))
    })
    .await?;
    let attributes = old
        .clone()
        .filter(|_| input.return_values.as_deref() == Some("ALL_OLD"));
    Ok(write_reply(
        &table,
        &key,
        &item,
        (old.as_ref(), Some(&item)),
        attributes,
        (
            input.return_consumed_capacity.as_deref(),
            input.return_item_collection_metrics.as_deref(),
        ),
    ))
}

/// The answer of GetItem.
pub struct GetItemReply {
    item: Option<ReadItem>,
    consumed_capacity: Option<ConsumedCapacity>,
}

impl EncodeJson for GetItemReply {
    fn to_json(&self) -> Vec<u8> {
        let mut o = JsonObject::new(&self.item);
        if let Some(item) = &self.item {
            o.item("Item", item);
        }
        if let Some(capacity) = &self.consumed_capacity {
            o.member("ConsumedCapacity", capacity);
        }
        o.finish()
    }
}

pub async fn get_item(
    db: &DynamoDb,
    cx: &RequestContext,
    input: GetItemInput,
) -> Result<GetItemReply, DynamoDbError> {
    let table = table_info(db, cx, input.table_name.as_deref().unwrap_or_default()).await?;
    no_mixing(
        &[("AttributesToGet", input.attributes_to_get.is_some())],
        &[("ProjectionExpression", input.projection_expression.is_some())],
    )?;
    let key_item = items::from_wire(input.key.as_ref().unwrap_or(&Default::default()))?;
    let key = items::request_key(&table.schema, &key_item)?;
    let mut exprs = Exprs::new(input.expression_attribute_names.as_ref(), None)?;
    let parsed = exprs.parse(None, None, input.projection_expression.as_deref(), None)?;
    let projection = legacy_projection(parsed.projection, input.attributes_to_get.as_deref())?;
    let found = items::load_stored(&db.store, &table, &key).await?;
    let size = found.as_ref().map_or(0, items::StoredItem::size);
    let consistent = input.consistent_read.unwrap_or(false);
    let item = match (found, &projection) {
        (Some(s), Some(p)) => Some(ReadItem::Decoded(eval::project(&s.decode()?, p))),
        (s, _) => s.map(ReadItem::Stored),
    };
    Ok(GetItemReply {
        item,
        consumed_capacity: consumed(
            input.return_consumed_capacity.as_deref(),
            &table.name,
            items::read_units(size, consistent),
            &[],
            true,
        ),
    })
}

pub async fn delete_item(
    db: &DynamoDb,
    cx: &RequestContext,
    input: DeleteItemInput,
) -> Result<ItemReply, DynamoDbError> {
    let table = table_info(db, cx, input.table_name.as_deref().unwrap_or_default()).await?;
    only_all_old_or_none(input.return_values.as_deref())?;
    let key_item = items::from_wire(input.key.as_ref().unwrap_or(&Default::default()))?;
    let key = items::request_key(&table.schema, &key_item)?;
    let condition = write_condition(
        input.condition_expression.as_deref(),
        input.expected.as_ref(),
        input.conditional_operator.as_deref(),
        input.expression_attribute_names.as_ref(),
        input.expression_attribute_values.as_ref(),
        true,
    )?;
    let empty = Item::new();
    let (old, _) = write(db, &table, &key, |old| {
        if let Some(c) = &condition
            && !eval::eval(c, old.unwrap_or(&empty))
        {
            return Err(condition_failed(
                input.return_values_on_condition_check_failure.as_deref(),
                old,
            ));
        }
        Ok(None)
    })
    .await?;
    let attributes = old
        .clone()
        .filter(|_| input.return_values.as_deref() == Some("ALL_OLD"));
    Ok(write_reply(
        &table,
        &key,
        &key_item,
        (old.as_ref(), None),
        attributes,
        (
            input.return_consumed_capacity.as_deref(),
            input.return_item_collection_metrics.as_deref(),
        ),
    ))
}

/// Refuses an update that would change or remove a key attribute of the table.
pub(crate) fn keys_untouched(table: &TableInfo, update: &Update) -> Result<(), DynamoDbError> {
    let names = touched(update);
    match table.schema.names().find(|k| names.contains(*k)) {
        Some(k) => Err(DynamoDbError::invalid(format!(
            "Cannot update attribute {k}. This attribute is part of the key"
        ))),
        None => Ok(()),
    }
}

/// Top-level attributes an update touches.
/// UPDATED_OLD / UPDATED_NEW (PartiQL's MODIFIED OLD / NEW) answer with just the paths an
/// update names (`m.x`, not all of `m`; list elements compacted in index order).
pub(crate) fn updated_paths(u: &Update) -> Vec<Path> {
    u.set
        .iter()
        .map(|(p, _)| p)
        .chain(&u.remove)
        .chain(u.add.iter().map(|(p, _)| p))
        .chain(u.delete.iter().map(|(p, _)| p))
        .cloned()
        .collect()
}

pub(crate) fn touched(u: &Update) -> BTreeSet<String> {
    let top = |p: &Path| match p.0.first() {
        Some(Step::Attr(a)) => Some(a.clone()),
        _ => None,
    };
    u.set
        .iter()
        .map(|(p, _)| p)
        .chain(u.remove.iter())
        .chain(u.add.iter().map(|(p, _)| p))
        .chain(u.delete.iter().map(|(p, _)| p))
        .filter_map(top)
        .collect()
}

pub async fn update_item(
    db: &DynamoDb,
    cx: &RequestContext,
    input: UpdateItemInput,
) -> Result<ItemReply, DynamoDbError> {
    let table = table_info(db, cx, input.table_name.as_deref().unwrap_or_default()).await?;
    no_mixing(
        &[
            ("AttributeUpdates", input.attribute_updates.is_some()),
            ("Expected", input.expected.is_some()),
            ("ConditionalOperator", input.conditional_operator.is_some()),
        ],
        &[
            ("UpdateExpression", input.update_expression.is_some()),
            ("ConditionExpression", input.condition_expression.is_some()),
        ],
    )
    .map_err(items::enveloped)?;
    let key_item = items::from_wire(input.key.as_ref().unwrap_or(&Default::default()))?;
    let key = items::request_key(&table.schema, &key_item)?;
    let mut exprs = Exprs::new(
        input.expression_attribute_names.as_ref(),
        input.expression_attribute_values.as_ref(),
    )
    .map_err(items::enveloped)?;
    let (parsed, all_used) = exprs
        .parse_split(
            input
                .condition_expression
                .as_deref()
                .map(|c| (c, Kind::Condition)),
            input.update_expression.as_deref(),
            None,
            None,
        )
        .map_err(items::enveloped)?;
    all_used?;
    let condition = match (&parsed.condition, &input.expected) {
        (Some(c), _) => Some(c.clone()),
        (None, Some(e)) => legacy_expected(e, input.conditional_operator.as_deref())?,
        _ => None,
    };
    let update = match (parsed.update, &input.attribute_updates) {
        (Some(u), _) => u,
        (None, Some(a)) => legacy_updates(a)?,
        (None, None) => Update::default(),
    };
    keys_untouched(&table, &update)?;
    let empty = Item::new();
    let (old, new) = write(db, &table, &key, |old| {
        if let Some(c) = &condition
            && !eval::eval(c, old.unwrap_or(&empty))
        {
            return Err(condition_failed(
                input.return_values_on_condition_check_failure.as_deref(),
                old,
            ));
        }
        let mut item = old.cloned().unwrap_or_else(|| key_item.clone());
        eval::apply(&mut item, &update).map_err(|e| DynamoDbError::Validation(e.to_string()))?;
        items::check_updated_limits(&item, &table.schema, &update)?;
        for index in &table.indexes {
            items::index_key(&table, index, &item, &key)?;
        }
        Ok(Some(item))
    })
    .await?;
    let paths = updated_paths(&update);
    let pick = |i: &Option<Item>| i.as_ref().map(|i| eval::project(i, &paths));
    let attributes = match input.return_values.as_deref() {
        Some("ALL_OLD") => old.clone(),
        Some("ALL_NEW") => new.clone(),
        Some("UPDATED_OLD") => pick(&old),
        Some("UPDATED_NEW") => pick(&new),
        _ => None,
    }
    .filter(|i| !i.is_empty());
    Ok(write_reply(
        &table,
        &key,
        &key_item,
        (old.as_ref(), new.as_ref()),
        attributes,
        (
            input.return_consumed_capacity.as_deref(),
            input.return_item_collection_metrics.as_deref(),
        ),
    ))
}
