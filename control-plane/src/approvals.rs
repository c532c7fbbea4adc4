//! Human approval of risky calls: requests held for approvers, their votes, and the rules
//! that make an approval trustworthy — a requester never approves their own call, N
//! distinct approvers from the named groups make a quorum, any denial ends it, and an
//! approval binds to the exact request (its digest), expires, and is used once.

use crate::store::{Backend, Change, Store, StoreError};
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;
use std::time::Duration;

/// A held call waiting for (or past) a decision.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Approval {
    /// Id people type in `gatehouse approvals approve ID`.
    pub id: String,
    /// The requester's session.
    pub session_id: String,
    /// Who asked.
    pub requester: String,
    /// Server.
    pub server: String,
    /// Method.
    pub method: String,
    /// Tool (or prompt, resource).
    #[schema(required)]
    pub tool: Option<String>,
    /// Digest of the exact request.
    pub digest: String,
    /// The (masked) arguments, for the approver to read.
    pub arguments: serde_json::Value,
    /// Groups whose members may approve.
    pub approvers: Vec<String>,
    /// Distinct approvals needed.
    pub quorum: i64,
    /// `hold` or `retry`.
    pub mode: String,
    /// The policy rule that asked for approval.
    #[schema(required)]
    pub rule: Option<String>,
    /// `pending`, `approved`, `denied`, `expired` or `used`.
    pub state: String,
    /// Created (RFC 3339).
    pub created_at: String,
    /// Expires (RFC 3339).
    pub expires_at: String,
    /// Decided (RFC 3339).
    #[schema(required)]
    pub decided_at: Option<String>,
    /// The deciding reason.
    #[schema(required)]
    pub reason: Option<String>,
    /// Approvals so far.
    pub approvals: i64,
    /// Every vote cast, oldest first (filled in by [`Store::approvals`], and by
    /// [`Store::approval`] once decided).
    pub votes: Vec<Vote>,
    /// Why it is asked: the requirement that held the call (e.g. "statement 1 is
    /// DELETE, which is not a read-only query"), or the requester's reason for access.
    #[schema(required)]
    pub why: Option<String>,
    /// SQL arguments of a rule with a `sql:` matcher, pretty-printed.
    pub statements: Vec<Statement>,
    /// True when big values in `arguments` were cut (ask with `full=true` to see all).
    pub cut: bool,
}

/// One SQL argument, as an approver reads it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Statement {
    /// JSON pointer of the argument (e.g. `/sql`).
    pub pointer: String,
    /// The statement(s), one clause a line.
    pub text: String,
}

/// Longest text value an approver sees before it is cut.
const CUT_TEXT: usize = 400;
/// Most list items an approver sees before the list is cut.
const CUT_ITEMS: usize = 25;

/// `arguments` with big values cut (long text, long lists), and whether anything was.
pub fn cut(arguments: &serde_json::Value) -> (serde_json::Value, bool) {
    use serde_json::Value;
    fn walk(v: &mut Value, cut: &mut bool) {
        match v {
            Value::String(s) if s.chars().count() > CUT_TEXT => {
                let more = s.chars().count() - CUT_TEXT;
                *s = format!(
                    "{}… [{more} more characters]",
                    s.chars().take(CUT_TEXT).collect::<String>()
                );
                *cut = true;
            }
            Value::Array(items) => {
                if items.len() > CUT_ITEMS {
                    let more = items.len() - CUT_ITEMS;
                    items.truncate(CUT_ITEMS);
                    items.push(Value::String(format!("… [{more} more items]")));
                    *cut = true;
                }
                items.iter_mut().for_each(|i| walk(i, cut));
            }
            Value::Object(map) => map.values_mut().for_each(|i| walk(i, cut)),
            _ => {}
        }
    }
    let mut v = arguments.clone();
    let mut was_cut = false;
    walk(&mut v, &mut was_cut);
    (v, was_cut)
}

impl Approval {
    /// The approval as an approver reads it: the arguments masked again with the reader's
    /// own profile (`mask`), big values cut unless `full`, the reason it is asked and, for
    /// a rule with a `sql:` matcher, the statements pretty-printed.
    pub fn for_reader(
        mut self,
        policy: Option<&gatehouse_policy::Policy>,
        mask: impl FnOnce(&mut serde_json::Value),
        full: bool,
    ) -> Approval {
        if self.method == crate::access::METHOD {
            self.why = self.arguments["reason"].as_str().map(String::from);
            return self;
        }
        mask(&mut self.arguments);
        if let (Some(policy), Some(rule)) = (policy, self.rule.as_deref()) {
            self.why = policy.hold_reason(rule, &self.arguments);
            self.statements = policy
                .statements(rule, &self.arguments)
                .into_iter()
                .map(|(pointer, text)| Statement { pointer, text })
                .collect();
        }
        if !full {
            (self.arguments, self.cut) = cut(&self.arguments);
        }
        self
    }
}

/// One approver's vote.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Vote {
    /// Who.
    pub approver: String,
    /// `approve` or `deny`.
    pub vote: String,
    /// Why (on the record).
    pub reason: String,
    /// When (RFC 3339).
    pub at: String,
}

/// A new held call.
#[derive(Debug, Clone)]
pub struct NewApproval {
    /// The requester's session.
    pub session_id: String,
    /// Who asked.
    pub requester: String,
    /// Server.
    pub server: String,
    /// Method.
    pub method: String,
    /// Tool.
    pub tool: Option<String>,
    /// Digest of the exact request.
    pub digest: String,
    /// Masked arguments.
    pub arguments: serde_json::Value,
    /// Approver groups.
    pub approvers: Vec<String>,
    /// Quorum.
    pub quorum: u32,
    /// How the requester waits.
    pub mode: gatehouse_pipeline::ApprovalMode,
    /// Deciding rule.
    pub rule: Option<String>,
    /// Time to live.
    pub ttl: Duration,
}

/// Why a vote was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VoteError {
    /// No such approval.
    #[error("there is no approval `{0}`; `gatehouse approvals list` shows the pending ones")]
    NotFound(String),
    /// Already decided or expired.
    #[error("approval `{id}` is already {state}")]
    Closed {
        /// Id.
        id: String,
        /// State.
        state: String,
    },
    /// Requester voting on their own call.
    #[error("you asked for this call yourself; someone else from {0} must approve it")]
    OwnRequest(String),
    /// Not in an approver group.
    #[error("only members of {0} may decide this approval")]
    NotAnApprover(String),
    /// Voted before.
    #[error("you have already voted on approval `{0}`")]
    AlreadyVoted(String),
    /// The store failed.
    #[error("{0}")]
    Store(String),
}

impl From<sqlx::Error> for VoteError {
    fn from(e: sqlx::Error) -> Self {
        VoteError::Store(e.to_string())
    }
}

fn now() -> DateTime<Utc> {
    Utc::now()
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

const COLUMNS: &str = "a.id, a.session_id, a.requester, a.server, a.method, a.tool, a.digest, a.arguments, a.approvers, a.quorum, \
     a.mode, a.rule, a.state, a.created_at, a.expires_at, a.decided_at, a.reason, \
     (SELECT COUNT(*) FROM approval_votes v WHERE v.approval_id = a.id AND v.vote = 'approve') AS approvals";

fn vote_from_row(v: &sqlx::any::AnyRow) -> Vote {
    Vote {
        approver: v.get("approver"),
        vote: v.get("vote"),
        reason: v.get("reason"),
        at: v.get("at"),
    }
}

fn from_row(r: &sqlx::any::AnyRow) -> Approval {
    Approval {
        id: r.get("id"),
        session_id: r.get("session_id"),
        requester: r.get("requester"),
        server: r.get("server"),
        method: r.get("method"),
        tool: r.get("tool"),
        digest: r.get("digest"),
        arguments: serde_json::from_str(&r.get::<String, _>("arguments")).unwrap_or_default(),
        approvers: serde_json::from_str(&r.get::<String, _>("approvers")).unwrap_or_default(),
        quorum: r.get("quorum"),
        mode: r.get("mode"),
        rule: r.get("rule"),
        state: r.get("state"),
        created_at: r.get("created_at"),
        expires_at: r.get("expires_at"),
        decided_at: r.get("decided_at"),
        reason: r.get("reason"),
        approvals: r.get("approvals"),
        votes: Vec::new(),
        why: None,
        statements: Vec::new(),
        cut: false,
    }
}

impl Store {
    /// Records a held call; returns its id.
    pub async fn create_approval(&self, a: &NewApproval) -> Result<String, StoreError> {
        let id = uuid::Uuid::new_v4().simple().to_string()[..10].to_string();
        let created = now();
        let expires =
            created + chrono::Duration::from_std(a.ttl).unwrap_or(chrono::Duration::minutes(30));
        sqlx::query(
            "INSERT INTO approvals (id, session_id, requester, server, method, tool, digest, arguments, approvers, quorum, mode, rule, \
             state, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, 'pending', $13, $14)",
        )
        .bind(&id)
        .bind(&a.session_id)
        .bind(&a.requester)
        .bind(&a.server)
        .bind(&a.method)
        .bind(&a.tool)
        .bind(&a.digest)
        .bind(a.arguments.to_string())
        .bind(serde_json::to_string(&a.approvers).unwrap_or_default())
        .bind(a.quorum as i64)
        .bind(a.mode.to_string())
        .bind(&a.rule)
        .bind(ts(created))
        .bind(ts(expires))
        .execute(self.pool())
        .await?;
        self.changed(Change::Approval);
        Ok(id)
    }

    /// Marks pending approvals past their time as expired.
    async fn expire_approvals(&self) -> Result<(), StoreError> {
        // A held call approved in time runs even if the gateway notices a poll later; only
        // an unused retry-mode approval lapses once approved (it must not be replayable).
        const DUE: &str =
            "(state = 'pending' OR (state = 'approved' AND mode = 'retry')) AND expires_at < $1";
        let at = ts(now());
        // Every read of an approval (the held calls poll) comes here: look first, so that
        // only a poll that finds one due takes the database's write lock.
        let due: Option<i64> =
            sqlx::query_scalar(&format!("SELECT 1 FROM approvals WHERE {DUE} LIMIT 1"))
                .bind(&at)
                .fetch_optional(self.pool())
                .await?;
        if due.is_some() {
            sqlx::query(&format!(
                "UPDATE approvals SET state = 'expired', decided_at = $2 WHERE {DUE}"
            ))
            .bind(&at)
            .bind(&at)
            .execute(self.pool())
            .await?;
        }
        Ok(())
    }

    /// One approval.
    pub async fn approval(&self, id: &str) -> Result<Option<Approval>, StoreError> {
        self.expire_approvals().await?;
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM approvals a WHERE a.id = $1"
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        let Some(mut a) = row.as_ref().map(from_row) else {
            return Ok(None);
        };
        if a.state != "pending" {
            // Who decided and why: the votes, as the dashboard's list shows them.
            let votes = sqlx::query(
                "SELECT v.approval_id, v.approver, v.vote, v.reason, v.at FROM approval_votes v \
                 WHERE v.approval_id = $1 ORDER BY v.at",
            )
            .bind(id)
            .fetch_all(self.pool())
            .await?;
            a.votes = votes.iter().map(vote_from_row).collect();
        }
        Ok(Some(a))
    }

    /// Approvals, newest first; only pending ones when `pending_only`.
    pub async fn approvals(&self, pending_only: bool) -> Result<Vec<Approval>, StoreError> {
        self.expire_approvals().await?;
        let filter = if pending_only {
            "WHERE a.state = 'pending'"
        } else {
            ""
        };
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM approvals a {filter} ORDER BY a.created_at DESC LIMIT 200"
        ))
        .fetch_all(self.pool())
        .await?;
        let mut approvals: Vec<Approval> = rows.iter().map(from_row).collect();
        let votes = sqlx::query(&format!(
            "SELECT v.approval_id, v.approver, v.vote, v.reason, v.at FROM approval_votes v \
             WHERE v.approval_id IN (SELECT a.id FROM approvals a {filter} ORDER BY a.created_at DESC LIMIT 200) ORDER BY v.at"
        ))
        .fetch_all(self.pool())
        .await?;
        for v in &votes {
            let id: String = v.get("approval_id");
            if let Some(a) = approvals.iter_mut().find(|a| a.id == id) {
                a.votes.push(vote_from_row(v));
            }
        }
        Ok(approvals)
    }

    /// An approved, unexpired, unused approval for exactly this request by this requester
    /// (retry mode), consumed on return so it cannot be replayed.
    pub async fn take_approval(
        &self,
        digest: &str,
        requester: &str,
    ) -> Result<Option<Approval>, StoreError> {
        self.expire_approvals().await?;
        let id: Option<String> = sqlx::query_scalar(
            "UPDATE approvals SET state = 'used' WHERE id = (SELECT id FROM approvals WHERE digest = $1 AND requester = $2 \
             AND state = 'approved' AND expires_at >= $3 ORDER BY created_at LIMIT 1) RETURNING id",
        )
        .bind(digest)
        .bind(requester)
        .bind(ts(now()))
        .fetch_optional(self.pool())
        .await?;
        match id {
            Some(id) => {
                self.changed(Change::Approval);
                self.approval(&id).await
            }
            None => Ok(None),
        }
    }

    /// The pending approval for exactly this request by this requester, if one exists
    /// (a retry before the decision does not open a second one).
    pub async fn pending_approval(
        &self,
        digest: &str,
        requester: &str,
    ) -> Result<Option<String>, StoreError> {
        self.expire_approvals().await?;
        Ok(sqlx::query_scalar(
            "SELECT id FROM approvals WHERE digest = $1 AND requester = $2 AND state = 'pending' ORDER BY created_at LIMIT 1",
        )
        .bind(digest)
        .bind(requester)
        .fetch_optional(self.pool())
        .await?)
    }

    /// Marks an approved call as used (hold mode, when it is forwarded).
    pub async fn use_approval(&self, id: &str) -> Result<bool, StoreError> {
        let n =
            sqlx::query("UPDATE approvals SET state = 'used' WHERE id = $1 AND state = 'approved'")
                .bind(id)
                .execute(self.pool())
                .await?
                .rows_affected();
        if n == 1 {
            self.changed(Change::Approval);
        }
        Ok(n == 1)
    }

    /// One person's vote. Returns the approval after it.
    pub async fn vote(
        &self,
        id: &str,
        approver: &str,
        approver_groups: &[String],
        approve: bool,
        reason: &str,
    ) -> Result<Approval, VoteError> {
        // A vote is one transaction: when SQLite reports the database busy (the lock wait
        // ran out under load), nothing of it was kept, and it is tried again.
        let mut attempt = 0u64;
        loop {
            match self
                .vote_once(id, approver, approver_groups, approve, reason)
                .await
            {
                Err(VoteError::Store(e)) if attempt < 4 && busy(&e) => {
                    attempt += 1;
                    tracing::warn!(approval = id, attempt, error = %e, "the database was busy; voting again");
                    tokio::time::sleep(std::time::Duration::from_millis(50 * attempt)).await;
                }
                done => return done,
            }
        }
    }

    async fn vote_once(
        &self,
        id: &str,
        approver: &str,
        approver_groups: &[String],
        approve: bool,
        reason: &str,
    ) -> Result<Approval, VoteError> {
        self.expire_approvals()
            .await
            .map_err(|e| VoteError::Store(e.to_string()))?;
        let mut tx = self
            .write_tx()
            .await
            .map_err(|e| VoteError::Store(e.to_string()))?;
        // On PostgreSQL, lock the row: two approvers voting at once on two replicas must not
        // both count against the same quorum.
        let lock = match self.backend() {
            Backend::Sqlite => "",
            Backend::Postgres => " FOR UPDATE OF a",
        };
        let row = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM approvals a WHERE a.id = $1{lock}"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?;
        let a = row
            .as_ref()
            .map(from_row)
            .ok_or_else(|| VoteError::NotFound(id.to_string()))?;
        let groups = a.approvers.join(", ");
        if a.state != "pending" {
            return Err(VoteError::Closed {
                id: a.id,
                state: a.state,
            });
        }
        if a.requester == approver {
            return Err(VoteError::OwnRequest(groups));
        }
        // Approvers are groups, or people named by their user id.
        if !a
            .approvers
            .iter()
            .any(|g| approver_groups.contains(g) || g == approver)
        {
            return Err(VoteError::NotAnApprover(groups));
        }
        let inserted = sqlx::query("INSERT INTO approval_votes (approval_id, approver, vote, reason, at) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING")
            .bind(id)
            .bind(approver)
            .bind(if approve { "approve" } else { "deny" })
            .bind(reason)
            .bind(ts(now()))
            .execute(&mut *tx)
            .await?
            .rows_affected();
        if inserted == 0 {
            return Err(VoteError::AlreadyVoted(id.to_string()));
        }
        let approvals = a.approvals + i64::from(approve);
        let state = if !approve {
            Some("denied")
        } else if approvals >= a.quorum {
            Some("approved")
        } else {
            None
        };
        if let Some(state) = state {
            sqlx::query(
                "UPDATE approvals SET state = $1, decided_at = $2, reason = $3 WHERE id = $4",
            )
            .bind(state)
            .bind(ts(now()))
            .bind(reason)
            .bind(id)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.changed(Change::Approval);
        self.approval(id)
            .await
            .map_err(|e| VoteError::Store(e.to_string()))?
            .ok_or_else(|| VoteError::NotFound(id.to_string()))
    }
}

/// SQLite's "busy" answers (SQLITE_BUSY and its extended codes) as sqlx words them.
fn busy(error: &str) -> bool {
    error.contains("database is locked")
        || error.contains("(code: 5)")
        || error.contains("(code: 517)")
}
