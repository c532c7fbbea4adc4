//! Why a session a client names is gone. A client calling on a session that ended
//! (its agent disconnected, its server exited, it idled out) is told the cause, not just
//! that the session is unknown; only the session's own person is told. A session is
//! also refused to the same person with other groups: rights are never carried from
//! one group set to another.

use super::session::Session;
use crate::identity::auth::Principal;
use std::collections::VecDeque;
use std::sync::Mutex;

/// Ended sessions remembered (the oldest are forgotten first).
const REMEMBERED: usize = 4096;

/// The causes of recently ended sessions.
#[derive(Debug, Default)]
pub struct RecentlyEnded {
    ended: Mutex<VecDeque<(String, String, String)>>,
}

impl RecentlyEnded {
    /// Notes that session `id` of `user` ended because of `reason`.
    pub fn note(&self, id: &str, user: &str, reason: &str) {
        let mut ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        if ended.len() >= REMEMBERED {
            ended.pop_front();
        }
        ended.push_back((id.to_string(), user.to_string(), reason.to_string()));
    }

    /// Why session `id` of `user` ended, in words for the client.
    pub fn cause(&self, id: &str, user: &str) -> Option<String> {
        let ended = self.ended.lock().unwrap_or_else(|e| e.into_inner());
        ended
            .iter()
            .rev()
            .find(|(i, u, _)| i == id && u == user)
            .map(|(_, _, r)| in_words(r))
    }
}

/// A session's end reason as a client reads it.
fn in_words(reason: &str) -> String {
    match reason {
        "idle_timeout" => "it was idle too long".into(),
        "client_closed" => "the client closed it".into(),
        "gateway_shutdown" => "the gateway restarted".into(),
        "initialize_failed" => "its handshake failed".into(),
        "record_failed" => "it could not be recorded".into(),
        other => match other.strip_prefix("upstream_closed: ") {
            Some(why) => format!("the server's connection ended ({why})"),
            None => other.replace('_', " "),
        },
    }
}

/// Whether `principal` may use live session `s` on `server`: the same person with the
/// same groups (in any order).
pub fn owns(s: &Session, principal: &Principal, server: &str) -> bool {
    s.server == server && s.principal.user == principal.user && same_groups(&s.principal, principal)
}

/// Whether two principals carry the same set of groups.
pub fn same_groups(a: &Principal, b: &Principal) -> bool {
    let mut x: Vec<&String> = a.groups.iter().collect();
    let mut y: Vec<&String> = b.groups.iter().collect();
    x.sort();
    x.dedup();
    y.sort();
    y.dedup();
    x == y
}

/// The key part that keeps stateless-era sessions of one person apart per group set.
pub fn group_set(p: &Principal) -> String {
    let mut g: Vec<&str> = p.groups.iter().map(String::as_str).collect();
    g.sort_unstable();
    g.dedup();
    g.join("\n")
}
