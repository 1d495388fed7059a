// One shared formatter: toLocaleTimeString() builds a new Intl formatter on every call, which
// was the costliest function while rendering a fast stream of steps.
const timeFormat = new Intl.DateTimeFormat(undefined, {
  hour: '2-digit',
  minute: '2-digit',
  second: '2-digit',
});

export function formatTime(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  return timeFormat.format(d);
}

export function formatJson(value: unknown): string {
  if (value === null || value === undefined) return '';
  try {
    return JSON.stringify(value, null, 2);
  } catch {
    return String(value);
  }
}

export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}
