//! Periodic access reviews (SOC 2 CC6.2/CC6.3): for a period, everyone who could use each
//! server (standing policy rules resolved against the groups the identity provider sent,
//! and just-in-time grants), what they did with it, and each owner's keep or revoke.
//!
//! - [`period`] reads the period people type (`2026-Q4`, `2026-12`, two dates);
//! - [`entries`] works out who could use what, and their use, from the store;
//! - [`change`] turns a revoke into the concrete change (a policy draft, the IdP groups);
//! - [`reviews`] keeps reviews: start, decide, close (the result goes to the audit log);
//! - [`reminders`] chases undecided entries on the approvals webhook.
//!
//! Who decides: the server's owners (`[[servers]] owners` in the config and
//! `servers.NAME.owners` in the policy in force; a person matches by name or group).
//! Nobody decides an entry about their own access; admins decide those, and every entry
//! of a server that names no owner. Admins and auditors start and close reviews.

pub mod change;
pub mod entries;
pub mod period;
pub mod reminders;
pub mod reviews;

use crate::store::StoreError;
use serde::{Deserialize, Serialize};

/// A review, with its entries when read one at a time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = AccessReview)]
pub struct Review {
    /// Id people type in `gatehouse access review show ID`.
    pub id: String,
    /// The period as typed: `2026-Q4`, `2026-12`, `2026-10-01..2026-10-15`.
    pub period: String,
    /// First instant of the period (RFC 3339).
    pub from: String,
    /// Last instant of the period (RFC 3339).
    pub to: String,
    /// The facts are as of this time (the period's end, or the start of the review when the
    /// period had not ended yet).
    pub covered_to: String,
    /// `open` or `closed`.
    pub state: String,
    /// Who started it.
    pub started_by: String,
    /// When (RFC 3339).
    pub started_at: String,
    /// Who closed it.
    #[schema(required)]
    pub closed_by: Option<String>,
    /// When (RFC 3339).
    #[schema(required)]
    pub closed_at: Option<String>,
    /// SHA-256 (hex) of the result recorded in the audit log at close.
    #[schema(required)]
    pub result_digest: Option<String>,
    /// Entries in the review.
    pub total: i64,
    /// Entries decided so far.
    pub decided: i64,
    /// Entries whose person never used the server in the period.
    pub never_used: i64,
    /// The entries (only when one review is read).
    pub entries: Vec<Entry>,
    /// The policy in force with a deny rule for every revoked entry, for an admin to
    /// publish (`gatehouse policy push`, or the dashboard's policy editor).
    #[schema(required)]
    pub policy_draft: Option<String>,
}

/// One person's access to one server in the period.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, utoipa::ToSchema)]
#[schema(as = AccessReviewEntry)]
pub struct Entry {
    /// Number within the review (`decide ID ENTRY`).
    pub entry: i64,
    /// Who.
    pub person: String,
    /// Which server.
    pub server: String,
    /// How they could use it.
    pub access: Vec<Access>,
    /// When they lost access within the period (RFC 3339), if they did.
    #[schema(required)]
    pub lost_at: Option<String>,
    /// They could use it but opened no session in the period: a candidate for removal.
    pub never_used: bool,
    /// Sessions in the period.
    pub sessions: i64,
    /// Calls (tools, resources, prompts) in the period.
    pub calls: i64,
    /// Calls refused by policy in the period.
    pub refusals: i64,
    /// Last use in the period (RFC 3339).
    #[schema(required)]
    pub last_used: Option<String>,
    /// People or groups who may decide it (empty: admins).
    pub reviewers: Vec<String>,
    /// `keep` or `revoke` once decided.
    #[schema(required)]
    pub decision: Option<String>,
    /// The reviewer's comment.
    #[schema(required)]
    pub comment: Option<String>,
    /// Who decided.
    #[schema(required)]
    pub decided_by: Option<String>,
    /// When (RFC 3339).
    #[schema(required)]
    pub decided_at: Option<String>,
    /// For a revoke: what to change.
    #[schema(required)]
    pub change: Option<change::Change>,
}

/// One way a person could use a server in the period.
#[derive(
    Debug, Clone, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord, utoipa::ToSchema,
)]
#[schema(as = AccessReviewAccess)]
pub struct Access {
    /// `rule` (a standing policy rule), `default` (the server's or document's default is
    /// allow), `no_policy` (no policy was published: everyone) or `grant` (just in time).
    pub kind: String,
    /// The policy rule (for `rule` and `grant`).
    #[schema(required)]
    pub rule: Option<String>,
    /// For `rule`: `user`, `group:NAME` or `everyone`.
    #[schema(required)]
    pub via: Option<String>,
    /// For `grant`: the grant's id.
    #[schema(required)]
    pub grant: Option<String>,
    /// For `grant`: the role granted.
    #[schema(required)]
    pub role: Option<String>,
    /// For `grant`: from (RFC 3339).
    #[schema(required)]
    pub from: Option<String>,
    /// For `grant`: until (RFC 3339; when it ended early, that time).
    #[schema(required)]
    pub until: Option<String>,
}

/// Why a review request was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The request is wrong (a period that does not parse, no comment): fix it.
    #[error("{0}")]
    Invalid(String),
    /// No such review or entry.
    #[error("{0}")]
    NotFound(String),
    /// The caller may not do this.
    #[error("{0}")]
    Forbidden(String),
    /// Not in a state that allows it (decided already, undecided entries, closed).
    #[error("{0}")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<sqlx::Error> for ReviewError {
    fn from(e: sqlx::Error) -> Self {
        ReviewError::Store(e.into())
    }
}

/// The time now as the store writes it (RFC 3339, microseconds, UTC).
fn now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}
