// What every part of the page draws with: elements built with text only (never HTML), the page's own
// elements by id, and the API, which takes the token the URL carried.
export type Child = Node | string | number | null | undefined;
type Attrs = Record<string, string | number | null | undefined | ((e: Event) => unknown)>;

export const token = new URLSearchParams(location.search).get("token") || "";

/** An element the page's HTML has: its absence is a bug in page.html, said at once. */
export function $<T extends HTMLElement = HTMLInputElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`page.html has no #${id}`);
  return node as T;
}

export const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined) continue;
    if (typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "class") node.className = String(v);
    else if (k === "text") node.textContent = String(v);
    else node.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

export async function api<T>(path: string, options: RequestInit = {}): Promise<T> {
  const res = await fetch(path, {
    ...options,
    headers: { "x-scq-token": token, ...(options.body ? { "content-type": "application/json" } : {}) },
  });
  const body = (res.headers.get("content-type")?.includes("json") ? await res.json() : null) as (T & { error?: string }) | null;
  if (!res.ok) throw new Error(body?.error || `HTTP ${res.status}`);
  return body as T;
}
