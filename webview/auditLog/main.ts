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
query.value = vscode.getState()?.query ?? '';
query.addEventListener('input', () => vscode.setState({ query: query.value }));
const count = el('span', { class: 'count', 'aria-live': 'polite' });
const body = el('div', { class: 'body' }, progressRing());

app.append(
  el('header', { class: 'toolbar' }, el('h1', {}, 'Audit Log'), count, el('span', { class: 'spacer' }), refresh),
  el('div', { class: 'filters' }, query),
  body,
);

refresh.addEventListener('click', () => vscode.postMessage({ type: 'refresh' }));

const COLUMNS: { key: string; label: string; cell: (r: EntryRow) => Node | string }[] = [
  { key: 'id', label: 'ID', cell: (r) => String(r.id) },
  { key: 'user', label: 'User', cell: (r) => r.user },
  { key: 'action', label: 'Action', cell: (r) => el('span', { class: `action action-${r.action.toLowerCase()}` }, r.action) },
  { key: 'entityName', label: 'Entity Name', cell: (r) => r.entityName },
  { key: 'entityId', label: 'Entity ID', cell: (r) => r.entityId },
  { key: 'recorded', label: 'Timestamp', cell: (r) => new Date(r.recorded).toLocaleString() },
  { key: 'outcome', label: 'Outcome', cell: (r) => (r.outcome === undefined ? '' : el('span', { class: `outcome outcome-${r.outcome}` }, r.outcomeName ?? String(r.outcome))) },
  { key: 'desc', label: 'Outcome Desc', cell: (r) => r.outcomeDescFirstLine ?? '' },
];

function render(state: LogState): void {
  clear(body);
  count.textContent = `${state.entries.length} of ${state.total} entries`;
  if (state.error) {
    body.append(el('div', { class: 'message error', role: 'alert' }, el('span', { class: 'codicon codicon-error' }), ' ', state.error));
    return;
  }
  if (state.total === 0) {
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
  const table = el('div', { class: 'grid', role: 'grid', 'aria-rowcount': String(state.total + 1) });
  const head = el('div', { class: 'row head', role: 'row' });
  for (const c of COLUMNS) head.append(el('div', { class: `cell col-${c.key}`, role: 'columnheader' }, c.label));
  table.append(head);
  for (const r of state.entries) {
    const row = el('div', { class: 'row', role: 'row', tabindex: '-1' });
    for (const c of COLUMNS) row.append(el('div', { class: `cell col-${c.key}`, role: 'gridcell' }, c.cell(r)));
    table.append(row);
  }
  body.append(table);
  body.append(el('div', { class: 'source' }, badge(String(state.total)), ' ', state.source));
}

window.addEventListener('message', (e: MessageEvent<unknown>) => {
  if (isHostNotification(e.data)) render(e.data.state);
});
vscode.postMessage({ type: 'ready' });
