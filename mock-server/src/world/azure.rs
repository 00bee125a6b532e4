//! Azure in the world (`azure:`): Entra ID tenants with their app registrations (secrets,
//! certificates, federated identity credentials), the APIs tokens are issued for, user-assigned
//! managed identities, and the machines whose managed identity the Azure IMDS and the App
//! Service identity endpoint serve. Ids the world leaves out (client ids, object ids, a VM's id)
//! are derived from names, the same for the same names.

use serde::Deserialize;

use crate::secret::Secret;

/// The `azure` section of a world.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AzureModel {
    /// Entra ID tenants (the first is the one machines and subscriptions belong to).
    #[serde(default)]
    pub tenants: Vec<TenantModel>,
    /// The subscription the machines' resources are in (default: derived from the tenant).
    #[serde(default)]
    pub subscription_id: Option<String>,
    /// The virtual machine the Azure IMDS at 169.254.169.254 answers for.
    #[serde(default)]
    pub vm: Option<MachineModel>,
    /// The App Service (or Functions, Container Apps) app whose `IDENTITY_ENDPOINT` answers.
    #[serde(default)]
    pub app_service: Option<MachineModel>,
}

/// An Entra ID tenant.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantModel {
    /// A short name: the `entra-NAME` issuer, and the default domain `NAME.onmicrosoft.com`.
    pub name: String,
    /// The tenant id, a GUID (default: derived from the name).
    #[serde(default)]
    pub id: Option<String>,
    /// App registrations (each with its service principal in this tenant).
    #[serde(default)]
    pub applications: Vec<ApplicationModel>,
    /// User-assigned managed identities.
    #[serde(default)]
    pub managed_identities: Vec<ManagedIdentityModel>,
}

/// An app registration and its service principal.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationModel {
    /// Display name.
    pub name: String,
    /// `appId`, the client id (default: derived).
    #[serde(default)]
    pub client_id: Option<String>,
    /// The service principal's object id, `oid` in its tokens (default: derived).
    #[serde(default)]
    pub object_id: Option<String>,
    /// Application ID URIs (`api://…`): what others ask tokens for (`api://…/.default`).
    #[serde(default)]
    pub identifier_uris: Vec<String>,
    /// `accessTokenAcceptedVersion` of the API it exposes: 1 (the default, `sts.windows.net`
    /// issuer) or 2.
    #[serde(default)]
    pub access_token_version: Option<u8>,
    /// Client secrets.
    #[serde(default)]
    pub secrets: Vec<ClientSecretModel>,
    /// Certificates (bundled fixture key names) it may sign client assertions with.
    #[serde(default)]
    pub certificates: Vec<String>,
    /// Federated identity credentials.
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredentialModel>,
}

/// A client secret.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSecretModel {
    /// The secret's value.
    pub value: Secret,
    /// When it expires (RFC 3339; default never).
    #[serde(default)]
    pub expires: Option<String>,
}

/// A federated identity credential: tokens of `issuer` with exactly `subject` and one of
/// `audiences` may be exchanged for the application's (or managed identity's) tokens.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FederatedCredentialModel {
    /// Its name.
    pub name: String,
    /// The issuer URL, compared exactly.
    pub issuer: String,
    /// The subject, compared exactly (case-sensitive).
    pub subject: String,
    /// Audiences (default `api://AzureADTokenExchange`).
    #[serde(default = "default_fic_audiences")]
    pub audiences: Vec<String>,
}

fn default_fic_audiences() -> Vec<String> {
    vec![FIC_AUDIENCE.to_string()]
}

/// The workload identity webhook's client-id annotation.
pub const AKS_CLIENT_ID_ANNOTATION: &str = "azure.workload.identity/client-id";
/// The workload identity webhook's tenant-id annotation.
pub const AKS_TENANT_ID_ANNOTATION: &str = "azure.workload.identity/tenant-id";
/// The workload identity webhook's token-lifetime annotation (default 3600).
pub const AKS_EXPIRATION_ANNOTATION: &str = "azure.workload.identity/service-account-token-expiration";

/// The audience Entra recommends for federated identity credentials.
pub const FIC_AUDIENCE: &str = "api://AzureADTokenExchange";

/// A user-assigned managed identity.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManagedIdentityModel {
    /// Its name (the last segment of its resource id).
    pub name: String,
    /// Its resource group (default `NAME-rg`… of the machine: `cloudid-rg`).
    #[serde(default = "default_resource_group")]
    pub resource_group: String,
    /// Client id (default: derived).
    #[serde(default)]
    pub client_id: Option<String>,
    /// Principal (object) id (default: derived).
    #[serde(default)]
    pub principal_id: Option<String>,
    /// Federated identity credentials (a user-assigned identity may carry them too).
    #[serde(default)]
    pub federated_credentials: Vec<FederatedCredentialModel>,
}

fn default_resource_group() -> String {
    "cloudid-rg".into()
}

/// A VM or an App Service app: its name, place and managed identities.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MachineModel {
    /// Its name.
    pub name: String,
    /// Its resource group.
    #[serde(default = "default_resource_group")]
    pub resource_group: String,
    /// Its region (`japaneast`).
    #[serde(default = "default_location")]
    pub location: String,
    /// Whether it has a system-assigned identity.
    #[serde(default)]
    pub system_assigned: bool,
    /// User-assigned identities attached to it (names in the tenant's `managed_identities`).
    #[serde(default)]
    pub user_assigned: Vec<String>,
    /// How long its managed identity tokens live (Entra's 24 hours; 60 … 86400).
    #[serde(default = "default_token_lifetime")]
    pub token_lifetime_seconds: u32,
}

fn default_token_lifetime() -> u32 {
    86_400
}

fn default_location() -> String {
    "japaneast".into()
}

/// One identity a token can be issued to, with every id filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// What it is, for messages: `application`, `system-assigned managed identity` or
    /// `user-assigned managed identity`.
    pub kind: IdentityKind,
    /// Its display name.
    pub name: String,
    /// Client (application) id.
    pub client_id: String,
    /// Object id of its service principal.
    pub object_id: String,
    /// Resource id (managed identities).
    pub resource_id: Option<String>,
}

/// The kinds of identity tokens are issued to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IdentityKind {
    /// An app registration's service principal.
    Application,
    /// A VM's or app's system-assigned identity.
    SystemAssigned,
    /// A user-assigned managed identity.
    UserAssigned,
}

/// A GUID derived from `name`.
pub fn guid(name: &str) -> String {
    crate::ids::stable_uuid(&format!("azure:{name}"))
}

impl TenantModel {
    /// The tenant id.
    pub fn tenant_id(&self) -> String {
        self.id.clone().unwrap_or_else(|| guid(&format!("tenant:{}", self.name)))
    }

    /// The tenant's initial domain, `NAME.onmicrosoft.com`.
    pub fn domain(&self) -> String {
        format!("{}.onmicrosoft.com", self.name)
    }

    /// The issuer name (`/issuers/NAME/…`, `cloudid token NAME`) of its v2.0 tokens.
    pub fn issuer_name(&self) -> String {
        format!("entra-{}", self.name)
    }

    /// The issuer name of its v1.0 tokens (`https://sts.windows.net/TID/`).
    pub fn v1_issuer_name(&self) -> String {
        format!("entra-{}-v1", self.name)
    }

    /// `iss` of its v2.0 tokens.
    pub fn v2_iss(&self) -> String {
        format!("https://login.microsoftonline.com/{}/v2.0", self.tenant_id())
    }

    /// `iss` of its v1.0 tokens.
    pub fn v1_iss(&self) -> String {
        format!("https://sts.windows.net/{}/", self.tenant_id())
    }

    /// Whether `tenant` (a GUID, in any case, or a domain) names this tenant.
    pub fn is_named(&self, tenant: &str) -> bool {
        tenant.eq_ignore_ascii_case(&self.tenant_id()) || tenant.eq_ignore_ascii_case(&self.domain())
    }

    /// The application whose client id is `client_id`.
    pub fn application(&self, client_id: &str) -> Option<&ApplicationModel> {
        self.applications.iter().find(|a| a.client_id().eq_ignore_ascii_case(client_id))
    }

    /// The user-assigned identity named `name`.
    pub fn managed_identity(&self, name: &str) -> Option<&ManagedIdentityModel> {
        self.managed_identities.iter().find(|m| m.name == name)
    }
}

impl ApplicationModel {
    /// `appId`.
    pub fn client_id(&self) -> String {
        self.client_id.clone().unwrap_or_else(|| guid(&format!("app:{}", self.name)))
    }

    /// The service principal's object id.
    pub fn object_id(&self) -> String {
        self.object_id.clone().unwrap_or_else(|| guid(&format!("sp:{}", self.name)))
    }

    /// The application as an [`Identity`].
    pub fn identity(&self) -> Identity {
        Identity { kind: IdentityKind::Application, name: self.name.clone(), client_id: self.client_id(), object_id: self.object_id(), resource_id: None }
    }
}

impl ManagedIdentityModel {
    /// Its resource id in `subscription`.
    pub fn resource_id(&self, subscription: &str) -> String {
        format!("/subscriptions/{subscription}/resourcegroups/{}/providers/Microsoft.ManagedIdentity/userAssignedIdentities/{}", self.resource_group, self.name)
    }

    /// The identity in `subscription`.
    pub fn identity(&self, subscription: &str) -> Identity {
        Identity {
            kind: IdentityKind::UserAssigned,
            name: self.name.clone(),
            client_id: self.client_id.clone().unwrap_or_else(|| guid(&format!("uami-client:{}", self.name))),
            object_id: self.principal_id.clone().unwrap_or_else(|| guid(&format!("uami-principal:{}", self.name))),
            resource_id: Some(self.resource_id(subscription)),
        }
    }
}

impl MachineModel {
    /// The machine's resource id in `subscription` (`provider`: `Microsoft.Compute/virtualMachines`
    /// or `Microsoft.Web/sites`).
    pub fn resource_id(&self, subscription: &str, provider: &str) -> String {
        format!("/subscriptions/{subscription}/resourceGroups/{}/providers/{provider}/{}", self.resource_group, self.name)
    }

    /// Its system-assigned identity, if it has one.
    pub fn system_identity(&self, subscription: &str, provider: &str) -> Option<Identity> {
        self.system_assigned.then(|| Identity {
            kind: IdentityKind::SystemAssigned,
            name: self.name.clone(),
            client_id: guid(&format!("system-client:{provider}:{}", self.name)),
            object_id: guid(&format!("system-principal:{provider}:{}", self.name)),
            // Entra writes `resourcegroups` in lower case in `xms_mirid`.
            resource_id: Some(self.resource_id(subscription, provider).replacen("/resourceGroups/", "/resourcegroups/", 1)),
        })
    }
}

impl AzureModel {
    /// The tenant machines and subscriptions belong to (the first).
    pub fn home_tenant(&self) -> Option<&TenantModel> {
        self.tenants.first()
    }

    /// The tenant named by `tenant` (id or domain).
    pub fn tenant(&self, tenant: &str) -> Option<&TenantModel> {
        self.tenants.iter().find(|t| t.is_named(tenant))
    }

    /// The subscription id.
    pub fn subscription(&self) -> String {
        self.subscription_id.clone().unwrap_or_else(|| guid(&format!("subscription:{}", self.home_tenant().map_or("", |t| t.name.as_str()))))
    }
}

/// The ARM provider of a VM, whose resource id a system-assigned identity's `xms_mirid` names.
pub const VM_PROVIDER: &str = "Microsoft.Compute/virtualMachines";
/// The ARM provider of an App Service app.
pub const APP_SERVICE_PROVIDER: &str = "Microsoft.Web/sites";

/// How a managed-identity token request names the identity it wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// `client_id`.
    ClientId(String),
    /// `object_id` (IMDS) or `principal_id` (App Service).
    ObjectId(String),
    /// `msi_res_id` (IMDS) or `mi_res_id` (App Service).
    ResourceId(String),
}

/// Why no identity answers a managed-identity token request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unpicked {
    /// None is attached, or none matches the selector.
    NotFound,
    /// Several user-assigned identities and no system-assigned one, and the request chose none.
    Ambiguous,
}

impl AzureModel {
    /// Every identity attached to `machine` (of ARM `provider`): its system-assigned one first.
    pub fn identities(&self, machine: &MachineModel, provider: &str) -> Vec<Identity> {
        let sub = self.subscription();
        let mut out: Vec<Identity> = machine.system_identity(&sub, provider).into_iter().collect();
        if let Some(t) = self.home_tenant() {
            out.extend(machine.user_assigned.iter().filter_map(|n| t.managed_identity(n)).map(|m| m.identity(&sub)));
        }
        out
    }

    /// The identity a request with `selector` gets from `machine`, as IMDS and App Service pick:
    /// the one named (ids compared without regard to case), else the system-assigned one, else
    /// the only user-assigned one.
    pub fn pick(&self, machine: &MachineModel, provider: &str, selector: Option<&Selector>) -> Result<Identity, Unpicked> {
        let all = self.identities(machine, provider);
        let found = match selector {
            Some(Selector::ClientId(id)) => all.into_iter().find(|i| i.client_id.eq_ignore_ascii_case(id)),
            Some(Selector::ObjectId(id)) => all.into_iter().find(|i| i.object_id.eq_ignore_ascii_case(id)),
            Some(Selector::ResourceId(id)) => all.into_iter().find(|i| i.kind == IdentityKind::UserAssigned && i.resource_id.as_deref().is_some_and(|r| r.eq_ignore_ascii_case(id))),
            None => {
                if let Some(system) = all.iter().find(|i| i.kind == IdentityKind::SystemAssigned) {
                    return Ok(system.clone());
                }
                return match all.len() {
                    0 => Err(Unpicked::NotFound),
                    1 => Ok(all[0].clone()),
                    _ => Err(Unpicked::Ambiguous),
                };
            }
        };
        found.ok_or(Unpicked::NotFound)
    }

    /// The confidential client `client_id` of `tenant`: an app registration or a user-assigned
    /// managed identity (which may present federated assertions), with its federated credentials.
    pub fn client<'a>(&'a self, tenant: &'a TenantModel, client_id: &str) -> Option<(Identity, Option<&'a ApplicationModel>, &'a [FederatedCredentialModel])> {
        if let Some(app) = tenant.application(client_id) {
            return Some((app.identity(), Some(app), &app.federated_credentials));
        }
        let sub = self.subscription();
        tenant.managed_identities.iter().map(|m| (m.identity(&sub), m)).find(|(i, _)| i.client_id.eq_ignore_ascii_case(client_id)).map(|(i, m)| (i, None, m.federated_credentials.as_slice()))
    }

    /// The value of `IDENTITY_HEADER` the App Service identity endpoint expects (from the seed).
    pub fn identity_header(seed: u64) -> String {
        guid(&format!("identity-header:{seed}"))
    }
}

/// Whether `id` is a GUID in its usual text form (8-4-4-4-12 hex digits).
pub fn is_guid(id: &str) -> bool {
    let parts: Vec<&str> = id.split('-').collect();
    parts.len() == 5 && parts.iter().zip([8, 4, 4, 4, 12]).all(|(p, n)| p.len() == n && p.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Checks the `azure` section: unique names, GUIDs where Azure has GUIDs, attached identities
/// that exist, federated credentials as Entra accepts them, certificates that are bundled keys.
pub(crate) fn validate(w: &super::WorldModel) -> Result<(), (String, String)> {
    let a = &w.azure;
    let bad = |field: String, why: String| Err((field, why));
    let guid_field = |field: String, id: &Option<String>| match id {
        Some(id) if !is_guid(id) => Err((field, format!("`{id}` is not a GUID (8-4-4-4-12 hex digits)"))),
        _ => Ok(()),
    };
    guid_field("azure.subscription_id".into(), &a.subscription_id)?;
    let mut tenant_names = std::collections::HashSet::new();
    for (i, t) in a.tenants.iter().enumerate() {
        let f = |k: &str| format!("azure.tenants[{i}].{k}");
        if t.name.is_empty() || t.name.len() > 27 || !t.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) || !tenant_names.insert(t.name.as_str()) {
            return bad(f("name"), format!("`{}` must be a unique tenant name of lower-case letters and digits (its domain is NAME.onmicrosoft.com)", t.name));
        }
        guid_field(f("id"), &t.id)?;
        let mut clients = std::collections::HashSet::new();
        for (j, app) in t.applications.iter().enumerate() {
            let g = |k: &str| format!("azure.tenants[{i}].applications[{j}].{k}");
            guid_field(g("client_id"), &app.client_id)?;
            guid_field(g("object_id"), &app.object_id)?;
            if !clients.insert(app.client_id().to_ascii_lowercase()) {
                return bad(g("client_id"), format!("application `{}` has the client id of another", app.name));
            }
            if app.access_token_version.is_some_and(|v| v != 1 && v != 2) {
                return bad(g("access_token_version"), "must be 1 or 2 (accessTokenAcceptedVersion)".into());
            }
            for (k, uri) in app.identifier_uris.iter().enumerate() {
                if !(uri.starts_with("api://") || uri.starts_with("https://")) || uri.len() > 400 {
                    return bad(format!("{}[{k}]", g("identifier_uris")), format!("`{uri}` is not an application ID URI (api://… or https://…)"));
                }
            }
            for (k, s) in app.secrets.iter().enumerate() {
                if let Some(e) = &s.expires
                    && crate::clock::parse_rfc3339(e).is_err()
                {
                    return bad(format!("{}[{k}].expires", g("secrets")), format!("`{e}` is not an RFC 3339 timestamp"));
                }
            }
            for (k, c) in app.certificates.iter().enumerate() {
                if super::issuers::fixture_name(c).is_none() {
                    return bad(format!("{}[{k}]", g("certificates")), format!("`{c}` is not a bundled key (fixtures/keys): use entra-app-1"));
                }
            }
            check_fics(&g("federated_credentials"), &app.federated_credentials)?;
        }
        for (j, m) in t.managed_identities.iter().enumerate() {
            let g = |k: &str| format!("azure.tenants[{i}].managed_identities[{j}].{k}");
            guid_field(g("client_id"), &m.client_id)?;
            guid_field(g("principal_id"), &m.principal_id)?;
            if t.managed_identities.iter().filter(|o| o.name == m.name).count() > 1 {
                return bad(g("name"), format!("managed identity `{}` is declared twice", m.name));
            }
            check_fics(&g("federated_credentials"), &m.federated_credentials)?;
        }
    }
    for (field, machine) in [("azure.vm", &a.vm), ("azure.app_service", &a.app_service)] {
        let Some(m) = machine else { continue };
        let Some(home) = a.home_tenant() else {
            return bad(field.into(), "a machine needs a tenant (azure.tenants) for its identities".into());
        };
        if !(60..=86_400).contains(&m.token_lifetime_seconds) {
            return bad(format!("{field}.token_lifetime_seconds"), format!("{} is outside 60 … 86400 seconds", m.token_lifetime_seconds));
        }
        for (k, n) in m.user_assigned.iter().enumerate() {
            if home.managed_identity(n).is_none() {
                return bad(format!("{field}.user_assigned[{k}]"), format!("no managed identity `{n}` in tenant `{}`", home.name));
            }
        }
    }
    Ok(())
}

/// Entra's rules for federated identity credentials: at most 20, unique names and (issuer,
/// subject) pairs, exactly one audience, an https issuer.
fn check_fics(field: &str, fics: &[FederatedCredentialModel]) -> Result<(), (String, String)> {
    if fics.len() > 20 {
        return Err((field.into(), "at most 20 federated identity credentials".into()));
    }
    for (k, c) in fics.iter().enumerate() {
        let f = |x: &str| format!("{field}[{k}].{x}");
        if fics.iter().filter(|o| o.name == c.name).count() > 1 || c.name.is_empty() {
            return Err((f("name"), format!("`{}` must be a unique, non-empty name", c.name)));
        }
        if !c.issuer.starts_with("https://") {
            return Err((f("issuer"), format!("`{}` is not an https:// issuer URL", c.issuer)));
        }
        if c.subject.is_empty() || fics.iter().filter(|o| o.issuer == c.issuer && o.subject == c.subject).count() > 1 {
            return Err((f("subject"), "must be non-empty and unique with its issuer".into()));
        }
        if c.audiences.len() != 1 {
            return Err((f("audiences"), format!("Entra takes exactly one audience, not {}", c.audiences.len())));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(yaml: &str) -> AzureModel {
        yaml_serde::from_str(yaml).unwrap()
    }

    #[test]
    fn imds_picks_the_named_identity_else_the_system_one_else_the_only_user_one() {
        let m = model("tenants: [{name: acme, managed_identities: [{name: a}, {name: b}]}]\nvm: {name: vm1, system_assigned: true, user_assigned: [a, b]}");
        let vm = m.vm.clone().unwrap();
        assert_eq!(m.pick(&vm, VM_PROVIDER, None).unwrap().kind, IdentityKind::SystemAssigned);
        let b = m.tenants[0].managed_identities[1].identity(&m.subscription());
        assert_eq!(m.pick(&vm, VM_PROVIDER, Some(&Selector::ClientId(b.client_id.to_uppercase()))).unwrap(), b);
        assert_eq!(m.pick(&vm, VM_PROVIDER, Some(&Selector::ResourceId(b.resource_id.clone().unwrap()))).unwrap(), b);
        assert_eq!(m.pick(&vm, VM_PROVIDER, Some(&Selector::ObjectId("00000000-0000-0000-0000-000000000000".into()))), Err(Unpicked::NotFound));
        let two = model("tenants: [{name: acme, managed_identities: [{name: a}, {name: b}]}]\nvm: {name: vm1, user_assigned: [a, b]}");
        assert_eq!(two.pick(two.vm.as_ref().unwrap(), VM_PROVIDER, None), Err(Unpicked::Ambiguous));
        let one = model("tenants: [{name: acme, managed_identities: [{name: a}]}]\nvm: {name: vm1, user_assigned: [a]}");
        assert_eq!(one.pick(one.vm.as_ref().unwrap(), VM_PROVIDER, None).unwrap().name, "a");
        let none = model("tenants: [{name: acme}]\nvm: {name: vm1}");
        assert_eq!(none.pick(none.vm.as_ref().unwrap(), VM_PROVIDER, None), Err(Unpicked::NotFound));
    }
}
