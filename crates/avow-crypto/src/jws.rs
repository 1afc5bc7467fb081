//! JWS Compact Serialization (RFC 7515 §3.1, §5).

use crate::alg::{AlgorithmAllowList, JwsAlgorithm};
use crate::b64;
use crate::error::CryptoError;
use crate::jwk::EcPublicJwk;
use crate::signer::{Signer, verify_es256};
use serde_json::{Map, Value};

/// Signs `payload` with `signer`; `alg` is set from the signer and any `alg`
/// in `header` is replaced, so a header can never claim another algorithm.
pub async fn sign_compact(
    signer: &dyn Signer,
    mut header: Map<String, Value>,
    payload: &[u8],
) -> Result<String, CryptoError> {
    header.insert(
        "alg".into(),
        Value::String(signer.algorithm().name().into()),
    );
    let header_json = serde_json::to_vec(&header).map_err(|_| CryptoError::SigningFailed)?;
    let signing_input = format!("{}.{}", b64::encode(header_json), b64::encode(payload));
    let signature = signer.sign(signing_input.as_bytes()).await?;
    Ok(format!("{signing_input}.{}", b64::encode(signature)))
}

/// A parsed, not yet verified, compact JWS.
#[derive(Debug, Clone)]
pub struct CompactJws {
    header: Map<String, Value>,
    payload: Vec<u8>,
    signing_input_len: usize,
    compact: String,
    signature: Vec<u8>,
}

/// Upper bound on a compact JWS we are willing to parse (a credential with a
/// certificate chain fits easily; anything larger is abuse).
pub const MAX_JWS_LEN: usize = 256 * 1024;

impl CompactJws {
    pub fn parse(compact: &str) -> Result<Self, CryptoError> {
        if compact.len() > MAX_JWS_LEN {
            return Err(CryptoError::MalformedJws("too large"));
        }
        let mut parts = compact.split('.');
        let (Some(h), Some(p), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(CryptoError::MalformedJws("not three parts"));
        };
        let header: Value = serde_json::from_slice(&b64::decode(h)?)
            .map_err(|_| CryptoError::MalformedJws("header is not JSON"))?;
        let Value::Object(header) = header else {
            return Err(CryptoError::MalformedJws("header is not a JSON object"));
        };
        if header.contains_key("crit") {
            // RFC 7515 §4.1.11: we understand no extension, so any crit fails.
            return Err(CryptoError::MalformedJws("unsupported crit header"));
        }
        Ok(Self {
            header,
            payload: b64::decode(p)?,
            signing_input_len: h.len() + 1 + p.len(),
            compact: compact.to_owned(),
            signature: b64::decode(s)?,
        })
    }

    pub fn header(&self) -> &Map<String, Value> {
        &self.header
    }

    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header.get(name).and_then(Value::as_str)
    }

    /// The payload bytes. Only trust them after [`Self::verify`].
    pub fn payload(&self) -> &[u8] {
        &self.payload
    }

    pub fn signing_input(&self) -> &[u8] {
        self.compact
            .as_bytes()
            .get(..self.signing_input_len)
            .unwrap_or_default()
    }

    /// The header `alg`, checked against the allow-list.
    pub fn algorithm(&self, allowed: &AlgorithmAllowList) -> Result<JwsAlgorithm, CryptoError> {
        let name = self
            .header_str("alg")
            .ok_or(CryptoError::MalformedJws("alg is missing"))?;
        allowed.check(name)
    }

    /// Verifies the signature with `key` under the allow-list.
    pub fn verify(
        &self,
        key: &EcPublicJwk,
        allowed: &AlgorithmAllowList,
    ) -> Result<(), CryptoError> {
        match self.algorithm(allowed)? {
            JwsAlgorithm::Es256 => verify_es256(key, self.signing_input(), &self.signature),
        }
    }

    /// The `x5c` header as DER certificates (RFC 7515 §4.1.6), if present.
    pub fn x5c(&self) -> Option<Result<Vec<Vec<u8>>, CryptoError>> {
        let list = self.header.get("x5c")?;
        Some(
            list.as_array()
                .filter(|a| !a.is_empty())
                .ok_or(CryptoError::MalformedJws("x5c must be a non-empty array"))
                .and_then(|a| {
                    a.iter()
                        .map(|c| {
                            c.as_str()
                                .ok_or(CryptoError::MalformedJws("x5c entries must be strings"))
                        })
                        .map(|c| c.and_then(b64::decode_standard))
                        .collect()
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signer::SoftwareSigner;
    use serde_json::json;

    fn header(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn sign_then_verify() {
        let signer = SoftwareSigner::generate().unwrap_or_else(|_| unreachable!());
        let jws = sign_compact(
            &signer,
            header(json!({"typ":"x","alg":"none"})),
            b"{\"a\":1}",
        )
        .await
        .unwrap_or_default();
        let parsed = CompactJws::parse(&jws).unwrap_or_else(|_| unreachable!());
        assert_eq!(parsed.header_str("alg"), Some("ES256"));
        assert_eq!(parsed.payload(), b"{\"a\":1}");
        assert_eq!(
            parsed.verify(signer.public_jwk(), &AlgorithmAllowList::es256()),
            Ok(())
        );
        let other = SoftwareSigner::generate().unwrap_or_else(|_| unreachable!());
        assert_eq!(
            parsed.verify(other.public_jwk(), &AlgorithmAllowList::es256()),
            Err(CryptoError::BadSignature)
        );
    }

    #[test]
    fn rfc7515_a3_es256_example_verifies() {
        // RFC 7515 Appendix A.3: an ES256 JWS made by an independent implementation.
        let jws = "eyJhbGciOiJFUzI1NiJ9.eyJpc3MiOiJqb2UiLA0KICJleHAiOjEzMDA4MTkzODAsDQogImh0dHA6Ly9leGFtcGxlLmNvbS9pc19yb290Ijp0cnVlfQ.DtEhU3ljbEg8L38VWAfUAqOyKAM6-Xx-F4GawxaepmXFCgfTjDxw5djxLa8ISlSApmWQxfKTUJqPP3-Kg6NU1Q";
        let key = EcPublicJwk::from_json(&json!({"kty":"EC","crv":"P-256",
            "x":"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
            "y":"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"}))
        .unwrap_or_else(|_| unreachable!());
        let parsed = CompactJws::parse(jws).unwrap_or_else(|_| unreachable!());
        assert_eq!(parsed.verify(&key, &AlgorithmAllowList::es256()), Ok(()));
    }

    #[test]
    fn alg_none_and_hs256_are_refused() {
        // {"alg":"none"} and {"alg":"HS256"} headers.
        for h in ["eyJhbGciOiJub25lIn0", "eyJhbGciOiJIUzI1NiJ9"] {
            let parsed =
                CompactJws::parse(&format!("{h}.e30.AAAA")).unwrap_or_else(|_| unreachable!());
            let key = SoftwareSigner::generate().unwrap_or_else(|_| unreachable!());
            assert!(matches!(
                parsed.verify(key.public_jwk(), &AlgorithmAllowList::es256()),
                Err(CryptoError::AlgorithmNotAllowed(_))
            ));
        }
    }

    #[test]
    fn malformed_inputs_are_errors() {
        for bad in [
            "",
            "a",
            "a.b",
            "a.b.c.d",
            "!!.e30.AA",
            "e30.!!.AA",
            "WzFd.e30.AA",
        ] {
            assert!(CompactJws::parse(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics(s in ".*") {
            let _ = CompactJws::parse(&s);
        }
    }
}
