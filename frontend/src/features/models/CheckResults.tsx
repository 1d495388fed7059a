import type { ModelCheck, ModelCheckStep } from '../../api/types';

const STEP_NAMES: Record<string, string> = {
  reachable: 'Server reachable',
  auth: 'API key accepted',
  text: 'Plain text answer',
  tool_call: 'Tool call',
  streamed_tool_call: 'Streamed tool call',
  tool_result: 'Follow-up with a tool result',
  context_window: 'Context window',
};

function mark(ok: boolean | null): string {
  if (ok === null) return '–';
  return ok ? '✓' : '✗';
}

function Step({ step }: { step: ModelCheckStep }) {
  const state = step.ok === null ? 'skipped' : step.ok ? 'ok' : 'failed';
  return (
    <li className={`check-step check-${state}`} data-step={step.name} data-ok={state}>
      <span aria-hidden="true" className="check-mark">
        {mark(step.ok)}
      </span>{' '}
      <strong>{STEP_NAMES[step.name] ?? step.name}</strong>: {step.detail}
      {step.fix ? <div className="check-fix">{step.fix}</div> : null}
    </li>
  );
}

/** The model check in plain words: for each model, whether runs can use it, and each step with its fix. */
export function CheckResults({ checks }: { checks: ModelCheck[] }) {
  return (
    <section className="check-results" aria-label="Model check">
      {checks.map((c) => (
        <div key={c.model} className="check-model" data-testid="model-check" data-ok={String(c.ok)}>
          <h2>
            {c.model}: {c.ok ? 'works with Tandem' : 'does not work yet'}
          </h2>
          {c.ok && !c.streaming ? (
            <p className="muted">Runs use non-streamed requests with this model: steps appear whole.</p>
          ) : null}
          <ul>
            {c.steps.map((s) => (
              <Step key={s.name} step={s} />
            ))}
          </ul>
        </div>
      ))}
    </section>
  );
}
