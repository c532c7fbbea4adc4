//! `gatehouse policy check FILE` validates a policy document; `gatehouse policy test FILE
//! --since 7d` replays the recorded requests of that period against it and prints what
//! would change, before anyone pushes it.

use super::{Exit, load_config, out, sessions::open};
use gatehouse_control_plane::config::load_policy;
use gatehouse_policy::{EffectKind, Policy, diff_decisions};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Exit 0 with a one-line summary, or 2 with every problem as FILE:LINE:COL: message.
pub fn check(file: &Path) -> Result<(), Exit> {
    let policy = load_policy(file).map_err(|e| Exit::Usage(e.to_string()))?;
    out(&format!(
        "{}: ok ({} rules, version {})\n",
        file.display(),
        policy.rule_count(),
        short(&policy)
    ));
    Ok(())
}

fn short(p: &Policy) -> String {
    p.source_digest().chars().take(12).collect()
}

/// Publishes `file` as the next policy version; running gateways apply it within a second.
/// Until sign-in lands (issue "Identity"), whoever can write the store can push.
pub async fn push(
    file: &Path,
    by: &str,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| Exit::Usage(format!("cannot read {}: {e}", file.display())))?;
    let policy = load_policy(file).map_err(|e| Exit::Usage(e.to_string()))?;
    if let Ok(token) = std::env::var("GATEHOUSE_TOKEN")
        && !token.trim().is_empty()
    {
        // Through the control plane, as yourself: only admins may publish.
        let url = std::env::var("GATEHOUSE_URL").unwrap_or_else(|_| "http://127.0.0.1:8080".into());
        let resp = reqwest::Client::new()
            .post(format!("{}/api/v1/policies", url.trim_end_matches('/')))
            .bearer_auth(token.trim())
            .header("content-type", "application/yaml")
            .body(text)
            .send()
            .await
            .map_err(|e| Exit::Runtime(format!("cannot reach Gatehouse at {url}: {e}")))?;
        let status = resp.status();
        let body: serde_json::Value = resp.json().await.unwrap_or_default();
        if !status.is_success() {
            let msg = body["error"]
                .as_str()
                .unwrap_or("the push was refused")
                .to_string();
            return Err(if status.is_client_error() {
                Exit::Usage(msg)
            } else {
                Exit::Runtime(msg)
            });
        }
        out(&format!(
            "{}: published as version {} by {}; running gateways apply it within a second\n",
            file.display(),
            body["version"],
            body["published_by"].as_str().unwrap_or("?")
        ));
        return Ok(());
    }
    // Directly into the store: for operators with write access to it.
    let store = open(config, database).await?;
    let version = store
        .push_policy(&text, policy.source_digest(), by)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    out(&format!(
        "{}: published as version {version} (digest {}); running gateways apply it within a second\n",
        file.display(),
        short(&policy)
    ));
    Ok(())
}

/// `7d`, `12h`, `30m`, `90s` as a duration.
fn parse_period(text: &str) -> Result<chrono::Duration, Exit> {
    gatehouse_control_plane::api::policies::parse_period(text).ok_or_else(|| {
        Exit::Usage(format!(
            "--since `{text}`: use a number and a unit, like 7d, 12h or 30m"
        ))
    })
}

/// Replays recorded requests against the policy in force and against `file`, and prints
/// each request whose decision would change, then a summary. Exit 0 either way.
pub async fn test(
    file: &Path,
    since: &str,
    config: Option<PathBuf>,
    database: Option<String>,
) -> Result<(), Exit> {
    let draft = load_policy(file).map_err(|e| Exit::Usage(e.to_string()))?;
    let period = parse_period(since)?;
    let cfg = load_config(config.clone())?;
    let current = match cfg.policy().map_err(|e| Exit::Usage(e.to_string()))? {
        Some(p) => p,
        // No policy in force means everything is allowed today.
        None => Policy::from_yaml("version: 1\ndefault: allow\n")
            .map_err(|e| Exit::Runtime(e.to_string()))?,
    };
    let store = open(config, database).await?;
    let from = (chrono::Utc::now() - period).to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let requests = gatehouse_control_plane::gateway::policy::recorded_requests(&store, &from)
        .await
        .map_err(|e| Exit::Runtime(e.to_string()))?;
    let changes = diff_decisions(&current, &draft, &requests);
    let mut text = String::new();
    for c in &changes {
        text.push_str(&format!("{c}\n"));
    }
    let mut tally: BTreeMap<(EffectKind, EffectKind), usize> = BTreeMap::new();
    for c in &changes {
        *tally.entry(c.transition()).or_default() += 1;
    }
    let summary: Vec<String> = tally
        .iter()
        .map(|((a, b), n)| format!("{n} {a} → {b}"))
        .collect();
    text.push_str(&format!(
        "\n{} recorded requests since {from} replayed against {} (version {}) instead of the policy in force (version {}): {}\n",
        requests.len(),
        file.display(),
        short(&draft),
        short(&current),
        if changes.is_empty() { "no decision changes".to_string() } else { summary.join(", ") }
    ));
    text.push_str("Arguments are replayed as recorded, i.e. masked: rules on masked values may decide differently live.\n");
    out(&text);
    Ok(())
}
