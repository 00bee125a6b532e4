//! `cloudid-certify` from the outside: what a broken or mistargeted scenario file makes it say,
//! and how a custom client is judged only by scenarios written for any client.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_cloudid-certify");

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn certify(args: &[&str]) -> Output {
    Command::new(BIN).args(args).env("CLOUDID_ROOT", root()).output().expect("cloudid-certify runs")
}

fn scenario_file(dir: &tempfile::TempDir, name: &str, text: &str) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, text).unwrap();
    path.display().to_string()
}

#[test]
fn a_broken_scenario_file_is_named_with_line_and_field_and_nothing_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(&dir, "broken.yaml", "name: x\nflow: aws-imds\nexpect:\n  outcome: success\n  cals: []\n");
    let out = certify(&["run", "--client-cmd", "/bin/false", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with(&format!("cloudid: {file}:5:")), "{err}");
    assert!(err.contains("field `expect.cals`"), "{err}");
    assert!(out.stdout.is_empty(), "no scenario ran: {}", String::from_utf8_lossy(&out.stdout));
}

#[test]
fn a_scenario_naming_an_unknown_profile_is_refused_before_anything_runs() {
    let dir = tempfile::tempdir().unwrap();
    let file = scenario_file(&dir, "s.yaml", "name: x\nflow: aws-imds\nprofiles: [python-botox]\nexpect: {outcome: success}\n");
    let out = certify(&["run", "--client-cmd", "/bin/false", &file]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.starts_with(&format!("cloudid: {file}: field `profiles`: unknown profile `python-botox` (known: ")), "{err}");
}

#[test]
fn a_custom_client_is_not_judged_by_scenarios_written_for_named_sdks() {
    let botocore_row = root().join("scenarios/aws-container/container-credentials-inside-botocore-advisory-window-are-refreshed.yaml");
    let out = certify(&["run", "--client-cmd", "/bin/false", botocore_row.to_str().unwrap()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("skipped   custom"), "{text}");
    assert!(text.contains("0 passed, 0 failed, 0 warnings, 1 skipped"), "{text}");
}
