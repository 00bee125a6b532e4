//! Files a world references instead of inlining: a role's `trust_policy_file` (the JSON users
//! pass to `aws iam create-role`), a service account's `iam_policy_file` (what `gcloud iam
//! service-accounts get-iam-policy --format=json` prints). Read at load, relative to the world
//! file, so the loaded model is self-contained.

use std::path::Path;

use serde_json::Value;

use super::model::{BindingModel, RoleModel, WorldModel};

type Invalid = (String, String);

/// The largest referenced file read: 1 MiB (IAM's trust policies stop at 4 KiB, Google's
/// policies at 1,500 members).
const MAX_BYTES: u64 = 1 << 20;

fn read_json(base: Option<&Path>, field: &str, name: &str) -> Result<Value, Invalid> {
    let bad = |msg: String| Err((field.to_string(), msg));
    let Some(base) = base else {
        return bad(format!("`{name}`: a world given as text cannot reference files; load it from a file"));
    };
    let path = base.join(name);
    let meta = match std::fs::metadata(&path) {
        Ok(m) => m,
        Err(e) => return bad(format!("cannot read {}: {e}", path.display())),
    };
    if !meta.is_file() || meta.len() > MAX_BYTES {
        return bad(format!("{} must be a regular file of at most {MAX_BYTES} bytes", path.display()));
    }
    let text = std::fs::read_to_string(&path).map_err(|e| (field.to_string(), format!("cannot read {}: {e}", path.display())))?;
    super::strict_json::parse(&text).map_err(|e| (field.to_string(), format!("{} is not JSON: line {}, column {}: {e}", path.display(), e.line(), e.column())))
}

fn roles(at: &str, roles: &mut [RoleModel], base: Option<&Path>) -> Result<(), Invalid> {
    for (i, role) in roles.iter_mut().enumerate() {
        let Some(name) = role.trust_policy_file.clone() else { continue };
        let field = format!("{at}.roles[{i}].trust_policy_file");
        if role.trust_policy.is_some() {
            return Err((field, "give trust_policy or trust_policy_file, not both".into()));
        }
        let policy = read_json(base, &field, &name)?;
        crate::verify::iam_policy::validate(&policy).map_err(|e| (field.clone(), format!("{name}: MalformedPolicyDocument: {}", e.0)))?;
        role.trust_policy = Some(policy);
    }
    Ok(())
}

/// Reads every referenced file into `model`; the field that names a file that cannot be used,
/// and why, otherwise.
pub(crate) fn resolve(model: &mut WorldModel, base: Option<&Path>) -> Result<(), Invalid> {
    roles("aws", &mut model.aws.roles, base)?;
    for (k, account) in model.aws.accounts.iter_mut().enumerate() {
        roles(&format!("aws.accounts[{k}]"), &mut account.roles, base)?;
    }
    for (i, sa) in model.gcp.service_accounts.iter_mut().enumerate() {
        let Some(name) = sa.iam_policy_file.clone() else { continue };
        let field = format!("gcp.service_accounts[{i}].iam_policy_file");
        let policy = read_json(base, &field, &name)?;
        sa.bindings.extend(bindings(&policy).map_err(|m| (field.clone(), format!("{name}: {m}")))?);
    }
    Ok(())
}

/// The bindings of a Google IAM policy (`{"bindings": [{"role", "members", "condition"?}], "etag", "version"}`).
pub(crate) fn bindings(policy: &Value) -> Result<Vec<BindingModel>, String> {
    let Some(list) = policy.get("bindings") else {
        return Ok(Vec::new());
    };
    let Value::Array(list) = list else {
        return Err("`bindings` is not a list".into());
    };
    list.iter()
        .enumerate()
        .map(|(i, b)| {
            if b.get("condition").is_some() {
                return Err(format!("bindings[{i}] has a condition: conditional role bindings on service accounts are not emulated"));
            }
            let role = b.get("role").and_then(Value::as_str).ok_or_else(|| format!("bindings[{i}] has no role"))?;
            let members = b.get("members").and_then(Value::as_array).ok_or_else(|| format!("bindings[{i}] has no members"))?;
            let members = members.iter().map(|m| m.as_str().map(str::to_string).ok_or_else(|| format!("bindings[{i}].members holds a non-string"))).collect::<Result<_, _>>()?;
            Ok(BindingModel { role: role.to_string(), members })
        })
        .collect()
}
