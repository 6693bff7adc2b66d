//! JSON as lane reads its input documents: like `serde_json::Value`, except that an object
//! with the same key twice is an error naming its JSON path. serde_json keeps the last copy,
//! so a forbidden field or a credential in the first copy would never be checked, while
//! another reader (a human, a schema validator, a later tool) might take the first.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Why a document could not be read.
#[derive(Debug)]
pub enum Error {
    /// Not JSON (serde_json's error, with line and column).
    Syntax(serde_json::Error),
    /// `key` appears twice in the object at `parent` (a JSONPath).
    Duplicate { parent: String, key: String },
}

/// Parse `bytes` as one JSON document, refusing duplicate object keys at any depth.
pub fn from_slice(bytes: &[u8]) -> Result<Value, Error> {
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let res = Seed {
        path: "$".into(),
        dup: &dup,
    }
    .deserialize(&mut de)
    .and_then(|v| de.end().map(|()| v));
    match (res, dup.into_inner()) {
        (_, Some((parent, key))) => Err(Error::Duplicate { parent, key }),
        (Ok(v), None) => Ok(v),
        (Err(e), None) => Err(Error::Syntax(e)),
    }
}

struct Seed<'a> {
    path: String,
    dup: &'a RefCell<Option<(String, String)>>,
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Seed {
            path: format!("{}[{}]", self.path, out.len()),
            dup: self.dup,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if !seen.insert(key.clone()) {
                *self.dup.borrow_mut() = Some((self.path.clone(), key));
                return Err(de::Error::custom("duplicate object key"));
            }
            let v = map.next_value_seed(Seed {
                path: super::check::key_path(&self.path, &key),
                dup: self.dup,
            })?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_named_at_any_depth() {
        match from_slice(br#"{"a": {"b": [1, {"c": 1, "c": 2}]}}"#) {
            Err(Error::Duplicate { parent, key }) => {
                assert_eq!(parent, "$.a.b[1]");
                assert_eq!(key, "c");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reads_like_serde_json_otherwise() {
        let text = br#"{"x": [1, -2, 3.5, "s", null, true, {"y": {}}], "z": 18446744073709551615}"#;
        let want: Value = serde_json::from_slice(text).unwrap();
        assert_eq!(from_slice(text).unwrap(), want);
        assert!(matches!(from_slice(b"{} x"), Err(Error::Syntax(_))));
        assert!(matches!(from_slice(b"[1,"), Err(Error::Syntax(_))));
        let deep = "[".repeat(10_000);
        assert!(matches!(from_slice(deep.as_bytes()), Err(Error::Syntax(_))));
    }
}
