// The tray app's window: plain JavaScript over Tauri's IPC (window.__TAURI__), no build step.
"use strict";
const { invoke } = window.__TAURI__.core;
const { listen } = window.__TAURI__.event;
const $ = (id) => document.getElementById(id);
let focusId = null;

function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "onclick") e.addEventListener("click", v);
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

function notice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = !text;
  // Mirrored to a file only when the app runs under the GUI smoke test.
  invoke("test_notice", { text: text || "" }).catch(() => {});
}

async function act(promise) {
  try {
    const r = await promise;
    if (typeof r === "string") notice(r);
  } catch (e) {
    notice(String(e));
  }
}

function look(s) {
  const st = s.signin ? s.signin.state : "signed_out";
  if (st === "offline" || (s.offline && s.user)) return "offline";
  if ((st === "signed_in" || st === "refreshing") && s.approvals.length) return "approval";
  return st;
}

function render(s) {
  const st = s.signin ? s.signin.state : "signed_out";
  const who = s.user || (s.signin && s.signin.user) || null;
  $("badge").className = "badge " + look(s);
  const text = {
    signed_out: s.configured ? "Signed out" : "Not set up yet",
    authorizing: "Finish signing in in your browser…",
    signed_in: `Signed in as ${who}`,
    refreshing: `Signed in as ${who} (refreshing)`,
    offline: `${who}: offline, retrying`,
    error: (s.signin && s.signin.message) || "Sign-in failed",
  }[st] || st;
  $("status").textContent = s.offline && st === "signed_in" ? `${text} · control plane offline` : text;
  $("signin").hidden = !s.configured || !!(s.signin && s.signin.user);
  $("signout").hidden = !(s.signin && s.signin.user);
  $("setup").hidden = s.configured;
  if (s.message) notice(s.message);

  // Gateway servers and local servers get the same client actions (`gatehouse connect NAME`).
  const serverList = (list, items, meta) => {
    list.replaceChildren();
    for (const srv of items) {
      const name = srv.name;
      list.append(el("li", {},
        el("div", { class: "row" },
          el("span", { class: "name" }, name),
          el("span", { class: "meta" }, meta(srv))),
        el("div", { class: "row" },
          ...["claude", "cursor", "vscode"].map((c) =>
            el("button", { onclick: () => act(invoke("add_to_client", { client: c, server: name })) },
              "Add to " + { claude: "Claude", cursor: "Cursor", vscode: "VS Code" }[c])),
          el("button", { class: "quiet", onclick: () => act(invoke("copy_entry", { client: "claude", server: name })) }, "Copy entry"))));
    }
  };
  serverList($("servers"), s.servers, (srv) => srv.transport || "");
  $("servers-box").hidden = !s.servers.length;
  const local = s.local_servers || [];
  serverList($("local"), local, (srv) => srv.description || `masking: ${srv.masking_profile}`);
  $("local-box").hidden = !local.length;

  $("access-box").hidden = !(s.signin && s.signin.user);

  const approvals = $("approvals");
  approvals.replaceChildren();
  for (const a of s.approvals) {
    const reason = el("input", { placeholder: "Reason (goes on the record)" });
    const access = a.method === "access/request";
    const args = a.arguments || {};
    // What is approved: the arguments (masked for this approver, long values cut), the rule,
    // why it is asked, and SQL one clause a line.
    const details = el("div", { class: "details" });
    if (access) {
      details.append(el("p", {}, `asks for role ${a.tool} for ${args.duration || "?"}`));
    }
    if (a.why) details.append(el("p", { class: "why" }, (access ? "Reason: " : "Held because: ") + a.why));
    details.append(el("p", { class: "meta" }, `rule ${a.rule || "-"}`));
    for (const st of a.statements || []) details.append(el("pre", { class: "sql" }, st.text));
    if (!access) {
      details.append(el("pre", { class: "args" }, JSON.stringify(args, null, 2)));
      if (a.cut) details.append(el("p", { class: "meta" }, "Long values are cut; open the dashboard to see them whole."));
    }
    const li = el("li", { id: "approval-" + a.id },
      el("div", { class: "row" },
        el("span", { class: "name" }, `${a.requester} · ${a.tool || a.method || "call"}`),
        el("span", { class: "meta" }, a.server || "")),
      details,
      reason,
      el("div", { class: "row" },
        el("button", { class: "primary", onclick: () => act(invoke("decide", { id: a.id, approve: true, reason: reason.value })) }, "Approve"),
        el("button", { class: "deny", onclick: () => act(invoke("decide", { id: a.id, approve: false, reason: reason.value })) }, "Deny")));
    if (a.id === focusId) li.classList.add("focus");
    approvals.append(li);
  }
  $("approvals-count").textContent = s.approvals.length;

  // This person's own requests wait for others: listed, never decided here.
  const own = $("own-requests");
  own.replaceChildren();
  $("own-requests-title").hidden = !(s.own_requests || []).length;
  for (const a of s.own_requests || []) {
    const args = a.arguments || {};
    const what = a.method === "access/request"
      ? `Role ${a.tool} on ${a.server} for ${args.duration || "?"}`
      : `${a.tool || a.method} on ${a.server}`;
    own.append(el("li", { id: "own-" + a.id },
      el("div", { class: "row" }, el("span", { class: "name" }, what)),
      el("p", { class: "meta" },
        `Waiting for ${a.quorum} approval(s) from ${(a.approvers || []).join(", ")}` + (a.why ? ` · ${a.why}` : ""))));
  }
  $("approvals-box").hidden = !s.approvals.length;

  const sessions = $("sessions");
  sessions.replaceChildren();
  for (const x of s.sessions.slice(0, 8)) {
    sessions.append(el("li", { class: "row" },
      el("span", { class: "name" }, x.server),
      el("span", { class: "meta" }, (x.started_at || "").replace("T", " ").slice(0, 16))));
  }
  $("sessions-box").hidden = !s.sessions.length;
  $("spool").textContent = s.spool_pending ? `${s.spool_pending} local records waiting to upload` : "Local capture: all uploaded";
}

$("signin").addEventListener("click", () => act(invoke("sign_in")));
$("access-form").addEventListener("submit", (e) => {
  e.preventDefault();
  act(invoke("request_access", {
    server: $("access-server").value, role: $("access-role").value,
    duration: $("access-for").value, reason: $("access-reason").value,
  }));
});
$("signout").addEventListener("click", () => act(invoke("sign_out")));
$("dashboard").addEventListener("click", () => act(invoke("open_dashboard")));
$("save").addEventListener("click", () => act(invoke("setup", { gatewayUrl: $("gw").value, issuer: $("issuer").value, clientId: $("client").value })));

listen("snapshot", (e) => render(e.payload));
listen("notice", (e) => notice(e.payload));
listen("focus-approval", (e) => {
  focusId = e.payload;
  invoke("snapshot").then(render);
  const li = $("approval-" + focusId);
  if (li) li.scrollIntoView();
});
invoke("snapshot").then(render).catch((e) => notice(String(e)));
