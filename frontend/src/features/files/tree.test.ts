import { describe, expect, it } from 'vitest';
import { buildTree, folderPaths } from './tree';

const file = (path: string) => ({ path, size: 1, updated_at: '' });

describe('buildTree', () => {
  it('nests files into folders, folders first, by name', () => {
    const tree = buildTree([file('README.md'), file('src/main.tsx'), file('src/App.tsx'), file('src/lib/a.ts'), file('index.html')]);
    expect(tree.map((n) => n.name)).toEqual(['src', 'index.html', 'README.md']);
    const src = tree[0];
    expect(src?.kind).toBe('dir');
    if (src?.kind !== 'dir') return;
    expect(src.children.map((n) => `${n.kind}:${n.path}`)).toEqual([
      'dir:src/lib',
      'file:src/App.tsx',
      'file:src/main.tsx',
    ]);
  });
});

describe('folderPaths', () => {
  it('lists every folder at any depth, and no file', () => {
    const tree = buildTree([file('a/b/c/x.ts'), file('a/y.ts'), file('d/z.ts'), file('top.ts')]);
    expect(folderPaths(tree)).toEqual(['a', 'a/b', 'a/b/c', 'd']);
  });
});
