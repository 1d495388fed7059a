// Query keys, hierarchical so that one invalidation can cover a project's whole subtree.
export const qk = {
  health: ['health'] as const,
  me: ['me'] as const,
  templates: ['templates'] as const,
  projects: ['projects'] as const,
  project: (id: number) => ['projects', id] as const,
  files: (projectId: number) => ['projects', projectId, 'files'] as const,
  file: (projectId: number, path: string) => ['projects', projectId, 'files', path] as const,
  sessions: (projectId: number) => ['projects', projectId, 'sessions'] as const,
  projectChanges: (projectId: number) => ['projects', projectId, 'changes'] as const,
  history: (projectId: number) => ['projects', projectId, 'history'] as const,
  session: (id: number) => ['sessions', id] as const,
  messages: (sessionId: number) => ['sessions', sessionId, 'messages'] as const,
  run: (runId: string) => ['runs', runId] as const,
  runChanges: (runId: string) => ['runs', runId, 'changes'] as const,
  change: (id: number) => ['changes', id] as const,
};
