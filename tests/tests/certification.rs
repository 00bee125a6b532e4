//! The conformance suite run by the harness against every bundled client profile, and against
//! deliberately wrong clients that it must fail.
// Each test holds `cloudid_tests::clients_may_run()` for its whole run, awaits included: a
// test-wide guard against the compose test, never taken by the tasks the test awaits.
#![allow(clippy::await_holding_lock)]

use std::path::PathBuf;

use cloudid_harness::runner::{self, Config};
use cloudid_harness::{Verdict, report, scenario};

fn config() -> Config {
    let root = cloudid_tests::workspace_root();
    let mut cfg = Config::bundled(&root).expect("bundled profiles and expected failures load");
    cfg.tools.python = cloudid_tests::python();
    cfg.tools.rust_aws_config_client = cloudid_tests::rust_client("rust-aws-config-client");
    cfg.tools.rust_google_auth_client = cloudid_tests::rust_client("rust-google-auth-client");
    cfg.tools.rust_jwt_verifier = cloudid_tests::rust_client("rust-jwt-verifier");
    cfg.tools.rust_azure_identity_client = cloudid_tests::rust_client("rust-azure-identity-client");
    cfg.tools.go_aws_client = cloudid_tests::go_client("aws-sdk-v2");
    cfg.tools.go_google_client = cloudid_tests::go_client("oauth2-google");
    cfg.cloudid = cloudid_tests::cloudid_binary();
    cfg
}

/// `cfg` in both modes: endpoint settings, then `cloudid exec` at the real addresses.
fn both_modes(cfg: &Config) -> [Config; 2] {
    let mut exec = cfg.clone();
    exec.mode = cloudid_harness::exec_mode::Mode::Exec;
    [cfg.clone(), exec]
}

/// Runs the scenario file `rel` (under `scenarios/`) against every bundled profile, with endpoint
/// settings and under `cloudid exec`: nothing may fail but for known gaps, and some profile must
/// run it. The generated per-file tests call this.
pub(crate) async fn certify_file(rel: &str) {
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let file = cloudid_tests::workspace_root().join("scenarios").join(rel);
    let scenarios = scenario::load_all(std::slice::from_ref(&file)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(scenarios.len(), 1, "{}", file.display());
    let mut results = Vec::new();
    for cfg in both_modes(&cfg) {
        for profile in cfg.profiles.profiles.keys() {
            results.extend(runner::run_profile(&cfg, &scenarios, profile).await.unwrap());
        }
    }
    assert!(results.iter().all(|r| r.verdict != Verdict::Failed), "scenarios/{rel}:\n{}", report::terminal(&results));
    assert!(results.iter().any(|r| r.verdict != Verdict::Skipped), "scenarios/{rel} ran against no profile");
}

fn suite() -> Vec<(PathBuf, scenario::Scenario)> {
    scenario::load_all(&[cloudid_tests::workspace_root().join("scenarios")]).expect("every scenario file loads")
}

#[tokio::test(flavor = "multi_thread")]
async fn every_bundled_profile_passes_the_suite_with_only_known_gaps() {
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let scenarios = suite();
    assert!(scenarios.len() >= 30, "{} scenarios", scenarios.len());
    let mut results = Vec::new();
    let started = std::time::Instant::now();
    for cfg in both_modes(&cfg) {
        let profiles: Vec<String> = cfg.profiles.profiles.keys().cloned().collect();
        results.extend(runner::run_profiles(&cfg, &scenarios, &profiles, cfg.jobs, &|_, _, _, _| {}).await.unwrap());
    }
    println!("the suite took {:.0} s with {} jobs", started.elapsed().as_secs_f64(), cfg.jobs);
    let exec_ran = results.iter().filter(|r| r.mode == cloudid_harness::exec_mode::Mode::Exec && r.verdict != Verdict::Skipped).count();
    assert!(exec_ran >= 150, "exec mode ran {exec_ran} scenario × profile pairs");
    let failed: Vec<_> = results.iter().filter(|r| r.verdict == Verdict::Failed).collect();
    assert!(failed.is_empty(), "{}", report::terminal(&results));
    for (_, s) in &scenarios {
        assert!(results.iter().any(|r| r.scenario == s.name && r.verdict != Verdict::Skipped), "scenario {} ran against no profile", s.name);
    }
    let ran: Vec<_> = results.iter().filter(|r| r.verdict != Verdict::Skipped).collect();
    let overhead: u128 = ran.iter().map(|r| r.elapsed_ms.saturating_sub(r.client_ms)).sum::<u128>() / ran.len() as u128;
    let client: u128 = ran.iter().map(|r| r.client_ms).sum::<u128>() / ran.len() as u128;
    println!("{} runs; mean scenario overhead {overhead} ms, mean client time {client} ms", ran.len());
    insta::assert_snapshot!("certification_matrix", report::markdown(&results));
}

#[test]
fn every_scenario_names_only_bundled_profiles() {
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    runner::check_profiles(&cfg, &suite()).expect("profiles named by scenarios exist");
    let (file, mut s) = suite().into_iter().next().unwrap();
    s.profiles = vec!["python-botox".into()];
    let err = runner::check_profiles(&cfg, &[(file.clone(), s)]).unwrap_err();
    assert!(matches!(&err, cloudid_harness::HarnessError::UnknownScenarioProfile { profile, .. } if profile == "python-botox"), "{err:?}");
    assert!(err.to_string().starts_with(&format!("{}: field `profiles`: unknown profile `python-botox` (known: ", file.display())), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_with_a_narrower_refresh_window_fails_the_botocore_refresh_row() {
    // The JS SDK keeps credentials until 5 minutes before expiry; with 12 minutes left it does
    // not refresh, so botocore's advisory-window row must fail for it.
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let scenarios = suite();
    let (file, s) = scenarios.iter().find(|(_, s)| s.name == "container-credentials-inside-botocore-advisory-window-are-refreshed").expect("scenario exists");
    let node = &cfg.profiles.profiles["node-aws-sdk"].flows[&cloudid_harness::scenario::Flow::AwsContainer];
    let r = runner::run_one(&cfg, file, s, "node-aws-sdk", node).await;
    assert_eq!(r.verdict, Verdict::Failed);
    assert_eq!(failed_checks(&r), ["at_least aws_container.GetCredentials 200"]);
    assert!(r.checks.iter().any(|c| c.evidence.first().is_some_and(|e| e == "expected at least 2, got 1")), "{:?}", r.checks);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_holding_the_token_in_its_environment_fails_the_rotation_row() {
    // The same SDK given the token as AWS_CONTAINER_AUTHORIZATION_TOKEN cannot see the rotation:
    // its refetch after the pause sends the old token, which the agent refuses.
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let scenarios = suite();
    let (file, s) = scenarios.iter().find(|(_, s)| s.name == "container-token-file-re-read-after-rotation").expect("scenario exists");
    let mut s = s.clone();
    s.params.insert("token_file".into(), serde_json::json!(false));
    let rust = &cfg.profiles.profiles["rust-aws-config"].flows[&cloudid_harness::scenario::Flow::AwsContainer];
    let r = runner::run_one(&cfg, file, &s, "rust-aws-config", rust).await;
    assert_eq!(r.verdict, Verdict::Failed);
    assert!(failed_checks(&r).contains(&"absent aws_container.GetCredentials 400"), "{:?}", r.checks);
    assert!(r.journal.iter().any(|l| l.contains("aws_container.GetCredentials → 400")), "{:?}", r.journal);
}

async fn wrong(scenario_name: &str, command: &[&str]) -> runner::ScenarioResult {
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let scenarios = suite();
    let (file, s) = scenarios.iter().find(|(_, s)| s.name == scenario_name).expect("scenario exists");
    let argv: Vec<String> = command.iter().map(|c| c.to_string()).collect();
    runner::run_one(&cfg, file, s, "wrong-client", &argv).await
}

fn failed_checks(r: &runner::ScenarioResult) -> Vec<&str> {
    r.checks.iter().filter(|c| c.verdict == Verdict::Failed).map(|c| c.name.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_prints_its_secret_fails() {
    let script = cloudid_tests::client_program("wrong/prints-secret.py");
    let python = cloudid_tests::python();
    let r = wrong("imds-v2-instance-credentials", &[&python, script.to_str().unwrap()]).await;
    assert_eq!(r.verdict, Verdict::Failed);
    assert!(failed_checks(&r).contains(&"no_secret_in_output"), "{:?}", r.checks);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_claims_success_without_credentials_fails_positive_and_negative_scenarios() {
    let script = cloudid_tests::client_program("wrong/always-ok.sh");
    let positive = wrong("seed-001-github-actions-to-aws", &[script.to_str().unwrap()]).await;
    assert_eq!(positive.verdict, Verdict::Failed);
    assert_eq!(failed_checks(&positive), ["calls", "count aws_sts.AssumeRoleWithWebIdentity", "holds_issued"]);
    let negative = wrong("github-other-branch-denied", &[script.to_str().unwrap()]).await;
    assert_eq!(negative.verdict, Verdict::Failed);
    assert!(failed_checks(&negative).contains(&"outcome"));
    insta::assert_snapshot!("failure_report", report::terminal(&[positive]));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hanging_client_is_killed_and_fails() {
    let _clients = cloudid_tests::clients_may_run();
    let mut cfg = config();
    cfg.timeout = std::time::Duration::from_millis(500);
    let scenarios = suite();
    let (file, s) = scenarios.iter().find(|(_, s)| s.name == "imds-v2-instance-credentials").unwrap();
    let argv = vec!["sh".to_string(), "-c".to_string(), "sleep 30 & sleep 30".to_string()];
    let started = std::time::Instant::now();
    let r = runner::run_one(&cfg, file, s, "hangs", &argv).await;
    assert!(started.elapsed() < std::time::Duration::from_secs(10), "the process group was killed");
    assert_eq!(r.verdict, Verdict::Failed);
    assert!(r.checks[0].evidence[0].contains("timed out true"), "{:?}", r.checks);
}

#[tokio::test(flavor = "multi_thread")]
async fn client_fuzzing_classifies_every_case_reproducibly() {
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let a = cloudid_harness::fuzz::run(&cfg, "python-boto3", 7, 3).await.unwrap();
    let b = cloudid_harness::fuzz::run(&cfg, "python-boto3", 7, 3).await.unwrap();
    assert_eq!(a.len(), 12, "3 cases for each of the profile's 4 flows");
    let shape = |v: &[cloudid_harness::fuzz::Case]| v.iter().map(|c| (c.flow, c.seed, c.mutation.clone())).collect::<Vec<_>>();
    assert_eq!(shape(&a), shape(&b), "the same seed serves the same mutations");
    assert!(a.iter().all(|c| !c.mutation.starts_with("not applied")), "{a:#?}");
    let rust = cloudid_harness::fuzz::run(&cfg, "rust-aws-config", 7, 2).await.unwrap();
    assert!(rust.iter().all(|c| c.class != cloudid_harness::fuzz::Class::Hung), "{rust:#?}");
    let table = cloudid_harness::fuzz::report("python-boto3", &a);
    assert!(table.starts_with("## Client fuzzing: python-boto3, 12 cases\n"), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn client_fuzzing_refuses_a_flow_the_client_cannot_complete_unmutated() {
    let _clients = cloudid_tests::clients_may_run();
    let mut cfg = config();
    let flows = [(cloudid_harness::scenario::Flow::AwsImds, vec!["sh".to_string(), "-c".to_string(), r#"echo '{"ok": false, "error": "no credentials"}'; exit 1"#.to_string()])];
    cfg.profiles.profiles.insert("never-works".into(), cloudid_harness::profile::Profile { description: String::new(), flows: flows.into_iter().collect(), exec_only: Default::default() });
    let err = cloudid_harness::fuzz::run(&cfg, "never-works", 1, 2).await.unwrap_err();
    assert_eq!(err, cloudid_harness::HarnessError::Unfuzzable { profile: "never-works".into(), flow: cloudid_harness::scenario::Flow::AwsImds });
    assert_eq!(err.to_string(), "never-works does not complete flow `aws-imds` unmutated, so fuzzing it would mutate error answers, not valid ones");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_mode_runs_the_client_with_no_endpoint_settings_at_the_real_addresses() {
    let _clients = cloudid_tests::clients_may_run();
    let mut cfg = config();
    cfg.mode = cloudid_harness::exec_mode::Mode::Exec;
    let scenarios = suite();
    let (file, s) = scenarios.iter().find(|(_, s)| s.flow == cloudid_harness::scenario::Flow::AwsImds && s.steps.is_empty() && s.world.is_empty()).expect("a plain IMDS scenario");
    let boto3 = &cfg.profiles.profiles["python-boto3"].flows[&cloudid_harness::scenario::Flow::AwsImds];
    let (r, run) = runner::run_one_raw(&cfg, file, s, "python-boto3", boto3).await;
    assert_eq!(r.verdict, Verdict::Passed, "{}", report::terminal(std::slice::from_ref(&r)));
    assert!(r.journal.iter().any(|l| l.contains(" 169.254.169.254/latest/")), "IMDS was reached at its real address: {:?}", r.journal);
    assert!(r.journal.iter().any(|l| l.contains(" sts.amazonaws.com/") || l.contains(".amazonaws.com/ aws_sts")), "STS at a real host name: {:?}", r.journal);
    assert!(run.is_some_and(|run| run.succeeded()));
    let mut matrix = r.clone();
    matrix.mode = cloudid_harness::exec_mode::Mode::Endpoints;
    assert!(report::markdown(&[matrix, r]).starts_with("| scenario | python-boto3 | python-boto3 (exec) |"), "the matrix has a column per mode");
}

/// Issue 16: the seeds' own files (Terraform plan, `aws iam` and `gcloud` JSON, policy files),
/// imported onto a world that holds only the seeds' compute, behave as the built-in default
/// world — the seed scenarios, and their refusals, pass against it with every bundled profile.
#[tokio::test(flavor = "multi_thread")]
async fn the_seed_scenarios_pass_on_a_world_imported_from_the_seeds_own_files() {
    let _clients = cloudid_tests::clients_may_run();
    let root = cloudid_tests::workspace_root();
    let out = std::env::temp_dir().join(format!("cloudid-seeds-imported-{}.yaml", std::process::id()));
    let mut args: Vec<String> = ["world", "import", "--base", "fixtures/configs/seeds-compute-only.yaml", "--out"].iter().map(|s| s.to_string()).collect();
    args.push(out.display().to_string());
    args.extend(cloudid_tests::SEED_CONFIG_FILES.iter().map(|f| f.to_string()));
    let import = std::process::Command::new(cloudid_tests::cloudid_binary()).args(&args).current_dir(&root).output().unwrap();
    assert!(import.status.success(), "{}", String::from_utf8_lossy(&import.stderr));
    let mut cfg = config();
    cfg.base_world = Some(std::fs::read_to_string(&out).unwrap().into());
    std::fs::remove_file(&out).ok();
    let files: Vec<PathBuf> = [
        "aws-web-identity/seed-000-cloud-run-to-aws.yaml",
        "aws-web-identity/seed-001-github-actions-to-aws.yaml",
        "aws-web-identity/github-other-branch-denied.yaml",
        "aws-web-identity/google-other-service-account-denied.yaml",
        "google-federation/seed-002-container-to-google.yaml",
        "google-federation/seed-002-unbound-service-account.yaml",
        "google-federation/seed-003-ec2-to-google.yaml",
        "google-federation/seed-003-direct-federated-token.yaml",
    ]
    .iter()
    .map(|f| root.join("scenarios").join(f))
    .collect();
    let scenarios = scenario::load_all(&files).unwrap();
    let mut results = Vec::new();
    for profile in cfg.profiles.profiles.keys() {
        results.extend(runner::run_profile(&cfg, &scenarios, profile).await.unwrap());
    }
    assert!(results.iter().all(|r| r.verdict != Verdict::Failed), "{}", report::terminal(&results));
    for s in &scenarios {
        assert!(results.iter().any(|r| r.scenario == s.1.name && r.verdict == Verdict::Passed), "{} passed with no profile:\n{}", s.1.name, report::terminal(&results));
    }
}

/// Issue 20: a profile whose client is not installed is one message saying how to set it up,
/// not one failed row per scenario.
#[tokio::test(flavor = "multi_thread")]
async fn a_missing_client_is_one_message_that_says_how_to_set_it_up() {
    let mut cfg = config();
    cfg.tools.rust_aws_config_client = "/nonexistent/rust-aws-config-client".into();
    let err = runner::run_profile(&cfg, &suite(), "rust-aws-config").await.unwrap_err().to_string();
    assert!(err.contains("profile `rust-aws-config` needs `/nonexistent/rust-aws-config-client`, which does not exist"), "{err}");
    assert!(err.contains("scripts/setup-clients") && err.contains("CLOUDID_RUST_AWS_CONFIG_CLIENT"), "{err}");
    cfg.tools.python = "no-such-python-anywhere".into();
    let err = runner::check_client(&cfg, "python-boto3").unwrap_err().to_string();
    assert!(err.contains("is not on PATH") && err.contains("CLOUDID_PYTHON"), "{err}");
    assert!(runner::check_client(&config(), "python-boto3").is_ok());
}

/// Issue 20: a parallel run gives the matrix a serial run gives, row for row.
#[tokio::test(flavor = "multi_thread")]
async fn a_parallel_run_gives_the_same_matrix_as_a_serial_one() {
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let root = cloudid_tests::workspace_root().join("scenarios");
    let scenarios = scenario::load_all(&[root.join("aws-imds"), root.join("gcp-metadata"), root.join("aws-role-chain")]).unwrap();
    let profiles: Vec<String> = ["python-boto3", "rust-aws-config", "go-aws-sdk-v2", "python-google-auth", "go-oauth2-google", "aws-cli"].map(str::to_string).to_vec();
    let serial = runner::run_profiles(&cfg, &scenarios, &profiles, 1, &|_, _, _, _| {}).await.unwrap();
    let seen = std::sync::Mutex::new(Vec::new());
    let parallel = runner::run_profiles(&cfg, &scenarios, &profiles, 4, &|done, total, _, _| seen.lock().unwrap().push((done, total))).await.unwrap();
    assert_eq!(report::markdown(&parallel), report::markdown(&serial));
    let order = |rs: &[runner::ScenarioResult]| rs.iter().map(|r| (r.profile.clone(), r.scenario.clone())).collect::<Vec<_>>();
    assert_eq!(order(&parallel), order(&serial), "results come back in the serial order");
    let seen = seen.into_inner().unwrap();
    let total = serial.iter().filter(|r| r.verdict != Verdict::Skipped).count();
    assert_eq!(seen.last(), Some(&(total, total)), "progress counted every run");
}

/// Issue 20: the HTML matrix, opened in a real browser (Debian's headless Chromium): a failed
/// cell's evidence opens from its address, the "failed only" filter hides rows without a
/// failure, and a screenshot is kept as `target/test-artifacts/certification.png`.
#[tokio::test(flavor = "multi_thread")]
async fn the_html_matrix_opens_a_cells_evidence_in_a_browser() {
    let _clients = cloudid_tests::clients_may_run();
    let cfg = config();
    let root = cloudid_tests::workspace_root();
    let scenarios = scenario::load_all(&[root.join("scenarios/aws-imds/imds-v2-instance-credentials.yaml"), root.join("scenarios/aws-imds/imds-retries-a-503.yaml")]).unwrap();
    let mut results = runner::run_profiles(&cfg, &scenarios, &["python-boto3".to_string()], 2, &|_, _, _, _| {}).await.unwrap();
    let wrong = vec![cloudid_tests::client_program("wrong/always-ok.sh").display().to_string()];
    results.push(runner::run_one(&cfg, &scenarios[0].0, &scenarios[0].1, "custom", &wrong).await);
    let page = cloudid_harness::html::html(&results);
    let artifacts = root.join("target/test-artifacts");
    std::fs::create_dir_all(&artifacts).unwrap();
    let file = artifacts.join("certification.html");
    std::fs::write(&file, &page).unwrap();
    let failed_cell = page.split("<td class=\"fail\"><details id=\"").nth(1).and_then(|rest| rest.split('"').next()).expect("a failed cell").to_string();
    let chromium = |extra: &[&str], fragment: &str| {
        let out = std::process::Command::new("chromium")
            .args(["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"])
            .args(extra)
            .arg(format!("file://{}#{fragment}", file.display()))
            .output()
            .expect("chromium runs (apt-get install chromium; .ci/run installs it)");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let dom = chromium(&["--dump-dom"], &failed_cell);
    let opened = dom.split(&format!("<details id=\"{failed_cell}\"")).nth(1).expect("the cell is in the page");
    assert!(opened.starts_with(" open=\"\""), "the cell's evidence is open: {}", &opened[..80.min(opened.len())]);
    assert!(opened.contains("expected") && opened.contains("failed"), "the evidence shows the failed checks");
    assert!(page.contains("Known gap: botocore makes one IMDS attempt"), "a known gap's reason is in its cell");
    let filtered = chromium(&["--dump-dom"], "failed");
    let rows: Vec<&str> = filtered.split("<tr class=\"row").skip(1).collect();
    assert!(rows.iter().any(|r| r.starts_with(" has-fail") && !r.split('>').next().unwrap_or("").contains("hidden")), "the failing row stays");
    assert!(rows.iter().filter(|r| !r.contains("has-fail")).all(|r| r.contains(" hidden=\"\"")), "rows without a failure are hidden");
    let shot = artifacts.join("certification.png");
    chromium(&[&format!("--screenshot={}", shot.display()), "--window-size=1200,800"], &failed_cell);
    assert!(std::fs::metadata(&shot).map(|m| m.len()).unwrap_or(0) > 10_000, "a screenshot of the opened cell");
}

/// A gap that shows in some runs only is the known gap whether or not a run shows it, so the
/// matrix does not change from run to run.
#[tokio::test(flavor = "multi_thread")]
async fn an_intermittent_known_gap_is_reported_the_same_when_the_run_passes() {
    let _clients = cloudid_tests::clients_may_run();
    let mut cfg = config();
    let root = cloudid_tests::workspace_root();
    let scenarios = scenario::load_all(&[root.join("scenarios/aws-imds/imds-v2-instance-credentials.yaml")]).unwrap();
    let name = scenarios[0].1.name.clone();
    let gap = |intermittent: bool| runner::KnownGap { scenario: name.clone(), profile: "python-boto3".into(), reason: "seen sometimes".into(), mode: None, intermittent };
    cfg.known_gaps = vec![gap(true)];
    let r = runner::run_profile(&cfg, &scenarios, "python-boto3").await.unwrap().remove(0);
    assert_eq!((r.verdict, r.known_gap.as_deref()), (Verdict::Warning, Some("seen sometimes")));
    assert!(r.checks.iter().all(|c| c.verdict != Verdict::Failed), "the checks still say the run passed");
    cfg.known_gaps = vec![gap(false)];
    let r = runner::run_profile(&cfg, &scenarios, "python-boto3").await.unwrap().remove(0);
    assert_eq!((r.verdict, r.known_gap), (Verdict::Passed, None), "a steady gap that did not show is a pass");
}
