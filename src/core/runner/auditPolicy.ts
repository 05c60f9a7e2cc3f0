// Who ran a bot, and whether/where a run is recorded (Medplum's auditEventTrigger and
// auditEventDestination).
import { execFile, execFileSync } from 'node:child_process';
import * as os from 'node:os';
import type { AuditEventDestination, AuditEventTrigger } from '../bots/config';
import type { RunOutcome } from './types';

const users = new Map<string, string>();

const GIT_EMAIL = ['config', 'user.email'] as const;

/** The OS user name, when git names no one. */
function osUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

/** git `user.email` in `root`, else the OS user name; cached per root. */
export function detectUser(root: string): string {
  const cached = users.get(root);
  if (cached) return cached;
  let user = '';
  try {
    user = execFileSync('git', GIT_EMAIL, { cwd: root, encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    user = '';
  }
  user ||= osUser();
  users.set(root, user);
  return user;
}

/**
 * detectUser without blocking the thread while git runs (tens of milliseconds, more on a busy
 * machine): the editor asks this first, and detectUser then answers from the same cache.
 */
export async function detectUserAsync(root: string): Promise<string> {
  const cached = users.get(root);
  if (cached) return cached;
  const email = await new Promise<string>((resolve) =>
    execFile('git', GIT_EMAIL, { cwd: root, encoding: 'utf8', timeout: 3000 }, (e, out) => resolve(e ? '' : String(out).trim())),
  );
  const user = users.get(root) ?? (email || osUser());
  users.set(root, user);
  return user;
}

/** Whether a run is recorded at all: Medplum's `auditEventTrigger`. */
export function shouldRecord(trigger: AuditEventTrigger, outcome: RunOutcome, outputText: string): boolean {
  switch (trigger) {
    case 'never':
      return false;
    case 'on-error':
      return outcome !== 0;
    case 'on-output':
      return outputText.trim().length > 0;
    default:
      return true;
  }
}

export function destinations(d: AuditEventDestination[]): { resource: boolean; log: boolean } {
  return { resource: d.includes('resource'), log: d.includes('log') };
}
