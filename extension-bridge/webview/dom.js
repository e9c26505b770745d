// @ts-check
/** The page's fixed elements (index.html) and the one helper that builds new ones. */

/** @param {string} id @returns {any} */
export const $ = (id) => /** @type {any} */ (document.getElementById(id));

export const ui = {
  app: $('app'),
  sidebar: $('sidebar'),
  toggleList: $('toggle-list'),
  list: $('conversation-list'),
  more: $('more-conversations'),
  results: $('search-results'),
  search: $('search'),
  connection: $('connection'),
  importButton: $('import'),
  importFile: $('import-file'),
  title: $('chat-title'),
  totals: $('chat-totals'),
  renameForm: $('rename-form'),
  renameInput: $('rename-input'),
  actions: $('chat-actions'),
  rename: $('rename'),
  branch: $('branch'),
  star: $('star'),
  pin: $('pin'),
  archive: $('archive'),
  del: $('delete'),
  restore: $('restore'),
  deleteForever: $('delete-forever'),
  exportButton: $('export-conversation'),
  exportMenu: $('export-menu'),
  history: $('history'),
  older: $('load-older'),
  messages: $('messages'),
  emptyState: $('empty-state'),
  notices: $('notices'),
  notice: $('notice'),
  form: $('composer-form'),
  composer: $('composer'),
  send: $('send'),
  stop: $('stop'),
  retry: $('retry'),
  editing: $('editing'),
  trashNote: $('trash-note'),
};

/** @param {string} tag @param {Record<string, string>} [attrs] @param {string} [text] */
export function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
  if (text !== undefined) node.textContent = text;
  return node;
}
