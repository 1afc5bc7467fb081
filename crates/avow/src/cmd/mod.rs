pub mod bench;
pub mod conformance;
pub mod demo;
pub mod issuer;
pub mod wallet;

/// Printed wherever a development shortcut is active.
pub const DEV_BANNER: &str = "\
!!! DEVELOPMENT MODE: generated dev PKI, plain http on loopback, demo holders.
!!! Nothing issued here is trustworthy. Never use this configuration in production.";
