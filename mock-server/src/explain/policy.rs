//! The trace of an IAM policy evaluation: every statement with its effect, whether its principal
//! and action matched, each condition with the policy's values and the request's, and the rule
//! that decided (an explicit deny wins; otherwise an allow; otherwise nothing allowed it).

use serde::{Deserialize, Serialize};

use super::quoted;

/// One policy evaluated for one action.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyTrace {
    /// The action evaluated, e.g. `sts:AssumeRoleWithWebIdentity`.
    pub action: String,
    /// Who asked, as the policy's `Principal` would name it.
    pub principal: String,
    /// Every statement, in order.
    pub statements: Vec<StatementTrace>,
    /// What decided.
    pub decision: PolicyDecision,
}

/// The rule that decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "rule", rename_all = "snake_case")]
pub enum PolicyDecision {
    /// Statement `statement` allowed it and no statement denied it.
    Allowed {
        /// Index of the first allowing statement.
        statement: usize,
    },
    /// Statement `statement` denied it explicitly; an explicit deny overrides every allow.
    ExplicitDeny {
        /// Index of the denying statement.
        statement: usize,
    },
    /// No statement allowed it (the implicit deny).
    NoAllow,
}

/// One statement of the policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementTrace {
    /// Position in `Statement`, from 0.
    pub index: usize,
    /// Its `Sid`, if it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// `Allow` or `Deny`.
    pub effect: String,
    /// Whether `Principal` named the caller (or `NotPrincipal` did not).
    pub principal_matched: bool,
    /// The principals the statement names, as written (`Federated: arn:…`).
    pub principals: Vec<String>,
    /// Whether `Action` named the action (or `NotAction` did not).
    pub action_matched: bool,
    /// The actions the statement names, as written (`NotAction` ones prefixed `not `).
    pub actions: Vec<String>,
    /// Each condition, in the order written; evaluation stops at the first that fails, and
    /// the ones after it are not listed.
    pub conditions: Vec<ConditionTrace>,
    /// Whether the statement applies: principal, action and every condition matched.
    pub applies: bool,
}

/// One condition: an operator, a key, and the values on each side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConditionTrace {
    /// The operator as written, e.g. `ForAnyValue:StringLike`.
    pub operator: String,
    /// The condition key as written, e.g. `token.actions.githubusercontent.com:sub`.
    pub key: String,
    /// The policy's values for it (after policy variables are substituted).
    pub policy_values: Vec<String>,
    /// The request's values of the key; `None` when the request has no such key.
    pub request_values: Option<Vec<String>>,
    /// Whether the condition held.
    pub holds: bool,
    /// A rule that decided beyond plain matching (an absent key, `…IfExists`, a value of the
    /// wrong type), in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
}

impl PolicyTrace {
    /// In words.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let verdict = match self.decision {
            PolicyDecision::Allowed { statement } => format!("allowed by statement {}", self.label(statement)),
            PolicyDecision::ExplicitDeny { statement } => format!("denied explicitly by statement {} (an explicit Deny overrides every Allow)", self.label(statement)),
            PolicyDecision::NoAllow => "denied: no statement allows it".to_string(),
        };
        out.push_str(&format!("  trust policy, {} for {}: {verdict}\n", self.action, self.principal));
        for st in &self.statements {
            out.push_str(&format!("  statement {} ({}): {}\n", self.label(st.index), st.effect, if st.applies { "applies" } else { "does not apply" }));
            let mark = |ok: bool| if ok { "matches" } else { "does NOT match" };
            out.push_str(&format!("    principal {} — the statement names {}\n", mark(st.principal_matched), st.principals.join(", ")));
            out.push_str(&format!("    action {} — the statement names {}\n", mark(st.action_matched), st.actions.join(", ")));
            if !(st.principal_matched && st.action_matched) {
                continue;
            }
            for c in &st.conditions {
                let found = match &c.request_values {
                    Some(v) => quoted(v, ", "),
                    None => "no such key in the request".to_string(),
                };
                let verdict = if c.holds { "holds" } else { "FAILS" };
                out.push_str(&format!("    condition {} {}: {verdict}\n", c.operator, c.key));
                out.push_str(&format!("      policy expects {}\n", quoted(&c.policy_values, " or ")));
                out.push_str(&format!("      request has    {found}\n"));
                if let Some(rule) = &c.rule {
                    out.push_str(&format!("      ({rule})\n"));
                }
            }
        }
        out
    }

    fn label(&self, index: usize) -> String {
        match self.statements.get(index).and_then(|s| s.sid.as_deref()) {
            Some(sid) => format!("{index} \"{sid}\""),
            None => index.to_string(),
        }
    }
}
