use std::collections::BTreeSet;

use stratus_core::RequestContext;
use stratus_protocol::types::Timestamp;

use super::create_table::{gsi_description, sse_description, stream_settings, throughput_description};
use super::resolve_table_name;
use crate::generated::*;
use crate::items::{self, Index, TableInfo};
use crate::state;
use crate::{DynamoDb, DynamoDbError};
use stratus_store::{Scan as StoreScan, StoreError, Txn};

pub async fn update_table(
    db: &DynamoDb,
    cx: &RequestContext,
    input: UpdateTableInput,
) -> Result<UpdateTableOutput, DynamoDbError> {
    let name = resolve_table_name(cx, input.table_name.as_deref().unwrap_or_default())?;
    let now = Timestamp::from_millis(db.clock.now_ms());
    let changes_anything = input.billing_mode.is_some()
        || input.provisioned_throughput.is_some()
        || input
            .global_secondary_index_updates
            .as_ref()
            .is_some_and(|u| !u.is_empty())
        || input.stream_specification.is_some()
        || input.sse_specification.is_some()
        || input.table_class.is_some()
        || input.deletion_protection_enabled.is_some()
        || input.on_demand_throughput.is_some()
        || input.attribute_definitions.is_some()
        || input.replica_updates.is_some()
        || input.warm_throughput.is_some();
    if !changes_anything {
        return Err(DynamoDbError::Validation(
            "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required".into(),
        ));
    }
    let (before, _) = state::require(&db.store, &db.tables, cx, name).await?;
    let old_indexes = gsi_names(&before.description);
    let rec = state::update(&db.store, &db.tables, cx, name, |rec| {
        let d = &mut rec.description;
        let current = d
            .billing_mode_summary
            .as_ref()
            .and_then(|b| b.billing_mode.clone())
            .unwrap_or_else(|| "PROVISIONED".into());
        let billing = input.billing_mode.clone().unwrap_or(current.clone());
        match (billing.as_str(), &input.provisioned_throughput) {
            ("PAY_PER_REQUEST", Some(_)) => {
                return Err(DynamoDbError::invalid(
                    "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
                ));
            }
            ("PROVISIONED", None) if current != "PROVISIONED" => {
                return Err(DynamoDbError::invalid(
                    "ProvisionedThroughput must be specified when BillingMode is PROVISIONED",
                ));
            }
            _ => {}
        }
        if billing != current {
            d.billing_mode_summary = Some(BillingModeSummary {
                billing_mode: Some(billing.clone()),
                last_update_to_pay_per_request_date_time: Some(now),
            });
            if billing == "PAY_PER_REQUEST" {
                d.provisioned_throughput = Some(throughput_description(None));
                for g in d.global_secondary_indexes.iter_mut().flatten() {
                    g.provisioned_throughput = Some(throughput_description(None));
                }
            }
        }
        if let Some(t) = &input.provisioned_throughput {
            let mut desc = throughput_description(Some(t));
            if let Some(old) = &d.provisioned_throughput {
                let (r, w) = (old.read_capacity_units.unwrap_or(0), old.write_capacity_units.unwrap_or(0));
                if (r, w) == (t.read_capacity_units.unwrap_or(0), t.write_capacity_units.unwrap_or(0)) && billing == current {
                    return Err(DynamoDbError::Validation(format!(
                        "The provisioned throughput for the table will not change. The requested value equals the current value. Current ReadCapacityUnits provisioned for the table: {r}. Requested ReadCapacityUnits: {r}. Current WriteCapacityUnits provisioned for the table: {w}. Requested WriteCapacityUnits: {w}. Refer to the Amazon DynamoDB Developer Guide for current limits and how to request higher limits."
                    )));
                }
                let increase = t.read_capacity_units.unwrap_or(0) > r || t.write_capacity_units.unwrap_or(0) > w;
                let decrease = t.read_capacity_units.unwrap_or(0) < r || t.write_capacity_units.unwrap_or(0) < w;
                desc.last_increase_date_time = if increase { Some(now) } else { old.last_increase_date_time };
                desc.last_decrease_date_time = if decrease { Some(now) } else { old.last_decrease_date_time };
                desc.number_of_decreases_today = Some(old.number_of_decreases_today.unwrap_or(0) + i64::from(decrease));
            }
            d.provisioned_throughput = Some(desc);
        }
        if let Some(defs) = &input.attribute_definitions {
            let mut all = d.attribute_definitions.clone().unwrap_or_default();
            for def in defs {
                if !all.iter().any(|a| a.attribute_name == def.attribute_name) {
                    all.push(def.clone());
                }
            }
            d.attribute_definitions = Some(all);
        }
        let table_arn = d.table_arn.clone().unwrap_or_default();
        for update in input.global_secondary_index_updates.iter().flatten() {
            let gsis = d.global_secondary_indexes.get_or_insert_with(Vec::new);
            if let Some(create) = &update.create {
                let gsi = GlobalSecondaryIndex {
                    index_name: create.index_name.clone(),
                    key_schema: create.key_schema.clone(),
                    projection: create.projection.clone(),
                    provisioned_throughput: create.provisioned_throughput.clone(),
                    on_demand_throughput: create.on_demand_throughput.clone(),
                    warm_throughput: create.warm_throughput.clone(),
                };
                let mut names: BTreeSet<String> = gsis.iter().filter_map(|g| g.index_name.clone()).collect();
                names.extend(d.local_secondary_indexes.iter().flatten().filter_map(|l| l.index_name.clone()));
                let desc = gsi_description(&gsi, &billing, &table_arn, &mut names)?;
                let defs = d.attribute_definitions.clone().unwrap_or_default();
                for k in desc.key_schema.iter().flatten() {
                    if !defs.iter().any(|a| a.attribute_name == k.attribute_name) {
                        return Err(DynamoDbError::invalid(format!(
                            "Global Secondary Index key attribute {} is not defined in AttributeDefinitions",
                            k.attribute_name.as_deref().unwrap_or_default()
                        )));
                    }
                }
                gsis.push(desc);
            }
            if let Some(delete) = &update.delete {
                let before = gsis.len();
                gsis.retain(|g| g.index_name != delete.index_name);
                if gsis.len() == before {
                    return Err(DynamoDbError::ResourceNotFound(format!(
                        "Requested resource not found: Index: {} not found",
                        delete.index_name.as_deref().unwrap_or_default()
                    )));
                }
            }
            if let Some(change) = &update.update {
                let Some(g) = gsis.iter_mut().find(|g| g.index_name == change.index_name) else {
                    return Err(DynamoDbError::ResourceNotFound(format!(
                        "Requested resource not found: Index: {} not found",
                        change.index_name.as_deref().unwrap_or_default()
                    )));
                };
                if let Some(t) = &change.provisioned_throughput {
                    g.provisioned_throughput = Some(throughput_description(Some(t)));
                }
                if let Some(o) = &change.on_demand_throughput {
                    g.on_demand_throughput = Some(o.clone());
                }
            }
            if d.global_secondary_indexes.as_ref().is_some_and(|g| g.is_empty()) {
                d.global_secondary_indexes = None;
            }
        }
        if let Some(spec) = &input.stream_specification {
            let (s, arn, label) = stream_settings(Some(spec), &table_arn, now, false)?;
            d.stream_specification = s.or(Some(StreamSpecification { stream_enabled: Some(false), stream_view_type: None }));
            if arn.is_some() {
                d.latest_stream_arn = arn;
                d.latest_stream_label = label;
            }
        }
        if let Some(sse) = &input.sse_specification {
            d.sse_description = sse_description(cx, Some(sse));
        }
        if let Some(class) = &input.table_class {
            d.table_class_summary = Some(TableClassSummary { table_class: Some(class.clone()), last_update_date_time: Some(now) });
        }
        if let Some(p) = input.deletion_protection_enabled {
            d.deletion_protection_enabled = Some(p);
        }
        if let Some(o) = &input.on_demand_throughput {
            d.on_demand_throughput = Some(o.clone());
        }
        Ok(())
    })
    .await?;
    let new_indexes = gsi_names(&rec.description);
    let info = TableInfo::from(&rec.description);
    for created in new_indexes.difference(&old_indexes) {
        if let Some(index) = info.index(created) {
            backfill(db, &info, index).await?;
        }
    }
    for deleted in old_indexes.difference(&new_indexes) {
        db.store
            .commit(Txn::new().delete_prefix(&info.index_ns(deleted), Vec::new()))
            .await?;
    }
    Ok(UpdateTableOutput {
        table_description: Some(rec.description),
    })
}

fn gsi_names(d: &TableDescription) -> BTreeSet<String> {
    d.global_secondary_indexes
        .iter()
        .flatten()
        .filter_map(|g| g.index_name.clone())
        .collect()
}

/// Writes the entries of a new global secondary index for every existing item. Each page is
/// committed with preconditions on the items it read, so a concurrent write (which already
/// maintains the new index) is never overwritten by a stale entry; such a page is redone.
async fn backfill(db: &DynamoDb, table: &TableInfo, index: &Index) -> Result<(), DynamoDbError> {
    let ns = table.ns();
    let ins = table.index_ns(&index.name);
    let mut after: Option<Vec<u8>> = None;
    loop {
        let mut scan = StoreScan::all().limit(500);
        if let Some(a) = &after {
            scan = scan.after(a);
        }
        let rows = db.store.scan(ns, &scan).await?;
        if rows.is_empty() {
            return Ok(());
        }
        let mut txn = Txn::new();
        for (k, v) in &rows {
            let item = items::decode_item(v)?;
            txn = txn.equals(ns, k.clone(), v.clone());
            if let Ok(Some(ik)) = items::index_key(table, index, &item, k) {
                txn = txn.put(
                    &ins,
                    ik,
                    items::encode_item(&items::project_for_index(table, index, &item)),
                );
            }
        }
        match db.store.commit(txn).await {
            Ok(()) => after = rows.last().map(|(k, _)| k.clone()),
            Err(StoreError::ConditionFailed { .. }) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}
