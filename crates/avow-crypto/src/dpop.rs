//! DPoP proofs (RFC 9449): creating them (wallet) and checking the JWS part
//! (issuer). Claim rules are in `avow_core::dpop`.

use crate::alg::AlgorithmAllowList;
use crate::error::CryptoError;
use crate::jwk::EcPublicJwk;
use crate::jws::{CompactJws, sign_compact};
use crate::signer::Signer;
use avow_core::ProtocolError;
use avow_core::dpop::{DPOP_TYP, DpopClaims};
use serde_json::{Map, Value, json};

/// `ath` for an access token: `BASE64URL(SHA-256(token))` (RFC 9449 §4.2).
pub fn access_token_hash(access_token: &str) -> String {
    crate::hash::sha256_b64(access_token.as_bytes())
}

/// What goes into a new proof.
#[derive(Debug, Clone)]
pub struct NewDpopProof<'a> {
    pub htm: &'a str,
    pub htu: &'a str,
    pub iat: i64,
    pub jti: String,
    pub access_token: Option<&'a str>,
    pub nonce: Option<&'a str>,
}

/// Creates a DPoP proof JWT (RFC 9449 §4.2).
pub async fn create_proof(
    signer: &dyn Signer,
    proof: NewDpopProof<'_>,
) -> Result<String, CryptoError> {
    let mut header = Map::new();
    header.insert("typ".into(), Value::String(DPOP_TYP.into()));
    header.insert("jwk".into(), signer.public_jwk().to_json());
    let mut claims =
        json!({ "jti": proof.jti, "htm": proof.htm, "htu": proof.htu, "iat": proof.iat });
    if let Some(token) = proof.access_token {
        claims["ath"] = Value::String(access_token_hash(token));
    }
    if let Some(nonce) = proof.nonce {
        claims["nonce"] = Value::String(nonce.into());
    }
    let payload = serde_json::to_vec(&claims).map_err(|_| CryptoError::SigningFailed)?;
    sign_compact(signer, header, &payload).await
}

/// Checks the JWS of a DPoP proof (RFC 9449 §4.3 steps 2-7): one JWT, `typ`
/// `dpop+jwt`, allow-listed `alg`, a public `jwk`, a valid signature.
/// Returns the claims (to be checked by `avow_core::dpop`) and the key.
pub fn verify_proof(
    proof: &str,
    allowed: &AlgorithmAllowList,
) -> Result<(DpopClaims, EcPublicJwk), ProtocolError> {
    let jws = CompactJws::parse(proof)
        .map_err(|_| ProtocolError::invalid_dpop_proof("the DPoP proof is not a JWS"))?;
    if jws.header_str("typ") != Some(DPOP_TYP) {
        return Err(ProtocolError::invalid_dpop_proof(
            "the DPoP proof typ must be dpop+jwt",
        ));
    }
    jws.algorithm(allowed)
        .map_err(|e| ProtocolError::invalid_dpop_proof(format!("the DPoP proof {e}")))?;
    let key = match crate::jwk::header_jwk(jws.header()) {
        Some(Ok(k)) => k,
        Some(Err(e)) => {
            return Err(ProtocolError::invalid_dpop_proof(format!(
                "the DPoP proof jwk: {e}"
            )));
        }
        None => {
            return Err(ProtocolError::invalid_dpop_proof(
                "the DPoP proof has no jwk header",
            ));
        }
    };
    jws.verify(&key, allowed)
        .map_err(|_| ProtocolError::invalid_dpop_proof("the DPoP proof signature is invalid"))?;
    let claims = DpopClaims::from_payload(jws.payload())?;
    Ok((claims, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::SoftwareSigner;

    #[tokio::test]
    async fn proofs_verify_and_carry_ath() {
        let key = SoftwareSigner::generate().unwrap_or_else(|e| panic!("{e}"));
        let proof = create_proof(
            &key,
            NewDpopProof {
                htm: "POST",
                htu: "https://i.example/credential",
                iat: 5,
                jti: "j1".into(),
                access_token: Some("tok"),
                nonce: Some("n"),
            },
        )
        .await
        .unwrap_or_default();
        let (claims, jwk) =
            verify_proof(&proof, &AlgorithmAllowList::es256()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(&jwk, key.public_jwk());
        assert_eq!(claims.ath, Some(access_token_hash("tok")));
        assert_eq!(claims.nonce.as_deref(), Some("n"));
    }

    #[tokio::test]
    async fn a_tampered_proof_fails() {
        let key = SoftwareSigner::generate().unwrap_or_else(|e| panic!("{e}"));
        let proof = create_proof(
            &key,
            NewDpopProof {
                htm: "POST",
                htu: "https://i.example/token",
                iat: 5,
                jti: "j".into(),
                access_token: None,
                nonce: None,
            },
        )
        .await
        .unwrap_or_default();
        let mut parts: Vec<&str> = proof.split('.').collect();
        let other = crate::b64::encode(
            br#"{"jti":"j","htm":"GET","htu":"https://i.example/token","iat":5}"#,
        );
        parts[1] = &other;
        assert!(verify_proof(&parts.join("."), &AlgorithmAllowList::es256()).is_err());
    }
}
