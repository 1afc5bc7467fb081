//! The check catalogue: APTITUDE RFC-01 §10.1 (VCI-CHECK-01 … -11, -03A,
//! -06A), the deployed test matrix of §10.2 (VCI-001, -002, -004 … -010;
//! there is no VCI-003, CONF-RUN-06), and the runner's checks (REQUIREMENTS
//! §5: CONF-Cnn-mm, CONF-TCnnn), each with the requirement IDs and spec
//! sections it verifies.
//!
//! Every check of both modes is declared here, implemented or not: the
//! runner's coverage guard works from this list, so a check nobody wrote
//! cannot silently disappear from a report.

use serde::Serialize;

/// Who is under test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Mode {
    /// The runner is a reference wallet, the issuer is under test (IUT).
    Issuer,
    /// The runner is a reference issuer, the wallet is under test (WUT).
    Wallet,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One runtime assertion group (CONF-Cnn-mm).
    Check,
    /// A deployed test case of the matrix (CONF-TCnnn = VCI-0nn).
    Case,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Must,
    Should,
}

/// An entry of the APTITUDE check catalogue (APT §10.1).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CatalogueEntry {
    pub id: &'static str,
    pub title: &'static str,
    pub verified_at_runtime: &'static str,
    /// The ARF / CIR linkage text (CONF-RUN-03).
    pub linkage: &'static str,
}

/// A check or deployed case the runner knows.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct CheckDef {
    pub id: &'static str,
    pub kind: Kind,
    /// The modes it runs in: a check usually one, a case both (CONF-TC-ALL).
    pub modes: &'static [Mode],
    /// The catalogue checks it implements (cases: the checks they cover).
    pub catalogue: &'static [&'static str],
    /// The matrix id of a case (`VCI-006`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<&'static str>,
    /// Requirement IDs it verifies (its own CONF row first).
    pub requirements: &'static [&'static str],
    /// Spec sections.
    pub spec: &'static [&'static str],
    pub level: Level,
    pub title: &'static str,
}

pub const CATALOGUE: &[CatalogueEntry] = &[
    CatalogueEntry {
        id: "VCI-CHECK-01",
        title: "Credential offer resolution and processing",
        verified_at_runtime: "The wallet resolves the credential offer or offer URI and processes the issuance entrypoint without transport or parsing failure.",
        linkage: "CIR credential offer interface; ARF issuer-initiated and wallet-initiated issuance baseline",
    },
    CatalogueEntry {
        id: "VCI-CHECK-02",
        title: "Authorization-code flow handling",
        verified_at_runtime: "The wallet completes the authorization-code flow through authorization, code reception, and token redemption.",
        linkage: "ARF wallet-initiated issuance flow; CIR authorization-code issuance",
    },
    CatalogueEntry {
        id: "VCI-CHECK-03",
        title: "PKCE enforcement",
        verified_at_runtime: "Token redemption requires the correct PKCE verifier for authorization-code issuance.",
        linkage: "CIR token endpoint security; ARF authorization security baseline",
    },
    CatalogueEntry {
        id: "VCI-CHECK-03A",
        title: "Wallet Instance Attestation handling",
        verified_at_runtime: "For authorization-code issuance where the profile requires wallet attestation, the wallet sends WIA at the PAR and Token endpoints, proves possession of the key referenced in the WIA cnf claim, and the issuer validates those inputs.",
        linkage: "ETSI-aligned PAR and token endpoint attestation handling; ARF wallet attestation baseline",
    },
    CatalogueEntry {
        id: "VCI-CHECK-04",
        title: "Pre-authorized code validation",
        verified_at_runtime: "Token exchange rejects unknown or expired pre-authorized codes and correctly handles pre-authorized issuance state.",
        linkage: "CIR token endpoint behavior; ARF issuer-initiated issuance baseline",
    },
    CatalogueEntry {
        id: "VCI-CHECK-05",
        title: "Proof container and selector validation",
        verified_at_runtime: "Credential requests use the correct selector model, reject legacy proof, require proofs, and enforce exactly one proof type.",
        linkage: "CIR credential endpoint and proof request shape; ARF proof-of-possession baseline",
    },
    CatalogueEntry {
        id: "VCI-CHECK-06",
        title: "Holder proof validation",
        verified_at_runtime: "The issuer validates proof signature, proof key resolution, aud, freshness, nonce, and where applicable iss.",
        linkage: "CIR proof validation requirements; ARF proof binding and replay protection",
    },
    CatalogueEntry {
        id: "VCI-CHECK-06A",
        title: "Wallet Unit Attestation handling",
        verified_at_runtime: "The credential request carries WUA in the correct location for the selected proof method, the issuer validates the WUA, and the issued credential is bound according to the attested key material.",
        linkage: "ETSI-aligned credential endpoint attestation handling; ARF key-attestation and holder-binding baseline",
    },
    CatalogueEntry {
        id: "VCI-CHECK-07",
        title: "Signature-profile interoperability",
        verified_at_runtime: "The issuance flow interoperates with the issuer signature reference/profile variant configured for the deployed case.",
        linkage: "ARF interoperability across supported signing models; CIR credential format and metadata support",
    },
    CatalogueEntry {
        id: "VCI-CHECK-08",
        title: "mdoc-specific proof handling",
        verified_at_runtime: "mdoc issuance requires the mdoc-appropriate proof path and rejects JWT proof for mso_mdoc requests.",
        linkage: "ARF credential-format interoperability; CIR credential format support",
    },
    CatalogueEntry {
        id: "VCI-CHECK-09",
        title: "tx-code offer-step handling",
        verified_at_runtime: "The wallet can process issuance flows that advertise a tx-code step, even where server-side tx-code enforcement is partial.",
        linkage: "CIR credential offer and token interaction behavior; ARF issuer-initiated issuance support",
    },
    CatalogueEntry {
        id: "VCI-CHECK-10",
        title: "A128GCM algorithm support",
        verified_at_runtime: "A deployed issuance flow succeeds when the relevant encrypted object in the profiled exchange is produced and consumed using enc=A128GCM.",
        linkage: "ETSI TS 119 472-3 aligned cryptographic algorithm support; HAIP-compatible encrypted exchange handling",
    },
    CatalogueEntry {
        id: "VCI-CHECK-11",
        title: "A256GCM algorithm support",
        verified_at_runtime: "A deployed issuance flow succeeds when the relevant encrypted object in the profiled exchange is produced and consumed using enc=A256GCM.",
        linkage: "ETSI TS 119 472-3 aligned cryptographic algorithm support; HAIP-compatible encrypted exchange handling",
    },
];

macro_rules! check {
    ($id:literal, $($mode:ident)|+, [$($cat:literal),*], [$($req:literal),*], [$($spec:literal),*], $level:ident, $title:literal) => {
        CheckDef {
            id: $id,
            kind: Kind::Check,
            modes: &[$(Mode::$mode),+],
            catalogue: &[$($cat),*],
            matrix: None,
            requirements: &[$id, $($req),*],
            spec: &[$($spec),*],
            level: Level::$level,
            title: $title,
        }
    };
}

macro_rules! oidf {
    ($id:literal, [$($covers:literal),*], [$($req:literal),*], [$($spec:literal),*], $level:ident, $title:literal) => {
        CheckDef {
            id: $id,
            kind: Kind::Check,
            modes: &[Mode::Issuer],
            catalogue: &[],
            matrix: None,
            requirements: &[$id, $($req),*],
            spec: &[$($spec),*],
            level: Level::$level,
            title: $title,
        }
    };
}

/// The catalogue checks an OpenID conformance module shares probes with.
pub fn module_covers(id: &str) -> &'static [&'static str] {
    match id {
        "CONF-OIDF-META" => &["CONF-C01-03", "CONF-C03-01", "CONF-C03A-01", "CONF-C10-01"],
        "CONF-OIDF-HAPPY" => &["CONF-C02-01", "CONF-C02-02", "CONF-C06-03", "CONF-C07-05"],
        "CONF-OIDF-BATCH" => &["CONF-C06A-03"],
        "CONF-OIDF-NONCE" => &["CONF-C06-02"],
        "CONF-OIDF-PROOF-SIG" => &["CONF-C06-01"],
        "CONF-OIDF-KATT-SIG" => &["CONF-C06A-02"],
        "CONF-OIDF-CATT-SIG" => &["CONF-C03A-03"],
        "CONF-OIDF-CATT-POP-SIG" => &["CONF-C03A-03"],
        "CONF-OIDF-CATT-EXP" => &["CONF-C03A-03"],
        "CONF-OIDF-CATT-POP-AUD" => &["CONF-C03A-03"],
        "CONF-OIDF-CATT-POP-KEY" => &["CONF-C03A-03"],
        "CONF-OIDF-MISSING-PROOF" => &["CONF-C05-02"],
        "CONF-OIDF-UNKNOWN-CONFIG" => &["CONF-C05-03"],
        "CONF-OIDF-UNKNOWN-ID" => &["CONF-C05-03"],
        "CONF-OIDF-UNSUPPORTED-ENC" => &["CONF-C10-04"],
        "CONF-OIDF-PKCE-PAR" => &["CONF-C03-02"],
        _ => &[],
    }
}

macro_rules! case {
    ($id:literal, $matrix:literal, [$($cat:literal),*], [$($spec:literal),*], $title:literal) => {
        CheckDef {
            id: $id,
            kind: Kind::Case,
            // Every case runs in both modes (CONF-TC-ALL).
            modes: &[Mode::Issuer, Mode::Wallet],
            catalogue: &[$($cat),*],
            matrix: Some($matrix),
            requirements: &[$id, "CONF-TC-ALL"],
            spec: &[$($spec),*],
            level: Level::Must,
            title: $title,
        }
    };
}

/// Every check and case, in run order.
pub const CHECKS: &[CheckDef] = &[
    // ---------------------------------------------------------------- VCI-CHECK-01
    check!(
        "CONF-C01-01",
        Issuer,
        ["VCI-CHECK-01"],
        ["ISS-OFFER-06", "ISS-OFFER-08"],
        ["APT VCI-CHECK-01", "VCI §4.1", "C-03"],
        Must,
        "The offer link carries exactly one of credential_offer / credential_offer_uri in an accepted scheme"
    ),
    check!(
        "CONF-C01-02",
        Issuer,
        ["VCI-CHECK-01"],
        ["ISS-OFFER-07"],
        ["VCI §4.1.3"],
        Must,
        "credential_offer_uri is https and answers 200 application/json with a parseable offer"
    ),
    check!(
        "CONF-C01-03",
        Issuer,
        ["VCI-CHECK-01"],
        ["ISS-OFFER-02"],
        ["VCI §4.1.1", "VCI §12.2.4", "APT §7.2"],
        Must,
        "The offer's credential_issuer and configuration ids match the issuer metadata"
    ),
    check!(
        "CONF-C01-04",
        Issuer,
        ["VCI-CHECK-01"],
        ["ISS-OFFER-04", "ISS-OFFER-05", "ISS-OFFER-09"],
        ["VCI §4.1.1"],
        Must,
        "The offer's grants are well formed (pre-authorized_code, tx_code, authorization_server)"
    ),
    check!(
        "CONF-C01-05",
        Wallet,
        ["VCI-CHECK-01"],
        [],
        ["APT VCI-CHECK-01"],
        Must,
        "WUT: resolves offers by value and by reference in each claimed scheme and starts the grant"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-02
    check!(
        "CONF-C02-01",
        Issuer,
        ["VCI-CHECK-02"],
        ["ISS-PAR-02", "ISS-AUTHZ-08"],
        ["APT VCI-CHECK-02", "RFC 9126", "RFC 9207"],
        Must,
        "PAR, holder login through the login script, and a callback with code, state and iss"
    ),
    check!(
        "CONF-C02-02",
        Issuer,
        ["VCI-CHECK-02"],
        ["ISS-TOK-05", "ISS-TOK-06"],
        ["VCI §6.2", "HAIP §4"],
        Must,
        "The authorization-code token response is DPoP-bound and carries credential_identifiers when asked by authorization_details"
    ),
    check!(
        "CONF-C02-03",
        Wallet,
        ["VCI-CHECK-02"],
        [],
        ["APT VCI-CHECK-02", "APT §7.3", "APT §7.4"],
        Must,
        "WUT: PAR, browser step and token request of the authorization-code flow"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-03
    check!(
        "CONF-C03-01",
        Issuer,
        ["VCI-CHECK-03"],
        ["ISS-ASMETA-03"],
        ["APT VCI-CHECK-03", "HAIP §4"],
        Must,
        "code_challenge_methods_supported contains S256 (and not plain)"
    ),
    check!(
        "CONF-C03-02",
        Issuer,
        ["VCI-CHECK-03"],
        ["ISS-PAR-04"],
        ["RFC 7636 §4.4.1", "APT §7.3"],
        Must,
        "PAR without code_challenge, or with method plain, is rejected 400 invalid_request"
    ),
    check!(
        "CONF-C03-03",
        Issuer,
        ["VCI-CHECK-03"],
        ["ISS-TAC-04"],
        ["RFC 7636 §4.6", "APT VCI-CHECK-03"],
        Must,
        "A token request with a wrong or missing code_verifier is rejected"
    ),
    check!(
        "CONF-C03-04",
        Wallet,
        ["VCI-CHECK-03"],
        [],
        ["RFC 7636 §4.1", "RFC 7636 §4.2"],
        Must,
        "WUT: S256 code_challenge of a 43-128 character verifier"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-03A
    check!(
        "CONF-C03A-01",
        Issuer,
        ["VCI-CHECK-03A"],
        ["ISS-ASMETA-05"],
        ["ABCA §8", "APT VCI-CHECK-03A"],
        Must,
        "AS metadata lists attest_jwt_client_auth"
    ),
    check!(
        "CONF-C03A-02",
        Issuer,
        ["VCI-CHECK-03A"],
        ["ISS-PAR-01", "ISS-TOK-03", "ISS-CATT-01"],
        ["APT §7.3", "APT §7.4", "HAIP §4.4.1"],
        Must,
        "PAR and token without attestation headers are rejected 401 invalid_client"
    ),
    check!(
        "CONF-C03A-03",
        Issuer,
        ["VCI-CHECK-03A"],
        [
            "ISS-CATT-02",
            "ISS-CATT-03",
            "ISS-CATT-04",
            "ISS-CATT-05",
            "ISS-CATT-06"
        ],
        ["APT §7.3", "ABCA §7.1", "ABCA §7.2", "HAIP §4.4.1"],
        Must,
        "Faulty attestations are rejected: expired, untrusted provider, no x5c, PoP by another key, PoP aud, client_id"
    ),
    check!(
        "CONF-C03A-04",
        Issuer,
        ["VCI-CHECK-03A"],
        ["ISS-CATT-05"],
        ["ABCA §11.1"],
        Should,
        "A replayed attestation PoP (same jti) is rejected"
    ),
    check!(
        "CONF-C03A-05",
        Issuer,
        ["VCI-CHECK-03A"],
        ["ISS-PAR-02", "ISS-TOK-05"],
        ["APT VCI-CHECK-03A"],
        Must,
        "A valid WIA + PoP succeeds at PAR and token"
    ),
    check!(
        "CONF-C03A-06",
        Wallet,
        ["VCI-CHECK-03A"],
        [],
        ["APT VCI-CHECK-03A", "ABCA §4", "ABCA §5.1"],
        Must,
        "WUT: sends WIA and PoP at PAR and token"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-04
    check!(
        "CONF-C04-01",
        Issuer,
        ["VCI-CHECK-04"],
        ["ISS-TPA-02"],
        ["APT VCI-CHECK-04", "VCI §6.3"],
        Must,
        "Unknown, expired and already redeemed pre-authorized codes are rejected 400 invalid_grant"
    ),
    check!(
        "CONF-C04-02",
        Issuer,
        ["VCI-CHECK-04"],
        ["ISS-TPA-03", "ISS-TPA-04", "ISS-TOK-05"],
        ["VCI §6.3", "C-13"],
        Must,
        "A valid code yields a DPoP-bound token; a missing or wrong tx_code is rejected"
    ),
    check!(
        "CONF-C04-03",
        Issuer,
        ["VCI-CHECK-04"],
        ["ISS-TPA-07"],
        ["VCI §6.3", "VCI §12.3"],
        Must,
        "A pre-authorized token request without client authentication is rejected unless anonymous access is advertised"
    ),
    check!(
        "CONF-C04-04",
        Wallet,
        ["VCI-CHECK-04"],
        [],
        ["APT §6.2.6"],
        Must,
        "WUT: redeems the offered pre-authorized code without PAR"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-05
    check!(
        "CONF-C05-01",
        Issuer,
        ["VCI-CHECK-05"],
        ["ISS-CRED-09"],
        ["APT VCI-CHECK-05", "C-08"],
        Must,
        "A credential request with the legacy proof member is rejected"
    ),
    check!(
        "CONF-C05-02",
        Issuer,
        ["VCI-CHECK-05"],
        ["ISS-CRED-07", "ISS-CRED-08"],
        ["VCI §8.2", "VCI §8.3.1.2"],
        Must,
        "Missing proofs, two proof types, or an empty proof array are rejected"
    ),
    check!(
        "CONF-C05-03",
        Issuer,
        ["VCI-CHECK-05"],
        ["ISS-CRED-03", "ISS-CRED-04", "ISS-CRED-05"],
        ["VCI §8.2", "VCI §8.3.1.2"],
        Must,
        "Selector rules: both selectors, configuration id after identifiers, unknown ids"
    ),
    check!(
        "CONF-C05-04",
        Issuer,
        ["VCI-CHECK-05"],
        ["ISS-BATCH-01"],
        ["VCI §12.2.4"],
        Must,
        "More jwt proofs than the batch size are rejected"
    ),
    check!(
        "CONF-C05-05",
        Wallet,
        ["VCI-CHECK-05"],
        [],
        ["APT VCI-CHECK-05"],
        Must,
        "WUT: one selector, one proof type, never proof"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-06
    check!(
        "CONF-C06-01",
        Issuer,
        ["VCI-CHECK-06"],
        [
            "ISS-PROOF-01",
            "ISS-PROOF-02",
            "ISS-PROOF-03",
            "ISS-PROOF-04",
            "ISS-PROOF-05",
            "ISS-PROOF-07"
        ],
        ["APT VCI-CHECK-06", "VCI App. F.1", "VCI App. F.4"],
        Must,
        "Faulty key proofs are rejected 400 invalid_proof"
    ),
    check!(
        "CONF-C06-02",
        Issuer,
        ["VCI-CHECK-06"],
        ["ISS-PROOF-06", "ISS-NONCE-02", "ISS-NONCE-03"],
        ["VCI §8.3.1.2"],
        Must,
        "Proof nonces: missing → invalid_proof; unknown, expired or used → invalid_nonce"
    ),
    check!(
        "CONF-C06-03",
        Issuer,
        ["VCI-CHECK-06"],
        ["ISS-SDJWT-03"],
        ["VCI §8.1", "VCI §8.3"],
        Must,
        "A correct proof yields a credential bound to the proven key"
    ),
    check!(
        "CONF-C06-04",
        Wallet,
        ["VCI-CHECK-06"],
        [],
        ["APT VCI-CHECK-06"],
        Must,
        "WUT: key proofs are well formed"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-06A
    check!(
        "CONF-C06A-01",
        Issuer,
        ["VCI-CHECK-06A"],
        ["ISS-KATT-01"],
        ["APT VCI-CHECK-06A", "VCI §12.2.4"],
        Must,
        "A jwt proof without key_attestation is rejected where key attestations are required"
    ),
    check!(
        "CONF-C06A-02",
        Issuer,
        ["VCI-CHECK-06A"],
        ["ISS-KATT-02"],
        ["APT §7.5.1", "APT §7.5.2", "VCI App. D", "VCI App. F"],
        Must,
        "Faulty key attestations are rejected"
    ),
    check!(
        "CONF-C06A-03",
        Issuer,
        ["VCI-CHECK-06A"],
        ["ISS-KATT-03"],
        ["APT §7.5.1", "APT §7.5.2"],
        Must,
        "A key attestation of n keys yields n credentials bound to the attested keys"
    ),
    check!(
        "CONF-C06A-04",
        Wallet,
        ["VCI-CHECK-06A"],
        [],
        ["APT §7.5.1", "APT §7.5.2"],
        Must,
        "WUT: the key attestation sits where the proof type wants it"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-07
    check!(
        "CONF-C07-01",
        Issuer,
        ["VCI-CHECK-07"],
        ["ISS-SIG-04"],
        ["APT VCI-CHECK-07", "APT VCI-001", "D-18"],
        Must,
        "Variant JWK: the header jwk verifies the credential and is published by the issuer"
    ),
    check!(
        "CONF-C07-02",
        Issuer,
        ["VCI-CHECK-07"],
        ["ISS-SIG-02"],
        ["APT VCI-002", "SDVC §4"],
        Must,
        "Variant KID-JWK: kid resolves through /.well-known/jwt-vc-issuer"
    ),
    check!(
        "CONF-C07-03",
        Issuer,
        ["VCI-CHECK-07"],
        ["ISS-SIG-03"],
        ["APT VCI-004", "D-18"],
        Must,
        "Variant DID:web: the kid resolves in the issuer's DID document"
    ),
    check!(
        "CONF-C07-04",
        Issuer,
        ["VCI-CHECK-07"],
        ["ISS-SIG-01"],
        ["APT VCI-005", "APT VCI-006", "APT VCI-008", "HAIP §6.1.1"],
        Must,
        "Variant X.509: x5c chains to the configured anchor, leaf not self-signed, anchor not included"
    ),
    check!(
        "CONF-C07-05",
        Issuer,
        ["VCI-CHECK-07"],
        [
            "ISS-SDJWT-01",
            "ISS-SDJWT-02",
            "ISS-SDJWT-03",
            "ISS-SDJWT-04"
        ],
        ["SDVC §2.4", "SDJWT §7.1"],
        Must,
        "Every variant's SD-JWT VC verifies (typ, digests, disclosures, vct)"
    ),
    check!(
        "CONF-C07-06",
        Wallet,
        ["VCI-CHECK-07"],
        [],
        ["SDVC §2.5"],
        Must,
        "WUT: stores each variant and refuses an unresolvable issuer key"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-08
    check!(
        "CONF-C08-01",
        Issuer,
        ["VCI-CHECK-08"],
        ["ISS-MDOC-01"],
        ["APT VCI-CHECK-08"],
        Must,
        "mso_mdoc: a jwt proof is rejected"
    ),
    check!(
        "CONF-C08-02",
        Issuer,
        ["VCI-CHECK-08"],
        ["ISS-MDOC-02"],
        ["APT VCI-CHECK-08", "VCI A.2.4", "ISO 18013-5 §9.1.2.4"],
        Must,
        "mso_mdoc: the attestation proof path yields a verifying IssuerSigned"
    ),
    check!(
        "CONF-C08-03",
        Wallet,
        ["VCI-CHECK-08"],
        [],
        ["APT VCI-CHECK-08"],
        Must,
        "WUT: sends no jwt proof for mdoc"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-09
    check!(
        "CONF-C09-01",
        Wallet,
        ["VCI-CHECK-09"],
        [],
        ["APT VCI-CHECK-09", "VCI §6.1"],
        Must,
        "WUT: sends the tx_code supplied through the test hook"
    ),
    check!(
        "CONF-C09-02",
        Wallet,
        ["VCI-CHECK-09"],
        [],
        ["APT VCI-CHECK-09"],
        Must,
        "WUT: handles tx_code {} and partial enforcement"
    ),
    check!(
        "CONF-C09-03",
        Issuer,
        ["VCI-CHECK-09"],
        ["ISS-OFFER-05"],
        ["APT VCI-CHECK-09"],
        Must,
        "The offer carries tx_code when asked; the enforcement shown is recorded"
    ),
    // ---------------------------------------------------------------- VCI-CHECK-10 / -11
    check!(
        "CONF-C10-01",
        Issuer,
        ["VCI-CHECK-10"],
        ["ISS-META-12"],
        ["APT VCI-CHECK-10", "VCI §12.2.4"],
        Must,
        "credential_response_encryption offers A128GCM and an ECDH-ES alg"
    ),
    check!(
        "CONF-C10-02",
        Issuer,
        ["VCI-CHECK-10"],
        ["ISS-ENC-01"],
        ["APT VCI-CHECK-10", "VCI §10"],
        Must,
        "An A128GCM-encrypted credential response decrypts to a valid credential"
    ),
    check!(
        "CONF-C10-03",
        Issuer,
        ["VCI-CHECK-10"],
        ["ISS-ENC-02"],
        ["VCI §8.2", "VCI §10"],
        Must,
        "An A128GCM-encrypted credential request is accepted"
    ),
    check!(
        "CONF-C10-04",
        Issuer,
        ["VCI-CHECK-10"],
        ["ISS-ENC-03"],
        ["VCI §8.3.1.2"],
        Must,
        "An unsupported enc is rejected 400 invalid_encryption_parameters"
    ),
    check!(
        "CONF-C10-05",
        Wallet,
        ["VCI-CHECK-10"],
        [],
        ["APT VCI-CHECK-10"],
        Must,
        "WUT: completes an A128GCM-encrypted issuance"
    ),
    check!(
        "CONF-C11-01",
        Issuer | Wallet,
        ["VCI-CHECK-11"],
        [],
        ["APT VCI-CHECK-11"],
        Must,
        "As CONF-C10-01 … -05 with A256GCM"
    ),
    // ---------------------------------------------------------------- wallet behaviour the issue names
    // Not rows of the APTITUDE catalogue: the wallet-side duties of OID4VCI
    // §9 and §11 that a reference issuer can observe (deferred polling,
    // notifications), under the runner's own ids.
    check!(
        "CONF-WDEF-01",
        Wallet,
        [],
        ["WAL-DEF-01", "WAL-DEF-02", "WAL-DEF-04"],
        ["VCI §9.1", "VCI §9.2", "APT §7.6"],
        Must,
        "WUT: polls the deferred endpoint with the transaction_id and its DPoP-bound token, never before interval, and stores the credential"
    ),
    check!(
        "CONF-WNOTIF-01",
        Wallet,
        [],
        ["WAL-NOTIF-01", "WAL-NOTIF-02"],
        ["VCI §11.1"],
        Should,
        "WUT: notifies credential_accepted for a valid credential and credential_failure for one it refuses, with the notification_id and its access token"
    ),
    // ---------------------------------------------------------------- OpenID conformance modules
    // The modules of the OpenID Foundation's oid4vci-1_0-issuer-haip-test-plan
    // (the VCI modules and the FAPI 2.0 Security Profile AS modules the issue
    // names), so a user of Avow's runner gets that plan's coverage without
    // its Java/MongoDB stack. A module `covers` the catalogue checks whose
    // probes it shares; it passes only when they pass and its own probes do.
    oidf!(
        "CONF-OIDF-META",
        ["CONF-C01-03", "CONF-C03-01", "CONF-C03A-01", "CONF-C10-01"],
        [
            "ISS-META-01",
            "ISS-META-02",
            "ISS-ASMETA-01",
            "ISS-ASMETA-02",
            "ISS-ASMETA-03"
        ],
        [
            "OIDF VCIIssuerMetadataTest",
            "VCI §12.2",
            "RFC 8414 §2",
            "HAIP §4"
        ],
        Must,
        "Issuer and AS metadata: required members, HAIP values, consistent issuer identifiers"
    ),
    oidf!(
        "CONF-OIDF-SIGNED-META",
        [],
        [
            "ISS-SMETA-01",
            "ISS-SMETA-02",
            "ISS-SMETA-03",
            "ISS-SMETA-05"
        ],
        ["OIDF VCIIssuerMetadataSignedTest", "VCI §12.2.3", "HAIP §4"],
        Must,
        "signed_metadata verifies through x5c to the issuer CA and matches the plain metadata; issuer_info is well formed"
    ),
    oidf!(
        "CONF-OIDF-HAPPY",
        ["CONF-C02-01", "CONF-C02-02", "CONF-C06-03", "CONF-C07-05"],
        [],
        ["OIDF VCIIssuerHappyFlow", "VCI §5-§8"],
        Must,
        "Happy flow: authorization code, DPoP-bound token, credential checked in depth"
    ),
    oidf!(
        "CONF-OIDF-ADDITIONAL",
        [],
        ["ISS-CRED-02"],
        ["OIDF VCIIssuerHappyFlowAdditionalRequests", "VCI §8"],
        Must,
        "One access token serves further credential requests with fresh nonces and new keys"
    ),
    oidf!(
        "CONF-OIDF-MULTI-CLIENT",
        [],
        ["ISS-TAC-02", "ISS-TAC-05"],
        ["OIDF VCIIssuerHappyFlowMultipleClients", "RFC 6749 §4.1.3"],
        Must,
        "Two clients are served independently; one client cannot redeem the other's code"
    ),
    oidf!(
        "CONF-OIDF-SKIP-NOTIF",
        [],
        ["ISS-NOTIF-01"],
        ["OIDF VCIIssuerHappyFlowWithSkipNotification", "VCI §11"],
        Must,
        "Issuance works when the wallet never calls the notification endpoint"
    ),
    oidf!(
        "CONF-OIDF-BATCH",
        ["CONF-C06A-03"],
        ["ISS-BATCH-02", "ISS-BATCH-03"],
        ["OIDF VCIIssuerBatchIssuance", "VCI §8.2", "HAIP §6.1"],
        Must,
        "Batch: one credential per proven key, distinct keys, salts and status entries, same data, unlinkable time claims"
    ),
    oidf!(
        "CONF-OIDF-NONCE",
        ["CONF-C06-02"],
        [],
        [
            "OIDF VCIIssuerFailOnInvalidNonce",
            "OIDF VCIIssuerFailOnReplayNonce"
        ],
        Must,
        "Invalid and replayed c_nonce are rejected"
    ),
    oidf!(
        "CONF-OIDF-PROOF-SIG",
        ["CONF-C06-01"],
        [],
        ["OIDF VCIIssuerFailOnInvalidJwtProofSignature"],
        Must,
        "A jwt proof with a bad signature is rejected"
    ),
    oidf!(
        "CONF-OIDF-KATT-SIG",
        ["CONF-C06A-02"],
        ["ISS-KATT-03"],
        ["OIDF VCIIssuerFailOnInvalidKeyAttestationSignature"],
        Must,
        "A key attestation with a bad signature is rejected"
    ),
    oidf!(
        "CONF-OIDF-CATT-SIG",
        ["CONF-C03A-03"],
        ["ISS-CATT-03"],
        ["OIDF VCIIssuerFailOnInvalidClientAttestationSignature"],
        Must,
        "A client attestation (WIA) with a bad signature is rejected"
    ),
    oidf!(
        "CONF-OIDF-CATT-POP-SIG",
        ["CONF-C03A-03"],
        [],
        ["OIDF VCIIssuerFailOnInvalidClientAttestationPopSignature"],
        Must,
        "A client attestation PoP with a bad signature is rejected"
    ),
    oidf!(
        "CONF-OIDF-CATT-EXP",
        ["CONF-C03A-03"],
        [],
        ["OIDF VCIIssuerFailOnClientAttestationExpInPast"],
        Must,
        "An expired client attestation is rejected"
    ),
    oidf!(
        "CONF-OIDF-CATT-NO-SUB",
        [],
        ["ISS-CATT-02", "ISS-CATT-03"],
        ["OIDF VCIIssuerFailOnClientAttestationNoSub", "ABCA §5.1"],
        Must,
        "A client attestation without sub is rejected"
    ),
    oidf!(
        "CONF-OIDF-CATT-POP-AUD",
        ["CONF-C03A-03"],
        [],
        ["OIDF VCIIssuerFailOnClientAttestationPopWrongAud"],
        Must,
        "A client attestation PoP for another audience is rejected"
    ),
    oidf!(
        "CONF-OIDF-CATT-POP-KEY",
        ["CONF-C03A-03"],
        [],
        ["OIDF VCIIssuerFailOnMismatchedClientAttestationPopKey"],
        Must,
        "A PoP signed by a key other than the attestation's cnf is rejected"
    ),
    oidf!(
        "CONF-OIDF-MISSING-PROOF",
        ["CONF-C05-02"],
        [],
        ["OIDF VCIIssuerFailOnMissingProof"],
        Must,
        "A credential request without proofs is rejected"
    ),
    oidf!(
        "CONF-OIDF-UNKNOWN-CONFIG",
        ["CONF-C05-03"],
        [],
        ["OIDF VCIIssuerFailOnUnknownCredentialConfigurationId"],
        Must,
        "An unknown credential_configuration_id is rejected"
    ),
    oidf!(
        "CONF-OIDF-UNKNOWN-ID",
        ["CONF-C05-03"],
        [],
        ["OIDF VCIIssuerFailOnUnknownCredentialIdentifier"],
        Must,
        "An unknown credential_identifier is rejected"
    ),
    oidf!(
        "CONF-OIDF-UNSUPPORTED-ENC",
        ["CONF-C10-04"],
        [],
        ["OIDF VCIIssuerFailOnUnsupportedEncryptionAlgorithm"],
        Must,
        "Unsupported response encryption is rejected"
    ),
    oidf!(
        "CONF-OIDF-TOKEN-IN-QUERY",
        [],
        ["ISS-DPOP-10"],
        [
            "OIDF VCIIssuerFailOnRequestWithAccessTokenInQuery",
            "RFC 6750 §2.3",
            "FAPI 2.0 SP §5.3.3"
        ],
        Must,
        "An access token in the query string is not accepted"
    ),
    oidf!(
        "CONF-OIDF-DPOP-IAT",
        [],
        ["ISS-DPOP-04"],
        ["OIDF FAPI2SP DPoP iat window", "RFC 9449 §4.3, §11.1"],
        Must,
        "DPoP proofs with iat far in the past or future are rejected"
    ),
    oidf!(
        "CONF-OIDF-DPOP-JTI",
        [],
        ["ISS-DPOP-04", "ISS-SEC-02"],
        ["OIDF FAPI2SP DPoP jti reuse", "RFC 9449 §11.1"],
        Must,
        "A replayed DPoP proof (same jti) is rejected"
    ),
    oidf!(
        "CONF-OIDF-DPOP-BINDING",
        [],
        ["ISS-DPOP-08"],
        ["OIDF FAPI2SP DPoP key binding", "RFC 9449 §7.1"],
        Must,
        "An access token presented with a proof of another key is rejected"
    ),
    oidf!(
        "CONF-OIDF-CODE-REUSE",
        [],
        ["ISS-TAC-02", "ISS-TAC-03"],
        ["OIDF FAPI2SP code reuse", "RFC 6749 §4.1.2, §10.5"],
        Must,
        "A reused authorization code is rejected and the tokens it gave are revoked"
    ),
    oidf!(
        "CONF-OIDF-CODE-EXPIRED",
        [],
        ["ISS-TAC-02"],
        ["OIDF FAPI2SP expired code", "RFC 6749 §4.1.2"],
        Must,
        "An expired authorization code is rejected"
    ),
    oidf!(
        "CONF-OIDF-PAR-REUSE",
        [],
        ["ISS-AUTHZ-03", "ISS-SEC-02"],
        ["OIDF FAPI2SP PAR request_uri reuse", "RFC 9126 §4"],
        Must,
        "A request_uri is used once"
    ),
    oidf!(
        "CONF-OIDF-PAR-EXPIRED",
        [],
        ["ISS-PAR-11", "ISS-AUTHZ-01"],
        ["OIDF FAPI2SP PAR request_uri expiry", "RFC 9126 §2.2"],
        Must,
        "An expired request_uri is rejected"
    ),
    oidf!(
        "CONF-OIDF-PAR-CLIENT",
        [],
        ["ISS-AUTHZ-01"],
        ["OIDF FAPI2SP PAR client binding", "RFC 9126 §4"],
        Must,
        "A request_uri presented with another client_id is rejected"
    ),
    oidf!(
        "CONF-OIDF-PKCE-PAR",
        ["CONF-C03-02"],
        ["ISS-PAR-04"],
        ["OIDF FAPI2SP PKCE required at PAR", "FAPI 2.0 SP §5.3.2.2"],
        Must,
        "PAR without S256 PKCE is rejected"
    ),
    oidf!(
        "CONF-OIDF-REDIRECT-URI",
        [],
        ["ISS-PAR-03"],
        [
            "OIDF FAPI2SP redirect_uri required",
            "FAPI 2.0 SP §5.3.2.2",
            "RFC 9126 §2.1"
        ],
        Must,
        "PAR without redirect_uri is rejected"
    ),
    oidf!(
        "CONF-OIDF-REFRESH",
        [],
        ["ISS-TRT-01", "ISS-TRT-02", "ISS-TRT-03"],
        ["OIDF FAPI2SP refresh token", "RFC 6749 §6", "RFC 9449 §5"],
        Must,
        "A refresh token yields a working DPoP-bound access token, and only with the original DPoP key"
    ),
    // ---------------------------------------------------------------- the deployed matrix
    case!(
        "CONF-TC001",
        "VCI-001",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-02",
            "VCI-CHECK-03",
            "VCI-CHECK-03A",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07"
        ],
        ["APT §10.2"],
        "Authorization code, PID SD-JWT, issuer key as jwk"
    ),
    case!(
        "CONF-TC002",
        "VCI-002",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-02",
            "VCI-CHECK-03",
            "VCI-CHECK-03A",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07"
        ],
        ["APT §10.2"],
        "Authorization code, PID SD-JWT, issuer key by kid → JWKS"
    ),
    case!(
        "CONF-TC004",
        "VCI-004",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-02",
            "VCI-CHECK-03",
            "VCI-CHECK-03A",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07"
        ],
        ["APT §10.2"],
        "Authorization code, PID SD-JWT, issuer key by did:web"
    ),
    case!(
        "CONF-TC005",
        "VCI-005",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-02",
            "VCI-CHECK-03",
            "VCI-CHECK-03A",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07",
            "VCI-CHECK-08"
        ],
        ["APT §10.2"],
        "Authorization code, mdoc, X.509"
    ),
    case!(
        "CONF-TC006",
        "VCI-006",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-04",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07"
        ],
        ["APT §10.2"],
        "Pre-authorized code without tx_code, PID SD-JWT, X.509"
    ),
    case!(
        "CONF-TC007",
        "VCI-007",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-04",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07",
            "VCI-CHECK-09"
        ],
        ["APT §10.2"],
        "Pre-authorized code with tx_code, PID SD-JWT, X.509"
    ),
    case!(
        "CONF-TC008",
        "VCI-008",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-04",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07",
            "VCI-CHECK-08"
        ],
        ["APT §10.2"],
        "Pre-authorized code without tx_code, mdoc, X.509"
    ),
    case!(
        "CONF-TC009",
        "VCI-009",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-02",
            "VCI-CHECK-03",
            "VCI-CHECK-03A",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07",
            "VCI-CHECK-10"
        ],
        ["APT §10.2"],
        "Authorization code, PID SD-JWT, credential response encrypted with A128GCM"
    ),
    case!(
        "CONF-TC010",
        "VCI-010",
        [
            "VCI-CHECK-01",
            "VCI-CHECK-02",
            "VCI-CHECK-03",
            "VCI-CHECK-03A",
            "VCI-CHECK-05",
            "VCI-CHECK-06",
            "VCI-CHECK-06A",
            "VCI-CHECK-07",
            "VCI-CHECK-11"
        ],
        ["APT §10.2"],
        "Authorization code, PID SD-JWT, credential response encrypted with A256GCM"
    ),
];

impl CheckDef {
    pub fn runs_in(&self, mode: Mode) -> bool {
        self.modes.contains(&mode)
    }
}

pub fn find(id: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|c| c.id == id)
}

pub fn catalogue_entry(id: &str) -> Option<&'static CatalogueEntry> {
    CATALOGUE.iter().find(|c| c.id == id)
}

/// The checks and cases of `mode` a selection names, in run order.
///
/// A selection item is a matrix id (`VCI-006`: the case and every check of
/// the catalogue checks it covers), a catalogue id (`VCI-CHECK-04`), or a
/// CONF id or prefix (`CONF-C06`, `CONF-C06-01`, `CONF-TC006`). An empty
/// selection is everything of the mode. An id that names nothing is an
/// error, so `VCI-003` (which does not exist, CONF-RUN-06) is refused.
pub fn select(mode: Mode, selection: &[String]) -> Result<Vec<&'static CheckDef>, String> {
    let of_mode = || CHECKS.iter().filter(move |c| c.runs_in(mode));
    if selection.is_empty() {
        return Ok(of_mode().collect());
    }
    let mut wanted = std::collections::BTreeSet::new();
    for item in selection {
        let item = item.trim();
        let mut known = false;
        if let Some(case) = CHECKS.iter().find(|c| c.matrix == Some(item)) {
            known = true;
            if case.runs_in(mode) {
                wanted.insert(case.id);
                for c in of_mode().filter(|c| {
                    c.kind == Kind::Check && c.catalogue.iter().any(|k| case.catalogue.contains(k))
                }) {
                    wanted.insert(c.id);
                }
            }
        } else if item.starts_with("VCI-CHECK-") {
            known = catalogue_entry(item).is_some();
            for c in of_mode().filter(|c| c.kind == Kind::Check && c.catalogue.contains(&item)) {
                wanted.insert(c.id);
            }
        } else if item.starts_with("CONF-") {
            for c in CHECKS.iter().filter(|c| c.id.starts_with(item)) {
                known = true;
                if c.runs_in(mode) {
                    wanted.insert(c.id);
                    // A case runs with the checks it is composed of.
                    if c.kind == Kind::Case {
                        for k in of_mode().filter(|k| {
                            k.kind == Kind::Check
                                && k.catalogue.iter().any(|x| c.catalogue.contains(x))
                        }) {
                            wanted.insert(k.id);
                        }
                    }
                }
            }
        }
        if !known {
            return Err(format!(
                "{item} names no check or case (cases are VCI-001, 002, 004 … 010; checks VCI-CHECK-nn or CONF-…)"
            ));
        }
    }
    Ok(of_mode().filter(|c| wanted.contains(c.id)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_catalogue_references_exist() {
        let mut ids = std::collections::BTreeSet::new();
        for c in CHECKS {
            assert!(ids.insert(c.id), "duplicate {}", c.id);
            for k in c.catalogue {
                assert!(catalogue_entry(k).is_some(), "{} names {k}", c.id);
            }
            assert_eq!(c.requirements.first(), Some(&c.id));
        }
    }

    #[test]
    fn only_the_matrix_ids_exist() {
        let matrix: Vec<&str> = CHECKS.iter().filter_map(|c| c.matrix).collect();
        assert_eq!(
            matrix,
            [
                "VCI-001", "VCI-002", "VCI-004", "VCI-005", "VCI-006", "VCI-007", "VCI-008",
                "VCI-009", "VCI-010"
            ]
        );
        assert!(select(Mode::Issuer, &["VCI-003".into()]).is_err());
    }

    #[test]
    fn a_case_selects_its_checks() {
        let selected = select(Mode::Issuer, &["VCI-006".into()]).unwrap_or_default();
        let ids: Vec<&str> = selected.iter().map(|c| c.id).collect();
        assert!(ids.contains(&"CONF-TC006"));
        assert!(ids.contains(&"CONF-C04-01"));
        assert!(ids.contains(&"CONF-C07-04"));
        assert!(!ids.contains(&"CONF-C02-01"), "no code flow in VCI-006");
        assert!(!ids.contains(&"CONF-C01-05"), "wallet checks stay out");
        let one = select(Mode::Issuer, &["CONF-C06-01".into()]).unwrap_or_default();
        assert_eq!(one.len(), 1);
        assert!(select(Mode::Issuer, &["CONF-C99".into()]).is_err());
    }
}
