// executeBot: runs the corpus's child bot by its name and by its id (medplum.config.json), with a
// JSON body; a bot that does not exist is an error.
import type { BotEvent, MedplumClient } from '@medplum/core';
import { expectEqual, expectFailure } from './lib/helpers';

/** child-double's id in medplum.config.json. */
const CHILD_ID = '5c0f3a9e-2d41-4b6a-8e17-c4d2a1b0e9f3';

export async function handler(medplum: MedplumClient, _event: BotEvent): Promise<unknown> {
  const byName = await medplum.executeBot('child-double', { n: 21 }, 'application/json');
  expectEqual(byName, { doubled: 42, bot: `Bot/${CHILD_ID}` }, "executeBot('child-double')");
  const byId = await medplum.executeBot(CHILD_ID, { n: 5 }, 'application/json');
  expectEqual(byId?.doubled, 10, 'executeBot(<id>)');
  await expectFailure('executeBot of a bot that does not exist', () => medplum.executeBot('no-such-corpus-bot', {}, 'application/json'), undefined, /no-such-corpus-bot/);
  return { ok: true };
}
