import { createReference, getReferenceString } from './fhir-helpers';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Bundle, Observation, Patient } from '@medplum/fhirtypes';

/**
 * Admits a patient with two heart-rate readings in one transaction, finds the readings again
 * (newest first), corrects the patient, reads the patient's history, and emails a summary
 * (captured locally, not sent). Shows what the local FHIR server answers, as a Medplum server would.
 */
export async function handler(medplum: MedplumClient, event: BotEvent<{ family: string }>): Promise<Record<string, unknown>> {
  const family = event.input?.family ?? 'Doe';
  const tx: Bundle = {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      { fullUrl: 'urn:uuid:0c4bd9b5-6c1f-4c55-9d1e-3b0f3c7a2f11', request: { method: 'POST', url: 'Patient' }, resource: { resourceType: 'Patient', name: [{ family }] } },
      ...[68, 74].map((value, i) => ({
        request: { method: 'POST' as const, url: 'Observation' },
        resource: {
          resourceType: 'Observation' as const,
          status: 'final' as const,
          code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
          subject: { reference: 'urn:uuid:0c4bd9b5-6c1f-4c55-9d1e-3b0f3c7a2f11' },
          effectiveDateTime: `2026-01-0${i + 1}T08:00:00Z`,
          valueQuantity: { value, unit: 'beats/minute' },
        },
      })),
    ],
  };
  const result = await medplum.executeBatch(tx);
  const patientRef = result.entry?.[0]?.response?.location?.split('/_history')[0] ?? '';
  const patient = await medplum.readReference<Patient>({ reference: patientRef });
  const readings = await medplum.searchResources('Observation', { subject: getReferenceString(patient), code: 'http://loinc.org|8867-4', _sort: '-date' });
  const corrected = await medplum.updateResource<Patient>({ ...patient, name: [{ family: family.toUpperCase(), use: 'official' }] });
  const history = await medplum.readHistory('Patient', corrected.id as string);
  await medplum.sendEmail({
    to: 'ward@example.com',
    subject: `Admitted ${family}`,
    text: readings.map((o: Observation) => `${o.effectiveDateTime}: ${o.valueQuantity?.value} bpm`).join('\n'),
  });
  console.log(`Admitted ${getReferenceString(corrected)}; ${readings.length} readings; ${history.entry?.length} versions`);
  return { patient: createReference(corrected), readings: readings.map((o) => o.valueQuantity?.value), versions: history.entry?.length };
}
