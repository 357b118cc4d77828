// tokenizer.json post-processors for one sequence: where add_special_tokens puts special tokens around the ids.
// ByteLevel only adjusts offsets (webtune returns none), so it leaves ids alone.

export type PostProcess = (ids: number[], addSpecialTokens: boolean) => number[];

type Cfg = Record<string, unknown>;
const identity: PostProcess = (ids) => ids;

/** Compiles a `post_processor` (null: none). */
export function buildPostProcessor(cfg: unknown, where = 'tokenizer.json: post_processor'): PostProcess {
  if (cfg === null || cfg === undefined) return identity;
  if (typeof cfg !== 'object') throw new Error(`${where}: expected an object`);
  const c = cfg as Cfg;
  switch (c.type) {
    case 'ByteLevel': return identity;
    case 'TemplateProcessing': return template(c, where);
    case 'RobertaProcessing':
    case 'BertProcessing': {
      const [cls, sep] = [c.cls, c.sep].map((x, i) => {
        if (!Array.isArray(x) || typeof x[1] !== 'number') throw new Error(`${where}: ${i ? 'sep' : 'cls'} must be [token, id]`);
        return x[1] as number;
      });
      return (ids, add) => (add ? [cls, ...ids, sep] : ids);
    }
    case 'Sequence': {
      const list = c.processors;
      if (!Array.isArray(list)) throw new Error(`${where}: Sequence needs a "processors" list`);
      const steps = list.map((p, i) => buildPostProcessor(p, `${where}.processors[${i}]`));
      return (ids, add) => steps.reduce((acc, step) => step(acc, add), ids);
    }
    default:
      throw new Error(`${where}: unsupported post-processor type ${JSON.stringify(c.type)}`);
  }
}

/** TemplateProcessing's `single` template: SpecialToken items expand to their ids, Sequence A to the input. */
function template(c: Cfg, where: string): PostProcess {
  const single = c.single;
  const specials = (c.special_tokens ?? {}) as Record<string, { ids?: unknown }>;
  if (!Array.isArray(single)) throw new Error(`${where}: TemplateProcessing needs a "single" template`);
  const parts: (number[] | 'A')[] = single.map((item: Cfg, i: number) => {
    const sp = item?.SpecialToken as { id?: string } | undefined;
    if (sp) {
      const ids = specials[sp.id ?? '']?.ids;
      if (!Array.isArray(ids) || ids.some((x) => !Number.isInteger(x))) {
        throw new Error(`${where}: special token ${JSON.stringify(sp.id)} of the template has no ids in special_tokens`);
      }
      return ids as number[];
    }
    if (item?.Sequence) return 'A';
    throw new Error(`${where}: template item ${i} is neither SpecialToken nor Sequence`);
  });
  return (ids, add) => {
    if (!add) return ids;
    const out: number[] = [];
    for (const p of parts) {
      if (p === 'A') { for (const id of ids) out.push(id); } else out.push(...p);
    }
    return out;
  };
}
