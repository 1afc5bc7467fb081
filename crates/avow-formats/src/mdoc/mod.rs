//! ISO/IEC 18013-5 mdoc credentials, the `mso_mdoc` format of OpenID4VCI
//! 1.0 Appendix A.2 as profiled by HAIP.
//!
//! * [`issue`] builds the `IssuerSigned` structure {`nameSpaces`,
//!   `issuerAuth`} and returns it as unpadded base64url (VCI A.2.4;
//!   ISS-MDOC-01). `issuerAuth` is an untagged COSE_Sign1 with protected
//!   `alg` −7 (ES256), the document-signer certificate chain in the
//!   unprotected `x5chain` (label 33, never the IACA root), and the
//!   tag-24 Mobile Security Object as payload (ISO 18013-5 §9.1.2.4;
//!   ISS-MDOC-02, ISS-SIG-05). The MSO carries `version` "1.0",
//!   `digestAlgorithm` "SHA-256", `valueDigests`, `deviceKeyInfo`,
//!   `docType`, `validityInfo` and optionally a Token Status List
//!   reference `status: {status_list: {idx, uri}}` (ISS-MDOC-03, -07).
//!   Each `IssuerSignedItem` gets a 32-byte random and a digestID unique in
//!   its namespace, assigned in random order (ISS-MDOC-04).
//! * [`parse`] reads an `IssuerSigned` without trusting it, so that the
//!   wallet can validate [`ParsedMdoc::x5chain`] to its IACA anchors first;
//!   [`verify`] then checks the COSE signature with the leaf key, the
//!   digests and the validity (WAL-VAL-04).
//!
//! Inputs are bounded: [`MAX_MDOC_LEN`] bytes, [`MAX_ELEMENTS`] data
//! elements, [`MAX_X5CHAIN`] certificates and [`MAX_DEPTH`] levels of CBOR
//! nesting.

pub(crate) mod cbor;
mod issue;
mod parse;
mod verify;

pub use cbor::{DATE_ELEMENTS, TAG_FULL_DATE, TAG_TDATE};
pub use ciborium::Value as CborValue;
pub use issue::issue;
pub use parse::{ParsedMdoc, parse};
pub use verify::{VerifiedMdoc, verify};

use crate::error::FormatError;
use avow_crypto::EcPublicJwk;
use ciborium::Value;
use std::collections::BTreeMap;
use std::fmt;

/// Upper bound on a decoded `IssuerSigned`, in bytes.
pub const MAX_MDOC_LEN: usize = 1024 * 1024;
/// Upper bound on the number of data elements (all namespaces together).
pub const MAX_ELEMENTS: usize = 1000;
/// Upper bound on the certificates of `x5chain`.
pub const MAX_X5CHAIN: usize = 10;
/// Upper bound on CBOR nesting (and JSON nesting of element values).
pub const MAX_DEPTH: usize = crate::claim_path::MAX_PATH_LEN;
/// Length of the `random` of each `IssuerSignedItem` we issue (≥ 16, ISO 18013-5 §9.1.2.5).
pub const RANDOM_LEN: usize = 32;
/// Shortest `random` accepted on input (ISO 18013-5 §9.1.2.5).
pub const MIN_RANDOM_LEN: usize = 16;
/// The one digest algorithm issued and accepted (HAIP §7).
pub const DIGEST_ALGORITHM: &str = "SHA-256";
/// The MSO version issued (ISO 18013-5 §9.1.2.4).
pub const MSO_VERSION: &str = "1.0";

/// A Token Status List reference (draft-ietf-oauth-status-list §6.3),
/// carried in the MSO as `status: {status_list: {idx, uri}}`: the same
/// reference SD-JWT VCs carry.
pub use crate::status_list::StatusListReference as StatusReference;

/// What to issue. `Debug` leaves out the element values.
#[derive(Clone)]
pub struct MdocContent {
    pub doctype: String,
    /// Data elements per namespace, as CBOR (see [`json_to_element`] and
    /// [`element_from_json`]): strings, integers, booleans, `full-date`
    /// as tag 1004 text, byte strings, arrays, maps.
    pub namespaces: BTreeMap<String, Vec<(String, Value)>>,
    /// The holder key the mdoc is bound to (`deviceKeyInfo.deviceKey`).
    pub device_key: EcPublicJwk,
    /// `validityInfo` times, Unix seconds.
    pub signed: i64,
    pub valid_from: i64,
    pub valid_until: i64,
    pub status: Option<StatusReference>,
}

impl fmt::Debug for MdocContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: BTreeMap<&str, Vec<&str>> = self
            .namespaces
            .iter()
            .map(|(ns, els)| (ns.as_str(), els.iter().map(|(e, _)| e.as_str()).collect()))
            .collect();
        f.debug_struct("MdocContent")
            .field("doctype", &self.doctype)
            .field("elements", &names)
            .field("device_key", &self.device_key.thumbprint())
            .field("signed", &self.signed)
            .field("valid_from", &self.valid_from)
            .field("valid_until", &self.valid_until)
            .field("status", &self.status)
            .finish()
    }
}

/// Converts a JSON claim value (string, number, boolean, null, array,
/// object) to a CBOR element value. Members of objects named like a known
/// date element ([`DATE_ELEMENTS`], e.g. `issue_date` inside
/// `driving_privileges`) become `full-date` (tag 1004) when they hold
/// `YYYY-MM-DD`, or `tdate` (tag 0) when they hold an RFC 3339 date-time.
/// Use [`element_from_json`] to apply the same rule to the element itself.
pub fn json_to_element(value: &serde_json::Value) -> Result<Value, FormatError> {
    cbor::from_json(value, None, 0)
}

/// [`json_to_element`] for the element `element_identifier`: a known date
/// element (`birth_date`, `issue_date`, `expiry_date`, …) holding
/// `YYYY-MM-DD` becomes tag 1004, and `portrait` / `signature_usual_mark`
/// given as base64 or base64url become byte strings (ISO 18013-5 §7.2.1).
pub fn element_from_json(
    element_identifier: &str,
    value: &serde_json::Value,
) -> Result<Value, FormatError> {
    cbor::from_json(value, Some(element_identifier), 0)
}

/// The JSON rendering of an element value that [`VerifiedMdoc`] uses:
/// dates as their strings, byte strings as base64url, integer map keys as
/// decimal strings.
pub fn element_to_json(value: &Value) -> Result<serde_json::Value, FormatError> {
    cbor::to_json(value, 0)
}

#[cfg(test)]
mod tests;
