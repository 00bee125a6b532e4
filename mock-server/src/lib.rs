//! # cloudid-mock
//!
//! A local stand-in for the endpoints keyless cloud authentication talks to — AWS IMDS, container
//! credentials, STS, the GCP metadata server, GitHub's OIDC issuer, Google STS and IAM
//! Credentials — that issues real credentials and verifies what clients send as strictly as the
//! clouds do.
//!
//! One entry point for tests:
//!
//! ```no_run
//! # async fn demo() {
//! let cloud = cloudid_mock::CloudId::start().await;
//! let env = cloud.env(); // AWS_EC2_METADATA_SERVICE_ENDPOINT, AWS_CONTAINER_CREDENTIALS_FULL_URI, …
//! // … run the client under test with `env` …
//! for entry in cloud.journal() {
//!     println!("{} {} {:?}", entry.service, entry.operation, entry.verdict);
//! }
//! # }
//! ```

#![warn(unreachable_pub)]

mod api;
pub mod clock;
mod cloud_hosts;
pub mod connections;
#[cfg(feature = "testcontainers")]
pub mod container;
mod control;
mod control_client;
pub mod cred_config;
pub mod env;
mod exchange;
#[cfg(target_os = "linux")]
pub mod exec;
pub mod explain;
pub mod faults;
pub mod fence;
mod hostnames;
mod ids;
pub mod journal;
mod kube_control;
pub mod lint;
pub mod offline;
mod percent;
mod presign_control;
pub mod proxy;
mod secret;
mod server;
mod service;
mod services;
pub mod tls;
pub mod verify;
pub mod world;

pub use api::{Builder, CloudId};
pub use clock::Clock;
pub use connections::{Limits, serve};
pub use control_client::{ControlClient, ControlError};
pub use exchange::{Shared, apply_clock_config};
pub use fence::Fence;
pub use journal::{Check, Issued, IssuedKind, JournalEntry, JournalSnapshot, Outcome, Verdict};
pub use secret::{Secret, fingerprint};
pub use server::router;
pub use service::Service;
pub use services::app_service_identity::PATH as APP_SERVICE_IDENTITY_PATH;
pub use world::mint::TokenRequest;
pub use world::{WorldError, WorldModel};

/// The request parsers on the exchange paths, for the fuzz targets and property tests; not a
/// stable API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::services::aws_sts::code::StsCode;
    pub use crate::services::aws_sts::params::{parse_form, parse_role_arn};
    pub use crate::services::google_sts::parse_audience;
}
