//! The summary `cloudid exec` prints on stderr when the workload exits: each exchange, its
//! verdict, and for a refusal the check that refused it and why.

use std::fmt::Write;
use std::path::Path;

use super::Platform;
use crate::journal::{JournalEntry, Outcome, Verdict};

/// The summary of `entries`.
pub(crate) fn render(platform: Platform, entries: &[JournalEntry], journal: Option<&Path>) -> String {
    let mut out = String::new();
    let noun = if entries.len() == 1 { "exchange" } else { "exchanges" };
    let _ = write!(out, "cloudid exec: {} {noun} as {platform}", entries.len());
    if let Some(path) = journal {
        let _ = write!(out, " (journal: {})", path.display());
    }
    out.push('\n');
    for e in entries {
        let verdict = match e.verdict {
            Verdict::Granted => "granted",
            Verdict::Served => "served",
            Verdict::Denied => "DENIED",
            Verdict::Error => "ERROR",
        };
        let _ = write!(out, "  {verdict:<8} {}.{} {} {}{} → {}", e.service, e.operation, e.method, e.host.as_deref().unwrap_or(""), e.path, e.status);
        if let Some(p) = &e.principal {
            let _ = write!(out, "  {p}");
        }
        out.push('\n');
        if let Some(failed) = e.checks.iter().find(|c| c.outcome == Outcome::Fail) {
            let _ = writeln!(out, "           why: {}: {}", failed.name, failed.detail.as_deref().unwrap_or(""));
        }
        if let Some(fault) = &e.fault {
            let _ = writeln!(out, "           fault: {fault}");
        }
    }
    out
}
