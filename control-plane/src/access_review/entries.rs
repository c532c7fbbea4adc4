//! Who could use which server in a period, and what they did with it, from what the
//! store holds: the policy versions in force in the period, the groups the identity
//! provider sent with each person's sessions and dashboard sign-ins, the just-in-time
//! grants (`access_grants`) and the recorded sessions and calls.
//!
//! A person's groups are known only when they sign in, so the groups of their last
//! sign-in before the period stand until the next one. The period is cut wherever a
//! policy version was published or a person's groups were seen to change; access in any
//! piece makes an entry, and access ending before the period's end is reported as lost.

use super::{Access, Entry, ReviewError};
use crate::store::Store;
use gatehouse_policy::{Policy, Principal};
use sqlx::Row;
use std::collections::{BTreeMap, BTreeSet};

/// What a review needs to know about the control plane besides the store.
pub struct Scope {
    /// The configured servers' names.
    pub servers: Vec<String>,
    /// Owners named in the config, by server.
    pub owners: BTreeMap<String, Vec<String>>,
}

/// A policy version in force from `at`.
struct Version {
    at: String,
    policy: Option<Policy>,
}

/// A person's groups as seen at `at`.
struct Seen {
    at: String,
    groups: Vec<String>,
}

#[derive(Default)]
struct Usage {
    sessions: i64,
    calls: i64,
    refusals: i64,
    last: Option<String>,
}

/// The entries of a review of `[from, to]` (facts up to `to`), numbered from 1.
pub async fn compute(
    store: &Store,
    scope: &Scope,
    from: &str,
    to: &str,
) -> Result<Vec<Entry>, ReviewError> {
    let versions = versions(store, from, to).await?;
    let people = people(store, from, to).await?;
    let usage = usage(store, from, to).await?;
    let newest = versions.last().and_then(|v| v.policy.as_ref());

    let mut servers: BTreeSet<String> = scope.servers.iter().cloned().collect();
    servers.extend(usage.keys().map(|(_, s)| s.clone()));

    // (person, server) -> (ways in, still usable at the end, lost at)
    type Found = (BTreeSet<Access>, bool, Option<String>);
    let mut found: BTreeMap<(String, String), Found> = BTreeMap::new();
    for (person, seen) in &people {
        // The pieces of the period: its start, every policy publication and every sign-in
        // with this person's groups inside it.
        let mut cuts: BTreeSet<&str> = BTreeSet::from([from]);
        cuts.extend(versions.iter().map(|v| v.at.as_str()).filter(|t| *t > from));
        cuts.extend(seen.iter().map(|s| s.at.as_str()).filter(|t| *t > from));
        for server in &servers {
            let mut ways = BTreeSet::new();
            let mut usable_now = false;
            let mut lost_at = None;
            for cut in &cuts {
                let Some(groups) = seen.iter().rev().find(|s| s.at.as_str() <= *cut) else {
                    continue; // not known yet
                };
                let policy = versions.iter().rev().find(|v| v.at.as_str() <= *cut);
                let here = reach(policy.map(|v| &v.policy), person, &groups.groups, server);
                if here.is_empty() {
                    if usable_now {
                        lost_at = Some(cut.to_string());
                    }
                    usable_now = false;
                } else {
                    usable_now = true;
                    lost_at = None;
                    ways.extend(here);
                }
            }
            if !ways.is_empty() {
                found.insert(
                    (person.clone(), server.clone()),
                    (ways, usable_now, lost_at),
                );
            }
        }
    }
    for g in grants(store, from, to).await? {
        let end = g.until.clone().unwrap_or_default();
        let e = found
            .entry((g.person.clone(), g.server.clone()))
            .or_insert_with(|| (BTreeSet::new(), false, None));
        if !e.1 {
            // No standing access at the end: access ends with the last grant.
            if end.as_str() > to {
                e.2 = None;
                e.1 = true;
            } else if e.2.as_deref().is_none_or(|l| l < end.as_str()) {
                e.2 = Some(end);
            }
        }
        e.0.insert(g.access);
    }

    let mut out = Vec::with_capacity(found.len());
    for (n, ((person, server), (ways, _, lost_at))) in found.into_iter().enumerate() {
        let u = usage.get(&(person.clone(), server.clone()));
        let mut reviewers = scope.owners.get(&server).cloned().unwrap_or_default();
        if let Some(p) = newest {
            reviewers.extend(p.owners(&server).iter().cloned());
        }
        reviewers.sort();
        reviewers.dedup();
        out.push(Entry {
            entry: n as i64 + 1,
            never_used: u.is_none_or(|u| u.sessions == 0 && u.calls == 0),
            sessions: u.map_or(0, |u| u.sessions),
            calls: u.map_or(0, |u| u.calls),
            refusals: u.map_or(0, |u| u.refusals),
            last_used: u.and_then(|u| u.last.clone()),
            person,
            server,
            access: ways.into_iter().collect(),
            lost_at,
            reviewers,
            decision: None,
            comment: None,
            decided_by: None,
            decided_at: None,
            change: None,
        });
    }
    Ok(out)
}

/// The ways `person` with `groups` reaches `server` under a policy version (`None`: no
/// version published yet, and then everyone may use every server).
fn reach(
    policy: Option<&Option<Policy>>,
    person: &str,
    groups: &[String],
    server: &str,
) -> Vec<Access> {
    let access = |kind: &str, rule: Option<String>, via: Option<String>| Access {
        kind: kind.into(),
        rule,
        via,
        grant: None,
        role: None,
        from: None,
        until: None,
    };
    let Some(version) = policy else {
        return vec![access("no_policy", None, None)];
    };
    // A version that no longer parses decided nothing here: the gateway kept the one before.
    let Some(policy) = version else {
        return Vec::new();
    };
    let r = policy.reach(
        &Principal::new(person, groups.iter().map(String::as_str)),
        server,
    );
    if !r.usable() {
        return Vec::new();
    }
    let mut out: Vec<Access> = r
        .paths
        .into_iter()
        .map(|p| access("rule", Some(p.rule), Some(p.via)))
        .collect();
    if r.by_default {
        out.push(access("default", None, None));
    }
    out
}

async fn versions(store: &Store, from: &str, to: &str) -> Result<Vec<Version>, ReviewError> {
    let rows = sqlx::query(
        "SELECT document, pushed_at FROM policies WHERE pushed_at <= $1 ORDER BY version",
    )
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut out: Vec<Version> = Vec::new();
    for r in rows {
        let at: String = r.get("pushed_at");
        // Only the last version published before the period matters, and those within it.
        if at.as_str() <= from {
            out.clear();
        }
        let policy = Policy::from_yaml(&r.get::<String, _>("document")).ok();
        out.push(Version { at, policy });
    }
    Ok(out)
}

/// Every person's groups as seen at each sign-in, oldest first; the last one before the
/// period stands at its start.
async fn people(
    store: &Store,
    from: &str,
    to: &str,
) -> Result<BTreeMap<String, Vec<Seen>>, ReviewError> {
    let rows = sqlx::query(
        "SELECT principal, groups_json, started_at AS at FROM sessions \
         WHERE era <> 'control' AND principal NOT LIKE 'agent:%' AND started_at <= $1 \
         UNION ALL SELECT principal, groups_json, created_at AS at FROM web_sessions WHERE created_at <= $2 \
         ORDER BY at",
    )
    .bind(to)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    let mut out: BTreeMap<String, Vec<Seen>> = BTreeMap::new();
    for r in rows {
        let mut groups: Vec<String> =
            serde_json::from_str(&r.get::<String, _>("groups_json")).unwrap_or_default();
        groups.sort();
        let seen = out.entry(r.get("principal")).or_default();
        let at: String = r.get("at");
        let at = if at.as_str() < from {
            from.to_string()
        } else {
            at
        };
        // Only changes cut the period.
        match seen.last_mut() {
            Some(last) if last.groups == groups => {}
            Some(last) if last.at == at => last.groups = groups,
            _ => seen.push(Seen { at, groups }),
        }
    }
    Ok(out)
}

async fn usage(
    store: &Store,
    from: &str,
    to: &str,
) -> Result<BTreeMap<(String, String), Usage>, ReviewError> {
    let mut out: BTreeMap<(String, String), Usage> = BTreeMap::new();
    let sessions = sqlx::query(
        "SELECT principal, server, COUNT(*) AS n, MAX(last_seen_at) AS last FROM sessions \
         WHERE era <> 'control' AND principal NOT LIKE 'agent:%' AND started_at <= $1 \
         AND COALESCE(ended_at, last_seen_at) >= $2 GROUP BY principal, server",
    )
    .bind(to)
    .bind(from)
    .fetch_all(store.pool())
    .await?;
    for r in sessions {
        let u = out
            .entry((r.get("principal"), r.get("server")))
            .or_default();
        u.sessions = r.get("n");
        u.last = r.get("last");
    }
    let calls = sqlx::query(
        "SELECT s.principal, s.server, COUNT(*) AS n, \
         COUNT(CASE WHEN e.decision LIKE '%\"effect\":\"deny\"%' THEN 1 END) AS refused, MAX(e.at) AS last \
         FROM audit_events e JOIN sessions s ON s.id = e.session_id \
         WHERE e.direction = 'client_to_server' AND e.kind = 'request' \
         AND e.method IN ('tools/call', 'resources/read', 'prompts/get') AND e.at >= $1 AND e.at <= $2 \
         GROUP BY s.principal, s.server",
    )
    .bind(from)
    .bind(to)
    .fetch_all(store.pool())
    .await?;
    for r in calls {
        let u = out
            .entry((r.get("principal"), r.get("server")))
            .or_default();
        u.calls = r.get("n");
        u.refusals = r.get("refused");
        let last: Option<String> = r.get("last");
        if last > u.last {
            u.last = last;
        }
    }
    Ok(out)
}

struct Grant {
    person: String,
    server: String,
    until: Option<String>,
    access: Access,
}

async fn grants(store: &Store, from: &str, to: &str) -> Result<Vec<Grant>, ReviewError> {
    let rows = sqlx::query(
        "SELECT id, person, server, role, rule, starts_at, ends_at, ended_at FROM access_grants \
         WHERE starts_at <= $1 AND COALESCE(ended_at, ends_at) >= $2 ORDER BY starts_at",
    )
    .bind(to)
    .bind(from)
    .fetch_all(store.pool())
    .await?;
    Ok(rows
        .iter()
        .map(|r| {
            let ends: String = r.get("ends_at");
            let ended: Option<String> = r.get("ended_at");
            let until = Some(match ended {
                Some(e) if e < ends => e,
                _ => ends,
            });
            Grant {
                person: r.get("person"),
                server: r.get("server"),
                until: until.clone(),
                access: Access {
                    kind: "grant".into(),
                    rule: Some(r.get("rule")),
                    via: None,
                    grant: Some(r.get("id")),
                    role: Some(r.get("role")),
                    from: Some(r.get("starts_at")),
                    until,
                },
            }
        })
        .collect())
}
