//! Judging a run: each expectation becomes a named check with a verdict and, on failure, the
//! evidence (journal lines, client output).

use cloudid_mock::{JournalEntry, Verdict as ServerVerdict};
use serde::Serialize;

use crate::client::ClientRun;
use crate::scenario::{Expect, Outcome};

/// A verdict, in the OpenID conformance suite's vocabulary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// As expected.
    Passed,
    /// Not as expected.
    Failed,
    /// Allowed but notable (a known client gap).
    Warning,
    /// Did not apply.
    Skipped,
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct CheckResult {
    /// Name, e.g. `outcome`, `calls`, `holds_issued`.
    pub name: String,
    /// Verdict.
    pub verdict: Verdict,
    /// Evidence on failure.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

fn check(name: &str, ok: bool, evidence: impl FnOnce() -> Vec<String>) -> CheckResult {
    CheckResult { name: name.into(), verdict: if ok { Verdict::Passed } else { Verdict::Failed }, evidence: if ok { vec![] } else { evidence() } }
}

/// `service.Operation STATUS verdict` lines of the journal; under a refusal, the failed check's
/// explanation (a trust policy's statements and conditions, Google's mapping and binding…),
/// indented.
pub fn journal_lines(journal: &[JournalEntry]) -> Vec<String> {
    journal
        .iter()
        .flat_map(|e| {
            let host = e.host.as_deref().filter(|h| !matches!(*h, "127.0.0.1" | "localhost" | "[::1]")).unwrap_or("");
            let mut line = format!("#{} {} {host}{} {}.{} → {} {:?}", e.seq, e.method, e.path, e.service, e.operation, e.status, e.verdict);
            let failed = e.checks.iter().find(|c| c.outcome == cloudid_mock::Outcome::Fail);
            if let Some(why) = failed {
                line.push_str(&format!(" ({} failed: {})", why.name, why.detail.as_deref().unwrap_or("")));
            }
            if let Some(f) = &e.fault {
                line = format!("{line} | {f}");
            }
            let explanation = failed.and_then(|c| c.explanation.as_ref()).map(|x| x.render()).unwrap_or_default();
            std::iter::once(line).chain(explanation.lines().map(|l| format!("    {l}")).collect::<Vec<_>>())
        })
        .collect()
}

fn matches(pattern: &str, e: &JournalEntry) -> bool {
    let (op, status) = pattern.split_once(' ').map_or((pattern, None), |(o, s)| (o, Some(s)));
    format!("{}.{}", e.service, e.operation) == op && status.is_none_or(|s| s == e.status.to_string())
}

fn fingerprints(run: &ClientRun) -> Vec<String> {
    let r = &run.result;
    ["secret_fingerprint", "token_fingerprint", "access_token_fingerprint", "id_token_fingerprint"].iter().filter_map(|k| r[*k].as_str().map(str::to_string)).collect()
}

fn printed_secret(run: &ClientRun, journal: &[JournalEntry]) -> Vec<String> {
    let issued: Vec<&str> = journal.iter().filter_map(|e| e.issued.as_ref()).flat_map(|i| [i.secret_fingerprint.as_deref(), Some(i.token_fingerprint.as_str())]).flatten().collect();
    let mut found = Vec::new();
    for (stream, text) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
        for line in text.lines().filter(|l| !l.starts_with("::add-mask::")) {
            for word in line.split(|c: char| !(c.is_ascii_alphanumeric() || "+/=._-".contains(c))).filter(|w| w.len() >= 16) {
                if issued.contains(&cloudid_mock::fingerprint(word).as_str()) {
                    found.push(format!("{stream}: an issued secret appears ({}…)", &word[..6]));
                }
            }
        }
    }
    found
}

/// Judges the last run and the journal against `expect`.
pub fn judge(expect: &Expect, run: &ClientRun, journal: &[JournalEntry]) -> Vec<CheckResult> {
    let lines = || journal_lines(journal);
    let mut out = Vec::new();
    let succeeded = run.succeeded();
    let outcome_ok = match expect.outcome {
        Outcome::Success => succeeded,
        Outcome::Refused => !succeeded && !run.timed_out,
    };
    out.push(check("outcome", outcome_ok, || {
        let mut ev = vec![format!("expected {:?}; client exit {:?}, timed out {}, result {}", expect.outcome, run.code, run.timed_out, run.result)];
        ev.extend(run.stderr.lines().rev().take(5).map(|l| format!("stderr: {l}")));
        ev
    }));
    if !expect.calls.is_empty() {
        let mut it = journal.iter();
        let missing: Vec<&String> = expect.calls.iter().filter(|c| !it.any(|e| matches(c, e))).collect();
        out.push(check("calls", missing.is_empty(), || {
            let mut ev = vec![format!("not found in order: {missing:?}")];
            ev.extend(lines());
            ev
        }));
    }
    for (op, n) in &expect.count {
        let got = journal.iter().filter(|e| matches(op, e)).count();
        out.push(check(&format!("count {op}"), got == *n, || {
            let mut ev = vec![format!("expected {n}, got {got}")];
            ev.extend(lines());
            ev
        }));
    }
    for (op, n) in &expect.at_least {
        let got = journal.iter().filter(|e| matches(op, e)).count();
        out.push(check(&format!("at_least {op}"), got >= *n, || {
            let mut ev = vec![format!("expected at least {n}, got {got}")];
            ev.extend(lines());
            ev
        }));
    }
    for want in &expect.checks {
        let parts: Vec<&str> = want.split_whitespace().collect();
        let found = match parts.as_slice() {
            [op, name, outcome] => journal.iter().any(|e| matches(op, e) && e.checks.iter().any(|c| c.name == *name && format!("{:?}", c.outcome).eq_ignore_ascii_case(outcome))),
            _ => false,
        };
        out.push(check(&format!("check {want}"), found, || {
            let mut ev = vec![if parts.len() == 3 { "no such check in the journal".to_string() } else { "write `service.Operation check outcome`".to_string() }];
            ev.extend(journal.iter().filter(|e| parts.first().is_some_and(|op| matches(op, e))).map(|e| {
                let cs: Vec<String> = e.checks.iter().map(|c| format!("{} {:?}", c.name, c.outcome).to_lowercase()).collect();
                format!("#{} {}.{}: {}", e.seq, e.service, e.operation, cs.join(", "))
            }));
            ev
        }));
    }
    for op in &expect.absent {
        let hits: Vec<String> = journal.iter().filter(|e| matches(op, e)).map(|e| format!("#{} {}.{}", e.seq, e.service, e.operation)).collect();
        out.push(check(&format!("absent {op}"), hits.is_empty(), || hits));
    }
    if expect.holds_issued {
        let prints = fingerprints(run);
        let issued: Vec<&str> = journal
            .iter()
            .filter(|e| e.verdict == ServerVerdict::Granted)
            .filter_map(|e| e.issued.as_ref())
            .flat_map(|i| [i.secret_fingerprint.as_deref(), Some(i.token_fingerprint.as_str())])
            .flatten()
            .collect();
        let ok = !prints.is_empty() && prints.iter().all(|p| issued.contains(&p.as_str()));
        out.push(check("holds_issued", ok, || vec![format!("client holds {prints:?}; the journal issued {issued:?}")]));
    }
    if expect.no_secret_in_output {
        let found = printed_secret(run, journal);
        out.push(check("no_secret_in_output", found.is_empty(), || found));
    }
    if expect.stops_after_denial {
        let first = journal.iter().position(|e| e.verdict == ServerVerdict::Denied);
        let after: Vec<String> = first
            .map(|i| {
                journal[i + 1..].iter().filter(|e| e.verdict == ServerVerdict::Granted || e.verdict == ServerVerdict::Served).map(|e| format!("#{} {}.{}", e.seq, e.service, e.operation)).collect()
            })
            .unwrap_or_default();
        out.push(check("stops_after_denial", first.is_some() && after.is_empty(), || {
            let mut ev = vec![if first.is_none() { "no call was denied".to_string() } else { format!("calls after the denial: {after:?}") }];
            ev.extend(lines());
            ev
        }));
    }
    out
}
