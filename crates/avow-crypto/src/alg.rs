//! JWS algorithms and the allow-list every verification goes through
//! (RFC 8725 §3.1, ISS-SEC-03). Only asymmetric algorithms exist in this enum,
//! so `none` and HMAC cannot be allowed by configuration.

use crate::error::CryptoError;
use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JwsAlgorithm {
    /// ECDSA P-256 SHA-256 (RFC 7518 §3.4), HAIP §7's mandatory algorithm.
    Es256,
}

impl JwsAlgorithm {
    pub fn name(self) -> &'static str {
        match self {
            Self::Es256 => "ES256",
        }
    }

    pub fn from_name(name: &str) -> Result<Self, CryptoError> {
        match name {
            "ES256" => Ok(Self::Es256),
            other => Err(CryptoError::AlgorithmNotAllowed(
                other.chars().take(32).collect(),
            )),
        }
    }
}

impl fmt::Display for JwsAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The algorithms a verifier accepts for one purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlgorithmAllowList(Vec<JwsAlgorithm>);

impl AlgorithmAllowList {
    pub fn new(algs: impl IntoIterator<Item = JwsAlgorithm>) -> Self {
        Self(algs.into_iter().collect())
    }

    /// HAIP §7 default: ES256 only.
    pub fn es256() -> Self {
        Self(vec![JwsAlgorithm::Es256])
    }

    /// Resolves a header `alg` against the list.
    pub fn check(&self, name: &str) -> Result<JwsAlgorithm, CryptoError> {
        let alg = JwsAlgorithm::from_name(name)?;
        if self.0.contains(&alg) {
            Ok(alg)
        } else {
            Err(CryptoError::AlgorithmNotAllowed(name.to_owned()))
        }
    }

    pub fn names(&self) -> Vec<String> {
        self.0.iter().map(|a| a.name().to_owned()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn none_and_macs_are_never_allowed() {
        let list = AlgorithmAllowList::es256();
        for bad in ["none", "HS256", "HS512", "RS256", "", "es256"] {
            assert!(list.check(bad).is_err(), "{bad}");
        }
        assert_eq!(list.check("ES256"), Ok(JwsAlgorithm::Es256));
    }
}
