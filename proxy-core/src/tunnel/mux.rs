//! Sessions of one tunnel connection, kept apart with credit-based flow control.
//!
//! The connection's reader hands every frame to [`Mux::dispatch`], which never waits:
//! session messages go to that session's bounded queue (room for [`WINDOW`] messages,
//! which is all the peer may send without credit). Each session's consumer takes them
//! with [`SessionLink::recv`], which returns credit to the peer as it goes. Outgoing
//! messages wait in [`SessionSender::send`] for credit of their own session only, then
//! go to the one frame queue the connection's writer drains.

use super::{Frame, WINDOW};
use crate::jsonrpc::Message;
use crate::upstream::RequestHeaders;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{Semaphore, mpsc};

/// Room in a session's inbound queue: the window, plus the frames that need no credit
/// (`opened`, `close`).
const QUEUE: usize = WINDOW as usize + 4;

/// Something that arrived for a session.
#[derive(Debug)]
pub enum Delivery {
    /// The agent connected the upstream.
    Opened,
    /// A JSON-RPC message.
    Message {
        /// The message.
        message: Message,
        /// The request it belongs to (upstream → client direction), when known.
        request: Option<u64>,
        /// Per-request details for an HTTP upstream (client → upstream direction).
        headers: RequestHeaders,
    },
    /// The session is over (closed by the peer, or the connection is gone), and why.
    Closed(String),
}

struct Slot {
    tx: mpsc::Sender<Delivery>,
    credit: Arc<Semaphore>,
    /// Why the session ended, for the consumer when the queue had no room to say so.
    reason: Arc<Mutex<Option<String>>>,
}

impl Slot {
    fn end(self, reason: &str) {
        self.credit.close();
        self.reason
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| reason.to_string());
        let _ = self.tx.try_send(Delivery::Closed(reason.to_string()));
    }
}

/// The sessions of one connection.
pub struct Mux {
    out: mpsc::UnboundedSender<Frame>,
    sessions: Mutex<HashMap<String, Slot>>,
    gone: Mutex<Option<String>>,
}

impl std::fmt::Debug for Mux {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mux")
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}

impl Mux {
    /// A mux and the frames its writer must send, in order. The queue holds at most
    /// [`WINDOW`] messages per session plus control frames, so it needs no bound.
    pub fn new() -> (Arc<Mux>, mpsc::UnboundedReceiver<Frame>) {
        let (out, rx) = mpsc::unbounded_channel();
        (
            Arc::new(Mux {
                out,
                sessions: Mutex::new(HashMap::new()),
                gone: Mutex::new(None),
            }),
            rx,
        )
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Slot>> {
        self.sessions.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a frame that is not a session message (`open`, `ping`, `refused`...).
    /// False when the writer has stopped.
    pub fn send_frame(&self, frame: Frame) -> bool {
        self.out.send(frame).is_ok()
    }

    /// Starts tracking `session`; its deliveries arrive on the returned link.
    pub fn attach(self: &Arc<Self>, session: &str) -> Result<SessionLink, String> {
        if let Some(reason) = self.gone.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(reason);
        }
        let (tx, rx) = mpsc::channel(QUEUE);
        let credit = Arc::new(Semaphore::new(WINDOW as usize));
        let reason = Arc::new(Mutex::new(None));
        let mut sessions = self.lock();
        if sessions.contains_key(session) {
            return Err(format!(
                "session `{session}` is already open on this connection"
            ));
        }
        sessions.insert(
            session.to_string(),
            Slot {
                tx,
                credit: credit.clone(),
                reason: reason.clone(),
            },
        );
        Ok(SessionLink {
            rx,
            consumed: 0,
            reason,
            sender: SessionSender {
                session: session.to_string(),
                mux: self.clone(),
                credit,
            },
        })
    }

    /// Takes one frame from the connection's reader. Session frames (`message`,
    /// `credit`, `close`, `opened`) are handled here without waiting; every other frame
    /// is handed back.
    pub fn dispatch(&self, frame: Frame) -> Option<Frame> {
        match frame {
            Frame::Message {
                session,
                request,
                protocol_version,
                headers,
                message,
            } => {
                let message = match Message::from_value(message) {
                    Ok(m) => m,
                    Err(e) => {
                        self.fail(&session, &format!("the peer sent a malformed message: {e}"));
                        return None;
                    }
                };
                let delivery = Delivery::Message {
                    message,
                    request,
                    headers: RequestHeaders {
                        protocol_version,
                        passthrough: headers,
                    },
                };
                self.deliver(&session, delivery, true);
                None
            }
            Frame::Opened { session } => {
                self.deliver(&session, Delivery::Opened, false);
                None
            }
            Frame::Credit { session, n } => {
                if let Some(slot) = self.lock().get(&session) {
                    // Never more than a window outstanding, whatever the peer claims.
                    let room = (WINDOW as usize).saturating_sub(slot.credit.available_permits());
                    slot.credit.add_permits((n as usize).min(room));
                }
                None
            }
            Frame::Close { session, reason } => {
                let slot = self.lock().remove(&session);
                if let Some(slot) = slot {
                    slot.end(&reason);
                }
                None
            }
            other => Some(other),
        }
    }

    fn deliver(&self, session: &str, delivery: Delivery, counts: bool) {
        let full = {
            let sessions = self.lock();
            let Some(slot) = sessions.get(session) else {
                // Frames still in flight when a session ended: nobody waits for them.
                tracing::debug!(session, "dropping a frame for a session that is closed");
                return;
            };
            match slot.tx.try_send(delivery) {
                Ok(()) => false,
                Err(mpsc::error::TrySendError::Full(_)) => true,
                Err(mpsc::error::TrySendError::Closed(_)) => false,
            }
        };
        if full {
            let what = if counts {
                "the peer sent more messages than its credit allows"
            } else {
                "the session's queue is full"
            };
            self.fail(session, what);
        }
    }

    /// Ends a session the peer broke the protocol on: both sides are told why.
    fn fail(&self, session: &str, reason: &str) {
        tracing::warn!(session, reason, "closing a tunnel session");
        let slot = self.lock().remove(session);
        if let Some(slot) = slot {
            slot.end(reason);
        }
        let _ = self.out.send(Frame::Close {
            session: session.to_string(),
            reason: reason.to_string(),
        });
    }

    /// The connection is gone: every session ends with `reason`, and no new one starts.
    pub fn shutdown(&self, reason: &str) {
        self.gone
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get_or_insert_with(|| reason.to_string());
        let slots: Vec<Slot> = self.lock().drain().map(|(_, s)| s).collect();
        for slot in slots {
            slot.end(reason);
        }
    }

    /// Why the connection is gone, if it is.
    pub fn gone(&self) -> Option<String> {
        self.gone.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// How many sessions are open.
    pub fn session_count(&self) -> usize {
        self.lock().len()
    }
}

/// The receiving end of one session.
#[derive(Debug)]
pub struct SessionLink {
    rx: mpsc::Receiver<Delivery>,
    consumed: u32,
    reason: Arc<Mutex<Option<String>>>,
    sender: SessionSender,
}

impl SessionLink {
    /// The next delivery. Taking a message off the queue frees room for it, so credit
    /// goes back to the peer (every half window, to keep the frame count down).
    /// After the session ended, every call returns [`Delivery::Closed`].
    pub async fn recv(&mut self) -> Delivery {
        match self.rx.recv().await {
            Some(d @ Delivery::Message { .. }) => {
                self.consumed += 1;
                if self.consumed >= WINDOW / 2 {
                    let n = std::mem::take(&mut self.consumed);
                    let _ = self.sender.mux.out.send(Frame::Credit {
                        session: self.sender.session.clone(),
                        n,
                    });
                }
                d
            }
            Some(other) => other,
            None => Delivery::Closed(
                self.reason
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone()
                    .or_else(|| self.sender.mux.gone())
                    .unwrap_or_else(|| "the session was closed".to_string()),
            ),
        }
    }

    /// The sending end of this session.
    pub fn sender(&self) -> SessionSender {
        self.sender.clone()
    }

    /// The session id.
    pub fn session(&self) -> &str {
        &self.sender.session
    }
}

/// The sending end of one session; cheap to clone.
#[derive(Debug, Clone)]
pub struct SessionSender {
    session: String,
    mux: Arc<Mux>,
    credit: Arc<Semaphore>,
}

impl SessionSender {
    /// Sends a message once this session has credit (other sessions are not held up).
    /// Fails with the reason when the session or the connection is closed.
    pub async fn send(
        &self,
        message: Message,
        request: Option<u64>,
        headers: RequestHeaders,
    ) -> Result<(), String> {
        match self.credit.acquire().await {
            Ok(permit) => permit.forget(),
            Err(_) => {
                return Err(self
                    .mux
                    .gone()
                    .unwrap_or_else(|| "the session is closed".to_string()));
            }
        }
        let frame = Frame::Message {
            session: self.session.clone(),
            request,
            protocol_version: headers.protocol_version,
            headers: headers.passthrough,
            message: message.into_value(),
        };
        self.mux
            .out
            .send(frame)
            .map_err(|_| "the connection is closed".to_string())
    }

    /// Tells the peer the session's upstream is connected.
    pub fn opened(&self) {
        let _ = self.mux.out.send(Frame::Opened {
            session: self.session.clone(),
        });
    }

    /// Ends the session from this side: the peer is told why; nothing more is delivered.
    pub fn close(&self, reason: &str) {
        let removed = self.mux.lock().remove(&self.session);
        if let Some(slot) = removed {
            slot.end(reason);
            let _ = self.mux.out.send(Frame::Close {
                session: self.session.clone(),
                reason: reason.to_string(),
            });
        }
    }

    /// The session id.
    pub fn session(&self) -> &str {
        &self.session
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::Duration;

    fn msg(n: u64) -> Message {
        Message::from_value(
            json!({"jsonrpc":"2.0","method":"notifications/message","params":{"n":n}}),
        )
        .unwrap()
    }

    /// Two muxes joined back to back, as the agent and the control plane are.
    fn pair() -> (Arc<Mux>, Arc<Mux>) {
        let (a, mut a_out) = Mux::new();
        let (b, mut b_out) = Mux::new();
        let (a2, b2) = (a.clone(), b.clone());
        tokio::spawn(async move {
            while let Some(f) = a_out.recv().await {
                let _ = b2.dispatch(f);
            }
        });
        tokio::spawn(async move {
            while let Some(f) = b_out.recv().await {
                let _ = a2.dispatch(f);
            }
        });
        (a, b)
    }

    #[tokio::test]
    async fn a_stalled_session_does_not_hold_up_another() {
        let (a, b) = pair();
        let slow_a = a.attach("slow").unwrap();
        let _slow_b = b.attach("slow").unwrap(); // never read: its consumer is stuck
        let fast_a = a.attach("fast").unwrap();
        let mut fast_b = b.attach("fast").unwrap();

        // The slow session fills its window, and its next send waits for credit.
        let sender = slow_a.sender();
        for n in 0..u64::from(WINDOW) {
            sender
                .send(msg(n), None, RequestHeaders::default())
                .await
                .unwrap();
        }
        let blocked =
            tokio::spawn(
                async move { sender.send(msg(999), None, RequestHeaders::default()).await },
            );
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(
            !blocked.is_finished(),
            "the 65th message must wait for credit"
        );

        // Meanwhile the other session moves many windows' worth.
        let fs = fast_a.sender();
        let producer = tokio::spawn(async move {
            for n in 0..1000 {
                fs.send(msg(n), None, RequestHeaders::default())
                    .await
                    .unwrap();
            }
        });
        for n in 0..1000u64 {
            match tokio::time::timeout(Duration::from_secs(5), fast_b.recv()).await {
                Ok(Delivery::Message { message, .. }) => {
                    assert_eq!(message.params().unwrap()["n"], json!(n))
                }
                other => panic!("fast session stalled at {n}: {other:?}"),
            }
        }
        producer.await.unwrap();
        assert!(!blocked.is_finished());
        b.shutdown("test over");
        a.shutdown("test over");
        assert_eq!(blocked.await.unwrap().unwrap_err(), "test over");
    }

    #[tokio::test]
    async fn a_peer_ignoring_credit_loses_only_its_session() {
        let (b, mut b_out) = Mux::new();
        let mut link = b.attach("s").unwrap();
        let mut other = b.attach("t").unwrap();
        for n in 0..(QUEUE as u64 + 1) {
            let f = Frame::Message {
                session: "s".into(),
                request: None,
                protocol_version: None,
                headers: vec![],
                message: msg(n).into_value(),
            };
            assert!(b.dispatch(f).is_none());
        }
        // The queue's messages come first, then the close with the reason.
        let mut last = None;
        for _ in 0..=QUEUE {
            last = Some(link.recv().await);
        }
        match last.unwrap() {
            Delivery::Closed(r) => assert!(r.contains("credit"), "{r}"),
            d => panic!("{d:?}"),
        }
        let mut saw_close = false;
        while let Ok(f) = b_out.try_recv() {
            saw_close |= matches!(f, Frame::Close { ref session, .. } if session == "s");
        }
        assert!(saw_close, "the peer is told");
        b.dispatch(Frame::Close {
            session: "t".into(),
            reason: "done".into(),
        });
        assert!(matches!(other.recv().await, Delivery::Closed(r) if r == "done"));
    }

    #[tokio::test]
    async fn shutdown_ends_every_session_and_refuses_new_ones() {
        let (m, _out) = Mux::new();
        let mut s = m.attach("x").unwrap();
        assert!(m.attach("x").is_err(), "ids are unique per connection");
        m.shutdown("the agent disconnected");
        assert!(matches!(s.recv().await, Delivery::Closed(r) if r == "the agent disconnected"));
        assert!(matches!(s.recv().await, Delivery::Closed(_)));
        assert_eq!(m.attach("y").unwrap_err(), "the agent disconnected");
        assert_eq!(m.session_count(), 0);
    }
}
