// An output checker's review on the page: a job whose owner listed them as an output checker, each
// file with its checks, a preview and the log text, and a vote on each file that takes one (approve,
// request changes, undecided) with a comment. Blind until enough reviews are in: then the others'
// votes and each file's decision are shown too. The votes are written as `scq output-vote` writes
// them; the owner's next pass records them.
import type { OutputCheckDetail } from "../views.ts";
import { $, api, el, errorText } from "./dom.ts";
import { fileCard, findingsOf, previewOf } from "./files.ts";

const VOTES = [
  ["approve", "approve"],
  ["request_changes", "request changes"],
  ["undecided", "undecided"],
] as const;
type Vote = (typeof VOTES)[number][0];
const said = (vote: Vote) => VOTES.find(([v]) => v === vote)![1];

const where = (owner: string, uid: string) => `/api/output-checks/${encodeURIComponent(owner)}/${encodeURIComponent(uid)}`;

/** Draw one job's review in the detail pane; `current` says whether it is still the one asked for when the answer comes. */
export async function openOutputCheck(owner: string, uid: string, current: () => boolean): Promise<void> {
  try {
    const d = await api<OutputCheckDetail>(where(owner, uid));
    if (current()) $("detail").replaceChildren(...reviewPane(d));
  } catch (e) {
    if (current()) $("detail").replaceChildren(el("p", { class: "error", text: `Cannot open the output review: ${errorText(e)}` }));
  }
}

function reviewPane(d: OutputCheckDetail): HTMLElement[] {
  const v = d.view;
  const choices = new Map<string, { vote: HTMLSelectElement; comment: HTMLInputElement }>();
  const parts: HTMLElement[] = [
    el("h2", { text: v.name }),
    el("p", { class: "muted", text: `${v.uid} · from ${v.requester} · output held on ${d.owner}'s datasite` }),
    el("p", {
      id: "review-state",
      text: v.blind
        ? `Blind review: the other checkers' votes and each file's decision are shown once ${v.required} review(s) are in (${v.reviews_in} so far).`
        : "The reviews are in: every checker's votes and each file's decision are shown.",
    }),
  ];
  for (const f of v.files) {
    const r = d.checks?.files.find((c) => c.path === f.path);
    const log = f.path.startsWith("run-logs/") ? (f.path.endsWith("stderr.txt") ? d.logs.stderr : d.logs.stdout) : null;
    const card = fileCard(f.path, f.blocking > 0, el("code", { text: f.path }), r ? ` (${r.bytes} bytes)` : "");
    // (A log's description is the checks' own, not the requester's.)
    if (r?.description && log === null) card.append(el("p", { text: `The requester says: ${r.description}` }));
    card.append(...findingsOf(r), ...previewOf(d.previews[f.path], f.path, r?.findings ?? []));
    if (log !== null) card.append(el("pre", { class: "code", tabindex: "0", "aria-label": f.path }, log));
    if (f.supporting) {
      card.append(el("p", { class: "muted", text: "Supporting file: shown to explain the others; never released, takes no vote." }));
      parts.push(card);
      continue;
    }
    if (f.decision) {
      const votes = (f.votes ?? []).map((x) => `${x.by}: ${said(x.vote)}${x.comment ? ` ("${x.comment}")` : ""}`).join("; ");
      card.append(el("p", { class: f.decision === "approved" ? "checkers" : "checkers warn", text: `Decision: ${f.decision} (${votes})` }));
    }
    const vote = el(
      "select",
      { class: "vote", "aria-label": `Your vote on ${f.path}` },
      el("option", { value: "", text: "your vote…" }),
      ...VOTES.map(([value, text]) => el("option", { value, text })),
    );
    vote.value = f.mine?.vote ?? "";
    const comment = el("input", {
      type: "text",
      class: "vote-comment",
      "aria-label": `Your comment on ${f.path}`,
      placeholder: "Comment (the owner reads it, the other checkers once the reviews are in)",
    });
    comment.value = f.mine?.comment ?? "";
    choices.set(f.path, { vote, comment });
    card.append(el("div", { class: "decide" }, vote, comment));
    parts.push(card);
  }
  const msg = el("div", { class: "msg", id: "vote-msg" });
  const send = async () => {
    const files = Object.fromEntries(
      [...choices].filter(([, c]) => c.vote.value !== "").map(([rel, c]) => [rel, { vote: c.vote.value, comment: c.comment.value.trim() }]),
    );
    if (Object.keys(files).length === 0) {
      msg.textContent = "Choose a vote on at least one file.";
      msg.className = "msg error";
      return;
    }
    try {
      await api(`${where(d.owner, v.uid)}/votes`, { method: "POST", body: JSON.stringify({ files }) });
      msg.textContent = `Your votes on ${Object.keys(files).length} file(s) are written: ${d.owner}'s next pass records them.`;
      msg.className = "msg ok";
    } catch (e) {
      msg.textContent = errorText(e);
      msg.className = "msg error";
    }
  };
  if (choices.size > 0)
    parts.push(
      el(
        "div",
        { class: "decide" },
        el("button", { id: "send-votes", class: "approve", type: "button", onclick: () => void send(), text: "Send votes" }),
      ),
      msg,
    );
  return parts;
}
