// The webview's handle on the host. `acquireVsCodeApi` may be called once per page.
import type { WebviewCommand } from '../src/panels/protocol';

interface VsCodeApi<S> {
  postMessage(msg: WebviewCommand): void;
  getState(): S | undefined;
  setState(state: S): void;
}

declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

let api: VsCodeApi<unknown> | undefined;

export function vscodeApi<S>(): VsCodeApi<S> {
  api ??= acquireVsCodeApi<unknown>();
  return api as VsCodeApi<S>;
}
