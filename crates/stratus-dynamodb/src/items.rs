//! Items in the store: key schemas, the order-preserving item keys, conversions from the wire,
//! secondary-index entries kept in the same transaction as the item, and capacity units.
//!
//! Layout: `dynamodb:items:{table id}` / enc(hash) [+ enc(range)] → item (stored JSON);
//! `dynamodb:index:{table id}:{index}` / enc(index hash) [+ enc(index range)] + enc(table key)
//! → projected item.
//!
//! A stored item is a tag byte, the item's size by DynamoDB's rules (u32, little-endian) and
//! its JSON wire form, so that a Query or Scan can put items into its answer as they are and
//! count their size without decoding them. Values written before the tag existed are the
//! JSON alone (they start with `{`) and are still read.

use std::collections::HashMap;

use stratus_dynamodb_expr::value::{self, WireValue, encode_key_part};
use stratus_dynamodb_expr::{AttributeValue, Item};
use stratus_store::{SIZED, Store, Txn};

use crate::DynamoDbError;
use crate::generated::{KeySchemaElement, Projection, TableDescription};
use crate::state::{index_ns, items_ns};

/// Largest item, by DynamoDB's size rules.
pub const MAX_ITEM_BYTES: usize = 400 * 1024;
const MAX_HASH_KEY_BYTES: usize = 2048;
const MAX_RANGE_KEY_BYTES: usize = 1024;

/// One key attribute: name and scalar type (`S`, `N`, `B`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyAttr {
    pub name: String,
    pub ty: String,
}

/// The key of a table or index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeySchema {
    pub hash: KeyAttr,
    pub range: Option<KeyAttr>,
}

/// A secondary index of a table.
#[derive(Clone, Debug)]
pub struct Index {
    pub name: String,
    pub schema: KeySchema,
    pub projection: Projection,
    pub global: bool,
}

impl KeySchema {
    pub fn from(ks: &[KeySchemaElement], desc: &TableDescription) -> KeySchema {
        let ty = |name: &str| {
            desc.attribute_definitions
                .iter()
                .flatten()
                .find(|d| d.attribute_name.as_deref() == Some(name))
                .and_then(|d| d.attribute_type.clone())
                .unwrap_or_else(|| "S".into())
        };
        let attr = |kind: &str| {
            ks.iter().find(|k| k.key_type.as_deref() == Some(kind)).map(|k| {
                let name = k.attribute_name.clone().unwrap_or_default();
                KeyAttr { ty: ty(&name), name }
            })
        };
        KeySchema {
            hash: attr("HASH").unwrap_or(KeyAttr {
                name: String::new(),
                ty: "S".into(),
            }),
            range: attr("RANGE"),
        }
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.hash.name.as_str()).chain(self.range.as_ref().map(|r| r.name.as_str()))
    }

    /// The key attributes of `item`, as an item.
    pub fn key_of(&self, item: &Item) -> Item {
        self.names()
            .filter_map(|n| item.get(n).map(|v| (n.to_string(), v.clone())))
            .collect()
    }
}

/// Everything an item operation needs to know about its table.
#[derive(Clone, Debug)]
pub struct TableInfo {
    pub name: String,
    pub id: String,
    pub arn: String,
    pub schema: KeySchema,
    pub indexes: Vec<Index>,
    /// The store namespace of the table's items.
    items_ns: String,
}

impl TableInfo {
    pub fn from(desc: &TableDescription) -> TableInfo {
        let schema = KeySchema::from(desc.key_schema.as_deref().unwrap_or_default(), desc);
        let mut indexes = Vec::new();
        for g in desc.global_secondary_indexes.iter().flatten() {
            indexes.push(Index {
                name: g.index_name.clone().unwrap_or_default(),
                schema: KeySchema::from(g.key_schema.as_deref().unwrap_or_default(), desc),
                projection: g.projection.clone().unwrap_or_default(),
                global: true,
            });
        }
        for l in desc.local_secondary_indexes.iter().flatten() {
            indexes.push(Index {
                name: l.index_name.clone().unwrap_or_default(),
                schema: KeySchema::from(l.key_schema.as_deref().unwrap_or_default(), desc),
                projection: l.projection.clone().unwrap_or_default(),
                global: false,
            });
        }
        // Writes check index keys in this order, and DynamoDB names the alphabetically first
        // index whose key a value does not fit.
        indexes.sort_by(|a, b| a.name.cmp(&b.name));
        let id = desc.table_id.clone().unwrap_or_default();
        TableInfo {
            name: desc.table_name.clone().unwrap_or_default(),
            items_ns: items_ns(&id),
            id,
            arn: desc.table_arn.clone().unwrap_or_default(),
            schema,
            indexes,
        }
    }

    pub fn ns(&self) -> &str {
        &self.items_ns
    }

    pub fn index_ns(&self, index: &str) -> String {
        index_ns(&self.id, index)
    }

    pub fn index(&self, name: &str) -> Option<&Index> {
        self.indexes.iter().find(|i| i.name == name)
    }

    /// Whether `index` keeps every attribute of the items it holds (projection ALL).
    pub fn projects_all(&self, index: &Index) -> bool {
        matches!(index.projection.projection_type.as_deref(), Some("ALL") | None)
    }

    /// Whether `index` keeps attribute `name`: every key attribute, and those its projection
    /// names.
    pub fn projects(&self, index: &Index, name: &str) -> bool {
        self.projects_all(index)
            || self.schema.names().chain(index.schema.names()).any(|k| k == name)
            || (index.projection.projection_type.as_deref() == Some("INCLUDE")
                && index
                    .projection
                    .non_key_attributes
                    .iter()
                    .flatten()
                    .any(|a| a == name))
    }
}

/// Converts wire values, with DynamoDB's messages for invalid ones.
pub fn value_from_wire(w: &WireValue) -> Result<AttributeValue, DynamoDbError> {
    AttributeValue::try_from(w).map_err(|e| DynamoDbError::Validation(e.to_string()))
}

/// A list of wire values (absent: empty).
pub fn list_from_wire(list: Option<&Vec<WireValue>>) -> Result<Vec<AttributeValue>, DynamoDbError> {
    list.into_iter().flatten().map(value_from_wire).collect()
}

/// An attribute map from the wire, into an item or any other map.
pub fn map_from_wire<M: FromIterator<(String, AttributeValue)>>(
    map: &HashMap<String, WireValue>,
) -> Result<M, DynamoDbError> {
    map.iter()
        .map(|(k, v)| Ok((k.clone(), value_from_wire(v)?)))
        .collect()
}

pub fn from_wire(map: &HashMap<String, WireValue>) -> Result<Item, DynamoDbError> {
    map_from_wire(map)
}

/// ExpressionAttributeValues: a value DynamoDB refuses for its content is named by its key
/// (`... contains invalid value: ... for key :v`); one refused for its shape (no type, two
/// types, a false NULL) is not.
pub fn values_from_wire(
    map: Option<&HashMap<String, WireValue>>,
) -> Result<HashMap<String, AttributeValue>, DynamoDbError> {
    use stratus_dynamodb_expr::value::ValueError;
    let mut out = HashMap::with_capacity(map.map_or(0, HashMap::len));
    for (k, w) in map.into_iter().flatten() {
        let v = AttributeValue::try_from(w).map_err(|e| {
            DynamoDbError::Validation(match e {
                ValueError::Empty | ValueError::MoreThanOne | ValueError::NullNotTrue => e.to_string(),
                other => format!("ExpressionAttributeValues contains invalid value: {other} for key {k}"),
            })
        })?;
        out.insert(k.clone(), v);
    }
    check_nesting(out.values())?;
    Ok(out)
}

/// PutItem and UpdateItem report request validation failures inside DynamoDB's
/// `1 validation error detected: ` envelope (other operations, and their failures against
/// the table's schema or the stored item, do not).
pub fn enveloped(e: DynamoDbError) -> DynamoDbError {
    const ENVELOPE: &str = "1 validation error detected: ";
    match e {
        DynamoDbError::Validation(m) if !m.starts_with(ENVELOPE) => {
            DynamoDbError::Validation(format!("{ENVELOPE}{m}"))
        }
        other => other,
    }
}

/// An item or key from the wire for PutItem and UpdateItem: refusals of a value's content
/// (empty or repeated set elements, a false NULL) are enveloped; of its shape, not.
pub fn enveloped_from_wire(map: &HashMap<String, WireValue>) -> Result<Item, DynamoDbError> {
    use stratus_dynamodb_expr::value::ValueError;
    map.iter()
        .map(|(k, w)| match AttributeValue::try_from(w) {
            Ok(v) => Ok((k.clone(), v)),
            Err(e @ (ValueError::Empty | ValueError::MoreThanOne)) => {
                Err(DynamoDbError::Validation(e.to_string()))
            }
            Err(e @ (ValueError::Number(_) | ValueError::Base64)) => {
                Err(DynamoDbError::Validation(e.to_string()))
            }
            Err(e) => Err(enveloped(DynamoDbError::Validation(e.to_string()))),
        })
        .collect()
}

fn key_part(
    out: &mut Vec<u8>,
    attr: &KeyAttr,
    v: &AttributeValue,
    what: &str,
    index: Option<&str>,
) -> Result<(), DynamoDbError> {
    if v.type_name() != attr.ty {
        return Err(match index {
            Some(ix) => DynamoDbError::invalid(format!(
                "Type mismatch for Index Key {} Expected: {} Actual: {} IndexName: {ix}",
                attr.name,
                attr.ty,
                v.type_name()
            )),
            None => DynamoDbError::invalid(format!(
                "Type mismatch for key {} expected: {} actual: {}",
                attr.name,
                attr.ty,
                v.type_name()
            )),
        });
    }
    let len = match v {
        AttributeValue::S(s) => s.len(),
        AttributeValue::B(b) => b.len(),
        _ => 1,
    };
    if len == 0 {
        let kind = if matches!(v, AttributeValue::S(_)) {
            "string"
        } else {
            "binary"
        };
        return Err(match index {
            // Both worded without the usual "were invalid:" lead, as DynamoDB words them.
            Some(ix) => DynamoDbError::Validation(format!(
                "One or more parameter values are not valid. A value specified for a secondary index key is not supported. The AttributeValue for a key attribute cannot contain an empty {kind} value. IndexName: {ix}, IndexKey: {}",
                attr.name
            )),
            None => DynamoDbError::Validation(format!(
                "One or more parameter values are not valid. The AttributeValue for a key attribute cannot contain an empty {kind} value. Key: {}",
                attr.name
            )),
        });
    }
    if what == "hash" && len > MAX_HASH_KEY_BYTES {
        return Err(DynamoDbError::invalid(
            "Size of hashkey has exceeded the maximum size limit of2048 bytes",
        ));
    }
    if what == "range" && len > MAX_RANGE_KEY_BYTES {
        return Err(DynamoDbError::invalid(
            "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
        ));
    }
    encode_key_part(out, v);
    Ok(())
}

/// The storage key of an item that must contain the table's key attributes.
pub fn item_key(schema: &KeySchema, item: &Item) -> Result<Vec<u8>, DynamoDbError> {
    let mut out = Vec::with_capacity(32);
    let hash = item
        .get(&schema.hash.name)
        .ok_or_else(|| DynamoDbError::invalid(format!("Missing the key {} in the item", schema.hash.name)))?;
    key_part(&mut out, &schema.hash, hash, "hash", None)?;
    if let Some(r) = &schema.range {
        let v = item
            .get(&r.name)
            .ok_or_else(|| DynamoDbError::invalid(format!("Missing the key {} in the item", r.name)))?;
        key_part(&mut out, r, v, "range", None)?;
    }
    Ok(out)
}

/// The storage key named by a request's `Key`, which must hold exactly the key attributes.
/// How DynamoDB refuses a key that names other attributes, or other types, than the schema's.
pub const KEY_MISMATCH: &str = "The provided key element does not match the schema";

pub fn request_key(schema: &KeySchema, key: &Item) -> Result<Vec<u8>, DynamoDbError> {
    let expected = 1 + usize::from(schema.range.is_some());
    if key.len() != expected || schema.names().any(|n| !key.contains_key(n)) {
        return Err(DynamoDbError::Validation(KEY_MISMATCH.into()));
    }
    let mut out = Vec::with_capacity(32);
    for (attr, what) in
        std::iter::once((&schema.hash, "hash")).chain(schema.range.iter().map(|r| (r, "range")))
    {
        let v = &key[&attr.name];
        if v.type_name() != attr.ty {
            return Err(DynamoDbError::Validation(KEY_MISMATCH.into()));
        }
        key_part(&mut out, attr, v, what, None)?;
    }
    Ok(out)
}

/// Whether a key attribute that `key` holds has another type than the schema's: DynamoDB
/// checks that where the item is stored, so a transaction cancels on it (a request that names
/// the wrong attributes is refused before).
pub fn key_type_differs(schema: &KeySchema, key: &Item) -> bool {
    std::iter::once(&schema.hash)
        .chain(schema.range.iter())
        .any(|a| key.get(&a.name).is_some_and(|v| v.type_name() != a.ty))
}

/// Whether a refused index key value has another type than the index's (not an empty value).
pub fn index_key_type_differs(table: &TableInfo, item: &Item) -> bool {
    table.indexes.iter().any(|i| key_type_differs(&i.schema, item))
}

/// The index entry key of `item` in `index` (None: the item is not in this sparse index).
pub fn index_key(
    table: &TableInfo,
    index: &Index,
    item: &Item,
    table_key: &[u8],
) -> Result<Option<Vec<u8>>, DynamoDbError> {
    let mut out = Vec::with_capacity(48);
    let Some(h) = item.get(&index.schema.hash.name) else {
        return Ok(None);
    };
    key_part(&mut out, &index.schema.hash, h, "hash", Some(&index.name))?;
    if let Some(r) = &index.schema.range {
        let Some(v) = item.get(&r.name) else {
            return Ok(None);
        };
        key_part(&mut out, r, v, "range", Some(&index.name))?;
    }
    let _ = table;
    out.extend_from_slice(table_key);
    Ok(Some(out))
}

/// The attributes an index keeps of an item.
pub fn project_for_index(table: &TableInfo, index: &Index, item: &Item) -> Item {
    if table.projects_all(index) {
        return item.clone();
    }
    item.iter()
        .filter(|(k, _)| table.projects(index, k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// An item's stored form: the store's size header (`stratus_store::sized_header`; JSON never
/// starts with its tag) with the item's DynamoDB size, so the store's `stats` sum DynamoDB
/// sizes, then its JSON wire form.
pub fn encode_item(item: &Item) -> Vec<u8> {
    let size = u32::try_from(value::item_size(item)).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(&stratus_store::sized_header(size));
    serde_json::to_writer(&mut out, item).expect("items serialize");
    out
}

pub fn decode_item(raw: &[u8]) -> Result<Item, DynamoDbError> {
    let (_, json) = stored_parts(raw)?;
    serde_json::from_slice(json).map_err(|e| DynamoDbError::Internal(format!("corrupt item: {e}")))
}

/// The size a stored item's header declares (none before headers existed) and its JSON.
fn stored_parts(raw: &[u8]) -> Result<(Option<usize>, &[u8]), DynamoDbError> {
    match stratus_store::split_sized(raw) {
        Some((size, json)) => Ok((Some(size as usize), json)),
        None if raw.first() == Some(&SIZED) => {
            Err(DynamoDbError::Internal("corrupt item: truncated header".into()))
        }
        None => Ok((None, raw)),
    }
}

/// An item as a read found it: its size and JSON wire form, decoded only when asked.
#[derive(Clone, Debug)]
pub struct StoredItem {
    size: usize,
    raw: Vec<u8>,
    /// Where the JSON starts in `raw`.
    json_at: usize,
}

impl StoredItem {
    pub fn new(raw: Vec<u8>) -> Result<StoredItem, DynamoDbError> {
        let (size, json) = stored_parts(&raw)?;
        let json_at = raw.len() - json.len();
        let size = match size {
            Some(size) => size,
            None => value::item_size(&decode_item(&raw)?),
        };
        Ok(StoredItem { size, raw, json_at })
    }

    /// Size by DynamoDB's rules.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The item in DynamoDB JSON, as an answer carries it.
    pub fn json(&self) -> &[u8] {
        &self.raw[self.json_at..]
    }

    pub fn decode(&self) -> Result<Item, DynamoDbError> {
        decode_item(self.json())
    }
}

/// Reads an item as stored.
pub async fn load_stored(
    store: &Store,
    table: &TableInfo,
    key: &[u8],
) -> Result<Option<StoredItem>, DynamoDbError> {
    store.get(table.ns(), key).await?.map(StoredItem::new).transpose()
}

/// Reads an item and the bytes it was stored as.
pub async fn load(
    store: &Store,
    table: &TableInfo,
    key: &[u8],
) -> Result<Option<(Item, Vec<u8>)>, DynamoDbError> {
    match store.get(table.ns(), key).await? {
        None => Ok(None),
        Some(raw) => Ok(Some((decode_item(&raw)?, raw))),
    }
}

/// Adds to `txn` the writes that replace `old` by `new` (either may be absent) at `key`,
/// index entries included, with a precondition that the item is still `old_raw`.
pub fn stage_write(
    txn: Txn,
    table: &TableInfo,
    key: &[u8],
    old: Option<(&Item, &[u8])>,
    new: Option<&Item>,
) -> Result<Txn, DynamoDbError> {
    let ns = table.ns();
    let mut txn = match old {
        Some((_, raw)) => txn.equals(ns, key.to_vec(), raw.to_vec()),
        None => txn.absent(ns, key.to_vec()),
    };
    for index in &table.indexes {
        let ins = table.index_ns(&index.name);
        let old_key = match old {
            Some((item, _)) => index_key(table, index, item, key)?,
            None => None,
        };
        let new_key = match new {
            Some(item) => index_key(table, index, item, key)?,
            None => None,
        };
        if let Some(k) = &old_key
            && new_key.as_ref() != Some(k)
        {
            txn = txn.delete(&ins, k.clone());
        }
        if let (Some(k), Some(item)) = (new_key, new) {
            txn = txn.put(&ins, k, encode_item(&project_for_index(table, index, item)));
        }
    }
    txn = match new {
        Some(item) => txn.put(ns, key.to_vec(), encode_item(item)),
        None => txn.delete(ns, key.to_vec()),
    };
    Ok(txn)
}

/// Checks an item's top-level attribute names, the 32 levels of nesting and the 400 KB limit;
/// the item's size.
pub fn check_limits(item: &Item) -> Result<usize, DynamoDbError> {
    if item.contains_key("") {
        return Err(DynamoDbError::Validation("Empty attribute name".into()));
    }
    check_nesting(item.values())?;
    let size = value::item_size(item);
    if size > MAX_ITEM_BYTES {
        return Err(DynamoDbError::Validation(ITEM_TOO_BIG.into()));
    }
    Ok(size)
}

const ITEM_TOO_BIG: &str = "Item size has exceeded the maximum allowed size";

/// [`check_limits`] for what an update made of an item. DynamoDB measures an update against
/// the 400 KB limit differently from a put (as captured against the service): without the key
/// attributes, plus 3 bytes for the update and 19 for each SET action, so an item can be
/// written whole but not reached by an update; it words that refusal differently too.
pub fn check_updated_limits(
    item: &Item,
    schema: &KeySchema,
    update: &stratus_dynamodb_expr::expr::Update,
) -> Result<usize, DynamoDbError> {
    const UPDATE_TOO_BIG: &str = "Item size to update has exceeded the maximum allowed size";
    let size = check_limits(item).map_err(|e| match e {
        DynamoDbError::Validation(m) if m == ITEM_TOO_BIG => DynamoDbError::Validation(UPDATE_TOO_BIG.into()),
        other => other,
    })?;
    let measured = size - value::item_size(&schema.key_of(item)) + 3 + 19 * update.set.len();
    if measured > MAX_ITEM_BYTES {
        return Err(DynamoDbError::Validation(UPDATE_TOO_BIG.into()));
    }
    Ok(size)
}

/// Refuses values nested deeper than DynamoDB's 32 levels.
pub fn check_nesting<'a>(values: impl IntoIterator<Item = &'a AttributeValue>) -> Result<(), DynamoDbError> {
    if values.into_iter().map(nesting).max().unwrap_or(0) > MAX_NESTING {
        return Err(DynamoDbError::Validation(
            "Nesting Levels have exceeded supported limits: Attributes in the item have nested levels beyond supported limit".into(),
        ));
    }
    Ok(())
}

/// Most lists and maps inside one another that DynamoDB stores: a value has at most 32 levels,
/// the top-level attribute being the first and the innermost scalar the last.
const MAX_NESTING: usize = 31;

/// How many levels of lists and maps a value holds (0 for a scalar or a set).
fn nesting(v: &AttributeValue) -> usize {
    match v {
        AttributeValue::L(l) => 1 + l.iter().map(nesting).max().unwrap_or(0),
        AttributeValue::M(m) => 1 + m.values().map(nesting).max().unwrap_or(0),
        _ => 0,
    }
}

/// Write capacity units for an item of `bytes` (1 KB each, at least 1).
pub fn write_units(bytes: usize) -> f64 {
    bytes.div_ceil(1024).max(1) as f64
}

/// Read capacity units for `bytes` read (4 KB each, at least 1; half when eventually consistent).
pub fn read_units(bytes: usize, consistent: bool) -> f64 {
    let units = bytes.div_ceil(4096).max(1) as f64;
    if consistent { units } else { units / 2.0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item() -> Item {
        let wire =
            r#"{"pk":{"S":"a"},"n":{"N":"12.50"},"b":{"B":"AAE="},"l":{"L":[{"BOOL":true},{"NULL":true}]}}"#;
        from_wire(&serde_json::from_str(wire).unwrap()).unwrap()
    }

    #[test]
    fn stored_items_carry_their_size_and_wire_form() {
        let item = item();
        let raw = encode_item(&item);
        let stored = StoredItem::new(raw.clone()).unwrap();
        assert_eq!(stored.size(), value::item_size(&item));
        assert_eq!(stored.json(), serde_json::to_vec(&item).unwrap());
        assert_eq!(stored.decode().unwrap(), item);
        assert_eq!(decode_item(&raw).unwrap(), item);
    }

    #[test]
    fn items_stored_as_json_alone_are_still_read() {
        let item = item();
        let raw = serde_json::to_vec(&item).unwrap();
        let stored = StoredItem::new(raw.clone()).unwrap();
        assert_eq!(stored.size(), value::item_size(&item));
        assert_eq!(stored.json(), raw);
        assert_eq!(decode_item(&raw).unwrap(), item);
    }

    #[test]
    fn truncated_headers_are_corrupt_not_panics() {
        assert!(StoredItem::new(vec![SIZED, 1, 2]).is_err());
        assert!(decode_item(&[SIZED, 1]).is_err());
    }
}
