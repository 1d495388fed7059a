import { render, screen } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import { storedInteraction } from '../../test/fixtures';
import { InteractionList } from './InteractionList';

const steps = (n: number) => Array.from({ length: n }, (_, i) => storedInteraction(i + 1));
const shownSeqs = () => screen.getAllByTestId('agent-interaction').map((el) => Number(el.getAttribute('data-seq')));

describe('InteractionList', () => {
  it('mounts only the newest 150 steps and says how many earlier ones are hidden', () => {
    render(<InteractionList interactions={steps(160)} />);
    const seqs = shownSeqs();
    expect(seqs).toHaveLength(150);
    expect(seqs[0]).toBe(11);
    expect(seqs.at(-1)).toBe(160);
    expect(screen.getByText('step 160')).toBeInTheDocument();
    expect(screen.queryByText('step 10')).toBeNull();
    expect(screen.getByRole('button', { name: 'Show 10 earlier steps' })).toBeInTheDocument();
  });

  it('shows every step, in order, once the reader asks for the earlier ones', async () => {
    render(<InteractionList interactions={steps(160)} />);
    await userEvent.click(screen.getByRole('button', { name: 'Show 10 earlier steps' }));
    expect(shownSeqs()).toEqual(Array.from({ length: 160 }, (_, i) => i + 1));
    expect(screen.queryByRole('button', { name: /earlier steps/ })).toBeNull();
  });

  it('hides nothing at exactly 150 steps; the count follows new steps', () => {
    const { rerender } = render(<InteractionList interactions={steps(150)} />);
    expect(shownSeqs()).toHaveLength(150);
    expect(screen.queryByRole('button', { name: /earlier steps/ })).toBeNull();
    rerender(<InteractionList interactions={steps(151)} />);
    expect(screen.getByRole('button', { name: 'Show 1 earlier steps' })).toBeInTheDocument();
    expect(shownSeqs()[0]).toBe(2);
    expect(screen.getByText('step 151')).toBeInTheDocument();
  });

  it('renders nothing without steps', () => {
    const { container } = render(<InteractionList interactions={[]} />);
    expect(container).toBeEmptyDOMElement();
  });
});
