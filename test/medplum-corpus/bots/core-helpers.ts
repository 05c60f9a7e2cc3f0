// @medplum/core's helpers, from the workspace's own @medplum/core, on what the server returns:
// references, display strings, names, identifiers, FHIRPath, and errors made readable.
import {
  calculateAgeString,
  createReference,
  evalFhirPath,
  formatHumanName,
  generateId,
  getDisplayString,
  getIdentifier,
  getReferenceString,
  isOperationOutcome,
  isReference,
  isResource,
  normalizeErrorString,
  resolveId,
} from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { HumanName, Patient } from '@medplum/fhirtypes';
import { MRN, check, expectEqual, outcomeOf, runTag, tagged } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const patient = await medplum.createResource<Patient>(
    tagged(tag, { resourceType: 'Patient', name: [{ prefix: ['Dr.'], given: ['Grace', 'Brewster'], family: 'Hopper' }], birthDate: '1906-12-09', identifier: [{ system: MRN, value: `GH-${tag.code}` }] }),
  );
  check(isResource(patient), 'isResource(patient)');
  const ref = createReference(patient);
  check(isReference(ref), 'isReference(createReference(patient))');
  expectEqual(ref, { reference: `Patient/${patient.id}`, display: 'Dr. Grace Brewster Hopper' }, 'createReference');
  expectEqual(getReferenceString(patient), `Patient/${patient.id}`, 'getReferenceString(resource)');
  expectEqual(resolveId(ref), patient.id, 'resolveId');
  expectEqual(getDisplayString(patient), 'Dr. Grace Brewster Hopper', 'getDisplayString');
  expectEqual(formatHumanName(patient.name?.[0] as HumanName), 'Dr. Grace Brewster Hopper', 'formatHumanName');
  expectEqual(getIdentifier(patient, MRN), `GH-${tag.code}`, 'getIdentifier');
  expectEqual(evalFhirPath("Patient.name.given.first() + ' ' + Patient.name.family", patient), ['Grace Hopper'], 'evalFhirPath');
  check(/^\d{3}Y$/.test(calculateAgeString(patient.birthDate as string) ?? ''), `calculateAgeString: ${calculateAgeString(patient.birthDate as string)}`);

  const org = await medplum.createResource(tagged(tag, { resourceType: 'Organization', name: 'Corpus Navy Lab' }));
  expectEqual(getDisplayString(org), 'Corpus Navy Lab', 'getDisplayString(Organization)');

  let message = '';
  try {
    await medplum.readResource('Patient', generateId());
  } catch (err) {
    check(isOperationOutcome(outcomeOf(err)), 'the error of a failed read carries an OperationOutcome');
    message = normalizeErrorString(err);
  }
  check(/not found/i.test(message), `normalizeErrorString of a failed read: ${JSON.stringify(message)}`);
  return { ok: true, message };
}
