// Shared by the corpus bots. It exports no handler: it is a module the bots import, not a bot
// (Bot Audit must not list it, nor run it).
import { generateId, getStatus, normalizeErrorString } from '@medplum/core';
import type { BotEvent } from '@medplum/core';
import type { Coding, OperationOutcome, Resource } from '@medplum/fhirtypes';

export const CORPUS = 'https://bot-audit.example/corpus';
export const MRN = `${CORPUS}/mrn`;
export const LOINC = 'http://loinc.org';
export const UCUM = 'http://unitsofmeasure.org';

/**
 * A tag of this run only. Every resource a corpus bot creates carries it and every search is
 * scoped by it, so the bots hold whatever else the workspace's store already has.
 */
export function runTag(event: BotEvent): Coding {
  return { system: `${CORPUS}/run`, code: event.traceId ?? generateId() };
}

/** `system|code` of a tag, for `_tag=`. */
export function tokenOf(c: Coding): string {
  return `${c.system}|${c.code}`;
}

/** `resource` with `tag` in its meta. */
export function tagged<T extends Resource>(tag: Coding, resource: T): T {
  return { ...resource, meta: { ...resource.meta, tag: [...(resource.meta?.tag ?? []), tag] } };
}

/** Throws `message` unless `cond`. */
export function check(cond: unknown, message: string): asserts cond {
  if (!cond) throw new Error(message);
}

/** Throws unless `actual` and `expected` are the same JSON. */
export function expectEqual(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  if (a !== e) throw new Error(`${what}: expected ${e}, got ${a}`);
}

/** Throws unless `actual` has the same items as `expected`, in any order. */
export function expectSameSet(actual: readonly string[], expected: readonly string[], what: string): void {
  expectEqual([...actual].sort(), [...expected].sort(), what);
}

/** The ids of a list of resources. */
export function idsOf(resources: readonly (Resource | undefined)[] | undefined): string[] {
  return (resources ?? []).map((r) => r?.id ?? '?');
}

/** The OperationOutcome an error from the client carries, if any. */
export function outcomeOf(err: unknown): OperationOutcome | undefined {
  const o = (err as { outcome?: OperationOutcome } | undefined)?.outcome;
  return o && o.resourceType === 'OperationOutcome' ? o : undefined;
}

/** An error the call must throw: its HTTP status (from its OperationOutcome) and its message. */
export interface Failure {
  status: number | undefined;
  message: string;
  outcome: OperationOutcome | undefined;
}

/**
 * Runs `fn`, which must fail: throws when it succeeds, when the status is not `status`, or when
 * the message does not match `pattern`.
 */
export async function expectFailure(what: string, fn: () => Promise<unknown>, status?: number, pattern?: RegExp): Promise<Failure> {
  let result: unknown;
  try {
    result = await fn();
  } catch (err) {
    const outcome = outcomeOf(err);
    const f: Failure = { status: outcome ? getStatus(outcome) : undefined, message: normalizeErrorString(err), outcome };
    if (status !== undefined && f.status !== status) throw new Error(`${what}: expected a ${status} error, got ${f.status ?? 'no status'}: ${f.message}`);
    if (pattern && !pattern.test(f.message)) throw new Error(`${what}: expected an error matching ${pattern}, got: ${f.message}`);
    return f;
  }
  throw new Error(`${what}: expected an error, but it succeeded with ${JSON.stringify(result)?.slice(0, 300)}`);
}

/** Waits `ms` (so that two writes get distinct lastUpdated instants). */
export function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
