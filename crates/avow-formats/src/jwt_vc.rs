//! W3C Verifiable Credentials as JWT (`jwt_vc_json`, OID4VCI Appendix A.1.1;
//! VC Data Model 1.1 §6.3.1 JWT encoding; ISS-JWTVC-01). Processed without
//! JSON-LD: `@context` is emitted but never interpreted.

use crate::error::FormatError;
use crate::sd_jwt_vc::IssuerKeyHeader;
use avow_crypto::jws::{CompactJws, sign_compact};
use avow_crypto::{AlgorithmAllowList, EcPublicJwk, Random, Signer};
use serde_json::{Map, Value};
use std::fmt;

/// The JOSE `typ` of a JWT VC.
pub const JWT_VC_TYP: &str = "JWT";
/// The VC Data Model 1.1 base context.
pub const VC_CONTEXT_V1: &str = "https://www.w3.org/2018/credentials/v1";
/// The type every VC carries.
pub const VERIFIABLE_CREDENTIAL: &str = "VerifiableCredential";

/// The content of a JWT VC to issue. `Debug` leaves out the subject claims.
#[derive(Clone)]
pub struct JwtVcClaims {
    pub iss: String,
    pub iat: i64,
    pub exp: i64,
    /// `vc.type`; must contain `VerifiableCredential`.
    pub types: Vec<String>,
    /// `vc.credentialSubject`.
    pub credential_subject: Map<String, Value>,
    /// The bound holder key, emitted as `cnf.jwk` (RFC 7800 §3.2).
    pub holder_key: EcPublicJwk,
    /// The `status` object (Token Status List), if any.
    pub status: Option<Value>,
}

impl fmt::Debug for JwtVcClaims {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JwtVcClaims")
            .field("iss", &self.iss)
            .field("types", &self.types)
            .field("holder_key", &self.holder_key.thumbprint())
            .field("credential_subject", &self.credential_subject.len())
            .finish()
    }
}

/// Issues a compact JWS: header `typ: JWT`, `alg`, key header; payload
/// `iss`, `iat`, `nbf` (= `iat`), `exp`, random `jti`, `cnf.jwk`, `status`
/// (if set) and `vc` {`@context`, `type`, `credentialSubject`}.
pub async fn issue(
    signer: &dyn Signer,
    key_header: &IssuerKeyHeader,
    claims: &JwtVcClaims,
    random: &dyn Random,
) -> Result<String, FormatError> {
    if claims.iss.is_empty() {
        return Err(FormatError::InvalidInput("iss is empty"));
    }
    if claims.exp <= claims.iat {
        return Err(FormatError::InvalidInput("exp is not after iat"));
    }
    if !claims.types.iter().any(|t| t == VERIFIABLE_CREDENTIAL) {
        return Err(FormatError::InvalidInput("type lacks VerifiableCredential"));
    }
    if claims.status.as_ref().is_some_and(|s| !s.is_object()) {
        return Err(FormatError::InvalidInput("status is not an object"));
    }
    let mut header = crate::sd_jwt_vc::key_header(signer, key_header)?;
    header.insert("typ".into(), Value::String(JWT_VC_TYP.into()));
    let mut vc = Map::new();
    vc.insert(
        "@context".into(),
        Value::Array(vec![Value::String(VC_CONTEXT_V1.into())]),
    );
    vc.insert(
        "type".into(),
        Value::Array(claims.types.iter().cloned().map(Value::String).collect()),
    );
    vc.insert(
        "credentialSubject".into(),
        Value::Object(claims.credential_subject.clone()),
    );
    let mut payload = Map::new();
    payload.insert("iss".into(), Value::String(claims.iss.clone()));
    payload.insert("iat".into(), Value::from(claims.iat));
    payload.insert("nbf".into(), Value::from(claims.iat));
    payload.insert("exp".into(), Value::from(claims.exp));
    payload.insert("jti".into(), Value::String(random.token(16)));
    let mut cnf = Map::new();
    cnf.insert("jwk".into(), claims.holder_key.to_json());
    payload.insert("cnf".into(), Value::Object(cnf));
    if let Some(status) = &claims.status {
        payload.insert("status".into(), status.clone());
    }
    payload.insert("vc".into(), Value::Object(vc));
    let bytes = serde_json::to_vec(&Value::Object(payload))
        .map_err(|_| FormatError::InvalidInput("payload does not serialize"))?;
    Ok(sign_compact(signer, header, &bytes).await?)
}

/// A verified JWT VC. `Debug` leaves out the subject.
#[derive(Clone)]
pub struct VerifiedJwtVc {
    pub header: Map<String, Value>,
    pub types: Vec<String>,
    pub credential_subject: Map<String, Value>,
    pub holder_key: Option<EcPublicJwk>,
    pub iss: String,
    pub exp: Option<i64>,
}

impl fmt::Debug for VerifiedJwtVc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedJwtVc")
            .field("iss", &self.iss)
            .field("types", &self.types)
            .field("exp", &self.exp)
            .field("credential_subject", &self.credential_subject.len())
            .finish()
    }
}

/// Verifies a JWT VC: compact JWS, `typ` `JWT` (or absent), signature with
/// `issuer_key` under `allowed`, `iss` non-empty, times within `skew`,
/// `vc.type` an array of strings containing `VerifiableCredential`,
/// `vc.credentialSubject` an object, `cnf.jwk` (if any) a P-256 key.
pub fn verify(
    text: &str,
    issuer_key: &EcPublicJwk,
    allowed: &AlgorithmAllowList,
    now: i64,
    skew: i64,
) -> Result<VerifiedJwtVc, FormatError> {
    let jws = CompactJws::parse(text.trim())?;
    if let Some(typ) = jws.header_str("typ") {
        let typ = typ.to_ascii_lowercase();
        let typ = typ.strip_prefix("application/").unwrap_or(&typ);
        if typ != "jwt" && typ != "vc+jwt" {
            return Err(FormatError::UnexpectedType);
        }
    }
    jws.verify(issuer_key, allowed)?;
    let Value::Object(claims) = serde_json::from_slice::<Value>(jws.payload())
        .map_err(|_| FormatError::Malformed("payload is not JSON"))?
    else {
        return Err(FormatError::Malformed("payload is not a JSON object"));
    };
    let iss = claims
        .get("iss")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .ok_or(FormatError::InvalidClaim("iss"))?
        .to_owned();
    crate::sd_jwt_vc::check_times(&claims, now, skew.max(0))?;
    let vc = claims
        .get("vc")
        .and_then(Value::as_object)
        .ok_or(FormatError::InvalidClaim("vc"))?;
    let types = vc
        .get("type")
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        })
        .filter(|t| t.iter().any(|t| t == VERIFIABLE_CREDENTIAL))
        .ok_or(FormatError::InvalidClaim("vc.type"))?;
    let credential_subject = vc
        .get("credentialSubject")
        .and_then(Value::as_object)
        .cloned()
        .ok_or(FormatError::InvalidClaim("vc.credentialSubject"))?;
    let holder_key = crate::sd_jwt_vc::holder_key(&claims)?;
    Ok(VerifiedJwtVc {
        header: jws.header().clone(),
        types,
        credential_subject,
        holder_key,
        iss,
        exp: claims.get("exp").and_then(Value::as_i64),
    })
}
