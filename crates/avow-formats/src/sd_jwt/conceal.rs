//! Making claims selectively disclosable (RFC 9901 §4.2): Disclosures,
//! `_sd` arrays (§4.2.4.1), `{"...": digest}` array elements (§4.2.4.2),
//! decoys (§4.2.5) and recursive disclosures (§4.2.6).

use super::disclosure::Disclosure;
use super::{MAX_DEPTH, SD_ALG_SHA256};
use crate::claim_path::{self, ClaimPath, PathElement};
use crate::error::FormatError;
use avow_crypto::{Random, hash};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};

/// Salts carry 128 bits from the CSPRNG (RFC 9901 §4.2.1, §9.3; ISS-SDJWT-06).
const SALT_BYTES: usize = 16;
/// Upper bound on decoys per `_sd` array.
pub const MAX_DECOYS: usize = 64;

/// The disclosable paths as a tree, so that one walk over the claims finds
/// every claim to conceal, including claims below a concealed one.
#[derive(Debug, Default, Clone)]
struct PathTree {
    /// The claim at this node is selectively disclosable.
    sd: bool,
    keys: BTreeMap<String, PathTree>,
    indices: BTreeMap<usize, PathTree>,
    all: Option<Box<PathTree>>,
}

impl PathTree {
    fn insert(&mut self, path: &[PathElement]) {
        match path.split_first() {
            None => self.sd = true,
            Some((PathElement::Key(k), rest)) => {
                self.keys.entry(k.clone()).or_default().insert(rest);
            }
            Some((PathElement::Index(i), rest)) => self.indices.entry(*i).or_default().insert(rest),
            Some((PathElement::AllElements, rest)) => {
                self.all.get_or_insert_with(Default::default).insert(rest)
            }
        }
    }

    /// The union of two trees (an index path and a `null` path on one array).
    fn merge(&self, other: &PathTree) -> PathTree {
        let mut out = self.clone();
        out.sd |= other.sd;
        for (k, t) in &other.keys {
            let merged = match out.keys.get(k) {
                Some(mine) => mine.merge(t),
                None => t.clone(),
            };
            out.keys.insert(k.clone(), merged);
        }
        for (i, t) in &other.indices {
            let merged = match out.indices.get(i) {
                Some(mine) => mine.merge(t),
                None => t.clone(),
            };
            out.indices.insert(*i, merged);
        }
        out.all = match (&out.all, &other.all) {
            (Some(a), Some(b)) => Some(Box::new(a.merge(b))),
            (None, Some(b)) => Some(b.clone()),
            (a, None) => a.clone(),
        };
        out
    }

    /// The tree for array element `i`: its index paths and the `null` paths.
    fn element(&self, i: usize) -> Option<Cow<'_, PathTree>> {
        match (self.indices.get(&i), self.all.as_deref()) {
            (None, None) => None,
            (Some(t), None) | (None, Some(t)) => Some(Cow::Borrowed(t)),
            (Some(a), Some(b)) => Some(Cow::Owned(a.merge(b))),
        }
    }
}

/// Builds the SD-JWT payload for `claims` (RFC 9901 §4.2).
///
/// Every claim selected by a path in `disclosable` becomes selectively
/// disclosable: a path ending in a key conceals an object property, one
/// ending in an index or `null` conceals array elements. Paths nest, so a
/// concealed object may have concealed members and a concealed array
/// concealed elements (§4.2.6). A path that selects nothing is ignored (the
/// claim is optional and absent); a path that does not fit the structure
/// of the claims is an error.
///
/// Each `_sd` array gets `decoys` decoy digests (§4.2.5) and is sorted
/// (§4.2.4.1). Salts are 128 bits from `random`. `_sd_alg: "sha-256"` is
/// added at the top level only if a digest was created. The returned
/// Disclosures are in creation order (inner before outer).
///
/// Claim names `_sd`, `...` and `_sd_alg` are refused anywhere in `claims`
/// (§4.1 rule 7, §4.1.1).
pub fn conceal(
    claims: &Map<String, Value>,
    disclosable: &[ClaimPath],
    decoys: usize,
    random: &dyn Random,
) -> Result<(Map<String, Value>, Vec<Disclosure>), FormatError> {
    if decoys > MAX_DECOYS {
        return Err(FormatError::InvalidInput("too many decoy digests"));
    }
    let mut tree = PathTree::default();
    for path in disclosable {
        claim_path::select_lenient(claims, path).map_err(|reason| FormatError::ClaimPath {
            path: claim_path::render(path),
            reason,
        })?;
        tree.insert(path);
    }
    let mut concealer = Concealer {
        random,
        decoys,
        disclosures: Vec::new(),
        salts: HashSet::new(),
        digests: HashSet::new(),
    };
    let mut payload = concealer.object(claims, Some(&tree), 1)?;
    if !concealer.digests.is_empty() {
        payload.insert("_sd_alg".into(), Value::String(SD_ALG_SHA256.into()));
    }
    Ok((payload, concealer.disclosures))
}

struct Concealer<'a> {
    random: &'a dyn Random,
    decoys: usize,
    disclosures: Vec<Disclosure>,
    salts: HashSet<String>,
    /// Every digest placed so far, real or decoy (no digest twice, §4.1).
    digests: HashSet<String>,
}

impl Concealer<'_> {
    fn salt(&mut self) -> Result<String, FormatError> {
        let salt = self.random.token(SALT_BYTES);
        if !self.salts.insert(salt.clone()) {
            return Err(FormatError::WeakRandomness);
        }
        Ok(salt)
    }

    fn place(&mut self, digest: String) -> Result<String, FormatError> {
        if !self.digests.insert(digest.clone()) {
            return Err(FormatError::WeakRandomness);
        }
        Ok(digest)
    }

    /// A decoy: the digest of fresh random bytes (§4.2.5).
    fn decoy(&mut self) -> Result<String, FormatError> {
        let mut bytes = [0u8; 32];
        self.random.fill(&mut bytes);
        self.place(hash::sha256_b64(&bytes))
    }

    fn value(
        &mut self,
        value: &Value,
        tree: Option<&PathTree>,
        depth: usize,
    ) -> Result<Value, FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::TooDeep(MAX_DEPTH));
        }
        Ok(match value {
            Value::Object(o) => Value::Object(self.object(o, tree, depth)?),
            Value::Array(a) => Value::Array(self.array(a, tree, depth)?),
            scalar => scalar.clone(),
        })
    }

    fn object(
        &mut self,
        object: &Map<String, Value>,
        tree: Option<&PathTree>,
        depth: usize,
    ) -> Result<Map<String, Value>, FormatError> {
        if depth > MAX_DEPTH {
            return Err(FormatError::TooDeep(MAX_DEPTH));
        }
        let mut out = Map::new();
        let mut sd = Vec::new();
        for (name, value) in object {
            for reserved in ["_sd", "...", "_sd_alg"] {
                if name == reserved {
                    return Err(FormatError::ReservedClaimName(reserved));
                }
            }
            let child = tree.and_then(|t| t.keys.get(name));
            let inner = self.value(value, child, depth + 1)?;
            if child.is_some_and(|c| c.sd) {
                let disclosure = Disclosure::new_property(self.salt()?, name.clone(), inner)?;
                sd.push(self.place(disclosure.digest())?);
                self.disclosures.push(disclosure);
            } else {
                out.insert(name.clone(), inner);
            }
        }
        if !sd.is_empty() {
            for _ in 0..self.decoys {
                let decoy = self.decoy()?;
                sd.push(decoy);
            }
            // Sorting hides the original order of the claims (§4.2.4.1).
            sd.sort_unstable();
            out.insert(
                "_sd".into(),
                Value::Array(sd.into_iter().map(Value::String).collect()),
            );
        }
        Ok(out)
    }

    fn array(
        &mut self,
        array: &[Value],
        tree: Option<&PathTree>,
        depth: usize,
    ) -> Result<Vec<Value>, FormatError> {
        let mut out = Vec::with_capacity(array.len());
        for (i, element) in array.iter().enumerate() {
            let child = tree.and_then(|t| t.element(i));
            let inner = self.value(element, child.as_deref(), depth + 1)?;
            if child.as_deref().is_some_and(|c| c.sd) {
                let disclosure = Disclosure::new_element(self.salt()?, inner);
                let digest = self.place(disclosure.digest())?;
                self.disclosures.push(disclosure);
                let mut reference = Map::new();
                reference.insert("...".into(), Value::String(digest));
                out.push(Value::Object(reference));
            } else {
                out.push(inner);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd_jwt::test_support::{CountingRandom, obj, p};
    use serde_json::json;

    #[test]
    fn flat_structured_and_recursive() {
        let claims = obj(json!({
            "given_name": "Erika",
            "address": {"street": "Heidestraße 17", "locality": "Köln"},
            "nationalities": ["DE", "FR"]
        }));
        let paths = vec![
            p(json!(["address"])),
            p(json!(["address", "street"])),
            p(json!(["nationalities", null])),
            p(json!(["nationalities", 1])),
        ];
        let (payload, disclosures) = conceal(&claims, &paths, 2, &CountingRandom::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload.get("given_name"), Some(&json!("Erika")));
        assert!(payload.get("address").is_none());
        assert_eq!(payload.get("_sd_alg"), Some(&json!("sha-256")));
        // address: one digest + 2 decoys, sorted.
        let sd = payload
            .get("_sd")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        assert_eq!(sd.len(), 3);
        let mut sorted = sd.clone();
        sorted.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        assert_eq!(sd, sorted);
        // street (inner) and address (outer), then two array elements.
        assert_eq!(disclosures.len(), 4);
        let address = disclosures.iter().find(|d| d.name() == Some("address"));
        let address = address.map(Disclosure::value).cloned().unwrap_or_default();
        assert_eq!(address.get("locality"), Some(&json!("Köln")));
        assert!(address.get("street").is_none());
        assert_eq!(
            address.get("_sd").and_then(Value::as_array).map(Vec::len),
            Some(3)
        );
        let nats = payload.get("nationalities").and_then(Value::as_array);
        assert!(nats.is_some_and(|a| a.iter().all(|e| e.get("...").is_some())));
        // Salts are 128-bit base64url.
        assert!(disclosures.iter().all(|d| d.salt().len() == 22));
    }

    #[test]
    fn nothing_disclosable_means_no_sd_and_no_sd_alg() {
        // SD-JWT VC §2.2.2.5, ISS-SDJWT-09.
        let claims = obj(json!({"a": 1, "b": {"c": [1, 2]}}));
        let (payload, disclosures) =
            conceal(&claims, &[], 3, &CountingRandom::default()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload, claims);
        assert!(disclosures.is_empty());
        // A path to an absent optional claim selects nothing and is fine.
        let (payload, _) = conceal(&claims, &[p(json!(["zz"]))], 3, &CountingRandom::default())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(payload, claims);
    }

    #[test]
    fn bad_inputs_are_refused() {
        let r = CountingRandom::default();
        let claims = obj(json!({"a": 1, "b": [1]}));
        assert!(matches!(
            conceal(&claims, &[p(json!(["a", "x"]))], 0, &r),
            Err(FormatError::ClaimPath { .. })
        ));
        assert!(matches!(
            conceal(&claims, &[p(json!(["b", "x"]))], 0, &r),
            Err(FormatError::ClaimPath { .. })
        ));
        assert!(conceal(&claims, &[vec![]], 0, &r).is_err());
        assert!(conceal(&claims, &[], MAX_DECOYS + 1, &r).is_err());
        for reserved in ["_sd", "...", "_sd_alg"] {
            let mut nested = Map::new();
            nested.insert(reserved.into(), json!(1));
            let claims = obj(json!({"x": [Value::Object(nested)]}));
            assert_eq!(
                conceal(&claims, &[], 0, &r),
                Err(FormatError::ReservedClaimName(reserved))
            );
        }
        let mut deep = json!(1);
        for _ in 0..40 {
            deep = json!({ "a": deep });
        }
        assert_eq!(
            conceal(&obj(deep), &[], 0, &r),
            Err(FormatError::TooDeep(MAX_DEPTH))
        );
    }

    #[test]
    fn a_repeating_random_source_is_detected() {
        struct Zero;
        impl Random for Zero {
            fn fill(&self, buf: &mut [u8]) {
                buf.fill(0);
            }
        }
        let claims = obj(json!({"a": 1, "b": 2}));
        assert_eq!(
            conceal(&claims, &[p(json!(["a"])), p(json!(["b"]))], 0, &Zero),
            Err(FormatError::WeakRandomness)
        );
    }
}
