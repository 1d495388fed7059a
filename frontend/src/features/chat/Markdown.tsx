import { lazy, memo, Suspense } from 'react';

// react-markdown and its parser are a third of the app's script. Loaded with the page, their parse
// made the cold first open of a project one long task (issue 14's tree bench: 55 ms); loaded on
// their own, the page shows sooner and a message renders a moment later, as its plain text first.
export const loadMarkdown = () => import('./MarkdownView');

const MarkdownView = lazy(() => loadMarkdown().then((m) => ({ default: m.MarkdownView })));

export const Markdown = memo(function Markdown({ text }: { text: string }) {
  return (
    <Suspense fallback={<div className="markdown markdown-pending">{text}</div>}>
      <MarkdownView text={text} />
    </Suspense>
  );
});
