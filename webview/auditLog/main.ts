// The audit-log page. Browser code only: it talks to the host through the shared protocol and
// renders every value as text. The page owns its filters, sort and layout (kept in the webview's
// state); rows come from the host in pages, by position in the current result.
// The first query goes out before anything else loads.
import { defaultState, FIRST_SEQ, initialState, saved } from './start';
// jsondiffpatch's diff layout first: auditLog.css overrides its colours with the theme's.
import 'jsondiffpatch/formatters/styles/html.css';
import 'codicons.css';
import './auditLog.css';
import { QueryError } from '../../src/core/query';
import {
  isHostNotification,
  type Choices,
  type EntryRow,
  type HostNotification,
  type LogVariant,
  type PageState,
  type WebviewCommand,
} from '../../src/panels/protocol';
import { clear, el } from '../dom';
import { button, registerToolkit, textField } from '../toolkit';
import { vscodeApi } from '../vscodeApi';
import { DetailPane, QuickView } from './detail';
import { loadDiffCode } from './diffs';
import { FilterBar } from './filters';
import { columnsFor, DetailCache, formatCount, PAGE_SIZE, PageQueue, partsFromQuery, queryFromParts, RowCache } from './model';
import { VirtualTable } from './table';

// The toolkit's controls come to life once the first rows are painted (or after a moment without
// them): their set-up takes tens of milliseconds that the first rows need not wait for.
function startToolkit(): void {
  registerToolkit()
    .then(() => {
      // Then, when the page is idle, the diff's code is loaded, and compiled for the first entry opened
      // when the page is idle again (the code arrives at any moment: a user may be scrolling by then).
      if (diffWarmed) return;
      diffWarmed = true;
      const whenIdle = (fn: () => void) => requestIdleCallback(fn, { timeout: 2000 });
      whenIdle(
        () =>
          void loadDiffCode().then(
            (d) => whenIdle(() => d.warmUpDiff()),
            () => undefined, // tried again, and said, when a diff is shown
          ),
      );
    })
    .catch((e: unknown) => {
      // Without the toolkit the filters and buttons stay hidden: say so rather than leave a bare table.
      showMessage(`The page's controls could not be loaded (${e instanceof Error ? e.message : String(e)}).`, 'Reopen the Audit Log; the entries below are still current.', 'error');
    });
}
let diffWarmed = false;
const toolkitFallback = setTimeout(startToolkit, 400);
let toolkitScheduled = false;
function registerToolkitAfterPaint(): void {
  if (toolkitScheduled) return;
  toolkitScheduled = true;
  clearTimeout(toolkitFallback);
  // Two frames on: the frame that paints the rows is done, and so is whatever waited for it.
  requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(startToolkit, 0)));
}
const vscode = vscodeApi<PageState>();
const post = (m: WebviewCommand) => vscode.postMessage(m);

let state: PageState = initialState;
const save = () => vscode.setState(state);

// ------------------------------------------------------------------ layout
const app = document.getElementById('app')!;
// The page stays undrawn until its first result comes (or START_HOLD_MS pass): its first frame then
// lays out and paints the controls and the first rows at once. Drawn at once, the empty page's
// first frame (its first layout loads the fonts: tens of milliseconds) would run before the first
// result, which the renderer already holds but handles only after a frame that is due.
const START_HOLD_MS = 250;
app.classList.add('starting');
const startHold = setTimeout(showPage, START_HOLD_MS);
function showPage(): void {
  clearTimeout(startHold);
  app.classList.remove('starting');
}
const title = el('h1', {}, 'Audit Log');
const count = el('span', { class: 'count', 'aria-live': 'polite' });
const pill = button('New entries', { appearance: 'primary', icon: 'arrow-up', title: 'Show the new entries' });
pill.classList.add('new-pill');
pill.hidden = true;
const zoneToggle = button('Local time', { appearance: 'secondary', icon: 'globe', title: 'Show timestamps in UTC or local time' });
zoneToggle.classList.add('zone-toggle');
const columnsButton = button('Columns', { appearance: 'secondary', icon: 'list-flat', title: 'Show or hide columns' });
const exportButton = button('Export', { appearance: 'secondary', icon: 'export', title: 'Export the entries of this view' });
exportButton.classList.add('export');
const linkButton = button('Copy link', { appearance: 'icon', icon: 'link', title: 'Copy a link to this view' });
linkButton.classList.add('copy-view-link');
const detailToggle = button('Details', { appearance: 'icon', icon: 'layout-sidebar-right', title: 'Show or hide the details pane' });
detailToggle.classList.add('detail-toggle');
const refreshButton = button('Refresh', { appearance: 'icon', icon: 'refresh', title: 'Refresh' });
// The Local / Team switch: shown when a team log is set (the init says so).
const localButton = button('Local', { appearance: 'secondary', icon: 'root-folder', title: "Read this workspace's own log" });
localButton.classList.add('log-local');
const teamButton = button('Team', { appearance: 'secondary', icon: 'cloud', title: 'Read the team log, which every member\u2019s log is replicated into' });
teamButton.classList.add('log-team');
const logSwitch = el('div', { class: 'log-switch', role: 'group', 'aria-label': 'Which log' }, localButton, teamButton);
logSwitch.hidden = true;
let teamLogUrl: string | undefined;

const search = textField('Search outcome descriptions and snapshots ( / )', { ariaLabel: 'Search' });
search.classList.add('search');
const queryBox = textField('Query, e.g. action:UPDATED user:dev@example.com created:>now-7d', { ariaLabel: 'Query' });
queryBox.classList.add('query');
const queryError = el('div', { class: 'query-error', role: 'alert', 'aria-live': 'polite' });

const filterBar = new FilterBar(
  () => onPartsChanged(),
  () => state.utc,
);
const quick = new QuickView();
const detail = new DetailPane(
  {
    copyLink: (id) => post({ type: 'copyLink', query: state.query, entry: id }),
    openHistory: (entityName, entityId) => post({ type: 'openHistory', entityName, entityId }),
    openSource: (path, line, column) => post({ type: 'openSource', path, line, column }),
    showUnchangedChanged: (show) => {
      state.showUnchanged = show;
      save();
    },
  },
  state.showUnchanged,
  state.utc,
);

const table = new VirtualTable({
  need: (pages) => want(pages),
  select: (_index, row) => onSelect(row),
  open: (index) => {
    setDetailOpen(true);
    const row = current?.cache.get(index);
    if (row) onSelect(row);
    detail.element.focus({ preventScroll: true });
  },
  toggleOrder: () => {
    state.order = state.order === 'desc' ? 'asc' : 'desc';
    save();
    applyColumns();
    runQuery({ select: state.selected });
  },
  resized: (key, width) => {
    state.widths = { ...state.widths, [key]: width };
    save();
  },
  quickView: (row, anchor) => void onQuickView(row, anchor),
  compareChanged: () => showCompare(),
  scrolledToTop: () => {
    if (!pill.hidden && state.order === 'desc') runQuery({ keepScroll: true, select: state.selected });
  },
});

const splitter = el('div', { class: 'splitter', role: 'separator', 'aria-orientation': 'vertical', 'aria-label': 'Resize the details pane', tabindex: '0' });
const main = el('main', { class: 'split' }, table.element, splitter, detail.element);
const message = el('div', { class: 'message', hidden: '' });
const footer = el('footer', { class: 'source' });

app.append(
  el('header', { class: 'toolbar' }, title, count, pill, el('span', { class: 'spacer' }), logSwitch, zoneToggle, columnsButton, exportButton, linkButton, detailToggle, refreshButton),
  el('section', { class: 'filters', 'aria-label': 'Filters' }, filterBar.element, el('div', { class: 'query-line' }, search, queryBox), queryError),
  message,
  main,
  footer,
  quick.element,
);

// ------------------------------------------------------------------ query state
let seq = FIRST_SEQ;
let current: { seq: number; cache: RowCache; counting: boolean; logSize: number } | undefined;
let lastQuery: string | undefined;

/** The view the last query asked for: an init that changes nothing asks again for nothing. */
const viewKey = () => JSON.stringify([state.log ?? 'local', state.variant, state.query, state.order]);
let asked: string | undefined = viewKey();

function runQuery(opts: { keepScroll?: boolean; select?: number } = {}): void {
  seq++;
  asked = viewKey();
  pendingKeepScroll = opts.keepScroll === true;
  pages.reset();
  // Keep the selected entry selected when the new result still has it.
  post({ type: 'query', seq, query: state.query, order: state.order, select: 'select' in opts ? opts.select : state.selected });
}
let pendingKeepScroll = false;

/** Shows query text's filter rows and search; false (with the error shown) when the text is not valid. */
function showParts(query: string): boolean {
  try {
    const parts = partsFromQuery(query);
    filterBar.set(parts.drafts);
    search.value = parts.search;
    queryError.textContent = '';
    return true;
  } catch (e) {
    // Keep the last valid rows; say what is wrong, and where.
    queryError.textContent = e instanceof QueryError ? e.message : String(e);
    return false;
  }
}

let partsTimer: ReturnType<typeof setTimeout> | undefined;
function onPartsChanged(): void {
  const text = queryFromParts(filterBar.value, search.value);
  queryBox.value = text;
  queryError.textContent = '';
  if (partsTimer) clearTimeout(partsTimer);
  partsTimer = setTimeout(() => {
    if (text === state.query) return;
    state.query = text;
    save();
    runQuery();
  }, 150);
}

let queryTimer: ReturnType<typeof setTimeout> | undefined;
queryBox.addEventListener('input', () => {
  if (queryTimer) clearTimeout(queryTimer);
  queryTimer = setTimeout(() => {
    const text = queryBox.value;
    if (!showParts(text) || text === state.query) return;
    state.query = text;
    save();
    runQuery();
  }, 250);
});
search.addEventListener('input', () => onPartsChanged());

// ------------------------------------------------------------------ paging
const pages = new PageQueue();

function want(wanted: number[]): void {
  pages.want(wanted);
  pump();
}

/** Asks for the wanted pages nearest the view (the selected row when it is in view) first. */
function pump(): void {
  const c = current;
  if (!c) return;
  const center = Math.max(0, table.selected >= 0 && isNear(table.selected) ? table.selected : table.visibleFirst);
  for (const p of pages.next(center, c.cache)) post({ type: 'rows', seq: c.seq, start: p * PAGE_SIZE, count: PAGE_SIZE });
}

function isNear(index: number): boolean {
  return Math.abs(index - table.visibleFirst) < PAGE_SIZE;
}

// ------------------------------------------------------------------ selection and details
const details = new DetailCache((id) => post({ type: 'detail', id }));
const getDetail = (id: number) => details.get(id);

let selectToken = 0;
function onSelect(row: EntryRow | undefined): void {
  if (!row) return;
  state.selected = row.id;
  save();
  if (state.variant.kind === 'history' && table.compare.size === 2) return;
  if (!state.detailOpen) return;
  const token = ++selectToken;
  detail.loading(row.id);
  // While arrows fly through rows, ask only for the one the user stops on.
  setTimeout(() => {
    if (token !== selectToken) return;
    void getDetail(row.id).then(({ entry, error }) => {
      if (token !== selectToken) return;
      if (entry) detail.show(entry);
      else detail.error(error ?? `Entry ${row.id} could not be read.`);
    });
  }, 60);
}

async function showCompare(): Promise<void> {
  const ids = [...table.compare].sort((a, b) => a - b);
  if (ids.length !== 2) {
    if (ids.length === 1) detail.empty('Choose one more version to compare.');
    return;
  }
  setDetailOpen(true);
  const token = ++selectToken;
  const [a, b] = await Promise.all(ids.map(getDetail));
  if (token !== selectToken) return;
  if (a.entry && b.entry) detail.show(a.entry, b.entry);
  else detail.error(a.error ?? b.error ?? 'These versions could not be read.');
}

async function onQuickView(row: EntryRow | undefined, anchor: HTMLElement | undefined): Promise<void> {
  if (!row || !anchor) {
    quick.hide();
    return;
  }
  const { entry } = await getDetail(row.id);
  if (entry && anchor.isConnected) quick.show(entry, anchor);
}

function setDetailOpen(open: boolean): void {
  state.detailOpen = open;
  save();
  main.classList.toggle('no-detail', !open);
  detail.element.hidden = !open;
  splitter.hidden = !open;
  main.style.setProperty('--detail-width', `${state.detailWidth}px`);
  detailToggle.setAttribute('aria-pressed', String(open));
}

detailToggle.addEventListener('click', () => {
  setDetailOpen(!state.detailOpen);
  if (state.detailOpen && state.selected !== undefined) {
    const idx = current?.cache.find(state.selected);
    if (idx !== undefined) onSelect(current!.cache.get(idx));
  }
});

splitter.addEventListener('pointerdown', (e) => {
  e.preventDefault();
  splitter.setPointerCapture(e.pointerId);
  const move = (ev: PointerEvent) => {
    const w = Math.min(Math.max(240, main.getBoundingClientRect().right - ev.clientX), Math.max(240, window.innerWidth - 320));
    state.detailWidth = Math.round(w);
    main.style.setProperty('--detail-width', `${state.detailWidth}px`);
  };
  const up = () => {
    splitter.removeEventListener('pointermove', move);
    splitter.removeEventListener('pointerup', up);
    save();
  };
  splitter.addEventListener('pointermove', move);
  splitter.addEventListener('pointerup', up);
});
splitter.addEventListener('keydown', (e) => {
  if (e.key !== 'ArrowLeft' && e.key !== 'ArrowRight') return;
  state.detailWidth = Math.max(240, state.detailWidth + (e.key === 'ArrowLeft' ? 24 : -24));
  main.style.setProperty('--detail-width', `${state.detailWidth}px`);
  save();
});

// ------------------------------------------------------------------ toolbar
function applyColumns(): void {
  const cols = columnsFor(state.variant).filter((c) => c.fixed || !state.hidden.includes(c.key));
  table.setColumns(cols, state.widths, state.order, state.utc);
  zoneToggle.lastChild!.textContent = state.utc ? 'UTC' : 'Local time';
  zoneToggle.setAttribute('aria-pressed', String(state.utc));
}

let zoneToggled = false;
function showLogSwitch(): void {
  const log = state.log ?? 'local';
  logSwitch.hidden = !teamLogUrl;
  for (const [b, name] of [
    [localButton, 'local'],
    [teamButton, 'team'],
  ] as const) {
    b.setAttribute('appearance', name === log ? 'primary' : 'secondary');
    b.setAttribute('aria-pressed', String(name === log));
  }
}
for (const [b, name] of [
  [localButton, 'local'],
  [teamButton, 'team'],
] as const) {
  b.addEventListener('click', () => {
    if ((state.log ?? 'local') !== name) post({ type: 'switchLog', log: name });
  });
}

zoneToggle.addEventListener('click', () => {
  zoneToggled = true;
  state.utc = !state.utc;
  save();
  detail.utc = state.utc;
  applyColumns();
  detail.redraw();
});

/** A small menu under a toolbar button; closes on Escape, on a choice or on a click elsewhere. */
function openMenu(anchor: HTMLElement, items: HTMLElement[]): void {
  document.querySelector('.menu')?.remove();
  const menu = el('div', { class: 'menu', role: 'menu' }, ...items);
  const r = anchor.getBoundingClientRect();
  menu.style.top = `${Math.round(r.bottom + 2)}px`;
  menu.style.right = `${Math.round(window.innerWidth - r.right)}px`;
  document.body.append(menu);
  const close = (e: Event) => {
    if (e instanceof KeyboardEvent && e.key !== 'Escape') return;
    if (e.type === 'pointerdown' && menu.contains(e.target as Node)) return;
    menu.remove();
    document.removeEventListener('pointerdown', close, true);
    document.removeEventListener('keydown', close, true);
    anchor.focus();
  };
  document.addEventListener('pointerdown', close, true);
  document.addEventListener('keydown', close, true);
  items[0]?.focus();
}

columnsButton.addEventListener('click', () => {
  const items = columnsFor(state.variant)
    .filter((c) => !c.fixed)
    .map((c) => {
      const box = el('input', { type: 'checkbox', 'data-column': c.key });
      box.checked = !state.hidden.includes(c.key);
      box.addEventListener('change', () => {
        state.hidden = box.checked ? state.hidden.filter((h) => h !== c.key) : [...state.hidden, c.key];
        save();
        applyColumns();
      });
      return el('label', { class: 'menu-item', role: 'menuitemcheckbox' }, box, ` ${c.label}`);
    });
  openMenu(columnsButton, items);
});

exportButton.addEventListener('click', () => {
  const items = (
    [
      ['csv', 'CSV'],
      ['ndjson', 'NDJSON'],
      ['fhir', 'FHIR Bundle'],
    ] as const
  ).map(([format, label]) => {
    const b = el('button', { class: `menu-item export-${format}`, role: 'menuitem' }, label);
    b.addEventListener('click', () => {
      document.querySelector('.menu')?.remove();
      post({ type: 'export', format, query: state.query });
    });
    return b;
  });
  openMenu(exportButton, items);
});

linkButton.addEventListener('click', () => post({ type: 'copyLink', query: state.query }));
refreshButton.addEventListener('click', () => runQuery({ keepScroll: true, select: state.selected }));
pill.addEventListener('click', () => {
  table.scrollToTop();
  runQuery({ select: state.selected });
});

document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target as HTMLElement;
  if (t.closest('input, textarea, vscode-text-field, vscode-dropdown')) return;
  e.preventDefault();
  search.focus();
});

// ------------------------------------------------------------------ messages
function showMessage(text: string | undefined, hint?: string, kind = ''): void {
  clear(message);
  message.hidden = !text;
  message.className = `message ${kind}`;
  if (text) message.append(el('p', {}, text), hint ? el('p', { class: 'hint' }, hint) : '');
}

function updateCount(): void {
  const c = current;
  if (!c) return;
  // While a broad query is counted, its first rows are on screen and the count says "at least".
  count.textContent = `${formatCount(c.cache.total)}${c.counting ? '+' : ''} of ${formatCount(c.logSize)} entries`;
  count.title = c.counting ? 'Counting the matches…' : '';
  count.setAttribute('aria-busy', String(c.counting));
}

function titleFor(v: LogVariant): string {
  return v.kind === 'botEvents' ? `Events: ${v.bot}` : v.kind === 'history' ? `History: ${v.entityName}/${v.entityId}` : 'Audit Log';
}

function onMessage(m: HostNotification): void {
  switch (m.type) {
    case 'init': {
      // Another log is another page, too: entry IDs and rows mean something in one log only.
      const sameVariant = JSON.stringify(m.variant) === JSON.stringify(state.variant) && m.log === (state.log ?? 'local');
      // A first open follows the editor's time-zone setting; after that the page's toggle rules.
      if (!saved && !zoneToggled) state.utc = m.utc;
      const keepQuery = !sameVariant && JSON.stringify(m.variant) === JSON.stringify(state.variant) ? { query: state.query, order: state.order } : {};
      if (!sameVariant) state = { ...defaultState(m.variant), ...keepQuery, widths: state.widths, hidden: state.hidden, utc: state.utc, detailWidth: state.detailWidth, showUnchanged: state.showUnchanged };
      state.log = m.log;
      teamLogUrl = m.teamLog;
      showLogSwitch();
      detail.utc = state.utc;
      if (m.query !== undefined) {
        state.query = m.query;
        state.order = m.order ?? defaultState(m.variant).order;
        state.selected = m.select;
      }
      save();
      if (!sameVariant) {
        // Another page now: no rows of the last one stay on screen while the first page comes, and
        // no entry of the last log is shown for the same ID in this one.
        details.clear('another log was opened');
        current = undefined;
        count.textContent = '';
        table.setResult(new RowCache(0), undefined, false);
      }
      title.textContent = m.log === 'team' ? `${titleFor(m.variant)} (Team)` : titleFor(m.variant);
      footer.textContent = m.source;
      table.compare.clear();
      detail.empty();
      applyColumns();
      setDetailOpen(state.detailOpen);
      queryBox.value = state.query;
      showParts(state.query);
      if (m.error) {
        startToolkit();
        showMessage(m.error, undefined, 'error');
        main.hidden = true;
        showPage();
        return;
      }
      main.hidden = false;
      // The page asked for its own view with `ready`; a command or a link may want another.
      if (m.query !== undefined || asked !== viewKey()) runQuery({ select: state.selected });
      break;
    }
    case 'choices':
      filterBar.setChoices(m.choices as Choices);
      break;
    case 'result': {
      if (m.seq !== seq) return;
      if (m.queryError) {
        queryError.textContent = m.queryError;
        showPage();
        return;
      }
      if (m.error) {
        showMessage(m.error, undefined, 'error');
        showPage();
        return;
      }
      const cache = new RowCache(m.total);
      cache.put(0, m.first);
      current = { seq: m.seq, cache, counting: m.counting === true, logSize: m.logSize };
      lastQuery = m.query;
      pill.hidden = true;
      updateCount();
      if (m.total === 0) showMessage(lastQuery ? 'No entries match these filters.' : 'No entries yet.', lastQuery ? undefined : 'Every bot run and every change to a record will appear here, newest first.', 'empty');
      else showMessage(undefined);
      table.setResult(cache, m.selectedIndex, pendingKeepScroll);
      showPage();
      registerToolkitAfterPaint();
      if (m.selectedIndex === undefined && state.selected !== undefined && !pendingKeepScroll) detail.empty();
      break;
    }
    case 'total': {
      if (!current || m.seq !== current.seq) return;
      current.counting = false;
      current.cache.setTotal(m.total);
      table.totalChanged();
      updateCount();
      break;
    }
    case 'rows': {
      if (!current || m.seq !== current.seq) return;
      pages.answered();
      current.cache.put(m.start, m.rows);
      table.schedule();
      pump();
      break;
    }
    case 'detail':
      details.answer(m.id, m.entry, m.error);
      break;
    case 'newEntries': {
      if (!current || m.seq !== current.seq || m.count <= 0) return;
      const atTop = table.viewport.scrollTop === 0 && state.order === 'desc';
      if (atTop) runQuery({ keepScroll: true, select: state.selected });
      else {
        pill.hidden = false;
        pill.lastChild!.textContent = `${formatCount(m.count)} new ${m.count === 1 ? 'entry' : 'entries'}`;
      }
      break;
    }
  }
}

window.addEventListener('message', (e: MessageEvent<unknown>) => {
  if (isHostNotification(e.data)) onMessage(e.data);
});
applyColumns();
setDetailOpen(state.detailOpen);
