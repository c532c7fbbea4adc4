//! `gatehouse agents create|revoke|list|drain|resume`: agent tokens and status, on the
//! store the control plane uses. A running control plane applies revocations and drains
//! within a second (revoked tokens also lose their live connections).

use super::{Exit, load_config, out, sessions::open};
use gatehouse_control_plane::agents::valid_name;
use std::fmt::Write;
use std::path::PathBuf;

fn runtime(e: impl std::fmt::Display) -> Exit {
    Exit::Runtime(e.to_string())
}

/// Creates a token for agent `name` and prints it (the only time it is shown).
pub async fn create(
    name: &str,
    by: &str,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    if !valid_name(name) {
        return Err(Exit::Usage(format!(
            "agent name `{name}` must be 1-64 letters, digits, `-` or `_`"
        )));
    }
    let store = open(config, database).await?;
    let (row, token) = store.create_agent_token(name, by).await.map_err(runtime)?;
    out(&format!(
        "agent token {id} for agent `{name}` (shown once; only its hash is stored):\n\n{token}\n\n\
         Give it to the agent by reference, e.g. GATEHOUSE_AGENT_TOKEN={token} with token = \"env:GATEHOUSE_AGENT_TOKEN\"\n\
         in its config. Revoke it with: gatehouse agents revoke {id}\n",
        id = row.id
    ));
    Ok(())
}

/// Revokes a token; a running control plane drops its connections within a second.
pub async fn revoke(
    id: &str,
    by: &str,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    let store = open(config, database).await?;
    match store.revoke_agent_token(id, by).await.map_err(runtime)? {
        Some(row) => {
            out(&format!(
                "agent token {} of agent `{}` is revoked (since {}); connections made with it are dropped\n",
                row.id,
                row.agent,
                row.revoked_at.unwrap_or_default()
            ));
            Ok(())
        }
        None => Err(Exit::Usage(format!(
            "there is no agent token `{id}`; `gatehouse agents list` shows the ids"
        ))),
    }
}

/// Drains (no new sessions) or resumes an agent name.
pub async fn drain(
    name: &str,
    drained: bool,
    by: &str,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    if !valid_name(name) {
        return Err(Exit::Usage(format!("`{name}` is not an agent name")));
    }
    let store = open(config, database).await?;
    store
        .set_agent_drained(name, drained, by)
        .await
        .map_err(runtime)?;
    out(&if drained {
        format!("agent `{name}` is drained: no new sessions go to it; open ones finish\n")
    } else {
        format!("agent `{name}` takes new sessions again\n")
    });
    Ok(())
}

/// Prints every agent: connected or not, version, servers, last seen, drained, tokens.
pub async fn list(
    config: Option<PathBuf>,
    database: Option<String>,
    json: bool,
) -> Result<(), Exit> {
    let heartbeat = match &database {
        Some(_) => gatehouse_control_plane::config::AgentsConfig::default().heartbeat_secs,
        None => load_config(config.clone())?.agents.heartbeat_secs,
    };
    let store = open(config, database).await?;
    let conns = store.agent_connections().await.map_err(runtime)?;
    let tokens = store.agent_tokens().await.map_err(runtime)?;
    let drained = store.drained_agents().await.map_err(runtime)?;
    let stale = chrono::Utc::now() - chrono::Duration::seconds(3 * heartbeat as i64);
    let live = |c: &gatehouse_control_plane::agents::store::ConnectionRow| {
        c.disconnected_at.is_none()
            && chrono::DateTime::parse_from_rfc3339(&c.last_seen_at)
                .is_ok_and(|t| t.with_timezone(&chrono::Utc) > stale)
    };
    if json {
        let v = serde_json::json!({
            "connections": conns.iter().map(|c| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["connected"] = serde_json::json!(live(c));
                v
            }).collect::<Vec<_>>(),
            "tokens": tokens,
            "drained": drained,
        });
        out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
        return Ok(());
    }
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<16} {:<10} {:<8} {:<8} {:<28} {:<32} SERVERS",
        "AGENT", "STATE", "DRAINED", "VERSION", "LAST SEEN", "CONNECTION"
    );
    for c in &conns {
        let state = if live(c) { "connected" } else { "offline" };
        let _ = writeln!(
            text,
            "{:<16} {:<10} {:<8} {:<8} {:<28} {:<32} {}",
            c.agent,
            state,
            if drained.contains(&c.agent) {
                "yes"
            } else {
                "no"
            },
            c.version,
            c.last_seen_at,
            c.id,
            c.servers.join(",")
        );
    }
    if conns.is_empty() {
        text.push_str("(no agent has connected yet)\n");
    }
    let _ = writeln!(text, "\nTOKENS");
    for t in &tokens {
        let _ = writeln!(
            text,
            "{:<14} {:<16} created {} by {}{}",
            t.id,
            t.agent,
            t.created_at,
            t.created_by,
            t.revoked_at
                .as_ref()
                .map(|r| format!(", REVOKED {r}"))
                .unwrap_or_default()
        );
    }
    if tokens.is_empty() {
        text.push_str("(no agent tokens; create one with `gatehouse agents create NAME`)\n");
    }
    out(&text);
    Ok(())
}
