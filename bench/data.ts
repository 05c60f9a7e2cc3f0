// Deterministic, realistic audit entries for the benchmark: mostly bot runs with console logs, some
// logins and invitations, and changes with 1–10 KB JSON snapshots.
import type { Action, NewEntry, Outcome } from '../src/core/store';

/** mulberry32: a small seeded PRNG, so that every run builds the same log. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export const BOTS = ['hello', 'nightly-sync', 'hl7-intake', 'lab-results', 'reminders', 'billing-export', 'fhir-validate', 'triage', 'scheduler', 'cleanup', 'notify-sms', 'backfill'];
export const USERS = [
  'system',
  'dev@example.com',
  'ops@example.com',
  'alice@example.com',
  'bob@example.com',
  'carol@example.com',
  'dan@example.com',
  'erin@example.com',
  'frank@example.com',
  'grace@example.com',
  ...BOTS.map((b) => `Bot/${b}`),
];
export const ENTITY_NAMES = ['story', 'step', 'card', 'access', 'tag', 'text_prompt', 'response_group', 'form', 'form_question', 'webhook', 'openai_app', 'whatsapp_app', 'webchat_app', 'broadcast', 'rule', 'condition', 'quick_reply', 'template'];
const WORDS =
  'patient observation encounter processed queued received sent validated record bundle message lab result order appointment reminder invoice claim coverage practitioner organization location schedule slot status updated created skipped retry cache token request response latency parsed mapped resource reference identifier'.split(
    ' ',
  );
/** Appears in about one outcome description in 20,000: the rare word of the full-text metric. */
export const RARE_WORD = 'zanzibar';

export const SPAN_MS = 90 * 86_400_000; // the log covers 90 days

function pick<T>(r: () => number, xs: readonly T[]): T {
  return xs[Math.floor(r() * xs.length)];
}

function sentence(r: () => number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += (i ? ' ' : '') + pick(r, WORDS);
  return s;
}

function snapshot(r: () => number, bytes: number, id: number): Record<string, unknown> {
  const steps: unknown[] = [];
  const o: Record<string, unknown> = { id, name: sentence(r, 3), is_active: r() < 0.8, updated_by: pick(r, USERS), steps };
  let size = 120;
  while (size < bytes) {
    const step = { position: steps.length, type: pick(r, ['text', 'card', 'image', 'quick_reply']), text: sentence(r, 8 + Math.floor(r() * 12)), buttons: [sentence(r, 2), sentence(r, 2)] };
    size += JSON.stringify(step).length + 1;
    steps.push(step);
  }
  return o;
}

function log(r: () => number, lines: number, t: number, rare: boolean): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const level = r() < 0.9 ? 'INFO' : r() < 0.7 ? 'WARN' : 'ERROR';
    out.push(`${new Date(t + i * 7).toISOString()} ${level} ${sentence(r, 5 + Math.floor(r() * 6))}${rare && i === 0 ? ` ${RARE_WORD}` : ''}`);
  }
  return out.join('\n');
}

/**
 * Entry number `i` (0-based) of a log of `total` entries ending at `end`. Deterministic in (i, seed).
 * Mix: 85 % bot runs (outcome 0 mostly, some 4/8/12; console logs of 1–6 lines; a small FHIR
 * input), 12 % logins, logouts, invitations, 3 % CREATED/UPDATED/DELETED with 1–10 KB snapshots.
 */
export function entry(i: number, total: number, end: number, seed = 1): NewEntry {
  const r = rng(i * 2654435761 + seed);
  const recorded = end - SPAN_MS + Math.floor((i / total) * SPAN_MS);
  const k = r();
  if (k < 0.85) {
    const bot = pick(r, BOTS);
    const o = r();
    const outcome: Outcome = o < 0.88 ? 0 : o < 0.96 ? 4 : o < 0.99 ? 8 : 12;
    const start = recorded - 20 - Math.floor(r() * 2000);
    return {
      user: r() < 0.5 ? 'system' : pick(r, USERS),
      action: 'EXECUTED',
      entityName: 'bot',
      entityId: bot,
      bot,
      outcome,
      failureKind: outcome === 0 ? undefined : pick(r, ['timeout', 'error', 'startup', 'returned-error']),
      outcomeDesc: log(r, 1 + Math.floor(r() * 6), start, i % 20_000 === 1234),
      periodStart: start,
      periodEnd: recorded,
      traceId: `trace-${(i * 7919).toString(16)}`,
      contentType: 'application/fhir+json',
      input: JSON.stringify({ resourceType: 'Patient', id: `p${Math.floor(r() * 100_000)}`, name: [{ family: pick(r, WORDS) }] }),
      recorded,
    };
  }
  if (k < 0.97) {
    const action: Action = pick(r, ['LOGIN', 'LOGIN', 'LOGOUT', 'INVITED', 'ACCEPTED'] as const);
    return { user: pick(r, USERS.slice(1, 10)), action, entityName: 'access', entityId: String(1 + Math.floor(r() * 500)), recorded };
  }
  const action: Action = pick(r, ['CREATED', 'UPDATED', 'UPDATED', 'DELETED'] as const);
  const entityName = pick(r, ENTITY_NAMES);
  const entityId = r() < 0.9 ? String(1 + Math.floor(r() * 50_000)) : `${entityName}-${Math.floor(r() * 1e9).toString(36)}`;
  const bytes = 1024 + Math.floor(r() * 9 * 1024);
  const before = action === 'CREATED' ? undefined : snapshot(r, bytes, i);
  const after = action === 'DELETED' ? undefined : before ? { ...before, name: sentence(r, 3), is_active: !before.is_active } : snapshot(r, bytes, i);
  return { user: pick(r, USERS.slice(0, 10)), action, entityName, entityId, before, after, recorded };
}
