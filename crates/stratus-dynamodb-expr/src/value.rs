//! Attribute values as DynamoDB defines them, with numbers typed, sets kept sorted and
//! duplicate-free, DynamoDB's item size rules, and the order-preserving encoding of key
//! attributes (strings and binaries bytewise, numbers numerically).

use std::collections::BTreeMap;

use base64::Engine as _;
use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::number::Number;

/// One attribute value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AttributeValue {
    S(String),
    N(Number),
    B(Vec<u8>),
    Bool(bool),
    Null,
    L(Vec<AttributeValue>),
    M(BTreeMap<String, AttributeValue>),
    /// Sorted, without duplicates.
    Ss(Vec<String>),
    Ns(Vec<Number>),
    Bs(Vec<Vec<u8>>),
}

/// An item: attribute name → value.
pub type Item = BTreeMap<String, AttributeValue>;

impl AttributeValue {
    /// The type descriptor DynamoDB uses (`S`, `N`, `BOOL`, `SS`...).
    pub fn type_name(&self) -> &'static str {
        match self {
            AttributeValue::S(_) => "S",
            AttributeValue::N(_) => "N",
            AttributeValue::B(_) => "B",
            AttributeValue::Bool(_) => "BOOL",
            AttributeValue::Null => "NULL",
            AttributeValue::L(_) => "L",
            AttributeValue::M(_) => "M",
            AttributeValue::Ss(_) => "SS",
            AttributeValue::Ns(_) => "NS",
            AttributeValue::Bs(_) => "BS",
        }
    }

    /// Size in bytes by DynamoDB's rules (what item size limits and capacity units count).
    pub fn size(&self) -> usize {
        match self {
            AttributeValue::S(s) => s.len(),
            AttributeValue::N(n) => number_size(n),
            AttributeValue::B(b) => b.len(),
            AttributeValue::Bool(_) | AttributeValue::Null => 1,
            AttributeValue::L(l) => 3 + l.iter().map(|v| v.size() + 1).sum::<usize>(),
            AttributeValue::M(m) => 3 + m.iter().map(|(k, v)| k.len() + v.size() + 1).sum::<usize>(),
            AttributeValue::Ss(s) => s.iter().map(String::len).sum(),
            AttributeValue::Ns(n) => n.iter().map(number_size).sum(),
            AttributeValue::Bs(b) => b.iter().map(Vec::len).sum(),
        }
    }
}

fn number_size(n: &Number) -> usize {
    n.significant_digits().div_ceil(2) + 1
}

/// Size of an item by DynamoDB's rules: attribute names plus values.
pub fn item_size(item: &Item) -> usize {
    item.iter().map(|(k, v)| k.len() + v.size()).sum()
}

/// Appends the order-preserving encoding of a key attribute (S, N or B). Strings and binaries
/// are escaped (`00` → `00 FF`) and terminated by `00 01`; numbers are self-delimiting.
pub fn encode_key_part(out: &mut Vec<u8>, v: &AttributeValue) -> bool {
    match v {
        AttributeValue::S(s) => escape(out, s.as_bytes()),
        AttributeValue::B(b) => escape(out, b),
        AttributeValue::N(n) => out.extend_from_slice(&n.key_bytes()),
        _ => return false,
    }
    true
}

fn escape(out: &mut Vec<u8>, bytes: &[u8]) {
    for &b in bytes {
        out.push(b);
        if b == 0 {
            out.push(0xFF);
        }
    }
    out.extend_from_slice(&[0, 1]);
}

fn b64(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

impl Serialize for AttributeValue {
    /// The DynamoDB JSON wire form: `{"S": "x"}`, `{"N": "1.5"}`, `{"B": "base64"}`...
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(1))?;
        match self {
            AttributeValue::S(v) => m.serialize_entry("S", v)?,
            AttributeValue::N(v) => m.serialize_entry("N", &v.to_string())?,
            AttributeValue::B(v) => m.serialize_entry("B", &b64(v))?,
            AttributeValue::Bool(v) => m.serialize_entry("BOOL", v)?,
            AttributeValue::Null => m.serialize_entry("NULL", &true)?,
            AttributeValue::L(v) => m.serialize_entry("L", v)?,
            AttributeValue::M(v) => m.serialize_entry("M", v)?,
            AttributeValue::Ss(v) => m.serialize_entry("SS", v)?,
            AttributeValue::Ns(v) => {
                m.serialize_entry("NS", &v.iter().map(|n| n.to_string()).collect::<Vec<_>>())?
            }
            AttributeValue::Bs(v) => {
                m.serialize_entry("BS", &v.iter().map(|b| b64(b)).collect::<Vec<_>>())?
            }
        }
        m.end()
    }
}

/// Why a wire value is not a valid attribute value; messages as DynamoDB words them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    #[error("Supplied AttributeValue is empty, must contain exactly one of the supported datatypes")]
    Empty,
    #[error(
        "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the supported datatypes"
    )]
    MoreThanOne,
    #[error("One or more parameter values were invalid: An string set  may not be empty")]
    EmptyStringSet,
    #[error("One or more parameter values were invalid: An number set  may not be empty")]
    EmptyNumberSet,
    #[error("One or more parameter values were invalid: Binary sets should not be empty")]
    EmptyBinarySet,
    #[error("One or more parameter values were invalid: Input collection {0} contains duplicates.")]
    Duplicates(String),
    /// DynamoDB words a number set's duplicates (equal as numbers) without listing them.
    #[error("Input collection contains duplicates")]
    NumberDuplicates,
    #[error(
        "One or more parameter values were invalid: Null attribute value types must have the value of true"
    )]
    NullNotTrue,
    #[error("{0}")]
    Number(#[from] crate::NumberError),
    #[error("Invalid base64 value")]
    Base64,
}

/// A value exactly as it arrives on the wire (numbers unparsed), for validation with
/// DynamoDB's messages before it becomes an [`AttributeValue`].
#[derive(Clone, Debug, Default, PartialEq, Deserialize, Serialize)]
pub struct WireValue {
    #[serde(rename = "S", default, skip_serializing_if = "Option::is_none")]
    pub s: Option<String>,
    #[serde(rename = "N", default, skip_serializing_if = "Option::is_none")]
    pub n: Option<String>,
    #[serde(rename = "B", default, skip_serializing_if = "Option::is_none")]
    pub b: Option<String>,
    #[serde(rename = "BOOL", default, skip_serializing_if = "Option::is_none")]
    pub bool: Option<bool>,
    #[serde(rename = "NULL", default, skip_serializing_if = "Option::is_none")]
    pub null: Option<bool>,
    #[serde(rename = "L", default, skip_serializing_if = "Option::is_none")]
    pub l: Option<Vec<WireValue>>,
    #[serde(rename = "M", default, skip_serializing_if = "Option::is_none")]
    pub m: Option<BTreeMap<String, WireValue>>,
    #[serde(rename = "SS", default, skip_serializing_if = "Option::is_none")]
    pub ss: Option<Vec<String>>,
    #[serde(rename = "NS", default, skip_serializing_if = "Option::is_none")]
    pub ns: Option<Vec<String>>,
    #[serde(rename = "BS", default, skip_serializing_if = "Option::is_none")]
    pub bs: Option<Vec<String>>,
}

fn unb64(s: &str) -> Result<Vec<u8>, ValueError> {
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map_err(|_| ValueError::Base64)
}

impl TryFrom<&WireValue> for AttributeValue {
    type Error = ValueError;

    fn try_from(w: &WireValue) -> Result<Self, ValueError> {
        let set = [
            w.s.is_some(),
            w.n.is_some(),
            w.b.is_some(),
            w.bool.is_some(),
            w.null.is_some(),
            w.l.is_some(),
            w.m.is_some(),
            w.ss.is_some(),
            w.ns.is_some(),
            w.bs.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count();
        match set {
            0 => return Err(ValueError::Empty),
            1 => {}
            _ => return Err(ValueError::MoreThanOne),
        }
        Ok(if let Some(s) = &w.s {
            AttributeValue::S(s.clone())
        } else if let Some(n) = &w.n {
            AttributeValue::N(Number::parse(n)?)
        } else if let Some(b) = &w.b {
            AttributeValue::B(unb64(b)?)
        } else if let Some(b) = w.bool {
            AttributeValue::Bool(b)
        } else if let Some(n) = w.null {
            if !n {
                return Err(ValueError::NullNotTrue);
            }
            AttributeValue::Null
        } else if let Some(l) = &w.l {
            AttributeValue::L(l.iter().map(AttributeValue::try_from).collect::<Result<_, _>>()?)
        } else if let Some(m) = &w.m {
            AttributeValue::M(
                m.iter()
                    .map(|(k, v)| Ok((k.clone(), AttributeValue::try_from(v)?)))
                    .collect::<Result<_, ValueError>>()?,
            )
        } else if let Some(ss) = &w.ss {
            if ss.is_empty() {
                return Err(ValueError::EmptyStringSet);
            }
            let mut v = ss.clone();
            v.sort();
            v.dedup();
            if v.len() != ss.len() {
                return Err(ValueError::Duplicates(format!("[{}]", ss.join(", "))));
            }
            AttributeValue::Ss(v)
        } else if let Some(ns) = &w.ns {
            if ns.is_empty() {
                return Err(ValueError::EmptyNumberSet);
            }
            let mut v: Vec<Number> = ns.iter().map(|n| Number::parse(n)).collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            if v.len() != ns.len() {
                return Err(ValueError::NumberDuplicates);
            }
            AttributeValue::Ns(v)
        } else if let Some(bs) = &w.bs {
            if bs.is_empty() {
                return Err(ValueError::EmptyBinarySet);
            }
            let mut v: Vec<Vec<u8>> = bs.iter().map(|b| unb64(b)).collect::<Result<_, _>>()?;
            v.sort();
            v.dedup();
            if v.len() != bs.len() {
                // Sic: DynamoDB runs "of type BS" into the list.
                return Err(ValueError::Duplicates(format!("[{}]of type BS", bs.join(", "))));
            }
            AttributeValue::Bs(v)
        } else {
            unreachable!("exactly one member is set")
        })
    }
}

impl<'de> Deserialize<'de> for AttributeValue {
    /// Reads the wire form of values Stratus itself stored (already validated).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = AttributeValue;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a DynamoDB attribute value")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<AttributeValue, A::Error> {
                let key: String = map
                    .next_key()?
                    .ok_or_else(|| de::Error::custom("empty attribute value"))?;
                let num = |s: String| Number::parse(&s).map_err(de::Error::custom);
                let bin = |s: String| unb64(&s).map_err(de::Error::custom);
                Ok(match key.as_str() {
                    "S" => AttributeValue::S(map.next_value()?),
                    "N" => AttributeValue::N(num(map.next_value()?)?),
                    "B" => AttributeValue::B(bin(map.next_value()?)?),
                    "BOOL" => AttributeValue::Bool(map.next_value()?),
                    "NULL" => {
                        let _: bool = map.next_value()?;
                        AttributeValue::Null
                    }
                    "L" => AttributeValue::L(map.next_value()?),
                    "M" => AttributeValue::M(map.next_value()?),
                    "SS" => AttributeValue::Ss(map.next_value()?),
                    "NS" => {
                        let v: Vec<String> = map.next_value()?;
                        AttributeValue::Ns(v.into_iter().map(num).collect::<Result<_, _>>()?)
                    }
                    "BS" => {
                        let v: Vec<String> = map.next_value()?;
                        AttributeValue::Bs(v.into_iter().map(bin).collect::<Result<_, _>>()?)
                    }
                    other => {
                        return Err(de::Error::unknown_field(
                            other,
                            &["S", "N", "B", "BOOL", "NULL", "L", "M", "SS", "NS", "BS"],
                        ));
                    }
                })
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wire(json: &str) -> Result<AttributeValue, ValueError> {
        AttributeValue::try_from(&serde_json::from_str::<WireValue>(json).unwrap())
    }

    #[test]
    fn wire_validation() {
        assert_eq!(wire(r#"{"S":"x"}"#), Ok(AttributeValue::S("x".into())));
        assert_eq!(wire(r#"{}"#), Err(ValueError::Empty));
        assert_eq!(wire(r#"{"S":"x","N":"1"}"#), Err(ValueError::MoreThanOne));
        assert_eq!(wire(r#"{"SS":[]}"#), Err(ValueError::EmptyStringSet));
        assert_eq!(
            wire(r#"{"SS":["a","a"]}"#),
            Err(ValueError::Duplicates("[a, a]".into()))
        );
        assert_eq!(wire(r#"{"NS":["1","1.0"]}"#), Err(ValueError::NumberDuplicates));
        assert_eq!(wire(r#"{"NULL":false}"#), Err(ValueError::NullNotTrue));
        assert!(matches!(wire(r#"{"N":"abc"}"#), Err(ValueError::Number(_))));
        assert_eq!(
            wire(r#"{"SS":["b","a"]}"#),
            Ok(AttributeValue::Ss(vec!["a".into(), "b".into()]))
        );
    }

    #[test]
    fn stored_form_round_trips() {
        let v = wire(r#"{"M":{"n":{"N":"1.50"},"l":{"L":[{"NULL":true},{"BOOL":false},{"B":"AAE="}]},"ns":{"NS":["2","1"]},"bs":{"BS":["AA=="]}}}"#).unwrap();
        let s = serde_json::to_string(&v).unwrap();
        assert!(s.contains(r#""N":"1.5""#));
        let back: AttributeValue = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let mut item = Item::new();
        item.insert("pk".into(), AttributeValue::S("abc".into()));
        item.insert("n".into(), AttributeValue::N(Number::parse("12345").unwrap()));
        item.insert(
            "l".into(),
            AttributeValue::L(vec![AttributeValue::Bool(true), AttributeValue::Null]),
        );
        // pk: 2+3; n: 1 + (ceil(5/2)+1 = 4); l: 1 + 3 + (1+1)*2 = 8
        assert_eq!(item_size(&item), 5 + 5 + 8);
    }

    #[test]
    fn key_parts_order_like_dynamodb() {
        let enc = |v: AttributeValue| {
            let mut out = Vec::new();
            assert!(encode_key_part(&mut out, &v));
            out
        };
        assert!(enc(AttributeValue::S("a".into())) < enc(AttributeValue::S("a\0".into())));
        assert!(enc(AttributeValue::S("a".into())) < enc(AttributeValue::S("b".into())));
        assert!(
            enc(AttributeValue::N(Number::parse("9").unwrap()))
                < enc(AttributeValue::N(Number::parse("10").unwrap()))
        );
        assert!(
            enc(AttributeValue::N(Number::parse("-10").unwrap()))
                < enc(AttributeValue::N(Number::parse("-9").unwrap()))
        );
        assert!(!encode_key_part(&mut Vec::new(), &AttributeValue::Bool(true)));
    }
}
