// LOGIN and LOGOUT: each window (or CLI process) that opens a workspace's log records LOGIN, and
// LOGOUT when it closes. A process that dies without closing leaves its marker file behind; the
// next process to open the log records the missing LOGOUT, marked as such. Claiming a dead marker
// is an atomic rename, so two processes starting at once never record the same LOGOUT twice.
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Entry, NewEntry } from '../store';
import { pidAlive } from '../store/lock';

export interface EntrySink {
  append(e: NewEntry): Promise<Entry>;
}

interface Marker {
  sessionId: string;
  pid: number;
  host: string;
  user: string;
  client: string;
  started: number;
}

export const SESSION_ENTITY = 'Session';


export class Session {
  private ended = false;

  private constructor(
    private readonly store: EntrySink,
    private readonly markerFile: string,
    readonly marker: Marker,
  ) {}

  get id(): string {
    return this.marker.sessionId;
  }

  /**
   * Records LOGIN for `user` and leaves a marker in `dir` until `logout()`.
   * First records the LOGOUT of every dead session found in `dir`.
   */
  static async login(store: EntrySink, dir: string, user: string, client: string): Promise<Session> {
    fs.mkdirSync(dir, { recursive: true });
    await recoverDeadSessions(store, dir);
    const marker: Marker = { sessionId: randomUUID(), pid: process.pid, host: os.hostname(), user, client, started: Date.now() };
    const file = path.join(dir, `${marker.sessionId}.json`);
    fs.writeFileSync(file, JSON.stringify(marker));
    await store.append({
      user,
      action: 'LOGIN',
      entityName: SESSION_ENTITY,
      entityId: marker.sessionId,
      after: { client, pid: marker.pid, host: marker.host },
      recorded: marker.started,
    });
    return new Session(store, file, marker);
  }

  /** Records LOGOUT and removes the marker. Idempotent. */
  async logout(): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    await this.store.append({
      user: this.marker.user,
      action: 'LOGOUT',
      entityName: SESSION_ENTITY,
      entityId: this.marker.sessionId,
      before: { client: this.marker.client, pid: this.marker.pid, host: this.marker.host, started: this.marker.started },
      after: { reason: 'closed' },
    });
    fs.rmSync(this.markerFile, { force: true });
  }
}

/**
 * Records a LOGOUT, marked `reason: "ended without logging out"`, for each marker in `dir` whose
 * process is gone (same host). Returns how many it recorded.
 */
export async function recoverDeadSessions(store: EntrySink, dir: string): Promise<number> {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter((n) => n.endsWith('.json'));
  } catch {
    return 0;
  }
  let recovered = 0;
  const host = os.hostname();
  for (const name of names) {
    const file = path.join(dir, name);
    let marker: Marker;
    try {
      marker = JSON.parse(fs.readFileSync(file, 'utf8')) as Marker;
    } catch {
      continue; // being written, or removed meanwhile
    }
    if (marker.host !== host || pidAlive(marker.pid)) continue;
    const claimed = `${file}.${process.pid}.claimed`;
    try {
      fs.renameSync(file, claimed); // only one process wins the rename
    } catch {
      continue;
    }
    await store.append({
      user: marker.user,
      action: 'LOGOUT',
      entityName: SESSION_ENTITY,
      entityId: marker.sessionId,
      before: { client: marker.client, pid: marker.pid, host: marker.host, started: marker.started },
      after: { reason: 'ended without logging out' },
    });
    fs.rmSync(claimed, { force: true });
    recovered++;
  }
  return recovered;
}
