//! One file per operation (tags share one file).

mod answer;
mod batch;
mod common;
mod create_table;
mod describe;
mod items;
mod partiql;
mod query;
mod tags;
mod ttl;
mod update_table;

pub use answer::EncodeJson;
pub use batch::{batch_get_item, batch_write_item, transact_get_items, transact_write_items};
pub use create_table::create_table;
pub use describe::{delete_table, describe_endpoints, describe_limits, describe_table, list_tables};
pub use items::{delete_item, get_item, put_item, update_item};
pub use partiql::{batch_execute_statement, execute_statement, execute_transaction};
pub use query::{query, scan};
pub use tags::{list_tags_of_resource, tag_resource, untag_resource};
pub use ttl::{
    describe_continuous_backups, describe_time_to_live, update_continuous_backups, update_time_to_live,
};
pub use update_table::update_table;

use stratus_core::RequestContext;
use stratus_protocol::validate::{Path, Violations};

use crate::DynamoDbError;
use crate::generated::check_table_name;

/// The item-level view of the table a request names (by name or ARN).
pub(crate) async fn table_info(
    db: &crate::DynamoDb,
    cx: &RequestContext,
    name_or_arn: &str,
) -> Result<std::sync::Arc<crate::items::TableInfo>, DynamoDbError> {
    let name = resolve_table_name(cx, name_or_arn)?;
    crate::state::table_info(&db.store, &db.tables, cx, name).await
}

/// [`table_info`] for a table named deeper in the request (a transaction's actions): a
/// malformed name is reported at its place, `transactItems.2.member.put.tableName`.
pub(crate) async fn table_info_at(
    db: &crate::DynamoDb,
    cx: &RequestContext,
    name_or_arn: &str,
    at: &Path<'_>,
) -> Result<std::sync::Arc<crate::items::TableInfo>, DynamoDbError> {
    if !name_or_arn.starts_with("arn:") {
        let mut v = Violations::default();
        check_table_name(name_or_arn, at, &mut v);
        if let Some(m) = v.message() {
            return Err(DynamoDbError::Validation(m));
        }
    }
    table_info(db, cx, name_or_arn).await
}

/// A `TableName` member may hold a name or a table ARN; returns the name.
pub(crate) fn resolve_table_name<'n>(
    cx: &RequestContext,
    name_or_arn: &'n str,
) -> Result<&'n str, DynamoDbError> {
    if let Some(rest) = name_or_arn.strip_prefix("arn:") {
        let parts: Vec<&str> = rest.splitn(5, ':').collect();
        let valid = parts.len() == 5 && parts[1] == "dynamodb" && parts[4].starts_with("table/");
        if !valid {
            return Err(DynamoDbError::Validation(format!(
                "Invalid TableArn: Invalid ResourceArn provided as input {name_or_arn}"
            )));
        }
        let name = &parts[4]["table/".len()..];
        if parts[2] != cx.region || parts[3] != cx.account_id() {
            return Err(DynamoDbError::table_not_found(name));
        }
        return Ok(name);
    }
    let mut v = Violations::default();
    let root = Path::Root;
    check_table_name(name_or_arn, &root.field("TableName"), &mut v);
    match v.message() {
        Some(m) => Err(DynamoDbError::Validation(m)),
        None => Ok(name_or_arn),
    }
}
