//! The exchange: the bottom layer every emulated service stands on. The request context
//! ([`Shared`]: the world, its live state, the clock, the journal, the fault rules), the answer a
//! service gives ([`Answer`]: a response and its journal [`Note`]), the services' names
//! ([`Service`]), and the one completion path every answer takes — the fault rules, then the
//! server clock's `Date`, then the journal ([`serve!`](crate::serve)).
//!
//! It depends on nothing above it: services import it, the server composes services, and no
//! service knows the server. A service renders its own fault bodies ([`Slice`]), so the fault
//! layer knows no service.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::clock::{self, Clock};
use crate::journal::{Journal, Note, Record, Verdict};
use crate::world::{WorldModel, WorldState};

pub(crate) use crate::service::Service;

/// An emulated service as the exchange sees it: its name, and the body it answers with when a
/// fault rule makes it fail with a status (its own error shape, as the real service's).
pub trait Slice: Sync {
    /// Which service.
    fn service(&self) -> Service;

    /// The service's real error response for `status` (request id `request_id`).
    fn fault_response(&self, status: StatusCode, request_id: &str) -> Response {
        let _ = request_id;
        (status, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], format!("{}\n", status.canonical_reason().unwrap_or("error"))).into_response()
    }
}

/// A service's refusal, in one shape for every service: its status, its code, whether it denies
/// an identity (decided by the code, never by a list of strings elsewhere), and its body in the
/// service's own wire format.
pub(crate) trait Refusal {
    /// The HTTP status.
    fn status(&self) -> StatusCode;
    /// The service's error code (`InvalidIdentityToken`, `invalid_grant`, `PERMISSION_DENIED`…).
    fn code(&self) -> &'static str;
    /// Whether the refusal denies an identity rather than rejects a malformed request.
    fn denies(&self) -> bool;
    /// The response, as the real service writes it.
    fn render(&self, request_id: &str) -> Response;

    /// The journal verdict the refusal gives.
    fn verdict(&self) -> Verdict {
        if self.denies() { Verdict::Denied } else { Verdict::Error }
    }

    /// The refused answer: `note` with the verdict this refusal gives, and its body.
    fn answer(&self, mut note: Note, request_id: &str) -> Answer {
        note.verdict = self.verdict();
        (self.render(request_id), note)
    }
}

/// Completes a refused answer: the verdict the refusal's code gives, an `{check}` failure with
/// `detail` (what the service said), and the refusal's own body.
pub(crate) fn refused(mut note: Note, refusal: &impl Refusal, check: &'static str, detail: String, request_id: &str) -> Answer {
    note.checks.push(crate::journal::Check::fail(check, detail));
    refusal.answer(note, request_id)
}

/// Requests no service claims (unknown paths): a plain-text 404, and faults answer in text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unclaimed;

impl Slice for Unclaimed {
    fn service(&self) -> Service {
        Service::Cloudid
    }
}

/// State shared by every handler: the world as loaded, its live state, the clock and the journal.
#[derive(Debug)]
pub struct Shared {
    /// The world as loaded; never changes while the server runs.
    pub model: Arc<WorldModel>,
    /// The injected clock.
    pub clock: Clock,
    /// What was served.
    pub journal: Journal,
    state: Mutex<WorldState>,
    requests: std::sync::atomic::AtomicU64,
    /// Injected fault rules.
    pub faults: crate::faults::Faults,
    /// The service accounts' own signing keys (IAM Credentials `signJwt`/`signBlob`); kept
    /// across resets, as Google keeps them.
    pub sa_keys: crate::world::sa_keys::ServiceAccountKeys,
    /// What the control plane trusts.
    pub fence: crate::fence::Fence,
    /// When serving as a forward proxy (`--proxy`): the variables a workload needs to use it.
    pub proxy_env: std::sync::OnceLock<std::collections::BTreeMap<String, String>>,
    /// Projected service-account token files kept fresh, as the kubelet keeps them.
    pub kubelet: crate::world::kubelet::Kubelet,
}

impl Shared {
    /// Shared state for `model`, timed by `clock`, with the default control-plane fence.
    pub fn new(model: WorldModel, clock: Clock) -> Arc<Self> {
        Self::fenced(model, clock, crate::fence::Fence::default())
    }

    /// Shared state whose control plane trusts what `fence` says.
    pub fn fenced(model: WorldModel, clock: Clock, fence: crate::fence::Fence) -> Arc<Self> {
        let state = WorldState::new(&model, clock.now());
        Arc::new(Self {
            journal: Journal::new(model.journal_capacity),
            model: Arc::new(model),
            clock,
            state: Mutex::new(state),
            requests: std::sync::atomic::AtomicU64::new(0),
            faults: crate::faults::Faults::default(),
            sa_keys: Default::default(),
            fence,
            proxy_env: std::sync::OnceLock::new(),
            kubelet: Default::default(),
        })
    }

    /// Mints a projected service-account token now (kube-apiserver's `TokenRequest`).
    pub fn mint_projected(&self, p: &crate::world::projected::Projection) -> Result<crate::world::projected::Minted, String> {
        crate::world::projected::mint(&self.model, &mut self.state(), self.clock.now(), p)
    }

    /// Rewrites the projected token files due at the clock's now (called on every clock change
    /// and once a second while any file is mounted).
    pub fn sync_kubelet(&self) -> Vec<std::path::PathBuf> {
        if self.kubelet.is_empty() {
            return Vec::new();
        }
        let now = self.clock.now();
        self.kubelet.sync(now, |p| crate::world::projected::mint(&self.model, &mut self.state(), now, p))
    }

    /// The authorization token `container` currently expects: a rotated one, else the world's.
    pub fn container_token(&self, container: &crate::world::model::ContainerModel) -> Option<crate::secret::Secret> {
        container.auth_token.as_ref()?;
        self.state().container_tokens.get(&container.path).cloned().or_else(|| container.auth_token.clone())
    }

    /// A request id (UUID form): the world's seed and a counter, mixed, so runs repeat exactly
    /// and no lock is taken.
    pub fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::ids::sequenced_request_id(self.model.seed, n)
    }

    /// Verifies a SigV4-signed request against the credentials this world issued: the one
    /// credential lookup AWS STS and Google STS (relaying an AWS subject token) share. The
    /// credential that signed it, or why not.
    pub(crate) fn verify_sigv4(
        &self,
        req: &crate::verify::sigv4::Request<'_>,
        rule: &crate::verify::sigv4::ScopeRule<'_>,
        now: time::OffsetDateTime,
    ) -> Result<(crate::verify::sigv4::Verified, std::sync::Arc<crate::world::IssuedCredential>), crate::verify::sigv4::SigV4Error> {
        let mut found = None;
        let verified = crate::verify::sigv4::verify(req, rule, now, |akid| {
            let cred = self.state().credentials.lookup(akid)?;
            let material = crate::verify::sigv4::KeyMaterial {
                secret: cred.secret_access_key.expose().to_string(),
                session_token: Some(cred.session_token.expose().to_string()),
                expires_at: Some(cred.expires_at),
            };
            found = Some(cred);
            Some(material)
        })?;
        Ok((verified, found.expect("a verified request has its credential")))
    }

    /// The live world state, locked. Hold it briefly.
    pub fn state(&self) -> MutexGuard<'_, WorldState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Completes a service's answer: stamps `Date` from the server clock and journals the
    /// request with the handler's note. Every emulated endpoint answers through here.
    pub fn finish(&self, method: &Method, path: &str, (mut response, note): Answer) -> Response {
        let now = self.clock.now();
        response.headers_mut().insert(header::DATE, date_header(now));
        let status = response.status().as_u16();
        tracing::debug!(target: "cloudid_mock::request", "{method} {path} -> {status} {}.{} {:?}", note.service, note.operation, note.verdict);
        if tracing::enabled!(target: "cloudid_mock::request", tracing::Level::TRACE) {
            for c in &note.checks {
                tracing::trace!(target: "cloudid_mock::request", "  check {} {:?} {}", c.name, c.outcome, c.detail.as_deref().unwrap_or(""));
            }
        }
        let mut record = Record::new(now, method.clone(), path.to_string(), status, note);
        record.host = REQUEST_HOST.try_with(|h| h.clone()).ok().flatten();
        self.journal.push(record);
        response
    }

    /// The fault rule that hits this request to `service`, if any.
    pub fn fault_hit(&self, service: Service, method: &Method, path: &str) -> Option<crate::faults::Hit> {
        self.faults.check(service, method, path, None, self.clock.now())
    }

    /// Runs the service unless the fault answers instead (error status, dropped connection, hang).
    pub fn answer_unless_faulted(&self, hit: &Option<crate::faults::Hit>, answer: impl FnOnce() -> Answer) -> Option<Answer> {
        use crate::faults::Action;
        match hit.as_ref().map(|h| &h.action) {
            Some(Action::Status { .. } | Action::Reset | Action::Hang { .. }) => None,
            _ => Some(answer()),
        }
    }

    /// Completes an answer through the fault that hit it: the fault's own answer, a delay, or a
    /// reshaped response; then [`Shared::finish`]. Use through `serve!`.
    pub async fn respond(&self, slice: &dyn Slice, method: &Method, path: &str, hit: Option<crate::faults::Hit>, answered: Option<Answer>) -> Response {
        use crate::faults::{self, Action};
        let mut operation = "Fault";
        let (hit, answered) = match (hit, answered) {
            (Some(h), a) => (h, a),
            (None, Some(a)) => match self.faults.check(slice.service(), method, path, Some(a.1.operation), self.clock.now()) {
                Some(h) => {
                    operation = a.1.operation;
                    let keep = !matches!(h.action, Action::Status { .. } | Action::Reset | Action::Hang { .. });
                    (h, keep.then_some(a))
                }
                None => return self.finish(method, path, a),
            },
            (None, None) => return self.finish(method, path, not_found(method, path)),
        };
        let mut fault_note = Note::new(slice.service().name(), operation, Verdict::Error);
        fault_note.fault = Some(hit.describe());
        let Some((response, mut note)) = answered else {
            if let Action::Status { code } = hit.action {
                let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                return self.finish(method, path, (slice.fault_response(status, &self.request_id()), fault_note));
            }
            self.finish(method, path, (StatusCode::OK.into_response(), fault_note));
            if let Action::Hang { ms } = hit.action {
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            return faults::reset();
        };
        note.fault = Some(hit.describe());
        if let Action::Latency { ms } = hit.action {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        let (response, mutation) = faults::reshape(&hit.action, response, self.clock.now()).await;
        if let Some(m) = mutation {
            note.fault = Some(format!("{} → {m}", hit.describe()));
        }
        self.finish(method, path, (response, note))
    }

    /// Stamps `Date` from the server clock on a control-plane response (not journaled).
    pub fn dated(&self, mut response: Response) -> Response {
        response.headers_mut().insert(header::DATE, date_header(self.clock.now()));
        response
    }

    /// Back to the world as loaded: fresh live state, empty journal, clock as configured.
    pub fn reset(&self) {
        apply_clock_config(&self.model, &self.clock);
        *self.state() = WorldState::new(&self.model, self.clock.now());
        self.requests.store(0, std::sync::atomic::Ordering::Relaxed);
        self.faults.clear();
        self.journal.clear();
    }
}

/// Sets `clock` to what `model.clock` asks for (start instant, frozen or running).
pub fn apply_clock_config(model: &WorldModel, clock: &Clock) {
    let start = model.clock.start.as_deref().and_then(|s| clock::parse_rfc3339(s).ok());
    match (start, model.clock.frozen) {
        (Some(at), true) => clock.freeze_at(at),
        (Some(at), false) => {
            clock.unfreeze();
            clock.set(at);
        }
        (None, true) => {
            let now = clock.now();
            clock.freeze_at(now);
        }
        (None, false) => clock.reset(),
    }
}

/// Answers `$method $path` for the service `$slice` (a `&dyn` [`Slice`]) with `$answer` (an
/// [`Answer`] expression), through the fault rules.
macro_rules! serve {
    ($shared:expr, $slice:expr, $method:expr, $path:expr, $answer:expr) => {{
        let slice: &dyn crate::exchange::Slice = $slice;
        let hit = $shared.fault_hit(slice.service(), $method, $path);
        let answered = $shared.answer_unless_faulted(&hit, || $answer);
        $shared.respond(slice, $method, $path, hit, answered).await
    }};
}
pub(crate) use serve;

tokio::task_local! {
    /// The host the request being answered named, for the journal.
    pub(crate) static REQUEST_HOST: Option<String>;
}

/// A service's response with what it says for the journal; [`Shared::finish`] completes it.
pub(crate) type Answer = (Response, Note);

/// Pairs a response with its journal note.
pub(crate) fn noted(response: Response, note: Note) -> Answer {
    (response, note)
}

/// The answer for a path no service emulates.
pub(crate) fn not_found(method: &Method, path: &str) -> Answer {
    let body = format!("cloudid: no emulated endpoint at {method} {path}\n");
    noted((StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response(), Note::new("cloudid", "NotFound", Verdict::Error))
}

/// The `Date` header for `now`, formatted once per second per thread.
fn date_header(now: time::OffsetDateTime) -> HeaderValue {
    thread_local! {
        static CACHE: std::cell::RefCell<(i64, HeaderValue)> = const { std::cell::RefCell::new((i64::MIN, HeaderValue::from_static(""))) };
    }
    let secs = now.unix_timestamp();
    CACHE.with(|c| {
        let mut c = c.borrow_mut();
        if c.0 != secs {
            let value = HeaderValue::from_str(&clock::http_date(now)).unwrap_or_else(|_| HeaderValue::from_static(""));
            *c = (secs, value);
        }
        c.1.clone()
    })
}
