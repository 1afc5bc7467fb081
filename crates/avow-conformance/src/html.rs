//! The report as one self-contained HTML page: inline CSS, no script, no
//! external resource. Every text that came from the report (and so possibly
//! from the issuer under test) is escaped.

use crate::report::{Assertion, CheckResult, Report, Status};
use crate::transcript::Exchange;
use std::fmt::Write;

/// HTML-escapes text for element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,sans-serif;margin:0;background:#f4f5f7;color:#1b1d21;line-height:1.45}
main{max-width:72rem;margin:1.5rem auto;padding:0 1rem}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin:0}
table{border-collapse:collapse;background:#fff;margin:.5rem 0 1rem}
td,th{border:1px solid #d0d3d9;padding:.25rem .6rem;text-align:left;vertical-align:top}
section.check{background:#fff;border:1px solid #d0d3d9;border-left:.4rem solid #999;border-radius:4px;margin:.6rem 0;padding:.5rem .9rem}
section.pass{border-left-color:#1e7b34}section.fail{border-left-color:#b00020}
section.warning{border-left-color:#c19c00}section.skipped{border-left-color:#6b4fbb}
section.not_applicable{border-left-color:#8a8f98}
.badge{display:inline-block;font-weight:700;font-size:.8rem;padding:.05rem .45rem;border-radius:3px;color:#fff;background:#8a8f98;margin-right:.4rem}
.badge.pass{background:#1e7b34}.badge.fail{background:#b00020}.badge.warning{background:#9a7b00}.badge.skipped{background:#6b4fbb}
.meta{color:#4a4f57;font-size:.88rem}
pre{background:#f6f8fa;border:1px solid #e1e4e8;padding:.4rem;overflow-x:auto;white-space:pre-wrap;word-break:break-all;font-size:.8rem}
details{margin:.25rem 0}summary{cursor:pointer}
li.assertion{margin:.3rem 0}
";

fn badge(status: Status, counts_as_failure: bool) -> String {
    let class = if counts_as_failure {
        "fail"
    } else {
        status.as_str()
    };
    let label = if counts_as_failure && status != Status::Fail {
        format!("{} (counts as failure)", status.as_str())
    } else {
        status.as_str().to_owned()
    };
    format!(
        "<span class=\"badge {}\">{}</span>",
        escape(class),
        escape(&label)
    )
}

fn exchange(out: &mut String, e: &Exchange) {
    let _ = write!(
        out,
        "<details><summary>{} — <code>{} {}</code>{}</summary><pre>",
        escape(&e.label),
        escape(&e.request.method),
        escape(&e.request.url),
        e.response
            .as_ref()
            .map(|r| format!(" → {}", r.status))
            .unwrap_or_default()
    );
    let mut text = format!("{} {}\n", e.request.method, e.request.url);
    for (k, v) in &e.request.headers {
        let _ = writeln!(text, "{k}: {v}");
    }
    if let Some(body) = &e.request.body {
        let _ = write!(text, "\n{body}\n");
    }
    if let Some(r) = &e.response {
        let _ = write!(text, "\n── response {}\n", r.status);
        for (k, v) in &r.headers {
            let _ = writeln!(text, "{k}: {v}");
        }
        if let Some(body) = &r.body {
            let _ = write!(text, "\n{body}\n");
        }
    }
    if let Some(error) = &e.error {
        let _ = write!(text, "\n── no response: {error}\n");
    }
    out.push_str(&escape(&text));
    out.push_str("</pre></details>");
}

fn assertion(out: &mut String, a: &Assertion) {
    let _ = write!(
        out,
        "<li class=\"assertion\">{} {}",
        badge(a.status, false),
        escape(&a.name)
    );
    if !a.expected.is_empty() || !a.observed.is_empty() {
        let _ = write!(
            out,
            "<div class=\"meta\">expected: {}<br>observed: {}</div>",
            escape(&a.expected),
            escape(&a.observed)
        );
    }
    if let Some(note) = &a.note {
        let _ = write!(out, "<div class=\"meta\">{}</div>", escape(note));
    }
    for e in &a.exchanges {
        exchange(out, e);
    }
    out.push_str("</li>");
}

fn result(out: &mut String, r: &CheckResult) {
    let class = if r.counts_as_failure {
        "fail"
    } else {
        r.verdict.status.as_str()
    };
    let _ = write!(
        out,
        "<section class=\"check {}\" id=\"{}\"><h2>{}{} {}</h2>",
        escape(class),
        escape(r.id),
        badge(r.verdict.status, r.counts_as_failure),
        escape(r.id),
        escape(r.title)
    );
    let catalogue: Vec<String> = r
        .catalogue
        .iter()
        .map(|c| format!("{} ({}) — {}", c.id, c.title, c.linkage))
        .collect();
    let _ = write!(
        out,
        "<div class=\"meta\">{}{} · requirements: {} · spec: {} · {} · {} ms</div>",
        r.matrix
            .map(|m| format!("matrix {} · ", escape(m)))
            .unwrap_or_default(),
        escape(&catalogue.join("; ")),
        escape(&r.requirements.join(", ")),
        escape(&r.spec.join(", ")),
        escape(&format!("{:?}", r.level)),
        r.duration_ms
    );
    if let Some(reason) = &r.verdict.reason {
        let _ = write!(out, "<p>{}</p>", escape(reason));
    }
    if !r.assertions.is_empty() {
        let _ = write!(
            out,
            "<details{}><summary>{} assertion(s)</summary><ul>",
            if r.counts_as_failure { " open" } else { "" },
            r.assertions.len()
        );
        for a in &r.assertions {
            assertion(out, a);
        }
        out.push_str("</ul></details>");
    }
    out.push_str("</section>");
}

/// Renders the whole report.
pub fn render(report: &Report) -> String {
    let mut out = String::new();
    let s = &report.summary;
    let _ = write!(
        out,
        "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<title>Avow conformance report — {}</title><style>{STYLE}</style></head><body><main>\
<h1>{} APTITUDE conformance: {}</h1>",
        escape(&report.target.credential_issuer),
        badge(
            if report.passed() {
                Status::Pass
            } else {
                Status::Fail
            },
            false
        ),
        escape(&report.target.credential_issuer)
    );
    let _ = write!(
        out,
        "<table><tr><th>mode</th><td>{}</td></tr><tr><th>tool</th><td>{} {}</td></tr>\
<tr><th>started</th><td>{}</td></tr><tr><th>finished</th><td>{}</td></tr>\
<tr><th>authorization server</th><td>{}</td></tr>\
<tr><th>wallet under test</th><td>{}</td></tr>\
<tr><th>outcome</th><td>{} passed, {} failed, {} warnings, {} not applicable, {} skipped ({} not implemented)</td></tr>\
<tr><th>coverage failures</th><td>{}</td></tr>\
<tr><th>selection</th><td>{}</td></tr><tr><th>allow unimplemented</th><td>{}</td></tr></table>",
        escape(&format!("{:?}", report.mode)),
        escape(report.tool.name),
        escape(report.tool.version),
        escape(&report.started_at),
        escape(&report.finished_at),
        escape(report.target.authorization_server.as_deref().unwrap_or("-")),
        escape(report.target.wallet_under_test.as_deref().unwrap_or("-")),
        s.passed,
        s.failed,
        s.warnings,
        s.not_applicable,
        s.skipped,
        s.not_implemented,
        escape(&s.coverage_failures.join(", ")),
        escape(&if report.options.selection.is_empty() {
            "everything".to_owned()
        } else {
            report.options.selection.join(", ")
        }),
        report.options.allow_unimplemented
    );
    out.push_str("<h2>Trust inputs</h2><table><tr><th>role</th><th>source</th><th>subject</th><th>SHA-256</th></tr>");
    for t in &report.trust_inputs {
        let _ = write!(
            out,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td><code>{}</code></td></tr>",
            escape(&t.role),
            escape(&t.source),
            escape(t.subject.as_deref().unwrap_or("")),
            escape(t.sha256.as_deref().unwrap_or(""))
        );
    }
    out.push_str("</table>");
    if let Some(error) = &report.target.discovery_error {
        let _ = write!(
            out,
            "<p><strong>Discovery failed:</strong> {}</p>",
            escape(error)
        );
    }
    if !report.target.discovery.is_empty() {
        out.push_str("<details><summary>Discovery</summary>");
        for e in &report.target.discovery {
            exchange(&mut out, e);
        }
        out.push_str("</details>");
    }
    out.push_str("<h2 style=\"margin-top:1rem\">Results</h2>");
    for r in &report.results {
        result(&mut out, r);
    }
    out.push_str("</main></body></html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup() {
        assert_eq!(
            escape("<script>\"x\" & 'y'</script>"),
            "&lt;script&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/script&gt;"
        );
    }
}
