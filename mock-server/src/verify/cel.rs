//! CEL for workload identity federation: attribute mappings and attribute conditions, with
//! Google's `extract('prefix{name}suffix')` extension.

use std::collections::BTreeMap;
use std::sync::Arc;

use cel::extractors::This;
use cel::{Context, Program, Value};

/// A compiled expression.
pub struct Expr {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Expr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expr").field(&self.source).finish()
    }
}

/// Why an expression failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CelError {
    /// It does not parse.
    #[error("invalid CEL expression `{expr}`: {message}")]
    Parse {
        /// The expression.
        expr: String,
        /// The parser's message.
        message: String,
    },
    /// It failed at run time (missing field, wrong type…).
    #[error("CEL expression `{expr}` failed: {message}")]
    Eval {
        /// The expression.
        expr: String,
        /// What went wrong.
        message: String,
    },
}

/// `'arn:…/assumed-role/r/s'.extract('assumed-role/{role}/')` → `r`: the text between the
/// template's literal prefix and suffix, or `''` when the prefix is absent.
fn extract(This(this): This<Arc<String>>, template: Arc<String>) -> String {
    let Some(open) = template.find('{') else { return String::new() };
    let Some(close) = template[open..].find('}').map(|c| c + open) else { return String::new() };
    let (prefix, suffix) = (&template[..open], &template[close + 1..]);
    let Some(start) = this.find(prefix).map(|i| i + prefix.len()) else { return String::new() };
    let rest = &this[start..];
    match suffix {
        "" => rest.to_string(),
        s => rest.find(s).map(|end| rest[..end].to_string()).unwrap_or_default(),
    }
}

impl Expr {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<Self, CelError> {
        let program = Program::compile(source).map_err(|e| CelError::Parse { expr: source.to_string(), message: e.to_string() })?;
        Ok(Self { source: source.to_string(), program })
    }

    /// The source text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates with the given variables (JSON values).
    pub fn eval(&self, vars: &BTreeMap<&str, serde_json::Value>) -> Result<Value, CelError> {
        let mut ctx = Context::default();
        let err = |m: String| CelError::Eval { expr: self.source.clone(), message: m };
        ctx.add_function("extract", extract).map_err(|e| err(e.to_string()))?;
        for (name, value) in vars {
            ctx.add_variable(*name, value.clone()).map_err(|e| err(e.to_string()))?;
        }
        self.program.execute(&ctx).map_err(|e| err(e.to_string()))
    }

    /// Evaluates to a string (mappings).
    pub fn eval_string(&self, vars: &BTreeMap<&str, serde_json::Value>) -> Result<String, CelError> {
        match self.eval(vars)? {
            Value::String(s) => Ok(s.to_string()),
            Value::Int(i) => Ok(i.to_string()),
            Value::UInt(i) => Ok(i.to_string()),
            Value::Bool(b) => Ok(b.to_string()),
            other => Err(CelError::Eval { expr: self.source.clone(), message: format!("a mapping must give a string, not {other:?}") }),
        }
    }

    /// Evaluates to a boolean (conditions).
    pub fn eval_bool(&self, vars: &BTreeMap<&str, serde_json::Value>) -> Result<bool, CelError> {
        match self.eval(vars)? {
            Value::Bool(b) => Ok(b),
            other => Err(CelError::Eval { expr: self.source.clone(), message: format!("a condition must give a boolean, not {other:?}") }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(assertion: serde_json::Value) -> BTreeMap<&'static str, serde_json::Value> {
        BTreeMap::from([("assertion", assertion)])
    }

    #[test]
    fn the_default_aws_mapping_gives_the_role_arn_without_the_session() {
        let a = vars(json!({"arn": "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0abc"}));
        let [(_, subject), (_, role)] = crate::world::model::DEFAULT_AWS_MAPPING else { panic!() };
        assert_eq!(Expr::compile(subject).unwrap().eval_string(&a).unwrap(), "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access/i-0abc");
        assert_eq!(Expr::compile(role).unwrap().eval_string(&a).unwrap(), "arn:aws:sts::123456789012:assumed-role/embulk-gcp-access");
        let user = vars(json!({"arn": "arn:aws:iam::123456789012:user/alice"}));
        assert_eq!(Expr::compile(role).unwrap().eval_string(&user).unwrap(), "arn:aws:iam::123456789012:user/alice");
    }

    #[test]
    fn extract_takes_the_text_between_prefix_and_suffix() {
        let a = vars(json!({"arn": "arn:aws:sts::1:assumed-role/apprunner-bigquery-task/abc"}));
        assert_eq!(Expr::compile("assertion.arn.extract('assumed-role/{role}/')").unwrap().eval_string(&a).unwrap(), "apprunner-bigquery-task");
        assert_eq!(Expr::compile("assertion.arn.extract('nothing/{x}/')").unwrap().eval_string(&a).unwrap(), "");
        assert_eq!(Expr::compile("assertion.arn.extract('{acct}:assumed-role')").unwrap().eval_string(&a).unwrap(), "arn:aws:sts::1");
    }

    #[test]
    fn conditions_use_the_operators_seen_in_practice() {
        let a = vars(json!({"repository_owner": "acme", "sub": "repo:acme/x:ref:refs/heads/main", "groups": ["a", "b"]}));
        for (expr, want) in [
            ("assertion.repository_owner == 'acme'", true),
            ("assertion.repository_owner != 'acme'", false),
            ("assertion.sub.startsWith('repo:acme/') && assertion.sub.endsWith('main')", true),
            ("assertion.sub.contains(':pull_request') || 'b' in assertion.groups", true),
            ("!('c' in assertion.groups)", true),
            ("assertion.repository_owner == 'acme' ? true : false", true),
            ("assertion.sub.matches('^repo:acme/.*$')", true),
            ("size(assertion.groups) == 2", true),
        ] {
            assert_eq!(Expr::compile(expr).unwrap().eval_bool(&a).unwrap(), want, "{expr}");
        }
    }

    #[test]
    fn bad_expressions_and_missing_fields_are_errors_not_true() {
        assert!(matches!(Expr::compile("assertion.("), Err(CelError::Parse { .. })));
        let a = vars(json!({}));
        assert!(Expr::compile("assertion.missing == 'x'").unwrap().eval_bool(&a).is_err());
        assert!(Expr::compile("'x'").unwrap().eval_bool(&a).is_err());
    }
}
