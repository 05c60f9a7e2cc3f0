import type { BotEvent, MedplumClient } from '@medplum/core';

/** Caches every row it ever sees and never lets go: runs out of memory. */
export async function handler(_medplum: MedplumClient, event: BotEvent<{ rowKb?: number }>): Promise<number> {
  const rowKb = event.input?.rowKb ?? 64;
  const cache: string[][] = [];
  console.log(`Caching rows of ${rowKb} KiB…`);
  for (let i = 0; ; i++) {
    cache.push(Array.from({ length: 64 }, (_, j) => `${i}:${j}:`.padEnd(rowKb * 16, 'x')));
    if (i % 1000 === 0) console.log(`${i} rows cached`);
  }
}
