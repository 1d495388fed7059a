import { useState, type FormEvent } from 'react';
import { Link } from 'react-router-dom';
import {
  useCreateProject,
  useDeleteProject,
  useProjects,
  useRenameProject,
  useTemplates,
} from '../../api/projects';
import type { Project } from '../../api/types';
import { formatTime } from '../../components/format';
import { HealthBanner } from '../chat/HealthBanner';
import { MODELS_PAGE } from '../models/route';
import { ImportProject } from './ImportProject';

function CreateProjectForm() {
  const templates = useTemplates();
  const create = useCreateProject();
  const [name, setName] = useState('');
  const [template, setTemplate] = useState('blank');

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!name.trim()) return;
    create.mutate({ name: name.trim(), template }, { onSuccess: () => setName('') });
  }

  return (
    <form className="create-project" onSubmit={submit} aria-label="Create project">
      <input
        aria-label="Project name"
        placeholder="New project name"
        value={name}
        onChange={(e) => setName(e.target.value)}
      />
      <select aria-label="Template" value={template} onChange={(e) => setTemplate(e.target.value)}>
        {(templates.data ?? [{ id: 'blank', name: 'Blank', description: '' }]).map((t) => (
          <option key={t.id} value={t.id} title={t.description}>
            {t.name}
          </option>
        ))}
      </select>
      <button type="submit" className="primary" disabled={!name.trim() || create.isPending}>
        Create
      </button>
      {create.error ? <span className="error-text">{create.error.message}</span> : null}
    </form>
  );
}

function ProjectRow({ project }: { project: Project }) {
  const rename = useRenameProject();
  const remove = useDeleteProject();
  const [editing, setEditing] = useState(false);
  const [name, setName] = useState(project.name);

  function submit(e: FormEvent) {
    e.preventDefault();
    if (!name.trim()) return;
    remove.reset();
    rename.mutate({ id: project.id, name: name.trim() }, { onSuccess: () => setEditing(false) });
  }

  return (
    <li className="project-row" data-testid="project-row">
      {editing ? (
        <form onSubmit={submit} className="inline-form">
          <input
            aria-label={`New name for ${project.name}`}
            autoFocus
            value={name}
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit" className="small">
            Save
          </button>
          <button type="button" className="small" onClick={() => setEditing(false)}>
            Cancel
          </button>
        </form>
      ) : (
        <Link className="project-name" to={`/projects/${project.id}`}>
          {project.name}
        </Link>
      )}
      <span className="muted">
        {project.template} · updated {formatTime(project.updated_at)}
        {project.active_run_id ? ' · agents working' : ''}
      </span>
      <span className="row-actions">
        <button
          type="button"
          className="small"
          onClick={() => {
            setName(project.name);
            setEditing(true);
          }}
        >
          Rename
        </button>
        <button
          type="button"
          className="small danger"
          disabled={remove.isPending}
          onClick={() => {
            if (window.confirm(`Delete project “${project.name}” and all its files?`)) {
              rename.reset();
              remove.mutate(project.id);
            }
          }}
        >
          Delete
        </button>
      </span>
      {rename.error ?? remove.error ? (
        <span className="error-text">{(rename.error ?? remove.error)?.message}</span>
      ) : null}
    </li>
  );
}

export function ProjectsPage() {
  const projects = useProjects();
  return (
    <div className="projects-page">
      <header className="topbar">
        <h1>Tandem</h1>
        <span className="muted">Projects</span>
        <Link className="topbar-end" to={MODELS_PAGE}>
          Models
        </Link>
      </header>
      <HealthBanner />
      <div className="pad">
        <CreateProjectForm />
        <ImportProject />
        {projects.isPending ? <div className="muted">Loading projects…</div> : null}
        {projects.isError ? <div className="error-text">{projects.error.message}</div> : null}
        {projects.data && projects.data.length === 0 ? (
          <div className="muted">No projects yet: create one above.</div>
        ) : null}
        <ul className="project-list">
          {projects.data?.map((p) => <ProjectRow key={p.id} project={p} />)}
        </ul>
      </div>
    </div>
  );
}
