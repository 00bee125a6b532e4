//! IAM policy evaluation for role trust policies, from the real JSON and the IAM User Guide's
//! evaluation logic: an explicit `Deny` wins, then any `Allow`, else the implicit deny;
//! `Principal`/`NotPrincipal`, `Action`/`NotAction` with wildcards, and `Condition` with every
//! operator family (`operator.rs`) and policy variables (`variables.rs`). Several values of one key
//! are OR'ed; several keys, and several operators, are AND'ed.
//!
//! Every evaluation leaves a [`PolicyTrace`]: each statement, each condition with both sides'
//! values, and the rule that decided.

mod operator;
mod variables;

use std::collections::HashMap;

use serde_json::Value;

use crate::explain::{ConditionTrace, PolicyDecision, PolicyTrace, StatementTrace};
use operator::Operator;

/// Who is asking, as trust policies name principals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// A web identity: the IAM OIDC provider ARN, or a built-in provider like `accounts.google.com`.
    Federated(String),
    /// An AWS principal: the ARN of the role whose session asks (and its account).
    Aws {
        /// `arn:aws:iam::ACCT:role/PATH/NAME` of the calling session's role.
        role_arn: String,
        /// The calling session's ARN (`arn:aws:sts::ACCT:assumed-role/NAME/SESSION`).
        session_arn: String,
        /// Account of the caller.
        account: String,
    },
    /// An AWS service, e.g. `ec2.amazonaws.com`.
    Service(String),
}

impl std::fmt::Display for Principal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Federated(p) => write!(f, "Federated {p}"),
            Self::Aws { session_arn, .. } => write!(f, "AWS {session_arn}"),
            Self::Service(s) => write!(f, "Service {s}"),
        }
    }
}

/// The request a trust policy is evaluated against.
#[derive(Debug, Clone)]
pub struct Context {
    /// Who asks.
    pub principal: Principal,
    /// The action, e.g. `sts:AssumeRoleWithWebIdentity`.
    pub action: String,
    /// Condition keys (matched case-insensitively) and their values; a key with several values is
    /// multivalued.
    pub keys: HashMap<String, Vec<String>>,
    /// What a key means where that is easy to mistake, told when a condition on it fails.
    pub notes: HashMap<String, String>,
}

impl Context {
    /// A context with no condition keys yet.
    pub fn new(principal: Principal, action: &str) -> Self {
        Self { principal, action: action.to_string(), keys: HashMap::new(), notes: HashMap::new() }
    }

    /// Adds a condition key.
    pub fn key(mut self, name: &str, values: Vec<String>) -> Self {
        self.keys.insert(name.to_ascii_lowercase(), values);
        self
    }

    /// Adds what `name` means, told when a condition on it fails.
    pub fn note(mut self, name: &str, meaning: String) -> Self {
        self.notes.insert(name.to_ascii_lowercase(), meaning);
        self
    }

    /// The request's values of `name` (case-insensitive), if it has the key.
    pub fn values(&self, name: &str) -> Option<&Vec<String>> {
        self.keys.get(&name.to_ascii_lowercase())
    }
}

/// The result of evaluating a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// A statement allowed it, none denied it; the index of the allowing statement.
    Allow(usize),
    /// A Deny statement matched; its index.
    ExplicitDeny(usize),
    /// No statement matched.
    ImplicitDeny,
}

/// A decision and how it was reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// What was decided.
    pub decision: Decision,
    /// Statement by statement, condition by condition.
    pub trace: PolicyTrace,
}

/// A policy document that cannot be evaluated, in IAM's words where IAM has them
/// (`MalformedPolicyDocument`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed policy: {0}")]
pub struct PolicyError(pub String);

/// A policy element's values as strings: a string, number or boolean, or a list of them.
pub(crate) fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().flat_map(as_strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// The policy's statements: `Statement` as a list, or the one statement it holds.
pub(crate) fn statements(policy: &Value) -> Result<Vec<&Value>, PolicyError> {
    match policy.get("Statement") {
        Some(Value::Array(a)) => Ok(a.iter().collect()),
        Some(s @ Value::Object(_)) => Ok(vec![s]),
        Some(_) => Err(PolicyError("Statement must be an object or a list of objects".into())),
        None => Err(PolicyError("the policy has no Statement".into())),
    }
}

/// Checks a trust policy as `iam create-role` would before storing it: its shape, the fields a
/// trust policy may have (never `Resource`), every operator's name and the type of its values.
pub fn validate(policy: &Value) -> Result<(), PolicyError> {
    let Value::Object(top) = policy else {
        return Err(PolicyError("the policy is not a JSON object".into()));
    };
    for (k, v) in top {
        match k.as_str() {
            "Version" if matches!(v.as_str(), Some("2012-10-17" | "2008-10-17")) => {}
            "Version" => return Err(PolicyError(format!("Version {v} is not 2012-10-17 or 2008-10-17"))),
            "Id" | "Statement" => {}
            other => return Err(PolicyError(format!("Syntax errors in policy: unknown top-level field `{other}`"))),
        }
    }
    for (i, st) in statements(policy)?.into_iter().enumerate() {
        let Value::Object(fields) = st else {
            return Err(PolicyError(format!("statement {i} is not an object")));
        };
        for k in fields.keys() {
            match k.as_str() {
                "Sid" | "Effect" | "Principal" | "NotPrincipal" | "Action" | "NotAction" | "Condition" => {}
                "Resource" | "NotResource" => return Err(PolicyError(format!("Has prohibited field {k} (statement {i}: a trust policy's resource is the role itself)"))),
                other => return Err(PolicyError(format!("Syntax errors in policy: statement {i} has unknown field `{other}`"))),
            }
        }
        match st.get("Effect").and_then(Value::as_str) {
            Some("Allow" | "Deny") => {}
            Some(other) => return Err(PolicyError(format!("statement {i} has Effect `{other}` (Allow or Deny)"))),
            None => return Err(PolicyError(format!("statement {i} has no Effect"))),
        }
        match (st.get("Principal"), st.get("NotPrincipal")) {
            (Some(_), Some(_)) => return Err(PolicyError(format!("statement {i} has both Principal and NotPrincipal"))),
            (None, None) => return Err(PolicyError(format!("statement {i}: a trust policy statement needs a Principal"))),
            _ => {}
        }
        match (st.get("Action"), st.get("NotAction")) {
            (Some(_), Some(_)) => return Err(PolicyError(format!("statement {i} has both Action and NotAction"))),
            (None, None) => return Err(PolicyError(format!("statement {i} needs an Action"))),
            _ => {}
        }
        match st.get("Condition") {
            None => {}
            Some(Value::Object(ops)) => {
                for (op, block) in ops {
                    let parsed = Operator::parse(op).map_err(|e| PolicyError(format!("statement {i}: {}", e.0)))?;
                    let Value::Object(keys) = block else {
                        return Err(PolicyError(format!("statement {i}: condition `{op}` is not an object of keys")));
                    };
                    for (key, values) in keys {
                        let scalar = |v: &Value| matches!(v, Value::String(_) | Value::Number(_) | Value::Bool(_));
                        let well_formed = match values {
                            Value::Array(list) => !list.is_empty() && list.iter().all(scalar),
                            other => scalar(other),
                        };
                        if !well_formed {
                            return Err(PolicyError(format!("statement {i}: {op} {key} must be a string, number, boolean or a non-empty list of them, not {values}")));
                        }
                        parsed.check_values(op, key, &as_strings(values)).map_err(|e| PolicyError(format!("statement {i}: {}", e.0)))?;
                    }
                }
            }
            Some(_) => return Err(PolicyError(format!("statement {i}: Condition is not an object"))),
        }
    }
    Ok(())
}

/// Evaluates `policy` (an IAM policy document) for `ctx`, with the trace of how.
///
/// The policy is expected to have passed [`validate`] (worlds validate theirs at load); an
/// operator it does not know, or a condition that is not an object of keys, fails its condition,
/// so an unvalidated policy can deny more but never allow more.
pub fn evaluate(policy: &Value, ctx: &Context) -> Result<Evaluation, PolicyError> {
    run(policy, ctx, true)
}

/// The decision alone, as [`evaluate`] reaches it, without building the trace: the cheap path
/// for a grant nobody asked to explain.
pub fn decide(policy: &Value, ctx: &Context) -> Result<Decision, PolicyError> {
    run(policy, ctx, false).map(|e| e.decision)
}

fn run(policy: &Value, ctx: &Context, traced: bool) -> Result<Evaluation, PolicyError> {
    let variables = policy.get("Version").and_then(Value::as_str) == Some("2012-10-17");
    let mut allowed = None;
    let mut denied = None;
    let mut traces = Vec::new();
    for (i, st) in statements(policy)?.into_iter().enumerate() {
        let effect = st.get("Effect").and_then(Value::as_str).unwrap_or_default();
        if !matches!(effect, "Allow" | "Deny") {
            return Err(PolicyError(format!("statement {i} has Effect `{effect}` (Allow or Deny)")));
        }
        let trace = statement(i, st, ctx, traced, variables);
        if trace.applies {
            match effect {
                "Deny" => denied.get_or_insert(i),
                _ => allowed.get_or_insert(i),
            };
        }
        if traced {
            traces.push(trace);
        }
    }
    let (decision, rule) = match (denied, allowed) {
        (Some(i), _) => (Decision::ExplicitDeny(i), PolicyDecision::ExplicitDeny { statement: i }),
        (None, Some(i)) => (Decision::Allow(i), PolicyDecision::Allowed { statement: i }),
        (None, None) => (Decision::ImplicitDeny, PolicyDecision::NoAllow),
    };
    let (action, principal) = if traced { (ctx.action.clone(), ctx.principal.to_string()) } else { (String::new(), String::new()) };
    Ok(Evaluation { decision, trace: PolicyTrace { action, principal, statements: traces, decision: rule } })
}

/// One statement; policy variables are substituted only under `Version` 2012-10-17 (`variables`),
/// as IAM substitutes them.
fn statement(index: usize, st: &Value, ctx: &Context, traced: bool, variables: bool) -> StatementTrace {
    let (principal_matched, principals) = match (st.get("Principal"), st.get("NotPrincipal")) {
        (Some(p), _) => (principal_matches(p, &ctx.principal), if traced { principal_names(p, "") } else { Vec::new() }),
        (None, Some(np)) => (!principal_matches(np, &ctx.principal), if traced { principal_names(np, "not ") } else { Vec::new() }),
        (None, None) => (false, Vec::new()),
    };
    let named = |a: &Value| -> bool {
        match a {
            Value::String(p) => glob(p, &ctx.action, true),
            Value::Array(list) => list.iter().any(|p| p.as_str().is_some_and(|p| glob(p, &ctx.action, true))),
            _ => false,
        }
    };
    let (action_matched, actions) = match (st.get("Action"), st.get("NotAction")) {
        (Some(a), _) => (named(a), if traced { as_strings(a) } else { Vec::new() }),
        (None, Some(na)) => (!named(na), if traced { as_strings(na).into_iter().map(|a| format!("not {a}")).collect() } else { Vec::new() }),
        (None, None) => (false, Vec::new()),
    };
    let mut conditions = Vec::new();
    let mut holds = true;
    if principal_matched && action_matched {
        match st.get("Condition") {
            None => {}
            Some(Value::Object(ops)) => {
                let lookup = |k: &str| ctx.values(k).cloned();
                'all: for (op, block) in ops {
                    let (Ok(parsed), Value::Object(keys)) = (Operator::parse(op), block) else {
                        holds = false;
                        if traced {
                            let rule = Some("not a condition operator over an object of keys: the condition fails".to_string());
                            conditions.push(ConditionTrace { operator: op.clone(), key: String::new(), policy_values: Vec::new(), request_values: None, holds: false, rule });
                        }
                        break 'all;
                    };
                    for (key, values) in keys {
                        let wanted = as_strings(values);
                        let present = ctx.values(key).map(Vec::as_slice);
                        let outcome = parsed.evaluate(&wanted, present, &lookup, variables);
                        if traced {
                            let shown: Vec<String> = wanted.iter().map(|w| if variables { self::variables::substitute(w, &lookup, false).unwrap_or_else(|| w.clone()) } else { w.clone() }).collect();
                            let rule = match (outcome.holds, outcome.rule) {
                                (false, None) => ctx.notes.get(&key.to_ascii_lowercase()).cloned(),
                                (_, rule) => rule.map(str::to_string),
                            };
                            conditions.push(ConditionTrace {
                                operator: op.clone(),
                                key: key.clone(),
                                policy_values: shown,
                                request_values: present.map(<[String]>::to_vec),
                                holds: outcome.holds,
                                rule,
                            });
                        }
                        if !outcome.holds {
                            holds = false;
                            break 'all;
                        }
                    }
                }
            }
            Some(_) => holds = false,
        }
    }
    StatementTrace {
        index,
        sid: if traced { st.get("Sid").and_then(Value::as_str).map(str::to_string) } else { None },
        effect: if traced { st.get("Effect").and_then(Value::as_str).unwrap_or_default().to_string() } else { String::new() },
        principal_matched,
        principals,
        action_matched,
        actions,
        conditions,
        applies: principal_matched && action_matched && holds,
    }
}

fn principal_names(p: &Value, prefix: &str) -> Vec<String> {
    match p {
        Value::String(s) => vec![format!("{prefix}{s}")],
        Value::Object(map) => map.iter().flat_map(|(kind, v)| as_strings(v).into_iter().map(move |n| format!("{prefix}{kind} {n}"))).collect(),
        other => vec![format!("{prefix}{other}")],
    }
}

fn principal_matches(p: &Value, who: &Principal) -> bool {
    match p {
        Value::String(s) if s == "*" => true,
        Value::Object(map) => map.iter().any(|(kind, v)| {
            let names = as_strings(v);
            names.iter().any(|name| match (kind.as_str(), who) {
                ("AWS", _) if name == "*" => true,
                ("Federated", Principal::Federated(f)) => name == f,
                ("Service", Principal::Service(s)) => name == s,
                ("AWS", Principal::Aws { role_arn, session_arn, account }) => name == role_arn || name == session_arn || name == account || *name == format!("arn:aws:iam::{account}:root"),
                _ => false,
            })
        }),
        _ => false,
    }
}

/// IAM wildcard match: `*` any run, `?` any one character; a `*` or `?` that policy-variable
/// substitution brought in (marked literal) matches only itself.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) =
        if ignore_case { (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect()) } else { (pattern.chars().collect(), text.chars().collect()) };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        let literal = |c: char, t: char| c == t || (c == variables::LITERAL_STAR && t == '*') || (c == variables::LITERAL_QUESTION && t == '?');
        if pi < p.len() && (p[pi] == '?' || literal(p[pi], t[ti])) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fed() -> Principal {
        Principal::Federated("arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com".into())
    }

    fn policy(condition: Value) -> Value {
        json!({"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity","Condition":condition}]})
    }

    fn ctx(keys: &[(&str, &[&str])]) -> Context {
        keys.iter().fold(Context::new(fed(), "sts:AssumeRoleWithWebIdentity"), |c, (k, v)| c.key(k, v.iter().map(|s| s.to_string()).collect()))
    }

    fn allowed(condition: Value, keys: &[(&str, &[&str])]) -> bool {
        let p = policy(condition);
        validate(&p).unwrap();
        let traced = evaluate(&p, &ctx(keys)).unwrap().decision;
        assert_eq!(decide(&p, &ctx(keys)).unwrap(), traced, "decide and evaluate agree");
        matches!(traced, Decision::Allow(_))
    }

    /// One row: operator, policy values, request values (`None`: key absent), expected outcome.
    /// Written from the IAM User Guide's condition operator reference.
    #[test]
    fn every_operator_follows_the_documented_semantics() {
        let k = "token.actions.githubusercontent.com:sub";
        let rows: &[(&str, Value, Option<&[&str]>, bool)] = &[
            ("StringEquals", json!("repo:a/b:ref:refs/heads/main"), Some(&["repo:a/b:ref:refs/heads/main"]), true),
            ("StringEquals", json!("repo:a/b:ref:refs/heads/main"), Some(&["repo:a/b:ref:refs/heads/dev"]), false),
            ("StringEquals", json!("repo:a/b:ref:refs/heads/main"), Some(&["REPO:A/B:REF:REFS/HEADS/MAIN"]), false),
            ("StringEquals", json!(["x", "repo:a/b:pull_request"]), Some(&["repo:a/b:pull_request"]), true),
            ("StringEquals", json!("x"), None, false),
            ("StringNotEquals", json!("x"), Some(&["y"]), true),
            ("StringNotEquals", json!(["x", "y"]), Some(&["y"]), false),
            ("StringNotEquals", json!("x"), None, true),
            ("StringEqualsIgnoreCase", json!("Repo:A/B"), Some(&["repo:a/b"]), true),
            ("StringNotEqualsIgnoreCase", json!("Repo:A/B"), Some(&["repo:a/b"]), false),
            ("StringLike", json!("repo:a/b:*"), Some(&["repo:a/b:ref:refs/heads/x"]), true),
            ("StringLike", json!("repo:a/b:*"), Some(&["repo:a/bc:ref:refs/heads/x"]), false),
            ("StringLike", json!("repo:a/?:*"), Some(&["repo:a/b:pull_request"]), true),
            ("StringLike", json!("repo:a/?:*"), Some(&["repo:a/bb:pull_request"]), false),
            ("StringLike", json!("repo:a/b:ref:refs/heads/main"), Some(&["repo:a/b:ref:refs/heads/main"]), true),
            ("StringLike", json!("*"), None, false),
            ("StringNotLike", json!("repo:evil/*"), Some(&["repo:a/b:x"]), true),
            ("StringNotLike", json!("repo:a/*"), Some(&["repo:a/b:x"]), false),
            ("StringNotLike", json!("repo:a/*"), None, true),
            ("StringEqualsIfExists", json!("x"), None, true),
            ("StringEqualsIfExists", json!("x"), Some(&["y"]), false),
            ("StringLikeIfExists", json!("x*"), Some(&["xy"]), true),
            ("ForAnyValue:StringEquals", json!(["a", "b"]), Some(&["c", "b"]), true),
            ("ForAnyValue:StringEquals", json!(["a", "b"]), Some(&["c", "d"]), false),
            ("ForAnyValue:StringEquals", json!("a"), None, false),
            ("ForAnyValue:StringLike", json!("auth*"), Some(&["unauth", "authenticated"]), true),
            ("ForAnyValue:StringNotEquals", json!("a"), Some(&["a", "b"]), true),
            ("ForAnyValue:StringNotEquals", json!("a"), Some(&["a"]), false),
            ("ForAllValues:StringEquals", json!(["a", "b"]), Some(&["a", "b"]), true),
            ("ForAllValues:StringEquals", json!(["a", "b"]), Some(&["a", "c"]), false),
            ("ForAllValues:StringEquals", json!(["a"]), None, true),
            ("ForAllValues:StringNotLike", json!("x*"), Some(&["a", "b"]), true),
            ("ForAllValues:StringNotLike", json!("x*"), Some(&["a", "xb"]), false),
            ("Null", json!("true"), None, true),
            ("Null", json!("true"), Some(&["v"]), false),
            ("Null", json!("false"), Some(&["v"]), true),
            ("Null", json!("false"), None, false),
        ];
        for (op, want, have, expected) in rows {
            let keys: Vec<(&str, &[&str])> = have.map(|h| vec![(k, h)]).unwrap_or_default();
            assert_eq!(allowed(json!({ *op: { k: want } }), &keys), *expected, "{op} {want} vs {have:?}");
        }
    }

    /// The other families: one row per documented behaviour, on the keys a trust policy sees.
    #[test]
    fn numeric_date_bool_binary_ip_and_arn_operators_follow_the_documented_semantics() {
        type Row<'a> = (&'a str, &'a str, Value, Option<&'a [&'a str]>, bool);
        let rows: &[Row] = &[
            ("NumericLessThan", "aws:EpochTime", json!("1800000000"), Some(&["1796256000"]), true),
            ("NumericLessThan", "aws:EpochTime", json!("1796256000"), Some(&["1796256000"]), false),
            ("NumericLessThanEquals", "aws:EpochTime", json!("1796256000"), Some(&["1796256000"]), true),
            ("NumericGreaterThan", "aws:EpochTime", json!(1796255999), Some(&["1796256000"]), true),
            ("NumericGreaterThanEquals", "aws:EpochTime", json!("1796256001"), Some(&["1796256000"]), false),
            ("NumericEquals", "aws:EpochTime", json!("10"), Some(&["10.0"]), true),
            ("NumericNotEquals", "aws:EpochTime", json!("10"), Some(&["11"]), true),
            ("NumericNotEquals", "aws:EpochTime", json!("10"), None, true),
            ("NumericEquals", "aws:EpochTime", json!("10"), Some(&["ten"]), false),
            ("NumericLessThanIfExists", "aws:EpochTime", json!("10"), None, true),
            ("DateLessThan", "aws:CurrentTime", json!("2027-01-01T00:00:00Z"), Some(&["2026-12-03T00:00:00Z"]), true),
            ("DateLessThan", "aws:CurrentTime", json!("2026-12-03"), Some(&["2026-12-03T00:00:00Z"]), false),
            ("DateGreaterThan", "aws:CurrentTime", json!("2026-12-02"), Some(&["2026-12-03T00:00:00Z"]), true),
            ("DateGreaterThanEquals", "aws:CurrentTime", json!("1796256000"), Some(&["2026-12-03T00:00:00Z"]), true),
            ("DateEquals", "aws:CurrentTime", json!("2026-12-03T09:00:00+09:00"), Some(&["2026-12-03T00:00:00Z"]), true),
            ("DateNotEquals", "aws:CurrentTime", json!("2026-12-03"), Some(&["2026-12-04T00:00:00Z"]), true),
            ("DateLessThan", "aws:CurrentTime", json!("2027-01-01"), None, false),
            ("Bool", "aws:SecureTransport", json!("true"), Some(&["true"]), true),
            ("Bool", "aws:SecureTransport", json!(true), Some(&["TRUE"]), true),
            ("Bool", "aws:SecureTransport", json!("true"), Some(&["false"]), false),
            ("Bool", "aws:SecureTransport", json!("false"), None, false),
            ("BoolIfExists", "aws:SecureTransport", json!("false"), None, true),
            ("BinaryEquals", "key", json!("QmluYXJ5VmFsdWU="), Some(&["QmluYXJ5VmFsdWU="]), true),
            ("BinaryEquals", "key", json!("QmluYXJ5VmFsdWU="), Some(&["QmluYXJ5"]), false),
            ("IpAddress", "aws:SourceIp", json!("203.0.113.0/24"), Some(&["203.0.113.9"]), true),
            ("IpAddress", "aws:SourceIp", json!(["198.51.100.0/24", "203.0.113.0/24"]), Some(&["198.51.100.4"]), true),
            ("IpAddress", "aws:SourceIp", json!("203.0.113.0/24"), Some(&["203.0.114.9"]), false),
            ("IpAddress", "aws:SourceIp", json!("2001:db8::/32"), Some(&["203.0.113.9"]), false),
            ("IpAddress", "aws:SourceIp", json!("203.0.113.0/24"), None, false),
            ("NotIpAddress", "aws:SourceIp", json!("203.0.113.0/24"), Some(&["203.0.114.9"]), true),
            ("NotIpAddress", "aws:SourceIp", json!("203.0.113.0/24"), Some(&["203.0.113.1"]), false),
            ("NotIpAddress", "aws:SourceIp", json!("203.0.113.0/24"), None, true),
            ("ArnLike", "aws:PrincipalArn", json!("arn:aws:iam::123456789012:role/ci-*"), Some(&["arn:aws:iam::123456789012:role/ci-deploy"]), true),
            ("ArnLike", "aws:PrincipalArn", json!("arn:aws:iam::123456789012:role/ci-*"), Some(&["arn:aws:iam::123456789012:role/CI-deploy"]), false),
            ("ArnEquals", "aws:PrincipalArn", json!("arn:aws:iam::*:role/deploy"), Some(&["arn:aws:iam::210987654321:role/deploy"]), true),
            ("ArnNotLike", "aws:PrincipalArn", json!("arn:aws:iam::*:role/admin*"), Some(&["arn:aws:iam::123456789012:role/deploy"]), true),
            ("ArnNotEquals", "aws:PrincipalArn", json!("arn:aws:iam::123456789012:role/deploy"), None, true),
            ("ArnLike", "aws:PrincipalArn", json!("arn:aws:iam::123456789012:role/*"), Some(&["123456789012"]), false),
            ("ArnLike", "aws:PrincipalArn", json!("arn:aws:iam::${aws:PrincipalAccount}:role/*"), Some(&["arn:aws:iam::123456789012:role/x"]), true),
            ("ForAnyValue:ArnLike", "aws:PrincipalArn", json!("arn:aws:iam::*:role/x"), Some(&["arn:aws:iam::1:role/y", "arn:aws:iam::1:role/x"]), true),
            ("ForAllValues:NumericLessThan", "aws:EpochTime", json!("5"), Some(&["1", "7"]), false),
            ("StringEquals", "aws:PrincipalArn", json!("arn:aws:iam::${aws:PrincipalAccount}:role/x"), Some(&["arn:aws:iam::123456789012:role/x"]), true),
            ("StringEquals", "aws:PrincipalArn", json!("arn:aws:iam::${aws:PrincipalTag/team}:role/x"), Some(&["arn:aws:iam:::role/x"]), false),
        ];
        for (op, key, want, have, expected) in rows {
            let mut keys: Vec<(&str, &[&str])> = vec![("aws:PrincipalAccount", &["123456789012"])];
            if let Some(h) = have {
                keys.push((key, h));
            }
            assert_eq!(allowed(json!({ *op: { *key: want } }), &keys), *expected, "{op} {key} {want} vs {have:?}");
        }
    }

    /// From an independent attack on this evaluator: each row once granted what IAM denies.
    #[test]
    fn substituted_wildcards_are_literal_and_variables_need_version_2012() {
        let sub = "token.actions.githubusercontent.com:sub";
        let with_version = |version: Option<&str>, op: &str, value: &str| {
            let mut p = policy(json!({ op: { sub: value } }));
            match version {
                Some(v) => p["Version"] = json!(v),
                None => {
                    p.as_object_mut().unwrap().remove("Version");
                }
            }
            p
        };
        let decide_sub = |p: &Value, v: &str| decide(p, &ctx(&[(sub, &[v])])).unwrap();
        let star = with_version(Some("2012-10-17"), "StringLike", "repo:a/b:ref:refs/heads/${*}");
        assert_eq!(decide_sub(&star, "repo:a/b:ref:refs/heads/main"), Decision::ImplicitDeny, "${{*}} is a literal asterisk");
        assert_eq!(decide_sub(&star, "repo:a/b:ref:refs/heads/*"), Decision::Allow(0));
        let question = with_version(Some("2012-10-17"), "StringLike", "repo:a/b:ref:refs/heads/mai${?}");
        assert_eq!(decide_sub(&question, "repo:a/b:ref:refs/heads/main"), Decision::ImplicitDeny);
        let from_tag = policy(json!({"StringLike": { sub: "repo:acme/${aws:RequestTag/repo}:ref:refs/heads/main" }}));
        let tagged = |tag: &str, value: &str| decide(&from_tag, &ctx(&[(sub, &[value]), ("aws:RequestTag/repo", &[tag])])).unwrap();
        assert_eq!(tagged("*", "repo:acme/other:ref:refs/heads/main"), Decision::ImplicitDeny, "a variable's value is literal");
        assert_eq!(tagged("app", "repo:acme/app:ref:refs/heads/main"), Decision::Allow(0));
        for version in [Some("2008-10-17"), None] {
            let p = with_version(version, "StringEquals", "${token.actions.githubusercontent.com:sub}");
            assert_eq!(decide_sub(&p, "repo:a/b:ref:refs/heads/main"), Decision::ImplicitDeny, "{version:?}: variables are literal text");
            assert_eq!(decide_sub(&p, "${token.actions.githubusercontent.com:sub}"), Decision::Allow(0));
        }
    }

    #[test]
    fn an_ipv4_mapped_address_is_matched_as_ipv4() {
        assert!(!allowed(json!({"NotIpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), &[("aws:SourceIp", &["::ffff:10.1.2.3"])]));
        assert!(allowed(json!({"IpAddress": {"aws:SourceIp": "10.0.0.0/8"}}), &[("aws:SourceIp", &["::ffff:10.1.2.3"])]));
    }

    #[test]
    fn the_trace_names_the_failing_condition_with_both_values() {
        let cond =
            json!({"StringEquals": {"token.actions.githubusercontent.com:aud": "sts.amazonaws.com"}, "StringLike": {"token.actions.githubusercontent.com:sub": "repo:acme/app:ref:refs/heads/main"}});
        let e =
            evaluate(&policy(cond), &ctx(&[("token.actions.githubusercontent.com:aud", &["sts.amazonaws.com"]), ("token.actions.githubusercontent.com:sub", &["repo:acme/app:ref:refs/heads/dev"])]))
                .unwrap();
        assert_eq!(e.decision, Decision::ImplicitDeny);
        let st = &e.trace.statements[0];
        assert!(st.principal_matched && st.action_matched && !st.applies);
        let failed = st.conditions.last().unwrap();
        assert_eq!((failed.operator.as_str(), failed.key.as_str(), failed.holds), ("StringLike", "token.actions.githubusercontent.com:sub", false));
        assert_eq!(failed.policy_values, vec!["repo:acme/app:ref:refs/heads/main"]);
        assert_eq!(failed.request_values.as_deref(), Some(&["repo:acme/app:ref:refs/heads/dev".to_string()][..]));
        let words = e.trace.render();
        assert!(words.contains("condition StringLike token.actions.githubusercontent.com:sub: FAILS"), "{words}");
        assert!(words.contains("denied: no statement allows it"), "{words}");
    }

    #[test]
    fn keys_are_anded_values_ored_and_key_names_case_insensitive() {
        let cond = json!({"StringEquals": {"Token.Actions.GithubUserContent.com:aud": "sts.amazonaws.com"}, "StringLike": {"token.actions.githubusercontent.com:sub": ["repo:a/b:*", "repo:c/d:*"]}});
        assert!(allowed(cond.clone(), &[("token.actions.githubusercontent.com:aud", &["sts.amazonaws.com"]), ("token.actions.githubusercontent.com:sub", &["repo:c/d:ref:x"])]));
        assert!(!allowed(cond.clone(), &[("token.actions.githubusercontent.com:aud", &["other"]), ("token.actions.githubusercontent.com:sub", &["repo:c/d:ref:x"])]));
        assert!(!allowed(cond, &[("token.actions.githubusercontent.com:aud", &["sts.amazonaws.com"])]));
    }

    #[test]
    fn not_principal_and_not_action_match_everything_else() {
        let p = json!({"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"sts:AssumeRoleWithWebIdentity"},
            {"Effect":"Deny","NotPrincipal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:*"},
            {"Effect":"Deny","Principal":"*","NotAction":["sts:AssumeRoleWithWebIdentity","sts:TagSession"]}
        ]});
        validate(&p).unwrap();
        assert_eq!(decide(&p, &ctx(&[])).unwrap(), Decision::Allow(0));
        let google = Context::new(Principal::Federated("accounts.google.com".into()), "sts:AssumeRoleWithWebIdentity");
        assert_eq!(decide(&p, &google).unwrap(), Decision::ExplicitDeny(1));
        let mut other_action = ctx(&[]);
        other_action.action = "sts:SetSourceIdentity".into();
        assert_eq!(decide(&p, &other_action).unwrap(), Decision::ExplicitDeny(2));
        let words = evaluate(&p, &google).unwrap().trace.render();
        assert!(words.contains("not Federated arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"), "{words}");
    }

    #[test]
    fn an_explicit_deny_wins_over_any_allow() {
        let p = json!({"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"sts:*"},
            {"Effect":"Deny","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity"}
        ]});
        assert_eq!(evaluate(&p, &ctx(&[])).unwrap().decision, Decision::ExplicitDeny(1));
    }

    #[test]
    fn principals_and_actions_must_match() {
        let other = Context::new(Principal::Federated("accounts.google.com".into()), "sts:AssumeRoleWithWebIdentity");
        assert_eq!(evaluate(&policy(json!({})), &other).unwrap().decision, Decision::ImplicitDeny);
        let wrong_action = Context::new(fed(), "sts:AssumeRole");
        assert_eq!(evaluate(&policy(json!({})), &wrong_action).unwrap().decision, Decision::ImplicitDeny);
        let aws = Principal::Aws { role_arn: "arn:aws:iam::123456789012:role/a".into(), session_arn: "arn:aws:sts::123456789012:assumed-role/a/s".into(), account: "123456789012".into() };
        for (name, ok) in [
            ("arn:aws:iam::123456789012:role/a", true),
            ("arn:aws:iam::123456789012:root", true),
            ("123456789012", true),
            ("arn:aws:iam::123456789012:role/b", false),
            ("arn:aws:iam::999999999999:root", false),
        ] {
            let p = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":name},"Action":["sts:AssumeRole","sts:TagSession"]}]});
            assert_eq!(matches!(evaluate(&p, &Context::new(aws.clone(), "sts:AssumeRole")).unwrap().decision, Decision::Allow(0)), ok, "{name}");
        }
        let svc = json!({"Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:Assume*"}]});
        assert_eq!(evaluate(&svc, &Context::new(Principal::Service("ec2.amazonaws.com".into()), "sts:AssumeRole")).unwrap().decision, Decision::Allow(0));
    }

    #[test]
    fn malformed_policies_are_errors_not_grants() {
        assert!(evaluate(&json!({}), &ctx(&[])).is_err());
        assert!(evaluate(&json!({"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*"}]}), &ctx(&[])).is_err());
        for bad in [
            json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"NumericLessThan":{"a":"one"}}}]}),
            json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEqualz":{"a":"1"}}}]}),
            json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringEquals":"a"}}]}),
        ] {
            assert!(validate(&bad).is_err(), "{bad}");
            assert_ne!(decide(&bad, &ctx(&[("a", &["1"])])).unwrap(), Decision::Allow(0), "an unvalidated policy never grants more: {bad}");
        }
        for value in [json!(null), json!({"a": "repo:acme/*"}), json!([]), json!([["x"]]), json!([null])] {
            let bad = json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"StringNotLike":{"a": value}}}]});
            assert!(validate(&bad).unwrap_err().0.contains("must be a string, number, boolean or a non-empty list"), "{bad}");
        }
        let resource = validate(&json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Resource":"*"}]})).unwrap_err();
        assert!(resource.0.starts_with("Has prohibited field Resource"), "{resource}");
        for (value, why) in [
            (json!({"DateLessThan":{"aws:CurrentTime":"soon"}}), "a date"),
            (json!({"IpAddress":{"aws:SourceIp":"10.0.0.0/40"}}), "CIDR"),
            (json!({"Bool":{"aws:SecureTransport":"yes"}}), "true or false"),
        ] {
            let err = validate(&policy(value)).unwrap_err();
            assert!(err.0.contains(why), "{err}");
        }
    }

    #[test]
    fn wildcards_match_like_iam() {
        assert!(glob("sts:Assume*", "sts:AssumeRoleWithWebIdentity", true));
        assert!(glob("STS:ASSUMEROLE", "sts:AssumeRole", true));
        assert!(glob("a*b?c", "aXXbYc", false));
        assert!(!glob("a*b?c", "aXXbc", false));
        assert!(glob("*", "", false));
    }
}
