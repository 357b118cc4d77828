// Learning-rate schedules as Hugging Face's get_scheduler computes them: the multiplier for optimizer step
// `step` (0-based: the first update uses step 0, so a warmup starts at lr 0), linear warmup then decay.
export const SCHEDULERS = ['cosine', 'linear', 'constant'] as const;
export type SchedulerType = (typeof SCHEDULERS)[number];

export function warmupSteps(total: number, warmupRatio: number, warmupStepsFlag: number): number {
  return warmupStepsFlag > 0 ? warmupStepsFlag : Math.ceil(total * warmupRatio);
}

export function lrAt(type: SchedulerType, base: number, step: number, total: number, warmup: number): number {
  if (step < warmup) return (base * step) / Math.max(1, warmup);
  const progress = (step - warmup) / Math.max(1, total - warmup);
  if (type === 'constant') return base;
  if (type === 'linear') return base * Math.max(0, 1 - progress);
  return base * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * progress)));
}
