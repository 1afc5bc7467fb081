//! Injected randomness: production uses the system CSPRNG, tests may seed.

/// A source of random bytes.
pub trait Random: Send + Sync {
    fn fill(&self, buf: &mut [u8]);

    /// A base64url string of `bytes` random bytes (e.g. 32 for a 256-bit code).
    fn token(&self, bytes: usize) -> String {
        let mut buf = vec![0u8; bytes];
        self.fill(&mut buf);
        crate::b64::encode(&buf)
    }

    /// A decimal string of `digits` digits, uniformly distributed (for transaction codes).
    fn digits(&self, digits: usize) -> String {
        let mut out = String::with_capacity(digits);
        while out.len() < digits {
            let mut b = [0u8; 1];
            self.fill(&mut b);
            // Rejection sampling keeps the digits uniform.
            if b[0] < 250 {
                out.push(char::from(b'0' + b[0] % 10));
            }
        }
        out
    }
}

/// The operating system CSPRNG through aws-lc-rs.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemRandom;

impl Random for SystemRandom {
    fn fill(&self, buf: &mut [u8]) {
        use aws_lc_rs::rand::SecureRandom;
        // aws-lc's RNG does not fail on supported platforms; a failure here
        // would leave zeros, so abort rather than continue with weak values.
        if aws_lc_rs::rand::SystemRandom::new().fill(buf).is_err() {
            std::process::abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_distinct_and_sized() {
        let r = SystemRandom;
        let a = r.token(32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, r.token(32));
        let d = r.digits(6);
        assert_eq!(d.len(), 6);
        assert!(d.bytes().all(|b| b.is_ascii_digit()));
    }
}
