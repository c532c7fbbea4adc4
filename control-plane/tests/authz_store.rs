//! The authorization server's records on the configured store (SQLite, or PostgreSQL
//! with GATEHOUSE_TEST_DATABASE): device codes are polled, slowed down and redeemed once;
//! garbage collection removes expired and ended rows and keeps live ones (times are set
//! in the database directly).

mod common;

use gatehouse_control_plane::identity::auth::Principal;
use gatehouse_control_plane::store::Store;
use gatehouse_control_plane::store::authz::{
    AuthzClient, Code, DevicePoll, Grant, NewDeviceCode, Redeemed, secret_hash,
};

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

/// An authorization code of `grant` for the client `live-client`.
fn code(grant: &str) -> Code {
    Code {
        grant_id: grant.into(),
        client_id: "live-client".into(),
        redirect_uri: "http://127.0.0.1/cb".into(),
        code_challenge: "x".into(),
    }
}

/// A grant of `client` with one refresh token (30 days).
async fn grant_with_refresh(s: &Store, id: &str, client: &str, refresh: &str) {
    s.create_grant(&grant(id, client)).await.unwrap();
    s.create_refresh_token(refresh, id, client, 30)
        .await
        .unwrap();
}

/// Sets `columns` of the rows of `table` matching `filter` to [`PAST`].
async fn age(s: &Store, table: &str, columns: &[&str], filter: &str) {
    let set: Vec<String> = columns.iter().map(|c| format!("{c} = '{PAST}'")).collect();
    let sql = format!("UPDATE {table} SET {} WHERE {filter}", set.join(", "));
    sqlx::query(&sql).execute(s.pool()).await.unwrap();
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
    age(&s, "authz_device_codes", &["last_polled_at"], "1 = 1").await;
    assert_eq!(
        s.poll_device_code("dc", "dev").await.unwrap(),
        DevicePoll::Approved("g1".into())
    );
    age(&s, "authz_device_codes", &["last_polled_at"], "1 = 1").await;
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
    age(
        &s,
        "authz_device_codes",
        &["expires_at"],
        "client_id = 'dev'",
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
    grant_with_refresh(&s, "live", "live-client", "live-rt").await;
    s.create_code("live-code", &code("live"), 60).await.unwrap();
    s.create_code("old-code", &code("live"), 60).await.unwrap();
    s.create_refresh_token("rotated-rt", "live", "live-client", 30)
        .await
        .unwrap();
    s.rotate_refresh_token("rotated-rt").await.unwrap();
    s.create_refresh_token("old-rt", "live", "live-client", 30)
        .await
        .unwrap();
    // A grant revoked long ago, with a refresh token; one revoked just now.
    grant_with_refresh(&s, "revoked-old", "live-client", "revoked-rt").await;
    s.revoke_grant("revoked-old", "test").await.unwrap();
    s.create_grant(&grant("revoked-new", "live-client"))
        .await
        .unwrap();
    s.revoke_grant("revoked-new", "test").await.unwrap();
    // A grant whose every token expired; a client idle for long but with a live grant.
    grant_with_refresh(&s, "spent", "live-client", "spent-rt").await;
    grant_with_refresh(&s, "kept-for-idle", "idle-with-grant", "idle-rt").await;
    // Device codes: one live, one expired.
    s.create_device_code(&dc("dev-live", "BBBBBBBB", "live-client"))
        .await
        .unwrap();
    s.create_device_code(&dc("dev-old", "CCCCCCCC", "live-client"))
        .await
        .unwrap();

    // Age what should go.
    let hash = secret_hash;
    let old_code = format!("code_hash = '{}'", hash("old-code"));
    age(&s, "authz_codes", &["expires_at"], &old_code).await;
    let old_tokens = format!(
        "token_hash IN ('{}', '{}')",
        hash("old-rt"),
        hash("spent-rt")
    );
    age(&s, "authz_refresh_tokens", &["expires_at"], &old_tokens).await;
    age(&s, "authz_grants", &["created_at"], "id <> 'revoked-new'").await;
    age(&s, "authz_grants", &["revoked_at"], "id = 'revoked-old'").await;
    let old_device = format!("device_code_hash = '{}'", hash("dev-old"));
    age(&s, "authz_device_codes", &["expires_at"], &old_device).await;
    let idle = "client_id <> 'live-client'";
    age(&s, "authz_clients", &["created_at", "last_used_at"], idle).await;

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
        Redeemed::Replayed(_)
    ));
    assert!(matches!(
        s.rotate_refresh_token("live-rt").await.unwrap(),
        Redeemed::Fresh(_)
    ));
    // A second run finds nothing more.
    assert_eq!(s.collect_authz_garbage(900, 30).await.unwrap().total(), 0);
}

/// (Moved from the store's unit tests, so it runs on PostgreSQL too.)
#[tokio::test]
async fn codes_are_single_use_and_refresh_tokens_rotate() {
    let dir = tempfile::tempdir().unwrap();
    let store = store(&dir).await;
    store
        .put_authz_client(&client("live-client"))
        .await
        .unwrap();
    let g = grant("g1", "live-client");
    store.create_grant(&g).await.unwrap();
    assert_eq!(store.grant("g1").await.unwrap(), Some(g));
    store
        .create_code("the-code", &code("g1"), 60)
        .await
        .unwrap();
    assert!(matches!(
        store.redeem_code("the-code").await.unwrap(),
        Redeemed::Fresh(_)
    ));
    assert!(
        matches!(store.redeem_code("the-code").await.unwrap(), Redeemed::Replayed(g) if g == "g1")
    );
    assert!(matches!(
        store.redeem_code("other").await.unwrap(),
        Redeemed::Unknown
    ));
    let stored: String = sqlx::query_scalar("SELECT code_hash FROM authz_codes")
        .fetch_one(store.pool())
        .await
        .unwrap();
    assert_ne!(stored, "the-code", "only the digest is stored");

    store
        .create_refresh_token("r1", "g1", "live-client", 1)
        .await
        .unwrap();
    assert!(matches!(
        store.rotate_refresh_token("r1").await.unwrap(),
        Redeemed::Fresh(_)
    ));
    assert!(matches!(
        store.rotate_refresh_token("r1").await.unwrap(),
        Redeemed::Replayed(_)
    ));
    assert_eq!(
        store.revoke_grant("g1", "test").await.unwrap().as_deref(),
        Some("eve")
    );
    assert_eq!(store.revoke_grant("g1", "test").await.unwrap(), None);
    assert_eq!(store.recently_revoked_grants(60).await.unwrap(), ["g1"]);
    assert!(store.grant("g1").await.unwrap().unwrap().revoked);
}
