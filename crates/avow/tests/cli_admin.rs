//! The operator's CLI end to end (ISS-DEF-08, ISS-STAT-06, ISS-NOTIF-06,
//! WAL-DEF-07): the real `avow` binary against an in-process issuer on
//! loopback — an offer, a deferred issuance the operator approves (and one
//! they deny), the wallet's `pending --poll`, the notification the wallet
//! sent, and a revocation the wallet's `status` then sees.

use avow_issuer::config::CredentialConfigurationConfig;
use avow_issuer::{IssuerConfig, RunningIssuer, build_state};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

struct Issuer {
    running: Option<RunningIssuer>,
    admin_url: String,
    admin_token: String,
    anchor: PathBuf,
    provider: PathBuf,
    dir: PathBuf,
}

impl Drop for Issuer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn start_issuer() -> Issuer {
    let dir =
        std::env::temp_dir().join(format!("avow-cli-admin-{}", uuid::Uuid::new_v4().simple()));
    let public = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let admin = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let public_addr = public.local_addr().expect("addr");
    let admin_addr = admin.local_addr().expect("addr");
    let mut config = IssuerConfig::defaults().expect("defaults");
    config.server.public_url = format!("http://{public_addr}");
    config.server.listen = public_addr.to_string();
    config.server.admin_listen = admin_addr.to_string();
    config.storage.data_dir = dir.clone();
    config.deferred.enabled = true;
    config.notifications.enabled = true;
    let mut deferred: CredentialConfigurationConfig = config
        .credential_configurations
        .get("pid-sd-jwt")
        .cloned()
        .expect("pid");
    deferred.scope = "pid-deferred".into();
    deferred.deferred = true;
    deferred.deferred_interval = Some(1);
    config
        .credential_configurations
        .insert("pid-deferred".into(), deferred);
    let state = build_state(
        config,
        Arc::new(avow_core::SystemClock),
        Arc::new(avow_crypto::SystemRandom),
    )
    .await
    .expect("state");
    let anchor = state.keys.dev_anchor.clone().expect("dev anchor");
    let admin_token = state.admin_token.clone();
    let running = RunningIssuer::start(state, public, admin).expect("start");
    let admin_url = format!("http://{admin_addr}");
    let holders: serde_json::Value =
        serde_json::from_str(avow_issuer::config::DEMO_HOLDERS).expect("holders");
    let response = reqwest::Client::new()
        .put(format!("{admin_url}/admin/holders"))
        .bearer_auth(&admin_token)
        .json(&holders)
        .send()
        .await
        .expect("import");
    assert_eq!(response.status().as_u16(), 200);
    Issuer {
        running: Some(running),
        admin_url,
        admin_token,
        anchor,
        provider: dir.join("dev-pki"),
        dir,
    }
}

/// Runs `avow ARGS…` off the async runtime; (exit success, stdout + stderr).
async fn avow(args: Vec<String>) -> (bool, String) {
    tokio::task::spawn_blocking(move || {
        let out = Command::new(env!("CARGO_BIN_EXE_avow"))
            .args(&args)
            .env_remove("AVOW_ADMIN_TOKEN")
            .env_remove("AVOW_WALLET_DIR")
            .output()
            .expect("run avow");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    })
    .await
    .expect("join")
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

impl Issuer {
    fn admin(&self, list: &[&str]) -> Vec<String> {
        let mut a = args(list);
        a.extend(args(&[
            "--admin-url",
            &self.admin_url,
            "--admin-token",
            &self.admin_token,
        ]));
        a
    }

    fn wallet(&self, wallet_dir: &Path, list: &[&str]) -> Vec<String> {
        let mut a = args(list);
        a.extend(args(&[
            "--wallet-dir",
            &wallet_dir.display().to_string(),
            "--trust-anchor",
            &self.anchor.display().to_string(),
            "--dev",
            "--dev-wallet-provider",
            &self.provider.display().to_string(),
        ]));
        a
    }

    async fn offer(&self, configuration: &str) -> String {
        let qr = self
            .dir
            .join(format!("{}.svg", uuid::Uuid::new_v4().simple()));
        let (ok, out) = avow(self.admin(&[
            "issuer",
            "offer",
            "--holder",
            "demo-erika",
            "--config-id",
            configuration,
            "--qr",
            &qr.display().to_string(),
        ]))
        .await;
        assert!(ok, "{out}");
        out.lines()
            .skip_while(|l| !l.starts_with("Credential offer (by reference)"))
            .nth(1)
            .map(|l| l.trim().to_owned())
            .expect("the by-reference link")
    }

    /// Receives a deferred offer; the wallet's pending id.
    async fn receive_deferred(&self, wallet_dir: &Path) -> String {
        let link = self.offer("pid-deferred").await;
        let (ok, out) = avow(self.wallet(wallet_dir, &["wallet", "receive", &link, "--yes"])).await;
        assert!(ok, "{out}");
        out.lines()
            .find_map(|l| l.strip_prefix("pending "))
            .and_then(|l| l.split(':').next())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("a pending issuance: {out}"))
    }

    /// The id of the only pending transaction at the issuer.
    async fn pending_transaction(&self) -> String {
        let (ok, out) =
            avow(self.admin(&["issuer", "deferred", "list", "--state", "pending"])).await;
        assert!(ok, "{out}");
        let lines: Vec<&str> = out.lines().filter(|l| l.contains("PENDING")).collect();
        assert_eq!(lines.len(), 1, "{out}");
        lines[0].split_whitespace().next().expect("id").to_owned()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_approves_denies_and_revokes_through_the_cli() {
    let mut issuer = start_issuer().await;
    let wallet_dir = issuer.dir.join("wallet");

    // ISS-DEF-08: approve through the CLI; the wallet's poll gets the credential.
    issuer.receive_deferred(&wallet_dir).await;
    let transaction = issuer.pending_transaction().await;
    let (ok, out) = avow(issuer.admin(&["issuer", "deferred", "approve", &transaction])).await;
    assert!(ok && out.contains("APPROVED"), "{out}");
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (ok, out) = avow(issuer.wallet(&wallet_dir, &["wallet", "pending", "--poll"])).await;
    assert!(ok && out.contains("received"), "{out}");
    let credential = out
        .lines()
        .find_map(|l| l.strip_prefix("stored "))
        .and_then(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a stored credential: {out}"));

    // ISS-NOTIF-06: the wallet's credential_accepted is visible to the operator.
    let (ok, out) =
        avow(issuer.admin(&["issuer", "notifications", "--holder", "demo-erika"])).await;
    assert!(ok && out.contains("credential_accepted"), "{out}");

    // ISS-DEF-08: deny; the wallet's poll marks the transaction failed (WAL-DEF-05).
    issuer.receive_deferred(&wallet_dir).await;
    let transaction = issuer.pending_transaction().await;
    let (ok, out) = avow(issuer.admin(&[
        "issuer",
        "deferred",
        "deny",
        &transaction,
        "--reason",
        "documents missing",
    ]))
    .await;
    assert!(
        ok && out.contains("DENIED") && out.contains("documents missing"),
        "{out}"
    );
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let (ok, out) = avow(issuer.wallet(&wallet_dir, &["wallet", "pending", "--poll"])).await;
    assert!(ok && out.contains("FAILED"), "{out}");

    // ISS-STAT-06: revoke through the CLI; the wallet's status check sees it.
    let (ok, out) = avow(issuer.wallet(&wallet_dir, &["wallet", "status", &credential])).await;
    assert!(ok && out.contains("VALID"), "{out}");
    let (ok, out) =
        avow(issuer.admin(&["issuer", "status", "list", "--holder", "demo-erika"])).await;
    assert!(ok, "{out}");
    let issuance = out
        .lines()
        .find(|l| l.starts_with("pid-deferred") && l.contains("VALID"))
        .and_then(|l| l.split_whitespace().nth(1))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("the issuance: {out}"));
    let (ok, out) = avow(issuer.admin(&["issuer", "status", "suspend", &issuance])).await;
    assert!(ok && out.contains("SUSPENDED"), "{out}");
    let (ok, out) = avow(issuer.wallet(&wallet_dir, &["wallet", "status", &credential])).await;
    assert!(!ok && out.contains("SUSPENDED"), "suspended: {out}");
    let (ok, out) = avow(issuer.admin(&["issuer", "status", "resume", &issuance])).await;
    assert!(ok && out.contains("VALID"), "{out}");
    let (ok, out) = avow(issuer.admin(&["issuer", "status", "revoke", &issuance])).await;
    assert!(ok && !out.contains(" VALID"), "{out}");
    let (ok, out) = avow(issuer.admin(&["issuer", "status", "show", &issuance])).await;
    assert!(ok && !out.contains(" VALID "), "{out}");
    let (ok, out) = avow(issuer.wallet(&wallet_dir, &["wallet", "status", &credential])).await;
    assert!(!ok && out.contains("INVALID"), "revoked: {out}");
    // Revocation is final (TSL §7.1): resuming is refused.
    let (ok, out) = avow(issuer.admin(&["issuer", "status", "resume", &issuance])).await;
    assert!(!ok, "a revoked credential cannot be resumed: {out}");

    if let Some(running) = issuer.running.take() {
        running.stop().await;
    }
}
