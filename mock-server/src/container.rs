//! The cloudid image under [testcontainers](https://docs.rs/testcontainers) (cargo feature
//! `testcontainers`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), cloudid_mock::container::ContainerError> {
//! use cloudid_mock::container::CloudIdContainer;
//! let cloud = CloudIdContainer::default().start().await?;
//! let env = cloud.env(); // AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_ENDPOINT_URL_STS, GCE_METADATA_HOST, …
//! # Ok(()) }
//! ```
//!
//! The image is `localhost/cloudid` with the crate's version as its tag (build it from
//! `fixtures/compose/Containerfile`, see the README). The container's port 80 is published on a
//! free loopback port chosen here and pinned: podman 4.3 reports published ports with an empty
//! `HostIp`, which testcontainers cannot read back, so the port is never asked of the engine.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{ContainerAsync, GenericImage, ImageExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::world::{self, WorldModel};

/// The image name, without tag.
pub const IMAGE: &str = "localhost/cloudid";
/// The image tag pinned by this crate version.
pub const TAG: &str = env!("CARGO_PKG_VERSION");
const WORLD_PATH: &str = "/world.yaml";

/// Why a container did not start or did not become ready.
#[derive(Debug, thiserror::Error)]
pub enum ContainerError {
    /// The world given to [`CloudIdContainer::with_world`] does not load.
    #[error(transparent)]
    World(#[from] world::WorldError),
    /// The engine refused or failed to run the container.
    #[error("container engine: {0}")]
    Engine(#[from] testcontainers::TestcontainersError),
    /// The container ran but `/_cloudid/health` never answered 200.
    #[error("cloudid in the container did not answer {url} with 200 within {seconds} s")]
    NotReady {
        /// The health URL polled.
        url: String,
        /// How long it was polled.
        seconds: u64,
    },
    /// No free loopback port to publish on.
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A cloudid container to start: image tag, world and readiness timeout.
#[derive(Debug, Clone)]
pub struct CloudIdContainer {
    tag: String,
    world: Option<(String, WorldModel)>,
    ready_timeout: Duration,
}

impl Default for CloudIdContainer {
    /// The pinned image (`localhost/cloudid:<crate version>`) serving the built-in default world.
    fn default() -> Self {
        Self { tag: TAG.to_string(), world: None, ready_timeout: Duration::from_secs(30) }
    }
}

impl CloudIdContainer {
    /// Serve this world (YAML text, as for `cloudid serve --world`). It is loaded here first, so a
    /// broken world fails with its line and field before any container starts.
    pub fn with_world(mut self, yaml: impl Into<String>) -> Result<Self, ContainerError> {
        let yaml = yaml.into();
        let model = world::parse("world.yaml", &yaml)?;
        self.world = Some((yaml, model));
        Ok(self)
    }

    /// Serve the world in this file.
    pub fn with_world_file(self, path: impl AsRef<Path>) -> Result<Self, ContainerError> {
        Ok(Self { world: Some(world::load::load_file_with_text(path.as_ref())?), ..self })
    }

    /// Another image tag than the pinned one (e.g. `dev`).
    pub fn with_tag(mut self, tag: impl Into<String>) -> Self {
        self.tag = tag.into();
        self
    }

    /// How long to wait for `/_cloudid/health` (default 30 s).
    pub fn with_ready_timeout(mut self, timeout: Duration) -> Self {
        self.ready_timeout = timeout;
        self
    }

    /// Starts the container and waits until its health URL answers 200.
    pub async fn start(self) -> Result<RunningCloudId, ContainerError> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut cmd = vec!["serve".to_string(), "--listen".into(), "0.0.0.0:80".into()];
        if self.world.is_some() {
            cmd.extend(["--world".to_string(), WORLD_PATH.to_string()]);
        }
        let image = GenericImage::new(IMAGE, self.tag.as_str()).with_entrypoint("/cloudid").with_wait_for(WaitFor::message_on_stdout("cloudid listening on http://"));
        let mut request = image.with_cmd(cmd).with_mapped_port(port, 80.tcp()).with_startup_timeout(self.ready_timeout);
        if let Some((yaml, _)) = &self.world {
            request = request.with_copy_to(WORLD_PATH, yaml.clone().into_bytes());
        }
        let container = request.start().await?;
        let endpoint = format!("http://127.0.0.1:{port}");
        wait_healthy(port, self.ready_timeout).await.map_err(|()| ContainerError::NotReady { url: format!("{endpoint}/_cloudid/health"), seconds: self.ready_timeout.as_secs() })?;
        let model = self.world.map(|(_, m)| m).unwrap_or_else(world::default_world);
        Ok(RunningCloudId { container, endpoint, model })
    }
}

/// A running cloudid container; stopped and removed when dropped.
pub struct RunningCloudId {
    container: ContainerAsync<GenericImage>,
    endpoint: String,
    model: WorldModel,
}

impl std::fmt::Debug for RunningCloudId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningCloudId").field("id", &self.container.id()).field("endpoint", &self.endpoint).finish()
    }
}

impl RunningCloudId {
    /// Base URL on the host, e.g. `http://127.0.0.1:41234` (no trailing slash).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The environment variables pointing clients on the host at this container (as `cloudid env`).
    pub fn env(&self) -> BTreeMap<String, String> {
        crate::env::client_env(&self.model, &self.endpoint)
    }

    /// The engine's id of the container.
    pub fn id(&self) -> &str {
        self.container.id()
    }
}

async fn wait_healthy(port: u16, timeout: Duration) -> Result<(), ()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if health(port).await == Some(200) {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn health(port: u16) -> Option<u16> {
    let attempt = async {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.ok()?;
        stream.write_all(b"GET /_cloudid/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").await.ok()?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await.ok()?;
        std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
    };
    tokio::time::timeout(Duration::from_secs(2), attempt).await.ok().flatten()
}
