//! What the item operations share: expression parsing with placeholders, the legacy
//! parameters (Expected, AttributesToGet, KeyConditions, QueryFilter, ScanFilter,
//! AttributeUpdates, ConditionalOperator) translated into the same expression trees, and
//! consumed-capacity reports.

use std::collections::HashMap;

use serde::Serialize;
use stratus_dynamodb_expr::expr::{
    self, CmpOp, Cond, Kind, Operand, Path, Placeholders, SetOperand, SetValue, Step, Update,
};
use stratus_dynamodb_expr::value::WireValue;
use stratus_dynamodb_expr::{AttributeValue, Item};

use crate::DynamoDbError;
use crate::generated::{AttributeValueUpdate, Capacity, Condition, ConsumedCapacity, ExpectedAttributeValue};
use crate::items::{list_from_wire, value_from_wire, values_from_wire};

/// A request's placeholders, kept for checking that every one was used.
pub struct Exprs {
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
    expression_used: bool,
}

fn invalid_expr(e: expr::ExprError) -> DynamoDbError {
    DynamoDbError::Validation(e.to_string())
}

impl Exprs {
    pub fn new(
        names: Option<&HashMap<String, String>>,
        values: Option<&HashMap<String, WireValue>>,
    ) -> Result<Exprs, DynamoDbError> {
        if values.is_some_and(|v| v.is_empty()) {
            return Err(DynamoDbError::Validation(
                "ExpressionAttributeValues must not be empty".into(),
            ));
        }
        if names.is_some_and(|n| n.is_empty()) {
            return Err(DynamoDbError::Validation(
                "ExpressionAttributeNames must not be empty".into(),
            ));
        }
        Ok(Exprs {
            names: names.cloned().unwrap_or_default(),
            values: values_from_wire(values)?,
            expression_used: false,
        })
    }

    /// Parses every expression of a request and checks the placeholders; `None` entries skip.
    pub fn parse(
        &mut self,
        condition: Option<(&str, Kind)>,
        update: Option<&str>,
        projection: Option<&str>,
        key_condition: Option<&str>,
    ) -> Result<Parsed, DynamoDbError> {
        let (parsed, all_used) = self.parse_split(condition, update, projection, key_condition)?;
        all_used?;
        Ok(parsed)
    }

    /// [`Exprs::parse`], handing back the check that every placeholder was used on its own:
    /// PutItem and UpdateItem report the other failures in DynamoDB's validation envelope, but
    /// not that one.
    pub fn parse_split(
        &mut self,
        condition: Option<(&str, Kind)>,
        update: Option<&str>,
        projection: Option<&str>,
        key_condition: Option<&str>,
    ) -> Result<(Parsed, Result<(), DynamoDbError>), DynamoDbError> {
        let mut ph = Placeholders::new(&self.names, &self.values);
        let condition = condition
            .map(|(src, kind)| expr::parse_condition(src, kind, &mut ph))
            .transpose()
            .map_err(invalid_expr)?;
        let key_condition = key_condition
            .map(|src| expr::parse_condition(src, Kind::KeyCondition, &mut ph))
            .transpose()
            .map_err(invalid_expr)?;
        let update = update
            .map(|src| expr::parse_update(src, &mut ph))
            .transpose()
            .map_err(invalid_expr)?;
        let projection = projection
            .map(|src| expr::parse_projection(src, &mut ph))
            .transpose()
            .map_err(invalid_expr)?;
        self.expression_used =
            condition.is_some() || key_condition.is_some() || update.is_some() || projection.is_some();
        let mut all_used = Ok(());
        if self.expression_used {
            all_used = ph.check_all_used().map_err(DynamoDbError::Validation);
        } else {
            if !self.values.is_empty() {
                return Err(DynamoDbError::Validation(
                    "ExpressionAttributeValues can only be specified when using expressions".into(),
                ));
            }
            if !self.names.is_empty() {
                return Err(DynamoDbError::Validation(
                    "ExpressionAttributeNames can only be specified when using expressions".into(),
                ));
            }
        }
        let parsed = Parsed {
            condition,
            update,
            projection,
            key_condition,
        };
        Ok((parsed, all_used))
    }
}

/// The parsed expressions of one request.
#[derive(Default)]
pub struct Parsed {
    pub condition: Option<Cond>,
    pub update: Option<Update>,
    pub projection: Option<Vec<Path>>,
    pub key_condition: Option<Cond>,
}

/// Rejects a request that mixes legacy and expression parameters, as DynamoDB does.
pub fn no_mixing(legacy: &[(&str, bool)], expressions: &[(&str, bool)]) -> Result<(), DynamoDbError> {
    let l: Vec<&str> = legacy.iter().filter(|(_, set)| *set).map(|(n, _)| *n).collect();
    let e: Vec<&str> = expressions
        .iter()
        .filter(|(_, set)| *set)
        .map(|(n, _)| *n)
        .collect();
    if !l.is_empty() && !e.is_empty() {
        return Err(DynamoDbError::Validation(format!(
            "Can not use both expression and non-expression parameters in the same request: Non-expression parameters: {{{}}} Expression parameters: {{{}}}",
            l.join(", "),
            e.join(", ")
        )));
    }
    Ok(())
}

fn attr(name: &str) -> Path {
    Path(vec![Step::Attr(name.to_string())])
}

/// One legacy comparison (`ComparisonOperator` + `AttributeValueList`) as a condition.
fn legacy_comparison(name: &str, op: &str, args: Vec<AttributeValue>) -> Result<Cond, DynamoDbError> {
    let p = || Operand::Path(attr(name));
    let want = |n: usize| -> Result<(), DynamoDbError> {
        if args.len() != n {
            return Err(DynamoDbError::Validation(format!(
                "One or more parameter values were invalid: Invalid number of argument(s) for the {op} ComparisonOperator"
            )));
        }
        Ok(())
    };
    let v = |i: usize| Operand::Value(args[i].clone());
    Ok(match op {
        "EQ" | "NE" | "LE" | "LT" | "GE" | "GT" => {
            want(1)?;
            let cmp = match op {
                "EQ" => CmpOp::Eq,
                "NE" => CmpOp::Ne,
                "LE" => CmpOp::Le,
                "LT" => CmpOp::Lt,
                "GE" => CmpOp::Ge,
                _ => CmpOp::Gt,
            };
            Cond::Cmp(p(), cmp, v(0))
        }
        "NOT_NULL" => {
            want(0)?;
            Cond::Exists(attr(name))
        }
        "NULL" => {
            want(0)?;
            Cond::NotExists(attr(name))
        }
        "CONTAINS" => {
            want(1)?;
            Cond::Contains(p(), v(0))
        }
        "NOT_CONTAINS" => {
            want(1)?;
            Cond::And(
                Box::new(Cond::Exists(attr(name))),
                Box::new(Cond::Not(Box::new(Cond::Contains(p(), v(0))))),
            )
        }
        "BEGINS_WITH" => {
            want(1)?;
            Cond::BeginsWith(p(), v(0))
        }
        "IN" => {
            if args.is_empty() {
                return Err(DynamoDbError::Validation(
                    "One or more parameter values were invalid: Invalid number of argument(s) for the IN ComparisonOperator".into(),
                ));
            }
            Cond::In(p(), args.iter().cloned().map(Operand::Value).collect())
        }
        "BETWEEN" => {
            want(2)?;
            Cond::Between(p(), v(0), v(1))
        }
        other => {
            return Err(DynamoDbError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [IN, NULL, BETWEEN, LT, NOT_CONTAINS, EQ, GT, NOT_NULL, NE, LE, BEGINS_WITH, GE, CONTAINS]"
            )));
        }
    })
}

fn combine(conds: Vec<Cond>, operator: Option<&str>) -> Option<Cond> {
    let or = operator == Some("OR");
    conds.into_iter().reduce(|a, b| {
        if or {
            Cond::Or(Box::new(a), Box::new(b))
        } else {
            Cond::And(Box::new(a), Box::new(b))
        }
    })
}

/// `Expected` (+ `ConditionalOperator`) as a condition.
pub fn legacy_expected(
    expected: &HashMap<String, ExpectedAttributeValue>,
    operator: Option<&str>,
) -> Result<Option<Cond>, DynamoDbError> {
    let mut conds = Vec::new();
    let mut names: Vec<&String> = expected.keys().collect();
    names.sort();
    for name in names {
        let e = &expected[name];
        let cond = if let Some(op) = &e.comparison_operator {
            if e.value.is_none() && e.attribute_value_list.is_none() && op != "NULL" && op != "NOT_NULL" {
                return Err(DynamoDbError::Validation(format!(
                    "One or more parameter values were invalid: Value or AttributeValueList must be used with ComparisonOperator: {op} for Attribute: {name}"
                )));
            }
            if e.value.is_some() && e.attribute_value_list.is_some() {
                return Err(DynamoDbError::Validation(
                    "One or more parameter values were invalid: Value and AttributeValueList cannot be used together for Attribute: ".to_string() + name,
                ));
            }
            let args = match &e.value {
                Some(v) => vec![value_from_wire(v)?],
                None => list_from_wire(e.attribute_value_list.as_ref())?,
            };
            legacy_comparison(name, op, args)?
        } else {
            match (e.exists, &e.value) {
                (Some(false), Some(_)) => {
                    return Err(DynamoDbError::Validation(format!(
                        "One or more parameter values were invalid: Value cannot be used when Exists is false for Attribute: {name}"
                    )));
                }
                (Some(false), None) => Cond::NotExists(attr(name)),
                (_, Some(v)) => Cond::Cmp(
                    Operand::Path(attr(name)),
                    CmpOp::Eq,
                    Operand::Value(value_from_wire(v)?),
                ),
                (_, None) => {
                    return Err(DynamoDbError::Validation(format!(
                        "One or more parameter values were invalid: Value must be provided when Exists is true for Attribute: {name}"
                    )));
                }
            }
        };
        conds.push(cond);
    }
    Ok(combine(conds, operator))
}

/// `KeyConditions`, `QueryFilter` or `ScanFilter` (+ `ConditionalOperator`) as a condition.
pub fn legacy_conditions(
    conditions: &HashMap<String, Condition>,
    operator: Option<&str>,
) -> Result<Option<Cond>, DynamoDbError> {
    let mut names: Vec<&String> = conditions.keys().collect();
    names.sort();
    let mut conds = Vec::new();
    for name in names {
        let c = &conditions[name];
        let op = c.comparison_operator.as_deref().unwrap_or_default();
        conds.push(legacy_comparison(
            name,
            op,
            list_from_wire(c.attribute_value_list.as_ref())?,
        )?);
    }
    Ok(combine(conds, operator))
}

/// `AttributesToGet` as projection paths.
/// `AttributesToGet` as a projection (the projection of an expression, when there is one).
pub fn legacy_projection(
    expression: Option<Vec<Path>>,
    names: Option<&[String]>,
) -> Result<Option<Vec<Path>>, DynamoDbError> {
    let Some(names) = names.filter(|_| expression.is_none()) else {
        return Ok(expression);
    };
    if let Some(n) = names
        .iter()
        .enumerate()
        .find_map(|(i, n)| names[..i].contains(n).then_some(n))
    {
        return Err(DynamoDbError::invalid(format!(
            "Duplicate value in attribute name: {n}"
        )));
    }
    Ok(Some(names.iter().map(|n| attr(n)).collect()))
}

/// `AttributeUpdates` as an update.
pub fn legacy_updates(updates: &HashMap<String, AttributeValueUpdate>) -> Result<Update, DynamoDbError> {
    let mut u = Update::default();
    let mut names: Vec<&String> = updates.keys().collect();
    names.sort();
    for name in names {
        let a = &updates[name];
        let value = a.value.as_ref().map(value_from_wire).transpose()?;
        match (a.action.as_deref().unwrap_or("PUT"), value) {
            ("PUT", Some(v)) => u.set.push((attr(name), SetValue::Operand(SetOperand::Value(v)))),
            ("DELETE", None) => u.remove.push(attr(name)),
            ("DELETE", Some(v)) => u.delete.push((attr(name), v)),
            ("ADD", Some(v)) => u.add.push((attr(name), v)),
            (action, None) => {
                return Err(DynamoDbError::Validation(format!(
                    "One or more parameter values were invalid: Only DELETE action is allowed when no attribute value is specified; action: {action}, attribute: {name}"
                )));
            }
            (other, _) => {
                return Err(DynamoDbError::Validation(format!(
                    "1 validation error detected: Value '{other}' at 'attributeUpdates.{name}.member.action' failed to satisfy constraint: Member must satisfy enum value set: [ADD, PUT, DELETE]"
                )));
            }
        }
    }
    Ok(u)
}

/// Builds the `ConsumedCapacity` a request asked for (`TOTAL` or `INDEXES`).
pub fn consumed(
    mode: Option<&str>,
    table: &str,
    table_units: f64,
    index_units: &[(String, bool, f64)],
    read: bool,
) -> Option<ConsumedCapacity> {
    let mode = mode.filter(|m| *m != "NONE")?;
    let total = table_units + index_units.iter().map(|(_, _, u)| u).sum::<f64>();
    let mut c = ConsumedCapacity {
        table_name: Some(table.to_string()),
        capacity_units: Some(total),
        ..Default::default()
    };
    let _ = read;
    if mode == "INDEXES" {
        let cap = |u: f64| Capacity {
            capacity_units: Some(u),
            ..Default::default()
        };
        c.table = Some(cap(table_units));
        let gsis: HashMap<String, Capacity> = index_units
            .iter()
            .filter(|(_, g, _)| *g)
            .map(|(n, _, u)| (n.clone(), cap(*u)))
            .collect();
        let lsis: HashMap<String, Capacity> = index_units
            .iter()
            .filter(|(_, g, _)| !*g)
            .map(|(n, _, u)| (n.clone(), cap(*u)))
            .collect();
        c.global_secondary_indexes = (!gsis.is_empty()).then_some(gsis);
        c.local_secondary_indexes = (!lsis.is_empty()).then_some(lsis);
    }
    Some(c)
}

/// What a request touching several items consumed in one table: the table's units and each
/// index's (name, global, units).
#[derive(Default)]
pub struct TableUnits {
    pub table: f64,
    pub indexes: Vec<(String, bool, f64)>,
}

impl TableUnits {
    pub fn add(&mut self, table: f64, indexes: Vec<(String, bool, f64)>) {
        self.table += table;
        for (name, global, units) in indexes {
            match self.indexes.iter_mut().find(|(n, _, _)| *n == name) {
                Some(entry) => entry.2 += units,
                None => self.indexes.push((name, global, units)),
            }
        }
    }
}

/// `ConsumedCapacity` per table, as BatchWriteItem and TransactWriteItems report it.
/// `axis`: a transaction's answer also says which capacity it used, at every level.
pub fn consumed_per_table(
    mode: Option<&str>,
    units: &std::collections::BTreeMap<String, TableUnits>,
    axis: Option<Axis>,
) -> Option<Vec<ConsumedCapacity>> {
    mode.filter(|m| *m != "NONE")?;
    Some(
        units
            .iter()
            .filter_map(|(t, u)| consumed(mode, t, u.table, &u.indexes, false))
            .map(|c| match axis {
                Some(axis) => with_axis(c, axis),
                None => c,
            })
            .collect(),
    )
}

/// Which capacity a transaction consumed.
#[derive(Clone, Copy)]
pub enum Axis {
    Read,
    Write,
}

/// Transactions (and only they) name the capacity they used beside each `CapacityUnits`:
/// `WriteCapacityUnits` for writes, `ReadCapacityUnits` for reads and repeated writes.
pub fn with_axis(mut c: ConsumedCapacity, axis: Axis) -> ConsumedCapacity {
    fn set(units: Option<f64>, read: &mut Option<f64>, write: &mut Option<f64>, axis: Axis) {
        match axis {
            Axis::Read => *read = units,
            Axis::Write => *write = units,
        }
    }
    set(
        c.capacity_units,
        &mut c.read_capacity_units,
        &mut c.write_capacity_units,
        axis,
    );
    let arms = c
        .table
        .iter_mut()
        .chain(c.global_secondary_indexes.iter_mut().flat_map(|m| m.values_mut()))
        .chain(c.local_secondary_indexes.iter_mut().flat_map(|m| m.values_mut()));
    for arm in arms {
        set(
            arm.capacity_units,
            &mut arm.read_capacity_units,
            &mut arm.write_capacity_units,
            axis,
        );
    }
    c
}

/// An answer carrying items and/or consumed capacity, serialized in DynamoDB's JSON.
#[derive(Serialize, Default)]
pub struct ItemReply {
    #[serde(rename = "Attributes", skip_serializing_if = "Option::is_none")]
    pub attributes: Option<Item>,
    #[serde(rename = "Item", skip_serializing_if = "Option::is_none")]
    pub item: Option<Item>,
    #[serde(rename = "ConsumedCapacity", skip_serializing_if = "Option::is_none")]
    pub consumed_capacity: Option<ConsumedCapacity>,
    #[serde(rename = "ItemCollectionMetrics", skip_serializing_if = "Option::is_none")]
    pub item_collection_metrics: Option<serde_json::Value>,
}

/// `ItemCollectionMetrics` for a write to a table with local secondary indexes (the only
/// tables with item collections): the collection's key and DynamoDB's size estimate range.
pub fn collection_metrics(
    mode: Option<&str>,
    table: &crate::items::TableInfo,
    item: &Item,
) -> Option<serde_json::Value> {
    if mode != Some("SIZE") || !table.indexes.iter().any(|i| !i.global) {
        return None;
    }
    let key: Item = item
        .get(&table.schema.hash.name)
        .map(|v| (table.schema.hash.name.clone(), v.clone()))
        .into_iter()
        .collect();
    Some(serde_json::json!({ "ItemCollectionKey": key, "SizeEstimateRangeGB": [0.0, 1.0] }))
}
