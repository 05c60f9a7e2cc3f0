import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Observation, Patient } from '@medplum/fhirtypes';

interface Admission {
  family: string;
  given: string;
  birthDate?: string;
  heartRate?: number;
}

/**
 * Admits a patient: creates the Patient and a heart-rate Observation, corrects the patient's
 * name, then removes the observation again. Every step goes through `medplum`, so each one is
 * a CREATED, UPDATED or DELETED entry in the audit log.
 */
export async function handler(medplum: MedplumClient, event: BotEvent<Admission>): Promise<Patient> {
  const { family, given, birthDate, heartRate = 72 } = event.input;
  const patient = await medplum.createResource<Patient>({
    resourceType: 'Patient',
    name: [{ family, given: [given] }],
    birthDate,
  });
  console.log(`Created Patient/${patient.id}`);

  const observation = await medplum.createResource<Observation>({
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patient.id}` },
    valueQuantity: { value: heartRate, unit: 'beats/minute' },
  });
  console.log(`Created Observation/${observation.id}`);

  const updated = await medplum.updateResource<Patient>({
    ...patient,
    name: [{ family: family.toUpperCase(), given: [given], use: 'official' }],
  });
  console.log(`Updated Patient/${updated.id} to version ${updated.meta?.versionId}`);

  await medplum.deleteResource('Observation', observation.id as string);
  console.log(`Deleted Observation/${observation.id}`);
  return updated;
}
