// The JSON the control plane serves under /api/v1, as generated from its OpenAPI document
// (src/api/schema.ts, by scripts/gen-api-types.sh). Only names and a few narrowings the
// pages rely on are written here; the shapes come from the server's own types.

import type { components } from "./api/schema";

type Schemas = components["schemas"];

export type Role = Schemas["Role"];
export type Me = Schemas["Me"];
export type Session = Schemas["SessionSummary"];
export type SessionPage = Schemas["SessionPage"];
export type Decision = Schemas["DecisionView"];
export type MaskedCounts = Schemas["EventView"]["masked"];
export type AuditEventView = Schemas["EventView"];
export type Vote = Schemas["Vote"];
/** The documented values of `Approval.state` (the server sends it as text). */
export type ApprovalState = "pending" | "approved" | "denied" | "expired" | "used";
export type Approval = Omit<Schemas["Approval"], "state"> & { state: ApprovalState };
export type Grant = Schemas["AccessGrant"];
export type AccessList = Omit<Schemas["AccessList"], "requests"> & { requests: Approval[] };
export type Call = Omit<Schemas["Call"], "approval"> & { approval: Approval | null };
export type SessionDetail = Omit<Schemas["SessionDetail"], "calls"> & { calls: Call[] };
export type PolicyVersion = Schemas["PolicyVersion"];
export type PolicyList = Schemas["PolicyList"];
export type PolicyDocument = PolicyVersion & { document: string };
export type PolicyProblem = Schemas["PolicyProblem"];
/** `ok` tells which of the two answers it is. */
export type PolicyCheck =
  (Schemas["PolicyCheck"] & { ok: true }) | (Schemas["PolicyCheck"] & { ok: false; errors: PolicyProblem[] });
export type DryRunChange = Schemas["DryRunChange"];
export type DryRun = Schemas["DryRun"];
export type AuditStatus = Schemas["AuditStatus"];
export type AuditVerify = Schemas["AuditVerify"];
export type PendingPin = Schemas["Pin"];
export type ServerInfo = Schemas["ServerView"];
export type AgentInfo = Schemas["AgentView"];
export type Overview = Schemas["OverviewPage"];
export type AccessReview = Schemas["AccessReview"];
export type AccessReviewEntry = Schemas["AccessReviewEntry"];

/** `GET /api/v1/audit/witnesses`: one per `[[audit.witnesses]]` (documented as an object). */
export interface WitnessStatus {
  name: string;
  size: number;
  behind: number;
  last_error: string | null;
  delivered_at: string | null;
}
