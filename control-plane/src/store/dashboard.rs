//! Read queries behind the dashboard: filtered session pages, the overview's counts,
//! policy history. Writes stay in the writer task; these only read.

use super::db::Sql;
use super::handle::Store;
use super::types::StoreError;
use serde::Serialize;
use sqlx::Row;
use sqlx::any::AnyRow;
use std::collections::BTreeMap;

/// Which sessions had which kind of decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecisionFilter {
    /// At least one call was denied.
    Denied,
    /// At least one call needed an approval.
    Held,
    /// Every checked call was allowed outright.
    Allowed,
}

impl std::str::FromStr for DecisionFilter {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "denied" => Ok(DecisionFilter::Denied),
            "held" => Ok(DecisionFilter::Held),
            "allowed" => Ok(DecisionFilter::Allowed),
            other => Err(format!(
                "decision must be denied, held or allowed, not `{other}`"
            )),
        }
    }
}

/// A page request for sessions, newest first.
#[derive(Debug, Clone, Default)]
pub struct SessionFilter {
    /// Only this person's.
    pub user: Option<String>,
    /// Only on this server.
    pub server: Option<String>,
    /// Only sessions that called this tool.
    pub tool: Option<String>,
    /// Only sessions with this kind of decision.
    pub decision: Option<DecisionFilter>,
    /// Only sessions in which something was masked.
    pub masked_only: bool,
    /// Started at or after (RFC 3339).
    pub since: Option<String>,
    /// Started before (RFC 3339).
    pub until: Option<String>,
    /// Continue after this (started_at, id), from the previous page's cursor.
    pub after: Option<(String, String)>,
    /// Page size.
    pub limit: u32,
}

/// One row of the Sessions page.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SessionSummary {
    /// Id.
    pub id: String,
    /// Who.
    pub user: String,
    /// Their groups when the session started.
    pub groups: Vec<String>,
    /// Server.
    pub server: String,
    /// `legacy` or `current`.
    pub era: String,
    /// "name version" of the client, when it said.
    #[schema(required)]
    pub client: Option<String>,
    /// Start (RFC 3339).
    pub started_at: String,
    /// End (RFC 3339), while open `None`.
    #[schema(required)]
    pub ended_at: Option<String>,
    /// How it ended.
    #[schema(required)]
    pub end_reason: Option<String>,
    /// Messages recorded.
    pub messages: i64,
    /// Tools called.
    pub tools: Vec<String>,
    /// Values masked in all its messages.
    pub masked_total: i64,
    /// Calls denied.
    pub denied: i64,
    /// Calls that needed an approval.
    pub held: i64,
}

const SUMMARY_COLUMNS: &str = "s.id, s.principal, s.groups_json, s.server, s.era, s.client_name, s.client_version, \
     s.started_at, s.ended_at, s.end_reason, s.message_count, s.masked_total, s.denied, s.held";

impl Store {
    /// The columns of a [`SessionSummary`] from `sessions s`, with its tools as a JSON list.
    fn summary_columns(&self) -> String {
        let tools = self.backend().pick(
            "(SELECT json_group_array(t.tool) FROM session_tools t WHERE t.session_id = s.id)",
            "(SELECT json_agg(t.tool ORDER BY t.tool)::text FROM session_tools t WHERE t.session_id = s.id)",
        );
        format!("{SUMMARY_COLUMNS}, {tools} AS tools")
    }
}

fn summary(r: &AnyRow) -> SessionSummary {
    let client = match (
        r.get::<Option<String>, _>("client_name"),
        r.get::<Option<String>, _>("client_version"),
    ) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n),
        _ => None,
    };
    let json_list = |col: &str| -> Vec<String> {
        r.get::<Option<String>, _>(col)
            .and_then(|j| serde_json::from_str(&j).ok())
            .unwrap_or_default()
    };
    SessionSummary {
        id: r.get("id"),
        user: r.get("principal"),
        groups: json_list("groups_json"),
        server: r.get("server"),
        era: r.get("era"),
        client,
        started_at: r.get("started_at"),
        ended_at: r.get("ended_at"),
        end_reason: r.get("end_reason"),
        messages: r.get("message_count"),
        tools: json_list("tools"),
        masked_total: r.get("masked_total"),
        denied: r.get("denied"),
        held: r.get("held"),
    }
}

/// Calls on one day to one server.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct DailyCalls {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Server.
    pub server: String,
    /// Tool calls and other checked requests.
    pub calls: i64,
}

/// The overview page's numbers for a period.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overview {
    /// Checked calls per day and server.
    pub calls_per_day: Vec<DailyCalls>,
    /// Decisions by outcome: allowed, denied, approval states.
    pub decisions: BTreeMap<String, i64>,
    /// Values masked, by type.
    pub masked_by_type: BTreeMap<String, i64>,
    /// Sessions started.
    pub sessions: i64,
    /// Distinct people.
    pub people: i64,
}

/// A published policy version (without its document).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PolicyVersion {
    /// Version number.
    pub version: i64,
    /// Digest of the document.
    pub digest: String,
    /// Who published it.
    pub published_by: String,
    /// When (RFC 3339).
    pub published_at: String,
    /// The YAML document (only when asked for one version).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
}

impl Store {
    /// One page of sessions matching `f`, newest first, and the cursor of the next page.
    pub async fn session_page(
        &self,
        f: &SessionFilter,
    ) -> Result<(Vec<SessionSummary>, Option<(String, String)>), StoreError> {
        let mut q = Sql::new(format!(
            "SELECT {} FROM sessions s WHERE 1 = 1",
            self.summary_columns()
        ));
        if let Some(u) = &f.user {
            q.push(" AND s.principal = ").bind(u.clone());
        }
        if let Some(sv) = &f.server {
            q.push(" AND s.server = ").bind(sv.clone());
        }
        if let Some(t) = &f.tool {
            q.push(" AND s.id IN (SELECT session_id FROM session_tools WHERE tool = ")
                .bind(t.clone())
                .push(")");
        }
        match f.decision {
            Some(DecisionFilter::Denied) => {
                q.push(" AND s.denied > 0");
            }
            Some(DecisionFilter::Held) => {
                q.push(" AND s.held > 0");
            }
            Some(DecisionFilter::Allowed) => {
                q.push(" AND s.denied = 0 AND s.held = 0");
            }
            None => {}
        }
        if f.masked_only {
            q.push(" AND s.masked_total > 0");
        }
        if let Some(since) = &f.since {
            q.push(" AND s.started_at >= ").bind(since.clone());
        }
        if let Some(until) = &f.until {
            q.push(" AND s.started_at < ").bind(until.clone());
        }
        if let Some((at, id)) = &f.after {
            q.push(" AND (s.started_at, s.id) < (")
                .bind(at.clone())
                .push(", ")
                .bind(id.clone())
                .push(")");
        }
        let limit = f.limit.clamp(1, 500);
        q.push(" ORDER BY s.started_at DESC, s.id DESC LIMIT ")
            .bind(i64::from(limit) + 1);
        let rows = q.query().fetch_all(self.pool()).await?;
        let mut page: Vec<SessionSummary> = rows.iter().map(summary).collect();
        let next = if page.len() > limit as usize {
            page.truncate(limit as usize);
            page.last().map(|s| (s.started_at.clone(), s.id.clone()))
        } else {
            None
        };
        Ok((page, next))
    }

    /// One session's summary.
    pub async fn session_summary(&self, id: &str) -> Result<Option<SessionSummary>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {} FROM sessions s WHERE s.id = $1",
            self.summary_columns()
        ))
        .bind(id)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.as_ref().map(summary))
    }

    /// Counts for the overview since `since` (RFC 3339).
    pub async fn overview(&self, since: &str) -> Result<Overview, StoreError> {
        let calls_per_day = sqlx::query(
            "SELECT substr(e.at, 1, 10) AS day, s.server AS server, COUNT(*) AS calls FROM audit_events e \
             JOIN sessions s ON s.id = e.session_id WHERE e.at >= $1 AND e.decision IS NOT NULL \
             GROUP BY day, s.server ORDER BY day, s.server",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?
        .iter()
        .map(|r| DailyCalls {
            day: r.get("day"),
            server: r.get("server"),
            calls: r.get("calls"),
        })
        .collect();
        // Outcomes under the names the dashboard shows: the policy's (allowed, denied, held)
        // and the approvals' (approved, approval_denied, expired, approval_pending).
        let effects: Vec<(Option<String>, i64)> = sqlx::query_as(self.backend().pick(
            "SELECT json_extract(decision, '$.effect') AS effect, COUNT(*) FROM audit_events \
             WHERE at >= $1 AND decision IS NOT NULL GROUP BY effect",
            "SELECT decision::jsonb ->> 'effect' AS effect, COUNT(*) FROM audit_events \
             WHERE at >= $1 AND decision IS NOT NULL GROUP BY effect",
        ))
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let approvals: Vec<(String, i64)> = sqlx::query_as(
            "SELECT state, COUNT(*) FROM approvals WHERE created_at >= $1 GROUP BY state",
        )
        .bind(since)
        .fetch_all(self.pool())
        .await?;
        let mut decisions: BTreeMap<String, i64> = BTreeMap::new();
        for (effect, n) in effects {
            let name = match effect.as_deref() {
                Some("allow") => "allowed",
                Some("deny") => "denied",
                Some("require_approval") => "held",
                _ => continue,
            };
            *decisions.entry(name.into()).or_default() += n;
        }
        for (state, n) in approvals {
            let name = match state.as_str() {
                "approved" | "used" => "approved",
                "denied" => "approval_denied",
                "expired" => "expired",
                _ => "approval_pending",
            };
            *decisions.entry(name.into()).or_default() += n;
        }
        let masked_by_type = sqlx::query_as(self.backend().pick(
            "SELECT j.key, SUM(j.value) FROM audit_events e, json_each(e.masked) j \
             WHERE e.at >= $1 AND e.masked IS NOT NULL GROUP BY j.key",
            "SELECT j.key, CAST(SUM(j.value::bigint) AS BIGINT) FROM audit_events e, jsonb_each_text(e.masked::jsonb) j \
             WHERE e.at >= $1 AND e.masked IS NOT NULL GROUP BY j.key",
        ))
        .bind(since)
        .fetch_all(self.pool())
        .await?
        .into_iter()
        .collect();
        let (sessions, people): (i64, i64) = sqlx::query_as(
            "SELECT COUNT(*), COUNT(DISTINCT principal) FROM sessions WHERE started_at >= $1",
        )
        .bind(since)
        .fetch_one(self.pool())
        .await?;
        Ok(Overview {
            calls_per_day,
            decisions,
            masked_by_type,
            sessions,
            people,
        })
    }

    /// Published policy versions, newest first.
    pub async fn policy_versions(&self) -> Result<Vec<PolicyVersion>, StoreError> {
        let rows = sqlx::query(
            "SELECT version, digest, pushed_by, pushed_at FROM policies ORDER BY version DESC",
        )
        .fetch_all(self.pool())
        .await?;
        Ok(rows
            .iter()
            .map(|r| PolicyVersion {
                version: r.get("version"),
                digest: r.get("digest"),
                published_by: r.get("pushed_by"),
                published_at: r.get("pushed_at"),
                document: None,
            })
            .collect())
    }

    /// One published version with its document.
    pub async fn policy_version(&self, version: i64) -> Result<Option<PolicyVersion>, StoreError> {
        let row = sqlx::query(
            "SELECT version, digest, document, pushed_by, pushed_at FROM policies WHERE version = $1",
        )
        .bind(version)
        .fetch_optional(self.pool())
        .await?;
        Ok(row.map(|r| PolicyVersion {
            version: r.get("version"),
            digest: r.get("digest"),
            published_by: r.get("pushed_by"),
            published_at: r.get("pushed_at"),
            document: Some(r.get("document")),
        }))
    }

    /// Number of events and the newest event's hash (the chain head). The log is
    /// append-only with gapless sequence numbers, so the newest `seq` is the count.
    pub async fn chain_tip(&self) -> Result<(i64, Option<String>), StoreError> {
        let tip: Option<(i64, Option<String>)> =
            sqlx::query_as("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
                .fetch_optional(self.pool())
                .await?;
        Ok(tip.unwrap_or((0, None)))
    }

    /// When each server's newest session started.
    pub async fn last_session_per_server(&self) -> Result<BTreeMap<String, String>, StoreError> {
        Ok(
            sqlx::query_as("SELECT server, MAX(started_at) FROM sessions GROUP BY server")
                .fetch_all(self.pool())
                .await?
                .into_iter()
                .collect(),
        )
    }
}
