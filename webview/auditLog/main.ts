// The audit-log page. Browser code only: it talks to the host through the shared protocol
// and renders every value as text.
import './auditLog.css';
import { EntryRow, LogState, isHostNotification } from '../../src/webviews/protocol';
import { clear, el } from '../dom';
import { badge, button, progressRing, registerToolkit, textField } from '../toolkit';
import { vscodeApi } from '../vscodeApi';

registerToolkit();
const vscode = vscodeApi<{ query?: string }>();

const app = document.getElementById('app')!;
const refresh = button('Refresh', { appearance: 'secondary', icon: 'refresh', title: 'Refresh' });
const query = textField('Filter, e.g. action:UPDATED user:dev@example.com', { ariaLabel: 'Query' });
const saved = vscode.getState()?.query;
if (saved !== undefined) query.value = saved;
let debounce: ReturnType<typeof setTimeout> | undefined;
query.addEventListener('input', () => {
  vscode.setState({ query: query.value });
  if (debounce) clearTimeout(debounce);
  debounce = setTimeout(() => vscode.postMessage({ type: 'setQuery', query: query.value }), 200);
});
const queryError = el('div', { class: 'query-error', role: 'alert', 'aria-live': 'polite' });
const title = el('h1', {}, 'Audit Log');
const count = el('span', { class: 'count', 'aria-live': 'polite' });
const body = el('div', { class: 'body' }, progressRing());

app.append(
  el('header', { class: 'toolbar' }, title, count, el('span', { class: 'spacer' }), refresh),
  el('div', { class: 'filters' }, query),
  queryError,
  body,
);

refresh.addEventListener('click', () => vscode.postMessage({ type: 'refresh' }));

type ColumnDef = { key: string; label: string; cell: (r: EntryRow) => Node | string };
const outcomeCell = (r: EntryRow) => (r.outcome === undefined ? '' : el('span', { class: `outcome outcome-${r.outcome}` }, r.outcomeName ?? String(r.outcome)));
/** Medplum's Event tab: ID, Outcome, Outcome Desc, Last Updated. */
const EVENT_COLUMNS: ColumnDef[] = [
  { key: 'id', label: 'ID', cell: (r) => String(r.id) },
  { key: 'outcome', label: 'Outcome', cell: outcomeCell },
  { key: 'desc', label: 'Outcome Desc', cell: (r) => r.outcomeDescFirstLine ?? '' },
  { key: 'recorded', label: 'Last Updated', cell: (r) => new Date(r.recorded).toLocaleString() },
];
const COLUMNS: ColumnDef[] = [
  { key: 'id', label: 'ID', cell: (r) => String(r.id) },
  { key: 'user', label: 'User', cell: (r) => r.user },
  { key: 'action', label: 'Action', cell: (r) => el('span', { class: `action action-${r.action.toLowerCase()}` }, r.action) },
  { key: 'entityName', label: 'Entity Name', cell: (r) => r.entityName },
  { key: 'entityId', label: 'Entity ID', cell: (r) => r.entityId },
  { key: 'recorded', label: 'Timestamp', cell: (r) => new Date(r.recorded).toLocaleString() },
  { key: 'outcome', label: 'Outcome', cell: outcomeCell },
  { key: 'desc', label: 'Outcome Desc', cell: (r) => r.outcomeDescFirstLine ?? '' },
];

function render(state: LogState): void {
  clear(body);
  const columns = state.variant.kind === 'botEvents' ? EVENT_COLUMNS : COLUMNS;
  title.textContent = state.variant.kind === 'botEvents' ? `Events: ${state.variant.bot}` : 'Audit Log';
  if (document.activeElement !== query) query.value = state.query;
  queryError.textContent = state.queryError ?? '';
  count.textContent = `${state.entries.length} of ${state.total} entries`;
  if (state.error) {
    body.append(el('div', { class: 'message error', role: 'alert' }, el('span', { class: 'codicon codicon-error' }), ' ', state.error));
    return;
  }
  if (state.total === 0 && !state.query) {
    body.append(
      el(
        'div',
        { class: 'message empty' },
        el('span', { class: 'codicon codicon-checklist' }),
        el('p', {}, 'No entries yet.'),
        el('p', { class: 'hint' }, 'Every bot run and every change to a record will appear here, newest first.'),
      ),
    );
    return;
  }
  const table = el('div', { class: `grid grid-${state.variant.kind}`, role: 'grid', 'aria-rowcount': String(state.total + 1) });
  const head = el('div', { class: 'row head', role: 'row' });
  for (const c of columns) head.append(el('div', { class: `cell col-${c.key}`, role: 'columnheader' }, c.label));
  table.append(head);
  for (const r of state.entries) {
    const row = el('div', { class: 'row', role: 'row', tabindex: '-1', 'data-id': String(r.id) });
    for (const c of columns) row.append(el('div', { class: `cell col-${c.key}`, role: 'gridcell' }, c.cell(r)));
    table.append(row);
  }
  body.append(table);
  body.append(el('div', { class: 'source' }, badge(String(state.total)), ' ', state.source));
}

window.addEventListener('message', (e: MessageEvent<unknown>) => {
  if (isHostNotification(e.data)) render(e.data.state);
});
vscode.postMessage({ type: 'ready' });
