import { describe, expect, it } from 'vitest';
import type { StreamEvent } from '../../api/types';
import * as f from '../../test/fixtures';
import { initialStreamState, isClosed, stateFromHistory, streamReducer, type StreamState } from './streamReducer';

const run = (events: StreamEvent[], s: StreamState = initialStreamState()) =>
  streamReducer(s, { type: 'events', events });

describe('streamReducer', () => {
  it('keeps what a running command prints by its call, apart from the answer, until its result', () => {
    const s = run([
      f.start(),
      f.delta(2, 'The answer'),
      f.toolOutput(3, 'call-a', 'test 1 ok\n'),
      f.toolOutput(4, 'call-b', 'other\n'),
      f.toolOutput(5, 'call-a', 'test 2 ok\n'),
    ]);
    expect(s.toolOutput).toEqual({ 'call-a': 'test 1 ok\ntest 2 ok\n', 'call-b': 'other\n' });
    expect(s.draft?.text).toBe('The answer');
    const done = run(
      [f.interaction(6, { message_type: 'tool_response', tool_call_id: 'call-a', content: 'all' })],
      s,
    );
    expect(done.toolOutput).toEqual({ 'call-b': 'other\n' });
    expect(run([f.error(7, 'cancelled')], done).toolOutput).toEqual({});
  });

  it('records the start event ids', () => {
    const s = run([f.start()]);
    expect(s).toMatchObject({
      runId: f.RUN,
      sessionId: 1,
      userMessageId: 5,
      assistantMessageId: 6,
      status: 'streaming',
      lastSeq: 1,
    });
  });

  it('appends interactions in order with their seq', () => {
    const s = run([f.start(), f.interaction(2), f.interaction(3)]);
    expect(s.interactions.map((i) => [i.seq, i.content])).toEqual([
      [2, 'step 2'],
      [3, 'step 3'],
    ]);
  });

  it('ignores a duplicate seq', () => {
    const s = run([f.start(), f.interaction(2), f.interaction(2, { content: 'again' })]);
    expect(s.interactions).toHaveLength(1);
    expect(s.interactions[0]?.content).toBe('step 2');
  });

  it('ignores an out-of-order (older) seq', () => {
    const s = run([f.start(), f.interaction(2), f.interaction(4), f.interaction(3)]);
    expect(s.interactions.map((i) => i.seq)).toEqual([2, 4]);
    expect(s.lastSeq).toBe(4);
  });

  it('returns the same state object for ignored events', () => {
    const s = run([f.start(), f.interaction(2)]);
    expect(streamReducer(s, { type: 'event', event: f.interaction(2) })).toBe(s);
    const unknown: StreamEvent = { type: 'usage_tick', seq: 3, run_id: f.RUN, data: { n: 1 } };
    expect(streamReducer(s, { type: 'event', event: unknown })).toBe(s);
  });

  it('ignores unknown event types and malformed known ones', () => {
    const s = run([
      f.start(),
      { type: 'something_new', seq: 2, data: {} },
      { type: 'agent_interaction', seq: 3, data: null },
      f.interaction(4),
    ]);
    expect(s.interactions.map((i) => i.seq)).toEqual([4]);
  });

  it('accepts events without seq (seed-style servers)', () => {
    const noSeq = (e: StreamEvent): StreamEvent => ({ type: e.type, data: e.data });
    const s = run([noSeq(f.start()), noSeq(f.interaction(2)), noSeq(f.interaction(3))]);
    expect(s.interactions).toHaveLength(2);
  });

  it('grows a draft from deltas and replaces it with the final content on complete', () => {
    let s = run([f.start(), f.delta(2, 'Hel'), f.delta(3, 'lo')]);
    expect(s.draft).toEqual({ agent_name: 'Coder', message_type: 'message', text: 'Hello' });
    s = run([f.complete(4, { content: 'Hello, world' })], s);
    expect(s.draft).toBeNull();
    expect(s.content).toBe('Hello, world');
  });

  it('drops a thought draft once the full thought arrives', () => {
    let s = run([f.start(), f.delta(2, 'I think', 'thought')]);
    expect(s.draft?.message_type).toBe('thought');
    s = run([f.interaction(3, { agent_name: 'Coder', content: 'I think so.' })], s);
    expect(s.draft).toBeNull();
    expect(s.interactions.at(-1)?.content).toBe('I think so.');
  });

  it('drops a half-streamed answer when a System thought says the request is retried', () => {
    let s = run([f.start(), f.delta(2, 'I wrote the fi')]);
    s = run([f.interaction(3, { agent_name: 'System', content: 'retrying in 1 s' }), f.delta(4, 'I wrote')], s);
    expect(s.draft?.text).toBe('I wrote');
  });

  it('starts a new draft when the speaker changes', () => {
    const other: StreamEvent = {
      type: 'agent_delta',
      seq: 3,
      data: { agent_name: 'Planner', message_type: 'message', delta: 'B' },
    };
    const s = run([f.start(), f.delta(2, 'A'), other]);
    expect(s.draft).toEqual({ agent_name: 'Planner', message_type: 'message', text: 'B' });
  });

  it('complete closes the message with content, changes and usage', () => {
    const s = run([f.start(), f.interaction(2), f.complete(3, {}, [f.change(1)])]);
    expect(s.status).toBe('complete');
    expect(isClosed(s)).toBe(true);
    expect(s.content).toBe('All **done**.');
    expect(s.codeChanges).toHaveLength(1);
    expect(s.usage?.Coder?.output_tokens).toBe(800);
  });

  it('nothing changes a closed message, not even a later seq', () => {
    const closed = run([f.start(), f.complete(2)]);
    const after = run([f.interaction(3), f.error(4, 'internal'), f.complete(5, { content: 'x' })], closed);
    expect(after).toBe(closed);
  });

  it('error closes the message; code cancelled means stopped', () => {
    const failed = run([f.start(), f.error(2, 'model_error', 'rate limited')]);
    expect(failed.status).toBe('error');
    expect(failed.error).toEqual({ code: 'model_error', message: 'rate limited' });
    const stopped = run([f.start(), f.interaction(2), f.error(3, 'cancelled', 'Stopped by user')]);
    expect(stopped.status).toBe('cancelled');
    expect(stopped.interactions).toHaveLength(1);
  });

  it('status: connecting until the first event of any type, then streaming until a terminal one', () => {
    const s0 = initialStreamState();
    expect(s0.status).toBe('connecting');
    expect(isClosed(s0)).toBe(false);
    // An unknown event is not a sign of life the UI can show: still connecting.
    expect(run([{ type: 'heartbeat_v2', seq: 1, data: {} }], s0).status).toBe('connecting');
    const firstDelta = run([f.delta(1, 'x')], s0);
    expect(firstDelta.status).toBe('streaming');
    expect(firstDelta.runId).toBe(f.RUN);
    expect(isClosed(firstDelta)).toBe(false);
    const fileFirst = run([{ type: 'file_changed', seq: 1, run_id: f.RUN, data: { path: 'a', change_type: 'deleted' } }], s0);
    expect(fileFirst.status).toBe('streaming');
    expect(isClosed(run([f.error(2, 'cancelled')], firstDelta))).toBe(true);
    expect(isClosed(run([f.error(2, 'internal')], firstDelta))).toBe(true);
  });

  it('an error event without a code counts as internal and drops the draft', () => {
    const s = run([f.start(), f.delta(2, 'half'), { type: 'error', seq: 3, data: { message: 'gone' } }]);
    expect(s.status).toBe('error');
    expect(s.error).toEqual({ code: 'internal', message: 'gone' });
    expect(s.draft).toBeNull();
  });

  it('records file changes', () => {
    const ev: StreamEvent = {
      type: 'file_changed',
      seq: 2,
      data: { path: 'a.txt', change_type: 'created', change_id: 3 },
    };
    expect(run([f.start(), ev]).fileChanges).toEqual([{ path: 'a.txt', change_type: 'created', change_id: 3 }]);
  });

  it('a client error closes an open message but not a closed one', () => {
    const open = run([f.start()]);
    const failed = streamReducer(open, { type: 'client_error', code: 'network', message: 'lost' });
    expect(failed.status).toBe('error');
    const done = run([f.complete(2)], open);
    expect(streamReducer(done, { type: 'client_error', code: 'network', message: 'lost' })).toBe(done);
  });

  it('resumes from history without duplicating what the history holds', () => {
    const seeded = stateFromHistory(
      f.assistantMessage({
        run_status: 'running',
        content: '',
        agent_interactions: [f.storedInteraction(2), f.storedInteraction(3)],
      }),
    );
    expect(seeded.lastSeq).toBe(3);
    // A replay that overlaps what the history had (seq 3) adds only what is new.
    const s = run([f.interaction(3), f.interaction(4)], seeded);
    expect(s.interactions.map((i) => i.seq)).toEqual([2, 3, 4]);
  });
});
