import { memo } from 'react';
import { formatTime } from '../../components/format';

export const UserMessage = memo(function UserMessage({
  text,
  createdAt,
}: {
  text: string;
  createdAt?: string | null;
}) {
  return (
    <article className="msg msg-user" data-testid="user-message">
      <header className="msg-head">
        <span className="msg-author">You</span>
        <time className="msg-time">{formatTime(createdAt)}</time>
      </header>
      {/* Plain text: what the user typed is shown as typed. */}
      <div className="msg-body msg-plain">{text}</div>
    </article>
  );
});
