import type { FileInfo } from '../../api/types';

export interface TreeDir {
  kind: 'dir';
  name: string;
  path: string;
  children: TreeNode[];
}

export interface TreeFile {
  kind: 'file';
  name: string;
  path: string;
  size: number;
  binary: boolean;
}

export type TreeNode = TreeDir | TreeFile;

// The collator localeCompare would build for every call, built once: the same order, a fraction of
// the cost over a 5,000-file project's names.
const byName = new Intl.Collator().compare;

/** Nest a flat, path-sorted file list into folders; folders first, then files, by name. */
export function buildTree(files: FileInfo[]): TreeNode[] {
  const root: TreeDir = { kind: 'dir', name: '', path: '', children: [] };
  const dirs = new Map<string, TreeDir>([['', root]]);
  for (const f of files) {
    const parts = f.path.split('/');
    let parent = root;
    for (let i = 0; i < parts.length - 1; i++) {
      const name = parts[i] ?? '';
      const dirPath = parent === root ? name : `${parent.path}/${name}`;
      let dir = dirs.get(dirPath);
      if (!dir) {
        dir = { kind: 'dir', name, path: dirPath, children: [] };
        dirs.set(dirPath, dir);
        parent.children.push(dir);
      }
      parent = dir;
    }
    parent.children.push({ kind: 'file', name: parts[parts.length - 1] ?? f.path, path: f.path, size: f.size, binary: f.binary ?? false });
  }
  const sort = (nodes: TreeNode[]) => {
    nodes.sort((a, b) => (a.kind === b.kind ? byName(a.name, b.name) : a.kind === 'dir' ? -1 : 1));
    for (const n of nodes) if (n.kind === 'dir') sort(n.children);
  };
  sort(root.children);
  return root.children;
}

/** The path of every folder in `nodes`, at any depth. */
export function folderPaths(nodes: TreeNode[]): string[] {
  const paths: string[] = [];
  const walk = (level: TreeNode[]) => {
    for (const n of level) {
      if (n.kind === 'dir') {
        paths.push(n.path);
        walk(n.children);
      }
    }
  };
  walk(nodes);
  return paths;
}
