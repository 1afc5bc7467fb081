//! Client authentication material of the wallet: Wallet Instance Attestations
//! (WIA) with their PoP JWTs (ABCA §4, §5.1; HAIP §4.4.1; WAL-ATT-01 … -03),
//! RFC 7523 client assertions (private_key_jwt; WBE-CAS), and a DEVELOPMENT
//! wallet provider that issues WIAs and key attestations (WUA; WBE-WUA)
//! from the development CA an issuer in dev mode generates
//! (`data_dir/dev-pki/wallet-provider-ca.pem` + `.key`).

use crate::client::HttpClient;
use crate::error::WalletError;
use avow_core::client_attestation::{CLIENT_ATTESTATION_POP_TYP, CLIENT_ATTESTATION_TYP};
use avow_core::key_attestation::{
    ATTACK_POTENTIAL_VALUES, ISO_18045_BASIC, KEY_ATTESTATION_TYP, KeyAttestationClaims,
};
use avow_crypto::jws::sign_compact;
use avow_crypto::x509::{CertificateAuthority, Validity};
use avow_crypto::{EcPublicJwk, Random, Signer, SoftwareSigner, SystemRandom, pem};
use serde_json::{Map, Value, json};
use std::path::Path;

/// `iss` of the WIAs the development wallet provider issues.
pub const DEV_WALLET_PROVIDER_ID: &str = "urn:avow:dev-wallet-provider";
/// File names the issuer's dev PKI uses for the development wallet-provider CA.
pub const DEV_CA_CERT_FILE: &str = "wallet-provider-ca.pem";
pub const DEV_CA_KEY_FILE: &str = "wallet-provider-ca.key";

fn encode_claims(claims: &Value) -> Result<Vec<u8>, WalletError> {
    serde_json::to_vec(claims).map_err(|e| WalletError::UnexpectedResponse(e.to_string()))
}

fn header(typ: Option<&str>) -> Map<String, Value> {
    let mut h = Map::new();
    if let Some(typ) = typ {
        h.insert("typ".into(), Value::String(typ.into()));
    }
    h
}

/// DEVELOPMENT wallet provider: a CA and a WIA signing key. Its WIAs carry
/// `x5c` = [WIA signer certificate], issued by the CA (the anchor is left
/// out, HAIP §4.4.1). Never use it for anything but development and tests.
pub struct DevWalletProvider {
    ca: CertificateAuthority,
    signer: SoftwareSigner,
    /// App. D.2 levels its key attestations claim (WBE-WUA-04): the
    /// software key store reaches `iso_18045_basic`, no more.
    key_storage_level: &'static str,
    user_authentication_level: &'static str,
}

impl std::fmt::Debug for DevWalletProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DevWalletProvider").finish_non_exhaustive()
    }
}

impl DevWalletProvider {
    /// Loads the CA from its PEM certificate and PEM (or DER) PKCS#8 key; the
    /// WIA signing key is fresh for this process.
    pub fn load(ca_cert_pem_path: &Path, ca_key_path: &Path) -> Result<Self, WalletError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|e| WalletError::Storage(format!("{}: {e}", p.display())))
        };
        let cert_text = String::from_utf8(read(ca_cert_pem_path)?).map_err(|_| {
            WalletError::Storage(format!("{}: not PEM", ca_cert_pem_path.display()))
        })?;
        let cert_der = avow_crypto::x509::certs_from_pem(&cert_text)?
            .into_iter()
            .next()
            .ok_or_else(|| {
                WalletError::Storage(format!("{}: no certificate", ca_cert_pem_path.display()))
            })?;
        let key_bytes = read(ca_key_path)?;
        let key_der = match std::str::from_utf8(&key_bytes) {
            Ok(text) if text.contains("-----BEGIN") => pem::decode_one("PRIVATE KEY", text)?,
            _ => key_bytes,
        };
        Ok(Self {
            ca: CertificateAuthority::from_der(cert_der, &key_der)?,
            signer: SoftwareSigner::generate()?,
            key_storage_level: ISO_18045_BASIC,
            user_authentication_level: ISO_18045_BASIC,
        })
    }

    /// Loads the CA files from `dir`, or generates them there first (valid from `now`).
    pub fn generate(dir: &Path, now: i64) -> Result<Self, WalletError> {
        let cert = dir.join(DEV_CA_CERT_FILE);
        let key = dir.join(DEV_CA_KEY_FILE);
        if !(cert.exists() && key.exists()) {
            let io =
                |p: &Path, e: std::io::Error| WalletError::Storage(format!("{}: {e}", p.display()));
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
            let ca = CertificateAuthority::generate_root(
                "Avow DEVELOPMENT Wallet Provider CA - NOT FOR PRODUCTION",
                Validity {
                    not_before: now - 3600,
                    not_after: now + 5 * 365 * 86_400,
                },
            )?;
            write_private(&key, &pem::encode("PRIVATE KEY", &ca.key_pkcs8()))
                .map_err(|e| io(&key, e))?;
            std::fs::write(&cert, avow_crypto::x509::cert_pem(&ca.cert_der))
                .map_err(|e| io(&cert, e))?;
        }
        Self::load(&cert, &key)
    }

    /// The CA certificate (DER): the trust anchor an issuer configures.
    pub fn ca_certificate(&self) -> &[u8] {
        &self.ca.cert_der
    }

    /// A WIA (ABCA §4) for `client_id` binding `instance_key`, valid from `now`
    /// for `lifetime` seconds.
    pub async fn issue_wia(
        &self,
        client_id: &str,
        instance_key: &EcPublicJwk,
        now: i64,
        lifetime: i64,
    ) -> Result<String, WalletError> {
        let signer_cert = self.ca.issue_leaf(
            "Avow DEVELOPMENT wallet attestation signer",
            self.signer.public_jwk(),
            Validity {
                not_before: now - 300,
                not_after: now + lifetime + 300,
            },
        )?;
        let mut h = header(Some(CLIENT_ATTESTATION_TYP));
        h.insert(
            "x5c".into(),
            json!([avow_crypto::b64::encode_standard(&signer_cert)]),
        );
        let claims = json!({
            "iss": DEV_WALLET_PROVIDER_ID,
            "sub": client_id,
            "iat": now,
            "exp": now + lifetime,
            "cnf": { "jwk": instance_key.to_json() },
        });
        Ok(sign_compact(&self.signer, h, &encode_claims(&claims)?).await?)
    }
}

// ---------------------------------------------------------------- key attestations (WUA)

/// Lifetime of the development provider's key attestations (WBE-WUA-02: default 1 h).
pub const DEV_WUA_LIFETIME: i64 = 3600;

/// The App. D.2 values a store at `level` may claim: that level and the weaker ones.
fn levels_up_to(level: &str) -> Vec<String> {
    let start = ATTACK_POTENTIAL_VALUES
        .iter()
        .position(|v| *v == level)
        .unwrap_or(ATTACK_POTENTIAL_VALUES.len() - 1);
    ATTACK_POTENTIAL_VALUES[start..]
        .iter()
        .map(|v| (*v).to_owned())
        .collect()
}

/// What to claim for one dimension: the strongest reachable value when the
/// issuer names none, else every reachable value it accepts (none → refused).
fn claim(name: &str, level: &str, accepted: &[String]) -> Result<Vec<String>, WalletError> {
    if accepted.is_empty() {
        return Ok(vec![level.to_owned()]);
    }
    let claimed: Vec<String> = levels_up_to(level)
        .into_iter()
        .filter(|v| accepted.contains(v))
        .collect();
    if claimed.is_empty() {
        return Err(WalletError::Metadata(format!(
            "the issuer accepts {name} {} and this wallet provider attests only {level}",
            accepted.join(", ")
        )));
    }
    Ok(claimed)
}

impl DevWalletProvider {
    /// DEVELOPMENT/TESTS ONLY: claim these App. D.2 levels in key
    /// attestations although the software key store does not reach them.
    pub fn claiming_levels(
        mut self,
        key_storage: &'static str,
        user_authentication: &'static str,
    ) -> Self {
        self.key_storage_level = key_storage;
        self.user_authentication_level = user_authentication;
        self
    }

    /// A key attestation (WUA, OID4VCI App. D.1; WBE-WUA-02 … -06): header
    /// `typ: key-attestation+jwt`, `alg: ES256`, `x5c` = [signer certificate]
    /// (anchor excluded); claims `iss`, `iat`, `exp` (`now + lifetime`),
    /// `attested_keys` in the order given, `key_storage`,
    /// `user_authentication` and the issuer's `nonce`. No user identifier
    /// (WBE-WUA-05). The development provider takes the keys' possession on
    /// trust; a production backend checks a PoP by every key (WBE-WUA-01).
    pub async fn issue_key_attestation(
        &self,
        request: &crate::key_proofs::KeyAttestationRequest,
        lifetime: i64,
    ) -> Result<String, WalletError> {
        let keys = &request.keys;
        if keys.is_empty() || keys.len() > crate::key_proofs::MAX_KEYS_PER_KEY_ATTESTATION {
            return Err(WalletError::Metadata(format!(
                "a key attestation covers 1 to {} keys",
                crate::key_proofs::MAX_KEYS_PER_KEY_ATTESTATION
            )));
        }
        if keys.iter().enumerate().any(|(i, k)| keys[..i].contains(k)) {
            return Err(WalletError::Metadata(
                "a key attestation cannot attest one key twice".into(),
            ));
        }
        let key_storage = claim(
            "key_storage",
            self.key_storage_level,
            &request.accepted.key_storage,
        )?;
        let user_authentication = claim(
            "user_authentication",
            self.user_authentication_level,
            &request.accepted.user_authentication,
        )?;
        let now = request.now;
        let signer_cert = self.ca.issue_leaf(
            "Avow DEVELOPMENT key attestation signer",
            self.signer.public_jwk(),
            Validity {
                not_before: now - 300,
                not_after: now + lifetime + 300,
            },
        )?;
        let mut h = header(Some(KEY_ATTESTATION_TYP));
        h.insert(
            "x5c".into(),
            json!([avow_crypto::b64::encode_standard(&signer_cert)]),
        );
        let claims = KeyAttestationClaims {
            iss: Some(DEV_WALLET_PROVIDER_ID.to_owned()),
            iat: now,
            exp: Some(now + lifetime),
            attested_keys: keys.iter().map(EcPublicJwk::to_json).collect(),
            key_storage: Some(key_storage),
            user_authentication: Some(user_authentication),
            certification: None,
            nonce: request.nonce.clone(),
            status: None,
        };
        let payload = serde_json::to_vec(&claims)
            .map_err(|e| WalletError::UnexpectedResponse(e.to_string()))?;
        Ok(sign_compact(&self.signer, h, &payload).await?)
    }
}

/// Writes a file readable by the owner only.
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    options.open(path)?.write_all(contents.as_bytes())
}

/// What the wallet presents to one Authorization Server: a WIA for an
/// instance key of its own (WAL-ATT-01: one per issuer, never shared).
pub struct ClientAttestation {
    pub client_id: String,
    pub wia: String,
    instance_key: SoftwareSigner,
}

impl std::fmt::Debug for ClientAttestation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientAttestation")
            .field("client_id", &self.client_id)
            .field("instance_key", &self.instance_key)
            .finish_non_exhaustive()
    }
}

impl ClientAttestation {
    pub fn new(
        client_id: impl Into<String>,
        wia: impl Into<String>,
        instance_key: SoftwareSigner,
    ) -> Self {
        Self {
            client_id: client_id.into(),
            wia: wia.into(),
            instance_key,
        }
    }

    /// The public instance key (the WIA's `cnf.jwk`).
    pub fn instance_key(&self) -> &EcPublicJwk {
        self.instance_key.public_jwk()
    }

    /// The private instance key as PKCS#8, to keep (encrypted) with a refresh
    /// token: refreshing needs the same instance (ISS-TRT-02, WAL-TOK-04).
    pub fn instance_key_pkcs8(&self) -> Result<Vec<u8>, WalletError> {
        Ok(self.instance_key.to_pkcs8()?)
    }

    /// A PoP JWT (ABCA §5.1; WAL-ATT-02): `typ` oauth-client-attestation-pop+jwt,
    /// `aud` = the AS issuer identifier, a fresh `jti`, `iat`, and the
    /// server's `challenge` when it gave one.
    pub async fn pop(
        &self,
        audience: &str,
        challenge: Option<&str>,
        now: i64,
    ) -> Result<String, WalletError> {
        let mut claims = json!({ "aud": audience, "jti": SystemRandom.token(16), "iat": now });
        if let Some(challenge) = challenge {
            claims["challenge"] = Value::String(challenge.to_owned());
        }
        Ok(sign_compact(
            &self.instance_key,
            header(Some(CLIENT_ATTESTATION_POP_TYP)),
            &encode_claims(&claims)?,
        )
        .await?)
    }

    /// The two request headers of ABCA §4, §5.1: `OAuth-Client-Attestation`
    /// and `OAuth-Client-Attestation-PoP`.
    pub async fn headers(
        &self,
        audience: &str,
        challenge: Option<&str>,
        now: i64,
    ) -> Result<[(&'static str, String); 2], WalletError> {
        Ok([
            ("OAuth-Client-Attestation", self.wia.clone()),
            (
                "OAuth-Client-Attestation-PoP",
                self.pop(audience, challenge, now).await?,
            ),
        ])
    }
}

/// A challenge from the AS's `challenge_endpoint` (ABCA §6.1; WAL-ATT-03).
pub async fn fetch_challenge(
    client: &HttpClient,
    challenge_endpoint: &str,
) -> Result<String, WalletError> {
    let fetched = client
        .send(
            client
                .post(challenge_endpoint)?
                .header(reqwest::header::ACCEPT, "application/json"),
        )
        .await?;
    if fetched.status != 200 {
        return Err(fetched.error());
    }
    let body: Value = fetched.json()?;
    body.get("attestation_challenge")
        .and_then(Value::as_str)
        .map(str::to_owned)
        .ok_or_else(|| {
            WalletError::UnexpectedResponse(
                "the challenge response has no attestation_challenge".into(),
            )
        })
}

/// The `OAuth-Client-Attestation-Challenge` a response carried, if any (ABCA §6.2).
pub fn challenge_from(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers
        .get(avow_core::client_attestation::ATTESTATION_CHALLENGE_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An RFC 7523 client assertion (private_key_jwt): `iss` = `sub` = `client_id`,
/// `aud` = the AS issuer, a fresh `jti`, `iat`, and `exp` two minutes later.
pub async fn client_assertion(
    signer: &dyn Signer,
    client_id: &str,
    audience: &str,
    now: i64,
) -> Result<String, WalletError> {
    let claims = json!({
        "iss": client_id,
        "sub": client_id,
        "aud": audience,
        "jti": SystemRandom.token(16),
        "iat": now,
        "exp": now + 120,
    });
    Ok(sign_compact(signer, header(Some("JWT")), &encode_claims(&claims)?).await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use avow_core::client_attestation::{ClientAttestationClaims, ClientAttestationPopClaims};
    use avow_crypto::x509::TrustAnchors;
    use avow_crypto::{AlgorithmAllowList, CompactJws};

    const NOW: i64 = 1_800_000_000;

    fn temp_dir() -> std::path::PathBuf {
        std::env::temp_dir().join(format!("avow-wallet-att-{}", uuid::Uuid::new_v4().simple()))
    }

    #[tokio::test]
    async fn wia_validates_to_the_dev_ca_and_binds_the_instance_key() {
        let dir = temp_dir();
        let provider = DevWalletProvider::generate(&dir, NOW).expect("provider");
        let again =
            DevWalletProvider::load(&dir.join(DEV_CA_CERT_FILE), &dir.join(DEV_CA_KEY_FILE))
                .expect("reload");
        assert_eq!(provider.ca_certificate(), again.ca_certificate());
        let instance = SoftwareSigner::generate().expect("key");
        let wia = provider
            .issue_wia("wallet-1", instance.public_jwk(), NOW, 3600)
            .await
            .expect("wia");
        let jws = CompactJws::parse(&wia).expect("jws");
        assert_eq!(jws.header_str("typ"), Some(CLIENT_ATTESTATION_TYP));
        let x5c = jws.x5c().expect("x5c").expect("x5c ders");
        assert_eq!(x5c.len(), 1, "anchor excluded");
        let anchors = TrustAnchors::new([provider.ca_certificate().to_vec()]).expect("anchors");
        let key = anchors.validate_chain(&x5c, NOW).expect("chain");
        jws.verify(&key, &AlgorithmAllowList::es256())
            .expect("signature");
        let claims = ClientAttestationClaims::from_payload(jws.payload()).expect("claims");
        assert_eq!(claims.sub, "wallet-1");
        assert_eq!(claims.validate(NOW, 60, None), Ok(()));
        assert_eq!(
            EcPublicJwk::from_json(&claims.cnf.jwk).ok().as_ref(),
            Some(instance.public_jwk())
        );

        let attestation = ClientAttestation::new("wallet-1", wia, instance);
        let pop = attestation
            .pop("https://as.example", Some("ch"), NOW)
            .await
            .expect("pop");
        let jws = CompactJws::parse(&pop).expect("pop jws");
        assert_eq!(jws.header_str("typ"), Some(CLIENT_ATTESTATION_POP_TYP));
        jws.verify(attestation.instance_key(), &AlgorithmAllowList::es256())
            .expect("pop signature");
        let claims = ClientAttestationPopClaims::from_payload(jws.payload()).expect("pop claims");
        assert_eq!(claims.validate("https://as.example", NOW, 60), Ok(()));
        assert_eq!(claims.challenge.as_deref(), Some("ch"));
        let other = attestation
            .pop("https://as.example", None, NOW)
            .await
            .expect("pop");
        let other = ClientAttestationPopClaims::from_payload(
            CompactJws::parse(&other).expect("jws").payload(),
        )
        .expect("claims");
        assert_ne!(claims.jti, other.jti, "a fresh jti per PoP");
        assert_eq!(other.challenge, None);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn key_attestation_attests_the_keys_in_order_with_the_nonce() {
        use crate::key_proofs::KeyAttestationRequest;
        use avow_core::key_attestation::{ISO_18045_HIGH, KeyAttestationsRequired};
        let dir = temp_dir();
        let provider = DevWalletProvider::generate(&dir, NOW).expect("provider");
        let keys: Vec<EcPublicJwk> = (0..3)
            .map(|_| {
                SoftwareSigner::generate()
                    .expect("key")
                    .public_jwk()
                    .clone()
            })
            .collect();
        let mut request = KeyAttestationRequest {
            keys: keys.clone(),
            accepted: KeyAttestationsRequired::default(),
            nonce: Some("c-nonce".into()),
            now: NOW,
        };
        let wua = provider
            .issue_key_attestation(&request, DEV_WUA_LIFETIME)
            .await
            .expect("wua");
        let jws = CompactJws::parse(&wua).expect("jws");
        assert_eq!(jws.header_str("typ"), Some(KEY_ATTESTATION_TYP));
        assert_eq!(jws.header_str("alg"), Some("ES256"));
        let x5c = jws.x5c().expect("x5c").expect("x5c ders");
        assert_eq!(x5c.len(), 1, "anchor excluded");
        let anchors = TrustAnchors::new([provider.ca_certificate().to_vec()]).expect("anchors");
        let key = anchors.validate_chain(&x5c, NOW).expect("chain");
        jws.verify(&key, &AlgorithmAllowList::es256())
            .expect("signature");
        let claims = KeyAttestationClaims::from_payload(jws.payload()).expect("claims");
        assert_eq!(claims.exp, Some(NOW + DEV_WUA_LIFETIME));
        assert_eq!(claims.nonce.as_deref(), Some("c-nonce"));
        let attested: Vec<EcPublicJwk> = claims
            .attested_keys
            .iter()
            .map(|k| EcPublicJwk::from_json(k).expect("jwk"))
            .collect();
        assert_eq!(attested, keys);
        // WBE-WUA-04: the software store claims iso_18045_basic, no more.
        assert_eq!(claims.key_storage, Some(vec![ISO_18045_BASIC.to_owned()]));
        request.accepted.key_storage = vec![ISO_18045_HIGH.into()];
        assert!(
            provider
                .issue_key_attestation(&request, DEV_WUA_LIFETIME)
                .await
                .is_err()
        );
        let pretending = provider.claiming_levels(ISO_18045_HIGH, ISO_18045_HIGH);
        let wua = pretending
            .issue_key_attestation(&request, DEV_WUA_LIFETIME)
            .await
            .expect("wua");
        let claims =
            KeyAttestationClaims::from_payload(CompactJws::parse(&wua).expect("jws").payload())
                .expect("claims");
        assert_eq!(claims.key_storage, Some(vec![ISO_18045_HIGH.to_owned()]));
        request.keys.push(keys[0].clone());
        assert!(
            pretending
                .issue_key_attestation(&request, DEV_WUA_LIFETIME)
                .await
                .is_err(),
            "no key twice"
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[tokio::test]
    async fn client_assertion_claims() {
        let key = SoftwareSigner::generate().expect("key");
        let jwt = client_assertion(&key, "client-1", "https://as.example", NOW)
            .await
            .expect("assertion");
        let jws = CompactJws::parse(&jwt).expect("jws");
        jws.verify(key.public_jwk(), &AlgorithmAllowList::es256())
            .expect("signature");
        let claims: Value = serde_json::from_slice(jws.payload()).expect("json");
        assert_eq!(claims["iss"], "client-1");
        assert_eq!(claims["sub"], "client-1");
        assert_eq!(claims["aud"], "https://as.example");
        assert_eq!(claims["exp"], NOW + 120);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty()));
    }
}
