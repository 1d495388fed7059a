import { screen, waitFor, within } from '@testing-library/react';
import userEvent from '@testing-library/user-event';
import { describe, expect, it } from 'vitest';
import type { ModelCheck, ModelSettings } from '../../api/types';
import * as f from '../../test/fixtures';
import { mockApi, renderWithClient } from '../../test/render';
import { ModelsPage } from './ModelsPage';

const LIMITS = { model_requests: 50, tool_calls: 200, total_tokens: 2_000_000, wall_seconds: 900, cost_usd: null };

function settings(over: Partial<ModelSettings> = {}): ModelSettings {
  return {
    provider: 'openai-compatible',
    base_url: 'http://127.0.0.1:8080/v1',
    planner_model: 'qwen',
    coder_model: null,
    api_key: { set: true, last4: 'wxyz', readable: true },
    limits: LIMITS,
    environment: [],
    saved_at: '2026-12-02T10:00:00Z',
    ...over,
  };
}

describe('ModelsPage', () => {
  it('shows a saved key only as its last 4 and sends a new one, never the old', async () => {
    const { calls } = mockApi({
      'GET /api/v1/models/settings': () => f.jsonResponse(settings()),
      'PUT /api/v1/models/settings': () => f.jsonResponse(settings({ planner_model: 'qwen3' })),
      'GET /api/v1/health': () => f.jsonResponse({ status: 'ok', version: '0', models: {} }),
    });
    renderWithClient(<ModelsPage />);
    expect(await screen.findByTestId('key-state')).toHaveTextContent('Set ··· wxyz');
    const model = screen.getByLabelText('Model (Planner and Coder)');
    await userEvent.clear(model);
    await userEvent.type(model, 'qwen3');
    await userEvent.click(screen.getByRole('button', { name: 'Save' }));
    await screen.findByRole('status');
    const put = calls.find((c) => c.method === 'PUT');
    expect(put?.body).toEqual({
      provider: 'openai-compatible',
      base_url: 'http://127.0.0.1:8080/v1',
      planner_model: 'qwen3',
      coder_model: null,
      api_key: null,
      forget_api_key: false,
      limits: LIMITS,
    });
  });

  it('says which fields the environment sets', async () => {
    const environment = [
      { field: 'planner_model', variable: 'TANDEM_MODEL', value: 'openai:gpt-4o', providers: ['openai-compatible' as const] },
      { field: 'api_key', variable: 'ANTHROPIC_API_KEY', value: null, providers: ['anthropic' as const] },
    ];
    mockApi({ 'GET /api/v1/models/settings': () => f.jsonResponse(settings({ environment })) });
    renderWithClient(<ModelsPage />);
    expect(await screen.findByTestId('env-planner_model')).toHaveTextContent(
      'Set by the environment variable TANDEM_MODEL (openai:gpt-4o): it wins over this field.',
    );
    expect(screen.queryByTestId('env-api_key')).toBeNull();
  });

  it('shows the check in plain words with each fix', async () => {
    const check: ModelCheck = {
      model: 'openai:qwen',
      base_url: 'http://127.0.0.1:8080/v1',
      ok: false,
      streaming: false,
      null_content_rejected: false,
      context_window: null,
      checked_at: '2026-12-02T10:00:00Z',
      steps: [
        { name: 'reachable', ok: true, detail: 'The server answered.', fix: null },
        { name: 'auth', ok: false, detail: 'The server said 401.', fix: 'Set the right key.' },
        { name: 'text', ok: null, detail: 'Not tried: fix the step above first.', fix: null },
      ],
    };
    mockApi({
      'GET /api/v1/models/settings': () => f.jsonResponse(settings()),
      'POST /api/v1/models/check': () => f.jsonResponse([check]),
    });
    renderWithClient(<ModelsPage />);
    await userEvent.click(await screen.findByRole('button', { name: 'Test' }));
    const result = await screen.findByTestId('model-check');
    expect(within(result).getByRole('heading')).toHaveTextContent('openai:qwen: does not work yet');
    expect(result).toHaveTextContent('API key accepted: The server said 401.Set the right key.');
  });

  it('tells a non-admin that only an admin can choose the models', async () => {
    mockApi({
      'GET /api/v1/models/settings': () => f.jsonResponse({ code: 'forbidden', message: 'admins only' }, 403),
    });
    renderWithClient(<ModelsPage />);
    await waitFor(() => expect(screen.getByText('Only an admin can choose the models.')).toBeInTheDocument());
  });
});
