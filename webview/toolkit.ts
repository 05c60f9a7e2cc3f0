// The only place that touches @vscode/webview-ui-toolkit (deprecated upstream in 2025):
// replacing it later changes this file and nothing else.
import {
  provideVSCodeDesignSystem,
  vsCodeBadge,
  vsCodeButton,
  vsCodeCheckbox,
  vsCodeDropdown,
  vsCodeOption,
  vsCodeProgressRing,
  vsCodeTextField,
} from '@vscode/webview-ui-toolkit';

let registered = false;

export function registerToolkit(): void {
  if (registered) return;
  registered = true;
  provideVSCodeDesignSystem().register(
    vsCodeBadge(),
    vsCodeButton(),
    vsCodeCheckbox(),
    vsCodeDropdown(),
    vsCodeOption(),
    vsCodeProgressRing(),
    vsCodeTextField(),
  );
}

/** Creates a toolkit button. `appearance` is the toolkit's: primary, secondary or icon. */
export function button(label: string, opts: { appearance?: 'primary' | 'secondary' | 'icon'; icon?: string; title?: string } = {}): HTMLElement {
  const b = document.createElement('vscode-button');
  if (opts.appearance) b.setAttribute('appearance', opts.appearance);
  if (opts.title) {
    b.setAttribute('title', opts.title);
    b.setAttribute('aria-label', opts.title);
  }
  if (opts.icon) {
    const i = document.createElement('span');
    i.className = `codicon codicon-${opts.icon}`;
    if (opts.appearance !== 'icon') i.setAttribute('slot', 'start');
    b.appendChild(i);
  }
  if (opts.appearance !== 'icon') b.appendChild(document.createTextNode(label));
  return b;
}

export function textField(placeholder: string, opts: { ariaLabel?: string } = {}): HTMLElement & { value: string } {
  const f = document.createElement('vscode-text-field') as HTMLElement & { value: string };
  f.setAttribute('placeholder', placeholder);
  f.setAttribute('aria-label', opts.ariaLabel ?? placeholder);
  return f;
}

export function badge(text: string): HTMLElement {
  const b = document.createElement('vscode-badge');
  b.textContent = text;
  return b;
}

export function progressRing(): HTMLElement {
  return document.createElement('vscode-progress-ring');
}

export type Dropdown = HTMLElement & { value: string };

/** A toolkit dropdown. Option labels are text, never HTML. */
export function dropdown(options: readonly { value: string; label: string }[], value: string, ariaLabel: string): Dropdown {
  const d = document.createElement('vscode-dropdown') as Dropdown;
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
  const c = document.createElement('vscode-checkbox') as Checkbox;
  c.textContent = label;
  if (checked) c.setAttribute('checked', '');
  c.checked = checked;
  return c;
}
