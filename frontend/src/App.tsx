import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, Suspense } from 'react';
import { HashRouter, Route, Routes } from 'react-router-dom';
import { MODELS_PAGE } from './features/models/route';
import { ApiError } from './api/client';
import { qk } from './api/keys';
import { AuthGate } from './features/auth/AuthGate';

export function makeQueryClient(): QueryClient {
  // A 401 while signed in means the sign-in ended (expired, signed out elsewhere): ask who we are
  // again, which brings up the sign-in screen. Not while signed out: a wrong password is a 401 too,
  // and asking again would replace the sign-in form (and its error) with "Loading…".
  const signedOut = (err: unknown) => {
    if (err instanceof ApiError && err.status === 401 && client.getQueryData(qk.me) !== undefined) {
      void client.invalidateQueries({ queryKey: qk.me });
    }
  };
  const client: QueryClient = new QueryClient({
    queryCache: new QueryCache({ onError: (err, query) => query.queryKey[0] !== qk.me[0] && signedOut(err) }),
    mutationCache: new MutationCache({ onError: signedOut }),
    defaultOptions: {
      queries: {
        // The stream tells us when things change; refetching on focus would only race it.
        refetchOnWindowFocus: false,
        retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
      },
    },
  });
  return client;
}

// Each page is its own script, evaluated when first shown: the first load of a page then runs in
// two shorter tasks (the app, then the page) instead of one long one, and loads no other page.
const EditorPage = lazy(() => import('./features/editor/EditorPage').then((m) => ({ default: m.EditorPage })));
const ModelsPage = lazy(() => import('./features/models/ModelsPage').then((m) => ({ default: m.ModelsPage })));
const ProjectsPage = lazy(() => import('./features/projects/ProjectsPage').then((m) => ({ default: m.ProjectsPage })));

export function AppRoutes() {
  return (
    <Suspense fallback={<div className="muted pad">Loading…</div>}>
      <Routes>
        <Route path="/" element={<ProjectsPage />} />
        <Route path="/projects/:projectId" element={<EditorPage />} />
        <Route path={MODELS_PAGE} element={<ModelsPage />} />
        <Route path="*" element={<ProjectsPage />} />
      </Routes>
    </Suspense>
  );
}

// Hash routing: the backend serves one index.html at `/` and needs no fallback route for
// deep links, and a reload always lands back on the same project and session.
export function App({ client = makeQueryClient() }: { client?: QueryClient }) {
  return (
    <QueryClientProvider client={client}>
      <HashRouter>
        <AuthGate>
          <AppRoutes />
        </AuthGate>
      </HashRouter>
    </QueryClientProvider>
  );
}
