//! How the runner hands an offer to the wallet under test and knows it is
//! done (CONF-RUN-01: "prints offers for the WUT").
//!
//! * [`WalletDriver::Command`]: a shell command per offer (a CLI wallet, an
//!   emulator script, a device-farm hook). The offer and its inputs arrive
//!   as environment variables, so any wallet's flags can be composed in the
//!   shell: `AVOW_CONFORMANCE_OFFER`, `AVOW_CONFORMANCE_TX_CODE` (set only
//!   when the offer asks for one), `AVOW_CONFORMANCE_ISSUER`,
//!   `AVOW_CONFORMANCE_TRUST_ANCHOR` (PEM of the issuer CA),
//!   `AVOW_CONFORMANCE_LOGIN_USER` / `_PASSWORD` (the holder's login at the
//!   reference issuer). An optional second command polls deferred
//!   issuances, for wallets whose CLI returns after a `202`.
//! * [`WalletDriver::Manual`]: prints the offer for a person with a wallet
//!   and waits until the wallet notifies the issuer, or the wait is over.
//!   A transaction that ends by timeout proves nothing: the checks it was
//!   for fail (CONF-RUN-04).

use super::observer::Observer;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Longest tail of a hook's output kept in a report.
const OUTPUT_TAIL: usize = 1500;

#[derive(Debug, Clone)]
pub enum WalletDriver {
    Command {
        /// Runs once per offer (`sh -c`).
        receive: String,
        /// Runs after `receive` in deferred transactions, until it exits.
        poll_deferred: Option<String>,
        /// Longest run of one command.
        timeout: Duration,
    },
    Manual {
        /// Longest wait for one transaction.
        wait: Duration,
    },
}

/// What the wallet gets for one transaction.
#[derive(Debug, Clone)]
pub struct HookInputs {
    pub offer: String,
    pub tx_code: Option<String>,
    pub issuer: String,
    pub trust_anchor: Option<PathBuf>,
    pub login_user: String,
    pub login_password: String,
}

/// How a drive ended.
#[derive(Debug, Clone)]
pub struct DriveOutcome {
    /// The hook's exit status (`None`: manual, or killed by the timeout).
    pub success: Option<bool>,
    pub timed_out: bool,
    /// Exit status and the tail of the output, for the report.
    pub summary: String,
    pub duration: Duration,
}

fn tail(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let chars: Vec<char> = text.chars().collect();
    let start = chars.len().saturating_sub(OUTPUT_TAIL);
    chars.get(start..).unwrap_or_default().iter().collect()
}

async fn run_command(command: &str, inputs: &HookInputs, timeout: Duration) -> DriveOutcome {
    let started = Instant::now();
    let mut cmd = tokio::process::Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .env("AVOW_CONFORMANCE_OFFER", &inputs.offer)
        .env("AVOW_CONFORMANCE_ISSUER", &inputs.issuer)
        .env("AVOW_CONFORMANCE_LOGIN_USER", &inputs.login_user)
        .env("AVOW_CONFORMANCE_LOGIN_PASSWORD", &inputs.login_password)
        .env_remove("AVOW_CONFORMANCE_TX_CODE")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    if let Some(code) = &inputs.tx_code {
        cmd.env("AVOW_CONFORMANCE_TX_CODE", code);
    }
    if let Some(anchor) = &inputs.trust_anchor {
        cmd.env("AVOW_CONFORMANCE_TRUST_ANCHOR", anchor);
    }
    match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => DriveOutcome {
            success: None,
            timed_out: true,
            summary: format!("killed after {} s", timeout.as_secs()),
            duration: started.elapsed(),
        },
        Ok(Err(e)) => DriveOutcome {
            success: Some(false),
            timed_out: false,
            summary: format!("could not run the wallet command: {e}"),
            duration: started.elapsed(),
        },
        Ok(Ok(output)) => DriveOutcome {
            success: Some(output.status.success()),
            timed_out: false,
            summary: format!(
                "{}\n--- stdout (tail)\n{}\n--- stderr (tail)\n{}",
                output.status,
                tail(&output.stdout),
                tail(&output.stderr)
            ),
            duration: started.elapsed(),
        },
    }
}

impl WalletDriver {
    pub fn describe(&self) -> String {
        match self {
            Self::Command {
                receive,
                poll_deferred,
                ..
            } => match poll_deferred {
                Some(poll) => format!("command `{receive}`, deferred polling `{poll}`"),
                None => format!("command `{receive}`"),
            },
            Self::Manual { wait } => {
                format!(
                    "manual: offers printed, up to {} s per transaction",
                    wait.as_secs()
                )
            }
        }
    }

    /// Hands the offer over and returns when the wallet is done with it.
    pub async fn receive(
        &self,
        label: &str,
        inputs: &HookInputs,
        observer: &Observer,
        from: u64,
    ) -> DriveOutcome {
        match self {
            Self::Command {
                receive, timeout, ..
            } => run_command(receive, inputs, *timeout).await,
            Self::Manual { wait } => {
                eprintln!("\n== {label}\nOffer: {}", inputs.offer);
                if let Some(code) = &inputs.tx_code {
                    eprintln!("Transaction code: {code}");
                }
                eprintln!(
                    "Holder login at the issuer: {} / {}",
                    inputs.login_user, inputs.login_password
                );
                let started = Instant::now();
                let done = observer
                    .wait_for(from, *wait, |o| {
                        o.path == "/notification" || (o.path == "/credential" && !o.succeeded())
                    })
                    .await;
                DriveOutcome {
                    success: None,
                    timed_out: done.is_none(),
                    summary: match done {
                        Some(o) => format!("the wallet finished with {} {}", o.method, o.path),
                        None => format!("no notification within {} s", wait.as_secs()),
                    },
                    duration: started.elapsed(),
                }
            }
        }
    }

    /// The deferred part: runs the polling command, or (manual) waits for
    /// the wallet's successful deferred request.
    pub async fn poll_deferred(
        &self,
        inputs: &HookInputs,
        observer: &Observer,
        from: u64,
    ) -> Option<DriveOutcome> {
        match self {
            Self::Command {
                poll_deferred: Some(poll),
                timeout,
                ..
            } => Some(run_command(poll, inputs, *timeout).await),
            Self::Command { .. } => None,
            Self::Manual { wait } => {
                let started = Instant::now();
                let done = observer
                    .wait_for(from, *wait, |o| {
                        o.path == "/deferred_credential" && o.status == 200
                    })
                    .await;
                Some(DriveOutcome {
                    success: None,
                    timed_out: done.is_none(),
                    summary: if done.is_some() {
                        "the wallet fetched the deferred credential".into()
                    } else {
                        format!("no deferred credential within {} s", wait.as_secs())
                    },
                    duration: started.elapsed(),
                })
            }
        }
    }
}
