import { useEffect, useRef } from 'react';
import { MergeView, unifiedMergeView } from '@codemirror/merge';
import { EditorState, type Extension } from '@codemirror/state';
import { EditorView, lineNumbers } from '@codemirror/view';
import { languageExtension, languageFor } from './languages';

/** Side by side from this viewport width on; narrower screens get one column with the removed
 * lines shown above the added ones. */
export const SIDE_BY_SIDE = '(min-width: 1200px)';

function readOnly(path: string, label: string): Extension {
  return [
    lineNumbers(),
    languageExtension(languageFor(path)),
    EditorState.readOnly.of(true),
    EditorView.editable.of(false),
    EditorView.contentAttributes.of({ 'aria-label': label }),
  ];
}

/** A file's change as a real diff view (CodeMirror merge): the whole file, unchanged stretches
 * folded away. */
export function MergeDiff({ path, before, after }: { path: string; before: string; after: string }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const parent = host.current;
    if (!parent) return;
    const collapseUnchanged = { margin: 3, minSize: 4 };
    if (window.matchMedia(SIDE_BY_SIDE).matches) {
      const view = new MergeView({
        a: { doc: before, extensions: readOnly(path, `${path} before the change`) },
        b: { doc: after, extensions: readOnly(path, `${path} after the change`) },
        parent,
        collapseUnchanged,
      });
      return () => view.destroy();
    }
    const view = new EditorView({
      parent,
      state: EditorState.create({
        doc: after,
        extensions: [
          readOnly(path, `${path}: changes`),
          unifiedMergeView({ original: before, mergeControls: false, collapseUnchanged }),
        ],
      }),
    });
    return () => view.destroy();
  }, [path, before, after]);
  return <div className="merge-diff" ref={host} data-testid="diff" />;
}
