//! The part of Gatehouse every component shares: the MCP/JSON-RPC message model, the
//! SSE codec, and connections to upstream MCP servers (stdio, Streamable HTTP, legacy
//! SSE). It holds no HTTP server, database or UI.
#![deny(missing_docs)]

pub mod jsonrpc;
pub mod mcp;
pub mod sse;
pub mod upstream;
