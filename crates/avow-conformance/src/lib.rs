//! `avow-conformance`: the APTITUDE conformance runner (APT RFC-01 §9.1,
//! §10; REQUIREMENTS §5 CONF).
//!
//! * [`catalogue`]: every check (CONF-Cnn-mm) and deployed case (CONF-TCnnn
//!   = VCI-0nn) of both modes, with catalogue, requirement and spec links.
//! * [`runner`]: runs a selection in order, one fresh transaction per probe,
//!   and applies the coverage guard.
//! * [`iut`]: issuer-under-test mode (the runner is a reference wallet).
//! * [`report`] / [`html`]: verdicts, the JSON report (stable schema) and the
//!   self-contained HTML page; [`transcript`]: redacted HTTP exchanges.
//! * [`pki`]: the runner's own wallet provider; [`login_script`]: the
//!   declarative holder login for the authorization step.
//!
//! * [`wut`]: wallet-under-test mode (the runner is a reference issuer).

pub mod catalogue;
pub mod error;
pub mod html;
pub mod http;
pub mod iut;
pub mod login_script;
pub mod pki;
pub mod report;
pub mod runner;
pub mod transcript;
pub mod wut;

pub use error::ConformanceError;
pub use iut::{AdminApi, IutOptions};
pub use login_script::LoginScript;
pub use pki::WalletProviderPki;
pub use report::Report;
pub use runner::{RunOptions, run_issuer, run_wallet};
pub use wut::WutOptions;
pub use wut::driver::WalletDriver;
