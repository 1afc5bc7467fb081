//! Which scenarios each wallet check reads, and the deployed cases in
//! wallet mode (CONF-TC-ALL): one end-to-end issuance per case, judged by
//! the wallet-side assertions of the catalogue checks the case covers, and
//! passed only when the wallet keeps the credential.

use super::reference_issuer::{Profile, configurations as cfg};
use super::{Grant, Scenario, TxCodeMode, Wut, checks};
use crate::catalogue::CheckDef;
use crate::report::{Assertion, SkipKind};
use avow_crypto::x509::TrustAnchors;

fn pre(configuration: &'static str) -> Scenario {
    Scenario::new(Grant::PreAuthorized, configuration)
}

fn code(configuration: &'static str) -> Scenario {
    Scenario::new(Grant::AuthorizationCode, configuration)
}

/// The scenario of a deployed case in wallet mode.
pub fn case_scenario(id: &str) -> Option<Scenario> {
    Some(match id {
        "CONF-TC001" => code(cfg::PID_JWK),
        "CONF-TC002" => code(cfg::PID_KID),
        "CONF-TC004" => code(cfg::PID_DID_WEB),
        "CONF-TC005" => code(cfg::PID_MDOC),
        "CONF-TC006" => pre(cfg::PID_X509),
        "CONF-TC007" => pre(cfg::PID_X509).tx_code(TxCodeMode::Described),
        "CONF-TC008" => pre(cfg::PID_MDOC),
        "CONF-TC009" => code(cfg::PID_X509).profile(Profile::A128Gcm),
        "CONF-TC010" => code(cfg::PID_X509).profile(Profile::A256Gcm),
        _ => return None,
    })
}

/// Runs one wallet check or case.
pub async fn run_one(wut: &Wut, def: &CheckDef) -> Vec<Assertion> {
    let anchors = &wut.anchors;
    let mut out = Vec::new();
    match def.id {
        "CONF-C01-05" => {
            for scheme in &wut.options.schemes {
                for s in [
                    pre(cfg::PID_X509).scheme(scheme),
                    pre(cfg::PID_X509).scheme(scheme).by_reference(),
                ] {
                    out.extend(checks::c01_05(&*wut.transaction(&s).await));
                }
            }
            out.extend(checks::c01_05(
                &*wut.transaction(&code(cfg::PID_X509)).await,
            ));
        }
        "CONF-C02-03" => out.extend(checks::c02_03(
            &*wut.transaction(&code(cfg::PID_X509)).await,
        )),
        "CONF-C03-04" => out.extend(checks::c03_04(
            &*wut.transaction(&code(cfg::PID_X509)).await,
        )),
        "CONF-C03A-06" => {
            for s in [code(cfg::PID_X509), pre(cfg::PID_X509)] {
                out.extend(checks::c03a_06(&*wut.transaction(&s).await, anchors));
            }
        }
        "CONF-C04-04" => out.extend(checks::c04_04(&*wut.transaction(&pre(cfg::PID_X509)).await)),
        "CONF-C05-05" => {
            for s in [pre(cfg::PID_X509), code(cfg::PID_X509), pre(cfg::PID_MDOC)] {
                out.extend(checks::c05_05(&*wut.transaction(&s).await));
            }
        }
        "CONF-C06-04" => {
            for s in [pre(cfg::PID_X509), code(cfg::PID_X509)] {
                out.extend(checks::c06_04(&*wut.transaction(&s).await));
            }
        }
        "CONF-C06A-04" => {
            for s in [pre(cfg::PID_X509), pre(cfg::PID_MDOC)] {
                out.extend(checks::c06a_04(&*wut.transaction(&s).await, anchors));
            }
        }
        "CONF-C07-06" => {
            for c in [cfg::PID_JWK, cfg::PID_KID, cfg::PID_DID_WEB, cfg::PID_X509] {
                out.push(checks::stores(&*wut.transaction(&pre(c)).await));
            }
            out.push(checks::refuses(
                &*wut
                    .transaction(&pre(cfg::PID_X509).unpublished_signer())
                    .await,
            ));
        }
        "CONF-C08-03" => out.extend(checks::c08_03(&*wut.transaction(&pre(cfg::PID_MDOC)).await)),
        "CONF-C09-01" => out.extend(checks::c09(
            &*wut
                .transaction(&pre(cfg::PID_X509).tx_code(TxCodeMode::Described))
                .await,
            true,
        )),
        "CONF-C09-02" => out.extend(checks::c09(
            &*wut
                .transaction(&pre(cfg::PID_X509).tx_code(TxCodeMode::EmptyNotEnforced))
                .await,
            false,
        )),
        "CONF-C10-05" => out.extend(checks::c10_05(
            &*wut
                .transaction(&code(cfg::PID_X509).profile(Profile::A128Gcm))
                .await,
            "A128GCM",
        )),
        "CONF-C11-01" => out.extend(checks::c10_05(
            &*wut
                .transaction(&code(cfg::PID_X509).profile(Profile::A256Gcm))
                .await,
            "A256GCM",
        )),
        "CONF-WDEF-01" => out.extend(checks::deferred_polling(
            &*wut.transaction(&pre(cfg::PID_DEFERRED)).await,
        )),
        "CONF-WNOTIF-01" => {
            out.extend(checks::notification(
                &*wut.transaction(&pre(cfg::PID_X509)).await,
                true,
            ));
            out.extend(checks::notification(
                &*wut
                    .transaction(&pre(cfg::PID_X509).unpublished_signer())
                    .await,
                false,
            ));
        }
        id => match case_scenario(id) {
            Some(s) => {
                let t = wut.transaction(&s).await;
                out.extend(case_assertions(def, &t, anchors));
            }
            None => out.push(Assertion::skipped(
                id,
                SkipKind::NotImplemented,
                "no wallet-mode assertions for this id",
            )),
        },
    }
    out
}

/// A case: the wallet-side assertions of every catalogue check it covers, on its one issuance.
fn case_assertions(
    def: &CheckDef,
    t: &super::Transaction,
    anchors: &TrustAnchors,
) -> Vec<Assertion> {
    let mut out = Vec::new();
    for k in def.catalogue {
        match *k {
            "VCI-CHECK-01" => out.extend(checks::c01_05(t)),
            "VCI-CHECK-02" => out.extend(checks::c02_03(t)),
            "VCI-CHECK-03" => out.extend(checks::c03_04(t)),
            "VCI-CHECK-03A" => out.extend(checks::c03a_06(t, anchors)),
            "VCI-CHECK-04" => out.extend(checks::c04_04(t)),
            "VCI-CHECK-05" => out.extend(checks::c05_05(t)),
            "VCI-CHECK-06" if t.scenario.configuration != cfg::PID_MDOC => {
                out.extend(checks::c06_04(t));
            }
            "VCI-CHECK-06A" => out.extend(checks::c06a_04(t, anchors)),
            "VCI-CHECK-08" => out.extend(checks::c08_03(t)),
            "VCI-CHECK-09" => out.extend(checks::c09(t, true)),
            "VCI-CHECK-10" => out.extend(checks::c10_05(t, "A128GCM")),
            "VCI-CHECK-11" => out.extend(checks::c10_05(t, "A256GCM")),
            // VCI-CHECK-07 in wallet mode is the credential kept (below);
            // a `jwt` proof check does not apply on the mdoc proof path.
            _ => {}
        }
    }
    out.push(checks::stores(t));
    out
}
