//! Credential formats of Avow.
//!
//! * [`sd_jwt`]: Selective Disclosure for JWTs (SD-JWT, RFC 9901): creating
//!   Disclosures and digests, parsing the compact and JSON serializations,
//!   and the verification and processing rules of RFC 9901 §7.
//! * [`sd_jwt_vc`]: the SD-JWT VC profile (draft-ietf-oauth-sd-jwt-vc) on
//!   top: `typ: dc+sd-jwt`, registered claims that are never disclosable,
//!   issuance and wallet-side verification.
//! * [`status_list`]: Token Status List (draft-ietf-oauth-status-list): the
//!   compressed status array, the Status List Token in JWT and CWT format,
//!   and the `status` claim.
//! * [`mdoc`]: ISO/IEC 18013-5 mdoc `IssuerSigned` (`mso_mdoc`, OpenID4VCI
//!   Appendix A.2): issuance with a COSE_Sign1 `issuerAuth` over the Mobile
//!   Security Object, parsing, and wallet-side verification.
//! * [`claim_path`]: claims path pointers (OID4VCI Appendix C), the way
//!   metadata and configuration name a claim.
//!
//! Errors ([`FormatError`]) say what is wrong with a credential but never
//! carry a claim value, so they can be logged.

pub mod claim_path;
pub mod error;
pub mod jwt_vc;
pub mod mdoc;
pub mod sd_jwt;
pub mod sd_jwt_vc;
pub mod status_list;

pub use claim_path::{ClaimPath, PathElement};
pub use error::FormatError;
