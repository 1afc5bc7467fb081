//! Which redirect URIs a client may use (RFC 6749 §3.1.2, RFC 8252 §7.3,
//! RFC 9700 §2.1; ISS-PAR-03). Wallets are public clients without
//! registration, so the issuer configures the allowed URIs: exact values, or
//! patterns ending in `*` that match by prefix (for RFC 8252 loopback ports,
//! write `http://127.0.0.1:*`).

/// Whether `uri` is allowed by any of `patterns`.
pub fn is_allowed(uri: &str, patterns: &[String]) -> bool {
    if uri.contains('#') || uri.is_empty() {
        return false;
    }
    patterns.iter().any(|p| match p.strip_suffix('*') {
        Some(prefix) => uri.starts_with(prefix) && !uri[prefix.len()..].contains(['@', '\\']),
        None => uri == p,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_and_prefix() {
        let p = vec![
            "https://wallet.example/cb".to_owned(),
            "http://127.0.0.1:*".to_owned(),
        ];
        assert!(is_allowed("https://wallet.example/cb", &p));
        assert!(!is_allowed("https://wallet.example/cb2", &p));
        assert!(is_allowed("http://127.0.0.1:5555/callback", &p));
        assert!(!is_allowed("http://127.0.0.1:5555@evil.example/", &p));
        assert!(!is_allowed("https://wallet.example/cb#x", &p));
        assert!(!is_allowed("http://127.0.0.2/cb", &p));
    }
}
