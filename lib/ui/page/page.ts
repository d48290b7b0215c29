// The review page's script, bundled by esbuild when `scq ui` starts (server.ts). Its types come from
// what the server answers (views.ts), so a change on one side that the other does not follow fails
// `npm run typecheck`.
// Everything shown comes from submitted jobs and is hostile: it is only ever set with textContent.
import type { Brief, JobDetail, JobList, JobSummary, Overview } from "../views.ts";
import { $, api, el, errorText, token, type Child } from "./dom.ts";
import { fileCard, findingsOf, previewOf } from "./files.ts";
import { openOutputCheck } from "./output-check.ts";

type View = "owner" | "requester";
type SortKey = "name" | "who" | "status" | "created_at";
type Action = "approve" | "reject";

const state: {
  jobs: JobSummary[];
  me: string;
  reviewing?: string;
  view: View;
  sort: SortKey;
  desc: boolean;
  selected: Set<string>;
  open: string | null;
  shown: string;
  openSeq: number;
  etag: string;
  counts: Record<string, number>;
  total: number;
  next: string | null;
  limit: number;
  inFlight: boolean;
} = {
  jobs: [],
  me: "",
  view: "owner",
  sort: "created_at",
  desc: true,
  selected: new Set(),
  open: null,
  // What the detail pane shows of the open job ("status/output_review"), and the latest request for it.
  shown: "",
  openSeq: 0,
  etag: "",
  counts: {},
  total: 0,
  next: null,
  limit: 50,
  inFlight: false,
};

function age(iso: string): string {
  const s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
  return s < 60 ? `${Math.round(s)}s` : s < 3600 ? `${Math.floor(s / 60)}m` : s < 86400 ? `${Math.floor(s / 3600)}h` : `${Math.floor(s / 86400)}d`;
}
const label = (j: JobSummary) =>
  j.taken_in === false
    ? "submitted"
    : j.status === "pending" && j.waiting_decision
      ? `${j.waiting_decision.vote ? "voted to " : ""}${j.waiting_decision.decision === "approve" ? "approve" : "reject"}${j.waiting_decision.vote ? "" : "d"} · next pass`
      : j.status;
const badge = (j: JobSummary) =>
  el("span", { class: `badge ${j.status}`, text: label(j) + (j.output_review === "pending" ? " · output in review" : "") });

// The server searches and filters the whole queue and sends one page; the page sorts what it has.
function visible(): JobSummary[] {
  const who = (j: JobSummary) => (state.view === "owner" ? j.requester_email : j.owner);
  const keys: Record<SortKey, (j: JobSummary) => string> = {
    name: (j) => j.name.toLowerCase(),
    who,
    status: (j) => j.status,
    created_at: (j) => j.created_at,
  };
  const key = keys[state.sort];
  return [...state.jobs].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0) * (state.desc ? -1 : 1));
}

function render() {
  $("me").textContent = state.reviewing && state.reviewing !== state.me ? `${state.me}, approver for ${state.reviewing}` : state.me;
  $("who-head").textContent = state.view === "owner" ? "From" : "To";
  const counts = $("counts");
  counts.replaceChildren(
    ...["pending", "approved", "running", "completed", "failed", "rejected"].map((s) =>
      el("span", { class: `badge ${s}`, "data-count": s, text: `${s} ${state.counts[s] ?? 0}` }),
    ),
  );
  const rows = visible();
  $("rows").replaceChildren(
    ...rows.map((j) =>
      el(
        "tr",
        {
          "data-uid": j.uid,
          class: state.open === j.uid ? "sel" : "",
          // Reached with Tab like a link, opened with Enter or Space: the list works without a mouse.
          tabindex: "0",
          "aria-label": `${j.name}, ${label(j)}, open`,
          onclick: (e) => {
            if ((e.target as HTMLInputElement).type !== "checkbox") void openJob(j.uid, true);
          },
          onkeydown: (e) => {
            const key = (e as KeyboardEvent).key;
            if (e.target !== e.currentTarget || (key !== "Enter" && key !== " ")) return;
            e.preventDefault();
            void openJob(j.uid, true);
          },
        },
        el(
          "td",
          {},
          state.view === "owner" && j.status === "pending"
            ? el("input", {
                type: "checkbox",
                "aria-label": `select ${j.name}`,
                ...(state.selected.has(j.uid) ? { checked: "" } : {}),
                onchange: (e) => {
                  if ((e.target as HTMLInputElement).checked) state.selected.add(j.uid);
                  else state.selected.delete(j.uid);
                  updateBatch();
                },
              })
            : "",
        ),
        el("td", {}, el("strong", { text: j.name }), el("div", { class: "muted", text: j.uid.slice(-8) })),
        el(
          "td",
          {},
          state.view === "owner" ? j.requester_email : j.owner,
          j.sender === "unverified" ? el("div", { class: "warn", text: "sender unverified" }) : null,
        ),
        el("td", {}, badge(j)),
        el("td", { text: age(j.created_at) }),
        el("td", {}, ...j.tags.map((t) => el("span", { class: "tag", text: t }))),
      ),
    ),
  );
  $("empty").hidden = rows.length > 0;
  $("more").hidden = !state.next;
  $("shown").textContent = rows.length ? `${rows.length} shown of ${state.total}` : "";
  $("batch").hidden = state.view !== "owner";
  updateBatch();
}

function updateBatch() {
  for (const uid of [...state.selected]) if (!state.jobs.some((j) => j.uid === uid && j.status === "pending")) state.selected.delete(uid);
  $("selected").textContent = `${state.selected.size} selected`;
  $<HTMLButtonElement>("batch-approve").disabled = $<HTMLButtonElement>("batch-reject").disabled = state.selected.size === 0;
}

const KEYWORDS =
  /\b(if|then|else|elif|fi|for|while|do|done|case|esac|function|return|import|from|def|class|with|as|in|not|and|or|try|except|finally|const|let|var|export|set|echo|exit|local|async|await|new|None|True|False|null|true|false)\b/;
/**
 * How a file's language writes a comment, by its extension: greying out live code as a comment would
 * hide it from a reviewer who skims (Python's `//` is integer division, a shell's `#` starts a comment).
 */
const SLASH_COMMENTS = /\.(js|mjs|cjs|ts|tsx|jsx|c|h|cc|cpp|hpp|java|go|rs|swift|kt|scala|cs)$/i;
const HASH_COMMENTS = /(^|\/)(run\.sh|[^/]*\.(sh|bash|py|r|rb|pl|yaml|yml|toml|cfg|ini|txt|jl)|Dockerfile|Makefile|requirements[^/]*)$/i;

function commentOf(file: string): string {
  if (SLASH_COMMENTS.test(file)) return String.raw`\/\/.*$`;
  if (HASH_COMMENTS.test(file)) return "#.*$";
  return String.raw`(?!)`; // no comment syntax known: nothing is greyed out
}

function highlight(line: string, comment: string): Node[] {
  // A small tokenizer: comments, strings, $variables and keywords; the rest plain text.
  const out: Node[] = [];
  const re = new RegExp(
    String.raw`(${comment})|("(?:[^"\\]|\\.)*"?|'(?:[^'\\]|\\.)*'?)|(\$\{?[A-Za-z_][A-Za-z0-9_]*\}?)|([A-Za-z_]+)|([^A-Za-z_"'#$/]+|.)`,
    "g",
  );
  let m: RegExpExecArray | null;
  while ((m = re.exec(line))) {
    if (m[1]) out.push(el("span", { class: "c", text: m[1] }));
    else if (m[2]) out.push(el("span", { class: "s", text: m[2] }));
    else if (m[3]) out.push(el("span", { class: "v", text: m[3] }));
    else if (m[4] && KEYWORDS.test(m[4]) && m[4].match(KEYWORDS)?.[0] === m[4]) out.push(el("span", { class: "k", text: m[4] }));
    else out.push(document.createTextNode(m[0]));
    if (m[0] === "") re.lastIndex++;
  }
  return out;
}

/** A file's code with line numbers; `onLine`, when given, makes each number a button (to comment on that line). */
function codeBlock(text: string, file: string, onLine?: (line: number) => void): HTMLElement {
  const comment = commentOf(file);
  const lines = text.replace(/\n$/, "").split("\n");
  const number = (i: number) =>
    onLine
      ? el("button", {
          class: "ln",
          type: "button",
          "aria-label": `comment on ${file} line ${i + 1}`,
          onclick: () => onLine(i + 1),
          text: String(i + 1),
        })
      : el("span", { class: "ln", text: String(i + 1) });
  // Focusable, so a long line can be scrolled to with the keyboard too.
  return el(
    "pre",
    { class: "code", tabindex: "0", "aria-label": "code" },
    ...lines.flatMap((line, i) => [number(i), ...highlight(line, comment), "\n"]),
  );
}

/** A comment on a line, as the page shows it wherever it appears: its place, then what it says. */
function commentParts(c: { file: string; line: number; text: string }): Child[] {
  return [el("code", { text: `${c.file}:${c.line}` }), ` ${c.text}`];
}

// What changed since the revision the reviewer returned for changes, file by file as `diff -u`
// shows it, and the comments they left on that revision's lines.
function revisionSection(r: NonNullable<JobDetail["revision"]>): HTMLElement[] {
  const blocks: HTMLElement[] = [el("h3", { text: `Changes since the revision you returned (${r.revises.slice(-8)})` })];
  if (r.unavailable) return [...blocks, el("p", { class: "warn", text: `Cannot compare: ${r.unavailable}` })];
  if (r.changes.length === 0) blocks.push(el("p", { class: "muted", text: "None: the code is the same." }));
  for (const c of r.changes) {
    const counts = c.not_compared ? `not compared: ${c.not_compared}` : `+${c.added} −${c.removed}`;
    blocks.push(
      el(
        "div",
        { class: "file", "data-diff": c.file },
        el("div", { class: "name", text: `${c.file} — ${c.change} (${counts})` }),
        ...(c.hunks.length
          ? [
              el(
                "pre",
                { class: "code diff", tabindex: "0", "aria-label": `changes in ${c.file}` },
                ...c.hunks.flatMap((h) => [
                  el("span", { class: "hunk", text: `@@ −${h.old_start},${h.old_lines} +${h.new_start},${h.new_lines} @@` }),
                  ...h.lines.map((l) => el("span", { class: l.op === "+" ? "add" : l.op === "-" ? "del" : "ctx", text: `${l.op}${l.text}` })),
                ]),
              ),
            ]
          : []),
      ),
    );
  }
  if (r.unchanged > 0) blocks.push(el("p", { class: "muted", text: `${r.unchanged} file(s) unchanged.` }));
  if (r.comments.length)
    blocks.push(
      el("p", { text: "Your comments on that revision:" }),
      el("ul", { class: "comments" }, ...r.comments.map((c) => el("li", {}, ...commentParts(c)))),
    );
  return blocks;
}

/** The comments on lines an owner writes while returning a job for changes (filled by clicking a line number). */
const lineComments: { uid: string; list: { file: string; line: number; text: string }[]; form?: (file: string, line: number) => void } = {
  uid: "",
  list: [],
};

/** Draw one job in the detail pane; `reveal` (a person opened it) also brings the pane into view, as on a phone it is below the list. */
async function openJob(uid: string, reveal = false): Promise<void> {
  state.open = uid;
  const seq = ++state.openSeq;
  render();
  const pane = $("detail");
  try {
    const d = await api<JobDetail>(`/api/jobs/${encodeURIComponent(uid)}`);
    // Only the latest request draws: a slower, older answer never paints over a newer one.
    if (state.open !== uid || seq !== state.openSeq) return;
    state.shown = `${d.job.status}/${d.job.output_review}`;
    const j = d.job,
      m = d.meta;
    const parts: HTMLElement[] = [
      el("h2", { text: j.name }),
      el("div", {}, badge(j), " ", el("span", { class: "muted", text: j.uid })),
      el(
        "dl",
        {},
        el("dt", { text: "from" }),
        el(
          "dd",
          {},
          j.requester_email,
          j.sender === "unverified" ? el("span", { class: "warn", text: " — sender unverified (written by a Python client)" }) : null,
        ),
        el("dt", { text: "to" }),
        el("dd", { text: j.target_email }),
        el("dt", { text: "submitted" }),
        el("dd", { text: `${m.created_at} (${age(m.created_at)} ago)` }),
        el("dt", { text: "description" }),
        el("dd", { text: m.description || "—" }),
        el("dt", { text: "code sha256" }),
        el("dd", { class: "hash", text: d.code_sha256 || "—" }),
        ...(j.runs_on ? [el("dt", { text: "runs on" }), el("dd", { text: `${j.runs_on}, for ${age(j.started_at ?? j.updated_at)}` })] : []),
        ...(m.error_message ? [el("dt", { text: "message" }), el("dd", { text: m.error_message })] : []),
        ...(m.exit_code !== null ? [el("dt", { text: "exit code" }), el("dd", { text: String(m.exit_code) })] : []),
      ),
    ];
    parts.push(...timelineSection(j, d));
    if (d.approvals || m.votes.length) parts.push(...votesSection(j, d));
    if (j.role !== "requester" && j.status === "pending") {
      const reason = el("input", { type: "text", id: "reason", placeholder: "Reason (the requester reads it)" });
      const decide = (action: Action) => async () => {
        if (action === "reject" && !reason.value.trim()) {
          msg.textContent = "A rejection needs a reason.";
          msg.className = "msg error";
          return;
        }
        if (!confirm(`${action === "approve" ? "Approve" : "Reject"} "${j.name}"? ${action === "approve" ? "It will run at the next pass." : ""}`))
          return;
        try {
          // The hash shown on this page: if the code changed since, the server refuses the decision.
          const done = await api<{ vote: boolean }>(`/api/jobs/${j.uid}/${action}`, {
            method: "POST",
            body: JSON.stringify({ reason: reason.value, code_sha256: d.code_sha256 }),
          });
          msg.textContent = done.vote
            ? `Your vote to ${action} is recorded: the owner's next pass counts it.`
            : action === "approve"
              ? "Approved: it runs at the next pass."
              : "Rejected.";
          msg.className = "msg";
          await refresh(true);
        } catch (e) {
          msg.textContent = errorText(e);
          msg.className = "msg error";
        }
      };
      const msg = el("div", { class: "msg", id: "decide-msg" });
      parts.push(
        el(
          "div",
          { class: "decide" },
          reason,
          el("button", { class: "btn approve", id: "approve", onclick: decide("approve") }, "Approve"),
          el("button", { class: "btn reject", id: "reject", onclick: decide("reject") }, "Reject"),
        ),
        msg,
      );
    }
    if (d.findings.length)
      parts.push(
        el("h3", { text: `Advisory findings (${d.findings.length}) — they decide nothing, you do` }),
        el("ul", { class: "findings" }, ...d.findings.map((f) => el("li", {}, el("code", { text: `${f.file}:${f.line}` }), ` ${f.rule}`))),
      );
    if (d.files.length)
      parts.push(
        el("h3", { text: "Files" }),
        el("ul", {}, ...d.files.map((f) => el("li", { text: f.type === "dir" ? `${f.rel}/` : `${f.rel} (${f.size} bytes)` }))),
      );
    if (lineComments.uid !== j.uid) Object.assign(lineComments, { uid: j.uid, list: [], form: undefined });
    if (d.revision) parts.push(...revisionSection(d.revision));
    const commentable = j.role === "owner" && j.output_review === "pending";
    for (const t of d.texts)
      parts.push(
        el(
          "div",
          { class: "file" },
          el("div", { class: "name", text: t.file }),
          codeBlock(t.text, t.file, commentable ? (line) => lineComments.form?.(t.file, line) : undefined),
        ),
      );
    for (const n of d.not_shown) parts.push(el("p", { class: "warn", text: `${n.file}: NOT SHOWN (${n.why})` }));
    for (const n of d.not_scanned) parts.push(el("p", { class: "warn", text: `${n.file}: NOT SCANNED (${n.why})` }));
    for (const stream of ["stdout", "stderr"] as const)
      if (d.logs[stream])
        parts.push(
          el("h3", { text: stream }),
          el("pre", { class: "code", id: `log-${stream}`, tabindex: "0", "aria-label": stream }, d.logs[stream]),
        );
    if (d.output.length || d.checks?.files.some((f) => f.path.startsWith("run-logs/"))) parts.push(...outputSection(j, d));
    parts.push(...decisionsSection(j, d));
    if (d.can_dry_run || d.dry_run) parts.push(...dryRunSection(j, d));
    if (d.history.length) parts.push(...historySection(d.history));
    pane.replaceChildren(...parts);
    if (reveal && pane.getBoundingClientRect().top > window.innerHeight * 0.5) pane.scrollIntoView({ block: "start" });
    // A dry run under way: look again until it has ended.
    if (d.dry_run_running) setTimeout(() => state.open === uid && void openJob(uid), 1500);
  } catch (e) {
    pane.replaceChildren(el("div", { class: "error", text: errorText(e) }));
  }
}

// Who voted (N-of-M approvals) and who is still needed.
function votesSection(j: JobSummary, d: JobDetail): HTMLElement[] {
  const a = d.approvals;
  const list = el(
    "ul",
    { class: "votes" },
    ...d.meta.votes.map((v) =>
      el(
        "li",
        { class: v.decision },
        `${v.by} ${v.decision === "approve" ? "approved" : "rejected"} ${age(v.at)} ago${v.reason ? `: ${v.reason}` : ""}`,
        v.code_sha256 !== d.meta.code_sha256 ? el("span", { class: "warn", text: " (for other code: not counted)" }) : null,
      ),
    ),
  );
  const blocks = [el("h3", { text: a ? `Approvals: ${a.approvedBy.length} of ${a.required} required` : "Votes" }), list];
  if (a && j.status === "pending") {
    if (a.unreachable)
      blocks.push(el("p", { class: "warn", text: "Too few listed approvers besides its requester: it can never be approved by votes." }));
    else if (a.needed > 0) blocks.push(el("p", { id: "still-needed", text: `Still needed: ${a.needed} more, from ${a.waitingFor.join(", ")}` }));
  }
  return blocks;
}

// The owner's run of a pending job on the mock data: a button, then its result, logs and output.
function dryRunSection(j: JobSummary, d: JobDetail): HTMLElement[] {
  const blocks: HTMLElement[] = [el("h3", { text: "Dry run on mock data" })];
  const msg = el("div", { class: "msg", id: "dry-run-msg" });
  if (d.can_dry_run) {
    const start = async () => {
      try {
        await api(`/api/jobs/${j.uid}/dry-run`, { method: "POST", body: "{}" });
        void openJob(j.uid);
      } catch (e) {
        // Checked again at release, the output has findings the owner has not seen: drawn before they decide again.
        if (/new blocking findings/.test(errorText(e))) await openJob(j.uid);
        const shown = document.getElementById("release-msg") ?? msg;
        shown.textContent = errorText(e);
        shown.className = "msg error";
      }
    };
    blocks.push(
      el(
        "div",
        { class: "decide" },
        el(
          "button",
          { class: "btn", id: "dry-run", disabled: d.dry_run_running ? "" : null, onclick: start },
          d.dry_run ? "Run it again on mock data" : "Dry run on mock data",
        ),
        el("span", { class: "muted", text: d.dry_run_running ? " running…" : " Same sandbox and limits; no private data; decides nothing." }),
      ),
      msg,
    );
  }
  const r = d.dry_run;
  if (r) {
    const mocks = r.mocks.length ? r.mocks.map((m) => `$DATA_DIR/${m.name}`).join(", ") : "no data (no data path has a mock)";
    blocks.push(
      el(
        "p",
        { id: "dry-run-result", class: r.result.failed ? "warn" : "" },
        `${r.finished_at} on ${mocks}: ${r.result.failed ? "FAILED" : "succeeded"}: ${r.result.message}`,
      ),
    );
    for (const stream of ["stdout", "stderr"] as const)
      if (r.logs[stream])
        blocks.push(el("pre", { class: "code", id: `dry-${stream}`, tabindex: "0", "aria-label": `dry run ${stream}` }, r.logs[stream]));
    if (r.output.length) blocks.push(el("ul", { id: "dry-output" }, ...r.output.map((f) => el("li", { text: `${f.rel} (${f.size} bytes)` }))));
    for (const f of r.output) {
      const p = r.previews[f.rel];
      if (p && "columns" in p)
        blocks.push(
          el(
            "table",
            { class: "preview", tabindex: "0", "aria-label": "preview" },
            el("tr", {}, ...p.columns.map((c) => el("th", { text: c }))),
            ...p.rows.map((row) => el("tr", {}, ...row.map((v) => el("td", { text: v })))),
          ),
        );
    }
  }
  return blocks;
}

// Every audit line of the job: decisions, votes, rules, dry runs, notification attempts.
function historySection(events: JobDetail["history"]): HTMLElement[] {
  const detail = (e: JobDetail["history"][number]) =>
    Object.entries(e.detail)
      .filter(([, v]) => v !== null && v !== "" && typeof v !== "object")
      .map(([k, v]) => `${k}: ${/^[0-9a-f]{64}$/.test(String(v)) ? `${String(v).slice(0, 12)}…` : String(v)}`)
      .join(", ");
  return [
    el("h3", { text: "History" }),
    el(
      "table",
      { class: "history", id: "history", tabindex: "0", "aria-label": "history" },
      el("tr", {}, ...["at", "event", "by", "detail"].map((h) => el("th", { text: h }))),
      ...events.map((e) =>
        el(
          "tr",
          { "data-event": e.event },
          el("td", { text: e.at }),
          el("td", { text: e.event }),
          el("td", { text: e.by || "" }),
          el("td", { text: detail(e) }),
        ),
      ),
    ),
  ];
}

// Each output file: what the requester says of it, the checks' findings, a preview (a table's first
// rows with flagged cells marked, or an image), and, while the output is held, a release/withhold choice.
type CheckedFile = NonNullable<JobDetail["checks"]>["files"][number];

function outputSection(j: JobSummary, d: JobDetail): HTMLElement[] {
  const reportOf = (rel: string) => d.checks?.files.find((f) => f.path === rel);
  const held = j.role === "owner" && j.output_review === "pending";
  const choices = new Map<string, { choice: HTMLSelectElement; reason: HTMLInputElement }>();
  const blocks: HTMLElement[] = [el("h3", { text: held ? "Output and logs (held: decide file by file)" : "Output" })];
  // Safe by default: a file the checks flagged starts as withheld, with the findings as its reason;
  // releasing it is a choice the owner makes, never the page's.
  // With output checkers, each file says where their review stands; only a file they approved starts as released.
  const review = d.output_review;
  const showReview = (card: HTMLElement, rel: string, r: CheckedFile | undefined) => {
    if (r?.supporting) card.append(el("p", { class: "muted", text: "Supporting file: shown to explain the others; never released." }));
    const voted = review?.files.find((f) => f.path === rel);
    if (!review || !voted) return;
    const votes = (voted.votes ?? []).map((v) => `${v.by}: ${v.vote.replace("_", " ")}${v.comment ? ` ("${v.comment}")` : ""}`).join("; ");
    card.append(
      el("p", {
        class: voted.decision === "approved" ? "checkers" : "checkers warn",
        text: voted.decision
          ? `Output checkers: ${voted.decision} (${votes})`
          : `Output checkers: ${voted.votes_in} of ${review.required} votes in (blind until ${review.required} reviews are in)`,
      }),
    );
  };
  const addChoice = (card: HTMLElement, rel: string, r: CheckedFile | undefined) => {
    if (r?.supporting) return;
    const decision = review?.files.find((f) => f.path === rel)?.decision;
    const flagged = [
      ...new Set((r?.findings ?? []).map((x) => x.rule)),
      ...(review && decision !== "approved" ? [`not approved by the output checkers (${decision ?? "reviews not in"})`] : []),
    ];
    const choice = el(
      "select",
      { class: "choice", "aria-label": `Release or withhold ${rel}` },
      el("option", { value: "release", text: "release" }),
      el("option", { value: "withhold", text: "withhold" }),
    );
    choice.value = flagged.length > 0 ? "withhold" : "release";
    const reason = el("input", {
      type: "text",
      class: "withhold-reason",
      "aria-label": `Why ${rel} is withheld`,
      placeholder: "Why it is withheld (the requester reads it)",
    });
    if (flagged.length > 0) reason.value = `held by the output checks: ${flagged.join(", ")}`;
    choices.set(rel, { choice, reason });
    card.append(el("div", { class: "decide" }, choice, reason));
  };
  for (const f of d.output) {
    const r = reportOf(f.rel);
    const findings = r?.findings ?? [];
    const card = fileCard(
      f.rel,
      findings.some((x) => x.blocking),
      el("a", { href: "#", onclick: (e) => (e.preventDefault(), void download(j.uid, f.rel)) }, f.rel),
      ` (${f.size} bytes${r?.rows != null ? `, ${r.rows} rows × ${r.columns} columns` : ""})`,
    );
    if (r?.description) card.append(el("p", { text: `The requester says: ${r.description}` }));
    if (r?.controls.length) card.append(el("p", { text: `Controls applied: ${r.controls.join("; ")}` }));
    card.append(...findingsOf(r));
    showReview(card, f.rel, r);
    card.append(...previewOf(d.previews[f.rel], f.rel, findings));
    if (held) addChoice(card, f.rel, r);
    blocks.push(card);
  }
  // The logs leave the same way: checked, and released or withheld by name (run-logs/stdout.txt ...).
  for (const r of (d.checks?.files ?? []).filter((x) => x.path.startsWith("run-logs/") && !d.output.some((o) => o.rel === x.path))) {
    const card = fileCard(
      r.path,
      r.findings.some((x) => x.blocking),
      el("code", { text: r.path }),
      ` (${r.bytes} bytes; shown under Logs)`,
    );
    card.append(...findingsOf(r));
    showReview(card, r.path, r);
    if (held) addChoice(card, r.path, r);
    blocks.push(card);
  }
  if (held) {
    const msg = el("div", { class: "msg", id: "release-msg" });
    const exception = el("input", { type: "text", id: "exception", placeholder: "Exception: why files with blocking findings go out anyway" });
    const comment = el("input", { type: "text", id: "changes", placeholder: "Comment for the requester (request changes)" });
    // Comments on lines: a file, a line (a click on a line number of the code above fills both) and the text.
    const files = d.texts.map((t) => t.file);
    const onFile = el("select", { id: "comment-file", "aria-label": "file to comment on" }, ...files.map((f) => el("option", { value: f, text: f })));
    const onLine = el("input", { type: "number", id: "comment-line", min: "1", value: "1", "aria-label": "line to comment on" });
    const says = el("input", { type: "text", id: "comment-text", placeholder: "Comment on this line", "aria-label": "comment on the line" });
    const listed = el("ul", { class: "comments", id: "line-comments" });
    const drawComments = (): void =>
      listed.replaceChildren(
        ...lineComments.list.map((c, i) =>
          el(
            "li",
            {},
            ...commentParts(c),
            " ",
            el("button", {
              class: "btn",
              type: "button",
              "aria-label": `remove the comment on ${c.file} line ${c.line}`,
              onclick: () => {
                lineComments.list.splice(i, 1);
                drawComments();
              },
              text: "remove",
            }),
          ),
        ),
      );
    drawComments();
    lineComments.form = (file, line) => {
      onFile.value = file;
      onLine.value = String(line);
      says.focus();
    };
    const addComment = () => {
      if (!says.value.trim()) return;
      lineComments.list.push({ file: onFile.value, line: Number(onLine.value), text: says.value.trim() });
      says.value = "";
      drawComments();
    };
    const send = async (body: {
      withhold?: Record<string, string>;
      exception?: string;
      request_changes?: string;
      line_comments?: typeof lineComments.list;
    }) => {
      try {
        await api(`/api/jobs/${j.uid}/release`, { method: "POST", body: JSON.stringify(body) });
        msg.textContent = body.request_changes ? "Returned to the requester with your comment." : "Released.";
        msg.className = "msg ok";
        void openJob(j.uid);
      } catch (e) {
        // Checked again at release, the output has findings the owner has not seen: drawn before they decide again.
        if (/new blocking findings/.test(errorText(e))) await openJob(j.uid);
        const shown = document.getElementById("release-msg") ?? msg;
        shown.textContent = errorText(e);
        shown.className = "msg error";
      }
    };
    const release = () => {
      const withhold: Record<string, string> = {};
      for (const [rel, { choice, reason }] of choices) if (choice.value === "withhold") withhold[rel] = reason.value;
      const going = choices.size - Object.keys(withhold).length;
      if (
        !confirm(
          `Release ${going} file(s) to ${j.requester_email}${Object.keys(withhold).length ? `, withhold ${Object.keys(withhold).length}` : ""}? Released files cannot be taken back.`,
        )
      )
        return;
      void send({ withhold, ...(exception.value.trim() ? { exception: exception.value } : {}) });
    };
    blocks.push(
      el("div", { class: "decide" }, exception, el("button", { id: "release", class: "approve", onclick: release, text: "Release" })),
      el(
        "div",
        { class: "decide" },
        comment,
        el("button", {
          id: "request-changes",
          class: "reject",
          onclick: () => void send({ request_changes: comment.value, line_comments: lineComments.list }),
          text: "Request changes",
        }),
      ),
      ...(files.length
        ? [
            el(
              "div",
              { class: "decide" },
              onFile,
              onLine,
              says,
              el("button", { class: "btn", id: "add-comment", type: "button", onclick: addComment, text: "Add comment" }),
            ),
            listed,
          ]
        : []),
      msg,
    );
  }
  return blocks;
}

// What the owner decided on the output, for both sides: shown even when nothing was released (a job
// returned for changes has no output to list, and its requester must still read why).
function decisionsSection(j: JobSummary, d: JobDetail): HTMLElement[] {
  const decided = j.output_review === "released" ? d.meta.output_decisions : null;
  if (!decided) return [];
  const blocks: HTMLElement[] = [];
  if (decided.changes_requested)
    blocks.push(
      el("p", { class: "warn", text: `Changes requested by ${decided.by}: ${decided.changes_requested}` }),
      el("ul", { class: "comments" }, ...decided.line_comments.map((c) => el("li", {}, ...commentParts(c)))),
    );
  for (const w of decided.withheld) blocks.push(el("p", { class: "warn", text: `Withheld: ${w.path}: ${w.reason}` }));
  return blocks;
}

async function download(uid: string, rel: string): Promise<void> {
  const res = await fetch(`/api/jobs/${uid}/output?file=${encodeURIComponent(rel)}`, { headers: { "x-scq-token": token } });
  const url = URL.createObjectURL(await res.blob());
  const a = el("a", { href: url, download: rel.split("/").pop() ?? rel });
  a.click();
  URL.revokeObjectURL(url);
}

async function batch(action: Action): Promise<void> {
  const uids = [...state.selected];
  const reason = $("batch-reason").value;
  if (action === "reject" && !reason.trim()) {
    $("batch-msg").textContent = "A rejection needs a reason.";
    return;
  }
  if (!confirm(`${action === "approve" ? "Approve" : "Reject"} ${uids.length} job(s)?`)) return;
  const { results } = await api<{ results: { uid: string; ok: boolean; vote?: boolean; error?: string }[] }>("/api/batch", {
    method: "POST",
    body: JSON.stringify({ action, uids, reason }),
  });
  const failed = results.filter((r) => !r.ok);
  // With approvers, each decision is a vote that the owner's next pass counts.
  const votes = results.some((r) => r.vote);
  const done = votes ? `${action === "approve" ? "approve" : "reject"} vote(s) recorded` : action === "approve" ? "approved" : "rejected";
  $("batch-msg").textContent =
    `${results.length - failed.length} ${done}${failed.length ? `; ${failed.length} failed: ${failed.map((f) => f.error).join("; ")}` : ""}.`;
  state.selected.clear();
  await refresh(true);
}

/**
 * Ask for the current page: never while a request is in flight, and with the ETag of the last
 * answer, so an unchanged queue costs the server a few stats and a 304.
 */
// ---- one job's way through the queue, drawn ----------------------------------------------------

/** How long from one step to the next, in words a person reads at a glance. */
function between(from: string, to: string): string {
  const s = Math.max(0, (Date.parse(to) - Date.parse(from)) / 1000);
  return s < 90
    ? `${Math.round(s)} s`
    : s < 5400
      ? `${Math.round(s / 60)} min`
      : s < 129600
        ? `${Math.round(s / 3600)} h`
        : `${Math.round(s / 86400)} d`;
}

/** Submitted → votes → decided → ran → checked → released, each step with its time and the time it took; the next step, if any, hollow. */
function timelineSection(j: JobSummary, d: JobDetail): HTMLElement[] {
  const m = d.meta;
  const steps: { label: string; at: string | null; who?: string }[] = [{ label: "submitted", at: m.created_at, who: m.requester_email }];
  for (const v of m.votes) steps.push({ label: `vote: ${v.decision}`, at: v.at, who: v.by });
  if (m.decision) steps.push({ label: j.status === "rejected" ? "rejected" : "approved", at: m.decision.at, who: m.decision.by });
  if (m.started_at) steps.push({ label: "started", at: m.started_at });
  if (m.completed_at)
    steps.push({
      label: j.status === "failed" ? `failed${m.exit_code !== null ? ` (exit ${m.exit_code})` : ""}` : "ran to the end",
      at: m.completed_at,
    });
  if (d.checks)
    steps.push({ label: `output checked (${d.checks.files.reduce((n, f) => n + f.findings.length, 0)} findings)`, at: d.checks.checked_at });
  if (m.output_decisions)
    steps.push({
      label: m.output_decisions.changes_requested ? "returned for changes" : "released",
      at: m.output_decisions.at,
      who: m.output_decisions.by,
    });
  const next =
    j.status === "pending"
      ? j.waiting_decision
        ? `${j.waiting_decision.decision === "approve" ? "approved" : "rejected"}: applied at the next pass`
        : "waiting for a decision"
      : j.status === "approved"
        ? "starts at the next pass"
        : j.status === "running"
          ? "running"
          : j.output_review === "pending"
            ? "output waits for release"
            : null;
  const items = steps.map((step, i) =>
    el(
      "li",
      { class: "done" },
      el("span", { class: "dot", "aria-hidden": "true" }),
      el("b", { text: step.label }),
      step.who ? el("span", { class: "muted", text: ` ${step.who}` }) : null,
      el("time", { datetime: step.at ?? "", text: step.at ? step.at.replace("T", " ").slice(0, 19) : "" }),
      i > 0 && step.at && steps[i - 1]!.at ? el("span", { class: "took", text: `+${between(steps[i - 1]!.at!, step.at)}` }) : null,
    ),
  );
  if (next) items.push(el("li", { class: "next" }, el("span", { class: "dot", "aria-hidden": "true" }), el("b", { text: next })));
  return [el("h3", { text: "Timeline" }), el("ol", { class: "timeline", id: "timeline", "aria-label": "timeline" }, ...items)];
}

// ---- what each person has to do, and the queue over the last days ------------------------------

/** Open a job from the to-do list, in the tab that lists it. */
function openFromList(uid: string, view: View): void {
  if (state.view !== view) $<HTMLButtonElement>(`tab-${view}`).click();
  void openJob(uid, true);
}

/** As an output checker: one job's held output in the detail pane, instead of a job of the list. */
function openCheck({ owner, uid }: { owner: string; uid: string }): void {
  state.open = null;
  state.shown = "";
  const seq = ++state.openSeq;
  render();
  void openOutputCheck(owner, uid, () => seq === state.openSeq);
}

/** A to-do list's group: each item a button that opens it, and a line on where it stands. */
function todoGroup<T extends { uid: string; name: string }>(
  title: string,
  jobs: T[],
  open: (b: T) => void,
  what: (b: T) => string,
): HTMLElement | null {
  if (jobs.length === 0) return null;
  return el(
    "div",
    { class: "todo-group" },
    el("h3", { text: `${title} (${jobs.length})` }),
    el(
      "ul",
      {},
      ...jobs.map((b) =>
        el(
          "li",
          {},
          el("button", { class: "link", type: "button", "data-todo": b.uid, onclick: () => open(b), text: b.name }),
          el("span", { class: "muted", text: ` ${what(b)}` }),
        ),
      ),
    ),
  );
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  if (text !== undefined) node.textContent = text;
  return node;
}

/** Jobs waiting for a decision at the end of each day (bars) and the median wait of those decided (line). */
function queueChart(days: NonNullable<Overview["history"]>): HTMLElement {
  const [w, h, pad] = [300, 90, 14];
  const most = Math.max(1, ...days.map((d) => d.waiting));
  const longest = Math.max(1, ...days.map((d) => d.median_wait_minutes ?? 0));
  const step = (w - 2 * pad) / days.length;
  const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img" });
  const today = days.at(-1);
  const waits = days.filter((d) => d.median_wait_minutes !== null);
  const summary = `Waiting for a decision over the last ${days.length} days: ${days[0]?.waiting ?? 0} on ${days[0]?.day ?? ""}, ${today?.waiting ?? 0} now (most ${most}). ${
    waits.length
      ? `Median wait of decided jobs: ${Math.round(waits.at(-1)!.median_wait_minutes!)} min on ${waits.at(-1)!.day}.`
      : "No job decided in that time."
  }`;
  chart.setAttribute("aria-label", summary);
  chart.append(svg("title", {}, summary));
  days.forEach((d, i) => {
    const bar = ((h - 2 * pad) * d.waiting) / most;
    chart.append(svg("rect", { x: pad + i * step + 1, y: h - pad - bar, width: Math.max(1, step - 2), height: bar, class: "bar" }, undefined));
  });
  const points = days.flatMap((d, i) =>
    d.median_wait_minutes === null ? [] : [`${pad + i * step + step / 2},${h - pad - ((h - 2 * pad) * d.median_wait_minutes) / longest}`],
  );
  if (points.length > 1) chart.append(svg("polyline", { points: points.join(" "), class: "wait" }));
  for (const p of points) {
    const [cx, cy] = p.split(",");
    chart.append(svg("circle", { cx: cx!, cy: cy!, r: 2, class: "wait-dot" }));
  }
  chart.append(
    svg("text", { x: pad, y: h - 2, class: "axis" }, days[0]?.day.slice(5) ?? ""),
    svg("text", { x: w - pad, y: h - 2, class: "axis", "text-anchor": "end" }, "today"),
    svg("text", { x: pad, y: 10, class: "axis" }, `${most} waiting`),
    svg("text", { x: w - pad, y: 10, class: "axis", "text-anchor": "end" }, `wait ≤ ${Math.round(longest)} min`),
  );
  return el("figure", { class: "chart" }, chart as unknown as HTMLElement, el("figcaption", { class: "muted", text: summary }));
}

let overviewAt = 0;
/** Draw the to-do list (and the chart); at most every 5 s, as the list it follows may change every poll. */
async function drawOverview(force = false): Promise<void> {
  if (!force && Date.now() - overviewAt < 5000) return;
  overviewAt = Date.now();
  try {
    const o = await api<Overview>("/api/overview");
    const mine = (b: Brief) => openFromList(b.uid, "requester");
    const queue = (b: Brief) => openFromList(b.uid, "owner");
    const ago = (b: Brief) => ` · ${age(b.since)} ago`;
    const groups = [
      todoGroup(
        o.role === "approver" ? `Awaiting your vote on ${o.reviewing}'s datasite` : "Code to review",
        o.review.jobs,
        queue,
        (b) => `from ${b.requester_email}${ago(b)}`,
      ),
      todoGroup("Output to release", o.held, queue, (b) => `${b.status}, from ${b.requester_email}${ago(b)}`),
      todoGroup(
        "Output to check",
        o.output_checks,
        openCheck,
        (c) =>
          `on ${c.owner}, from ${c.requester}: ${c.voted < c.files ? `you voted on ${c.voted} of ${c.files} file(s)` : `reviews in: ${c.reviews_in} of ${c.required}`}`,
      ),
      todoGroup("Failed this week", o.failed, queue, (b) => `from ${b.requester_email}${ago(b)}`),
      todoGroup("Returned to you for changes", o.mine.returned, mine, (b) => `by ${b.owner ?? ""}${ago(b)}`),
      todoGroup("Yours, finished this week", o.mine.finished, mine, (b) => `${b.status} on ${b.owner ?? ""}${ago(b)}`),
    ].filter((g): g is HTMLElement => g !== null);
    const votes = o.votes.map((v) =>
      el("p", { text: `As a listed approver of ${v.owner}: ${v.uids.length} job(s) await your vote (scq ui --datasite ${v.owner}).` }),
    );
    const waiting = o.mine.waiting ? [el("p", { class: "muted", text: `${o.mine.waiting} job(s) of yours wait or run on other datasites.` })] : [];
    const nothing = groups.length + votes.length + waiting.length === 0 ? [el("p", { class: "muted", text: "Nothing to do." })] : [];
    const key = o.signing_key
      ? [el("p", { class: "muted", text: `Released results are signed with key ${o.signing_key} (requesters check them with scq verify).` })]
      : [];
    $("todo").replaceChildren(...groups, ...votes, ...waiting, ...nothing, ...key);
    const chart = $("queue-chart");
    chart.hidden = !o.history;
    const quiet = o.history?.every((d) => d.submitted === 0 && d.waiting === 0 && d.decided === 0);
    if (o.history)
      chart.replaceChildren(
        el("h3", { text: "The queue, last 14 days" }),
        quiet ? el("p", { class: "muted", text: "No job came or waited in that time." }) : queueChart(o.history),
      );
  } catch (e) {
    $("todo").replaceChildren(el("p", { class: "error", text: `Cannot read the to-do list: ${errorText(e)}` }));
  }
}

async function refresh(force: boolean): Promise<void> {
  if (state.inFlight) return;
  state.inFlight = true;
  try {
    const query = new URLSearchParams({ view: state.view, limit: String(state.limit) });
    if ($("status").value) query.set("status", $("status").value);
    if ($("search").value.trim()) query.set("q", $("search").value.trim());
    const res = await fetch(`/api/jobs?${query}`, { headers: { "x-scq-token": token, ...(force ? {} : { "if-none-match": state.etag }) } });
    if (res.status === 304) return;
    const data = (await res.json()) as JobList & { error?: string };
    if (!res.ok) throw new Error(data.error || `HTTP ${res.status}`);
    Object.assign(state, { jobs: data.jobs, me: data.me, reviewing: data.reviewing, counts: data.counts, total: data.total, next: data.next });
    state.etag = res.headers.get("etag") || "";
    $("settings").textContent = data.settings;
    render();
    void drawOverview(force);
    // The open job moved on from what its pane shows (however the answers interleaved): draw it again.
    const now = state.jobs.find((j) => j.uid === state.open);
    if (now && state.shown && `${now.status}/${now.output_review}` !== state.shown) void openJob(now.uid);
  } catch (e) {
    $("batch-msg").textContent = `Cannot reach the queue: ${errorText(e)}`;
  } finally {
    state.inFlight = false;
  }
}

// A change of what is asked for starts from the first page; typing waits for a pause.
let typing: ReturnType<typeof setTimeout> | undefined;
const requery = () => {
  state.limit = 50;
  void refresh(true);
};
$("search").addEventListener("input", () => {
  clearTimeout(typing);
  typing = setTimeout(requery, 300);
});
$("status").addEventListener("change", requery);
$("more").addEventListener("click", () => {
  state.limit += 50;
  void refresh(true);
});
$("batch-approve").addEventListener("click", () => void batch("approve"));
$("batch-reject").addEventListener("click", () => void batch("reject"));
$("all").addEventListener("change", (e) => {
  const on = (e.target as HTMLInputElement).checked;
  for (const j of visible()) {
    if (j.status !== "pending") continue;
    if (on) state.selected.add(j.uid);
    else state.selected.delete(j.uid);
  }
  render();
});
for (const b of document.querySelectorAll<HTMLButtonElement>("#tabs button"))
  b.addEventListener("click", () => {
    state.view = b.dataset.view === "requester" ? "requester" : "owner";
    for (const o of document.querySelectorAll("#tabs button")) o.classList.toggle("on", o === b);
    requery();
  });
for (const th of document.querySelectorAll<HTMLElement>("th[data-sort]")) {
  const sortBy = () => {
    const sort = th.dataset.sort as SortKey;
    state.desc = state.sort === sort ? !state.desc : false;
    state.sort = sort;
    for (const other of document.querySelectorAll<HTMLElement>("th[data-sort]")) other.removeAttribute("aria-sort");
    th.setAttribute("aria-sort", state.desc ? "descending" : "ascending");
    render();
  };
  // A column header sorts by click, or by Enter and Space once Tab reaches it.
  th.tabIndex = 0;
  th.addEventListener("click", sortBy);
  th.addEventListener("keydown", (e) => {
    if (e.key !== "Enter" && e.key !== " ") return;
    e.preventDefault();
    sortBy();
  });
}
// The queue changes under us (passes, other owners' tools): poll every 2 s while the tab is seen,
// every 30 s while it is hidden, each poll only after the last one answered.
async function poll(): Promise<void> {
  await refresh(false);
  setTimeout(() => void poll(), document.hidden ? 30000 : 2000);
}
document.addEventListener("visibilitychange", () => {
  if (!document.hidden) void refresh(false);
});
void refresh(true).then(() => setTimeout(() => void poll(), 2000));
