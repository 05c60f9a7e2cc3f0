// The event a bot gets, as Medplum's runtime passes it: bot, requester, baseUrl, traceId,
// secrets, contentType and input (the sample input of bot-audit.json).
import { getReferenceString, resolveId } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import { check, expectEqual } from './lib/helpers';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export async function handler(medplum: MedplumClient, event: BotEvent<{ patient?: string; visits?: number[] }> & { baseUrl?: string }): Promise<unknown> {
  check(/^Bot\//.test(event.bot?.reference ?? '') && UUID.test(resolveId(event.bot) ?? ''), `event.bot.reference is not Bot/<uuid>: ${event.bot?.reference}`);

  check(event.requester, 'event.requester is missing');
  const requester = await medplum.readReference(event.requester);
  expectEqual(getReferenceString(requester), event.requester.reference, 'readReference(event.requester)');
  check(['Practitioner', 'Patient', 'RelatedPerson', 'Bot', 'ClientApplication'].includes(requester.resourceType), `event.requester is a ${requester.resourceType}`);

  check(typeof event.baseUrl === 'string' && /^https?:\/\/.+\/$/.test(event.baseUrl), `event.baseUrl is not a base URL: ${event.baseUrl}`);
  expectEqual(medplum.getBaseUrl(), event.baseUrl, 'the client’s base URL is event.baseUrl');
  check(typeof event.traceId === 'string' && event.traceId.length > 0, `event.traceId: ${event.traceId}`);

  const secret = event.secrets?.CORPUS_API_KEY;
  check(secret, `event.secrets has no CORPUS_API_KEY (keys: ${Object.keys(event.secrets ?? {}).join(', ') || 'none'})`);
  expectEqual(secret.name, 'CORPUS_API_KEY', 'the secret’s name');
  check(typeof secret.valueString === 'string' && secret.valueString.startsWith('corpus-'), 'the secret’s valueString (from .env) does not start with corpus-');

  expectEqual(event.contentType, 'application/json', 'event.contentType');
  expectEqual(event.input, { patient: 'Ada Lovelace', visits: [1, 2, 3] }, 'event.input (the sample input)');
  return { ok: true, secretLength: secret.valueString.length };
}
