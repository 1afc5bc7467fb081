//! Server-minted nonces that any instance can verify without a lookup: DPoP
//! nonces (RFC 9449 §8) and `c_nonce` values (OID4VCI §7).
//!
//! A nonce is `base64url(purpose-tagged issue time || HMAC-SHA256 truncated)`
//! under a key shared through the store. Verification needs no state; where a
//! nonce must be single-use (`c_nonce`), the caller records its consumption
//! in the store until it expires.

use crate::b64;
use crate::random::Random;
use aws_lc_rs::hmac;

/// The purposes are domain-separated so a DPoP nonce is never a `c_nonce`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoncePurpose {
    Dpop,
    CNonce,
    /// Attestation challenges (draft-ietf-oauth-attestation-based-client-auth §6).
    AttestationChallenge,
}

impl NoncePurpose {
    fn tag(self) -> u8 {
        match self {
            Self::Dpop => 1,
            Self::CNonce => 2,
            Self::AttestationChallenge => 3,
        }
    }
}

const MAC_LEN: usize = 16;
const SALT_LEN: usize = 8;

pub struct ServerNonces {
    key: hmac::Key,
}

impl std::fmt::Debug for ServerNonces {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerNonces")
    }
}

impl ServerNonces {
    /// `secret` is the shared key (at least 32 bytes) from the store.
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// A fresh nonce issued at `now`; the random salt makes each one unpredictable.
    pub fn mint(&self, purpose: NoncePurpose, now: i64, random: &dyn Random) -> String {
        let mut body = Vec::with_capacity(1 + 8 + SALT_LEN + MAC_LEN);
        body.push(purpose.tag());
        body.extend_from_slice(&now.to_be_bytes());
        let mut salt = [0u8; SALT_LEN];
        random.fill(&mut salt);
        body.extend_from_slice(&salt);
        let tag = hmac::sign(&self.key, &body);
        body.extend_from_slice(tag.as_ref().get(..MAC_LEN).unwrap_or_default());
        b64::encode(body)
    }

    /// A truncated keyed tag of `data` in the domain `domain`: lets the
    /// issuer recognise values it derived itself (no time, no salt; the
    /// same input always gives the same tag) without storing them.
    pub fn tag(&self, domain: &[u8], data: &[u8]) -> [u8; MAC_LEN] {
        let mut ctx = hmac::Context::with_key(&self.key);
        ctx.update(
            &u64::try_from(domain.len())
                .unwrap_or(u64::MAX)
                .to_be_bytes(),
        );
        ctx.update(domain);
        ctx.update(data);
        let mut out = [0u8; MAC_LEN];
        if let Some(tag) = ctx.sign().as_ref().get(..MAC_LEN) {
            out.copy_from_slice(tag);
        }
        out
    }

    /// Whether `nonce` was minted by us for `purpose` and is not older than
    /// `lifetime` seconds (nor from the future beyond `skew`). Returns its issue time.
    pub fn verify(
        &self,
        purpose: NoncePurpose,
        nonce: &str,
        now: i64,
        lifetime: i64,
        skew: i64,
    ) -> Option<i64> {
        let raw = b64::decode(nonce).ok()?;
        if raw.len() != 1 + 8 + SALT_LEN + MAC_LEN || raw.first() != Some(&purpose.tag()) {
            return None;
        }
        let (body, mac) = raw.split_at(1 + 8 + SALT_LEN);
        let expected = hmac::sign(&self.key, body);
        if !crate::hash::constant_time_eq(expected.as_ref().get(..MAC_LEN)?, mac) {
            return None;
        }
        let issued = i64::from_be_bytes(body.get(1..9)?.try_into().ok()?);
        (issued <= now + skew && now - issued <= lifetime).then_some(issued)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::random::SystemRandom;

    #[test]
    fn tags_are_stable_keyed_and_domain_separated() {
        let n = ServerNonces::new(&[1u8; 32]);
        assert_eq!(n.tag(b"a", b"x"), n.tag(b"a", b"x"));
        assert_ne!(n.tag(b"a", b"x"), n.tag(b"b", b"x"));
        assert_ne!(
            n.tag(b"a", b"bx"),
            n.tag(b"ab", b"x"),
            "the domain is length-prefixed"
        );
        assert_ne!(
            n.tag(b"a", b"x"),
            ServerNonces::new(&[2u8; 32]).tag(b"a", b"x")
        );
    }

    #[test]
    fn mint_and_verify() {
        let n = ServerNonces::new(&[1u8; 32]);
        let nonce = n.mint(NoncePurpose::Dpop, 1000, &SystemRandom);
        assert_eq!(
            n.verify(NoncePurpose::Dpop, &nonce, 1000, 300, 5),
            Some(1000)
        );
        assert_eq!(n.verify(NoncePurpose::Dpop, &nonce, 1301, 300, 5), None);
        assert_eq!(n.verify(NoncePurpose::Dpop, &nonce, 990, 300, 5), None);
        assert_eq!(n.verify(NoncePurpose::CNonce, &nonce, 1000, 300, 5), None);
        assert_eq!(
            ServerNonces::new(&[2u8; 32]).verify(NoncePurpose::Dpop, &nonce, 1000, 300, 5),
            None
        );
        assert_ne!(nonce, n.mint(NoncePurpose::Dpop, 1000, &SystemRandom));
        assert_eq!(n.verify(NoncePurpose::Dpop, "garbage", 1000, 300, 5), None);
    }
}
