import { OUTCOME_NAMES, type Entry } from '../../core/store';
import type { EntryRow } from '../protocol';

/** The table's view of an entry: plain values, the first line of the description. */
export function toRow(e: Entry): EntryRow {
  const firstLine = e.outcomeDesc?.split('\n', 1)[0];
  return {
    id: e.id,
    user: e.user,
    action: e.action,
    entityName: e.entityName,
    entityId: e.entityId,
    recorded: e.recorded,
    bot: e.bot,
    outcome: e.outcome,
    outcomeName: e.outcome === undefined ? undefined : OUTCOME_NAMES[e.outcome],
    outcomeDescFirstLine: firstLine,
  };
}
