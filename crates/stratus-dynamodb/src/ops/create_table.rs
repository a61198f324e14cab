use std::collections::BTreeSet;

use stratus_core::RequestContext;
use stratus_protocol::types::Timestamp;
use stratus_store::{StoreError, Txn};

use super::resolve_table_name;
use crate::generated::*;
use crate::state::{self, TableRecord};
use crate::{DynamoDb, DynamoDbError};

pub async fn create_table(
    db: &DynamoDb,
    cx: &RequestContext,
    input: CreateTableInput,
) -> Result<CreateTableOutput, DynamoDbError> {
    let name = resolve_table_name(cx, input.table_name.as_deref().unwrap_or_default())?;
    let missing: Vec<&str> = [
        ("attributeDefinitions", input.attribute_definitions.is_none()),
        ("keySchema", input.key_schema.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(n, _)| *n)
    .collect();
    if !missing.is_empty() {
        let list: Vec<String> = missing
            .iter()
            .map(|n| format!("Value null at '{n}' failed to satisfy constraint: Member must not be null"))
            .collect();
        let n = list.len();
        return Err(DynamoDbError::Validation(format!(
            "{n} validation error{} detected: {}",
            if n == 1 { "" } else { "s" },
            list.join("; ")
        )));
    }
    let defs = input.attribute_definitions.clone().unwrap_or_default();
    let key_schema = input.key_schema.clone().unwrap_or_default();
    let billing = input.billing_mode.clone().unwrap_or_else(|| "PROVISIONED".into());
    let now = Timestamp::from_millis(db.clock.now_ms());
    let arn = state::table_arn(cx, name);

    check_key_schema(&key_schema, "table")?;
    let mut used: BTreeSet<String> = key_schema
        .iter()
        .filter_map(|k| k.attribute_name.clone())
        .collect();
    let mut def_names = BTreeSet::new();
    for d in &defs {
        if !def_names.insert(d.attribute_name.clone().unwrap_or_default()) {
            return Err(DynamoDbError::invalid(format!(
                "Cannot have two attributes with the same name: {}",
                d.attribute_name.as_deref().unwrap_or_default()
            )));
        }
    }
    let table_hash = key_of(&key_schema, "HASH");
    let table_range = key_of(&key_schema, "RANGE");

    let throughput = match (billing.as_str(), &input.provisioned_throughput) {
        ("PROVISIONED", None) => {
            return Err(DynamoDbError::invalid(
                "ReadCapacityUnits and WriteCapacityUnits must both be specified when BillingMode is PROVISIONED",
            ));
        }
        ("PAY_PER_REQUEST", Some(_)) => {
            return Err(DynamoDbError::invalid(
                "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST",
            ));
        }
        (_, t) => throughput_description(t.as_ref()),
    };

    let mut index_names = BTreeSet::new();
    let mut lsis = Vec::new();
    for lsi in input.local_secondary_indexes.iter().flatten() {
        let iname = lsi.index_name.clone().unwrap_or_default();
        if !index_names.insert(iname.clone()) {
            return Err(DynamoDbError::invalid(format!("Duplicate index name: {iname}")));
        }
        let ks = lsi.key_schema.clone().unwrap_or_default();
        check_key_schema(&ks, &iname)?;
        if table_range.is_none() {
            return Err(DynamoDbError::invalid(
                "Table KeySchema does not have a range key, which is required when specifying a LocalSecondaryIndex",
            ));
        }
        let ihash = key_of(&ks, "HASH");
        if ihash != table_hash {
            return Err(DynamoDbError::invalid(format!(
                "Index KeySchema does not have the same leading hash key as table KeySchema for index: {iname}. index hash key: {}, table hash key: {}",
                ihash.unwrap_or_default(),
                table_hash.clone().unwrap_or_default()
            )));
        }
        if key_of(&ks, "RANGE").is_none() {
            return Err(DynamoDbError::invalid(format!(
                "Index KeySchema for index {iname} must have a range key"
            )));
        }
        check_projection(lsi.projection.as_ref(), &iname)?;
        used.extend(ks.iter().filter_map(|k| k.attribute_name.clone()));
        lsis.push(LocalSecondaryIndexDescription {
            index_name: Some(iname.clone()),
            key_schema: Some(ks),
            projection: lsi.projection.clone(),
            index_size_bytes: Some(0),
            item_count: Some(0),
            index_arn: Some(format!("{arn}/index/{iname}")),
        });
    }
    if lsis.len() > 5 {
        return Err(DynamoDbError::LimitExceeded(
            "One or more parameter values were invalid: Number of LocalSecondaryIndexes exceeds per-table limit of 5".into(),
        ));
    }
    let mut gsis = Vec::new();
    for gsi in input.global_secondary_indexes.iter().flatten() {
        let d = gsi_description(gsi, &billing, &arn, &mut index_names)?;
        used.extend(
            d.key_schema
                .iter()
                .flatten()
                .filter_map(|k| k.attribute_name.clone()),
        );
        gsis.push(d);
    }
    if gsis.len() > 20 {
        return Err(DynamoDbError::LimitExceeded(
            "One or more parameter values were invalid: Number of GlobalSecondaryIndexes exceeds per-table limit of 20".into(),
        ));
    }
    let undefined: Vec<&String> = used.iter().filter(|u| !def_names.contains(*u)).collect();
    if !undefined.is_empty() {
        return Err(DynamoDbError::invalid(format!(
            "Some index key attributes are not defined in AttributeDefinitions. Keys: [{}], AttributeDefinitions: [{}]",
            undefined
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            def_names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    if used.len() != def_names.len() {
        return Err(DynamoDbError::invalid(
            "Number of attributes in KeySchema does not exactly match number of attributes defined in AttributeDefinitions",
        ));
    }
    let (stream_spec, stream_arn, stream_label) =
        stream_settings(input.stream_specification.as_ref(), &arn, now, true)?;

    let description = TableDescription {
        attribute_definitions: Some(defs),
        table_name: Some(name.to_string()),
        key_schema: Some(key_schema),
        table_status: Some("ACTIVE".into()),
        creation_date_time: Some(now),
        provisioned_throughput: Some(throughput),
        table_size_bytes: Some(0),
        item_count: Some(0),
        table_arn: Some(arn.clone()),
        table_id: Some(uuid::Uuid::new_v4().to_string()),
        billing_mode_summary: (billing == "PAY_PER_REQUEST").then(|| BillingModeSummary {
            billing_mode: Some(billing.clone()),
            last_update_to_pay_per_request_date_time: Some(now),
        }),
        local_secondary_indexes: (!lsis.is_empty()).then_some(lsis),
        global_secondary_indexes: (!gsis.is_empty()).then_some(gsis),
        stream_specification: stream_spec,
        latest_stream_arn: stream_arn,
        latest_stream_label: stream_label,
        sse_description: sse_description(cx, input.sse_specification.as_ref()),
        table_class_summary: input.table_class.as_ref().map(|c| TableClassSummary {
            table_class: Some(c.clone()),
            last_update_date_time: None,
        }),
        deletion_protection_enabled: Some(input.deletion_protection_enabled.unwrap_or(false)),
        on_demand_throughput: input.on_demand_throughput.clone(),
        warm_throughput: Some(TableWarmThroughputDescription {
            read_units_per_second: Some(12_000),
            write_units_per_second: Some(4_000),
            status: Some("ACTIVE".into()),
        }),
        ..Default::default()
    };
    let record = TableRecord {
        description,
        tags: input.tags.unwrap_or_default(),
        ..Default::default()
    };
    let key = state::table_key(cx.account_id(), &cx.region, name);
    let txn = Txn::new()
        .absent(state::TABLES, key.clone())
        .put(state::TABLES, key, state::encode(&record));
    match db.store.commit(txn).await {
        Ok(()) => Ok(CreateTableOutput {
            table_description: Some(record.description),
        }),
        Err(StoreError::ConditionFailed { .. }) => Err(DynamoDbError::ResourceInUse(format!(
            "Table already exists: {name}"
        ))),
        Err(e) => Err(e.into()),
    }
}

pub(crate) fn key_of(ks: &[KeySchemaElement], kind: &str) -> Option<String> {
    ks.iter()
        .find(|k| k.key_type.as_deref() == Some(kind))
        .and_then(|k| k.attribute_name.clone())
}

/// One HASH key first, an optional RANGE key second, on different attributes.
pub(crate) fn check_key_schema(ks: &[KeySchemaElement], owner: &str) -> Result<(), DynamoDbError> {
    if owner == "table" && ks.len() > 2 {
        // The model allows more (for indexes' multi-attribute keys); a table has two at most.
        let listed: Vec<String> = ks
            .iter()
            .map(|k| {
                format!(
                    "KeySchemaElement(attributeName={}, keyType={})",
                    k.attribute_name.as_deref().unwrap_or("null"),
                    k.key_type.as_deref().unwrap_or("null")
                )
            })
            .collect();
        return Err(DynamoDbError::Validation(format!(
            "1 validation error detected: Value '[{}]' at 'keySchema' failed to satisfy constraint: Member must have length less than or equal to 2",
            listed.join(", ")
        )));
    }
    if ks.first().and_then(|k| k.key_type.as_deref()) != Some("HASH") {
        return Err(DynamoDbError::Validation(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type".into(),
        ));
    }
    if let Some(second) = ks.get(1) {
        if second.key_type.as_deref() != Some("RANGE") {
            return Err(DynamoDbError::Validation(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type".into(),
            ));
        }
        if second.attribute_name == ks[0].attribute_name {
            // Sic: DynamoDB words a repeated key attribute as a missing definition.
            return Err(DynamoDbError::Validation(
                "Invalid KeySchema: Some index key attribute have no definition".into(),
            ));
        }
    }
    Ok(())
}

pub(crate) fn check_projection(p: Option<&Projection>, index: &str) -> Result<(), DynamoDbError> {
    let Some(p) = p else {
        return Err(DynamoDbError::invalid(format!(
            "Projection must be specified for index: {index}"
        )));
    };
    let include = p.projection_type.as_deref() == Some("INCLUDE");
    let has_non_key = p.non_key_attributes.as_ref().is_some_and(|n| !n.is_empty());
    if include && !has_non_key {
        return Err(DynamoDbError::invalid(
            "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
        ));
    }
    if !include && has_non_key {
        return Err(DynamoDbError::invalid(format!(
            "ProjectionType is {}, but NonKeyAttributes is specified for index: {index}",
            p.projection_type.as_deref().unwrap_or("null")
        )));
    }
    Ok(())
}

pub(crate) fn throughput_description(t: Option<&ProvisionedThroughput>) -> ProvisionedThroughputDescription {
    ProvisionedThroughputDescription {
        last_increase_date_time: None,
        last_decrease_date_time: None,
        number_of_decreases_today: Some(0),
        read_capacity_units: Some(t.and_then(|t| t.read_capacity_units).unwrap_or(0)),
        write_capacity_units: Some(t.and_then(|t| t.write_capacity_units).unwrap_or(0)),
    }
}

pub(crate) fn gsi_description(
    gsi: &GlobalSecondaryIndex,
    billing: &str,
    table_arn: &str,
    names: &mut BTreeSet<String>,
) -> Result<GlobalSecondaryIndexDescription, DynamoDbError> {
    let iname = gsi.index_name.clone().unwrap_or_default();
    if !names.insert(iname.clone()) {
        return Err(DynamoDbError::invalid(format!("Duplicate index name: {iname}")));
    }
    let ks = gsi.key_schema.clone().unwrap_or_default();
    check_key_schema(&ks, &iname)?;
    check_projection(gsi.projection.as_ref(), &iname)?;
    match (billing, &gsi.provisioned_throughput) {
        ("PROVISIONED", None) => {
            return Err(DynamoDbError::invalid(format!(
                "ProvisionedThroughput must be specified for index: {iname}"
            )));
        }
        ("PAY_PER_REQUEST", Some(_)) => {
            return Err(DynamoDbError::invalid(format!(
                "ProvisionedThroughput should not be specified for index: {iname} when BillingMode is PAY_PER_REQUEST"
            )));
        }
        _ => {}
    }
    Ok(GlobalSecondaryIndexDescription {
        index_name: Some(iname.clone()),
        key_schema: Some(ks),
        projection: gsi.projection.clone(),
        index_status: Some("ACTIVE".into()),
        backfilling: None,
        provisioned_throughput: Some(throughput_description(gsi.provisioned_throughput.as_ref())),
        index_size_bytes: Some(0),
        item_count: Some(0),
        index_arn: Some(format!("{table_arn}/index/{iname}")),
        on_demand_throughput: gsi.on_demand_throughput.clone(),
        warm_throughput: None,
    })
}

type StreamSettings = (Option<StreamSpecification>, Option<String>, Option<String>);

/// `creating`: for CreateTable (UpdateTable words a refusal differently).
pub(crate) fn stream_settings(
    spec: Option<&StreamSpecification>,
    table_arn: &str,
    now: Timestamp,
    creating: bool,
) -> Result<StreamSettings, DynamoDbError> {
    let Some(spec) = spec else {
        return Ok((None, None, None));
    };
    if spec.stream_enabled != Some(true) {
        if spec.stream_view_type.is_some() {
            return Err(DynamoDbError::invalid(if creating {
                "Table is being created with a stream disabled, UpdateViewType should not be specified"
            } else {
                "StreamViewType cannot be specified when StreamEnabled is false"
            }));
        }
        return Ok((None, None, None));
    }
    if spec.stream_view_type.is_none() {
        return Err(DynamoDbError::invalid(
            "StreamViewType must be specified when StreamEnabled is true",
        ));
    }
    let label = now.iso8601().trim_end_matches('Z').to_string();
    Ok((
        Some(spec.clone()),
        Some(format!("{table_arn}/stream/{label}")),
        Some(label),
    ))
}

pub(crate) fn sse_description(
    cx: &RequestContext,
    spec: Option<&SSESpecification>,
) -> Option<SSEDescription> {
    let spec = spec.filter(|s| s.enabled == Some(true))?;
    let key = spec.kms_master_key_id.clone().unwrap_or_else(|| {
        format!(
            "arn:aws:kms:{}:{}:key/{}",
            cx.region,
            cx.account_id(),
            uuid::Uuid::new_v4()
        )
    });
    Some(SSEDescription {
        status: Some("ENABLED".into()),
        sse_type: Some(spec.sse_type.clone().unwrap_or_else(|| "KMS".into())),
        kms_master_key_arn: Some(key),
        inaccessible_encryption_date_time: None,
    })
}
