/** The bot the "Create a Sample Bot" button writes: a Medplum-style handler. */
export const SAMPLE_BOT_SOURCE = `import type { BotEvent, MedplumClient } from '@medplum/core';

/**
 * A first bot. Run it from the Bots view or the command palette with input such as
 * {"name": "Ada"}: what it prints becomes the run's outcome description.
 */
export async function handler(medplum: MedplumClient, event: BotEvent<{ name?: string }>): Promise<string> {
  const name = event.input?.name ?? 'world';
  console.log('Hello,', name);
  return \`Hello, \${name}!\`;
}
`;
