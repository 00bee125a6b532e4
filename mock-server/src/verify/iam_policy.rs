//! IAM policy evaluation for role trust policies, from the real JSON: Effect (explicit Deny
//! wins), Principal, Action/NotAction with wildcards, and Condition with the string operators,
//! their `IgnoreCase`/`IfExists` forms, the `ForAnyValue:`/`ForAllValues:` set qualifiers and
//! `Null`. Several values of one key are OR'ed; several keys, and several operators, are AND'ed.

use std::collections::HashMap;

use serde_json::Value;

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
}

impl Context {
    /// A context with no condition keys yet.
    pub fn new(principal: Principal, action: &str) -> Self {
        Self { principal, action: action.to_string(), keys: HashMap::new() }
    }

    /// Adds a condition key.
    pub fn key(mut self, name: &str, values: Vec<String>) -> Self {
        self.keys.insert(name.to_ascii_lowercase(), values);
        self
    }

    fn values(&self, name: &str) -> Option<&Vec<String>> {
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

/// A policy document that cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed policy: {0}")]
pub struct PolicyError(pub String);

fn as_strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().flat_map(as_strings).collect(),
        Value::String(s) => vec![s.clone()],
        Value::Bool(b) => vec![b.to_string()],
        Value::Number(n) => vec![n.to_string()],
        _ => Vec::new(),
    }
}

/// Evaluates `policy` (an IAM policy document) for `ctx`.
pub fn evaluate(policy: &Value, ctx: &Context) -> Result<Decision, PolicyError> {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect(),
        Some(s @ Value::Object(_)) => vec![s],
        _ => return Err(PolicyError("no Statement".into())),
    };
    let mut allowed = None;
    for (i, st) in statements.iter().enumerate() {
        let effect = st.get("Effect").and_then(Value::as_str).ok_or_else(|| PolicyError(format!("statement {i} has no Effect")))?;
        if !statement_matches(st, ctx)? {
            continue;
        }
        match effect {
            "Deny" => return Ok(Decision::ExplicitDeny(i)),
            "Allow" => {
                allowed.get_or_insert(i);
            }
            other => return Err(PolicyError(format!("statement {i} has Effect `{other}`"))),
        }
    }
    Ok(allowed.map_or(Decision::ImplicitDeny, Decision::Allow))
}

fn statement_matches(st: &Value, ctx: &Context) -> Result<bool, PolicyError> {
    let principal_ok = match (st.get("Principal"), st.get("NotPrincipal")) {
        (Some(p), _) => principal_matches(p, &ctx.principal),
        (None, Some(np)) => !principal_matches(np, &ctx.principal),
        (None, None) => return Err(PolicyError("a trust policy statement needs a Principal".into())),
    };
    let action_ok = match (st.get("Action"), st.get("NotAction")) {
        (Some(a), _) => as_strings(a).iter().any(|p| glob(p, &ctx.action, true)),
        (None, Some(na)) => !as_strings(na).iter().any(|p| glob(p, &ctx.action, true)),
        (None, None) => return Err(PolicyError("a statement needs an Action".into())),
    };
    if !(principal_ok && action_ok) {
        return Ok(false);
    }
    match st.get("Condition") {
        None => Ok(true),
        Some(Value::Object(ops)) => {
            for (op, block) in ops {
                let Value::Object(keys) = block else {
                    return Err(PolicyError(format!("condition `{op}` is not an object")));
                };
                for (key, values) in keys {
                    if !condition(op, key, &as_strings(values), ctx)? {
                        return Ok(false);
                    }
                }
            }
            Ok(true)
        }
        Some(_) => Err(PolicyError("Condition is not an object".into())),
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

/// IAM wildcard match: `*` any run, `?` any one character.
pub fn glob(pattern: &str, text: &str, ignore_case: bool) -> bool {
    let (p, t): (Vec<char>, Vec<char>) =
        if ignore_case { (pattern.to_lowercase().chars().collect(), text.to_lowercase().chars().collect()) } else { (pattern.chars().collect(), text.chars().collect()) };
    let (mut pi, mut ti, mut star, mut mark) = (0, 0, None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
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

fn condition(op: &str, key: &str, wanted: &[String], ctx: &Context) -> Result<bool, PolicyError> {
    let (set, op) = match op.split_once(':') {
        Some((q @ ("ForAnyValue" | "ForAllValues"), rest)) => (Some(q), rest),
        Some(_) => return Err(PolicyError(format!("unknown condition qualifier in `{op}`"))),
        None => (None, op),
    };
    let (op, if_exists) = match op.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (op, false),
    };
    let present = ctx.values(key).filter(|v| !v.is_empty());
    if op == "Null" {
        let want_null = wanted.iter().any(|w| w.eq_ignore_ascii_case("true"));
        return Ok(want_null == present.is_none());
    }
    let (negated, matcher): (bool, fn(&str, &str) -> bool) = match op {
        "StringEquals" => (false, |p, v| p == v),
        "StringNotEquals" => (true, |p, v| p == v),
        "StringEqualsIgnoreCase" => (false, |p, v| p.to_lowercase() == v.to_lowercase()),
        "StringNotEqualsIgnoreCase" => (true, |p, v| p.to_lowercase() == v.to_lowercase()),
        "StringLike" => (false, |p, v| glob(p, v, false)),
        "StringNotLike" => (true, |p, v| glob(p, v, false)),
        other => return Err(PolicyError(format!("unsupported condition operator `{other}`"))),
    };
    let matches_one = |v: &str| wanted.iter().any(|p| matcher(p, v));
    let Some(values) = present else {
        return Ok(match set {
            Some("ForAllValues") => true,
            Some(_) => false,
            None => if_exists || negated,
        });
    };
    Ok(match set {
        Some("ForAllValues") => values.iter().all(|v| matches_one(v) != negated),
        Some(_) => values.iter().any(|v| matches_one(v) != negated),
        None if negated => !values.iter().any(|v| matches_one(v)),
        None => values.iter().any(|v| matches_one(v)),
    })
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
        matches!(evaluate(&policy(condition), &ctx(keys)).unwrap(), Decision::Allow(_))
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

    #[test]
    fn keys_are_anded_values_ored_and_key_names_case_insensitive() {
        let cond = json!({"StringEquals": {"Token.Actions.GithubUserContent.com:aud": "sts.amazonaws.com"}, "StringLike": {"token.actions.githubusercontent.com:sub": ["repo:a/b:*", "repo:c/d:*"]}});
        assert!(allowed(cond.clone(), &[("token.actions.githubusercontent.com:aud", &["sts.amazonaws.com"]), ("token.actions.githubusercontent.com:sub", &["repo:c/d:ref:x"])]));
        assert!(!allowed(cond.clone(), &[("token.actions.githubusercontent.com:aud", &["other"]), ("token.actions.githubusercontent.com:sub", &["repo:c/d:ref:x"])]));
        assert!(!allowed(cond, &[("token.actions.githubusercontent.com:aud", &["sts.amazonaws.com"])]));
    }

    #[test]
    fn an_explicit_deny_wins_over_any_allow() {
        let p = json!({"Statement":[
            {"Effect":"Allow","Principal":"*","Action":"sts:*"},
            {"Effect":"Deny","Principal":{"Federated":"arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"},"Action":"sts:AssumeRoleWithWebIdentity"}
        ]});
        assert_eq!(evaluate(&p, &ctx(&[])).unwrap(), Decision::ExplicitDeny(1));
    }

    #[test]
    fn principals_and_actions_must_match() {
        let other = Context::new(Principal::Federated("accounts.google.com".into()), "sts:AssumeRoleWithWebIdentity");
        assert_eq!(evaluate(&policy(json!({})), &other).unwrap(), Decision::ImplicitDeny);
        let wrong_action = Context::new(fed(), "sts:AssumeRole");
        assert_eq!(evaluate(&policy(json!({})), &wrong_action).unwrap(), Decision::ImplicitDeny);
        let aws = Principal::Aws { role_arn: "arn:aws:iam::123456789012:role/a".into(), session_arn: "arn:aws:sts::123456789012:assumed-role/a/s".into(), account: "123456789012".into() };
        for (name, ok) in [
            ("arn:aws:iam::123456789012:role/a", true),
            ("arn:aws:iam::123456789012:root", true),
            ("123456789012", true),
            ("arn:aws:iam::123456789012:role/b", false),
            ("arn:aws:iam::999999999999:root", false),
        ] {
            let p = json!({"Statement":[{"Effect":"Allow","Principal":{"AWS":name},"Action":["sts:AssumeRole","sts:TagSession"]}]});
            assert_eq!(matches!(evaluate(&p, &Context::new(aws.clone(), "sts:AssumeRole")).unwrap(), Decision::Allow(0)), ok, "{name}");
        }
        let svc = json!({"Statement":[{"Effect":"Allow","Principal":{"Service":["ec2.amazonaws.com"]},"Action":"sts:Assume*"}]});
        assert_eq!(evaluate(&svc, &Context::new(Principal::Service("ec2.amazonaws.com".into()), "sts:AssumeRole")).unwrap(), Decision::Allow(0));
    }

    #[test]
    fn malformed_policies_are_errors_not_grants() {
        assert!(evaluate(&json!({}), &ctx(&[])).is_err());
        assert!(evaluate(&json!({"Statement":[{"Effect":"Allow","Principal":"*","Action":"*","Condition":{"NumericLessThan":{"a":"1"}}}]}), &ctx(&[("a", &["0"])])).is_err());
        assert!(evaluate(&json!({"Statement":[{"Effect":"Maybe","Principal":"*","Action":"*"}]}), &ctx(&[])).is_err());
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
