//! JWE Compact Serialization (RFC 7516 §3.1, §5) with `alg` `ECDH-ES`
//! (direct key agreement on P-256, RFC 7518 §4.6) and `enc` `A128GCM` or
//! `A256GCM` (RFC 7518 §5.3): the encryption of OID4VCI credential requests
//! and responses (VCI §10) and of HAIP.
//!
//! Nothing else is accepted: no key wrapping, no `zip`, no `crit`, no other
//! curve. Inputs are bounded before anything is decoded.

use crate::b64;
use crate::ecdh::{EcdhPrivateKey, concat_kdf};
use crate::error::CryptoError;
use crate::jwk::EcPublicJwk;
use crate::random::{Random, SystemRandom};
use aws_lc_rs::aead::{AES_128_GCM, AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use serde_json::{Map, Value};

/// The one key management algorithm: ECDH-ES in direct key agreement mode.
pub const ECDH_ES: &str = "ECDH-ES";
/// The media type of an encrypted credential request or response (VCI §10).
pub const MEDIA_TYPE: &str = "application/jwt";
/// Upper bound on a compact JWE we are willing to parse.
pub const MAX_JWE_LEN: usize = 4 * 1024 * 1024;
/// Upper bound on the encoded protected header.
pub const MAX_HEADER_LEN: usize = 8 * 1024;
/// Upper bound on decoded `apu` / `apv` values.
pub const MAX_PARTY_INFO_LEN: usize = 512;
const TAG_LEN: usize = 16;

/// A JWE content encryption algorithm (RFC 7518 §5.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentEncryption {
    A128Gcm,
    A256Gcm,
}

impl ContentEncryption {
    /// Every supported value, strongest first.
    pub const ALL: [Self; 2] = [Self::A256Gcm, Self::A128Gcm];

    pub fn name(self) -> &'static str {
        match self {
            Self::A128Gcm => "A128GCM",
            Self::A256Gcm => "A256GCM",
        }
    }

    /// The `enc` value, exactly (names are case-sensitive, RFC 7516 §4.1.2).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "A128GCM" => Some(Self::A128Gcm),
            "A256GCM" => Some(Self::A256Gcm),
            _ => None,
        }
    }

    /// Content encryption key length in bytes.
    pub fn key_len(self) -> usize {
        match self {
            Self::A128Gcm => 16,
            Self::A256Gcm => 32,
        }
    }

    fn aead_key(self, cek: &[u8]) -> Result<LessSafeKey, CryptoError> {
        let algorithm = match self {
            Self::A128Gcm => &AES_128_GCM,
            Self::A256Gcm => &AES_256_GCM,
        };
        UnboundKey::new(algorithm, cek)
            .map(LessSafeKey::new)
            .map_err(|_| CryptoError::Encryption)
    }
}

impl std::fmt::Display for ContentEncryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Optional header members of a JWE this crate makes.
#[derive(Debug, Clone, Copy, Default)]
pub struct JweOptions<'a> {
    /// `kid`: the recipient key's id (VCI §10: MUST be set when the key has one).
    pub kid: Option<&'a str>,
    /// `apu` (decoded): Agreement PartyUInfo, bound into the key derivation.
    pub apu: Option<&'a [u8]>,
    /// `apv` (decoded): Agreement PartyVInfo, bound into the key derivation.
    pub apv: Option<&'a [u8]>,
    /// `typ`, e.g. `JWT`.
    pub typ: Option<&'a str>,
}

/// Encrypts `plaintext` to `recipient` with a fresh ephemeral key.
pub fn encrypt_compact(
    recipient: &EcPublicJwk,
    enc: ContentEncryption,
    options: &JweOptions<'_>,
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    let ephemeral = EcdhPrivateKey::generate()?;
    let mut iv = [0u8; NONCE_LEN];
    SystemRandom.fill(&mut iv);
    encrypt_with(&ephemeral, iv, recipient, enc, options, plaintext)
}

/// [`encrypt_compact`] with the ephemeral key and IV given (tests, vectors).
fn encrypt_with(
    ephemeral: &EcdhPrivateKey,
    iv: [u8; NONCE_LEN],
    recipient: &EcPublicJwk,
    enc: ContentEncryption,
    options: &JweOptions<'_>,
    plaintext: &[u8],
) -> Result<String, CryptoError> {
    if plaintext.len() > MAX_JWE_LEN {
        return Err(CryptoError::MalformedJwe("the plaintext is too large"));
    }
    for info in [options.apu, options.apv].into_iter().flatten() {
        if info.len() > MAX_PARTY_INFO_LEN {
            return Err(CryptoError::MalformedJwe("apu or apv is too long"));
        }
    }
    let mut header = Map::new();
    header.insert("alg".into(), ECDH_ES.into());
    header.insert("enc".into(), enc.name().into());
    if let Some(kid) = options.kid {
        header.insert("kid".into(), kid.into());
    }
    if let Some(typ) = options.typ {
        header.insert("typ".into(), typ.into());
    }
    header.insert("epk".into(), ephemeral.public_jwk().to_json());
    if let Some(apu) = options.apu {
        header.insert("apu".into(), b64::encode(apu).into());
    }
    if let Some(apv) = options.apv {
        header.insert("apv".into(), b64::encode(apv).into());
    }
    let header_json = serde_json::to_vec(&header).map_err(|_| CryptoError::Encryption)?;
    let header_b64 = b64::encode(header_json);
    let z = ephemeral.agree(recipient)?;
    let cek = derive_cek(
        z.as_bytes(),
        enc,
        options.apu.unwrap_or_default(),
        options.apv.unwrap_or_default(),
    )?;
    let key = enc.aead_key(&cek)?;
    let mut buf = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            Nonce::assume_unique_for_key(iv),
            Aad::from(header_b64.as_bytes()),
            &mut buf,
        )
        .map_err(|_| CryptoError::Encryption)?;
    Ok(format!(
        "{header_b64}..{}.{}.{}",
        b64::encode(iv),
        b64::encode(&buf),
        b64::encode(tag.as_ref())
    ))
}

/// The content encryption key of direct ECDH-ES (RFC 7518 §4.6.2): the
/// Concat KDF over `Z` with `AlgorithmID` = the `enc` value.
fn derive_cek(
    z: &[u8],
    enc: ContentEncryption,
    apu: &[u8],
    apv: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    concat_kdf(z, enc.name().as_bytes(), apu, apv, enc.key_len())
}

/// A parsed compact JWE whose header passed the checks; not yet decrypted.
#[derive(Debug, Clone)]
pub struct CompactJwe {
    header: Map<String, Value>,
    /// The encoded protected header: the AAD (RFC 7516 §5.2 step 14).
    header_b64: String,
    enc: ContentEncryption,
    epk: EcPublicJwk,
    apu: Vec<u8>,
    apv: Vec<u8>,
    iv: [u8; NONCE_LEN],
    ciphertext: Vec<u8>,
    tag: [u8; TAG_LEN],
}

impl CompactJwe {
    /// Parses and checks a compact JWE: five parts, a JSON object header with
    /// `alg` `ECDH-ES`, an `enc` we implement, a valid P-256 `epk`, no `zip`
    /// or `crit`, an empty encrypted key, a 96-bit IV and a 128-bit tag.
    pub fn parse(compact: &str) -> Result<Self, CryptoError> {
        if compact.len() > MAX_JWE_LEN {
            return Err(CryptoError::MalformedJwe("too large"));
        }
        let mut parts = compact.split('.');
        let (Some(h), Some(k), Some(iv), Some(c), Some(t), None) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            return Err(CryptoError::MalformedJwe("not five parts"));
        };
        if h.len() > MAX_HEADER_LEN {
            return Err(CryptoError::MalformedJwe("the header is too large"));
        }
        let header: Value = serde_json::from_slice(&b64::decode(h)?)
            .map_err(|_| CryptoError::MalformedJwe("the header is not JSON"))?;
        let Value::Object(header) = header else {
            return Err(CryptoError::MalformedJwe("the header is not a JSON object"));
        };
        let text = |name: &'static str| -> Result<Option<&str>, CryptoError> {
            match header.get(name) {
                None => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.as_str())),
                Some(_) => Err(CryptoError::MalformedJwe("a header member is not a string")),
            }
        };
        match text("alg")? {
            Some(ECDH_ES) => {}
            Some(other) => return Err(CryptoError::AlgorithmNotAllowed(other.to_owned())),
            None => return Err(CryptoError::MalformedJwe("alg is missing")),
        }
        let enc = match text("enc")? {
            Some(name) => ContentEncryption::from_name(name)
                .ok_or_else(|| CryptoError::AlgorithmNotAllowed(name.to_owned()))?,
            None => return Err(CryptoError::MalformedJwe("enc is missing")),
        };
        if header.contains_key("zip") {
            return Err(CryptoError::MalformedJwe("zip is not supported"));
        }
        if header.contains_key("crit") {
            // RFC 7516 §4.1.13: we understand no extension, so any crit fails.
            return Err(CryptoError::MalformedJwe("unsupported crit header"));
        }
        text("kid")?;
        let epk = header
            .get("epk")
            .ok_or(CryptoError::MalformedJwe("epk is missing"))
            .and_then(EcPublicJwk::from_json)?;
        let party = |name: &'static str| -> Result<Vec<u8>, CryptoError> {
            let Some(value) = text(name)? else {
                return Ok(Vec::new());
            };
            let bytes = b64::decode(value)?;
            if bytes.len() > MAX_PARTY_INFO_LEN {
                return Err(CryptoError::MalformedJwe("apu or apv is too long"));
            }
            Ok(bytes)
        };
        let apu = party("apu")?;
        let apv = party("apv")?;
        if !k.is_empty() {
            // RFC 7518 §4.6: direct key agreement has an empty encrypted key.
            return Err(CryptoError::MalformedJwe(
                "ECDH-ES must have an empty encrypted key",
            ));
        }
        let iv = <[u8; NONCE_LEN]>::try_from(b64::decode(iv)?.as_slice())
            .map_err(|_| CryptoError::MalformedJwe("the IV is not 96 bits"))?;
        let tag = <[u8; TAG_LEN]>::try_from(b64::decode(t)?.as_slice())
            .map_err(|_| CryptoError::MalformedJwe("the tag is not 128 bits"))?;
        Ok(Self {
            header_b64: h.to_owned(),
            header,
            enc,
            epk,
            apu,
            apv,
            iv,
            ciphertext: b64::decode(c)?,
            tag,
        })
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// The `kid` header, naming the recipient key.
    pub fn kid(&self) -> Option<&str> {
        self.header_str("kid")
    }

    pub fn enc(&self) -> ContentEncryption {
        self.enc
    }

    /// The sender's ephemeral public key.
    pub fn epk(&self) -> &EcPublicJwk {
        &self.epk
    }

    /// Decrypts with the recipient's private key. Any failure (wrong key,
    /// altered header, IV, ciphertext or tag) is the same opaque error.
    pub fn decrypt(&self, key: &EcdhPrivateKey) -> Result<Vec<u8>, CryptoError> {
        let z = key.agree(&self.epk)?;
        let cek = derive_cek(z.as_bytes(), self.enc, &self.apu, &self.apv)?;
        let aead = self.enc.aead_key(&cek)?;
        let mut buf = Vec::with_capacity(self.ciphertext.len() + TAG_LEN);
        buf.extend_from_slice(&self.ciphertext);
        buf.extend_from_slice(&self.tag);
        let plaintext = aead
            .open_in_place(
                Nonce::assume_unique_for_key(self.iv),
                Aad::from(self.header_b64.as_bytes()),
                &mut buf,
            )
            .map_err(|_| CryptoError::Encryption)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rfc_key(d: &str) -> EcdhPrivateKey {
        EcdhPrivateKey::from_scalar(&b64::decode(d).unwrap_or_default())
            .unwrap_or_else(|_| unreachable!())
    }

    fn alice() -> EcdhPrivateKey {
        rfc_key("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo")
    }

    fn bob() -> EcdhPrivateKey {
        rfc_key("VEmDZpDXXK8p8N0Cndsxs924q6nS1RXFASRl6BfUqdw")
    }

    fn fresh() -> EcdhPrivateKey {
        EcdhPrivateKey::generate().unwrap_or_else(|_| unreachable!())
    }

    /// RFC 7518 Appendix C end to end: a JWE made with Alice's ephemeral key,
    /// `apu` "Alice", `apv` "Bob" uses exactly the published CEK, and Bob
    /// decrypts it.
    #[test]
    fn rfc7518_appendix_c_jwe() {
        let (alice, bob) = (alice(), bob());
        let options = JweOptions {
            apu: Some(b"Alice"),
            apv: Some(b"Bob"),
            ..JweOptions::default()
        };
        let iv = [3u8; NONCE_LEN];
        let jwe = encrypt_with(
            &alice,
            iv,
            bob.public_jwk(),
            ContentEncryption::A128Gcm,
            &options,
            b"hello",
        )
        .unwrap_or_default();
        let parsed = CompactJwe::parse(&jwe).unwrap_or_else(|_| unreachable!());
        assert_eq!(parsed.header_str("apu"), Some("QWxpY2U"));
        assert_eq!(parsed.header_str("apv"), Some("Qm9i"));
        assert_eq!(parsed.epk(), alice.public_jwk());
        assert_eq!(parsed.decrypt(&bob), Ok(b"hello".to_vec()));
        // The ciphertext is AES-128-GCM under the published CEK.
        let cek = b64::decode("VqqN6vgjbSBcIijNcacQGg").unwrap_or_default();
        let key = ContentEncryption::A128Gcm
            .aead_key(&cek)
            .unwrap_or_else(|_| unreachable!());
        let h = jwe.split('.').next().unwrap_or_default();
        let mut buf = [parsed.ciphertext.clone(), parsed.tag.to_vec()].concat();
        let opened = key
            .open_in_place(
                Nonce::assume_unique_for_key(iv),
                Aad::from(h.as_bytes()),
                &mut buf,
            )
            .map(|p| p.to_vec());
        assert_eq!(opened.ok(), Some(b"hello".to_vec()));
        // apu / apv are bound: the same JWE without them does not decrypt.
        let mut header = parsed.header().clone();
        header.remove("apu");
        let forged = replace_header(&jwe, &Value::Object(header));
        let forged = CompactJwe::parse(&forged).unwrap_or_else(|_| unreachable!());
        assert_eq!(forged.decrypt(&bob), Err(CryptoError::Encryption));
    }

    fn replace_header(jwe: &str, header: &Value) -> String {
        let rest: Vec<&str> = jwe.split('.').skip(1).collect();
        format!(
            "{}.{}",
            b64::encode(serde_json::to_vec(header).unwrap_or_default()),
            rest.join(".")
        )
    }

    #[test]
    fn round_trips_for_both_enc_values() {
        let recipient = fresh();
        for enc in ContentEncryption::ALL {
            let options = JweOptions {
                kid: Some("k1"),
                ..JweOptions::default()
            };
            let jwe = encrypt_compact(recipient.public_jwk(), enc, &options, b"{\"a\":1}")
                .unwrap_or_default();
            let parsed = CompactJwe::parse(&jwe).unwrap_or_else(|_| unreachable!());
            assert_eq!(parsed.enc(), enc);
            assert_eq!(parsed.kid(), Some("k1"));
            assert_eq!(parsed.header_str("alg"), Some("ECDH-ES"));
            assert!(
                parsed
                    .header()
                    .get("epk")
                    .is_some_and(|e| e.get("d").is_none())
            );
            assert_eq!(parsed.decrypt(&recipient), Ok(b"{\"a\":1}".to_vec()));
            assert_eq!(parsed.decrypt(&fresh()), Err(CryptoError::Encryption));
            let again = encrypt_compact(recipient.public_jwk(), enc, &options, b"{\"a\":1}")
                .unwrap_or_default();
            assert_ne!(jwe, again, "fresh ephemeral key and IV each time");
        }
    }

    #[test]
    fn tampering_is_detected() {
        let recipient = fresh();
        let jwe = encrypt_compact(
            recipient.public_jwk(),
            ContentEncryption::A256Gcm,
            &JweOptions::default(),
            b"secret message",
        )
        .unwrap_or_default();
        let parts: Vec<String> = jwe.split('.').map(str::to_owned).collect();
        for index in [2usize, 3, 4] {
            let mut bytes = b64::decode(&parts[index]).unwrap_or_default();
            if let Some(b) = bytes.first_mut() {
                *b ^= 1;
            }
            let mut altered = parts.clone();
            altered[index] = b64::encode(&bytes);
            let parsed = CompactJwe::parse(&altered.join(".")).unwrap_or_else(|_| unreachable!());
            assert_eq!(
                parsed.decrypt(&recipient),
                Err(CryptoError::Encryption),
                "{index}"
            );
        }
        // A header change (here: an added kid) changes the AAD.
        let parsed = CompactJwe::parse(&jwe).unwrap_or_else(|_| unreachable!());
        let mut header = parsed.header().clone();
        header.insert("kid".into(), json!("x"));
        let altered = CompactJwe::parse(&replace_header(&jwe, &Value::Object(header)))
            .unwrap_or_else(|_| unreachable!());
        assert_eq!(altered.decrypt(&recipient), Err(CryptoError::Encryption));
    }

    #[test]
    fn strict_header_checks() {
        let recipient = fresh();
        let jwe = encrypt_compact(
            recipient.public_jwk(),
            ContentEncryption::A128Gcm,
            &JweOptions::default(),
            b"x",
        )
        .unwrap_or_default();
        let header = CompactJwe::parse(&jwe)
            .map(|p| p.header().clone())
            .unwrap_or_default();
        let with = |name: &str, value: Value| {
            let mut h = header.clone();
            h.insert(name.to_owned(), value);
            CompactJwe::parse(&replace_header(&jwe, &Value::Object(h))).err()
        };
        let without = |name: &str| {
            let mut h = header.clone();
            h.remove(name);
            CompactJwe::parse(&replace_header(&jwe, &Value::Object(h))).err()
        };
        for (name, value) in [
            ("alg", json!("RSA-OAEP")),
            ("alg", json!("ECDH-ES+A128KW")),
            ("alg", json!("dir")),
            ("alg", json!(1)),
            ("enc", json!("A192GCM")),
            ("enc", json!("A128CBC-HS256")),
            ("enc", json!("a128gcm")),
            ("zip", json!("DEF")),
            ("crit", json!(["exp"])),
            ("kid", json!(7)),
            ("apu", json!("!!")),
            ("apv", json!(b64::encode([0u8; 600]))),
            ("epk", json!("x")),
            ("epk", json!({"kty":"EC","crv":"P-384","x":"AA","y":"AA"})),
        ] {
            assert!(with(name, value.clone()).is_some(), "{name}: {value}");
        }
        let mut private_epk = header.get("epk").cloned().unwrap_or_default();
        private_epk["d"] = json!("0_NxaRPUMQoAJt50Gz8YiTr8gRTwyEaCumd-MToTmIo");
        assert!(with("epk", private_epk).is_some());
        for name in ["alg", "enc", "epk"] {
            assert!(without(name).is_some(), "{name}");
        }
        let parts: Vec<&str> = jwe.split('.').collect();
        let mut with_key = parts.clone();
        with_key[1] = "AAAA";
        assert!(CompactJwe::parse(&with_key.join(".")).is_err());
        let mut short_iv = parts.clone();
        short_iv[2] = "AAAA";
        assert!(CompactJwe::parse(&short_iv.join(".")).is_err());
        let mut short_tag = parts.clone();
        short_tag[4] = "AAAA";
        assert!(CompactJwe::parse(&short_tag.join(".")).is_err());
        for bad in [
            "",
            "a.b.c.d",
            "a.b.c.d.e.f",
            "W10....",
            "e30....",
            "!!.....",
        ] {
            assert!(CompactJwe::parse(bad).is_err(), "{bad}");
        }
        let huge = "a".repeat(MAX_JWE_LEN + 1);
        assert!(CompactJwe::parse(&huge).is_err());
        let big_header = format!("{}....", "a".repeat(MAX_HEADER_LEN + 1));
        assert!(CompactJwe::parse(&big_header).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = CompactJwe::parse(&s);
        }
    }
}
