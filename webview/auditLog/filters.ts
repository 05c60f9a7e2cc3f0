// The filter bar: "+ Add filter" rows of column, operator and a typed value, and a trash button.
import { columnSpec, describeRelative, parseRelative, RELATIVE_PRESETS, type TimeValue } from '../../src/core/query';
import { ACTIONS, OUTCOME_NAMES, OUTCOMES } from '../../src/core/store/types';
import { EMPTY_CHOICES, type Choices } from '../../src/panels/protocol';
import { clear, el } from '../dom';
import { button, checkbox, dropdown, textField } from '../toolkit';
import { DRAFT_COLUMNS, fromDateTimeInput, newDraft, toDateTimeInput, type Draft } from './model';

const UNITS = [
  { value: 'm', label: 'minutes' },
  { value: 'h', label: 'hours' },
  { value: 'd', label: 'days' },
];

export class FilterBar {
  readonly element = el('div', { class: 'filter-rows', role: 'group', 'aria-label': 'Filters' });
  private drafts: Draft[] = [];
  private choices: Readonly<Choices> = EMPTY_CHOICES;

  constructor(
    private readonly onChange: (drafts: Draft[]) => void,
    private readonly utc: () => boolean,
  ) {}

  get value(): Draft[] {
    return this.drafts;
  }

  set(drafts: Draft[]): void {
    this.drafts = drafts.map((d) => ({ ...d }));
    this.render();
  }

  setChoices(c: Choices): void {
    const same = JSON.stringify(c) === JSON.stringify(this.choices);
    this.choices = c;
    // Re-render only rows whose dropdowns list these values, and never under the user's focus.
    if (!same && !this.element.contains(document.activeElement)) this.render();
  }

  /** Adds a row (User first: the most common question) and focuses its column. */
  add(column: Draft['column'] = 'user'): void {
    this.drafts.push(newDraft(column));
    this.render();
    this.changed();
    const rows = this.element.querySelectorAll<HTMLElement>('.filter-row');
    rows[rows.length - 1]?.querySelector<HTMLElement>('.filter-column')?.focus();
  }

  private changed(): void {
    this.onChange(this.drafts);
  }

  render(): void {
    clear(this.element);
    this.drafts.forEach((d, i) => this.element.append(this.row(d, i)));
    const add = button('Add filter', { appearance: 'secondary', icon: 'add', title: 'Add filter' });
    add.classList.add('add-filter');
    add.addEventListener('click', () => this.add());
    this.element.append(add);
  }

  private row(d: Draft, i: number): HTMLElement {
    const spec = columnSpec(d.column);
    const col = dropdown(
      DRAFT_COLUMNS.map((c) => ({ value: c.column, label: c.label })),
      d.column,
      `Filter ${i + 1} column`,
    );
    col.classList.add('filter-column');
    col.addEventListener('change', () => {
      if (col.value === d.column) return;
      this.drafts[i] = newDraft(col.value as Draft['column']);
      this.render();
      this.changed();
    });
    const op = dropdown(
      spec.ops.map((o) => ({ value: o.op, label: o.label })),
      d.op,
      `Filter ${i + 1} operator`,
    );
    op.classList.add('filter-op');
    op.addEventListener('change', () => {
      if (op.value === d.op) return;
      d.op = op.value as Draft['op'];
      // "contains" takes free text where "equals" offers the known names.
      this.render();
      this.changed();
    });
    const remove = button('Remove filter', { appearance: 'icon', icon: 'trash', title: `Remove filter ${i + 1}` });
    remove.classList.add('filter-remove');
    remove.addEventListener('click', () => {
      this.drafts.splice(i, 1);
      this.render();
      this.changed();
    });
    const value = el('div', { class: 'filter-value' }, this.valueEditor(d, i));
    return el('div', { class: 'filter-row', 'data-column': d.column }, col, op, value, remove);
  }

  private set_(d: Draft, v: Draft['value']): void {
    d.value = v;
    this.changed();
  }

  private valueEditor(d: Draft, i: number): HTMLElement {
    const label = `Filter ${i + 1} value`;
    switch (columnSpec(d.column).valueKind) {
      case 'integer': {
        const f = textField('a number', { ariaLabel: label });
        if (typeof d.value === 'number') f.value = String(d.value);
        f.addEventListener('input', () => this.set_(d, /^\d+$/.test(f.value.trim()) ? Number(f.value.trim()) : undefined));
        return f;
      }
      case 'text': {
        const known = d.column === 'user' ? this.choices.users : d.column === 'bot' ? this.choices.bots : d.column === 'entityName' ? this.choices.entityNames : undefined;
        const freeText = !known || d.op === 'contains' || d.op === 'notContains';
        if (freeText) {
          const f = textField(d.column === 'entityId' ? 'an ID, e.g. 42' : 'text', { ariaLabel: label });
          if (typeof d.value === 'string') f.value = d.value;
          f.addEventListener('input', () => this.set_(d, f.value));
          return f;
        }
        const current = typeof d.value === 'string' ? d.value : '';
        const values = current && !known.includes(current) ? [current, ...known] : known;
        const dd = dropdown([{ value: '', label: 'Choose…' }, ...values.map((v) => ({ value: v, label: v }))], current, label);
        dd.addEventListener('change', () => this.set_(d, dd.value || undefined));
        return dd;
      }
      case 'actions':
      case 'outcomes': {
        const isAction = columnSpec(d.column).valueKind === 'actions';
        const all: { value: string | number; label: string }[] = isAction
          ? ACTIONS.map((a) => ({ value: a, label: a }))
          : OUTCOMES.map((o) => ({ value: o, label: OUTCOME_NAMES[o] }));
        const chosen = new Set<string | number>(Array.isArray(d.value) ? d.value : []);
        const box = el('div', { class: 'choice-set', role: 'group', 'aria-label': label });
        for (const o of all) {
          const c = checkbox(o.label, chosen.has(o.value));
          c.classList.add(isAction ? `action-choice` : `outcome-choice`);
          c.setAttribute('data-value', String(o.value));
          c.addEventListener('change', () => {
            if (c.checked) chosen.add(o.value);
            else chosen.delete(o.value);
            this.set_(d, all.filter((x) => chosen.has(x.value)).map((x) => x.value) as Draft['value']);
          });
          box.append(c);
        }
        return box;
      }
      case 'time':
        return this.timeEditor(d, label);
    }
  }

  /** Relative presets, "Last N minutes/hours/days", or a date and time. */
  private timeEditor(d: Draft, label: string): HTMLElement {
    const v = d.value as TimeValue | undefined;
    const isPreset = typeof v === 'object' && RELATIVE_PRESETS.some((p) => p.relative === v.relative);
    const mode = v === undefined ? '' : typeof v === 'number' ? 'absolute' : isPreset ? v.relative : 'custom';
    const kind = dropdown(
      [
        { value: '', label: 'Choose…' },
        ...RELATIVE_PRESETS.map((p) => ({ value: p.relative, label: p.label })),
        { value: 'custom', label: 'Last N minutes, hours or days…' },
        { value: 'absolute', label: 'Date and time…' },
      ],
      mode,
      label,
    );
    kind.classList.add('time-kind');
    const extra = el('span', { class: 'time-extra' });
    const box = el('div', { class: 'time-value' }, kind, extra);
    const showExtra = () => {
      clear(extra);
      const cur = d.value as TimeValue | undefined;
      if (kind.value === 'custom') {
        const m = typeof cur === 'object' ? /^(\d+)([mhd])$/.exec(cur.relative) : null;
        const n = textField('N', { ariaLabel: 'How many' });
        n.classList.add('time-n');
        n.value = m ? m[1] : '2';
        const unit = dropdown(UNITS, m ? m[2] : 'h', 'Unit');
        unit.classList.add('time-unit');
        const apply = () => {
          const rel = `${n.value.trim()}${unit.value}`;
          this.set_(d, parseRelative(rel) === undefined ? undefined : { relative: rel });
          n.setAttribute('title', parseRelative(rel) === undefined ? 'A whole number from 1' : describeRelative(rel));
        };
        n.addEventListener('input', apply);
        unit.addEventListener('change', apply);
        extra.append(n, unit);
        apply();
      } else if (kind.value === 'absolute') {
        const input = el('input', { type: 'datetime-local', step: '1', class: 'time-absolute', 'aria-label': `${label} (${this.utc() ? 'UTC' : 'local time'})` });
        if (typeof cur === 'number') input.value = toDateTimeInput(cur, this.utc());
        input.addEventListener('input', () => this.set_(d, fromDateTimeInput(input.value, this.utc())));
        extra.append(input);
      }
    };
    kind.addEventListener('change', () => {
      if (kind.value === '') this.set_(d, undefined);
      else if (kind.value !== 'custom' && kind.value !== 'absolute') this.set_(d, { relative: kind.value });
      showExtra();
    });
    showExtra();
    return box;
  }
}
