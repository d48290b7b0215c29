// scq loads only the command it runs: the table that says which file holds which command must
// name each command by its own first word, or `scq <name>` would load the wrong one (or all).
import { describe, expect, test } from "vitest";
import { commands, commandsFor } from "../../lib/commands/index.ts";

describe("the command table", () => {
  test("each key is the first word of the command it loads, and every command is there once", async () => {
    const loaded = await Promise.all(Object.entries(commands).map(async ([name, load]) => [name, await load()] as const));
    for (const [name, command] of loaded) expect(String(command.command).split(" ")[0], name).toBe(name);
    expect(new Set(loaded.map(([, c]) => c)).size).toBe(loaded.length);
  });

  test("a named command loads that command alone; help, a typo or options first load them all", async () => {
    expect((await commandsFor(["verify", "0123abcd"])).map((c) => c.command)).toEqual(["verify <uid>"]);
    const all = Object.keys(commands).length;
    for (const args of [[], ["--help"], ["verifx"], ["--json", "status"], ["constructor"]]) expect(await commandsFor(args)).toHaveLength(all);
  });
});
