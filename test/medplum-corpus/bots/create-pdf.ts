// createPdf needs a Medplum server's PDF service: locally it must fail, and say so.
import type { BotEvent, MedplumClient } from '@medplum/core';
import { expectFailure } from './lib/helpers';

export async function handler(medplum: MedplumClient, _event: BotEvent): Promise<unknown> {
  const f = await expectFailure(
    'createPdf',
    () => medplum.createPdf({ docDefinition: { content: ['Corpus report'] }, filename: 'report.pdf' }),
    undefined,
    /createPdf is not available when bots run locally/,
  );
  return { ok: true, message: f.message };
}
