//! P-256 ECDH keys (RFC 7518 §4.6, §6.2) and the Concat KDF of NIST SP
//! 800-56A §5.8.1 as JOSE uses it (RFC 7518 §4.6.2).
//!
//! The private key never leaves this type except as PKCS#8 for storage; its
//! `Debug` shows only the public key's thumbprint.

use crate::error::CryptoError;
use crate::jwk::EcPublicJwk;
use aws_lc_rs::agreement::{self, ECDH_P256, PrivateKey, UnparsedPublicKey};
use aws_lc_rs::encoding::{AsDer, Pkcs8V1Der};

/// A P-256 private key for key agreement (ECDH-ES recipients and ephemeral keys).
pub struct EcdhPrivateKey {
    key: PrivateKey,
    public: EcPublicJwk,
}

impl std::fmt::Debug for EcdhPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EcdhPrivateKey")
            .field("thumbprint", &self.public.thumbprint())
            .finish_non_exhaustive()
    }
}

impl EcdhPrivateKey {
    /// A fresh key from the system CSPRNG.
    pub fn generate() -> Result<Self, CryptoError> {
        let key = PrivateKey::generate(&ECDH_P256)
            .map_err(|_| CryptoError::InvalidKey("generating a P-256 key failed"))?;
        Self::from_key(key)
    }

    /// A PKCS#8 (or RFC 5915 `ECPrivateKey`) DER private key on P-256.
    pub fn from_pkcs8(der: &[u8]) -> Result<Self, CryptoError> {
        let key = PrivateKey::from_private_key_der(&ECDH_P256, der)
            .map_err(|_| CryptoError::InvalidKey("not a PKCS#8 P-256 private key"))?;
        Self::from_key(key)
    }

    /// The private scalar as 32 big-endian bytes (the JWK `d` member, RFC 7518 §6.2.2.1).
    pub fn from_scalar(d: &[u8]) -> Result<Self, CryptoError> {
        let key = PrivateKey::from_private_key(&ECDH_P256, d)
            .map_err(|_| CryptoError::InvalidKey("not a P-256 private scalar"))?;
        Self::from_key(key)
    }

    fn from_key(key: PrivateKey) -> Result<Self, CryptoError> {
        let public = key
            .compute_public_key()
            .map_err(|_| CryptoError::InvalidKey("no public key for this private key"))?;
        let public = EcPublicJwk::from_uncompressed(public.as_ref())?;
        Ok(Self { key, public })
    }

    pub fn public_jwk(&self) -> &EcPublicJwk {
        &self.public
    }

    /// The private key as PKCS#8 v1 DER, for storage.
    pub fn to_pkcs8(&self) -> Result<Vec<u8>, CryptoError> {
        let der: Pkcs8V1Der<'static> = self
            .key
            .as_der()
            .map_err(|_| CryptoError::InvalidKey("the key cannot be serialized"))?;
        Ok(der.as_ref().to_vec())
    }

    /// The ECDH shared secret `Z` with `peer` (the x coordinate, 32 bytes).
    /// The peer point is validated (on the curve, not the identity) by aws-lc.
    pub fn agree(&self, peer: &EcPublicJwk) -> Result<SharedSecret, CryptoError> {
        agreement::agree(
            &self.key,
            UnparsedPublicKey::new(&ECDH_P256, peer.uncompressed()),
            CryptoError::Encryption,
            |z| {
                <[u8; 32]>::try_from(z)
                    .map(SharedSecret)
                    .map_err(|_| CryptoError::Encryption)
            },
        )
    }
}

/// An ECDH shared secret `Z`; zeroed when dropped.
pub struct SharedSecret([u8; 32]);

impl SharedSecret {
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl Drop for SharedSecret {
    fn drop(&mut self) {
        self.0.fill(0);
        // Keeps the wipe from being optimised away as a dead store.
        std::hint::black_box(&self.0);
    }
}

/// The Concat KDF of RFC 7518 §4.6.2 with SHA-256: `keydatalen` is
/// `key_len * 8` bits, `AlgorithmID` is `algorithm_id` (the `enc` value for
/// direct ECDH-ES), `PartyUInfo`/`PartyVInfo` the decoded `apu`/`apv`
/// (empty when absent), `SuppPrivInfo` empty.
pub fn concat_kdf(
    z: &[u8],
    algorithm_id: &[u8],
    apu: &[u8],
    apv: &[u8],
    key_len: usize,
) -> Result<Vec<u8>, CryptoError> {
    let prefixed = |out: &mut Vec<u8>, data: &[u8]| -> Result<(), CryptoError> {
        let len = u32::try_from(data.len()).map_err(|_| CryptoError::Encryption)?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(data);
        Ok(())
    };
    let bits = key_len
        .checked_mul(8)
        .and_then(|b| u32::try_from(b).ok())
        .ok_or(CryptoError::Encryption)?;
    let mut other_info = Vec::with_capacity(16 + algorithm_id.len() + apu.len() + apv.len());
    prefixed(&mut other_info, algorithm_id)?;
    prefixed(&mut other_info, apu)?;
    prefixed(&mut other_info, apv)?;
    other_info.extend_from_slice(&bits.to_be_bytes());
    let mut out = Vec::with_capacity(key_len + 32);
    let mut counter: u32 = 1;
    while out.len() < key_len {
        let mut ctx = aws_lc_rs::digest::Context::new(&aws_lc_rs::digest::SHA256);
        ctx.update(&counter.to_be_bytes());
        ctx.update(z);
        ctx.update(&other_info);
        out.extend_from_slice(ctx.finish().as_ref());
        counter = counter.checked_add(1).ok_or(CryptoError::Encryption)?;
    }
    out.truncate(key_len);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::b64;

    fn key(d: &str) -> EcdhPrivateKey {
        EcdhPrivateKey::from_scalar(&b64::decode(d).unwrap_or_default())
            .unwrap_or_else(|_| unreachable!())
    }

    /// RFC 7518 Appendix C: Alice's ephemeral key, Bob's static key, `Z` and
    /// the derived A128GCM key with `apu` "Alice" and `apv` "Bob".
    #[test]
    fn rfc7518_appendix_c_key_agreement() {
        let alice = key("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo");
        let bob = key("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw");
        assert_eq!(
            alice.public_jwk().to_json()["x"],
            "gI0GAILBdu7T53akrFmMyGcsF3n5dO7MmwNBHKW5SV0"
        );
        assert_eq!(
            bob.public_jwk().to_json()["y"],
            "e8lnCO-AlStT-NJVX-crhB7QRYhiix03illJOVAOyck"
        );
        let z: [u8; 32] = [
            158, 86, 217, 29, 129, 113, 53, 211, 114, 131, 66, 131, 191, 132, 38, 156, 251, 49,
            110, 163, 218, 128, 106, 72, 246, 218, 167, 121, 140, 254, 144, 196,
        ];
        let sender = alice
            .agree(bob.public_jwk())
            .unwrap_or_else(|_| unreachable!());
        let recipient = bob
            .agree(alice.public_jwk())
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(sender.as_bytes(), &z);
        assert_eq!(recipient.as_bytes(), &z);
        let cek = concat_kdf(&z, b"A128GCM", b"Alice", b"Bob", 16).unwrap_or_default();
        assert_eq!(
            cek,
            [
                86, 170, 141, 234, 248, 35, 109, 32, 92, 34, 40, 205, 113, 167, 16, 26
            ]
        );
        assert_eq!(b64::encode(&cek), "VqqN6vgjbSBcIijNcacQGg");
    }

    #[test]
    fn pkcs8_round_trip_and_refusals() {
        let k = EcdhPrivateKey::generate().unwrap_or_else(|_| unreachable!());
        let der = k.to_pkcs8().unwrap_or_default();
        let back = EcdhPrivateKey::from_pkcs8(&der).unwrap_or_else(|_| unreachable!());
        assert_eq!(back.public_jwk(), k.public_jwk());
        assert!(EcdhPrivateKey::from_pkcs8(b"nope").is_err());
        assert!(EcdhPrivateKey::from_scalar(&[0u8; 32]).is_err());
        assert!(EcdhPrivateKey::from_scalar(&[1u8; 31]).is_err());
        assert!(!format!("{k:?}").contains(&b64::encode(&der)));
    }

    #[test]
    fn kdf_lengths() {
        let z = [7u8; 32];
        let k16 = concat_kdf(&z, b"A128GCM", b"", b"", 16).unwrap_or_default();
        let k32 = concat_kdf(&z, b"A256GCM", b"", b"", 32).unwrap_or_default();
        let k48 = concat_kdf(&z, b"X", b"", b"", 48).unwrap_or_default();
        assert_eq!((k16.len(), k32.len(), k48.len()), (16, 32, 48));
        assert_ne!(k16[..], k32[..16], "the algorithm id and length are bound");
    }
}
