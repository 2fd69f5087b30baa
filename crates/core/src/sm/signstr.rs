//! The exact string an `sm` message is signed over (design.md §9), reproduced from the
//! platform's published browser code because both sides must build it byte for byte:
//!
//! * every top-level field except the signature, the ciphertext and `extra`, skipping null
//!   and empty strings, sorted by name, written `k=v` and joined by `&`;
//! * the plaintext `data` object is written as compact JSON of its keys sorted, after
//!   turning numbers and booleans into strings and dropping null, empty strings and empty
//!   arrays; objects inside its arrays get their keys sorted too; deeper objects keep the
//!   order they have in the JSON that was encrypted (which, from us, is sorted);
//! * `key=<appSecret>` is appended last when the platform wants it (most do).

use serde_json::{Map, Value};

/// Which fields take part, by name (they are configurable per platform).
#[derive(Debug, Clone, Copy)]
pub struct SignFields<'a> {
    pub data: &'a str,
    pub enc_data: &'a str,
    pub sign_data: &'a str,
}

/// Builds the string to sign for `msg` (a JSON object whose `data` field holds plaintext).
pub fn string_to_sign(
    msg: &Map<String, Value>,
    fields: SignFields<'_>,
    key: Option<&str>,
) -> String {
    let mut names: Vec<&String> = msg
        .keys()
        .filter(|k| *k != fields.enc_data && *k != fields.sign_data && *k != "extra")
        .collect();
    names.sort();
    let mut parts = Vec::with_capacity(names.len() + 1);
    for name in names {
        let value = &msg[name.as_str()];
        let text = if name == fields.data {
            match value {
                Value::Object(m) => Value::Object(canonical_data(m)).to_string(),
                other => scalar_text(other),
            }
        } else {
            scalar_text(value)
        };
        if !text.is_empty() {
            parts.push(format!("{name}={text}"));
        }
    }
    if let Some(key) = key {
        parts.push(format!("key={key}"));
    }
    parts.join("&")
}

/// A top-level value as the platform's code prints it: strings bare, null as nothing.
fn scalar_text(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn canonical_data(data: &Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(&String, Value)> = Vec::with_capacity(data.len());
    for (k, v) in data {
        let v = match v {
            Value::Number(n) => Value::String(n.to_string()),
            Value::Bool(b) => Value::String(b.to_string()),
            Value::Array(items) if items.is_empty() => continue,
            Value::Array(items) => Value::Array(items.iter().map(sort_object_keys).collect()),
            Value::Null => continue,
            Value::String(s) if s.is_empty() => continue,
            other => other.clone(),
        };
        entries.push((k, v));
    }
    entries.sort_by(|a, b| a.0.cmp(b.0));
    entries.into_iter().map(|(k, v)| (k.clone(), v)).collect()
}

fn sort_object_keys(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            )
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const F: SignFields<'static> = SignFields {
        data: "data",
        enc_data: "encData",
        sign_data: "signData",
    };

    #[test]
    fn matches_the_platform_rules_field_by_field() {
        let msg = json!({
            "version": "1.0.0",
            "appId": "T98HPCGN5ZVVQBS8",
            "signData": "ignored",
            "encData": "ignored",
            "extra": "ignored",
            "timestamp": 1739624111,
            "empty": "",
            "none": null,
            "encType": "SM4",
            "data": {
                "pageSize": 10,
                "keyWords": "",
                "flag": true,
                "medListCodg": "X",
                "list": [],
                "nothing": null,
                "items": [{"b": 2, "a": "甲"}],
                "input": {"z": 1, "a": 2}
            }
        });
        let s = string_to_sign(msg.as_object().unwrap(), F, Some("SECRET"));
        assert_eq!(
            s,
            "appId=T98HPCGN5ZVVQBS8&data={\"flag\":\"true\",\"input\":{\"a\":2,\"z\":1},\
             \"items\":[{\"a\":\"甲\",\"b\":2}],\"medListCodg\":\"X\",\"pageSize\":\"10\"}\
             &encType=SM4&timestamp=1739624111&version=1.0.0&key=SECRET"
        );
        let without_key = string_to_sign(msg.as_object().unwrap(), F, None);
        assert!(without_key.ends_with("version=1.0.0"));
    }
}
