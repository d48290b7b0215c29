// A job's stdout/stderr, capped. The head streams straight to the log file (so a crash keeps it);
// past the cap only the last part is kept in memory; at the end the file is rewritten as
// head + a note saying how much was left out + tail. Memory stays bounded whatever the job prints.
import fs from "node:fs";
import { writeFileAtomic } from "../core/fsutil.ts";

export class CappedLog {
  private readonly headMax: number;
  private readonly tailMax: number;
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;
  private readonly sink: fs.WriteStream;

  constructor(
    private readonly file: string,
    maxBytes: number,
  ) {
    this.headMax = Math.floor(maxBytes / 2);
    this.tailMax = maxBytes - this.headMax;
    this.sink = fs.createWriteStream(file, { flags: "w" });
  }

  get truncated(): boolean {
    return this.total > this.headMax + this.tailMax;
  }

  write(chunk: Buffer): void {
    this.total += chunk.length;
    let rest = chunk;
    if (this.headBytes < this.headMax) {
      const take = rest.subarray(0, this.headMax - this.headBytes);
      this.sink.write(take);
      this.headBytes += take.length;
      rest = rest.subarray(take.length);
    }
    if (rest.length === 0) return;
    this.tail.push(rest);
    this.tailBytes += rest.length;
    while (this.tailBytes - (this.tail[0]?.length ?? 0) >= this.tailMax) {
      this.tailBytes -= this.tail.shift()!.length;
    }
  }

  /** Close the file; when the tail was kept apart, rewrite the file as head + note + tail. */
  async finish(): Promise<void> {
    await new Promise<void>((resolve, reject) => this.sink.end((error?: Error | null) => (error ? reject(error) : resolve())));
    if (this.tailBytes === 0) return;
    let tail = Buffer.concat(this.tail);
    if (tail.length > this.tailMax) tail = tail.subarray(tail.length - this.tailMax);
    const head = await fs.promises.readFile(this.file);
    const omitted = this.total - head.length - tail.length;
    const note =
      omitted > 0
        ? Buffer.from(
            `\n[... ${omitted} bytes left out: each log keeps its first and last ${Math.round(this.tailMax / 1024)} KB (limits.max_log_kb) ...]\n`,
          )
        : Buffer.alloc(0);
    await writeFileAtomic(this.file, Buffer.concat([head, note, tail]));
  }
}
