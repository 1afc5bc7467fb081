//! Validation before storing (WAL-VAL-01 … -03, -05): the issuer key comes
//! from an `x5c` chain to a trusted anchor, the SD-JWT VC verifies, and the
//! credential is bound to a key of this request.

use crate::error::WalletError;
use avow_crypto::x509::TrustAnchors;
use avow_crypto::{AlgorithmAllowList, EcPublicJwk};
use avow_formats::sd_jwt_vc::{self, VerifiedSdJwtVc};

pub struct ValidationContext<'a> {
    pub trust_anchors: &'a TrustAnchors,
    pub credential_issuer: &'a str,
    pub expected_vct: &'a str,
    pub holder_key: &'a EcPublicJwk,
    pub now: i64,
    pub skew: i64,
}

pub fn validate_sd_jwt_vc(
    credential: &str,
    ctx: &ValidationContext<'_>,
) -> Result<VerifiedSdJwtVc, WalletError> {
    let invalid = |m: String| WalletError::Validation(m);
    let peeked = sd_jwt_vc::peek(credential).map_err(|e| invalid(e.to_string()))?;
    let x5c = peeked
        .jws()
        .x5c()
        .ok_or_else(|| {
            invalid(
                "the credential carries no x5c chain; no other issuer key mechanism is trusted"
                    .into(),
            )
        })?
        .map_err(|e| invalid(e.to_string()))?;
    let issuer_key = ctx
        .trust_anchors
        .validate_chain(&x5c, ctx.now)
        .map_err(|e| invalid(format!("issuer certificate: {e}")))?;
    let verified = sd_jwt_vc::verify(
        credential,
        &issuer_key,
        &AlgorithmAllowList::es256(),
        ctx.now,
        ctx.skew,
        false,
    )
    .map_err(|e| invalid(e.to_string()))?;
    if verified.iss != ctx.credential_issuer {
        return Err(invalid(
            "iss is not the credential issuer the wallet talked to".into(),
        ));
    }
    if !verified.is_of_type(ctx.expected_vct) {
        return Err(invalid(
            "vct is not the one of the requested configuration".into(),
        ));
    }
    if verified.holder_key.as_ref() != Some(ctx.holder_key) {
        return Err(invalid(
            "the credential is not bound to the key the wallet proved".into(),
        ));
    }
    Ok(verified)
}
