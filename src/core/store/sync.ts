// Reading the journal into the database: the lines other processes appended (or all of them on
// open), checked line by line against the chain, and what tells a torn line (a crash mid-write) from
// a changed one (tampering). Also the watch that notices other processes' appends. The store keeps
// the state (its database, its last entry, the journal it reads); this module decides what a line is.
// Node only: imports nothing from `vscode`.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Journal, JournalLine } from './journal';
import { hashRow, parseRowLine, type Row } from './row';

/**
 * How a whole journal line ends: its hash, then the closing brace (the hash is the last key). A line
 * that does not parse but ends so was written whole and changed since; one that does not is torn.
 */
export const COMPLETE_LINE = /"hash":"[0-9a-f]{64}"\}\s*$/;

/** Where replayed lines go (the store's database, its last entry, its warnings). */
export interface ReplayTarget {
  /**
   * Puts rows that follow each other and the last entry into the database, in one transaction, and
   * makes the last of them the last entry. May throw (nothing goes in then).
   */
  insert(rows: Row[]): void;
  /** A torn line (not complete JSON and not a whole entry), skipped. */
  torn(line: JournalLine): void;
  /** The line at `offset`, entry `id`'s place, was changed after it was written (see AuditStore's markTampered). */
  tampered(id: number, offset: number, problem: string): void;
}

/**
 * Applies journal lines in order, after entry `lastId` whose hash is `lastHash`. A line that is not
 * complete JSON and does not look like a whole entry is torn (a crash mid-write, sealed by the next
 * writer): skipped with a warning. Any other line that is not an entry, or whose hash does not match
 * its content, or that does not follow the entry before it, was changed after it was written:
 * `tampered`. An entry that still has its place (the next ID) goes into the database as it reads now,
 * so that reads show it and verify() names it; the entries after it are read on as they chain to it.
 */
export function replayLines(lines: JournalLine[], lastId: number, lastHash: string, target: ReplayTarget): void {
  const rows: Row[] = [];
  const flush = () => {
    if (!rows.length) return;
    target.insert(rows);
    rows.length = 0;
  };
  for (const line of lines) {
    let row: Row;
    try {
      row = JSON.parse(line.text) as Row;
    } catch (err) {
      if (!COMPLETE_LINE.test(line.text)) {
        target.torn(line);
        continue;
      }
      flush();
      target.tampered(lastId + 1, line.offset, `is not valid JSON (${(err as Error).message})`);
      return;
    }
    if (!row || typeof row !== 'object' || !Number.isSafeInteger(row.id) || typeof row.hash !== 'string' || typeof row.prevHash !== 'string') {
      flush();
      target.tampered(lastId + 1, line.offset, 'is not an entry');
      return;
    }
    if (row.id <= lastId) continue; // already in the database file
    let problem: string | undefined;
    if (row.id !== lastId + 1) problem = row.id > lastId + 1 ? `is entry ${row.id}: entries ${lastId + 1}–${row.id - 1} are missing` : `is entry ${row.id} again, out of order`;
    else if (row.prevHash !== lastHash) problem = `does not link to entry ${lastId}: its previous hash is not that entry's hash (an entry was changed, removed or inserted)`;
    else if (hashRow(row) !== row.hash) problem = 'does not match its hash: its content was changed';
    if (!problem) {
      rows.push(row);
      lastId = row.id;
      lastHash = row.hash;
      continue;
    }
    flush();
    target.tampered(lastId + 1, line.offset, problem);
    if (row.id !== lastId + 1) return; // it has no place: nothing after it can be placed either
    try {
      rows.push(row);
      lastId = row.id;
      lastHash = row.hash;
      flush();
    } catch {
      return; // values no entry can have: the entries before it are what can be read
    }
  }
  flush();
}

/**
 * When the bytes of the journal this process read or wrote are no longer there (Journal.unchanged()
 * said so): the first line that changed, found by reading the journal again from its start, with
 * `hashAt(id)` the hash this process holds for entry `id` (undefined when it holds none). When no
 * line reads as changed, the place after the last that still links.
 */
export function firstChangedLine(journal: Journal, hashAt: (id: number) => string | undefined): { id: number; offset: number; problem: string } {
  let lastId = journal.header.base;
  let lastHash = journal.header.baseHash;
  for (const line of journal.readAll()) {
    let row: Row | undefined;
    try {
      row = parseRowLine(line.text);
    } catch {
      if (!COMPLETE_LINE.test(line.text)) continue; // a torn line, sealed
    }
    if (row && row.id <= lastId) continue;
    if (!row || row.id !== lastId + 1 || row.prevHash !== lastHash) {
      return { id: lastId + 1, offset: line.offset, problem: row ? 'no longer links to the entry before it' : 'no longer matches its hash, or is no longer an entry' };
    }
    const ours = hashAt(row.id);
    if (ours !== undefined && ours !== row.hash) return { id: row.id, offset: line.offset, problem: 'is no longer the entry that was written (its hash changed)' };
    lastId = row.id;
    lastHash = row.hash;
  }
  return { id: lastId + 1, offset: journal.pos, problem: 'follows bytes of the journal that were changed after they were written' };
}

/**
 * Calls `changed` when the journal may have grown: on `fs.watch` events for it in its folder, and
 * every `pollMs` (the watch is not reliable everywhere, and not there at all on some file systems).
 */
export function watchJournal(journalFile: string, pollMs: number, changed: () => void): { close(): void } {
  let watcher: fs.FSWatcher | undefined;
  try {
    const base = path.basename(journalFile);
    watcher = fs.watch(path.dirname(journalFile), { persistent: false }, (_ev, name) => {
      if (!name || name === base) changed();
    });
    watcher.on('error', () => {
      watcher?.close();
      watcher = undefined;
    });
  } catch {
    /* no fs.watch here: the poll alone */
  }
  const timer = setInterval(changed, Math.max(50, pollMs));
  timer.unref();
  return {
    close: () => {
      watcher?.close();
      watcher = undefined;
      clearInterval(timer);
    },
  };
}
