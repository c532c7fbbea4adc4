//! Answer: how masked, recorded messages reach the client ([`Client`], the host's framing:
//! an HTTP body or SSE stream, a stdio line), what a client waiting on a held call is
//! told ([`WaitingFor`]), and the one place the JSON-RPC errors Gatehouse answers with
//! are worded.

use crate::mask::Masked;
use gatehouse_proxy_core::jsonrpc::{Id, Message, codes};
use serde_json::Value;
use std::future::Future;
use std::time::Duration;

/// The client side of one call, as the host frames it.
pub trait Client: Send {
    /// Releases one masked, recorded message. `false` when the client has gone and that
    /// cancels the call.
    fn answer(&mut self, msg: Masked<Message>) -> impl Future<Output = bool> + Send;

    /// The call now waits (for approvers, or for the upstream's answer): a host can let
    /// the client's next messages flow meanwhile, and a client that cancels by closing
    /// its stream needs that stream open from here on.
    fn awaiting(&mut self, what: Awaiting) -> impl Future<Output = ()> + Send {
        let _ = what;
        async {}
    }

    /// Resolves when the client has gone in a way that cancels the call (a stateless-era
    /// client closing its stream). By default a client never cancels by going away.
    fn gone(&self) -> impl Future<Output = ()> + Send {
        std::future::pending()
    }

    /// Tells the client a held call is still waiting. `false` when it has gone.
    fn still_waiting(&mut self, waiting: &WaitingFor) -> impl Future<Output = bool> + Send {
        let _ = waiting;
        async { true }
    }
}

/// Where a held call stands, for a client that waits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingFor {
    /// The approval's id.
    pub approval: String,
    /// Groups that may approve.
    pub approvers: Vec<String>,
    /// Approvals given so far.
    pub approvals: u32,
    /// Approvals needed.
    pub quorum: u32,
}

impl WaitingFor {
    /// "waiting for approval `id` by a, b (1 of 2)".
    pub fn message(&self) -> String {
        format!(
            "waiting for approval `{}` by {} ({} of {})",
            self.approval,
            self.approvers.join(", "),
            self.approvals,
            self.quorum
        )
    }
}

/// What a call waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Awaiting {
    /// Approvers (the call is held).
    Approval,
    /// The upstream's answer (the call is forwarded).
    Upstream,
}

fn error(id: Option<&Id>, code: i64, message: String, data: Option<Value>) -> Masked<Message> {
    Masked::authored(Message::error(id.cloned(), code, message, data))
}

/// A call refused by policy, a pin or an approver.
pub fn refusal(id: Option<&Id>, reason: &str, data: Option<Value>) -> Masked<Message> {
    error(id, codes::POLICY_DENIED, reason.to_string(), data)
}

/// The answer to a call that could not be recorded (nothing was forwarded).
pub fn unrecorded(id: Option<&Id>, e: &dyn std::fmt::Display) -> Message {
    Message::error(
        id.cloned(),
        codes::INTERNAL_ERROR,
        format!(
            "Gatehouse could not record this request, so it was not forwarded ({e}). Try again; if it persists, tell your Gatehouse admin."
        ),
        None,
    )
}

/// The answer that replaces a server message which could not be recorded.
pub fn withheld(id: Option<&Id>, e: &dyn std::fmt::Display) -> Masked<Message> {
    error(
        id,
        codes::INTERNAL_ERROR,
        format!("Gatehouse could not record the server's answer, so it was withheld ({e})"),
        None,
    )
}

/// The upstream could not take the call.
pub fn unavailable(id: Option<&Id>, server: &str, e: &str) -> Masked<Message> {
    error(
        id,
        codes::UPSTREAM_ERROR,
        format!("server `{server}` is unavailable: {e}"),
        None,
    )
}

/// The upstream's connection closed before it answered.
pub(crate) fn closed(id: Option<&Id>, server: &str) -> Message {
    Message::error(
        id.cloned(),
        codes::UPSTREAM_ERROR,
        format!("the connection to server `{server}` closed before it answered"),
        None,
    )
}

/// The upstream did not answer in time (the call is cancelled upstream).
pub(crate) fn timed_out(id: Option<&Id>, server: &str, method: &str, after: Duration) -> Message {
    Message::error(
        id.cloned(),
        codes::UPSTREAM_ERROR,
        format!(
            "server `{server}` did not answer `{method}` within {} s (limits.request_timeout_secs); the request was cancelled upstream",
            after.as_secs_f64()
        ),
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_say_what_to_do() {
        let id = Id::Number("3".into());
        let r = refusal(Some(&id), "no", None);
        assert_eq!(r.get().error_value().unwrap()["code"], codes::POLICY_DENIED);
        assert!(r.counts().is_empty());
        let u = unrecorded(Some(&id), &"disk full");
        assert!(u.to_json().contains("disk full") && u.to_json().contains("Try again"));
        let t = timed_out(None, "db", "tools/call", Duration::from_secs(30));
        assert!(t.to_json().contains("within 30 s"));
    }

    #[test]
    fn waiting_says_for_whom() {
        let w = WaitingFor {
            approval: "a1".into(),
            approvers: vec!["dba".into(), "sre".into()],
            approvals: 1,
            quorum: 2,
        };
        assert_eq!(
            w.message(),
            "waiting for approval `a1` by dba, sre (1 of 2)"
        );
    }
}
