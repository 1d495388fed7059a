import { MutationCache, QueryCache, QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { HashRouter, Route, Routes } from 'react-router-dom';
import { EditorPage } from './features/editor/EditorPage';
import { ModelsPage } from './features/models/ModelsPage';
import { MODELS_PAGE } from './features/models/route';
import { ProjectsPage } from './features/projects/ProjectsPage';
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

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/" element={<ProjectsPage />} />
      <Route path="/projects/:projectId" element={<EditorPage />} />
      <Route path={MODELS_PAGE} element={<ModelsPage />} />
      <Route path="*" element={<ProjectsPage />} />
    </Routes>
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
