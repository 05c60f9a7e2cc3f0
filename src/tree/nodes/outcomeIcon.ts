import vscode = require('vscode');

/** The codicon and theme colour of an outcome: success, minor, serious, major failure. */
export function outcomeIcon(outcome: number | undefined): vscode.ThemeIcon {
  switch (outcome) {
    case 0:
      return new vscode.ThemeIcon('pass', new vscode.ThemeColor('testing.iconPassed'));
    case 4:
      return new vscode.ThemeIcon('warning', new vscode.ThemeColor('list.warningForeground'));
    case 8:
      return new vscode.ThemeIcon('error', new vscode.ThemeColor('testing.iconFailed'));
    case 12:
      return new vscode.ThemeIcon('flame', new vscode.ThemeColor('errorForeground'));
    default:
      return new vscode.ThemeIcon('hubot');
  }
}
