import { useEffect, useRef } from 'react';
import { basicSetup } from 'codemirror';
import { Compartment, EditorState } from '@codemirror/state';
import { EditorView, keymap } from '@codemirror/view';
import { indentWithTab } from '@codemirror/commands';
import { languageExtension, languageFor } from './languages';

/** The text box is named after its file, as screen readers announce it. */
const accessibleName = (path: string) => EditorView.contentAttributes.of({ 'aria-label': path });

export interface CodeEditorProps {
  path: string;
  /** The text to show. Replaces the editor's document when `revision` changes. */
  value: string;
  /** Bumped by the owner whenever `value` should overwrite the document (load, reload). */
  revision: number;
  readOnly?: boolean;
  onChange: (text: string) => void;
  onSave: () => void;
}

/** CodeMirror 6, created once and reconfigured in place: recreating it would lose undo history,
 * selection and scroll on every keystroke. */
export function CodeEditor({ path, value, revision, readOnly, onChange, onSave }: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const language = useRef(new Compartment());
  const readOnlyCompartment = useRef(new Compartment());
  const labelCompartment = useRef(new Compartment());
  // The listeners read the latest callbacks through refs, so the view never needs rebuilding.
  const onChangeRef = useRef(onChange);
  const onSaveRef = useRef(onSave);
  onChangeRef.current = onChange;
  onSaveRef.current = onSave;

  useEffect(() => {
    if (!host.current) return;
    const v = new EditorView({
      parent: host.current,
      state: EditorState.create({
        doc: value,
        extensions: [
          basicSetup,
          keymap.of([
            indentWithTab,
            {
              key: 'Mod-s',
              preventDefault: true,
              run: () => {
                onSaveRef.current();
                return true;
              },
            },
          ]),
          language.current.of(languageExtension(languageFor(path))),
          readOnlyCompartment.current.of(EditorState.readOnly.of(readOnly ?? false)),
          labelCompartment.current.of(accessibleName(path)),
          EditorView.updateListener.of((u) => {
            if (u.docChanged) onChangeRef.current(u.state.doc.toString());
          }),
        ],
      }),
    });
    // The scroller scrolls on its own, so keyboard users must be able to reach it (axe:
    // scrollable-region-focusable).
    v.scrollDOM.tabIndex = 0;
    v.scrollDOM.setAttribute('aria-label', `Scroll ${path}`);
    view.current = v;
    return () => {
      v.destroy();
      view.current = null;
    };
    // Created once; later prop changes are applied by the effects below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  useEffect(() => {
    view.current?.dispatch({
      effects: [
        language.current.reconfigure(languageExtension(languageFor(path))),
        labelCompartment.current.reconfigure(accessibleName(path)),
      ],
    });
    view.current?.scrollDOM.setAttribute('aria-label', `Scroll ${path}`);
  }, [path]);

  useEffect(() => {
    view.current?.dispatch({
      effects: readOnlyCompartment.current.reconfigure(EditorState.readOnly.of(readOnly ?? false)),
    });
  }, [readOnly]);

  useEffect(() => {
    const v = view.current;
    if (!v) return;
    const current = v.state.doc.toString();
    if (current !== value) {
      v.dispatch({ changes: { from: 0, to: current.length, insert: value } });
    }
    // Only a new revision overwrites the document; `value` alone follows the user's typing.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [revision, path]);

  return <div className="code-editor" ref={host} data-testid="code-editor" data-path={path} />;
}
