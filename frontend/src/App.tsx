import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { HashRouter, Route, Routes } from 'react-router-dom';
import { EditorPage } from './features/editor/EditorPage';
import { ProjectsPage } from './features/projects/ProjectsPage';
import { ApiError } from './api/client';

export function makeQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // The stream tells us when things change; refetching on focus would only race it.
        refetchOnWindowFocus: false,
        retry: (count, err) => !(err instanceof ApiError && err.status >= 400 && err.status < 500) && count < 2,
      },
    },
  });
}

export function AppRoutes() {
  return (
    <Routes>
      <Route path="/" element={<ProjectsPage />} />
      <Route path="/projects/:projectId" element={<EditorPage />} />
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
        <AppRoutes />
      </HashRouter>
    </QueryClientProvider>
  );
}
