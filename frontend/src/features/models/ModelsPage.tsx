import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { Link } from 'react-router-dom';
import { ApiError } from '../../api/client';
import { useCheckModels, useModelSettings, useSaveModelSettings } from '../../api/models';
import type { ModelProvider, ModelSettings, ModelSettingsForm, RunBudget } from '../../api/types';
import { CheckResults } from './CheckResults';

const PROVIDERS: { id: ModelProvider; label: string }[] = [
  { id: 'openai-compatible', label: 'OpenAI-compatible server (llama.cpp, vLLM, LM Studio, OpenRouter…)' },
  { id: 'openai', label: 'OpenAI' },
  { id: 'anthropic', label: 'Anthropic' },
  { id: 'ollama', label: 'Ollama' },
];
const USES_BASE_URL: ModelProvider[] = ['openai-compatible', 'ollama'];
const BASE_URL_PLACEHOLDER: Partial<Record<ModelProvider, string>> = {
  'openai-compatible': 'http://localhost:8080/v1',
  ollama: 'http://localhost:11434/v1 (the default)',
};
const LIMITS: { field: keyof RunBudget; label: string; optional: boolean }[] = [
  { field: 'model_requests', label: 'Model requests per run', optional: false },
  { field: 'tool_calls', label: 'Tool calls per run', optional: false },
  { field: 'total_tokens', label: 'Tokens per run (empty: no limit)', optional: true },
  { field: 'wall_seconds', label: 'Seconds per run', optional: false },
  { field: 'cost_usd', label: 'Estimated cost per run in US$ (empty: no limit)', optional: true },
];

interface Draft {
  provider: ModelProvider;
  baseUrl: string;
  planner: string;
  separateCoder: boolean;
  coder: string;
  apiKey: string;
  forgetKey: boolean;
  limits: Record<keyof RunBudget, string>;
}

function draftOf(s: ModelSettings): Draft {
  const limits = Object.fromEntries(
    LIMITS.map(({ field }) => [field, s.limits[field] === null ? '' : String(s.limits[field])]),
  ) as Record<keyof RunBudget, string>;
  return {
    provider: s.provider ?? 'openai-compatible',
    baseUrl: s.base_url ?? '',
    planner: s.planner_model ?? '',
    separateCoder: s.coder_model !== null,
    coder: s.coder_model ?? '',
    apiKey: '',
    forgetKey: false,
    limits,
  };
}

function formOf(d: Draft): ModelSettingsForm {
  const number = (v: string) => (v.trim() === '' ? null : Number(v));
  return {
    provider: d.provider,
    base_url: USES_BASE_URL.includes(d.provider) && d.baseUrl.trim() ? d.baseUrl.trim() : null,
    planner_model: d.planner.trim(),
    coder_model: d.separateCoder && d.coder.trim() ? d.coder.trim() : null,
    // Sent as typed: a stray line break is refused by the server with a clear message, not hidden here.
    api_key: d.apiKey === '' ? null : d.apiKey,
    forget_api_key: d.forgetKey,
    limits: Object.fromEntries(LIMITS.map(({ field }) => [field, number(d.limits[field])])) as unknown as RunBudget,
  };
}

/** "Set by TANDEM_MODEL (openai:gpt-4o): it wins over this field." for each variable that sets `field`. */
function FromEnv({ settings, field, provider }: { settings: ModelSettings; field: string; provider: ModelProvider }) {
  const found = settings.environment.filter((e) => e.field === field && e.providers.includes(provider));
  if (found.length === 0) return null;
  return (
    <>
      {found.map((e) => (
        <span key={e.variable} className="from-env" data-testid={`env-${field}`}>
          Set by the environment variable <code>{e.variable}</code>
          {e.value !== null ? <> ({e.value})</> : null}: it wins over this field.
        </span>
      ))}
    </>
  );
}

function Field({ label, children, note }: { label: string; children: ReactNode; note?: ReactNode }) {
  return (
    <label className="field">
      <span className="field-label">{label}</span>
      {children}
      {note}
    </label>
  );
}

function keyState(s: ModelSettings): string {
  if (!s.api_key.set) return 'No key saved';
  if (!s.api_key.readable) return 'A key is saved but cannot be read (TANDEM_SECRET_KEY changed?): enter it again';
  return s.api_key.last4 ? `Set ··· ${s.api_key.last4}` : 'Set';
}

function ModelsForm({ settings }: { settings: ModelSettings }) {
  const save = useSaveModelSettings();
  const check = useCheckModels();
  const [draft, setDraft] = useState(() => draftOf(settings));
  const [saved, setSaved] = useState(false);
  useEffect(() => setDraft(draftOf(settings)), [settings]);
  const set = (change: Partial<Draft>) => {
    setDraft((d) => ({ ...d, ...change }));
    setSaved(false);
  };
  const dirty = JSON.stringify(formOf(draft)) !== JSON.stringify(formOf(draftOf(settings)));

  function submit(e: FormEvent) {
    e.preventDefault();
    save.mutate(formOf(draft), { onSuccess: () => setSaved(true) });
  }

  function test() {
    check.reset();
    if (!dirty) return check.mutate();
    save.mutate(formOf(draft), { onSuccess: () => (setSaved(true), check.mutate()) });
  }

  const envNote = (field: string) => <FromEnv settings={settings} field={field} provider={draft.provider} />;
  return (
    <form className="models-form" onSubmit={submit} aria-label="Models">
      <Field label="Provider">
        <select value={draft.provider} onChange={(e) => set({ provider: e.target.value as ModelProvider })}>
          {PROVIDERS.map((p) => (
            <option key={p.id} value={p.id}>
              {p.label}
            </option>
          ))}
        </select>
      </Field>
      {USES_BASE_URL.includes(draft.provider) ? (
        <Field label="Base URL" note={envNote('base_url')}>
          <input
            type="url"
            inputMode="url"
            value={draft.baseUrl}
            placeholder={BASE_URL_PLACEHOLDER[draft.provider]}
            onChange={(e) => set({ baseUrl: e.target.value })}
          />
        </Field>
      ) : null}
      <Field label={draft.separateCoder ? 'Planner model' : 'Model (Planner and Coder)'} note={envNote('planner_model')}>
        <input
          value={draft.planner}
          placeholder="e.g. gpt-4o, claude-sonnet-4-5, qwen3"
          autoComplete="off"
          onChange={(e) => set({ planner: e.target.value })}
        />
      </Field>
      <label className="check">
        <input
          type="checkbox"
          checked={draft.separateCoder}
          onChange={(e) => set({ separateCoder: e.target.checked })}
        />{' '}
        Another model for the Coder
      </label>
      {draft.separateCoder ? (
        <Field label="Coder model" note={envNote('coder_model')}>
          <input value={draft.coder} autoComplete="off" onChange={(e) => set({ coder: e.target.value })} />
        </Field>
      ) : (
        envNote('coder_model')
      )}
      <Field
        label="API key"
        note={
          <>
            <span className="muted" data-testid="key-state">
              {keyState(settings)}. A key is stored encrypted and never shown again.
            </span>
            {envNote('api_key')}
          </>
        }
      >
        <input
          type="password"
          value={draft.apiKey}
          autoComplete="new-password"
          placeholder={settings.api_key.set ? 'Leave empty to keep the saved key' : 'Not needed by most local servers'}
          onChange={(e) => set({ apiKey: e.target.value })}
        />
      </Field>
      {settings.api_key.set ? (
        <label className="check">
          <input type="checkbox" checked={draft.forgetKey} onChange={(e) => set({ forgetKey: e.target.checked })} />{' '}
          Remove the saved key
        </label>
      ) : null}
      <fieldset className="limits">
        <legend>Limits per run</legend>
        {LIMITS.map(({ field, label, optional }) => (
          <Field key={field} label={label} note={envNote(`limits.${field}`)}>
            <input
              type="number"
              min={0}
              step="any"
              required={!optional}
              value={draft.limits[field]}
              onChange={(e) => set({ limits: { ...draft.limits, [field]: e.target.value } })}
            />
          </Field>
        ))}
      </fieldset>
      <div className="actions">
        <button type="submit" className="primary" disabled={save.isPending || !draft.planner.trim()}>
          Save
        </button>
        <button type="button" onClick={test} disabled={check.isPending || save.isPending || !draft.planner.trim()}>
          {dirty ? 'Save and test' : 'Test'}
        </button>
        {check.isPending ? <span className="muted">Testing: a few small requests to the model…</span> : null}
      </div>
      {saved && !dirty ? (
        <p className="muted" role="status">
          Saved. The next run uses these models; a run already going keeps its own.
        </p>
      ) : null}
      {save.error ? (
        <p className="notice notice-error" role="alert">
          {save.error.message}
        </p>
      ) : null}
      {check.error ? (
        <p className="notice notice-error" role="alert">
          {check.error.message}
        </p>
      ) : null}
      {check.data ? <CheckResults checks={check.data} /> : null}
    </form>
  );
}

export function ModelsPage() {
  const settings = useModelSettings();
  const forbidden = settings.error instanceof ApiError && settings.error.status === 403;
  return (
    <div className="models-page">
      <header className="topbar">
        <Link to="/">← Projects</Link>
        <h1>Models</h1>
      </header>
      <div className="pad">
        <p className="muted">
          The AI models the Planner and the Coder use. Environment variables set on the server win over what you
          save here.
        </p>
        {settings.isPending ? <p className="muted">Loading…</p> : null}
        {forbidden ? <p className="error-text">Only an admin can choose the models.</p> : null}
        {settings.isError && !forbidden ? <p className="error-text">{settings.error.message}</p> : null}
        {settings.data ? <ModelsForm settings={settings.data} /> : null}
      </div>
    </div>
  );
}
