import { useMemo, useState, type FormEvent } from 'react';
import { useDeleteFile, useFiles, useRenameFile, useWriteFile } from '../../api/files';
import { Icon } from '../../components/Icon';
import { buildTree, folderPaths, type TreeNode } from './tree';

interface FileTreeProps {
  projectId: number;
  openPath: string | null;
  onOpen: (path: string | null) => void;
  /** Files with unsaved edits in the editor. */
  unsaved?: ReadonlySet<string>;
}

function PathForm({
  initial,
  label,
  onSubmit,
  onCancel,
}: {
  initial: string;
  label: string;
  onSubmit: (path: string) => void;
  onCancel: () => void;
}) {
  const [value, setValue] = useState(initial);
  function submit(e: FormEvent) {
    e.preventDefault();
    const v = value.trim().replace(/^\/+/, '');
    if (v) onSubmit(v);
  }
  return (
    <form className="path-form" onSubmit={submit}>
      <input
        aria-label={label}
        autoFocus
        value={value}
        onChange={(e) => setValue(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Escape') onCancel();
        }}
      />
      <button type="submit" className="small">
        OK
      </button>
      <button type="button" className="small" onClick={onCancel}>
        Cancel
      </button>
    </form>
  );
}

/** Past this many files, a tree opens with its folders folded. */
export const LARGE_TREE = 300;


export function FileTree({ projectId, openPath, onOpen, unsaved }: FileTreeProps) {
  const files = useFiles(projectId);
  const write = useWriteFile(projectId);
  const rename = useRenameFile(projectId);
  const remove = useDeleteFile(projectId);
  const [creating, setCreating] = useState(false);
  const [renaming, setRenaming] = useState<string | null>(null);
  // null until the user folds or unfolds a folder: a large (imported) tree then starts with every
  // folder folded, so opening it renders its top level, not thousands of rows in one long task.
  const [folded, setFolded] = useState<Set<string> | null>(null);
  // Built once per file list, not on every render (a fold, a rename, an unsaved edit).
  const tree = useMemo(() => buildTree(files.data ?? []), [files.data]);
  const startFolded = useMemo(
    () => new Set((files.data?.length ?? 0) > LARGE_TREE ? folderPaths(tree) : []),
    [files.data, tree],
  );
  const collapsed = folded ?? startFolded;
  const error = write.error ?? rename.error ?? remove.error;
  // One message at a time: a new attempt replaces whatever the last one said.
  const clearErrors = () => {
    write.reset();
    rename.reset();
    remove.reset();
  };

  function toggle(dir: string) {
    const n = new Set(collapsed);
    if (n.has(dir)) n.delete(dir);
    else n.add(dir);
    setFolded(n);
  }

  function renderNode(node: TreeNode, depth: number) {
    const indent = { paddingLeft: `${depth * 12 + 6}px` };
    if (node.kind === 'dir') {
      const isCollapsed = collapsed.has(node.path);
      return (
        <li key={`d:${node.path}`} role="treeitem" aria-expanded={!isCollapsed}>
          <button type="button" className="tree-row tree-dir" style={indent} aria-expanded={!isCollapsed} onClick={() => toggle(node.path)}>
            <Icon name={isCollapsed ? 'collapsed' : 'expanded'} /> {node.name}
          </button>
          {isCollapsed ? null : <ul role="group">{node.children.map((c) => renderNode(c, depth + 1))}</ul>}
        </li>
      );
    }
    if (renaming === node.path) {
      return (
        <li key={`f:${node.path}`} role="treeitem" style={indent}>
          <PathForm
            initial={node.path}
            label={`New path for ${node.path}`}
            onCancel={() => setRenaming(null)}
            onSubmit={(newPath) => {
              clearErrors();
              rename.mutate(
                { path: node.path, newPath },
                {
                  onSuccess: () => {
                    setRenaming(null);
                    if (openPath === node.path) onOpen(newPath);
                  },
                },
              );
            }}
          />
        </li>
      );
    }
    return (
      <li key={`f:${node.path}`} role="treeitem" aria-selected={openPath === node.path}>
        <div className={`tree-row tree-file${openPath === node.path ? ' active' : ''}`} style={indent}>
          {node.binary ? (
            // Binary (imported): kept and downloaded with the project, but there is no text to edit.
            <span className="tree-name muted" data-testid="tree-file" data-path={node.path} data-binary="true" title="Binary file: not editable">
              {node.name} <small>(binary)</small>
            </span>
          ) : (
            <button type="button" className="tree-name" data-testid="tree-file" data-path={node.path} onClick={() => onOpen(node.path)}>
              {node.name}
              {unsaved?.has(node.path) ? (
                <span title="Unsaved changes">
                  <span aria-hidden="true"> ●</span>
                  <span className="sr-only"> (unsaved)</span>
                </span>
              ) : null}
            </button>
          )}
          <span className="tree-actions">
            <button type="button" className="icon" title={`Rename ${node.path}`} aria-label={`Rename ${node.path}`} onClick={() => setRenaming(node.path)}>
              <Icon name="rename" />
            </button>
            <button
              type="button"
              className="icon"
              title={`Delete ${node.path}`}
              aria-label={`Delete ${node.path}`}
              onClick={() => {
                if (!window.confirm(`Delete ${node.path}?`)) return;
                clearErrors();
                remove.mutate(node.path, {
                  onSuccess: () => {
                    if (openPath === node.path) onOpen(null);
                  },
                });
              }}
            >
              <Icon name="remove" />
            </button>
          </span>
        </div>
      </li>
    );
  }

  return (
    <nav className="file-tree" aria-label="Project files">
      <div className="panel-head">
        <span>Files</span>
        <button type="button" className="small" onClick={() => setCreating(true)}>
          + New file
        </button>
      </div>
      {creating ? (
        <PathForm
          initial=""
          label="New file path"
          onCancel={() => setCreating(false)}
          onSubmit={(path) => {
            clearErrors();
            write.mutate(
              { path, content: '' },
              {
                onSuccess: () => {
                  setCreating(false);
                  onOpen(path);
                },
              },
            );
          }}
        />
      ) : null}
      {error ? (
        <div className="error-text pad" role="alert">
          {error.message}
        </div>
      ) : null}
      {files.isPending ? <div className="muted pad">Loading…</div> : null}
      {files.isError ? <div className="error-text pad">{files.error.message}</div> : null}
      {files.data ? (
        files.data.length === 0 ? (
          <div className="muted pad">No files yet.</div>
        ) : (
          <ul role="tree" data-testid="file-tree">
            {tree.map((n) => renderNode(n, 0))}
          </ul>
        )
      ) : null}
    </nav>
  );
}
