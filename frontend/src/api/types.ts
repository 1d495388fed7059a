// Shapes of the Tandem HTTP API (docs/api.md), named for the app: every one that the server describes
// is generated from its OpenAPI document (`npm run api:types` writes schema.gen.ts; `make test` fails
// while it is stale), so a change of the backend's schemas breaks every consumer at compile time.
// Hand-written here: only what the client adds (an interaction's optional seq, client-side errors).
import type { components } from './schema.gen';

type Wire = components['schemas'];

export type Iso = string;

export type ApiErrorBody = Wire['ErrorBody'];
export type HealthModels = Wire['ModelsOut'];
export type Sandbox = Wire['SandboxOut'];
export type Health = Wire['HealthOut'];
export type PreviewLink = Wire['PreviewOut'];

/** `GET /projects/{id}/events`: the project's files changed. */
export type ProjectEvent = Wire['ProjectEvent'];
/** `POST /projects/{id}/commands`: the Terminal's stream. */
export type CommandEvent = Wire['CommandEvent'];
export type CommandEnd = Wire['CommandEndData'];
export type Template = Wire['TemplateOut'];
export type Project = Wire['ProjectOut'];
export type Me = Wire['MeOut'];
export type FileInfo = Wire['FileInfoOut'];
export type FileContent = Wire['FileContentOut'];
export type Session = Wire['SessionOut'];

export type AgentName = 'Planner' | 'Coder' | 'System' | (string & {});
export type InteractionType = 'thought' | 'tool_call' | 'tool_response' | (string & {});

/** A stored interaction: the event data plus the event seq it arrived with. */
export interface Interaction extends InteractionData {
  seq?: number | null;
}

export type RunStatus = 'running' | 'completed' | 'failed' | 'cancelled' | 'interrupted';

/** A message as the stream announces it, with what the history adds (its run, interactions, usage). */
export type Message = Wire['ChatMessage'] &
  Partial<Omit<Wire['MessageWithInteractions'], keyof Wire['ChatMessage'] | 'agent_interactions'>> & {
    agent_interactions?: Interaction[];
  };

export type ChangeType = 'created' | 'modified' | 'deleted';

export type CodeChange = Wire['CodeChange'];

/** One change with the whole file on both sides (`GET /changes/{id}`). */
export type CodeChangeDetail = Wire['CodeChangeDetail'];
export type CommitFile = Wire['CommitFileOut'];

/** One commit of the project's history as Git (GET /projects/{id}/history), newest first. */
export type Commit = Wire['CommitOut'];
export type Usage = Wire['Usage'];

/** A project's saved Git remote (its token never returned), and what a push or a pull did. */
export type GitRemote = Wire['RemoteOut'];
export type GitRemoteForm = Wire['RemoteIn'];
export type GitPushForm = Wire['PushIn'];
export type GitPullForm = Wire['SyncIn'];
export type GitPushed = Wire['PushOut'];
export type GitPulled = Wire['PullOut'];
export type Run = Wire['RunOut'];
export type ChatResponse = Wire['ChatResponse'];

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

export type RunBudget = Wire['RunBudget'];

/** A field an environment variable sets: it wins over what the page saves. */
export type FromEnvironment = Wire['FromEnvironment'];
export type ModelSettings = Wire['ModelSettingsOut'];
export type ModelSettingsForm = Wire['ModelSettingsIn'];
export type ModelCheckStep = Wire['CheckStep'];
export type ModelCheck = Wire['ModelCheck'];
