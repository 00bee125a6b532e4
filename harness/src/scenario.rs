//! Scenario files: what world to serve, which flow a client performs, the steps, and what the
//! journal and the client must show afterwards.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use schemars::JsonSchema;

pub use crate::params::Flow;
use serde::Deserialize;

/// One scenario, as written in `scenarios/**/*.yaml`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Unique name.
    pub name: String,
    /// The flow a client performs (`aws-imds`, `aws-container`, `aws-web-identity`,
    /// `aws-role-chain`, `gcp-metadata`, `github-oidc`, `google-external-account`, `google-aws-supplier`).
    pub flow: Flow,
    /// What the scenario shows, for the report.
    #[serde(default)]
    pub docs: String,
    /// Only these profiles (for behaviour one SDK documents, such as its refresh window); every
    /// profile supporting the flow when empty. Others are reported as skipped.
    #[serde(default)]
    pub profiles: Vec<String>,
    /// Specification references.
    #[serde(default)]
    pub spec: Vec<String>,
    /// Edits of the default world, in order: `{set: PATH, value: VALUE}` or `{remove: PATH}`.
    #[serde(default)]
    pub world: Vec<WorldEdit>,
    /// Flow parameters (role, audience, claims, provider, service account…).
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    /// Steps; `[run]` when absent.
    #[serde(default)]
    pub steps: Vec<Step>,
    /// What must hold afterwards.
    pub expect: Expect,
}

pub use crate::world_edit::WorldEdit;

/// One step: `run`, `{run: {between: [step, …]}}`, `{advance_clock: SECONDS}`, `{set_clock: RFC3339}`,
/// `{rotate_key: {issuer, grace_seconds}}`, `rotate_container_token`, `{faults: [rule, …]}` (see
/// the server's fault rules), `{wait_ms: N}`, `{revoke_binding: {service_account, member, role}}`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(try_from = "StepRepr")]
pub enum Step {
    /// Run the client once.
    Run,
    /// Run the client once with `CLOUDID_PAUSE=1`: each time it pauses between two uses of its
    /// credentials, apply these steps, then let it go on.
    RunWith {
        /// Steps applied at each pause (no `run` among them).
        between: Vec<Step>,
    },
    /// Move the server's clock forward by this many seconds.
    AdvanceClock(u64),
    /// Set the server's clock to this RFC 3339 time.
    SetClock(String),
    /// Add fault rules (the body of `POST /_cloudid/faults`).
    Faults(Vec<serde_json::Value>),
    /// Rotate an issuer's signing key, keeping the old one for `grace_seconds`.
    RotateKey {
        /// `github` or `google`.
        issuer: String,
        /// Grace period.
        #[serde(default)]
        grace_seconds: u64,
    },
    /// Rotate the container authorization token (as the kubelet rotates a pod's projected token)
    /// and write the new one to the client's `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`, if any.
    RotateContainerToken,
    /// Mint the verifier flow's token again (its params, the issuer's key now) into the file the
    /// verifier reads (`CLOUDID_TOKEN_FILE`).
    MintToken,
    /// Wait this many milliseconds.
    WaitMs(u64),
    /// Remove `member` from `service_account`'s IAM bindings (every role holding it, or `role`).
    RevokeBinding {
        /// The service account's email.
        service_account: String,
        /// The member to remove.
        member: String,
        /// Only this role.
        #[serde(default)]
        role: Option<String>,
    },
}

#[derive(Deserialize, JsonSchema)]
#[serde(untagged)]
enum StepRepr {
    Word(String),
    RunWith { run: RunArgs },
    Advance { advance_clock: u64 },
    Set { set_clock: String },
    Rotate { rotate_key: RotateArgs },
    Faults { faults: Vec<serde_json::Value> },
    Wait { wait_ms: u64 },
    Revoke { revoke_binding: RevokeArgs },
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RunArgs {
    between: Vec<Step>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RevokeArgs {
    service_account: String,
    member: String,
    #[serde(default)]
    role: Option<String>,
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
struct RotateArgs {
    issuer: String,
    #[serde(default)]
    grace_seconds: u64,
}

impl TryFrom<StepRepr> for Step {
    type Error = String;

    fn try_from(r: StepRepr) -> Result<Self, String> {
        match r {
            StepRepr::Word(w) if w == "run" => Ok(Step::Run),
            StepRepr::Word(w) if w == "rotate_container_token" => Ok(Step::RotateContainerToken),
            StepRepr::Word(w) if w == "mint_token" => Ok(Step::MintToken),
            StepRepr::Word(w) => Err(format!("unknown step `{w}` (run, rotate_container_token, mint_token, advance_clock, set_clock, rotate_key, revoke_binding, faults, wait_ms)")),
            StepRepr::RunWith { run } if run.between.iter().any(|s| matches!(s, Step::Run | Step::RunWith { .. })) => Err("`between` steps cannot run the client".into()),
            StepRepr::RunWith { run } => Ok(Step::RunWith { between: run.between }),
            StepRepr::Advance { advance_clock } => Ok(Step::AdvanceClock(advance_clock)),
            StepRepr::Set { set_clock } => Ok(Step::SetClock(set_clock)),
            StepRepr::Rotate { rotate_key } => Ok(Step::RotateKey { issuer: rotate_key.issuer, grace_seconds: rotate_key.grace_seconds }),
            StepRepr::Faults { faults } => Ok(Step::Faults(faults)),
            StepRepr::Wait { wait_ms } => Ok(Step::WaitMs(wait_ms)),
            StepRepr::Revoke { revoke_binding: r } => Ok(Step::RevokeBinding { service_account: r.service_account, member: r.member, role: r.role }),
        }
    }
}

/// What the client should end with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Exit 0 with `"ok": true`.
    Success,
    /// A negative scenario: the client must refuse (exit non-zero or `"ok": false`).
    Refused,
}

/// Expectations.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Expect {
    /// How the last client run must end.
    pub outcome: Outcome,
    /// Calls that must appear in this order (`service.Operation`, optionally ` STATUS`).
    #[serde(default)]
    pub calls: Vec<String>,
    /// Exact number of calls per `service.Operation`.
    #[serde(default)]
    pub count: BTreeMap<String, usize>,
    /// Minimum number of calls per `service.Operation` (for behaviour with jitter, such as a
    /// refresh on every use).
    #[serde(default)]
    pub at_least: BTreeMap<String, usize>,
    /// Server-side checks that must appear with this outcome: `service.Operation check outcome`
    /// (outcome `pass`, `fail` or `skip`), e.g. `aws_sts.AssumeRoleWithWebIdentity jwt.audience fail`.
    #[serde(default)]
    pub checks: Vec<String>,
    /// Calls that must not appear at all.
    #[serde(default)]
    pub absent: Vec<String>,
    /// Whether the client's credentials must be ones the journal says were issued.
    #[serde(default)]
    pub holds_issued: bool,
    /// Whether the client's output must not contain any issued secret (default true).
    #[serde(default = "yes")]
    pub no_secret_in_output: bool,
    /// On a refusal: the client must make no call after the first denied one.
    #[serde(default)]
    pub stops_after_denial: bool,
}

fn yes() -> bool {
    true
}

/// The JSON Schema of scenario files (`scenarios/scenario.schema.json`), for editors.
pub fn json_schema() -> String {
    serde_json::to_string_pretty(&schemars::schema_for!(Scenario)).unwrap_or_default() + "\n"
}

/// A scenario file that could not be loaded: file, line, column, field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    /// The file.
    pub file: PathBuf,
    /// 1-based line, if known.
    pub line: Option<usize>,
    /// 1-based column, if known.
    pub column: Option<usize>,
    /// Dotted field path.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(l) = self.line {
            write!(f, ":{l}")?;
        }
        if let Some(c) = self.column {
            write!(f, ":{c}")?;
        }
        if self.field.is_empty() { write!(f, ": {}", self.message) } else { write!(f, ": field `{}`: {}", self.field, self.message) }
    }
}

impl std::error::Error for LoadError {}

/// Parses one scenario from `text` (named `file` in errors).
pub fn parse(file: &Path, text: &str) -> Result<Scenario, LoadError> {
    let de = yaml_serde::Deserializer::from_str(text);
    let s: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let (line, column) = inner.location().map(|l| (Some(l.line()), Some(l.column()))).unwrap_or((None, None));
        let msg = inner.to_string();
        let msg = msg.split(" at line ").next().unwrap_or(&msg).to_string();
        let msg = match msg.split_once(": ") {
            Some((p, rest)) if !p.contains(' ') => rest.to_string(),
            _ => msg,
        };
        LoadError { file: file.to_path_buf(), line, column, field: if field == "." { String::new() } else { field }, message: msg }
    })?;
    if let Err((name, message)) = crate::params::check(s.flow, &s.params) {
        return Err(LoadError { file: file.to_path_buf(), line: param_line(text, &name), column: None, field: format!("params.{name}"), message });
    }
    if let Err((i, message)) = world_text(&s.world) {
        let line = text.lines().position(|l| l.starts_with("world:")).map(|w| w + 1);
        return Err(LoadError { file: file.to_path_buf(), line, column: None, field: format!("world[{i}]"), message });
    }
    if let Err((field, pattern, message)) = check_patterns(&s.expect) {
        let line = text.lines().position(|l| l.contains(&pattern)).map(|i| i + 1);
        return Err(LoadError { file: file.to_path_buf(), line, column: None, field, message });
    }
    Ok(s)
}

/// The default world with `edits` applied, as text the world loader reads (JSON, which is YAML),
/// or the first edit that fails and why.
pub fn world_text(edits: &[WorldEdit]) -> Result<String, (usize, String)> {
    world_text_on(cloudid_mock::world::load::DEFAULT_WORLD_YAML, edits)
}

/// The world `base` (YAML text) with `edits` applied, as [`world_text`] gives the default one.
pub fn world_text_on(base: &str, edits: &[WorldEdit]) -> Result<String, (usize, String)> {
    if edits.is_empty() {
        return Ok(base.to_string());
    }
    let mut world: serde_json::Value = yaml_serde::from_str(base).map_err(|e| (0, e.to_string()))?;
    for (i, edit) in edits.iter().enumerate() {
        crate::world_edit::apply(&mut world, edit).map_err(|e| (i, e.message))?;
    }
    cloudid_mock::world::parse("<scenario world>", &world.to_string()).map_err(|e| (edits.len() - 1, e.to_string()))?;
    Ok(world.to_string())
}

/// Checks the expectation patterns against the server's vocabulary: `service.Operation [STATUS]`
/// with a known service and a status code, and `service.Operation check outcome` with a
/// published check name and `pass`, `fail` or `skip`. The offending field, pattern and why.
fn check_patterns(e: &Expect) -> Result<(), (String, String, String)> {
    let call = |field: String, pattern: &str| -> Result<(), (String, String, String)> {
        let bad = |why: String| Err((field.clone(), pattern.to_string(), why));
        let (op, status) = pattern.split_once(' ').map_or((pattern, None), |(o, s)| (o, Some(s)));
        let Some((service, operation)) = op.split_once('.') else { return bad(format!("`{pattern}` is not `service.Operation [STATUS]`")) };
        if serde_json::from_value::<cloudid_mock::Service>(serde_json::Value::from(service)).is_err() {
            return bad(format!("`{service}` is no service (aws_imds, aws_container, aws_sts, gcp_metadata, github_oidc, google_sts, iam_credentials, …)"));
        }
        if operation.is_empty() || !operation.starts_with(|c: char| c.is_ascii_uppercase()) {
            return bad(format!("`{operation}` is not an operation name (`GetCredentials`, `AssumeRoleWithWebIdentity`, …)"));
        }
        if let Some(s) = status
            && !s.parse::<u16>().is_ok_and(|n| (100..=599).contains(&n))
        {
            return bad(format!("`{s}` is not an HTTP status"));
        }
        Ok(())
    };
    for (i, p) in e.calls.iter().enumerate() {
        call(format!("expect.calls[{i}]"), p)?;
    }
    for (i, p) in e.absent.iter().enumerate() {
        call(format!("expect.absent[{i}]"), p)?;
    }
    for p in e.count.keys() {
        call(format!("expect.count.{p}"), p)?;
    }
    for p in e.at_least.keys() {
        call(format!("expect.at_least.{p}"), p)?;
    }
    for (i, p) in e.checks.iter().enumerate() {
        let field = format!("expect.checks[{i}]");
        let parts: Vec<&str> = p.split(' ').collect();
        let [op, check, outcome] = parts.as_slice() else {
            return Err((field, p.clone(), format!("`{p}` is not `service.Operation check outcome`")));
        };
        call(field.clone(), op)?;
        if !cloudid_mock::journal::CHECK_NAMES.contains(check) {
            return Err((field, p.clone(), format!("`{check}` is no check the server records (docs/reference.md, \"Check names\")")));
        }
        if !matches!(*outcome, "pass" | "fail" | "skip") {
            return Err((field, p.clone(), format!("outcome `{outcome}` is not pass, fail or skip")));
        }
    }
    Ok(())
}

/// The line of param `name` under `params:` (block or flow style), if it can be found.
fn param_line(text: &str, name: &str) -> Option<usize> {
    let start = text.lines().position(|l| l.starts_with("params:"))?;
    if text.lines().nth(start).is_some_and(|l| l.contains(&format!("{name}:"))) {
        return Some(start + 1);
    }
    text.lines().enumerate().skip(start + 1).take_while(|(_, l)| l.starts_with(' ') || l.trim().is_empty()).find(|(_, l)| l.trim_start().starts_with(&format!("{name}:"))).map(|(i, _)| i + 1)
}

/// Loads every `*.yaml` under `paths` (files or directories), sorted; `expected-failures.yaml`
/// is not a scenario. All-or-nothing: the first broken file is the error.
pub fn load_all(paths: &[PathBuf]) -> Result<Vec<(PathBuf, Scenario)>, LoadError> {
    let mut files = Vec::new();
    for p in paths {
        collect(p, &mut files);
    }
    files.sort();
    let mut out = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|e| LoadError { file: f.clone(), line: None, column: None, field: String::new(), message: e.to_string() })?;
        let s = parse(&f, &text)?;
        if out.iter().any(|(_, o): &(PathBuf, Scenario)| o.name == s.name) {
            return Err(LoadError { file: f.clone(), line: Some(1), column: None, field: "name".into(), message: format!("scenario `{}` is defined twice", s.name) });
        }
        out.push((f, s));
    }
    Ok(out)
}

fn collect(p: &Path, out: &mut Vec<PathBuf>) {
    if p.is_dir() {
        if let Ok(rd) = std::fs::read_dir(p) {
            for e in rd.flatten() {
                collect(&e.path(), out);
            }
        }
    } else if p.extension().is_some_and(|e| e == "yaml" || e == "yml") && p.file_name().is_some_and(|n| n != "expected-failures.yaml") {
        out.push(p.to_path_buf());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_broken_scenario_names_file_line_and_field() {
        let text = "name: x\nflow: aws-imds\nexpect:\n  outcome: success\n  calss: []\n";
        let e = parse(Path::new("s.yaml"), text).unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.field, "expect.calss");
        assert!(e.to_string().starts_with("s.yaml:5:"), "{e}");
        let e = parse(Path::new("s.yaml"), "name: x\nflow: aws-imdz\nexpect: {outcome: success}\n").unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("flow", Some(2)));
    }

    #[test]
    fn a_misspelt_flow_param_fails_at_load_with_file_line_and_field() {
        let text = "name: x\nflow: aws-web-identity\nparams:\n  issuer: github\n  rol: GitHubActionsECRRole\nexpect: {outcome: success}\n";
        let e = parse(Path::new("scenarios/x.yaml"), text).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("params.rol", Some(5)));
        assert!(e.to_string().starts_with("scenarios/x.yaml:5: field `params.rol`: flow `aws-web-identity` takes no param `rol`"), "{e}");
        let flow_style = "name: x\nflow: aws-imds\nparams: {repeat: many}\nexpect: {outcome: success}\n";
        let e = parse(Path::new("s.yaml"), flow_style).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("params.repeat", Some(3)));
    }

    #[test]
    fn expectation_patterns_are_checked_against_the_servers_vocabulary_at_load() {
        let base = "name: x\nflow: aws-imds\nexpect:\n  outcome: success\n";
        let e = parse(Path::new("s.yaml"), &format!("{base}  checks: [aws_sts.AssumeRoleWithWebIdentity jwt.audiance fail]\n")).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("expect.checks[0]", Some(5)));
        assert!(e.message.contains("`jwt.audiance` is no check"), "{e}");
        let e = parse(Path::new("s.yaml"), &format!("{base}  calls: [aws_imds.GetCredentials 200, aws_stz.AssumeRole]\n")).unwrap_err();
        assert_eq!(e.field, "expect.calls[1]");
        assert!(e.message.contains("`aws_stz` is no service"), "{e}");
        let e = parse(Path::new("s.yaml"), &format!("{base}  count: {{aws_imds.GetCredentials OK: 1}}\n")).unwrap_err();
        assert!(e.message.contains("`OK` is not an HTTP status"), "{e}");
        assert!(parse(Path::new("s.yaml"), &format!("{base}  checks: [aws_sts.AssumeRoleWithWebIdentity iam.trust_policy fail]\n")).is_ok());
    }

    #[test]
    fn a_world_edit_that_leads_nowhere_fails_at_load_with_its_field() {
        let text = "name: x\nflow: aws-imds\nworld: [{set: aws.ec2.http_tokenz, value: optional}]\nexpect: {outcome: success}\n";
        let e = parse(Path::new("s.yaml"), text).unwrap_err();
        assert_eq!((e.field.as_str(), e.line), ("world[0]", Some(3)));
        assert!(e.message.contains("http_tokenz"), "{e}");
        let text = "name: x\nflow: aws-imds\nworld: [{remove: \"aws.roles[name=Nobody]\"}]\nexpect: {outcome: success}\n";
        assert!(parse(Path::new("s.yaml"), text).unwrap_err().message.contains("no such item of `roles` to remove"));
    }

    #[test]
    fn steps_read_naturally() {
        let s = parse(Path::new("s.yaml"), "name: x\nflow: aws-imds\nsteps:\n  - run\n  - advance_clock: 3000\n  - rotate_key: {issuer: github}\nexpect: {outcome: refused}\n").unwrap();
        assert_eq!(s.steps, vec![Step::Run, Step::AdvanceClock(3000), Step::RotateKey { issuer: "github".into(), grace_seconds: 0 }]);
        assert!(s.expect.no_secret_in_output);
        let s = parse(Path::new("s.yaml"), "name: x\nflow: aws-container\nsteps:\n  - run: {between: [rotate_container_token, {wait_ms: 5}]}\nexpect: {outcome: success}\n").unwrap();
        assert_eq!(s.steps, vec![Step::RunWith { between: vec![Step::RotateContainerToken, Step::WaitMs(5)] }]);
    }

    #[test]
    fn a_run_between_runs_is_refused_with_its_line() {
        let e = parse(Path::new("s.yaml"), "name: x\nflow: aws-container\nsteps:\n  - run: {between: [run]}\nexpect: {outcome: success}\n").unwrap_err();
        assert_eq!(e.field, "steps[0]");
        assert_eq!(e.line, Some(4));
        assert!(e.message.contains("cannot run the client"), "{e}");
    }
}

#[cfg(test)]
mod schema_tests {
    #[test]
    fn the_committed_schema_is_the_one_the_types_generate() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/scenario.schema.json");
        let committed = std::fs::read_to_string(&path).unwrap_or_default();
        let generated = super::json_schema();
        if committed != generated && std::env::var("CLOUDID_UPDATE_SCHEMA").is_ok() {
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        assert_eq!(committed, generated, "run with CLOUDID_UPDATE_SCHEMA=1 to regenerate {}", path.display());
    }

    #[test]
    fn every_scenario_file_points_editors_at_the_schema() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios");
        let files = super::load_all(&[dir]).expect("scenarios load");
        for (f, _) in files {
            let text = std::fs::read_to_string(&f).unwrap();
            assert!(text.starts_with("# yaml-language-server: $schema=../scenario.schema.json\n"), "{}", f.display());
        }
    }
}
