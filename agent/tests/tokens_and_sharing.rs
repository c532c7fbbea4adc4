//! Agent admission and load sharing against a real control plane and the real agent
//! binary: a bogus claim and a revoked token are refused (and recorded), a revoked token
//! loses its live connection, two agents share a server and one can be drained.

mod common;

use common::*;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bogus_claims_unknown_and_revoked_tokens_are_refused_and_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let servers = "[[servers]]\nname = \"tickets\"\nagent = \"edge\"\n[[servers]]\nname = \"payroll\"\nagent = \"hr-agent\"\n";
    let mut cp = ControlPlane::start(servers, "127.0.0.1:0", &dir.path().join("cp.db")).await;
    let (token_id, token) = cp.create_token("edge").await;

    // A bogus agent: a valid `edge` token, but claiming `payroll`, assigned to another agent.
    let greedy = agent_config(
        dir.path(),
        "greedy.toml",
        &cp.ws(),
        "[[servers]]\nname = \"tickets\"\ncommand = \"/bin/false\"\n[[servers]]\nname = \"payroll\"\ncommand = \"/bin/false\"\n",
    );
    let mut bogus = AgentProc::spawn(&[], &greedy, &token, &[]);
    let refusal = wait_for_event(&cp, "edge", "agent_refused").await;
    assert!(
        refusal["reason"].as_str().unwrap().contains("`payroll`"),
        "{refusal}"
    );
    assert_eq!(cp.agent("edge").await["connected"], json!(false));
    bogus.kill().await;

    // An unknown token is refused and recorded too.
    let honest = agent_config(
        dir.path(),
        "honest.toml",
        &cp.ws(),
        "[[servers]]\nname = \"tickets\"\ncommand = \"/bin/false\"\n",
    );
    let mut stranger = AgentProc::spawn(&[], &honest, "gha_not-a-real-token", &[]);
    let unknown = wait_for_event(&cp, "?", "agent_refused").await;
    assert!(
        unknown["reason"].as_str().unwrap().contains("not valid"),
        "{unknown}"
    );
    stranger.kill().await;

    // The right config connects; revoking its token drops the live connection.
    let mut agent = AgentProc::spawn(&[], &honest, &token, &[]);
    cp.wait_connected("edge", 1).await;
    let r = http()
        .post(format!(
            "{}/api/v1/agents/tokens/{token_id}/revoke",
            cp.base
        ))
        .bearer_auth(USER_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "only admins revoke");
    let r: serde_json::Value = http()
        .post(format!(
            "{}/api/v1/agents/tokens/{token_id}/revoke",
            cp.base
        ))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["dropped_connections"], 1, "{r}");
    cp.wait_connected("edge", 0).await;
    let gone = wait_for_event(&cp, "edge", "agent_disconnected").await;
    assert!(
        gone["reason"].as_str().unwrap().contains("revoked"),
        "{gone}"
    );
    // Its reconnection attempts are refused, and recorded as such.
    let again = wait_for_matching(&cp, "edge", "agent_refused", "was revoked").await;
    assert_eq!(again["token_id"], json!(token_id));

    // The token is stored only as a hash.
    let db = std::fs::read(dir.path().join("cp.db")).unwrap();
    let wal = std::fs::read(dir.path().join("cp.db-wal")).unwrap_or_default();
    for bytes in [&db, &wal] {
        assert!(
            !contains(bytes, token.as_bytes()),
            "the token is in the store"
        );
    }
    agent.kill().await;
    cp.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_agents_share_a_server_and_a_drained_one_takes_no_new_sessions() {
    let dir = tempfile::tempdir().unwrap();
    let servers = "[[servers]]\nname = \"everything\"\nagent = [\"edge-a\", \"edge-b\"]\n";
    let mut cp = ControlPlane::start(servers, "127.0.0.1:0", &dir.path().join("cp.db")).await;
    let (_, token_a) = cp.create_token("edge-a").await;
    let (_, token_b) = cp.create_token("edge-b").await;
    let upstream = everything_server("everything");
    let ca = agent_config(dir.path(), "a.toml", &cp.ws(), &upstream);
    let cb = agent_config(dir.path(), "b.toml", &cp.ws(), &upstream);
    let mut a = AgentProc::spawn(&[], &ca, &token_a, &[]);
    let mut b = AgentProc::spawn(&[], &cb, &token_b, &[]);
    cp.wait_connected("edge-a", 1).await;
    cp.wait_connected("edge-b", 1).await;

    let url = format!("{}/mcp/everything", cp.base);
    let mut sessions = Vec::new();
    for _ in 0..4 {
        sessions.push(McpSession::open(&url).await);
    }
    let load = |v: serde_json::Value| v["connections"][0]["sessions"].as_u64().unwrap_or(0);
    assert_eq!(
        load(cp.agent("edge-a").await),
        2,
        "least-loaded picks alternate"
    );
    assert_eq!(load(cp.agent("edge-b").await), 2);

    // Drain edge-a: new sessions all go to edge-b; edge-a's open sessions keep working.
    let r: serde_json::Value = http()
        .post(format!("{}/api/v1/agents/edge-a/drain", cp.base))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["drained"], true, "{r}");
    assert_eq!(r["open_sessions"], 2, "{r}");
    for _ in 0..2 {
        sessions.push(McpSession::open(&url).await);
    }
    assert_eq!(load(cp.agent("edge-a").await), 2);
    assert_eq!(load(cp.agent("edge-b").await), 4);
    assert_eq!(cp.agent("edge-a").await["drained"], true);
    for s in &sessions {
        let r = s.call("echo", json!({"message": "still here"})).await;
        assert!(
            r["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("still here")),
            "{r}"
        );
    }
    a.kill().await;
    b.kill().await;
    cp.stop().await;
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

async fn wait_for_event(cp: &ControlPlane, agent: &str, kind: &str) -> serde_json::Value {
    wait_for_matching(cp, agent, kind, "").await
}

async fn wait_for_matching(
    cp: &ControlPlane,
    agent: &str,
    kind: &str,
    text: &str,
) -> serde_json::Value {
    for _ in 0..150 {
        if let Some((_, p)) = cp
            .agent_events(agent)
            .await
            .into_iter()
            .find(|(k, p)| k == kind && p.to_string().contains(text))
        {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "no `{kind}` event for agent `{agent}` containing `{text}` within 15 s: {:?}",
        cp.agent_events(agent).await
    );
}
