//! Hold for approval: a call the policy holds waits here until approvers decide (hold
//! mode) or is answered with the approval to retry later (retry mode). How approvals are
//! asked and awaited is the host's ([`Approvals`]): the control plane keeps them itself,
//! the tray asks the control plane. What approvers see of the call is masked.

use crate::answer::Client;
use crate::classify::Target;
use crate::decide::ApprovalTerms;
use crate::mask::Masked;
use gatehouse_policy::Principal;
use gatehouse_proxy_core::jsonrpc::Message;
use serde_json::Value;
use std::future::Future;

/// A call held for approval, as the host needs it to ask.
pub struct Held<'a> {
    /// The session it belongs to.
    pub session_id: &'a str,
    /// The server (as policies name it).
    pub server: &'a str,
    /// Who asks (the principal of this request's token).
    pub principal: &'a Principal,
    /// The call as the client sent it (forwarded as is once approved).
    pub message: &'a Message,
    /// What it names.
    pub target: &'a Target,
    /// The policy's terms.
    pub terms: &'a ApprovalTerms,
    /// The digest the approval binds to: only this exact call passes.
    pub digest: String,
    /// The call's arguments, masked, for approvers.
    pub arguments: Masked<Value>,
    /// The record of the decision that held it.
    pub decision: Option<&'a Value>,
}

/// How a hold ended.
#[derive(Debug, Clone, PartialEq)]
pub enum HoldOutcome {
    /// Approved (or no longer needed): forward the call.
    Proceed,
    /// Not (yet) approved: the client gets this refusal; nothing is forwarded.
    Refused {
        /// What the client is told.
        message: String,
        /// Error data (the approval id, so the client can refer to it).
        data: Option<Value>,
    },
}

/// How a host asks for approvals and awaits them.
pub trait Approvals: Send + Sync {
    /// Asks for an approval of `held` and waits as its terms say, telling `client` from
    /// time to time that the call is still waiting.
    fn hold<C: Client>(
        &self,
        held: Held<'_>,
        client: &mut C,
    ) -> impl Future<Output = HoldOutcome> + Send;
}
