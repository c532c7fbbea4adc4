//! The authorization server's records on the configured store (SQLite, or PostgreSQL
//! with GATEHOUSE_TEST_DATABASE): device codes are polled, slowed down and redeemed once;
//! garbage collection removes expired and ended rows and keeps live ones (times are set
//! in the database directly).

mod common;

use gatehouse_control_plane::gateway::auth::Principal;
use gatehouse_control_plane::store::Store;
use gatehouse_control_plane::store::authz::{AuthzClient, Code, DevicePoll, Grant, NewDeviceCode};

/// A device request for `client` valid 10 minutes, polled every 5 s at most.
fn dc<'a>(device_code: &'a str, user_code: &'a str, client_id: &'a str) -> NewDeviceCode<'a> {
    NewDeviceCode {
        device_code,
        user_code,
        client_id,
        resource: "https://gh/mcp",
        scope: "mcp",
        secs: 600,
        interval: 5,
    }
}

async fn store(dir: &tempfile::TempDir) -> Store {
    let url = common::pg::database_url(&dir.path().join("authz.db")).await;
    Store::open_with(&url, Default::default()).await.unwrap()
}

fn grant(id: &str, client: &str) -> Grant {
    Grant {
        id: id.into(),
        client_id: client.into(),
        principal: Principal {
            user: "eve".into(),
            groups: vec!["engineers".into()],
        },
        resource: "https://gh/mcp".into(),
        scope: "mcp".into(),
        revoked: false,
    }
}

fn client(id: &str) -> AuthzClient {
    AuthzClient {
        client_id: id.into(),
        client_name: id.into(),
        redirect_uris: vec!["http://127.0.0.1/cb".into()],
        source: "registered".into(),
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
    }
}

async fn exec(s: &Store, sql: &str) {
    sqlx::query(sql).execute(s.pool()).await.unwrap();
}

async fn count(s: &Store, table: &str) -> i64 {
    sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
        .fetch_one(s.pool())
        .await
        .unwrap()
}

const PAST: &str = "2000-01-01T00:00:00.000000Z";

#[tokio::test]
async fn device_codes_are_polled_slowed_down_and_redeemed_once() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir).await;
    s.put_authz_client(&client("dev")).await.unwrap();
    assert!(
        s.create_device_code(&dc("dc", "BCDFGHJK", "dev"))
            .await
            .unwrap()
    );
    assert!(
        !s.create_device_code(&dc("dc2", "BCDFGHJK", "dev"))
            .await
            .unwrap(),
        "a user code in use is not handed out twice"
    );
    assert_eq!(
        s.poll_device_code("dc", "other").await.unwrap(),
        DevicePoll::OtherClient
    );
    assert_eq!(
        s.poll_device_code("nope", "dev").await.unwrap(),
        DevicePoll::Unknown
    );
    assert_eq!(
        s.poll_device_code("dc", "dev").await.unwrap(),
        DevicePoll::Pending
    );
    assert_eq!(
        s.poll_device_code("dc", "dev").await.unwrap(),
        DevicePoll::SlowDown(10)
    );
    let req = s.pending_device_request("BCDFGHJK").await.unwrap().unwrap();
    assert_eq!(req.client_id, "dev");
    s.create_grant(&grant("g1", "dev")).await.unwrap();
    assert!(
        s.decide_device_request(&req.device_code_hash, Some("g1"))
            .await
            .unwrap()
    );
    assert!(
        !s.decide_device_request(&req.device_code_hash, None)
            .await
            .unwrap(),
        "decided once"
    );
    assert_eq!(s.pending_device_request("BCDFGHJK").await.unwrap(), None);
    exec(
        &s,
        &format!("UPDATE authz_device_codes SET last_polled_at = '{PAST}'"),
    )
    .await;
    assert_eq!(
        s.poll_device_code("dc", "dev").await.unwrap(),
        DevicePoll::Approved("g1".into())
    );
    exec(
        &s,
        &format!("UPDATE authz_device_codes SET last_polled_at = '{PAST}'"),
    )
    .await;
    assert_eq!(
        s.poll_device_code("dc", "dev").await.unwrap(),
        DevicePoll::Replayed("g1".into())
    );
    // Denied, then expired.
    s.create_device_code(&dc("dd", "LMNPQRST", "dev"))
        .await
        .unwrap();
    let req = s.pending_device_request("LMNPQRST").await.unwrap().unwrap();
    assert!(
        s.decide_device_request(&req.device_code_hash, None)
            .await
            .unwrap()
    );
    assert_eq!(
        s.poll_device_code("dd", "dev").await.unwrap(),
        DevicePoll::Denied
    );
    exec(
        &s,
        &format!("UPDATE authz_device_codes SET expires_at = '{PAST}' WHERE client_id = 'dev'"),
    )
    .await;
    assert_eq!(
        s.poll_device_code("dd", "dev").await.unwrap(),
        DevicePoll::Expired
    );
}

#[tokio::test]
async fn garbage_collection_removes_expired_and_ended_rows_and_keeps_live_ones() {
    let dir = tempfile::tempdir().unwrap();
    let s = store(&dir).await;
    for c in ["live-client", "idle-client", "idle-with-grant"] {
        s.put_authz_client(&client(c)).await.unwrap();
    }
    // A live grant: a live code, a live refresh token, a rotated (still unexpired) one.
    s.create_grant(&grant("live", "live-client")).await.unwrap();
    let code = |g: &str| Code {
        grant_id: g.into(),
        client_id: "live-client".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        code_challenge: "x".into(),
    };
    s.create_code("live-code", &code("live"), 60).await.unwrap();
    s.create_code("old-code", &code("live"), 60).await.unwrap();
    s.create_refresh_token("live-rt", "live", "live-client", 30)
        .await
        .unwrap();
    s.create_refresh_token("rotated-rt", "live", "live-client", 30)
        .await
        .unwrap();
    s.rotate_refresh_token("rotated-rt").await.unwrap();
    s.create_refresh_token("old-rt", "live", "live-client", 30)
        .await
        .unwrap();
    // A grant revoked long ago, with a refresh token; one revoked just now.
    s.create_grant(&grant("revoked-old", "live-client"))
        .await
        .unwrap();
    s.create_refresh_token("revoked-rt", "revoked-old", "live-client", 30)
        .await
        .unwrap();
    s.revoke_grant("revoked-old", "test").await.unwrap();
    s.create_grant(&grant("revoked-new", "live-client"))
        .await
        .unwrap();
    s.revoke_grant("revoked-new", "test").await.unwrap();
    // A grant whose every token expired; a client idle for long but with a live grant.
    s.create_grant(&grant("spent", "live-client"))
        .await
        .unwrap();
    s.create_refresh_token("spent-rt", "spent", "live-client", 30)
        .await
        .unwrap();
    s.create_grant(&grant("kept-for-idle", "idle-with-grant"))
        .await
        .unwrap();
    s.create_refresh_token("idle-rt", "kept-for-idle", "idle-with-grant", 30)
        .await
        .unwrap();
    // Device codes: one live, one expired.
    s.create_device_code(&dc("dev-live", "BBBBBBBB", "live-client"))
        .await
        .unwrap();
    s.create_device_code(&dc("dev-old", "CCCCCCCC", "live-client"))
        .await
        .unwrap();

    // Age what should go.
    let hash = gatehouse_control_plane::store::authz::secret_hash;
    exec(
        &s,
        &format!(
            "UPDATE authz_codes SET expires_at = '{PAST}' WHERE code_hash = '{}'",
            hash("old-code")
        ),
    )
    .await;
    exec(&s, &format!("UPDATE authz_refresh_tokens SET expires_at = '{PAST}' WHERE token_hash IN ('{}', '{}')", hash("old-rt"), hash("spent-rt"))).await;
    exec(
        &s,
        &format!("UPDATE authz_grants SET created_at = '{PAST}' WHERE id <> 'revoked-new'"),
    )
    .await;
    exec(
        &s,
        &format!("UPDATE authz_grants SET revoked_at = '{PAST}' WHERE id = 'revoked-old'"),
    )
    .await;
    exec(
        &s,
        &format!(
            "UPDATE authz_device_codes SET expires_at = '{PAST}' WHERE device_code_hash = '{}'",
            hash("dev-old")
        ),
    )
    .await;
    exec(&s, &format!("UPDATE authz_clients SET created_at = '{PAST}', last_used_at = '{PAST}' WHERE client_id <> 'live-client'")).await;

    let removed = s.collect_authz_garbage(900, 30).await.unwrap();
    assert_eq!(removed.codes, 1);
    assert_eq!(removed.device_codes, 1);
    assert_eq!(removed.refresh_tokens, 3, "old-rt, spent-rt, revoked-rt");
    assert_eq!(removed.grants, 2, "revoked-old and spent");
    assert_eq!(removed.clients, 1, "idle-client");

    let ids: Vec<String> = sqlx::query_scalar("SELECT id FROM authz_grants ORDER BY id")
        .fetch_all(s.pool())
        .await
        .unwrap();
    assert_eq!(ids, ["kept-for-idle", "live", "revoked-new"]);
    assert!(s.authz_client("live-client").await.unwrap().is_some());
    assert!(s.authz_client("idle-with-grant").await.unwrap().is_some());
    assert!(s.authz_client("idle-client").await.unwrap().is_none());
    assert_eq!(count(&s, "authz_codes").await, 1);
    assert_eq!(count(&s, "authz_device_codes").await, 1);
    // The rotated token stays: presenting it again must still be caught as reuse.
    assert!(matches!(
        s.rotate_refresh_token("rotated-rt").await.unwrap(),
        gatehouse_control_plane::store::authz::Redeemed::Replayed(_)
    ));
    assert!(matches!(
        s.rotate_refresh_token("live-rt").await.unwrap(),
        gatehouse_control_plane::store::authz::Redeemed::Fresh(_)
    ));
    // A second run finds nothing more.
    assert_eq!(s.collect_authz_garbage(900, 30).await.unwrap().total(), 0);
}
