//! The store on a real PostgreSQL (a throwaway cluster this test starts): the same
//! semantics as SQLite, several control planes sharing one database with one verifiable
//! chain, changes reaching every replica through LISTEN/NOTIFY, and failing closed while
//! the database is down. (The whole integration suite also runs on PostgreSQL with
//! `GATEHOUSE_TEST_DATABASE=postgres`; see scripts/test-postgres.sh.)

mod common;

use common::audit;
use common::pg::{Cluster, fresh_database};
use gatehouse_control_plane::store::{ChainReport, Change, NewSession, SessionFilter, Store};
use gatehouse_pipeline::Record;
use serde_json::json;
use std::time::Duration;

fn session(id: &str, who: &str) -> NewSession {
    NewSession {
        id: id.into(),
        principal: who.into(),
        groups: vec!["eng".into()],
        server: "db".into(),
        era: "legacy".into(),
        client: Some(("inspector".into(), "1.0".into())),
        protocol_version: None,
    }
}

/// Call `n` of `tool{n % 3}`: every fifth carries two email addresses and a card number
/// (masked on the way in), every seventh was denied.
fn event(session: &str, n: usize) -> Record {
    let arguments = if n.is_multiple_of(5) {
        json!({ "n": n, "note": "ada@example.com, bob@example.com, card 4111 1111 1111 1111" })
    } else {
        json!({ "n": n })
    };
    let effect = if n.is_multiple_of(7) { "deny" } else { "allow" };
    audit::call(session, n, &format!("tool{}", n % 3), arguments)
        .with_decision(&json!({ "effect": effect, "rule": "r" }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keeps_the_same_record_as_sqlite() {
    let pg = Cluster::start();
    let url = fresh_database(&pg.url("postgres")).await;
    let store = Store::open(&url).await.unwrap();
    store.start_session(session("s1", "alice")).await.unwrap();
    for n in 0..30 {
        store.record(vec![event("s1", n)]).await.unwrap();
    }
    store.end_session("s1", "client_closed").await.unwrap();

    // Summaries kept by the triggers.
    let row = store.find_session("s1").await.unwrap().unwrap();
    assert_eq!(row.message_count, 30);
    assert_eq!(row.end_reason.as_deref(), Some("client_closed"));
    assert_eq!(row.masked.get("email"), 12, "{:?}", row.masked);
    let summary = store.session_summary("s1").await.unwrap().unwrap();
    assert_eq!((summary.masked_total, summary.denied), (18, 5));
    assert_eq!(summary.tools, ["tool0", "tool1", "tool2"]);
    let (page, _) = store
        .session_page(&SessionFilter {
            tool: Some("tool1".into()),
            limit: 10,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(page.len(), 1);
    let overview = store.overview("2000-01-01T00:00:00Z").await.unwrap();
    assert_eq!(overview.decisions.get("denied").copied(), Some(5));
    assert_eq!(overview.masked_by_type.get("credit_card").copied(), Some(6));

    // Append-only, even for the database owner, and tampering is found.
    let e = sqlx::query("UPDATE audit_events SET payload = '{}'")
        .execute(store.pool())
        .await
        .unwrap_err();
    assert!(e.to_string().contains("append-only"), "{e}");
    assert!(
        sqlx::query("TRUNCATE audit_events CASCADE")
            .execute(store.pool())
            .await
            .is_err()
    );
    let key = gatehouse_audit::signing_key_from_hex(&"42".repeat(32)).unwrap();
    assert_eq!(
        store
            .write_checkpoint(&key)
            .await
            .unwrap()
            .unwrap()
            .tree_size,
        30
    );
    assert!(matches!(
        store.verify_chain().await.unwrap(),
        ChainReport::Intact {
            events: 30,
            checkpoints: 1,
            ..
        }
    ));
    sqlx::query("ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only_update")
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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_control_planes_on_one_database_keep_one_chain() {
    let pg = Cluster::start();
    let url = fresh_database(&pg.url("postgres")).await;
    // Two stores, two pools, two writer tasks: what two replicas are to the database.
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    a.start_session(session("sa", "alice")).await.unwrap();
    b.start_session(session("sb", "bob")).await.unwrap();
    let key = gatehouse_audit::signing_key_from_hex(&"07".repeat(32)).unwrap();
    let mut tasks = Vec::new();
    for t in 0..16 {
        let (store, sid) = if t % 2 == 0 {
            (a.clone(), "sa")
        } else {
            (b.clone(), "sb")
        };
        tasks.push(tokio::spawn(async move {
            for n in 0..60 {
                store
                    .record(vec![event(sid, n), event(sid, n + 1000)])
                    .await
                    .unwrap();
            }
        }));
    }
    // Both replicas sign checkpoints while the others append.
    for _ in 0..5 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        a.write_checkpoint(&key).await.unwrap();
        b.write_checkpoint(&key).await.unwrap();
    }
    for t in tasks {
        t.await.unwrap();
    }
    a.write_checkpoint(&key).await.unwrap();
    let total = 16 * 60 * 2;
    let (count, min, max): (i64, i64, i64) =
        sqlx::query_as("SELECT COUNT(*), MIN(seq), MAX(seq) FROM audit_events")
            .fetch_one(b.pool())
            .await
            .unwrap();
    assert_eq!((count, min, max), (total, 1, total), "no gap, no duplicate");
    match b
        .verify_log(Some(&gatehouse_audit::public_key_hex(&key)))
        .await
        .unwrap()
    {
        ChainReport::Intact {
            events,
            checkpoints,
            ..
        } => {
            assert_eq!(events, total as u64);
            assert!(checkpoints >= 2, "{checkpoints}");
        }
        broken => panic!("two writers broke the chain: {broken:?}"),
    }
    let sa = a.find_session("sa").await.unwrap().unwrap();
    let sb = b.find_session("sb").await.unwrap().unwrap();
    assert_eq!(sa.message_count + sb.message_count, total);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policies_and_approvals_reach_the_other_replica_at_once() {
    let pg = Cluster::start();
    let url = fresh_database(&pg.url("postgres")).await;
    let a = Store::open(&url).await.unwrap();
    let b = Store::open(&url).await.unwrap();
    // Let b's listener connect.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut heard = b.changes();
    let version = a
        .push_policy("version: 1\ndefault: deny\n", "d1", "ann")
        .await
        .unwrap();
    let change = tokio::time::timeout(Duration::from_secs(5), heard.recv())
        .await
        .expect("replica b was not told about the new policy")
        .unwrap();
    assert_eq!(change, Change::Policy);
    assert_eq!(b.latest_policy().await.unwrap().unwrap().0, version);

    // Through a gateway on replica b: the version pushed on a is in force there.
    let served = common::serve_url("", &url, false, std::future::pending()).await;
    let v2 = a
        .push_policy("version: 1\ndefault: allow\n", "d2", "ann")
        .await
        .unwrap();
    let mut waited = Duration::ZERO;
    while served.gw.policy().map(|p| p.number) != Some(v2) {
        assert!(
            waited < Duration::from_secs(5),
            "the gateway on the other replica never applied version {v2}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
        waited += Duration::from_millis(20);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_fail_closed_while_postgres_is_down_and_resume_after() {
    let pg = Cluster::start();
    let url = fresh_database(&pg.url("postgres")).await;
    let store = Store::open(&url).await.unwrap();
    store.start_session(session("s", "alice")).await.unwrap();
    store.record(vec![event("s", 1)]).await.unwrap();
    pg.kill();
    let err = store.record(vec![event("s", 2)]).await.unwrap_err();
    assert!(err.to_string().contains("could not be written"), "{err}");
    pg.restart();
    let mut result = store.record(vec![event("s", 3)]).await;
    for _ in 0..50 {
        if result.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        result = store.record(vec![event("s", 3)]).await;
    }
    result.expect("recording did not resume once PostgreSQL was back");
    assert!(matches!(
        store.verify_chain().await.unwrap(),
        ChainReport::Intact { events: 2, .. }
    ));
}

/// `database` may be a reference (`env:NAME`), and the URL the operator's log shows
/// carries no password, however it was given.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_database_password_stays_out_of_the_log() {
    use tokio::io::AsyncBufReadExt;
    let pg = Cluster::start();
    let url = fresh_database(&pg.url("postgres")).await;
    let password = url
        .split_once("://gatehouse:")
        .and_then(|(_, rest)| rest.split_once('@'))
        .map(|(pw, _)| pw.to_string())
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("gatehouse.toml");
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::write(
        &config,
        format!("listen = \"127.0.0.1:{port}\"\ndatabase = \"env:GH_TEST_DATABASE_URL\"\n"),
    )
    .unwrap();
    let mut serve = tokio::process::Command::new(env!("GATEHOUSE_BIN"))
        .args(["serve", "--config"])
        .arg(&config)
        .env("GH_TEST_DATABASE_URL", &url)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(serve.stderr.take().unwrap()).lines();
    let mut log = String::new();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("gatehouse is listening") {
                return true;
            }
        }
        false
    })
    .await;
    let _ = serve.kill().await;
    assert_eq!(listening, Ok(true), "{log}");
    // The log names the database as configured (here an `env:` reference) or redacted.
    assert!(
        log.contains("gatehouse:***@127.0.0.1") || log.contains("env:GH_TEST_DATABASE_URL"),
        "{log}"
    );
    assert!(
        !log.contains(&password),
        "the password is in the log:\n{log}"
    );
}
