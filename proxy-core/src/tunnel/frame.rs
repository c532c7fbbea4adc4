//! The frames of the agent tunnel, one JSON object per WebSocket text message.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// One frame. `type` names the variant (`hello`, `message`, ...).
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Frame {
    /// Agent → control plane, first: who it is and what it serves.
    Hello {
        /// The agent token (never logged: `Debug` redacts it).
        token: String,
        /// The agent's version.
        version: String,
        /// The servers this agent serves (names as in the control plane's `[[servers]]`).
        servers: Vec<String>,
    },
    /// Control plane → agent: registered.
    Welcome {
        /// The agent name the token belongs to.
        agent: String,
        /// Seconds between heartbeats; a side silent for three of them is gone.
        heartbeat_secs: u64,
    },
    /// Control plane → agent: not registered, and why (the connection closes next).
    Refused {
        /// What is wrong and what to do.
        reason: String,
    },
    /// Control plane → agent: start a session with an upstream server.
    Open {
        /// The gateway's session id.
        session: String,
        /// The server name.
        server: String,
    },
    /// Agent → control plane: the upstream of `session` is connected.
    Opened {
        /// The session.
        session: String,
    },
    /// One JSON-RPC message of a session, either way.
    Message {
        /// The session.
        session: String,
        /// Upstream → client: the request (as the control plane numbered it) this message
        /// belongs to, when the agent knows it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        request: Option<u64>,
        /// Client → upstream: the MCP protocol version to send to an HTTP upstream.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol_version: Option<String>,
        /// Client → upstream: routing headers (`Mcp-Method`, `Mcp-Name`, ...) for an HTTP
        /// upstream. Never credentials: clients' tokens stop at the gateway.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        headers: Vec<(String, String)>,
        /// The JSON-RPC message.
        message: Value,
    },
    /// Either way: the session is over, and why.
    Close {
        /// The session.
        session: String,
        /// Why (shown to the client and recorded).
        reason: String,
    },
    /// Either way: the sender may send `n` more messages of `session`.
    Credit {
        /// The session.
        session: String,
        /// How many.
        n: u32,
    },
    /// Either way: a heartbeat; answered with `pong`.
    Ping {
        /// Echoed in the pong.
        seq: u64,
    },
    /// The answer to a `ping`.
    Pong {
        /// The ping's `seq`.
        seq: u64,
    },
}

/// A frame that could not be read.
#[derive(Debug, Clone, thiserror::Error)]
#[error("a tunnel frame is malformed: {0}")]
pub struct FrameError(String);

impl Frame {
    /// The frame as JSON text.
    pub fn encode(&self) -> String {
        // A frame is a tree of strings, numbers and JSON values: serializing cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads a frame from JSON text.
    pub fn decode(text: &str) -> Result<Frame, FrameError> {
        serde_json::from_str(text).map_err(|e| FrameError(e.to_string()))
    }
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Frame::Hello {
                version, servers, ..
            } => f
                .debug_struct("Hello")
                .field("token", &"<redacted>")
                .field("version", version)
                .field("servers", servers)
                .finish(),
            Frame::Message {
                session, request, ..
            } => f
                .debug_struct("Message")
                .field("session", session)
                .field("request", request)
                .finish_non_exhaustive(),
            other => f.write_str(&other.encode()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn frames_round_trip_and_hide_the_token() {
        let hello = Frame::Hello {
            token: "gha_secret".into(),
            version: "0.1.0".into(),
            servers: vec!["db".into()],
        };
        assert_eq!(Frame::decode(&hello.encode()).unwrap(), hello);
        assert!(!format!("{hello:?}").contains("gha_secret"));
        let m = Frame::Message {
            session: "s".into(),
            request: Some(3),
            protocol_version: None,
            headers: vec![],
            message: json!({"jsonrpc":"2.0","id":3,"result":{}}),
        };
        let text = m.encode();
        assert!(text.contains("\"type\":\"message\"") && !text.contains("headers"));
        assert_eq!(Frame::decode(&text).unwrap(), m);
    }

    #[test]
    fn malformed_frames_are_errors() {
        assert!(Frame::decode("{\"type\":\"open\",\"session\":\"s\"}").is_err());
        assert!(Frame::decode("{\"type\":\"teleport\"}").is_err());
        assert!(Frame::decode("not json").is_err());
    }
}
