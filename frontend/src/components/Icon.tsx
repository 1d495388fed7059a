// The app's icons: SVG from lucide, never emoji (a desktop without an emoji font draws those as
// empty boxes, which made the delete button invisible). One name per meaning, so a meaning keeps
// its picture everywhere.
import {
  ArrowLeft,
  Bot,
  ChevronDown,
  ChevronRight,
  CircleCheck,
  CircleX,
  Dot,
  Download,
  Lightbulb,
  Pencil,
  Plus,
  Square,
  Trash2,
  Wrench,
  type LucideIcon,
} from 'lucide-react';

const ICONS = {
  back: ArrowLeft,
  assistant: Bot,
  expanded: ChevronDown,
  collapsed: ChevronRight,
  ok: CircleCheck,
  failed: CircleX,
  step: Dot,
  download: Download,
  thought: Lightbulb,
  rename: Pencil,
  add: Plus,
  stop: Square,
  remove: Trash2,
  tool: Wrench,
} satisfies Record<string, LucideIcon>;

export type IconName = keyof typeof ICONS;

/** An icon. With `label` it is an image with that accessible name; without, decoration that
 * assistive technology skips (the control around it carries the name). */
export function Icon({ name, label, className }: { name: IconName; label?: string; className?: string }) {
  const Svg = ICONS[name];
  const a11y = label ? { role: 'img', 'aria-label': label } : { 'aria-hidden': true as const };
  return <Svg size={14} strokeWidth={2} className={`icon icon-${name}${className ? ` ${className}` : ''}`} {...a11y} />;
}
