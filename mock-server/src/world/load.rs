//! Loading a world file: YAML → [`WorldModel`], with errors that name the file, line and field,
//! then the cross-reference checks serde cannot do. Nothing is half-loaded: either the whole world
//! is valid or loading fails.

use std::fmt;
use std::path::Path;

use super::model::{ContainerAgent, OidcProviderModel, RoleModel, WorldModel};

/// The built-in default world (the four seed deployments).
pub const DEFAULT_WORLD_YAML: &str = include_str!("default.yaml");

/// Why a world file was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorldError {
    /// File name as given (or `<default>` / `<inline>`).
    pub file: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column, when known.
    pub column: Option<usize>,
    /// Dotted path of the offending field, e.g. `aws.ec2.http_tokens`.
    pub field: String,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for WorldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        if self.field.is_empty() {
            write!(f, ": {}", self.message)
        } else {
            write!(f, ": field `{}`: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for WorldError {}

/// Loads and validates the world in `path`.
pub fn load_file(path: &Path) -> Result<WorldModel, WorldError> {
    load_file_with_text(path).map(|(_, model)| model)
}

/// Loads and validates the world in `path`, keeping the text it was read from.
pub fn load_file_with_text(path: &Path) -> Result<(String, WorldModel), WorldError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path).map_err(|e| WorldError {
        file: name.clone(),
        line: None,
        column: None,
        field: String::new(),
        message: format!("cannot read world file: {e}"),
    })?;
    let model = parse(&name, &text)?;
    Ok((text, model))
}

/// The built-in default world.
pub fn default_world() -> WorldModel {
    parse("<default>", DEFAULT_WORLD_YAML).expect("the built-in default world is valid")
}

/// Parses and validates world YAML; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<WorldModel, WorldError> {
    let de = yaml_serde::Deserializer::from_str(text);
    let model: WorldModel = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = clean_path(&e.path().to_string());
        let inner = e.into_inner();
        let (line, column) = match inner.location() {
            Some(loc) => (Some(loc.line()), Some(loc.column())),
            None => (locate(text, &field), None),
        };
        WorldError {
            file: file.to_string(),
            line,
            column,
            field,
            message: strip_location(&inner.to_string()),
        }
    })?;
    validate(&model).map_err(|(field, message)| WorldError {
        file: file.to_string(),
        line: locate(text, &field),
        column: None,
        field,
        message,
    })?;
    Ok(model)
}

fn clean_path(p: &str) -> String {
    if p == "." { String::new() } else { p.to_string() }
}

/// The parser's message without its own location and path (the error carries both already).
fn strip_location(msg: &str) -> String {
    let msg = match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    match msg.split_once(": ") {
        Some((path, rest)) if !path.contains(' ') && (path.contains('.') || path.contains('[')) => rest.to_string(),
        _ => msg.to_string(),
    }
}

/// Best-effort line of a dotted field path (`aws.containers[1].role`) in YAML text: walks the
/// keys in order, each searched after the line of the previous one.
fn locate(text: &str, field: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut at = 0usize;
    let mut found = None;
    for segment in field.split('.').filter(|s| !s.is_empty()) {
        let (key, index) = match segment.find('[') {
            Some(i) => (&segment[..i], segment[i + 1..segment.len() - 1].parse::<usize>().ok()),
            None => (segment, None),
        };
        let pos = lines.iter().skip(at).position(|l| {
            let t = l.trim_start().trim_start_matches("- ");
            t.starts_with(&format!("{key}:")) || t.starts_with(&format!("\"{key}\":"))
        })?;
        at += pos;
        found = Some(at + 1);
        if let Some(n) = index {
            let indent = lines.get(at + 1).map(|l| l.len() - l.trim_start().len())?;
            let items: Vec<usize> = lines
                .iter()
                .enumerate()
                .skip(at + 1)
                .take_while(|(_, l)| l.trim().is_empty() || l.len() - l.trim_start().len() >= indent || l.trim_start().starts_with('#'))
                .filter(|(_, l)| l.len() - l.trim_start().len() == indent && l.trim_start().starts_with("- "))
                .map(|(i, _)| i)
                .collect();
            at = *items.get(n)?;
            found = Some(at + 1);
        }
    }
    found
}

type Invalid = (String, String);

/// The roles and OIDC providers of one account; `at` is the account's field path (`aws` or
/// `aws.accounts[k]`).
fn check_account_iam(at: &str, roles: &[RoleModel], providers: &[OidcProviderModel]) -> Result<(), Invalid> {
    let bad = |field: String, msg: String| Err((field, msg));
    for (i, role) in roles.iter().enumerate() {
        let f = |k: &str| format!("{at}.roles[{i}].{k}");
        if role.name.is_empty() || role.name.len() > 64 || !role.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)) {
            return bad(f("name"), format!("`{}` is not a valid IAM role name", role.name));
        }
        if roles[..i].iter().any(|r| r.name == role.name) {
            return bad(f("name"), format!("role `{}` is declared twice", role.name));
        }
        if !role.path.starts_with('/') || !role.path.ends_with('/') {
            return bad(f("path"), format!("`{}` must begin and end with `/`", role.path));
        }
        if !(3600..=43200).contains(&role.max_session_duration) {
            return bad(f("max_session_duration"), format!("{} is outside 3600 … 43200 seconds", role.max_session_duration));
        }
    }
    for (i, p) in providers.iter().enumerate() {
        let f = |k: &str| format!("{at}.oidc_providers[{i}].{k}");
        let rest = p.url.strip_prefix("https://").unwrap_or("");
        let host = rest.split('/').next().unwrap_or("");
        if rest.is_empty() || host.contains(':') || p.url.contains(['?', '#']) || p.url.ends_with('/') {
            return bad(f("url"), format!("`{}` must be https://host[/path], without port, query or trailing slash", p.url));
        }
        if providers[..i].iter().any(|o| o.url == p.url) {
            return bad(f("url"), format!("provider `{}` is declared twice", p.url));
        }
        if p.client_ids.is_empty() || p.client_ids.len() > 100 || p.client_ids.iter().any(|c| c.is_empty() || c.len() > 255) {
            return bad(f("client_ids"), "needs 1 … 100 client ids of 1 … 255 characters".into());
        }
        if p.thumbprints.len() > 5 || p.thumbprints.iter().any(|t| t.len() != 40 || !t.bytes().all(|b| b.is_ascii_hexdigit())) {
            return bad(f("thumbprints"), "at most 5 thumbprints of 40 hex digits".into());
        }
    }
    Ok(())
}

fn validate(w: &WorldModel) -> Result<(), Invalid> {
    let bad = |field: &str, msg: String| Err((field.to_string(), msg));
    if let Some(start) = &w.clock.start
        && crate::clock::parse_rfc3339(start).is_err()
    {
        return bad("clock.start", format!("`{start}` is not an RFC 3339 timestamp"));
    }
    if w.journal_capacity == 0 {
        return bad("journal_capacity", "must be at least 1".into());
    }
    let aws = &w.aws;
    if aws.account_id.len() != 12 || !aws.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return bad("aws.account_id", format!("`{}` is not a 12-digit AWS account id", aws.account_id));
    }
    if !is_region(&aws.region) {
        return bad("aws.region", format!("`{}` is not an AWS region name", aws.region));
    }
    check_account_iam("aws", &aws.roles, &aws.oidc_providers)?;
    for (k, account) in aws.accounts.iter().enumerate() {
        let f = format!("aws.accounts[{k}]");
        if account.account_id.len() != 12 || !account.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return bad(&format!("{f}.account_id"), format!("`{}` is not a 12-digit AWS account id", account.account_id));
        }
        if account.account_id == aws.account_id || aws.accounts[..k].iter().any(|a| a.account_id == account.account_id) {
            return bad(&format!("{f}.account_id"), format!("account `{}` is declared twice", account.account_id));
        }
        check_account_iam(&f, &account.roles, &account.oidc_providers)?;
    }
    let has_role = |name: &str| aws.roles.iter().any(|r| r.name == name);
    if let Some(ec2) = &aws.ec2 {
        let id = ec2.instance_id.strip_prefix("i-").unwrap_or("");
        if !(id.len() == 8 || id.len() == 17) || !id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
            return bad("aws.ec2.instance_id", format!("`{}` is not an instance id (`i-` and 8 or 17 lower-case hex digits)", ec2.instance_id));
        }
        let az_region = ec2.availability_zone.get(..ec2.availability_zone.len().saturating_sub(1)).unwrap_or("");
        if az_region != aws.region {
            return bad("aws.ec2.availability_zone", format!("`{}` is not a zone of region `{}`", ec2.availability_zone, aws.region));
        }
        if ec2.private_ip.parse::<std::net::Ipv4Addr>().is_err() {
            return bad("aws.ec2.private_ip", format!("`{}` is not an IPv4 address", ec2.private_ip));
        }
        if let Some(p) = &ec2.instance_profile
            && !has_role(&p.role)
        {
            return bad("aws.ec2.instance_profile.role", format!("no role named `{}` in aws.roles", p.role));
        }
        check_policy(&ec2.credentials, "aws.ec2.credentials")?;
    }
    for (i, c) in aws.containers.iter().enumerate() {
        let f = |k: &str| format!("aws.containers[{i}].{k}");
        if !c.path.starts_with('/') || c.path.starts_with("/_cloudid") || c.path.starts_with("/latest") || c.path.contains(['?', '#']) {
            return bad(&f("path"), format!("`{}` must be an absolute path outside /_cloudid and /latest, without query", c.path));
        }
        if c.agent == ContainerAgent::Ecs && !c.path.starts_with("/v2/credentials/") {
            return bad(&f("path"), format!("`{}`: an ECS agent serves /v2/credentials/<id>", c.path));
        }
        if aws.containers[..i].iter().any(|o| o.path == c.path) {
            return bad(&f("path"), format!("path `{}` is served twice", c.path));
        }
        if !has_role(&c.role) {
            return bad(&f("role"), format!("no role named `{}` in aws.roles", c.role));
        }
        if c.session_name.len() < 2 || c.session_name.len() > 64 {
            return bad(&f("session_name"), "must be 2 … 64 characters".into());
        }
        match &c.auth_token {
            None if c.agent == ContainerAgent::PodIdentity => {
                return bad(&f("auth_token"), "the Pod Identity agent always requires a token".into());
            }
            Some(t) if t.expose().is_empty() || t.expose().bytes().any(|b| b.is_ascii_control()) => {
                return bad(&f("auth_token"), "must be non-empty and free of control characters (clients refuse such header values)".into());
            }
            _ => {}
        }
        check_policy(&c.credentials, &f("credentials"))?;
    }
    for (i, iss) in w.issuers.iter().enumerate() {
        let f = |k: &str| format!("issuers[{i}].{k}");
        let builtin = matches!(iss.name.as_str(), "github" | "google");
        if !builtin {
            match &iss.iss {
                Some(u) if u.starts_with("https://") => {}
                _ => return bad(&f("iss"), format!("extra issuer `{}` needs an https:// `iss`", iss.name)),
            }
            if iss.signing_key.is_none() && iss.jwks.is_empty() {
                return bad(&f("jwks"), format!("extra issuer `{}` needs a `signing_key` or `jwks`", iss.name));
            }
        }
        if let Some(k) = &iss.signing_key
            && super::issuers::SigningKey::fixture(k).is_none()
        {
            return bad(&f("signing_key"), format!("no bundled key `{k}` (see fixtures/keys/README.md)"));
        }
    }
    let gcp = &w.gcp;
    if !gcp.project_number.is_empty() && !gcp.project_number.bytes().all(|b| b.is_ascii_digit()) {
        return bad("gcp.project_number", format!("`{}` is not a project number", gcp.project_number));
    }
    for (i, sa) in gcp.service_accounts.iter().enumerate() {
        if !sa.email.ends_with(".gserviceaccount.com") || !sa.email.contains('@') {
            return bad(&format!("gcp.service_accounts[{i}].email"), format!("`{}` is not a service account email", sa.email));
        }
        if sa.unique_id.len() != 21 || !sa.unique_id.bytes().all(|b| b.is_ascii_digit()) {
            return bad(&format!("gcp.service_accounts[{i}].unique_id"), format!("`{}` is not a 21-digit unique id", sa.unique_id));
        }
    }
    if gcp.service_accounts.iter().filter(|s| s.default).count() > 1 {
        return bad("gcp.service_accounts", "only one service account can be the default".into());
    }
    Ok(())
}

fn check_policy(p: &super::model::CredentialPolicy, field: &str) -> Result<(), Invalid> {
    if p.lifetime_seconds < 900 || p.lifetime_seconds > 43200 {
        return Err((format!("{field}.lifetime_seconds"), format!("{} is outside 900 … 43200 seconds", p.lifetime_seconds)));
    }
    if p.refresh_before_seconds >= p.lifetime_seconds {
        return Err((format!("{field}.refresh_before_seconds"), "must be shorter than lifetime_seconds".into()));
    }
    Ok(())
}

fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()))
        && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_world_loads() {
        let w = default_world();
        assert_eq!(w.aws.account_id, "123456789012");
        assert_eq!(w.aws.region, "ap-northeast-1");
        assert!(w.aws.roles.iter().any(|r| r.name == "GitHubActionsECRRole"));
    }

    #[test]
    fn an_unknown_field_is_named_with_its_line() {
        let yaml = "aws:\n  account_id: \"123456789012\"\n  region: us-east-1\n  ec2:\n    instance_id: i-0123456789abcdef0\n    availability_zone: us-east-1a\n    http_tokenz: required\n";
        let err = parse("w.yaml", yaml).unwrap_err();
        assert_eq!(err.file, "w.yaml");
        assert_eq!(err.line, Some(7));
        assert_eq!(err.field, "aws.ec2.http_tokenz");
        assert!(err.message.contains("unknown field `http_tokenz`"), "{}", err.message);
        assert!(err.to_string().starts_with("w.yaml:7:"), "{err}");
    }

    #[test]
    fn a_wrong_value_type_names_the_field() {
        let yaml = "aws:\n  account_id: \"123456789012\"\n  region: us-east-1\n  ec2:\n    instance_id: i-0123456789abcdef0\n    availability_zone: us-east-1a\n    http_tokens: sometimes\n";
        let err = parse("w.yaml", yaml).unwrap_err();
        assert_eq!(err.field, "aws.ec2.http_tokens");
        assert_eq!(err.line, Some(7));
        assert!(err.message.contains("unknown variant `sometimes`"), "{}", err.message);
    }

    #[test]
    fn a_dangling_role_reference_is_refused_with_its_line() {
        let yaml = "aws:\n  account_id: \"123456789012\"\n  region: us-east-1\n  roles:\n    - name: a\n  containers:\n    - path: /v2/credentials/x\n      role: a\n      session_name: t1\n    - path: /v2/credentials/y\n      role: nope\n      session_name: t2\n";
        let err = parse("w.yaml", yaml).unwrap_err();
        assert_eq!(err.field, "aws.containers[1].role");
        assert_eq!(err.line, Some(11));
        assert_eq!(err.message, "no role named `nope` in aws.roles");
    }

    #[test]
    fn a_bad_account_id_is_refused() {
        let err = parse("w.yaml", "aws:\n  account_id: \"12345\"\n  region: us-east-1\n").unwrap_err();
        assert_eq!(err.field, "aws.account_id");
        assert_eq!(err.line, Some(2));
    }

    #[test]
    fn further_accounts_are_checked_like_the_main_one_with_their_lines() {
        let head = "aws:\n  account_id: \"123456789012\"\n  region: us-east-1\n  accounts:\n";
        let twice = format!("{head}    - account_id: \"210987654321\"\n    - account_id: \"210987654321\"\n");
        let err = parse("w.yaml", &twice).unwrap_err();
        assert_eq!((err.field.as_str(), err.line), ("aws.accounts[1].account_id", Some(6)));
        assert_eq!(err.message, "account `210987654321` is declared twice");
        let main_again = format!("{head}    - account_id: \"123456789012\"\n");
        assert_eq!(parse("w.yaml", &main_again).unwrap_err().field, "aws.accounts[0].account_id");
        let bad_role = format!("{head}    - account_id: \"210987654321\"\n      roles:\n        - name: ok\n        - name: \"no spaces\"\n");
        let err = parse("w.yaml", &bad_role).unwrap_err();
        assert_eq!((err.field.as_str(), err.line), ("aws.accounts[0].roles[1].name", Some(8)));
        let bad_provider = format!("{head}    - account_id: \"210987654321\"\n      oidc_providers:\n        - url: http://insecure.example\n          client_ids: [x]\n");
        assert_eq!(parse("w.yaml", &bad_provider).unwrap_err().field, "aws.accounts[0].oidc_providers[0].url");
        let good = format!("{head}    - account_id: \"210987654321\"\n      roles:\n        - name: deployer\n");
        let w = parse("w.yaml", &good).unwrap();
        assert_eq!(w.aws.account("210987654321").unwrap().roles[0].name, "deployer");
        assert!(w.aws.account("999999999999").is_none());
    }

    #[test]
    fn broken_yaml_gets_a_line_and_column() {
        let err = parse("w.yaml", "aws:\n  account_id: [\n").unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }
}
