import type { BotEvent, MedplumClient } from '@medplum/core';
import type { OperationOutcome, Patient } from '@medplum/fhirtypes';

/** Raised like Medplum's OperationOutcomeError: a 400 with an OperationOutcome. */
class BadRequest extends Error {
  readonly outcome: OperationOutcome;
  constructor(text: string, expression?: string) {
    super(text);
    this.outcome = {
      resourceType: 'OperationOutcome',
      id: 'bad-request',
      issue: [{ severity: 'error', code: 'invalid', details: { text }, expression: expression ? [expression] : undefined }],
    };
  }
}

/**
 * Checks that the input is a Patient with a name and a valid birth date.
 * Rejects anything else as a bad request (outcome 4, Minor failure).
 */
export async function handler(_medplum: MedplumClient, event: BotEvent<Patient>): Promise<OperationOutcome> {
  const patient = event.input;
  if (patient?.resourceType !== 'Patient') {
    throw new BadRequest(`Expected a Patient, got ${patient?.resourceType ?? typeof patient}`, 'resourceType');
  }
  if (!patient.name?.length) {
    throw new BadRequest('Patient has no name', 'Patient.name');
  }
  if (patient.birthDate && !/^\d{4}-\d{2}-\d{2}$/.test(patient.birthDate)) {
    throw new BadRequest(`Invalid birthDate ${patient.birthDate}`, 'Patient.birthDate');
  }
  console.log(`Patient ${patient.name[0].family ?? ''} is valid`);
  return { resourceType: 'OperationOutcome', issue: [{ severity: 'information', code: 'informational', details: { text: 'OK' } }] };
}
