// Which rank this process is, from the variables the cluster launchers set: torchrun and Kubeflow's PyTorchJob
// (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT) or Slurm's srun (SLURM_PROCID,
// SLURM_NTASKS, SLURM_LOCALID, the first host of SLURM_JOB_NODELIST as the master). torchrun's variables win when
// both are set (torchrun started by an sbatch script).
import { UserError } from '../../core/errors.ts';

export interface DistEnv {
  rank: number;
  world: number;
  localRank: number;
  localWorld: number;
  masterAddr: string;
  masterPort: number;
  /** where the figures came from, for the start-up line */
  launcher: 'torchrun' | 'slurm';
}

/** torchrun's default --master_port */
export const DEFAULT_MASTER_PORT = 29500;

type Env = (name: string) => string | undefined;

function intVar(env: Env, name: string, min: number, fallback?: number): number {
  const raw = env(name);
  if (raw === undefined || raw === '') {
    if (fallback !== undefined) return fallback;
    throw new UserError(`${name} is not set (a distributed worker needs it)`);
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UserError(`${name}=${raw}: expected an integer ≥ ${min}`);
  return n;
}

/**
 * Slurm's compressed host list → host names: `node[01-03,07],gpu-a[1-2]-x` → node01 node02 node03 node07 gpu-a1-x
 * gpu-a2-x. Zero-padding of a range is kept (01-03), and several bracket groups in one name multiply out.
 */
export function expandNodelist(list: string): string[] {
  const entries: string[] = [];
  let depth = 0, start = 0;
  for (let i = 0; i <= list.length; i++) {
    const ch = list[i];
    if (ch === '[') depth++;
    else if (ch === ']') depth--;
    else if ((ch === ',' && depth === 0) || i === list.length) { if (i > start) entries.push(list.slice(start, i)); start = i + 1; }
  }
  return entries.flatMap(expandEntry);
}

function expandEntry(entry: string): string[] {
  const open = entry.indexOf('[');
  if (open < 0) return [entry];
  const close = entry.indexOf(']', open);
  if (close < 0) throw new UserError(`SLURM_JOB_NODELIST: unbalanced '[' in ${entry}`);
  const head = entry.slice(0, open), tail = expandEntry(entry.slice(close + 1));
  const names = entry.slice(open + 1, close).split(',').flatMap((part) => {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new UserError(`SLURM_JOB_NODELIST: cannot read the range ${part} in ${entry}`);
    const lo = Number(m[1]), hi = Number(m[2] ?? m[1]), width = m[1].length;
    return Array.from({ length: hi - lo + 1 }, (_x, i) => String(lo + i).padStart(width, '0'));
  });
  return names.flatMap((n) => tail.map((t) => `${head}${n}${t}`));
}

/** SLURM_TASKS_PER_NODE `2(x3),1` → the count on the first node (this node's when it is homogeneous) */
function firstTaskCount(s: string | undefined): number | undefined {
  const m = s && /^(\d+)/.exec(s);
  return m ? Number(m[1]) : undefined;
}

/** The worker's place in the job, or null when no launcher started it (a single process). */
export function distEnvFrom(env: Env): DistEnv | null {
  if (env('RANK') !== undefined && env('WORLD_SIZE') !== undefined) {
    const world = intVar(env, 'WORLD_SIZE', 1), rank = intVar(env, 'RANK', 0);
    if (rank >= world) throw new UserError(`RANK=${rank} is not below WORLD_SIZE=${world}`);
    const localWorld = intVar(env, 'LOCAL_WORLD_SIZE', 1, 1);  // PyTorchJob runs one process per pod and omits it
    return { rank, world, localRank: intVar(env, 'LOCAL_RANK', 0, 0), localWorld, masterAddr: env('MASTER_ADDR') || '127.0.0.1',
      masterPort: intVar(env, 'MASTER_PORT', 1, DEFAULT_MASTER_PORT), launcher: 'torchrun' };
  }
  if (env('SLURM_PROCID') !== undefined && env('SLURM_NTASKS') !== undefined) {
    const world = intVar(env, 'SLURM_NTASKS', 1), rank = intVar(env, 'SLURM_PROCID', 0);
    const nodes = env('SLURM_JOB_NODELIST') ?? env('SLURM_NODELIST');
    const master = env('MASTER_ADDR') || (nodes ? expandNodelist(nodes)[0] : undefined);
    if (!master) throw new UserError('Slurm: neither MASTER_ADDR nor SLURM_JOB_NODELIST is set: cannot find rank 0\'s host');
    return { rank, world, localRank: intVar(env, 'SLURM_LOCALID', 0, 0), localWorld: firstTaskCount(env('SLURM_TASKS_PER_NODE')) ?? 1,
      masterAddr: master, masterPort: intVar(env, 'MASTER_PORT', 1, DEFAULT_MASTER_PORT), launcher: 'slurm' };
  }
  return null;
}

/** ms-swift's self-launch: `NPROC_PER_NODE=P webtune sft …` starts P local ranks (NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT as torchrun takes them). */
export interface LocalLaunch { nproc: number; nnodes: number; nodeRank: number; masterAddr: string; masterPort: number }

/** The self-launch asked for, or null: none asked, or this process is already a launched rank. */
export function localLaunchFrom(env: Env): LocalLaunch | null {
  if (!env('NPROC_PER_NODE') || distEnvFrom(env)) return null;
  const nnodes = intVar(env, 'NNODES', 1, 1), nodeRank = intVar(env, 'NODE_RANK', 0, 0);
  if (nodeRank >= nnodes) throw new UserError(`NODE_RANK=${nodeRank} is not below NNODES=${nnodes}`);
  const masterAddr = env('MASTER_ADDR') || '127.0.0.1';
  if (nnodes > 1 && !env('MASTER_ADDR')) throw new UserError(`NNODES=${nnodes}: set MASTER_ADDR to node 0's address on every node`);
  return { nproc: intVar(env, 'NPROC_PER_NODE', 1), nnodes, nodeRank, masterAddr, masterPort: intVar(env, 'MASTER_PORT', 1, DEFAULT_MASTER_PORT) };
}

/** The variables local rank `local` gets (torchrun's names, so distEnvFrom reads them back). */
export function rankVariables(l: LocalLaunch, local: number): Record<string, string> {
  return { RANK: String(l.nodeRank * l.nproc + local), WORLD_SIZE: String(l.nnodes * l.nproc), LOCAL_RANK: String(local),
    LOCAL_WORLD_SIZE: String(l.nproc), GROUP_RANK: String(l.nodeRank), MASTER_ADDR: l.masterAddr, MASTER_PORT: String(l.masterPort) };
}
