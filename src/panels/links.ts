// Links to the audit log: `<scheme>://<extension id>/log?log=team&variant=…&query=…&order=…&entry=…`
// (`log=team` for the team log: a link says which log it points into; none is this workspace's own).
// Pure string work, shared by "Copy link" and the UriHandler; no `vscode`.
import type { LogName, LogVariant, SortOrder } from './protocol';

export interface LogLink {
  /** The log it points into (an entry ID means something in one log only); 'local' when absent. */
  log?: LogName;
  variant: LogVariant;
  query: string;
  order?: SortOrder;
  /** The entry to select: a permalink. */
  entry?: number;
}

export const LOG_LINK_PATH = '/log';

/** The query string of a link (without `?`). */
export function encodeLogLink(link: LogLink): string {
  const p = new URLSearchParams();
  if (link.log === 'team') p.set('log', 'team');
  if (link.variant.kind !== 'log') p.set('variant', JSON.stringify(link.variant));
  if (link.query) p.set('query', link.query);
  if (link.order) p.set('order', link.order);
  if (link.entry !== undefined) p.set('entry', String(link.entry));
  return p.toString();
}

/** Reads a link's query string; throws an Error saying what is wrong with it. */
export function decodeLogLink(search: string): LogLink {
  const p = new URLSearchParams(search);
  const link: LogLink = { variant: { kind: 'log' }, query: p.get('query') ?? '' };
  const log = p.get('log');
  if (log !== null) {
    if (log !== 'team' && log !== 'local') throw new Error(`the log must be "team" or "local", not "${log}"`);
    link.log = log;
  }
  const order = p.get('order');
  if (order !== null) {
    if (order !== 'asc' && order !== 'desc') throw new Error(`the order must be "asc" or "desc", not "${order}"`);
    link.order = order;
  }
  const entry = p.get('entry');
  if (entry !== null) {
    if (!/^[1-9]\d{0,15}$/.test(entry)) throw new Error(`"${entry}" is not an entry ID`);
    link.entry = Number(entry);
  }
  const variant = p.get('variant');
  if (variant !== null) link.variant = parseVariant(variant);
  return link;
}

function parseVariant(text: string): LogVariant {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    throw new Error('the variant is not JSON');
  }
  const o = (typeof v === 'object' && v !== null ? v : {}) as Record<string, unknown>;
  if (o.kind === 'log') return { kind: 'log' };
  if (o.kind === 'botEvents' && typeof o.bot === 'string' && typeof o.query === 'string') return { kind: 'botEvents', bot: o.bot, query: o.query };
  if (o.kind === 'history' && typeof o.entityName === 'string' && typeof o.entityId === 'string')
    return { kind: 'history', entityName: o.entityName, entityId: o.entityId };
  throw new Error('the variant is not one of log, botEvents or history');
}
