// Where each configured data path appears to a job: its name under $DATA_DIR, and its made-up twin
// for runs on mock data. Pure: the sandbox, the output checks, the settings and the mocks all ask it.
import path from "node:path";
import type { DataPath } from "./schemas.ts";

export interface Mount {
  source: string;
  /** Its name under $DATA_DIR. */
  target: string;
  /** Its made-up twin, for dry runs and `scq try`. */
  mock: string | null;
}

/** Where each data path appears to the job: /data/<name>, by default the path's last part. */
export function dataMounts(dataPaths: DataPath[]): Mount[] {
  const seen = new Set<string>();
  return dataPaths.map((entry) => {
    const { path: source, mock, name: given } = typeof entry === "string" ? { path: entry, mock: undefined, name: undefined } : entry;
    let name = given ?? (path.basename(path.resolve(source)) || "data");
    while (seen.has(name)) name = `${name}_`;
    seen.add(name);
    return { source: path.resolve(source), target: name, mock: mock === undefined ? null : path.resolve(mock) };
  });
}

/**
 * The data paths of a run on made-up data: each mock in place of its private folder, under the same
 * name, so the code runs unchanged; a data path without a mock is not there at all.
 */
export function mockDataPaths(dataPaths: DataPath[]): DataPath[] {
  return dataMounts(dataPaths).flatMap((m) => (m.mock ? [{ path: m.mock, name: m.target }] : []));
}

/** Mock data is made-up and small: bounded like submitted code. */
export const MOCK_CAPS = { maxFiles: 10_000, maxBytes: 512 * 1024 * 1024 };
