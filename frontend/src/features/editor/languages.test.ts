import { describe, expect, it } from 'vitest';
import { languageExtension, languageFor } from './languages';

describe('languageFor', () => {
  it.each([
    ['a.js', 'javascript'],
    ['src/App.jsx', 'jsx'],
    ['x.ts', 'typescript'],
    ['src/App.tsx', 'tsx'],
    ['index.html', 'html'],
    ['s.css', 'css'],
    ['package.json', 'json'],
    ['README.md', 'markdown'],
    ['main.py', 'python'],
    ['Makefile', 'text'],
    ['.gitignore', 'text'],
  ])('%s → %s', (path, lang) => {
    expect(languageFor(path)).toBe(lang);
    expect(languageExtension(languageFor(path))).toBeDefined();
  });
});
