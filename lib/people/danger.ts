// Advisory findings for the owner's review: things in the code worth a second look. It never approves
// or blocks anything by itself; a human reads the code and decides.
import { hasInvisible, visible } from "../core/visible.ts";

export interface Finding {
  file: string;
  line: number;
  rule: string;
  text: string;
}

/** The variables every job is given (sandbox.ts): reading them is how a job finds its data, not a hunt. */
const JOB_VARIABLES = "DATA_DIR|OUTPUT_DIR|JOB_ID|JOB_UID|JOB_NAME|CODE_DIR|HOME|TMPDIR|LANG|PATH";
/** A command at the start of a shell word: not part of a path such as ~/.ssh or a name such as sshd_config. */
const COMMAND = String.raw`(?<![\w./~$-])`;

const RULES: { rule: string; pattern: RegExp }[] = [
  {
    rule: "network access (blocked in the sandbox unless sandbox.network is true)",
    pattern: new RegExp(
      String.raw`${COMMAND}(curl|wget|ncat|netcat|ssh|scp|sftp|rsync|telnet|ftp)\b(?!\.)|${COMMAND}nc\s|\/dev\/(tcp|udp)\/|\brequests\.(get|post|put)|urllib|http\.client|\bsocket\.|\bfetch\(|\bdownload\.file\(|\burl\(\s*["']\w+:|\b(httr2?|curl|RCurl)::`,
    ),
  },
  {
    // From a wheelhouse shipped with the code (--no-index) nothing is downloaded: no finding.
    rule: "installs packages (fails without network)",
    pattern:
      /\b(pip3?|conda|npm|yarn|apt(-get)?|apk|gem|cargo)\s+(install|add)\b(?!.*--no-index)|\binstall\.packages\(|\b(remotes|devtools|pak|BiocManager)::(install|pkg_install)/,
  },
  {
    rule: "destructive command",
    pattern:
      /\brm\s+(-[a-zA-Z]*[rf][a-zA-Z]*\s+)+["']?(\/|~|\$HOME|\$\{?TMPDIR|\*)|\bmkfs\b|\bdd\s+if=|\bshutil\.rmtree\(|:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:/,
  },
  {
    rule: "reads home, keys or other datasites",
    pattern: /(~\/|\$HOME|\/home\/|\/root\b|\.ssh\b|\.syftbox\b|datasites\/|\/etc\/shadow|\.aws\b|\.config\/|\.netrc\b|id_rsa|id_ed25519)/,
  },
  { rule: "runs decoded or generated code", pattern: /base64\s+(-d|--decode)|b64decode|\beval\s*[("$]|\bexec\s*\(|fromCharCode|\bcompile\s*\(/ },
  {
    rule: "environment or credential hunting",
    pattern: new RegExp(
      String.raw`\b(printenv|env\b\s*$)|\/proc\/[^/\s]+\/environ|os\.environ(?!\s*(\[|\.get\()\s*["'](${JOB_VARIABLES})["'])|process\.env(?!\.(${JOB_VARIABLES})\b|\[["'](${JOB_VARIABLES})["']\])|Sys\.getenv\(\s*\)|AWS_SECRET|API_KEY|PASSWORD|TOKEN\b`,
    ),
  },
  {
    // The data itself, copied whole into what leaves: the output checks compare rows too, but the reviewer sees it here first.
    rule: "copies the data into the output",
    pattern: /\b(cp|rsync|ln|cat|tar|zip)\b.*\$\{?DATA_DIR\b.*\$\{?OUTPUT_DIR\b|(shutil\.copy\w*|copyfile|copytree)\(.*DATA_DIR.*OUTPUT_DIR/,
  },
];

const HIDDEN_TEXT_RULE = "control or bidirectional characters: the text may show other code than runs (shown as ⟨…⟩)";

export function scanText(file: string, text: string): Finding[] {
  const findings: Finding[] = [];
  text.split("\n").forEach((line, index) => {
    for (const { rule, pattern } of RULES) {
      if (pattern.test(line)) findings.push({ file, line: index + 1, rule, text: visible(line.trim().slice(0, 200)) });
    }
    if (hasInvisible(line.replace(/\r$/, ""))) findings.push({ file, line: index + 1, rule: HIDDEN_TEXT_RULE, text: visible(line.slice(0, 200)) });
  });
  return findings;
}
