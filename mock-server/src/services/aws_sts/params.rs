//! Query-protocol parameters (form body or URL query) and STS's own validation of them.

use crate::services::aws_sts::code::StsCode;
use std::collections::HashMap;

use super::xml::StsError;
use crate::journal::Check;
use crate::world::WorldModel;
use crate::world::model::{AccountIam, RoleModel};

/// Decodes `application/x-www-form-urlencoded` text (`+` is a space).
pub fn parse_form(text: &str) -> Result<HashMap<String, String>, StsError> {
    let mut out = HashMap::new();
    for pair in text.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (decode(k)?, decode(v)?);
        if out.insert(k.clone(), v).is_some() {
            return Err(StsError::new(400, StsCode::InvalidParameterValue, format!("Parameter {k} is given more than once.")));
        }
    }
    Ok(out)
}

fn decode(s: &str) -> Result<String, StsError> {
    if !s.bytes().any(|b| b == b'%' || b == b'+') {
        return Ok(s.to_string());
    }
    let out = crate::percent::decode_strict(s, crate::percent::Plus::Space).map_err(|_| StsError::new(400, StsCode::MalformedQueryString, "Invalid percent-encoding in the request."))?;
    String::from_utf8(out).map_err(|_| StsError::new(400, StsCode::MalformedQueryString, "The request is not valid UTF-8."))
}

/// Collects model-constraint violations into STS's `ValidationError` message.
#[derive(Default)]
pub(crate) struct Validation(Vec<String>);

impl Validation {
    /// Records a violation of `member` (camelCase, as STS names it).
    pub(crate) fn fail(&mut self, value: &str, member: &str, constraint: &str) {
        let shown: String = value.chars().take(64).collect();
        self.0.push(format!("Value '{shown}' at '{member}' failed to satisfy constraint: {constraint}"));
    }

    /// Checks a length range.
    pub(crate) fn length(&mut self, value: &str, member: &str, min: usize, max: usize) {
        let n = value.chars().count();
        if n < min {
            self.fail(value, member, &format!("Member must have length greater than or equal to {min}"));
        } else if n > max {
            self.fail(value, member, &format!("Member must have length less than or equal to {max}"));
        }
    }

    /// Checks STS's `[\w+=,.@-]*` name pattern.
    pub(crate) fn name_pattern(&mut self, value: &str, member: &str) {
        if !value.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
            self.fail(value, member, "Member must satisfy regular expression pattern: [\\w+=,.@-]*");
        }
    }

    /// The `ValidationError`, if anything failed.
    pub(crate) fn finish(self) -> Result<(), StsError> {
        match self.0.len() {
            0 => Ok(()),
            1 => Err(StsError::new(400, StsCode::ValidationError, format!("1 validation error detected: {}", self.0[0]))),
            n => Err(StsError::new(400, StsCode::ValidationError, format!("{n} validation errors detected: {}", self.0.join("; ")))),
        }
    }
}

/// A required parameter.
pub(crate) fn required<'a>(p: &'a HashMap<String, String>, name: &str) -> Result<&'a str, StsError> {
    p.get(name).map(String::as_str).ok_or_else(|| StsError::new(400, StsCode::MissingParameter, format!("The request must contain the parameter {name}.")))
}

/// `DurationSeconds`, validated to 900 … 43200.
pub(crate) fn duration(p: &HashMap<String, String>, v: &mut Validation) -> Option<i64> {
    duration_within(p, v, 900, 43200)
}

/// `DurationSeconds`, if given, checked against `min ..= max` as STS's model bounds it.
pub(crate) fn duration_within(p: &HashMap<String, String>, v: &mut Validation, min: i64, max: i64) -> Option<i64> {
    let raw = p.get("DurationSeconds")?;
    match raw.parse::<i64>() {
        Ok(d) if d < min => {
            v.fail(raw, "durationSeconds", &format!("Member must have value greater than or equal to {min}"));
            None
        }
        Ok(d) if d > max => {
            v.fail(raw, "durationSeconds", &format!("Member must have value less than or equal to {max}"));
            None
        }
        Ok(d) => Some(d),
        Err(_) => {
            v.fail(raw, "durationSeconds", "Member must be an integer");
            None
        }
    }
}

/// Checks the shared session parameters: role ARN, session name, session policy, policy ARNs.
pub(crate) fn session_params(p: &HashMap<String, String>, v: &mut Validation) {
    if let Some(arn) = p.get("RoleArn") {
        v.length(arn, "roleArn", 20, 2048);
    }
    if let Some(name) = p.get("RoleSessionName") {
        v.length(name, "roleSessionName", 2, 64);
        v.name_pattern(name, "roleSessionName");
    }
    if let Some(policy) = p.get("Policy") {
        v.length(policy, "policy", 1, 2048);
        if !policy.chars().all(|c| matches!(c, '\u{9}' | '\u{a}' | '\u{d}' | '\u{20}'..='\u{ff}')) {
            v.fail(policy, "policy", "Member must satisfy regular expression pattern: [\\u0009\\u000A\\u000D\\u0020-\\u00FF]+");
        }
    }
    if p.keys().filter(|k| k.starts_with("PolicyArns.member.")).count() > 10 {
        v.fail("[…]", "policyArns", "Member must have length less than or equal to 10");
    }
    if let Some(si) = p.get("SourceIdentity") {
        v.length(si, "sourceIdentity", 2, 64);
        v.name_pattern(si, "sourceIdentity");
    }
}

/// A role ARN's account and name: `arn:aws:iam::ACCT:role/PATH/NAME`.
pub fn parse_role_arn(arn: &str) -> Option<(&str, &str)> {
    parse_role_arn_with_path(arn).map(|(account, _, name)| (account, name))
}

/// `arn:aws:iam::ACCOUNT:role/PATH/NAME` → (account, `/PATH/`, name); the path is `/` when the
/// ARN has none.
pub(crate) fn parse_role_arn_with_path(arn: &str) -> Option<(&str, &str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, resource) = rest.split_once(':')?;
    let path_name = resource.strip_prefix("role")?;
    let slash = path_name.rfind('/')?;
    Some((account, &path_name[..=slash], &path_name[slash + 1..]))
}

/// The world's role named by `role_arn`, with the IAM of its account (the main account or one of
/// `aws.accounts`), or `None` with a failed `sts.role` check recorded.
pub(crate) fn world_role<'m>(model: &'m WorldModel, role_arn: &str, checks: &mut Vec<Check>) -> Option<(AccountIam<'m>, &'m RoleModel)> {
    let found = parse_role_arn_with_path(role_arn).and_then(|(acct, path, name)| {
        let account = model.aws.account(acct)?;
        Some((account, account.roles.iter().find(|r| r.name == name && r.path == path)?))
    });
    if found.is_none() {
        checks.push(Check::fail("sts.role", format!("no role {role_arn} in this world")));
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_decode_plus_and_percent_and_refuse_duplicates() {
        let p = parse_form("Action=AssumeRole&RoleSessionName=a+b%2Bc&Empty=").unwrap();
        assert_eq!(p["RoleSessionName"], "a b+c");
        assert_eq!(p["Empty"], "");
        assert_eq!(parse_form("a=1&a=2").unwrap_err().code.as_str(), "InvalidParameterValue");
        assert_eq!(parse_form("a=%zz").unwrap_err().code.as_str(), "MalformedQueryString");
    }

    #[test]
    fn percent_escapes_decode_anywhere_and_broken_ones_are_refused() {
        assert_eq!(decode("plain.token-_~").unwrap(), "plain.token-_~");
        assert_eq!(decode("%E3%81%82x+%2F").unwrap(), "あx /");
        assert_eq!(decode("ab%3D%3D").unwrap(), "ab==");
        for bad in ["%", "x%4", "%4g", "%FF"] {
            assert_eq!(decode(bad).unwrap_err().code.as_str(), "MalformedQueryString", "{bad}");
        }
    }

    #[test]
    fn validation_errors_read_like_sts() {
        let mut v = Validation::default();
        v.length("x", "roleSessionName", 2, 64);
        let e = v.finish().unwrap_err();
        assert_eq!(e.message, "1 validation error detected: Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2");
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:role/path/x/r"), Some(("123456789012", "r")));
        assert_eq!(parse_role_arn("arn:aws:iam::123456789012:user/r"), None);
        assert_eq!(parse_role_arn_with_path("arn:aws:iam::123456789012:role/ci/deployer"), Some(("123456789012", "/ci/", "deployer")));
        assert_eq!(parse_role_arn_with_path("arn:aws:iam::123456789012:role/deployer"), Some(("123456789012", "/", "deployer")));
    }
}
