import type { Usage } from '../../api/types';
import { formatCount } from '../../components/format';

function formatCost(usd: number): string {
  return `$${usd < 0.01 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

export function UsageTable({ usage }: { usage: Record<string, Usage> }) {
  const agents = Object.entries(usage);
  if (agents.length === 0) return null;
  const priced = agents.some(([, u]) => typeof u.cost_usd === 'number');
  return (
    <table className="usage" aria-label="Token usage per agent">
      <thead>
        <tr>
          <th scope="col">Agent</th>
          <th scope="col">Requests</th>
          <th scope="col">Input tokens</th>
          <th scope="col">Output tokens</th>
          <th scope="col">Tool calls</th>
          {priced ? <th scope="col">Est. cost</th> : null}
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
            {priced ? <td>{typeof u.cost_usd === 'number' ? formatCost(u.cost_usd) : 'unknown'}</td> : null}
          </tr>
        ))}
      </tbody>
    </table>
  );
}
