// The JSON the control plane serves under /api/v1 (see the dashboard API contract).

export type Role = "engineer" | "approver" | "auditor" | "admin";

export interface Me {
  user: string;
  groups: string[];
  roles: Role[];
}

export interface Session {
  id: string;
  user: string;
  groups: string[];
  server: string;
  era: "legacy" | "current";
  client: string | null;
  started_at: string;
  ended_at: string | null;
  end_reason: string | null;
  messages: number;
  tools: string[];
  masked_total: number;
  denied: number;
  held: number;
}

export interface SessionPage {
  sessions: Session[];
  next_cursor: string | null;
}

export interface Decision {
  effect: "allow" | "deny" | "require_approval";
  rule: string | null;
  policy_version: string | number | null;
  message?: string;
}

export type MaskedCounts = Record<string, number> | null;

export interface AuditEventView {
  seq: number;
  at: string;
  direction: "client_to_server" | "server_to_client" | "gateway";
  kind: string;
  method: string | null;
  tool: string | null;
  rpc_id: string | number | null;
  payload: unknown;
  masked: MaskedCounts;
  decision: Decision | null;
}

export interface Vote {
  approver: string;
  vote: "approve" | "deny";
  reason: string;
  at: string;
}

export type ApprovalState = "pending" | "approved" | "denied" | "expired" | "used";

export interface Approval {
  id: string;
  session_id: string;
  requester: string;
  server: string;
  method: string;
  tool: string | null;
  digest: string;
  arguments: unknown;
  approvers: string[];
  quorum: number;
  mode: "hold" | "retry";
  rule: string;
  state: ApprovalState;
  created_at: string;
  expires_at: string;
  decided_at: string | null;
  reason: string | null;
  votes: Vote[];
}

export interface Call {
  rpc_id: string | number;
  method: string;
  tool: string | null;
  arguments: unknown;
  decision: Decision | null;
  approval: Approval | null;
  result: unknown;
  error: { code: number; message: string; data?: unknown } | null;
  masked: MaskedCounts;
  requested_at: string;
  answered_at: string | null;
  duration_ms: number | null;
}

export interface SessionDetail {
  session: Session;
  events: AuditEventView[];
  calls: Call[];
}

export interface PolicyVersion {
  version: number;
  digest: string;
  published_by: string;
  published_at: string;
}

export interface PolicyList {
  versions: PolicyVersion[];
  in_force: number | null;
}

export interface PolicyDocument extends PolicyVersion {
  document: string;
}

export interface PolicyProblem {
  line: number;
  column: number;
  message: string;
}

export type PolicyCheck = { ok: true } | { ok: false; errors: PolicyProblem[] };

export interface DryRunChange {
  at?: string;
  method?: string;
  user: string;
  server: string;
  tool: string | null;
  before: string;
  after: string;
  rule: string | null;
}

export interface DryRun {
  requests: number;
  changes: DryRunChange[];
}

export interface AuditStatus {
  events: number;
  chain_head: string;
  checkpoint: { tree_size: number; root: string; at: string; public_key: string } | null;
  public_key: string;
  /** Not in the contract yet; shown when the server sends it. */
  checkpoints?: number;
}

/** `GET /api/v1/audit/witnesses`: one per `[[audit.witnesses]]`. */
export interface WitnessStatus {
  name: string;
  size: number;
  behind: number;
  last_error: string | null;
  delivered_at: string | null;
}

export interface AuditVerify {
  ok: boolean;
  events: number;
  checkpoints: number;
  problems: string[];
}

export interface PendingPin {
  tool: string;
  changed_at: string;
  definition: unknown;
  pending_definition: unknown;
}

export interface ServerInfo {
  name: string;
  transport: "http" | "stdio" | "sse" | "agent";
  agent: string | null;
  open_sessions: number;
  last_session_at: string | null;
  pending_pins: PendingPin[];
  /** Not in the contract yet; shown when the server sends them. */
  pin_tools?: boolean;
  tools_pinned?: number;
}

export interface AgentInfo {
  name: string;
  connected: boolean;
  version: string;
  servers: string[];
  last_seen: string;
  draining: boolean;
}

export interface Overview {
  days: string[];
  calls_per_day: { day: string; server: string; calls: number }[];
  /** Contract keys: allowed, denied, approved, approval_denied, expired; any other key is shown too. */
  decisions: Record<string, number>;
  masked_by_type: Record<string, number>;
  sessions: number;
  people: number;
}
