use super::types::sql;
use super::*;
use gatehouse_audit::public_key_hex;

async fn temp_store() -> (Store, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("t.db").display());
    (Store::open(&url).await.unwrap(), dir)
}

/// The masking a gateway applies with the default profile.
pub(super) fn masking() -> gatehouse_pipeline::Masking {
    static MASKER: std::sync::OnceLock<std::sync::Arc<gatehouse_mask::Masker>> =
        std::sync::OnceLock::new();
    let masker = MASKER.get_or_init(|| {
        std::sync::Arc::new(
            gatehouse_mask::Masker::new(&gatehouse_mask::Profile::default(), None).unwrap(),
        )
    });
    gatehouse_pipeline::Masking::new(masker.clone())
}

/// Call `n` of tool `echo` in `session`, recorded as the gateway records a request
/// (masked); call 0 carries two email addresses.
fn event(session: &str, n: usize) -> Record {
    let arguments = if n == 0 {
        serde_json::json!({ "n": n, "note": "ada@example.com, bob@example.com" })
    } else {
        serde_json::json!({ "n": n })
    };
    let call = gatehouse_proxy_core::jsonrpc::Message::from_value(serde_json::json!({
        "jsonrpc": "2.0", "id": n, "method": "tools/call",
        "params": { "name": "echo", "arguments": arguments },
    }))
    .unwrap();
    Record::client(session, &call, &masking().client_record(&call), None)
}

#[test]
fn recorded_calls_are_masked() {
    let e = event("s", 0);
    assert!(!e.payload().contains("ada@"), "{}", e.payload());
    assert_eq!(e.masked(), Some(r#"{"email":2}"#));
}

fn session(id: &str) -> NewSession {
    NewSession {
        id: id.into(),
        principal: "alice".into(),
        groups: vec!["eng".into()],
        server: "db".into(),
        era: "legacy".into(),
        client: None,
        protocol_version: None,
    }
}

#[tokio::test]
async fn concurrent_writers_all_land_in_order_per_caller() {
    let (store, _dir) = temp_store().await;
    store.start_session(session("s1")).await.unwrap();
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let s = store.clone();
            tokio::spawn(async move { s.record(vec![event("s1", n)]).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    store.end_session("s1", "client_closed").await.unwrap();
    let row = store.find_session("s1").await.unwrap().unwrap();
    assert_eq!(row.message_count, 200);
    assert_eq!(row.end_reason.as_deref(), Some("client_closed"));
    assert_eq!(store.session_events("s1").await.unwrap().len(), 200);
}

#[tokio::test]
async fn a_failed_write_is_reported_and_the_store_recovers() {
    let (store, _dir) = temp_store().await;
    // An event for a session that does not exist violates the foreign key.
    let err = store.record(vec![event("missing", 1)]).await.unwrap_err();
    assert!(err.to_string().contains("could not be written"), "{err}");
    store.start_session(session("s2")).await.unwrap();
    store.record(vec![event("s2", 1)]).await.unwrap();
    assert_eq!(store.session_events("s2").await.unwrap().len(), 1);
}

#[tokio::test]
async fn recorded_events_cannot_be_changed() {
    let (store, _dir) = temp_store().await;
    store.start_session(session("s3")).await.unwrap();
    store.record(vec![event("s3", 1)]).await.unwrap();
    let e = sqlx::query("UPDATE audit_events SET payload = '{}'")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"));
    assert!(
        sqlx::query("DELETE FROM audit_events")
            .execute(store.pool())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn the_chain_verifies_and_finds_a_changed_event() {
    let (store, _dir) = temp_store().await;
    store.start_session(session("c1")).await.unwrap();
    for n in 0..20 {
        store
            .record(vec![event("c1", n), event("c1", n + 100)])
            .await
            .unwrap();
    }
    store.end_session("c1", "done").await.unwrap();
    match store.verify_chain().await.unwrap() {
        ChainReport::Intact { events, .. } => assert_eq!(events, 40),
        broken => panic!("{broken:?}"),
    }
    // Someone with write access to the file drops the guard and edits a payload.
    sqlx::query("DROP TRIGGER audit_events_append_only_update")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("UPDATE audit_events SET payload = '{\"n\":-1}' WHERE seq = 17")
        .execute(store.pool())
        .await
        .unwrap();
    match store.verify_chain().await.unwrap() {
        ChainReport::Broken { events, reason } => {
            assert_eq!(events, 16);
            assert!(reason.contains("#17 was changed"), "{reason}");
        }
        intact => panic!("tampering went unnoticed: {intact:?}"),
    }
}

#[tokio::test]
async fn checkpoints_catch_a_truncated_or_rewritten_tail() {
    let (store, _dir) = temp_store().await;
    let key = gatehouse_audit::signing_key_from_hex(&"42".repeat(32)).unwrap();
    store.start_session(session("k1")).await.unwrap();
    for n in 0..10 {
        store.record(vec![event("k1", n)]).await.unwrap();
    }
    let head = store.write_checkpoint(&key).await.unwrap().unwrap();
    assert_eq!(head.tree_size, 10);
    assert!(
        store.write_checkpoint(&key).await.unwrap().is_none(),
        "nothing new to sign"
    );
    let public = public_key_hex(&key);
    assert!(matches!(
        store.verify_log(Some(&public)).await.unwrap(),
        ChainReport::Intact { checkpoints: 1, .. }
    ));
    let other = public_key_hex(&gatehouse_audit::signing_key_from_hex(&"43".repeat(32)).unwrap());
    assert!(matches!(
        store.verify_log(Some(&other)).await.unwrap(),
        ChainReport::Broken { .. }
    ));

    // Cutting the last events keeps the chain itself consistent; the checkpoint catches it.
    sqlx::query("DROP TRIGGER audit_events_append_only_delete")
        .execute(store.pool())
        .await
        .unwrap();
    sqlx::query("DELETE FROM audit_events WHERE seq > 7")
        .execute(store.pool())
        .await
        .unwrap();
    match store.verify_chain().await.unwrap() {
        ChainReport::Broken { reason, .. } => {
            assert!(reason.contains("truncated tail"), "{reason}")
        }
        intact => panic!("truncation went unnoticed: {intact:?}"),
    }
}

#[tokio::test]
async fn in_memory_databases_are_refused() {
    let err = Store::open("sqlite::memory:").await.err().unwrap();
    assert!(err.to_string().contains("lose every record"), "{err}");
}

#[tokio::test]
async fn find_by_unique_prefix() {
    let (store, _dir) = temp_store().await;
    store.start_session(session("abc123")).await.unwrap();
    store.start_session(session("abd456")).await.unwrap();
    assert_eq!(
        store.find_session("abc").await.unwrap().unwrap().id,
        "abc123"
    );
    assert!(store.find_session("ab").await.unwrap().is_none());
}

/// A log written before the writer kept the session summaries (schema up to 0019: the
/// per-event triggers, `AUTOINCREMENT`) upgrades in place: its events, chain and
/// summaries stay as they were, new events continue the chain and the summaries, and the
/// append-only guards still hold.
#[tokio::test]
async fn a_log_from_before_the_writer_kept_summaries_upgrades_in_place() {
    use std::str::FromStr;
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("old.db").display());
    {
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .unwrap()
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.unwrap();
        let mut old = sqlx::migrate!("../migrations/sqlite");
        old.migrations = old
            .migrations
            .iter()
            .filter(|m| m.version <= 19)
            .cloned()
            .collect::<Vec<_>>()
            .into();
        old.run(&pool).await.unwrap();
        let at = now();
        sqlx::query(sql::INSERT_SESSION)
            .bind("u1")
            .bind("alice")
            .bind("[]")
            .bind("db")
            .bind("legacy")
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(None::<String>)
            .bind(&at)
            .bind(&at)
            .execute(&pool)
            .await
            .unwrap();
        let old_events = [
            event("u1", 0),
            event("u1", 1).with_decision(&serde_json::json!({"effect": "deny"})),
            event("u1", 2),
        ];
        let mut head = super::writer::head_of(None).unwrap();
        for e in &old_events {
            let c = head.append(e, &at);
            sqlx::query(sql::INSERT_EVENT)
                .bind(c.seq)
                .bind(&e.session_id)
                .bind(&at)
                .bind(e.direction.as_str())
                .bind(&e.kind)
                .bind(&e.method)
                .bind(&e.tool)
                .bind(&e.rpc_id)
                .bind(e.payload())
                .bind(e.masked())
                .bind(&e.decision)
                .bind(&c.prev)
                .bind(&c.hash)
                .execute(&pool)
                .await
                .unwrap();
        }
        pool.close().await;
    }

    let store = Store::open(&url).await.unwrap();
    let held = event("u1", 0).with_decision(&serde_json::json!({"effect": "require_approval"}));
    store.record(vec![held]).await.unwrap();
    match store.verify_chain().await.unwrap() {
        ChainReport::Intact { events, .. } => assert_eq!(events, 4),
        broken => panic!("{broken:?}"),
    }
    let s = store.session_summary("u1").await.unwrap().unwrap();
    assert_eq!(
        (s.messages, s.masked_total, s.denied, s.held, s.tools),
        (4, 4, 1, 1, vec!["echo".to_string()]),
        "three events counted by the old triggers, one by the writer"
    );
    let seqs: Vec<i64> = store
        .session_events("u1")
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let sequence: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM sqlite_sequence WHERE name = 'audit_events'")
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(
        sequence, 0,
        "audit_events still has an AUTOINCREMENT sequence"
    );
    let e = sqlx::query("UPDATE audit_events SET payload = '{}'")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(
        sqlx::query("DELETE FROM audit_events WHERE seq = 4")
            .execute(store.pool())
            .await
            .is_err()
    );
}
