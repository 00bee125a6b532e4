//! The parameters each flow takes, as data: name, type, and the values a word may take. A
//! scenario's `params` are checked against them when it loads, so a misspelt or mistyped param is
//! an error naming its file, line and field — never a silently taken default.

use std::collections::BTreeMap;

use serde_json::Value;

/// What a parameter holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Any text.
    Text,
    /// One of these words.
    Word(&'static [&'static str]),
    /// `true` or `false`.
    Bool,
    /// A non-negative integer.
    Count,
    /// A mapping (claims to set on a minted token).
    Claims,
}

impl Kind {
    fn admits(self, v: &Value) -> bool {
        match self {
            Kind::Text => v.is_string(),
            Kind::Word(words) => v.as_str().is_some_and(|s| words.contains(&s)),
            Kind::Bool => v.is_boolean(),
            Kind::Count => v.is_u64(),
            Kind::Claims => v.is_object(),
        }
    }

    fn describe(self) -> String {
        match self {
            Kind::Text => "text".into(),
            Kind::Word(words) => format!("one of {}", words.join(", ")),
            Kind::Bool => "true or false".into(),
            Kind::Count => "a non-negative integer".into(),
            Kind::Claims => "a mapping of claims".into(),
        }
    }
}

/// Parameters every flow takes: how the client repeats its work.
const COMMON: &[(&str, Kind)] = &[("repeat", Kind::Count), ("pause_ms", Kind::Count), ("refetch", Kind::Bool)];

/// The parameters `flow` takes besides the common ones (`repeat`, `pause_ms`, `refetch`); `None`
/// for an unknown flow.
pub fn of(flow: &str) -> Option<&'static [(&'static str, Kind)]> {
    Some(match flow {
        "aws-imds" => &[],
        "aws-container" => &[("container_token", Kind::Text), ("token_file", Kind::Bool)],
        "aws-web-identity" => &[("issuer", Kind::Word(&["github", "google"])), ("audience", Kind::Text), ("role", Kind::Text), ("session_name", Kind::Text), ("token_claims", Kind::Claims)],
        "aws-role-chain" => &[
            ("source", Kind::Word(&["web-identity", "ec2"])),
            ("role", Kind::Text),
            ("audience", Kind::Text),
            ("token_claims", Kind::Claims),
            ("target_role_arn", Kind::Text),
            ("session_name", Kind::Text),
            ("external_id", Kind::Text),
            ("duration_seconds", Kind::Count),
        ],
        "gcp-metadata" => &[("audience", Kind::Text), ("certs_issuer", Kind::Text)],
        "github-oidc" => &[("audience", Kind::Text), ("request_token", Kind::Text)],
        "google-external-account" => {
            &[("provider", Kind::Text), ("service_account", Kind::Text), ("source", Kind::Word(&["aws", "github"])), ("imdsv2", Kind::Bool), ("audience", Kind::Text), ("token_claims", Kind::Claims)]
        }
        "google-aws-supplier" => &[("provider", Kind::Text), ("service_account", Kind::Text)],
        _ => return None,
    })
}

/// Checks `params` against what `flow` takes: the offending param's name and what is wrong.
pub fn check(flow: &str, params: &BTreeMap<String, Value>) -> Result<(), (String, String)> {
    let own = of(flow).unwrap_or(&[]);
    for (name, value) in params {
        let kind = own.iter().chain(COMMON).find(|(n, _)| n == name).map(|(_, k)| *k);
        let Some(kind) = kind else {
            let known: Vec<&str> = own.iter().chain(COMMON).map(|(n, _)| *n).collect();
            return Err((name.clone(), format!("flow `{flow}` takes no param `{name}`; it takes {}", known.join(", "))));
        };
        if !kind.admits(value) {
            return Err((name.clone(), format!("`{name}` must be {}, not {value}", kind.describe())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_misspelt_param_names_what_the_flow_takes() {
        let params = BTreeMap::from([("rol".to_string(), Value::from("x"))]);
        let (field, message) = check("aws-web-identity", &params).unwrap_err();
        assert_eq!(field, "rol");
        assert!(message.contains("takes no param `rol`") && message.contains("role"), "{message}");
    }

    #[test]
    fn a_mistyped_param_says_what_it_must_be() {
        let params = BTreeMap::from([("source".to_string(), Value::from("s3"))]);
        assert_eq!(check("aws-role-chain", &params).unwrap_err().1, "`source` must be one of web-identity, ec2, not \"s3\"");
        let params = BTreeMap::from([("repeat".to_string(), Value::from(-1))]);
        assert!(check("aws-imds", &params).unwrap_err().1.contains("non-negative integer"));
    }
}
