//! Keeps the ids of several in-flight client requests straight on one upstream
//! connection, and sends every upstream message to whoever is waiting for it.
//!
//! Client ids are replaced by connection-unique numbers on the way up and restored on
//! the way down, so the gateway's own requests and any number of client requests can
//! share a connection. Progress notifications follow their request's progress token.
//! Server-initiated requests and notifications go to the only request in flight when
//! there is exactly one (that is the request they belong to on stdio), otherwise to the
//! server-message channel (the legacy GET stream).

use crate::jsonrpc::{Id, Kind, Message, codes};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// Messages for one request: related notifications and server requests, then the response.
#[derive(Debug)]
pub struct Exchange {
    rx: mpsc::Receiver<Message>,
    guard: ExchangeGuard,
}

impl Exchange {
    /// The next message for this request; the response is the last one.
    pub async fn next(&mut self) -> Option<Message> {
        let m = self.rx.recv().await?;
        if m.is_response() {
            self.guard.answered = true;
        }
        Some(m)
    }

    /// The upstream id this request travels under.
    pub fn upstream_id(&self) -> u64 {
        self.guard.upstream_id
    }
}

/// Abandons the request upstream when its exchange is dropped before the response came:
/// the client went away (or, in the stateless era, closed the stream to cancel).
#[derive(Debug)]
struct ExchangeGuard {
    router: Arc<Router>,
    upstream_id: u64,
    answered: bool,
}

impl Drop for ExchangeGuard {
    fn drop(&mut self) {
        if !self.answered {
            self.router.abandon(self.upstream_id);
        }
    }
}

#[derive(Debug)]
struct Pending {
    client_id: Id,
    tx: mpsc::Sender<Message>,
    progress: Option<String>,
}

#[derive(Debug, Default)]
struct State {
    next_id: u64,
    pending: HashMap<u64, Pending>,
    by_client: HashMap<Id, u64>,
    progress: HashMap<String, u64>,
    closed: Option<String>,
}

/// Id mapping and message routing for one upstream connection.
#[derive(Debug)]
pub struct Router {
    state: Mutex<State>,
    server_tx: mpsc::Sender<Message>,
    /// Where `notifications/cancelled` for abandoned requests are written.
    cancel_tx: mpsc::UnboundedSender<Message>,
}

/// How many messages for one request may wait for a slow client before the upstream
/// reader waits too (backpressure per request).
const EXCHANGE_BUFFER: usize = 64;

impl Router {
    /// A router delivering unsolicited messages to `server_tx` and writing
    /// cancellations of abandoned requests to `cancel_tx`.
    pub fn new(
        server_tx: mpsc::Sender<Message>,
        cancel_tx: mpsc::UnboundedSender<Message>,
    ) -> Arc<Router> {
        Arc::new(Router {
            state: Mutex::new(State {
                next_id: 1,
                ..State::default()
            }),
            server_tx,
            cancel_tx,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Gives `msg` a connection-unique id and returns the exchange its answer arrives on.
    pub fn register(self: &Arc<Self>, msg: &mut Message) -> Result<Exchange, String> {
        let client_id = msg.id().cloned().unwrap_or(Id::Number("0".into()));
        let progress = crate::mcp::progress_token(msg).map(|t| t.to_string());
        let (tx, rx) = mpsc::channel(EXCHANGE_BUFFER);
        let upstream_id = {
            let mut st = self.lock();
            if let Some(reason) = &st.closed {
                return Err(reason.clone());
            }
            let upstream_id = st.next_id;
            st.next_id += 1;
            if let Some(p) = &progress {
                st.progress.insert(p.clone(), upstream_id);
            }
            st.by_client.insert(client_id.clone(), upstream_id);
            st.pending.insert(
                upstream_id,
                Pending {
                    client_id,
                    tx,
                    progress,
                },
            );
            upstream_id
        };
        msg.set_id(Id::Number(upstream_id.to_string()));
        Ok(Exchange {
            rx,
            guard: ExchangeGuard {
                router: self.clone(),
                upstream_id,
                answered: false,
            },
        })
    }

    /// Rewrites a client's `notifications/cancelled` to the upstream id and stops waiting
    /// for that request. Returns `None` when the request is not in flight (already done).
    pub fn translate_cancel(&self, msg: &mut Message) -> Option<()> {
        let client_id = Id::from_value(msg.params()?.get("requestId")?)?;
        let upstream_id = {
            let mut st = self.lock();
            let upstream_id = st.by_client.get(&client_id).copied()?;
            Self::remove(&mut st, upstream_id);
            upstream_id
        };
        msg.params_mut()["requestId"] = serde_json::json!(upstream_id);
        Some(())
    }

    fn remove(st: &mut State, upstream_id: u64) -> Option<Pending> {
        let p = st.pending.remove(&upstream_id)?;
        st.by_client.remove(&p.client_id);
        if let Some(t) = &p.progress {
            st.progress.remove(t);
        }
        Some(p)
    }

    fn abandon(&self, upstream_id: u64) {
        let removed = Self::remove(&mut self.lock(), upstream_id);
        if removed.is_some() {
            let cancel = Message::notification(
                "notifications/cancelled",
                serde_json::json!({"requestId": upstream_id, "reason": "the client went away"}),
            );
            let _ = self.cancel_tx.send(cancel);
        }
    }

    /// Delivers a message that arrived on the answer stream of request `owner`: related
    /// messages go to that request while it is in flight; responses and anything else
    /// are routed as usual.
    pub async fn route_for(&self, owner: Option<u64>, msg: Message) {
        if let Some(owner) = owner
            && !msg.is_response()
        {
            let target = self
                .lock()
                .pending
                .get(&owner)
                .map(|p| (p.tx.clone(), p.client_id.clone()));
            if let Some((tx, client_id)) = target {
                let mut msg = msg;
                restore_subscription_id(&mut msg, owner, &client_id);
                let _ = tx.send(msg).await;
                return;
            }
        }
        self.route(msg).await;
    }

    /// Delivers one message that arrived from upstream.
    pub async fn route(&self, mut msg: Message) {
        let target = {
            let mut st = self.lock();
            match msg.kind().clone() {
                Kind::Response {
                    id: Some(Id::Number(n)),
                    ..
                } => match n.parse::<u64>().ok().and_then(|u| Self::remove(&mut st, u)) {
                    Some(p) => {
                        msg.set_id(p.client_id);
                        Some(p.tx)
                    }
                    None => {
                        tracing::debug!(id = %n, "dropping a response nobody waits for (cancelled or timed out)");
                        return;
                    }
                },
                Kind::Response { .. } => {
                    tracing::warn!(
                        "dropping an upstream response with an id the gateway never sent"
                    );
                    return;
                }
                Kind::Notification { method } if method == "notifications/progress" => {
                    let token = msg
                        .params()
                        .and_then(|p| p.get("progressToken"))
                        .map(|t| t.to_string());
                    token
                        .and_then(|t| st.progress.get(&t).copied())
                        .and_then(|u| st.pending.get(&u))
                        .map(|p| p.tx.clone())
                }
                _ if st.pending.len() == 1 => st.pending.iter().next().map(|(up, p)| {
                    restore_subscription_id(&mut msg, *up, &p.client_id);
                    p.tx.clone()
                }),
                _ => None,
            }
        };
        match target {
            Some(tx) => {
                let _ = tx.send(msg).await;
            }
            None => {
                if self.server_tx.try_send(msg).is_err() {
                    tracing::warn!("no client stream is listening; dropped a server message");
                }
            }
        }
    }

    /// Answers every waiting request with an error and refuses new ones: the upstream is gone.
    pub async fn close(&self, reason: &str) {
        let pending: Vec<Pending> = {
            let mut st = self.lock();
            st.closed.get_or_insert_with(|| reason.to_string());
            st.by_client.clear();
            st.progress.clear();
            st.pending.drain().map(|(_, p)| p).collect()
        };
        for p in pending {
            let err = Message::error(
                Some(p.client_id),
                codes::UPSTREAM_ERROR,
                reason.to_string(),
                None,
            );
            let _ = p.tx.send(err).await;
        }
    }

    /// Why the connection is closed, if it is.
    pub fn closed_reason(&self) -> Option<String> {
        self.lock().closed.clone()
    }

    /// How many requests are in flight.
    pub fn in_flight(&self) -> usize {
        self.lock().pending.len()
    }
}

/// Notifications on a `subscriptions/listen` stream name the listen request by its id in
/// `_meta`; the upstream saw the gateway's id, the client must see its own.
fn restore_subscription_id(msg: &mut Message, upstream_id: u64, client_id: &Id) {
    let key = crate::mcp::META_SUBSCRIPTION_ID;
    let matches = msg
        .params()
        .and_then(|p| p.get("_meta"))
        .and_then(|m| m.get(key))
        .is_some_and(|v| {
            Id::from_value(v) == Some(Id::Number(upstream_id.to_string()))
                || v.as_str() == Some(&upstream_id.to_string())
        });
    if matches {
        msg.params_mut()["_meta"][key] = client_id.to_value();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(id: serde_json::Value, token: Option<i64>) -> Message {
        let mut params = json!({"name": "t"});
        if let Some(t) = token {
            params["_meta"] = json!({"progressToken": t});
        }
        Message::from_value(json!({"jsonrpc":"2.0","id":id,"method":"tools/call","params":params}))
            .unwrap()
    }

    fn resp(id: u64) -> Message {
        Message::from_value(json!({"jsonrpc":"2.0","id":id,"result":{}})).unwrap()
    }

    #[tokio::test]
    async fn responses_and_progress_find_their_request() {
        let (stx, mut srx) = mpsc::channel(8);
        let (ctx, _crx) = mpsc::unbounded_channel();
        let r = Router::new(stx, ctx);
        let mut a = req(json!("a"), Some(1));
        let mut b = req(json!(1), Some(2));
        let mut ea = r.register(&mut a).unwrap();
        let mut eb = r.register(&mut b).unwrap();
        assert_ne!(a.id(), b.id());
        r.route(Message::notification(
            "notifications/progress",
            json!({"progressToken":2,"progress":1}),
        ))
        .await;
        r.route(Message::notification(
            "notifications/message",
            json!({"level":"info"}),
        ))
        .await;
        r.route(resp(ea.upstream_id())).await;
        assert_eq!(
            eb.next().await.unwrap().method(),
            Some("notifications/progress")
        );
        assert_eq!(ea.next().await.unwrap().id(), Some(&Id::String("a".into())));
        // Two requests were in flight when the log came: it goes to the server stream.
        assert_eq!(
            srx.recv().await.unwrap().method(),
            Some("notifications/message")
        );
        r.route(resp(eb.upstream_id())).await;
        assert_eq!(eb.next().await.unwrap().id(), Some(&Id::Number("1".into())));
        assert_eq!(r.in_flight(), 0);
    }

    #[tokio::test]
    async fn dropped_exchange_cancels_upstream_and_close_fails_waiters() {
        let (stx, _srx) = mpsc::channel(8);
        let (ctx, mut crx) = mpsc::unbounded_channel();
        let r = Router::new(stx, ctx);
        let mut a = req(json!(7), None);
        let ea = r.register(&mut a).unwrap();
        let up = ea.upstream_id();
        drop(ea);
        let c = crx.recv().await.unwrap();
        assert_eq!(c.params().unwrap()["requestId"], json!(up));
        let mut b = req(json!(8), None);
        let mut eb = r.register(&mut b).unwrap();
        r.close("upstream exited").await;
        let e = eb.next().await.unwrap();
        assert_eq!(e.id(), Some(&Id::Number("8".into())));
        assert_eq!(e.error_value().unwrap()["message"], "upstream exited");
        assert!(r.register(&mut req(json!(9), None)).is_err());
    }

    #[tokio::test]
    async fn messages_on_a_request_stream_stay_with_that_request() {
        let (stx, mut srx) = mpsc::channel(8);
        let (ctx, _crx) = mpsc::unbounded_channel();
        let r = Router::new(stx, ctx);
        let mut ea = r.register(&mut req(json!("listen"), None)).unwrap();
        let _eb = r.register(&mut req(json!("other"), None)).unwrap();
        let ack = Message::notification(
            "notifications/subscriptions/acknowledged",
            json!({"_meta": {"io.modelcontextprotocol/subscriptionId": ea.upstream_id()}}),
        );
        r.route_for(Some(ea.upstream_id()), ack).await;
        let got = ea.next().await.unwrap();
        assert_eq!(
            got.method(),
            Some("notifications/subscriptions/acknowledged")
        );
        assert_eq!(
            got.params().unwrap()["_meta"]["io.modelcontextprotocol/subscriptionId"],
            "listen",
            "the client's id again"
        );
        assert!(srx.try_recv().is_err(), "not sent to the server stream");
    }

    #[tokio::test]
    async fn client_cancel_is_translated_once() {
        let (stx, _srx) = mpsc::channel(8);
        let (ctx, mut crx) = mpsc::unbounded_channel();
        let r = Router::new(stx, ctx);
        let mut a = req(json!(3), None);
        let ea = r.register(&mut a).unwrap();
        let mut cancel = Message::notification("notifications/cancelled", json!({"requestId": 3}));
        assert!(r.translate_cancel(&mut cancel).is_some());
        assert_eq!(
            cancel.params().unwrap()["requestId"],
            json!(ea.upstream_id())
        );
        drop(ea);
        assert!(crx.try_recv().is_err(), "no second cancellation");
    }
}
