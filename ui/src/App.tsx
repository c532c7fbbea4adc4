import { useCallback, useEffect, useState, type ReactNode } from "react";
import { ApiError, errorText, get, onSignedOut, request } from "./api";
import { MeContext, can, has } from "./auth";
import { Link, match, navigate, useLocation } from "./router";
import type { Me } from "./types";
import { SignIn } from "./pages/SignIn";
import { OverviewPage } from "./pages/Overview";
import { SessionsPage } from "./pages/Sessions";
import { SessionPage } from "./pages/SessionDetail";
import { ApprovalsPage } from "./pages/Approvals";
import { AccessPage } from "./pages/Access";
import { PoliciesPage } from "./pages/Policies";
import { PolicyEditorPage } from "./pages/PolicyEditor";
import { AuditPage } from "./pages/Audit";
import { ServersPage } from "./pages/Servers";
import { AccessReviewPage, AccessReviewsPage } from "./pages/AccessReviews";
import { Empty } from "./components/ui";

type AuthState = { kind: "loading" } | { kind: "signed-out" } | { kind: "error"; message: string } | { kind: "in"; me: Me };

export function App() {
  const [auth, setAuth] = useState<AuthState>({ kind: "loading" });
  const load = useCallback(() => {
    get<Me>("/api/v1/me").then(
      (me) => setAuth({ kind: "in", me }),
      (e: unknown) => {
        if (e instanceof ApiError && e.status === 401) setAuth({ kind: "signed-out" });
        else setAuth({ kind: "error", message: errorText(e) });
      },
    );
  }, []);
  useEffect(load, [load]);
  useEffect(() => onSignedOut(() => setAuth({ kind: "signed-out" })), []);

  if (auth.kind === "loading") return <div className="boot" aria-busy="true" />;
  if (auth.kind === "signed-out") return <SignIn />;
  if (auth.kind === "error") return <SignIn problem={auth.message} onRetry={load} />;
  return (
    <MeContext.Provider value={auth.me}>
      <Layout me={auth.me} onSignOut={() => setAuth({ kind: "signed-out" })} />
    </MeContext.Provider>
  );
}

interface NavItem {
  to: string;
  label: string;
  icon: string;
  show: (me: Me) => boolean;
  active: (path: string) => boolean;
}

const NAV: NavItem[] = [
  {
    to: "/",
    label: "Overview",
    icon: "M3 13h4v8H3zM10 8h4v13h-4zM17 3h4v18h-4z",
    show: can.seeOverview,
    active: (p) => p === "/",
  },
  {
    to: "/sessions",
    label: "Sessions",
    icon: "M4 5h16v3H4zM4 10.5h16v3H4zM4 16h16v3H4z",
    show: () => true,
    active: (p) => p.startsWith("/sessions"),
  },
  {
    to: "/approvals",
    label: "Approvals",
    icon: "M9 16.2 4.8 12l-1.4 1.4L9 19 21 7l-1.4-1.4z",
    show: () => true,
    active: (p) => p.startsWith("/approvals"),
  },
  {
    to: "/access",
    label: "Access",
    icon: "M7 14a5 5 0 1 1 4.9-6H22v4h-2v3h-3v-3h-5.1A5 5 0 0 1 7 14zm0-3a2 2 0 1 0 0-4 2 2 0 0 0 0 4z",
    show: () => true,
    active: (p) => p === "/access",
  },
  {
    to: "/policies",
    label: "Policies",
    icon: "M6 2h9l5 5v15H6zM14 3v5h5M9 12h8M9 16h8",
    show: can.seePolicies,
    active: (p) => p.startsWith("/policies"),
  },
  {
    to: "/audit",
    label: "Audit integrity",
    icon: "M12 2 4 5v6c0 5 3.4 9.4 8 11 4.6-1.6 8-6 8-11V5z",
    show: can.seeAudit,
    active: (p) => p.startsWith("/audit"),
  },
  {
    to: "/access-reviews",
    label: "Access reviews",
    icon: "M9 11l3 3 8-8M20 12v7a2 2 0 0 1-2 2H6a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2h9",
    // Owners decide here; engineers who own nothing keep a short menu (the page still opens).
    show: (me) => has(me, "auditor", "admin", "approver"),
    active: (p) => p.startsWith("/access-reviews"),
  },
  {
    to: "/servers",
    label: "Servers & agents",
    icon: "M3 4h18v6H3zM3 14h18v6H3zM6 7h2M6 17h2",
    show: can.seeServers,
    active: (p) => p.startsWith("/servers"),
  },
];

function Layout({ me, onSignOut }: { me: Me; onSignOut: () => void }) {
  const loc = useLocation();
  const [signingOut, setSigningOut] = useState(false);
  const signOut = async () => {
    setSigningOut(true);
    try {
      await request<void>("/auth/logout", { method: "POST" });
    } catch {
      // signed out locally either way; the cookie is HttpOnly and the server may already have dropped it
    }
    onSignOut();
  };
  const items = NAV.filter((n) => n.show(me));
  const page = route(loc.path, me);
  useEffect(() => {
    const current = items.find((n) => n.active(loc.path));
    document.title = current ? `${current.label} · Gatehouse` : "Gatehouse";
  });
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <aside className="sidebar" aria-label="Main navigation">
        <Link to={can.seeOverview(me) ? "/" : "/sessions"} className="brand">
          <svg viewBox="0 0 32 32" aria-hidden="true" width="26" height="26">
            <rect width="32" height="32" rx="6" fill="#fff" fillOpacity="0.12" />
            <path d="M8 26V12l8-5 8 5v14h-5v-7h-6v7z" fill="#fff" />
          </svg>
          <span>Gatehouse</span>
        </Link>
        <nav>
          <ul>
            {items.map((n) => {
              const active = n.active(loc.path);
              return (
                <li key={n.to}>
                  <Link to={n.to} className={active ? "nav-link active" : "nav-link"} aria-current={active ? "page" : undefined}>
                    <svg viewBox="0 0 24 24" aria-hidden="true" width="18" height="18">
                      <path d={n.icon} fill="none" stroke="currentColor" strokeWidth="1.7" strokeLinejoin="round" />
                    </svg>
                    {n.label}
                  </Link>
                </li>
              );
            })}
          </ul>
        </nav>
        <p className="sidebar-foot">MCP security gateway</p>
      </aside>
      <div className="main-col">
        <header className="topbar">
          <div className="who" data-testid="signed-in-as">
            <span className="avatar" aria-hidden="true">
              {me.user.slice(0, 1).toUpperCase()}
            </span>
            <span>
              <span className="who-name">{me.user}</span>
              <span className="who-roles">
                {me.roles.map((r) => (
                  <span key={r} className={`role role-${r}`}>
                    {r}
                  </span>
                ))}
              </span>
            </span>
          </div>
          <button type="button" className="btn btn-quiet" onClick={signOut} disabled={signingOut}>
            {signingOut ? "Signing out…" : "Sign out"}
          </button>
        </header>
        <main id="main" tabIndex={-1}>
          {page}
        </main>
      </div>
    </div>
  );
}

function Redirect({ to }: { to: string }): ReactNode {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

function Forbidden({ what }: { what: string }): ReactNode {
  return (
    <Empty title={`${what} is not available to you`}>
      <p>
        Your roles do not include it. Ask a Gatehouse admin if you need access. <Link to="/sessions">Go to Sessions</Link>.
      </p>
    </Empty>
  );
}

function route(path: string, me: Me): ReactNode {
  if (path === "/") return can.seeOverview(me) ? <OverviewPage /> : <Redirect to="/sessions" />;
  if (path === "/sessions") return <SessionsPage />;
  let m = match("/sessions/:id", path);
  if (m) return <SessionPage id={m.id!} />;
  if (path === "/approvals") return <ApprovalsPage />;
  if (path === "/access") return <AccessPage />;
  if (path === "/policies") return can.seePolicies(me) ? <PoliciesPage /> : <Forbidden what="Policies" />;
  if (path === "/policies/edit") return can.publishPolicies(me) ? <PolicyEditorPage /> : <Forbidden what="The policy editor" />;
  m = match("/policies/:version", path);
  if (m) return can.seePolicies(me) ? <PoliciesPage selected={Number(m.version)} /> : <Forbidden what="Policies" />;
  if (path === "/audit") return can.seeAudit(me) ? <AuditPage /> : <Forbidden what="Audit integrity" />;
  if (path === "/access-reviews") return <AccessReviewsPage />;
  m = match("/access-reviews/:id", path);
  if (m) return <AccessReviewPage id={m.id!} />;
  if (path === "/servers") return can.seeServers(me) ? <ServersPage /> : <Forbidden what="Servers & agents" />;
  return (
    <Empty title="Page not found">
      <p>
        There is nothing at <code>{path}</code>. <Link to="/">Go to the overview</Link>.
      </p>
    </Empty>
  );
}
