//! Wallet-under-test mode (`avow conformance wallet`; CONF-RUN-01): the
//! runner serves a reference issuer ([`reference_issuer`]), hands offers to
//! the wallet ([`driver`]), observes everything the wallet sends
//! ([`observer`]) and judges it ([`checks`], [`cases`]).
//!
//! A [`Scenario`] is one issuance the wallet goes through; it runs at most
//! once per run and every check that needs it reads the same
//! [`Transaction`] (the observed requests, in order). Scenarios run one
//! after another, so what the issuer saw between a scenario's start and end
//! is that scenario's.

pub mod cases;
pub mod checks;
pub mod driver;
pub mod observer;
pub mod reference_issuer;

use crate::error::ConformanceError;
use avow_issuer::offer::{CreateOfferRequest, OfferGrant, TxCodeSpec};
use driver::{DriveOutcome, HookInputs, WalletDriver};
use observer::{Deviation, Observed};
use reference_issuer::{HOLDER_ID, HOLDER_PASSWORD, Profile, ReferenceIssuer};
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Options of a wallet run.
#[derive(Debug, Clone)]
pub struct WutOptions {
    pub driver: WalletDriver,
    /// PEM files of the wallet provider(s) whose WIAs and key attestations
    /// the reference issuer accepts (the wallet under test's provider).
    pub wallet_provider_anchors: Vec<PathBuf>,
    /// Where the reference issuers keep their DEVELOPMENT PKI and databases.
    pub data_dir: PathBuf,
    /// Where the reference issuers listen and how wallets reach them.
    pub listen: Listen,
    /// Offer link prefixes the wallet claims (CONF-C01-05 runs each).
    pub schemes: Vec<String>,
}

impl WutOptions {
    pub fn new(driver: WalletDriver, data_dir: PathBuf) -> Self {
        Self {
            driver,
            wallet_provider_anchors: Vec::new(),
            data_dir,
            listen: Listen::default(),
            schemes: vec!["openid-credential-offer://".into()],
        }
    }
}

/// Where the reference issuers listen: loopback on ephemeral ports by
/// default (the wallet under test runs on this machine); for a phone wallet,
/// fixed ports behind a TLS-terminating proxy and the public URL of the
/// first issuer (the others follow on the next ports).
#[derive(Debug, Clone)]
pub struct Listen {
    pub host: String,
    /// 0: ephemeral ports.
    pub first_port: u16,
    pub public_url: Option<String>,
}

impl Default for Listen {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            first_port: 0,
            public_url: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Grant {
    PreAuthorized,
    AuthorizationCode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxCodeMode {
    None,
    /// `tx_code: {input_mode, length, description}`, enforced (CONF-C09-01).
    Described,
    /// `tx_code: {}` and not enforced (CONF-C09-02).
    EmptyNotEnforced,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OfferForm {
    ByValue,
    ByReference,
}

/// One issuance the wallet under test goes through.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Scenario {
    pub profile: Profile,
    pub configuration: &'static str,
    pub grant: Grant,
    pub form: OfferForm,
    /// Offer link prefix, e.g. `openid-credential-offer://`.
    pub scheme: String,
    pub tx_code: TxCodeMode,
    /// The credential is re-signed by a key the issuer never published.
    pub unpublished_signer: bool,
}

impl Scenario {
    pub fn new(grant: Grant, configuration: &'static str) -> Self {
        Self {
            profile: Profile::Plain,
            configuration,
            grant,
            form: OfferForm::ByValue,
            scheme: "openid-credential-offer://".into(),
            tx_code: TxCodeMode::None,
            unpublished_signer: false,
        }
    }

    pub fn profile(mut self, profile: Profile) -> Self {
        self.profile = profile;
        self
    }

    pub fn by_reference(mut self) -> Self {
        self.form = OfferForm::ByReference;
        self
    }

    pub fn scheme(mut self, scheme: &str) -> Self {
        scheme.clone_into(&mut self.scheme);
        self
    }

    pub fn tx_code(mut self, mode: TxCodeMode) -> Self {
        self.tx_code = mode;
        self
    }

    pub fn unpublished_signer(mut self) -> Self {
        self.unpublished_signer = true;
        self
    }

    pub fn deferred(&self) -> bool {
        self.configuration == reference_issuer::configurations::PID_DEFERRED
    }

    pub fn label(&self) -> String {
        let grant = match self.grant {
            Grant::PreAuthorized => "pre-authorized code",
            Grant::AuthorizationCode => "authorization code",
        };
        let form = match self.form {
            OfferForm::ByValue => "offer by value",
            OfferForm::ByReference => "offer by reference",
        };
        let mut label = format!(
            "{grant}, {}, {form} ({}…)",
            self.configuration,
            self.scheme.trim_end_matches("//")
        );
        match self.profile {
            Profile::Plain => {}
            Profile::A128Gcm => label.push_str(", response encryption A128GCM required"),
            Profile::A256Gcm => label.push_str(", response encryption A256GCM required"),
        }
        match self.tx_code {
            TxCodeMode::None => {}
            TxCodeMode::Described => label.push_str(", tx_code {input_mode, length, description}"),
            TxCodeMode::EmptyNotEnforced => label.push_str(", tx_code {} not enforced"),
        }
        if self.unpublished_signer {
            label.push_str(", credential re-signed by an unpublished key");
        }
        label
    }
}

/// What happened in one scenario.
#[derive(Debug, Clone)]
pub struct Transaction {
    pub scenario: Scenario,
    pub issuer_url: String,
    /// The offer object the wallet was given.
    pub offer: Value,
    pub link: String,
    /// The path the offer was served at (by reference).
    pub offer_path: Option<String>,
    pub tx_code: Option<String>,
    /// The issuer metadata the wallet could read.
    pub metadata: Value,
    pub observed: Vec<Observed>,
    pub receive: Option<DriveOutcome>,
    pub poll: Option<DriveOutcome>,
    /// The runner could not set the scenario up.
    pub setup_error: Option<String>,
}

/// The wallet run's shared state: the reference issuers and the scenarios run so far.
pub struct Wut {
    pub options: WutOptions,
    /// The wallet provider anchors, parsed: WIA and WUA chains are validated to them.
    pub anchors: avow_crypto::x509::TrustAnchors,
    issuers: tokio::sync::Mutex<HashMap<Profile, Arc<ReferenceIssuer>>>,
    transactions: tokio::sync::Mutex<HashMap<Scenario, Arc<Transaction>>>,
}

impl Wut {
    pub fn new(options: WutOptions) -> Result<Self, ConformanceError> {
        let mut ders = Vec::new();
        for path in &options.wallet_provider_anchors {
            let pem = std::fs::read_to_string(path)
                .map_err(|e| ConformanceError::Config(format!("{}: {e}", path.display())))?;
            ders.extend(
                avow_crypto::x509::certs_from_pem(&pem)
                    .map_err(|e| ConformanceError::Config(format!("{}: {e}", path.display())))?,
            );
        }
        let anchors = avow_crypto::x509::TrustAnchors::new(ders)
            .map_err(|e| ConformanceError::Config(format!("wallet provider anchors: {e}")))?;
        Ok(Self {
            options,
            anchors,
            issuers: tokio::sync::Mutex::new(HashMap::new()),
            transactions: tokio::sync::Mutex::new(HashMap::new()),
        })
    }

    /// The reference issuer of `profile`, started on first use.
    pub async fn issuer(&self, profile: Profile) -> Result<Arc<ReferenceIssuer>, ConformanceError> {
        let mut issuers = self.issuers.lock().await;
        if let Some(issuer) = issuers.get(&profile) {
            return Ok(issuer.clone());
        }
        std::fs::create_dir_all(&self.options.data_dir).map_err(|e| {
            ConformanceError::Config(format!("{}: {e}", self.options.data_dir.display()))
        })?;
        let issuer = Arc::new(
            ReferenceIssuer::start(
                profile,
                &self.options.listen,
                &self.options.data_dir,
                &self.options.wallet_provider_anchors,
            )
            .await?,
        );
        issuers.insert(profile, issuer.clone());
        Ok(issuer)
    }

    /// The issuers started so far (for the report).
    pub async fn started_issuers(&self) -> Vec<Arc<ReferenceIssuer>> {
        self.issuers.lock().await.values().cloned().collect()
    }

    /// The scenario's transaction, run on first use.
    pub async fn transaction(&self, scenario: &Scenario) -> Arc<Transaction> {
        let mut transactions = self.transactions.lock().await;
        if let Some(t) = transactions.get(scenario) {
            return t.clone();
        }
        let t = Arc::new(self.run(scenario).await);
        transactions.insert(scenario.clone(), t.clone());
        t
    }

    async fn run(&self, scenario: &Scenario) -> Transaction {
        let mut t = Transaction {
            scenario: scenario.clone(),
            issuer_url: String::new(),
            offer: Value::Null,
            link: String::new(),
            offer_path: None,
            tx_code: None,
            metadata: Value::Null,
            observed: Vec::new(),
            receive: None,
            poll: None,
            setup_error: None,
        };
        let issuer = match self.issuer(scenario.profile).await {
            Ok(i) => i,
            Err(e) => {
                t.setup_error = Some(e.to_string());
                return t;
            }
        };
        t.issuer_url = issuer.url.clone();
        t.metadata =
            serde_json::from_slice(&issuer.state.credential_issuer_metadata).unwrap_or(Value::Null);
        let request = CreateOfferRequest {
            holder_id: HOLDER_ID.into(),
            credential_configuration_ids: vec![scenario.configuration.into()],
            tx_code: match scenario.tx_code {
                TxCodeMode::None => None,
                TxCodeMode::Described | TxCodeMode::EmptyNotEnforced => Some(TxCodeSpec {
                    length: Some(6),
                    input_mode: Some(avow_core::offer::InputMode::Numeric),
                    description: Some(
                        "Enter the 6-digit code the conformance runner printed".into(),
                    ),
                }),
            },
            grants: vec![match scenario.grant {
                Grant::PreAuthorized => OfferGrant::PreAuthorizedCode,
                Grant::AuthorizationCode => OfferGrant::AuthorizationCode,
            }],
        };
        let created = match avow_issuer::offer::create_offer(&issuer.state, &request).await {
            Ok(c) => c,
            Err(e) => {
                t.setup_error = Some(format!("creating the offer: {:?}", e.error));
                return t;
            }
        };
        t.tx_code = created.tx_code.clone();
        let mut offer = serde_json::to_value(&created.credential_offer).unwrap_or(Value::Null);
        if scenario.tx_code == TxCodeMode::EmptyNotEnforced
            && let Some(grant) = offer
                .pointer_mut("/grants/urn:ietf:params:oauth:grant-type:pre-authorized_code")
                .and_then(Value::as_object_mut)
        {
            grant.insert("tx_code".into(), Value::Object(Default::default()));
        }
        t.link = match scenario.form {
            OfferForm::ByValue => format!(
                "{}?credential_offer={}",
                scenario.scheme,
                avow_core::percent::encode(&offer.to_string())
            ),
            OfferForm::ByReference => {
                let id = uuid::Uuid::new_v4().simple().to_string();
                let path = issuer.observer.publish_offer(&id, offer.clone());
                let uri = format!("{}{path}", issuer.url);
                t.offer_path = Some(path);
                format!(
                    "{}?credential_offer_uri={}",
                    scenario.scheme,
                    avow_core::percent::encode(&uri)
                )
            }
        };
        t.offer = offer;
        let inputs = HookInputs {
            offer: t.link.clone(),
            tx_code: t.tx_code.clone(),
            issuer: issuer.url.clone(),
            trust_anchor: issuer.trust_anchor(),
            login_user: HOLDER_ID.into(),
            login_password: HOLDER_PASSWORD.into(),
        };
        let observer = issuer.observer.clone();
        observer.set_deviation(match (scenario.tx_code, &t.tx_code) {
            (TxCodeMode::EmptyNotEnforced, Some(value)) => Deviation::AcceptAnyTxCode {
                value: value.clone(),
            },
            _ if scenario.unpublished_signer => Deviation::ResignWithUnpublishedKey,
            _ => Deviation::None,
        });
        let from = observer.mark();
        // The runner's operator approves a deferred issuance once the wallet
        // has polled and been told to wait (so the wallet's polling is seen).
        let approver = scenario.deferred().then(|| {
            let issuer = issuer.clone();
            tokio::spawn(async move {
                let polled = issuer
                    .observer
                    .wait_for(from, Duration::from_secs(600), |o| {
                        o.path == "/deferred_credential" && o.status == 202
                    })
                    .await;
                if polled.is_some() {
                    let _ = issuer.approve_pending().await;
                }
            })
        });
        let label = scenario.label();
        t.receive = Some(
            self.options
                .driver
                .receive(&label, &inputs, &observer, from)
                .await,
        );
        if scenario.deferred() {
            t.poll = self
                .options
                .driver
                .poll_deferred(&inputs, &observer, from)
                .await;
        }
        if let Some(task) = approver {
            task.abort();
        }
        observer.set_deviation(Deviation::None);
        t.observed = observer.since(from);
        t
    }

    pub async fn stop(self) {
        let issuers: Vec<Arc<ReferenceIssuer>> = self.issuers.into_inner().into_values().collect();
        for issuer in issuers {
            if let Ok(issuer) = Arc::try_unwrap(issuer) {
                issuer.stop().await;
            }
        }
    }
}
