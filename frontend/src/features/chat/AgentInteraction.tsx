import { memo, useState } from 'react';
import type { Interaction } from '../../api/types';
import { formatJson, formatTime } from '../../components/format';
import { Icon, type IconName } from '../../components/Icon';

const COLLAPSE_CHARS = 600;
const COLLAPSE_LINES = 12;

const KINDS: Record<string, { icon: IconName; label: string }> = {
  thought: { icon: 'thought', label: 'Thought' },
  tool_call: { icon: 'tool', label: 'Tool call' },
  tool_response: { icon: 'ok', label: 'Tool result' },
  failed: { icon: 'failed', label: 'Tool failed' },
};

function preview(text: string): string | null {
  const lines = text.split('\n');
  if (text.length <= COLLAPSE_CHARS && lines.length <= COLLAPSE_LINES) return null;
  return lines.slice(0, COLLAPSE_LINES).join('\n').slice(0, COLLAPSE_CHARS);
}

export function CollapsibleOutput({ text }: { text: string }) {
  const [expanded, setExpanded] = useState(false);
  const short = preview(text);
  if (short === null) return <pre className="ai-output">{text}</pre>;
  const lineCount = text.split('\n').length;
  return (
    <div>
      <pre className="ai-output" data-collapsed={!expanded}>
        {expanded ? text : `${short}…`}
      </pre>
      <button type="button" className="link-button" onClick={() => setExpanded((v) => !v)}>
        {expanded ? 'Collapse' : `Show full output (${lineCount} lines, ${text.length} chars)`}
      </button>
    </div>
  );
}

/** One step an agent took: a thought, a tool call or a tool's result (seed component). */
export const AgentInteraction = memo(function AgentInteraction({
  interaction,
}: {
  interaction: Interaction;
}) {
  const { message_type: type, agent_name: agent, tool_name: tool } = interaction;
  const failed = type === 'tool_response' && interaction.failed === true;
  const kind = KINDS[failed ? 'failed' : type] ?? { icon: 'step', label: type };
  const label = kind.label;
  return (
    <div
      className={`ai ai-${type}${failed ? ' ai-failed' : ''}`}
      data-testid="agent-interaction"
      data-seq={interaction.seq ?? undefined}
      data-type={type}
      data-failed={String(failed)}
    >
      <div className="ai-head">
        <Icon name={kind.icon} label={label} className="ai-icon" />
        <span className="ai-agent">{agent}</span>
        <span className="ai-label">
          {label}
          {tool ? (
            <>
              {': '}
              <code className="ai-tool">{tool}</code>
            </>
          ) : null}
        </span>
        <time className="ai-time" dateTime={interaction.timestamp}>
          {formatTime(interaction.timestamp)}
        </time>
      </div>
      {type === 'tool_call' ? (
        interaction.tool_arguments && Object.keys(interaction.tool_arguments).length > 0 ? (
          <CollapsibleOutput text={formatJson(interaction.tool_arguments)} />
        ) : interaction.content ? (
          <div className="ai-text">{interaction.content}</div>
        ) : null
      ) : type === 'tool_response' ? (
        <CollapsibleOutput text={interaction.content} />
      ) : (
        <div className="ai-text">{interaction.content}</div>
      )}
    </div>
  );
});
