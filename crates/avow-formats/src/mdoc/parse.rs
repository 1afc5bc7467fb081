//! Reading an `IssuerSigned` (ISO 18013-5 §8.3.2.1.2.2, §9.1.2.4-5)
//! without trusting it.

use super::cbor::{self, as_text, as_uint, text_map};
use super::{MAX_ELEMENTS, MAX_MDOC_LEN, MAX_X5CHAIN, MIN_RANDOM_LEN, StatusReference};
use crate::error::FormatError;
use avow_crypto::EcPublicJwk;
use ciborium::Value;
use coset::{AsCborValue, CoseKey, CoseSign1, Label, iana};
use std::collections::BTreeMap;
use std::fmt;

const fn malformed(what: &'static str) -> FormatError {
    FormatError::MalformedMdoc(what)
}

/// The Mobile Security Object (ISO 18013-5 §9.1.2.4), as read.
#[derive(Clone)]
pub(crate) struct Mso {
    pub version: String,
    pub digest_algorithm: String,
    /// namespace → digestID → digest.
    pub value_digests: BTreeMap<String, BTreeMap<u64, Vec<u8>>>,
    pub device_key: EcPublicJwk,
    pub doctype: String,
    pub signed: i64,
    pub valid_from: i64,
    pub valid_until: i64,
    pub status: Option<StatusReference>,
}

/// One `IssuerSignedItem` with the SHA-256 digest of its
/// `IssuerSignedItemBytes` exactly as received.
#[derive(Clone)]
pub(crate) struct Item {
    pub namespace: String,
    pub digest: [u8; 32],
    pub digest_id: u64,
    pub element_identifier: String,
    pub element_value: Value,
}

/// An `IssuerSigned` that is well formed but not yet verified: read
/// [`x5chain`](Self::x5chain) and [`doctype`](Self::doctype), validate the
/// chain, then call [`super::verify`]. `Debug` leaves out element values.
#[derive(Clone)]
pub struct ParsedMdoc {
    pub(crate) issuer_auth: CoseSign1,
    pub(crate) x5chain: Vec<Vec<u8>>,
    pub(crate) mso: Mso,
    pub(crate) items: Vec<Item>,
}

impl fmt::Debug for ParsedMdoc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ParsedMdoc")
            .field("doctype", &self.mso.doctype)
            .field("x5chain", &self.x5chain.len())
            .field("items", &self.items.len())
            .finish_non_exhaustive()
    }
}

impl ParsedMdoc {
    /// The `x5chain` of `issuerAuth`, document-signer certificate first
    /// (ISO 18013-5 §9.1.2.4), to be validated to the IACA anchors.
    pub fn x5chain(&self) -> &[Vec<u8>] {
        &self.x5chain
    }

    /// The MSO `docType` (unverified).
    pub fn doctype(&self) -> &str {
        &self.mso.doctype
    }

    /// The MSO `deviceKeyInfo.deviceKey` (unverified).
    pub fn device_key(&self) -> &EcPublicJwk {
        &self.mso.device_key
    }

    /// The MSO `status` reference (unverified; TSL §6.3), if any.
    pub fn status(&self) -> Option<&StatusReference> {
        self.mso.status.as_ref()
    }
}

/// Parses the base64url `IssuerSigned` of a Credential Response (VCI
/// A.2.4). Padding is tolerated on input. Nothing is verified; see
/// [`super::verify`].
pub fn parse(issuer_signed_b64: &str) -> Result<ParsedMdoc, FormatError> {
    if issuer_signed_b64.len() > MAX_MDOC_LEN.div_ceil(3) * 4 {
        return Err(FormatError::TooLarge("the mdoc exceeds 1 MiB"));
    }
    let unpadded = issuer_signed_b64
        .strip_suffix("==")
        .or_else(|| issuer_signed_b64.strip_suffix('='))
        .unwrap_or(issuer_signed_b64);
    let bytes = avow_crypto::b64::decode(unpadded)?;
    parse_bytes(&bytes)
}

/// Parses the CBOR `IssuerSigned` structure.
pub(crate) fn parse_bytes(bytes: &[u8]) -> Result<ParsedMdoc, FormatError> {
    if bytes.len() > MAX_MDOC_LEN {
        return Err(FormatError::TooLarge("the mdoc exceeds 1 MiB"));
    }
    let end = cbor::item_end(bytes, 0, 0)?;
    if end != bytes.len() {
        return Err(malformed("trailing bytes after IssuerSigned"));
    }
    let top = cbor::container(bytes, 0..end, 5, "IssuerSigned is not a map")?;
    let mut name_spaces = None;
    let mut issuer_auth = None;
    for pair in top.chunks_exact(2) {
        let [key, value] = pair else { continue };
        let slot = match bytes.get(key.clone()).map(cbor::decode).transpose()? {
            Some(Value::Text(k)) if k == "nameSpaces" => &mut name_spaces,
            Some(Value::Text(k)) if k == "issuerAuth" => &mut issuer_auth,
            Some(Value::Text(_)) => continue,
            _ => return Err(malformed("IssuerSigned has a non-text key")),
        };
        if slot.replace(value.clone()).is_some() {
            return Err(malformed("duplicate map key"));
        }
    }
    let issuer_auth = issuer_auth.ok_or(malformed("issuerAuth is missing"))?;
    let issuer_auth = cbor::decode(bytes.get(issuer_auth).ok_or(malformed("issuerAuth"))?)?;
    let (issuer_auth, x5chain, mso) = parse_issuer_auth(issuer_auth)?;
    let items = match name_spaces {
        Some(span) => parse_name_spaces(bytes, span)?,
        None => Vec::new(),
    };
    Ok(ParsedMdoc {
        issuer_auth,
        x5chain,
        mso,
        items,
    })
}

/// `IssuerNameSpaces = {+ NameSpace => [+ IssuerSignedItemBytes]}`.
fn parse_name_spaces(bytes: &[u8], span: std::ops::Range<usize>) -> Result<Vec<Item>, FormatError> {
    let entries = cbor::container(bytes, span, 5, "nameSpaces is not a map")?;
    let mut items = Vec::new();
    let mut seen = std::collections::BTreeSet::new();
    for pair in entries.chunks_exact(2) {
        let [key, value] = pair else { continue };
        let namespace = match bytes.get(key.clone()).map(cbor::decode).transpose()? {
            Some(Value::Text(ns)) if !ns.is_empty() => ns,
            _ => return Err(malformed("a namespace is not a text string")),
        };
        if !seen.insert(namespace.clone()) {
            return Err(malformed("duplicate map key"));
        }
        let elements = cbor::container(bytes, value.clone(), 4, "a namespace is not an array")?;
        if elements.is_empty() {
            return Err(malformed("a namespace has no elements"));
        }
        for span in elements {
            if items.len() >= MAX_ELEMENTS {
                return Err(FormatError::TooLarge("more than 1000 data elements"));
            }
            let raw = bytes.get(span).ok_or(malformed("IssuerSignedItemBytes"))?;
            items.push(parse_item(&namespace, raw)?);
        }
    }
    Ok(items)
}

/// `IssuerSignedItemBytes = #6.24(bstr .cbor IssuerSignedItem)` (ISO 18013-5 §9.1.2.5).
fn parse_item(namespace: &str, raw: &[u8]) -> Result<Item, FormatError> {
    let digest = avow_crypto::hash::sha256(raw);
    let item = cbor::embedded(
        &cbor::decode(raw)?,
        "an IssuerSignedItem is not tag-24 CBOR",
    )?;
    let fields = text_map(&item, "an IssuerSignedItem is not a map")?;
    let digest_id = as_uint(
        fields
            .get("digestID")
            .ok_or(malformed("an IssuerSignedItem lacks digestID"))?,
        "digestID is not an unsigned integer",
    )?;
    match fields.get("random") {
        Some(Value::Bytes(r)) if r.len() >= MIN_RANDOM_LEN => {}
        _ => return Err(malformed("an IssuerSignedItem random is missing or short")),
    }
    let element_identifier = as_text(
        fields.get("elementIdentifier"),
        "elementIdentifier is not a text string",
    )?;
    let element_value = fields
        .get("elementValue")
        .ok_or(malformed("an IssuerSignedItem lacks elementValue"))?;
    Ok(Item {
        namespace: namespace.to_owned(),
        digest,
        digest_id,
        element_identifier: element_identifier.to_owned(),
        element_value: (*element_value).clone(),
    })
}

/// `IssuerAuth = COSE_Sign1` with the MSO as tag-24 payload (ISO 18013-5 §9.1.2.4).
fn parse_issuer_auth(value: Value) -> Result<(CoseSign1, Vec<Vec<u8>>, Mso), FormatError> {
    // ISO 18013-5 uses the untagged COSE_Sign1; the tagged form is read too.
    let value = match value {
        Value::Tag(18, inner) => *inner,
        other => other,
    };
    let sign1 = CoseSign1::from_cbor_value(value)
        .map_err(|_| malformed("issuerAuth is not a COSE_Sign1"))?;
    let x5chain = x5chain(&sign1)?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or(malformed("issuerAuth has a detached payload"))?;
    let mso = cbor::embedded(&cbor::decode(payload)?, "the MSO is not tag-24 CBOR")?;
    let mso = parse_mso(&mso)?;
    Ok((sign1, x5chain, mso))
}

/// `x5chain` (label 33, RFC 9360): one DER certificate or an array of them.
fn x5chain(sign1: &CoseSign1) -> Result<Vec<Vec<u8>>, FormatError> {
    let label = Label::Int(iana::HeaderParameter::X5Chain as i64);
    let find = |rest: &[(Label, Value)]| {
        rest.iter()
            .find(|(l, _)| *l == label)
            .map(|(_, v)| v.clone())
    };
    let value = match (
        find(&sign1.unprotected.rest),
        find(&sign1.protected.header.rest),
    ) {
        (Some(v), None) | (None, Some(v)) => v,
        (Some(_), Some(_)) => return Err(malformed("x5chain is in both header buckets")),
        (None, None) => return Err(malformed("issuerAuth has no x5chain")),
    };
    let chain = match value {
        Value::Bytes(der) => vec![der],
        Value::Array(certs) if !certs.is_empty() => certs
            .into_iter()
            .map(|c| match c {
                Value::Bytes(der) => Ok(der),
                _ => Err(malformed("an x5chain entry is not a byte string")),
            })
            .collect::<Result<_, _>>()?,
        _ => {
            return Err(malformed(
                "x5chain is not a certificate or an array of them",
            ));
        }
    };
    if chain.len() > MAX_X5CHAIN {
        return Err(FormatError::TooLarge(
            "x5chain has more than 10 certificates",
        ));
    }
    Ok(chain)
}

fn parse_mso(value: &Value) -> Result<Mso, FormatError> {
    let m = text_map(value, "the MSO is not a map")?;
    let version = as_text(m.get("version"), "MSO version is missing")?;
    let digest_algorithm = as_text(m.get("digestAlgorithm"), "MSO digestAlgorithm is missing")?;
    let doctype = as_text(m.get("docType"), "MSO docType is missing")?;
    if doctype.is_empty() {
        return Err(malformed("MSO docType is empty"));
    }
    let value_digests = parse_value_digests(
        m.get("valueDigests")
            .ok_or(malformed("MSO valueDigests is missing"))?,
    )?;
    let key_info = text_map(
        m.get("deviceKeyInfo")
            .ok_or(malformed("MSO deviceKeyInfo is missing"))?,
        "MSO deviceKeyInfo is not a map",
    )?;
    let device_key = cose_key(
        key_info
            .get("deviceKey")
            .ok_or(malformed("MSO deviceKey is missing"))?,
    )?;
    let validity = text_map(
        m.get("validityInfo")
            .ok_or(malformed("MSO validityInfo is missing"))?,
        "MSO validityInfo is not a map",
    )?;
    let signed = cbor::parse_tdate(validity.get("signed"), "validityInfo.signed")?;
    let valid_from = cbor::parse_tdate(validity.get("validFrom"), "validityInfo.validFrom")?;
    let valid_until = cbor::parse_tdate(validity.get("validUntil"), "validityInfo.validUntil")?;
    let status = m
        .get("status")
        .map(|s| parse_status(s))
        .transpose()?
        .flatten();
    Ok(Mso {
        version: version.to_owned(),
        digest_algorithm: digest_algorithm.to_owned(),
        value_digests,
        device_key,
        doctype: doctype.to_owned(),
        signed,
        valid_from,
        valid_until,
        status,
    })
}

/// `ValueDigests = {+ NameSpace => {+ DigestID => Digest}}`.
fn parse_value_digests(
    value: &Value,
) -> Result<BTreeMap<String, BTreeMap<u64, Vec<u8>>>, FormatError> {
    let mut out = BTreeMap::new();
    let mut count = 0usize;
    for (ns, digests) in text_map(value, "MSO valueDigests is not a map")? {
        let Value::Map(digests) = digests else {
            return Err(malformed("MSO valueDigests entry is not a map"));
        };
        let mut ids = BTreeMap::new();
        for (id, digest) in digests {
            count += 1;
            if count > 4 * MAX_ELEMENTS {
                return Err(FormatError::TooLarge("too many value digests"));
            }
            let id = as_uint(id, "a digestID is not an unsigned integer")?;
            let Value::Bytes(digest) = digest else {
                return Err(malformed("a value digest is not a byte string"));
            };
            if ids.insert(id, digest.clone()).is_some() {
                return Err(FormatError::MdocDigest(
                    "a digestID appears twice in valueDigests",
                ));
            }
        }
        out.insert(ns.to_owned(), ids);
    }
    Ok(out)
}

/// An EC2 P-256 `COSE_Key` (RFC 9053 §7.1.1) as a JWK.
fn cose_key(value: &Value) -> Result<EcPublicJwk, FormatError> {
    let key = CoseKey::from_cbor_value(value.clone())
        .map_err(|_| malformed("deviceKey is not a COSE_Key"))?;
    if key.kty != coset::KeyType::Assigned(iana::KeyType::EC2) {
        return Err(malformed("deviceKey is not an EC2 key"));
    }
    let param = |label: iana::Ec2KeyParameter| {
        key.params
            .iter()
            .find(|(l, _)| *l == Label::Int(label as i64))
            .map(|(_, v)| v)
    };
    if param(iana::Ec2KeyParameter::Crv)
        != Some(&Value::Integer((iana::EllipticCurve::P_256 as i64).into()))
    {
        return Err(malformed("deviceKey is not on P-256"));
    }
    if param(iana::Ec2KeyParameter::D).is_some() {
        return Err(malformed("deviceKey contains a private key"));
    }
    let coordinate = |label| match param(label) {
        Some(Value::Bytes(b)) if b.len() == 32 => Ok(b.as_slice()),
        _ => Err(malformed("deviceKey has no 32-byte x and y")),
    };
    let mut point = vec![0x04];
    point.extend_from_slice(coordinate(iana::Ec2KeyParameter::X)?);
    point.extend_from_slice(coordinate(iana::Ec2KeyParameter::Y)?);
    Ok(EcPublicJwk::from_uncompressed(&point)?)
}

/// `status` (draft-ietf-oauth-status-list §6.3): `None` when it names only
/// other mechanisms.
fn parse_status(value: &Value) -> Result<Option<StatusReference>, FormatError> {
    let status = text_map(value, "MSO status is not a map")?;
    let Some(list) = status.get("status_list") else {
        return Ok(None);
    };
    let list = text_map(list, "status_list is not a map")?;
    let idx = as_uint(
        list.get("idx")
            .ok_or(malformed("status_list.idx is missing"))?,
        "status_list.idx is not an unsigned integer",
    )?;
    let uri = as_text(list.get("uri"), "status_list.uri is not a text string")?;
    if uri.is_empty() {
        return Err(malformed("status_list.uri is empty"));
    }
    Ok(Some(StatusReference {
        idx,
        uri: uri.to_owned(),
    }))
}
