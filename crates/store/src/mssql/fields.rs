//! Passing a response's field rows to SQL Server in the `finish` batch.
//!
//! The number of rows varies per reply, but `finish` must stay one parameterised batch and
//! one transaction. The rows travel as one XML parameter that the batch shreds with
//! `nodes()` (SQL Server 2005+, so 2008 R2 is fine). Each value is base64 of its UTF-16LE
//! bytes, decoded by `xs:base64Binary` straight into NVARCHAR: nothing in a value (control
//! characters, `<`, quotes) can break the XML or change the text.

use base64::Engine;
use tiberius::Row;

use super::{corrupt, req_str};
use crate::types::ResponseField;
use crate::StoreError;

/// `<f p="path" i="0" v="base64(UTF-16LE)"/>…`, or `None` for no rows.
pub(super) fn to_xml(fields: &[ResponseField]) -> Option<String> {
    if fields.is_empty() {
        return None;
    }
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut out = String::new();
    for f in fields {
        let utf16: Vec<u8> = f.value.encode_utf16().flat_map(u16::to_le_bytes).collect();
        out.push_str(&format!(
            "<f p=\"{}\" i=\"{}\" v=\"{}\"/>",
            escape(&f.path),
            f.row_index,
            b64.encode(utf16)
        ));
    }
    Some(out)
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Rows of the `response_fields` statement: path, row_index, value.
pub(super) fn from_rows(rows: &[Row]) -> Result<Vec<ResponseField>, StoreError> {
    let mut out = Vec::with_capacity(rows.len());
    for r in rows {
        let row_index = r.try_get::<i32, _>(1).map_err(corrupt)?.unwrap_or(0);
        out.push(ResponseField {
            path: req_str(r, 0)?,
            row_index: u32::try_from(row_index).unwrap_or(0),
            value: super::opt_str(r, 2)?.unwrap_or_default(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_survive_as_utf16_base64() {
        let f = ResponseField {
            path: "insuinfo[*].balc".into(),
            row_index: 2,
            value: "张三<\"&\u{1}".into(),
        };
        let xml = to_xml(std::slice::from_ref(&f)).unwrap();
        assert!(
            xml.starts_with("<f p=\"insuinfo[*].balc\" i=\"2\" v=\""),
            "{xml}"
        );
        let v = xml.split("v=\"").nth(1).unwrap().trim_end_matches("\"/>");
        let bytes = base64::engine::general_purpose::STANDARD.decode(v).unwrap();
        let units: Vec<u16> = bytes
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(String::from_utf16(&units).unwrap(), f.value);
        assert_eq!(to_xml(&[]), None);
    }
}
