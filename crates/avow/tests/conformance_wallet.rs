//! The wallet-mode self-test (CONF-RUN-07, CONF-TC-ALL): `avow wallet`, the
//! real CLI, passes every wallet check and case against the runner's
//! reference issuer; and a wallet that misbehaves — the same CLI behind a
//! forward proxy that breaks one thing it sends (`HTTP_PROXY`) — FAILS the
//! check that covers it. A check that cannot fail is a defect.

use avow_conformance::report::{Report, Status};
use avow_conformance::{RunOptions, WalletDriver, WalletProviderPki, WutOptions, run_wallet};
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::response::{IntoResponse, Response};
use std::path::{Path, PathBuf};
use std::time::Duration;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("avow-wut-{tag}-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn quote(p: &Path) -> String {
    format!("'{}'", p.display().to_string().replace('\'', "'\\''"))
}

/// The hooks that run the real `avow wallet` CLI, optionally through `proxy`.
fn driver(wallet_dir: &Path, pki_dir: &Path, proxy: Option<&str>) -> WalletDriver {
    let exe = quote(Path::new(env!("CARGO_BIN_EXE_avow")));
    let env = proxy
        .map(|p| format!("HTTP_PROXY={p} http_proxy={p} NO_PROXY= no_proxy= "))
        .unwrap_or_default();
    let common = format!(
        "--wallet-dir {} --trust-anchor \"$AVOW_CONFORMANCE_TRUST_ANCHOR\" --dev --dev-wallet-provider {}",
        quote(wallet_dir),
        quote(pki_dir)
    );
    WalletDriver::Command {
        receive: format!(
            "{env}{exe} wallet receive \"$AVOW_CONFORMANCE_OFFER\" {common} --yes \
             --login-user \"$AVOW_CONFORMANCE_LOGIN_USER\" --login-password \"$AVOW_CONFORMANCE_LOGIN_PASSWORD\" \
             ${{AVOW_CONFORMANCE_TX_CODE:+--tx-code \"$AVOW_CONFORMANCE_TX_CODE\"}}"
        ),
        poll_deferred: Some(format!("{env}{exe} wallet pending --watch {common}")),
        timeout: Duration::from_secs(120),
    }
}

async fn run(selection: &[&str], proxy: Option<&str>) -> Report {
    run_with(selection, proxy, avow_conformance::wut::Listen::default()).await
}

async fn run_with(
    selection: &[&str],
    proxy: Option<&str>,
    listen: avow_conformance::wut::Listen,
) -> Report {
    let wallet = TempDir::new("wallet");
    let pki = TempDir::new("pki");
    let issuer = TempDir::new("issuer");
    let provider =
        WalletProviderPki::generate_or_load(&pki.0, avow_conformance::iut::now()).expect("PKI");
    let mut options = WutOptions::new(driver(&wallet.0, &pki.0, proxy), issuer.0.clone());
    options.wallet_provider_anchors = vec![provider.ca_path()];
    options.listen = listen;
    options.schemes = vec!["openid-credential-offer://".into(), "haip-vci://".into()];
    let run = RunOptions {
        selection: selection.iter().map(|s| (*s).to_owned()).collect(),
        allow_unimplemented: false,
        inputs: Vec::new(),
    };
    run_wallet(options, &run).await.expect("the run completes")
}

fn status(report: &Report, id: &str) -> Status {
    report
        .result(id)
        .unwrap_or_else(|| panic!("{id} not in the report:\n{}", report.text_summary()))
        .verdict
        .status
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn avow_wallet_passes_every_wallet_check_and_case() {
    let report = run(&[], None).await;
    let summary = report.text_summary();
    eprintln!("{summary}");
    for r in &report.results {
        assert_eq!(
            r.verdict.status,
            Status::Pass,
            "{} is {:?}: {:?}\n{}",
            r.id,
            r.verdict.status,
            r.verdict.reason,
            serde_json::to_string_pretty(&r.assertions).unwrap_or_default()
        );
    }
    assert!(report.passed(), "{summary}");
    for id in [
        "CONF-C01-05",
        "CONF-C02-03",
        "CONF-C03-04",
        "CONF-C03A-06",
        "CONF-C04-04",
        "CONF-C05-05",
        "CONF-C06-04",
        "CONF-C06A-04",
        "CONF-C07-06",
        "CONF-C08-03",
        "CONF-C09-01",
        "CONF-C09-02",
        "CONF-C10-05",
        "CONF-C11-01",
        "CONF-WDEF-01",
        "CONF-WNOTIF-01",
        "CONF-TC001",
        "CONF-TC002",
        "CONF-TC004",
        "CONF-TC005",
        "CONF-TC006",
        "CONF-TC007",
        "CONF-TC008",
        "CONF-TC009",
        "CONF-TC010",
    ] {
        assert_eq!(status(&report, id), Status::Pass, "{id}\n{summary}");
    }
    assert!(
        report.result("CONF-C04-01").is_none(),
        "issuer-mode checks are not part of a wallet run"
    );
    let json = report.to_json();
    let parsed: serde_json::Value = serde_json::from_str(&json).expect("JSON report");
    assert_eq!(parsed["mode"], "wallet");
    assert!(parsed["target"]["wallet_under_test"].is_string());
    assert!(
        !json.contains("erika-demo-password"),
        "no secret reaches the report"
    );
}

// ---------------------------------------------------------------- broken wallets

/// One thing the proxy breaks in what the wallet sends.
#[derive(Clone, Copy, Debug)]
enum Fault {
    /// The PAR loses its attestation PoP header.
    DropsPop,
    /// The PAR says `code_challenge_method=plain`.
    PlainPkce,
    /// Credential requests use the legacy `proof` parameter.
    LegacyProof,
    /// The token request loses its `tx_code`.
    DropsTxCode,
    /// Notifications never reach the issuer.
    NeverNotifies,
}

#[derive(Clone)]
struct Proxy {
    fault: Fault,
    http: reqwest::Client,
}

fn rewrite_form(body: &[u8], f: impl Fn(&str, &str) -> Option<(String, String)>) -> Vec<u8> {
    let text = String::from_utf8_lossy(body);
    text.split('&')
        .filter_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            f(k, v).map(|(k, v)| format!("{k}={v}"))
        })
        .collect::<Vec<_>>()
        .join("&")
        .into_bytes()
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let mut body = axum::body::to_bytes(body, 8 << 20)
        .await
        .unwrap_or_default()
        .to_vec();
    let url = parts.uri.to_string();
    let path = parts.uri.path().to_owned();
    let mut headers = parts.headers.clone();
    headers.remove("host");
    headers.remove("content-length");
    headers.remove("proxy-connection");
    match (proxy.fault, path.as_str()) {
        (Fault::DropsPop, "/par") => {
            headers.remove("oauth-client-attestation-pop");
        }
        (Fault::PlainPkce, "/par") => {
            body = rewrite_form(&body, |k, v| {
                Some((
                    k.to_owned(),
                    if k == "code_challenge_method" {
                        "plain".to_owned()
                    } else {
                        v.to_owned()
                    },
                ))
            });
        }
        (Fault::DropsTxCode, "/token") => {
            body = rewrite_form(&body, |k, v| {
                (k != "tx_code").then(|| (k.to_owned(), v.to_owned()))
            });
        }
        (Fault::LegacyProof, "/credential") => {
            if let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(&body)
                && let Some(obj) = json.as_object_mut()
                && let Some(proofs) = obj.remove("proofs")
            {
                let first = proofs
                    .get("jwt")
                    .and_then(|a| a.get(0))
                    .cloned()
                    .unwrap_or_default();
                obj.insert(
                    "proof".into(),
                    serde_json::json!({"proof_type": "jwt", "jwt": first}),
                );
                body = serde_json::to_vec(&json).unwrap_or_default();
            }
        }
        (Fault::NeverNotifies, "/notification") => {
            return axum::http::StatusCode::NO_CONTENT.into_response();
        }
        _ => {}
    }
    let sent = proxy
        .http
        .request(parts.method.clone(), &url)
        .headers(headers)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let status = response.status();
            let headers = response.headers().clone();
            let bytes: Bytes = response.bytes().await.unwrap_or_default();
            let mut out = Response::new(axum::body::Body::from(bytes));
            *out.status_mut() = status;
            for (k, v) in &headers {
                if k != "transfer-encoding" && k != "content-length" {
                    out.headers_mut().append(k.clone(), v.clone());
                }
            }
            out
        }
        Err(e) => (axum::http::StatusCode::BAD_GATEWAY, e.to_string()).into_response(),
    }
}

async fn start_proxy(fault: Fault) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind proxy");
    let addr = listener.local_addr().expect("addr");
    let proxy = Proxy {
        fault,
        http: reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client"),
    };
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_wallet_fails_the_check_that_covers_it() {
    // The fault, the check it must fail, and what the failure must say.
    for (fault, id, observed) in [
        (
            Fault::DropsPop,
            "CONF-C03A-06",
            "no OAuth-Client-Attestation-PoP header",
        ),
        (
            Fault::PlainPkce,
            "CONF-C02-03",
            "code_challenge_method=S256",
        ),
        (Fault::PlainPkce, "CONF-C03-04", "plain"),
        (
            Fault::LegacyProof,
            "CONF-C05-05",
            "the legacy proof parameter",
        ),
        (Fault::DropsTxCode, "CONF-C09-01", "no tx_code"),
        (Fault::NeverNotifies, "CONF-WNOTIF-01", "no notification"),
    ] {
        let proxy = start_proxy(fault).await;
        let report = run(&[id], Some(&proxy)).await;
        assert_eq!(
            status(&report, id),
            Status::Fail,
            "{fault:?} must fail {id}:\n{}",
            report.text_summary()
        );
        let result = report.result(id).expect("in the report");
        assert!(
            result
                .assertions
                .iter()
                .any(|a| a.status == Status::Fail && a.observed.contains(observed)),
            "{fault:?}: {id} fails for another reason: {}",
            serde_json::to_string_pretty(&result.assertions).unwrap_or_default()
        );
        assert!(!report.passed());
        assert_ne!(report.exit_code(), 0);
    }
}

/// Fixed ports and a public URL (the set-up for a phone wallet behind a
/// TLS-terminating proxy; here the "proxy" is the identity on loopback):
/// each reference issuer is its own origin on the next port.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_issuers_on_fixed_ports_with_a_public_url() {
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = probe.local_addr().expect("addr").port().min(65_000);
    drop(probe);
    let listen = avow_conformance::wut::Listen {
        host: "127.0.0.1".into(),
        first_port: port,
        public_url: Some(format!("http://127.0.0.1:{port}")),
    };
    let report = run_with(&["CONF-C04-04", "CONF-C10-05"], None, listen).await;
    assert!(report.passed(), "{}", report.text_summary());
    let issuers = &report.target.credential_issuer;
    assert!(
        issuers.contains(&format!("http://127.0.0.1:{port}"))
            && issuers.contains(&format!("http://127.0.0.1:{}", port + 1)),
        "{issuers}"
    );
}
