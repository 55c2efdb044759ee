// Talks to the server with the token as a Bearer header. The token lives in sessionStorage (this tab
// only, gone when it closes) and never in a URL.
const KEY = "openkv.token";

export const session = {
  get token() {
    return sessionStorage.getItem(KEY);
  },
  set token(t) {
    if (t === null) sessionStorage.removeItem(KEY);
    else sessionStorage.setItem(KEY, t);
  },
};

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function errorOf(res) {
  const text = await res.text();
  try {
    const body = JSON.parse(text);
    if (body?.error?.message) return new ApiError(res.status, body.error.message);
    if (Array.isArray(body?.errors) && body.errors[0]?.message) return new ApiError(res.status, body.errors[0].message);
  } catch {}
  return new ApiError(res.status, text || `HTTP ${res.status}`);
}

/** A request with the token; the response when it is 2xx, else an ApiError with the server's message. */
export async function request(method, path, body, { raw = false, contentType = "application/json" } = {}) {
  const headers = { authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["content-type"] = contentType;
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : raw ? body : JSON.stringify(body) });
  if (!res.ok) throw await errorOf(res);
  return res;
}

export const getJson = async (path) => (await request("GET", path)).json();
export const postJson = async (path, body) => (await request("POST", path, body)).json();

// Cloudflare REST v4 answers in its envelope: the result, or the first error's message.
export async function cf(method, path, body) {
  const res = await request(method, `/client/v4${path}`, body);
  const env = await res.json();
  return env.result;
}

export const dash = (nsId, verb, body) => postJson(`/_openkv/v1/dashboard/ns/${encodeURIComponent(nsId)}/${verb}`, body);

/** Every namespace the token sees, a page of 1,000 at a time, by title. */
export async function allNamespaces(accountId) {
  const all = [];
  for (let page = 1; ; page++) {
    const items = await cf("GET", `/accounts/${accountId}/storage/kv/namespaces?per_page=1000&page=${page}&order=title`);
    all.push(...items);
    if (items.length < 1000) return all;
  }
}

/** `action` as an event handler that shows its error through `setError` instead of throwing. */
export const guarded = (setError, action) => async (...args) => {
  setError(null);
  try {
    await action(...args);
  } catch (e) {
    setError(e.message);
  }
};
