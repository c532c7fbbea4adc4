//! A transparency-log witness speaking C2SP `tlog-witness` over real HTTP, for the
//! witnessing tests: it checks the log's signature and the consistency proof from the
//! last checkpoint it cosigned, keeps that state, and answers Ed25519 cosignatures —
//! or, on request, garbage or a cosignature by the wrong key.

// Each test binary uses a different part of these helpers.
#![allow(dead_code)]

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use gatehouse_audit::{
    AddCheckpoint, Checkpoint, Hash, KeyKind, SigningKey, VerifierKey, cosign, verify_consistency,
};
use std::sync::{Arc, Mutex};

/// How the witness answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// As the protocol says.
    Honest,
    /// 200 with text that is not a signature line.
    Garbage,
    /// A well-formed cosignature by a key other than the configured one.
    WrongKey,
    /// 503, as a witness that is down behind its proxy.
    Down,
}

struct Inner {
    log: VerifierKey,
    key: SigningKey,
    name: String,
    size: u64,
    root: Hash,
    answer: Answer,
    requests: usize,
}

/// A running witness.
#[derive(Clone)]
pub struct Witness {
    inner: Arc<Mutex<Inner>>,
    /// Its submission prefix.
    pub url: String,
}

impl Witness {
    /// Starts a witness named `name` that trusts `log_key` (the log's origin and key).
    pub async fn start(name: &str, log_origin: &str, log_key: &SigningKey) -> Witness {
        let log = VerifierKey::new(log_origin, KeyKind::Ed25519, log_key.verifying_key()).unwrap();
        let inner = Arc::new(Mutex::new(Inner {
            log,
            key: SigningKey::from_bytes(&[0x77; 32]),
            name: name.to_string(),
            size: 0,
            root: [0; 32],
            answer: Answer::Honest,
            requests: 0,
        }));
        let app = Router::new()
            .route("/add-checkpoint", post(add_checkpoint))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Witness { inner, url }
    }

    /// Its cosignature key as `[[audit.witnesses]] key` takes it.
    pub fn vkey(&self) -> String {
        let i = self.inner.lock().unwrap();
        VerifierKey::new(&i.name, KeyKind::Cosignature, i.key.verifying_key())
            .unwrap()
            .to_string()
    }

    /// Changes how it answers from now on.
    pub fn answer(&self, a: Answer) {
        self.inner.lock().unwrap().answer = a;
    }

    /// The largest tree it cosigned.
    pub fn size(&self) -> u64 {
        self.inner.lock().unwrap().size
    }

    /// Requests it received.
    pub fn requests(&self) -> usize {
        self.inner.lock().unwrap().requests
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

async fn add_checkpoint(State(inner): State<Arc<Mutex<Inner>>>, body: Bytes) -> Response {
    let mut w = inner.lock().unwrap();
    w.requests += 1;
    let text = |s: StatusCode, b: &str| reply(s, "text/plain", format!("{b}\n"));
    match w.answer {
        Answer::Down => return text(StatusCode::SERVICE_UNAVAILABLE, "down"),
        Answer::Garbage => return text(StatusCode::OK, "<html>hello</html>"),
        _ => {}
    }
    let Ok(req) = AddCheckpoint::parse(&String::from_utf8_lossy(&body)) else {
        return text(StatusCode::BAD_REQUEST, "malformed request");
    };
    let Ok((cp, note)) = Checkpoint::open(&req.checkpoint, &w.log) else {
        return text(StatusCode::FORBIDDEN, "not signed by a log I know");
    };
    if req.old_size > cp.size {
        return text(StatusCode::BAD_REQUEST, "old size beyond the checkpoint");
    }
    if req.old_size != w.size {
        return reply(
            StatusCode::CONFLICT,
            "text/x.tlog.size",
            format!("{}\n", w.size),
        );
    }
    if w.size == cp.size && w.root != cp.root {
        return text(
            StatusCode::CONFLICT,
            "same size, another root: the log forked",
        );
    }
    if w.size > 0
        && w.size < cp.size
        && verify_consistency(w.size, cp.size, &w.root, &cp.root, &req.proof).is_err()
    {
        return text(
            StatusCode::UNPROCESSABLE_ENTITY,
            "not consistent with what I cosigned",
        );
    }
    w.size = cp.size;
    w.root = cp.root;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let key = if w.answer == Answer::WrongKey {
        SigningKey::from_bytes(&[0x78; 32])
    } else {
        w.key.clone()
    };
    let sig = cosign(&w.name, &key, &note.text, now);
    reply(StatusCode::OK, "text/plain", sig.to_string())
}
