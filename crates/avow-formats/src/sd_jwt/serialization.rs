//! The SD-JWT and SD-JWT+KB serializations: compact (RFC 9901 §4) and JWS
//! JSON (§8), and presentation assembly (§7.2).

use super::disclosure::Disclosure;
use super::{MAX_DISCLOSURES, MAX_SD_JWT_LEN, process};
use crate::error::FormatError;
use avow_crypto::{AlgorithmAllowList, CompactJws, EcPublicJwk, hash};
use serde_json::{Map, Value};
use std::collections::HashSet;
use std::fmt;

/// `<JWS>~<D1>~…~<DN>~` (RFC 9901 §4).
pub(crate) fn compact(jws: &str, disclosures: &[Disclosure]) -> String {
    let mut out = String::with_capacity(
        jws.len()
            + 1
            + disclosures
                .iter()
                .map(|d| d.encoded().len() + 1)
                .sum::<usize>(),
    );
    out.push_str(jws);
    out.push('~');
    for d in disclosures {
        out.push_str(d.encoded());
        out.push('~');
    }
    out
}

/// A parsed SD-JWT or SD-JWT+KB. Nothing in it is trusted until
/// [`SdJwt::verify`] (or [`SdJwt::verify_signature`] then [`SdJwt::process`])
/// succeeded.
///
/// `Debug` shows the header algorithm, the number of Disclosures and whether
/// a KB-JWT is present, never claims.
#[derive(Clone)]
pub struct SdJwt {
    issuer_jwt: String,
    jws: CompactJws,
    disclosures: Vec<Disclosure>,
    key_binding_jwt: Option<String>,
}

impl fmt::Debug for SdJwt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdJwt")
            .field("alg", &self.jws.header_str("alg"))
            .field("typ", &self.jws.header_str("typ"))
            .field("disclosures", &self.disclosures.len())
            .field("key_binding_jwt", &self.key_binding_jwt.is_some())
            .finish()
    }
}

impl SdJwt {
    /// Parses the compact serialization `<JWS>~<D1>~…~[<KB-JWT>]` (RFC 9901 §4)
    /// or, if `text` starts with `{`, the JWS JSON serialization (§8: flattened,
    /// or general with exactly one signature; `disclosures` and `kb_jwt` are
    /// read from the unprotected header).
    ///
    /// Each Disclosure is decoded and checked for form (§4.2.1, §4.2.2), the
    /// JWS for syntax, a KB-JWT only for JWS syntax. Signature and digests
    /// are checked later.
    pub fn parse(text: &str) -> Result<Self, FormatError> {
        if text.len() > MAX_SD_JWT_LEN {
            return Err(FormatError::TooLarge("the SD-JWT exceeds 1 MiB"));
        }
        if text.starts_with('{') {
            return Self::parse_json(text);
        }
        let Some((jws, rest)) = text.split_once('~') else {
            return Err(FormatError::Malformed("no ~ separator after the JWS"));
        };
        // With a separator in `rest`, everything before the last `~` is one
        // or more Disclosures, each non-empty; the last part is the KB-JWT or
        // empty (§4: `JWT "~" *(DISCLOSURE "~") [KB-JWT]`).
        let (disclosures, kb) = match rest.rsplit_once('~') {
            Some((disclosures, kb)) => (Some(disclosures), kb),
            None => (None, rest),
        };
        let mut parts = Vec::new();
        if let Some(disclosures) = disclosures {
            for d in disclosures.split('~') {
                if parts.len() == MAX_DISCLOSURES {
                    return Err(FormatError::TooLarge("more than 1000 disclosures"));
                }
                parts.push(d);
            }
        }
        Self::from_parts(jws, &parts, (!kb.is_empty()).then_some(kb))
    }

    fn parse_json(text: &str) -> Result<Self, FormatError> {
        let malformed = FormatError::Malformed;
        let value: Value = serde_json::from_str(text)
            .map_err(|_| malformed("the JSON serialization is not valid JSON"))?;
        let Value::Object(top) = value else {
            return Err(malformed("the JSON serialization is not an object"));
        };
        let str_member = |o: &Map<String, Value>, name: &'static str| {
            o.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or(malformed(name))
        };
        let payload = str_member(&top, "payload")?;
        // General serialization (RFC 7515 §7.2.1) with one signature, or flattened (§7.2.2).
        let signature_object = match top.get("signatures") {
            Some(Value::Array(list)) => match list.as_slice() {
                [Value::Object(one)] => one,
                [_] => return Err(malformed("a signature entry is not an object")),
                _ => {
                    return Err(malformed(
                        "only a JSON serialization with exactly one signature is supported",
                    ));
                }
            },
            Some(_) => return Err(malformed("signatures is not an array")),
            None => &top,
        };
        let protected = str_member(signature_object, "protected")?;
        let signature = str_member(signature_object, "signature")?;
        let empty = Map::new();
        let header = match signature_object.get("header") {
            None => &empty,
            Some(Value::Object(h)) => h,
            Some(_) => return Err(malformed("the unprotected header is not an object")),
        };
        let disclosures: Vec<&str> = match header.get("disclosures") {
            None => Vec::new(),
            Some(Value::Array(list)) => {
                if list.len() > MAX_DISCLOSURES {
                    return Err(FormatError::TooLarge("more than 1000 disclosures"));
                }
                list.iter()
                    .map(|d| d.as_str().ok_or(malformed("a disclosure is not a string")))
                    .collect::<Result<_, _>>()?
            }
            Some(_) => return Err(malformed("disclosures is not an array")),
        };
        let kb = match header.get("kb_jwt") {
            None => None,
            Some(Value::String(kb)) => Some(kb.as_str()),
            Some(_) => return Err(malformed("kb_jwt is not a string")),
        };
        let jws = format!("{protected}.{payload}.{signature}");
        Self::from_parts(&jws, &disclosures, kb)
    }

    fn from_parts(jws: &str, disclosures: &[&str], kb: Option<&str>) -> Result<Self, FormatError> {
        let parsed = CompactJws::parse(jws)?;
        let disclosures = disclosures
            .iter()
            .map(|d| Disclosure::parse(d))
            .collect::<Result<Vec<_>, _>>()?;
        if let Some(kb) = kb {
            CompactJws::parse(kb)
                .map_err(|_| FormatError::Malformed("the key binding JWT is not a JWS"))?;
        }
        Ok(Self {
            issuer_jwt: jws.to_owned(),
            jws: parsed,
            disclosures,
            key_binding_jwt: kb.map(str::to_owned),
        })
    }

    /// The Issuer-signed JWT, parsed.
    pub fn jws(&self) -> &CompactJws {
        &self.jws
    }

    /// The Issuer-signed JWT in compact form.
    pub fn issuer_jwt(&self) -> &str {
        &self.issuer_jwt
    }

    pub fn disclosures(&self) -> &[Disclosure] {
        &self.disclosures
    }

    pub fn key_binding_jwt(&self) -> Option<&str> {
        self.key_binding_jwt.as_deref()
    }

    /// The raw payload (with `_sd` digests) as a JSON object, *unverified*:
    /// for key resolution before verification (e.g. reading `iss`).
    pub fn unverified_payload(&self) -> Result<Map<String, Value>, FormatError> {
        match serde_json::from_slice(self.jws.payload()) {
            Ok(Value::Object(payload)) => Ok(payload),
            _ => Err(FormatError::Malformed("the payload is not a JSON object")),
        }
    }

    /// RFC 9901 §7.1 step 2.1 and 2.2: the algorithm is on `allowed` (never
    /// `none`) and the signature verifies with `key`. Step 2.3, that `key`
    /// belongs to the issuer, is the caller's.
    pub fn verify_signature(
        &self,
        key: &EcPublicJwk,
        allowed: &AlgorithmAllowList,
    ) -> Result<(), FormatError> {
        Ok(self.jws.verify(key, allowed)?)
    }

    /// RFC 9901 §7.1 after signature verification: `_sd_alg` is `sha-256`
    /// (or absent, which means `sha-256`, §4.1.1); every Disclosure is
    /// referenced exactly once, no digest appears twice, no Disclosure names
    /// `_sd` or `...`, no disclosed name clashes with a claim at its level.
    /// Returns the Processed SD-JWT Payload: digests replaced by disclosed
    /// claims, undisclosed array elements, `_sd` and `_sd_alg` removed.
    ///
    /// Validity claims (`exp`, `nbf`, …; step 6) are for the profile to check.
    pub fn process(&self) -> Result<Map<String, Value>, FormatError> {
        process::process(self.unverified_payload()?, &self.disclosures)
    }

    /// [`Self::verify_signature`] then [`Self::process`].
    pub fn verify(
        &self,
        key: &EcPublicJwk,
        allowed: &AlgorithmAllowList,
    ) -> Result<Map<String, Value>, FormatError> {
        self.verify_signature(key, allowed)?;
        self.process()
    }

    /// The compact serialization, with the KB-JWT if there is one.
    pub fn to_compact(&self) -> String {
        let mut out = self.sd_hash_input();
        if let Some(kb) = &self.key_binding_jwt {
            out.push_str(kb);
        }
        out
    }

    /// `<JWS>~<D1>~…~<DN>~`, the input of a KB-JWT's `sd_hash` (RFC 9901
    /// §4.3.1), also when the SD-JWT was received in JSON form (§8.1).
    pub fn sd_hash_input(&self) -> String {
        compact(&self.issuer_jwt, &self.disclosures)
    }

    /// `sd_hash` for a KB-JWT over this SD-JWT (RFC 9901 §4.3.1, sha-256).
    pub fn sd_hash(&self) -> String {
        hash::sha256_b64(self.sd_hash_input().as_bytes())
    }

    /// A presentation keeping only the Disclosures with the given digests
    /// (RFC 9901 §7.2): the KB-JWT is dropped, every digest must name a
    /// Disclosure of this SD-JWT, and each kept Disclosure must be reachable
    /// from the payload or from another kept Disclosure (checked by running
    /// [`Self::process`] on the result).
    pub fn select(&self, digests: &[&str]) -> Result<SdJwt, FormatError> {
        let wanted: HashSet<&str> = digests.iter().copied().collect();
        let kept: Vec<Disclosure> = self
            .disclosures
            .iter()
            .filter(|d| wanted.contains(d.digest_str()))
            .cloned()
            .collect();
        if kept.len() != wanted.len() {
            return Err(FormatError::InvalidInput(
                "a selected digest names no disclosure of this SD-JWT",
            ));
        }
        let presentation = SdJwt {
            issuer_jwt: self.issuer_jwt.clone(),
            jws: self.jws.clone(),
            disclosures: kept,
            key_binding_jwt: None,
        };
        presentation.process()?;
        Ok(presentation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd_jwt::test_support::{
        CountingRandom, OID4VCI_SD_JWT_VC, arb_json, obj, oid4vci_processed, p, rfc9901_issuer_key,
    };
    use crate::sd_jwt::{ClaimPath, PathElement, conceal, issue};
    use avow_crypto::{Signer, SoftwareSigner, b64};
    use proptest::strategy::Strategy;
    use serde_json::json;

    fn must<T>(r: Result<T, FormatError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    /// An unsigned SD-JWT around `payload`, for processing tests.
    fn unsigned(payload: &Map<String, Value>, disclosures: &[Disclosure]) -> String {
        let jws = format!(
            "{}.{}.AA",
            b64::encode(r#"{"alg":"ES256"}"#),
            b64::encode(Value::Object(payload.clone()).to_string())
        );
        compact(&jws, disclosures)
    }

    #[test]
    fn oid4vci_example_verifies_and_processes() {
        // Signed by an independent implementation with the RFC 9901 example key.
        let sd = must(SdJwt::parse(OID4VCI_SD_JWT_VC));
        assert_eq!(sd.disclosures().len(), 9);
        assert_eq!(sd.key_binding_jwt(), None);
        assert_eq!(sd.jws().header_str("typ"), Some("dc+sd-jwt"));
        let processed = must(sd.verify(&rfc9901_issuer_key(), &AlgorithmAllowList::es256()));
        assert_eq!(processed, oid4vci_processed());
        assert_eq!(sd.to_compact(), OID4VCI_SD_JWT_VC);
        // Another key does not verify it.
        let other = must(SoftwareSigner::generate().map_err(FormatError::from));
        assert!(matches!(
            sd.verify(other.public_jwk(), &AlgorithmAllowList::es256()),
            Err(FormatError::Crypto(_))
        ));
    }

    #[test]
    fn oid4vci_example_presentations() {
        let sd = must(SdJwt::parse(OID4VCI_SD_JWT_VC));
        let by_name = |n: &str| {
            sd.disclosures()
                .iter()
                .find(|d| d.name() == Some(n))
                .map(Disclosure::digest)
                .unwrap_or_default()
        };
        let (a, b) = (by_name("address"), by_name("is_over_65"));
        let shown = must(sd.select(&[&a, &b]));
        let processed = must(shown.process());
        assert_eq!(processed.get("is_over_65"), Some(&json!(true)));
        assert!(processed.get("address").is_some());
        assert!(processed.get("given_name").is_none());
        assert!(processed.get("birthdate").is_none());
        assert!(shown.to_compact().ends_with('~'));
        // The removed claims are simply absent; the signature still holds.
        let reparsed = must(SdJwt::parse(&shown.to_compact()));
        assert_eq!(
            must(reparsed.verify(&rfc9901_issuer_key(), &AlgorithmAllowList::es256())),
            processed
        );
        assert!(sd.select(&["nope"]).is_err());
        // sd_hash covers `<JWS>~<D>~…~`.
        assert_eq!(sd.sd_hash(), hash::sha256_b64(OID4VCI_SD_JWT_VC.as_bytes()));
    }

    #[test]
    fn json_serialization_is_accepted() {
        let sd = must(SdJwt::parse(OID4VCI_SD_JWT_VC));
        let mut parts = sd.issuer_jwt().split('.');
        let (h, pl, s) = (parts.next(), parts.next(), parts.next());
        let ds: Vec<&str> = sd.disclosures().iter().map(Disclosure::encoded).collect();
        let flattened = json!({"protected": h, "payload": pl, "signature": s,
            "header": {"disclosures": ds, "kid": "ignored"}});
        let general = json!({"payload": pl, "signatures": [
            {"protected": h, "signature": s, "header": {"disclosures": ds}}]});
        for text in [flattened.to_string(), general.to_string()] {
            let parsed = must(SdJwt::parse(&text));
            assert_eq!(parsed.to_compact(), OID4VCI_SD_JWT_VC);
            assert_eq!(
                must(parsed.verify(&rfc9901_issuer_key(), &AlgorithmAllowList::es256())),
                oid4vci_processed()
            );
        }
        let with_kb = json!({"protected": h, "payload": pl, "signature": s,
            "header": {"disclosures": [], "kb_jwt": "e30.e30.AA"}});
        assert_eq!(
            must(SdJwt::parse(&with_kb.to_string())).key_binding_jwt(),
            Some("e30.e30.AA")
        );
        let two = json!({"payload": pl, "signatures": [
            {"protected": h, "signature": s}, {"protected": h, "signature": s}]});
        for bad in [
            two,
            json!({"payload": pl, "protected": h}),
            json!({"payload": pl, "protected": h, "signature": s, "header": {"disclosures": "x"}}),
            json!({"payload": pl, "protected": h, "signature": s, "header": {"disclosures": [1]}}),
            json!({"payload": pl, "protected": h, "signature": s, "header": {"kb_jwt": 1}}),
            json!([1]),
        ] {
            assert!(SdJwt::parse(&bad.to_string()).is_err(), "{bad}");
        }
    }

    #[test]
    fn compact_forms() {
        let jws = "e30.e30.AA";
        let d = Disclosure::new_element("s", json!(1));
        let kb = "e30.e30.AA";
        let no_d = must(SdJwt::parse(&format!("{jws}~")));
        assert!(no_d.disclosures().is_empty() && no_d.key_binding_jwt().is_none());
        let kb_only = must(SdJwt::parse(&format!("{jws}~{kb}")));
        assert_eq!(kb_only.key_binding_jwt(), Some(kb));
        let both = must(SdJwt::parse(&format!("{jws}~{}~{kb}", d.encoded())));
        assert_eq!(both.disclosures().len(), 1);
        assert_eq!(both.to_compact(), format!("{jws}~{}~{kb}", d.encoded()));
        for bad in [
            String::new(),
            jws.into(),
            format!("{jws}~~"),
            format!("{jws}~{}~~", d.encoded()),
            format!("{jws}~not-a-jwt"),
            format!("{jws}~!!~"),
            "x~".into(),
            format!("{}~", "A".repeat(MAX_SD_JWT_LEN)),
            format!(
                "{jws}~{}",
                format!("{}~", d.encoded()).repeat(MAX_DISCLOSURES + 1)
            ),
        ] {
            assert!(SdJwt::parse(&bad).is_err(), "{}", bad.len());
        }
        let big = format!(
            "{jws}~{}",
            format!("{}~", d.encoded()).repeat(MAX_DISCLOSURES + 1)
        );
        assert_eq!(
            SdJwt::parse(&big).err(),
            Some(FormatError::TooLarge("more than 1000 disclosures"))
        );
    }

    #[tokio::test]
    async fn issue_parse_verify_round_trip() {
        let signer = must(SoftwareSigner::generate().map_err(FormatError::from));
        let claims = obj(json!({
            "iss": "https://issuer.example",
            "given_name": "Erika",
            "address": {"street": "Heidestraße 17", "locality": "Köln", "geo": {"lat": 50.9, "lon": 6.9}},
            "nationalities": ["DE", "FR", "IT"],
            "degrees": [{"type": "BSc", "year": 2001}, {"type": "MSc", "year": 2003}],
            "empty": {}
        }));
        let paths: Vec<ClaimPath> = vec![
            p(json!(["given_name"])),
            p(json!(["address"])),
            p(json!(["address", "street"])),
            p(json!(["address", "geo", "lat"])),
            p(json!(["nationalities", null])),
            p(json!(["nationalities"])),
            p(json!(["degrees", 1])),
            p(json!(["degrees", null, "year"])),
        ];
        let text = must(
            issue(
                &signer,
                Map::new(),
                &claims,
                &paths,
                3,
                &CountingRandom::default(),
            )
            .await,
        );
        assert!(text.ends_with('~'));
        let sd = must(SdJwt::parse(&text));
        assert_eq!(sd.disclosures().len(), 11);
        let allowed = AlgorithmAllowList::es256();
        assert_eq!(must(sd.verify(signer.public_jwk(), &allowed)), claims);
        let raw = must(sd.unverified_payload());
        assert_eq!(raw.get("_sd_alg"), Some(&json!("sha-256")));
        assert!(raw.get("given_name").is_none() && raw.get("nationalities").is_none());

        // Leaving out the inner Disclosures hides exactly those claims.
        let outer: Vec<String> = sd
            .disclosures()
            .iter()
            .filter(|d| matches!(d.name(), Some("address" | "nationalities")))
            .map(Disclosure::digest)
            .collect();
        let refs: Vec<&str> = outer.iter().map(String::as_str).collect();
        let shown = must(sd.select(&refs));
        let processed = must(shown.verify(signer.public_jwk(), &allowed));
        assert_eq!(processed.get("nationalities"), Some(&json!([])));
        let address = processed.get("address").cloned().unwrap_or_default();
        assert_eq!(address, json!({"locality": "Köln", "geo": {"lon": 6.9}}));
        assert_eq!(processed.get("degrees"), Some(&json!([{"type": "BSc"}])));
        assert!(processed.get("given_name").is_none());
        // An inner Disclosure without its parent is not reachable.
        let street: Vec<String> = sd
            .disclosures()
            .iter()
            .filter(|d| d.name() == Some("street"))
            .map(Disclosure::digest)
            .collect();
        assert_eq!(
            sd.select(&[street.first().map(String::as_str).unwrap_or_default()])
                .err(),
            Some(FormatError::UnreferencedDisclosure)
        );
    }

    #[tokio::test]
    async fn tampering_is_detected() {
        let signer = must(SoftwareSigner::generate().map_err(FormatError::from));
        let claims = obj(json!({"a": "x", "b": {"c": 1}, "l": [1, 2]}));
        let paths = vec![
            p(json!(["a"])),
            p(json!(["b"])),
            p(json!(["b", "c"])),
            p(json!(["l", 0])),
        ];
        let text = must(
            issue(
                &signer,
                Map::new(),
                &claims,
                &paths,
                1,
                &CountingRandom::default(),
            )
            .await,
        );
        let sd = must(SdJwt::parse(&text));
        let allowed = AlgorithmAllowList::es256();
        let jws = sd.issuer_jwt().to_owned();
        let ds: Vec<String> = sd
            .disclosures()
            .iter()
            .map(|d| d.encoded().to_owned())
            .collect();
        let check = |text: String, expected: FormatError| {
            let result = SdJwt::parse(&text).and_then(|s| s.verify(signer.public_jwk(), &allowed));
            assert_eq!(result.err(), Some(expected));
        };
        // A changed Disclosure (same claim, new value) is no longer referenced.
        let forged = must(Disclosure::new_property(
            must(Disclosure::parse(&ds[0])).salt(),
            "a",
            json!("y"),
        ));
        let mut changed = ds.clone();
        changed[0] = forged.encoded().to_owned();
        check(
            format!("{jws}~{}~", changed.join("~")),
            FormatError::UnreferencedDisclosure,
        );
        // A duplicated Disclosure.
        check(
            format!("{jws}~{}~{}~", ds.join("~"), ds[1]),
            FormatError::DuplicateDisclosure,
        );
        // A foreign (unreferenced) Disclosure.
        let foreign = must(Disclosure::new_property("salt", "z", json!(1)));
        check(
            format!("{jws}~{}~{}~", ds.join("~"), foreign.encoded()),
            FormatError::UnreferencedDisclosure,
        );
        // A `_sd` claim name in a Disclosure.
        let reserved = b64::encode(r#"["salt","_sd",["x"]]"#);
        check(
            format!("{jws}~{reserved}~"),
            FormatError::ReservedClaimName("_sd"),
        );
        // A changed payload breaks the signature.
        let mut parts: Vec<&str> = jws.split('.').collect();
        let payload = b64::encode(r#"{"a":"x"}"#);
        parts[1] = &payload;
        let result = SdJwt::parse(&format!("{}~", parts.join(".")))
            .and_then(|s| s.verify(signer.public_jwk(), &allowed));
        assert!(matches!(result, Err(FormatError::Crypto(_))));
    }

    #[test]
    fn digest_referenced_twice_and_sd_alg_are_checked() {
        let d = must(Disclosure::new_property("s", "a", json!(1)));
        let twice = obj(json!({"_sd": [d.digest()], "n": {"_sd": [d.digest()]}}));
        let sd = must(SdJwt::parse(&unsigned(&twice, std::slice::from_ref(&d))));
        assert_eq!(sd.process(), Err(FormatError::DuplicateDigest));
        let mut alg = obj(json!({"_sd": [d.digest()]}));
        alg.insert("_sd_alg".into(), json!("sha-512"));
        let sd = must(SdJwt::parse(&unsigned(&alg, std::slice::from_ref(&d))));
        assert_eq!(sd.process(), Err(FormatError::UnsupportedHashAlgorithm));
        let not_object = format!("{}.{}.AA~", b64::encode("{}"), b64::encode("[1]"));
        assert!(must(SdJwt::parse(&not_object)).process().is_err());
    }

    fn all_paths(value: &Value, prefix: &mut ClaimPath, out: &mut Vec<ClaimPath>) {
        match value {
            Value::Object(o) => {
                for (k, v) in o {
                    prefix.push(PathElement::Key(k.clone()));
                    out.push(prefix.clone());
                    all_paths(v, prefix, out);
                    prefix.pop();
                }
            }
            Value::Array(a) => {
                for (i, v) in a.iter().enumerate() {
                    prefix.push(PathElement::Index(i));
                    out.push(prefix.clone());
                    all_paths(v, prefix, out);
                    prefix.pop();
                }
            }
            _ => {}
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_and_process_never_panic(s in ".{0,400}") {
            if let Ok(sd) = SdJwt::parse(&s) {
                let _ = sd.process();
            }
        }

        #[test]
        fn process_never_panics_on_arbitrary_payloads(
            payload in arb_json(),
            ds in proptest::collection::vec(arb_json(), 0..4),
            names in proptest::collection::vec(proptest::option::of("[a-z_.]{1,3}"), 0..4),
        ) {
            let disclosures: Vec<Disclosure> = ds
                .into_iter()
                .zip(names)
                .filter_map(|(v, n)| match n {
                    Some(n) => Disclosure::new_property("s", n, v).ok(),
                    None => Some(Disclosure::new_element("s", v)),
                })
                .collect();
            // Reference the Disclosures from the payload where it can.
            let mut payload = match payload {
                Value::Object(o) => o,
                other => obj(json!({"x": other})),
            };
            payload.insert(
                "_sd".into(),
                Value::Array(disclosures.iter().map(|d| Value::String(d.digest())).collect()),
            );
            let text = unsigned(&payload, &disclosures);
            if let Ok(sd) = SdJwt::parse(&text) {
                let _ = sd.process();
            }
        }

        #[test]
        fn conceal_process_round_trips(
            claims in proptest::collection::btree_map(
                "[a-z_]{1,6}".prop_filter("reserved", |k| k != "_sd"), arb_json(), 0..6),
            picks in proptest::collection::vec(proptest::bool::ANY, 64),
            decoys in 0usize..3,
        ) {
            let claims: Map<String, Value> = claims.into_iter().collect();
            let mut paths = Vec::new();
            all_paths(&Value::Object(claims.clone()), &mut Vec::new(), &mut paths);
            let chosen: Vec<ClaimPath> = paths
                .into_iter()
                .zip(picks.iter().cycle())
                .filter(|(_, pick)| **pick)
                .map(|(path, _)| path)
                .collect();
            let (payload, disclosures) = must(conceal(&claims, &chosen, decoys, &CountingRandom::default()));
            let sd = must(SdJwt::parse(&unsigned(&payload, &disclosures)));
            proptest::prop_assert_eq!(must(sd.process()), claims);
        }
    }
}
