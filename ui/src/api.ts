// A small typed client for the control plane's JSON API. Same origin, cookie auth; every
// unsafe request carries the CSRF header the API requires. Errors surface the API's own
// `{"error": "..."}` sentence so people see what the server said.

export class ApiError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
    this.name = "ApiError";
  }
}

type Listener = () => void;
const signedOutListeners = new Set<Listener>();

/** Called whenever any request answers 401: the app swaps to the sign-in screen. */
export function onSignedOut(l: Listener): () => void {
  signedOutListeners.add(l);
  return () => signedOutListeners.delete(l);
}

async function errorMessage(res: Response): Promise<string> {
  const text = await res.text().catch(() => "");
  try {
    const body = JSON.parse(text) as { error?: unknown };
    if (typeof body.error === "string" && body.error) return body.error;
  } catch {
    // not JSON: fall through to the status line
  }
  if (res.status === 403) return "You do not have permission to do this (403).";
  if (res.status === 404) return "Not found (404).";
  return text.trim().slice(0, 300) || `The server answered ${res.status} ${res.statusText}.`;
}

interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  json?: unknown;
  text?: string;
  signal?: AbortSignal;
}

export async function request<T>(path: string, opts: RequestOptions = {}): Promise<T> {
  const method = opts.method ?? "GET";
  const headers: Record<string, string> = { Accept: "application/json" };
  let body: string | undefined;
  if (method !== "GET") headers["X-Gatehouse-Request"] = "1";
  if (opts.json !== undefined) {
    headers["Content-Type"] = "application/json";
    body = JSON.stringify(opts.json);
  } else if (opts.text !== undefined) {
    headers["Content-Type"] = "text/plain; charset=utf-8";
    body = opts.text;
  }
  let res: Response;
  try {
    res = await fetch(path, { method, headers, body, credentials: "same-origin", signal: opts.signal });
  } catch (e) {
    if (e instanceof DOMException && e.name === "AbortError") throw e;
    throw new ApiError(0, "Cannot reach the Gatehouse control plane. Check your connection and try again.");
  }
  if (res.status === 401) {
    signedOutListeners.forEach((l) => l());
    throw new ApiError(401, "Your sign-in has expired. Sign in again.");
  }
  if (!res.ok) throw new ApiError(res.status, await errorMessage(res));
  if (res.status === 204) return undefined as T;
  const type = res.headers.get("content-type") ?? "";
  if (!type.includes("json")) return undefined as T;
  return (await res.json()) as T;
}

export const get = <T>(path: string, signal?: AbortSignal) => request<T>(path, { signal });
export const post = <T>(path: string, json?: unknown) => request<T>(path, { method: "POST", json: json ?? {} });
export const postText = <T>(path: string, text: string, signal?: AbortSignal) =>
  request<T>(path, { method: "POST", text, signal });

/** `?a=1&b=2` from the set entries of an object. */
export function query(params: Record<string, string | number | boolean | null | undefined>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === "" || v === false) continue;
    q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

export function errorText(e: unknown): string {
  if (e instanceof Error) return e.message;
  return String(e);
}

// Requests started before React mounts (see main.tsx), so a page's first data does not wait
// for the sign-in check: the Sessions list and /api/v1/me travel in parallel.
const early = new Map<string, Promise<unknown>>();

export function startEarly(path: string) {
  const p = get<unknown>(path);
  p.catch(() => undefined);
  early.set(path, p);
}

/** The early request for exactly `path`, once; later loads fetch afresh. */
export function takeEarly<T>(path: string): Promise<T> | undefined {
  const p = early.get(path);
  early.delete(path);
  return p as Promise<T> | undefined;
}
