//! The commands deployments run around `serve`: `gatehouse config check` (before a
//! rollout, in `ExecStartPre=`) and `gatehouse healthcheck` (the images' HEALTHCHECK).

mod common;

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("GATEHOUSE_BIN");

/// Runs `gatehouse ARGS` with no GATEHOUSE_* variables from the test's environment.
fn gatehouse(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("GATEHOUSE_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check(dir: &Path, toml: &str) -> (i32, String, String) {
    let file = dir.join("gatehouse.toml");
    std::fs::write(&file, toml).unwrap();
    gatehouse(&["config", "check", "--config", file.to_str().unwrap()])
}

#[test]
fn a_good_config_passes_without_starting_anything() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit-key");
    std::fs::write(&key, format!("{}\n", "ab".repeat(32))).unwrap();
    let db = dir.path().join("store.db");
    let toml = format!(
        "listen = \"127.0.0.1:0\"\ndatabase = \"sqlite://{}\"\n[audit]\nsigning_key = \"file:{}\"\n[[servers]]\nname = \"wiki\"\nagent = \"edge\"\n[[servers]]\nname = \"echo\"\ncommand = \"cat\"\n",
        db.display(),
        key.display()
    );
    let (code, out, err) = check(dir.path(), &toml);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.ends_with("gatehouse.toml: ok (2 servers, 1 agents, store sqlite, sign-in none)\n"),
        "{out}"
    );
    assert!(err.contains("warning: no [oidc] or [saml]"), "{err}");
    assert!(!db.exists(), "config check must not open the store");
}

#[test]
fn a_bad_config_exits_2_naming_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // Syntax and types: the TOML position.
    let (code, _, err) = check(
        dir.path(),
        "listen = \"0.0.0.0:8080\"\n[limits]\nbody_bytes = \"big\"\n",
    );
    assert_eq!(code, 2);
    assert!(err.contains("gatehouse.toml:3:14: "), "{err}");
    // A value that makes no sense: the line of the server it names.
    let (code, _, err) = check(
        dir.path(),
        "[[servers]]\nname = \"wiki\"\nagent = \"edge\"\n\n[[servers]]\n  name = \"db\"\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("gatehouse.toml:6:3: server `db`: set `url`"),
        "{err}"
    );
    // A secret that does not resolve where it will run: the line of its key.
    let (code, _, err) = check(
        dir.path(),
        "[audit]\ncheckpoint_secs = 60\nsigning_key = \"file:/nonexistent/audit-key\"\n",
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("gatehouse.toml:3:1: audit.signing_key: cannot read secret file `/nonexistent/audit-key`"),
        "{err}"
    );
    // A signing key that is not one.
    let key = dir.path().join("short-key");
    std::fs::write(&key, "abc").unwrap();
    let (code, _, err) = check(
        dir.path(),
        &format!("[authz]\nsigning_key = \"file:{}\"\n", key.display()),
    );
    assert_eq!(code, 2);
    assert!(
        err.contains("gatehouse.toml:2:1: authz.signing_key"),
        "{err}"
    );
    // An address serve could not bind.
    let (code, _, err) = check(dir.path(), "listen = \"8080\"\n");
    assert_eq!(code, 2);
    assert!(
        err.contains("gatehouse.toml:1:1: listen `8080` must be HOST:PORT"),
        "{err}"
    );
}

#[test]
fn the_policy_file_is_checked_with_its_own_position() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "version: 1\ndefault: deny\nrules:\n  - name: x\n    effect: perhaps\n",
    )
    .unwrap();
    let (code, _, err) = check(
        dir.path(),
        &format!("policy_file = \"{}\"\n", policy.display()),
    );
    assert_eq!(code, 2);
    assert!(err.contains("policy.yaml:5:"), "{err}");
}

#[test]
fn a_missing_config_file_is_a_usage_error() {
    let (code, _, err) = gatehouse(&["config", "check", "--config", "/nonexistent/gatehouse.toml"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("cannot read the config file /nonexistent/gatehouse.toml"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn healthcheck_passes_while_serving_and_fails_when_nothing_answers() {
    let dir = tempfile::tempdir().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let served = common::serve("", &dir.path().join("h.db"), false, async move {
        let _ = stopped.await;
    })
    .await;
    let base = served.base.clone();
    let (code, _, err) =
        tokio::task::spawn_blocking(move || gatehouse(&["healthcheck", "--url", &base]))
            .await
            .unwrap();
    assert_eq!(code, 0, "{err}");
    let _ = stop.send(());
    let _ = served.handle.await;
    let base = served.base.clone();
    let (code, _, err) =
        tokio::task::spawn_blocking(move || gatehouse(&["healthcheck", "--url", &base]))
            .await
            .unwrap();
    assert_eq!(code, 1);
    assert!(err.contains("/healthz"), "{err}");
}
