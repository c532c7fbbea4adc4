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
//!   pushed policy and masking, into a durable spool that uploads exactly once.

pub mod account;
pub mod api;
pub mod capture;
pub mod clients;
pub mod paths;
pub mod policy;
pub mod secrets;
pub mod signin;
pub mod spool;
pub mod upload;
