//! What the Gatehouse tray app does, without any GUI, so that it is testable headless and
//! shared with `gatehouse connect`:
//!
//! * [`signin`]: the sign-in state machine and OAuth Authorization Code + PKCE with a
//!   loopback redirect (RFC 8252) against any OpenID provider found by discovery;
//! * [`secrets`]: the refresh token in the OS keyring, or a 0600 file where there is none;
//! * [`account`]: one signed-in person: tokens, refresh shared between processes;
//! * [`clients`]: writing a `gatehouse connect SERVER` entry into Claude Desktop, Cursor
//!   and VS Code configs without secrets and without losing anything;
//! * [`api`]: the control plane's JSON API and its watch streams;
//! * [`spool`], [`upload`], [`capture`]: local capture of stdio MCP servers under the
//!   pushed policy and masking, into a durable spool that uploads exactly once;
//! * [`local_servers`], [`runtime`], [`host`], [`approvals`]: the local servers admins
//!   configure per group, run by name in the tray app (sessions handed over by
//!   `gatehouse connect NAME` on a 0600 Unix socket) or in `gatehouse connect` itself,
//!   with local calls held for approval at the control plane.

pub mod access;
pub mod account;
pub mod api;
pub mod approvals;
pub mod capture;
pub mod clients;
pub mod host;
pub mod local_servers;
pub mod paths;
pub mod policy;
pub mod runtime;
pub mod secrets;
pub mod signin;
pub mod spool;
pub mod upload;
