use stratus_core::RequestContext;
use stratus_store::{StoreError, Txn};

use super::resolve_table_name;
use crate::generated::*;
use std::sync::Arc;

use crate::state::{self, TableRecord};
use crate::{DynamoDb, DynamoDbError};

pub async fn describe_table(
    db: &DynamoDb,
    cx: &RequestContext,
    input: DescribeTableInput,
) -> Result<DescribeTableReply, DynamoDbError> {
    let name = resolve_table_name(cx, input.table_name.as_deref().unwrap_or_default())?;
    let (rec, _) = state::require(&db.store, &db.tables, cx, name).await?;
    // Item count and size are read live (AWS refreshes them about every six hours).
    let rec = db.stats.with_counts(&db.store, rec).await?;
    Ok(DescribeTableReply(rec))
}

/// `DescribeTableOutput` serialized straight from the shared record, without copying it.
pub struct DescribeTableReply(Arc<TableRecord>);

impl serde::Serialize for DescribeTableReply {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let mut out = s.serialize_struct("DescribeTableOutput", 1)?;
        out.serialize_field("Table", &self.0.description)?;
        out.end()
    }
}

pub async fn list_tables(
    db: &DynamoDb,
    cx: &RequestContext,
    input: ListTablesInput,
) -> Result<ListTablesOutput, DynamoDbError> {
    let limit = input.limit.unwrap_or(100) as usize;
    let mut tables = state::list(
        &db.store,
        cx,
        input.exclusive_start_table_name.as_deref(),
        limit + 1,
    )
    .await?;
    let more = tables.len() > limit;
    tables.truncate(limit);
    let names: Vec<String> = tables.iter().map(|t| t.name().to_string()).collect();
    Ok(ListTablesOutput {
        last_evaluated_table_name: if more { names.last().cloned() } else { None },
        table_names: Some(names),
    })
}

pub async fn delete_table(
    db: &DynamoDb,
    cx: &RequestContext,
    input: DeleteTableInput,
) -> Result<DeleteTableOutput, DynamoDbError> {
    let name = resolve_table_name(cx, input.table_name.as_deref().unwrap_or_default())?;
    let key = state::table_key(cx.account_id(), &cx.region, name);
    let (rec, raw) = state::require(&db.store, &db.tables, cx, name).await?;
    let mut description = rec.description.clone();
    if rec.description.deletion_protection_enabled == Some(true) {
        return Err(DynamoDbError::Validation(format!(
            "Resource cannot be deleted as it is currently protected against deletion. Disable deletion protection first. Table: {}",
            rec.description.table_arn.as_deref().unwrap_or_default()
        )));
    }
    // The record and every item go in one transaction: nothing of the table survives.
    let txn = Txn::new()
        .equals(state::TABLES, key.clone(), raw)
        .delete(state::TABLES, key)
        .delete_prefix(&state::items_ns(rec.id()), Vec::new());
    let info = crate::items::TableInfo::from(&rec.description);
    let txn = info
        .indexes
        .iter()
        .fold(txn, |t, ix| t.delete_prefix(&info.index_ns(&ix.name), Vec::new()));
    match db.store.commit(txn).await {
        Ok(()) => {}
        Err(StoreError::ConditionFailed { .. }) => {
            return Err(DynamoDbError::ResourceInUse(format!(
                "Attempt to change a resource which is still in use: Table is being updated: {name}"
            )));
        }
        Err(e) => return Err(e.into()),
    }
    description.table_status = Some("DELETING".into());
    Ok(DeleteTableOutput {
        table_description: Some(description),
    })
}

pub async fn describe_limits(
    _db: &DynamoDb,
    _cx: &RequestContext,
    _input: DescribeLimitsInput,
) -> Result<DescribeLimitsOutput, DynamoDbError> {
    Ok(DescribeLimitsOutput {
        account_max_read_capacity_units: Some(80_000),
        account_max_write_capacity_units: Some(80_000),
        table_max_read_capacity_units: Some(40_000),
        table_max_write_capacity_units: Some(40_000),
    })
}

pub async fn describe_endpoints(
    _db: &DynamoDb,
    _cx: &RequestContext,
    _input: DescribeEndpointsRequest,
    host: String,
) -> Result<DescribeEndpointsResponse, DynamoDbError> {
    Ok(DescribeEndpointsResponse {
        endpoints: Some(vec![Endpoint {
            address: Some(host),
            cache_period_in_minutes: Some(1440),
        }]),
    })
}
