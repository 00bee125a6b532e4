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
        if self.field.is_empty() { write!(f, ": {}", self.message) } else { write!(f, ": field `{}`: {}", self.field, self.message) }
    }
}

impl std::error::Error for WorldError {}

/// Loads and validates the world in `path`.
pub fn load_file(path: &Path) -> Result<WorldModel, WorldError> {
    load_file_with_text(path).map(|(_, model)| model)
}

/// A world file may not be larger: 16 MiB (the default world is 8 KB; 80,000 roles fit).
pub const MAX_WORLD_BYTES: u64 = 16 << 20;
/// A world may not nest deeper: 64 levels (the default world nests 7).
pub const MAX_NESTING: usize = 64;

/// Loads and validates the world in `path`, keeping the text it was read from. The file must be
/// a regular file of at most [`MAX_WORLD_BYTES`].
pub fn load_file_with_text(path: &Path) -> Result<(String, WorldModel), WorldError> {
    use std::io::Read;
    let name = path.display().to_string();
    let refuse = |message: String| WorldError { file: name.clone(), line: None, column: None, field: String::new(), message };
    let file = std::fs::File::open(path).map_err(|e| refuse(format!("cannot read world file: {e}")))?;
    let meta = file.metadata().map_err(|e| refuse(format!("cannot read world file: {e}")))?;
    if !meta.is_file() {
        return Err(refuse("a world file must be a regular file (not a device, pipe or directory)".into()));
    }
    if meta.len() > MAX_WORLD_BYTES {
        return Err(refuse(format!("the world file is {} bytes; at most {MAX_WORLD_BYTES} are read", meta.len())));
    }
    let mut text = String::new();
    file.take(MAX_WORLD_BYTES + 1).read_to_string(&mut text).map_err(|e| refuse(format!("cannot read world file: {e}")))?;
    if text.len() as u64 > MAX_WORLD_BYTES {
        return Err(refuse(format!("the world file grew past {MAX_WORLD_BYTES} bytes while it was read")));
    }
    let model = parse_in(&name, &text, Some(path.parent().unwrap_or(Path::new("."))))?;
    Ok((text, model))
}

/// The first line at which `text` nests deeper than [`MAX_NESTING`], counting block indentation
/// levels, `- ` items opened on one line, and open flow brackets. One pass, before the parser
/// sees the text: the parser's own limit takes time quadratic in the depth to reach.
fn too_deep(text: &str) -> Option<usize> {
    let mut indents: Vec<usize> = Vec::new();
    let mut flow = 0usize;
    for (n, line) in text.lines().enumerate() {
        let body = line.trim_start_matches(' ');
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        let indent = line.len() - body.len();
        if flow == 0 {
            while indents.last().is_some_and(|i| *i > indent) {
                indents.pop();
            }
            if indents.last() != Some(&indent) {
                indents.push(indent);
            }
        }
        let mut dashes = 0;
        let mut rest = body;
        while let Some(r) = rest.strip_prefix("- ") {
            dashes += 1;
            rest = r.trim_start_matches(' ');
        }
        let mut quote: Option<char> = None;
        let mut line_max = flow;
        for c in rest.chars() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '"' | '\'') => quote = Some(c),
                (None, '#') => break,
                (None, '[' | '{') => {
                    flow += 1;
                    line_max = line_max.max(flow);
                }
                (None, ']' | '}') => flow = flow.saturating_sub(1),
                _ => {}
            }
        }
        if indents.len() + dashes + line_max > MAX_NESTING {
            return Some(n + 1);
        }
    }
    None
}

/// The built-in default world.
pub fn default_world() -> WorldModel {
    parse("<default>", DEFAULT_WORLD_YAML).expect("the built-in default world is valid")
}

/// Parses and validates world YAML; `file` names it in errors. A world parsed this way cannot
/// reference files (`trust_policy_file`, `iam_policy_file`): use [`load_file`].
pub fn parse(file: &str, text: &str) -> Result<WorldModel, WorldError> {
    parse_in(file, text, None)
}

/// Parses and validates world YAML whose file references are relative to `base`.
pub fn parse_in(file: &str, text: &str, base: Option<&Path>) -> Result<WorldModel, WorldError> {
    if let Some(line) = too_deep(text) {
        return Err(WorldError { file: file.to_string(), line: Some(line), column: None, field: String::new(), message: format!("the world nests deeper than {MAX_NESTING} levels") });
    }
    let de = yaml_serde::Deserializer::from_str(text);
    let model: WorldModel = serde_path_to_error::deserialize(de).map_err(|e| {
        let field = clean_path(&e.path().to_string());
        let inner = e.into_inner();
        let (line, column) = match inner.location() {
            Some(loc) => (Some(loc.line()), Some(loc.column())),
            None => (locate(text, &field), None),
        };
        WorldError { file: file.to_string(), line, column, field, message: strip_location(&inner.to_string()) }
    })?;
    let mut model = model;
    super::referenced::resolve(&mut model, base).map_err(|(field, message)| WorldError { file: file.to_string(), line: locate(text, &field), column: None, field, message })?;
    validate(&model).map_err(|(field, message)| WorldError { file: file.to_string(), line: locate(text, &field), column: None, field, message })?;
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
/// keys in order, each searched after the line of the previous one. Tools that point at a field
/// (`cloudid lint`) use it too.
pub fn locate(text: &str, field: &str) -> Option<usize> {
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
    let mut seen = std::collections::HashSet::with_capacity(roles.len());
    for (i, role) in roles.iter().enumerate() {
        let f = |k: &str| format!("{at}.roles[{i}].{k}");
        if role.name.is_empty() || role.name.len() > 64 || !role.name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b)) {
            return bad(f("name"), format!("`{}` is not a valid IAM role name", role.name));
        }
        if !seen.insert(role.name.as_str()) {
            return bad(f("name"), format!("role `{}` is declared twice", role.name));
        }
        if !role.path.starts_with('/') || !role.path.ends_with('/') {
            return bad(f("path"), format!("`{}` must begin and end with `/`", role.path));
        }
        if !(3600..=43200).contains(&role.max_session_duration) {
            return bad(f("max_session_duration"), format!("{} is outside 3600 … 43200 seconds", role.max_session_duration));
        }
        if let Some(policy) = &role.trust_policy
            && let Err(e) = crate::verify::iam_policy::validate(policy)
        {
            return bad(f("trust_policy"), format!("MalformedPolicyDocument: {}", e.0));
        }
    }
    let mut seen = std::collections::HashSet::with_capacity(providers.len());
    for (i, p) in providers.iter().enumerate() {
        let f = |k: &str| format!("{at}.oidc_providers[{i}].{k}");
        let rest = p.url.strip_prefix("https://").unwrap_or("");
        let host = rest.split('/').next().unwrap_or("");
        // A path may end in a slash (Entra's v1.0 issuer is https://sts.windows.net/TENANT/); a bare
        // host may not.
        if rest.is_empty() || host.contains(':') || p.url.contains(['?', '#']) || rest == format!("{host}/") || rest.contains("//") {
            return bad(f("url"), format!("`{}` must be https://host[/path], without port, query or a slash after the bare host", p.url));
        }
        if !seen.insert(p.url.as_str()) {
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
    if let Some(start) = &w.clock.start {
        match crate::clock::parse_rfc3339(start) {
            Err(_) => return bad("clock.start", format!("`{start}` is not an RFC 3339 timestamp")),
            Ok(at) if !crate::clock::in_range(at) => {
                return bad("clock.start", format!("`{start}` is outside the clock's range, 2000-01-01T00:00:00Z … 2999-12-31T23:59:59Z"));
            }
            Ok(_) => {}
        }
    }
    if !(1..=1_000_000).contains(&w.journal_capacity) {
        return bad("journal_capacity", format!("{} is outside 1 … 1000000 entries", w.journal_capacity));
    }
    if !(1..=10_000_000).contains(&w.credential_capacity) {
        return bad("credential_capacity", format!("{} is outside 1 … 10000000 credentials", w.credential_capacity));
    }
    let aws = &w.aws;
    if aws.account_id.len() != 12 || !aws.account_id.bytes().all(|b| b.is_ascii_digit()) {
        return bad("aws.account_id", format!("`{}` is not a 12-digit AWS account id", aws.account_id));
    }
    if aws.source_ip.parse::<std::net::IpAddr>().is_err() {
        return bad("aws.source_ip", format!("`{}` is not an IP address", aws.source_ip));
    }
    if !is_region(&aws.region) {
        return bad("aws.region", format!("`{}` is not an AWS region name", aws.region));
    }
    check_account_iam("aws", &aws.roles, &aws.oidc_providers)?;
    let mut accounts = std::collections::HashSet::from([aws.account_id.as_str()]);
    for (k, account) in aws.accounts.iter().enumerate() {
        let f = format!("aws.accounts[{k}]");
        if account.account_id.len() != 12 || !account.account_id.bytes().all(|b| b.is_ascii_digit()) {
            return bad(&format!("{f}.account_id"), format!("`{}` is not a 12-digit AWS account id", account.account_id));
        }
        if !accounts.insert(account.account_id.as_str()) {
            return bad(&format!("{f}.account_id"), format!("account `{}` is declared twice", account.account_id));
        }
        check_account_iam(&f, &account.roles, &account.oidc_providers)?;
    }
    let role_names: std::collections::HashSet<&str> = aws.roles.iter().map(|r| r.name.as_str()).collect();
    let has_role = |name: &str| role_names.contains(name);
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
    let mut paths = std::collections::HashSet::with_capacity(aws.containers.len());
    for (i, c) in aws.containers.iter().enumerate() {
        let f = |k: &str| format!("aws.containers[{i}].{k}");
        if !c.path.starts_with('/') || c.path.starts_with("/_cloudid") || c.path.starts_with("/latest") || c.path.contains(['?', '#']) {
            return bad(&f("path"), format!("`{}` must be an absolute path outside /_cloudid and /latest, without query", c.path));
        }
        if c.agent == ContainerAgent::Ecs && !c.path.starts_with("/v2/credentials/") {
            return bad(&f("path"), format!("`{}`: an ECS agent serves /v2/credentials/<id>", c.path));
        }
        if !paths.insert(c.path.as_str()) {
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
        if iss.decoy_keys > 1000 {
            return bad(&f("decoy_keys"), format!("{} is over 1000 decoy keys", iss.decoy_keys));
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
    let mut accounts = std::collections::HashSet::with_capacity(gcp.service_accounts.len() * 2);
    for (i, sa) in gcp.service_accounts.iter().enumerate() {
        if !accounts.insert(sa.email.as_str()) || !accounts.insert(sa.unique_id.as_str()) {
            return bad(&format!("gcp.service_accounts[{i}]"), format!("service account `{}` ({}) is declared twice", sa.email, sa.unique_id));
        }
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
    for (i, pool) in gcp.workload_identity_pools.iter().enumerate() {
        for (j, p) in pool.providers.iter().enumerate() {
            let shared = p.oidc.as_ref().is_some_and(|o| super::model::SHARED_ISSUERS.contains(&o.issuer_uri.trim_end_matches('/')));
            let on_claims = p.attribute_condition.as_deref().is_some_and(|c| c.contains("assertion"));
            if shared && !on_claims {
                return bad(
                    &format!("gcp.workload_identity_pools[{i}].providers[{j}].attribute_condition"),
                    "The attribute condition must reference one of the provider's claims. For more information, see https://cloud.google.com/iam/docs/workload-identity-federation-with-deployment-pipelines#conditions (Google refuses a provider for a shared issuer without one)".into(),
                );
            }
        }
    }
    super::kubernetes::validate(w)?;
    super::azure::validate(w)?;
    for (i, u) in w.upstreams.iter().enumerate() {
        let host = u.host.to_ascii_lowercase();
        if !matches!(crate::hostnames::route(&host), Some(crate::hostnames::HostRoute::NotEmulated(_))) {
            return bad(
                &format!("upstreams[{i}].host"),
                format!("`{}` is not a cloud API host cloudid forwards (an *.amazonaws.com, *.api.aws or *.googleapis.com host it does not emulate itself)", u.host),
            );
        }
        if crate::hostnames::parse_upstream_url(&u.url).is_none() {
            return bad(&format!("upstreams[{i}].url"), format!("`{}` is not a plain-HTTP base URL (`http://127.0.0.1:8000`)", u.url));
        }
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
    parts.len() >= 3 && parts.iter().all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())) && parts.last().is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()))
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
    fn capacities_are_bounded() {
        let big = format!("journal_capacity: 1000000000000\n{DEFAULT_WORLD_YAML}");
        assert_eq!(parse("w.yaml", &big).unwrap_err().field, "journal_capacity");
        let zero = format!("credential_capacity: 0\n{DEFAULT_WORLD_YAML}");
        assert_eq!(parse("w.yaml", &zero).unwrap_err().field, "credential_capacity");
    }

    #[test]
    fn a_deeply_nested_world_is_refused_at_once_with_its_line() {
        let flow = format!("seed: 1\nissuers: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        let err = parse("deep.yaml", &flow).unwrap_err();
        assert_eq!((err.line, err.message.as_str()), (Some(2), "the world nests deeper than 64 levels"));
        let block: String = (0..200).map(|d| format!("{}- \n", "  ".repeat(d))).collect();
        assert!(parse("deep.yaml", &format!("issuers:\n{block}")).unwrap_err().message.contains("nests deeper"));
        let dashes = format!("issuers:\n  {}x\n", "- ".repeat(100));
        assert!(parse("deep.yaml", &dashes).unwrap_err().message.contains("nests deeper"));
        assert!(started.elapsed() < std::time::Duration::from_secs(5), "refused in one pass, not after the parser's own recursion");
    }

    #[test]
    fn a_world_file_must_be_a_regular_file_of_bounded_size() {
        let err = load_file(Path::new("/dev/zero")).unwrap_err();
        assert!(err.message.contains("regular file"), "{}", err.message);
        let dir = std::env::temp_dir().join(format!("cloudid-world-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let big = dir.join("big.yaml");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_WORLD_BYTES + 1).unwrap();
        let err = load_file(&big).unwrap_err();
        assert!(err.message.contains("at most 16777216"), "{}", err.message);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn many_roles_load_in_linear_time_and_a_duplicate_is_still_named() {
        let roles: String = (0..80_000).map(|i| format!("    - name: role-{i}\n      trust_policy: {{Version: '2012-10-17', Statement: []}}\n")).collect();
        let text = format!("aws:\n  account_id: \"123456789012\"\n  region: ap-northeast-1\n  roles:\n{roles}");
        let started = std::time::Instant::now();
        let parsed = parse("many.yaml", &text);
        assert!(started.elapsed() < std::time::Duration::from_secs(10), "took {:?}", started.elapsed());
        assert!(parsed.is_ok(), "{:?}", parsed.err());
        let dup = format!("{text}    - name: role-7\n      trust_policy: {{Version: '2012-10-17', Statement: []}}\n");
        assert!(parse("many.yaml", &dup).unwrap_err().message.contains("role `role-7` is declared twice"));
    }

    #[test]
    fn broken_yaml_gets_a_line_and_column() {
        let err = parse("w.yaml", "aws:\n  account_id: [\n").unwrap_err();
        assert!(err.line.is_some(), "{err}");
    }
}
