import { randomBytes } from 'node:crypto';
import vscode = require('vscode');

/** A fresh nonce for each page load: the only scripts that run are the ones carrying it. */
export function makeNonce(): string {
  return randomBytes(18).toString('base64');
}

/**
 * The HTML shell of a webview. No data ever goes into it: the page gets its data by postMessage.
 * The CSP allows nothing by default; scripts only with the nonce; styles, fonts and images only
 * from the extension's built webview folder.
 */
export function webviewHtml(opts: {
  webview: vscode.Webview;
  extensionUri: vscode.Uri;
  script: string;
  styles: string[];
  title: string;
}): string {
  const { webview, extensionUri } = opts;
  const asset = (name: string) => webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview', name));
  const nonce = makeNonce();
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource}`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  const links = opts.styles.map((s) => `<link rel="stylesheet" href="${asset(s).toString()}">`).join('\n    ');
  return `<!DOCTYPE html>
<html lang="en">
  <head>
    <meta charset="UTF-8">
    <meta http-equiv="Content-Security-Policy" content="${csp}">
    <meta name="viewport" content="width=device-width, initial-scale=1.0">
    ${links}
    <title>${escapeHtml(opts.title)}</title>
  </head>
  <body>
    <div id="app" role="application"></div>
    <script type="module" nonce="${nonce}" src="${asset(opts.script).toString()}"></script>
  </body>
</html>`;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
