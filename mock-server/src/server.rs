//! The one HTTP port: every service's router, the control plane, and the layer that stamps each
//! response with the server clock's `Date` and records it in the journal.

use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::clock::{self, Clock};
use crate::journal::{Journal, Note, Record, Verdict};
use crate::world::{WorldModel, WorldState};
use crate::{control, services};

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
        })
    }

    /// The authorization token `container` currently expects: a rotated one, else the world's.
    pub fn container_token(&self, container: &crate::world::model::ContainerModel) -> Option<crate::secret::Secret> {
        container.auth_token.as_ref()?;
        self.state().container_tokens.get(&container.path).cloned().or_else(|| container.auth_token.clone())
    }

    /// The environment pointing clients at this server at `endpoint`, with current container tokens.
    pub fn client_env(&self, endpoint: &str) -> std::collections::BTreeMap<String, String> {
        let mut env = crate::env::client_env(&self.model, endpoint);
        if let Some(t) = crate::env::env_container(&self.model).and_then(|c| self.container_token(c)) {
            env.insert("AWS_CONTAINER_AUTHORIZATION_TOKEN".into(), t.expose().to_string());
        }
        env
    }

    /// A request id (UUID form): the world's seed and a counter, mixed, so runs repeat exactly
    /// and no lock is taken.
    pub fn request_id(&self) -> String {
        let n = self.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        crate::ids::sequenced_request_id(self.model.seed, n)
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
        self.journal.push(Record::new(now, method.clone(), path.to_string(), status, note));
        response
    }

    /// The fault rule that hits this request, if any.
    pub fn fault_hit(&self, method: &Method, path: &str) -> Option<crate::faults::Hit> {
        self.faults.check(method, path, None, self.clock.now())
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
    /// reshaped response; then [`Shared::finish`]. Use through [`serve!`](crate::serve).
    pub async fn respond(&self, method: &Method, path: &str, hit: Option<crate::faults::Hit>, answered: Option<Answer>) -> Response {
        use crate::faults::{self, Action};
        let mut operation = "Fault";
        let (hit, answered) = match (hit, answered) {
            (Some(h), a) => (h, a),
            (None, Some(a)) => match self.faults.check(method, path, Some(a.1.operation), self.clock.now()) {
                Some(h) => {
                    operation = a.1.operation;
                    let keep = !matches!(h.action, Action::Status { .. } | Action::Reset | Action::Hang { .. });
                    (h, keep.then_some(a))
                }
                None => return self.finish(method, path, a),
            },
            (None, None) => return self.finish(method, path, not_found(method, path)),
        };
        let service = faults::service_of(method, path);
        let mut fault_note = Note::new(service, operation, Verdict::Error);
        fault_note.fault = Some(hit.describe());
        let Some((response, mut note)) = answered else {
            if let Action::Status { code } = hit.action {
                return self.finish(method, path, (faults::error_response(service, code, &self.request_id()), fault_note));
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

/// Answers `$method $path` with `$answer` (an [`Answer`] expression), through the fault rules.
#[macro_export]
macro_rules! serve {
    ($shared:expr, $method:expr, $path:expr, $answer:expr) => {{
        let hit = $shared.fault_hit($method, $path);
        let answered = $shared.answer_unless_faulted(&hit, || $answer);
        $shared.respond($method, $path, hit, answered).await
    }};
}

/// A service's response with what it says for the journal; [`Shared::finish`] completes it.
pub type Answer = (Response, Note);

/// Pairs a response with its journal note.
pub fn noted(response: Response, note: Note) -> Answer {
    (response, note)
}

/// The whole application: control plane plus every emulated service.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new().merge(control::router(shared.clone())).merge(services::router(&shared.model)).fallback(fallback).with_state(shared)
}

/// The answer for a path no service emulates.
pub fn not_found(method: &Method, path: &str) -> Answer {
    let body = format!("cloudid: no emulated endpoint at {method} {path}\n");
    noted((StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response(), Note::new("cloudid", "NotFound", Verdict::Error))
}

async fn fallback(State(shared): State<Arc<Shared>>, req: Request) -> Response {
    let (method, path) = (req.method(), req.uri().path());
    if path.starts_with("/_cloudid") {
        let body = format!("cloudid: no control-plane endpoint at {method} {path}\n");
        return shared.dated((StatusCode::NOT_FOUND, body).into_response());
    }
    crate::serve!(shared, method, path, unrouted(&shared, &req))
}

/// The answer for a path no route claims: an issuer document if `Host` names a real issuer,
/// else 404.
pub fn unrouted(shared: &Shared, req: &Request) -> Answer {
    let (method, path) = (req.method(), req.uri().path());
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    services::oidc_discovery::by_host(shared, host, path).unwrap_or_else(|| not_found(method, path))
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

/// Serves `router` on `listener` until `shutdown` resolves, under the default [`Limits`].
///
/// [`Limits`]: crate::connections::Limits
pub async fn serve(listener: tokio::net::TcpListener, router: Router, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> std::io::Result<()> {
    crate::connections::serve(listener, router, crate::connections::Limits::default(), shutdown).await
}
