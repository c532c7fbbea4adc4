import { createContext, useContext } from "react";
import type { Me, Role } from "./types";

export const MeContext = createContext<Me | null>(null);

export function useMe(): Me {
  const me = useContext(MeContext);
  if (!me) throw new Error("useMe outside the signed-in layout");
  return me;
}

export function has(me: Me, ...roles: Role[]): boolean {
  return roles.some((r) => me.roles.includes(r));
}

/** What each role may see and do (the API enforces the same; this only hides what would be refused). */
export const can = {
  seeOverview: (me: Me) => has(me, "auditor", "admin"),
  seeAllSessions: (me: Me) => has(me, "auditor", "admin"),
  decideApprovals: (me: Me) => has(me, "approver"),
  seePolicies: (me: Me) => has(me, "auditor", "admin", "approver"),
  publishPolicies: (me: Me) => has(me, "admin"),
  seeAudit: (me: Me) => has(me, "auditor", "admin"),
  seeServers: (me: Me) => has(me, "auditor", "admin"),
  managePins: (me: Me) => has(me, "admin"),
};
