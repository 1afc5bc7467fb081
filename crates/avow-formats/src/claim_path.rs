//! Claims path pointers (OID4VCI 1.0 Appendix C; SD-JWT VC §9.1).
//!
//! A pointer is a non-empty array of strings (object keys), non-negative
//! integers (array indices) and nulls (every element of an array). Issuer
//! configuration uses them to say which claims are selectively disclosable
//! and which are mandatory; metadata carries them as JSON arrays.

use crate::error::FormatError;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};
use std::fmt;

/// Upper bound on the length of a claims path (and on JSON nesting in this crate).
pub const MAX_PATH_LEN: usize = 32;

/// One element of a claims path pointer (OID4VCI App. C).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PathElement {
    /// A string: the member of an object.
    Key(String),
    /// A non-negative integer: the element of an array at this index.
    Index(usize),
    /// `null`: every element of an array.
    AllElements,
}

/// A claims path pointer.
pub type ClaimPath = Vec<PathElement>;

impl PathElement {
    /// A `Key` element, for building paths in code.
    pub fn key(name: impl Into<String>) -> Self {
        Self::Key(name.into())
    }

    /// The JSON form: string, integer or null.
    pub fn to_json(&self) -> Value {
        match self {
            Self::Key(k) => Value::String(k.clone()),
            Self::Index(i) => Value::from(*i),
            Self::AllElements => Value::Null,
        }
    }

    /// Parses one JSON element of a pointer; negative and fractional numbers are refused.
    pub fn from_json(value: &Value) -> Result<Self, &'static str> {
        match value {
            Value::String(s) => Ok(Self::Key(s.clone())),
            Value::Null => Ok(Self::AllElements),
            Value::Number(n) => n
                .as_u64()
                .and_then(|i| usize::try_from(i).ok())
                .map(Self::Index)
                .ok_or("an index must be a non-negative integer"),
            _ => Err("elements must be strings, non-negative integers or null"),
        }
    }
}

/// Parses a pointer from its JSON array form (as in `claims[].path` of the metadata).
pub fn from_json(elements: &[Value]) -> Result<ClaimPath, FormatError> {
    let err = |reason| FormatError::ClaimPath {
        path: render_json(elements),
        reason,
    };
    if elements.is_empty() {
        return Err(err("a claims path must not be empty"));
    }
    if elements.len() > MAX_PATH_LEN {
        return Err(err("the claims path is too long"));
    }
    elements
        .iter()
        .map(PathElement::from_json)
        .collect::<Result<_, _>>()
        .map_err(err)
}

/// The JSON array form of a pointer.
pub fn to_json(path: &[PathElement]) -> Vec<Value> {
    path.iter().map(PathElement::to_json).collect()
}

/// A short printable form, for error messages (paths come from configuration,
/// never from claim values).
pub fn render(path: &[PathElement]) -> String {
    render_json(&to_json(path))
}

fn render_json(elements: &[Value]) -> String {
    let text = Value::Array(elements.to_vec()).to_string();
    if text.chars().count() > 120 {
        let mut short: String = text.chars().take(117).collect();
        short.push_str("...");
        short
    } else {
        text
    }
}

/// Applies a pointer to a JSON credential (OID4VCI App. C.1 "Processing"),
/// except that an empty selection is returned rather than refused.
///
/// A string on a non-object, an index or null on a non-array, and an empty or
/// overlong path are errors.
pub(crate) fn select_lenient<'a>(
    root: &'a Map<String, Value>,
    path: &[PathElement],
) -> Result<Vec<&'a Value>, &'static str> {
    if path.is_empty() {
        return Err("a claims path must not be empty");
    }
    if path.len() > MAX_PATH_LEN {
        return Err("the claims path is too long");
    }
    let mut selected: Vec<&Value> = Vec::new();
    let mut first = true;
    for element in path {
        let mut next = Vec::new();
        if first {
            // Step 1: the root object is selected; the first element applies to it.
            first = false;
            match element {
                PathElement::Key(k) => next.extend(root.get(k)),
                _ => return Err("the root of a credential is an object, not an array"),
            }
        } else {
            for value in selected {
                match (element, value) {
                    (PathElement::Key(k), Value::Object(o)) => next.extend(o.get(k)),
                    (PathElement::Index(i), Value::Array(a)) => next.extend(a.get(*i)),
                    (PathElement::AllElements, Value::Array(a)) => next.extend(a.iter()),
                    (PathElement::Key(_), _) => return Err("a key is applied to a non-object"),
                    _ => return Err("an index or null is applied to a non-array"),
                }
            }
        }
        selected = next;
    }
    Ok(selected)
}

/// Applies a pointer to a JSON credential (OID4VCI App. C.1): the selected
/// claims, or an error if the path does not fit or selects nothing.
pub fn select<'a>(
    root: &'a Map<String, Value>,
    path: &[PathElement],
) -> Result<Vec<&'a Value>, FormatError> {
    let err = |reason| FormatError::ClaimPath {
        path: render(path),
        reason,
    };
    let selected = select_lenient(root, path).map_err(err)?;
    if selected.is_empty() {
        return Err(err("no claim is selected"));
    }
    Ok(selected)
}

/// Checks that every path selects at least one claim: claims declared
/// `mandatory: true` must always be present (OID4VCI App. B.2, ISS-SDJWT-10).
pub fn require_present(
    claims: &Map<String, Value>,
    paths: &[ClaimPath],
) -> Result<(), FormatError> {
    paths.iter().try_for_each(|p| select(claims, p).map(|_| ()))
}

impl Serialize for PathElement {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Key(k) => serializer.serialize_str(k),
            Self::Index(i) => serializer.serialize_u64(*i as u64),
            Self::AllElements => serializer.serialize_unit(),
        }
    }
}

impl<'de> Deserialize<'de> for PathElement {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ElementVisitor;
        impl Visitor<'_> for ElementVisitor {
            type Value = PathElement;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, a non-negative integer or null")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<PathElement, E> {
                Ok(PathElement::Key(v.to_owned()))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<PathElement, E> {
                Ok(PathElement::Key(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<PathElement, E> {
                usize::try_from(v)
                    .map(PathElement::Index)
                    .map_err(|_| E::custom("index out of range"))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<PathElement, E> {
                usize::try_from(v)
                    .map(PathElement::Index)
                    .map_err(|_| E::custom("an index must be non-negative"))
            }
            fn visit_unit<E: de::Error>(self) -> Result<PathElement, E> {
                Ok(PathElement::AllElements)
            }
            fn visit_none<E: de::Error>(self) -> Result<PathElement, E> {
                Ok(PathElement::AllElements)
            }
        }
        deserializer.deserialize_any(ElementVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    fn path(v: Value) -> ClaimPath {
        from_json(v.as_array().map(Vec::as_slice).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    // OID4VCI App. C.2 example credential.
    fn credential() -> Map<String, Value> {
        obj(json!({
            "name": "Arthur Dent",
            "address": {"street_address": "42 Market Street", "locality": "Milliways", "postal_code": "12345"},
            "degrees": [
                {"type": "Bachelor of Science", "university": "University of Betelgeuse"},
                {"type": "Master of Science", "university": "University of Betelgeuse"}
            ],
            "nationalities": ["British", "Betelgeusian"]
        }))
    }

    #[test]
    fn app_c2_examples() {
        let c = credential();
        let sel = |p: Value| select(&c, &path(p)).unwrap_or_default();
        assert_eq!(sel(json!(["name"])), vec![&json!("Arthur Dent")]);
        assert_eq!(
            sel(json!(["address", "street_address"])),
            vec![&json!("42 Market Street")]
        );
        assert_eq!(
            sel(json!(["degrees", null, "type"])),
            vec![&json!("Bachelor of Science"), &json!("Master of Science")]
        );
        assert_eq!(
            sel(json!(["nationalities", 1])),
            vec![&json!("Betelgeusian")]
        );
    }

    #[test]
    fn mismatches_and_empty_selections_are_errors() {
        let c = credential();
        for bad in [
            json!(["name", "x"]),
            json!(["address", 0]),
            json!(["nationalities", "x"]),
            json!(["missing"]),
            json!(["nationalities", 5]),
        ] {
            assert!(select(&c, &path(bad.clone())).is_err(), "{bad}");
        }
        assert!(from_json(&[]).is_err());
        assert!(from_json(&[json!(-1)]).is_err());
        assert!(from_json(&[json!(1.5)]).is_err());
        assert!(from_json(&[json!(true)]).is_err());
        assert!(select(&c, &[PathElement::Index(0)]).is_err());
        assert!(require_present(&c, &[path(json!(["name"])), path(json!(["nope"]))]).is_err());
        assert_eq!(require_present(&c, &[path(json!(["address"]))]), Ok(()));
    }

    #[test]
    fn serde_round_trip() {
        let p = vec![
            PathElement::key("a"),
            PathElement::AllElements,
            PathElement::Index(3),
        ];
        let text = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(text, r#"["a",null,3]"#);
        let back: ClaimPath = serde_json::from_str(&text).unwrap_or_default();
        assert_eq!(back, p);
        assert!(serde_json::from_str::<ClaimPath>("[-1]").is_err());
        assert!(serde_json::from_str::<ClaimPath>("[true]").is_err());
        assert_eq!(render(&p), r#"["a",null,3]"#);
    }
}
