// The detail pane: the whole entry, its diff, the raw snapshots and what the bot printed.
import { parseOutcomeDesc, STACK_LOCATION_RE } from '../../src/core/format/outcomeDesc';
import { parseSnapshot } from '../../src/core/format/snapshot';
import type { EntryDetail } from '../../src/panels/protocol';
import { clear, el } from '../dom';
import { button, checkbox, type Checkbox } from '../toolkit';
import { DIFF_SIZE_BOUND, diffCode, diffLoading, rawJson } from './diffs';
import { formatTimestamp } from './model';

export interface DetailHost {
  copyLink(id: number): void;
  openHistory(entityName: string, entityId: string): void;
  openSource(path: string, line: number, column?: number): void;
  showUnchangedChanged(show: boolean): void;
}

type Tab = 'changes' | 'before' | 'after' | 'output' | 'io';

const size = (n: number) => (n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(0)} KB` : `${(n / (1 << 20)).toFixed(1)} MB`);

export class DetailPane {
  readonly element = el('section', { class: 'detail', 'aria-label': 'Entry details', tabindex: '-1' });
  private tab: Tab = 'changes';
  private current: { entry: EntryDetail; other?: EntryDetail } | undefined;
  /** Entries whose big diff the user asked for. */
  private forced = new Set<string>();
  /** The pane's controls, made once and moved into each entry's view (a toolkit control costs ms to make). */
  private controls: { link: HTMLElement; history: HTMLElement; unchanged: Checkbox } | undefined;

  constructor(
    private readonly host: DetailHost,
    public showUnchanged: boolean,
    public utc: boolean,
  ) {
    this.empty();
  }

  /** No entry: the pane gives its room to the table. With a message (history: "choose one more"), it stays. */
  empty(message?: string): void {
    this.current = undefined;
    clear(this.element);
    this.element.append(message ? el('p', { class: 'hint detail-empty' }, message) : el('p', { class: 'hint detail-none' }, 'Select an entry to see what changed.'));
  }

  loading(id: number): void {
    if (this.current?.entry.id === id) return;
    clear(this.element);
    this.element.append(el('p', { class: 'hint' }, `Loading entry ${id}…`));
  }

  error(message: string): void {
    this.current = undefined;
    clear(this.element);
    this.element.append(el('p', { class: 'error', role: 'alert' }, message));
  }

  /** One entry; with `other`, the change from `entry`'s version to `other`'s (history compare). */
  show(entry: EntryDetail, other?: EntryDetail): void {
    const changed = this.current?.entry.id !== entry.id || this.current?.other?.id !== other?.id;
    this.current = { entry, other };
    if (changed) this.tab = other || entry.before !== undefined || entry.after !== undefined ? 'changes' : entry.outcomeDesc ? 'output' : 'changes';
    this.draw();
  }

  redraw(): void {
    if (this.current) this.draw();
  }

  private draw(): void {
    const { entry: e, other } = this.current!;
    clear(this.element);
    const title = other
      ? el('h2', {}, `Entry ${e.id} → ${other.id}`)
      : el('h2', {}, el('span', { class: `badge action action-${e.action.toLowerCase()}` }, e.action), ' ', `${e.entityName}/${e.entityId}`);
    const actions = el('div', { class: 'detail-actions' });
    if (!other) {
      const { link, history } = this.getControls();
      const linkTitle = `Copy a link to entry ${e.id}`;
      const historyTitle = `History of ${e.entityName}/${e.entityId}`;
      for (const [b, t] of [
        [link, linkTitle],
        [history, historyTitle],
      ] as const) {
        b.setAttribute('title', t);
        b.setAttribute('aria-label', t);
      }
      actions.append(link, history);
    }
    this.element.append(el('header', { class: 'detail-head' }, title, actions));
    if (!other) this.element.append(this.fields(e));

    const tabs: [Tab, string][] = [['changes', 'Changes']];
    if (!other) {
      tabs.push(['before', 'Before'], ['after', 'After']);
      if (e.outcomeDesc !== undefined) tabs.push(['output', 'Output']);
      if (e.input !== undefined || e.returnValue !== undefined) tabs.push(['io', 'Input']);
    }
    if (!tabs.some(([t]) => t === this.tab)) this.tab = 'changes';
    const list = el('div', { class: 'tabs', role: 'tablist' });
    for (const [t, label] of tabs) {
      const b = el('button', { class: `tab tab-${t}`, role: 'tab', 'aria-selected': String(t === this.tab), id: `tab-${t}`, 'aria-controls': 'tabpanel' }, label);
      b.addEventListener('click', () => {
        this.tab = t;
        this.draw();
        this.element.querySelector<HTMLElement>(`#tab-${t}`)?.focus();
      });
      list.append(b);
    }
    list.addEventListener('keydown', (ev) => {
      if (ev.key !== 'ArrowRight' && ev.key !== 'ArrowLeft') return;
      const i = tabs.findIndex(([t]) => t === this.tab);
      this.tab = tabs[(i + (ev.key === 'ArrowRight' ? 1 : tabs.length - 1)) % tabs.length][0];
      this.draw();
      this.element.querySelector<HTMLElement>(`#tab-${this.tab}`)?.focus();
    });
    const panel = el('div', { class: 'tabpanel', role: 'tabpanel', id: 'tabpanel', 'aria-labelledby': `tab-${this.tab}` });
    this.element.append(list, panel);
    switch (this.tab) {
      case 'changes':
        panel.append(...this.changes(e, other));
        break;
      case 'before':
        panel.append(rawJson(parseSnapshot(e.before)));
        break;
      case 'after':
        panel.append(rawJson(parseSnapshot(e.after)));
        break;
      case 'output':
        panel.append(this.output(e.outcomeDesc ?? ''));
        break;
      case 'io':
        if (e.input !== undefined) panel.append(el('h3', {}, `Input${e.contentType ? ` (${e.contentType})` : ''}`), el('pre', { class: 'raw' }, e.input));
        if (e.returnValue !== undefined) panel.append(el('h3', {}, 'Returned'), el('pre', { class: 'raw' }, e.returnValue));
        break;
    }
  }

  private getControls(): NonNullable<DetailPane['controls']> {
    if (this.controls) return this.controls;
    const link = button('Copy link', { appearance: 'icon', icon: 'link' });
    link.classList.add('copy-link');
    link.addEventListener('click', () => {
      if (this.current && !this.current.other) this.host.copyLink(this.current.entry.id);
    });
    const history = button('History', { appearance: 'icon', icon: 'history' });
    history.classList.add('open-history');
    history.addEventListener('click', () => {
      if (this.current && !this.current.other) this.host.openHistory(this.current.entry.entityName, this.current.entry.entityId);
    });
    const unchanged = checkbox('Show unchanged fields', this.showUnchanged);
    unchanged.classList.add('show-unchanged');
    unchanged.addEventListener('change', () => {
      if (unchanged.checked === this.showUnchanged) return; // set by draw(), not by the user
      this.showUnchanged = unchanged.checked;
      this.host.showUnchangedChanged(this.showUnchanged);
      this.draw();
      unchanged.focus();
    });
    return (this.controls = { link, history, unchanged });
  }

  private fields(e: EntryDetail): HTMLElement {
    const dl = el('dl', { class: 'fields' });
    const add = (k: string, v: string | Node | undefined) => {
      if (v === undefined || v === '') return;
      dl.append(el('dt', {}, k), el('dd', {}, v));
    };
    add('ID', String(e.id));
    add('User', e.user);
    add('On behalf of', e.onBehalfOf);
    add('Timestamp', `${formatTimestamp(e.recorded, this.utc)} ${this.utc ? 'UTC' : ''}`.trim());
    add('Bot', e.bot);
    if (e.outcome !== undefined) add('Outcome', el('span', { class: `badge outcome outcome-${e.outcome}` }, e.outcomeName ?? String(e.outcome)));
    if (e.periodStart !== undefined && e.periodEnd !== undefined) add('Duration', `${e.periodEnd - e.periodStart} ms`);
    add('Trace', e.traceId);
    add('Replay of', e.replayOf === undefined ? undefined : String(e.replayOf));
    // A team log's entry: which member's log it came from, and its ID there.
    if (e.origin !== undefined) add('From log', el('code', { class: 'origin', title: `log ${e.origin}, entry ${e.originId ?? '?'} there` }, `${e.origin.slice(0, 12)}… #${e.originId ?? '?'}`));
    add('Hash', el('code', { title: `previous ${e.prevHash}` }, e.hash.slice(0, 16) + '…'));
    return dl;
  }

  private changes(e: EntryDetail, other?: EntryDetail): Node[] {
    // Comparing versions: the state each entry left the entity in.
    const beforeText = other ? (e.after ?? e.before) : e.before;
    const afterText = other ? (other.after ?? (other.action === 'DELETED' ? undefined : other.before)) : e.after;
    const bytes = (beforeText?.length ?? 0) + (afterText?.length ?? 0);
    const key = `${e.id}:${other?.id ?? ''}`;
    const { unchanged } = this.getControls();
    unchanged.checked = this.showUnchanged;
    if (bytes > DIFF_SIZE_BOUND && !this.forced.has(key)) {
      const compute = button('Compute diff', { appearance: 'secondary', icon: 'diff', title: 'Compute the diff (it may take a few seconds)' });
      compute.classList.add('compute-diff');
      compute.addEventListener('click', () => {
        this.forced.add(key);
        this.draw();
      });
      return [
        el('p', { class: 'hint big-diff' }, `These snapshots are large (${size(bytes)}). The Before and After tabs show them as they are.`),
        compute,
      ];
    }
    const diff = diffCode();
    if (!diff) {
      // Its code is a chunk of its own (diffs.ts): drawn again once it is here, if this is still the entry shown.
      const shown = this.current;
      const redraw = () => {
        if (this.current === shown) this.draw();
      };
      return [diffLoading(redraw, 'The Before and After tabs show the snapshots.')];
    }
    return [el('div', { class: 'diff-tools' }, unchanged), diff.renderDiff(parseSnapshot(beforeText), parseSnapshot(afterText), this.showUnchanged)];
  }

  /** What the bot printed: one line each, levels coloured, stack locations linked to the source. */
  private output(desc: string): HTMLElement {
    const pre = el('pre', { class: 'output' });
    for (const line of parseOutcomeDesc(desc)) {
      const row = el('div', { class: `line ${line.level ? `level-${line.level}` : ''} ${line.frame ? 'frame' : ''}` });
      if (line.time) row.append(el('span', { class: 'time' }, `${formatTimestamp(Date.parse(line.time), this.utc)} `), el('span', { class: 'level' }, `[${line.level}] `));
      let last = 0;
      for (const m of line.text.matchAll(STACK_LOCATION_RE)) {
        row.append(line.text.slice(last, m.index));
        const link = el('a', { class: 'source-link', href: '#', title: 'Open the source at this line' }, m[0]);
        link.addEventListener('click', (ev) => {
          ev.preventDefault();
          this.host.openSource(m[1], Number(m[2]), m[3] ? Number(m[3]) : undefined);
        });
        row.append(link);
        last = m.index! + m[0].length;
      }
      row.append(line.text.slice(last));
      pre.append(row);
    }
    return pre;
  }
}

/** The floating quick view of an entry's change, next to its entity name. */
export class QuickView {
  readonly element = el('div', { class: 'quick-view', role: 'tooltip', id: 'quick-view', hidden: '' });
  private for: number | undefined;

  show(detail: EntryDetail, anchor: HTMLElement): void {
    this.for = detail.id;
    clear(this.element);
    this.element.append(el('div', { class: 'quick-title' }, `${detail.action} ${detail.entityName}/${detail.entityId}`));
    const bytes = (detail.before?.length ?? 0) + (detail.after?.length ?? 0);
    const diff = diffCode();
    if (bytes > DIFF_SIZE_BOUND) this.element.append(el('p', { class: 'hint' }, `A large change (${size(bytes)}): open the entry to see it.`));
    else if (diff) this.element.append(diff.renderDiff(parseSnapshot(detail.before), parseSnapshot(detail.after), false));
    else {
      // Shown again with the diff once its code is here, if this entry's quick view is still open.
      const redraw = () => {
        if (this.showing === detail.id && anchor.isConnected) this.show(detail, anchor);
      };
      this.element.append(diffLoading(redraw, 'Open the entry to see its snapshots.'));
    }
    const r = anchor.getBoundingClientRect();
    this.element.style.left = `${Math.round(r.left)}px`;
    this.element.style.top = `${Math.round(r.bottom + 4)}px`;
    this.element.hidden = false;
    anchor.setAttribute('aria-describedby', 'quick-view');
    // Keep it on screen.
    const q = this.element.getBoundingClientRect();
    if (q.bottom > window.innerHeight) this.element.style.top = `${Math.max(0, Math.round(r.top - q.height - 4))}px`;
    if (q.right > window.innerWidth) this.element.style.left = `${Math.max(0, window.innerWidth - q.width - 8)}px`;
  }

  get showing(): number | undefined {
    return this.element.hidden ? undefined : this.for;
  }

  hide(): void {
    this.element.hidden = true;
    this.for = undefined;
  }
}
