// An output file as a reviewer sees it, the owner releasing it and an output checker voting on it alike:
// a card with its name, the checks' findings, and a preview (a table's first rows with flagged cells
// marked, or an image).
import type { ChecksReport } from "../../core/schemas.ts";
import type { Preview } from "../views.ts";
import { el, type Child } from "./dom.ts";

type CheckedFile = ChecksReport["files"][number];
type Finding = CheckedFile["findings"][number];

/** One output file or log as a card: its name line, and whether a finding blocks it. */
export function fileCard(rel: string, blocking: boolean, ...name: Child[]): HTMLElement {
  return el(
    "div",
    { class: "outfile", "data-file": rel },
    el("div", { class: "name" }, ...name, blocking ? el("span", { class: "warn", text: " — blocking findings" }) : null),
  );
}

/** A checked file's findings, each with where it is and what it says; "No findings." for a file checked clean. */
export function findingsOf(r: CheckedFile | undefined): HTMLElement[] {
  const findings = r?.findings ?? [];
  if (findings.length === 0) return r ? [el("p", { class: "muted", text: "No findings." })] : [];
  const where = (x: Finding) => [x.row != null ? `row ${x.row}` : "", x.column != null ? `column "${x.column}"` : ""].filter(Boolean).join(", ");
  return [
    el(
      "ul",
      { class: "findings" },
      ...findings.map((x) =>
        el(
          "li",
          { class: x.blocking ? "blocking" : "" },
          el("code", { text: x.rule }),
          ` ${where(x)}${x.value != null ? ` = ${x.value}` : ""}: ${x.message}`,
        ),
      ),
    ),
  ];
}

/** An image as an image (never as a document, so an SVG's scripts do not run); a table with the cells findings name marked. */
export function previewOf(preview: Preview | undefined, rel: string, findings: Finding[]): HTMLElement[] {
  if (!preview) return [];
  if ("image" in preview) return [el("img", { class: "preview", src: preview.image, alt: rel })];
  const flagged = new Map(findings.filter((x) => x.row != null && x.column != null).map((x) => [`${x.row}|${x.column}`, x]));
  return [
    el(
      "table",
      { class: "preview", tabindex: "0", "aria-label": "preview" },
      el("tr", {}, ...preview.columns.map((c) => el("th", { text: c }))),
      ...preview.rows.map((row, i) =>
        el(
          "tr",
          {},
          ...row.map((v, c) => {
            const hit = flagged.get(`${i + 1}|${preview.columns[c]}`);
            return el("td", hit ? { class: "flagged", title: `${hit.rule}: ${hit.message}`, text: v } : { text: v });
          }),
        ),
      ),
    ),
  ];
}
