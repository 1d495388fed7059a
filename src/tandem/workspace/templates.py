"""Starting points for new projects."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, kw_only=True)
class Template:
    id: str
    name: str
    description: str
    files: dict[str, str] = field(default_factory=dict)


_REACT_PACKAGE = """{
  "name": "react-vite-app",
  "private": true,
  "version": "0.0.0",
  "type": "module",
  "scripts": {
    "dev": "vite",
    "build": "tsc -b && vite build",
    "preview": "vite preview"
  },
  "dependencies": {
    "react": "^19.0.0",
    "react-dom": "^19.0.0"
  },
  "devDependencies": {
    "@types/react": "^19.0.0",
    "@types/react-dom": "^19.0.0",
    "@vitejs/plugin-react": "^5.0.0",
    "typescript": "^5.8.0",
    "vite": "^7.0.0"
  }
}
"""

_REACT_TSCONFIG = """{
  "compilerOptions": {
    "target": "ES2022",
    "lib": ["ES2022", "DOM", "DOM.Iterable"],
    "module": "ESNext",
    "moduleResolution": "bundler",
    "jsx": "react-jsx",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
"""

_REACT_INDEX = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>React + Vite + TypeScript</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
"""

_REACT_VITE_CONFIG = """import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

export default defineConfig({
  plugins: [react()],
})
"""

_REACT_MAIN = """import { StrictMode } from 'react'
import { createRoot } from 'react-dom/client'
import App from './App'
import './App.css'

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
)
"""

_REACT_APP = """import { useState } from 'react'

export default function App() {
  const [count, setCount] = useState(0)

  return (
    <main className="app">
      <h1>Hello from React + Vite</h1>
      <button onClick={() => setCount((c) => c + 1)}>Clicked {count} times</button>
      <p>
        Edit <code>src/App.tsx</code> and save to see the change.
      </p>
    </main>
  )
}
"""

_REACT_CSS = """.app {
  font-family: system-ui, sans-serif;
  max-width: 40rem;
  margin: 4rem auto;
  text-align: center;
}

button {
  font-size: 1rem;
  padding: 0.5rem 1rem;
}
"""

_STATIC_INDEX = """<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>My page</title>
    <link rel="stylesheet" href="style.css" />
  </head>
  <body>
    <h1>Hello, world</h1>
    <p id="greeting">This is a static web page.</p>
    <script src="script.js"></script>
  </body>
</html>
"""

_STATIC_CSS = """body {
  font-family: system-ui, sans-serif;
  margin: 3rem auto;
  max-width: 40rem;
  line-height: 1.5;
}
"""

_STATIC_JS = """const greeting = document.getElementById('greeting')
greeting.textContent += ' It was loaded at ' + new Date().toLocaleTimeString() + '.'
"""

TEMPLATES: dict[str, Template] = {
    template.id: template
    for template in (
        Template(
            id="blank",
            name="Blank",
            description="An empty project with a README.",
            files={"README.md": "# New project\n"},
        ),
        Template(
            id="static-site",
            name="Static web page",
            description="HTML, CSS and a little JavaScript.",
            files={"index.html": _STATIC_INDEX, "style.css": _STATIC_CSS, "script.js": _STATIC_JS},
        ),
        Template(
            id="react-vite",
            name="React + Vite + TypeScript",
            description="A small React app built with Vite, in TypeScript.",
            files={
                "package.json": _REACT_PACKAGE,
                "tsconfig.json": _REACT_TSCONFIG,
                "index.html": _REACT_INDEX,
                "vite.config.ts": _REACT_VITE_CONFIG,
                "src/main.tsx": _REACT_MAIN,
                "src/App.tsx": _REACT_APP,
                "src/App.css": _REACT_CSS,
            },
        ),
    )
}
