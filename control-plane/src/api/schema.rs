//! The shapes of the JSON API's answers, for its OpenAPI document (and the dashboard's
//! TypeScript types generated from it). The handlers build these bodies with `json!`;
//! each type here names one such body field for field, and the contract test
//! (`tests/openapi.rs`) checks real answers against the document.

use crate::approvals::Approval;
use crate::pins::Pin;
use crate::store::{Overview, PolicyVersion, SessionSummary};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use utoipa::ToSchema;

// The body of every `super::error::ApiError`, named `ApiError` in the document.
/// Every refusal and failure: what went wrong and what to do about it.
#[derive(Serialize, ToSchema)]
#[schema(as = ApiError)]
pub struct ErrorBody {
    /// A sentence for a person.
    pub error: String,
}

/// A dashboard role, derived from the caller's groups.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everyone signed in.
    Engineer,
    /// Members of `roles.approver_groups`.
    Approver,
    /// Members of `roles.auditor_groups`.
    Auditor,
    /// Members of `admin_groups`.
    Admin,
}

/// `GET /api/v1/me`: who the caller is.
#[derive(Serialize, ToSchema)]
pub struct Me {
    /// The signed-in person.
    pub user: String,
    /// Their groups.
    pub groups: Vec<String>,
    /// Their dashboard roles.
    pub roles: Vec<Role>,
    /// Their live just-in-time grants on local servers (`local:NAME`), for the tray's
    /// local capture.
    pub local_grants: Vec<LocalGrant>,
}

/// A live grant on a local server.
#[derive(Serialize, ToSchema)]
pub struct LocalGrant {
    /// Grant id.
    pub id: String,
    /// `local:NAME`.
    pub server: String,
    /// Role.
    pub role: String,
    /// Ends at (RFC 3339).
    pub ends_at: String,
}

/// `GET /api/v1/access`.
#[derive(Serialize, ToSchema)]
pub struct AccessList {
    /// Grants, live and past, newest first.
    pub grants: Vec<crate::access::AccessGrant>,
    /// Access requests (pending and decided), newest first.
    pub requests: Vec<Approval>,
}

/// A vote on an access request.
#[derive(Serialize, ToSchema)]
pub struct AccessDecision {
    /// The request as it now stands.
    pub request: Approval,
    /// Its grant, once approved.
    #[schema(required)]
    pub grant: Option<crate::access::AccessGrant>,
}

/// Approvals the caller may see.
#[derive(Serialize, ToSchema)]
pub struct ApprovalList {
    /// Newest first.
    pub approvals: Vec<Approval>,
}

/// Every policy version and the one in force.
#[derive(Serialize, ToSchema)]
pub struct PolicyList {
    /// Newest first (without their documents).
    pub versions: Vec<PolicyVersion>,
    /// The version in force, when one is published.
    #[schema(required)]
    pub in_force: Option<i64>,
}

/// A newly published policy version.
#[derive(Serialize, ToSchema)]
pub struct PolicyPublished {
    /// Its number.
    pub version: i64,
    /// The document's digest.
    pub digest: String,
    /// Who published it.
    pub published_by: String,
}

/// One problem in a policy document.
#[derive(Serialize, ToSchema)]
pub struct PolicyProblem {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// A policy check: valid with its digest, or the problems.
#[derive(Serialize, ToSchema)]
pub struct PolicyCheck {
    /// True when the document is valid.
    pub ok: bool,
    /// The valid document's digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// The problems of an invalid document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors: Option<Vec<PolicyProblem>>,
}

/// A recorded request whose decision the draft would change.
#[derive(Serialize, ToSchema)]
pub struct DryRunChange {
    /// Who made the request.
    pub user: String,
    /// Server.
    pub server: String,
    /// JSON-RPC method.
    pub method: String,
    /// Tool (or prompt, resource).
    #[schema(required)]
    pub tool: Option<String>,
    /// The decision under the policy in force.
    pub before: String,
    /// The decision under the draft.
    pub after: String,
    /// The draft's rule that decided.
    #[schema(required)]
    pub rule: Option<String>,
}

/// The dry run of a draft against recorded requests.
#[derive(Serialize, ToSchema)]
pub struct DryRun {
    /// Start of the period replayed (RFC 3339).
    pub since: String,
    /// Requests replayed.
    pub requests: usize,
    /// The policy version in force, if any.
    #[schema(required)]
    pub in_force: Option<String>,
    /// Requests whose decision would change.
    pub changes: Vec<DryRunChange>,
}

/// A page of sessions.
#[derive(Serialize, ToSchema)]
pub struct SessionPage {
    /// Newest first.
    pub sessions: Vec<SessionSummary>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[schema(required)]
    pub next_cursor: Option<String>,
}

/// Who sent a recorded message.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The MCP client.
    ClientToServer,
    /// The upstream server.
    ServerToClient,
    /// The gateway itself (refusals, approvals, session events).
    Gateway,
}

/// A policy decision as recorded.
#[derive(Serialize, ToSchema)]
pub struct DecisionView {
    /// `allow`, `deny` or `require_approval`.
    pub effect: Effect,
    /// The rule that decided.
    #[schema(required)]
    pub rule: Option<String>,
    /// The policy version that decided.
    #[schema(required)]
    pub policy_version: Option<String>,
    /// The message shown to the caller.
    #[schema(required)]
    pub message: Option<String>,
}

/// What a policy decided.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Effect {
    /// Passed.
    Allow,
    /// Refused.
    Deny,
    /// Held for approvers.
    RequireApproval,
}

/// Values masked in a message, by type.
pub type MaskedCounts = Option<BTreeMap<String, i64>>;

/// One recorded message of a session.
#[derive(Serialize, ToSchema)]
pub struct EventView {
    /// Position in the audit log.
    pub seq: i64,
    /// When (RFC 3339).
    pub at: String,
    /// Who sent it.
    pub direction: Direction,
    /// `request`, `response`, `notification`, `error`, or a gateway event.
    pub kind: String,
    /// JSON-RPC method.
    #[schema(required)]
    pub method: Option<String>,
    /// Tool (or prompt, resource).
    #[schema(required)]
    pub tool: Option<String>,
    /// JSON-RPC id, as text.
    #[schema(required)]
    pub rpc_id: Option<String>,
    /// The message as recorded (masked values already replaced).
    pub payload: Value,
    /// Values masked in it, by type.
    #[schema(value_type = Option<BTreeMap<String, i64>>)]
    pub masked: MaskedCounts,
    /// The policy decision on it.
    #[schema(required)]
    pub decision: Option<DecisionView>,
}

/// A JSON-RPC error answer.
#[derive(Serialize, ToSchema)]
pub struct RpcError {
    /// JSON-RPC error code.
    pub code: i64,
    /// Message.
    pub message: String,
    /// Extra data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Value>,
}

/// A client request with its decision, approval and answer.
#[derive(Serialize, ToSchema)]
pub struct Call {
    /// JSON-RPC id, as text.
    #[schema(required)]
    pub rpc_id: Option<String>,
    /// JSON-RPC method.
    #[schema(required)]
    pub method: Option<String>,
    /// Tool (or prompt, resource).
    #[schema(required)]
    pub tool: Option<String>,
    /// The arguments (masked).
    pub arguments: Value,
    /// The policy decision.
    #[schema(required)]
    pub decision: Option<DecisionView>,
    /// The approval it waited for.
    #[schema(required)]
    pub approval: Option<Approval>,
    /// The result, when it succeeded.
    #[schema(required)]
    pub result: Option<Value>,
    /// The error, when it failed.
    #[schema(required)]
    pub error: Option<RpcError>,
    /// Values masked in the answer, by type.
    #[schema(value_type = Option<BTreeMap<String, i64>>)]
    pub masked: MaskedCounts,
    /// When it was sent (RFC 3339).
    pub requested_at: String,
    /// When it was answered (RFC 3339).
    #[schema(required)]
    pub answered_at: Option<String>,
    /// Time to the answer.
    #[schema(required)]
    pub duration_ms: Option<i64>,
}

/// One session: summary, transcript and calls.
#[derive(Serialize, ToSchema)]
pub struct SessionDetail {
    /// The summary row.
    pub session: SessionSummary,
    /// Every recorded message, in order.
    pub events: Vec<EventView>,
    /// Each request with its answer.
    pub calls: Vec<Call>,
}

/// The overview's numbers, with every day of the period.
#[derive(Serialize, ToSchema)]
pub struct OverviewPage {
    /// The numbers.
    #[serde(flatten)]
    pub overview: Overview,
    /// Every day of the period (`YYYY-MM-DD`, UTC), oldest first.
    pub days: Vec<String>,
}

/// The newest signed checkpoint.
#[derive(Serialize, ToSchema)]
pub struct CheckpointView {
    /// Events covered.
    pub tree_size: i64,
    /// Merkle root (hex).
    pub root: String,
    /// When signed (RFC 3339).
    pub at: String,
    /// The key that signed it (hex).
    pub public_key: String,
}

/// The audit log's state.
#[derive(Serialize, ToSchema)]
pub struct AuditStatus {
    /// Events recorded.
    pub events: i64,
    /// Hash of the newest event.
    pub chain_head: String,
    /// Signed checkpoints.
    pub checkpoints: usize,
    /// The newest one.
    #[schema(required)]
    pub checkpoint: Option<CheckpointView>,
    /// This control plane's signing key (hex).
    pub public_key: String,
    /// Seconds between checkpoints.
    pub checkpoint_every_secs: u64,
}

/// The result of verifying the whole log.
#[derive(Serialize, ToSchema)]
pub struct AuditVerify {
    /// True when every link and signature holds.
    pub ok: bool,
    /// Events checked (when intact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub events: Option<i64>,
    /// Hash of the newest event (when intact).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chain_head: Option<String>,
    /// Signed checkpoints.
    pub checkpoints: usize,
    /// What is broken.
    pub problems: Vec<String>,
}

/// How the gateway reaches a server.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Transport {
    /// Streamable HTTP.
    Http,
    /// A local process.
    Stdio,
    /// The legacy HTTP+SSE transport.
    Sse,
}

/// A configured server.
#[derive(Serialize, ToSchema)]
pub struct ServerView {
    /// Name (`/mcp/{name}`).
    pub name: String,
    /// How it is reached.
    pub transport: Transport,
    /// `legacy` or `current` MCP.
    pub era: String,
    /// Whether tool definitions are pinned.
    pub pin_tools: bool,
    /// Its masking profile.
    #[schema(required)]
    pub masking_profile: Option<String>,
    /// Sessions open now.
    pub open_sessions: usize,
    /// Start of its newest session (RFC 3339).
    #[schema(required)]
    pub last_session_at: Option<String>,
    /// Tools pinned.
    pub tools_pinned: usize,
    /// Changed tool definitions waiting for an admin.
    pub pending_pins: Vec<Pin>,
}

/// Every configured server.
#[derive(Serialize, ToSchema)]
pub struct ServerList {
    /// In config order.
    pub servers: Vec<ServerView>,
}

/// A decision on a changed tool definition.
#[derive(Serialize, ToSchema)]
pub struct PinDecision {
    /// Server.
    pub server: String,
    /// Tool.
    pub tool: String,
    /// `accept` or `reject`.
    pub decision: String,
}

/// An upload's receipt.
#[derive(Serialize, ToSchema)]
pub struct SpoolReceipt {
    /// Every record id of the upload (stored now or before).
    pub acknowledged: Vec<String>,
    /// Records stored by this upload.
    pub stored: usize,
    /// Records already stored by an earlier upload.
    pub duplicates: usize,
}

/// A published policy with its document.
#[derive(Serialize, ToSchema)]
pub struct PolicyDocument {
    /// Version number.
    pub version: i64,
    /// Digest of the document.
    pub digest: String,
    /// The YAML document.
    pub document: String,
}

/// A local server the caller may run.
#[derive(Serialize, ToSchema)]
pub struct LocalServerView {
    /// Name (`local:{name}` in policies).
    pub name: String,
    /// What it is.
    #[schema(required)]
    pub description: Option<String>,
    /// Program.
    pub command: String,
    /// Arguments.
    pub args: Vec<String>,
    /// Environment.
    pub env: BTreeMap<String, String>,
    /// The masking profile its sessions use.
    pub masking_profile: String,
    /// That profile's definition.
    pub masking: Value,
}

/// What a laptop needs to run local servers under the gateway's rules.
#[derive(Serialize, ToSchema)]
pub struct LocalServers {
    /// The signed-in person.
    pub user: String,
    /// Their groups.
    pub groups: Vec<String>,
    /// The local servers they may run.
    pub servers: Vec<LocalServerView>,
    /// The policy in force, if any.
    #[schema(required)]
    pub policy: Option<PolicyDocument>,
}

/// A local call the policy holds: the approval asked for it.
#[derive(Serialize, ToSchema)]
pub struct LocalApproval {
    /// The new approval.
    pub approval: Approval,
    /// The policy version that held it.
    pub policy_version: String,
}

/// A local call the policy lets pass (no approval needed).
#[derive(Serialize, ToSchema)]
pub struct LocalAllowed {
    /// Always `allow`.
    pub decision: String,
}

/// A token issued to an agent, shown once.
#[derive(Serialize, ToSchema)]
pub struct AgentTokenIssued {
    /// Token id (for revoking).
    pub id: String,
    /// The agent.
    pub agent: String,
    /// The secret.
    pub token: String,
    /// Who issued it.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// How to hand it over.
    pub note: String,
}

/// A revoked agent token.
#[derive(Serialize, ToSchema)]
pub struct AgentTokenRevoked {
    /// The token's record.
    pub token: crate::agents::store::TokenRow,
    /// Live connections dropped.
    pub dropped_connections: usize,
}

/// An agent drained or resumed.
#[derive(Serialize, ToSchema)]
pub struct AgentDrained {
    /// The agent.
    pub agent: String,
    /// True when it takes no new sessions.
    pub drained: bool,
    /// Sessions still open on it.
    pub open_sessions: usize,
}

/// One agent: configured, with tokens, or connected.
#[derive(Serialize, ToSchema)]
pub struct AgentView {
    /// Name.
    pub name: String,
    /// True while at least one connection is live.
    pub connected: bool,
    /// True when it takes no new sessions.
    pub drained: bool,
    /// Servers the config routes through it.
    pub assigned_servers: Vec<String>,
    /// Live connections.
    pub connections: Vec<crate::agents::hub::ConnStatus>,
    /// Its tokens (ids and dates only).
    pub tokens: Vec<crate::agents::store::TokenRow>,
    /// Last sign of life (RFC 3339).
    #[schema(required)]
    pub last_seen: Option<String>,
    /// Version it last connected with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_version: Option<String>,
    /// Servers it last offered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_servers: Option<Vec<String>>,
    /// Why its last connection ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_disconnect_reason: Option<String>,
}

/// Every agent.
#[derive(Serialize, ToSchema)]
pub struct AgentList {
    /// By name.
    pub agents: Vec<AgentView>,
}
