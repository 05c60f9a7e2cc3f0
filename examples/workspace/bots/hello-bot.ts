import type { BotEvent, MedplumClient } from '@medplum/core';

interface Greeting {
  name?: string;
  language?: 'en' | 'fr' | 'de';
}

const GREETINGS = { en: 'Hello', fr: 'Bonjour', de: 'Hallo' } as const;

/** Greets whoever the input names. Succeeds, and logs at every level along the way. */
export async function handler(_medplum: MedplumClient, event: BotEvent<Greeting>): Promise<string> {
  const name = event.input?.name ?? 'world';
  const language = event.input?.language ?? 'en';
  console.log(`Greeting ${name} in ${language}`);
  console.info('Input was', event.input);
  if (!(language in GREETINGS)) {
    console.warn(`Unknown language ${language}; falling back to English`);
  }
  const greeting = `${GREETINGS[language] ?? GREETINGS.en}, ${name}!`;
  console.log(greeting);
  return greeting;
}
