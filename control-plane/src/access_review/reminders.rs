//! Chasing undecided entries: every `[approvals] review_reminder_every_secs`, each open
//! review with undecided entries is posted to the approvals webhook, naming the servers,
//! their reviewers and how many entries wait. Replicas share the work through the store:
//! a replica sends a reminder only after moving the review's `reminded_at` forward itself.

use super::now;
use crate::store::Store;
use serde_json::json;
use sqlx::Row;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// Runs until `shutdown`: reminds reviewers of open reviews on `webhook` every `every`.
pub async fn run(store: Store, webhook: String, every: Duration, shutdown: CancellationToken) {
    let http = reqwest::Client::new();
    let mut tick =
        tokio::time::interval(every.clamp(Duration::from_secs(1), Duration::from_secs(60)));
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        if let Err(e) = round(&store, &webhook, every, &http).await {
            tracing::warn!(error = %e, "could not remind access reviewers");
        }
    }
}

/// One pass: claims and posts every review that is due.
async fn round(
    store: &Store,
    webhook: &str,
    every: Duration,
    http: &reqwest::Client,
) -> Result<(), crate::store::StoreError> {
    let cutoff = (chrono::Utc::now()
        - chrono::Duration::from_std(every).unwrap_or(chrono::Duration::days(1)))
    .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let due = sqlx::query(
        "SELECT e.review_id, r.period, e.server, e.reviewers, COUNT(*) AS n FROM access_review_entries e \
         JOIN access_reviews r ON r.id = e.review_id \
         WHERE r.state = 'open' AND e.decision IS NULL AND COALESCE(r.reminded_at, r.started_at) <= $1 \
         GROUP BY e.review_id, r.period, e.server, e.reviewers ORDER BY e.review_id, e.server",
    )
    .bind(&cutoff)
    .fetch_all(store.pool())
    .await?;
    let mut by_review: Vec<(String, String, Vec<String>)> = Vec::new();
    for r in &due {
        let (id, period): (String, String) = (r.get("review_id"), r.get("period"));
        let reviewers: Vec<String> =
            serde_json::from_str(&r.get::<String, _>("reviewers")).unwrap_or_default();
        let n: i64 = r.get("n");
        let who = if reviewers.is_empty() {
            "admins".to_string()
        } else {
            reviewers.join(", ")
        };
        let line = format!(
            "`{}`: {n} undecided (reviewers: {who})",
            r.get::<String, _>("server")
        );
        match by_review.last_mut() {
            Some((last, _, lines)) if *last == id => lines.push(line),
            _ => by_review.push((id, period, vec![line])),
        }
    }
    for (id, period, lines) in by_review {
        let claimed = sqlx::query(
            "UPDATE access_reviews SET reminded_at = $1 WHERE id = $2 AND state = 'open' \
             AND COALESCE(reminded_at, started_at) <= $3",
        )
        .bind(now())
        .bind(&id)
        .bind(&cutoff)
        .execute(store.pool())
        .await?
        .rows_affected();
        if claimed == 0 {
            continue; // another replica sent it
        }
        let text = format!(
            "Access review `{id}` ({period}) waits for decisions: {}. Decide with `gatehouse access review decide {id} ENTRY keep|revoke --comment ...` or in the dashboard.",
            lines.join("; ")
        );
        let body = json!({ "text": text, "access_review": id, "period": period });
        if let Err(e) = http
            .post(webhook)
            .json(&body)
            .timeout(Duration::from_secs(5))
            .send()
            .await
            .and_then(|r| r.error_for_status())
        {
            tracing::warn!(error = %e, review = %id, "the approvals webhook did not take an access review reminder");
        }
    }
    Ok(())
}
