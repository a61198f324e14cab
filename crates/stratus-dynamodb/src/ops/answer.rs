//! Answers that carry items, written member by member so that items read as stored go in as
//! they are: a stored item is already its DynamoDB JSON, and decoding it only to encode it
//! again was most of the work of a read.

use serde::Serialize;
use stratus_dynamodb_expr::Item;

use crate::DynamoDbError;
use crate::items::StoredItem;

/// An answer as a JSON body: the serde form of most, written by hand for those carrying items.
pub trait EncodeJson {
    fn to_json(&self) -> Vec<u8>;
}

impl<T: Serialize> EncodeJson for T {
    fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).unwrap_or_else(|_| b"{}".to_vec())
    }
}

/// An item of an answer: as stored, or decoded because the read looked inside it.
pub(crate) enum ReadItem {
    Stored(StoredItem),
    Decoded(Item),
}

impl ReadItem {
    pub(crate) fn into_item(self) -> Result<Item, DynamoDbError> {
        match self {
            ReadItem::Stored(s) => s.decode(),
            ReadItem::Decoded(item) => Ok(item),
        }
    }

    fn len_hint(&self) -> usize {
        match self {
            ReadItem::Stored(s) => s.json().len() + 1,
            ReadItem::Decoded(_) => 256,
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        match self {
            ReadItem::Stored(s) => out.extend_from_slice(s.json()),
            ReadItem::Decoded(item) => json_into(out, item),
        }
    }
}

fn json_into(out: &mut Vec<u8>, value: &(impl Serialize + ?Sized)) {
    serde_json::to_writer(out, value).expect("answers serialize");
}

/// A JSON object written member by member.
pub(crate) struct JsonObject {
    out: Vec<u8>,
    empty: bool,
}

impl JsonObject {
    /// An object about to hold `items` (sizes the buffer).
    pub(crate) fn new<'a>(items: impl IntoIterator<Item = &'a ReadItem>) -> JsonObject {
        let mut out = Vec::with_capacity(items.into_iter().map(ReadItem::len_hint).sum::<usize>() + 128);
        out.push(b'{');
        JsonObject { out, empty: true }
    }

    fn key(&mut self, name: &str) {
        if !std::mem::take(&mut self.empty) {
            self.out.push(b',');
        }
        json_into(&mut self.out, name);
        self.out.push(b':');
    }

    pub(crate) fn member(&mut self, name: &str, value: &(impl Serialize + ?Sized)) {
        self.key(name);
        json_into(&mut self.out, value);
    }

    pub(crate) fn item(&mut self, name: &str, item: &ReadItem) {
        self.key(name);
        item.write(&mut self.out);
    }

    pub(crate) fn items(&mut self, name: &str, items: &[ReadItem]) {
        self.key(name);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            item.write(&mut self.out);
        }
        self.out.push(b']');
    }

    /// A member whose value is an object written by `f`.
    pub(crate) fn object(&mut self, name: &str, f: impl FnOnce(&mut JsonObject)) {
        self.key(name);
        let mut inner = JsonObject {
            out: std::mem::take(&mut self.out),
            empty: true,
        };
        inner.out.push(b'{');
        f(&mut inner);
        inner.out.push(b'}');
        self.out = inner.out;
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        self.out.push(b'}');
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items;

    #[test]
    fn objects_are_valid_json_with_stored_and_decoded_items() {
        let item: Item = serde_json::from_str(r#"{"pk":{"S":"a\"b"},"n":{"N":"1"}}"#).unwrap();
        let stored = ReadItem::Stored(StoredItem::new(items::encode_item(&item)).unwrap());
        let decoded = ReadItem::Decoded(item.clone());
        let mut o = JsonObject::new([&stored, &decoded]);
        o.items("Items", &[stored, decoded]);
        o.member("Count", &2);
        o.object("Responses", |r| {
            r.items("t\"1", &[]);
            r.member("x", &true);
        });
        let v: serde_json::Value = serde_json::from_slice(&o.finish()).unwrap();
        let back: Item = serde_json::from_value(v["Items"][0].clone()).unwrap();
        assert_eq!(back, item);
        assert_eq!(v["Items"][0], v["Items"][1]);
        assert_eq!(v["Count"], 2);
        assert_eq!(v["Responses"]["t\"1"], serde_json::json!([]));
        assert_eq!(v["Responses"]["x"], true);
    }
}
