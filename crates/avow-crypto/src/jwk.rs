//! EC P-256 public keys as JWK (RFC 7517, RFC 7518 §6.2) and their
//! thumbprints (RFC 7638).

use crate::b64;
use crate::error::CryptoError;
use serde_json::{Map, Value, json};

/// A public EC P-256 key. Private members are refused on input, so a value
/// of this type never carries key material that must stay secret.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EcPublicJwk {
    x: [u8; 32],
    y: [u8; 32],
}

impl EcPublicJwk {
    /// From the SEC1 uncompressed point `0x04 || X || Y`.
    pub fn from_uncompressed(point: &[u8]) -> Result<Self, CryptoError> {
        if point.len() != 65 || point.first() != Some(&0x04) {
            return Err(CryptoError::InvalidKey("not an uncompressed P-256 point"));
        }
        let mut x = [0u8; 32];
        let mut y = [0u8; 32];
        x.copy_from_slice(&point[1..33]);
        y.copy_from_slice(&point[33..65]);
        let key = Self { x, y };
        if !key.is_on_curve() {
            return Err(CryptoError::InvalidKey("the point is not on P-256"));
        }
        Ok(key)
    }

    pub fn uncompressed(&self) -> Vec<u8> {
        let mut p = Vec::with_capacity(65);
        p.push(0x04);
        p.extend_from_slice(&self.x);
        p.extend_from_slice(&self.y);
        p
    }

    pub fn x(&self) -> &[u8; 32] {
        &self.x
    }

    pub fn y(&self) -> &[u8; 32] {
        &self.y
    }

    /// Parses a JWK object: `kty` EC, `crv` P-256, `x`/`y` of 32 bytes, and
    /// no private member `d` (RFC 9449 §4.3, OID4VCI App. F.4).
    pub fn from_json(value: &Value) -> Result<Self, CryptoError> {
        let obj = value
            .as_object()
            .ok_or(CryptoError::InvalidKey("a JWK must be a JSON object"))?;
        if obj.contains_key("d") {
            return Err(CryptoError::InvalidKey("the JWK contains a private key"));
        }
        if obj.get("kty").and_then(Value::as_str) != Some("EC") {
            return Err(CryptoError::InvalidKey("only kty EC is supported"));
        }
        if obj.get("crv").and_then(Value::as_str) != Some("P-256") {
            return Err(CryptoError::InvalidKey("only crv P-256 is supported"));
        }
        let coord = |name: &'static str| -> Result<[u8; 32], CryptoError> {
            let bytes = obj
                .get(name)
                .and_then(Value::as_str)
                .map(b64::decode)
                .transpose()?
                .ok_or(CryptoError::InvalidKey("a coordinate is missing"))?;
            <[u8; 32]>::try_from(bytes.as_slice())
                .map_err(|_| CryptoError::InvalidKey("a coordinate is not 32 bytes"))
        };
        let key = Self {
            x: coord("x")?,
            y: coord("y")?,
        };
        if !key.is_on_curve() {
            return Err(CryptoError::InvalidKey("the point is not on P-256"));
        }
        Ok(key)
    }

    fn is_on_curve(&self) -> bool {
        // aws-lc validates the point when it parses a public key for ECDH.
        aws_lc_rs::agreement::ParsedPublicKey::try_from(
            aws_lc_rs::agreement::UnparsedPublicKey::new(
                &aws_lc_rs::agreement::ECDH_P256,
                self.uncompressed(),
            ),
        )
        .is_ok()
    }

    /// The JWK with only the required members.
    pub fn to_json(&self) -> Value {
        json!({ "kty": "EC", "crv": "P-256", "x": b64::encode(self.x), "y": b64::encode(self.y) })
    }

    /// The JWK with extra members such as `kid`, `use` or `alg`.
    pub fn to_json_with(&self, extra: &[(&str, &str)]) -> Value {
        let mut v = self.to_json();
        if let Some(obj) = v.as_object_mut() {
            for (k, val) in extra {
                obj.insert((*k).to_owned(), Value::String((*val).to_owned()));
            }
        }
        v
    }

    /// RFC 7638 thumbprint, base64url(SHA-256) of the canonical members.
    pub fn thumbprint(&self) -> String {
        // Members in lexicographic order, no whitespace (RFC 7638 §3.2).
        let canonical = format!(
            r#"{{"crv":"P-256","kty":"EC","x":"{}","y":"{}"}}"#,
            b64::encode(self.x),
            b64::encode(self.y)
        );
        crate::hash::sha256_b64(canonical.as_bytes())
    }
}

/// Reads the `jwk` member of a JOSE header, if any.
pub fn header_jwk(header: &Map<String, Value>) -> Option<Result<EcPublicJwk, CryptoError>> {
    header.get("jwk").map(EcPublicJwk::from_json)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 7515 Appendix A.3 key.
    fn rfc_key() -> Value {
        json!({"kty":"EC","crv":"P-256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"})
    }

    #[test]
    fn parses_and_round_trips() {
        let k = EcPublicJwk::from_json(&rfc_key());
        assert!(k.is_ok());
        let k = k.unwrap_or_else(|_| unreachable!());
        assert_eq!(k.to_json(), rfc_key());
        assert_eq!(EcPublicJwk::from_uncompressed(&k.uncompressed()), Ok(k));
    }

    #[test]
    fn refuses_private_and_foreign_keys() {
        let mut with_d = rfc_key();
        with_d["d"] = json!("jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI");
        assert!(EcPublicJwk::from_json(&with_d).is_err());
        let mut p384 = rfc_key();
        p384["crv"] = json!("P-384");
        assert!(EcPublicJwk::from_json(&p384).is_err());
        let mut off_curve = rfc_key();
        off_curve["y"] = json!("x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a1");
        assert!(EcPublicJwk::from_json(&off_curve).is_err());
        assert!(EcPublicJwk::from_json(&json!("x")).is_err());
    }

    #[test]
    fn thumbprint_matches_an_independent_computation() {
        // Computed independently with Python: base64url(sha256(canonical JSON)).
        let k = EcPublicJwk::from_json(&rfc_key()).unwrap_or_else(|_| unreachable!());
        assert_eq!(
            k.thumbprint(),
            "oKIywvGUpTVTyxMQ3bwIIeQUudfr_CkLMjCE19ECD-U"
        );
    }
}
