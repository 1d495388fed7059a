// Shapes of the Tandem HTTP API (docs/api.md). Kept in one place so the wire contract is
// visible at a glance and every consumer breaks at compile time when it changes.

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

export interface Health {
  status: string;
  version: string;
  models: HealthModels;
}

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

export interface InteractionData {
  agent_name: AgentName;
  message_type: InteractionType;
  content: string;
  tool_name: string | null;
  tool_arguments: Record<string, unknown> | null;
  timestamp: Iso;
  id?: number | string | null;
  tool_call_id?: string | null;
}

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

export interface CodeChange {
  id: number;
  run_id: string;
  project_id: number;
  path: string;
  change_type: ChangeType;
  diff: string;
  created_at: Iso;
  reverted: boolean;
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

export interface Usage {
  requests: number;
  input_tokens: number;
  output_tokens: number;
  tool_calls: number;
  /** Estimated US dollars (genai-prices); null when the model's price is unknown. */
  cost_usd?: number | null;
}

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

export interface StartData {
  session_id: number;
  user_message_id: number;
  run_id?: string;
  assistant_message_id?: number;
}

export interface DeltaData {
  agent_name: AgentName;
  message_type: 'thought' | 'message' | (string & {});
  delta: string;
}

export interface FileChangedData {
  path: string;
  change_type: ChangeType;
  change_id?: number | null;
}

export interface CompleteData {
  session_id: number;
  message: Message;
  code_changes: CodeChange[];
  usage?: Record<string, Usage>;
}

export type ErrorCode =
  | 'model_not_configured'
  | 'model_error'
  | 'cancelled'
  | 'interrupted'
  | 'limit_exceeded'
  | 'busy'
  | 'internal'
  // Client-side: the connection could not be (re-)established.
  | 'network'
  | (string & {});

export interface ErrorData {
  message: string;
  code?: ErrorCode;
}

interface Envelope<T extends string, D> {
  type: T;
  data: D;
  run_id?: string;
  seq?: number;
}

export type StartEvent = Envelope<'start', StartData>;
export type InteractionEvent = Envelope<'agent_interaction', InteractionData>;
export type DeltaEvent = Envelope<'agent_delta', DeltaData>;
export type FileChangedEvent = Envelope<'file_changed', FileChangedData>;
export type CompleteEvent = Envelope<'complete', CompleteData>;
export type ErrorEvent = Envelope<'error', ErrorData>;

export type KnownStreamEvent =
  | StartEvent
  | InteractionEvent
  | DeltaEvent
  | FileChangedEvent
  | CompleteEvent
  | ErrorEvent;

/** Anything with the envelope shape; unknown `type`s must be tolerated and ignored. */
export interface UnknownStreamEvent {
  type: string;
  data: unknown;
  run_id?: string;
  seq?: number;
}

export type StreamEvent = KnownStreamEvent | UnknownStreamEvent;

const KNOWN_TYPES = new Set([
  'start',
  'agent_interaction',
  'agent_delta',
  'file_changed',
  'complete',
  'error',
]);

export function isKnownEvent(e: StreamEvent): e is KnownStreamEvent {
  return KNOWN_TYPES.has(e.type) && typeof e.data === 'object' && e.data !== null;
}

export function isTerminal(e: StreamEvent): e is CompleteEvent | ErrorEvent {
  return e.type === 'complete' || e.type === 'error';
}
