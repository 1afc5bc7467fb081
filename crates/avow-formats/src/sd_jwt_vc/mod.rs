//! SD-JWT VC (draft-ietf-oauth-sd-jwt-vc) on top of [`crate::sd_jwt`].
//!
//! * `typ` is `dc+sd-jwt` (SD-JWT VC §2.2.1; OID4VCI A.3.1; conflict C-01);
//!   the legacy `vc+sd-jwt` is accepted on input only behind a switch.
//! * `iss`, `iat`, `nbf`, `exp`, `vct`, `vct#integrity`, `cnf` and `status`
//!   are never selectively disclosable at issuance (SD-JWT VC §2.2.2.3;
//!   ISS-SDJWT-04, C-15); the verifier refuses a credential in which
//!   `iss`, `nbf`, `exp`, `cnf`, `vct`, `vct#integrity`, `status` or
//!   `aka_vcts` (or anything inside `cnf` or `status`) came from a Disclosure.
//! * Credentials are issued in the compact serialization (C-17); the
//!   verifier also reads the JWS JSON serialization.

mod issue;
mod verify;

pub(crate) use issue::header as key_header;
pub use issue::{IssuerKeyHeader, SdJwtVcClaims, issue};
pub use verify::{VerifiedSdJwtVc, verify};
pub(crate) use verify::{check_times, holder_key};

use crate::error::FormatError;
use crate::sd_jwt::SdJwt;

/// The `typ` of an SD-JWT VC (SD-JWT VC §2.2.1).
pub const SD_JWT_VC_TYP: &str = "dc+sd-jwt";
/// The `typ` of pre-1.0 drafts, accepted only behind `accept_legacy_typ` (C-01).
pub const LEGACY_SD_JWT_VC_TYP: &str = "vc+sd-jwt";
/// The media type (SD-JWT VC §2.1).
pub const SD_JWT_VC_MEDIA_TYPE: &str = "application/dc+sd-jwt";

/// Registered claims that SD-JWT VC §2.2.2.3 forbids in Disclosures.
pub const NEVER_DISCLOSABLE: [&str; 8] = [
    "iss",
    "nbf",
    "exp",
    "cnf",
    "vct",
    "vct#integrity",
    "status",
    "aka_vcts",
];

/// Parses without verifying, so that the wallet can read the header (`x5c`,
/// `kid`, `jwk`) and `iss` ([`SdJwt::unverified_payload`]) to find the
/// issuer key before calling [`verify`].
pub fn peek(text: &str) -> Result<SdJwt, FormatError> {
    SdJwt::parse(text)
}

const DAY: i64 = 86_400;

/// Rounds a time down to 00:00:00 UTC of its day, to reduce correlation
/// through `iat`/`nbf` (OID4VCI §15.4.1; ISS-SDJWT-11).
pub fn round_down_to_day(unix_time: i64) -> i64 {
    unix_time - unix_time.rem_euclid(DAY)
}

/// Rounds a time up to the next 00:00:00 UTC (unchanged if already there),
/// for `exp` when times are rounded (OID4VCI §15.4.1; ISS-SDJWT-11).
pub fn round_up_to_day(unix_time: i64) -> i64 {
    match unix_time.rem_euclid(DAY) {
        0 => unix_time,
        r => unix_time.saturating_add(DAY - r),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_rounding() {
        assert_eq!(round_down_to_day(1_683_000_000), 1_682_985_600);
        assert_eq!(round_up_to_day(1_683_000_000), 1_683_072_000);
        assert_eq!(round_up_to_day(1_682_985_600), 1_682_985_600);
        assert_eq!(round_down_to_day(-1), -DAY);
        assert_eq!(round_up_to_day(i64::MAX), i64::MAX);
    }

    #[test]
    fn peek_reads_the_header_before_verification() {
        let sd = peek(crate::sd_jwt::test_support::OID4VCI_SD_JWT_VC);
        let sd = sd.unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(sd.jws().header_str("kid"), Some("doc-signer-05-25-2022"));
        let payload = sd.unverified_payload().unwrap_or_default();
        assert_eq!(
            payload.get("iss").and_then(|v| v.as_str()),
            Some("https://example.com/issuer")
        );
    }
}
