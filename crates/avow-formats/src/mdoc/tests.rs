use super::*;
use crate::sd_jwt::test_support::CountingRandom;
use avow_crypto::x509::{CertificateAuthority, TrustAnchors, Validity, leaf_public_key};
use avow_crypto::{CryptoError, Signer, SoftwareSigner, b64};
use cbor::{TAG_ENCODED_CBOR, decode, encode, tag24, text};
use proptest::prelude::*;
use serde_json::json;

/// A real `IssuerSigned` from an OpenID4VCI `mso_mdoc` Credential Response
/// of the EUDI reference PID issuer, as published in the README of the
/// GitHub repository mfragkoulis/eudi-web-wallet-mock (the OpenID4VCI 1.0
/// A.2 example, `omppc3N1ZXJBdXRohEOhASahG...ArQwggKwMIICVqADAgEC`, is
/// elided in the spec and so cannot serve): docType
/// `eu.europa.ec.eudi.pid.1`, eight elements, signed 2024-10-03 by
/// "PID DS - 0002" (x5chain: that leaf alone), valid until 2025-01-01.
const EUDI_PID: &str = include_str!("testdata/eudi_pid_issuer_signed.b64");
const EUDI_SIGNED: i64 = 1_727_982_786; // 2024-10-03T19:13:06Z
const EUDI_UNTIL: i64 = 1_735_689_600; // 2025-01-01T00:00:00Z
const PID: &str = "eu.europa.ec.eudi.pid.1";

const NOW: i64 = 1_800_000_000;
const YEAR: i64 = 365 * 86_400;
const MDL: &str = "org.iso.18013.5.1.mDL";
const MDL_NS: &str = "org.iso.18013.5.1";

fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

fn eudi() -> ParsedMdoc {
    ok(parse(EUDI_PID.trim()))
}

fn eudi_key(p: &ParsedMdoc) -> EcPublicJwk {
    ok(leaf_public_key(&p.x5chain()[0]))
}

#[test]
fn eudi_vector_parses_and_verifies_with_its_x5chain_key() {
    let parsed = eudi();
    assert_eq!(parsed.doctype(), PID);
    assert_eq!(parsed.x5chain().len(), 1);
    let key = eudi_key(&parsed);
    let v = ok(verify(&parsed, &key, EUDI_SIGNED + 30 * 86_400, 60));
    assert_eq!(v.doctype, PID);
    assert_eq!(
        (v.signed, v.valid_from, v.valid_until),
        (EUDI_SIGNED, EUDI_SIGNED, EUDI_UNTIL)
    );
    assert_eq!(v.status, None);
    assert_eq!(v.device_key.x()[..4], [0xe3, 0xde, 0xa2, 0x20]);
    let ns = &v.namespaces[PID];
    assert_eq!(ns.len(), 8);
    assert_eq!(ns["family_name"], json!("F"));
    assert_eq!(ns["given_name"], json!("M"));
    assert_eq!(ns["birth_date"], json!("2024-10-03"));
    assert_eq!(ns["issuing_country"], json!("FC"));
    assert_eq!(ns["issuing_authority"], json!("Test PID issuer"));
    assert_eq!(ns["age_over_18"], json!(false));
    let v = ok(v.require_doctype(PID));
    assert_eq!(
        v.require_doctype(MDL).err(),
        Some(FormatError::UnexpectedDocType)
    );
}

#[test]
fn eudi_vector_validity_window_is_enforced() {
    let parsed = eudi();
    let key = eudi_key(&parsed);
    assert!(verify(&parsed, &key, EUDI_UNTIL, 0).is_ok());
    assert_eq!(
        verify(&parsed, &key, EUDI_UNTIL + 61, 60).err(),
        Some(FormatError::Expired)
    );
    assert!(verify(&parsed, &key, EUDI_UNTIL + 59, 60).is_ok());
    assert_eq!(
        verify(&parsed, &key, EUDI_SIGNED - 61, 60).err(),
        Some(FormatError::NotYetValid)
    );
    // Padding, as some issuers send it, is tolerated.
    let padded = format!(
        "{}{}",
        EUDI_PID.trim(),
        "=".repeat((4 - EUDI_PID.trim().len() % 4) % 4)
    );
    assert!(parse(&padded).is_ok());
}

#[test]
fn eudi_vector_with_a_changed_value_or_another_key_fails() {
    let parsed = eudi();
    let key = eudi_key(&parsed);
    // "issuing_country": "FC" becomes "FD" inside its IssuerSignedItemBytes;
    // the MSO and its signature are untouched.
    let mut bytes = ok(b64::decode(EUDI_PID.trim()));
    let needle = b"elementValuebFC";
    let at = bytes
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("FC not found"));
    bytes[at + needle.len() - 1] = b'D';
    let tampered = ok(parse(&b64::encode(&bytes)));
    assert_eq!(
        verify(&tampered, &key, EUDI_SIGNED, 60).err(),
        Some(FormatError::MdocDigest("an item does not match its digest"))
    );
    let other = ok(SoftwareSigner::generate());
    assert_eq!(
        verify(&parsed, other.public_jwk(), EUDI_SIGNED, 60).err(),
        Some(FormatError::Crypto(CryptoError::BadSignature))
    );
}

// ---------------------------------------------------------------------------
// Round trip with a test IACA.

struct Pki {
    ca: CertificateAuthority,
    ds: SoftwareSigner,
    leaf: Vec<u8>,
    holder: SoftwareSigner,
}

fn pki() -> Pki {
    let validity = Validity {
        not_before: NOW - YEAR,
        not_after: NOW + YEAR,
    };
    let ca = ok(CertificateAuthority::generate_root("Test IACA", validity));
    let ds = ok(SoftwareSigner::generate());
    let leaf = ok(ca.issue_leaf("Test DS", ds.public_jwk(), validity));
    let holder = ok(SoftwareSigner::generate());
    Pki {
        ca,
        ds,
        leaf,
        holder,
    }
}

fn mdl_content(holder: &EcPublicJwk) -> MdocContent {
    let claims = json!({
        "family_name": "Mustermann",
        "given_name": "Erika",
        "birth_date": "1964-08-12",
        "issue_date": "2024-01-01",
        "expiry_date": "2034-01-01",
        "age_over_18": true,
        "age_birth_year": 1964,
        "portrait": "AQIDBA",
        "driving_privileges": [
            {"vehicle_category_code": "B", "issue_date": "2020-05-01", "expiry_date": "2030-05-01"}
        ]
    });
    let elements = claims
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), ok(element_from_json(k, v))))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    MdocContent {
        doctype: MDL.to_owned(),
        namespaces: BTreeMap::from([
            (MDL_NS.to_owned(), elements),
            (
                "org.iso.18013.5.1.aamva".to_owned(),
                vec![("organ_donor".to_owned(), CborValue::Bool(true))],
            ),
        ]),
        device_key: holder.clone(),
        signed: NOW - 60,
        valid_from: NOW - 60,
        valid_until: NOW + YEAR,
        status: Some(StatusReference {
            idx: 412,
            uri: "https://issuer.example/statuslists/1".to_owned(),
        }),
    }
}

fn issue_now(pki: &Pki, content: &MdocContent) -> String {
    let rt = ok(tokio::runtime::Builder::new_current_thread().build());
    ok(rt.block_on(issue(
        &pki.ds,
        std::slice::from_ref(&pki.leaf),
        content,
        &avow_crypto::SystemRandom,
    )))
}

/// What a wallet does: parse, validate x5chain to the IACA, verify, match.
fn wallet_verify(pki: &Pki, credential: &str, now: i64) -> Result<VerifiedMdoc, FormatError> {
    let parsed = parse(credential)?;
    let anchors = TrustAnchors::new([pki.ca.cert_der.clone()])?;
    let key = anchors.validate_chain(parsed.x5chain(), now)?;
    verify(&parsed, &key, now, 60)?
        .require_doctype(MDL)?
        .require_device_key(pki.holder.public_jwk())
}

#[test]
fn issue_parse_verify_round_trip() {
    let pki = pki();
    let content = mdl_content(pki.holder.public_jwk());
    let credential = issue_now(&pki, &content);
    assert!(!credential.contains('='));
    let v = ok(wallet_verify(&pki, &credential, NOW));
    assert_eq!(v.doctype, MDL);
    assert_eq!(&v.device_key, pki.holder.public_jwk());
    assert_eq!(
        (v.signed, v.valid_from, v.valid_until),
        (NOW - 60, NOW - 60, NOW + YEAR)
    );
    assert_eq!(v.status, content.status);
    let ns = &v.namespaces[MDL_NS];
    assert_eq!(ns.len(), 9);
    assert_eq!(ns["family_name"], json!("Mustermann"));
    assert_eq!(ns["birth_date"], json!("1964-08-12"));
    assert_eq!(ns["age_birth_year"], json!(1964));
    assert_eq!(ns["portrait"], json!("AQIDBA"));
    assert_eq!(
        ns["driving_privileges"],
        json!([{"vehicle_category_code": "B", "issue_date": "2020-05-01", "expiry_date": "2030-05-01"}])
    );
    assert_eq!(
        v.namespaces["org.iso.18013.5.1.aamva"]["organ_donor"],
        json!(true)
    );
    let other = ok(SoftwareSigner::generate());
    assert_eq!(
        v.clone().require_device_key(other.public_jwk()).err(),
        Some(FormatError::DeviceKeyMismatch)
    );
}

fn field<'a>(v: &'a CborValue, key: &str) -> &'a CborValue {
    match v {
        CborValue::Map(m) => m
            .iter()
            .find(|(k, _)| *k == text(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key}")),
        _ => panic!("not a map"),
    }
}

fn field_mut<'a>(v: &'a mut CborValue, key: &str) -> &'a mut CborValue {
    match v {
        CborValue::Map(m) => m
            .iter_mut()
            .find(|(k, _)| *k == text(key))
            .map(|(_, v)| v)
            .unwrap_or_else(|| panic!("no {key}")),
        _ => panic!("not a map"),
    }
}

fn untag(v: &CborValue) -> CborValue {
    ok(cbor::embedded(v, "tag 24"))
}

fn top(credential: &str) -> CborValue {
    ok(decode(&ok(b64::decode(credential))))
}

fn to_b64(v: &CborValue) -> String {
    b64::encode(ok(encode(v)))
}

#[test]
fn issued_structure_follows_iso_18013_5() {
    let pki = pki();
    let content = mdl_content(pki.holder.public_jwk());
    let t = top(&issue_now(&pki, &content));
    let CborValue::Array(ia) = field(&t, "issuerAuth") else {
        panic!("issuerAuth is not an untagged COSE_Sign1")
    };
    assert_eq!(ia.len(), 4);
    // Protected {1: -7}, unprotected {33: leaf DER}.
    assert_eq!(ia[0], CborValue::Bytes(vec![0xa1, 0x01, 0x26]));
    assert_eq!(
        ia[1],
        CborValue::Map(vec![(
            CborValue::Integer(33.into()),
            CborValue::Bytes(pki.leaf.clone())
        )])
    );
    let CborValue::Bytes(payload) = &ia[2] else {
        panic!("no payload")
    };
    let mso = untag(&ok(decode(payload)));
    assert_eq!(field(&mso, "version"), &text("1.0"));
    assert_eq!(field(&mso, "digestAlgorithm"), &text("SHA-256"));
    assert_eq!(field(&mso, "docType"), &text(MDL));
    assert_eq!(
        field(field(&mso, "validityInfo"), "validFrom"),
        &CborValue::Tag(0, Box::new(text("2027-01-15T07:59:00Z")))
    );
    assert_eq!(
        field(&mso, "status"),
        &CborValue::Map(vec![(
            text("status_list"),
            CborValue::Map(vec![
                (text("idx"), CborValue::Integer(412.into())),
                (text("uri"), text("https://issuer.example/statuslists/1")),
            ])
        )])
    );
    // deviceKey is an EC2 P-256 COSE_Key {1: 2, -1: 1, -2: x, -3: y}.
    let dk = field(field(&mso, "deviceKeyInfo"), "deviceKey");
    let CborValue::Map(dk) = dk else {
        panic!("deviceKey")
    };
    assert_eq!(
        dk[0],
        (CborValue::Integer(1.into()), CborValue::Integer(2.into()))
    );
    assert_eq!(
        dk[1],
        (
            CborValue::Integer((-1).into()),
            CborValue::Integer(1.into())
        )
    );
    assert_eq!(
        dk[2].1,
        CborValue::Bytes(pki.holder.public_jwk().x().to_vec())
    );
    // Items: tag 24, random of 32 bytes, digestIDs a permutation of 0..n,
    // the digest over the tag-24 bytes.
    let CborValue::Array(items) = field(field(&t, "nameSpaces"), MDL_NS) else {
        panic!("nameSpaces")
    };
    let digests = field(field(&mso, "valueDigests"), MDL_NS);
    let mut ids = Vec::new();
    for tagged in items {
        assert!(matches!(tagged, CborValue::Tag(TAG_ENCODED_CBOR, _)));
        let item = untag(tagged);
        let CborValue::Bytes(r) = field(&item, "random") else {
            panic!("random")
        };
        assert_eq!(r.len(), RANDOM_LEN);
        let id = field(&item, "digestID").clone();
        let digest = avow_crypto::hash::sha256(&ok(encode(tagged)));
        let CborValue::Map(d) = digests else {
            panic!("digests")
        };
        assert!(d.contains(&(id.clone(), CborValue::Bytes(digest.to_vec()))));
        ids.push(id);
    }
    let mut sorted: Vec<u64> = ids.iter().map(|i| ok(cbor::as_uint(i, "id"))).collect();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..items.len() as u64).collect::<Vec<_>>());
    // The element "birth_date" is a full-date (tag 1004).
    let birth = items
        .iter()
        .map(untag)
        .find(|i| field(i, "elementIdentifier") == &text("birth_date"))
        .unwrap_or_else(|| panic!("birth_date"));
    assert_eq!(
        field(&birth, "elementValue"),
        &CborValue::Tag(TAG_FULL_DATE, Box::new(text("1964-08-12")))
    );
}

#[test]
fn x5chain_with_intermediates_is_an_array_and_read_back() {
    let pki = pki();
    let content = mdl_content(pki.holder.public_jwk());
    let chain = vec![pki.leaf.clone(), vec![0x30, 0x00]];
    let rt = ok(tokio::runtime::Builder::new_current_thread().build());
    let credential = ok(rt.block_on(issue(&pki.ds, &chain, &content, &CountingRandom::default())));
    let parsed = ok(parse(&credential));
    assert_eq!(parsed.x5chain(), chain.as_slice());
    assert!(verify(&parsed, pki.ds.public_jwk(), NOW, 60).is_ok());
}

/// Rebuilds `issuerAuth` with an edited MSO and protected header, signed
/// again by `signer` over a Sig_structure built here (RFC 9052 §4.4), so
/// that only the edit differs.
fn resign(
    credential: &str,
    signer: &SoftwareSigner,
    protected: CborValue,
    edit: impl FnOnce(&mut CborValue),
) -> String {
    let mut t = top(credential);
    let ia = field_mut(&mut t, "issuerAuth");
    let CborValue::Array(parts) = ia else {
        panic!("issuerAuth")
    };
    let CborValue::Bytes(payload) = &parts[2] else {
        panic!("payload")
    };
    let mut mso = untag(&ok(decode(payload)));
    edit(&mut mso);
    let payload = ok(encode(&tag24(ok(encode(&mso)))));
    let protected = ok(encode(&protected));
    let tbs = ok(encode(&CborValue::Array(vec![
        text("Signature1"),
        CborValue::Bytes(protected.clone()),
        CborValue::Bytes(vec![]),
        CborValue::Bytes(payload.clone()),
    ])));
    let sig = ok(signer.sign_now(&tbs));
    parts[0] = CborValue::Bytes(protected);
    parts[2] = CborValue::Bytes(payload);
    parts[3] = CborValue::Bytes(sig);
    to_b64(&t)
}

fn es256() -> CborValue {
    CborValue::Map(vec![(
        CborValue::Integer(1.into()),
        CborValue::Integer((-7).into()),
    )])
}

#[test]
fn resigning_unchanged_still_verifies() {
    let pki = pki();
    let credential = issue_now(&pki, &mdl_content(pki.holder.public_jwk()));
    let same = resign(&credential, &pki.ds, es256(), |_| {});
    assert!(wallet_verify(&pki, &same, NOW).is_ok());
}

#[test]
fn tampered_mdocs_are_refused() {
    let pki = pki();
    let credential = issue_now(&pki, &mdl_content(pki.holder.public_jwk()));

    // An element value changed (the MSO is intact).
    let mut t = top(&credential);
    let ns = field_mut(field_mut(&mut t, "nameSpaces"), MDL_NS);
    let CborValue::Array(items) = ns else {
        panic!("items")
    };
    let i = items
        .iter()
        .position(|it| field(&untag(it), "elementIdentifier") == &text("family_name"))
        .unwrap_or_else(|| panic!("family_name"));
    let mut item = untag(&items[i]);
    *field_mut(&mut item, "elementValue") = text("Musterfrau");
    items[i] = tag24(ok(encode(&item)));
    // Also a duplicate of an intact item, used below.
    let duplicate = {
        let mut t2 = top(&credential);
        if let CborValue::Array(items) = field_mut(field_mut(&mut t2, "nameSpaces"), MDL_NS) {
            let first = items[0].clone();
            items.push(first);
        }
        to_b64(&t2)
    };
    assert_eq!(
        wallet_verify(&pki, &to_b64(&t), NOW).err(),
        Some(FormatError::MdocDigest("an item does not match its digest"))
    );
    assert_eq!(
        wallet_verify(&pki, &duplicate, NOW).err(),
        Some(FormatError::MdocDigest("a digestID is used twice"))
    );

    // The digest of an element removed from the MSO (signature valid).
    let missing = resign(&credential, &pki.ds, es256(), |mso| {
        if let CborValue::Map(d) = field_mut(field_mut(mso, "valueDigests"), MDL_NS) {
            d.pop();
        }
    });
    assert_eq!(
        wallet_verify(&pki, &missing, NOW).err(),
        Some(FormatError::MdocDigest("a digestID is not in valueDigests"))
    );
    // A whole namespace missing from valueDigests.
    let no_ns = resign(&credential, &pki.ds, es256(), |mso| {
        if let CborValue::Map(d) = field_mut(mso, "valueDigests") {
            d.retain(|(k, _)| *k != text(MDL_NS));
        }
    });
    assert_eq!(
        wallet_verify(&pki, &no_ns, NOW).err(),
        Some(FormatError::MdocDigest("a namespace has no valueDigests"))
    );

    // Another docType than the configuration's.
    let other_type = resign(&credential, &pki.ds, es256(), |mso| {
        *field_mut(mso, "docType") = text("org.example.other");
    });
    assert_eq!(
        wallet_verify(&pki, &other_type, NOW).err(),
        Some(FormatError::UnexpectedDocType)
    );

    // Expired and not yet valid.
    assert_eq!(
        wallet_verify(&pki, &credential, NOW + YEAR - 1).map(|_| ()),
        Ok(())
    );
    let rt = ok(tokio::runtime::Builder::new_current_thread().build());
    let mut short = mdl_content(pki.holder.public_jwk());
    short.valid_until = NOW + 3600;
    let short = ok(rt.block_on(issue(
        &pki.ds,
        std::slice::from_ref(&pki.leaf),
        &short,
        &CountingRandom::default(),
    )));
    assert_eq!(
        wallet_verify(&pki, &short, NOW + 7200).err(),
        Some(FormatError::Expired)
    );
    assert_eq!(
        wallet_verify(&pki, &credential, NOW - 3600).err(),
        Some(FormatError::NotYetValid)
    );

    // Signed by another key than the x5chain leaf's.
    let other = ok(SoftwareSigner::generate());
    let forged = resign(&credential, &other, es256(), |_| {});
    assert_eq!(
        wallet_verify(&pki, &forged, NOW).err(),
        Some(FormatError::Crypto(CryptoError::BadSignature))
    );
    // The MSO changed without signing again.
    let mut t = top(&credential);
    if let CborValue::Array(parts) = field_mut(&mut t, "issuerAuth") {
        let forged_payload = top(&resign(&credential, &pki.ds, es256(), |mso| {
            *field_mut(mso, "docType") = text(MDL);
            *field_mut(field_mut(mso, "validityInfo"), "validUntil") =
                ok(cbor::tdate(NOW + 10 * YEAR));
        }));
        if let CborValue::Array(fp) = field(&forged_payload, "issuerAuth") {
            parts[2] = fp[2].clone();
        }
    }
    assert_eq!(
        wallet_verify(&pki, &to_b64(&t), NOW).err(),
        Some(FormatError::Crypto(CryptoError::BadSignature))
    );

    // alg other than -7 (ES384 here), or alg only in the unprotected bucket.
    let es384 = CborValue::Map(vec![(
        CborValue::Integer(1.into()),
        CborValue::Integer((-35).into()),
    )]);
    let other_alg = resign(&credential, &pki.ds, es384, |_| {});
    assert_eq!(
        wallet_verify(&pki, &other_alg, NOW).err(),
        Some(FormatError::Crypto(CryptoError::AlgorithmNotAllowed(
            "-35".into()
        )))
    );
    let no_alg = resign(&credential, &pki.ds, CborValue::Map(vec![]), |_| {});
    assert_eq!(
        wallet_verify(&pki, &no_alg, NOW).err(),
        Some(FormatError::MalformedMdoc(
            "issuerAuth has no protected alg"
        ))
    );

    // digestAlgorithm other than SHA-256.
    let sha384 = resign(&credential, &pki.ds, es256(), |mso| {
        *field_mut(mso, "digestAlgorithm") = text("SHA-384");
    });
    assert_eq!(
        wallet_verify(&pki, &sha384, NOW).err(),
        Some(FormatError::UnsupportedDigestAlgorithm)
    );

    // A chain from another IACA does not validate.
    let stranger = pki_with_holder(&pki);
    let foreign = issue_now(&stranger, &mdl_content(pki.holder.public_jwk()));
    assert!(matches!(
        wallet_verify(&pki, &foreign, NOW),
        Err(FormatError::Crypto(CryptoError::Certificate(_)))
    ));
}

fn pki_with_holder(p: &Pki) -> Pki {
    let mut other = pki();
    other.holder = ok(SoftwareSigner::from_pkcs8(&ok(p.holder.to_pkcs8())));
    other
}

#[test]
fn structural_damage_is_reported_not_panicked() {
    let pki = pki();
    let credential = issue_now(&pki, &mdl_content(pki.holder.public_jwk()));
    type Edit = Box<dyn Fn(&mut CborValue)>;
    let edits: Vec<(&str, Edit)> = vec![
        (
            "no issuerAuth",
            Box::new(|t| {
                if let CborValue::Map(m) = t {
                    m.retain(|(k, _)| *k != text("issuerAuth"));
                }
            }),
        ),
        (
            "issuerAuth tagged 18 still parses",
            Box::new(|t| {
                let ia = field_mut(t, "issuerAuth");
                *ia = CborValue::Tag(18, Box::new(ia.clone()));
            }),
        ),
        (
            "duplicate key",
            Box::new(|t| {
                if let CborValue::Map(m) = t {
                    let first = m[0].clone();
                    m.push(first);
                }
            }),
        ),
        (
            "item not tag 24",
            Box::new(|t| {
                if let CborValue::Array(items) = field_mut(field_mut(t, "nameSpaces"), MDL_NS) {
                    items[0] = untag(&items[0]);
                }
            }),
        ),
        (
            "short random",
            Box::new(|t| {
                if let CborValue::Array(items) = field_mut(field_mut(t, "nameSpaces"), MDL_NS) {
                    let mut item = untag(&items[0]);
                    *field_mut(&mut item, "random") = CborValue::Bytes(vec![0; 15]);
                    items[0] = tag24(ok(encode(&item)));
                }
            }),
        ),
    ];
    for (what, edit) in edits {
        let mut t = top(&credential);
        edit(&mut t);
        let r = parse(&to_b64(&t));
        if what.ends_with("still parses") {
            assert!(r.is_ok(), "{what}");
        } else {
            assert!(
                matches!(r, Err(FormatError::MalformedMdoc(_))),
                "{what}: {r:?}"
            );
        }
    }
    assert_eq!(
        parse("!!").err(),
        Some(FormatError::Crypto(CryptoError::Base64))
    );
    assert!(matches!(
        parse(&"A".repeat(2 * MAX_MDOC_LEN)),
        Err(FormatError::TooLarge(_))
    ));
    // Deep nesting inside an element value.
    let mut deep = json!(1);
    for _ in 0..MAX_DEPTH + 1 {
        deep = json!([deep]);
    }
    assert_eq!(
        json_to_element(&deep).err(),
        Some(FormatError::TooDeep(MAX_DEPTH))
    );
}

#[test]
fn issuance_input_is_checked() {
    let pki = pki();
    let rt = ok(tokio::runtime::Builder::new_current_thread().build());
    let run = |chain: &[Vec<u8>], content: &MdocContent, random: &dyn avow_crypto::Random| {
        rt.block_on(issue(&pki.ds, chain, content, random))
    };
    let leaf = std::slice::from_ref(&pki.leaf);
    let good = mdl_content(pki.holder.public_jwk());
    let rnd = CountingRandom::default();
    assert!(run(leaf, &good, &rnd).is_ok());

    // The leaf must certify the signing key; the chain must not be empty.
    let other = ok(SoftwareSigner::generate());
    let other_leaf = ok(pki.ca.issue_leaf(
        "Other",
        other.public_jwk(),
        Validity {
            not_before: NOW - YEAR,
            not_after: NOW + YEAR,
        },
    ));
    assert!(matches!(
        run(&[other_leaf], &good, &rnd),
        Err(FormatError::KeyHeader(_))
    ));
    assert!(matches!(
        run(&[], &good, &rnd),
        Err(FormatError::KeyHeader(_))
    ));

    let mut c = good.clone();
    c.namespaces.values_mut().for_each(|els| {
        let first = els[0].clone();
        els.push(first);
    });
    assert!(matches!(
        run(leaf, &c, &rnd),
        Err(FormatError::InvalidInput(_))
    ));
    let mut c = good.clone();
    c.valid_from = c.valid_until + 1;
    assert!(matches!(
        run(leaf, &c, &rnd),
        Err(FormatError::InvalidInput(_))
    ));
    let mut c = good.clone();
    c.doctype.clear();
    assert!(matches!(
        run(leaf, &c, &rnd),
        Err(FormatError::InvalidInput(_))
    ));
    let mut c = good.clone();
    c.namespaces.insert("empty".into(), vec![]);
    assert!(matches!(
        run(leaf, &c, &rnd),
        Err(FormatError::InvalidInput(_))
    ));
    let mut c = good;
    c.valid_until = -5;
    c.valid_from = -10;
    c.signed = -10;
    assert!(matches!(
        run(leaf, &c, &rnd),
        Err(FormatError::InvalidInput(_))
    ));

    /// A source that always returns the same bytes.
    struct Stuck;
    impl avow_crypto::Random for Stuck {
        fn fill(&self, buf: &mut [u8]) {
            buf.fill(0xff);
        }
    }
    assert_eq!(
        run(leaf, &mdl_content(pki.holder.public_jwk()), &Stuck).err(),
        Some(FormatError::WeakRandomness)
    );
}

#[test]
fn json_to_element_conversions() {
    let cases = [
        (json!("Erika"), text("Erika")),
        (json!(42), CborValue::Integer(42.into())),
        (json!(-7), CborValue::Integer((-7).into())),
        (json!(u64::MAX), CborValue::Integer(u64::MAX.into())),
        (json!(1.5), CborValue::Float(1.5)),
        (json!(true), CborValue::Bool(true)),
        (json!(null), CborValue::Null),
        // A date string is only a full-date where the name says so.
        (json!("1964-08-12"), text("1964-08-12")),
        (
            json!(["a", 1]),
            CborValue::Array(vec![text("a"), CborValue::Integer(1.into())]),
        ),
        (
            json!({"issue_date": "2020-05-01", "expiry_date": "2030-05-01T00:00:00+02:00", "code": "B"}),
            CborValue::Map(vec![
                (text("code"), text("B")),
                (
                    text("expiry_date"),
                    CborValue::Tag(TAG_TDATE, Box::new(text("2030-04-30T22:00:00Z"))),
                ),
                (
                    text("issue_date"),
                    CborValue::Tag(TAG_FULL_DATE, Box::new(text("2020-05-01"))),
                ),
            ]),
        ),
    ];
    for (j, c) in cases {
        assert_eq!(json_to_element(&j), Ok(c), "{j}");
    }
    let full = |s: &str| CborValue::Tag(TAG_FULL_DATE, Box::new(text(s)));
    assert_eq!(
        element_from_json("birth_date", &json!("1964-08-12")),
        Ok(full("1964-08-12"))
    );
    assert_eq!(
        element_from_json("expiry_date", &json!("2034-01-01")),
        Ok(full("2034-01-01"))
    );
    // Not a real day, not a date: kept as text.
    assert_eq!(
        element_from_json("birth_date", &json!("1964-02-30")),
        Ok(text("1964-02-30"))
    );
    assert_eq!(
        element_from_json("birth_date", &json!("unknown")),
        Ok(text("unknown"))
    );
    assert_eq!(
        element_from_json("family_name", &json!("1964-08-12")),
        Ok(text("1964-08-12"))
    );
    assert_eq!(
        element_from_json("portrait", &json!("AQID")),
        Ok(CborValue::Bytes(vec![1, 2, 3]))
    );
    assert_eq!(
        element_from_json("portrait", &json!("/w==")),
        Ok(CborValue::Bytes(vec![0xff]))
    );
    assert!(element_from_json("portrait", &json!("not base64!")).is_err());
    // The display rendering turns them back into the JSON given.
    let j = json!({"issue_date": "2020-05-01", "n": [1, "x", false]});
    assert_eq!(element_to_json(&ok(json_to_element(&j))), Ok(j));
}

#[test]
fn debug_output_leaves_out_values() {
    let pki = pki();
    let content = mdl_content(pki.holder.public_jwk());
    let shown = format!("{content:?}");
    assert!(shown.contains("family_name") && !shown.contains("Mustermann"));
    let credential = issue_now(&pki, &content);
    let parsed = ok(parse(&credential));
    assert!(!format!("{parsed:?}").contains("Mustermann"));
    let v = ok(verify(&parsed, pki.ds.public_jwk(), NOW, 0));
    let shown = format!("{v:?}");
    assert!(shown.contains("family_name") && !shown.contains("Mustermann"));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_never_panics_on_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&b64::encode(&bytes));
    }

    #[test]
    fn parse_never_panics_on_text(text in "\\PC{0,256}") {
        let _ = parse(&text);
    }

    #[test]
    fn parse_and_verify_never_panic_on_mutated_vector(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut bytes = ok(b64::decode(EUDI_PID.trim()));
        for (at, b) in edits {
            let i = at.index(bytes.len());
            bytes[i] = b;
        }
        let parsed = parse(&b64::encode(&bytes));
        if let Ok(p) = parsed {
            let key = eudi_key(&eudi());
            let _ = verify(&p, &key, EUDI_SIGNED, 60);
        }
        let truncated = &bytes[..cut.index(bytes.len())];
        let _ = parse(&b64::encode(truncated));
    }
}
