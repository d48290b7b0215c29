// A real SyftBox network on this machine: moto's S3-compatible server for the blobs, the SyftBox
// server (auth and email off, on 127.0.0.1) and one SyftBox client daemon per user, each with its
// own HOME, data folder and control port. Files move between users only through the server, which
// enforces every syft.pub.yaml. The peers are built and installed by .ci/install-peers.
import { execa, type ResultPromise } from "execa";
import fs from "fs-extra";
import net from "node:net";
import os from "node:os";
import path from "node:path";

export const SYFTBOX_VERSION = "v0.8.7";
export const PEERS = process.env.SCQ_PEERS ?? path.join(os.homedir(), ".cache", "syft-code-queue", "peers");
const SERVER_BIN = path.join(PEERS, "bin", `syftbox-server-${SYFTBOX_VERSION}`);
const CLIENT_BIN = path.join(PEERS, "bin", `syftbox-client-${SYFTBOX_VERSION}`);
export const PYTHON = path.join(PEERS, "venv", "bin", "python");
const MOTO = path.join(PEERS, "venv", "bin", "moto_server");
const BUCKET = "syftbox-test";

/** Why the network tests cannot run here, or undefined when every peer is installed. */
export function peersMissing(): string | undefined {
  const missing = [SERVER_BIN, CLIENT_BIN, PYTHON, MOTO].filter((file) => !fs.existsSync(file));
  return missing.length > 0 ? `missing ${missing.join(", ")}: run bash .ci/install-peers` : undefined;
}

/** The environment every peer gets: this one without AWS settings (a CA bundle there breaks the server's S3 client). */
function peerEnv(extra: Record<string, string>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith("AWS_")) env[key] = value;
  return { ...env, ...extra };
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

async function waitForHttp(url: string, what: string, timeoutMs = 30_000): Promise<void> {
  for (const deadline = Date.now() + timeoutMs; ; await new Promise((resolve) => setTimeout(resolve, 200))) {
    const ok = await fetch(url).then(
      (r) => r.status < 500,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`${what} did not answer at ${url} within ${timeoutMs / 1000} s`);
  }
}

async function stop(proc: ResultPromise | undefined): Promise<void> {
  if (!proc || proc.exitCode !== null) return;
  proc.kill("SIGTERM");
  const ended = await Promise.race([
    proc.then(
      () => true,
      () => true,
    ),
    new Promise((resolve) => setTimeout(() => resolve(false), 10_000)),
  ]);
  if (!ended) proc.kill("SIGKILL");
  await proc.catch(() => undefined);
}

export interface Peer {
  email: string;
  /** Its SyftBox folder: datasites/ and apps/ are inside. */
  dataDir: string;
  home: string;
  /** Its client config (~/.syftbox/config.json in its HOME), as SYFTBOX_CLIENT_CONFIG_PATH names it. */
  configPath: string;
  /** This user's copy of a datasite (their own or another's, as far as the server let it sync). */
  datasite(email: string): string;
  /** The environment of this user at a shell. */
  env(): Record<string, string>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** What the client printed so far. */
  log(): Promise<string>;
}

export interface Network {
  root: string;
  serverUrl: string;
  peers: Record<string, Peer>;
  /** The server's own answer: may `user` have `level` access to `rel` (a path under datasites/)? */
  allowed(user: string, rel: string, level: "read" | "write" | "admin"): Promise<boolean>;
  stop(): Promise<void>;
}

const LEVELS = { read: 1, write: 4, admin: 8 } as const;

export async function startNetwork(options: { emails: string[]; runsApps?: string }): Promise<Network> {
  const root = await fs.promises.mkdtemp(path.join(os.tmpdir(), "scq-net-"));
  // Open to other users: as root, jobs run as `nobody`, who must reach the job's folders below it.
  await fs.promises.chmod(root, 0o755);
  const procs: ResultPromise[] = [];
  const blobPort = await freePort();
  const moto = execa(MOTO, ["-H", "127.0.0.1", "-p", String(blobPort)], { env: peerEnv({}), extendEnv: false, reject: false, all: true });
  procs.push(moto);
  const blobUrl = `http://127.0.0.1:${blobPort}`;
  await waitForHttp(blobUrl, "the blob store");
  const bucket = await fetch(`${blobUrl}/${BUCKET}`, { method: "PUT" });
  if (!bucket.ok) throw new Error(`creating the bucket failed: ${bucket.status} ${await bucket.text()}`);

  const serverPort = await freePort();
  const serverUrl = `http://127.0.0.1:${serverPort}`;
  const serverConfig = path.join(root, "server.yaml");
  await fs.writeFile(
    serverConfig,
    [
      "http:",
      `  addr: 127.0.0.1:${serverPort}`,
      "blob:",
      `  bucket_name: ${BUCKET}`,
      "  region: us-east-1",
      `  endpoint: ${blobUrl}`,
      "  access_key: test",
      "  secret_key: test",
      "auth:",
      "  enabled: false",
      "email:",
      "  enabled: false",
      `data_dir: ${path.join(root, "server")}`,
      `log_dir: ${path.join(root, "server", "logs")}`,
      "",
    ].join("\n"),
  );
  const serverLog = path.join(root, "server.log");
  procs.push(
    execa(SERVER_BIN, ["-f", serverConfig], {
      env: peerEnv({}),
      extendEnv: false,
      reject: false,
      stdout: { file: serverLog },
      stderr: { file: serverLog },
    }),
  );
  await waitForHttp(`${serverUrl}/healthz`, "the SyftBox server");

  const peers: Record<string, Peer> = {};
  for (const email of options.emails) {
    const home = path.join(root, email.split("@")[0]!);
    const dataDir = path.join(home, "SyftBox");
    const configPath = path.join(home, ".syftbox", "config.json");
    const port = await freePort();
    await fs.outputJson(configPath, { data_dir: dataDir, email, server_url: serverUrl, client_url: `http://127.0.0.1:${port}` });
    const logFile = path.join(home, "client.log");
    let proc: ResultPromise | undefined;
    const env = () => ({ PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: home, SYFTBOX_CLIENT_CONFIG_PATH: configPath });
    const peer: Peer = {
      email,
      dataDir,
      home,
      configPath,
      datasite: (owner) => path.join(dataDir, "datasites", owner),
      env,
      async start() {
        // The daemon reads ~/.syftbox/config.json of its HOME; only the user named runs apps.
        proc = execa(CLIENT_BIN, ["daemon", "--http-addr", `127.0.0.1:${port}`, "--http-swagger=false"], {
          cwd: home,
          env: peerEnv({ HOME: home, SYFTBOX_APPS_ENABLED: email === options.runsApps ? "true" : "false" }),
          extendEnv: false,
          reject: false,
          stdout: { file: logFile, append: true },
          stderr: { file: logFile, append: true },
        });
        procs.push(proc);
        await waitForHttp(`http://127.0.0.1:${port}/`, `${email}'s SyftBox client`);
      },
      async stop() {
        await stop(proc);
      },
      log: () => fs.promises.readFile(logFile, "utf8").catch(() => ""),
    };
    peers[email] = peer;
  }
  await Promise.all(Object.values(peers).map((p) => p.start()));
  return {
    root,
    serverUrl,
    peers,
    async allowed(user, rel, level) {
      const url = new URL(`${serverUrl}/api/v1/acl/check`);
      url.searchParams.set("user", user);
      url.searchParams.set("path", rel);
      url.searchParams.set("level", String(LEVELS[level]));
      const response = await fetch(url);
      if (response.status === 200) return true;
      if (response.status === 403) return false;
      throw new Error(`acl check ${user} ${level} ${rel}: ${response.status} ${await response.text()}`);
    },
    async stop() {
      for (const proc of procs.reverse()) await stop(proc);
      if (process.env.SCQ_KEEP_NETWORK) return console.log(`network folder kept: ${root}`);
      await execa("chmod", ["-R", "u+rwx", root], { reject: false });
      await fs.remove(root);
    },
  };
}
