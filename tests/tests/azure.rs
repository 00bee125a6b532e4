//! Azure: azure-identity (Python) on the Azure IMDS and the App Service identity endpoint with
//! only their endpoint variables, and under `cloudid exec` with none (workload identity on AKS,
//! GitHub Actions to Entra, a client secret, a certificate; an Azure VM reaching Google); every
//! refusal of IMDS and Entra in their words and codes; the response shapes snapshotted.

use std::collections::BTreeMap;
use std::time::Duration;

use cloudid_mock::world::azure::{APP_SERVICE_PROVIDER, AzureModel, IdentityKind, VM_PROVIDER};
use cloudid_mock::{CloudId, JournalEntry, Verdict};
use cloudid_tests::{ClientRun, client_program, exec, fixed_cloud, python, run_client, workspace_root};
use reqwest::Client;
use serde_json::{Value, json};

const TENANT: &str = "8f3a6c1e-2b4d-4e5f-9a7b-1c2d3e4f5a6b";
const DEPLOYER: &str = "6e8f1b2a-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
const SECRET: &str = "cloudid~example~secret~not~a~real~one";
const UAMI_CLIENT: &str = "7a9b1c3d-5e7f-4a1b-8c3d-5e7f9a1b3c5d";
const ARM: &str = "https://management.azure.com/.default";

fn credential_py() -> String {
    client_program("python-azure-identity/credential.py").display().to_string()
}

fn azure_client(env: BTreeMap<String, String>, kind: &str, scope: &str) -> ClientRun {
    run_client(&python(), &[&credential_py(), kind, scope], &env, Duration::from_secs(90))
}

fn ok(run: &ClientRun) -> &Value {
    assert_eq!(run.code, Some(0), "stdout: {}\nstderr: {}", run.stdout, run.stderr);
    &run.result
}

fn entry<'a>(journal: &'a [JournalEntry], service: &str, operation: &str) -> &'a JournalEntry {
    journal.iter().rev().find(|e| e.service == service && e.operation == operation).unwrap_or_else(|| panic!("no {service}.{operation} in {journal:#?}"))
}

fn identity(world: &AzureModel, provider: &str, kind: IdentityKind) -> cloudid_mock::world::azure::Identity {
    let machine = if provider == VM_PROVIDER { world.vm.as_ref() } else { world.app_service.as_ref() }.expect("the default world has it");
    world.identities(machine, provider).into_iter().find(|i| i.kind == kind).expect("attached")
}

#[tokio::test]
async fn default_azure_credential_on_a_vm_gets_the_system_assigned_identitys_token_from_imds() {
    let cloud = CloudId::start().await;
    let env = BTreeMap::from([("AZURE_POD_IDENTITY_AUTHORITY_HOST".to_string(), cloud.endpoint())]);
    let run = tokio::task::spawn_blocking(move || azure_client(env, "default", ARM)).await.unwrap();
    let result = ok(&run);
    let system = identity(&cloud.world().azure, VM_PROVIDER, IdentityKind::SystemAssigned);
    assert_eq!(result["credential"], "DefaultAzureCredential");
    assert_eq!(result["aud"], "https://management.azure.com", "a v1.0 token carries the resource as asked: azure-identity strips /.default");
    assert_eq!(result["iss"], format!("https://sts.windows.net/{TENANT}/"));
    assert_eq!((result["client_id"].as_str(), result["oid"].as_str()), (Some(system.client_id.as_str()), Some(system.object_id.as_str())));
    assert_eq!(result["xms_mirid"].as_str(), system.resource_id.as_deref());
    let e = entry(&cloud.journal(), "azure_imds", "GetManagedIdentityToken").clone();
    assert_eq!(e.verdict, Verdict::Granted);
    assert_eq!(e.issued.as_ref().map(|i| i.token_fingerprint.as_str()), result["access_token_fingerprint"].as_str());
}

#[tokio::test]
async fn a_user_assigned_identity_is_chosen_by_its_client_id() {
    let cloud = CloudId::start().await;
    let env = BTreeMap::from([("AZURE_POD_IDENTITY_AUTHORITY_HOST".to_string(), cloud.endpoint()), ("AZURE_CLIENT_ID".to_string(), UAMI_CLIENT.to_string())]);
    let run = tokio::task::spawn_blocking(move || azure_client(env, "managed", "https://vault.azure.net/.default")).await.unwrap();
    let result = ok(&run);
    assert_eq!(result["client_id"], UAMI_CLIENT);
    assert!(result["xms_mirid"].as_str().unwrap().ends_with("/providers/Microsoft.ManagedIdentity/userAssignedIdentities/embulk-azure-identity"));
}

#[tokio::test]
async fn default_azure_credential_on_app_service_uses_the_identity_endpoint_with_its_header() {
    let cloud = CloudId::start().await;
    let env = BTreeMap::from([("IDENTITY_ENDPOINT".to_string(), format!("{}/msi/token", cloud.endpoint())), ("IDENTITY_HEADER".to_string(), AzureModel::identity_header(cloud.world().seed))]);
    let run = tokio::task::spawn_blocking(move || azure_client(env, "default", "https://storage.azure.com/.default")).await.unwrap();
    let result = ok(&run);
    let system = identity(&cloud.world().azure, APP_SERVICE_PROVIDER, IdentityKind::SystemAssigned);
    assert_eq!(result["client_id"].as_str(), Some(system.client_id.as_str()));
    assert!(system.resource_id.as_deref().unwrap().ends_with("/providers/Microsoft.Web/sites/reply-bot-app"));
    assert_eq!(entry(&cloud.journal(), "app_service_identity", "GetManagedIdentityToken").verdict, Verdict::Granted);
}

/// A query, headers, and the `error_description` IMDS answers.
type ImdsCase<'a> = (&'a str, &'a [(&'a str, &'a str)], &'a str);
/// A tenant, a form, and the status, `error` and AADSTS code Entra answers.
type EntraCase<'a> = (&'a str, Vec<(&'a str, &'a str)>, u16, &'a str, u64);

async fn imds(cloud: &CloudId, query: &str, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut req = Client::new().get(format!("{}/metadata/identity/oauth2/token?{query}", cloud.endpoint()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn imds_answers_every_field_as_a_string_and_refuses_as_azure_does() {
    let cloud = fixed_cloud().await;
    let meta = [("Metadata", "true")];
    let (status, body) = imds(&cloud, "api-version=2018-02-01&resource=https%3A%2F%2Fmanagement.azure.com%2F", &meta).await;
    assert_eq!(status, 200);
    let mut shape = body.clone();
    shape["access_token"] = json!("[jwt]");
    insta::assert_json_snapshot!("azure_imds_token", shape);
    assert!(body.as_object().unwrap().values().all(Value::is_string), "the Rust SDK parses expires_on only as a string");
    let cases: &[ImdsCase] = &[
        ("api-version=2018-02-01&resource=x", &[], "Required metadata header not specified"),
        ("", &[], "Required metadata header not specified"),
        ("api-version=2018-02-01&resource=x", &[("Metadata", "false")], "Required metadata header not specified"),
        ("api-version=2018-02-01&resource=https://vault.azure.net", &[("Metadata", "true"), ("X-Forwarded-For", "10.0.0.9")], "Request contains X-Forwarded-For header"),
        ("api-version=2018-02-01", &meta, "Required query variable 'resource' is missing"),
        ("api-version=2018-02-01&resource=https://vault.azure.net&client_id=00000000-0000-4000-8000-000000000000", &meta, "Identity not found"),
        ("api-version=2018-02-01&resource=https://vault.azure.net&resource=https://vault.azure.net", &meta, "Duplicate query parameter 'resource'"),
    ];
    for (query, headers, words) in cases {
        let (status, body) = imds(&cloud, query, headers).await;
        assert_eq!((status, body["error_description"].as_str()), (400, Some(*words)), "{query} {headers:?}: {body}");
    }
    for query in ["resource=https://vault.azure.net", "api-version=2017-12-01&resource=https://vault.azure.net", "api-version=2030-01-01&resource=x"] {
        let (status, body) = imds(&cloud, query, &meta).await;
        assert_eq!(status, 400);
        assert!(body["error"].as_str().unwrap().starts_with("Bad request. api-version is invalid"), "{query}: {body}");
        assert_eq!(body["newest-versions"].as_array().map(Vec::len), Some(3));
    }
    let (status, body) = imds(&cloud, "api-version=2019-08-01&resource=api%3A%2F%2Fnobody", &meta).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_resource")));
    assert!(body["error_description"].as_str().unwrap().starts_with("AADSTS500011: The resource principal named api://nobody was not found in the tenant named acme."));
    let denied = cloud.journal().into_iter().filter(|e| e.service == "azure_imds" && e.verdict == Verdict::Denied).count();
    assert_eq!(denied, cases.len() + 4, "every refusal is journaled as denied");
    let post = Client::new().post(format!("{}/metadata/identity/oauth2/token?api-version=2018-02-01&resource=x", cloud.endpoint())).header("Metadata", "true").send().await.unwrap();
    assert_eq!(post.status(), 405);
}

#[tokio::test]
async fn a_vm_with_two_user_assigned_identities_and_no_system_one_must_be_told_which() {
    let mut world = cloudid_mock::world::default_world();
    world.azure.tenants[0].managed_identities.push(yaml_identity("second"));
    let vm = world.azure.vm.as_mut().unwrap();
    vm.system_assigned = false;
    vm.user_assigned.push("second".into());
    let cloud = CloudId::builder().world(world).clock(cloudid_tests::fixed_clock()).start().await;
    let (status, body) = imds(&cloud, "api-version=2018-02-01&resource=https://vault.azure.net", &[("Metadata", "true")]).await;
    assert_eq!((status, body["error_description"].as_str()), (400, Some("Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request")));
    let (status, body) = imds(&cloud, &format!("api-version=2018-02-01&resource=https://vault.azure.net&client_id={UAMI_CLIENT}"), &[("Metadata", "true")]).await;
    assert_eq!(status, 200, "{body}");
}

fn yaml_identity(name: &str) -> cloudid_mock::world::azure::ManagedIdentityModel {
    serde_json::from_value(json!({"name": name})).unwrap()
}

#[tokio::test]
async fn the_instance_document_and_identity_info_answer_for_the_vm() {
    let cloud = fixed_cloud().await;
    let get = |path: &str| Client::new().get(format!("{}{path}", cloud.endpoint())).header("Metadata", "true").send();
    let doc: Value = get("/metadata/instance?api-version=2021-02-01").await.unwrap().json().await.unwrap();
    assert_eq!(doc["compute"]["name"], "embulk-vm");
    assert_eq!(doc["compute"]["subscriptionId"], "5b8c2d4e-6f7a-4b9c-8d1e-2f3a4b5c6d7e");
    assert_eq!(doc["compute"]["platformFaultDomain"], "0", "every primitive is a string");
    let location = get("/metadata/instance/compute/location?api-version=2021-02-01&format=text").await.unwrap().text().await.unwrap();
    assert_eq!(location, "japaneast");
    assert_eq!(get("/metadata/instance/compute/location?api-version=2021-02-01").await.unwrap().status(), 400, "a leaf needs format=text");
    let info: Value = get("/metadata/identity/info?api-version=2018-02-01").await.unwrap().json().await.unwrap();
    assert_eq!(info, json!({"tenantId": TENANT}));
}

async fn app_service(cloud: &CloudId, query: &str, header: Option<&str>) -> (u16, Value) {
    let mut req = Client::new().get(format!("{}/msi/token?{query}", cloud.endpoint()));
    if let Some(h) = header {
        req = req.header("X-IDENTITY-HEADER", h);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn the_app_service_endpoint_wants_its_header_and_version_and_answers_in_its_own_shape() {
    let cloud = fixed_cloud().await;
    let header = AzureModel::identity_header(cloud.world().seed);
    let (status, mut body) = app_service(&cloud, "api-version=2019-08-01&resource=https://vault.azure.net", Some(&header)).await;
    assert_eq!(status, 200);
    assert!(body["expires_on"].is_string());
    body["access_token"] = json!("[jwt]");
    insta::assert_json_snapshot!("app_service_token", body);
    let refusals = [
        ("api-version=2019-08-01&resource=https://vault.azure.net", None, 401),
        ("api-version=2019-08-01&resource=https://vault.azure.net", Some("wrong"), 401),
        ("api-version=2017-09-01&resource=https://vault.azure.net", Some(header.as_str()), 400),
        ("api-version=2019-08-01", Some(header.as_str()), 400),
        ("api-version=2019-08-01&resource=https://vault.azure.net&client_id=00000000-0000-4000-8000-000000000000", Some(header.as_str()), 400),
        ("api-version=2019-08-01&resource=api://nobody", Some(header.as_str()), 500),
    ];
    for (query, h, want) in refusals {
        let (status, body) = app_service(&cloud, query, h).await;
        assert_eq!(status, want, "{query}: {body}");
        assert!(body["message"].is_string() && body["correlationId"].is_string() && body["statusCode"] == json!(want), "{body}");
    }
    let (_, body) = app_service(&cloud, "api-version=2019-08-01&resource=https://vault.azure.net&client_id=00000000-0000-4000-8000-000000000000", Some(&header)).await;
    assert_eq!(body["message"], "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.");
}

async fn entra_token(cloud: &CloudId, tenant: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let r = Client::new().post(format!("{}/{tenant}/oauth2/v2.0/token", cloud.endpoint())).header("host", "login.microsoftonline.com").form(form).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn aadsts(body: &Value) -> (Option<&str>, Option<u64>) {
    (body["error"].as_str(), body["error_codes"][0].as_u64())
}

async fn github_token(cloud: &CloudId, audience: &str, claims: Value) -> String {
    let request = cloudid_mock::TokenRequest { audience: Some(audience.into()), claims: claims.as_object().cloned().unwrap_or_default(), ..Default::default() };
    cloud.control().mint("github", &request).await.unwrap()
}

#[tokio::test]
async fn entra_grants_a_client_secret_and_refuses_each_mistake_with_its_aadsts_code() {
    let cloud = fixed_cloud().await;
    let base = [("grant_type", "client_credentials"), ("client_id", DEPLOYER), ("scope", "https://vault.azure.net/.default")];
    let with = |extra: &[(&'static str, &'static str)]| base.iter().chain(extra).copied().collect::<Vec<_>>();
    let (status, mut body) = entra_token(&cloud, "acme.onmicrosoft.com", &with(&[("client_secret", SECRET)])).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!((body["expires_in"].as_i64(), body["token_type"].as_str()), (Some(3599), Some("Bearer")), "expires_in is a number: the Rust SDK needs one");
    body["access_token"] = json!("[jwt]");
    insta::assert_json_snapshot!("entra_token", body);
    let (status, body) = entra_token(&cloud, "acme.onmicrosoft.com", &with(&[("client_secret", "nope")])).await;
    assert_eq!((status, aadsts(&body)), (401, (Some("invalid_client"), Some(7_000_215))));
    let description = body["error_description"].as_str().unwrap();
    assert!(description.starts_with("AADSTS7000215: Invalid client secret provided.") && description.contains(" Trace ID: ") && !description.contains('\r'), "{description}");
    let mut shape = body.clone();
    for k in ["error_description", "trace_id", "correlation_id", "timestamp"] {
        shape[k] = json!(format!("[{k}]"));
    }
    insta::assert_json_snapshot!("entra_error", shape);
    let cases: Vec<EntraCase> = vec![
        ("nobody.onmicrosoft.com", with(&[("client_secret", SECRET)]), 400, "invalid_request", 90_002),
        ("not a tenant", with(&[("client_secret", SECRET)]), 400, "invalid_request", 900_023),
        (
            "acme.onmicrosoft.com",
            vec![("grant_type", "client_credentials"), ("client_id", "00000000-0000-4000-8000-000000000000"), ("scope", ARM), ("client_secret", SECRET)],
            400,
            "unauthorized_client",
            700_016,
        ),
        (
            "acme.onmicrosoft.com",
            vec![("grant_type", "client_credentials"), ("client_id", DEPLOYER), ("scope", "https://vault.azure.net/read"), ("client_secret", SECRET)],
            400,
            "invalid_scope",
            1_002_012,
        ),
        (
            "acme.onmicrosoft.com",
            vec![("grant_type", "client_credentials"), ("client_id", DEPLOYER), ("scope", "https://vault.azure.net/.default https://storage.azure.com/.default"), ("client_secret", SECRET)],
            400,
            "invalid_scope",
            70_011,
        ),
        ("acme.onmicrosoft.com", vec![("grant_type", "client_credentials"), ("client_id", DEPLOYER), ("scope", "api://nobody/.default"), ("client_secret", SECRET)], 400, "invalid_resource", 500_011),
        ("acme.onmicrosoft.com", with(&[]), 401, "invalid_client", 7_000_218),
        ("acme.onmicrosoft.com", vec![("client_id", DEPLOYER), ("scope", ARM), ("client_secret", SECRET)], 400, "invalid_request", 900_144),
        ("acme.onmicrosoft.com", vec![("grant_type", "password"), ("client_id", DEPLOYER), ("scope", ARM)], 400, "unsupported_grant_type", 70_003),
        ("acme.onmicrosoft.com", with(&[("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"), ("client_assertion", "not-a-jwt")]), 400, "invalid_request", 50_027),
    ];
    for (tenant, form, status, error, code) in cases {
        let (got, body) = entra_token(&cloud, tenant, &form).await;
        assert_eq!((got, aadsts(&body)), (status, (Some(error), Some(code))), "{tenant} {form:?}: {body}");
    }
}

#[tokio::test]
async fn an_expired_client_secret_is_refused_as_expired() {
    let mut world = cloudid_mock::world::default_world();
    world.azure.tenants[0].applications[0].secrets[0].expires = Some("2026-01-01T00:00:00Z".into());
    let cloud = CloudId::builder().world(world).clock(cloudid_tests::fixed_clock()).start().await;
    let form = [("grant_type", "client_credentials"), ("client_id", DEPLOYER), ("scope", ARM), ("client_secret", SECRET)];
    let (status, body) = entra_token(&cloud, TENANT, &form).await;
    assert_eq!((status, aadsts(&body)), (401, (Some("invalid_client"), Some(7_000_222))));
}

#[tokio::test]
async fn a_federated_assertion_must_match_a_credential_exactly_and_be_a_live_signed_token() {
    let cloud = CloudId::start().await;
    let now = cloud.clock().now().unix_timestamp();
    let fic = "api://AzureADTokenExchange";
    let exchange = |assertion: String| {
        let cloud = &cloud;
        async move {
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", DEPLOYER),
                ("scope", ARM),
                ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
                ("client_assertion", assertion.as_str()),
            ];
            entra_token(cloud, TENANT, &form).await
        }
    };
    let (status, body) = exchange(github_token(&cloud, fic, json!({})).await).await;
    assert_eq!(status, 200, "the world's job is repo:acme/ecs-express-mode-api:ref:refs/heads/main: {body}");
    let cases = [
        (github_token(&cloud, fic, json!({"sub": "repo:acme/ecs-express-mode-api:ref:refs/heads/dev"})).await, 700_213, "subject"),
        (github_token(&cloud, fic, json!({"sub": "repo:ACME/ecs-express-mode-api:ref:refs/heads/main"})).await, 700_213, "a subject differing in case"),
        (github_token(&cloud, "sts.amazonaws.com", json!({})).await, 70_021, "audience"),
        (github_token(&cloud, fic, json!({"iss": "https://token.actions.githubusercontent.com/"})).await, 700_211, "an issuer with a trailing slash"),
        (github_token(&cloud, fic, json!({"exp": now - 3600, "iat": now - 7200, "nbf": now - 7200})).await, 700_024, "expired"),
        (github_token(&cloud, fic, json!({"exp": now + 86_400, "iat": now - 7200, "nbf": now - 7200})).await, 70_023, "a lifetime over 25 hours"),
    ];
    for (assertion, code, what) in cases {
        let (_, body) = exchange(assertion).await;
        assert_eq!(body["error_codes"][0].as_u64(), Some(code), "{what}: {body}");
    }
    let mut forged = github_token(&cloud, fic, json!({})).await;
    forged.replace_range(forged.len() - 4.., "AAAA");
    let (status, body) = exchange(forged).await;
    assert_eq!((status, aadsts(&body).0), (401, Some("invalid_client")), "a bad signature: {body}");
    let header = json!({"kid": "cloudid-unpublished"}).as_object().cloned().unwrap();
    let unknown_kid = cloud.control().mint("github", &cloudid_mock::TokenRequest { audience: Some(fic.into()), header, ..Default::default() }).await.unwrap();
    let (_, body) = exchange(unknown_kid).await;
    assert_eq!(body["error_codes"][0].as_u64(), Some(7_000_272));
    let entra_issued = cloud.control().mint("entra-acme", &cloudid_mock::TokenRequest { audience: Some(fic.into()), ..Default::default() }).await.unwrap();
    let (_, body) = exchange(entra_issued).await;
    assert_eq!(body["error_codes"][0].as_u64(), Some(700_222));
}

#[tokio::test]
async fn entra_publishes_discovery_and_keys_with_the_tenant_guid_and_keys_named_by_thumbprint() {
    let cloud = fixed_cloud().await;
    let get = |path: String| Client::new().get(format!("{}{path}", cloud.endpoint())).header("host", "login.microsoftonline.com").send();
    let v2: Value = get("/acme.onmicrosoft.com/v2.0/.well-known/openid-configuration".into()).await.unwrap().json().await.unwrap();
    insta::assert_json_snapshot!("entra_discovery_v2", v2);
    assert_eq!(v2["token_endpoint"], format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token"));
    let v1: Value = get(format!("/{TENANT}/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    assert_eq!(v1["issuer"], format!("https://sts.windows.net/{TENANT}/"));
    let keys: Value = get(format!("/{TENANT}/discovery/v2.0/keys")).await.unwrap().json().await.unwrap();
    let key = &keys["keys"][0];
    assert_eq!(key["kid"], key["x5t"], "Entra's kid is the certificate thumbprint");
    assert_eq!((key["use"].as_str(), key["x5c"].as_array().map(Vec::len)), (Some("sig"), Some(1)));
    let missing = get("/nobody.onmicrosoft.com/v2.0/.well-known/openid-configuration".into()).await.unwrap();
    assert_eq!(missing.status(), 400);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(aadsts(&body), (Some("invalid_tenant"), Some(90_002)));
    let instance: Value =
        get("/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.microsoftonline.com/common/oauth2/authorize".into()).await.unwrap().json().await.unwrap();
    assert!(instance["metadata"][0]["aliases"].as_array().unwrap().contains(&json!("login.microsoftonline.com")));
    let foreign = get("/common/discovery/instance?api-version=1.1&authorization_endpoint=https://login.example.test/t/oauth2/authorize".into()).await.unwrap();
    let body: Value = foreign.json().await.unwrap();
    assert_eq!(aadsts(&body), (Some("invalid_instance"), Some(50_049)));
}

// Under `cloudid exec`: no endpoint settings at all.

fn exec_azure(args: &[&str], kind: &str, scope: &str) -> (ClientRun, Vec<JournalEntry>) {
    let py = python();
    let script = credential_py();
    exec(args, &[&py, &script, kind, scope])
}

#[test]
fn workload_identity_on_aks_exchanges_the_pods_projected_token_at_login_microsoftonline_com() {
    let (run, journal) = exec_azure(&["--as", "aks"], "default", ARM);
    let result = ok(&run);
    assert_eq!(result["client_id"], "3c1d5e7f-9a2b-4c4d-8e6f-0a1b2c3d4e5f");
    let e = entry(&journal, "entra", "GetToken");
    assert_eq!((e.verdict, e.host.as_deref()), (Verdict::Granted, Some("login.microsoftonline.com")));
    assert!(e.checks.iter().any(|c| c.name == "entra.federation" && c.detail.as_deref().is_some_and(|d| d.contains("aks-analytics-etl"))), "{e:#?}");
}

#[test]
fn github_actions_exchanges_its_oidc_token_for_the_deployers_token_as_azure_login_does() {
    let tenant = format!("AZURE_TENANT_ID={TENANT}");
    let client = format!("AZURE_CLIENT_ID={DEPLOYER}");
    let (run, journal) = exec_azure(&["--as", "github-actions", "--env", &tenant, "--env", &client], "github", ARM);
    let result = ok(&run);
    assert_eq!(result["client_id"], DEPLOYER);
    assert_eq!(entry(&journal, "github_oidc", "GetIdToken").verdict, Verdict::Granted);
    assert_eq!(entry(&journal, "entra", "GetToken").verdict, Verdict::Granted);
}

#[test]
fn client_secret_and_certificate_credentials_run_msals_discovery_then_get_tokens() {
    let tenant = format!("AZURE_TENANT_ID={TENANT}");
    let client = format!("AZURE_CLIENT_ID={DEPLOYER}");
    let secret = format!("AZURE_CLIENT_SECRET={SECRET}");
    let (run, journal) = exec_azure(&["--as", "github-actions", "--env", &tenant, "--env", &client, "--env", &secret], "secret", ARM);
    assert_eq!(ok(&run)["client_id"], DEPLOYER);
    assert_eq!(entry(&journal, "entra", "GetOpenIdConfiguration").verdict, Verdict::Served, "MSAL reads the tenant's discovery document first");

    let dir = cloudid_tests::tempdir();
    let pem = dir.join("app.pem");
    let keys = workspace_root().join("fixtures/keys");
    let text = [std::fs::read_to_string(keys.join("entra-app-1.pem")).unwrap(), std::fs::read_to_string(keys.join("entra-app-1.crt.pem")).unwrap()].concat();
    std::fs::write(&pem, text).unwrap();
    let cert = format!("AZURE_CLIENT_CERTIFICATE_PATH={}", pem.display());
    let (run, journal) = exec_azure(&["--as", "github-actions", "--env", &tenant, "--env", &client, "--env", &cert], "certificate", "api://acme-federation/.default");
    assert_eq!(ok(&run)["aud"], "api://acme-federation");
    let e = entry(&journal, "entra", "GetToken");
    assert!(e.checks.iter().any(|c| c.name == "entra.assertion.signature" && c.detail.as_deref().is_some_and(|d| d.starts_with("RS256 with certificate"))), "{e:#?}");

    let wrong = format!("AZURE_CLIENT_SECRET=not-{SECRET}");
    let (run, _) = exec_azure(&["--as", "github-actions", "--env", &tenant, "--env", &client, "--env", &wrong], "secret", ARM);
    assert_eq!(run.code, Some(1));
    assert!(run.result["error"].as_str().unwrap().contains("AADSTS7000215: Invalid client secret provided."), "MSAL surfaces Entra's words: {}", run.result);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_azure_vm_reaches_google_with_its_managed_identity_token_through_the_file_gcloud_writes() {
    let dir = cloudid_tests::tempdir();
    let file = dir.join("azure-to-google.json");
    let provider = "projects/314159265358/locations/global/workloadIdentityPools/azure-pool/providers/entra";
    let config = json!({
        "universe_domain": "googleapis.com",
        "type": "external_account",
        "audience": format!("//iam.googleapis.com/{provider}"),
        "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
        "token_url": "https://sts.googleapis.com/v1/token",
        "credential_source": {
            "url": "http://169.254.169.254/metadata/identity/oauth2/token?api-version=2018-02-01&resource=api://acme-federation",
            "headers": {"Metadata": "True"},
            "format": {"type": "json", "subject_token_field_name": "access_token"}
        },
        "service_account_impersonation_url": "https://iamcredentials.googleapis.com/v1/projects/-/serviceAccounts/bigquery-reader@acme-data.iam.gserviceaccount.com:generateAccessToken"
    });
    std::fs::write(&file, config.to_string()).unwrap();
    let env = format!("GOOGLE_APPLICATION_CREDENTIALS={}", file.display());
    let script = r#"
import json, google.auth, google.auth.transport.requests as r
creds, project = google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])
creds.refresh(r.Request())
print(json.dumps({"ok": True, "account": creds.service_account_email, "project": project}))
"#;
    let (run, journal) = exec(&["--as", "azure-vm", "--env", &env], &[&python(), "-c", script]);
    assert_eq!(ok(&run)["account"], "bigquery-reader@acme-data.iam.gserviceaccount.com");
    assert_eq!(entry(&journal, "azure_imds", "GetManagedIdentityToken").verdict, Verdict::Granted);
    let sts = journal.iter().find(|e| e.service == "google_sts").expect("Google STS was called");
    assert_eq!(sts.verdict, Verdict::Granted, "{sts:#?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_rust_sdk_finds_the_azure_imds_at_its_fixed_address_and_entra_at_its_real_host() {
    let client = cloudid_tests::rust_client("rust-azure-identity-client");
    let (run, journal) = exec(&["--as", "azure-vm"], &[&client, ARM]);
    let result = ok(&run);
    assert_eq!(result["credential"], "ManagedIdentityCredential");
    let e = entry(&journal, "azure_imds", "GetManagedIdentityToken");
    assert_eq!((e.verdict, e.host.as_deref()), (Verdict::Granted, Some("169.254.169.254")), "the crate asks api-version 2019-08-01 at the constant address");
    let (run, _) = exec(&["--as", "aks"], &[&client, ARM]);
    assert_eq!(ok(&run)["credential"], "WorkloadIdentityCredential");
}

#[test]
fn an_azure_vm_assumes_an_aws_role_with_its_managed_identity_token() {
    let script = r#"
import json, boto3
from azure.identity import ManagedIdentityCredential
token = ManagedIdentityCredential().get_token("api://acme-federation/.default").token
sts = boto3.client("sts", region_name="ap-northeast-1")
creds = sts.assume_role_with_web_identity(RoleArn="arn:aws:iam::123456789012:role/AzureVmReader", RoleSessionName="embulk-vm", WebIdentityToken=token)["Credentials"]
me = boto3.client("sts", region_name="ap-northeast-1", aws_access_key_id=creds["AccessKeyId"], aws_secret_access_key=creds["SecretAccessKey"], aws_session_token=creds["SessionToken"]).get_caller_identity()
print(json.dumps({"ok": True, "arn": me["Arn"]}))
"#;
    let (run, journal) = exec(&["--as", "azure-vm"], &[&python(), "-c", script]);
    assert_eq!(ok(&run)["arn"], "arn:aws:sts::123456789012:assumed-role/AzureVmReader/embulk-vm");
    let e = entry(&journal, "aws_sts", "AssumeRoleWithWebIdentity");
    assert!(e.checks.iter().any(|c| c.name == "jwt.provider" && c.detail.as_deref().is_some_and(|d| d.ends_with("oidc-provider/sts.windows.net/8f3a6c1e-2b4d-4e5f-9a7b-1c2d3e4f5a6b/"))), "{e:#?}");
}

/// A client assertion for `client_id` signed with the app's certificate key, with `claims`.
fn certificate_assertion(claims: Value) -> String {
    let key = cloudid_mock::world::issuers::SigningKey::fixture("entra-app-1").expect("bundled");
    let header = json!({"alg": "RS256", "typ": "JWT", "x5t": key.x5t}).as_object().cloned().unwrap();
    key.sign_with_header(&claims, header)
}

#[tokio::test]
async fn malformed_and_ambiguous_token_requests_are_refused_before_any_token_is_issued() {
    let cloud = CloudId::start().await;
    let now = cloud.clock().now().unix_timestamp();
    let endpoint = format!("https://login.microsoftonline.com/{TENANT}/oauth2/v2.0/token");
    let assertion = |claims: Value| certificate_assertion(claims);
    let good = json!({"aud": endpoint, "iss": DEPLOYER, "sub": DEPLOYER, "jti": "1", "nbf": now, "exp": now + 600});
    let jwt = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
    let with_assertion = |a: String| {
        vec![("grant_type", "client_credentials".to_string()), ("client_id", DEPLOYER.to_string()), ("scope", ARM.to_string()), ("client_assertion_type", jwt.to_string()), ("client_assertion", a)]
    };
    let post = |form: Vec<(&'static str, String)>| {
        let cloud = &cloud;
        async move {
            let form: Vec<(&str, &str)> = form.iter().map(|(k, v)| (*k, v.as_str())).collect();
            entra_token(cloud, TENANT, &form).await
        }
    };
    let (status, body) = post(with_assertion(assertion(good.clone()))).await;
    assert_eq!(status, 200, "a certificate assertion signed with the app's key: {body}");
    let mut other_tenant = good.clone();
    other_tenant["aud"] = json!("https://login.microsoftonline.com/00000000-0000-4000-8000-000000000000/oauth2/v2.0/token");
    let mut far = good.clone();
    far["exp"] = json!(i64::MAX);
    let mut expired = good.clone();
    expired["exp"] = json!(now - 3600);
    for (claims, code) in [(other_tenant, 700_023), (far, 700_024), (expired, 700_024)] {
        let (_, body) = post(with_assertion(assertion(claims.clone()))).await;
        assert_eq!(body["error_codes"][0].as_u64(), Some(code), "{claims}: {body}");
    }
    let fic = "api://AzureADTokenExchange";
    for claims in [json!({"iat": -9_223_372_036_854_775_000_i64, "exp": 9_223_372_036_854_775_000_i64}), json!({"iat": now + 86_400, "exp": now + 90_000, "nbf": now - 60})] {
        let (status, body) = post(with_assertion(github_token(&cloud, fic, claims.clone()).await)).await;
        assert_eq!((status, body["error_codes"][0].as_u64()), (400, Some(70_023)), "{claims}: {body}");
    }
    let secret = |extra: &[(&'static str, &str)]| {
        let mut f = vec![("grant_type", "client_credentials".to_string()), ("client_id", DEPLOYER.to_string()), ("scope", ARM.to_string()), ("client_secret", SECRET.to_string())];
        f.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        f
    };
    let (_, body) = post(secret(&[("scope", "https://vault.azure.net/.default")])).await;
    assert_eq!(aadsts(&body), (Some("invalid_request"), Some(9_000_411)), "a repeated parameter: {body}");
    let (_, body) = post(secret(&[("client_assertion_type", jwt), ("client_assertion", "x.y.z")])).await;
    assert_eq!(aadsts(&body), (Some("invalid_request"), Some(9_002_313)), "two ways to authenticate: {body}");
    let r = Client::new()
        .post(format!("{}/{TENANT}/oauth2/v2.0/token", cloud.endpoint()))
        .json(&json!({"grant_type": "client_credentials", "client_id": DEPLOYER, "scope": ARM, "client_secret": SECRET}))
        .send()
        .await
        .unwrap();
    let body: Value = r.json().await.unwrap();
    assert_eq!(aadsts(&body), (Some("invalid_request"), Some(900_144)), "Entra reads only a form body: {body}");
    let (_, body) = entra_token(&cloud, "common", &[("grant_type", "client_credentials"), ("client_id", DEPLOYER), ("scope", ARM), ("client_secret", SECRET)]).await;
    assert_eq!(aadsts(&body), (Some("invalid_request"), Some(50_059)));
    let (_, body) = post(secret(&[]).into_iter().map(|(k, v)| if k == "scope" { (k, "https://vault.azure.net///.default".to_string()) } else { (k, v) }).collect()).await;
    assert_eq!(aadsts(&body), (Some("invalid_resource"), Some(500_011)), "one trailing slash at most: {body}");
    let common: Value =
        Client::new().get(format!("{}/common/v2.0/.well-known/openid-configuration", cloud.endpoint())).header("host", "login.microsoftonline.com").send().await.unwrap().json().await.unwrap();
    assert_eq!(common["issuer"], "https://login.microsoftonline.com/{tenantid}/v2.0");
    assert_eq!(common["token_endpoint"], "https://login.microsoftonline.com/common/oauth2/v2.0/token");
}
