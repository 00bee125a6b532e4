//! The trace of Google's workload identity federation: the subject token's claims as the
//! provider saw them (`assertion`), each mapped attribute, the attribute condition with the
//! values it saw, and — when a service account is impersonated — the members of its binding
//! compared with the federated principal.

use serde::{Deserialize, Serialize};

use super::quoted;

/// A token exchange (and, optionally, the impersonation after it).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FederationTrace {
    /// The provider's resource name.
    pub provider: String,
    /// The subject token's claims (`assertion.*`), each value as JSON.
    pub assertion: Vec<(String, String)>,
    /// The attribute mapping, in order.
    pub attributes: Vec<AttributeTrace>,
    /// The attribute condition, if the provider has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// What the condition evaluated to (`true`, `false`, or the error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition_result: Option<String>,
    /// The binding checked when a service account is impersonated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub binding: Option<BindingTrace>,
}

/// One mapped attribute.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttributeTrace {
    /// `google.subject`, `attribute.repository`…
    pub name: String,
    /// The CEL expression that maps it.
    pub expression: String,
    /// Its value, or why there is none.
    pub value: Result<String, String>,
}

/// A service account's binding compared with the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BindingTrace {
    /// The service account impersonated.
    pub service_account: String,
    /// The role that grants the permission, e.g. `roles/iam.workloadIdentityUser`.
    pub role: String,
    /// The caller: `principal://…/subject/S`, and the `principalSet://…` identifiers it belongs to.
    pub caller: Vec<String>,
    /// Each member of the role's binding and whether it names the caller.
    pub members: Vec<(String, bool)>,
}

impl FederationTrace {
    /// In words.
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.provider.is_empty() {
            out.push_str(&format!("  provider {}\n", self.provider));
        }
        if !self.assertion.is_empty() {
            out.push_str("    assertion (the subject token's claims):\n");
            for (k, v) in &self.assertion {
                out.push_str(&format!("      {k} = {v}\n"));
            }
        }
        for a in &self.attributes {
            match &a.value {
                Ok(v) => out.push_str(&format!("    {} = {v:?}   ← {}\n", a.name, a.expression)),
                Err(e) => out.push_str(&format!("    {} FAILED ← {}: {e}\n", a.name, a.expression)),
            }
        }
        if let Some(c) = &self.condition {
            out.push_str(&format!("    attribute condition {c}\n      evaluates to {}\n", self.condition_result.as_deref().unwrap_or("(not evaluated)")));
        }
        if let Some(b) = &self.binding {
            out.push_str(&format!("  service account {}: who holds {}\n", b.service_account, b.role));
            out.push_str(&format!("    the caller is {}\n", quoted(&b.caller, ", or member of ")));
            if b.members.is_empty() {
                out.push_str("    the binding has no members for this role\n");
            }
            for (m, ok) in &b.members {
                out.push_str(&format!("    member {m}: {}\n", if *ok { "names the caller" } else { "does not name the caller" }));
            }
        }
        out
    }
}
