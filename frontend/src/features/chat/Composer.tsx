import { Icon } from '../../components/Icon';
import { memo, useEffect, useState, type FormEvent, type KeyboardEvent } from 'react';

export interface ComposerProps {
  running: boolean;
  stopping: boolean;
  disabled?: boolean;
  /** Put back into the box, e.g. a message the server refused to start. */
  restore?: { text: string } | null;
  onSend: (text: string) => void;
  onStop: () => void;
}

function ComposerImpl({ running, stopping, disabled, restore, onSend, onStop }: ComposerProps) {
  const [text, setText] = useState('');
  useEffect(() => {
    if (restore) setText(restore.text);
  }, [restore]);
  const canSend = !running && !disabled && text.trim().length > 0;

  function submit() {
    if (!canSend) return;
    onSend(text.trim());
    setText('');
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>) {
    // Enter sends; Shift+Enter falls through to the textarea's newline. An IME composition
    // uses Enter to confirm a candidate, so it must not send.
    if (e.key === 'Enter' && !e.shiftKey && !e.nativeEvent.isComposing) {
      e.preventDefault();
      submit();
    }
  }

  function onSubmit(e: FormEvent) {
    e.preventDefault();
    submit();
  }

  return (
    <form className="composer" onSubmit={onSubmit}>
      <textarea
        aria-label="Message"
        placeholder="Ask the agents to change the code… (Enter sends, Shift+Enter for a new line)"
        value={text}
        rows={3}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={onKeyDown}
      />
      <div className="composer-actions">
        {running ? (
          <button type="button" className="danger" onClick={onStop} disabled={stopping}>
            {stopping ? (
              'Stopping…'
            ) : (
              <>
                <Icon name="stop" /> Stop
              </>
            )}
          </button>
        ) : (
          <button type="submit" className="primary" disabled={!canSend}>
            Send
          </button>
        )}
      </div>
    </form>
  );
}

// Memoised: the chat panel re-renders on every streamed frame; this part rarely changes.
export const Composer = memo(ComposerImpl);
