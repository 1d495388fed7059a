import { describe, expect, it } from 'vitest';
import { archiveType, type ImportJob } from '../../api/imports';
import { progressOf } from './ImportProject';

const job = (over: Partial<ImportJob>): ImportJob => ({
  id: 'j',
  name: 'n',
  source: 'git',
  status: 'running',
  phase: 'storing',
  files_done: 0,
  files_total: null,
  bytes_done: 0,
  project_id: null,
  skipped: 0,
  binary_files: 0,
  error_code: null,
  error_message: null,
  created_at: '2026-12-02T10:00:00Z',
  updated_at: '2026-12-02T10:00:00Z',
  ...over,
});

describe('import progress', () => {
  it('shows the upload as a fraction and a percentage', () => {
    expect(progressOf({ kind: 'uploading', fraction: 0.25 })).toEqual({ value: 0.25, label: 'Uploading… 25%' });
  });

  it('shows files stored out of the total', () => {
    expect(progressOf({ kind: 'importing', job: job({ files_done: 30, files_total: 120 }) })).toEqual({
      value: 0.25,
      label: 'storing… 30 of 120 files',
    });
  });

  it('shows a clone as a percentage, and an unknown total as an indeterminate bar', () => {
    expect(progressOf({ kind: 'importing', job: job({ phase: 'cloning', files_done: 40, files_total: 100 }) }).label).toBe(
      'cloning… 40%',
    );
    expect(progressOf({ kind: 'importing', job: job({ phase: 'listing' }) })).toEqual({ value: null, label: 'listing…' });
  });

  it('sends a tar.gz as gzip and anything else as zip', () => {
    expect(archiveType(new File([], 'a.tar.gz'))).toBe('application/gzip');
    expect(archiveType(new File([], 'a.TGZ'))).toBe('application/gzip');
    expect(archiveType(new File([], 'a.zip'))).toBe('application/zip');
  });
});
