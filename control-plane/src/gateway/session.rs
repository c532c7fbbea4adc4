//! Gateway sessions: one upstream connection each, the server-to-client outbox that
//! feeds the GET stream (with replay for `Last-Event-ID`), and the table that finds a
//! session by its id or, for stateless clients, by who is calling.

use crate::identity::auth::Principal;
use gatehouse_proxy_core::mcp::Era;
use gatehouse_proxy_core::upstream::Upstream;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// One server-to-client message queued for the GET stream.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    /// Monotonic per session; sent as the SSE event id.
    pub id: u64,
    /// The JSON-RPC message text.
    pub json: String,
}

/// Server-to-client messages that belong to no request, kept for replay.
#[derive(Debug)]
pub struct Outbox {
    state: Mutex<OutboxState>,
    live: broadcast::Sender<OutboxEvent>,
}

#[derive(Debug)]
struct OutboxState {
    next_id: u64,
    /// The newest event a GET stream has delivered.
    delivered: u64,
    recent: VecDeque<OutboxEvent>,
    capacity: usize,
}

impl Outbox {
    /// An outbox keeping the last `capacity` events.
    pub fn new(capacity: usize) -> Outbox {
        Outbox {
            state: Mutex::new(OutboxState {
                next_id: 1,
                delivered: 0,
                recent: VecDeque::new(),
                capacity: capacity.max(1),
            }),
            // Live subscribers are GET streams that keep up; anyone who lags resumes
            // from `recent`. A small live buffer keeps idle sessions small.
            live: broadcast::channel(16).0,
        }
    }

    /// Queues a message for the GET stream.
    pub fn push(&self, json: String) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let ev = OutboxEvent {
            id: st.next_id,
            json,
        };
        st.next_id += 1;
        if st.recent.len() == st.capacity {
            st.recent.pop_front();
        }
        st.recent.push_back(ev.clone());
        // Sent under the lock so a subscriber never misses or duplicates an event.
        let _ = self.live.send(ev);
    }

    /// Events after `last_seen` (without one: those no stream has delivered yet), then
    /// the live feed.
    pub fn subscribe(
        &self,
        last_seen: Option<u64>,
    ) -> (Vec<OutboxEvent>, broadcast::Receiver<OutboxEvent>) {
        let st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let rx = self.live.subscribe();
        let after = last_seen.unwrap_or(st.delivered);
        let replay = st.recent.iter().filter(|e| e.id > after).cloned().collect();
        (replay, rx)
    }

    /// Notes that a stream delivered event `id`.
    pub fn mark_delivered(&self, id: u64) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        st.delivered = st.delivered.max(id);
    }
}

/// What a session is made of when it opens.
pub struct SessionParts {
    /// The gateway's session id.
    pub id: String,
    /// The server name.
    pub server: String,
    /// Who opens it.
    pub principal: Principal,
    /// The client's era.
    pub era: Era,
    /// The upstream connection.
    pub upstream: Upstream,
    /// How many GET-stream events to keep for replay.
    pub replay: usize,
    /// Fired when the session ends.
    pub closed: CancellationToken,
}

/// A live gateway session.
#[derive(Debug)]
pub struct Session {
    /// The gateway's session id (what clients see as `Mcp-Session-Id`).
    pub id: String,
    /// The server name.
    pub server: String,
    /// Who opened it.
    pub principal: Principal,
    /// The client's era.
    pub era: Era,
    /// The upstream connection.
    pub upstream: Upstream,
    /// Server-to-client messages for the GET stream.
    pub outbox: Outbox,
    /// The rights of the newest request's token: what the server's own messages on the
    /// GET stream are masked with (each request carries its own).
    rights: Mutex<gatehouse_pipeline::Principal>,
    /// Set when a session-era client is bridged to a stateless upstream.
    pub bridge: std::sync::OnceLock<super::bridge::Bridge>,
    /// Fired when the session ends (or the gateway shuts down): ends its streams.
    pub closed: CancellationToken,
    protocol_version: Mutex<Option<String>>,
    last_seen: Mutex<Instant>,
    server_stream_open: Mutex<bool>,
}

impl Session {
    /// A session over an upstream connection.
    pub fn new(parts: SessionParts) -> Session {
        let SessionParts {
            id,
            server,
            principal,
            era,
            upstream,
            replay,
            closed,
        } = parts;
        Session {
            bridge: std::sync::OnceLock::new(),
            rights: Mutex::new(gatehouse_pipeline::Principal::new(
                principal.user.clone(),
                principal.groups.iter().cloned(),
            )),
            closed,
            protocol_version: Mutex::new(None),
            id,
            server,
            principal,
            era,
            upstream,
            outbox: Outbox::new(replay),
            last_seen: Mutex::new(Instant::now()),
            server_stream_open: Mutex::new(false),
        }
    }

    /// The negotiated (legacy) or latest seen (stateless) protocol version.
    pub fn protocol_version(&self) -> Option<String> {
        self.protocol_version
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Sets the protocol version.
    pub fn set_protocol_version(&self, v: &str) {
        *self
            .protocol_version
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(v.to_string());
    }

    /// The rights of the newest request.
    pub fn rights(&self) -> gatehouse_pipeline::Principal {
        self.rights
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Notes the rights a request came with (only when they changed).
    pub fn set_rights(&self, rights: &gatehouse_pipeline::Principal) {
        let mut current = self.rights.lock().unwrap_or_else(|e| e.into_inner());
        if *current != *rights {
            *current = rights.clone();
        }
    }

    /// Marks activity (keeps the session from idling out).
    pub fn touch(&self) {
        *self.last_seen.lock().unwrap_or_else(|e| e.into_inner()) = Instant::now();
    }

    /// Time since the last activity.
    pub fn idle_for(&self) -> std::time::Duration {
        self.last_seen
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .elapsed()
    }

    /// True the first time it is called: the upstream GET stream should be opened now.
    pub fn claim_server_stream(&self) -> bool {
        let mut open = self
            .server_stream_open
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        !std::mem::replace(&mut *open, true)
    }
}

/// Stateless clients are grouped into one recorded session per person, server and client.
pub type GroupKey = (String, String, String);

/// All live sessions.
#[derive(Debug, Default)]
pub struct SessionTable {
    by_id: Mutex<HashMap<String, Arc<Session>>>,
    groups: Mutex<HashMap<GroupKey, String>>,
}

impl SessionTable {
    /// Adds a session (and its stateless group key, if any).
    pub fn insert(&self, s: Arc<Session>, group: Option<GroupKey>) {
        if let Some(g) = group {
            self.groups
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(g, s.id.clone());
        }
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(s.id.clone(), s);
    }

    /// The session with this id.
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(id)
            .cloned()
    }

    /// The stateless group's session.
    pub fn get_group(&self, key: &GroupKey) -> Option<Arc<Session>> {
        let id = self
            .groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()?;
        self.get(&id)
    }

    /// Removes a session; returns it if it was there (so exactly one caller ends it).
    pub fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.groups
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|_, v| v != id);
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(id)
    }

    /// Every live session.
    pub fn all(&self) -> Vec<Arc<Session>> {
        self.by_id
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .cloned()
            .collect()
    }

    /// How many sessions are live.
    pub fn len(&self) -> usize {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outbox_replays_after_last_event_id_and_bounds_memory() {
        let ob = Outbox::new(3);
        for n in 1..=5 {
            ob.push(format!("m{n}"));
        }
        let (replay, mut rx) = ob.subscribe(Some(3));
        assert_eq!(replay.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4, 5]);
        let (replay, _) = ob.subscribe(Some(0));
        assert_eq!(replay.len(), 3, "only the last 3 are kept");
        ob.mark_delivered(4);
        let (replay, _) = ob.subscribe(None);
        assert_eq!(
            replay.iter().map(|e| e.id).collect::<Vec<_>>(),
            vec![5],
            "undelivered ones replay without Last-Event-ID"
        );
        ob.push("m6".into());
        assert_eq!(rx.try_recv().unwrap().json, "m6");
    }
}
