//! Witnessed checkpoints end to end, with the real `gatehouse` binary: proofs from the
//! store, checkpoints sent to a file witness and a tlog-witness over HTTP, and the
//! attack they exist for — an insider with the database and the real signing key
//! rewrites history, re-hashes it and re-signs it; `audit verify` passes, and
//! `audit verify --witnessed` names the first witnessed checkpoint it contradicts.

mod common;

use common::audit;
use common::tlog::{ORIGIN, config, gatehouse, key, record, rewrite_history};
use common::witness::{Answer, Witness};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rewritten_and_re_signed_history_is_named_by_what_the_witnesses_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = audit::open(&dir.path().join("g.db")).await;
    audit::start_session(&store, "s1").await;
    let w1 = Witness::start("witness.test/w1", ORIGIN, &key()).await;
    let witnessed = dir.path().join("witnessed.notes");
    let cfg = config(
        dir.path(),
        "g.toml",
        &url,
        &format!(
            "[[audit.witnesses]]\nname = \"vault\"\ntype = \"file\"\npath = \"{}\"\n\
             [[audit.witnesses]]\nname = \"w1\"\ntype = \"webhook\"\nurl = \"{}\"\nkey = \"{}\"\n",
            witnessed.display(),
            w1.url,
            w1.vkey()
        ),
    );

    record(&store, 0, 30).await;
    let (code, out, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("signed a checkpoint over 30 events"), "{out}");
    assert!(
        out.contains("witness w1: acknowledged the tree of 30 events"),
        "{out}"
    );
    record(&store, 30, 50).await;
    let (code, out, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    // The HTTP witness checked the consistency proof from 30 to 50 before cosigning.
    assert_eq!(w1.size(), 50);
    let notes = std::fs::read_to_string(&witnessed).unwrap();
    assert_eq!(notes.matches(&format!("{ORIGIN}\n")).count(), 2, "{notes}");

    // Proofs from the store verify offline with the log's key; bad requests say why.
    let proof = dir.path().join("p.json");
    for args in [
        &["audit", "prove", "--seq", "7"][..],
        &["audit", "prove", "--from", "30", "--to", "50"],
    ] {
        let (code, out, err) = gatehouse(&cfg, args);
        assert_eq!(code, 0, "{err}");
        std::fs::write(&proof, &out).unwrap();
        let (code, out, err) = gatehouse(
            &cfg,
            &["audit", "verify", "--proof", proof.to_str().unwrap()],
        );
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("as signed checkpoints state"), "{out}");
    }
    let (code, _, err) = gatehouse(&cfg, &["audit", "prove", "--seq", "51", "--size", "50"]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("event #51 is not in a tree of 50 events"),
        "{err}"
    );
    let (code, _, err) = gatehouse(&cfg, &["audit", "prove", "--seq", "3", "--size", "90"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("the log has 50 events"), "{err}");

    // The insider's rewrite, re-signed by the real key with the real binary (with a
    // config that leaves the witnesses out).
    rewrite_history(&store, 12).await;
    let quiet = config(dir.path(), "insider.toml", &url, "");
    let (code, out, err) = gatehouse(&quiet, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, out, err) = gatehouse(&quiet, &["audit", "verify"]);
    assert_eq!(code, 0, "the rewrite passes a plain verify: {out}{err}");
    assert!(out.contains("audit log intact: 50 events"), "{out}");

    let (code, out, err) = gatehouse(
        &quiet,
        &[
            "audit",
            "verify",
            "--witnessed",
            witnessed.to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("AUDIT LOG TAMPERED: witnessed checkpoint 1 in")
            && err.contains("(tree size 30) is contradicted"),
        "{err}"
    );
    // And the HTTP witness refuses the rewritten tree.
    let (code, _, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("witness w1"), "{err}");
    assert_eq!(w1.size(), 50);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_witness_that_is_down_or_answers_garbage_holds_nothing_up_and_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let (store, url) = audit::open(&dir.path().join("g.db")).await;
    audit::start_session(&store, "s1").await;
    let w1 = Witness::start("witness.test/w1", ORIGIN, &key()).await;
    let cfg = config(
        dir.path(),
        "g.toml",
        &url,
        &format!(
            "[[audit.witnesses]]\nname = \"w1\"\ntype = \"webhook\"\nurl = \"{}\"\nkey = \"{}\"\n",
            w1.url,
            w1.vkey()
        ),
    );
    let witnesses = gatehouse_control_plane::config::Config::load(&cfg)
        .unwrap()
        .audit
        .witnesses;
    let cosignatures = || async {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_cosignatures")
            .fetch_one(store.pool())
            .await
            .unwrap();
        n
    };

    record(&store, 0, 10).await;
    w1.answer(Answer::Down);
    let (code, out, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("signed a checkpoint over 10 events"), "{out}");
    assert!(err.contains("answered 503"), "{err}");
    // The gap shows in /metrics' numbers.
    let metrics = gatehouse_control_plane::metrics::Metrics::default();
    gatehouse_control_plane::witnesses::round(
        &store,
        &witnesses,
        &reqwest::Client::new(),
        &metrics,
    )
    .await;
    let text = metrics.render();
    assert!(
        text.contains("gatehouse_audit_witness_behind_events{witness=\"w1\"} 10"),
        "{text}"
    );

    for (answer, says) in [
        (Answer::Garbage, "not cosignature lines"),
        (Answer::WrongKey, "no cosignature by"),
    ] {
        w1.answer(answer);
        let (code, _, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
        assert_eq!(code, 1, "{err}");
        assert!(
            err.contains(says) && err.contains("nothing was stored"),
            "{err}"
        );
        assert_eq!(cosignatures().await, 0);
    }

    w1.answer(Answer::Honest);
    record(&store, 10, 25).await;
    let (code, out, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("acknowledged the tree of 25 events"), "{out}");
    assert_eq!(cosignatures().await, 1);
    record(&store, 25, 40).await;
    let (code, _, err) = gatehouse(&cfg, &["audit", "checkpoint"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(w1.size(), 40);
    let status = gatehouse_control_plane::witnesses::status(&store, &witnesses)
        .await
        .unwrap();
    assert_eq!(
        (
            status[0].size,
            status[0].behind,
            status[0].last_error.clone()
        ),
        (40, 0, None)
    );
}
