// Dynamic loss scaling for float16 training, as torch.cuda.amp.GradScaler does it (and with its defaults): the loss
// gradient is multiplied by `scale` so that small gradients survive 16-bit arithmetic; a step whose gradients hold
// Inf/NaN is skipped and the scale halved, and after `growthInterval` good steps in a row the scale doubles.
// bfloat16 has f32's exponent range and needs none (torch uses no scaler for it either).

export interface LossScalerState { scale: number; growth_tracker: number }

export class LossScaler {
  constructor(public scale = 2 ** 16, private tracker = 0, readonly growthInterval = 2000,
    readonly growthFactor = 2, readonly backoffFactor = 0.5) {}

  /** After a step's gradients are summed: whether they are finite (apply the step), updating the scale as torch does. */
  update(finite: boolean): boolean {
    if (!finite) { this.scale *= this.backoffFactor; this.tracker = 0; return false; }
    if (++this.tracker === this.growthInterval) { this.scale *= this.growthFactor; this.tracker = 0; }
    return true;
  }

  /** torch's GradScaler.state_dict() fields that resuming needs */
  state(): LossScalerState { return { scale: this.scale, growth_tracker: this.tracker }; }
  load(s: LossScalerState): void { this.scale = s.scale; this.tracker = s.growth_tracker; }
}
