//! The HTML certification matrix (`--report html:FILE`): one self-contained page — profiles as
//! columns, scenarios grouped by flow, every cell opening its evidence (the checks, the journal
//! lines with their explanations, the known gap or why it was skipped), filters for failures and
//! known gaps. No network, no external script: a file to attach to a CI run.
//!
//! `#c-ROW-COL` in the address opens that cell's evidence; `#failed` and `#gaps` start filtered.

use std::collections::BTreeMap;

use crate::checks::Verdict;
use crate::report::{column, mark, shown};
use crate::runner::ScenarioResult;

fn esc(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

fn class(r: &ScenarioResult) -> &'static str {
    match (r.verdict, &r.known_gap) {
        (Verdict::Passed, _) => "pass",
        (Verdict::Failed, _) => "fail",
        (Verdict::Warning, Some(_)) => "gap",
        (Verdict::Warning, None) => "warn",
        (Verdict::Skipped, _) => "skip",
    }
}

fn evidence(r: &ScenarioResult) -> String {
    let mut out = format!("<p class=\"where\">{} — {} ms, client {} ms</p>", esc(&shown(&r.file)), r.elapsed_ms, r.client_ms);
    if let Some(why) = &r.skipped_because {
        out.push_str(&format!("<p>{}</p>", esc(why)));
    }
    if let Some(gap) = &r.known_gap {
        out.push_str(&format!("<p class=\"gapwhy\">Known gap: {}</p>", esc(gap)));
    }
    if !r.checks.is_empty() {
        out.push_str("<ul class=\"checks\">");
        for c in &r.checks {
            let verdict = format!("{:?}", c.verdict).to_lowercase();
            out.push_str(&format!("<li class=\"{verdict}\"><b>{}</b> {verdict}", esc(&c.name)));
            if !c.evidence.is_empty() {
                out.push_str(&format!("<pre>{}</pre>", esc(&c.evidence.join("\n"))));
            }
            out.push_str("</li>");
        }
        out.push_str("</ul>");
    }
    if !r.journal.is_empty() {
        out.push_str(&format!("<p>Journal</p><pre class=\"journal\">{}</pre>", esc(&r.journal.join("\n"))));
    }
    out
}

/// The matrix as one HTML page.
pub fn html(results: &[ScenarioResult]) -> String {
    let mut columns: Vec<String> = results.iter().map(column).collect();
    columns.sort_unstable();
    columns.dedup();
    let mut groups: BTreeMap<String, Vec<&str>> = BTreeMap::new();
    for r in results {
        let flow = r.file.parent().and_then(|p| p.file_name()).map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let rows = groups.entry(flow).or_default();
        if !rows.contains(&r.scenario.as_str()) {
            rows.push(&r.scenario);
        }
    }
    let count = |v: Verdict| results.iter().filter(|r| r.verdict == v).count();
    let mut out = String::from(HEAD);
    out.push_str(&format!(
        "<h1>cloudid certification</h1><p class=\"totals\">{} passed · {} failed · {} known gaps or warnings · {} skipped</p>\n",
        count(Verdict::Passed),
        count(Verdict::Failed),
        count(Verdict::Warning),
        count(Verdict::Skipped)
    ));
    out.push_str("<p class=\"filters\"><label><input type=\"radio\" name=\"f\" value=\"all\" checked> all</label> <label><input type=\"radio\" name=\"f\" value=\"failed\"> failed only</label> <label><input type=\"radio\" name=\"f\" value=\"gaps\"> known gaps only</label></p>\n");
    out.push_str("<table>\n<thead><tr><th>scenario</th>");
    for c in &columns {
        out.push_str(&format!("<th>{}</th>", esc(c)));
    }
    out.push_str("</tr></thead>\n");
    let mut row = 0;
    for (flow, scenarios) in &groups {
        out.push_str(&format!("<tbody><tr class=\"flow\"><th colspan=\"{}\">{}</th></tr>\n", columns.len() + 1, esc(flow)));
        for s in scenarios {
            row += 1;
            let cells: Vec<Option<&ScenarioResult>> = columns.iter().map(|c| results.iter().find(|r| r.scenario == *s && column(r) == *c)).collect();
            let has = |k: &str| cells.iter().flatten().any(|r| class(r) == k);
            let mut classes = vec!["row"];
            if has("fail") {
                classes.push("has-fail");
            }
            if has("gap") {
                classes.push("has-gap");
            }
            out.push_str(&format!("<tr class=\"{}\"><th class=\"name\">{}</th>", classes.join(" "), esc(s)));
            for (col, cell) in cells.iter().enumerate() {
                match cell {
                    None => out.push_str("<td class=\"skip\">–</td>"),
                    Some(r) if r.verdict == Verdict::Skipped && r.skipped_because.is_none() => out.push_str("<td class=\"skip\">–</td>"),
                    Some(r) => out.push_str(&format!(
                        "<td class=\"{}\"><details id=\"c-{row}-{}\"><summary>{}</summary><div class=\"evidence\">{}</div></details></td>",
                        class(r),
                        col + 1,
                        esc(&mark(r).replace("**", "")),
                        evidence(r)
                    )),
                }
            }
            out.push_str("</tr>\n");
        }
        out.push_str("</tbody>\n");
    }
    out.push_str("</table>\n");
    out.push_str(TAIL);
    out
}

const HEAD: &str = r#"<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>cloudid certification</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1f24; }
table { border-collapse: collapse; }
th, td { border: 1px solid #d0d7de; padding: 4px 8px; vertical-align: top; text-align: left; }
thead th { position: sticky; top: 0; background: #f6f8fa; font-size: 12px; }
tr.flow th { background: #eef2f6; font-weight: 600; }
th.name { font-weight: normal; font-family: ui-monospace, monospace; font-size: 12px; }
td.pass { background: #dafbe1; } td.fail { background: #ffd7d5; font-weight: 600; }
td.gap, td.warn { background: #fff8c5; } td.skip { color: #8c959f; background: #fafbfc; }
details > summary { cursor: pointer; }
details[open] { min-width: 36em; }
.evidence { font-weight: normal; }
.evidence pre { white-space: pre-wrap; font-size: 12px; background: #f6f8fa; padding: 6px; margin: 4px 0; }
.checks li.failed b { color: #cf222e; }
.where { color: #57606a; font-size: 12px; }
tr.row[hidden] { display: none; }
</style></head><body>
"#;

const TAIL: &str = r#"<script>
(function () {
  function filter(kind) {
    document.querySelectorAll("tr.row").forEach(function (tr) {
      var keep = kind === "all" || (kind === "failed" && tr.classList.contains("has-fail")) || (kind === "gaps" && tr.classList.contains("has-gap"));
      tr.hidden = !keep;
    });
    document.body.dataset.filter = kind;
    var radio = document.querySelector('input[name="f"][value="' + kind + '"]');
    if (radio) { radio.checked = true; }
  }
  document.querySelectorAll('input[name="f"]').forEach(function (r) {
    r.addEventListener("change", function () { filter(r.value); });
  });
  var hash = decodeURIComponent(location.hash.slice(1));
  if (hash === "failed" || hash === "gaps") { filter(hash); }
  var cell = hash && document.getElementById(hash);
  if (cell && cell.tagName === "DETAILS") { cell.open = true; cell.scrollIntoView(); }
})();
</script>
</body></html>
"#;
