//! Reviews in the store: start one (its entries are a snapshot of the period), decide an
//! entry, close it. Every refusal happens before anything is written; the close records
//! the whole result in the audit log before the review counts as closed.

use super::entries::{Scope, compute};
use super::period::Period;
use super::{Entry, Review, ReviewError, change, now};
use crate::identity::auth::Principal;
use crate::store::Store;
use gatehouse_pipeline::Record;
use serde_json::json;
use sha2::{Digest, Sha256};
use sqlx::Row;

const COLUMNS: &str = "r.id, r.period, r.period_from, r.period_to, r.covered_to, r.state, r.started_by, r.started_at, \
    r.closed_by, r.closed_at, r.result_digest, \
    (SELECT COUNT(*) FROM access_review_entries e WHERE e.review_id = r.id) AS total, \
    (SELECT COUNT(*) FROM access_review_entries e WHERE e.review_id = r.id AND e.decision IS NOT NULL) AS decided, \
    (SELECT COUNT(*) FROM access_review_entries e WHERE e.review_id = r.id AND e.sessions = 0 AND e.calls = 0) AS never_used";

fn review_from_row(r: &sqlx::any::AnyRow) -> Review {
    Review {
        id: r.get("id"),
        period: r.get("period"),
        from: r.get("period_from"),
        to: r.get("period_to"),
        covered_to: r.get("covered_to"),
        state: r.get("state"),
        started_by: r.get("started_by"),
        started_at: r.get("started_at"),
        closed_by: r.get("closed_by"),
        closed_at: r.get("closed_at"),
        result_digest: r.get("result_digest"),
        total: r.get("total"),
        decided: r.get("decided"),
        never_used: r.get("never_used"),
        entries: Vec::new(),
        policy_draft: None,
    }
}

fn json<T: serde::de::DeserializeOwned>(r: &sqlx::any::AnyRow, c: &str) -> Option<T> {
    r.get::<Option<String>, _>(c)
        .and_then(|t| serde_json::from_str(&t).ok())
}

fn entry_from_row(r: &sqlx::any::AnyRow) -> Entry {
    let (sessions, calls): (i64, i64) = (r.get("sessions"), r.get("calls"));
    Entry {
        entry: r.get("entry"),
        person: r.get("person"),
        server: r.get("server"),
        access: json(r, "access_json").unwrap_or_default(),
        lost_at: r.get("lost_at"),
        never_used: sessions == 0 && calls == 0,
        sessions,
        calls,
        refusals: r.get("refusals"),
        last_used: r.get("last_used"),
        reviewers: json(r, "reviewers").unwrap_or_default(),
        decision: r.get("decision"),
        comment: r.get("comment"),
        decided_by: r.get("decided_by"),
        decided_at: r.get("decided_at"),
        change: json(r, "change_json"),
    }
}

/// Records a note about a review in the day's control record (durable on return).
async fn record(store: &Store, kind: &str, detail: serde_json::Value) -> Result<(), ReviewError> {
    let id = format!("control-{}", chrono::Utc::now().format("%Y-%m-%d"));
    store.ensure_control_session(&id).await?;
    store.record(vec![Record::note(&id, kind, detail)]).await?;
    Ok(())
}

/// Starts a review of `period` by `by`: works out its entries and stores them.
pub async fn start(
    store: &Store,
    scope: &Scope,
    period: Period,
    by: &str,
) -> Result<Review, ReviewError> {
    let period = period.started()?;
    let open: Option<String> = sqlx::query_scalar(
        "SELECT id FROM access_reviews WHERE period_from = $1 AND period_to = $2 AND state = 'open'",
    )
    .bind(&period.from)
    .bind(&period.to)
    .fetch_optional(store.pool())
    .await?;
    if let Some(id) = open {
        return Err(ReviewError::Conflict(format!(
            "review {id} of {} is still open; finish it (`gatehouse access review show {id}`) before starting another",
            period.name
        )));
    }
    let started = now();
    let covered_to = period.to.clone().min(started.clone());
    let entries = compute(store, scope, &period.from, &covered_to).await?;
    let id = uuid::Uuid::new_v4().simple().to_string()[..8].to_string();
    let mut tx = store.write_tx().await?;
    sqlx::query(
        "INSERT INTO access_reviews (id, period, period_from, period_to, covered_to, started_by, started_at, state) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'open')",
    )
    .bind(&id)
    .bind(&period.name)
    .bind(&period.from)
    .bind(&period.to)
    .bind(&covered_to)
    .bind(by)
    .bind(&started)
    .execute(&mut *tx)
    .await?;
    for e in &entries {
        sqlx::query(
            "INSERT INTO access_review_entries (review_id, entry, person, server, access_json, lost_at, sessions, calls, \
             refusals, last_used, reviewers) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        )
        .bind(&id)
        .bind(e.entry)
        .bind(&e.person)
        .bind(&e.server)
        .bind(serde_json::to_string(&e.access).unwrap_or_default())
        .bind(&e.lost_at)
        .bind(e.sessions)
        .bind(e.calls)
        .bind(e.refusals)
        .bind(&e.last_used)
        .bind(serde_json::to_string(&e.reviewers).unwrap_or_default())
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    record(
        store,
        "access_review_started",
        json!({ "review": id, "period": period.name, "from": period.from, "to": period.to, "by": by, "entries": entries.len() }),
    )
    .await?;
    get(store, &id).await
}

/// Every review, newest first (without entries).
pub async fn list(store: &Store) -> Result<Vec<Review>, ReviewError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM access_reviews r ORDER BY r.started_at DESC"
    ))
    .fetch_all(store.pool())
    .await?;
    Ok(rows.iter().map(review_from_row).collect())
}

/// One review with its entries and, when something was revoked, the policy draft.
pub async fn get(store: &Store, id: &str) -> Result<Review, ReviewError> {
    let row = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM access_reviews r WHERE r.id = $1"
    ))
    .bind(id)
    .fetch_optional(store.pool())
    .await?
    .ok_or_else(|| {
        ReviewError::NotFound(format!(
            "there is no access review `{id}`; `gatehouse access review list` shows them"
        ))
    })?;
    let mut review = review_from_row(&row);
    let rows =
        sqlx::query("SELECT * FROM access_review_entries WHERE review_id = $1 ORDER BY entry")
            .bind(id)
            .fetch_all(store.pool())
            .await?;
    review.entries = rows.iter().map(entry_from_row).collect();
    if let Some((_, document)) = store.latest_policy().await? {
        review.policy_draft = change::draft(&document, &review);
    }
    Ok(review)
}

/// True when `p` is named in `reviewers` (by name or by one of their groups).
pub fn is_reviewer(reviewers: &[String], p: &Principal) -> bool {
    reviewers
        .iter()
        .any(|r| *r == p.user || p.groups.contains(r))
}

/// Decides one entry: `keep` or `revoke`, with a comment for the record.
pub async fn decide(
    store: &Store,
    id: &str,
    entry: i64,
    by: &Principal,
    by_admin: bool,
    decision: &str,
    comment: &str,
) -> Result<Entry, ReviewError> {
    if decision != "keep" && decision != "revoke" {
        return Err(ReviewError::Invalid(format!(
            "`{decision}` is not a decision: use keep or revoke"
        )));
    }
    let comment = comment.trim();
    if comment.is_empty() {
        return Err(ReviewError::Invalid(
            "a comment is required: it goes on the record for auditors".into(),
        ));
    }
    let review = get(store, id).await?;
    if review.state != "open" {
        return Err(ReviewError::Conflict(format!(
            "review {id} is closed; its decisions can no longer change"
        )));
    }
    let e = review
        .entries
        .iter()
        .find(|e| e.entry == entry)
        .ok_or_else(|| {
            ReviewError::NotFound(format!(
                "review {id} has no entry {entry} (it has 1..{})",
                review.entries.len()
            ))
        })?;
    if let (Some(d), Some(who)) = (&e.decision, &e.decided_by) {
        return Err(ReviewError::Conflict(format!(
            "entry {entry} of review {id} was already decided: {d} by {who}"
        )));
    }
    let own = e.person == by.user;
    let allowed = if e.reviewers.is_empty() || own {
        by_admin
    } else {
        is_reviewer(&e.reviewers, by)
    };
    if !allowed {
        return Err(ReviewError::Forbidden(if own {
            format!(
                "entry {entry} is your own access to {}: another owner or an admin decides it",
                e.server
            )
        } else if e.reviewers.is_empty() {
            format!(
                "{} names no owner, so only admins decide its entries",
                e.server
            )
        } else {
            format!(
                "`{}` is not a reviewer of {}: its owners are {}",
                by.user,
                e.server,
                e.reviewers.join(", ")
            )
        }));
    }
    let at = now();
    let change = (decision == "revoke").then(|| change::for_revoke(id, e, &at));
    let n = sqlx::query(
        "UPDATE access_review_entries SET decision = $1, comment = $2, decided_by = $3, decided_at = $4, change_json = $5 \
         WHERE review_id = $6 AND entry = $7 AND decision IS NULL \
         AND EXISTS (SELECT 1 FROM access_reviews WHERE id = $8 AND state = 'open')",
    )
    .bind(decision)
    .bind(comment)
    .bind(&by.user)
    .bind(&at)
    .bind(change.as_ref().map(|c| serde_json::to_string(c).unwrap_or_default()))
    .bind(id)
    .bind(entry)
    .bind(id)
    .execute(store.pool())
    .await?
    .rows_affected();
    if n == 0 {
        return Err(ReviewError::Conflict(format!(
            "entry {entry} of review {id} was decided (or the review closed) a moment ago"
        )));
    }
    record(
        store,
        "access_review_decision",
        json!({ "review": id, "entry": entry, "person": e.person, "server": e.server, "decision": decision,
                "comment": comment, "by": by.user, "change": change }),
    )
    .await?;
    let mut decided = e.clone();
    decided.decision = Some(decision.into());
    decided.comment = Some(comment.into());
    decided.decided_by = Some(by.user.clone());
    decided.decided_at = Some(at);
    decided.change = change;
    Ok(decided)
}

/// Closes a review whose entries are all decided: the result (entries, decisions, who,
/// when, who never used their access, the policy draft) is recorded in the audit log,
/// then the review is closed with the result's SHA-256.
pub async fn close(store: &Store, id: &str, by: &str) -> Result<Review, ReviewError> {
    let review = get(store, id).await?;
    if review.state != "open" {
        return Err(ReviewError::Conflict(format!(
            "review {id} was already closed by {} at {}",
            review.closed_by.as_deref().unwrap_or("?"),
            review.closed_at.as_deref().unwrap_or("?")
        )));
    }
    let open: Vec<String> = review
        .entries
        .iter()
        .filter(|e| e.decision.is_none())
        .map(|e| format!("{} ({} on {})", e.entry, e.person, e.server))
        .collect();
    if !open.is_empty() {
        return Err(ReviewError::Conflict(format!(
            "review {id} cannot close: {} of {} entries are undecided: {}",
            open.len(),
            review.entries.len(),
            open.join(", ")
        )));
    }
    let closed_at = now();
    let never_used: Vec<_> = review
        .entries
        .iter()
        .filter(|e| e.never_used)
        .map(|e| json!({ "person": e.person, "server": e.server, "decision": e.decision }))
        .collect();
    let result = json!({
        "review": review.id,
        "period": review.period,
        "from": review.from,
        "to": review.to,
        "covered_to": review.covered_to,
        "started_by": review.started_by,
        "started_at": review.started_at,
        "closed_by": by,
        "closed_at": closed_at,
        "entries": review.entries,
        "kept": review.entries.iter().filter(|e| e.decision.as_deref() == Some("keep")).count(),
        "revoked": review.entries.iter().filter(|e| e.decision.as_deref() == Some("revoke")).count(),
        "never_used": never_used,
        "policy_draft": review.policy_draft,
    });
    let text = result.to_string();
    let digest = hex::encode(Sha256::digest(text.as_bytes()));
    record(
        store,
        "access_review_closed",
        json!({ "review": id, "digest": digest, "result": result }),
    )
    .await?;
    sqlx::query(
        "UPDATE access_reviews SET state = 'closed', closed_by = $1, closed_at = $2, result_json = $3, result_digest = $4 \
         WHERE id = $5 AND state = 'open'",
    )
    .bind(by)
    .bind(&closed_at)
    .bind(&text)
    .bind(&digest)
    .bind(id)
    .execute(store.pool())
    .await?;
    get(store, id).await
}
