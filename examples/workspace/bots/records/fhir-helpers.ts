import type { Reference, Resource } from '@medplum/fhirtypes';

// A module the bots share: it exports no handler, so it is not listed as a bot.

export function getReferenceString(resource: Resource): string {
  return `${resource.resourceType}/${resource.id}`;
}

export function createReference<T extends Resource>(resource: T): Reference<T> {
  return { reference: getReferenceString(resource) };
}
