// The only place that touches @vscode/webview-ui-toolkit (deprecated upstream in 2025):
// replacing it later changes this file and nothing else.
// The toolkit itself is loaded on demand (registerToolkit), in a chunk of its own: its code is
// not on the way to the page's first rows. The helpers below only make elements.
import { codiconClass, type Codicon } from './codicons';

let registered = false;

/**
 * Controls made before the toolkit is registered (the page registers it after its first rows are
 * painted) are plain elements until then. Setting `value` or `checked` on one would leave an own
 * property that hides the control's own once it upgrades; so until then these are kept aside and
 * handed to the control when it comes to life.
 */
const SHIMMED = ['value', 'checked'] as const;
const early: { el: HTMLElement; props: Map<string, unknown> }[] = [];

function track<T extends HTMLElement>(e: T): T {
  if (registered) return e;
  const props = new Map<string, unknown>();
  for (const p of SHIMMED) {
    Object.defineProperty(e, p, {
      configurable: true,
      get: () => props.get(p) ?? (p === 'checked' ? false : ''),
      set: (v: unknown) => props.set(p, v),
    });
  }
  early.push({ el: e, props });
  return e;
}

let registering: Promise<void> | undefined;

/** Loads the toolkit and brings every control made so far to life; once, however often it is called. */
export function registerToolkit(): Promise<void> {
  registering ??= (async () => {
    const tk = await import('@vscode/webview-ui-toolkit');
    // The toolkit applies the editor's theme to its controls on the window's 'load' event (and
    // follows theme changes from then on). Loaded after that event, it would keep its dark
    // defaults: so it gets the event it waits for.
    if (document.readyState === 'complete') window.dispatchEvent(new Event('load'));
    tk.provideVSCodeDesignSystem().register(
      tk.vsCodeBadge(),
      tk.vsCodeButton(),
      tk.vsCodeCheckbox(),
      tk.vsCodeDropdown(),
      tk.vsCodeOption(),
      tk.vsCodeTextField(),
    );
    registered = true;
    for (const { el, props } of early.splice(0)) {
      customElements.upgrade(el);
      for (const p of SHIMMED) delete (el as unknown as Record<string, unknown>)[p];
      for (const [p, v] of props) (el as unknown as Record<string, unknown>)[p] = v;
    }
  })();
  return registering;
}

/** Creates a toolkit button. `appearance` is the toolkit's: primary, secondary or icon. */
export function button(label: string, opts: { appearance?: 'primary' | 'secondary' | 'icon'; icon?: Codicon; title?: string } = {}): HTMLElement {
  const b = document.createElement('vscode-button');
  if (opts.appearance) b.setAttribute('appearance', opts.appearance);
  if (opts.title) {
    b.setAttribute('title', opts.title);
    b.setAttribute('aria-label', opts.title);
  }
  if (opts.icon) {
    const i = document.createElement('span');
    i.className = codiconClass(opts.icon);
    if (opts.appearance !== 'icon') i.setAttribute('slot', 'start');
    b.appendChild(i);
  }
  if (opts.appearance !== 'icon') b.appendChild(document.createTextNode(label));
  return b;
}

export function textField(placeholder: string, opts: { ariaLabel?: string } = {}): HTMLElement & { value: string } {
  const f = track(document.createElement('vscode-text-field') as HTMLElement & { value: string });
  f.setAttribute('placeholder', placeholder);
  f.setAttribute('aria-label', opts.ariaLabel ?? placeholder);
  return f;
}

export function badge(text: string): HTMLElement {
  const b = document.createElement('vscode-badge');
  b.textContent = text;
  return b;
}

export type Dropdown = HTMLElement & { value: string };

/** A toolkit dropdown. Option labels are text, never HTML. */
export function dropdown(options: readonly { value: string; label: string }[], value: string, ariaLabel: string): Dropdown {
  const d = track(document.createElement('vscode-dropdown') as Dropdown);
  d.setAttribute('aria-label', ariaLabel);
  for (const o of options) {
    const opt = document.createElement('vscode-option');
    opt.setAttribute('value', o.value);
    opt.textContent = o.label;
    if (o.value === value) opt.setAttribute('selected', '');
    d.appendChild(opt);
  }
  d.value = value;
  return d;
}

export type Checkbox = HTMLElement & { checked: boolean };

export function checkbox(label: string, checked: boolean): Checkbox {
  const c = track(document.createElement('vscode-checkbox') as Checkbox);
  c.textContent = label;
  if (checked) c.setAttribute('checked', '');
  c.checked = checked;
  return c;
}
