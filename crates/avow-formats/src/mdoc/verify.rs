//! Holder-side verification of an issued mdoc (ISO 18013-5 §9.3.1;
//! HAIP §8; WAL-VAL-04).

use super::parse::ParsedMdoc;
use super::{DIGEST_ALGORITHM, StatusReference, cbor};
use crate::error::FormatError;
use avow_crypto::{CryptoError, EcPublicJwk};
use coset::iana::EnumI64;
use coset::{Algorithm, RegisteredLabelWithPrivate, iana};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A verified mdoc. `Debug` leaves out element values.
#[derive(Clone, PartialEq)]
pub struct VerifiedMdoc {
    pub doctype: String,
    pub device_key: EcPublicJwk,
    pub valid_from: i64,
    pub valid_until: i64,
    pub signed: i64,
    /// namespace → element identifier → JSON rendering of the value
    /// (see [`super::element_to_json`]).
    pub namespaces: BTreeMap<String, BTreeMap<String, serde_json::Value>>,
    pub status: Option<StatusReference>,
}

impl fmt::Debug for VerifiedMdoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: BTreeMap<&str, Vec<&str>> = self
            .namespaces
            .iter()
            .map(|(ns, els)| (ns.as_str(), els.keys().map(String::as_str).collect()))
            .collect();
        f.debug_struct("VerifiedMdoc")
            .field("doctype", &self.doctype)
            .field("device_key", &self.device_key.thumbprint())
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("signed", &self.signed)
            .field("elements", &names)
            .field("status", &self.status)
            .finish()
    }
}

impl VerifiedMdoc {
    /// Refuses an mdoc whose `docType` is not the configuration's
    /// `doctype` (WAL-VAL-04).
    pub fn require_doctype(self, doctype: &str) -> Result<Self, FormatError> {
        if self.doctype == doctype {
            Ok(self)
        } else {
            Err(FormatError::UnexpectedDocType)
        }
    }

    /// Refuses an mdoc bound to another key than the holder's (WAL-VAL-04).
    pub fn require_device_key(self, key: &EcPublicJwk) -> Result<Self, FormatError> {
        if &self.device_key == key {
            Ok(self)
        } else {
            Err(FormatError::DeviceKeyMismatch)
        }
    }
}

/// Verifies a parsed mdoc (WAL-VAL-04):
///
/// 1. `issuerAuth` has protected `alg` −7 (ES256) and no other algorithm,
///    no `crit`, and its signature verifies with `issuer_key`, the key of
///    the `x5chain` leaf that the caller validated to its IACA anchors;
/// 2. the MSO `version` is 1.x and `digestAlgorithm` is `SHA-256`;
/// 3. every `IssuerSignedItem` digest, taken over its tag-24 bytes as
///    received, equals the MSO `valueDigests` entry of its namespace and
///    digestID; no digestID or element identifier repeats in a namespace;
/// 4. `validFrom <= validUntil`, `validFrom <= now + skew`,
///    `validUntil >= now - skew` and `signed <= now + skew`.
///
/// Matching `docType` and the device key is the caller's:
/// [`VerifiedMdoc::require_doctype`], [`VerifiedMdoc::require_device_key`].
pub fn verify(
    parsed: &ParsedMdoc,
    issuer_key: &EcPublicJwk,
    now: i64,
    skew: i64,
) -> Result<VerifiedMdoc, FormatError> {
    let sign1 = &parsed.issuer_auth;
    let es256 = Algorithm::Assigned(iana::Algorithm::ES256);
    match &sign1.protected.header.alg {
        Some(alg) if *alg == es256 => {}
        Some(alg) => return Err(CryptoError::AlgorithmNotAllowed(alg_name(alg)).into()),
        None => {
            return Err(FormatError::MalformedMdoc(
                "issuerAuth has no protected alg",
            ));
        }
    }
    if sign1.unprotected.alg.is_some() {
        return Err(FormatError::MalformedMdoc(
            "issuerAuth has an unprotected alg",
        ));
    }
    if !sign1.protected.header.crit.is_empty() {
        return Err(FormatError::MalformedMdoc(
            "issuerAuth has critical headers",
        ));
    }
    sign1.verify_signature(b"", |sig, tbs| {
        avow_crypto::signer::verify_es256(issuer_key, tbs, sig)
    })?;

    let mso = &parsed.mso;
    if !mso.version.starts_with("1.") {
        return Err(FormatError::MalformedMdoc("unsupported MSO version"));
    }
    if mso.digest_algorithm != DIGEST_ALGORITHM {
        return Err(FormatError::UnsupportedDigestAlgorithm);
    }

    let mut ids = BTreeSet::new();
    let mut namespaces: BTreeMap<String, BTreeMap<String, serde_json::Value>> = BTreeMap::new();
    for item in &parsed.items {
        let expected = mso
            .value_digests
            .get(&item.namespace)
            .ok_or(FormatError::MdocDigest("a namespace has no valueDigests"))?
            .get(&item.digest_id)
            .ok_or(FormatError::MdocDigest("a digestID is not in valueDigests"))?;
        if !avow_crypto::hash::constant_time_eq(expected, &item.digest) {
            return Err(FormatError::MdocDigest("an item does not match its digest"));
        }
        if !ids.insert((item.namespace.as_str(), item.digest_id)) {
            return Err(FormatError::MdocDigest("a digestID is used twice"));
        }
        let elements = namespaces.entry(item.namespace.clone()).or_default();
        let value = cbor::to_json(&item.element_value, 0)?;
        if elements
            .insert(item.element_identifier.clone(), value)
            .is_some()
        {
            return Err(FormatError::MalformedMdoc("an element appears twice"));
        }
    }

    if mso.valid_from > mso.valid_until {
        return Err(FormatError::MalformedMdoc("validFrom is after validUntil"));
    }
    if mso.valid_from > now.saturating_add(skew) {
        return Err(FormatError::NotYetValid);
    }
    if mso.valid_until < now.saturating_sub(skew) {
        return Err(FormatError::Expired);
    }
    if mso.signed > now.saturating_add(skew) {
        return Err(FormatError::IssuedInFuture);
    }

    Ok(VerifiedMdoc {
        doctype: mso.doctype.clone(),
        device_key: mso.device_key.clone(),
        valid_from: mso.valid_from,
        valid_until: mso.valid_until,
        signed: mso.signed,
        namespaces,
        status: mso.status.clone(),
    })
}

/// A COSE algorithm for an error message: its number, or a short text.
fn alg_name(alg: &Algorithm) -> String {
    match alg {
        RegisteredLabelWithPrivate::Assigned(a) => a.to_i64().to_string(),
        RegisteredLabelWithPrivate::PrivateUse(i) => i.to_string(),
        RegisteredLabelWithPrivate::Text(t) => t.chars().take(32).collect(),
    }
}
