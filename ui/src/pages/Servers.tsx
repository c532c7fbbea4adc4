import { useState } from "react";
import { ApiError, errorText, post } from "../api";
import { can, useMe } from "../auth";
import { Empty, ErrorBanner, Loading, Notice, PageHeader, Section, Time } from "../components/ui";
import { DiffView } from "../components/CodeView";
import { ago, num } from "../lib/format";
import { useApi } from "../lib/useApi";
import { Link } from "../router";
import type { AgentInfo, PendingPin, ServerInfo } from "../types";

export function ServersPage() {
  const servers = useApi<{ servers: ServerInfo[] }>("/api/v1/servers");
  const agents = useApi<{ agents: AgentInfo[] }>("/api/v1/agents");
  const [done, setDone] = useState<string | null>(null);
  const list = servers.data?.servers ?? [];
  const pins = list.flatMap((s) => s.pending_pins.map((p) => ({ server: s.name, pin: p })));

  return (
    <>
      <PageHeader
        title="Servers & agents"
        subtitle="The MCP servers behind the gateway, the agents that reach private networks, and tool definitions that changed."
      />
      {done ? <Notice kind="success">{done}</Notice> : null}
      {servers.data && pins.length > 0 ? (
        <Section title={`Tool changes waiting for review (${pins.length})`} id="pins">
          <p className="small">
            A tool's name, description or input schema changed since it was first pinned. On servers with <code>pin_tools</code>{" "}
            the tool is blocked until an admin accepts the new definition; rejecting keeps the pinned one.
          </p>
          <ul className="pins">
            {pins.map(({ server, pin }) => (
              <PinAlert
                key={`${server}/${pin.tool}`}
                server={server}
                pin={pin}
                onDone={(m) => {
                  setDone(m);
                  servers.reload();
                }}
              />
            ))}
          </ul>
        </Section>
      ) : null}
      <Section title="Servers" id="servers">
        <ErrorBanner error={servers.error} onRetry={servers.reload} />
        {servers.loading && !servers.data ? <Loading what="servers" /> : null}
        {servers.data && list.length === 0 ? (
          <Empty title="No servers are configured">
            <p>
              Add a <code>[[servers]]</code> table to <code>gatehouse.toml</code> (a URL, a stdio command, or an agent) and
              restart.
            </p>
          </Empty>
        ) : null}
        {list.length ? (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Server</th>
                <th scope="col">Reached by</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Open sessions
                </th>
                <th scope="col">Last session</th>
                <th scope="col">Tool pins</th>
              </tr>
            </thead>
            <tbody>
              {list.map((s) => (
                <tr key={s.name}>
                  <td>
                    <Link to={`/sessions?server=${encodeURIComponent(s.name)}`} className="strong">
                      {s.name}
                    </Link>
                    <span className="muted small block">
                      <code>/mcp/{s.name}</code>
                    </span>
                  </td>
                  <td>
                    {s.transport === "stdio"
                      ? "stdio command"
                      : s.transport === "sse"
                        ? "HTTP + SSE (legacy)"
                        : "Streamable HTTP"}
                  </td>
                  <td>
                    {s.open_sessions > 0 ? (
                      <span className="badge badge-live">in use</span>
                    ) : (
                      <span className="badge badge-muted">idle</span>
                    )}
                  </td>
                  <td className="num">{num(s.open_sessions)}</td>
                  <td>
                    {s.last_session_at ? (
                      <span title={s.last_session_at}>{ago(s.last_session_at)}</span>
                    ) : (
                      <span className="muted">never</span>
                    )}
                  </td>
                  <td>
                    {s.pending_pins.length ? (
                      <span className="badge badge-warn">{s.pending_pins.length} changed</span>
                    ) : (
                      <span className="muted">
                        {s.tools_pinned !== undefined ? `${num(s.tools_pinned)} pinned, none changed` : "none changed"}
                      </span>
                    )}
                    {s.pin_tools !== undefined ? (
                      <span className="muted small block">
                        {s.pin_tools ? "changed tools are blocked" : "changes are only recorded"}
                      </span>
                    ) : null}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Section>
      <Section title="Agents" id="agents">
        {agents.error instanceof ApiError && agents.error.status === 404 ? (
          <Empty title="This control plane does not report agents">
            <p>
              Its API has no agent list. Servers reached through <code>gatehouse-agent</code> still show above.
            </p>
          </Empty>
        ) : (
          <ErrorBanner error={agents.error} onRetry={agents.reload} />
        )}
        {agents.loading && !agents.data ? <Loading what="agents" /> : null}
        {agents.data && agents.data.agents.length === 0 ? (
          <Empty title="No agents have connected">
            <p>
              Servers in private networks are reached through <code>gatehouse-agent</code>, which dials out to this control plane.
              Run it next to those servers with an agent token; it appears here once connected.
            </p>
          </Empty>
        ) : null}
        {agents.data && agents.data.agents.length ? (
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Agent</th>
                <th scope="col">Status</th>
                <th scope="col">Version</th>
                <th scope="col">Serves</th>
                <th scope="col">Last seen</th>
              </tr>
            </thead>
            <tbody>
              {agents.data.agents.map((a) => (
                <tr key={a.name}>
                  <td className="strong">{a.name}</td>
                  <td>
                    {a.connected ? (
                      a.drained ? (
                        <span className="badge badge-warn">draining</span>
                      ) : (
                        <span className="badge badge-ok">connected</span>
                      )
                    ) : (
                      <span className="badge badge-bad">disconnected</span>
                    )}
                  </td>
                  <td className="mono">{a.last_version ?? ""}</td>
                  <td>{a.assigned_servers.length ? a.assigned_servers.join(", ") : <span className="muted">none</span>}</td>
                  <td>
                    {a.last_seen ? <span title={a.last_seen}>{ago(a.last_seen)}</span> : <span className="muted">never</span>}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        ) : null}
      </Section>
    </>
  );
}

function PinAlert({ server, pin, onDone }: { server: string; pin: PendingPin; onDone: (msg: string) => void }) {
  const me = useMe();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const act = async (verb: "accept" | "reject") => {
    setBusy(true);
    setError(null);
    try {
      await post(`/api/v1/pins/${encodeURIComponent(server)}/${encodeURIComponent(pin.tool)}/${verb}`);
      onDone(
        verb === "accept"
          ? `Accepted the new definition of ${server}/${pin.tool}.`
          : `Rejected the change to ${server}/${pin.tool}; the pinned definition stays.`,
      );
    } catch (e) {
      setError(errorText(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <li className="pin" data-testid="pin-alert">
      <div className="pin-head">
        <span>
          <strong>
            {server} / {pin.tool}
          </strong>{" "}
          <span className="muted small">
            changed <Time at={pin.changed_at} />
          </span>
        </span>
        {can.managePins(me) ? (
          <span className="pin-actions">
            <button type="button" className="btn btn-primary btn-small" disabled={busy} onClick={() => act("accept")}>
              Accept new definition
            </button>
            <button type="button" className="btn btn-danger btn-small" disabled={busy} onClick={() => act("reject")}>
              Reject
            </button>
          </span>
        ) : (
          <span className="muted small">An admin must review it.</span>
        )}
      </div>
      <DiffView
        before={JSON.stringify(pin.definition, null, 2)}
        after={JSON.stringify(pin.pending_definition, null, 2)}
        label={`Definition change of ${pin.tool}`}
      />
      {error ? (
        <p className="form-error" role="alert">
          {error}
        </p>
      ) : null}
    </li>
  );
}
