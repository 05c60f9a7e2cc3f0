// Reading an outcome description: the runner writes the failure message, the stack frames, then
// one `2026-11-23T16:30:00.123Z [level] text` line per thing the bot printed. Browser-safe.

export type DescLevel = 'log' | 'info' | 'warn' | 'error' | 'debug';

export interface DescLine {
  /** ISO time, for printed lines. */
  time?: string;
  /** The console level, for printed lines. */
  level?: DescLevel;
  text: string;
  /** A stack frame ("    at handler (/ws/bots/hello.ts:12:5)"). */
  frame?: boolean;
}

const LOG_LINE_RE = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z) \[(log|info|warn|error|debug)\] ?(.*)$/;

/** Splits a description into lines, recognising printed lines and stack frames. */
export function parseOutcomeDesc(desc: string): DescLine[] {
  return desc.split('\n').map((line) => {
    const m = LOG_LINE_RE.exec(line);
    if (m) return { time: m[1], level: m[2] as DescLevel, text: m[3] };
    return /^\s+at /.test(line) ? { text: line, frame: true } : { text: line };
  });
}

/** The first line worth showing in a table cell: without the log timestamp, `[info]`/`[log]` dropped. */
export function outcomeSummary(desc: string | undefined): string | undefined {
  if (desc === undefined) return undefined;
  const first = parseOutcomeDesc(desc).find((l) => l.text.trim() !== '');
  if (!first) return '';
  return first.level && first.level !== 'log' && first.level !== 'info' ? `[${first.level}] ${first.text}` : first.text;
}

/** A source location in a stack frame: an absolute path to a script, a line, maybe a column. */
export const STACK_LOCATION_RE = /((?:\/|[A-Za-z]:\\)[^\s:()'"`]+\.(?:ts|mts|cts|js|mjs|cjs)):(\d+)(?::(\d+))?/g;
