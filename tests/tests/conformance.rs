//! The MCP conformance suite (`@modelcontextprotocol/conformance` 0.1.x, server
//! scenarios) directly against an upstream and through the gateway.

use gatehouse_e2e::*;
use serde_json::Value;

fn failing(map: &Value) -> Vec<String> {
    map.as_object()
        .map(|m| {
            m.iter()
                .filter(|(_, v)| *v != "pass")
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fully_conformant_upstream_stays_fully_conformant_behind_the_gateway() {
    let upstream = conformance_server().await;
    let mut g = Gatehouse::start(&url_server("conformance", &upstream.url, "legacy")).await;
    let direct = conformance(&upstream.url, None).await;
    assert!(
        failing(&direct).is_empty(),
        "the test upstream itself fails: {:?}",
        failing(&direct)
    );
    let via = conformance(&g.url("conformance"), Some(TOKEN)).await;
    assert!(
        failing(&via).is_empty(),
        "through the gateway these fail: {:?}",
        failing(&via)
    );
    assert_eq!(
        direct.as_object().map(|m| m.len()),
        via.as_object().map(|m| m.len())
    );
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reference_server_scores_the_same_through_the_gateway() {
    let upstream = everything_http().await;
    let mut g = Gatehouse::start(&url_server("everything", &upstream.url, "legacy")).await;
    let direct = conformance(&upstream.url, None).await;
    let via = conformance(&g.url("everything"), Some(TOKEN)).await;
    let (Some(d), Some(v)) = (direct.as_object(), via.as_object()) else {
        panic!("no result maps: {direct} {via}");
    };
    assert_eq!(d.keys().collect::<Vec<_>>(), v.keys().collect::<Vec<_>>());
    for (scenario, outcome) in d {
        if scenario == "dns-rebinding-protection" {
            // The gateway checks Host/Origin itself, whatever the upstream does.
            assert_eq!(v[scenario], "pass", "the gateway must refuse rebinding");
        } else {
            assert_eq!(
                &v[scenario], outcome,
                "scenario {scenario}: direct {outcome}, via gateway {}",
                v[scenario]
            );
        }
    }
    g.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_2026_07_28_requirements_score_the_same_through_the_gateway() {
    let upstream = current_server().await;
    let mut g = Gatehouse::start(&url_server("modern", &upstream.url, "current")).await;
    let direct = conformance_requirements(&upstream.url, None, "2026-07-28").await;
    let via = conformance_requirements(&g.url("modern"), Some(TOKEN), "2026-07-28").await;
    let (Some(d), Some(v)) = (direct.as_object(), via.as_object()) else {
        panic!("no result maps: {direct} {via}");
    };
    assert!(d.len() >= 40, "the 2026-07-28 requirement set ran: {d:?}");
    assert_eq!(d.keys().collect::<Vec<_>>(), v.keys().collect::<Vec<_>>());
    let differing: Vec<String> = d
        .iter()
        .filter(|(k, o)| v.get(k.as_str()) != Some(*o))
        .map(|(k, o)| format!("{k}: direct {o}, via gateway {}", v[k.as_str()]))
        .collect();
    assert!(differing.is_empty(), "{differing:#?}");
    g.stop().await;
}
