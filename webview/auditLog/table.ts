// The virtualized table: only the rows in view are in the DOM (a small pool, reused), positions map
// onto the row cache, and missing pages are asked of the host. A grid for screen readers: the
// scroller is the focusable grid, rows carry aria-rowindex, the selection is aria-activedescendant.
import type { EntryRow } from '../../src/panels/protocol';
import { codiconClass } from '../codicons';
import { clear, el } from '../dom';
import { columnWidth, formatTimestamp, gridTemplate, layout, MIN_COLUMN_WIDTH, PAGE_SIZE, RowCache, scrollIntoView, scrollTopFor, zoneLabel, type ColumnDef } from './model';

export const ROW_HEIGHT = 24;
/**
 * A frame that scrolls further than this many screens (dragging the scrollbar, a fling) draws its
 * rows as placeholders: nobody reads rows that are gone the next frame, and filling every row of a
 * screen with text costs more than a frame here. The first frame that moves less fills them.
 */
const SKIM_SCREENS = 1.5;

/** The IANA zone name for the header, looked up when the page is idle: ICU's first lookup takes tens of ms. */
let zoneName: string | undefined;

export interface TableHost {
  /** Pages the table needs and the cache does not hold. */
  need(pages: number[]): void;
  select(index: number, row: EntryRow | undefined): void;
  /** Enter on a row. */
  open(index: number): void;
  toggleOrder(): void;
  resized(key: string, width: number): void;
  /** Hover or focus on an entity name; undefined: it left. */
  quickView(row: EntryRow | undefined, anchor: HTMLElement | undefined): void;
  compareChanged(ids: number[]): void;
  scrolledToTop(): void;
}

/** The cell's one span, made once and then reused, with this class and text. */
function span(cell: HTMLElement, cls: string, text: string): HTMLElement {
  let s = cell.firstElementChild as HTMLElement | null;
  if (!s || s.tagName !== 'SPAN' || cell.childNodes.length !== 1) {
    cell.textContent = '';
    cell.append((s = document.createElement('span')));
  }
  if (s.className !== cls) s.className = cls;
  s.textContent = text;
  return s;
}

export class VirtualTable {
  readonly element: HTMLElement;
  readonly viewport: HTMLElement;
  private readonly head: HTMLElement;
  private readonly sizer: HTMLElement;
  private readonly rowsBox: HTMLElement;
  /** The row elements, in DOM order; pool[k] shows position poolFirst + k. */
  private pool: HTMLElement[] = [];
  private poolFirst = 0;
  /** The position rows are placed from (see render). */
  private anchor = 0;
  /** The viewport's height, from the ResizeObserver: reading clientHeight would force a layout. */
  private viewportHeight = 0;
  /** Positions in view, from the last render. */
  visibleFirst = 0;
  private cols: ColumnDef[] = [];
  private widths: Record<string, number> = {};
  private cache = new RowCache(0);
  private gen = 0;
  private frame = 0;
  private order: 'desc' | 'asc' = 'desc';
  utc = false;
  selected = -1;
  private selectedId: number | undefined;
  readonly compare = new Set<number>();
  /** Rows in the DOM at most, since the page opened (for the benchmark). */
  maxDomRows = 0;
  /** scrollTop at the last render: how far a frame scrolled. */
  private lastScrollTop = 0;

  constructor(private readonly host: TableHost) {
    this.head = el('div', { class: 'row head', role: 'row', 'aria-rowindex': '1' });
    this.sizer = el('div', { class: 'sizer' });
    this.rowsBox = el('div', { class: 'rows', role: 'rowgroup' });
    this.sizer.append(this.rowsBox);
    this.viewport = el('div', { class: 'viewport', tabindex: '0', role: 'grid', 'aria-label': 'Audit log entries', 'aria-multiselectable': 'false' });
    const headBox = el('div', { class: 'head-box', role: 'rowgroup' }, this.head);
    this.viewport.append(this.sizer);
    this.element = el('div', { class: 'table' }, headBox, this.viewport);
    this.viewport.addEventListener('scroll', () => {
      headBox.scrollLeft = this.viewport.scrollLeft;
      this.schedule();
      if (this.viewport.scrollTop === 0) this.host.scrolledToTop();
    });
    this.viewport.addEventListener('keydown', (e) => this.onKey(e));
    this.rowsBox.addEventListener('click', (e) => {
      const target = e.target as HTMLElement;
      const row = target.closest<HTMLElement>('.row');
      if (!row?.dataset.index) return;
      if (target instanceof HTMLInputElement && target.classList.contains('compare')) {
        const id = Number(row.dataset.id);
        if (target.checked) {
          this.compare.add(id);
          // Two versions at a time: the oldest choice gives way.
          if (this.compare.size > 2) this.compare.delete(this.compare.values().next().value as number);
        } else this.compare.delete(id);
        this.host.compareChanged([...this.compare]);
        this.render(true);
        return;
      }
      this.select(Number(row.dataset.index));
      this.viewport.focus({ preventScroll: true });
    });
    this.rowsBox.addEventListener('dblclick', (e) => {
      const row = (e.target as HTMLElement).closest<HTMLElement>('.row');
      if (row?.dataset.index) this.host.open(Number(row.dataset.index));
    });
    let hoverTimer: ReturnType<typeof setTimeout> | undefined;
    const quick = (e: Event, on: boolean) => {
      const t = (e.target as HTMLElement).closest<HTMLElement>('.entity');
      if (!t) return;
      if (hoverTimer) clearTimeout(hoverTimer);
      const row = this.cache.get(Number(t.closest<HTMLElement>('.row')?.dataset.index));
      if (on) hoverTimer = setTimeout(() => this.host.quickView(row, t), e.type === 'focusin' ? 0 : 350);
      else this.host.quickView(undefined, undefined);
    };
    this.rowsBox.addEventListener('mouseover', (e) => quick(e, true));
    this.rowsBox.addEventListener('mouseout', (e) => quick(e, false));
    this.rowsBox.addEventListener('focusin', (e) => quick(e, true));
    this.rowsBox.addEventListener('focusout', (e) => quick(e, false));
    new ResizeObserver((entries) => {
      this.viewportHeight = entries[entries.length - 1].contentRect.height;
      this.schedule();
    }).observe(this.viewport);
  }

  private columnsKey = '';

  setColumns(cols: ColumnDef[], widths: Record<string, number>, order: 'desc' | 'asc', utc: boolean): void {
    const key = JSON.stringify([cols.map((c) => c.key), widths, order, utc]);
    if (key === this.columnsKey) return;
    this.columnsKey = key;
    this.cols = cols;
    this.widths = widths;
    this.order = order;
    this.utc = utc;
    this.setColumnWidths();
    this.viewport.setAttribute('aria-colcount', String(cols.length));
    this.renderHead();
    for (const r of this.pool) r.remove();
    this.pool = [];
    this.schedule();
  }

  /**
   * The header is a grid; the rows' cells are placed absolutely, each at its column's offset and
   * width (CSS variables on the table), which lays out faster than a grid per row.
   */
  private setColumnWidths(): void {
    this.element.style.setProperty('--cols', gridTemplate(this.cols, this.widths));
    let x = 0;
    this.cols.forEach((c, i) => {
      const w = columnWidth(c, this.widths);
      this.element.style.setProperty(`--cx${i}`, `${x}px`);
      this.element.style.setProperty(`--cw${i}`, `${w}px`);
      x += w;
    });
    this.element.style.setProperty('--min-width', `${x}px`);
  }

  private renderHead(): void {
    clear(this.head);
    this.cols.forEach((c, i) => {
      const sortable = c.key === 'id' || c.key === 'recorded';
      // The zone's offset in the header; its name too in the tooltip (once looked up).
      const label = c.key === 'recorded' ? `${c.label} (${zoneLabel(this.utc, Date.now(), '')})` : c.label;
      const title = c.key === 'recorded' ? `${c.label} (${zoneLabel(this.utc, Date.now(), zoneName ?? '')})` : c.label;
      const cell = el('div', { class: `cell col-${c.key}`, role: 'columnheader', 'aria-colindex': String(i + 1), title });
      if (sortable) {
        cell.setAttribute('aria-sort', this.order === 'desc' ? 'descending' : 'ascending');
        const b = el(
          'button',
          { class: 'sort', title: `${title}. ${this.order === 'desc' ? 'Newest first: click for oldest first' : 'Oldest first: click for newest first'}` },
          label,
          el('span', { class: codiconClass(this.order === 'desc' ? 'arrow-down' : 'arrow-up') }),
        );
        b.addEventListener('click', () => this.host.toggleOrder());
        cell.append(b);
      } else cell.append(el('span', { class: 'label' }, label));
      const grip = el('div', { class: 'resizer', role: 'separator', 'aria-orientation': 'vertical', 'aria-label': `Resize ${c.label}`, tabindex: '-1' });
      grip.addEventListener('pointerdown', (e) => this.startResize(e, c, cell));
      cell.append(grip);
      this.head.append(cell);
    });
  }

  private startResize(e: PointerEvent, c: ColumnDef, cell: HTMLElement): void {
    e.preventDefault();
    const grip = e.target as HTMLElement;
    grip.setPointerCapture(e.pointerId);
    const startX = e.clientX;
    const startW = cell.getBoundingClientRect().width;
    const move = (ev: PointerEvent) => {
      this.widths = { ...this.widths, [c.key]: Math.max(MIN_COLUMN_WIDTH, Math.round(startW + ev.clientX - startX)) };
      this.setColumnWidths();
    };
    const up = () => {
      grip.removeEventListener('pointermove', move);
      grip.removeEventListener('pointerup', up);
      this.host.resized(c.key, this.widths[c.key] ?? c.width);
    };
    grip.addEventListener('pointermove', move);
    grip.addEventListener('pointerup', up);
  }

  private zoneLookup = false;

  /** The zone name for the header, a while after the first rows: off the way of the first paint. */
  private lookUpZoneLater(): void {
    if (this.zoneLookup || zoneName !== undefined) return;
    this.zoneLookup = true;
    setTimeout(
      () =>
        requestIdleCallback(() => {
          zoneName = Intl.DateTimeFormat().resolvedOptions().timeZone ?? '';
          this.renderHead();
        }),
      1000,
    );
  }

  /** A new result: its total, its cache, and what to select. */
  setResult(cache: RowCache, selectIndex: number | undefined, keepScroll: boolean): void {
    this.lookUpZoneLater();
    this.cache = cache;
    this.gen++;
    this.viewport.setAttribute('aria-rowcount', String(cache.total + 1));
    this.selected = selectIndex ?? -1;
    this.selectedId = undefined;
    if (!keepScroll) this.viewport.scrollTop = 0;
    // Just set: reading it back would lay out the page before the new rows are in.
    this.render(true, keepScroll ? undefined : 0);
    if (selectIndex !== undefined) this.reveal(selectIndex, true);
  }

  get total(): number {
    return this.cache.total;
  }

  /** The result's count changed (it came after the first rows): the scroll range follows, nothing moves. */
  totalChanged(): void {
    this.viewport.setAttribute('aria-rowcount', String(this.cache.total + 1));
    this.schedule();
  }

  schedule(): void {
    if (this.frame) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = 0;
      this.render(false);
    });
  }

  /** Until the ResizeObserver has said, the window's height stands in (a few rows too many, no layout forced). */
  private height(): number {
    return this.viewportHeight || window.innerHeight || 400;
  }

  /**
   * Keeps each row element on the position it shows when the view moves by less than a screen:
   * the rows that left at one end move to the other (DOM order stays the visual order), so only
   * the rows that came into view are filled again.
   */
  private rotate(first: number): void {
    const n = this.pool.length;
    const d = first - this.poolFirst;
    this.poolFirst = first;
    if (d === 0 || n === 0 || Math.abs(d) >= n) return;
    if (d > 0) {
      const moved = this.pool.splice(0, d);
      this.pool.push(...moved);
      this.rowsBox.append(...moved);
    } else {
      const moved = this.pool.splice(n + d, -d);
      this.pool.unshift(...moved);
      this.rowsBox.prepend(...moved);
    }
  }

  /** Draws the rows in view; `force` redraws rows whose content did not change. `top`: the scrollTop, when known. */
  render(force: boolean, top?: number): void {
    if (this.frame) {
      cancelAnimationFrame(this.frame);
      this.frame = 0;
    }
    const vh = this.height();
    const scrollTop = top ?? this.viewport.scrollTop;
    const skimming = !force && Math.abs(scrollTop - this.lastScrollTop) > SKIM_SCREENS * vh;
    this.lastScrollTop = scrollTop;
    const l = layout(this.cache.total, ROW_HEIGHT, vh, scrollTop);
    this.visibleFirst = Math.min(Math.max(0, this.cache.total - 1), l.first + Math.max(0, Math.floor((scrollTop - l.top) / ROW_HEIGHT)));
    this.sizer.style.height = `${l.height}px`;
    // Each row sits at its own offset from an anchor position, and the row box moves so that the
    // anchor is where it belongs: rows that stay in view do not move inside the (composited) box,
    // so a frame paints only the rows that came into view. A jump or a long way sets a new anchor.
    const n = this.pool.length;
    if (Math.abs(l.first - this.poolFirst) >= n || Math.abs(l.first - this.anchor) > 1000) this.anchor = l.first;
    this.rowsBox.style.transform = `translateY(${l.top - (l.first - this.anchor) * ROW_HEIGHT}px)`;
    this.rotate(l.first);
    while (this.pool.length < l.count) {
      const r = el('div', { class: 'row', role: 'row' });
      this.cols.forEach((c, i) => {
        const cell = el('div', { class: `cell col-${c.key}`, role: 'gridcell' });
        cell.style.left = `var(--cx${i})`;
        if (i < this.cols.length - 1) cell.style.width = `var(--cw${i})`;
        else cell.style.cssText += `right: 0; min-width: var(--cw${i});`;
        r.append(cell);
      });
      this.pool.push(r);
      this.rowsBox.append(r);
    }
    let active: string | undefined;
    for (let k = 0; k < this.pool.length; k++) {
      const r = this.pool[k];
      if (k >= l.count) {
        r.hidden = true;
        r.classList.remove('selected');
        r.setAttribute('aria-selected', 'false');
        continue;
      }
      r.hidden = false;
      const index = l.first + k;
      const offset = `translateY(${(index - this.anchor) * ROW_HEIGHT}px)`;
      if (r.style.transform !== offset) r.style.transform = offset;
      const data = skimming ? undefined : this.cache.get(index);
      const key = `${this.gen}:${index}:${data ? data.id : '-'}`;
      const refill = force || r.dataset.key !== key;
      if (refill) {
        r.dataset.key = key;
        r.dataset.index = String(index);
        r.id = `row-${index}`;
        r.setAttribute('aria-rowindex', String(index + 2));
        this.fill(r, data);
      }
      const sel = index === this.selected;
      // Only rows that were refilled or whose selection changed are written to.
      if (refill || r.classList.contains('selected') !== sel) {
        r.classList.toggle('selected', sel);
        r.setAttribute('aria-selected', String(sel));
        const entity = r.querySelector<HTMLElement>('.entity');
        if (entity) entity.tabIndex = sel ? 0 : -1;
      }
      if (sel) active = r.id;
      if (sel && data && this.selectedId !== data.id) {
        this.selectedId = data.id;
        this.host.select(index, data);
      }
    }
    if (active) this.viewport.setAttribute('aria-activedescendant', active);
    else this.viewport.removeAttribute('aria-activedescendant');
    this.maxDomRows = Math.max(this.maxDomRows, Math.min(this.pool.length, l.count));
    const missing = this.cache.missing(Math.max(0, l.first - PAGE_SIZE / 2), l.first + l.count + PAGE_SIZE / 2);
    if (missing.length) this.host.need(missing);
    // The next frame fills the rows if the view has come (nearly) to rest by then.
    if (skimming) this.schedule();
  }

  /** Puts a row's values in its cells, reusing what the cells hold (a refill costs text, not elements). */
  private fill(r: HTMLElement, d: EntryRow | undefined): void {
    r.classList.toggle('loading', !d);
    r.dataset.id = d ? String(d.id) : '';
    const cells = r.children;
    for (let i = 0; i < this.cols.length; i++) {
      const cell = cells[i] as HTMLElement;
      let title = '';
      if (!d) {
        if (cell.firstChild) cell.textContent = '';
      } else {
        switch (this.cols[i].key) {
          case 'compare': {
            let box = cell.firstElementChild as HTMLInputElement | null;
            if (!box) cell.append((box = el('input', { type: 'checkbox', class: 'compare' })));
            box.setAttribute('aria-label', `Compare entry ${d.id}`);
            box.checked = this.compare.has(d.id);
            break;
          }
          case 'id':
            cell.textContent = String(d.id);
            break;
          case 'user':
            cell.textContent = d.user;
            if (d.onBehalfOf) title = `${d.user}, on behalf of ${d.onBehalfOf}`;
            break;
          case 'action':
            span(cell, `badge action action-${d.action.toLowerCase()}`, d.action);
            break;
          case 'entityName': {
            const s = span(cell, 'entity', d.entityName);
            s.tabIndex = -1;
            s.setAttribute('aria-label', `${d.entityName}: show changes`);
            break;
          }
          case 'entityId':
            cell.textContent = d.entityId;
            break;
          case 'recorded':
            cell.textContent = formatTimestamp(d.recorded, this.utc);
            break;
          case 'bot':
            cell.textContent = d.bot ?? '';
            break;
          case 'outcome':
            if (d.outcome !== undefined) span(cell, `badge outcome outcome-${d.outcome}`, d.outcomeName ?? String(d.outcome));
            else cell.textContent = '';
            break;
          case 'desc':
            cell.textContent = d.outcomeDescFirstLine ?? '';
            title = d.outcomeDescFirstLine ?? '';
            break;
        }
      }
      if (title) cell.title = title;
      else if (cell.hasAttribute('title')) cell.removeAttribute('title');
    }
  }

  /** Moves the selection to `index` and brings it into view. */
  select(index: number): void {
    if (this.cache.total === 0) return;
    this.selected = Math.min(Math.max(0, index), this.cache.total - 1);
    this.selectedId = undefined;
    this.reveal(this.selected, false);
    this.render(false);
    const d = this.cache.get(this.selected);
    if (!d) this.host.select(this.selected, undefined);
  }

  private reveal(index: number, top: boolean): void {
    const vh = this.height();
    this.viewport.scrollTop = top
      ? scrollTopFor(Math.max(0, index - 3), this.cache.total, ROW_HEIGHT, vh)
      : scrollIntoView(index, this.cache.total, ROW_HEIGHT, vh, this.viewport.scrollTop);
  }

  scrollToTop(): void {
    this.viewport.scrollTop = 0;
  }

  private onKey(e: KeyboardEvent): void {
    const pageRows = Math.max(1, Math.floor(this.height() / ROW_HEIGHT) - 1);
    const at = this.selected < 0 ? -1 : this.selected;
    let next: number | undefined;
    switch (e.key) {
      case 'ArrowDown':
        next = at + 1;
        break;
      case 'ArrowUp':
        next = Math.max(0, at - 1);
        break;
      case 'PageDown':
        next = at + pageRows;
        break;
      case 'PageUp':
        next = Math.max(0, at - pageRows);
        break;
      case 'Home':
        next = 0;
        break;
      case 'End':
        next = this.cache.total - 1;
        break;
      case 'Enter':
        if (at >= 0) this.host.open(at);
        e.preventDefault();
        return;
      default:
        return;
    }
    e.preventDefault();
    this.select(next);
  }
}
