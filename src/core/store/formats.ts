// Export formats: CSV, NDJSON, and a FHIR R4 Bundle of AuditEvent resources. Each is written as a
// head, one chunk per entry, and a tail, so that exports stream.
import { outcomeName, type Entry } from './types';

export type ExportFormat = 'csv' | 'ndjson' | 'fhir';

export interface Formatter {
  head: string;
  entry(e: Entry, index: number): string;
  tail: string;
}

const iso = (ms: number | undefined) => (ms === undefined ? '' : new Date(ms).toISOString());
const json = (v: unknown) => (v === undefined ? '' : JSON.stringify(v));

const CSV_COLUMNS: [string, (e: Entry) => string | number | undefined][] = [
  ['id', (e) => e.id],
  ['uuid', (e) => e.uuid],
  ['timestamp', (e) => iso(e.recorded)],
  ['user', (e) => e.user],
  ['action', (e) => e.action],
  ['entity_name', (e) => e.entityName],
  ['entity_id', (e) => e.entityId],
  ['bot', (e) => e.bot],
  ['outcome', (e) => e.outcome],
  ['outcome_name', (e) => (e.outcome === undefined ? undefined : outcomeName(e.outcome))],
  ['failure_kind', (e) => e.failureKind],
  ['outcome_desc', (e) => e.outcomeDesc],
  ['period_start', (e) => iso(e.periodStart)],
  ['period_end', (e) => iso(e.periodEnd)],
  ['trace_id', (e) => e.traceId],
  ['content_type', (e) => e.contentType],
  ['input', (e) => e.input],
  ['return_value', (e) => e.returnValue],
  ['before', (e) => json(e.before)],
  ['after', (e) => json(e.after)],
  ['replay_of', (e) => e.replayOf],
  ['on_behalf_of', (e) => e.onBehalfOf],
  ['prev_hash', (e) => e.prevHash],
  ['hash', (e) => e.hash],
];

/**
 * One CSV field (RFC 4180). Text that a spreadsheet would run as a formula (=, +, -, @, tab, CR at
 * the start) gets a leading apostrophe, the OWASP advice for CSV injection.
 */
export function csvField(v: string | number | undefined): string {
  if (v === undefined) return '';
  if (typeof v === 'number') return String(v);
  let s = v;
  if (/^[=+\-@\t\r]/.test(s)) s = "'" + s;
  return /[",\r\n]/.test(s) || s !== v ? '"' + s.replace(/"/g, '""') + '"' : s;
}

/** The columns a team log's export adds: which log each entry came from, and its ID there. */
const ORIGIN_COLUMNS: [string, (e: Entry) => string | number | undefined][] = [
  ['origin', (e) => e.origin],
  ['origin_id', (e) => e.originId],
];

const csv: (origins: boolean) => Formatter = (origins) => {
  const cols = origins ? [...CSV_COLUMNS, ...ORIGIN_COLUMNS] : CSV_COLUMNS;
  return {
    head: cols.map(([n]) => n).join(',') + '\r\n',
    entry: (e) => cols.map(([, f]) => csvField(f(e))).join(',') + '\r\n',
    tail: '',
  };
};

const ndjson: () => Formatter = () => ({
  head: '',
  entry: (e) => JSON.stringify(e) + '\n',
  tail: '',
});

const FHIR_ACTION: Record<Entry['action'], string> = {
  CREATED: 'C',
  UPDATED: 'U',
  DELETED: 'D',
  EXECUTED: 'E',
  LOGIN: 'E',
  LOGOUT: 'E',
  INVITED: 'E',
  ACCEPTED: 'E',
};

const REST_INTERACTION: Partial<Record<Entry['action'], string>> = { CREATED: 'create', UPDATED: 'update', DELETED: 'delete' };

/** An R4 AuditEvent for an entry. Bot runs look as Medplum writes them (type `execute`, period, outcome, outcomeDesc, agent, source, entity). */
export function toAuditEvent(e: Entry): Record<string, unknown> {
  const ev: Record<string, unknown> = { resourceType: 'AuditEvent', id: e.uuid, meta: { lastUpdated: iso(e.recorded) } };
  if (e.action === 'EXECUTED') {
    ev.type = { code: 'execute' };
  } else if (REST_INTERACTION[e.action]) {
    ev.type = { system: 'http://terminology.hl7.org/CodeSystem/audit-event-type', code: 'rest', display: 'RESTful Operation' };
    ev.subtype = [{ system: 'http://hl7.org/fhir/restful-interaction', code: REST_INTERACTION[e.action] }];
  } else if (e.action === 'LOGIN' || e.action === 'LOGOUT') {
    ev.type = { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110114', display: 'User Authentication' };
    ev.subtype = [
      e.action === 'LOGIN'
        ? { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110122', display: 'Login' }
        : { system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110123', display: 'Logout' },
    ];
  } else {
    ev.type = { system: 'urn:bot-audit:action', code: e.action.toLowerCase() };
  }
  ev.action = FHIR_ACTION[e.action];
  if (e.periodStart !== undefined || e.periodEnd !== undefined) {
    const period: Record<string, string> = {};
    if (e.periodStart !== undefined) period.start = iso(e.periodStart);
    if (e.periodEnd !== undefined) period.end = iso(e.periodEnd);
    ev.period = period;
  }
  ev.recorded = iso(e.recorded);
  if (e.outcome !== undefined) ev.outcome = String(e.outcome);
  if (e.outcomeDesc !== undefined) ev.outcomeDesc = e.outcomeDesc;
  const agents: Record<string, unknown>[] = [];
  if (e.action === 'EXECUTED') agents.push({ type: { text: 'bot' }, ...(e.bot ? { who: { display: e.bot } } : {}), requestor: false });
  agents.push({ type: { text: 'user' }, who: { display: e.user }, requestor: true });
  ev.agent = agents;
  ev.source = { observer: { display: e.bot ?? 'Bot Audit' } };
  const details: { type: string; valueString: string }[] = [];
  if (e.contentType !== undefined) details.push({ type: 'contentType', valueString: e.contentType });
  if (e.input !== undefined) details.push({ type: 'input', valueString: e.input });
  if (e.returnValue !== undefined) details.push({ type: 'returnValue', valueString: e.returnValue });
  if (e.before !== undefined) details.push({ type: 'before', valueString: JSON.stringify(e.before) });
  if (e.after !== undefined) details.push({ type: 'after', valueString: JSON.stringify(e.after) });
  if (e.failureKind !== undefined) details.push({ type: 'failureKind', valueString: e.failureKind });
  const entities: Record<string, unknown>[] = [];
  if (e.action === 'EXECUTED' && e.bot) entities.push({ what: { display: `Bot/${e.bot}` } });
  entities.push({ what: { display: `${e.entityName}/${e.entityId}` }, ...(details.length ? { detail: details } : {}) });
  ev.entity = entities;
  const ext: Record<string, unknown>[] = [];
  if (e.traceId !== undefined) {
    ext.push({ url: 'https://medplum.com/fhir/StructureDefinition/tracing', extension: [{ url: 'traceId', valueId: e.traceId }] });
  }
  ext.push({
    url: 'urn:bot-audit:chain',
    extension: [
      { url: 'id', valueInteger: e.id },
      { url: 'prevHash', valueString: e.prevHash },
      { url: 'hash', valueString: e.hash },
      ...(e.replayOf !== undefined ? [{ url: 'replayOf', valueInteger: e.replayOf }] : []),
      // From a team log: the chain above is the origin log's, where the entry has ID originId.
      ...(e.origin !== undefined ? [{ url: 'origin', valueString: e.origin }] : []),
      ...(e.originId !== undefined ? [{ url: 'originId', valueInteger: e.originId }] : []),
    ],
  });
  ev.extension = ext;
  return ev;
}

const fhir: (now: number) => Formatter = (now) => ({
  head: `{"resourceType":"Bundle","type":"collection","timestamp":${JSON.stringify(new Date(now).toISOString())},"entry":[`,
  entry: (e, i) => (i ? ',' : '') + JSON.stringify({ fullUrl: `urn:uuid:${e.uuid}`, resource: toAuditEvent(e) }),
  tail: ']}\n',
});

/** `origins`: the entries come from a team log; CSV gets the columns origin and origin_id (NDJSON and FHIR carry them anyway). */
export function formatter(format: ExportFormat, now: number, opts: { origins?: boolean } = {}): Formatter {
  switch (format) {
    case 'csv':
      return csv(opts.origins === true);
    case 'ndjson':
      return ndjson();
    case 'fhir':
      return fhir(now);
    default:
      throw new Error(`unknown export format ${String(format)}`);
  }
}
