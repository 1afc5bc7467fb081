//! Selective Disclosure for JWTs (SD-JWT, RFC 9901).
//!
//! * [`conceal`] turns a claims set into an SD-JWT payload plus
//!   [`Disclosure`]s (§4.2), [`issue`] signs it into the compact
//!   serialization `<JWS>~<D1>~…~<DN>~` (§4).
//! * [`SdJwt::parse`] reads the compact serialization (with or without a
//!   KB-JWT) and the JWS JSON serialization (§8, flattened or general with
//!   one signature); [`SdJwt::verify`] checks the signature and
//!   [`SdJwt::process`] runs the Disclosure checks of §7.1.
//! * [`SdJwt::select`] keeps a subset of Disclosures for a presentation (§7.2).
//!
//! Only `sha-256` is supported as `_sd_alg`, and only the algorithms of the
//! caller's [`avow_crypto::AlgorithmAllowList`] for the signature. Key
//! Binding JWTs are carried but not created or verified here.
//!
//! Inputs are bounded: [`MAX_SD_JWT_LEN`] bytes, [`MAX_DISCLOSURES`]
//! Disclosures and [`MAX_DEPTH`] levels of JSON nesting.

mod conceal;
mod disclosure;
mod process;
mod serialization;
#[cfg(test)]
pub(crate) mod test_support;

pub use crate::claim_path::{ClaimPath, PathElement};
pub use conceal::{MAX_DECOYS, conceal};
pub use disclosure::Disclosure;
pub use serialization::SdJwt;

use crate::error::FormatError;
use avow_crypto::Signer;
use serde_json::{Map, Value};

/// The one `_sd_alg` we issue and accept (RFC 9901 §4.1.1).
pub const SD_ALG_SHA256: &str = "sha-256";
/// Upper bound on an SD-JWT we parse or issue, in bytes.
pub const MAX_SD_JWT_LEN: usize = 1024 * 1024;
/// Upper bound on the number of Disclosures.
pub const MAX_DISCLOSURES: usize = 1000;
/// Upper bound on JSON nesting in payloads and Disclosures.
pub const MAX_DEPTH: usize = crate::claim_path::MAX_PATH_LEN;

/// Issues a compact SD-JWT without KB-JWT (RFC 9901 §4): `claims` are
/// concealed per `disclosable` (see [`conceal`]), signed with `signer` under
/// `header` (whose `alg` is set from the signer), and the Disclosures are
/// appended, each followed by `~`.
pub async fn issue(
    signer: &dyn Signer,
    header: Map<String, Value>,
    claims: &Map<String, Value>,
    disclosable: &[ClaimPath],
    decoys: usize,
    random: &dyn avow_crypto::Random,
) -> Result<String, FormatError> {
    let (payload, disclosures) = conceal(claims, disclosable, decoys, random)?;
    sign(signer, header, payload, &disclosures).await
}

/// Signs an already concealed payload and appends its Disclosures.
pub(crate) async fn sign(
    signer: &dyn Signer,
    header: Map<String, Value>,
    payload: Map<String, Value>,
    disclosures: &[Disclosure],
) -> Result<String, FormatError> {
    if disclosures.len() > MAX_DISCLOSURES {
        return Err(FormatError::TooLarge("too many disclosures"));
    }
    let body = serde_json::to_vec(&Value::Object(payload))
        .map_err(|_| FormatError::InvalidInput("the payload cannot be serialized"))?;
    // Refuse what no verifier of this crate would accept.
    if body.len() > avow_crypto::jws::MAX_JWS_LEN {
        return Err(FormatError::TooLarge("the issuer-signed JWT is too large"));
    }
    let jws = avow_crypto::jws::sign_compact(signer, header, &body).await?;
    let compact = serialization::compact(&jws, disclosures);
    if jws.len() > avow_crypto::jws::MAX_JWS_LEN || compact.len() > MAX_SD_JWT_LEN {
        return Err(FormatError::TooLarge("the SD-JWT is too large"));
    }
    Ok(compact)
}
