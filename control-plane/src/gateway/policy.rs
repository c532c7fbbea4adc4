//! Policy on the gateway: the version in force (decided in the call pipeline,
//! [`gatehouse_pipeline::decide`]) and the history drafts are replayed against. No policy
//! configured means every signed-in person may use every server (logged loudly at
//! start-up).

use gatehouse_pipeline::Call;
use gatehouse_policy::{Principal as PolicyPrincipal, Request};
use gatehouse_proxy_core::jsonrpc::Message;

pub use gatehouse_pipeline::{ApprovalTerms, PolicyInForce, Verdict};

/// The policy-checked requests recorded since `since` (RFC 3339), oldest first, as the
/// policy engine sees them, for replaying a draft against history. Arguments are the
/// record's, i.e. masked.
pub async fn recorded_requests(
    store: &crate::store::Store,
    since: &str,
) -> Result<Vec<Request>, crate::store::StoreError> {
    Ok(store
        .recorded_requests(since)
        .await?
        .into_iter()
        .filter_map(|(user, groups, server, payload)| {
            let msg = Message::from_value(serde_json::from_str(&payload).ok()?).ok()?;
            match gatehouse_pipeline::classify(&msg) {
                Call::Request(target) => {
                    Some(target.policy_request(&PolicyPrincipal::new(user, groups), &server))
                }
                Call::Passing => None,
            }
        })
        .collect())
}
