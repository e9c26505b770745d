// The floor of the reload measurement (tests/e2e/test_vscode.py): a webview panel that a
// serializer restores with a fixed text. Nothing to start, attach or pull, so its time from
// "Developer: Reload Window" to the text on screen is what VS Code itself costs.
const vscode = require('vscode');

const VIEW_TYPE = 'reloadFloor.panel';
const TEXT = 'Reload floor: fixed text';

function html() {
  return `<!doctype html><html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'">
</head><body><p data-testid="floor">${TEXT}</p></body></html>`;
}

function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand('reloadFloor.open', () => {
      const panel = vscode.window.createWebviewPanel(VIEW_TYPE, 'Floor', vscode.ViewColumn.Beside, {});
      panel.webview.html = html();
    }),
    vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
      async deserializeWebviewPanel(panel) {
        panel.webview.html = html();
      },
    }),
  );
}

module.exports = { activate };
