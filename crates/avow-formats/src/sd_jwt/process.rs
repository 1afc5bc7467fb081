//! Verification and processing of an SD-JWT payload with its Disclosures
//! (RFC 9901 §7.1 steps 2.5 to 5).

use super::disclosure::Disclosure;
use super::{MAX_DEPTH, SD_ALG_SHA256};
use crate::error::FormatError;
use serde_json::{Map, Value};
use std::collections::{HashMap, HashSet};

/// Checks `_sd_alg` (§4.1.1): absent means the default `sha-256`; any other
/// value is refused, as it is the only algorithm we accept (§7.1 step 2.5).
pub(crate) fn check_sd_alg(payload: &Map<String, Value>) -> Result<(), FormatError> {
    match payload.get("_sd_alg") {
        None => Ok(()),
        Some(Value::String(alg)) if alg == SD_ALG_SHA256 => Ok(()),
        Some(_) => Err(FormatError::UnsupportedHashAlgorithm),
    }
}

/// RFC 9901 §7.1 step 3 to 5 over an already signature-checked payload:
/// replaces embedded digests by the disclosed claims (recursively), drops
/// undisclosed array elements, `_sd` and `_sd_alg`, and refuses duplicate
/// digests, duplicate or unreferenced Disclosures, reserved claim names and
/// name clashes.
pub(crate) fn process(
    mut payload: Map<String, Value>,
    disclosures: &[Disclosure],
) -> Result<Map<String, Value>, FormatError> {
    check_sd_alg(&payload)?;
    payload.remove("_sd_alg");
    let mut by_digest = HashMap::with_capacity(disclosures.len());
    for (i, d) in disclosures.iter().enumerate() {
        // Equal digests mean the same Disclosure text sent twice (§4).
        if by_digest.insert(d.digest_str(), i).is_some() {
            return Err(FormatError::DuplicateDisclosure);
        }
    }
    let mut processor = Processor {
        disclosures,
        by_digest,
        used: vec![false; disclosures.len()],
        seen: HashSet::new(),
    };
    let processed = processor.object(payload, 1)?;
    if processor.used.iter().any(|used| !used) {
        return Err(FormatError::UnreferencedDisclosure);
    }
    Ok(processed)
}

struct Processor<'a> {
    disclosures: &'a [Disclosure],
    by_digest: HashMap<&'a str, usize>,
    used: Vec<bool>,
    /// Every embedded digest met so far (§7.1 step 4).
    seen: HashSet<String>,
}

impl<'a> Processor<'a> {
    /// Records an embedded digest and finds its Disclosure, if sent (§7.1 step 3.3.1).
    fn resolve(&mut self, digest: &str) -> Result<Option<&'a Disclosure>, FormatError> {
        if !self.seen.insert(digest.to_owned()) {
            return Err(FormatError::DuplicateDigest);
        }
        let Some(&i) = self.by_digest.get(digest) else {
            return Ok(None);
        };
        if let Some(used) = self.used.get_mut(i) {
            *used = true;
        }
        Ok(self.disclosures.get(i))
    }

    fn value(&mut self, value: Value, depth: usize) -> Result<Value, FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::TooDeep(MAX_DEPTH));
        }
        Ok(match value {
            Value::Object(o) => Value::Object(self.object(o, depth)?),
            Value::Array(a) => Value::Array(self.array(a, depth)?),
            scalar => scalar,
        })
    }

    fn object(
        &mut self,
        mut object: Map<String, Value>,
        depth: usize,
    ) -> Result<Map<String, Value>, FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::TooDeep(MAX_DEPTH));
        }
        let sd = object.remove("_sd");
        if object.contains_key("...") {
            // `...` only conveys array element digests (§4.1 rule 7, §4.2.4.2).
            return Err(FormatError::Malformed(
                "`...` used outside an array element digest",
            ));
        }
        let mut out = Map::new();
        for (name, value) in object {
            let value = self.value(value, depth + 1)?;
            out.insert(name, value);
        }
        let Some(sd) = sd else {
            return Ok(out);
        };
        let Value::Array(digests) = sd else {
            return Err(FormatError::Malformed("_sd is not an array"));
        };
        for digest in digests {
            let Value::String(digest) = digest else {
                return Err(FormatError::Malformed("_sd holds a non-string"));
            };
            let Some(disclosure) = self.resolve(&digest)? else {
                continue; // a decoy or an undisclosed claim (§7.1 step 3.3.1)
            };
            // §7.1 step 3.3.2.1: an object property needs [salt, name, value].
            let Some(name) = disclosure.name() else {
                return Err(FormatError::MalformedDisclosure(
                    "an array element disclosure is referenced from _sd",
                ));
            };
            // §7.1 step 3.3.2.2 is enforced when a Disclosure is parsed or built.
            if let Some(reserved) = super::disclosure::reserved_name(name) {
                return Err(FormatError::ReservedClaimName(reserved));
            }
            // §7.1 step 3.3.2.3.
            if out.contains_key(name) {
                return Err(FormatError::ClaimNameClash);
            }
            let value = self.value(disclosure.value().clone(), depth + 1)?;
            out.insert(name.to_owned(), value);
        }
        Ok(out)
    }

    fn array(&mut self, array: Vec<Value>, depth: usize) -> Result<Vec<Value>, FormatError> {
        let mut out = Vec::with_capacity(array.len());
        for element in array {
            let digest = match &element {
                Value::Object(o) if o.len() == 1 => match o.get("...") {
                    Some(Value::String(d)) => Some(d.clone()),
                    Some(_) => {
                        return Err(FormatError::Malformed(
                            "an array element digest is not a string",
                        ));
                    }
                    None => None,
                },
                _ => None,
            };
            let Some(digest) = digest else {
                out.push(self.value(element, depth + 1)?);
                continue;
            };
            // §7.1 step 3.4: undisclosed elements are removed.
            let Some(disclosure) = self.resolve(&digest)? else {
                continue;
            };
            // §7.1 step 3.3.3.1: an array element needs [salt, value].
            if disclosure.name().is_some() {
                return Err(FormatError::MalformedDisclosure(
                    "an object property disclosure is referenced from an array",
                ));
            }
            out.push(self.value(disclosure.value().clone(), depth + 1)?);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd_jwt::test_support::obj;
    use serde_json::json;

    fn parse_all(list: &[&str]) -> Vec<Disclosure> {
        list.iter()
            .map(|d| Disclosure::parse(d).unwrap_or_else(|e| panic!("{e}")))
            .collect()
    }

    #[test]
    fn rfc9901_recursive_array_example() {
        // RFC 9901 §4.2.6: the nationalities array with three concealed elements.
        let payload = obj(json!({
            "family_name": "Möbius",
            "nationalities": [
                {"...": "PmnlrRjhLcwf8zTDdK15HVGwHtPYjddvD362WjBLwro"},
                {"...": "r823HFN6Ba_lpSANYtXqqCBAH-TsQlIzfOK0lRAFLCM"},
                {"...": "nP5GYjwhFm6ESlAeC4NCaIliW4tz0hTrUeoJB3lb5TA"}
            ]
        }));
        let de = Disclosure::new_element("16_mAd0GiwaZokU26_0i0h", json!("DE"));
        let fr = Disclosure::new_element("fn9fN0rD-fFs2n303ZI-0c", json!("FR"));
        let out = process(payload.clone(), &[fr.clone(), de.clone()]);
        assert_eq!(
            out,
            Ok(obj(
                json!({"family_name": "Möbius", "nationalities": ["DE", "FR"]})
            ))
        );
        let out = process(payload.clone(), &[]);
        assert_eq!(
            out,
            Ok(obj(json!({"family_name": "Möbius", "nationalities": []})))
        );
        // An array element disclosure cannot fill an `_sd` slot.
        let wrong = obj(json!({"_sd": ["PmnlrRjhLcwf8zTDdK15HVGwHtPYjddvD362WjBLwro"]}));
        assert!(matches!(
            process(wrong, &[de]),
            Err(FormatError::MalformedDisclosure(_))
        ));
    }

    #[test]
    fn rfc9901_nationalities_example() {
        // RFC 9901 §4.2.2 / §4.2.4.2.
        let payload = obj(json!({
            "nationalities": ["DE", {"...":"w0I8EKcdCtUPkGCNUrfwVp2xEgNjtoIDlOxc9-PlOhs"}, "US"]
        }));
        let ds = parse_all(&["WyJsa2x4RjVqTVlsR1RQVW92TU5JdkNBIiwgIkZSIl0"]);
        assert_eq!(
            process(payload.clone(), &ds),
            Ok(obj(json!({"nationalities": ["DE", "FR", "US"]})))
        );
        assert_eq!(
            process(payload, &[]),
            Ok(obj(json!({"nationalities": ["DE", "US"]})))
        );
    }

    #[test]
    fn rfc9901_family_name_example() {
        // RFC 9901 §4.2.4.1.
        let payload = obj(json!({
            "given_name": "Alice",
            "_sd": ["X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"]
        }));
        let ds =
            parse_all(&["WyJfMjZiYzRMVC1hYzZxMktJNmNCVzVlcyIsICJmYW1pbHlfbmFtZSIsICJNw7ZiaXVzIl0"]);
        assert_eq!(
            process(payload.clone(), &ds),
            Ok(obj(json!({"given_name": "Alice", "family_name": "Möbius"})))
        );
        // A clash with a permanently disclosed claim.
        let mut clash = payload.clone();
        clash.insert("family_name".into(), json!("x"));
        assert_eq!(process(clash, &ds), Err(FormatError::ClaimNameClash));
        // The same digest twice, here and nested.
        let mut twice = payload.clone();
        twice.insert(
            "n".into(),
            json!({"_sd": ["X9yH0Ajrdm1Oij4tWso9UzzKJvPoDxwmuEcO3XAdRC0"]}),
        );
        assert_eq!(process(twice, &ds), Err(FormatError::DuplicateDigest));
        // A duplicated decoy is a duplicate digest too.
        let decoys = obj(json!({"_sd": ["a", "a"]}));
        assert_eq!(process(decoys, &[]), Err(FormatError::DuplicateDigest));
        // The same Disclosure twice.
        let doubled = [ds.clone(), ds.clone()].concat();
        assert_eq!(
            process(payload.clone(), &doubled),
            Err(FormatError::DuplicateDisclosure)
        );
        // Unreferenced.
        assert_eq!(
            process(obj(json!({"given_name": "Alice"})), &ds),
            Err(FormatError::UnreferencedDisclosure)
        );
        // _sd_alg.
        let mut alg = payload.clone();
        alg.insert("_sd_alg".into(), json!("sha-512"));
        assert_eq!(
            process(alg, &ds),
            Err(FormatError::UnsupportedHashAlgorithm)
        );
        let mut alg = payload;
        alg.insert("_sd_alg".into(), json!("sha-256"));
        assert!(process(alg, &ds).is_ok_and(|p| !p.contains_key("_sd_alg")));
    }

    #[test]
    fn malformed_digest_containers_are_refused() {
        for bad in [
            json!({"_sd": "x"}),
            json!({"_sd": [1]}),
            json!({"a": {"...": "x"}}),
            json!({"a": [{"...": "x", "b": 1}]}),
            json!({"a": [{"...": 1}]}),
            json!({"_sd_alg": 1}),
        ] {
            assert!(process(obj(bad.clone()), &[]).is_err(), "{bad}");
        }
    }
}
