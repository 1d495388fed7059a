import { render, screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { UsageTable } from './UsageTable';

const base = { requests: 2, input_tokens: 22, output_tokens: 10, tool_calls: 1 };

describe('UsageTable', () => {
  it('shows the estimated cost per agent, and says when a price is unknown', () => {
    render(<UsageTable usage={{ Planner: { ...base, cost_usd: 0.000155 }, Coder: { ...base, cost_usd: null } }} />);
    const table = screen.getByRole('table', { name: 'Token usage per agent' });
    expect(within(table).getByRole('columnheader', { name: 'Est. cost' })).toBeInTheDocument();
    expect(within(table).getByRole('row', { name: /Planner/ })).toHaveTextContent('$0.0002');
    expect(within(table).getByRole('row', { name: /Coder/ })).toHaveTextContent('unknown');
  });

  it('has no cost column when no price is known', () => {
    render(<UsageTable usage={{ Planner: { ...base, cost_usd: null } }} />);
    expect(screen.queryByRole('columnheader', { name: 'Est. cost' })).toBeNull();
  });
});
