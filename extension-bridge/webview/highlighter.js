// @ts-check
/**
 * The entry of media/highlight.js: highlight.js (core and the languages a chat shows most),
 * bundled apart from chat.js so that the page's first render does not wait for it to be
 * evaluated (a third of chat.js's evaluation was this: docs/decisions.md). The page runs it once
 * that render has had a chance to paint (host.js `loadHighlighter`). It is a classic script with
 * no exports, so it hands highlight.js to the page by an event on `document`.
 */

import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import markdown from 'highlight.js/lib/languages/markdown';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import shell from 'highlight.js/lib/languages/shell';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';

for (const [name, language] of Object.entries({ bash, c, cpp, css, diff, go, java, javascript, json, markdown, python, rust, shell, sql, typescript, xml, yaml })) {
  hljs.registerLanguage(name, language);
}

// The name host.js listens for.
document.dispatchEvent(new CustomEvent('chat-sidecar:highlighter', { detail: hljs }));
