//! # cloudid-harness
//!
//! Runs declarative scenarios (`scenarios/**/*.yaml`) against client programs (profiles in
//! `fixtures/clients/profiles.yaml`, or any command) and judges what each client did from the
//! cloudid server's journal and from the client's own output. Verdicts follow the OpenID
//! conformance suite: passed, failed, warning (a known client gap), skipped.
//!
//! Client protocol: a client is run with the environment `cloudid env` gives for its flow (plus
//! `CLOUDID_FLOW` and `CLOUDID_<VAR>` for the flow's values) and prints, as its last stdout line,
//! one JSON object: `{"ok": true|false, …}` with fingerprints (`sha256:` + 12 hex digits of
//! SHA-256) of what it holds — `secret_fingerprint`, `token_fingerprint`,
//! `access_token_fingerprint`, `id_token_fingerprint` — never the secrets themselves.
//! `CLOUDID_REPEAT=N` (scenario param `repeat`) asks a client to use its credentials N times in
//! one process, as an application would, and `CLOUDID_REPEAT_PAUSE_MS` (param `pause_ms`) to
//! wait that long between uses, for SDKs that refresh in the background.

pub mod checks;
pub mod client;
pub mod error;
pub mod exec_mode;
pub mod flow;
pub mod fuzz;
pub mod html;
pub mod params;
pub mod profile;
pub mod progress;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod world_edit;

pub use checks::Verdict;
pub use error::HarnessError;
