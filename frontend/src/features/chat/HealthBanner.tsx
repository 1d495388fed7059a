import { memo } from 'react';
import { Link } from 'react-router-dom';
import { useHealth } from '../../api/health';
import { MODELS_PAGE } from '../models/route';

/** Says plainly when no model is configured or the Coder cannot run commands, and labels the
 * scripted model as not AI. */
function HealthBannerImpl() {
  const health = useHealth();
  if (!health.data) return null;
  const { models, sandbox } = health.data;
  return (
    <>
      {!models.configured ? (
        <div className="banner banner-warn" role="alert" data-testid="no-model-banner">
          <strong>No AI model is configured.</strong> The agents cannot run until one is:{' '}
          <Link to={MODELS_PAGE}>choose one on the Models page</Link>.{' '}
          {models.hint ? <span className="muted">{models.hint}</span> : null}
        </div>
      ) : null}
      {sandbox && !sandbox.available ? (
        <div className="banner banner-info" data-testid="no-sandbox-banner">
          <strong>The Coder cannot run commands here</strong> (tests, builds), so it edits without
          checking its work: {sandbox.detail}
        </div>
      ) : null}
      {models.scripted ? (
        <div className="banner banner-info" data-testid="scripted-badge">
          <span className="badge badge-scripted">scripted model — not AI</span> Answers come from a
          fixed script for tests and demos.
        </div>
      ) : null}
    </>
  );
}

// Memoised: the chat panel re-renders on every streamed frame; this part rarely changes.
export const HealthBanner = memo(HealthBannerImpl);
