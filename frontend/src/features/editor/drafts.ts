// Unsaved editor text, kept per file while the user moves between files of a project, and a
// browser warning before a reload or close would throw it away.

import { useCallback, useEffect, useMemo, useRef, useState } from 'react';

export interface Draft {
  /** The server text the edits started from. */
  base: string;
  draft: string;
}

export interface Drafts {
  get: (path: string) => Draft | undefined;
  /** Record the editor's state for `path`; null once it matches the server again. */
  set: (path: string, draft: Draft | null) => void;
  /** Files with unsaved edits. */
  dirty: ReadonlySet<string>;
}

export function useDrafts(): Drafts {
  const store = useRef(new Map<string, Draft>());
  const [dirty, setDirty] = useState<ReadonlySet<string>>(new Set());
  const get = useCallback((path: string) => store.current.get(path), []);
  const set = useCallback((path: string, draft: Draft | null) => {
    if (draft) store.current.set(path, draft);
    else store.current.delete(path);
    setDirty((prev) => (prev.has(path) === (draft !== null) ? prev : new Set(store.current.keys())));
  }, []);
  const leaving = dirty.size > 0;
  useEffect(() => {
    if (!leaving) return;
    const warn = (e: BeforeUnloadEvent) => {
      // Browsers show their own "leave site?" text; setting returnValue is what asks for it.
      e.preventDefault();
      e.returnValue = '';
    };
    window.addEventListener('beforeunload', warn);
    return () => window.removeEventListener('beforeunload', warn);
  }, [leaving]);
  return useMemo(() => ({ get, set, dirty }), [get, set, dirty]);
}
