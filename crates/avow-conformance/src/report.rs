//! Verdicts and the report (CONF-RUN-02, -03, -05, -08). The JSON form is a
//! stable schema (`avow-conformance-report/1`); [`crate::html`] renders the
//! same value as a self-contained page.
//!
//! Roll-up rules: an assertion is pass, fail, warning (an accepted
//! alternative reading), not applicable (with the fact that makes it so) or
//! skipped (with the reason). A check fails if any assertion failed; else it
//! is skipped if any assertion was skipped; else warning if any warned; else
//! not applicable if every assertion was; else pass. The coverage guard then
//! fails the run for every selected check that did not run and is not
//! declared not applicable.

use crate::catalogue::{CheckDef, Kind, Level, Mode};
use crate::transcript::Exchange;
use serde::Serialize;

pub const SCHEMA: &str = "avow-conformance-report/1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pass,
    NotApplicable,
    Warning,
    Skipped,
    Fail,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pass => "pass",
            Self::NotApplicable => "not_applicable",
            Self::Warning => "warning",
            Self::Skipped => "skipped",
            Self::Fail => "fail",
        }
    }
}

/// Why a check or assertion did not run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkipKind {
    /// The runner has no code for it yet.
    NotImplemented,
    /// An input is missing (login script, offers, trust anchor, waiting time).
    MissingInput,
}

/// One observed fact about the IUT, with the HTTP that proves it.
#[derive(Debug, Clone, Serialize)]
pub struct Assertion {
    pub name: String,
    pub status: Status,
    pub expected: String,
    pub observed: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<SkipKind>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub exchanges: Vec<Exchange>,
}

impl Assertion {
    fn new(name: &str, status: Status, expected: &str, observed: &str) -> Self {
        Self {
            name: name.to_owned(),
            status,
            expected: expected.to_owned(),
            observed: observed.to_owned(),
            note: None,
            skip: None,
            exchanges: Vec::new(),
        }
    }

    pub fn pass(name: &str, expected: &str, observed: impl Into<String>) -> Self {
        Self::new(name, Status::Pass, expected, &observed.into())
    }

    pub fn fail(name: &str, expected: &str, observed: impl Into<String>) -> Self {
        Self::new(name, Status::Fail, expected, &observed.into())
    }

    pub fn warning(name: &str, expected: &str, observed: impl Into<String>, note: &str) -> Self {
        let mut a = Self::new(name, Status::Warning, expected, &observed.into());
        a.note = Some(note.to_owned());
        a
    }

    /// Not applicable: `fact` is the metadata (or input) fact that makes it so.
    pub fn not_applicable(name: &str, fact: impl Into<String>) -> Self {
        let mut a = Self::new(name, Status::NotApplicable, "", "");
        a.note = Some(fact.into());
        a
    }

    pub fn skipped(name: &str, kind: SkipKind, reason: impl Into<String>) -> Self {
        let mut a = Self::new(name, Status::Skipped, "", "");
        a.note = Some(reason.into());
        a.skip = Some(kind);
        a
    }

    /// Pass when `ok`, fail otherwise.
    pub fn check(ok: bool, name: &str, expected: &str, observed: impl Into<String>) -> Self {
        if ok {
            Self::pass(name, expected, observed)
        } else {
            Self::fail(name, expected, observed)
        }
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    pub fn with_exchanges(mut self, exchanges: Vec<Exchange>) -> Self {
        self.exchanges.extend(exchanges);
        self
    }
}

/// The rolled-up verdict of a check or case.
#[derive(Debug, Clone, Serialize)]
pub struct Verdict {
    pub status: Status,
    /// Why: the first failing assertion, the skip reason, or the
    /// not-applicable fact.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skip: Option<SkipKind>,
}

impl Verdict {
    pub fn of(assertions: &[Assertion]) -> Self {
        let worst = |status: Status| assertions.iter().find(|a| a.status == status);
        if let Some(a) = worst(Status::Fail) {
            return Self {
                status: Status::Fail,
                reason: Some(format!(
                    "{}: expected {}; observed {}",
                    a.name, a.expected, a.observed
                )),
                skip: None,
            };
        }
        if let Some(a) = worst(Status::Skipped) {
            return Self {
                status: Status::Skipped,
                reason: Some(format!(
                    "{}: {}",
                    a.name,
                    a.note.clone().unwrap_or_default()
                )),
                skip: a.skip,
            };
        }
        if let Some(a) = worst(Status::Warning) {
            return Self {
                status: Status::Warning,
                reason: Some(format!(
                    "{}: {}",
                    a.name,
                    a.note.clone().unwrap_or_default()
                )),
                skip: None,
            };
        }
        if !assertions.is_empty() && assertions.iter().all(|a| a.status == Status::NotApplicable) {
            let facts: Vec<String> = assertions.iter().filter_map(|a| a.note.clone()).collect();
            return Self {
                status: Status::NotApplicable,
                reason: Some(facts.join("; ")),
                skip: None,
            };
        }
        if assertions.is_empty() {
            return Self {
                status: Status::Fail,
                reason: Some(
                    "the check made no assertion (a check that cannot fail is a defect)".into(),
                ),
                skip: None,
            };
        }
        Self {
            status: Status::Pass,
            reason: None,
            skip: None,
        }
    }
}

/// One check or case in the report.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    pub id: &'static str,
    pub kind: Kind,
    pub title: &'static str,
    pub level: Level,
    pub catalogue: Vec<CatalogueRef>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matrix: Option<&'static str>,
    pub requirements: &'static [&'static str],
    pub spec: &'static [&'static str],
    pub verdict: Verdict,
    /// True when the coverage guard counts this result as a failure of the run.
    pub counts_as_failure: bool,
    pub duration_ms: u64,
    pub assertions: Vec<Assertion>,
}

/// A catalogue check with its ARF / CIR linkage text (CONF-RUN-03).
#[derive(Debug, Clone, Serialize)]
pub struct CatalogueRef {
    pub id: &'static str,
    pub title: &'static str,
    pub linkage: &'static str,
}

impl CheckResult {
    pub fn new(def: &CheckDef, assertions: Vec<Assertion>, duration_ms: u64) -> Self {
        let verdict = Verdict::of(&assertions);
        Self {
            id: def.id,
            kind: def.kind,
            title: def.title,
            level: def.level,
            catalogue: def
                .catalogue
                .iter()
                .filter_map(|k| crate::catalogue::catalogue_entry(k))
                .map(|e| CatalogueRef {
                    id: e.id,
                    title: e.title,
                    linkage: e.linkage,
                })
                .collect(),
            matrix: def.matrix,
            requirements: def.requirements,
            spec: def.spec,
            verdict,
            counts_as_failure: false,
            duration_ms,
            assertions,
        }
    }
}

/// A trust input of the run (CONF-RUN-05).
#[derive(Debug, Clone, Serialize)]
pub struct TrustInput {
    pub role: String,
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Target {
    pub credential_issuer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub authorization_server: Option<String>,
    /// Discovery itself (metadata fetches).
    pub discovery: Vec<Exchange>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub discovery_error: Option<String>,
    /// Wallet mode: how the runner drives the wallet under test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub wallet_under_test: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    pub passed: usize,
    pub failed: usize,
    pub warnings: usize,
    pub not_applicable: usize,
    pub skipped: usize,
    pub not_implemented: usize,
    /// Ids the coverage guard counted as failures (did not run, not N/A).
    pub coverage_failures: Vec<String>,
    /// `pass` or `fail`; the exit code is 0 only for `pass`.
    pub outcome: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct RunOptionsEcho {
    pub selection: Vec<String>,
    pub allow_unimplemented: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiry_wait_seconds: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub tool: Tool,
    pub mode: Mode,
    pub started_at: String,
    pub finished_at: String,
    pub target: Target,
    pub trust_inputs: Vec<TrustInput>,
    pub options: RunOptionsEcho,
    pub summary: Summary,
    pub results: Vec<CheckResult>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Tool {
    pub name: &'static str,
    pub version: &'static str,
}

pub const TOOL: Tool = Tool {
    name: "avow-conformance",
    version: env!("CARGO_PKG_VERSION"),
};

impl Report {
    /// Applies the coverage guard and computes the summary.
    pub fn finish(&mut self, allow_unimplemented: bool) {
        let mut summary = Summary::default();
        for result in &mut self.results {
            let v = &result.verdict;
            result.counts_as_failure = match v.status {
                Status::Fail => true,
                Status::Skipped => match v.skip {
                    Some(SkipKind::NotImplemented) => !allow_unimplemented,
                    _ => true,
                },
                _ => false,
            };
            match v.status {
                Status::Pass => summary.passed += 1,
                Status::Fail => summary.failed += 1,
                Status::Warning => summary.warnings += 1,
                Status::NotApplicable => summary.not_applicable += 1,
                Status::Skipped => {
                    summary.skipped += 1;
                    if v.skip == Some(SkipKind::NotImplemented) {
                        summary.not_implemented += 1;
                    }
                }
            }
            if result.counts_as_failure && v.status == Status::Skipped {
                summary.coverage_failures.push(result.id.to_owned());
            }
        }
        let failed = self.results.iter().any(|r| r.counts_as_failure);
        summary.outcome = if failed { "fail" } else { "pass" }.to_owned();
        self.summary = summary;
    }

    pub fn passed(&self) -> bool {
        self.summary.outcome == "pass"
    }

    /// 0 only when nothing failed (CONF-RUN-02).
    pub fn exit_code(&self) -> u8 {
        if self.passed() { 0 } else { 1 }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    pub fn result(&self, id: &str) -> Option<&CheckResult> {
        self.results.iter().find(|r| r.id == id)
    }

    /// One line per result, for the terminal.
    pub fn text_summary(&self) -> String {
        let mut out = String::new();
        for r in &self.results {
            let mark = match (r.verdict.status, r.counts_as_failure) {
                (_, true) => "FAIL",
                (Status::Pass, _) => "pass",
                (Status::Warning, _) => "warn",
                (Status::NotApplicable, _) => "n/a ",
                (Status::Skipped, _) => "skip",
                (Status::Fail, _) => "FAIL",
            };
            out.push_str(&format!("{mark}  {:<13} {}", r.id, r.title));
            if let Some(reason) = &r.verdict.reason
                && r.verdict.status != Status::Pass
            {
                out.push_str(&format!("\n        {reason}"));
            }
            out.push('\n');
        }
        let s = &self.summary;
        out.push_str(&format!(
            "{} passed, {} failed, {} warnings, {} not applicable, {} skipped ({} not implemented) → {}\n",
            s.passed, s.failed, s.warnings, s.not_applicable, s.skipped, s.not_implemented, s.outcome
        ));
        out
    }
}

/// RFC 3339 UTC time of a Unix timestamp.
pub fn rfc3339(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roll_up_prefers_failure_then_skip_then_warning() {
        let pass = Assertion::pass("a", "x", "x");
        let warn = Assertion::warning("b", "x", "y", "alternative");
        let skip = Assertion::skipped("c", SkipKind::MissingInput, "no login script");
        let fail = Assertion::fail("d", "x", "z");
        let na = Assertion::not_applicable("e", "no mdoc configuration");
        assert_eq!(
            Verdict::of(&[pass.clone(), warn.clone()]).status,
            Status::Warning
        );
        assert_eq!(
            Verdict::of(&[warn.clone(), skip.clone()]).status,
            Status::Skipped
        );
        assert_eq!(Verdict::of(&[skip, fail]).status, Status::Fail);
        assert_eq!(
            Verdict::of(std::slice::from_ref(&na)).status,
            Status::NotApplicable
        );
        assert_eq!(Verdict::of(&[na, pass]).status, Status::Pass);
        assert_eq!(
            Verdict::of(&[]).status,
            Status::Fail,
            "no assertion = defect"
        );
    }

    fn report_of(results: Vec<CheckResult>) -> Report {
        Report {
            schema: SCHEMA,
            tool: TOOL,
            mode: Mode::Issuer,
            started_at: String::new(),
            finished_at: String::new(),
            target: Target {
                credential_issuer: "https://i.example".into(),
                authorization_server: None,
                discovery: Vec::new(),
                discovery_error: None,
                wallet_under_test: None,
            },
            trust_inputs: Vec::new(),
            options: RunOptionsEcho {
                selection: Vec::new(),
                allow_unimplemented: false,
                expiry_wait_seconds: None,
            },
            summary: Summary::default(),
            results,
        }
    }

    #[test]
    fn coverage_guard() {
        let def = |id| crate::catalogue::find(id).expect("known id");
        let unimplemented = CheckResult::new(
            def("CONF-C08-01"),
            vec![Assertion::skipped(
                "x",
                SkipKind::NotImplemented,
                "not implemented yet",
            )],
            0,
        );
        let na = CheckResult::new(
            def("CONF-C08-02"),
            vec![Assertion::not_applicable("x", "no mdoc")],
            0,
        );
        let missing = CheckResult::new(
            def("CONF-C02-01"),
            vec![Assertion::skipped(
                "x",
                SkipKind::MissingInput,
                "no login script",
            )],
            0,
        );
        let pass = CheckResult::new(
            def("CONF-C03-01"),
            vec![Assertion::pass("x", "S256", "S256")],
            0,
        );

        let mut strict = report_of(vec![unimplemented.clone(), na.clone(), pass.clone()]);
        strict.finish(false);
        assert!(!strict.passed());
        assert_eq!(strict.exit_code(), 1);
        assert_eq!(strict.summary.coverage_failures, ["CONF-C08-01"]);

        let mut lenient = report_of(vec![unimplemented, na.clone(), pass.clone()]);
        lenient.finish(true);
        assert!(lenient.passed(), "--allow-unimplemented");
        assert_eq!(lenient.exit_code(), 0);
        assert_eq!(lenient.summary.not_implemented, 1);

        let mut missing_input = report_of(vec![missing, na, pass]);
        missing_input.finish(true);
        assert!(
            !missing_input.passed(),
            "a check that did not run for lack of input fails the run"
        );
    }
}
