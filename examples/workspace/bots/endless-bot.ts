import type { BotEvent, MedplumClient } from '@medplum/core';

/** Waits for a reply that never comes. Only the run's timeout ends it. */
export async function handler(_medplum: MedplumClient, event: BotEvent<{ pollEveryMs?: number }>): Promise<void> {
  const every = event.input?.pollEveryMs ?? 1000;
  console.log(`Polling every ${every} ms for a reply…`);
  let polls = 0;
  setInterval(() => console.log(`poll ${++polls}: no reply yet`), every);
  await new Promise<never>(() => {
    /* never settles */
  });
}
