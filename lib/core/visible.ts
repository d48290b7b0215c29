// Text from a job (code, logs, names, metadata, findings) is shown to people who decide on it. Control
// characters can rewrite what a terminal shows (a carriage return or cursor move hides a line, colour
// codes hide text), and Unicode bidirectional controls make an editor or a browser show code in another
// order than it runs ("Trojan Source"). So everything shown is passed through `visible`, which replaces
// each such character by a visible name, e.g. ⟨ESC⟩ or ⟨U+202E⟩. Newlines, tabs and CR LF line ends stay.

const NAMES: Record<number, string> = { 0: "NUL", 7: "BEL", 8: "BS", 11: "VT", 12: "FF", 13: "CR", 27: "ESC", 127: "DEL" };

// C0 controls but tab and newline, a CR not followed by LF, DEL and C1 controls, and the Unicode
// format characters that reorder or hide text: ALM, LRM/RLM, zero-width ones, embeddings, overrides,
// isolates, word joiner and invisible operators, BOM.
// eslint-disable-next-line no-control-regex
const INVISIBLE = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff]|\r(?!\n)/g;

export function visible(text: string): string {
  return text.replace(INVISIBLE, name);
}

function name(c: string): string {
  const code = c.codePointAt(0)!;
  return `⟨${NAMES[code] ?? `U+${code.toString(16).toUpperCase().padStart(4, "0")}`}⟩`;
}

// The only escape sequences the CLI writes itself: a foreground colour (31–36) and its reset. They
// cannot hide text, so output painted by the CLI keeps them; every other control is made visible.
// eslint-disable-next-line no-control-regex
const OWN_COLOUR = /\u001b\[(3[1-6]|39)m/y;

/** `visible`, keeping the CLI's own colour codes (for text the CLI has already painted). */
export function visibleKeepingColour(text: string): string {
  return text.replace(INVISIBLE, (c, offset: number) => {
    OWN_COLOUR.lastIndex = offset;
    return c === "\u001b" && OWN_COLOUR.test(text) ? c : name(c);
  });
}

/** Does the text hold characters that `visible` would rewrite? (An advisory finding in review.) */
export function hasInvisible(text: string): boolean {
  INVISIBLE.lastIndex = 0;
  const found = INVISIBLE.test(text);
  INVISIBLE.lastIndex = 0;
  return found;
}

/** `visible` applied to every string inside a JSON-like value (for the review page's answers). */
export function visibleDeep<T>(value: T): T {
  if (typeof value === "string") return visible(value) as T;
  if (Array.isArray(value)) return value.map((v: unknown) => visibleDeep(v)) as T;
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, visibleDeep(v)])) as T;
  }
  return value;
}
