//! The part of Gatehouse every component shares: the MCP/JSON-RPC message model, the
//! SSE codec, connections to upstream MCP servers (stdio, Streamable HTTP, legacy SSE,
//! or a pipe through an agent), and the agent tunnel's frames and flow control. It holds
//! no HTTP server, database or UI.
#![deny(missing_docs)]

pub mod jsonrpc;
pub mod mcp;
pub mod redact;
pub mod sse;
pub mod trace;
pub mod tunnel;
pub mod upstream;
