//! The workspace's integration tests, one binary (as ripgrep keeps them): each module is one
//! area — a service over HTTP, the real clients, the harness, containers, hardening.

mod certification;
mod container;
mod containers;
mod control;
mod faults;
mod google_sts;
mod google_sts_props;
mod hardening;
mod imds;
mod issuers;
mod jwt_props;
mod real_clients_aws;
mod real_clients_federation;
mod real_clients_tokens;
mod sigv4_props;
mod sts;
mod tls;
