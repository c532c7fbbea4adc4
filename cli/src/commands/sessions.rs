//! `gatehouse sessions list|show`: what auditors read from the session store.

use super::{Exit, load_config, out};
use gatehouse_control_plane::store::{SessionRow, Store};
use std::fmt::Write;
use std::path::PathBuf;

/// Opens the store named by `--database` or the config.
pub async fn open(config: Option<PathBuf>, database: Option<String>) -> Result<Store, Exit> {
    let url = match database {
        Some(url) => url,
        None => load_config(config)?.database,
    };
    Store::open(&url)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))
}

/// Prints sessions, newest first.
pub async fn list(
    config: Option<PathBuf>,
    database: Option<String>,
    limit: i64,
    json: bool,
) -> Result<(), Exit> {
    let store = open(config, database).await?;
    let rows = store
        .list_sessions(limit)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    if json {
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&rows).unwrap_or_default()
        ));
    } else {
        out(&session_table(&rows));
    }
    Ok(())
}

/// Formats sessions as an aligned table.
pub fn session_table(rows: &[SessionRow]) -> String {
    let header = [
        "SESSION", "STARTED", "USER", "SERVER", "CLIENT", "PROTOCOL", "MSGS", "MASKED", "ENDED",
    ];
    let cells: Vec<[String; 9]> = rows
        .iter()
        .map(|r| {
            [
                r.id.chars().take(12).collect(),
                r.started_at
                    .chars()
                    .take(19)
                    .collect::<String>()
                    .replace('T', " "),
                r.principal.clone(),
                r.server.clone(),
                match (&r.client_name, &r.client_version) {
                    (Some(n), Some(v)) if !v.is_empty() => format!("{n} {v}"),
                    (Some(n), _) => n.clone(),
                    _ => "-".into(),
                },
                r.protocol_version.clone().unwrap_or_else(|| "-".into()),
                r.message_count.to_string(),
                r.masked.total().to_string(),
                match (&r.ended_at, &r.end_reason) {
                    (Some(_), Some(reason)) => reason.clone(),
                    (Some(_), None) => "ended".into(),
                    _ => "open".into(),
                },
            ]
        })
        .collect();
    let mut widths = header.map(str::len);
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let mut s = String::new();
    let line = |s: &mut String, cols: Vec<&str>| {
        let parts: Vec<String> = cols
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        let _ = writeln!(s, "{}", parts.join("  ").trim_end());
    };
    line(&mut s, header.to_vec());
    for row in &cells {
        line(&mut s, row.iter().map(String::as_str).collect());
    }
    if rows.is_empty() {
        s.push_str("(no sessions recorded yet)\n");
    }
    s
}

/// Prints one session and every message of it.
pub async fn show(
    config: Option<PathBuf>,
    database: Option<String>,
    id: String,
    json: bool,
) -> Result<(), Exit> {
    let store = open(config, database).await?;
    let Some(session) = store
        .find_session(&id)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?
    else {
        return Err(Exit::Usage(format!(
            "no session matches `{id}` (or the prefix is ambiguous); `gatehouse sessions list` shows the ids"
        )));
    };
    let events = store
        .session_events(&session.id)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    if json {
        let doc = serde_json::json!({ "session": session, "events": events.iter().map(|e| {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            v["payload"] = serde_json::from_str(&e.payload).unwrap_or(serde_json::Value::String(e.payload.clone()));
            v
        }).collect::<Vec<_>>() });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&doc).unwrap_or_default()
        ));
        return Ok(());
    }
    let mut s = String::new();
    let _ = writeln!(s, "session   {}", session.id);
    let _ = writeln!(s, "user      {}", session.principal);
    let _ = writeln!(s, "server    {} ({} era)", session.server, session.era);
    let _ = writeln!(
        s,
        "client    {} {}",
        session.client_name.as_deref().unwrap_or("-"),
        session.client_version.as_deref().unwrap_or("")
    );
    let _ = writeln!(
        s,
        "protocol  {}",
        session.protocol_version.as_deref().unwrap_or("-")
    );
    let _ = writeln!(s, "started   {}", session.started_at);
    let _ = writeln!(
        s,
        "ended     {}",
        match (&session.ended_at, &session.end_reason) {
            (Some(at), Some(r)) => format!("{at} ({r})"),
            _ => "(open)".into(),
        }
    );
    let _ = writeln!(s, "messages  {}", session.message_count);
    let _ = writeln!(s, "masked    {}\n", session.masked.summary());
    for e in &events {
        let arrow = match e.direction.as_str() {
            "client_to_server" => "client → server",
            "server_to_client" => "server → client",
            _ => "gateway        ",
        };
        let mut what = e.kind.clone();
        if let Some(m) = &e.method {
            let _ = write!(what, " {m}");
        }
        if let Some(t) = &e.tool {
            let _ = write!(what, " [{t}]");
        }
        if let Some(id) = &e.rpc_id {
            let _ = write!(what, " id={id}");
        }
        if let Some(m) = &e.masked {
            let _ = write!(what, " masked={m}");
        }
        if let Some(d) = e
            .decision
            .as_deref()
            .and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())
        {
            let effect = d["effect"].as_str().unwrap_or("?");
            let by = d["rule"]
                .as_str()
                .map(|r| format!("rule {r}"))
                .unwrap_or_else(|| "default".into());
            let _ = write!(
                what,
                " policy={effect} ({by}, {})",
                policy_version_label(&d["policy_version"])
            );
        }
        let _ = writeln!(s, "#{:<6} {}  {arrow}  {what}", e.seq, &e.at);
        let _ = writeln!(s, "        {}", e.payload);
    }
    out(&s);
    Ok(())
}

/// Fills an empty store with `count` synthetic sessions spread over the last 30 days
/// (a few people, servers and tools; some with masked data, denials, approvals). Only
/// summaries: no messages, so the audit chain stays empty and valid.
pub async fn seed(
    config: Option<PathBuf>,
    database: Option<String>,
    count: u32,
) -> Result<(), Exit> {
    let store = open(config, database).await?;
    let runtime = |e: sqlx::Error| Exit::Runtime(e.to_string());
    let existing: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sessions")
        .fetch_one(store.pool())
        .await
        .map_err(runtime)?;
    if existing > 0 {
        return Err(Exit::Usage(format!(
            "the store already holds {existing} sessions; seed only an empty store"
        )));
    }
    const PEOPLE: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];
    const SERVERS: [(&str, [&str; 3]); 3] = [
        ("customers", ["query", "describe_table", "delete_customer"]),
        ("billing", ["list_invoices", "refund", "get_invoice"]),
        ("github", ["search_code", "create_issue", "merge_pr"]),
    ];
    let now = chrono::Utc::now();
    let mut tx = store.pool().begin().await.map_err(runtime)?;
    for i in 0..count {
        let (server, tools) = SERVERS[(i as usize) % SERVERS.len()];
        let tool = tools[(i as usize / 3) % tools.len()];
        // Newest first at i = 0, spread evenly over 30 days.
        let started =
            now - chrono::Duration::seconds(i64::from(i) * 30 * 86_400 / i64::from(count.max(1)));
        let at = started.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let ended = (started + chrono::Duration::seconds(40))
            .to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let id = format!(
            "seed{i:08}{:024x}",
            u128::from(i).wrapping_mul(0x9e37_79b9_7f4a_7c15)
        );
        sqlx::query(
            "INSERT INTO sessions (id, principal, groups_json, server, era, client_name, client_version, protocol_version, \
             started_at, last_seen_at, ended_at, end_reason, message_count, masked_total, denied, held) \
             VALUES ($1, $2, '[\"engineers\"]', $3, 'legacy', 'seed-client', '1.0', '2025-06-18', $4, $5, $6, 'client_closed', $7, $8, $9, $10)",
        )
        .bind(&id)
        .bind(PEOPLE[(i as usize) % PEOPLE.len()])
        .bind(server)
        .bind(&at)
        .bind(&ended)
        .bind(&ended)
        .bind(i64::from(4 + i % 9))
        .bind(i64::from(if i % 4 == 0 { 1 + i % 5 } else { 0 }))
        .bind(i64::from(u32::from(i % 17 == 0)))
        .bind(i64::from(u32::from(i % 23 == 0)))
        .execute(&mut *tx)
        .await
        .map_err(runtime)?;
        sqlx::query("INSERT INTO session_tools (tool, session_id) VALUES ($1, $2)")
            .bind(tool)
            .bind(&id)
            .execute(&mut *tx)
            .await
            .map_err(runtime)?;
    }
    tx.commit().await.map_err(runtime)?;
    out(&format!("seeded {count} sessions\n"));
    Ok(())
}

/// A policy version as `sessions show` prints it: the stored label already reads
/// `v1-…`; a bare number gets its `v`.
fn policy_version_label(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) if s.starts_with('v') => s.clone(),
        serde_json::Value::String(s) => format!("v{s}"),
        serde_json::Value::Number(n) => format!("v{n}"),
        _ => "v?".into(),
    }
}
