//! Bounded CBOR (RFC 8949) for the mdoc module.
//!
//! Every byte string that comes from outside is first walked by
//! [`item_end`], which checks that it is one well-formed data item, nested
//! at most [`MAX_DEPTH`] levels, whose lengths all fit the input; only then
//! does ciborium build a [`Value`] from it. The walker also yields the exact
//! byte span of each child of a container, so that digests are taken over
//! the bytes as received (ISO 18013-5 §9.1.2.5).

use super::MAX_DEPTH;
use crate::error::FormatError;
use ciborium::Value;
use std::collections::BTreeMap;
use std::ops::Range;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

/// CBOR tag of encoded CBOR data items (RFC 8949 §3.4.5.1).
pub const TAG_ENCODED_CBOR: u64 = 24;
/// CBOR tag of RFC 3339 date/time strings (`tdate`, RFC 8949 §3.4.1).
pub const TAG_TDATE: u64 = 0;
/// CBOR tag of RFC 3339 full-date strings (RFC 8943 §2).
pub const TAG_FULL_DATE: u64 = 1004;

const fn malformed(what: &'static str) -> FormatError {
    FormatError::MalformedMdoc(what)
}

/// The head of a data item: major type, argument (`None` for an
/// indefinite length) and the offset just after the head.
struct Head {
    major: u8,
    arg: Option<u64>,
    next: usize,
}

fn read_head(buf: &[u8], pos: usize) -> Result<Head, FormatError> {
    let first = *buf.get(pos).ok_or(malformed("truncated CBOR"))?;
    let major = first >> 5;
    let info = first & 0x1f;
    let start = pos + 1;
    let (arg, next) = match info {
        0..=23 => (Some(u64::from(info)), start),
        24..=27 => {
            let len = 1usize << (info - 24);
            let end = start
                .checked_add(len)
                .filter(|e| *e <= buf.len())
                .ok_or(malformed("truncated CBOR"))?;
            let bytes = buf.get(start..end).ok_or(malformed("truncated CBOR"))?;
            let value = bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
            (Some(value), end)
        }
        31 => (None, start),
        _ => return Err(malformed("reserved CBOR additional information")),
    };
    Ok(Head { major, arg, next })
}

/// The end of a string body of `len` bytes starting at `start`.
fn take(buf: &[u8], start: usize, len: u64) -> Result<usize, FormatError> {
    usize::try_from(len)
        .ok()
        .and_then(|l| start.checked_add(l))
        .filter(|end| *end <= buf.len())
        .ok_or(malformed("truncated CBOR"))
}

const BREAK: u8 = 0xff;

/// Checks that one well-formed data item starts at `pos` and returns the
/// offset just after it.
pub fn item_end(buf: &[u8], pos: usize, depth: usize) -> Result<usize, FormatError> {
    if depth > MAX_DEPTH {
        return Err(FormatError::TooDeep(MAX_DEPTH));
    }
    let head = read_head(buf, pos)?;
    match (head.major, head.arg) {
        (0 | 1 | 7, Some(_)) => Ok(head.next),
        (2 | 3, Some(len)) => take(buf, head.next, len),
        (2 | 3, None) => {
            let mut p = head.next;
            loop {
                if buf.get(p) == Some(&BREAK) {
                    return Ok(p + 1);
                }
                let chunk = read_head(buf, p)?;
                match chunk.arg {
                    Some(len) if chunk.major == head.major => p = take(buf, chunk.next, len)?,
                    _ => return Err(malformed("bad chunk in an indefinite-length string")),
                }
            }
        }
        (4 | 5, _) => Ok(children(buf, &head, depth)?.1),
        (6, Some(_)) => item_end(buf, head.next, depth + 1),
        _ => Err(malformed("ill-formed CBOR")),
    }
}

/// The spans of the children of an array or map (keys and values
/// alternating for a map) and the end of the container.
fn children(
    buf: &[u8],
    head: &Head,
    depth: usize,
) -> Result<(Vec<Range<usize>>, usize), FormatError> {
    let per_entry = if head.major == 5 { 2 } else { 1 };
    let mut spans = Vec::new();
    let mut p = head.next;
    let mut entries = 0u64;
    loop {
        match head.arg {
            Some(n) if entries == n => return Ok((spans, p)),
            None if buf.get(p) == Some(&BREAK) => return Ok((spans, p + 1)),
            _ => {}
        }
        // Every entry takes at least one byte, so this loop ends with the
        // input even when a definite length lies.
        for _ in 0..per_entry {
            let end = item_end(buf, p, depth + 1)?;
            spans.push(p..end);
            p = end;
        }
        entries += 1;
    }
}

/// The children spans of the array (`major` 4) or map (5) at `span`.
pub fn container(
    buf: &[u8],
    span: Range<usize>,
    major: u8,
    what: &'static str,
) -> Result<Vec<Range<usize>>, FormatError> {
    let head = read_head(buf, span.start)?;
    if head.major != major {
        return Err(malformed(what));
    }
    let (spans, end) = children(buf, &head, 0)?;
    if end != span.end {
        return Err(malformed(what));
    }
    Ok(spans)
}

/// Decodes bytes that must hold exactly one bounded data item.
pub fn decode(bytes: &[u8]) -> Result<Value, FormatError> {
    let end = item_end(bytes, 0, 0)?;
    if end != bytes.len() {
        return Err(malformed("trailing bytes after a CBOR item"));
    }
    ciborium::de::from_reader(bytes).map_err(|_| malformed("invalid CBOR"))
}

pub fn encode(value: &Value) -> Result<Vec<u8>, FormatError> {
    let mut out = Vec::new();
    ciborium::ser::into_writer(value, &mut out)
        .map_err(|_| FormatError::InvalidInput("a value cannot be encoded as CBOR"))?;
    Ok(out)
}

/// `#6.24(bstr .cbor item)`: the bytes of an embedded CBOR item.
pub fn embedded(value: &Value, what: &'static str) -> Result<Value, FormatError> {
    match value {
        Value::Tag(TAG_ENCODED_CBOR, inner) => match inner.as_ref() {
            Value::Bytes(b) => decode(b),
            _ => Err(malformed(what)),
        },
        _ => Err(malformed(what)),
    }
}

pub fn tag24(bytes: Vec<u8>) -> Value {
    Value::Tag(TAG_ENCODED_CBOR, Box::new(Value::Bytes(bytes)))
}

pub fn text(s: &str) -> Value {
    Value::Text(s.to_owned())
}

/// The entries of a map whose keys are all text strings, refusing
/// duplicate keys (RFC 8949 §5.6).
pub fn text_map<'a>(
    value: &'a Value,
    what: &'static str,
) -> Result<BTreeMap<&'a str, &'a Value>, FormatError> {
    let Value::Map(entries) = value else {
        return Err(malformed(what));
    };
    let mut out = BTreeMap::new();
    for (k, v) in entries {
        let Value::Text(k) = k else {
            return Err(malformed(what));
        };
        if out.insert(k.as_str(), v).is_some() {
            return Err(malformed("duplicate map key"));
        }
    }
    Ok(out)
}

pub fn as_text<'a>(value: Option<&&'a Value>, what: &'static str) -> Result<&'a str, FormatError> {
    match value {
        Some(Value::Text(s)) => Ok(s),
        _ => Err(malformed(what)),
    }
}

pub fn as_uint(value: &Value, what: &'static str) -> Result<u64, FormatError> {
    match value {
        Value::Integer(i) => u64::try_from(*i).map_err(|_| malformed(what)),
        _ => Err(malformed(what)),
    }
}

/// Latest time that a four-digit year can write: 9999-12-31T23:59:59Z.
const MAX_TDATE: i64 = 253_402_300_799;

/// `tdate` (`#6.0(tstr)`) in the form ISO 18013-5 §9.1.2.4 asks for:
/// `YYYY-MM-DDThh:mm:ssZ`, no fraction, UTC.
pub fn tdate(unix_time: i64) -> Result<Value, FormatError> {
    let bad = FormatError::InvalidInput("a time is out of the tdate range");
    if !(0..=MAX_TDATE).contains(&unix_time) {
        return Err(bad);
    }
    let t = OffsetDateTime::from_unix_timestamp(unix_time).map_err(|_| bad.clone())?;
    let s = t
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]Z"
        ))
        .map_err(|_| bad)?;
    Ok(Value::Tag(TAG_TDATE, Box::new(Value::Text(s))))
}

/// Reads a `tdate`; any RFC 3339 date-time is accepted, fractions are cut.
pub fn parse_tdate(value: Option<&&Value>, what: &'static str) -> Result<i64, FormatError> {
    let Some(Value::Tag(TAG_TDATE, inner)) = value else {
        return Err(malformed(what));
    };
    let Value::Text(s) = inner.as_ref() else {
        return Err(malformed(what));
    };
    OffsetDateTime::parse(s, &Rfc3339)
        .map(OffsetDateTime::unix_timestamp)
        .map_err(|_| malformed(what))
}

/// Whether `s` is an RFC 3339 `full-date` (`YYYY-MM-DD`, a real day).
pub fn is_full_date(s: &str) -> bool {
    s.len() == 10 && time::Date::parse(s, format_description!("[year]-[month]-[day]")).is_ok()
}

/// Normalises an RFC 3339 date-time to the `tdate` form, if it is one.
fn as_tdate(s: &str) -> Option<Value> {
    let t = OffsetDateTime::parse(s, &Rfc3339).ok()?;
    tdate(t.unix_timestamp()).ok()
}

/// Data elements whose value is a `full-date` (or `tdate`) in the mDL
/// (ISO 18013-5 §7.2.1, including `driving_privileges` entries) and PID
/// (EUDI PID Rule Book) namespaces.
pub const DATE_ELEMENTS: [&str; 6] = [
    "birth_date",
    "issue_date",
    "expiry_date",
    "issuance_date",
    "date_of_issuance",
    "date_of_expiry",
];

/// Data elements whose value is a byte string (ISO 18013-5 §7.2.1).
pub const BYTES_ELEMENTS: [&str; 2] = ["portrait", "signature_usual_mark"];

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
    URL_SAFE_NO_PAD
        .decode(s.trim_end_matches('='))
        .or_else(|_| STANDARD.decode(s))
        .ok()
}

/// JSON to CBOR. `name` is the element identifier or map key the value
/// belongs to, which decides the encoding of known date and byte elements.
pub fn from_json(
    value: &serde_json::Value,
    name: Option<&str>,
    depth: usize,
) -> Result<Value, FormatError> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(FormatError::TooDeep(MAX_DEPTH));
    }
    Ok(match value {
        J::Null => Value::Null,
        J::Bool(b) => Value::Bool(*b),
        J::Number(n) => {
            if let Some(u) = n.as_u64() {
                Value::Integer(u.into())
            } else if let Some(i) = n.as_i64() {
                Value::Integer(i.into())
            } else {
                Value::Float(
                    n.as_f64()
                        .ok_or(FormatError::InvalidInput("a number cannot be encoded"))?,
                )
            }
        }
        J::String(s) => match name {
            Some(n) if DATE_ELEMENTS.contains(&n) && is_full_date(s) => {
                Value::Tag(TAG_FULL_DATE, Box::new(Value::Text(s.clone())))
            }
            Some(n) if DATE_ELEMENTS.contains(&n) => as_tdate(s).unwrap_or(Value::Text(s.clone())),
            Some(n) if BYTES_ELEMENTS.contains(&n) => Value::Bytes(decode_base64(s).ok_or(
                FormatError::InvalidInput("a portrait or signature is not base64"),
            )?),
            _ => Value::Text(s.clone()),
        },
        J::Array(a) => Value::Array(
            a.iter()
                .map(|v| from_json(v, None, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        J::Object(o) => Value::Map(
            o.iter()
                .map(|(k, v)| Ok((text(k), from_json(v, Some(k), depth + 1)?)))
                .collect::<Result<_, FormatError>>()?,
        ),
    })
}

/// CBOR to JSON for display: dates as their strings, byte strings as
/// base64url, other tags as their content, integer map keys as decimal.
pub fn to_json(value: &Value, depth: usize) -> Result<serde_json::Value, FormatError> {
    use serde_json::Value as J;
    if depth > MAX_DEPTH {
        return Err(FormatError::TooDeep(MAX_DEPTH));
    }
    Ok(match value {
        Value::Integer(i) => {
            let i = i128::from(*i);
            if let Ok(v) = i64::try_from(i) {
                J::from(v)
            } else if let Ok(v) = u64::try_from(i) {
                J::from(v)
            } else {
                J::String(i.to_string())
            }
        }
        Value::Bytes(b) => J::String(avow_crypto::b64::encode(b)),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(J::Null, J::Number),
        Value::Text(s) => J::String(s.clone()),
        Value::Bool(b) => J::Bool(*b),
        Value::Tag(_, inner) => to_json(inner, depth + 1)?,
        Value::Array(a) => J::Array(
            a.iter()
                .map(|v| to_json(v, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Value::Map(m) => {
            let mut out = serde_json::Map::new();
            for (k, v) in m {
                let key = match k {
                    Value::Text(s) => s.clone(),
                    Value::Integer(i) => i128::from(*i).to_string(),
                    _ => return Err(malformed("a map key is neither text nor integer")),
                };
                out.insert(key, to_json(v, depth + 1)?);
            }
            J::Object(out)
        }
        _ => J::Null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    #[test]
    fn walker_accepts_rfc8949_appendix_a_items() {
        for h in [
            "00",
            "1bffffffffffffffff",
            "3bffffffffffffffff",
            "f97e00",
            "fb7ff0000000000000",
            "f4",
            "f7",
            "c074323031332d30332d32315432303a30343a30305a",
            "d82076687474703a2f2f7777772e6578616d706c652e636f6d",
            "40",
            "4401020304",
            "6449455446",
            "83010203",
            "8301820203820405",
            "a201020304",
            "a26161016162820203",
            "5f42010243030405ff",
            "7f657374726561646d696e67ff",
            "9fff",
            "9f018202039f0405ffff",
            "bf61610161629f0203ffff",
        ] {
            let b = hex(h);
            assert_eq!(item_end(&b, 0, 0), Ok(b.len()), "{h}");
        }
    }

    #[test]
    fn walker_refuses_ill_formed_items() {
        for h in [
            "",
            "18",
            "1c",
            "5f01ff",
            "5f4101",
            "ff",
            "9f",
            "a1",
            "42ff",
            "5bffffffffffffffff",
            "9b7fffffffffffffff",
            "7f4101ff",
        ] {
            assert!(item_end(&hex(h), 0, 0).is_err(), "{h}");
        }
        let mut deep = vec![0x81u8; MAX_DEPTH + 2];
        deep.push(0x00);
        assert_eq!(item_end(&deep, 0, 0), Err(FormatError::TooDeep(MAX_DEPTH)));
        assert!(decode(&hex("0000")).is_err());
    }

    #[test]
    fn tdate_round_trips_in_the_iso_form() {
        let v = tdate(1_727_982_786).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(v, Value::Tag(0, Box::new(text("2024-10-03T19:13:06Z"))));
        assert_eq!(parse_tdate(Some(&&v), "t"), Ok(1_727_982_786));
        let frac = Value::Tag(0, Box::new(text("2024-10-03T21:13:06.5+02:00")));
        assert_eq!(parse_tdate(Some(&&frac), "t"), Ok(1_727_982_786));
        assert!(tdate(-1).is_err());
        assert!(tdate(MAX_TDATE + 1).is_err());
        assert!(parse_tdate(Some(&&text("2024-10-03T19:13:06Z")), "t").is_err());
    }

    #[test]
    fn json_renders_cbor_for_display() {
        let v = Value::Map(vec![
            (text("d"), Value::Tag(1004, Box::new(text("2024-10-03")))),
            (text("b"), Value::Bytes(vec![1, 2, 3])),
            (Value::Integer(7.into()), Value::Float(1.5)),
            (text("n"), Value::Integer(u64::MAX.into())),
        ]);
        assert_eq!(
            to_json(&v, 0),
            Ok(json!({"d": "2024-10-03", "b": "AQID", "7": 1.5, "n": u64::MAX}))
        );
        let bad = Value::Map(vec![(Value::Bool(true), Value::Null)]);
        assert!(to_json(&bad, 0).is_err());
    }
}
