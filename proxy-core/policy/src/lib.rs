//! Gatehouse policies: the YAML document model and the evaluator that decides, for each MCP
//! request, whether it is allowed, denied, or held for human approval — and which masking profile
//! applies to the response.
//!
//! The document format and the precedence rules are described in this crate's README.md.
//! This crate does no I/O: the control plane stores and distributes documents, the gateway calls
//! [`Policy::evaluate`] on each request and [`Policy::visible`] to filter lists, and approvals
//! bind to [`request_digest`].
//!
//! ```
//! use gatehouse_policy::{Policy, Principal, Request, EffectKind};
//! let policy = Policy::from_yaml("version: 1\nrules:\n  - name: engineers-query\n    principals: {groups: [engineers]}\n    tools: [query]\n    effect: allow\n").unwrap();
//! let req = Request {
//!     principal: Principal::new("alice", ["engineers"]),
//!     server: "customers".into(),
//!     method: "tools/call".into(),
//!     tool: Some("query".into()),
//!     arguments: serde_json::json!({"sql": "select 1"}),
//! };
//! let decision = policy.evaluate(&req);
//! assert_eq!(decision.effect.kind(), EffectKind::Allow);
//! assert_eq!(decision.rule.as_deref(), Some("engineers-query"));
//! ```

mod access;
mod command;
mod decision;
mod diff;
mod digest;
mod document;
mod document_matchers;
mod error;
mod index;
mod matcher;
mod pattern;
mod policy;
mod reach;
mod rule;
mod sql;
mod ttl;

pub use access::{HeldGrant, Offer, OfferError, RequestOffer, words as duration_words};
pub use decision::{ApprovalMode, Decision, DefaultSource, Effect, EffectKind, Principal, Request};
pub use diff::{Change, diff_decisions};
pub use digest::{canonical_json, request_digest};
pub use document::MAX_QUORUM;
pub use error::{PolicyError, PolicyErrors};
pub use policy::{Explained, ItemKind, Policy};
pub use reach::{Reach, ReachPath};
pub use ttl::{MAX_TTL, MIN_TTL, parse_ttl};
