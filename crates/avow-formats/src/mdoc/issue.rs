//! Issuance of an mdoc `IssuerSigned` (ISO 18013-5 §9.1.2.4-5; VCI A.2;
//! ISS-MDOC-01 to -04, -07; ISS-SIG-05).

use super::cbor::{self, tag24, text};
use super::{
    DIGEST_ALGORITHM, MAX_DEPTH, MAX_ELEMENTS, MAX_MDOC_LEN, MAX_X5CHAIN, MSO_VERSION, MdocContent,
    RANDOM_LEN,
};
use crate::error::FormatError;
use avow_crypto::{CryptoError, JwsAlgorithm, Random, Signer};
use ciborium::Value;
use coset::{AsCborValue, CoseKeyBuilder, CoseSign1Builder, HeaderBuilder, iana};
use std::collections::{BTreeMap, BTreeSet};

/// Issues `content` as the base64url (unpadded) `IssuerSigned` of an
/// `mso_mdoc` Credential Response:
///
/// * `issuerAuth` is an untagged COSE_Sign1 signed by `signer` (ES256
///   only), protected header `{1: -7}`, unprotected `{33: x5chain}` where
///   `x5chain` is the document-signer certificate (DER) alone or followed
///   by intermediates; the IACA root does not belong in it. The leaf must
///   certify the signer's key.
/// * Each element becomes an `IssuerSignedItem` with a fresh 32-byte
///   `random` from `random` and a digestID unique in its namespace, the
///   digestIDs of a namespace being a random permutation of `0..n`.
pub async fn issue(
    signer: &dyn Signer,
    x5chain: &[Vec<u8>],
    content: &MdocContent,
    random: &dyn Random,
) -> Result<String, FormatError> {
    if signer.algorithm() != JwsAlgorithm::Es256 {
        return Err(FormatError::InvalidInput(
            "mdoc issuerAuth is signed with ES256 only",
        ));
    }
    check_x5chain(signer, x5chain)?;
    check_content(content)?;

    let mut name_spaces = Vec::new();
    let mut value_digests = Vec::new();
    let mut randoms = BTreeSet::new();
    for (namespace, elements) in &content.namespaces {
        let ids = shuffled_ids(elements.len(), random)?;
        let mut items = Vec::with_capacity(elements.len());
        let mut digests = BTreeMap::new();
        for ((identifier, value), id) in elements.iter().zip(ids) {
            let mut salt = vec![0u8; RANDOM_LEN];
            random.fill(&mut salt);
            if !randoms.insert(salt.clone()) {
                return Err(FormatError::WeakRandomness);
            }
            let item = Value::Map(vec![
                (text("digestID"), Value::Integer(id.into())),
                (text("random"), Value::Bytes(salt)),
                (text("elementIdentifier"), text(identifier)),
                (text("elementValue"), value.clone()),
            ]);
            let item_bytes = cbor::encode(&item)?;
            // What a verifier of this crate would refuse is not issued.
            cbor::item_end(&item_bytes, 0, 0).map_err(|_| FormatError::TooDeep(MAX_DEPTH))?;
            let tagged = tag24(item_bytes);
            let digest = avow_crypto::hash::sha256(&cbor::encode(&tagged)?);
            digests.insert(id, digest);
            items.push(tagged);
        }
        name_spaces.push((text(namespace), Value::Array(items)));
        value_digests.push((
            text(namespace),
            Value::Map(
                digests
                    .into_iter()
                    .map(|(id, d)| (Value::Integer(id.into()), Value::Bytes(d.to_vec())))
                    .collect(),
            ),
        ));
    }

    let mso = mso(content, value_digests)?;
    let payload = cbor::encode(&tag24(cbor::encode(&mso)?))?;
    let chain = match x5chain {
        [leaf] => Value::Bytes(leaf.clone()),
        certs => Value::Array(certs.iter().cloned().map(Value::Bytes).collect()),
    };
    let mut sign1 = CoseSign1Builder::new()
        .protected(
            HeaderBuilder::new()
                .algorithm(iana::Algorithm::ES256)
                .build(),
        )
        .unprotected(
            HeaderBuilder::new()
                .value(iana::HeaderParameter::X5Chain as i64, chain)
                .build(),
        )
        .payload(payload)
        .build();
    let tbs = sign1.tbs_data(b"");
    let signature = signer.sign(&tbs).await?;
    if signature.len() != 64 {
        return Err(CryptoError::SigningFailed.into());
    }
    sign1.signature = signature;
    let issuer_auth = sign1
        .to_cbor_value()
        .map_err(|_| FormatError::InvalidInput("issuerAuth cannot be encoded"))?;

    let issuer_signed = Value::Map(vec![
        (text("nameSpaces"), Value::Map(name_spaces)),
        (text("issuerAuth"), issuer_auth),
    ]);
    let bytes = cbor::encode(&issuer_signed)?;
    if bytes.len() > MAX_MDOC_LEN {
        return Err(FormatError::TooLarge("the mdoc exceeds 1 MiB"));
    }
    Ok(avow_crypto::b64::encode(bytes))
}

fn check_x5chain(signer: &dyn Signer, x5chain: &[Vec<u8>]) -> Result<(), FormatError> {
    let leaf = x5chain
        .first()
        .ok_or(FormatError::KeyHeader("x5chain is empty"))?;
    if x5chain.len() > MAX_X5CHAIN {
        return Err(FormatError::KeyHeader(
            "x5chain has more than 10 certificates",
        ));
    }
    if &avow_crypto::x509::leaf_public_key(leaf)? != signer.public_jwk() {
        return Err(FormatError::KeyHeader(
            "the x5chain leaf does not certify the signing key",
        ));
    }
    Ok(())
}

fn check_content(content: &MdocContent) -> Result<(), FormatError> {
    if content.doctype.is_empty() {
        return Err(FormatError::InvalidInput("the doctype is empty"));
    }
    if content.namespaces.is_empty() {
        return Err(FormatError::InvalidInput(
            "an mdoc needs at least one namespace",
        ));
    }
    let mut total = 0usize;
    for (namespace, elements) in &content.namespaces {
        if namespace.is_empty() || elements.is_empty() {
            return Err(FormatError::InvalidInput("a namespace is empty or unnamed"));
        }
        total = total.saturating_add(elements.len());
        let mut seen = BTreeSet::new();
        for (identifier, _) in elements {
            if identifier.is_empty() || !seen.insert(identifier.as_str()) {
                return Err(FormatError::InvalidInput(
                    "an element identifier is empty or repeated in its namespace",
                ));
            }
        }
    }
    if total > MAX_ELEMENTS {
        return Err(FormatError::TooLarge("more than 1000 data elements"));
    }
    if content.valid_from > content.valid_until {
        return Err(FormatError::InvalidInput("valid_from is after valid_until"));
    }
    if let Some(status) = &content.status
        && status.uri.is_empty()
    {
        return Err(FormatError::InvalidInput("the status list uri is empty"));
    }
    Ok(())
}

/// The Mobile Security Object (ISO 18013-5 §9.1.2.4).
fn mso(content: &MdocContent, value_digests: Vec<(Value, Value)>) -> Result<Value, FormatError> {
    let key = &content.device_key;
    let device_key = CoseKeyBuilder::new_ec2_pub_key(
        iana::EllipticCurve::P_256,
        key.x().to_vec(),
        key.y().to_vec(),
    )
    .build()
    .to_cbor_value()
    .map_err(|_| FormatError::InvalidInput("the device key cannot be encoded"))?;
    let mut mso = vec![
        (text("version"), text(MSO_VERSION)),
        (text("digestAlgorithm"), text(DIGEST_ALGORITHM)),
        (text("valueDigests"), Value::Map(value_digests)),
        (
            text("deviceKeyInfo"),
            Value::Map(vec![(text("deviceKey"), device_key)]),
        ),
        (text("docType"), text(&content.doctype)),
        (
            text("validityInfo"),
            Value::Map(vec![
                (text("signed"), cbor::tdate(content.signed)?),
                (text("validFrom"), cbor::tdate(content.valid_from)?),
                (text("validUntil"), cbor::tdate(content.valid_until)?),
            ]),
        ),
    ];
    if let Some(status) = &content.status {
        mso.push((
            text("status"),
            Value::Map(vec![(
                text("status_list"),
                Value::Map(vec![
                    (text("idx"), Value::Integer(status.idx.into())),
                    (text("uri"), text(&status.uri)),
                ]),
            )]),
        ));
    }
    Ok(Value::Map(mso))
}

/// A uniformly random permutation of `0..n` (Fisher-Yates), so that
/// digestIDs say nothing about the order or the kind of the elements.
fn shuffled_ids(n: usize, random: &dyn Random) -> Result<Vec<u64>, FormatError> {
    let mut ids: Vec<u64> = (0..n as u64).collect();
    for i in (1..n).rev() {
        let j = uniform_below(i + 1, random)?;
        ids.swap(i, j);
    }
    Ok(ids)
}

/// A uniform value in `0..bound` by rejection sampling; a source that keeps
/// landing in the rejected zone is refused rather than looped on.
fn uniform_below(bound: usize, random: &dyn Random) -> Result<usize, FormatError> {
    let bound = u32::try_from(bound).map_err(|_| FormatError::TooLarge("too many elements"))?;
    if bound == 0 {
        return Ok(0);
    }
    let zone = u32::MAX - (u32::MAX % bound);
    for _ in 0..64 {
        let mut b = [0u8; 4];
        random.fill(&mut b);
        let v = u32::from_le_bytes(b);
        if v < zone {
            return usize::try_from(v % bound).map_err(|_| FormatError::WeakRandomness);
        }
    }
    Err(FormatError::WeakRandomness)
}
