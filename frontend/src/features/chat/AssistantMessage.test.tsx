import { screen, waitFor } from '@testing-library/react';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CodeChange } from '../../api/types';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { AssistantMessage } from './AssistantMessage';

afterEach(() => vi.unstubAllGlobals());

const T = '2025-12-28T10:30:15.123Z';
const change = (runId: string): CodeChange => ({
  id: 1,
  run_id: runId,
  project_id: 1,
  path: 'a.txt',
  change_type: 'created',
  diff: '+a\n',
  created_at: T,
  reverted: false,
});

describe('AssistantMessage', () => {
  it('is headed "Assistant" while the run works and after it ended', () => {
    mockApi({ 'GET /api/v1/projects/1/changes': () => f.jsonResponse([]) });
    renderWithClient(
      <>
        <AssistantMessage projectId={1} status="streaming" interactions={[]} content={null} live />
        <AssistantMessage projectId={1} status="complete" interactions={[]} content="Done" runId="r1" />
      </>,
    );
    for (const m of screen.getAllByTestId('assistant-message')) {
      expect(m.querySelector('.msg-author')).toHaveTextContent(/^Assistant$/);
    }
  });

  it('offers "Show code changes" only for a run that changed something', async () => {
    mockApi({ 'GET /api/v1/projects/1/changes': () => f.jsonResponse([change('changed')]) });
    renderWithClient(
      <>
        <AssistantMessage projectId={1} status="complete" interactions={[]} content="Nothing to do" runId="idle" />
        <AssistantMessage projectId={1} status="complete" interactions={[]} content="Done" runId="changed" />
      </>,
    );
    await waitFor(() => expect(screen.getAllByRole('button', { name: 'Show code changes' })).toHaveLength(1));
    const [idle, changed] = screen.getAllByTestId('assistant-message');
    expect(idle).not.toHaveTextContent('Show code changes');
    expect(changed).toHaveTextContent('Show code changes');
  });
});
