//! Errors of the format layer.
//!
//! Messages name the rule that failed and, where useful, a claim *name* from
//! configuration or a registered claim; they never contain a claim value, a
//! salt or a Disclosure, so they are safe to log and to return to a peer.

use avow_crypto::CryptoError;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FormatError {
    /// An input exceeds one of the size bounds of this crate.
    #[error("input too large: {0}")]
    TooLarge(&'static str),
    /// Structural damage in an SD-JWT or its payload.
    #[error("malformed SD-JWT: {0}")]
    Malformed(&'static str),
    /// A Disclosure that is not base64url JSON `[salt, name, value]` or `[salt, value]` (RFC 9901 §4.2.1, §4.2.2).
    #[error("malformed disclosure: {0}")]
    MalformedDisclosure(&'static str),
    /// JSON nesting deeper than the bound.
    #[error("claims are nested deeper than {0} levels")]
    TooDeep(usize),
    /// `_sd_alg` is not `sha-256` (RFC 9901 §4.1.1, §7.1 step 2.5).
    #[error("unsupported _sd_alg (only sha-256 is accepted)")]
    UnsupportedHashAlgorithm,
    /// A digest is embedded more than once (RFC 9901 §4.1, §7.1 step 4).
    #[error("a digest appears more than once in the SD-JWT")]
    DuplicateDigest,
    /// The same Disclosure is sent twice (RFC 9901 §4).
    #[error("a disclosure is included more than once")]
    DuplicateDisclosure,
    /// A Disclosure no digest refers to (RFC 9901 §7.1 step 5).
    #[error("a disclosure is not referenced by any digest")]
    UnreferencedDisclosure,
    /// `_sd`, `...` or `_sd_alg` used as a claim name (RFC 9901 §4.1 rule 7, §4.2.1, §7.1 step 3.3.2.2).
    #[error("the reserved name {0} is used as a claim name")]
    ReservedClaimName(&'static str),
    /// A disclosed claim name already exists in its object (RFC 9901 §7.1 step 3.3.2.3).
    #[error("a disclosed claim name already exists in its object")]
    ClaimNameClash,
    /// A claims path pointer that is empty, too long or does not fit the claims (OID4VCI App. C).
    #[error("claims path {path}: {reason}")]
    ClaimPath { path: String, reason: &'static str },
    /// A credential from an issuer must be an SD-JWT, not an SD-JWT+KB (RFC 9901 §7.2).
    #[error("the SD-JWT carries a key binding JWT, which an issuer must not send")]
    KeyBindingJwtPresent,
    /// The JOSE header `typ` is not the expected one (SD-JWT VC §2.2.1).
    #[error("unexpected typ header")]
    UnexpectedType,
    /// A required claim is missing or has the wrong type.
    #[error("claim {0} is missing or invalid")]
    InvalidClaim(&'static str),
    /// `exp` has passed (RFC 7519 §4.1.4).
    #[error("the credential has expired")]
    Expired,
    /// `nbf` lies in the future (RFC 7519 §4.1.5).
    #[error("the credential is not yet valid")]
    NotYetValid,
    /// `iat` lies in the future (RFC 7519 §4.1.6).
    #[error("the credential was issued in the future")]
    IssuedInFuture,
    /// A registered claim that must never be selectively disclosable was (SD-JWT VC §2.2.2.3).
    #[error("claim {0} must not be selectively disclosable")]
    DisclosableRegisteredClaim(&'static str),
    /// A registered claim was passed among the subject claims at issuance.
    #[error("claim {0} is reserved and cannot be a subject claim")]
    ReservedSubjectClaim(&'static str),
    /// The issuer key header (`x5c`, `jwk`, `kid`) cannot be built.
    #[error("invalid issuer key header: {0}")]
    KeyHeader(&'static str),
    /// Inconsistent issuance input (times, identifiers, counts).
    #[error("invalid issuance input: {0}")]
    InvalidInput(&'static str),
    /// The random source produced a repeated salt or decoy (RFC 9901 §4.2.1, §9.3).
    #[error("the random source repeated a salt or digest")]
    WeakRandomness,
    /// Structural damage in an mdoc `IssuerSigned`, its `issuerAuth` or its MSO (ISO 18013-5 §9.1.2).
    #[error("malformed mdoc: {0}")]
    MalformedMdoc(&'static str),
    /// An `IssuerSignedItem` whose digest is not, or not uniquely, in the MSO `valueDigests` (ISO 18013-5 §9.3.1).
    #[error("mdoc digest check failed: {0}")]
    MdocDigest(&'static str),
    /// The MSO `digestAlgorithm` is not `SHA-256` (HAIP §7; WAL-VAL-04).
    #[error("unsupported digestAlgorithm (only SHA-256 is accepted)")]
    UnsupportedDigestAlgorithm,
    /// The credential is not of the expected type (`docType`, WAL-VAL-04).
    #[error("the credential is not of the expected type")]
    UnexpectedDocType,
    /// The credential is bound to another key than the holder's (WAL-VAL-04).
    #[error("the credential is bound to another key")]
    DeviceKeyMismatch,
    /// Signing, signature verification, keys or base64.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
}
