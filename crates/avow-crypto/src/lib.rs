//! Keys, signers and JOSE for Avow, on aws-lc-rs.
//!
//! One [`Signer`] trait serves every signing key in the system (key proofs,
//! DPoP, credentials, later attestations, metadata and CA keys). It is async
//! so that an HSM or remote KMS can stand behind it: [`SoftwareSigner`] for
//! development, [`Pkcs11Signer`] for keys in a PKCS#11 token (ISS-SIG-06).
//! Verification goes through [`jws::CompactJws`] with an explicit algorithm
//! allow-list: `none` and MACs are never accepted.

pub mod aead;
pub mod alg;
pub mod b64;
pub mod dpop;
pub mod ecdh;
pub mod error;
pub mod hash;
pub mod jwe;
pub mod jwk;
pub mod jws;
pub mod pem;
pub mod pkcs11;
pub mod random;
pub mod server_nonce;
pub mod signer;
pub mod x509;

pub use alg::{AlgorithmAllowList, JwsAlgorithm};
pub use error::CryptoError;
pub use jwk::EcPublicJwk;
pub use jws::CompactJws;
pub use pkcs11::{Pkcs11KeyRef, Pkcs11Signer};
pub use random::{Random, SystemRandom};
pub use signer::{Signer, SoftwareSigner};
