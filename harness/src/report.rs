//! Reports: a terminal summary, JSON, JUnit XML, and the Markdown certification matrix.

use std::collections::BTreeMap;

use crate::checks::Verdict;
use crate::runner::{EXEC_ONLY, ScenarioResult};

pub(crate) fn mark(r: &ScenarioResult) -> String {
    match (r.verdict, &r.known_gap) {
        (Verdict::Passed, _) => "pass".into(),
        (Verdict::Failed, _) => "**FAIL**".into(),
        (Verdict::Warning, Some(_)) => "known gap".into(),
        (Verdict::Warning, None) => "warning".into(),
        (Verdict::Skipped, _) if r.skipped_because.as_deref().is_some_and(|w| w.starts_with(EXEC_ONLY)) => "exec only".into(),
        (Verdict::Skipped, _) => "–".into(),
    }
}

/// `path` from its `scenarios/` directory on (`scenarios/aws-imds/x.yaml`), as a reader finds it
/// in the repository; the whole path when it is not under one.
pub(crate) fn shown(path: &std::path::Path) -> String {
    let parts: Vec<_> = path.components().collect();
    match parts.iter().rposition(|c| c.as_os_str() == "scenarios") {
        Some(i) => parts[i..].iter().collect::<std::path::PathBuf>().display().to_string(),
        None => path.display().to_string(),
    }
}

/// One line per result plus the failures' evidence, each failure with its scenario file.
pub fn terminal(results: &[ScenarioResult]) -> String {
    let mut out = String::new();
    for r in results {
        out.push_str(&format!("{:<9} {:<35} {}\n", format!("{:?}", r.verdict).to_lowercase(), column(r), r.scenario));
        if let Some(why) = &r.skipped_because {
            out.push_str(&format!("          {why}\n"));
        }
        if r.verdict == Verdict::Failed {
            out.push_str(&format!("          in {}\n", shown(&r.file)));
            for c in r.checks.iter().filter(|c| c.verdict == Verdict::Failed) {
                out.push_str(&format!("          ✗ {}\n", c.name));
                for e in &c.evidence {
                    out.push_str(&format!("            {e}\n"));
                }
            }
        }
        if let Some(g) = &r.known_gap {
            out.push_str(&format!("          known gap: {g}\n"));
        }
    }
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    out.push_str(&format!("\n{} passed, {} failed, {} warnings, {} skipped\n", count(Verdict::Passed), count(Verdict::Failed), count(Verdict::Warning), count(Verdict::Skipped)));
    out
}

/// The results as JSON.
pub fn json(results: &[ScenarioResult]) -> String {
    serde_json::to_string_pretty(results).unwrap_or_default()
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// JUnit XML: one test suite per profile, one test case per scenario.
pub fn junit(results: &[ScenarioResult]) -> String {
    let mut by_profile: BTreeMap<&str, Vec<&ScenarioResult>> = BTreeMap::new();
    for r in results {
        by_profile.entry(&r.profile).or_default().push(r);
    }
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<testsuites name=\"cloudid\">\n");
    for (profile, rs) in by_profile {
        let failures = rs.iter().filter(|r| r.verdict == Verdict::Failed).count();
        let skipped = rs.iter().filter(|r| r.verdict == Verdict::Skipped).count();
        out.push_str(&format!("  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" skipped=\"{skipped}\">\n", xml(profile), rs.len()));
        for r in rs {
            out.push_str(&format!("    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"", xml(profile), xml(&r.scenario), r.elapsed_ms as f64 / 1000.0));
            match r.verdict {
                Verdict::Failed => {
                    let evidence: Vec<String> = r.checks.iter().filter(|c| c.verdict == Verdict::Failed).map(|c| format!("{}: {}", c.name, c.evidence.join("\n"))).collect();
                    out.push_str(&format!(">\n      <failure message=\"scenario failed\">{}</failure>\n    </testcase>\n", xml(&evidence.join("\n"))));
                }
                Verdict::Skipped => out.push_str(">\n      <skipped/>\n    </testcase>\n"),
                _ => out.push_str("/>\n"),
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}

/// A result's column in the matrix: its profile, marked `(exec)` for exec mode.
pub(crate) fn column(r: &ScenarioResult) -> String {
    match r.mode {
        crate::exec_mode::Mode::Endpoints => r.profile.clone(),
        crate::exec_mode::Mode::Exec => format!("{} (exec)", r.profile),
    }
}

/// The certification matrix: scenarios × profiles (and modes, when results of both are given).
pub fn markdown(results: &[ScenarioResult]) -> String {
    let mut profiles: Vec<String> = results.iter().map(column).collect();
    profiles.sort_unstable();
    profiles.dedup();
    let mut scenarios: Vec<&str> = Vec::new();
    for r in results {
        if !scenarios.contains(&r.scenario.as_str()) {
            scenarios.push(&r.scenario);
        }
    }
    let mut out = format!("| scenario | {} |\n|---|{}\n", profiles.join(" | "), "---|".repeat(profiles.len()));
    for s in &scenarios {
        let cells: Vec<String> = profiles.iter().map(|p| results.iter().find(|r| r.scenario == *s && column(r) == *p).map(mark).unwrap_or_else(|| "–".into())).collect();
        out.push_str(&format!("| {s} | {} |\n", cells.join(" | ")));
    }
    let mut exec_only: Vec<String> = results.iter().filter_map(|r| r.skipped_because.as_deref()?.strip_prefix(EXEC_ONLY).map(|why| format!("- {}: {why}", r.profile))).collect();
    exec_only.sort_unstable();
    exec_only.dedup();
    if !exec_only.is_empty() {
        out.push_str(&format!("\n\"exec only\": the client runs that flow only under `cloudid exec`, at the real addresses:\n{}\n", exec_only.join("\n")));
    }
    let gaps: Vec<String> = results.iter().filter_map(|r| r.known_gap.as_ref().map(|g| format!("- {} × {}: {g}", r.scenario, column(r)))).collect();
    if !gaps.is_empty() {
        out.push_str(&format!("\nKnown gaps:\n{}\n", gaps.join("\n")));
    }
    out
}
