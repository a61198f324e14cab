use stratus_core::RequestContext;

use crate::generated::*;
use crate::state;

/// Operations without output answer `{}`.
#[derive(serde::Serialize)]
pub struct Empty {}
use crate::{DynamoDb, DynamoDbError};

/// The table a resource ARN names, which must exist in the caller's account and region.
fn table_of(cx: &RequestContext, arn: &str) -> Result<String, DynamoDbError> {
    let invalid = || {
        DynamoDbError::Validation(format!(
            "Invalid TableArn: Invalid ResourceArn provided as input {arn}"
        ))
    };
    let rest = arn.strip_prefix("arn:").ok_or_else(invalid)?;
    let parts: Vec<&str> = rest.splitn(5, ':').collect();
    if parts.len() != 5 || parts[1] != "dynamodb" {
        return Err(invalid());
    }
    let name = parts[4].strip_prefix("table/").ok_or_else(invalid)?;
    let name = name.split('/').next().unwrap_or_default();
    if parts[2] != cx.region || parts[3] != cx.account_id() || name.is_empty() {
        return Err(not_found(arn));
    }
    Ok(name.to_string())
}

fn not_found(arn: &str) -> DynamoDbError {
    DynamoDbError::ResourceNotFound(format!(
        "Requested resource not found: ResourcArn: {arn} not found"
    ))
}

async fn require(db: &DynamoDb, cx: &RequestContext, arn: &str) -> Result<String, DynamoDbError> {
    let name = table_of(cx, arn)?;
    if state::load(&db.store, &db.tables, cx, &name).await?.is_none() {
        return Err(not_found(arn));
    }
    Ok(name)
}

pub async fn tag_resource(
    db: &DynamoDb,
    cx: &RequestContext,
    input: TagResourceInput,
) -> Result<Empty, DynamoDbError> {
    let arn = input.resource_arn.unwrap_or_default();
    let name = require(db, cx, &arn).await?;
    let new_tags = input.tags.unwrap_or_default();
    state::update(&db.store, &db.tables, cx, &name, |rec| {
        for t in &new_tags {
            match rec.tags.iter_mut().find(|e| e.key == t.key) {
                Some(existing) => existing.value = t.value.clone(),
                None => rec.tags.push(t.clone()),
            }
        }
        if rec.tags.len() > 50 {
            return Err(DynamoDbError::Validation(
                "One or more parameter values were invalid: The number of tags exceeds the limit of 50"
                    .into(),
            ));
        }
        Ok(())
    })
    .await?;
    Ok(Empty {})
}

pub async fn untag_resource(
    db: &DynamoDb,
    cx: &RequestContext,
    input: UntagResourceInput,
) -> Result<Empty, DynamoDbError> {
    let arn = input.resource_arn.unwrap_or_default();
    let name = require(db, cx, &arn).await?;
    let keys = input.tag_keys.unwrap_or_default();
    state::update(&db.store, &db.tables, cx, &name, |rec| {
        rec.tags
            .retain(|t| !keys.iter().any(|k| Some(k) == t.key.as_ref()));
        Ok(())
    })
    .await?;
    Ok(Empty {})
}

pub async fn list_tags_of_resource(
    db: &DynamoDb,
    cx: &RequestContext,
    input: ListTagsOfResourceInput,
) -> Result<ListTagsOfResourceOutput, DynamoDbError> {
    let arn = input.resource_arn.unwrap_or_default();
    let name = require(db, cx, &arn).await?;
    let (rec, _) = state::require(&db.store, &db.tables, cx, &name).await?;
    Ok(ListTagsOfResourceOutput {
        tags: Some(rec.tags.clone()),
        next_token: None,
    })
}
