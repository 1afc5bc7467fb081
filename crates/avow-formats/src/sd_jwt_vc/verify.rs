//! SD-JWT VC verification by the holder (SD-JWT VC §2.4; RFC 9901 §7.1,
//! §7.2; WAL-VAL-01, WAL-VAL-03).

use super::{LEGACY_SD_JWT_VC_TYP, NEVER_DISCLOSABLE, SD_JWT_VC_TYP};
use crate::error::FormatError;
use crate::sd_jwt::{Disclosure, MAX_DEPTH, SdJwt};
use avow_crypto::{AlgorithmAllowList, EcPublicJwk};
use serde_json::{Map, Value};
use std::fmt;

/// A verified SD-JWT VC. `Debug` leaves out claims and Disclosures.
#[derive(Clone)]
pub struct VerifiedSdJwtVc {
    /// The protected JOSE header of the Issuer-signed JWT.
    pub header: Map<String, Value>,
    /// The Processed SD-JWT Payload (RFC 9901 §7.1).
    pub claims: Map<String, Value>,
    pub vct: String,
    pub iss: String,
    /// `cnf.jwk`, if the credential is bound to a JWK.
    pub holder_key: Option<EcPublicJwk>,
    /// The Disclosures as received, for storage and later presentation.
    pub disclosures: Vec<Disclosure>,
}

impl fmt::Debug for VerifiedSdJwtVc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifiedSdJwtVc")
            .field("vct", &self.vct)
            .field("iss", &self.iss)
            .field(
                "holder_key",
                &self.holder_key.as_ref().map(|k| k.thumbprint()),
            )
            .field("claims", &self.claims.len())
            .field("disclosures", &self.disclosures.len())
            .finish()
    }
}

impl VerifiedSdJwtVc {
    /// Whether the credential is of type `vct`: its `vct` or one of its
    /// `aka_vcts` (SD-JWT VC §2.2.2.2; WAL-VAL-03).
    pub fn is_of_type(&self, vct: &str) -> bool {
        self.vct == vct
            || self
                .claims
                .get("aka_vcts")
                .and_then(Value::as_array)
                .is_some_and(|a| a.iter().any(|v| v.as_str() == Some(vct)))
    }
}

/// Verifies an SD-JWT VC received from an issuer:
///
/// 1. parses it; a KB-JWT is refused, the issuer sends an SD-JWT (RFC 9901
///    §7.2; WAL-VAL-01);
/// 2. `typ` is `dc+sd-jwt` (`vc+sd-jwt` only with `accept_legacy_typ`,
///    C-01), compared as a media type (RFC 7515 §4.1.9);
/// 3. the signature verifies with `issuer_key` under `allowed` (RFC 9901
///    §7.1 step 2); resolving and trusting `issuer_key` is the caller's;
/// 4. Disclosures are processed (RFC 9901 §7.1 step 3 to 5);
/// 5. none of `iss`, `nbf`, `exp`, `cnf`, `vct`, `vct#integrity`, `status`,
///    `aka_vcts` (nor anything inside `cnf` or `status`) came from a
///    Disclosure (SD-JWT VC §2.2.2.3);
/// 6. `iss` and `vct` are non-empty strings; `aka_vcts`, if present, an array
///    of strings; `exp`, `nbf`, `iat`, if present, numbers, with
///    `exp > now - skew`, `nbf <= now + skew`, `iat <= now + skew`;
/// 7. `cnf.jwk`, if present, is a valid P-256 public key.
///
/// Matching `vct`, `iss` and the holder key against the request is the
/// wallet's (WAL-VAL-03).
pub fn verify(
    text: &str,
    issuer_key: &EcPublicJwk,
    allowed: &AlgorithmAllowList,
    now: i64,
    skew: i64,
    accept_legacy_typ: bool,
) -> Result<VerifiedSdJwtVc, FormatError> {
    let sd = SdJwt::parse(text)?;
    if sd.key_binding_jwt().is_some() {
        return Err(FormatError::KeyBindingJwtPresent);
    }
    check_typ(sd.jws().header_str("typ"), accept_legacy_typ)?;
    sd.verify_signature(issuer_key, allowed)?;
    let raw = sd.unverified_payload()?;
    let claims = sd.process()?;
    check_never_disclosed(&raw, &claims)?;
    let iss = non_empty_string(&claims, "iss")?;
    let vct = non_empty_string(&claims, "vct")?;
    if let Some(aka) = claims.get("aka_vcts") {
        let ok = aka
            .as_array()
            .is_some_and(|a| !a.is_empty() && a.iter().all(Value::is_string));
        if !ok {
            return Err(FormatError::InvalidClaim("aka_vcts"));
        }
    }
    check_times(&claims, now, skew.max(0))?;
    let holder_key = holder_key(&claims)?;
    Ok(VerifiedSdJwtVc {
        header: sd.jws().header().clone(),
        claims,
        vct,
        iss,
        holder_key,
        disclosures: sd.disclosures().to_vec(),
    })
}

/// `typ` as a media type: case-insensitive, `application/` optional (RFC 7515 §4.1.9).
fn check_typ(typ: Option<&str>, accept_legacy: bool) -> Result<(), FormatError> {
    let typ = typ.ok_or(FormatError::UnexpectedType)?.to_ascii_lowercase();
    let typ = typ.strip_prefix("application/").unwrap_or(&typ);
    if typ == SD_JWT_VC_TYP || (accept_legacy && typ == LEGACY_SD_JWT_VC_TYP) {
        Ok(())
    } else {
        Err(FormatError::UnexpectedType)
    }
}

/// SD-JWT VC §2.2.2.3: these claims, "including any of their sub-claims",
/// must not be in Disclosures. Processing refuses name clashes, so a claim
/// in the processed payload that is not in the raw one came from a
/// Disclosure.
fn check_never_disclosed(
    raw: &Map<String, Value>,
    processed: &Map<String, Value>,
) -> Result<(), FormatError> {
    for name in NEVER_DISCLOSABLE {
        if processed.contains_key(name) && !raw.contains_key(name) {
            return Err(FormatError::DisclosableRegisteredClaim(name));
        }
    }
    for name in ["cnf", "status"] {
        if raw.get(name).is_some_and(|v| holds_digests(v, 0)) {
            return Err(FormatError::DisclosableRegisteredClaim(name));
        }
    }
    Ok(())
}

/// Whether `value` embeds digests (`_sd` or `{"...": …}`); too deep counts as yes.
fn holds_digests(value: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return true;
    }
    match value {
        Value::Object(o) => {
            o.contains_key("_sd")
                || o.contains_key("...")
                || o.values().any(|v| holds_digests(v, depth + 1))
        }
        Value::Array(a) => a.iter().any(|v| holds_digests(v, depth + 1)),
        _ => false,
    }
}

fn non_empty_string(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<String, FormatError> {
    match claims.get(name) {
        Some(Value::String(s)) if !s.is_empty() => Ok(s.clone()),
        _ => Err(FormatError::InvalidClaim(name)),
    }
}

/// A NumericDate (RFC 7519 §2), fractions truncated toward the past.
fn numeric_date(
    claims: &Map<String, Value>,
    name: &'static str,
) -> Result<Option<i64>, FormatError> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match (n.as_i64(), n.as_f64()) {
            (Some(i), _) => Ok(Some(i)),
            // `as` saturates, which is what a huge date should do.
            (None, Some(f)) if f.is_finite() => Ok(Some(f.floor() as i64)),
            _ => Err(FormatError::InvalidClaim(name)),
        },
        Some(_) => Err(FormatError::InvalidClaim(name)),
    }
}

/// RFC 9901 §7.1 step 6 with RFC 7519 §4.1.4 to §4.1.6.
pub(crate) fn check_times(
    claims: &Map<String, Value>,
    now: i64,
    skew: i64,
) -> Result<(), FormatError> {
    if let Some(exp) = numeric_date(claims, "exp")?
        && now.saturating_sub(skew) >= exp
    {
        return Err(FormatError::Expired);
    }
    if let Some(nbf) = numeric_date(claims, "nbf")?
        && now.saturating_add(skew) < nbf
    {
        return Err(FormatError::NotYetValid);
    }
    if let Some(iat) = numeric_date(claims, "iat")?
        && iat > now.saturating_add(skew)
    {
        return Err(FormatError::IssuedInFuture);
    }
    Ok(())
}

/// `cnf.jwk` (RFC 7800 §3.2); other confirmation methods yield `None`.
pub(crate) fn holder_key(claims: &Map<String, Value>) -> Result<Option<EcPublicJwk>, FormatError> {
    let Some(cnf) = claims.get("cnf") else {
        return Ok(None);
    };
    let Value::Object(cnf) = cnf else {
        return Err(FormatError::InvalidClaim("cnf"));
    };
    cnf.get("jwk")
        .map(|jwk| EcPublicJwk::from_json(jwk).map_err(|_| FormatError::InvalidClaim("cnf")))
        .transpose()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sd_jwt::test_support::{
        CountingRandom, OID4VCI_SD_JWT_VC, obj, oid4vci_processed, p, rfc9901_issuer_key,
    };
    use crate::sd_jwt_vc::{IssuerKeyHeader, SdJwtVcClaims, issue};
    use avow_crypto::{Signer, SoftwareSigner, b64};
    use serde_json::json;

    const NOW: i64 = 1_700_000_000;

    fn must<T>(r: Result<T, FormatError>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    fn signer() -> SoftwareSigner {
        must(SoftwareSigner::generate().map_err(FormatError::from))
    }

    fn claims(holder: &SoftwareSigner) -> SdJwtVcClaims {
        SdJwtVcClaims {
            iss: "https://issuer.example".into(),
            iat: NOW,
            exp: NOW + 86_400,
            nbf: Some(NOW),
            vct: "urn:eudi:pid:1".into(),
            holder_key: Some(holder.public_jwk().clone()),
            status: Some(json!({"status_list": {"idx": 7, "uri": "https://issuer.example/sl/1"}})),
            subject_claims: obj(json!({
                "given_name": "Erika",
                "family_name": "Mustermann",
                "address": {"street_address": "Heidestraße 17", "locality": "Köln"},
                "nationalities": ["DE", "FR"],
                "age_equal_or_over": {"18": true, "65": false}
            })),
        }
    }

    fn paths() -> Vec<crate::ClaimPath> {
        vec![
            p(json!(["given_name"])),
            p(json!(["family_name"])),
            p(json!(["address"])),
            p(json!(["address", "street_address"])),
            p(json!(["nationalities", null])),
            p(json!(["age_equal_or_over", "18"])),
            p(json!(["age_equal_or_over", "65"])),
        ]
    }

    async fn issued(
        issuer: &SoftwareSigner,
        holder: &SoftwareSigner,
        kh: &IssuerKeyHeader,
    ) -> String {
        must(
            issue(
                issuer,
                kh,
                &claims(holder),
                &paths(),
                2,
                &CountingRandom::default(),
            )
            .await,
        )
    }

    async fn issue_with(
        issuer: &SoftwareSigner,
        kh: IssuerKeyHeader,
        c: &SdJwtVcClaims,
    ) -> Result<String, FormatError> {
        issue(issuer, &kh, c, &[], 0, &CountingRandom::default()).await
    }

    fn check(text: &str, key: &EcPublicJwk) -> Result<VerifiedSdJwtVc, FormatError> {
        verify(text, key, &AlgorithmAllowList::es256(), NOW, 60, false)
    }

    #[test]
    fn oid4vci_example_verifies() {
        let v = must(verify(
            OID4VCI_SD_JWT_VC,
            &rfc9901_issuer_key(),
            &AlgorithmAllowList::es256(),
            NOW,
            0,
            false,
        ));
        assert_eq!(v.claims, oid4vci_processed());
        assert_eq!(v.iss, "https://example.com/issuer");
        assert_eq!(v.vct, "https://credentials.example.com/identity_credential");
        assert!(v.is_of_type("https://credentials.example.com/identity_credential"));
        assert!(!v.is_of_type("urn:other"));
        assert_eq!(v.disclosures.len(), 9);
        assert_eq!(v.header.get("kid"), Some(&json!("doc-signer-05-25-2022")));
        let holder = v.holder_key.as_ref().map(|k| k.to_json());
        assert_eq!(
            holder,
            Some(json!({"kty": "EC", "crv": "P-256",
                "x": "TCAER19Zvu3OHF4j4W4vfSVoHIP1ILilDls7vCeGemc",
                "y": "ZxjiWWbZMQGHVWKVQ4hbSIirsVfuecCE6t4jT9F2HZQ"}))
        );
        // exp = 1883000000.
        assert_eq!(
            verify(
                OID4VCI_SD_JWT_VC,
                &rfc9901_issuer_key(),
                &AlgorithmAllowList::es256(),
                1_883_000_000,
                0,
                false
            )
            .err(),
            Some(FormatError::Expired)
        );
        let dbg = format!("{v:?}");
        assert!(!dbg.contains("John") && !dbg.contains("1940"));
    }

    #[tokio::test]
    async fn issue_then_verify_round_trip() {
        let (issuer, holder) = (signer(), signer());
        let text = issued(&issuer, &holder, &IssuerKeyHeader::Jwk).await;
        // ISS-SDJWT-01: compact, ends in `~`, no KB-JWT.
        assert!(text.ends_with('~') && !text.starts_with('{'));
        let v = must(check(&text, issuer.public_jwk()));
        let mut expected = claims(&holder).subject_claims;
        expected.insert("iss".into(), json!("https://issuer.example"));
        expected.insert("iat".into(), json!(NOW));
        expected.insert("nbf".into(), json!(NOW));
        expected.insert("exp".into(), json!(NOW + 86_400));
        expected.insert("vct".into(), json!("urn:eudi:pid:1"));
        expected.insert("cnf".into(), json!({"jwk": holder.public_jwk().to_json()}));
        expected.insert(
            "status".into(),
            json!({"status_list": {"idx": 7, "uri": "https://issuer.example/sl/1"}}),
        );
        assert_eq!(v.claims, expected);
        assert_eq!(v.holder_key.as_ref(), Some(holder.public_jwk()));
        assert_eq!(v.header.get("typ"), Some(&json!("dc+sd-jwt")));
        assert_eq!(v.header.get("alg"), Some(&json!("ES256")));
        assert_eq!(v.header.get("jwk"), Some(&issuer.public_jwk().to_json()));
        assert_eq!(v.disclosures.len(), 8);

        // ISS-SDJWT-03/-04: registered claims are plain in the signed payload.
        let raw = must(must(SdJwt::parse(&text)).unverified_payload());
        for name in ["iss", "iat", "nbf", "exp", "vct", "cnf", "status"] {
            assert!(raw.contains_key(name), "{name}");
        }
        assert_eq!(raw.get("_sd_alg"), Some(&json!("sha-256")));
        // 3 top-level SD claims + 2 decoys.
        assert_eq!(
            raw.get("_sd").and_then(Value::as_array).map(Vec::len),
            Some(5)
        );

        // Removing Disclosures hides claims but keeps the credential valid.
        let sd = must(SdJwt::parse(&text));
        let keep: Vec<String> = sd
            .disclosures()
            .iter()
            .filter(|d| d.name() == Some("address") || d.name() == Some("18"))
            .map(Disclosure::digest)
            .collect();
        let keep: Vec<&str> = keep.iter().map(String::as_str).collect();
        let shown = must(sd.select(&keep)).to_compact();
        let v = must(check(&shown, issuer.public_jwk()));
        assert!(v.claims.get("given_name").is_none());
        assert_eq!(v.claims.get("address"), Some(&json!({"locality": "Köln"})));
        assert_eq!(v.claims.get("nationalities"), Some(&json!([])));
        assert_eq!(
            v.claims.get("age_equal_or_over"),
            Some(&json!({"18": true}))
        );
    }

    #[tokio::test]
    async fn key_headers() {
        let (issuer, holder) = (signer(), signer());
        let text = issued(&issuer, &holder, &IssuerKeyHeader::Kid("key-1".into())).await;
        let sd = must(peek(&text));
        assert_eq!(sd.jws().header_str("kid"), Some("key-1"));
        assert!(sd.jws().header().get("jwk").is_none());
        let c = claims(&holder);
        let empty_kid = issue_with(&issuer, IssuerKeyHeader::Kid(String::new()), &c).await;
        assert!(matches!(empty_kid, Err(FormatError::KeyHeader(_))));
        let empty_chain = issue_with(&issuer, IssuerKeyHeader::X5c(vec![]), &c).await;
        assert!(matches!(empty_chain, Err(FormatError::KeyHeader(_))));
        let junk_chain = issue_with(&issuer, IssuerKeyHeader::X5c(vec![vec![1, 2]]), &c).await;
        assert!(junk_chain.is_err());
    }

    #[tokio::test]
    async fn x5c_header_carries_the_chain() {
        use avow_crypto::x509::{CertificateAuthority, Validity};
        let validity = Validity {
            not_before: NOW - 10,
            not_after: NOW + 1_000_000,
        };
        let ca = CertificateAuthority::generate_root("Test Root", validity);
        let Ok(ca) = ca else { panic!("root") };
        let issuer = signer();
        let leaf = ca.issue_leaf("Issuer", issuer.public_jwk(), validity);
        let Ok(leaf) = leaf else { panic!("leaf") };
        let holder = signer();
        let text = issued(&issuer, &holder, &IssuerKeyHeader::X5c(vec![leaf.clone()])).await;
        let sd = must(peek(&text));
        let x5c = sd.jws().x5c().map(|r| r.map_err(FormatError::from));
        assert_eq!(x5c.map(must), Some(vec![leaf.clone()]));
        assert!(check(&text, issuer.public_jwk()).is_ok());
        // A leaf for another key is refused.
        let other = signer();
        let c = claims(&holder);
        let wrong = issue_with(&other, IssuerKeyHeader::X5c(vec![leaf]), &c).await;
        assert!(matches!(wrong, Err(FormatError::KeyHeader(_))));
    }

    #[tokio::test]
    async fn issuance_input_is_checked() {
        let (issuer, holder) = (signer(), signer());
        let r = CountingRandom::default();
        let kh = IssuerKeyHeader::Jwk;
        for reserved in ["iss", "iat", "exp", "nbf", "vct", "cnf", "status"] {
            let mut c = claims(&holder);
            c.subject_claims.insert(reserved.into(), json!("x"));
            assert_eq!(
                issue(&issuer, &kh, &c, &[], 0, &r).await.err(),
                Some(FormatError::ReservedSubjectClaim(reserved))
            );
        }
        let mut c = claims(&holder);
        c.subject_claims.insert("_sd".into(), json!([]));
        assert_eq!(
            issue(&issuer, &kh, &c, &[], 0, &r).await.err(),
            Some(FormatError::ReservedClaimName("_sd"))
        );
        // `vct#integrity` may be carried, but never disclosable.
        let mut c = claims(&holder);
        c.subject_claims
            .insert("vct#integrity".into(), json!("sha256-abc"));
        assert!(issue(&issuer, &kh, &c, &[], 0, &r).await.is_ok());
        for name in ["iss", "iat", "exp", "vct#integrity", "status", "cnf"] {
            assert_eq!(
                issue(&issuer, &kh, &c, &[p(json!([name]))], 0, &r)
                    .await
                    .err(),
                Some(FormatError::DisclosableRegisteredClaim(name))
            );
        }
        assert_eq!(
            issue(&issuer, &kh, &c, &[p(json!(["cnf", "jwk"]))], 0, &r)
                .await
                .err(),
            Some(FormatError::DisclosableRegisteredClaim("cnf"))
        );
        let mut c = claims(&holder);
        c.exp = c.iat;
        assert!(issue(&issuer, &kh, &c, &[], 0, &r).await.is_err());
        let mut c = claims(&holder);
        c.status = Some(json!("x"));
        assert!(issue(&issuer, &kh, &c, &[], 0, &r).await.is_err());
        let mut c = claims(&holder);
        c.vct = String::new();
        assert!(issue(&issuer, &kh, &c, &[], 0, &r).await.is_err());
    }

    #[tokio::test]
    async fn no_disclosable_claims_means_no_sd() {
        // SD-JWT VC §2.2.2.5, ISS-SDJWT-09.
        let (issuer, holder) = (signer(), signer());
        let mut c = claims(&holder);
        c.holder_key = None;
        c.status = None;
        c.nbf = None;
        let text = must(
            issue(
                &issuer,
                &IssuerKeyHeader::Jwk,
                &c,
                &[],
                3,
                &CountingRandom::default(),
            )
            .await,
        );
        assert_eq!(text.matches('~').count(), 1);
        assert!(text.ends_with('~'));
        let raw = must(must(SdJwt::parse(&text)).unverified_payload());
        assert!(!raw.contains_key("_sd") && !raw.contains_key("_sd_alg"));
        let v = must(check(&text, issuer.public_jwk()));
        assert_eq!(v.holder_key, None);
        assert!(v.disclosures.is_empty());
    }

    #[tokio::test]
    async fn wallet_refusals() {
        let (issuer, holder) = (signer(), signer());
        let text = issued(&issuer, &holder, &IssuerKeyHeader::Jwk).await;
        // WAL-VAL-01: an SD-JWT+KB from the issuer.
        let with_kb = format!("{text}e30.e30.AA");
        assert_eq!(
            check(&with_kb, issuer.public_jwk()).err(),
            Some(FormatError::KeyBindingJwtPresent)
        );
        // Bad signature.
        assert!(matches!(
            check(&text, holder.public_jwk()),
            Err(FormatError::Crypto(_))
        ));
        // Expired, not yet valid (nbf = iat = NOW), skew honoured.
        let al = AlgorithmAllowList::es256();
        let key = issuer.public_jwk();
        assert_eq!(
            verify(&text, key, &al, NOW + 86_400, 0, false).err(),
            Some(FormatError::Expired)
        );
        assert!(verify(&text, key, &al, NOW + 86_399, 0, false).is_ok());
        assert!(verify(&text, key, &al, NOW + 86_400 + 30, 60, false).is_ok());
        assert_eq!(
            verify(&text, key, &al, NOW - 100, 0, false).err(),
            Some(FormatError::NotYetValid)
        );
        assert!(verify(&text, key, &al, NOW - 30, 60, false).is_ok());
    }

    /// Signs an arbitrary payload with an arbitrary header, for negative tests.
    async fn forge(
        issuer: &SoftwareSigner,
        header: Value,
        payload: Value,
        disclosures: &[Disclosure],
    ) -> String {
        let jws =
            avow_crypto::jws::sign_compact(issuer, obj(header), payload.to_string().as_bytes())
                .await
                .unwrap_or_default();
        let mut out = format!("{jws}~");
        for d in disclosures {
            out.push_str(d.encoded());
            out.push('~');
        }
        out
    }

    #[tokio::test]
    async fn typ_is_checked() {
        let issuer = signer();
        let payload = json!({"iss": "https://i", "vct": "urn:x", "iat": NOW, "exp": NOW + 10});
        let key = issuer.public_jwk();
        for (typ, strict, legacy) in [
            (json!("dc+sd-jwt"), true, true),
            (json!("application/DC+SD-JWT"), true, true),
            (json!("vc+sd-jwt"), false, true),
            (json!("JWT"), false, false),
            (json!(1), false, false),
            (Value::Null, false, false),
        ] {
            let header = if typ.is_null() {
                json!({})
            } else {
                json!({"typ": typ})
            };
            let text = forge(&issuer, header, payload.clone(), &[]).await;
            let al = AlgorithmAllowList::es256();
            assert_eq!(
                verify(&text, key, &al, NOW, 0, false).is_ok(),
                strict,
                "{typ}"
            );
            assert_eq!(
                verify(&text, key, &al, NOW, 0, true).is_ok(),
                legacy,
                "{typ}"
            );
            if !strict {
                assert_eq!(
                    verify(&text, key, &al, NOW, 0, false).err(),
                    Some(FormatError::UnexpectedType)
                );
            }
        }
    }

    #[tokio::test]
    async fn registered_claims_must_be_plain_and_well_formed() {
        let issuer = signer();
        let key = issuer.public_jwk();
        let h = json!({"typ": "dc+sd-jwt"});
        let base = json!({"iss": "https://i", "vct": "urn:x", "iat": NOW, "exp": NOW + 10});
        // A disclosable `exp` or `vct`.
        for name in ["exp", "vct", "iss", "status", "aka_vcts"] {
            let mut payload = obj(base.clone());
            let value = payload.remove(name).unwrap_or(json!(["urn:y"]));
            let d = must(Disclosure::new_property("salt", name, value));
            payload.insert("_sd".into(), json!([d.digest()]));
            let text = forge(&issuer, h.clone(), Value::Object(payload), &[d]).await;
            assert_eq!(
                check(&text, key).err(),
                Some(FormatError::DisclosableRegisteredClaim(name)),
                "{name}"
            );
        }
        // A disclosable member inside `cnf`.
        let d = must(Disclosure::new_property("salt", "jwk", json!({})));
        let mut payload = obj(base.clone());
        payload.insert("cnf".into(), json!({"_sd": [d.digest()]}));
        let text = forge(&issuer, h.clone(), Value::Object(payload), &[d]).await;
        assert_eq!(
            check(&text, key).err(),
            Some(FormatError::DisclosableRegisteredClaim("cnf"))
        );
        // Missing or malformed iss/vct/times/cnf/aka_vcts.
        for (name, value, expected) in [
            ("iss", Value::Null, FormatError::InvalidClaim("iss")),
            ("vct", json!(""), FormatError::InvalidClaim("vct")),
            ("exp", json!("soon"), FormatError::InvalidClaim("exp")),
            ("iat", json!(NOW + 1000), FormatError::IssuedInFuture),
            (
                "cnf",
                json!({"jwk": {"kty": "RSA"}}),
                FormatError::InvalidClaim("cnf"),
            ),
            ("cnf", json!("x"), FormatError::InvalidClaim("cnf")),
            ("aka_vcts", json!([]), FormatError::InvalidClaim("aka_vcts")),
            (
                "aka_vcts",
                json!([1]),
                FormatError::InvalidClaim("aka_vcts"),
            ),
        ] {
            let mut payload = obj(base.clone());
            if value.is_null() {
                payload.remove(name);
            } else {
                payload.insert(name.into(), value);
            }
            let text = forge(&issuer, h.clone(), Value::Object(payload), &[]).await;
            assert_eq!(check(&text, key).err(), Some(expected), "{name}");
        }
        // Fractional dates and another confirmation method are fine.
        let mut payload = obj(base.clone());
        payload.insert("exp".into(), json!(NOW as f64 + 10.5));
        payload.insert("cnf".into(), json!({"kid": "k"}));
        payload.insert("aka_vcts".into(), json!(["urn:general"]));
        let text = forge(&issuer, h.clone(), Value::Object(payload), &[]).await;
        let v = must(check(&text, key));
        assert_eq!(v.holder_key, None);
        assert!(v.is_of_type("urn:general") && v.is_of_type("urn:x"));
        // `_sd_alg` other than sha-256, and a `_sd` claim name in a Disclosure.
        let mut payload = obj(base.clone());
        payload.insert("_sd_alg".into(), json!("sha-512"));
        let text = forge(&issuer, h.clone(), Value::Object(payload), &[]).await;
        assert_eq!(
            check(&text, key).err(),
            Some(FormatError::UnsupportedHashAlgorithm)
        );
        let reserved = b64::encode(r#"["salt","_sd",[]]"#);
        let text = forge(&issuer, h.clone(), base.clone(), &[]).await;
        assert_eq!(
            check(&format!("{text}{reserved}~"), key).err(),
            Some(FormatError::ReservedClaimName("_sd"))
        );
    }

    use crate::sd_jwt_vc::peek;
}
