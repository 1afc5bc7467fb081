//! The Status List Token in CWT format (TSL §5.2) and the Status List in
//! CBOR format (TSL §4.3).
//!
//! * [`StatusListToken::sign_cwt`] builds the token: a CWT (RFC 8392) that
//!   is a COSE_Sign1_Tagged (tag 18, never the CWT tag 61; TSL §5.2) with
//!   protected header `{1 (alg): -7 (ES256), 16 (typ):
//!   "application/statuslist+cwt", 33 (x5chain): chain}` (RFC 9596 for
//!   `typ`, RFC 9360 for `x5chain`), and claims `2` (sub), `6` (iat), `4`
//!   (exp), `65534` (ttl) and `65533` (status_list) = `{bits, lst (bstr),
//!   ? aggregation_uri}`. The chain is the one of the JWT form: leaf first,
//!   not self-signed, trust anchor excluded.
//! * [`StatusListCwt::parse`] reads a token without trusting it (bounded
//!   size and nesting), so that the caller can validate
//!   [`StatusListCwt::x5chain`] to its anchors; [`verify_status_list_cwt`]
//!   then checks alg, `typ`, the signature and the claims (TSL §8.3 steps 3
//!   and 4).
//!
//! The response body of `application/statuslist+cwt` is the binary token
//! (TSL §8.2).

use super::{StatusList, StatusListError, StatusListToken, TokenExpectations};
use crate::mdoc::MAX_X5CHAIN;
use crate::mdoc::cbor;
use avow_crypto::{CryptoError, EcPublicJwk, JwsAlgorithm, Signer};
use ciborium::Value;
use coset::{
    Algorithm, CoseSign1, CoseSign1Builder, HeaderBuilder, Label, TaggedCborSerializable, iana,
};

/// The media type, and the COSE `typ` (label 16), of a Status List Token
/// in CWT format (TSL §5.2, §8.1, §8.2).
pub const STATUS_LIST_CWT_MEDIA_TYPE: &str = "application/statuslist+cwt";
/// Upper bound on a Status List Token in CWT format, bytes: the bound of
/// the JWT form (`avow_crypto::jws::MAX_JWS_LEN`).
pub const MAX_STATUS_LIST_CWT_LEN: usize = avow_crypto::jws::MAX_JWS_LEN;

/// COSE header parameter `typ` (RFC 9596 §2).
pub const HEADER_TYP: i64 = iana::HeaderParameter::ObjectContentType as i64;
/// COSE header parameter `x5chain` (RFC 9360 §2).
pub const HEADER_X5CHAIN: i64 = iana::HeaderParameter::X5Chain as i64;
/// CWT claim key `sub` (RFC 8392 §3.1.2).
pub const CLAIM_SUB: i64 = 2;
/// CWT claim key `exp` (RFC 8392 §3.1.4).
pub const CLAIM_EXP: i64 = 4;
/// CWT claim key `nbf` (RFC 8392 §3.1.5).
pub const CLAIM_NBF: i64 = 5;
/// CWT claim key `iat` (RFC 8392 §3.1.6).
pub const CLAIM_IAT: i64 = 6;
/// CWT claim key `status_list` (TSL §5.2, §14.3: requested 65533).
pub const CLAIM_STATUS_LIST: i64 = 65533;
/// CWT claim key `ttl` (TSL §5.2, §14.3: requested 65534).
pub const CLAIM_TTL: i64 = 65534;
/// Tag of COSE_Sign1_Tagged (RFC 9052 §2).
const TAG_COSE_SIGN1: u64 = 18;
/// The CWT tag (RFC 8392 §6), which a Status List Token must not carry (TSL §5.2).
const TAG_CWT: u64 = 61;

const fn malformed(what: &'static str) -> StatusListError {
    StatusListError::MalformedCwt(what)
}

/// Whether a COSE `typ` is `application/statuslist+cwt` (compared as a
/// media type: case-insensitive, no parameters; TSL §5.2, RFC 9596).
pub fn is_status_list_cwt_typ(typ: &str) -> bool {
    typ.trim().eq_ignore_ascii_case(STATUS_LIST_CWT_MEDIA_TYPE)
}

impl StatusList {
    /// The CBOR `StatusList` map `{"bits": uint, "lst": bstr}` (TSL §4.3).
    pub fn to_cbor(&self) -> Result<Value, StatusListError> {
        Ok(Value::Map(vec![
            (Value::Text("bits".into()), Value::Integer(self.bits.into())),
            (Value::Text("lst".into()), Value::Bytes(self.compress()?)),
        ]))
    }
}

/// Reads a CBOR `StatusList` map (TSL §4.3): the list and its
/// `aggregation_uri`; unknown entries are ignored, duplicate keys refused.
fn status_list_from_cbor(
    value: &Value,
    max_bytes: usize,
) -> Result<(StatusList, Option<String>), StatusListError> {
    let entries = cbor::text_map(value, "status_list")
        .map_err(|_| StatusListError::InvalidClaim("status_list"))?;
    let bits = match entries.get("bits") {
        Some(Value::Integer(i)) => {
            u8::try_from(*i).map_err(|_| StatusListError::InvalidClaim("status_list.bits"))?
        }
        _ => return Err(StatusListError::InvalidClaim("status_list.bits")),
    };
    let Some(Value::Bytes(lst)) = entries.get("lst") else {
        return Err(StatusListError::InvalidClaim("status_list.lst"));
    };
    let list = StatusList::decompress(bits, lst, max_bytes)?;
    let aggregation_uri = match entries.get("aggregation_uri") {
        None => None,
        Some(Value::Text(uri)) => Some(uri.clone()),
        Some(_) => return Err(StatusListError::InvalidClaim("status_list.aggregation_uri")),
    };
    Ok((list, aggregation_uri))
}

/// A NumericDate (RFC 8392 §2): an integer, or a finite float (cut to whole
/// seconds); the tag 1 is omitted.
fn numeric_date(value: &Value, claim: &'static str) -> Result<i64, StatusListError> {
    match value {
        Value::Integer(i) => i64::try_from(*i).map_err(|_| StatusListError::InvalidClaim(claim)),
        Value::Float(f) if f.is_finite() && f.abs() < 9.0e15 => Ok(f.trunc() as i64),
        _ => Err(StatusListError::InvalidClaim(claim)),
    }
}

impl StatusListToken {
    /// The CWT Claims Set (TSL §5.2), keys in deterministic order (RFC 8949
    /// §4.2.1): 2 (sub), 4 (exp), 6 (iat), 65533 (status_list), 65534 (ttl).
    pub fn to_cwt_claims(&self) -> Result<Value, StatusListError> {
        let mut claims = vec![(
            Value::Integer(CLAIM_SUB.into()),
            Value::Text(self.sub.clone()),
        )];
        if let Some(exp) = self.exp {
            claims.push((Value::Integer(CLAIM_EXP.into()), Value::Integer(exp.into())));
        }
        claims.push((
            Value::Integer(CLAIM_IAT.into()),
            Value::Integer(self.iat.into()),
        ));
        let mut status_list = self.status_list.to_cbor()?;
        if let (Some(uri), Value::Map(entries)) = (&self.aggregation_uri, &mut status_list) {
            entries.push((
                Value::Text("aggregation_uri".into()),
                Value::Text(uri.clone()),
            ));
        }
        claims.push((Value::Integer(CLAIM_STATUS_LIST.into()), status_list));
        if let Some(ttl) = self.ttl {
            claims.push((Value::Integer(CLAIM_TTL.into()), Value::Integer(ttl.into())));
        }
        Ok(Value::Map(claims))
    }

    /// Reads a CWT Claims Set: `2` (sub), `6` (iat) and `65533`
    /// (status_list) required; `4` (exp) and `65534` (ttl, positive) checked
    /// when present (TSL §5.2, §8.3 step 3b). Other claims are allowed.
    /// Returns the token and `5` (nbf), when present.
    pub fn from_cwt_claims(
        claims: &Value,
        max_bytes: usize,
    ) -> Result<(Self, Option<i64>), StatusListError> {
        let Value::Map(entries) = claims else {
            return Err(malformed("the CWT claims set is not a map"));
        };
        let (mut sub, mut iat, mut exp, mut nbf, mut ttl, mut status_list) =
            (None, None, None, None, None, None);
        let mut seen = std::collections::BTreeSet::new();
        for (key, value) in entries {
            // Claim keys are integers or text strings (RFC 8392 §3); text keys are not ours.
            let key = match key {
                Value::Integer(i) => i128::from(*i),
                Value::Text(t) => {
                    if !seen.insert(format!("t:{t}")) {
                        return Err(malformed("duplicate claim key"));
                    }
                    continue;
                }
                _ => return Err(malformed("a claim key is neither an integer nor text")),
            };
            if !seen.insert(format!("i:{key}")) {
                return Err(malformed("duplicate claim key"));
            }
            match i64::try_from(key) {
                Ok(CLAIM_SUB) => match value {
                    Value::Text(s) if !s.is_empty() => sub = Some(s.clone()),
                    _ => return Err(StatusListError::InvalidClaim("sub")),
                },
                Ok(CLAIM_IAT) => iat = Some(numeric_date(value, "iat")?),
                Ok(CLAIM_EXP) => exp = Some(numeric_date(value, "exp")?),
                Ok(CLAIM_NBF) => nbf = Some(numeric_date(value, "nbf")?),
                Ok(CLAIM_TTL) => match value {
                    Value::Integer(i) => {
                        ttl = Some(
                            u64::try_from(*i)
                                .ok()
                                .filter(|t| *t > 0)
                                .ok_or(StatusListError::InvalidClaim("ttl"))?,
                        );
                    }
                    _ => return Err(StatusListError::InvalidClaim("ttl")),
                },
                Ok(CLAIM_STATUS_LIST) => {
                    status_list = Some(status_list_from_cbor(value, max_bytes)?)
                }
                _ => {}
            }
        }
        let (status_list, aggregation_uri) =
            status_list.ok_or(StatusListError::InvalidClaim("status_list"))?;
        Ok((
            Self {
                sub: sub.ok_or(StatusListError::InvalidClaim("sub"))?,
                iat: iat.ok_or(StatusListError::InvalidClaim("iat"))?,
                exp,
                ttl,
                status_list,
                aggregation_uri,
            },
            nbf,
        ))
    }

    /// Signs the token in CWT format (TSL §5.2): a COSE_Sign1_Tagged with
    /// protected `alg` ES256, `typ` `application/statuslist+cwt` and
    /// `x5chain` (DER, leaf first, trust anchor excluded; the leaf must
    /// certify the signer's key), returned as the binary token (TSL §8.2).
    pub async fn sign_cwt(
        &self,
        signer: &dyn Signer,
        x5chain: &[Vec<u8>],
    ) -> Result<Vec<u8>, StatusListError> {
        if signer.algorithm() != JwsAlgorithm::Es256 {
            return Err(StatusListError::KeyHeader(
                "the CWT status list token is signed with ES256 only",
            ));
        }
        let Some(leaf) = x5chain.first() else {
            return Err(StatusListError::KeyHeader("the x5chain is empty"));
        };
        if x5chain.len() > MAX_X5CHAIN {
            return Err(StatusListError::KeyHeader(
                "the x5chain has more than 10 certificates",
            ));
        }
        if &avow_crypto::x509::leaf_public_key(leaf)? != signer.public_jwk() {
            return Err(StatusListError::KeyHeader(
                "the x5chain leaf does not certify the signing key",
            ));
        }
        let chain = match x5chain {
            [leaf] => Value::Bytes(leaf.clone()),
            certs => Value::Array(certs.iter().cloned().map(Value::Bytes).collect()),
        };
        let payload = cbor::encode(&self.to_cwt_claims()?)
            .map_err(|_| malformed("the claims cannot be encoded"))?;
        let mut sign1 = CoseSign1Builder::new()
            .protected(
                HeaderBuilder::new()
                    .algorithm(iana::Algorithm::ES256)
                    .value(HEADER_TYP, Value::Text(STATUS_LIST_CWT_MEDIA_TYPE.into()))
                    .value(HEADER_X5CHAIN, chain)
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
        let bytes = sign1
            .to_tagged_vec()
            .map_err(|_| malformed("the token cannot be encoded"))?;
        if bytes.len() > MAX_STATUS_LIST_CWT_LEN {
            return Err(StatusListError::TooLarge(MAX_STATUS_LIST_CWT_LEN));
        }
        Ok(bytes)
    }
}

/// A Status List Token in CWT format that is well formed but not yet
/// verified: validate [`x5chain`](Self::x5chain) to the trust anchors,
/// then call [`verify_status_list_cwt`] with the leaf key.
#[derive(Clone)]
pub struct StatusListCwt {
    sign1: CoseSign1,
    x5chain: Vec<Vec<u8>>,
}

impl std::fmt::Debug for StatusListCwt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusListCwt")
            .field("x5chain", &self.x5chain.len())
            .finish_non_exhaustive()
    }
}

impl StatusListCwt {
    /// Parses the binary token (TSL §5.2, §8.2): one CBOR data item of at
    /// most [`MAX_STATUS_LIST_CWT_LEN`] bytes and bounded nesting, a
    /// COSE_Sign1_Tagged (tag 18; the CWT tag 61 is refused) with an
    /// attached payload. Nothing is verified.
    pub fn parse(bytes: &[u8]) -> Result<Self, StatusListError> {
        if bytes.len() > MAX_STATUS_LIST_CWT_LEN {
            return Err(StatusListError::TooLarge(MAX_STATUS_LIST_CWT_LEN));
        }
        let value = cbor::decode(bytes).map_err(|_| malformed("not one well-formed CBOR item"))?;
        let inner = match value {
            Value::Tag(TAG_COSE_SIGN1, inner) => *inner,
            Value::Tag(TAG_CWT, _) => return Err(malformed("the token carries the CWT tag 61")),
            _ => return Err(malformed("the token is not a COSE_Sign1_Tagged (tag 18)")),
        };
        let sign1 = <CoseSign1 as coset::AsCborValue>::from_cbor_value(inner)
            .map_err(|_| malformed("the token is not a COSE_Sign1"))?;
        if sign1.payload.is_none() {
            return Err(malformed("the token has a detached payload"));
        }
        let x5chain = x5chain(&sign1)?;
        Ok(Self { sign1, x5chain })
    }

    /// The `x5chain` (label 33) of the token, leaf first, to be validated
    /// to the trust anchors (TSL §11.3).
    pub fn x5chain(&self) -> &[Vec<u8>] {
        &self.x5chain
    }
}

/// The value of header parameter `label` among `rest`.
fn header_value(rest: &[(Label, Value)], label: i64) -> Option<&Value> {
    rest.iter()
        .find(|(l, _)| *l == Label::Int(label))
        .map(|(_, v)| v)
}

/// `x5chain` (label 33, RFC 9360): one DER certificate or an array of them,
/// in the protected or the unprotected bucket (not both).
fn x5chain(sign1: &CoseSign1) -> Result<Vec<Vec<u8>>, StatusListError> {
    let value = match (
        header_value(&sign1.protected.header.rest, HEADER_X5CHAIN),
        header_value(&sign1.unprotected.rest, HEADER_X5CHAIN),
    ) {
        (Some(v), None) | (None, Some(v)) => v,
        (Some(_), Some(_)) => return Err(malformed("x5chain is in both header buckets")),
        (None, None) => return Err(malformed("the token has no x5chain")),
    };
    let chain: Vec<Vec<u8>> = match value {
        Value::Bytes(der) => vec![der.clone()],
        Value::Array(certs) if !certs.is_empty() => certs
            .iter()
            .map(|c| match c {
                Value::Bytes(der) => Ok(der.clone()),
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
        return Err(malformed("x5chain has more than 10 certificates"));
    }
    Ok(chain)
}

/// Verifies a Status List Token in CWT format (TSL §5.2, §8.3 steps 3 and
/// 4; RFC 8392 §7.2): protected `alg` ES256 and no unprotected `alg`, no
/// `crit`, protected `typ` `application/statuslist+cwt`, the signature with
/// `key` (the key of the `x5chain` leaf the caller validated), the required
/// claims, `sub` = `uri`, `exp` not passed, `iat` and `nbf` not in the
/// future.
pub fn verify_status_list_cwt(
    token: &StatusListCwt,
    key: &EcPublicJwk,
    expect: &TokenExpectations<'_>,
) -> Result<StatusListToken, StatusListError> {
    let sign1 = &token.sign1;
    let protected = &sign1.protected.header;
    let typ = header_value(&protected.rest, HEADER_TYP);
    if !matches!(typ, Some(Value::Text(t)) if is_status_list_cwt_typ(t)) {
        return Err(StatusListError::UnexpectedType);
    }
    match &protected.alg {
        Some(alg) if *alg == Algorithm::Assigned(iana::Algorithm::ES256) => {}
        Some(_) => return Err(CryptoError::AlgorithmNotAllowed("the COSE alg".into()).into()),
        None => return Err(malformed("the token has no protected alg")),
    }
    if sign1.unprotected.alg.is_some() {
        return Err(malformed("the token has an unprotected alg"));
    }
    if !protected.crit.is_empty() {
        return Err(malformed("the token has critical header parameters"));
    }
    sign1.verify_signature(b"", |signature, tbs| {
        avow_crypto::signer::verify_es256(key, tbs, signature)
    })?;
    let payload = sign1
        .payload
        .as_deref()
        .ok_or(malformed("the token has a detached payload"))?;
    let claims = cbor::decode(payload).map_err(|_| malformed("the claims set is not CBOR"))?;
    let (status_token, nbf) = StatusListToken::from_cwt_claims(&claims, expect.max_bytes)?;
    super::check_token_claims(&status_token, nbf, expect)?;
    Ok(status_token)
}

#[cfg(test)]
mod tests {
    use super::super::{MAX_STATUS_LIST_BYTES, StatusType};
    use super::*;
    use avow_crypto::SoftwareSigner;
    use avow_crypto::x509::{CertificateAuthority, Validity};
    use proptest::prelude::*;

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    const NOW: i64 = 1_800_000_000;
    const URI: &str = "https://issuer.example/status-lists/a";

    fn chain() -> (SoftwareSigner, Vec<Vec<u8>>) {
        let validity = Validity {
            not_before: NOW - 3600,
            not_after: NOW + 86_400,
        };
        let ca = ok(CertificateAuthority::generate_root("Status CA", validity));
        let signer = ok(SoftwareSigner::generate());
        let leaf = ok(ca.issue_leaf("Status signer", signer.public_jwk(), validity));
        (signer, vec![leaf])
    }

    fn token() -> StatusListToken {
        let mut list = ok(StatusList::new(2, 1024));
        ok(list.set(7, StatusType::SUSPENDED));
        ok(list.set(8, StatusType::INVALID));
        StatusListToken {
            sub: URI.into(),
            iat: NOW,
            exp: Some(NOW + 86_400),
            ttl: Some(3600),
            status_list: list,
            aggregation_uri: Some("https://issuer.example/status-lists".into()),
        }
    }

    fn expect() -> TokenExpectations<'static> {
        TokenExpectations {
            uri: URI,
            now: NOW,
            skew: 60,
            max_bytes: MAX_STATUS_LIST_BYTES,
        }
    }

    /// Signs `claims` under an arbitrary protected header, for negative tests.
    async fn sign_raw(
        signer: &SoftwareSigner,
        protected: coset::Header,
        claims: &Value,
        tagged: bool,
    ) -> Vec<u8> {
        let mut sign1 = CoseSign1Builder::new()
            .protected(protected)
            .payload(ok(cbor::encode(claims)))
            .build();
        let tbs = sign1.tbs_data(b"");
        sign1.signature = ok(signer.sign(&tbs).await);
        if tagged {
            ok(sign1.to_tagged_vec())
        } else {
            ok(coset::CborSerializable::to_vec(sign1))
        }
    }

    fn header(typ: Option<Value>, x5chain: &[Vec<u8>]) -> coset::Header {
        let mut builder = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .value(HEADER_X5CHAIN, Value::Bytes(x5chain[0].clone()));
        if let Some(typ) = typ {
            builder = builder.value(HEADER_TYP, typ);
        }
        builder.build()
    }

    /// TSL §4.3: the CBOR StatusList of the first §4.1 example (1 bit, 16 entries).
    #[test]
    fn cbor_status_list_example() {
        let mut list = ok(StatusList::new(1, 16));
        for (i, s) in [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1]
            .iter()
            .enumerate()
        {
            ok(list.set(i as u64, *s));
        }
        let encoded = ok(cbor::encode(&ok(list.to_cbor())));
        let hex: String = encoded.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "a2646269747301636c73744a78dadbb918000217015d");
        let (decoded, aggregation) = ok(status_list_from_cbor(&ok(cbor::decode(&encoded)), 1024));
        assert_eq!((decoded, aggregation), (list, None));
    }

    #[tokio::test]
    async fn cwt_signs_parses_and_verifies() {
        let (signer, x5chain) = chain();
        let token = token();
        let bytes = ok(token.sign_cwt(&signer, &x5chain).await);
        // COSE_Sign1_Tagged (tag 18 = 0xd2), not the CWT tag 61.
        assert_eq!(bytes.first(), Some(&0xd2));
        let parsed = ok(StatusListCwt::parse(&bytes));
        assert_eq!(parsed.x5chain(), x5chain.as_slice());
        // The protected header carries alg, typ and x5chain.
        let protected = &parsed.sign1.protected.header;
        assert_eq!(
            protected.alg,
            Some(Algorithm::Assigned(iana::Algorithm::ES256))
        );
        assert!(
            protected.rest.iter().any(|(l, v)| *l == Label::Int(16)
                && *v == Value::Text("application/statuslist+cwt".into()))
        );
        assert!(protected.rest.iter().any(|(l, _)| *l == Label::Int(33)));
        let verified = ok(verify_status_list_cwt(
            &parsed,
            signer.public_jwk(),
            &expect(),
        ));
        assert_eq!(verified, token);
        assert_eq!(verified.status_list.status(7), Some(StatusType::Suspended));
        assert_eq!(verified.status_list.status(8), Some(StatusType::Invalid));
        assert_eq!(verified.status_list.status(9), Some(StatusType::Valid));
        // The claims use the integer keys of TSL §5.2.
        let claims = ok(cbor::decode(
            parsed.sign1.payload.as_deref().unwrap_or_default(),
        ));
        let Value::Map(entries) = claims else {
            panic!("claims are not a map")
        };
        let keys: Vec<Value> = entries.into_iter().map(|(k, _)| k).collect();
        let expected: Vec<Value> = [2i64, 4, 6, 65533, 65534]
            .into_iter()
            .map(|k| Value::Integer(k.into()))
            .collect();
        assert_eq!(keys, expected);
    }

    #[tokio::test]
    async fn tampered_signature_and_other_keys_are_refused() {
        let (signer, x5chain) = chain();
        let mut bytes = ok(token().sign_cwt(&signer, &x5chain).await);
        let last = bytes.len() - 1;
        bytes[last] ^= 1;
        let parsed = ok(StatusListCwt::parse(&bytes));
        assert!(matches!(
            verify_status_list_cwt(&parsed, signer.public_jwk(), &expect()),
            Err(StatusListError::Crypto(CryptoError::BadSignature))
        ));
        let good = ok(token().sign_cwt(&signer, &x5chain).await);
        let stranger = ok(SoftwareSigner::generate());
        assert!(matches!(
            verify_status_list_cwt(
                &ok(StatusListCwt::parse(&good)),
                stranger.public_jwk(),
                &expect()
            ),
            Err(StatusListError::Crypto(_))
        ));
        // The leaf must certify the signer, and a chain is required.
        assert!(token().sign_cwt(&stranger, &x5chain).await.is_err());
        assert!(token().sign_cwt(&signer, &[]).await.is_err());
    }

    #[tokio::test]
    async fn sub_exp_iat_are_checked() {
        let (signer, x5chain) = chain();
        let parsed = ok(StatusListCwt::parse(&ok(token()
            .sign_cwt(&signer, &x5chain)
            .await)));
        let key = signer.public_jwk();
        let other = TokenExpectations {
            uri: "https://issuer.example/status-lists/b",
            ..expect()
        };
        assert_eq!(
            verify_status_list_cwt(&parsed, key, &other).err(),
            Some(StatusListError::SubjectMismatch)
        );
        let later = TokenExpectations {
            now: NOW + 86_400 + 61,
            ..expect()
        };
        assert_eq!(
            verify_status_list_cwt(&parsed, key, &later).err(),
            Some(StatusListError::Expired)
        );
        let earlier = TokenExpectations {
            now: NOW - 61,
            ..expect()
        };
        assert_eq!(
            verify_status_list_cwt(&parsed, key, &earlier).err(),
            Some(StatusListError::NotYetValid)
        );
    }

    #[tokio::test]
    async fn typ_and_envelope_are_checked() {
        let (signer, x5chain) = chain();
        let claims = ok(token().to_cwt_claims());
        for typ in [
            None,
            Some(Value::Text("application/statuslist+jwt".into())),
            Some(Value::Text("statuslist+cwt".into())),
            Some(Value::Integer(61.into())),
        ] {
            let bytes = sign_raw(&signer, header(typ.clone(), &x5chain), &claims, true).await;
            assert_eq!(
                verify_status_list_cwt(
                    &ok(StatusListCwt::parse(&bytes)),
                    signer.public_jwk(),
                    &expect()
                )
                .err(),
                Some(StatusListError::UnexpectedType),
                "{typ:?}"
            );
        }
        let typ = Some(Value::Text("Application/StatusList+CWT".into()));
        let bytes = sign_raw(&signer, header(typ.clone(), &x5chain), &claims, true).await;
        assert!(
            verify_status_list_cwt(
                &ok(StatusListCwt::parse(&bytes)),
                signer.public_jwk(),
                &expect()
            )
            .is_ok()
        );
        // Untagged, or wrapped in the CWT tag, is refused (TSL §5.2).
        let untagged = sign_raw(&signer, header(typ.clone(), &x5chain), &claims, false).await;
        assert!(matches!(
            StatusListCwt::parse(&untagged),
            Err(StatusListError::MalformedCwt(_))
        ));
        let mut cwt_tagged = vec![0xd8, 0x3d];
        cwt_tagged.extend_from_slice(&bytes);
        assert!(StatusListCwt::parse(&cwt_tagged).is_err());
        // Trailing bytes, no x5chain.
        let mut trailing = bytes.clone();
        trailing.push(0);
        assert!(StatusListCwt::parse(&trailing).is_err());
        let bare = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES256)
            .value(HEADER_TYP, Value::Text(STATUS_LIST_CWT_MEDIA_TYPE.into()))
            .build();
        let no_chain = sign_raw(&signer, bare, &claims, true).await;
        assert!(StatusListCwt::parse(&no_chain).is_err());
        // Another alg.
        let es384 = HeaderBuilder::new()
            .algorithm(iana::Algorithm::ES384)
            .value(HEADER_TYP, Value::Text(STATUS_LIST_CWT_MEDIA_TYPE.into()))
            .value(HEADER_X5CHAIN, Value::Bytes(x5chain[0].clone()))
            .build();
        let bytes = sign_raw(&signer, es384, &claims, true).await;
        assert!(matches!(
            verify_status_list_cwt(
                &ok(StatusListCwt::parse(&bytes)),
                signer.public_jwk(),
                &expect()
            ),
            Err(StatusListError::Crypto(CryptoError::AlgorithmNotAllowed(_)))
        ));
    }

    #[test]
    fn required_claims() {
        let claims = ok(token().to_cwt_claims());
        let (read, nbf) = ok(StatusListToken::from_cwt_claims(&claims, 4096));
        assert_eq!((read, nbf), (token(), None));
        let Value::Map(entries) = claims else {
            panic!("not a map")
        };
        let with = |key: i64, value: Option<Value>| {
            let mut e: Vec<(Value, Value)> = entries
                .iter()
                .filter(|(k, _)| *k != Value::Integer(key.into()))
                .cloned()
                .collect();
            if let Some(v) = value {
                e.push((Value::Integer(key.into()), v));
            }
            StatusListToken::from_cwt_claims(&Value::Map(e), 4096)
        };
        for key in [CLAIM_SUB, CLAIM_IAT, CLAIM_STATUS_LIST] {
            assert!(with(key, None).is_err(), "missing {key}");
        }
        for (key, bad) in [
            (CLAIM_SUB, Value::Integer(1.into())),
            (CLAIM_SUB, Value::Text(String::new())),
            (CLAIM_IAT, Value::Text("1".into())),
            (CLAIM_EXP, Value::Bool(true)),
            (CLAIM_TTL, Value::Integer(0.into())),
            (CLAIM_TTL, Value::Integer((-5).into())),
            (CLAIM_STATUS_LIST, Value::Integer(1.into())),
            (
                CLAIM_STATUS_LIST,
                Value::Map(vec![
                    (Value::Text("bits".into()), Value::Integer(1.into())),
                    (
                        Value::Text("lst".into()),
                        Value::Text("eNrbuRgAAhcBXQ".into()),
                    ),
                ]),
            ),
            (
                CLAIM_STATUS_LIST,
                Value::Map(vec![
                    (Value::Text("bits".into()), Value::Integer(3.into())),
                    (Value::Text("lst".into()), Value::Bytes(vec![0x78, 0xda])),
                ]),
            ),
        ] {
            assert!(with(key, Some(bad.clone())).is_err(), "{key} {bad:?}");
        }
        // A float NumericDate and other claims are accepted.
        let (read, _) = ok(with(CLAIM_IAT, Some(Value::Float(NOW as f64 + 0.5))));
        assert_eq!(read.iat, NOW);
        assert!(with(1, Some(Value::Text("https://issuer.example".into()))).is_ok());
        // A duplicate key is refused.
        let mut dup = entries.clone();
        dup.push((Value::Integer(CLAIM_SUB.into()), Value::Text(URI.into())));
        assert!(StatusListToken::from_cwt_claims(&Value::Map(dup), 4096).is_err());
    }

    proptest! {
        #[test]
        fn parsing_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            if let Ok(parsed) = StatusListCwt::parse(&bytes) {
                let (signer, _) = chain();
                let _ = verify_status_list_cwt(&parsed, signer.public_jwk(), &expect());
            }
            let mut tagged = vec![0xd2];
            tagged.extend_from_slice(&bytes);
            let _ = StatusListCwt::parse(&tagged);
        }

        #[test]
        fn damaged_tokens_never_panic(
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..6),
            cut in any::<usize>(),
        ) {
            let (signer, x5chain) = chain();
            let runtime = ok(tokio::runtime::Builder::new_current_thread().build());
            let mut bytes = ok(runtime.block_on(token().sign_cwt(&signer, &x5chain)));
            for (at, mask) in flips {
                let len = bytes.len();
                bytes[at % len] ^= mask;
            }
            let keep = bytes.len() - cut % bytes.len();
            if let Ok(parsed) = StatusListCwt::parse(&bytes[..keep]) {
                let _ = verify_status_list_cwt(&parsed, signer.public_jwk(), &expect());
            }
        }

        #[test]
        fn claims_decoding_never_panics(
            key in any::<i64>(),
            int in any::<i64>(),
            text in ".{0,32}",
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            for value in [
                Value::Integer(int.into()),
                Value::Text(text.clone()),
                Value::Bytes(bytes.clone()),
                Value::Map(vec![
                    (Value::Text("bits".into()), Value::Integer(int.into())),
                    (Value::Text("lst".into()), Value::Bytes(bytes.clone())),
                ]),
            ] {
                let claims = Value::Map(vec![(Value::Integer(key.into()), value)]);
                let _ = StatusListToken::from_cwt_claims(&claims, 4096);
            }
        }
    }
}
