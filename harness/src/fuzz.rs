//! Client-side fuzzing: serve a client seeded mutations of otherwise valid responses and classify
//! what it does — a clean error, accepting something invalid, crashing, hanging.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Serialize;

use crate::runner::{self, Config};
use crate::scenario::{Expect, Outcome as Expected, Scenario, Step, WorldEdit};

/// What a client did with a mutated response.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum Class {
    /// It refused with an error (exit non-zero, `"ok": false`).
    CleanError,
    /// It succeeded and the mutation was harmless (an extra field, an optional field).
    Tolerated,
    /// It asked again after the mutated answer and succeeded with the real one.
    Retried,
    /// It succeeded although a field it needs was missing or corrupt.
    AcceptedInvalid,
    /// It died without its result line, or with an unusual exit status.
    Crashed,
    /// It did not finish before the deadline.
    Hung,
}

/// One fuzz case.
#[derive(Debug, Clone, Serialize)]
pub struct Case {
    /// Flow.
    pub flow: crate::params::Flow,
    /// Seed of the mutation.
    pub seed: u64,
    /// The mutation the server applied (from the journal).
    pub mutation: String,
    /// The classification.
    pub class: Class,
}

/// Which response each flow's fuzzing mutates.
fn target(flow: crate::params::Flow) -> serde_json::Value {
    match flow {
        crate::params::Flow::AwsImds => serde_json::json!({"path": "/latest/meta-data/iam/security-credentials/embulk-gcp-access", "method": "GET"}),
        crate::params::Flow::AwsContainer => serde_json::json!({"service": "aws_container"}),
        crate::params::Flow::AwsWebIdentity => serde_json::json!({"service": "aws_sts"}),
        crate::params::Flow::AwsRoleChain => serde_json::json!({"service": "aws_sts", "operation": "AssumeRole"}),
        crate::params::Flow::GcpMetadata => serde_json::json!({"path": "/computeMetadata/v1/instance/service-accounts/default/token"}),
        crate::params::Flow::GithubOidc => serde_json::json!({"path": "/github/actions/idtoken"}),
        _ => serde_json::json!({"path": "/v1/token"}),
    }
}

/// World edits a flow needs to succeed in the default world: `aws-role-chain` assumes `deployer`
/// in account 210987654321, which trusts the seed-001 role.
fn world(flow: crate::params::Flow) -> Vec<WorldEdit> {
    match flow {
        crate::params::Flow::AwsRoleChain => vec![WorldEdit {
            set: Some("aws.accounts".into()),
            value: Some(
                serde_json::json!([{"account_id": "210987654321", "roles": [{"name": "deployer", "path": "/ci/", "trust_policy": {"Statement": [{"Effect": "Allow", "Principal": {"AWS": "arn:aws:iam::123456789012:role/GitHubActionsECRRole"}, "Action": "sts:AssumeRole"}]}}]}]),
            ),
            remove: None,
        }],
        _ => vec![],
    }
}

fn scenario(flow: crate::params::Flow, name: String, steps: Vec<Step>) -> Scenario {
    Scenario {
        profiles: vec![],
        name,
        flow,
        docs: String::new(),
        spec: vec![],
        world: world(flow),
        params: BTreeMap::new(),
        steps,
        expect: Expect {
            outcome: Expected::Success,
            calls: vec![],
            count: BTreeMap::new(),
            at_least: BTreeMap::new(),
            checks: vec![],
            absent: vec![],
            holds_issued: false,
            no_secret_in_output: false,
            stops_after_denial: false,
        },
    }
}

/// Fields a client must have intact to succeed honestly.
const REQUIRED: &[&str] = &["AccessKeyId", "SecretAccessKey", "Token", "SessionToken", "Expiration", "Credentials", "access_token", "value", "token_type"];

fn classify(run: &crate::client::ClientRun, mutation: &str, journal: &[String]) -> Class {
    if run.timed_out {
        return Class::Hung;
    }
    if run.result.is_null() || !matches!(run.code, Some(0) | Some(1)) {
        return Class::Crashed;
    }
    if !run.succeeded() {
        return Class::CleanError;
    }
    if asked_again(journal) {
        return Class::Retried;
    }
    let harmful = REQUIRED.iter().any(|f| mutation.contains(&format!("`{f}`")) || mutation.contains(&format!("<{f}>"))) || mutation.contains("broken") || mutation.contains("empty body");
    if harmful { Class::AcceptedInvalid } else { Class::Tolerated }
}

/// Whether the client asked again for the answer the fault mutated: a later journal line with the
/// same path and the same operation (STS answers every operation on `/`, so the path alone would
/// count the next call of a successful client as a retry).
fn asked_again(journal: &[String]) -> bool {
    let what = |l: &str| {
        let mut words = l.split(' ').skip(2);
        Some((words.next()?.to_string(), words.next()?.to_string()))
    };
    journal.iter().position(|l| l.contains(" | fault #")).is_some_and(|i| {
        let mutated = what(&journal[i]);
        mutated.is_some() && journal[i + 1..].iter().any(|l| what(l) == mutated)
    })
}

/// Runs `cases` seeded mutations per flow `profile` supports, from `seed`.
pub async fn run(cfg: &Config, profile: &str, seed: u64, cases: u64) -> Result<Vec<Case>, crate::HarnessError> {
    let p = cfg.profiles.profiles.get(profile).ok_or_else(|| crate::HarnessError::UnknownProfile(profile.to_string()))?;
    let mut out = Vec::new();
    for (flow, command) in &p.flows {
        let flow = *flow;
        let baseline = scenario(flow, format!("fuzz-{flow}-baseline"), vec![Step::Run]);
        let (_, run) = runner::run_one_raw(cfg, Path::new("<fuzz>"), &baseline, profile, command).await;
        if !run.as_ref().is_some_and(crate::client::ClientRun::succeeded) {
            return Err(crate::HarnessError::Unfuzzable { profile: profile.to_string(), flow });
        }
        for i in 0..cases {
            let s = seed.wrapping_add(i);
            let case = scenario(flow, format!("fuzz-{flow}-{s}"), vec![Step::Faults(vec![serde_json::json!({"match": target(flow), "times": 1, "action": {"mutate": {"seed": s}}})]), Step::Run]);
            let (result, run) = runner::run_one_raw(cfg, Path::new("<fuzz>"), &case, profile, command).await;
            let mutation = result
                .journal
                .iter()
                .find_map(|l| l.split_once(" | ").and_then(|(_, f)| f.split_once("} → ").map(|(_, m)| m.to_string())))
                .unwrap_or_else(|| "not applied (the client never asked for the response)".into());
            let class = run.as_ref().map_or(Class::Crashed, |r| classify(r, &mutation, &result.journal));
            out.push(Case { flow, seed: s, mutation, class });
        }
    }
    Ok(out)
}

/// The classification table and the minimal mutations behind each non-clean outcome.
pub fn report(profile: &str, cases: &[Case]) -> String {
    let mut counts: BTreeMap<Class, usize> = BTreeMap::new();
    for c in cases {
        *counts.entry(c.class).or_default() += 1;
    }
    let mut out = format!("## Client fuzzing: {profile}, {} cases\n\n| outcome | cases |\n|---|---|\n", cases.len());
    for (class, n) in &counts {
        out.push_str(&format!("| {} | {n} |\n", serde_json::to_value(class).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default()));
    }
    let notable: Vec<&Case> = cases.iter().filter(|c| matches!(c.class, Class::AcceptedInvalid | Class::Crashed | Class::Hung)).collect();
    if !notable.is_empty() {
        out.push_str("\n| flow | seed | mutation | outcome |\n|---|---|---|---|\n");
        for c in notable {
            out.push_str(&format!("| {} | {} | {} | {:?} |\n", c.flow, c.seed, c.mutation, c.class));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_same_operation_on_the_same_path_after_the_fault_is_a_retry() {
        let fault = "#1 POST / aws_sts.AssumeRoleWithWebIdentity → 200 Granted | fault #1: {\"mutate\":{\"seed\":3}} → removed <Arn>".to_string();
        let next_call = "#2 POST / aws_sts.GetCallerIdentity → 200 Served".to_string();
        let again = "#2 POST / aws_sts.AssumeRoleWithWebIdentity → 200 Granted".to_string();
        assert!(!asked_again(&[fault.clone(), next_call.clone()]), "the next operation is not a retry");
        assert!(asked_again(&[fault.clone(), next_call, again]));
        let imds = "#1 GET /latest/meta-data/iam/security-credentials/r aws_imds.GetCredentials → 200 Served".to_string();
        assert!(!asked_again(&[imds.clone(), imds.clone()]), "no fault, no retry");
        assert!(!asked_again(&[fault]));
    }
}
