//! gatehouse-pipeline: the path of one MCP call, composed once for every host.
//!
//! [`call`] moves one client message through the stages in order — classify, decide
//! (policy, tool pins), record the request, hold for approval, forward, then for each
//! upstream message filter lists, mask, record, answer — with the reason for each
//! position written beside it. The gateway and the tray's local capture both call it;
//! what differs between them is a few small traits they implement:
//!
//! * [`Rights`]: the policy in force and the masking profile of a person;
//! * [`Records`]: where records go (the control plane's store, the tray's spool);
//! * [`Approvals`]: how approvals are asked and awaited;
//! * [`ToolPins`]: where pinned tool definitions are kept ([`NoPins`] where there are none);
//! * [`Upstream`]: how the server is reached;
//! * [`Client`]: how answers are framed (HTTP, SSE, stdio).
//!
//! Each request carries its own [`Principal`] ([`Request`]), so it is decided and masked
//! with the rights of the token it came with. Only the masker makes a [`Masked`] value,
//! and records and answers take nothing else. No HTTP server, database or GUI here.

#![deny(missing_docs)]

mod answer;
mod approval;
mod call;
mod classify;
mod decide;
mod lists;
mod mask;
mod pins;
mod record;
mod upstream;

pub use answer::{Awaiting, Client, WaitingFor, refusal, unavailable, unrecorded, withheld};
pub use approval::{Approvals, Held, HoldOutcome};
pub use call::{Host, Outcome, Request, Rights, Route, call, relay};
pub use classify::{Call, Scope, Target, classify};
pub use decide::{ApprovalTerms, Decision, PolicyInForce, Verdict, decide, may_connect};
pub use gatehouse_policy::{ApprovalMode, Principal};
pub use lists::filter as filter_list;
pub use mask::{ClientRecord, Masked, Masking};
pub use pins::{NoPins, PinChange, ToolPins, tool_digest};
pub use record::{Direction, Record, RecordError, Records};
pub use upstream::{Exchange, Upstream};

#[cfg(test)]
mod tests;
