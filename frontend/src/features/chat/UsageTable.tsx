import type { Usage } from '../../api/types';
import { formatCount } from '../../components/format';

export function UsageTable({ usage }: { usage: Record<string, Usage> }) {
  const agents = Object.entries(usage);
  if (agents.length === 0) return null;
  return (
    <table className="usage" aria-label="Token usage per agent">
      <thead>
        <tr>
          <th scope="col">Agent</th>
          <th scope="col">Requests</th>
          <th scope="col">Input tokens</th>
          <th scope="col">Output tokens</th>
          <th scope="col">Tool calls</th>
        </tr>
      </thead>
      <tbody>
        {agents.map(([agent, u]) => (
          <tr key={agent}>
            <th scope="row">{agent}</th>
            <td>{formatCount(u.requests)}</td>
            <td>{formatCount(u.input_tokens)}</td>
            <td>{formatCount(u.output_tokens)}</td>
            <td>{formatCount(u.tool_calls)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
