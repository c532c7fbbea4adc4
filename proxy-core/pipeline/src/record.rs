//! Record: what the audit trail keeps of a call, and the one trait through which records
//! leave the pipeline (the control plane's store, the tray's spool). A record's payload
//! is either masked data or a note Gatehouse itself wrote; the store and the spool take
//! nothing but a `Record`, so there is no way to hand them unmasked data. The one other
//! constructor, [`Record::from_capture_spool`], reads back a record the tray's pipeline
//! made and masked on a laptop.

use crate::decide::Decision;
use crate::mask::{ClientRecord, Masked};
use gatehouse_mask::MaskCounts;
use gatehouse_proxy_core::jsonrpc::{Kind, Message};
use gatehouse_proxy_core::mcp;
use serde_json::Value;
use std::future::Future;

/// Which way a recorded message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the MCP client to the upstream server.
    ClientToServer,
    /// From the upstream server to the client.
    ServerToClient,
    /// Something Gatehouse itself did or answered.
    Gateway,
}

impl Direction {
    /// The name stored with the record.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::ClientToServer => "client_to_server",
            Direction::ServerToClient => "server_to_client",
            Direction::Gateway => "gateway",
        }
    }

    /// The direction a stored name ([`Direction::as_str`]) stands for.
    pub fn parse(name: &str) -> Option<Direction> {
        [
            Direction::ClientToServer,
            Direction::ServerToClient,
            Direction::Gateway,
        ]
        .into_iter()
        .find(|d| d.as_str() == name)
    }
}

/// One record of a session: a message or something Gatehouse did.
///
/// Its payload cannot be set by hand, so the store and the spool (which take only
/// `Record`s) never get text the masker did not see:
///
/// ```compile_fail
/// let mut r = gatehouse_pipeline::Record::note("s", "x", serde_json::json!({}));
/// r.payload = r#"{"card":"4111 1111 1111 1111"}"#.to_string();
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The session it belongs to.
    pub session_id: String,
    /// Which way it went.
    pub direction: Direction,
    /// `request`, `response`, `error`, `notification`, or the name of a note.
    pub kind: String,
    /// The JSON-RPC method, where there is one.
    pub method: Option<String>,
    /// The tool, prompt or resource named.
    pub tool: Option<String>,
    /// The JSON-RPC id as text.
    pub rpc_id: Option<String>,
    /// The policy decision (JSON), for client requests.
    pub decision: Option<String>,
    /// Private: set only from a [`Masked`] value, a note, or a record read back from the
    /// tray's spool.
    payload: String,
    /// What masking replaced, as a JSON object; `None` when nothing.
    masked: Option<String>,
}

impl Record {
    fn of(
        session_id: &str,
        direction: Direction,
        kind: String,
        payload: String,
        counts: &MaskCounts,
    ) -> Record {
        Record {
            session_id: session_id.to_string(),
            direction,
            kind,
            method: None,
            tool: None,
            rpc_id: None,
            decision: None,
            payload,
            masked: (!counts.is_empty()).then(|| serde_json::to_string(counts).unwrap_or_default()),
        }
    }

    /// A masked message (from the server, or one Gatehouse answered in its place).
    pub fn message(session_id: &str, direction: Direction, msg: &Masked<Message>) -> Record {
        let r = Record::of(
            session_id,
            direction,
            String::new(),
            msg.get().to_json(),
            msg.counts(),
        );
        r.about(msg.get())
    }

    /// A client message, by its masked record; `decision` for requests, masked too (a
    /// refusal's reason can quote the call).
    pub fn client(
        session_id: &str,
        msg: &Message,
        masked: &Masked<ClientRecord>,
        decision: Option<&Masked<Decision>>,
    ) -> Record {
        let mut r = Record::of(
            session_id,
            Direction::ClientToServer,
            String::new(),
            masked.get().json.clone(),
            masked.counts(),
        );
        r.decision = decision
            .and_then(|d| d.get().record())
            .map(Value::to_string);
        r.about(msg)
    }

    /// Something Gatehouse itself did (`session_end`, `approval_requested`, ...), with
    /// `detail` written by Gatehouse (never a client's or a server's data: that goes
    /// through [`Record::message`] or [`Record::client`], masked).
    pub fn note(session_id: &str, kind: &str, detail: Value) -> Record {
        Record::of(
            session_id,
            Direction::Gateway,
            kind.to_string(),
            detail.to_string(),
            &MaskCounts::new(),
        )
    }

    /// A record as the tray's capture kept it in its spool and uploaded it: `payload` and
    /// `masked` exactly as the laptop stored them.
    ///
    /// Why this is safe, although nothing here masks: the laptop's spool takes only
    /// `Record`s (`Spool::keep` in gatehouse-client), so what it uploads was masked by
    /// this same pipeline with the profile the control plane gave the capture, or is a
    /// note the capture wrote. Masking it again here would change what the laptop
    /// recorded (a second profile, different counts) and the record would no longer be
    /// the one the engineer's machine kept. The control plane stores these records only
    /// in the uploader's own `local:` sessions, after checking who uploads them; nothing
    /// in a gateway session is ever made this way.
    pub fn from_capture_spool(
        session_id: &str,
        direction: Direction,
        kind: String,
        payload: String,
        masked: Option<String>,
    ) -> Record {
        Record {
            masked,
            ..Record::of(session_id, direction, kind, payload, &MaskCounts::new())
        }
    }

    /// Names the message this record is about (method, target, id); a message record
    /// also takes its kind from it.
    pub fn about(mut self, msg: &Message) -> Record {
        let (kind, rpc_id) = match msg.kind() {
            Kind::Request { id, .. } => ("request", Some(id.to_string())),
            Kind::Notification { .. } => ("notification", None),
            Kind::Response { id, is_error } => (
                if *is_error { "error" } else { "response" },
                id.as_ref().map(|i| i.to_string()),
            ),
        };
        if self.kind.is_empty() {
            self.kind = kind.to_string();
        }
        self.method = msg.method().map(String::from);
        self.tool = mcp::target_name(msg).map(String::from);
        self.rpc_id = rpc_id;
        self
    }

    /// With a decision (JSON) attached.
    pub fn with_decision(mut self, decision: &Value) -> Record {
        self.decision = Some(decision.to_string());
        self
    }

    /// The JSON payload: masked data or Gatehouse's own note.
    pub fn payload(&self) -> &str {
        &self.payload
    }

    /// What masking replaced, as a JSON object; `None` when nothing.
    pub fn masked(&self) -> Option<&str> {
        self.masked.as_deref()
    }
}

/// Why records could not be made durable; the call then fails closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

/// Where a host keeps records: durable when `keep` returns `Ok`.
pub trait Records: Send + Sync {
    /// Keeps `records` in order, all or none.
    fn keep(&self, records: Vec<Record>) -> impl Future<Output = Result<(), RecordError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mask::Masking;
    use gatehouse_mask::{Masker, Profile};
    use serde_json::json;
    use std::sync::Arc;

    fn masking() -> Masking {
        Masking::new(Arc::new(Masker::new(&Profile::default(), None).unwrap()))
    }

    #[test]
    fn message_records_carry_kind_target_and_counts() {
        let call = Message::from_value(json!({"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"pay","arguments":{"card":"4111 1111 1111 1111"}}})).unwrap();
        let r = Record::client("s1", &call, &masking().client_record(&call), None);
        assert_eq!(
            (
                r.kind.as_str(),
                r.method.as_deref(),
                r.tool.as_deref(),
                r.rpc_id.as_deref()
            ),
            ("request", Some("tools/call"), Some("pay"), Some("4"))
        );
        assert_eq!(r.direction, Direction::ClientToServer);
        assert!(!r.payload().contains("4111"));
        assert_eq!(r.masked(), Some(r#"{"credit_card":1}"#));

        let err = Message::error(None, -1, "boom", None);
        let r = Record::message("s1", Direction::Gateway, &masking().from_server(err, None));
        assert_eq!((r.kind.as_str(), r.masked()), ("error", None));
    }

    #[test]
    fn notes_are_gatehouse_s_own() {
        let r = Record::note("s1", "session_end", json!({"reason": "idle_timeout"}))
            .with_decision(&json!({"effect": "allow"}));
        assert_eq!(r.kind, "session_end");
        assert_eq!(r.direction.as_str(), "gateway");
        assert_eq!(r.payload(), r#"{"reason":"idle_timeout"}"#);
        assert_eq!(r.decision.as_deref(), Some(r#"{"effect":"allow"}"#));
    }

    #[test]
    fn spooled_records_come_back_as_the_laptop_kept_them() {
        let r = Record::from_capture_spool(
            "local-1",
            Direction::parse("server_to_client").unwrap(),
            "response".into(),
            r#"{"jsonrpc":"2.0","id":1,"result":{}}"#.into(),
            Some(r#"{"email":1}"#.into()),
        );
        assert_eq!(r.direction, Direction::ServerToClient);
        assert_eq!(r.payload(), r#"{"jsonrpc":"2.0","id":1,"result":{}}"#);
        assert_eq!(r.masked(), Some(r#"{"email":1}"#));
        assert_eq!(Direction::parse("sideways"), None);
    }
}
