// Advisory findings for the owner's review: things in the code worth a second look. It never approves
// or blocks anything by itself; a human reads the code and decides.
import { hasInvisible, visible } from "../core/visible.ts";

export interface Finding {
  file: string;
  line: number;
  rule: string;
  text: string;
}

const RULES: { rule: string; pattern: RegExp }[] = [
  {
    rule: "network access (blocked in the sandbox unless sandbox.network is true)",
    pattern:
      /\b(curl|wget|ncat|netcat|ssh|scp|sftp|rsync|telnet|ftp)\b|\bnc\s|\/dev\/(tcp|udp)\/|\brequests\.(get|post|put)|urllib|http\.client|\bsocket\.|\bfetch\(/,
  },
  { rule: "installs packages (fails without network)", pattern: /\b(pip3?|conda|npm|yarn|apt(-get)?|apk|gem|cargo)\s+(install|add)\b/ },
  {
    rule: "destructive command",
    pattern: /\brm\s+-[a-zA-Z]*[rf][a-zA-Z]*\s+(\/|~|\$HOME)(\s|$|\*)|\bmkfs\b|\bdd\s+if=|:\(\)\s*\{\s*:\s*\|\s*:\s*&\s*\}\s*;\s*:/,
  },
  {
    rule: "reads home, keys or other datasites",
    pattern: /(~\/|\$HOME|\/home\/|\/root\b|\.ssh\b|\.syftbox\b|datasites\/|\/etc\/shadow|\.aws\b|\.config\/)/,
  },
  { rule: "runs decoded or generated code", pattern: /base64\s+(-d|--decode)|b64decode|\beval\s*[("$]|\bexec\s*\(|fromCharCode|\bcompile\s*\(/ },
  { rule: "environment or credential hunting", pattern: /\b(printenv|env\b\s*$)|os\.environ|process\.env|AWS_SECRET|API_KEY|TOKEN\b/ },
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
