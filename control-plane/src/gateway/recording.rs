//! Records of what the gateway itself did (a sign-in refused, an agent connected): notes
//! in the audit trail. Messages are recorded by the call pipeline
//! ([`gatehouse_pipeline::call`]), masked.

use gatehouse_pipeline::Record;

/// The record of something the gateway itself did (session end, a refused sign-in).
pub fn gateway_event(session_id: &str, kind: &str, detail: serde_json::Value) -> Record {
    Record::note(session_id, kind, detail)
}
