//! SD-JWT VC issuance (SD-JWT VC §2; OID4VCI A.3.4; ISS-SDJWT-01…09).

use super::{NEVER_DISCLOSABLE, SD_JWT_VC_TYP};
use crate::claim_path::{ClaimPath, PathElement};
use crate::error::FormatError;
use crate::sd_jwt::{self, conceal};
use avow_crypto::{EcPublicJwk, Random, Signer, b64};
use serde_json::{Map, Value};
use std::fmt;

/// How the issuer key is conveyed in the JWS header (ISS-SIG-01; SD-JWT VC §2.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IssuerKeyHeader {
    /// `x5c`: DER certificates, leaf first, trust anchor excluded (RFC 7515
    /// §4.1.6; HAIP §6.1.1). The leaf must certify the signer's key and must
    /// not be self-signed.
    X5c(Vec<Vec<u8>>),
    /// `jwk`: the signer's public key.
    Jwk,
    /// `kid`: resolvable through JWT VC Issuer Metadata or a DID document.
    Kid(String),
}

/// The claims of an SD-JWT VC to issue. The registered claims have their
/// own fields and are never selectively disclosable (SD-JWT VC §2.2.2.3;
/// ISS-SDJWT-04, C-15); `subject_claims` hold everything else.
///
/// `Debug` leaves out the subject claims.
#[derive(Clone)]
pub struct SdJwtVcClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    pub nbf: Option<i64>,
    pub vct: String,
    /// The bound holder key, emitted as `cnf.jwk` (RFC 7800 §3.2).
    pub holder_key: Option<EcPublicJwk>,
    /// The `status` object (e.g. `{"status_list": {"idx": …, "uri": …}}`).
    pub status: Option<Value>,
    /// Subject claims (plus optional `vct#integrity` / `aka_vcts`, which stay
    /// plain). Registered names with a field above are refused here.
    pub subject_claims: Map<String, Value>,
}

impl fmt::Debug for SdJwtVcClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SdJwtVcClaims")
            .field("iss", &self.iss)
            .field("iat", &self.iat)
            .field("exp", &self.exp)
            .field("nbf", &self.nbf)
            .field("vct", &self.vct)
            .field(
                "holder_key",
                &self.holder_key.as_ref().map(|k| k.thumbprint()),
            )
            .field("status", &self.status.is_some())
            .field("subject_claims", &self.subject_claims.len())
            .finish()
    }
}

/// Registered claims that have a field in [`SdJwtVcClaims`].
const FIELD_CLAIMS: [&str; 7] = ["iss", "iat", "exp", "nbf", "vct", "cnf", "status"];

/// Issues a compact SD-JWT VC ending in `~`, without KB-JWT (ISS-SDJWT-01).
///
/// * Header: `typ: dc+sd-jwt`, `alg` from the signer, and the key header
///   (ISS-SDJWT-02, ISS-SIG-01).
/// * Payload: `iss`, `iat`, `nbf` (if set), `exp`, `vct`, `cnf.jwk` (if
///   bound), `status` (if set), all plain; subject claims concealed per
///   `disclosable` (claims path pointers from the credential root, see
///   [`conceal`]) with `decoys` decoys per `_sd` array; `_sd_alg: sha-256`
///   only when there are digests, no `_sd` and no Disclosures when nothing
///   is disclosable (ISS-SDJWT-03, -05 … -09).
/// * A registered claim name inside `subject_claims`, or a disclosable path
///   into a never-disclosable claim (or `iat`, C-15), is an error.
pub async fn issue(
    signer: &dyn Signer,
    key_header: &IssuerKeyHeader,
    claims: &SdJwtVcClaims,
    disclosable: &[ClaimPath],
    decoys: usize,
    random: &dyn Random,
) -> Result<String, FormatError> {
    check_claims(claims)?;
    for path in disclosable {
        if let Some(PathElement::Key(first)) = path.first()
            && let Some(name) = NEVER_DISCLOSABLE
                .iter()
                .chain(&["iat"])
                .copied()
                .find(|n| *n == first.as_str())
        {
            return Err(FormatError::DisclosableRegisteredClaim(name));
        }
    }
    let (mut payload, disclosures) = conceal(&claims.subject_claims, disclosable, decoys, random)?;
    payload.insert("iss".into(), Value::String(claims.iss.clone()));
    payload.insert("iat".into(), Value::from(claims.iat));
    if let Some(nbf) = claims.nbf {
        payload.insert("nbf".into(), Value::from(nbf));
    }
    payload.insert("exp".into(), Value::from(claims.exp));
    payload.insert("vct".into(), Value::String(claims.vct.clone()));
    if let Some(key) = &claims.holder_key {
        let mut cnf = Map::new();
        cnf.insert("jwk".into(), key.to_json());
        payload.insert("cnf".into(), Value::Object(cnf));
    }
    if let Some(status) = &claims.status {
        payload.insert("status".into(), status.clone());
    }
    let header = header(signer, key_header)?;
    sd_jwt::sign(signer, header, payload, &disclosures).await
}

fn check_claims(claims: &SdJwtVcClaims) -> Result<(), FormatError> {
    if claims.iss.is_empty() {
        return Err(FormatError::InvalidInput("iss is empty"));
    }
    if claims.vct.is_empty() {
        return Err(FormatError::InvalidInput("vct is empty"));
    }
    if claims.exp <= claims.iat {
        return Err(FormatError::InvalidInput("exp is not after iat"));
    }
    if claims.nbf.is_some_and(|nbf| nbf >= claims.exp) {
        return Err(FormatError::InvalidInput("nbf is not before exp"));
    }
    if claims.status.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(FormatError::InvalidInput("status is not an object"));
    }
    if let Some(name) = FIELD_CLAIMS
        .iter()
        .copied()
        .find(|n| claims.subject_claims.contains_key(*n))
    {
        return Err(FormatError::ReservedSubjectClaim(name));
    }
    Ok(())
}

/// The JOSE header: `typ` and the issuer key conveyance (SD-JWT VC §2.2.1, §2.5).
pub(crate) fn header(
    signer: &dyn Signer,
    key_header: &IssuerKeyHeader,
) -> Result<Map<String, Value>, FormatError> {
    let mut header = Map::new();
    header.insert("typ".into(), Value::String(SD_JWT_VC_TYP.into()));
    match key_header {
        IssuerKeyHeader::X5c(chain) => {
            let Some(leaf) = chain.first() else {
                return Err(FormatError::KeyHeader("the x5c chain is empty"));
            };
            if &avow_crypto::x509::leaf_public_key(leaf)? != signer.public_jwk() {
                return Err(FormatError::KeyHeader(
                    "the x5c leaf does not certify the signing key",
                ));
            }
            let certs = chain
                .iter()
                .map(|der| Value::String(b64::encode_standard(der)))
                .collect();
            header.insert("x5c".into(), Value::Array(certs));
        }
        IssuerKeyHeader::Jwk => {
            header.insert("jwk".into(), signer.public_jwk().to_json());
        }
        IssuerKeyHeader::Kid(kid) => {
            if kid.is_empty() {
                return Err(FormatError::KeyHeader("kid is empty"));
            }
            header.insert("kid".into(), Value::String(kid.clone()));
        }
    }
    Ok(header)
}
