// _sort (ascending, descending, several rules), _count and _offset, _total=accurate,
// _summary=count and _elements.
import { getReferenceString } from '@medplum/core';
import type { BotEvent, MedplumClient } from '@medplum/core';
import type { Bundle, Patient } from '@medplum/fhirtypes';
import { check, expectEqual, runTag, tagged, tokenOf } from './lib/helpers';

export async function handler(medplum: MedplumClient, event: BotEvent): Promise<unknown> {
  const tag = runTag(event);
  const t = tokenOf(tag);
  const people: [string, string, string][] = [
    ['Delta', 'Dan', '1970-01-01'],
    ['Alpha', 'Amy', '1990-01-01'],
    ['Charlie', 'Cid', '1960-01-01'],
    ['Alpha', 'Abe', '1950-01-01'],
    ['Bravo', 'Bea', '1980-01-01'],
  ];
  for (const [family, given, birthDate] of people) {
    await medplum.createResource(tagged(tag, { resourceType: 'Patient', name: [{ family, given: [given] }], birthDate }));
  }
  const given = (b: Bundle<Patient>) => (b.entry ?? []).map((e) => e.resource?.name?.[0]?.given?.[0]);
  const search = (query: Record<string, string>) => medplum.search('Patient', { _tag: t, ...query });

  expectEqual(given(await search({ _sort: 'birthdate' })), ['Abe', 'Cid', 'Dan', 'Bea', 'Amy'], '_sort=birthdate');
  expectEqual(given(await search({ _sort: '-birthdate' })), ['Amy', 'Bea', 'Dan', 'Cid', 'Abe'], '_sort=-birthdate');
  expectEqual(given(await search({ _sort: 'family,birthdate' })), ['Abe', 'Amy', 'Bea', 'Cid', 'Dan'], '_sort=family,birthdate');
  expectEqual(given(await search({ _sort: 'family,-birthdate' })), ['Amy', 'Abe', 'Bea', 'Cid', 'Dan'], '_sort=family,-birthdate');
  expectEqual(given(await search({ _sort: '-family,given' })), ['Dan', 'Cid', 'Bea', 'Abe', 'Amy'], '_sort=-family,given');

  expectEqual(given(await search({ _sort: 'birthdate', _count: '2' })), ['Abe', 'Cid'], '_count=2');
  expectEqual(given(await search({ _sort: 'birthdate', _count: '2', _offset: '2' })), ['Dan', 'Bea'], '_count=2&_offset=2');
  expectEqual(given(await search({ _sort: 'birthdate', _count: '2', _offset: '4' })), ['Amy'], '_count=2&_offset=4');

  const counted = await search({ _total: 'accurate', _count: '1' });
  expectEqual([counted.total, counted.entry?.length], [5, 1], '_total=accurate&_count=1: total and page size');
  const summary = await search({ _summary: 'count' });
  expectEqual([summary.total, summary.entry?.length ?? 0], [5, 0], '_summary=count: a total and no entries');

  const elements = await search({ _elements: 'name', _sort: 'family' });
  const first = elements.entry?.[0]?.resource;
  check(first?.id && first.name, `_elements=name: expected id and name, got ${JSON.stringify(first)}`);
  expectEqual(first.birthDate, undefined, '_elements=name: birthDate is left out');
  check(getReferenceString(first).startsWith('Patient/'), 'getReferenceString of a subsetted resource');
  return { ok: true };
}
