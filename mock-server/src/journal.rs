//! The journal: every request an emulated endpoint served, in order, with its verdict and the
//! checks that ran. Secrets never enter it: issued secrets appear only as fingerprints.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use axum::http::Method;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// What the server decided about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Credentials or tokens were issued.
    Granted,
    /// An authentication or authorization check refused the request.
    Denied,
    /// Non-secret data was served.
    Served,
    /// The request was malformed or asked for something that does not exist.
    Error,
}

/// Outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The check held.
    Pass,
    /// The check failed (and decided the verdict).
    Fail,
    /// The check did not apply.
    Skip,
}

/// One named check and what it found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Check {
    /// Short name, e.g. `imds.token`.
    pub name: Cow<'static, str>,
    /// What it found.
    pub outcome: Outcome,
    /// Evidence, never a secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Cow<'static, str>>,
    /// The structured reason, when the check has one: a trust policy's trace, the token field
    /// expected against found, the SigV4 computation, Google's mapping and binding.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub explanation: Option<Box<crate::explain::Explanation>>,
}

impl Check {
    fn new(name: &'static str, outcome: Outcome, detail: Option<Cow<'static, str>>) -> Self {
        Self { name: Cow::Borrowed(name), outcome, detail, explanation: None }
    }

    /// This check, with its structured reason.
    pub fn explained(mut self, explanation: crate::explain::Explanation) -> Self {
        self.explanation = Some(Box::new(explanation));
        self
    }

    /// A passing check, with its evidence.
    pub fn pass(name: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name, Outcome::Pass, Some(detail.into()))
    }

    /// A passing check that needs no evidence.
    pub fn passed(name: &'static str) -> Self {
        Self::new(name, Outcome::Pass, None)
    }

    /// A failing check, with why.
    pub fn fail(name: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name, Outcome::Fail, Some(detail.into()))
    }

    /// A check that did not apply, with why.
    pub fn skip(name: &'static str, detail: impl Into<Cow<'static, str>>) -> Self {
        Self::new(name, Outcome::Skip, Some(detail.into()))
    }
}

/// Every check name the services record, sorted: the vocabulary of scenario `checks:`
/// expectations and of the journal (`docs/reference.md` lists them with what each verifies).
pub const CHECK_NAMES: &[&str] = &[
    "app_service.api_version",
    "app_service.identity",
    "app_service.identity_header",
    "app_service.method",
    "app_service.resource",
    "aws.account",
    "aws.request",
    "aws.subject_token",
    "aws.target_resource",
    "azure_imds.api_version",
    "azure_imds.identity",
    "azure_imds.metadata_header",
    "azure_imds.method",
    "azure_imds.no_forwarded_for",
    "azure_imds.path",
    "azure_imds.query",
    "azure_imds.resource",
    "azure_imds.token",
    "condition",
    "container.authorization",
    "container.credentials",
    "container.id",
    "container.method",
    "container.token.times",
    "crm.method",
    "crm.permission",
    "crm.project",
    "eks_auth.association",
    "eks_auth.token",
    "entra.assertion",
    "entra.assertion.audience",
    "entra.assertion.key",
    "entra.assertion.signature",
    "entra.assertion.times",
    "entra.client",
    "entra.federation",
    "entra.instance",
    "entra.request",
    "entra.scope",
    "entra.secret",
    "entra.tenant",
    "entra.token",
    "gce.identity",
    "gce.identity.audience",
    "gce.identity.format",
    "gce.instance",
    "gce.metadata_flavor",
    "gce.method",
    "gce.no_forwarded_for",
    "gce.path",
    "gce.ping",
    "gce.service_account",
    "gce.token",
    "gce.token.scopes",
    "github.api_version",
    "github.authorization",
    "github.issuer",
    "github.method",
    "github.token",
    "gke.binding",
    "google.caller",
    "google.scope",
    "google_sts.audience",
    "google_sts.scope",
    "google_sts.subject_token_type",
    "host.service",
    "iam.caller",
    "iam.permission",
    "iam.request",
    "iam.resource",
    "iam.sign",
    "iam.trust_policy",
    "imds.credentials",
    "imds.endpoint.enabled",
    "imds.instance",
    "imds.method",
    "imds.path",
    "imds.token",
    "imds.token.method",
    "imds.token.no_forwarded_for",
    "imds.token.path",
    "imds.token.ttl",
    "jwt.audience",
    "jwt.claims",
    "jwt.decode",
    "jwt.issuer",
    "jwt.provider",
    "jwt.signature",
    "jwt.times",
    "kube.caller",
    "kube.cluster",
    "kube.request",
    "kube.token",
    "mapping",
    "oidc.issuer",
    "oidc.reachable",
    "sa_keys.account",
    "sigv4.signature",
    "sts.access_key",
    "sts.answer",
    "sts.body",
    "sts.duration",
    "sts.long_term_credentials",
    "sts.outbound_federation",
    "sts.params",
    "sts.provider_id",
    "sts.role",
    "sts.web_identity_token",
    "tokeninfo",
    "upstream",
];

/// What kind of credential a response handed out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IssuedKind {
    /// AWS temporary credentials (access key id, secret, session token).
    AwsCredentials,
    /// A Google OAuth access token.
    GoogleAccessToken,
    /// A signed ID token (JWT).
    IdToken,
    /// An Entra ID access token (JWT).
    AzureAccessToken,
}

/// Credentials a response handed out, identified without their secrets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    /// What was issued.
    pub kind: IssuedKind,
    /// AWS: the access key id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_key_id: Option<String>,
    /// AWS: fingerprint of the secret access key ([`crate::Secret::fingerprint`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_fingerprint: Option<String>,
    /// Fingerprint of the session token, access token or JWT.
    pub token_fingerprint: String,
    /// Expiry, `YYYY-MM-DDTHH:MM:SSZ`.
    pub expiration: String,
    /// Who the credential stands for: an assumed-role ARN, a service account, a subject.
    pub principal: String,
    /// Google: the OAuth scopes; ID tokens: the audience.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scopes: Vec<String>,
}

impl Issued {
    /// The receipt of a signed ID token (JWT) for `principal` and `audience`.
    pub fn id_token(token: &str, principal: &str, audience: &str, expires_at: time::OffsetDateTime) -> Self {
        Self::jwt(IssuedKind::IdToken, token, principal, audience, expires_at)
    }

    /// The receipt of a JWT of `kind` for `principal` and `audience`.
    pub fn jwt(kind: IssuedKind, token: &str, principal: &str, audience: &str, expires_at: time::OffsetDateTime) -> Self {
        Self {
            kind,
            access_key_id: None,
            secret_fingerprint: None,
            token_fingerprint: crate::secret::fingerprint(token),
            expiration: crate::clock::iso8601(expires_at),
            principal: principal.to_string(),
            scopes: vec![audience.to_string()],
        }
    }
}

/// One served request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    /// Position in the journal, from 1.
    pub seq: u64,
    /// Server-clock time the request was answered, RFC 3339.
    pub time: String,
    /// HTTP method.
    pub method: String,
    /// The host the request named (`Host`), when it named one other than loopback: which of the
    /// real hosts a workload called (`sts.amazonaws.com`, `[fd00:ec2::254]`…).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
    /// Request path (no query: queries can carry tokens).
    pub path: String,
    /// Emulated service, e.g. `aws_imds`.
    pub service: String,
    /// Operation within it, e.g. `GetCredentials`.
    pub operation: String,
    /// Who the request acted as, when known (an ARN or account).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The decision.
    pub verdict: Verdict,
    /// Response status code.
    pub status: u16,
    /// The checks that ran, in order.
    #[serde(default)]
    pub checks: Vec<Check>,
    /// Credentials handed out, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issued: Option<Issued>,
    /// The injected fault that hit this request, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault: Option<String>,
}

/// What a handler says about the request it answered; the server's journal layer completes it
/// with method, path, time and status. Handlers attach it to the response's extensions.
#[derive(Debug, Clone)]
pub struct Note {
    /// Emulated service.
    pub service: &'static str,
    /// Operation.
    pub operation: &'static str,
    /// Principal, if known.
    pub principal: Option<String>,
    /// The decision.
    pub verdict: Verdict,
    /// Checks that ran.
    pub checks: Vec<Check>,
    /// Credentials handed out.
    pub issued: Option<Arc<Issued>>,
    /// The injected fault that hit the request.
    pub fault: Option<String>,
}

impl Note {
    /// A note for `service`/`operation` with the given verdict and no checks yet.
    pub fn new(service: &'static str, operation: &'static str, verdict: Verdict) -> Self {
        Self { service, operation, principal: None, verdict, checks: Vec::new(), issued: None, fault: None }
    }
}

/// Everything the journal holds, as the control plane returns it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct JournalSnapshot {
    /// Entries dropped because the journal was full (oldest first).
    pub dropped: u64,
    /// The entries kept, oldest first.
    pub entries: Vec<JournalEntry>,
}

/// The server's journal: a bounded, ordered log shared by every handler.
#[derive(Debug, Clone)]
pub struct Journal {
    inner: Arc<Mutex<Inner>>,
}

#[derive(Debug)]
struct Inner {
    capacity: usize,
    next_seq: u64,
    dropped: u64,
    entries: VecDeque<Record>,
}

/// What the journal keeps per request: cheap to make on the hot path, rendered on demand.
#[derive(Debug)]
pub struct Record {
    seq: u64,
    /// When it was answered (server clock).
    pub time: OffsetDateTime,
    /// HTTP method.
    pub method: Method,
    /// Request path.
    pub path: String,
    /// Response status.
    pub status: u16,
    /// The host the request named, if any.
    pub host: Option<String>,
    /// The handler's note.
    pub note: Note,
}

/// The most bytes any text field of a journal entry keeps.
pub const FIELD_LIMIT: usize = 1024;

/// `text` cut to [`FIELD_LIMIT`] bytes at a character boundary, marked
/// `…[cut: N bytes]` with the length it had; unchanged when it fits.
pub fn cut(text: &str) -> Option<String> {
    if text.len() <= FIELD_LIMIT {
        return None;
    }
    let mut end = FIELD_LIMIT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Some(format!("{}…[cut: {} bytes]", &text[..end], text.len()))
}

fn cut_in_place(text: &mut String) {
    if let Some(c) = cut(text) {
        *text = c;
    }
}

impl Record {
    fn bound_fields(&mut self) {
        if self.method.as_str().len() > 32 {
            let kept = format!("{}-CUT-{}", &self.method.as_str()[..32], self.method.as_str().len());
            self.method = Method::from_bytes(kept.as_bytes()).unwrap_or(Method::GET);
        }
        cut_in_place(&mut self.path);
        if let Some(p) = self.note.principal.as_mut() {
            cut_in_place(p);
        }
        if let Some(f) = self.note.fault.as_mut() {
            cut_in_place(f);
        }
        for c in &mut self.note.checks {
            if let Some(d) = c.detail.as_deref().and_then(cut) {
                c.detail = Some(Cow::Owned(d));
            }
        }
        if let Some(issued) = &self.note.issued {
            let long = |s: &str| s.len() > FIELD_LIMIT;
            if long(&issued.principal) || issued.scopes.iter().any(|s| long(s)) || issued.scopes.len() > 64 {
                let mut trimmed = Issued::clone(issued);
                cut_in_place(&mut trimmed.principal);
                let n = trimmed.scopes.len();
                trimmed.scopes.truncate(64);
                if n > 64 {
                    trimmed.scopes.push(format!("…[cut: {} more]", n - 64));
                }
                trimmed.scopes.iter_mut().for_each(cut_in_place);
                self.note.issued = Some(Arc::new(trimmed));
            }
        }
    }

    /// A record of a request answered at `time`.
    pub fn new(time: OffsetDateTime, method: Method, path: String, status: u16, note: Note) -> Self {
        Self { seq: 0, time, method, path, status, host: None, note }
    }

    fn render(&self) -> JournalEntry {
        JournalEntry {
            seq: self.seq,
            time: crate::clock::iso8601(self.time),
            method: self.method.to_string(),
            host: self.host.as_ref().map(|h| cut(h).unwrap_or_else(|| h.clone())),
            path: self.path.clone(),
            service: self.note.service.to_string(),
            operation: self.note.operation.to_string(),
            principal: self.note.principal.clone(),
            verdict: self.note.verdict,
            status: self.status,
            checks: self.note.checks.clone(),
            issued: self.note.issued.as_deref().cloned(),
            fault: self.note.fault.clone(),
        }
    }
}

impl Journal {
    /// An empty journal keeping at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self { inner: Arc::new(Mutex::new(Inner { capacity: capacity.max(1), next_seq: 1, dropped: 0, entries: VecDeque::new() })) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Appends a record, giving it the next sequence number. Every text field is cut to
    /// [`FIELD_LIMIT`] bytes first (see [`cut`]), so the journal's size is bounded by its
    /// capacity whatever requests carry.
    pub fn push(&self, mut entry: Record) {
        entry.bound_fields();
        let mut j = self.lock();
        entry.seq = j.next_seq;
        j.next_seq += 1;
        if j.entries.len() == j.capacity {
            j.entries.pop_front();
            j.dropped += 1;
        }
        j.entries.push_back(entry);
    }

    /// A copy of everything kept.
    pub fn snapshot(&self) -> JournalSnapshot {
        let j = self.lock();
        JournalSnapshot { dropped: j.dropped, entries: j.entries.iter().map(Record::render).collect() }
    }

    /// The kept entries, oldest first.
    pub fn entries(&self) -> Vec<JournalEntry> {
        self.snapshot().entries
    }

    /// Empties the journal and restarts numbering.
    pub fn clear(&self) {
        let mut j = self.lock();
        j.entries.clear();
        j.dropped = 0;
        j.next_seq = 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `Check::pass/fail/skip/passed("name", …)` and `exchange::refused(note, &e, "name", …)`
    /// in the sources, by reading them.
    fn names_in_sources() -> std::collections::BTreeSet<String> {
        fn walk(dir: &std::path::Path, out: &mut std::collections::BTreeSet<String>) {
            for e in std::fs::read_dir(dir).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    let text = std::fs::read_to_string(&p).unwrap();
                    let text = text.split("#[cfg(test)]").next().unwrap_or("");
                    for kind in [
                        "Check::pass(\"",
                        "Check::fail(\"",
                        "Check::skip(\"",
                        "Check::passed(\"",
                        "refused(note, &e, \"",
                        ".refuse(\"",
                        "refuse(note, \"",
                        "fail(note, \"",
                        "error(shared, note, \"",
                        "deny(\"",
                    ] {
                        for piece in text.split(kind).skip(1) {
                            out.insert(piece.split('"').next().unwrap().to_string());
                        }
                    }
                }
            }
        }
        let mut out = std::collections::BTreeSet::new();
        walk(&std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut out);
        out
    }

    #[test]
    fn the_published_check_names_are_exactly_the_ones_the_services_record() {
        let published: std::collections::BTreeSet<String> = CHECK_NAMES.iter().map(|s| s.to_string()).collect();
        assert_eq!(published, names_in_sources(), "update CHECK_NAMES (and docs/reference.md)");
        assert!(CHECK_NAMES.windows(2).all(|w| w[0] < w[1]), "sorted");
    }

    #[test]
    fn the_reference_lists_every_check_name() {
        let reference = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/reference.md")).unwrap();
        for name in CHECK_NAMES {
            assert!(reference.contains(&format!("`{name}`")), "docs/reference.md does not list `{name}`");
        }
    }

    fn entry(path: &str) -> Record {
        Record::new(OffsetDateTime::UNIX_EPOCH, Method::GET, path.into(), 200, Note::new("s", "o", Verdict::Served))
    }

    #[test]
    fn long_fields_are_cut_and_marked_with_their_length() {
        let j = Journal::new(4);
        let mut r = entry(&format!("/{}", "p".repeat(65_000)));
        r.note.checks.push(Check::fail("x", "é".repeat(2000)));
        j.push(r);
        let e = &j.entries()[0];
        assert!(e.path.len() < FIELD_LIMIT + 40 && e.path.ends_with("…[cut: 65001 bytes]"), "{}", &e.path[e.path.len() - 30..]);
        let detail = e.checks[0].detail.as_deref().unwrap();
        assert!(detail.ends_with("…[cut: 4000 bytes]"));
        assert_eq!(cut("short"), None);
    }

    #[test]
    fn a_full_journal_drops_the_oldest_and_counts_them() {
        let j = Journal::new(2);
        for p in ["/a", "/b", "/c"] {
            j.push(entry(p));
        }
        let s = j.snapshot();
        assert_eq!(s.dropped, 1);
        assert_eq!(s.entries.iter().map(|e| (e.seq, e.path.as_str())).collect::<Vec<_>>(), vec![(2, "/b"), (3, "/c")]);
        j.clear();
        j.push(entry("/d"));
        assert_eq!(j.entries()[0].seq, 1);
    }
}
