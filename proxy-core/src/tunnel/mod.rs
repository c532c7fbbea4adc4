//! The agent tunnel: many MCP sessions carried over one connection that the agent dials
//! out to the control plane (a WebSocket in practice; nothing here knows about sockets).
//!
//! [`Frame`] is the wire format, one JSON text message per frame. [`Mux`] keeps the
//! sessions of one connection apart with per-session flow control: each side may have at
//! most [`WINDOW`] messages of a session in flight to the other, and gets credit back as
//! the other side consumes them. Inbound messages go to a bounded queue per session, so
//! the connection's reader never waits for a slow session and one slow session never
//! stalls the others.
//!
//! The conversation: the agent sends `hello` (its token, version and the servers it
//! serves); the control plane answers `welcome` or `refused`. Then the control plane
//! sends `open` per session, the agent answers `opened` (or `close` with the reason the
//! upstream could not be started), and both sides exchange `message`, `credit` and
//! `close` frames for that session, and `ping`/`pong` heartbeats for the connection.

mod frame;
mod mux;

pub use frame::{Frame, FrameError};
pub use mux::{Delivery, Mux, SessionLink, SessionSender};

/// The control plane's WebSocket path agents connect to.
pub const CONNECT_PATH: &str = "/agent/v1/connect";

/// How many messages of one session may be in flight in each direction before the
/// sender waits for credit.
pub const WINDOW: u32 = 64;
