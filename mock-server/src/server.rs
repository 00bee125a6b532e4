//! The one HTTP port: every service's router, the control plane, and the layer that stamps each
//! response with the server clock's `Date` and records it in the journal.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};

use crate::clock::{self, Clock};
use crate::journal::{Journal, JournalEntry, Note, Verdict};
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
}

impl Shared {
    /// Shared state for `model`, timed by `clock`.
    pub fn new(model: WorldModel, clock: Clock) -> Arc<Self> {
        let state = WorldState::new(&model, clock.now());
        Arc::new(Self {
            journal: Journal::new(model.journal_capacity),
            model: Arc::new(model),
            clock,
            state: Mutex::new(state),
        })
    }

    /// The live world state, locked. Hold it briefly.
    pub fn state(&self) -> MutexGuard<'_, WorldState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Back to the world as loaded: fresh live state, empty journal, clock as configured.
    pub fn reset(&self) {
        apply_clock_config(&self.model, &self.clock);
        *self.state() = WorldState::new(&self.model, self.clock.now());
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

/// Attaches a journal note to a response.
pub fn noted(mut response: Response, note: Note) -> Response {
    response.extensions_mut().insert(note);
    response
}

/// The whole application: control plane plus every emulated service, with the journal layer.
pub fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .merge(control::router())
        .merge(services::router(&shared.model))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(shared.clone(), record))
        .with_state(shared)
}

async fn not_found(req: Request) -> Response {
    let body = format!("cloudid: no emulated endpoint at {} {}\n", req.method(), req.uri().path());
    noted(
        (StatusCode::NOT_FOUND, [(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response(),
        Note::new("cloudid", "NotFound", Verdict::Error),
    )
}

async fn record(State(shared): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    let method = req.method().to_string();
    let path = req.uri().path().to_string();
    let mut response = next.run(req).await;
    let now = shared.clock.now();
    if !response.headers().contains_key(header::DATE)
        && let Ok(date) = HeaderValue::from_str(&clock::http_date(now))
    {
        response.headers_mut().insert(header::DATE, date);
    }
    if path.starts_with("/_cloudid") {
        return response;
    }
    let note = response
        .extensions_mut()
        .remove::<Note>()
        .unwrap_or_else(|| Note::new("cloudid", "Unknown", Verdict::Error));
    shared.journal.push(JournalEntry {
        seq: 0,
        time: clock::iso8601(now),
        method,
        path,
        service: note.service.to_string(),
        operation: note.operation.to_string(),
        principal: note.principal,
        verdict: note.verdict,
        status: response.status().as_u16(),
        checks: note.checks,
        issued: note.issued,
    });
    response
}

/// Serves `router` on `listener` until `shutdown` resolves.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router.into_make_service_with_connect_info::<SocketAddr>())
        .with_graceful_shutdown(shutdown)
        .await
}
