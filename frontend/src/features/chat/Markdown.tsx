import { memo } from 'react';
import ReactMarkdown from 'react-markdown';

// react-markdown builds React elements from the Markdown AST and, without rehype-raw, renders
// any raw HTML in the model's text as literal text: nothing the model writes is ever parsed as
// HTML or run. Its default urlTransform also drops `javascript:` and other unsafe URLs.
export const Markdown = memo(function Markdown({ text }: { text: string }) {
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
        }}
      >
        {text}
      </ReactMarkdown>
    </div>
  );
});
