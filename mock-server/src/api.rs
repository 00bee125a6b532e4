//! The in-process API: start a server inside a test, point clients at it, read what it saw.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::oneshot;

use crate::clock::Clock;
use crate::journal::JournalEntry;
use crate::server::{self, Shared};
use crate::world::{self, WorldError, WorldModel};

/// A running cloudid server. Dropping it stops the server.
///
/// ```no_run
/// # async fn demo() {
/// let cloud = cloudid_mock::CloudId::start().await;
/// for (k, v) in cloud.env() {
///     println!("{k}={v}");
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct CloudId {
    addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// Configures a server before it starts.
#[derive(Debug, Default)]
pub struct Builder {
    world: Option<WorldModel>,
    listen: Option<SocketAddr>,
    clock: Option<Clock>,
    limits: Option<crate::connections::Limits>,
    fence: crate::fence::Fence,
}

impl Builder {
    /// Serves `world` instead of the built-in default.
    pub fn world(mut self, world: WorldModel) -> Self {
        self.world = Some(world);
        self
    }

    /// Serves the world in YAML `text`; an invalid world is an error naming the field.
    pub fn world_yaml(self, text: &str) -> Result<Self, WorldError> {
        Ok(self.world(world::parse("<inline>", text)?))
    }

    /// Listens on `addr` (default `127.0.0.1:0`, a free port).
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen = Some(addr);
        self
    }

    /// Uses `clock` (e.g. one frozen at a fixed instant) instead of the world's clock setting.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Serves connections under `limits` (timeouts, connection cap) instead of the defaults.
    pub fn limits(mut self, limits: crate::connections::Limits) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Fences the control plane with `fence` (extra host names, a control token) instead of the
    /// default (IP addresses and localhost, no token).
    pub fn fence(mut self, fence: crate::fence::Fence) -> Self {
        self.fence = fence;
        self
    }

    /// Starts the server; panics if the address cannot be bound (use [`Builder::try_start`]).
    pub async fn start(self) -> CloudId {
        self.try_start().await.expect("cloudid: cannot start the server")
    }

    /// Starts the server.
    pub async fn try_start(self) -> std::io::Result<CloudId> {
        let model = self.world.unwrap_or_else(world::default_world);
        let clock = match self.clock {
            Some(c) => c,
            None => {
                let c = Clock::system();
                server::apply_clock_config(&model, &c);
                c
            }
        };
        let listen = self.listen.unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)));
        let listener = tokio::net::TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let shared = Shared::fenced(model, clock, self.fence);
        let router = server::router(shared.clone());
        let (tx, rx) = oneshot::channel::<()>();
        let limits = self.limits.unwrap_or_default();
        tokio::spawn(async move {
            let _ = crate::connections::serve(listener, router, limits, async {
                let _ = rx.await;
            })
            .await;
        });
        Ok(CloudId { addr, shared, shutdown: Some(tx) })
    }
}

impl CloudId {
    /// Starts a server with the built-in default world on a free loopback port.
    pub async fn start() -> Self {
        Self::builder().start().await
    }

    /// A builder for a server with another world, address or clock.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The socket address served.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The environment variables that point clients at this server (as `cloudid env`).
    pub fn env(&self) -> BTreeMap<String, String> {
        crate::env::live_client_env(&self.shared, &self.endpoint())
    }

    /// Every request served so far, oldest first.
    pub fn journal(&self) -> Vec<JournalEntry> {
        self.shared.journal.entries()
    }

    /// A client for this server's control plane (reset, clock, faults, keys, tokens, …).
    pub fn control(&self) -> crate::ControlClient {
        let client = crate::ControlClient::new(&self.endpoint()).expect("an http:// endpoint");
        match &self.shared.fence.token {
            Some(t) => client.with_token(t.expose()),
            None => client,
        }
    }

    /// The server's clock; moving it moves what the server considers now.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The world being served.
    pub fn world(&self) -> &WorldModel {
        &self.shared.model
    }

    /// Back to the world as loaded: issued credentials and tokens forgotten, journal emptied.
    pub fn reset(&self) {
        self.shared.reset();
    }
}

impl Drop for CloudId {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
