//! Just-in-time access: a person asks for a role on a server for a while, approvers decide
//! it as an approval (method [`METHOD`], so quorum, no self-approval, reasons on the record
//! and the webhook are those of every approval), and an approved request becomes a row of
//! `access_grants`. A grant ends by itself at `ends_at`, or early when revoked.
//!
//! A request made outside any MCP session gets a session of its own (`access-…`, era
//! `access`): its request, votes, grant, expiry and revocation are recorded there, in the
//! same hash chain as every other session, and `approvals.session_id` points at it.
//!
//! Grants are read from the store on every decision that can depend on them (no cache),
//! so a grant or a revocation holds at once on every replica.

use crate::approvals::{Approval, NewApproval};
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use gatehouse_pipeline::{ApprovalMode, Record};
use gatehouse_policy::{HeldGrant, Offer};
use serde::Serialize;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;

/// The approval method of an access request.
pub const METHOD: &str = "access/request";

/// One just-in-time grant.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct AccessGrant {
    /// Id people type in `gatehouse access revoke ID`; recorded with every call it allows.
    pub id: String,
    /// The access request (approval) it came from.
    pub approval_id: String,
    /// Who holds it.
    pub person: String,
    /// Server.
    pub server: String,
    /// Role.
    pub role: String,
    /// The policy rule that offered the role.
    pub rule: String,
    /// The requester's reason.
    pub reason: String,
    /// Granted at (RFC 3339).
    pub starts_at: String,
    /// Ends at (RFC 3339), unless ended early.
    pub ends_at: String,
    /// Ended at (RFC 3339): revoked, or marked expired.
    #[schema(required)]
    pub ended_at: Option<String>,
    /// Who revoked it.
    #[schema(required)]
    pub ended_by: Option<String>,
    /// `revoked` or `expired`.
    #[schema(required)]
    pub end_reason: Option<String>,
    /// `live`, `expired` or `revoked`, as of the read.
    pub state: String,
}

/// Why an access request or a revocation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AccessError {
    /// No such grant.
    #[error("there is no grant `{0}`; `gatehouse access list` shows yours")]
    NotFound(String),
    /// Not the holder, and not an admin.
    #[error("grant `{0}` is someone else's; only its holder or a Gatehouse admin may revoke it")]
    NotYours(String),
    /// Already over.
    #[error("grant `{id}` already ended ({how})")]
    Ended {
        /// Id.
        id: String,
        /// How.
        how: String,
    },
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

impl From<sqlx::Error> for AccessError {
    fn from(e: sqlx::Error) -> Self {
        AccessError::Store(e.to_string())
    }
}

impl From<StoreError> for AccessError {
    fn from(e: StoreError) -> Self {
        AccessError::Store(e.to_string())
    }
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

const COLUMNS: &str = "id, approval_id, person, server, role, rule, reason, starts_at, ends_at, ended_at, ended_by, end_reason";

fn from_row(r: &sqlx::any::AnyRow, now: &str) -> AccessGrant {
    let ends_at: String = r.get("ends_at");
    let end_reason: Option<String> = r.get("end_reason");
    let state = match end_reason.as_deref() {
        Some(reason) => reason.to_string(),
        None if ends_at.as_str() <= now => "expired".into(),
        None => "live".into(),
    };
    AccessGrant {
        id: r.get("id"),
        approval_id: r.get("approval_id"),
        person: r.get("person"),
        server: r.get("server"),
        role: r.get("role"),
        rule: r.get("rule"),
        reason: r.get("reason"),
        starts_at: r.get("starts_at"),
        ends_at,
        ended_at: r.get("ended_at"),
        ended_by: r.get("ended_by"),
        end_reason,
        state,
    }
}

impl AccessGrant {
    /// The grant as the policy reads it: live, or how it ended.
    pub fn held(&self) -> HeldGrant {
        let ended = match self.state.as_str() {
            "live" => None,
            "revoked" => Some(format!(
                "was revoked at {} by {}",
                self.ended_at.as_deref().unwrap_or("?"),
                self.ended_by.as_deref().unwrap_or("?")
            )),
            _ => Some(format!("expired at {}", self.ends_at)),
        };
        HeldGrant {
            id: self.id.clone(),
            server: self.server.clone(),
            role: self.role.clone(),
            ends_at: self.ends_at.clone(),
            ended,
        }
    }
}

/// What a person asks for.
#[derive(Debug, Clone)]
pub struct Ask<'a> {
    /// Who asks.
    pub person: &'a str,
    /// Their groups (kept with the request's session).
    pub groups: &'a [String],
    /// Server.
    pub server: &'a str,
    /// Role.
    pub role: &'a str,
    /// For how long.
    pub duration: Duration,
    /// Why (a ticket, an incident).
    pub reason: &'a str,
}

impl Store {
    /// Opens an access request: its own session, the approval approvers decide, and the
    /// first record of both. The policy has already said the person may ask (`offer`).
    pub async fn request_access(
        &self,
        ask: &Ask<'_>,
        offer: &Offer,
    ) -> Result<Approval, StoreError> {
        let session = format!("access-{}", uuid::Uuid::new_v4().simple());
        let at = ts(Utc::now());
        sqlx::query(
            "INSERT INTO sessions (id, principal, groups_json, server, era, started_at, last_seen_at) \
             VALUES ($1, $2, $3, $4, 'access', $5, $6)",
        )
        .bind(&session)
        .bind(ask.person)
        .bind(serde_json::to_string(ask.groups).unwrap_or_default())
        .bind(ask.server)
        .bind(&at)
        .bind(&at)
        .execute(self.pool())
        .await?;
        let arguments = json!({
            "role": ask.role,
            "duration": gatehouse_policy::duration_words(ask.duration),
            "duration_secs": ask.duration.as_secs(),
            "reason": ask.reason,
        });
        let digest =
            gatehouse_policy::request_digest(ask.server, METHOD, Some(ask.role), &arguments);
        let id = self
            .create_approval(&NewApproval {
                session_id: session.clone(),
                requester: ask.person.to_string(),
                server: ask.server.to_string(),
                method: METHOD.into(),
                tool: Some(ask.role.to_string()),
                digest: digest.clone(),
                arguments: arguments.clone(),
                approvers: offer.terms.approvers.clone(),
                quorum: offer.terms.quorum,
                mode: ApprovalMode::Hold,
                rule: Some(offer.rule.clone()),
                ttl: offer.terms.ttl,
            })
            .await?;
        self.record(vec![Record::note(
            &session,
            "access_requested",
            json!({ "approval": id, "person": ask.person, "server": ask.server, "role": ask.role,
                    "duration": arguments["duration"], "reason": ask.reason, "rule": offer.rule,
                    "approvers": offer.terms.approvers, "quorum": offer.terms.quorum }),
        )])
        .await?;
        self.approval(&id)
            .await?
            .ok_or_else(|| StoreError("the access request disappeared".into()))
    }

    /// Turns an approved access request into its grant (once: a second call finds it),
    /// recording the grant in the request's session. `None` for other approvals and for
    /// requests not (yet) approved.
    pub async fn grant_if_approved(&self, a: &Approval) -> Result<Option<AccessGrant>, StoreError> {
        if a.method != METHOD || !matches!(a.state.as_str(), "approved" | "used") {
            return Ok(None);
        }
        let secs = a.arguments["duration_secs"].as_u64().unwrap_or(0);
        let starts = Utc::now();
        let ends = starts + chrono::Duration::seconds(i64::try_from(secs).unwrap_or(0));
        let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let inserted = sqlx::query(&format!(
            "INSERT INTO access_grants ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, NULL, NULL, NULL) \
             ON CONFLICT (approval_id) DO NOTHING"
        ))
        .bind(&id)
        .bind(&a.id)
        .bind(&a.requester)
        .bind(&a.server)
        .bind(a.tool.as_deref().unwrap_or_default())
        .bind(a.rule.as_deref().unwrap_or_default())
        .bind(a.arguments["reason"].as_str().unwrap_or_default())
        .bind(ts(starts))
        .bind(ts(ends))
        .execute(self.pool())
        .await?
        .rows_affected();
        // The request is spent: it became this grant.
        self.use_approval(&a.id).await?;
        let grant = self.grant_of_approval(&a.id).await?;
        if inserted == 1
            && let Some(g) = &grant
        {
            self.record(vec![Record::note(
                &a.session_id,
                "access_granted",
                json!({ "grant": g.id, "approval": a.id, "person": g.person, "server": g.server,
                        "role": g.role, "rule": g.rule, "starts_at": g.starts_at, "ends_at": g.ends_at,
                        "approvers": a.votes.iter().filter(|v| v.vote == "approve").map(|v| &v.approver).collect::<Vec<_>>() }),
            )])
            .await?;
        }
        Ok(grant)
    }

    async fn grant_of_approval(&self, approval: &str) -> Result<Option<AccessGrant>, StoreError> {
        let now = ts(Utc::now());
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_grants WHERE approval_id = $1"
        ))
        .bind(approval)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(|r| from_row(r, &now)))
    }

    /// One grant.
    pub async fn access_grant(&self, id: &str) -> Result<Option<AccessGrant>, StoreError> {
        let now = ts(Utc::now());
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_grants WHERE id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(|r| from_row(r, &now)))
    }

    /// What the policy needs of `person`'s grants on `server`: the live ones, and the
    /// latest that ended (to tell a refused caller why). One indexed read.
    pub async fn held_grants(
        &self,
        person: &str,
        server: &str,
    ) -> Result<Vec<HeldGrant>, StoreError> {
        let now = ts(Utc::now());
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_grants WHERE person = $1 AND server = $2 ORDER BY ends_at DESC LIMIT 20"
        ))
        .bind(person)
        .bind(server)
        .fetch_all(self.pool())
        .await?;
        let grants: Vec<AccessGrant> = rows.iter().map(|r| from_row(r, &now)).collect();
        let mut held: Vec<HeldGrant> = grants
            .iter()
            .filter(|g| g.state == "live")
            .map(AccessGrant::held)
            .collect();
        let latest_ended = grants.iter().filter(|g| g.state != "live").max_by(|a, b| {
            let end = |g: &AccessGrant| g.ended_at.clone().unwrap_or_else(|| g.ends_at.clone());
            end(a).cmp(&end(b))
        });
        held.extend(latest_ended.map(AccessGrant::held));
        Ok(held)
    }

    /// The live grants of `person` on local servers (`local:NAME`), for the tray.
    pub async fn live_local_grants(&self, person: &str) -> Result<Vec<AccessGrant>, StoreError> {
        let now = ts(Utc::now());
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM access_grants WHERE person = $1 AND server LIKE 'local:%' \
             AND ended_at IS NULL AND ends_at > $2 ORDER BY ends_at"
        ))
        .bind(person)
        .bind(&now)
        .fetch_all(self.pool())
        .await?;
        Ok(rows.iter().map(|r| from_row(r, &now)).collect())
    }

    /// Grants, newest first: one person's, or everyone's (`None`).
    pub async fn grants(&self, person: Option<&str>) -> Result<Vec<AccessGrant>, StoreError> {
        let now = ts(Utc::now());
        let filter = if person.is_some() {
            "WHERE person = $1"
        } else {
            ""
        };
        let sql = format!(
            "SELECT {COLUMNS} FROM access_grants {filter} ORDER BY starts_at DESC LIMIT 500"
        );
        let mut q = sqlx::query(&sql);
        if let Some(p) = person {
            q = q.bind(p);
        }
        let rows = q.fetch_all(self.pool()).await?;
        Ok(rows.iter().map(|r| from_row(r, &now)).collect())
    }

    /// Ends a live grant early. Only its holder or an admin may.
    pub async fn revoke_access_grant(
        &self,
        id: &str,
        by: &str,
        admin: bool,
        reason: &str,
    ) -> Result<AccessGrant, AccessError> {
        let g = self
            .access_grant(id)
            .await?
            .ok_or_else(|| AccessError::NotFound(id.into()))?;
        if g.person != by && !admin {
            return Err(AccessError::NotYours(id.into()));
        }
        let now = ts(Utc::now());
        let n = sqlx::query(
            "UPDATE access_grants SET ended_at = $1, ended_by = $2, end_reason = 'revoked' \
             WHERE id = $3 AND ended_at IS NULL AND ends_at > $1",
        )
        .bind(&now)
        .bind(by)
        .bind(id)
        .execute(self.pool())
        .await?
        .rows_affected();
        if n == 0 {
            return Err(AccessError::Ended {
                id: id.into(),
                how: g.state,
            });
        }
        let g = self
            .access_grant(id)
            .await?
            .ok_or_else(|| AccessError::NotFound(id.into()))?;
        self.record(vec![Record::note(
            &self.grant_session(&g).await?,
            "access_revoked",
            json!({ "grant": g.id, "person": g.person, "server": g.server, "role": g.role,
                    "by": by, "reason": reason, "at": now, "was_to_end_at": g.ends_at }),
        )])
        .await?;
        Ok(g)
    }

    /// Marks grants past their end as expired and records each expiry once (the update
    /// says which rows this replica ended). Looks first, so an idle tick takes no lock.
    pub async fn expire_grants(&self) -> Result<Vec<AccessGrant>, StoreError> {
        let now = ts(Utc::now());
        let due: Option<i64> = sqlx::query_scalar(
            "SELECT 1 FROM access_grants WHERE ended_at IS NULL AND ends_at <= $1 LIMIT 1",
        )
        .bind(&now)
        .fetch_optional(self.pool())
        .await?;
        if due.is_none() {
            return Ok(Vec::new());
        }
        let rows = sqlx::query(&format!(
            "UPDATE access_grants SET ended_at = ends_at, end_reason = 'expired' \
             WHERE ended_at IS NULL AND ends_at <= $1 RETURNING {COLUMNS}"
        ))
        .bind(&now)
        .fetch_all(self.pool())
        .await?;
        let expired: Vec<AccessGrant> = rows.iter().map(|r| from_row(r, &now)).collect();
        for g in &expired {
            self.record(vec![Record::note(
                &self.grant_session(g).await?,
                "access_expired",
                json!({ "grant": g.id, "person": g.person, "server": g.server, "role": g.role, "ended_at": g.ends_at }),
            )])
            .await?;
        }
        Ok(expired)
    }

    /// The session a grant's request was recorded in.
    async fn grant_session(&self, g: &AccessGrant) -> Result<String, StoreError> {
        let s: Option<String> =
            sqlx::query_scalar("SELECT session_id FROM approvals WHERE id = $1")
                .bind(&g.approval_id)
                .fetch_optional(self.pool())
                .await?;
        s.ok_or_else(|| StoreError(format!("grant `{}` has no request", g.id)))
    }
}
