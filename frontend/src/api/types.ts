// Shapes of the Tandem HTTP API (docs/api.md). Kept in one place so the wire contract is
// visible at a glance and every consumer breaks at compile time when it changes.
import type { components } from './schema.gen';

type Wire = components['schemas'];

export type Iso = string;

export interface ApiErrorBody {
  code: string;
  message: string;
}

export interface HealthModels {
  planner: string | null;
  coder: string | null;
  configured: boolean;
  scripted: boolean;
  hint: string | null;
}

export type Sandbox = Wire['SandboxOut'];

export interface Health {
  status: string;
  version: string;
  models: HealthModels;
  sandbox: Sandbox;
}

export type PreviewLink = Wire['PreviewOut'];

/** `GET /projects/{id}/events`: the project's files changed. */
export type ProjectEvent = Wire['ProjectEvent'];
/** `POST /projects/{id}/commands`: the Terminal's stream. */
export type CommandEvent = Wire['CommandEvent'];
export type CommandEnd = Wire['CommandEndData'];

export interface Template {
  id: string;
  name: string;
  description: string;
}

export interface Project {
  id: number;
  name: string;
  template: string;
  created_at: Iso;
  updated_at: Iso;
  active_run_id: string | null;
  /** The owner's user name and what the caller may do (TANDEM_AUTH=accounts sharing). */
  owner?: string;
  role?: 'owner' | 'write' | 'read';
}

export interface Me {
  id: number;
  name: string;
  is_admin: boolean;
  auth: 'none' | 'accounts';
}

export interface FileInfo {
  path: string;
  size: number;
  updated_at: Iso;
  /** Imported and not text: downloaded with the project, never opened in the editor. */
  binary?: boolean;
}

export interface FileContent extends FileInfo {
  content: string;
}

export interface Session {
  id: number;
  project_id: number;
  title: string;
  created_at: Iso;
  updated_at: Iso;
}

export type AgentName = 'Planner' | 'Coder' | 'System' | (string & {});
export type InteractionType = 'thought' | 'tool_call' | 'tool_response' | (string & {});

/** A stored interaction: the event data plus the event seq it arrived with. */
export interface Interaction extends InteractionData {
  seq?: number | null;
}

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

export interface Message {
  id: number;
  session_id: number;
  role: 'user' | 'assistant';
  content: string;
  agent_name: string | null;
  created_at: Iso;
  run_id?: string | null;
  run_status?: RunStatus | (string & {}) | null;
  /** Not in docs/api.md, but sent by the backend: how the message's run ended, if it failed. */
  error_code?: ErrorCode | null;
  error_message?: string | null;
  agent_interactions?: Interaction[];
  /** The run's tokens and estimated cost per agent (assistant messages). */
  usage?: Record<string, Usage>;
}

export type ChangeType = 'created' | 'modified' | 'deleted';

export type CodeChange = Wire['CodeChange'];

/** One change with the whole file on both sides (`GET /changes/{id}`). */
export interface CodeChangeDetail extends CodeChange {
  before: string | null;
  after: string | null;
}

export interface CommitFile {
  path: string;
  change_type: ChangeType;
  diff: string;
}

/** One commit of the project's history as Git (GET /projects/{id}/history), newest first. */
export interface Commit {
  sha: string;
  parent_sha: string | null;
  kind: 'initial' | 'edits' | 'run' | 'revert' | 'restore';
  run_id: string | null;
  message: string;
  author: string;
  committer: string;
  committed_at: Iso;
  files: CommitFile[];
}

export type Usage = Wire['Usage'];

export interface Run {
  id: string;
  project_id: number;
  session_id: number;
  user_message_id: number;
  assistant_message_id: number;
  status: RunStatus;
  error_code: string | null;
  error_message: string | null;
  last_seq: number;
  created_at: Iso;
  finished_at: Iso | null;
}

export interface ChatResponse {
  session_id: number;
  run_id: string;
  message: Message;
  code_changes: CodeChange[];
  agent_interactions: Interaction[];
  usage: Record<string, Usage>;
}

// ---- Stream events -------------------------------------------------------------------------
// Generated from the Python event models (src/tandem/events.py) through the OpenAPI document:
// `npm run api:types` after changing them; `make test` fails while schema.gen.ts is stale.


export type StartData = Wire['StartData'];
export type InteractionData = Wire['AgentInteractionData'];
export type DeltaData = Wire['AgentDeltaData'];
export type FileChangedData = Wire['FileChangedData'];
export type CompleteData = Wire['CompleteData'];

export type ErrorCode =
  | Wire['ErrorData']['code']
  // Client-side: the connection could not be (re-)established, or an HTTP error before the stream.
  | 'network'
  | (string & {});

/** A run's `error` event, or a failure the client met itself (`code: "network"`, HTTP errors). */
export interface ErrorData {
  message: string;
  code?: ErrorCode;
}

export type StartEvent = Wire['StartEvent'];
export type InteractionEvent = Wire['AgentInteractionEvent'];
export type DeltaEvent = Wire['AgentDeltaEvent'];
export type FileChangedEvent = Wire['FileChangedEvent'];
export type CompleteEvent = Wire['CompleteEvent'];
export type ErrorEvent = Wire['ErrorEvent'];

export type KnownStreamEvent = StartEvent | InteractionEvent | DeltaEvent | FileChangedEvent | CompleteEvent | ErrorEvent;

/** Anything with the envelope shape; unknown `type`s must be tolerated and ignored. */
export interface UnknownStreamEvent {
  type: string;
  data: unknown;
  run_id?: string;
  seq?: number;
}

export type StreamEvent = KnownStreamEvent | UnknownStreamEvent;

// Every generated event type, checked by the compiler: a new one in events.py fails the build
// here until it is listed (and, through `Dispatch`, handled by the stream client).
const KNOWN_TYPES = new Set(
  Object.keys({
    start: true,
    agent_interaction: true,
    agent_delta: true,
    file_changed: true,
    complete: true,
    error: true,
  } satisfies Record<KnownStreamEvent['type'], true>),
);

/** A handler for each known event type, typed by it: the shape of a dispatch table. */
export type Dispatch<R> = { [T in KnownStreamEvent['type']]: (event: Extract<KnownStreamEvent, { type: T }>) => R };

export function isKnownEvent(e: StreamEvent): e is KnownStreamEvent {
  return KNOWN_TYPES.has(e.type) && typeof e.data === 'object' && e.data !== null;
}

export function isTerminal(e: StreamEvent): e is CompleteEvent | ErrorEvent {
  return e.type === 'complete' || e.type === 'error';
}

// The Models page (GET/PUT /models/settings, POST /models/check; admins only).
export type ModelProvider = 'openai-compatible' | 'openai' | 'anthropic' | 'ollama';

export interface RunBudget {
  model_requests: number;
  tool_calls: number;
  total_tokens: number | null;
  wall_seconds: number;
  cost_usd: number | null;
}

/** A field an environment variable sets: it wins over what the page saves. */
export interface FromEnvironment {
  field: string;
  variable: string;
  /** Null for API keys, which are never shown. */
  value: string | null;
  providers: ModelProvider[];
}

export interface ModelSettings {
  provider: ModelProvider | null;
  base_url: string | null;
  planner_model: string | null;
  coder_model: string | null;
  /** The key itself is write-only: never returned. */
  api_key: { set: boolean; last4: string | null; readable: boolean };
  limits: RunBudget;
  environment: FromEnvironment[];
  saved_at: Iso | null;
}

export interface ModelSettingsForm {
  provider: ModelProvider;
  base_url: string | null;
  planner_model: string;
  coder_model: string | null;
  /** Null keeps the saved key. */
  api_key: string | null;
  forget_api_key: boolean;
  limits: RunBudget;
}

export interface ModelCheckStep {
  name: string;
  /** Null: not tried, because an earlier step failed. */
  ok: boolean | null;
  detail: string;
  fix: string | null;
}

export interface ModelCheck {
  model: string;
  base_url: string | null;
  ok: boolean;
  streaming: boolean;
  null_content_rejected: boolean;
  context_window: number | null;
  steps: ModelCheckStep[];
  checked_at: Iso;
}
