import { outcomeSummary } from '../../core/format/outcomeDesc';
import { outcomeName, type Entry } from '../../core/store/types';
import type { EntryDetail, EntryRow } from '../protocol';

/** Every key of T, each given (perhaps as undefined): the compiler names any that is left out. */
type EveryKey<T> = { [K in keyof Required<T>]: T[K] };

/** The table's view of an entry: plain values, the first line of the description. */
export function toRow(e: Entry): EveryKey<EntryRow> {
  return {
    id: e.id,
    user: e.user,
    action: e.action,
    entityName: e.entityName,
    entityId: e.entityId,
    recorded: e.recorded,
    bot: e.bot,
    outcome: e.outcome,
    outcomeName: e.outcome === undefined ? undefined : outcomeName(e.outcome),
    outcomeDescFirstLine: outcomeSummary(e.outcomeDesc),
    onBehalfOf: e.onBehalfOf,
  };
}

/** Everything the detail pane shows; snapshots travel as JSON text and are parsed by the page. */
export function toDetail(e: Entry): EntryDetail {
  const detail: EveryKey<EntryDetail> = {
    ...toRow(e),
    uuid: e.uuid,
    outcomeDesc: e.outcomeDesc,
    failureKind: e.failureKind,
    periodStart: e.periodStart,
    periodEnd: e.periodEnd,
    traceId: e.traceId,
    contentType: e.contentType,
    input: e.input,
    returnValue: e.returnValue,
    replayOf: e.replayOf,
    hash: e.hash,
    prevHash: e.prevHash,
    origin: e.origin,
    originId: e.originId,
    before: e.before === undefined ? undefined : JSON.stringify(e.before),
    after: e.after === undefined ? undefined : JSON.stringify(e.after),
  };
  return detail;
}
