import type { BotEvent, MedplumClient } from '@medplum/core';

/**
 * A high-volume bot whose runs go to the log stream only (`auditEventDestination: "log"` in
 * bot-audit.json): its Events list stays empty, and the Bots view says why.
 */
export async function handler(_medplum: MedplumClient, event: BotEvent<{ day?: string }>): Promise<{ day: string; lines: number }> {
  const day = event.input?.day ?? 'today';
  console.log(`Nightly report for ${day}`);
  return { day, lines: 0 };
}
