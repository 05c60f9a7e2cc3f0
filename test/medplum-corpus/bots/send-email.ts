// sendEmail: captured locally (not sent), answered as a Medplum server answers, with an OK outcome.
import { getStatus, isOk } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import { check } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const outcome = await medplum.sendEmail({
    to: 'care-team@example.org',
    cc: ['lead@example.org'],
    subject: `Corpus reminder ${event.traceId}`,
    text: 'The corpus ran sendEmail.',
  });
  check(outcome?.resourceType === 'OperationOutcome', `sendEmail: expected an OperationOutcome, got ${JSON.stringify(outcome)}`);
  check(isOk(outcome), `sendEmail: expected an OK outcome, got ${JSON.stringify(outcome)} (status ${getStatus(outcome)})`);
  return { ok: true };
}
