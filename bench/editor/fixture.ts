// Builds the editor benchmark's workspace once (cached under .cache/bench/): 500 bots in 25 folders
// and a log of 1M entries, mostly runs of those bots. Run by bench/editor.mjs in its own process.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AuditStore, type NewEntry, type Outcome } from '../../src/core/store';
import { rng } from '../data';

export const BOT_COUNT = 500;
export const FOLDERS = 25;

export function botPath(i: number): string {
  return `bots/group-${String(i % FOLDERS).padStart(2, '0')}/bot-${String(i).padStart(3, '0')}.ts`;
}

async function main(): Promise<void> {
  const [ws, totalArg] = process.argv.slice(2);
  const total = Number(totalArg ?? 1_000_000);
  for (let i = 0; i < BOT_COUNT; i++) {
    const file = path.join(ws, botPath(i));
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, `export async function handler(medplum: unknown, event: { input?: unknown }) {\n  console.log('bot ${i}', event.input);\n  return ${i};\n}\n`);
  }
  const db = path.join(ws, '.bot-audit', 'audit.db');
  fs.mkdirSync(path.dirname(db), { recursive: true });
  const store = await AuditStore.open(db, { watch: false, autoCheckpoint: false });
  const r = rng(7);
  const start = Date.now() - 90 * 86_400_000;
  const outcomes: Outcome[] = [0, 0, 0, 0, 0, 0, 4, 8, 12];
  const batch = 5000;
  for (let done = store.size; done < total; ) {
    const n = Math.min(batch, total - done);
    const es: NewEntry[] = [];
    for (let k = 0; k < n; k++) {
      const i = done + k;
      const bot = Math.floor(r() * BOT_COUNT);
      const t = start + Math.floor((i / total) * 90 * 86_400_000);
      const outcome = outcomes[Math.floor(r() * outcomes.length)];
      es.push({
        user: r() < 0.5 ? 'dev@example.com' : 'ops@example.com',
        action: 'EXECUTED',
        entityName: 'Bot',
        entityId: botPath(bot),
        bot: `bot-${String(bot).padStart(3, '0')}`,
        outcome,
        failureKind: outcome === 0 ? undefined : outcome === 4 ? 'client-error' : outcome === 8 ? 'error' : 'crash',
        outcomeDesc: `${new Date(t).toISOString()} [log] bot ${bot} { n: ${i} }`,
        periodStart: t,
        periodEnd: t + 5 + Math.floor(r() * 200),
        contentType: 'application/json',
        input: `{"n":${i}}`,
        recorded: t,
      });
    }
    await store.appendBatch(es);
    done += n;
    if (done % 100_000 === 0) process.stderr.write(`  ${done} entries\n`);
  }
  await store.close();
}

if (require.main === module) {
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
}
