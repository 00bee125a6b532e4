//! Running scenarios against profiles: a fresh server per run, the scenario's steps, then the
//! checks.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cloudid_mock::CloudId;
use serde::{Deserialize, Serialize};

use crate::checks::{self, CheckResult, Verdict};
use crate::client;
use crate::flow;
use crate::profile::{self, Profiles, Tools};
use crate::scenario::{Scenario, Step};

/// A known client gap: this scenario is expected to fail for this profile, for this reason.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct KnownGap {
    /// Scenario name.
    pub scenario: String,
    /// Profile name.
    pub profile: String,
    /// Why.
    pub reason: String,
    /// Only in this mode (`exec`, `endpoints`); in both when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<crate::exec_mode::Mode>,
    /// The gap shows in some runs only: the row is the known gap whether or not this run
    /// showed it, so the matrix does not change from run to run (the checks still say what
    /// happened).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub intermittent: bool,
}

/// Everything a run needs.
#[derive(Debug, Clone)]
pub struct Config {
    /// Client programs and interpreters.
    pub tools: Tools,
    /// Bundled profiles.
    pub profiles: Profiles,
    /// Known gaps (`scenarios/expected-failures.yaml`).
    pub known_gaps: Vec<KnownGap>,
    /// Per client run deadline.
    pub timeout: Duration,
    /// How clients reach the server: endpoint settings, or `cloudid exec` at the real addresses.
    pub mode: crate::exec_mode::Mode,
    /// The `cloudid` binary (exec mode runs clients under it).
    pub cloudid: String,
    /// Scenario runs at a time (`cloudid run --jobs`); the number of cores by default.
    pub jobs: usize,
    /// The world the scenarios' edits apply to, as text (a self-contained world file, such as
    /// `cloudid world import` writes); the built-in default world when `None`.
    pub base_world: Option<std::sync::Arc<str>>,
}

impl Config {
    /// The bundled configuration of the workspace at `root`.
    pub fn bundled(root: &Path) -> Result<Self, crate::HarnessError> {
        let gaps_file = root.join("scenarios/expected-failures.yaml");
        let known_gaps = if gaps_file.exists() {
            let config = |message: String| crate::HarnessError::Config { file: gaps_file.clone(), message };
            let text = std::fs::read_to_string(&gaps_file).map_err(|e| config(e.to_string()))?;
            let de = yaml_serde::Deserializer::from_str(&text);
            serde_path_to_error::deserialize::<_, Vec<KnownGap>>(de).map_err(|e| {
                let p = e.path().to_string();
                config(format!("field `{p}`: {}", e.into_inner()))
            })?
        } else {
            Vec::new()
        };
        let cloudid = std::env::var("CLOUDID_BIN").unwrap_or_else(|_| {
            let beside = std::env::current_exe().ok().map(|e| e.with_file_name("cloudid")).filter(|p| p.exists());
            beside.unwrap_or_else(|| root.join("target/debug/cloudid")).display().to_string()
        });
        Ok(Self {
            tools: Tools::from_env(root),
            profiles: profile::load(&root.join("fixtures/clients/profiles.yaml"))?,
            known_gaps,
            timeout: Duration::from_secs(90),
            mode: crate::exec_mode::Mode::Endpoints,
            cloudid,
            jobs: std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
            base_world: None,
        })
    }
}

/// The result of one scenario against one client.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    /// Scenario name.
    pub scenario: String,
    /// Its file.
    pub file: PathBuf,
    /// Profile (or `custom`).
    pub profile: String,
    /// How the client reached the server.
    pub mode: crate::exec_mode::Mode,
    /// Why the run was skipped, when it was skipped for a reason other than the profile lacking the flow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    /// Overall verdict.
    pub verdict: Verdict,
    /// The known gap, when the failure was expected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub known_gap: Option<String>,
    /// Each check.
    pub checks: Vec<CheckResult>,
    /// The journal, for evidence.
    pub journal: Vec<String>,
    /// Total wall time.
    pub elapsed_ms: u128,
    /// Time spent in client processes.
    pub client_ms: u128,
}

fn failed(s: &Scenario, file: &Path, profile: &str, name: &str, why: String) -> ScenarioResult {
    ScenarioResult {
        scenario: s.name.clone(),
        file: file.to_path_buf(),
        profile: profile.into(),
        mode: Default::default(),
        skipped_because: None,
        verdict: Verdict::Failed,
        known_gap: None,
        checks: vec![CheckResult { name: name.into(), verdict: Verdict::Failed, evidence: vec![why] }],
        journal: vec![],
        elapsed_ms: 0,
        client_ms: 0,
    }
}

/// Runs `scenario` with `command` (a profile's command for its flow, or a custom one).
pub async fn run_one(cfg: &Config, file: &Path, s: &Scenario, profile: &str, command: &[String]) -> ScenarioResult {
    run_one_raw(cfg, file, s, profile, command).await.0
}

/// As [`run_one`], also giving the last client run.
pub async fn run_one_raw(cfg: &Config, file: &Path, s: &Scenario, profile: &str, command: &[String]) -> (ScenarioResult, Option<client::ClientRun>) {
    let mut r = run_inner(cfg, file, s, profile, command).await;
    r.0.mode = cfg.mode;
    (r.0, r.1)
}

async fn run_inner(cfg: &Config, file: &Path, s: &Scenario, profile: &str, command: &[String]) -> (ScenarioResult, Option<client::ClientRun>) {
    let started = Instant::now();
    let base = cfg.base_world.as_deref().unwrap_or(cloudid_mock::world::load::DEFAULT_WORLD_YAML);
    let yaml = match crate::scenario::world_text_on(base, &s.world) {
        Ok(text) => text,
        Err((i, why)) => return (failed(s, file, profile, "world", format!("world[{i}]: {why}")), None),
    };
    let cloud = match CloudId::builder().world_yaml(&yaml) {
        Ok(b) => b.start().await,
        Err(e) => return (failed(s, file, profile, "world", e.to_string()), None),
    };
    let mut prepared = match flow::prepare(&cloud, s.flow, &s.params).await {
        Ok(p) => p,
        Err(e) => return (failed(s, file, profile, "prepare", e.to_string()), None),
    };
    let exec = match cfg.mode {
        crate::exec_mode::Mode::Endpoints => None,
        crate::exec_mode::Mode::Exec => match crate::exec_mode::wrap(&cfg.cloudid, &cloud.endpoint(), &yaml, s.flow, &mut prepared) {
            Ok(w) => Some(w),
            Err(why) => {
                let mut r = skipped(file, s, profile);
                r.skipped_because = Some(why);
                return (r, None);
            }
        },
    };
    let argv = match profile::expand(command, &cfg.tools, &prepared.vars) {
        Ok(a) => a,
        Err(e) => return (failed(s, file, profile, "command", e.to_string()), None),
    };
    let mut env = prepared.env.clone();
    env.insert("CLOUDID_FLOW".into(), s.flow.name().to_string());
    for (k, v) in &prepared.vars {
        env.insert(format!("CLOUDID_{}", k.to_ascii_uppercase()), v.clone());
    }
    let steps = if s.steps.is_empty() { vec![Step::Run] } else { s.steps.clone() };
    let mut last = None;
    let mut client_ms = 0;
    for step in &steps {
        let between = match step {
            Step::Run => None,
            Step::RunWith { between } => Some(between.clone()),
            other => {
                if let Err((name, why)) = apply(&cloud, &env, other).await {
                    return (failed(s, file, profile, name, why), None);
                }
                continue;
            }
        };
        let mut env = env.clone();
        if between.is_some() {
            env.insert("CLOUDID_PAUSE".into(), "1".into());
        }
        let (pause_tx, mut pauses) = tokio::sync::mpsc::channel::<u64>(1);
        let (resume_tx, resume_rx) = std::sync::mpsc::channel::<Result<(), crate::HarnessError>>();
        let (argv, timeout) = match &exec {
            Some(w) => (w.command(&env, &argv), cfg.timeout),
            None => (argv.clone(), cfg.timeout),
        };
        if exec.is_some() {
            env = std::collections::BTreeMap::new();
        }
        let client = tokio::task::spawn_blocking(move || {
            client::run_interactive(&argv, &env, timeout, |n| {
                let lost = |why: String| crate::HarnessError::Step { step: "resume", pause: n, why };
                pause_tx.blocking_send(n).map_err(|e| lost(e.to_string()))?;
                resume_rx.recv().map_err(|e| lost(e.to_string()))?
            })
        });
        while let Some(pause) = pauses.recv().await {
            let mut outcome = Ok(());
            for b in between.iter().flatten() {
                if let Err((step, why)) = apply(&cloud, &prepared.env, b).await {
                    outcome = Err(crate::HarnessError::Step { step, pause, why });
                    break;
                }
            }
            let _ = resume_tx.send(outcome);
        }
        match client.await.map_err(|e| e.to_string()).and_then(|r| r.map_err(|e| e.to_string())) {
            Ok(r) => {
                client_ms += r.elapsed_ms;
                last = Some(r);
            }
            Err(e) => return (failed(s, file, profile, "client", e), None),
        }
    }
    let Some(run) = last else {
        return (failed(s, file, profile, "steps", "no `run` step".into()), None);
    };
    let journal = cloud.journal();
    let checks = checks::judge(&s.expect, &run, &journal);
    let all_passed = checks.iter().all(|c| c.verdict != Verdict::Failed);
    let known = cfg.known_gaps.iter().find(|g| g.scenario == s.name && g.profile == profile && g.mode.is_none_or(|m| m == cfg.mode));
    let gap = known.map(|g| g.reason.clone());
    let intermittent = known.is_some_and(|g| g.intermittent);
    let verdict = match (all_passed, &gap) {
        (true, _) if intermittent => Verdict::Warning,
        (true, _) => Verdict::Passed,
        (false, Some(_)) => Verdict::Warning,
        (false, None) => Verdict::Failed,
    };
    let all_passed = all_passed && !intermittent;
    drop(prepared);
    let result = ScenarioResult {
        scenario: s.name.clone(),
        file: file.to_path_buf(),
        profile: profile.into(),
        mode: cfg.mode,
        skipped_because: None,
        verdict,
        known_gap: if all_passed { None } else { gap },
        checks,
        journal: checks::journal_lines(&journal),
        elapsed_ms: started.elapsed().as_millis(),
        client_ms,
    };
    (result, Some(run))
}

/// The result of a scenario that does not apply to `profile`.
pub fn skipped(file: &Path, s: &Scenario, profile: &str) -> ScenarioResult {
    ScenarioResult {
        scenario: s.name.clone(),
        file: file.to_path_buf(),
        profile: profile.into(),
        mode: Default::default(),
        skipped_because: None,
        verdict: Verdict::Skipped,
        known_gap: None,
        checks: vec![],
        journal: vec![],
        elapsed_ms: 0,
        client_ms: 0,
    }
}

/// Scenarios whose `profiles` name a profile that is not bundled: `file: field `profiles`: …`.
pub fn check_profiles(cfg: &Config, scenarios: &[(PathBuf, Scenario)]) -> Result<(), crate::HarnessError> {
    for (file, s) in scenarios {
        if let Some(unknown) = s.profiles.iter().find(|p| !cfg.profiles.profiles.contains_key(*p)) {
            let known = cfg.profiles.profiles.keys().cloned().collect();
            return Err(crate::HarnessError::UnknownScenarioProfile { file: file.clone(), profile: unknown.clone(), known });
        }
    }
    Ok(())
}

/// Applies one step other than `run` to `cloud`; `env` is the client's (files it names may change).
async fn apply(cloud: &CloudId, env: &std::collections::BTreeMap<String, String>, step: &Step) -> Result<(), (&'static str, String)> {
    let control = cloud.control();
    let failed = |name: &'static str| move |e: cloudid_mock::ControlError| (name, e.to_string());
    match step {
        Step::Run | Step::RunWith { .. } => {
            return Err(("steps", "a run cannot be applied as a step".into()));
        }
        Step::AdvanceClock(secs) => {
            // Through the control plane, so the kubelet rewrites the projected tokens now due.
            control.advance_clock(*secs).await.map_err(failed("advance_clock"))?;
        }
        Step::SetClock(at) => {
            control.set_clock(at).await.map_err(failed("set_clock"))?;
        }
        Step::WaitMs(ms) => tokio::time::sleep(Duration::from_millis(*ms)).await,
        Step::Faults(rules) => {
            control.add_fault_values(serde_json::Value::Array(rules.clone())).await.map_err(failed("faults"))?;
        }
        Step::RotateKey { issuer, grace_seconds } => {
            control.rotate_key(issuer, *grace_seconds).await.map_err(failed("rotate_key"))?;
        }
        Step::RevokeBinding { service_account, member, role } => {
            control.revoke_binding(service_account, member, role.as_deref()).await.map_err(failed("revoke_binding"))?;
        }
        Step::MintToken => {
            let (Some(mint), Some(path)) = (env.get("CLOUDID_VERIFIER_MINT"), env.get("CLOUDID_TOKEN_FILE")) else {
                return Err(("mint_token", "only the verifier flow mints its token again".into()));
            };
            let (issuer, request) = crate::flow::verifier_mint(mint).map_err(|e| ("mint_token", e))?;
            let token = control.mint(&issuer, &request).await.map_err(failed("mint_token"))?;
            std::fs::write(path, token).map_err(|e| ("mint_token", format!("{path}: {e}")))?;
        }
        Step::RotateContainerToken => {
            let token = control.rotate_container_token(None).await.map_err(failed("rotate_container_token"))?;
            if let Some(path) = env.get("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE") {
                std::fs::write(path, token).map_err(|e| ("rotate_container_token", format!("{path}: {e}")))?;
            }
        }
    }
    Ok(())
}

/// Whether `profile`'s client program is there: an absolute path that exists, or a name on PATH.
pub fn check_client(cfg: &Config, profile: &str) -> Result<(), crate::HarnessError> {
    let p = cfg.profiles.profiles.get(profile).ok_or_else(|| crate::HarnessError::UnknownProfile(profile.to_string()))?;
    let variable = |placeholder: &str| match placeholder {
        "{python}" => "CLOUDID_PYTHON",
        "{node}" => "CLOUDID_NODE",
        "{rust-aws-config-client}" => "CLOUDID_RUST_AWS_CONFIG_CLIENT",
        "{rust-google-auth-client}" => "CLOUDID_RUST_GOOGLE_AUTH_CLIENT",
        "{rust-jwt-verifier}" => "CLOUDID_RUST_JWT_VERIFIER",
        "{rust-azure-identity-client}" => "CLOUDID_RUST_AZURE_IDENTITY_CLIENT",
        "{go-aws-client}" => "CLOUDID_GO_AWS_CLIENT",
        "{go-google-client}" => "CLOUDID_GO_GOOGLE_CLIENT",
        "{aws-cli}" => "CLOUDID_AWS_CLI",
        _ => "the profile's command",
    };
    let mut programs: Vec<&String> = p.flows.values().filter_map(|c| c.first()).collect();
    programs.extend(p.flows.values().flatten().filter(|part| part.as_str() == "{aws-cli}"));
    programs.dedup();
    for placeholder in programs {
        let program = profile::expand(std::slice::from_ref(placeholder), &cfg.tools, &Default::default()).ok().and_then(|v| v.into_iter().next()).unwrap_or_default();
        let found = if program.contains('/') {
            std::path::Path::new(&program).is_file()
        } else {
            std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(&program).is_file()))
        };
        if !found {
            let why = if program.contains('/') { "does not exist" } else { "is not on PATH" };
            return Err(crate::HarnessError::ClientMissing { profile: profile.to_string(), program, why: why.into(), variable: variable(placeholder).into() });
        }
    }
    Ok(())
}

/// What to do with one scenario for one profile.
enum Plan {
    /// Run this command.
    Run(Vec<String>),
    /// Nothing to run: this is the result.
    Skip(Box<ScenarioResult>),
}

fn plan(cfg: &Config, p: &profile::Profile, file: &Path, s: &Scenario, profile: &str) -> Plan {
    match p.flows.get(&s.flow).filter(|_| s.profiles.is_empty() || s.profiles.iter().any(|n| n == profile)) {
        Some(_) if cfg.mode == crate::exec_mode::Mode::Endpoints && p.exec_only.contains_key(&s.flow) => {
            let mut r = skipped(file, s, profile);
            r.skipped_because = Some(format!("{EXEC_ONLY}{}", p.exec_only[&s.flow]));
            Plan::Skip(Box::new(r))
        }
        Some(cmd) => Plan::Run(cmd.clone()),
        None => Plan::Skip(Box::new(skipped(file, s, profile))),
    }
}

/// Runs `scenarios` against every profile in `profiles`, `jobs` scenario runs at a time (each
/// owns its server, so runs do not share state); the results come back in the order a serial
/// run gives — profile by profile, scenario by scenario — so the matrix is the same. `progress`
/// hears of each finished run: (done, total, passed, failed).
pub async fn run_profiles(
    cfg: &Config,
    scenarios: &[(PathBuf, Scenario)],
    profiles: &[String],
    jobs: usize,
    progress: &(dyn Fn(usize, usize, usize, usize) + Sync),
) -> Result<Vec<ScenarioResult>, crate::HarnessError> {
    let mut plans = Vec::new();
    for profile in profiles {
        let p = cfg.profiles.profiles.get(profile).ok_or_else(|| crate::HarnessError::UnknownProfile(profile.clone()))?;
        check_client(cfg, profile)?;
        for (file, s) in scenarios {
            plans.push((profile.clone(), file.clone(), s.clone(), plan(cfg, p, file, s, profile)));
        }
    }
    let cfg = std::sync::Arc::new(cfg.clone());
    let permits = std::sync::Arc::new(tokio::sync::Semaphore::new(jobs.max(1)));
    let mut slots: Vec<Option<ScenarioResult>> = Vec::with_capacity(plans.len());
    let mut set = tokio::task::JoinSet::new();
    for (index, (profile, file, s, planned)) in plans.into_iter().enumerate() {
        match planned {
            Plan::Skip(skip) => slots.push(Some(*skip)),
            Plan::Run(cmd) => {
                slots.push(None);
                let (cfg, permits) = (cfg.clone(), permits.clone());
                set.spawn(async move {
                    let _permit = permits.acquire_owned().await.expect("the semaphore stays open");
                    (index, run_one(&cfg, &file, &s, &profile, &cmd).await)
                });
            }
        }
    }
    let total = set.len();
    let (mut done, mut passed, mut failed) = (0, 0, 0);
    while let Some(joined) = set.join_next().await {
        let (index, result) = joined.map_err(|e| crate::HarnessError::Client { program: "scenario run".into(), why: e.to_string() })?;
        done += 1;
        match result.verdict {
            Verdict::Passed => passed += 1,
            Verdict::Failed => failed += 1,
            _ => {}
        }
        progress(done, total, passed, failed);
        slots[index] = Some(result);
    }
    Ok(slots.into_iter().flatten().collect())
}

/// How a skipped row's reason starts when its client runs that flow only under `cloudid exec`
/// (the matrix shows such a cell as "exec only").
pub const EXEC_ONLY: &str = "runs under cloudid exec only: ";

/// Runs `scenarios` against `profile` (every flow it supports; others are skipped).
pub async fn run_profile(cfg: &Config, scenarios: &[(PathBuf, Scenario)], profile: &str) -> Result<Vec<ScenarioResult>, crate::HarnessError> {
    let p = cfg.profiles.profiles.get(profile).ok_or_else(|| crate::HarnessError::UnknownProfile(profile.to_string()))?;
    check_client(cfg, profile)?;
    let mut out = Vec::new();
    let progress = std::io::IsTerminal::is_terminal(&std::io::stderr());
    for (file, s) in scenarios {
        match plan(cfg, p, file, s, profile) {
            Plan::Skip(skip) => out.push(*skip),
            Plan::Run(cmd) => {
                if progress {
                    eprint!("\r\x1b[2K{profile}: {} …", s.name);
                }
                out.push(run_one(cfg, file, s, profile, &cmd).await);
            }
        }
    }
    if progress {
        eprint!("\r\x1b[2K");
    }
    Ok(out)
}
