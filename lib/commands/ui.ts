import fs from "node:fs";
import path from "node:path";
import type { CommandModule } from "yargs";
import { writeFileAtomic } from "../core/fsutil.ts";
import { startUiServer } from "../ui/server.ts";
import { contextFrom, datasiteOption, type GlobalArgs } from "./shared.ts";

interface Args extends GlobalArgs {
  port?: number;
  "url-file"?: string;
}

export const uiCommand: CommandModule<GlobalArgs, Args> = {
  command: "ui",
  describe: "serve the review page on 127.0.0.1 (the printed URL carries its access token)",
  builder: (y) =>
    datasiteOption(y)
      .option("port", {
        type: "number",
        describe: "port to listen on (default $SYFTBOX_ASSIGNED_PORT, else a free one)",
      })
      .option("url-file", {
        type: "string",
        describe: "also write the page's URL (with its token) to this file, readable by you only (run.sh --loop uses it)",
      }),
  handler: async (argv) => {
    const ctx = await contextFrom(argv);
    const assigned = process.env.SYFTBOX_ASSIGNED_PORT ? Number(process.env.SYFTBOX_ASSIGNED_PORT) : undefined;
    const server = await startUiServer(ctx, { port: argv.port ?? assigned ?? 0 });
    // Readable by its owner only: the URL carries the page's token.
    if (argv["url-file"]) {
      fs.mkdirSync(path.dirname(argv["url-file"]), { recursive: true });
      await writeFileAtomic(argv["url-file"], `${server.url}\n`, { mode: 0o600, durable: false });
    }
    if (argv.json) process.stdout.write(`${JSON.stringify({ url: server.url, origin: server.origin })}\n`);
    else {
      const whose = ctx.datasite ? `${ctx.email}, reviewing the queue of ${ctx.datasite} as an approver` : ctx.email;
      process.stdout.write(`Review page for ${whose}: ${server.url}\nOnly this URL (with its token) opens it. Ctrl-C to stop.\n`);
    }
    await new Promise<void>((resolve) => {
      const stop = () => void server.close().then(resolve);
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
  },
};
