//! Token Status List (draft-ietf-oauth-status-list; TSL): the compressed
//! status byte array, the Status List Token in JWT format and the `status`
//! claim of a Referenced Token.
//!
//! * [`StatusList`]: `bits` ∈ {1, 2, 4, 8} per entry, entries packed into
//!   bytes from the least significant bit (TSL §4.1); `lst` is the base64url
//!   of the ZLIB/DEFLATE-compressed array (TSL §4.1 step 4, §4.2).
//!   Decompression is bounded ([`MAX_STATUS_LIST_BYTES`] or a caller's
//!   bound), so a small `lst` cannot expand into gigabytes.
//! * [`StatusListToken`]: the JWT claims `sub`, `iat`, `exp`, `ttl`,
//!   `status_list` (TSL §5.1), signed with `typ: statuslist+jwt` and an
//!   `x5c` chain ([`StatusListToken::sign`]; HAIP §6.1), and verified by a
//!   relying party or holder ([`verify_status_list_token`]; TSL §8.3).
//! * The same token in CWT format ([`cwt`]; TSL §5.2): COSE_Sign1_Tagged,
//!   `typ` `application/statuslist+cwt`, `x5chain`, claims 2, 6, 4, 65534,
//!   65533 ([`StatusListToken::sign_cwt`], [`verify_status_list_cwt`]).
//!   [`StatusListTokenFormat`] names the two forms and their media types
//!   for content negotiation (TSL §8.1, §8.2).
//! * [`StatusListReference`]: `status: {status_list: {idx, uri}}` (TSL §6.2, §6.3).
//! * [`StatusType`]: VALID 0x00, INVALID 0x01, SUSPENDED 0x02 (TSL §7.1).
//!
//! Errors ([`StatusListError`]) never carry list contents.

use avow_crypto::{AlgorithmAllowList, CompactJws, CryptoError, EcPublicJwk, Signer, b64};
use flate2::write::ZlibEncoder;
use flate2::{Compression, Decompress, FlushDecompress, Status};
use serde_json::{Map, Value};
use std::fmt;
use std::io::Write;

pub mod cwt;

pub use cwt::{
    MAX_STATUS_LIST_CWT_LEN, STATUS_LIST_CWT_MEDIA_TYPE, StatusListCwt, is_status_list_cwt_typ,
    verify_status_list_cwt,
};

/// The JOSE `typ` of a Status List Token (TSL §5.1).
pub const STATUS_LIST_TYP: &str = "statuslist+jwt";
/// The media type of a Status List Token response (TSL §8.1, §8.2).
pub const STATUS_LIST_MEDIA_TYPE: &str = "application/statuslist+jwt";
/// The two forms of a Status List Token (TSL §5), each with its media type
/// for HTTP content negotiation (TSL §8.1, §8.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusListTokenFormat {
    /// JWT, `application/statuslist+jwt` (TSL §5.1): the form for JOSE
    /// Referenced Tokens (SD-JWT VC, JWT VC).
    Jwt,
    /// CWT, `application/statuslist+cwt` (TSL §5.2): the form for COSE
    /// Referenced Tokens (mdoc).
    Cwt,
}

impl StatusListTokenFormat {
    /// The media type of the form (TSL §8.1).
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Jwt => STATUS_LIST_MEDIA_TYPE,
            Self::Cwt => STATUS_LIST_CWT_MEDIA_TYPE,
        }
    }
}

/// Default bound on a decompressed status byte array: 8 MiB, i.e. 2^23
/// entries at 8 bits or 2^25 at 2 bits (the draft's test vectors use 2^20).
pub const MAX_STATUS_LIST_BYTES: usize = 8 * 1024 * 1024;

/// Why a status list, token or reference was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatusListError {
    /// `bits` is not 1, 2, 4 or 8 (TSL §4.1 step 1).
    #[error("bits must be 1, 2, 4 or 8")]
    InvalidBits,
    /// An index beyond the list (TSL §8.3 step 6: no statement can be made).
    #[error("status index {0} is outside the status list")]
    IndexOutOfRange(u64),
    /// A status value that does not fit the list's `bits`.
    #[error("status value {value} does not fit in {bits} bits")]
    ValueTooLarge { value: u8, bits: u8 },
    /// The (decompressed) byte array exceeds the bound.
    #[error("the status list exceeds {0} bytes")]
    TooLarge(usize),
    /// `lst` is not base64url of a complete, checksummed ZLIB stream.
    #[error("lst is not base64url-encoded ZLIB data")]
    BadEncoding,
    /// A claim is missing or has the wrong type.
    #[error("claim {0} is missing or invalid")]
    InvalidClaim(&'static str),
    /// The header `typ` is not `statuslist+jwt` (JWT, TSL §5.1) or
    /// `application/statuslist+cwt` (CWT, TSL §5.2).
    #[error("the status list token typ is not the status list type of its format")]
    UnexpectedType,
    /// A CWT that is not a well-formed COSE_Sign1_Tagged (TSL §5.2, RFC 9052).
    #[error("malformed status list CWT: {0}")]
    MalformedCwt(&'static str),
    /// `sub` differs from the Referenced Token's `uri` (TSL §8.3 step 4a).
    #[error("the status list token sub is not the referenced uri")]
    SubjectMismatch,
    /// `exp` has passed (TSL §8.3 step 4c).
    #[error("the status list token has expired")]
    Expired,
    /// `iat` (or `nbf`) lies in the future (RFC 7519 §7.2).
    #[error("the status list token is not yet valid")]
    NotYetValid,
    /// The issuer key header cannot be built.
    #[error("invalid key header: {0}")]
    KeyHeader(&'static str),
    /// Signing, signature verification, keys or base64.
    #[error("{0}")]
    Crypto(#[from] CryptoError),
}

// ---------------------------------------------------------------- status types

/// A Status Type value (TSL §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StatusType {
    /// 0x00: valid, the initial value of every entry.
    Valid,
    /// 0x01: revoked; final.
    Invalid,
    /// 0x02: temporarily invalid.
    Suspended,
    /// Any other value (0x03 and 0x0C–0x0F application specific, the rest reserved).
    Other(u8),
}

impl StatusType {
    pub const VALID: u8 = 0x00;
    pub const INVALID: u8 = 0x01;
    pub const SUSPENDED: u8 = 0x02;

    pub fn from_value(value: u8) -> Self {
        match value {
            Self::VALID => Self::Valid,
            Self::INVALID => Self::Invalid,
            Self::SUSPENDED => Self::Suspended,
            other => Self::Other(other),
        }
    }

    pub fn value(self) -> u8 {
        match self {
            Self::Valid => Self::VALID,
            Self::Invalid => Self::INVALID,
            Self::Suspended => Self::SUSPENDED,
            Self::Other(v) => v,
        }
    }
}

impl fmt::Display for StatusType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Valid => f.write_str("VALID"),
            Self::Invalid => f.write_str("INVALID"),
            Self::Suspended => f.write_str("SUSPENDED"),
            Self::Other(v) => write!(f, "0x{v:02X}"),
        }
    }
}

// ---------------------------------------------------------------- the byte array

/// A status byte array: `bits` per entry, packed LSB first (TSL §4.1).
#[derive(Clone, PartialEq, Eq)]
pub struct StatusList {
    bits: u8,
    bytes: Vec<u8>,
}

impl fmt::Debug for StatusList {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StatusList")
            .field("bits", &self.bits)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

fn check_bits(bits: u8) -> Result<(), StatusListError> {
    match bits {
        1 | 2 | 4 | 8 => Ok(()),
        _ => Err(StatusListError::InvalidBits),
    }
}

impl StatusList {
    /// A list of `entries` VALID entries (`ceil(entries * bits / 8)` bytes).
    pub fn new(bits: u8, entries: usize) -> Result<Self, StatusListError> {
        check_bits(bits)?;
        let len = entries
            .checked_mul(usize::from(bits))
            .map(|b| b.div_ceil(8))
            .filter(|len| *len <= MAX_STATUS_LIST_BYTES)
            .ok_or(StatusListError::TooLarge(MAX_STATUS_LIST_BYTES))?;
        Ok(Self {
            bits,
            bytes: vec![0; len],
        })
    }

    /// A list over an existing (uncompressed) byte array.
    pub fn from_bytes(bits: u8, bytes: Vec<u8>) -> Result<Self, StatusListError> {
        check_bits(bits)?;
        Ok(Self { bits, bytes })
    }

    pub fn bits(&self) -> u8 {
        self.bits
    }

    /// The uncompressed byte array.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// How many entries the array holds (`bytes * 8 / bits`).
    pub fn capacity(&self) -> u64 {
        (self.bytes.len() as u64).saturating_mul(8) / u64::from(self.bits)
    }

    fn position(&self, index: u64) -> Option<(usize, u32)> {
        if index >= self.capacity() {
            return None;
        }
        let bit = index.checked_mul(u64::from(self.bits))?;
        let byte = usize::try_from(bit / 8).ok()?;
        Some((byte, u32::try_from(bit % 8).ok()?))
    }

    fn mask(&self) -> u8 {
        u8::try_from((1u16 << self.bits) - 1).unwrap_or(u8::MAX)
    }

    /// The value at `index`, `None` beyond the list.
    pub fn get(&self, index: u64) -> Option<u8> {
        let (byte, shift) = self.position(index)?;
        let value = self.bytes.get(byte)?;
        Some((value >> shift) & self.mask())
    }

    /// The status at `index`, `None` beyond the list.
    pub fn status(&self, index: u64) -> Option<StatusType> {
        self.get(index).map(StatusType::from_value)
    }

    /// Sets the value at `index`.
    pub fn set(&mut self, index: u64, value: u8) -> Result<(), StatusListError> {
        let mask = self.mask();
        if value & !mask != 0 {
            return Err(StatusListError::ValueTooLarge {
                value,
                bits: self.bits,
            });
        }
        let (byte, shift) = self
            .position(index)
            .ok_or(StatusListError::IndexOutOfRange(index))?;
        let slot = self
            .bytes
            .get_mut(byte)
            .ok_or(StatusListError::IndexOutOfRange(index))?;
        *slot = (*slot & !(mask << shift)) | (value << shift);
        Ok(())
    }

    /// ZLIB (RFC 1950) around DEFLATE (RFC 1951) at the highest compression
    /// level (TSL §4.1 step 4).
    pub fn compress(&self) -> Result<Vec<u8>, StatusListError> {
        let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
        encoder
            .write_all(&self.bytes)
            .map_err(|_| StatusListError::BadEncoding)?;
        encoder.finish().map_err(|_| StatusListError::BadEncoding)
    }

    /// Decompresses a ZLIB stream into a list, refusing more than
    /// `max_bytes` of output, truncated or corrupt streams (the Adler-32
    /// checksum is verified) and data after the end of the stream.
    pub fn decompress(
        bits: u8,
        compressed: &[u8],
        max_bytes: usize,
    ) -> Result<Self, StatusListError> {
        check_bits(bits)?;
        let mut inflater = Decompress::new(true);
        let mut bytes: Vec<u8> = Vec::new();
        loop {
            if bytes.len() >= bytes.capacity() {
                let room = max_bytes.saturating_add(1).saturating_sub(bytes.len());
                if room == 0 {
                    return Err(StatusListError::TooLarge(max_bytes));
                }
                bytes.reserve_exact(bytes.len().max(4096).min(room));
            }
            let consumed =
                usize::try_from(inflater.total_in()).map_err(|_| StatusListError::BadEncoding)?;
            let input = compressed
                .get(consumed..)
                .ok_or(StatusListError::BadEncoding)?;
            let before = (inflater.total_in(), inflater.total_out());
            let status = inflater
                .decompress_vec(input, &mut bytes, FlushDecompress::None)
                .map_err(|_| StatusListError::BadEncoding)?;
            if bytes.len() > max_bytes {
                return Err(StatusListError::TooLarge(max_bytes));
            }
            match status {
                Status::StreamEnd => break,
                Status::Ok | Status::BufError => {
                    let stalled = (inflater.total_in(), inflater.total_out()) == before;
                    if stalled && bytes.len() < bytes.capacity() {
                        // No progress with room to spare: the input ended early.
                        return Err(StatusListError::BadEncoding);
                    }
                }
            }
        }
        if inflater.total_in() != compressed.len() as u64 {
            return Err(StatusListError::BadEncoding);
        }
        Ok(Self { bits, bytes })
    }

    /// `lst`: base64url (no padding) of the compressed array (TSL §4.2).
    pub fn encode_lst(&self) -> Result<String, StatusListError> {
        Ok(b64::encode(self.compress()?))
    }

    /// Decodes `lst` (TSL §8.3 step 5), bounded by `max_bytes`.
    pub fn decode_lst(bits: u8, lst: &str, max_bytes: usize) -> Result<Self, StatusListError> {
        check_bits(bits)?;
        let compressed = b64::decode(lst).map_err(|_| StatusListError::BadEncoding)?;
        Self::decompress(bits, &compressed, max_bytes)
    }

    /// The JSON `StatusList` object `{bits, lst}` (TSL §4.2).
    pub fn to_json(&self) -> Result<Value, StatusListError> {
        let mut object = Map::new();
        object.insert("bits".into(), Value::from(self.bits));
        object.insert("lst".into(), Value::String(self.encode_lst()?));
        Ok(Value::Object(object))
    }

    /// Reads a JSON `StatusList` object; `aggregation_uri` and unknown members are ignored.
    pub fn from_json(value: &Value, max_bytes: usize) -> Result<Self, StatusListError> {
        let object = value
            .as_object()
            .ok_or(StatusListError::InvalidClaim("status_list"))?;
        let bits = object
            .get("bits")
            .and_then(Value::as_u64)
            .and_then(|b| u8::try_from(b).ok())
            .ok_or(StatusListError::InvalidClaim("status_list.bits"))?;
        check_bits(bits)?;
        let lst = object
            .get("lst")
            .and_then(Value::as_str)
            .ok_or(StatusListError::InvalidClaim("status_list.lst"))?;
        Self::decode_lst(bits, lst, max_bytes)
    }
}

// ---------------------------------------------------------------- the token

/// The claims of a Status List Token in JWT format (TSL §5.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListToken {
    /// The URI of the token: equal to the Referenced Token's `uri`.
    pub sub: String,
    pub iat: i64,
    pub exp: Option<i64>,
    /// Seconds a consumer may cache the token (positive).
    pub ttl: Option<u64>,
    pub status_list: StatusList,
    /// `status_list.aggregation_uri`: where the Status List Aggregation of
    /// the issuer is (TSL §4.2, §9.2).
    pub aggregation_uri: Option<String>,
}

impl StatusListToken {
    /// The JWT claims set.
    pub fn to_claims(&self) -> Result<Map<String, Value>, StatusListError> {
        let mut claims = Map::new();
        claims.insert("sub".into(), Value::String(self.sub.clone()));
        claims.insert("iat".into(), Value::from(self.iat));
        if let Some(exp) = self.exp {
            claims.insert("exp".into(), Value::from(exp));
        }
        if let Some(ttl) = self.ttl {
            claims.insert("ttl".into(), Value::from(ttl));
        }
        let mut status_list = self.status_list.to_json()?;
        if let (Some(uri), Some(object)) = (&self.aggregation_uri, status_list.as_object_mut()) {
            object.insert("aggregation_uri".into(), Value::String(uri.clone()));
        }
        claims.insert("status_list".into(), status_list);
        Ok(claims)
    }

    /// Reads the claims set; `sub`, `iat` and `status_list` are required,
    /// `exp` and `ttl` checked when present (TSL §5.1, §8.3 step 3b).
    pub fn from_claims(
        claims: &Map<String, Value>,
        max_bytes: usize,
    ) -> Result<Self, StatusListError> {
        let sub = claims
            .get("sub")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or(StatusListError::InvalidClaim("sub"))?
            .to_owned();
        let iat = claims
            .get("iat")
            .and_then(Value::as_i64)
            .ok_or(StatusListError::InvalidClaim("iat"))?;
        let exp = match claims.get("exp") {
            None => None,
            Some(v) => Some(v.as_i64().ok_or(StatusListError::InvalidClaim("exp"))?),
        };
        let ttl = match claims.get("ttl") {
            None => None,
            Some(v) => Some(
                v.as_u64()
                    .filter(|t| *t > 0)
                    .ok_or(StatusListError::InvalidClaim("ttl"))?,
            ),
        };
        let object = claims
            .get("status_list")
            .ok_or(StatusListError::InvalidClaim("status_list"))?;
        let status_list = StatusList::from_json(object, max_bytes)?;
        let aggregation_uri = match object.get("aggregation_uri") {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or(StatusListError::InvalidClaim("status_list.aggregation_uri"))?
                    .to_owned(),
            ),
        };
        Ok(Self {
            sub,
            iat,
            exp,
            ttl,
            status_list,
            aggregation_uri,
        })
    }

    /// Signs the token: header `typ: statuslist+jwt` and `x5c` (DER, leaf
    /// first, trust anchor excluded; the leaf must certify the signer's key
    /// and must not be self-signed; HAIP §6.1).
    pub async fn sign(
        &self,
        signer: &dyn Signer,
        x5c: &[Vec<u8>],
    ) -> Result<String, StatusListError> {
        let Some(leaf) = x5c.first() else {
            return Err(StatusListError::KeyHeader("the x5c chain is empty"));
        };
        if &avow_crypto::x509::leaf_public_key(leaf)? != signer.public_jwk() {
            return Err(StatusListError::KeyHeader(
                "the x5c leaf does not certify the signing key",
            ));
        }
        let mut header = Map::new();
        header.insert("typ".into(), Value::String(STATUS_LIST_TYP.into()));
        header.insert(
            "x5c".into(),
            Value::Array(
                x5c.iter()
                    .map(|der| Value::String(b64::encode_standard(der)))
                    .collect(),
            ),
        );
        let payload = serde_json::to_vec(&Value::Object(self.to_claims()?))
            .map_err(|_| StatusListError::InvalidClaim("status_list"))?;
        Ok(avow_crypto::jws::sign_compact(signer, header, &payload).await?)
    }
}

/// Whether a JOSE `typ` is `statuslist+jwt`, compared as a media type
/// (RFC 7515 §4.1.9: `application/` may be omitted; case-insensitive).
pub fn is_status_list_typ(typ: &str) -> bool {
    let typ = typ.trim();
    let typ = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => typ.get(12..).unwrap_or(""),
        _ => typ,
    };
    typ.eq_ignore_ascii_case(STATUS_LIST_TYP)
}

/// What a verifier expects of a Status List Token.
#[derive(Debug, Clone, Copy)]
pub struct TokenExpectations<'a> {
    /// The `uri` of the Referenced Token's `status_list`.
    pub uri: &'a str,
    pub now: i64,
    /// Allowed clock skew, seconds.
    pub skew: i64,
    /// Bound on the decompressed byte array.
    pub max_bytes: usize,
}

/// Verifies a Status List Token in JWT format (TSL §5.1, §8.3 steps 3, 4):
/// `typ`, the signature with `key` (resolving and trusting the key, e.g.
/// through `x5c`, is the caller's), the required claims, `sub` = `uri`,
/// `exp` not passed, `iat` and `nbf` not in the future.
pub fn verify_status_list_token(
    jws: &CompactJws,
    key: &EcPublicJwk,
    allowed: &AlgorithmAllowList,
    expect: &TokenExpectations<'_>,
) -> Result<StatusListToken, StatusListError> {
    if !jws.header_str("typ").is_some_and(is_status_list_typ) {
        return Err(StatusListError::UnexpectedType);
    }
    jws.verify(key, allowed)?;
    let payload: Value = serde_json::from_slice(jws.payload())
        .map_err(|_| StatusListError::InvalidClaim("payload"))?;
    let claims = payload
        .as_object()
        .ok_or(StatusListError::InvalidClaim("payload"))?;
    let token = StatusListToken::from_claims(claims, expect.max_bytes)?;
    let nbf = match claims.get("nbf") {
        None => None,
        Some(nbf) => Some(nbf.as_i64().ok_or(StatusListError::InvalidClaim("nbf"))?),
    };
    check_token_claims(&token, nbf, expect)?;
    Ok(token)
}

/// The claim checks both forms share (TSL §8.3 step 4): `sub` = `uri`,
/// `exp` not passed, `iat` and `nbf` not in the future (within `skew`).
fn check_token_claims(
    token: &StatusListToken,
    nbf: Option<i64>,
    expect: &TokenExpectations<'_>,
) -> Result<(), StatusListError> {
    if token.sub != expect.uri {
        return Err(StatusListError::SubjectMismatch);
    }
    if token
        .exp
        .is_some_and(|exp| exp <= expect.now.saturating_sub(expect.skew))
    {
        return Err(StatusListError::Expired);
    }
    let latest = expect.now.saturating_add(expect.skew);
    if token.iat > latest || nbf.is_some_and(|nbf| nbf > latest) {
        return Err(StatusListError::NotYetValid);
    }
    Ok(())
}

// ---------------------------------------------------------------- the reference

/// `status.status_list` of a Referenced Token (TSL §6.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusListReference {
    pub idx: u64,
    pub uri: String,
}

impl StatusListReference {
    /// The whole `status` claim: `{"status_list": {"idx": …, "uri": …}}`.
    pub fn to_status_claim(&self) -> Value {
        let mut reference = Map::new();
        reference.insert("idx".into(), Value::from(self.idx));
        reference.insert("uri".into(), Value::String(self.uri.clone()));
        let mut status = Map::new();
        status.insert("status_list".into(), Value::Object(reference));
        Value::Object(status)
    }

    /// Reads the `status` claim (TSL §8.3 step 1): `Ok(None)` when it names
    /// no `status_list` (another mechanism), an error when it is not an
    /// object or `status_list` is malformed (`idx` a non-negative integer,
    /// `uri` a non-empty string).
    pub fn from_status_claim(status: &Value) -> Result<Option<Self>, StatusListError> {
        let status = status
            .as_object()
            .ok_or(StatusListError::InvalidClaim("status"))?;
        let Some(reference) = status.get("status_list") else {
            return Ok(None);
        };
        let reference = reference
            .as_object()
            .ok_or(StatusListError::InvalidClaim("status.status_list"))?;
        let idx = reference
            .get("idx")
            .and_then(Value::as_u64)
            .ok_or(StatusListError::InvalidClaim("status.status_list.idx"))?;
        let uri = reference
            .get("uri")
            .and_then(Value::as_str)
            .filter(|u| !u.is_empty())
            .ok_or(StatusListError::InvalidClaim("status.status_list.uri"))?
            .to_owned();
        Ok(Some(Self { idx, uri }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_crypto::SoftwareSigner;
    use avow_crypto::x509::{CertificateAuthority, Validity};
    use proptest::prelude::*;

    fn ok<T, E: fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    fn hex(text: &str) -> Vec<u8> {
        (0..text.len())
            .step_by(2)
            .map(|i| ok(u8::from_str_radix(&text[i..i + 2], 16)))
            .collect()
    }

    /// TSL §4.1, first example: 16 entries, 1 bit.
    #[test]
    fn one_bit_example() {
        let statuses = [1, 0, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 1, 0, 1];
        let mut list = ok(StatusList::new(1, 16));
        for (i, s) in statuses.iter().enumerate() {
            ok(list.set(i as u64, *s));
        }
        assert_eq!(list.bytes(), [0xB9, 0xA3]);
        assert_eq!(list.capacity(), 16);
        // The draft's compressed array and `lst` (zlib at the best level).
        assert_eq!(ok(list.compress()), hex("78dadbb918000217015d"));
        assert_eq!(ok(list.encode_lst()), "eNrbuRgAAhcBXQ");
        let decoded = ok(StatusList::decode_lst(1, "eNrbuRgAAhcBXQ", 1024));
        assert_eq!(decoded, list);
        for (i, s) in statuses.iter().enumerate() {
            assert_eq!(decoded.get(i as u64), Some(*s));
        }
        assert_eq!(decoded.get(16), None);
        assert_eq!(
            ok(list.to_json()),
            serde_json::json!({"bits": 1, "lst": "eNrbuRgAAhcBXQ"})
        );
    }

    /// TSL §4.1, second example: 12 entries, 2 bits.
    #[test]
    fn two_bit_example() {
        let statuses = [1, 2, 0, 3, 0, 1, 0, 1, 1, 2, 3, 3];
        let mut list = ok(StatusList::new(2, 12));
        for (i, s) in statuses.iter().enumerate() {
            ok(list.set(i as u64, *s));
        }
        assert_eq!(list.bytes(), [0xC9, 0x44, 0xF9]);
        assert_eq!(ok(list.compress()), hex("78da3be9f2130003df0207"));
        assert_eq!(ok(list.encode_lst()), "eNo76fITAAPfAgc");
        let decoded = ok(StatusList::from_json(
            &serde_json::json!({"bits": 2, "lst": "eNo76fITAAPfAgc"}),
            1024,
        ));
        assert_eq!(decoded.bytes(), [0xC9, 0x44, 0xF9]);
        assert_eq!(decoded.status(0), Some(StatusType::Invalid));
        assert_eq!(decoded.status(1), Some(StatusType::Suspended));
        assert_eq!(decoded.status(2), Some(StatusType::Valid));
        assert_eq!(decoded.status(3), Some(StatusType::Other(3)));
        assert_eq!(decoded.status(12), None);
    }

    const ENTRIES: u64 = 1 << 20;

    fn check_long_vector(bits: u8, lst: &str, set: &[(u64, u8)]) {
        let lst: String = lst.split_whitespace().collect();
        let list = ok(StatusList::decode_lst(bits, &lst, MAX_STATUS_LIST_BYTES));
        assert_eq!(list.capacity(), ENTRIES);
        let expected: std::collections::HashMap<u64, u8> = set.iter().copied().collect();
        for i in 0..ENTRIES {
            assert_eq!(
                list.get(i),
                Some(expected.get(&i).copied().unwrap_or(0)),
                "entry {i}"
            );
        }
        // Re-encoding yields a list that decodes to the same array.
        let mut built = ok(StatusList::new(bits, ENTRIES as usize));
        for (i, v) in set {
            ok(built.set(*i, *v));
        }
        assert_eq!(built, list);
        let again = ok(StatusList::decode_lst(
            bits,
            &ok(built.encode_lst()),
            MAX_STATUS_LIST_BYTES,
        ));
        assert_eq!(again, list);
    }

    /// TSL Appendix "Test vectors", 1-bit Status List (2^20 entries).
    #[test]
    fn one_bit_test_vector() {
        check_long_vector(
            1,
            "eNrt3AENwCAMAEGogklACtKQPg9LugC9k_ACvreiogE
             AAKkeCQAAAAAAAAAAAAAAAAAAAIBylgQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAXG9IAAAAAAAAAPwsJAAAAAAAAAAAAAAAvhsSAAAAAAAAAAA
             A7KpLAAAAAAAAAAAAAAAAAAAAAJsLCQAAAAAAAAAAADjelAAAAAAAAAAAKjDMAQAAA
             ACAZC8L2AEb",
            &[
                (0, 1),
                (1993, 1),
                (25460, 1),
                (159495, 1),
                (495669, 1),
                (554353, 1),
                (645645, 1),
                (723232, 1),
                (854545, 1),
                (934534, 1),
                (1000345, 1),
            ],
        );
    }

    /// TSL Appendix "Test vectors", 2-bit Status List (2^20 entries).
    ///
    /// The published `lst` is a truncated ZLIB stream: it inflates to 261,544
    /// of the 262,144 bytes and has neither a final block nor the Adler-32
    /// trailer (zlib itself reports "incomplete or truncated stream"). The
    /// strict decoder refuses it; the statuses are checked on our encoding.
    #[test]
    fn two_bit_test_vector() {
        let published: String = "eNrt2zENACEQAEEuoaBABP5VIO01fCjIHTMStt9ovGV
             IAAAAAABAbiEBAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAEB5WwIAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAID0ugQAAAAAAAAAAAAAAAAAQG12SgAAA
             AAAAAAAAAAAAAAAAAAAAAAAAOCSIQEAAAAAAAAAAAAAAAAAAAAAAAD8ExIAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAwJEuAQAAAAAAAAAAAAAAAAAAAAAAAMB9S
             wIAAAAAAAAAAAAAAAAAAACoYUoAAAAAAAAAAAAAAEBqH81gAQw"
            .split_whitespace()
            .collect();
        assert_eq!(
            StatusList::decode_lst(2, &published, MAX_STATUS_LIST_BYTES).err(),
            Some(StatusListError::BadEncoding)
        );
        let set = [
            (0, 1),
            (1993, 2),
            (25460, 1),
            (159495, 3),
            (495669, 1),
            (554353, 1),
            (645645, 2),
            (723232, 1),
            (854545, 1),
            (934534, 2),
            (1000345, 3),
        ];
        let mut list = ok(StatusList::new(2, ENTRIES as usize));
        for (i, v) in set {
            ok(list.set(i, v));
        }
        let lst = ok(list.encode_lst());
        check_long_vector(2, &lst, &set);
    }

    /// TSL Appendix "Test vectors", 4-bit Status List (2^20 entries).
    #[test]
    fn four_bit_test_vector() {
        check_long_vector(
            4,
            "eNrt0EENgDAQADAIHwImkIIEJEwCUpCEBBQRHOy35Li
             1EjoOQGabAgAAAAAAAAAAAAAAAAAAACC1SQEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAABADrsCAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAADoxaEAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAIIoCgAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAACArpwKAAAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAGhqVkAzlwIAAAAAiGVRAAAAAAAAAAAAAAAAAAA
             AAAAAAAAAAAAAAAAAAAAAAABx3AoAgLpVAQAAAAAAAAAAAAAAwM89rwMAAAAAAAAAA
             AjsA9xMBMA",
            &[
                (0, 1),
                (1993, 2),
                (35460, 3),
                (459495, 4),
                (595669, 5),
                (754353, 6),
                (845645, 7),
                (923232, 8),
                (924445, 9),
                (934534, 10),
                (1004534, 11),
                (1000345, 12),
                (1030203, 13),
                (1030204, 14),
                (1030205, 15),
            ],
        );
    }

    #[test]
    fn packing_for_every_bit_width() {
        for bits in [1u8, 2, 4, 8] {
            let max = u8::try_from((1u16 << bits) - 1).unwrap_or(u8::MAX);
            let mut list = ok(StatusList::new(bits, 37));
            assert!(list.capacity() >= 37);
            for i in 0..37u64 {
                ok(list.set(i, (i as u8) & max));
            }
            for i in 0..37u64 {
                assert_eq!(list.get(i), Some((i as u8) & max), "bits {bits} entry {i}");
            }
            // Overwriting leaves the neighbours alone.
            ok(list.set(5, 0));
            assert_eq!(list.get(4), Some(4 & max));
            assert_eq!(list.get(5), Some(0));
            assert_eq!(list.get(6), Some(6 & max));
            if bits < 8 {
                assert_eq!(
                    list.set(1, max + 1),
                    Err(StatusListError::ValueTooLarge {
                        value: max + 1,
                        bits
                    })
                );
            }
            assert_eq!(
                list.set(list.capacity(), 0),
                Err(StatusListError::IndexOutOfRange(list.capacity()))
            );
            assert_eq!(list.get(u64::MAX), None);
        }
        assert_eq!(
            StatusList::new(3, 8).err(),
            Some(StatusListError::InvalidBits)
        );
        assert_eq!(
            StatusList::new(0, 8).err(),
            Some(StatusListError::InvalidBits)
        );
        assert!(StatusList::new(8, usize::MAX).is_err());
    }

    #[test]
    fn decompression_is_bounded_and_strict() {
        let list = ok(StatusList::new(8, 100_000));
        let lst = ok(list.encode_lst());
        assert_eq!(
            StatusList::decode_lst(8, &lst, 99_999).err(),
            Some(StatusListError::TooLarge(99_999))
        );
        assert_eq!(ok(StatusList::decode_lst(8, &lst, 100_000)), list);
        // A damaged Adler-32, a truncated stream and trailing data are refused.
        let mut compressed = ok(list.compress());
        let last = compressed.len() - 1;
        compressed[last] ^= 1;
        assert_eq!(
            StatusList::decompress(8, &compressed, 1 << 20).err(),
            Some(StatusListError::BadEncoding)
        );
        let good = ok(list.compress());
        assert!(StatusList::decompress(8, &good[..good.len() - 3], 1 << 20).is_err());
        let mut trailing = good.clone();
        trailing.push(0);
        assert!(StatusList::decompress(8, &trailing, 1 << 20).is_err());
        // Raw DEFLATE without the ZLIB header is not a valid lst.
        assert!(StatusList::decompress(8, &good[2..], 1 << 20).is_err());
        assert!(StatusList::decode_lst(8, "not base64!", 1 << 20).is_err());
        assert!(StatusList::decode_lst(8, "eNrbuRgAAhcBXQ==", 1 << 20).is_err());
    }

    #[test]
    fn status_types() {
        assert_eq!(StatusType::from_value(0), StatusType::Valid);
        assert_eq!(StatusType::from_value(1), StatusType::Invalid);
        assert_eq!(StatusType::from_value(2), StatusType::Suspended);
        assert_eq!(StatusType::from_value(3), StatusType::Other(3));
        assert_eq!(StatusType::Suspended.value(), 2);
        assert_eq!(StatusType::Invalid.to_string(), "INVALID");
        assert_eq!(StatusType::Other(12).to_string(), "0x0C");
    }

    #[test]
    fn references() {
        let reference = StatusListReference {
            idx: 0,
            uri: "https://example.com/statuslists/1".into(),
        };
        let claim = reference.to_status_claim();
        assert_eq!(
            claim,
            serde_json::json!({"status_list": {"idx": 0, "uri": "https://example.com/statuslists/1"}})
        );
        assert_eq!(
            ok(StatusListReference::from_status_claim(&claim)),
            Some(reference)
        );
        assert_eq!(
            ok(StatusListReference::from_status_claim(
                &serde_json::json!({"other": {}})
            )),
            None
        );
        for bad in [
            serde_json::json!("x"),
            serde_json::json!({"status_list": 1}),
            serde_json::json!({"status_list": {"idx": -1, "uri": "https://e"}}),
            serde_json::json!({"status_list": {"idx": 1.5, "uri": "https://e"}}),
            serde_json::json!({"status_list": {"idx": 1}}),
            serde_json::json!({"status_list": {"idx": 1, "uri": ""}}),
        ] {
            assert!(
                StatusListReference::from_status_claim(&bad).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn typ_is_compared_as_a_media_type() {
        assert!(is_status_list_typ("statuslist+jwt"));
        assert!(is_status_list_typ("application/statuslist+jwt"));
        assert!(is_status_list_typ("StatusList+JWT"));
        assert!(!is_status_list_typ("statuslist+cwt"));
        assert!(!is_status_list_typ("JWT"));
    }

    fn chain(now: i64) -> (SoftwareSigner, Vec<Vec<u8>>, Vec<u8>) {
        let validity = Validity {
            not_before: now - 3600,
            not_after: now + 86_400,
        };
        let ca = ok(CertificateAuthority::generate_root("Status CA", validity));
        let signer = ok(SoftwareSigner::generate());
        let leaf = ok(ca.issue_leaf("Status signer", signer.public_jwk(), validity));
        (signer, vec![leaf], ca.cert_der.clone())
    }

    #[tokio::test]
    async fn token_signs_and_verifies() {
        let now = 1_800_000_000;
        let (signer, x5c, _) = chain(now);
        let mut list = ok(StatusList::new(2, 1024));
        ok(list.set(7, StatusType::SUSPENDED));
        let uri = "https://issuer.example/status-lists/a";
        let token = StatusListToken {
            sub: uri.into(),
            iat: now,
            exp: Some(now + 86_400),
            ttl: Some(3600),
            status_list: list.clone(),
            aggregation_uri: Some("https://issuer.example/status-lists".into()),
        };
        let compact = ok(token.sign(&signer, &x5c).await);
        let jws = ok(CompactJws::parse(&compact));
        assert_eq!(jws.header_str("typ"), Some(STATUS_LIST_TYP));
        assert_eq!(jws.x5c().map(|r| r.ok()), Some(Some(x5c.clone())));
        let expect = TokenExpectations {
            uri,
            now,
            skew: 60,
            max_bytes: MAX_STATUS_LIST_BYTES,
        };
        let es256 = AlgorithmAllowList::es256();
        let verified = ok(verify_status_list_token(
            &jws,
            signer.public_jwk(),
            &es256,
            &expect,
        ));
        assert_eq!(verified, token);
        assert_eq!(verified.status_list.status(7), Some(StatusType::Suspended));

        let other = TokenExpectations {
            uri: "https://issuer.example/status-lists/b",
            ..expect
        };
        assert_eq!(
            verify_status_list_token(&jws, signer.public_jwk(), &es256, &other).err(),
            Some(StatusListError::SubjectMismatch)
        );
        let later = TokenExpectations {
            now: now + 86_400 + 61,
            ..expect
        };
        assert_eq!(
            verify_status_list_token(&jws, signer.public_jwk(), &es256, &later).err(),
            Some(StatusListError::Expired)
        );
        let earlier = TokenExpectations {
            now: now - 61,
            ..expect
        };
        assert_eq!(
            verify_status_list_token(&jws, signer.public_jwk(), &es256, &earlier).err(),
            Some(StatusListError::NotYetValid)
        );
        let stranger = ok(SoftwareSigner::generate());
        assert!(matches!(
            verify_status_list_token(&jws, stranger.public_jwk(), &es256, &expect),
            Err(StatusListError::Crypto(_))
        ));
        // Another typ is refused even with a good signature.
        let mut header = Map::new();
        header.insert("typ".into(), Value::String("JWT".into()));
        let payload = ok(serde_json::to_vec(&Value::Object(ok(token.to_claims()))));
        let plain = ok(avow_crypto::jws::sign_compact(&signer, header, &payload).await);
        assert_eq!(
            verify_status_list_token(
                &ok(CompactJws::parse(&plain)),
                signer.public_jwk(),
                &es256,
                &expect
            )
            .err(),
            Some(StatusListError::UnexpectedType)
        );
        // The x5c leaf must certify the signer.
        assert!(token.sign(&stranger, &x5c).await.is_err());
        assert!(token.sign(&signer, &[]).await.is_err());
    }

    #[test]
    fn required_claims() {
        let list = ok(StatusList::new(1, 8));
        let token = StatusListToken {
            sub: "https://e/1".into(),
            iat: 1,
            exp: None,
            ttl: None,
            status_list: list,
            aggregation_uri: None,
        };
        let claims = ok(token.to_claims());
        assert!(!claims.contains_key("exp") && !claims.contains_key("ttl"));
        assert_eq!(ok(StatusListToken::from_claims(&claims, 1024)), token);
        for (member, bad) in [
            ("sub", Value::Null),
            ("iat", Value::String("1".into())),
            ("exp", Value::String("1".into())),
            ("ttl", Value::from(0)),
            ("ttl", Value::from(-5)),
            (
                "status_list",
                serde_json::json!({"bits": 3, "lst": "eNrbuRgAAhcBXQ"}),
            ),
            ("status_list", serde_json::json!({"bits": 1})),
            (
                "status_list",
                serde_json::json!({"bits": 1, "lst": "eNrbuRgAAhcBXQ", "aggregation_uri": 5}),
            ),
        ] {
            let mut broken = claims.clone();
            broken.insert(member.into(), bad);
            assert!(
                StatusListToken::from_claims(&broken, 1024).is_err(),
                "{member}"
            );
        }
        for member in ["sub", "iat", "status_list"] {
            let mut missing = claims.clone();
            missing.remove(member);
            assert!(
                StatusListToken::from_claims(&missing, 1024).is_err(),
                "{member}"
            );
        }
    }

    proptest! {
        #[test]
        fn decoding_never_panics(bits in 0u8..10, bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = StatusList::decompress(bits, &bytes, 4096);
            let _ = StatusList::decode_lst(bits, &b64::encode(&bytes), 4096);
            let text = String::from_utf8_lossy(&bytes).into_owned();
            let _ = StatusList::decode_lst(bits, &text, 4096);
        }

        #[test]
        fn damaged_streams_never_panic(
            flips in proptest::collection::vec((any::<usize>(), 1u8..), 1..6),
            cut in any::<usize>(),
        ) {
            let mut list = ok(StatusList::new(2, 4096));
            for i in [0u64, 17, 999, 4095] {
                ok(list.set(i, StatusType::INVALID));
            }
            let mut compressed = ok(list.compress());
            for (at, mask) in flips {
                let len = compressed.len();
                compressed[at % len] ^= mask;
            }
            let keep = compressed.len() - cut % compressed.len();
            if let Ok(decoded) = StatusList::decompress(2, &compressed[..keep], 1 << 16) {
                prop_assert!(decoded.bytes().len() <= 1 << 16);
            }
        }

        #[test]
        fn json_decoding_never_panics(value in any::<u64>(), text in ".{0,64}") {
            let _ = StatusList::from_json(&serde_json::json!({"bits": value, "lst": text}), 4096);
            let _ = StatusListReference::from_status_claim(&serde_json::json!({"status_list": {"idx": value, "uri": text}}));
        }

        #[test]
        fn set_get_round_trips(
            bits in prop_oneof![Just(1u8), Just(2u8), Just(4u8), Just(8u8)],
            writes in proptest::collection::vec((0u64..300, any::<u8>()), 0..64),
        ) {
            let mut list = ok(StatusList::new(bits, 300));
            let mut model = vec![0u8; 300];
            let mask = u8::try_from((1u16 << bits) - 1).unwrap_or(u8::MAX);
            for (i, v) in writes {
                let v = v & mask;
                ok(list.set(i, v));
                model[i as usize] = v;
            }
            let decoded = ok(StatusList::decode_lst(bits, &ok(list.encode_lst()), 4096));
            for (i, v) in model.iter().enumerate() {
                prop_assert_eq!(decoded.get(i as u64), Some(*v));
            }
        }
    }
}
