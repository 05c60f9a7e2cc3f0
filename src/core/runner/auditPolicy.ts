// Who ran a bot, and whether/where a run is recorded (Medplum's auditEventTrigger and
// auditEventDestination).
import { execFileSync } from 'node:child_process';
import * as os from 'node:os';
import type { AuditEventDestination, AuditEventTrigger } from '../bots/config';
import type { RunOutcome } from './types';

const users = new Map<string, string>();

/** git `user.email` in `root`, else the OS user name; cached per root. */
export function detectUser(root: string): string {
  const cached = users.get(root);
  if (cached) return cached;
  let user = '';
  try {
    user = execFileSync('git', ['config', 'user.email'], { cwd: root, encoding: 'utf8', timeout: 3000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    user = '';
  }
  if (!user) {
    try {
      user = os.userInfo().username;
    } catch {
      user = process.env.USER ?? process.env.USERNAME ?? 'unknown';
    }
  }
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
