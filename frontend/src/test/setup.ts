import '@testing-library/jest-dom/vitest';
import { cleanup, configure } from '@testing-library/react';
import { afterEach } from 'vitest';

afterEach(() => cleanup());

// A loaded CI machine (2 cores, servers and browsers beside these tests) can take more than the
// default second to render a query's result; a broken feature still fails, only later.
configure({ asyncUtilTimeout: 5000 });

// jsdom has no layout: CodeMirror measures text through Range rects, so give it empty ones.
if (typeof Range !== 'undefined') {
  const empty = { length: 0, item: () => null, [Symbol.iterator]: [][Symbol.iterator] };
  Range.prototype.getClientRects = () => empty as unknown as DOMRectList;
  Range.prototype.getBoundingClientRect = () => new DOMRect(0, 0, 0, 0);
}
