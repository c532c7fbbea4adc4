//! What checking an MCP client's bearer token costs per request, with the key decoded
//! once at start-up: the token verification alone (EdDSA signature, header, claims,
//! issuer, audience, lifetime), and the gateway's whole authentication step (dev-token
//! table miss, our-key check, verification, revocation set).

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_control_plane::config::Config;
use gatehouse_control_plane::gateway::Gateway;
use gatehouse_control_plane::identity::auth::Principal;
use gatehouse_control_plane::identity::authz::issue::access_token;
use gatehouse_control_plane::store::Store;
use gatehouse_control_plane::store::authz::Grant;
use std::path::Path;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let text = "public_url = \"https://gatehouse.example\"\n\
        [oidc]\nissuer = \"https://idp.example\"\nclient_id = \"gatehouse\"\n\
        [[servers]]\nname = \"db\"\ncommand = \"true\"\n";
    let mut config =
        Config::parse(text, Path::new("bench.toml"), std::iter::empty()).expect("config");
    config.database = format!("sqlite://{}/b.db", dir.path().display());
    let store = rt.block_on(Store::open(&config.database)).expect("store");
    let gw = rt
        .block_on(async { Gateway::new(config, store, false) })
        .expect("gateway");
    let az = gw.auth_server().expect("authorization server on");
    let grant = Grant {
        id: "g".repeat(64),
        client_id: "mcp-0123456789abcdef0123456789abcdef".into(),
        principal: Principal {
            user: "eve@example.com".into(),
            groups: vec![
                "engineers".into(),
                "oncall".into(),
                "gatehouse-approvers".into(),
            ],
        },
        resource: "https://gatehouse.example/mcp/db".into(),
        scope: "mcp".into(),
        revoked: false,
    };
    let token = access_token(&gw.identity, az, &grant);
    let audiences = vec![
        "https://gatehouse.example/mcp".to_string(),
        "https://gatehouse.example/mcp/db".to_string(),
    ];
    let now = chrono::Utc::now().timestamp();
    assert!(az.keys.verify(&token, &audiences, now).is_ok());

    c.bench_function("token_verify", |b| {
        b.iter(|| {
            az.keys
                .verify(std::hint::black_box(&token), &audiences, now)
        })
    });
    let mut headers = http::HeaderMap::new();
    headers.insert(
        http::header::AUTHORIZATION,
        format!("Bearer {token}").parse().expect("header"),
    );
    assert_eq!(
        rt.block_on(gw.authenticate(&headers, Some("db")))
            .expect("valid")
            .user,
        "eve@example.com"
    );
    c.bench_function("gateway_authenticate", |b| {
        b.iter(|| {
            futures::executor::block_on(gw.authenticate(std::hint::black_box(&headers), Some("db")))
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
