import { memo, useState } from 'react';
import type { Interaction } from '../../api/types';
import { AgentInteraction } from './AgentInteraction';

// A long run can have thousands of steps; mounting them all makes every append and every
// scroll slow. The newest steps are what one follows live, so older ones are mounted on demand.
export const WINDOW = 150;

export const InteractionList = memo(function InteractionList({
  interactions,
}: {
  interactions: Interaction[];
}) {
  const [showAll, setShowAll] = useState(false);
  const hidden = showAll ? 0 : Math.max(0, interactions.length - WINDOW);
  const visible = hidden > 0 ? interactions.slice(hidden) : interactions;
  if (interactions.length === 0) return null;
  return (
    <div className="ai-list">
      {hidden > 0 ? (
        <button type="button" className="link-button" onClick={() => setShowAll(true)}>
          Show {hidden} earlier steps
        </button>
      ) : null}
      {visible.map((it, i) => (
        <AgentInteraction key={it.seq != null ? `s${it.seq}` : it.id != null ? `d${it.id}` : `i${hidden + i}`} interaction={it} />
      ))}
    </div>
  );
});
