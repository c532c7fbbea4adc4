//! The `gatehouse` command line as a user runs it: exit codes, messages, output.

mod common;

use common::audit;
use std::io::Write;
use std::process::{Command, Stdio};

const BIN: &str = env!("GATEHOUSE_BIN");

fn run(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(BIN)
        .args(args)
        .env_remove("GATEHOUSE_CONFIG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn mask_masks_json_and_text_with_a_profile() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("g.toml");
    std::fs::write(
        &cfg,
        "[masking.profiles.cards]\ndetectors = [\"credit_card\"]\nfield_names = []\nstrategy = { credit_card = \"last4\" }\n",
    )
    .unwrap();
    let cfg = cfg.to_str().unwrap();
    let (code, out, err) = run(
        &["mask", "--config", cfg],
        r#"{"note":"mail ada@example.com, card 4111-1111-1111-1111","password":"hunter2"}"#,
    );
    assert_eq!(code, 0, "{err}");
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["note"], "mail [EMAIL], card [CREDIT_CARD]");
    assert_eq!(v["password"], "[SENSITIVE_FIELD]");
    assert!(err.contains("1 credit card number"), "{err}");

    let (code, out, _) = run(
        &["mask", "--config", cfg, "--profile", "cards"],
        "card 4111 1111 1111 1111 and ada@example.com\n",
    );
    assert_eq!(code, 0);
    assert_eq!(out, "card [CREDIT_CARD ****1111] and ada@example.com\n");

    let (code, _, err) = run(&["mask", "--config", cfg, "--profile", "nope"], "x");
    assert_eq!(code, 2);
    assert!(err.contains("no masking profile `nope`"), "{err}");
}

#[test]
fn bad_config_exits_2_with_the_file_position() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(
        &cfg,
        "listen = \"127.0.0.1:0\"\n[[servers]]\nname = \"db\"\ncomand = \"x\"\n",
    )
    .unwrap();
    let (code, _, err) = run(&["serve", "--config", cfg.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(err.contains("bad.toml:4:1"), "{err}");
    assert!(err.contains("comand"), "{err}");
    let (code, _, err) = run(&["serve", "--config", "/nonexistent/g.toml"], "");
    assert_eq!(code, 2);
    assert!(err.contains("cannot read the config file"), "{err}");
}

#[test]
fn sessions_show_explains_an_unknown_id() {
    let dir = tempfile::tempdir().unwrap();
    let db = format!("sqlite://{}", dir.path().join("s.db").display());
    let (code, out, _) = run(&["sessions", "list", "--database", &db], "");
    assert_eq!(code, 0);
    assert!(out.contains("no sessions recorded yet"), "{out}");
    let (code, _, err) = run(&["sessions", "show", "abc", "--database", &db], "");
    assert_eq!(code, 2);
    assert!(err.contains("gatehouse sessions list"), "{err}");
}

#[test]
fn audit_verify_reports_an_intact_log_and_names_a_tampered_event() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.db");
    let db = format!("sqlite://{}", path.display());
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = gatehouse_control_plane::store::Store::open(&db)
            .await
            .unwrap();
        audit::start_session(&store, "s").await;
        let events = (0..5).map(|n| audit::request("s", n));
        audit::record(&store, events).await;
    });
    let (code, out, err) = run(&["audit", "verify", "--database", &db], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("audit log intact: 5 events"), "{out}");
    // Someone with write access to the file removes an event.
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(&db).await.unwrap();
        sqlx::query("DROP TRIGGER audit_events_append_only_delete")
            .execute(&pool)
            .await
            .unwrap();
        sqlx::query("DELETE FROM audit_events WHERE seq = 3")
            .execute(&pool)
            .await
            .unwrap();
    });
    let (code, _, err) = run(&["audit", "verify", "--database", &db], "");
    assert_eq!(code, 1);
    assert!(
        err.contains("TAMPERED") && err.contains("#4 follows #2"),
        "{err}"
    );
}

#[test]
fn policy_check_names_every_problem_with_its_position() {
    let demo = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../proxy-core/policy/examples/demo-policy.yaml"
    );
    let (code, out, err) = run(&["policy", "check", demo], "");
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("ok (3 rules, version "), "{out}");
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "version: 1\nrules:\n  - name: x\n    tools: [\"[bad\"]\n    effect: alow\n",
    )
    .unwrap();
    let (code, _, err) = run(&["policy", "check", bad.to_str().unwrap()], "");
    assert_eq!(code, 2);
    assert!(
        err.contains("bad.yaml:4:13:") && err.contains("bad glob"),
        "{err}"
    );
    assert!(
        err.contains("bad.yaml:5:13:") && err.contains("did you mean `allow`"),
        "{err}"
    );
}

#[test]
fn policy_check_points_at_a_bad_sql_or_command_condition() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("sql.yaml");
    std::fs::write(
        &bad,
        "version: 1\nrules:\n  - name: q\n    tools: [query]\n    arguments:\n      - pointer: /sql\n        sql: {dialect: postgress, statements: [selct]}\n      - pointer: /cmd\n        command: {programs: [git], flags: [x]}\n    effect: allow\n",
    )
    .unwrap();
    let (code, _, err) = run(&["policy", "check", bad.to_str().unwrap()], "");
    assert_eq!(code, 2, "{err}");
    for expected in [
        "sql.yaml:7:24: rule `q`: unknown SQL dialect `postgress` (did you mean `postgres`?)",
        "sql.yaml:7:48: rule `q`: unknown statement kind `selct` (did you mean `select`?)",
        "sql.yaml:9:44: rule `q`: `x` is not a flag",
    ] {
        assert!(err.contains(expected), "{expected}\n{err}");
    }
}
