//! `cloudid world import`: a world built from what users deploy with — a Terraform JSON plan or
//! state (`terraform show -json`), the JSON the cloud CLIs print (`aws iam get-role`,
//! `aws iam get-open-id-connect-provider`, `gcloud iam workload-identity-pools providers
//! describe --format=json`, `gcloud iam service-accounts get-iam-policy --format=json`) and
//! policy files — with a report of what it took, what it ignored and why, and the placeholders
//! it put where a value is unknown until apply. The result is world YAML that loads like any.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

/// One input: its name (for the report) and its JSON; `subject` names what a bare policy file
/// belongs to (`ROLE=trust-policy.json`, `EMAIL=policy.json`).
#[derive(Debug, Clone)]
pub struct Input {
    /// File name, as given.
    pub name: String,
    /// What a bare policy is for: a role name or a service account email.
    pub subject: Option<String>,
    /// Its content.
    pub json: Value,
}

/// What an import took, ignored and invented.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// `file: what` for everything taken into the world.
    pub took: Vec<String>,
    /// `file: what — why` for everything left out.
    pub ignored: Vec<String>,
    /// `what — the placeholder used` for values unknown until apply.
    pub placeholders: Vec<String>,
}

#[derive(Default)]
struct Builder {
    account_id: Option<String>,
    region: Option<String>,
    roles: BTreeMap<String, Map<String, Value>>,
    providers: BTreeMap<String, Value>,
    project_id: Option<String>,
    project_number: Option<String>,
    pools: BTreeMap<String, (bool, Vec<Value>)>,
    accounts: BTreeMap<String, Map<String, Value>>,
    report: Report,
}

/// Builds a world from `inputs`: its YAML, and the report.
pub fn import(inputs: &[Input]) -> Result<(String, Report), String> {
    import_onto(None, inputs)
}

/// Builds a world from `inputs` on top of `base` (a world as JSON): what the inputs define
/// replaces the base's role, OIDC provider, pool provider or service account binding of the same
/// name; everything else of the base (instances, containers, the GitHub job…) stays.
pub fn import_onto(base: Option<Value>, inputs: &[Input]) -> Result<(String, Report), String> {
    let mut b = Builder::default();
    if let Some(base) = &base {
        b.account_id = base.pointer("/aws/account_id").and_then(Value::as_str).map(str::to_string);
        b.region = base.pointer("/aws/region").and_then(Value::as_str).map(str::to_string);
        b.project_id = base.pointer("/gcp/project_id").and_then(Value::as_str).map(str::to_string);
        b.project_number = base.pointer("/gcp/project_number").and_then(Value::as_str).map(str::to_string);
    }
    for input in inputs {
        b.input(input)?;
    }
    let (mut world, report) = b.finish();
    if let Some(mut base) = base {
        merge_onto(&mut base, &world);
        world = base;
    }
    let yaml = yaml_serde::to_string(&world).map_err(|e| e.to_string())?;
    Ok((yaml, report))
}

/// Puts `list`'s items into `into` (a JSON array), replacing those with the same `key`; for
/// items with a `nested` list, merges that list the same way by `nested_key`.
fn merge_list(into: &mut Value, list: &Value, key: &str, nested: Option<(&str, &str)>) {
    if !into.is_array() {
        *into = json!([]);
    }
    let target = into.as_array_mut().expect("an array");
    for item in list.as_array().into_iter().flatten() {
        match target.iter_mut().find(|t| t.get(key).is_some() && t.get(key) == item.get(key)) {
            Some(existing) => match nested {
                Some((field, nested_key)) => {
                    for (k, v) in item.as_object().into_iter().flatten() {
                        if k == field {
                            merge_list(&mut existing[field], v, nested_key, None);
                        } else {
                            existing[k] = v.clone();
                        }
                    }
                }
                None => {
                    for (k, v) in item.as_object().into_iter().flatten() {
                        existing[k] = v.clone();
                    }
                }
            },
            None => target.push(item.clone()),
        }
    }
}

fn merge_onto(base: &mut Value, world: &Value) {
    merge_list(&mut base["aws"]["roles"], &world["aws"]["roles"], "name", None);
    merge_list(&mut base["aws"]["oidc_providers"], &world["aws"]["oidc_providers"], "url", None);
    if world.get("gcp").is_some() {
        merge_list(&mut base["gcp"]["service_accounts"], &world["gcp"]["service_accounts"], "email", None);
        merge_list(&mut base["gcp"]["workload_identity_pools"], &world["gcp"]["workload_identity_pools"], "name", Some(("providers", "name")));
    }
}

impl Builder {
    fn input(&mut self, input: &Input) -> Result<(), String> {
        let j = &input.json;
        let n = &input.name;
        if j.get("format_version").is_some() && (j.get("planned_values").is_some() || j.get("values").is_some() || j.get("resource_changes").is_some()) {
            self.terraform(n, j);
        } else if let Some(role) = j.get("Role") {
            self.aws_role(n, role);
        } else if j.get("Url").is_some() && j.get("ClientIDList").is_some() {
            let url = format!("https://{}", j["Url"].as_str().unwrap_or_default().trim_start_matches("https://"));
            self.oidc_provider(n, &url, strings(&j["ClientIDList"]), strings(&j["ThumbprintList"]));
        } else if j.get("name").and_then(Value::as_str).is_some_and(|s| s.contains("/workloadIdentityPools/") && s.contains("/providers/")) {
            self.gcloud_provider(n, j);
        } else if j.get("bindings").is_some() || j.get("etag").is_some() {
            let email = input.subject.clone().ok_or_else(|| format!("{n}: an IAM policy does not name its service account; give it as EMAIL={n}"))?;
            self.bindings(n, &email, j);
        } else if j.get("Statement").is_some() {
            let role = input.subject.clone().ok_or_else(|| format!("{n}: a policy document does not name its role; give it as ROLE_NAME={n}"))?;
            self.role(&role).insert("trust_policy".into(), j.clone());
            self.report.took.push(format!("{n}: the trust policy of role {role}"));
        } else {
            return Err(format!("{n}: not a Terraform plan or state, aws iam get-role / get-open-id-connect-provider output, gcloud provider or IAM policy JSON, or a policy document"));
        }
        Ok(())
    }

    fn role(&mut self, name: &str) -> &mut Map<String, Value> {
        self.roles.entry(name.to_string()).or_insert_with(|| Map::from_iter([("name".to_string(), Value::from(name))]))
    }

    fn account(&mut self, email: &str) -> &mut Map<String, Value> {
        self.accounts.entry(email.to_string()).or_insert_with(|| Map::from_iter([("email".to_string(), Value::from(email))]))
    }

    fn aws_role(&mut self, n: &str, role: &Value) {
        let name = role["RoleName"].as_str().unwrap_or_default().to_string();
        if let Some(acct) = role["Arn"].as_str().and_then(|a| a.split(':').nth(4)) {
            self.account_id.get_or_insert(acct.to_string());
        }
        let policy = match &role["AssumeRolePolicyDocument"] {
            Value::String(s) => super::strict_json::parse(&crate::percent::decode_form(s)).unwrap_or(Value::Null),
            other => other.clone(),
        };
        let r = self.role(&name);
        if let Some(p) = role["Path"].as_str() {
            r.insert("path".into(), p.into());
        }
        if let Some(d) = role["MaxSessionDuration"].as_u64() {
            r.insert("max_session_duration".into(), d.into());
        }
        r.insert("trust_policy".into(), policy);
        self.report.took.push(format!("{n}: role {name} with its trust policy"));
        self.report.ignored.push(format!("{n}: the role's id, dates, tags and permissions — cloudid emulates identity, not what the role may do"));
    }

    fn oidc_provider(&mut self, n: &str, url: &str, client_ids: Vec<String>, thumbprints: Vec<String>) {
        self.providers.insert(url.to_string(), json!({"url": url, "client_ids": client_ids, "thumbprints": thumbprints}));
        self.report.took.push(format!("{n}: IAM OIDC provider {url}"));
    }

    fn gcloud_provider(&mut self, n: &str, j: &Value) {
        let name = j["name"].as_str().unwrap_or_default();
        let parts: Vec<&str> = name.split('/').collect();
        let (Some(number), Some(pool), Some(provider)) = (parts.get(1), parts.get(5), parts.get(7)) else {
            self.report.ignored.push(format!("{n}: provider name `{name}` is not projects/N/locations/global/workloadIdentityPools/P/providers/X"));
            return;
        };
        self.project_number.get_or_insert(number.to_string());
        let mut p = json!({"name": provider});
        if j["disabled"].as_bool() == Some(true) || j["state"] == "DISABLED" {
            p["disabled"] = true.into();
        }
        if let Some(m) = j.get("attributeMapping") {
            p["attribute_mapping"] = m.clone();
        }
        if let Some(c) = j.get("attributeCondition") {
            p["attribute_condition"] = c.clone();
        }
        if let Some(o) = j.get("oidc") {
            p["oidc"] = json!({"issuer_uri": o["issuerUri"], "allowed_audiences": o.get("allowedAudiences").cloned().unwrap_or(json!([]))});
        }
        if let Some(a) = j.get("aws") {
            p["aws"] = json!({"account_id": a["accountId"]});
        }
        self.pools.entry(pool.to_string()).or_default().1.push(p);
        self.report.took.push(format!("{n}: provider {pool}/{provider}"));
    }

    fn bindings(&mut self, n: &str, email: &str, policy: &Value) {
        match super::referenced::bindings(policy) {
            Ok(list) => {
                let list: Vec<Value> = list.into_iter().map(|b| json!({"role": b.role, "members": b.members})).collect();
                self.report.took.push(format!("{n}: {} binding(s) of {email}", list.len()));
                let a = self.account(email);
                a.entry("bindings").or_insert_with(|| json!([])).as_array_mut().expect("bindings list").extend(list);
            }
            Err(why) => self.report.ignored.push(format!("{n}: the policy of {email} — {why}")),
        }
    }

    fn terraform(&mut self, n: &str, j: &Value) {
        let root = j.pointer("/planned_values/root_module").or_else(|| j.pointer("/values/root_module")).cloned().unwrap_or(Value::Null);
        let unknown: BTreeMap<String, Value> =
            j["resource_changes"].as_array().into_iter().flatten().filter_map(|c| Some((c["address"].as_str()?.to_string(), c.pointer("/change/after_unknown")?.clone()))).collect();
        let config: BTreeMap<String, Value> = j
            .pointer("/configuration/root_module/resources")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|r| Some((r["address"].as_str()?.to_string(), r["expressions"].clone())))
            .collect();
        if let Some(region) = j.pointer("/configuration/provider_config/aws/expressions/region/constant_value").and_then(Value::as_str) {
            self.region.get_or_insert(region.to_string());
        }
        let mut resources = Vec::new();
        collect(&root, &mut resources);
        let by_address: BTreeMap<String, Value> = resources.iter().filter_map(|r| Some((r["address"].as_str()?.to_string(), r["values"].clone()))).collect();
        for r in &resources {
            let address = r["address"].as_str().unwrap_or_default().to_string();
            let v = &r["values"];
            let unknown_here = |field: &str| unknown.get(&address).and_then(|u| u.get(field)).is_some_and(|x| x == &Value::Bool(true));
            let referenced = |field: &str| -> Option<Value> {
                let refs = config.get(&address)?.get(field)?.get("references")?.as_array()?;
                refs.iter().filter_map(Value::as_str).find_map(|reference| by_address.get(reference).cloned())
            };
            let label = format!("{n}: {address}");
            match r["type"].as_str().unwrap_or_default() {
                "aws_iam_role" => {
                    let name = v["name"].as_str().map(str::to_string).unwrap_or_else(|| {
                        self.report.placeholders.push(format!("{address}.name — unknown until apply; named `{}`", r["name"].as_str().unwrap_or("role")));
                        r["name"].as_str().unwrap_or("role").to_string()
                    });
                    let policy = match v["assume_role_policy"].as_str().map(super::strict_json::parse) {
                        Some(Ok(p)) => Some(p),
                        Some(Err(e)) => {
                            self.report.ignored.push(format!("{label}: its assume_role_policy is not valid JSON ({e}); the role is imported without a trust policy"));
                            None
                        }
                        None => None,
                    };
                    if let Some(acct) = v["arn"].as_str().and_then(|a| a.split(':').nth(4)) {
                        self.account_id.get_or_insert(acct.to_string());
                    }
                    let role = self.role(&name);
                    if let Some(d) = v["max_session_duration"].as_u64() {
                        role.insert("max_session_duration".into(), d.into());
                    }
                    if let Some(p) = v["path"].as_str() {
                        role.insert("path".into(), p.into());
                    }
                    match policy {
                        Some(p) => {
                            role.insert("trust_policy".into(), p);
                            self.report.took.push(format!("{label}: role {name} with its trust policy"));
                        }
                        None => {
                            let why = if unknown_here("assume_role_policy") { "unknown until apply" } else { "absent" };
                            self.report.placeholders.push(format!("{address}.assume_role_policy — {why}; the role is imported without a trust policy, so it refuses every AssumeRole"));
                        }
                    }
                }
                "aws_iam_openid_connect_provider" => {
                    let url = v["url"].as_str().unwrap_or_default();
                    let url = if url.starts_with("https://") { url.to_string() } else { format!("https://{url}") };
                    self.oidc_provider(&label, &url, strings(&v["client_id_list"]), strings(&v["thumbprint_list"]));
                }
                "aws_iam_role_policy_attachment" => {
                    let role = v["role"].as_str().map(str::to_string).or_else(|| referenced("role").and_then(|r| r["name"].as_str().map(str::to_string)));
                    let arn = v["policy_arn"].as_str().map(str::to_string).unwrap_or_else(|| {
                        self.report.placeholders.push(format!("{address}.policy_arn — unknown until apply; recorded as `(unknown until apply)`"));
                        "(unknown until apply)".into()
                    });
                    match role {
                        Some(role) => {
                            let list = self.role(&role).entry("managed_policy_arns").or_insert_with(|| json!([]));
                            list.as_array_mut().expect("list").push(arn.clone().into());
                            self.report.took.push(format!("{label}: {arn} attached to {role}, kept as data (permissions are not evaluated)"));
                        }
                        None => self.report.ignored.push(format!("{label}: the role it attaches to is unknown until apply")),
                    }
                }
                "google_service_account" => {
                    let project = v["project"].as_str().map(str::to_string).or_else(|| self.project_id.clone());
                    if let Some(p) = &project {
                        self.project_id.get_or_insert(p.clone());
                    }
                    let email = service_account_email(v, project.as_deref());
                    let unique_id = v["unique_id"].as_str().map(str::to_string).unwrap_or_else(|| {
                        let id = placeholder_unique_id(&email);
                        self.report.placeholders.push(format!("{address}.unique_id — unknown until apply; {id}"));
                        id
                    });
                    self.account(&email).insert("unique_id".into(), unique_id.into());
                    self.report.took.push(format!("{label}: service account {email}"));
                }
                "google_iam_workload_identity_pool" => {
                    let id = v["workload_identity_pool_id"].as_str().unwrap_or_default().to_string();
                    if let Some(number) = v["name"].as_str().and_then(|s| s.split('/').nth(1)) {
                        self.project_number.get_or_insert(number.to_string());
                    }
                    let entry = self.pools.entry(id.clone()).or_default();
                    entry.0 = v["disabled"].as_bool().unwrap_or(false);
                    self.report.took.push(format!("{label}: pool {id}"));
                }
                "google_iam_workload_identity_pool_provider" => {
                    let pool = v["workload_identity_pool_id"]
                        .as_str()
                        .map(str::to_string)
                        .or_else(|| referenced("workload_identity_pool_id").and_then(|p| p["workload_identity_pool_id"].as_str().map(str::to_string)));
                    let Some(pool) = pool else {
                        self.report.ignored.push(format!("{label}: its pool is unknown until apply"));
                        continue;
                    };
                    let id = v["workload_identity_pool_provider_id"].as_str().unwrap_or_default();
                    let mut p = json!({"name": id});
                    if v["disabled"].as_bool() == Some(true) {
                        p["disabled"] = true.into();
                    }
                    if let Some(m) = v.get("attribute_mapping").filter(|m| m.is_object()) {
                        p["attribute_mapping"] = m.clone();
                    }
                    if let Some(c) = v["attribute_condition"].as_str().filter(|c| !c.is_empty()) {
                        p["attribute_condition"] = c.into();
                    }
                    if let Some(o) = v["oidc"].as_array().and_then(|a| a.first()) {
                        p["oidc"] = json!({"issuer_uri": o["issuer_uri"], "allowed_audiences": o.get("allowed_audiences").cloned().filter(Value::is_array).unwrap_or(json!([]))});
                    }
                    if let Some(a) = v["aws"].as_array().and_then(|a| a.first()) {
                        p["aws"] = json!({"account_id": a["account_id"]});
                    }
                    if v["saml"].as_array().is_some_and(|a| !a.is_empty()) || v["x509"].as_array().is_some_and(|a| !a.is_empty()) {
                        self.report.ignored.push(format!("{label}: SAML and X.509 providers are not emulated"));
                        continue;
                    }
                    self.pools.entry(pool.clone()).or_default().1.push(p);
                    self.report.took.push(format!("{label}: provider {pool}/{id}"));
                }
                kind @ ("google_service_account_iam_member" | "google_service_account_iam_binding" | "google_service_account_iam_policy") => {
                    let sa = v["service_account_id"]
                        .as_str()
                        .and_then(|s| s.rsplit('/').next())
                        .map(str::to_string)
                        .or_else(|| referenced("service_account_id").map(|s| service_account_email(&s, self.project_id.as_deref())));
                    let Some(sa) = sa else {
                        self.report.ignored.push(format!("{label}: its service account is unknown until apply"));
                        continue;
                    };
                    let bindings = match kind {
                        "google_service_account_iam_policy" => v["policy_data"].as_str().and_then(|s| super::strict_json::parse(s).ok()).unwrap_or(Value::Null),
                        "google_service_account_iam_member" => match v["member"].as_str() {
                            Some(m) => json!({"bindings": [{"role": v["role"], "members": [m]}]}),
                            None => {
                                self.report.ignored.push(format!("{label}: its member is unknown until apply (it names a resource created in the same apply)"));
                                continue;
                            }
                        },
                        _ => json!({"bindings": [{"role": v["role"], "members": v["members"]}]}),
                    };
                    if v.get("condition").and_then(Value::as_array).is_some_and(|c| !c.is_empty()) {
                        self.report.ignored.push(format!("{label}: conditional role bindings are not emulated"));
                        continue;
                    }
                    self.bindings(&label, &sa, &bindings);
                }
                other => self.report.ignored.push(format!("{label}: {other} is not part of identity federation")),
            }
        }
    }

    fn finish(mut self) -> (Value, Report) {
        let account_id = self.account_id.clone().unwrap_or_else(|| {
            self.report.placeholders.push("aws.account_id — not in the inputs; 123456789012".into());
            "123456789012".into()
        });
        let region = self.region.clone().unwrap_or_else(|| {
            self.report.placeholders.push("aws.region — not in the inputs; us-east-1".into());
            "us-east-1".into()
        });
        let mut world =
            json!({"aws": {"account_id": account_id, "region": region, "roles": self.roles.into_values().collect::<Vec<_>>(), "oidc_providers": self.providers.into_values().collect::<Vec<_>>()}});
        if !self.accounts.is_empty() || !self.pools.is_empty() {
            let number = self.project_number.clone().unwrap_or_else(|| {
                self.report.placeholders.push("gcp.project_number — unknown until apply; 100000000001".into());
                "100000000001".into()
            });
            for (email, account) in &mut self.accounts {
                if !account.contains_key("unique_id") {
                    let id = placeholder_unique_id(email);
                    self.report.placeholders.push(format!("the unique id of {email} — not in the inputs; {id}"));
                    account.insert("unique_id".into(), id.into());
                }
            }
            let pools: Vec<Value> = self.pools.into_iter().map(|(name, (disabled, providers))| json!({"name": name, "disabled": disabled, "providers": providers})).collect();
            world["gcp"] = json!({"project_id": self.project_id.unwrap_or_else(|| "imported-project".into()), "project_number": number, "service_accounts": self.accounts.into_values().collect::<Vec<_>>(), "workload_identity_pools": pools});
        }
        (world, self.report)
    }
}

fn collect(module: &Value, out: &mut Vec<Value>) {
    out.extend(module["resources"].as_array().into_iter().flatten().filter(|r| r["mode"] != "data").cloned());
    for child in module["child_modules"].as_array().into_iter().flatten() {
        collect(child, out);
    }
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_string).collect()
}

/// A stable 21-digit id for a service account whose id is unknown until apply.
fn placeholder_unique_id(email: &str) -> String {
    format!("1{:020}", crate::ids::stable_number(email))
}

/// A `google_service_account`'s email: its `email`, or `ACCOUNT_ID@PROJECT.iam.gserviceaccount.com`
/// while that is unknown until apply.
fn service_account_email(values: &Value, project: Option<&str>) -> String {
    values["email"].as_str().map(str::to_string).unwrap_or_else(|| {
        let project = values["project"].as_str().or(project).unwrap_or("project");
        format!("{}@{project}.iam.gserviceaccount.com", values["account_id"].as_str().unwrap_or("sa"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_terraform_state_imports_like_a_plan_with_child_modules() {
        let state = json!({"format_version": "1.0", "terraform_version": "1.9.8", "values": {"root_module": {"resources": [], "child_modules": [{"address": "module.wif", "resources": [
            {"address": "module.wif.aws_iam_openid_connect_provider.github", "mode": "managed", "type": "aws_iam_openid_connect_provider", "name": "github",
             "values": {"url": "https://token.actions.githubusercontent.com", "client_id_list": ["sts.amazonaws.com"], "thumbprint_list": []}},
            {"address": "module.wif.aws_iam_role.ci", "mode": "managed", "type": "aws_iam_role", "name": "ci",
             "values": {"name": "ci", "arn": "arn:aws:iam::210987654321:role/ci", "max_session_duration": 7200, "path": "/",
                        "assume_role_policy": "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Effect\":\"Allow\",\"Principal\":{\"Federated\":\"arn:aws:iam::210987654321:oidc-provider/token.actions.githubusercontent.com\"},\"Action\":\"sts:AssumeRoleWithWebIdentity\"}]}"}},
            {"address": "module.wif.data.aws_iam_policy_document.trust", "mode": "data", "type": "aws_iam_policy_document", "name": "trust", "values": {}}
        ]}]}}});
        let (yaml, report) = import(&[Input { name: "state.json".into(), subject: None, json: state }]).unwrap();
        let world = crate::world::load::parse("imported", &yaml).unwrap();
        assert_eq!(world.aws.account_id, "210987654321");
        assert_eq!(world.aws.roles[0].max_session_duration, 7200);
        assert_eq!(world.aws.oidc_providers[0].url, "https://token.actions.githubusercontent.com");
        assert!(report.placeholders.iter().any(|p| p.starts_with("aws.region")), "{report:?}");
        assert!(report.took.iter().any(|t| t.contains("module.wif.aws_iam_role.ci")), "{report:?}");
    }

    #[test]
    fn importing_onto_a_base_replaces_by_name_and_keeps_the_rest() {
        let base: Value = yaml_serde::from_str(crate::world::load::DEFAULT_WORLD_YAML).unwrap();
        let policy = json!({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "sts:*"}]});
        let (yaml, _) = import_onto(Some(base), &[Input { name: "p.json".into(), subject: Some("GitHubActionsECRRole".into()), json: policy.clone() }]).unwrap();
        let world = crate::world::load::parse("imported", &yaml).unwrap();
        let default = crate::world::load::default_world();
        assert_eq!(world.aws.roles.len(), default.aws.roles.len());
        assert_eq!(world.aws.roles.iter().find(|r| r.name == "GitHubActionsECRRole").unwrap().trust_policy.as_ref(), Some(&policy));
        assert_eq!(world.aws.ec2.as_ref().map(|e| &e.instance_id), default.aws.ec2.as_ref().map(|e| &e.instance_id));
    }
}
