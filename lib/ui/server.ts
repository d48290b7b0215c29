// `scq ui`: the review page, served on 127.0.0.1 only. Every request must carry the random token of
// this run: the page in its URL (?token=), the API calls in the X-SCQ-Token header (a header, not a
// cookie, so another site cannot make the browser send it). Requests whose Host or Origin is not this
// server are refused too (DNS rebinding, cross-site requests). The API is in routes.ts, what it
// answers in views.ts; the page itself (page/: HTML, CSS, and its script in TypeScript) is built once
// at start and served with a fresh nonce, so nothing but its own script and style ever runs.
import { randomBytes, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { Context } from "../core/context.ts";
import { errorMessage, HttpError, JobNotFoundError, ScqError } from "../core/errors.ts";
import { APP_DIR } from "../core/paths.ts";
import { apiRoutes } from "./routes.ts";

export interface UiServer {
  url: string;
  origin: string;
  token: string;
  close(): Promise<void>;
}

const PAGE_DIR = path.join(APP_DIR, "lib", "ui", "page");

/** The page as one HTML document: its CSS and its script (page.ts, bundled by esbuild) inlined. */
async function buildPage(): Promise<string> {
  const { build } = await import("esbuild");
  const script = await build({
    entryPoints: [path.join(PAGE_DIR, "page.ts")],
    bundle: true,
    write: false,
    format: "iife",
    target: "es2022",
    logLevel: "silent",
  });
  const js = script.outputFiles[0]!.text;
  const css = await fs.promises.readFile(path.join(PAGE_DIR, "page.css"), "utf8");
  const html = await fs.promises.readFile(path.join(PAGE_DIR, "page.html"), "utf8");
  // Functions as replacements: a "$&" in the script or CSS stays as it is.
  return html.replace("/*__CSS__*/", () => css).replace("/*__JS__*/", () => js.replaceAll("</script", "<\\/script"));
}

export async function startUiServer(ctx: Context, options: { port?: number } = {}): Promise<UiServer> {
  const token = randomBytes(24).toString("base64url");
  const page = await buildPage();
  const routes = apiRoutes(ctx);
  let origin = "";
  let hosts: string[] = [];

  const tokenOk = (given: string | null | undefined) => {
    const a = Buffer.from(given ?? "");
    const b = Buffer.from(token);
    return a.length === b.length && timingSafeEqual(a, b);
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", origin);
    if (!hosts.includes(req.headers.host ?? "")) throw new HttpError(403, "wrong Host");
    if (req.headers.origin !== undefined && !hosts.some((h) => req.headers.origin === `http://${h}`)) {
      throw new HttpError(403, "cross-origin requests are refused");
    }
    if (req.method === "GET" && url.pathname === "/") {
      if (!tokenOk(url.searchParams.get("token"))) throw new HttpError(403, "open the URL that scq ui printed (it carries the token)");
      const nonce = randomBytes(16).toString("base64");
      res.writeHead(200, {
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": `default-src 'none'; script-src 'nonce-${nonce}'; style-src 'nonce-${nonce}'; connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`,
        "referrer-policy": "no-referrer",
        "x-content-type-options": "nosniff",
        "cache-control": "no-store",
      });
      res.end(page.replaceAll("__NONCE__", nonce));
      return;
    }
    if (!url.pathname.startsWith("/api/")) throw new HttpError(404, "not found");
    if (!tokenOk(req.headers["x-scq-token"] as string | undefined)) throw new HttpError(403, "missing or wrong X-SCQ-Token");
    for (const route of routes) {
      const match = route.path.exec(url.pathname);
      if (match && req.method === route.method) return route.handle({ req, res, url, params: match.slice(1).map(decodeURIComponent) });
    }
    throw new HttpError(404, "not found");
  };

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      const status = error instanceof HttpError ? error.status : error instanceof JobNotFoundError ? 404 : error instanceof ScqError ? 409 : 500;
      if (!res.headersSent) res.writeHead(status, { "content-type": "application/json" });
      res.end(JSON.stringify({ error: status === 500 ? `internal error: ${errorMessage(error)}` : errorMessage(error) }));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", resolve);
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  hosts = [`127.0.0.1:${port}`, `localhost:${port}`];
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    // Open keep-alive connections (a page polling) would hold close() open: they are ended too.
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
